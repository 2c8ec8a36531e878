# bench: load generator, side-by-side comparison with memcached, live stats.
.PHONY: bench test-bench
bench:
	@echo "bench: not written yet"; false
test-bench:
	@echo "test-bench: not written yet"
