# packaging: `make install` and `make test-ecosystem`.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]
#       $(PREFIX)/bin/larder                       the server
#       $(PREFIX)/bin/larder-start                 conf file -> options wrapper
#       $(PREFIX)/bin/larder-stat                  live stats view (bench/)
#       $(PREFIX)/share/man/man1/larder.1          manual page
#       $(PREFIX)/lib/systemd/system/larder.service, larder@.service
#       $(PREFIX)/share/doc/larder/examples/larder.conf
#       $(PREFIX)/share/doc/larder/LICENSE
#       $(PREFIX)/share/larder/wordpress/object-cache.php, README.md
#       $(SYSCONFDIR)/larder.conf                  only if there is none yet
#   make deb, make test-deb
#       the Debian package, built from a copy under build/deb (debian/),
#       and its checks (tests/deb.sh).
#   make test-ecosystem
#       memcached's clients, tools, proxy and this packaging against Larder
#       (tests/ecosystem/run.sh).
#
# The units, the wrapper and the man page name /usr/local/... and /etc/...;
# install rewrites those paths to the ones chosen here.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/larder
DATADIR    ?= $(PREFIX)/share/larder
SYSCONFDIR ?= /etc

PKGING_SED := sed -e 's|/usr/local/bin/larder|$(BINDIR)/larder|g' \
                  -e 's|/etc/larder|$(SYSCONFDIR)/larder|g'

ECO_KETAMA := $(BUILD)/tests/ecosystem/ketama

.PHONY: install test-ecosystem deb test-deb

install: $(BUILD)/larder
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DATADIR)/wordpress \
	    $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(BUILD)/larder $(DESTDIR)$(BINDIR)/larder
	$(PKGING_SED) packaging/larder-start >$(DESTDIR)$(BINDIR)/larder-start
	chmod 0755 $(DESTDIR)$(BINDIR)/larder-start
	install -m 0755 bench/larder-stat $(DESTDIR)$(BINDIR)/larder-stat
	$(PKGING_SED) packaging/larder.1 >$(DESTDIR)$(MANDIR)/man1/larder.1
	$(PKGING_SED) packaging/larder.service >$(DESTDIR)$(UNITDIR)/larder.service
	$(PKGING_SED) packaging/larder@.service >$(DESTDIR)$(UNITDIR)/larder@.service
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/larder.1 $(DESTDIR)$(UNITDIR)/larder.service \
	    $(DESTDIR)$(UNITDIR)/larder@.service
	install -m 0644 packaging/larder.conf $(DESTDIR)$(DOCDIR)/examples/larder.conf
	install -m 0644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	install -m 0644 wordpress-plugin/object-cache.php wordpress-plugin/README.md \
	    $(DESTDIR)$(DATADIR)/wordpress/
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

# The .deb is built from a copy of the tree (without build/), so that
# dpkg-buildpackage's outputs land in build/deb/ and not beside the tree.
DEB_DIR := build/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar -c --exclude=./build --exclude=./.git . | tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || \
	    { tail -40 ../build.log; exit 1; }
	@ls $(DEB_DIR)/*.deb

test-deb: deb
	bash tests/deb.sh $(DEB_DIR)/larder_*.deb
