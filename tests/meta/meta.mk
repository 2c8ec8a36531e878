# tests/meta: differential test of the meta commands against memcached
# (the Debian package's /usr/bin/memcached); see tests/meta/diff_meta.py.
.PHONY: test-meta-differential
test-meta-differential: $(BUILD)/larder
	python3 tests/meta/diff_meta.py $(CURDIR)/$(BUILD)/larder /usr/bin/memcached
