# tests/fuzz: libFuzzer targets, the soak test and the hostile-input tests.
#
#   make fuzz          each target for its share of FUZZ_SECONDS (default 600
#                      in total); new crash inputs land in tests/fuzz/crashes/
#   make soak          SOAK_SECONDS (default 600) of mixed traffic, every reply
#                      checked, RSS/fds/threads compared at start and end
#   make test-hostile  replays the seed corpus and crash files through every
#                      target, then runs the `hostile` integration suite and a
#                      short soak against the normal and the ASan server
#
# The fuzz targets need clang (libFuzzer); they are built in build/fuzz with
# ASan and UBSan, from the same sources as the server:
#   fuzz_proto  proto_parse, proto_next_key, the number parsers, formatting
#   fuzz_store  the command engine and the store against a model, with
#               allocation failures injected
#   fuzz_conn   server/conn.c + cmd.c + stats.c through a socketpair
# A crash input is kept in tests/fuzz/crashes/<target>/ for good: once the
# bug is fixed it stays as a regression test.  To see what an input does:
#   FUZZ_CONN_DUMP=1 build/fuzz/fuzz_conn <file>

.PHONY: fuzz fuzz-build soak test-hostile test-hostile-fuzz test-hostile-server

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_BUILD   := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
                -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -pthread -I. -MMD -MP \
                $(shell pkg-config --cflags libevent 2>/dev/null)
FUZZ_LDFLAGS := $(FUZZ_SAN) -fsanitize=fuzzer -pthread
FUZZ_TARGETS := proto store conn
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_CORE    := $(CORE_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SRV     := $(SERVER:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_MAIN    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%.o)
# libFuzzer options shared by every run
FUZZ_OPTS    := -timeout=20 -rss_limit_mb=2048 -print_final_stats=1

SOAK_SECONDS ?= 600
SOAK_BIN     := $(BUILD)/tests/fuzz/soak
HOSTILE_SOAK_SECONDS ?= 20

$(FUZZ_CORE) $(FUZZ_SRV) $(FUZZ_MAIN): $(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/fuzz_proto: $(FUZZ_BUILD)/tests/fuzz/fuzz_proto.o $(FUZZ_CORE)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^

# The store target wraps the allocator of the objects it links, to inject
# allocation failures into the store (see fuzz_store.c).
$(FUZZ_BUILD)/fuzz_store: $(FUZZ_BUILD)/tests/fuzz/fuzz_store.o $(FUZZ_SRV) $(FUZZ_CORE)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc -o $@ $^ \
	    $(shell pkg-config --libs libevent libevent_pthreads $(SEC_PKGS))

$(FUZZ_BUILD)/fuzz_conn: $(FUZZ_BUILD)/tests/fuzz/fuzz_conn.o $(FUZZ_SRV) $(FUZZ_CORE)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(shell pkg-config --libs libevent libevent_pthreads $(SEC_PKGS))

fuzz-build: $(FUZZ_BINS)

# Each target gets an equal share of FUZZ_SECONDS.  New interesting inputs go to a work
# corpus under build/ (the committed seeds stay small); a crashing input is
# written to tests/fuzz/crashes/<target>/ and the run fails.
fuzz: $(FUZZ_BINS)
	@set -e; share=$$(( $(FUZZ_SECONDS) / $(words $(FUZZ_TARGETS)) )); [ $$share -ge 1 ] || share=1; \
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/work/$$t tests/fuzz/crashes/$$t; \
	    echo "fuzz: $$t for $$share s"; \
	    $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_OPTS) -max_len=16384 -max_total_time=$$share \
	        -artifact_prefix=tests/fuzz/crashes/$$t/ \
	        $(FUZZ_BUILD)/work/$$t tests/fuzz/corpus/$$t 2>&1 | tee $(FUZZ_BUILD)/$$t.log | \
	        grep -E '^#[0-9]+ +(INITED|DONE)|^stat::number_of_executed_units|ERROR|SUMMARY|check failed'; \
	    status=$${PIPESTATUS[0]}; \
	    if [ $$status -ne 0 ]; then echo "fuzz: $$t FAILED (see $(FUZZ_BUILD)/$$t.log)"; exit 1; fi; \
	done
fuzz: SHELL := /bin/bash

# Seeds and crash files, each run once: fast and deterministic.
test-hostile-fuzz: $(FUZZ_BINS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    dirs=tests/fuzz/corpus/$$t; \
	    [ -d tests/fuzz/crashes/$$t ] && dirs="$$dirs tests/fuzz/crashes/$$t"; \
	    echo "replay: $$t ($$(cat $$(find $$dirs -type f) /dev/null | wc -c) bytes in $$(find $$dirs -type f | wc -l) files)"; \
	    $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_OPTS) -runs=0 -artifact_prefix=$(FUZZ_BUILD)/replay-$$t- \
	        $$dirs > $(FUZZ_BUILD)/replay-$$t.log 2>&1 || \
	        { tail -40 $(FUZZ_BUILD)/replay-$$t.log; exit 1; }; \
	done

$(SOAK_BIN): tests/fuzz/soak.c
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) $(FINAL_LDFLAGS) -o $@ $< $(LDLIBS)

soak: $(BUILD)/larder $(SOAK_BIN)
	./$(SOAK_BIN) $(CURDIR)/$(BUILD)/larder $(SOAK_SECONDS)

# The malloc-failing shim the hostile suite preloads into one server.
FAILMALLOC_SO := $(BUILD)/tests/fuzz/failmalloc.so
$(FAILMALLOC_SO): tests/fuzz/failmalloc.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC -O2 -Wall -Wextra -o $@ $< -ldl

# The hostile suite and a short soak against one server binary (LARDER_BIN).
# A small ASan quarantine keeps an ASan server's RSS close to what it uses.
test-hostile-server: $(INTEG_BIN) $(SOAK_BIN) $(FAILMALLOC_SO)
	LARDER_HOSTILE=1 LARDER_FAILMALLOC=$(CURDIR)/$(FAILMALLOC_SO) \
	    ASAN_OPTIONS=quarantine_size_mb=4:detect_leaks=1 \
	    ./$(INTEG_BIN) --filter 'hostile/*' $(CRITERION_ARGS)
	ASAN_OPTIONS=quarantine_size_mb=4:detect_leaks=1 \
	    ./$(SOAK_BIN) $(LARDER_BIN) $(HOSTILE_SOAK_SECONDS)

# Both servers are built first; the client side (suite, soak) is the normal
# build.  About two minutes in all.
test-hostile:
	@start=$$(date +%s); set -e; \
	$(MAKE) --no-print-directory all; \
	$(MAKE) --no-print-directory SAN=address all; \
	$(MAKE) --no-print-directory test-hostile-fuzz; \
	echo "== hostile: normal server"; \
	$(MAKE) --no-print-directory test-hostile-server LARDER_BIN=$(CURDIR)/build/larder; \
	echo "== hostile: ASan/UBSan server"; \
	$(MAKE) --no-print-directory test-hostile-server LARDER_BIN=$(CURDIR)/build/asan/larder \
	    HOSTILE_SOAK_SECONDS=15; \
	echo "test-hostile: passed in $$(( $$(date +%s) - start )) s"
