# bench: load generator, side-by-side comparison with memcached, live stats.
#
#   make bench-load   build/bench/larder-load only
#   make bench        compare Larder with memcached (BENCH_ARGS="--rounds 5 ...")
#   make memfit       items kept per value size and under churn, Larder beside
#                     memcached and memcached beside itself (MEMFIT_ARGS="...")
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

.PHONY: bench bench-load bench-tls-load test-bench bench-unit bench-integration memfit

bench-load: $(BENCH_LOAD)

$(BENCH_LOAD): $(BENCH_OBJ)
	$(CC) $(FINAL_LDFLAGS) -o $@ $^ $(BENCH_LIBS) $(LDLIBS)

$(BENCH_TEST_BIN): $(BENCH_TEST_SRC:%.c=$(BUILD)/%.o) $(BENCH_CORE_OBJ)
	$(CC) $(FINAL_LDFLAGS) -o $@ $^ -lcriterion $(BENCH_LIBS) $(LDLIBS)

bench: $(BENCH_LOAD) $(BENCH_LARDER_DEP)
	LARDER_BIN=$(BENCH_LARDER) python3 bench/compare.py --load $(BENCH_LOAD) $(BENCH_ARGS)

# About 9 minutes with the defaults (2 rounds, 60 s of churn per server);
# the table goes to stdout and $(BUILD)/memfit/table.txt, every run to
# $(BUILD)/memfit/result.json.
memfit: $(BENCH_LOAD) $(BENCH_LARDER_DEP)
	LARDER_BIN=$(BENCH_LARDER) python3 bench/memfit.py --load $(BENCH_LOAD) \
	    --out $(CURDIR)/$(BUILD)/memfit $(MEMFIT_ARGS)

bench-unit: $(BENCH_TEST_BIN)
	./$(BENCH_TEST_BIN) $(CRITERION_ARGS)

bench-integration: $(BENCH_LOAD) $(BENCH_LARDER_DEP)
	LARDER_BIN=$(BENCH_LARDER) LARDER_LOAD=$(CURDIR)/$(BENCH_LOAD) \
	    timeout 900 python3 tests/bench/test_integration.py
	LARDER_BIN=$(BENCH_LARDER) LARDER_LOAD=$(CURDIR)/$(BENCH_LOAD) \
	    timeout 900 python3 tests/bench/test_tools.py
	LARDER_BIN=$(BENCH_LARDER) LARDER_LOAD=$(CURDIR)/$(BENCH_LOAD) \
	    timeout 900 python3 tests/bench/test_memfit.py

# Unit tests first; both parts must pass.
test-bench: bench-unit bench-integration

# tls_load: TLS requests/s against -Z servers (larder-load speaks plain TCP);
# see bench/tls/tls_load.c (outside bench/*.c: its own main) and the README's Encryption section.
TLS_LOAD := $(BUILD)/bench/tls_load
bench-tls-load: $(TLS_LOAD)
$(TLS_LOAD): bench/tls/tls_load.c
	@mkdir -p $(dir $@)
	$(CC) $(FINAL_CFLAGS) -o $@ $< $(FINAL_LDFLAGS) $(shell pkg-config --libs openssl) -pthread
