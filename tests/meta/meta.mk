# tests/meta: differential test of the meta commands against memcached.
.PHONY: test-meta-differential
test-meta-differential:
	@echo "test-meta-differential: not written yet"
