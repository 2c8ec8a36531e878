# Larder — see README.md.  `make run` starts the server, `make test` installs
# what is missing on Debian 12 and runs every test suite.

CC       ?= cc
PKGS     := libevent libevent_pthreads jemalloc
WARN     := -Wall -Wextra
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) -pthread -I. -MMD -MP
CFLAGS   ?= -O2 -g
CFLAGS   += $(BASE_CFLAGS)
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
  CFLAGS := -O1 -g $(BASE_CFLAGS) -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  PKGS   := libevent libevent_pthreads
else ifeq ($(SAN),thread)
  BUILD  := build/tsan
  CFLAGS := -O1 -g $(BASE_CFLAGS) -fsanitize=thread
  LDFLAGS += -fsanitize=thread
  PKGS   := libevent libevent_pthreads
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS     += $(PKG_CFLAGS)

CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ := $(SERVER:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_BIN   := $(BUILD)/tests/unit/unit
INTEG_SRC  := $(wildcard tests/integration/*.c)
INTEG_BIN  := $(BUILD)/tests/integration/integ

.PHONY: all run test deps unit integration asan tsan test-asan test-tsan test-scripts clean

all: $(BUILD)/larder

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The store and the parser, without networking: what unit tests link.
$(BUILD)/libcore.a: $(CORE_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/libserver.a: $(SERVER_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/larder: $(BUILD)/server/main.o $(BUILD)/libserver.a $(BUILD)/libcore.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(UNIT_BIN): $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libcore.a
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

$(INTEG_BIN): $(INTEG_SRC:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion -lmemcached $(LDLIBS)

# As root, like memcached, the server must be told whom to run as: make run
# drops to nobody then.
RUN_AS := $(if $(filter 0,$(shell id -u)),-u nobody,)
run: $(BUILD)/larder
	./$(BUILD)/larder $(RUN_AS) $(ARGS)

deps:
	@bash tests/install-deps.sh

unit: $(UNIT_BIN)
	./$(UNIT_BIN) $(CRITERION_ARGS)

# Integration tests start the server binary built in the same folder.
integration: $(INTEG_BIN) $(BUILD)/larder
	LARDER_BIN=$(CURDIR)/$(BUILD)/larder ./$(INTEG_BIN) $(CRITERION_ARGS)

asan:
	$(MAKE) SAN=address all
tsan:
	$(MAKE) SAN=thread all

test-asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp $(MAKE) SAN=address unit integration
# TSan: the threaded unit tests, then the whole integration suite against
# a TSan build of the server (a race makes it exit non-zero, which every
# test's teardown checks).  The RSS bounds are left out: TSan's shadow
# memory makes RSS meaningless.
test-tsan:
	$(MAKE) SAN=thread unit CRITERION_ARGS="--filter 'concurrency/*'"
	$(MAKE) SAN=thread all
	$(MAKE) $(INTEG_BIN)
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" LARDER_BIN=$(CURDIR)/build/tsan/larder \
		./$(INTEG_BIN) --filter '!(server/memory_limit*|pipeline/huge_multiget*)'

# Shell-level checks (daemon mode, memccapable, differential runs).
test-scripts: $(BUILD)/larder
	LARDER_BIN=$(CURDIR)/$(BUILD)/larder bash tests/run-scripts.sh

# Every suite runs even when an earlier one fails, so one CI run shows all
# failures; the closing line counts suites.
TEST_SUITES := unit integration test-scripts test-asan test-tsan test-meta-differential \
               test-hostile test-ecosystem test-bench test-wordpress
test: deps
	$(MAKE) all
	@passed=0; failed=0; failures=""; \
	for suite in $(TEST_SUITES); do \
		if $(MAKE) $$suite; then passed=$$((passed + 1)); \
		else failed=$$((failed + 1)); failures="$$failures $$suite"; fi; \
	done; \
	[ -z "$$failures" ] || echo "failed suites:$$failures"; \
	echo "suites: $$passed passed, $$failed failed"; \
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

-include $(shell find build -name '*.d' 2>/dev/null)
