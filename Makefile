# Larder — see README.md.  `make run` starts the server, `make test` installs
# what is missing on Debian 12 and runs every test suite.

CC       ?= cc
SEC_PKGS := openssl libsasl2 libxcrypt
PKGS     := libevent libevent_pthreads jemalloc $(SEC_PKGS)
TEST_PKGS := criterion libmemcached
WARN     := -Wall -Wextra

# CFLAGS, CPPFLAGS and LDFLAGS are the user's (`make CFLAGS="-O0 -g"`): they
# come after the project's own flags, which they never replace (as Redis's
# FINAL_CFLAGS).  Link-time optimization inlines across modules (the
# parser into the engine, the clock and locks into the store): about 7% fewer
# instructions per request (bench/callgrind.sh).  Sanitizer builds default to
# -O1 without it.
CFLAGS   ?= -O2 -g -flto=auto
LDFLAGS  ?= -flto=auto
PROJECT_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) -pthread -I. -MMD -MP
SAN_CFLAGS  :=
SAN_LDFLAGS :=
LDLIBS   += -pthread -lm

BUILD    ?= build
STORAGE  := $(wildcard storage/*.c)
PROTO    := $(wildcard proto/*.c)
SERVER   := $(filter-out server/main.c,$(wildcard server/*.c))
CORE_SRC := $(STORAGE) $(PROTO)

# Sanitizer builds go to their own folder and skip jemalloc (ASan brings its
# own allocator; TSan does not know jemalloc's internal locks).
ifeq ($(SAN),address)
  BUILD  := build/asan
  SAN_CFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  SAN_LDFLAGS := -fsanitize=address,undefined
  PKGS   := libevent libevent_pthreads $(SEC_PKGS)
else ifeq ($(SAN),thread)
  BUILD  := build/tsan
  SAN_CFLAGS  := -fsanitize=thread
  SAN_LDFLAGS := -fsanitize=thread
  PKGS   := libevent libevent_pthreads $(SEC_PKGS)
endif
ifneq ($(SAN),)
  ifeq ($(origin CFLAGS),file)
    CFLAGS := -O1 -g
  endif
  ifeq ($(origin LDFLAGS),file)
    LDFLAGS :=
  endif
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
EVENT_LIBS := $(shell pkg-config --libs libevent libevent_pthreads 2>/dev/null)
FINAL_CFLAGS  = $(PROJECT_CFLAGS) $(SAN_CFLAGS) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
FINAL_LDFLAGS = $(SAN_LDFLAGS) $(LDFLAGS)

# Quiet by default; `make V=1` shows every command.
ifeq ($(V),1)
  Q :=
  say := @true
else
  Q := @
  say := @printf '  %-6s %s\n'
endif

CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(SERVER:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_BIN   := $(BUILD)/tests/unit/unit
INTEG_SRC  := $(wildcard tests/integration/*.c)
INTEG_BIN  := $(BUILD)/tests/integration/integ

.PHONY: all run test check deps unit integration asan tsan test-asan test-tsan test-scripts budget-long \
        clean pkg-check test-pkg-check

all: $(BUILD)/larder

# Every missing pkg-config package named at once, before any compiler error
# it would cause (a missing jemalloc once showed as "undefined reference to
# event_add").
define pkg_check
	@missing=""; for p in $(1); do pkg-config --exists $$p 2>/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "error: pkg-config cannot find:$$missing" >&2; \
	    echo "  install the -dev packages (Debian: make deps), or set PKG_CONFIG_PATH" >&2; \
	    exit 1; \
	fi
endef
pkg-check:
	$(call pkg_check,$(PKGS))
test-pkg-check:
	$(call pkg_check,$(TEST_PKGS))

$(BUILD)/%.o: %.c | pkg-check
	@mkdir -p $(dir $@)
	$(say) CC $@
	$(Q)$(CC) $(FINAL_CFLAGS) -c $< -o $@

# The store and the parser, without networking: what unit tests link.
$(BUILD)/libcore.a: $(CORE_OBJ)
	$(say) AR $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/libserver.a: $(SERVER_OBJ)
	$(say) AR $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/larder: $(BUILD)/server/main.o $(BUILD)/libserver.a $(BUILD)/libcore.a
	$(say) LINK $@
	$(Q)$(CC) $(FINAL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# The unit tests link the server's library too: the engine runs there with
# clients that have no connection (tests/unit/test_engine.c), and the
# security modules (tls, auth, sasl) are tested alone.
SEC_LIBS := $(shell pkg-config --libs $(SEC_PKGS) 2>/dev/null)
$(UNIT_BIN): $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libserver.a $(BUILD)/libcore.a | test-pkg-check
	$(say) LINK $@
	$(Q)$(CC) $(FINAL_LDFLAGS) -o $@ $^ -lcriterion $(EVENT_LIBS) $(SEC_LIBS) $(LDLIBS)

$(INTEG_BIN): $(INTEG_SRC:%.c=$(BUILD)/%.o) | test-pkg-check
	$(say) LINK $@
	$(Q)$(CC) $(FINAL_LDFLAGS) -o $@ $^ -lcriterion -lmemcached $(LDLIBS)

# As root, like memcached, the server must be told whom to run as: make run
# drops to nobody then.
RUN_AS := $(if $(filter 0,$(shell id -u)),-u nobody,)
run: $(BUILD)/larder
	./$(BUILD)/larder $(RUN_AS) $(ARGS)

# The installer runs when its package list changed (or was never run);
# `make deps` runs it anyway.  It installs only what is missing.
DEPS_STAMP := build/.deps-installed
deps:
	@bash tests/install-deps.sh
	@mkdir -p build && touch $(DEPS_STAMP)
$(DEPS_STAMP): tests/install-deps.sh
	@bash tests/install-deps.sh
	@mkdir -p build && touch $@

unit: $(UNIT_BIN)
	./$(UNIT_BIN) $(CRITERION_ARGS)

# Integration tests start the server binary built in the same folder.  The
# hostile suite is test-hostile's (it needs LARDER_HOSTILE): left out here
# rather than skipped.
INTEG_FILTER ?= --filter '!(hostile/*)'
integration: $(INTEG_BIN) $(BUILD)/larder
	LARDER_BIN=$(CURDIR)/$(BUILD)/larder ./$(INTEG_BIN) $(INTEG_FILTER) $(CRITERION_ARGS)

asan:
	$(MAKE) SAN=address all
tsan:
	$(MAKE) SAN=thread all

# ASan keeps freed memory in its quarantine, so a test that measures RSS
# going down (idle connections giving their buffers back), or staying
# within the budget while hung-up clients' buffers are freed, cannot pass
# there.
test-asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp $(MAKE) SAN=address unit integration \
	    INTEG_FILTER="--filter '!(hostile/*|server/memory_limit_idle*|budget/*_within_budget|ops/slow_watcher*)'"
# TSan: the threaded unit tests, then the whole integration suite against
# a TSan build of the server (a race makes it exit non-zero, which every
# test's teardown checks).  The RSS bounds are left out: TSan's shadow
# memory makes RSS meaningless.
test-tsan:
	$(MAKE) SAN=thread unit CRITERION_ARGS="--filter 'concurrency/*'"
	$(MAKE) SAN=thread all
	$(MAKE) $(INTEG_BIN)
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" LARDER_BIN=$(CURDIR)/build/tsan/larder \
		./$(INTEG_BIN) --filter '!(server/memory_limit*|pipeline/huge_multiget*|hostile/*|budget/*_within_budget|budget/unfinished*|ops/slow_watcher*)'

# Shell-level checks (daemon mode, memccapable, differential runs).
test-scripts: $(BUILD)/larder
	LARDER_BIN=$(CURDIR)/$(BUILD)/larder bash tests/run-scripts.sh

# The long versions of the memory-bound attacks (tests/integration/
# test_budget.c has the short ones, in make test): Larder, then memcached.
budget-long: $(BUILD)/larder $(DEPS_STAMP)
	python3 tests/scripts/budget_long.py $(CURDIR)/$(BUILD)/larder
	python3 tests/scripts/budget_long.py /usr/bin/memcached

# Every suite runs even when an earlier one fails, so one CI run shows all
# failures; the closing line counts suites.
TEST_SUITES := unit integration test-scripts test-asan test-tsan test-meta-differential \
               test-hostile test-ecosystem test-bench test-wordpress test-deb
test: $(DEPS_STAMP)
	$(MAKE) all
	@passed=0; failed=0; failures=""; \
	for suite in $(TEST_SUITES); do \
		if $(MAKE) $$suite; then passed=$$((passed + 1)); \
		else failed=$$((failed + 1)); failures="$$failures $$suite"; fi; \
	done; \
	[ -z "$$failures" ] || echo "failed suites:$$failures"; \
	echo "suites: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]

# The edit-compile-test loop: no package installer, no MariaDB, no
# sanitizer builds; a few minutes.
check: all
	@passed=0; failed=0; failures=""; \
	for suite in unit integration test-scripts; do \
		if $(MAKE) --no-print-directory $$suite; then passed=$$((passed + 1)); \
		else failed=$$((failed + 1)); failures="$$failures $$suite"; fi; \
	done; \
	[ -z "$$failures" ] || echo "failed suites:$$failures"; \
	echo "check: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]

clean:
	rm -rf build

# Each part brings its own targets: bench/bench.mk defines bench and
# test-bench, wordpress-plugin/wordpress.mk test-wordpress,
# tests/fuzz/fuzz.mk fuzz, soak and test-hostile, packaging/packaging.mk
# install and test-ecosystem, tests/meta/meta.mk test-meta-differential.
include bench/bench.mk
include wordpress-plugin/wordpress.mk
include tests/fuzz/fuzz.mk
include packaging/packaging.mk
include tests/meta/meta.mk

# Header dependencies of every object this build knows of.
ALL_OBJ := $(CORE_OBJ) $(SERVER_OBJ) $(BUILD)/server/main.o $(UNIT_SRC:%.c=$(BUILD)/%.o) \
           $(INTEG_SRC:%.c=$(BUILD)/%.o) $(BENCH_OBJ) $(BENCH_TEST_SRC:%.c=$(BUILD)/%.o) \
           $(FUZZ_CORE) $(FUZZ_SRV) $(FUZZ_MAIN)
-include $(ALL_OBJ:.o=.d)
