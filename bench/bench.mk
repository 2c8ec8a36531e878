# bench: load generator, side-by-side comparison with memcached, live stats.
#
#   make bench-load   build/bench/larder-load only
#   make bench        compare Larder with memcached (BENCH_ARGS="--rounds 5 ...")
#   make test-bench   unit tests (histogram, distributions, reply parser) and
#                     integration tests against memcached and, if built, Larder
#
# The server under test is $(LARDER_BIN) when set, else $(BUILD)/larder, which
# `make bench` then builds first.

BENCH_SRC       := $(wildcard bench/*.c)
BENCH_OBJ       := $(BENCH_SRC:%.c=$(BUILD)/%.o)
BENCH_CORE_OBJ  := $(filter-out $(BUILD)/bench/main.o,$(BENCH_OBJ))
BENCH_LOAD      := $(BUILD)/bench/larder-load
BENCH_TEST_SRC  := $(wildcard tests/bench/*.c)
BENCH_TEST_BIN  := $(BUILD)/tests/bench/bench-unit
BENCH_LIBS      := $(shell pkg-config --libs libevent 2>/dev/null) -lm

ifeq ($(origin LARDER_BIN),undefined)
  BENCH_LARDER     := $(CURDIR)/$(BUILD)/larder
  BENCH_LARDER_DEP := $(BUILD)/larder
else
  BENCH_LARDER     := $(LARDER_BIN)
  BENCH_LARDER_DEP :=
endif

.PHONY: bench bench-load bench-tls-load test-bench bench-unit bench-integration

bench-load: $(BENCH_LOAD)

$(BENCH_LOAD): $(BENCH_OBJ)
	$(CC) $(FINAL_LDFLAGS) -o $@ $^ $(BENCH_LIBS) $(LDLIBS)

$(BENCH_TEST_BIN): $(BENCH_TEST_SRC:%.c=$(BUILD)/%.o) $(BENCH_CORE_OBJ)
	$(CC) $(FINAL_LDFLAGS) -o $@ $^ -lcriterion $(BENCH_LIBS) $(LDLIBS)

bench: $(BENCH_LOAD) $(BENCH_LARDER_DEP)
	LARDER_BIN=$(BENCH_LARDER) python3 bench/compare.py --load $(BENCH_LOAD) $(BENCH_ARGS)

bench-unit: $(BENCH_TEST_BIN)
	./$(BENCH_TEST_BIN) $(CRITERION_ARGS)

bench-integration: $(BENCH_LOAD) $(BENCH_LARDER_DEP)
	LARDER_BIN=$(BENCH_LARDER) LARDER_LOAD=$(CURDIR)/$(BENCH_LOAD) \
	    timeout 900 python3 tests/bench/test_integration.py
	LARDER_BIN=$(BENCH_LARDER) LARDER_LOAD=$(CURDIR)/$(BENCH_LOAD) \
	    timeout 900 python3 tests/bench/test_tools.py

# Unit tests first; both parts must pass.
test-bench: bench-unit bench-integration

# tls_load: TLS requests/s against -Z servers (larder-load speaks plain TCP);
# see bench/tls/tls_load.c (outside bench/*.c: its own main) and the README's Encryption section.
TLS_LOAD := $(BUILD)/bench/tls_load
bench-tls-load: $(TLS_LOAD)
$(TLS_LOAD): bench/tls/tls_load.c
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) -o $@ $< $(FINAL_LDFLAGS) $(shell pkg-config --libs openssl) -pthread
