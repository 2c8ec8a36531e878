# packaging: `make install` and `make test-ecosystem`.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]
#       $(PREFIX)/bin/larder                       the server
#       $(PREFIX)/libexec/larder/larder-start      conf file -> options wrapper
#       $(PREFIX)/share/man/man1/larder.1          manual page
#       $(PREFIX)/lib/systemd/system/larder.service, larder@.service
#       $(PREFIX)/share/doc/larder/examples/larder.conf
#       $(SYSCONFDIR)/larder.conf                  only if there is none yet
#   make test-ecosystem
#       memcached's clients, tools, proxy and this packaging against Larder
#       (tests/ecosystem/run.sh).
#
# The units and the wrapper name /usr/local/... and /etc/...; install
# rewrites those paths to the ones chosen here.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec/larder
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/larder
SYSCONFDIR ?= /etc

PKGING_SED := sed -e 's|/usr/local/libexec/larder|$(LIBEXECDIR)|g' \
                  -e 's|/usr/local/bin/larder|$(BINDIR)/larder|g' \
                  -e 's|/etc/larder|$(SYSCONFDIR)/larder|g'

ECO_KETAMA := $(BUILD)/tests/ecosystem/ketama

.PHONY: install test-ecosystem

install: $(BUILD)/larder
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(BUILD)/larder $(DESTDIR)$(BINDIR)/larder
	$(PKGING_SED) packaging/larder-start >$(DESTDIR)$(LIBEXECDIR)/larder-start
	chmod 0755 $(DESTDIR)$(LIBEXECDIR)/larder-start
	$(PKGING_SED) packaging/larder.1 >$(DESTDIR)$(MANDIR)/man1/larder.1
	$(PKGING_SED) packaging/larder.service >$(DESTDIR)$(UNITDIR)/larder.service
	$(PKGING_SED) packaging/larder@.service >$(DESTDIR)$(UNITDIR)/larder@.service
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/larder.1 $(DESTDIR)$(UNITDIR)/larder.service \
	    $(DESTDIR)$(UNITDIR)/larder@.service
	install -m 0644 packaging/larder.conf $(DESTDIR)$(DOCDIR)/examples/larder.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/larder.conf ]; then \
	    echo "install: keeping $(DESTDIR)$(SYSCONFDIR)/larder.conf"; \
	else \
	    echo "install -m 0644 packaging/larder.conf $(DESTDIR)$(SYSCONFDIR)/larder.conf"; \
	    install -m 0644 packaging/larder.conf $(DESTDIR)$(SYSCONFDIR)/larder.conf; \
	fi

# libmemcached's ketama over several servers, for the scale-out checks.
$(ECO_KETAMA): tests/ecosystem/ketama.c
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) $(FINAL_LDFLAGS) -o $@ $< -lmemcached

test-ecosystem: $(BUILD)/larder $(ECO_KETAMA)
	LARDER_BIN=$(CURDIR)/$(BUILD)/larder KETAMA_BIN=$(CURDIR)/$(ECO_KETAMA) MAKE="$(MAKE)" \
	    bash tests/ecosystem/run.sh
