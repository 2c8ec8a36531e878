# wordpress-plugin: the object-cache drop-in and its tests.
#
#   make test-wordpress          PHPUnit against Larder and memcached, then
#                                the WordPress + MariaDB end-to-end test
#   make test-wordpress-unit     PHPUnit only
#   make test-wordpress-e2e      end-to-end only (page cache and nginx included)
#   make wordpress-plugin-package  build/larder-object-cache.tar.gz, the plugin
#                                with its drop-ins, ready for wp-content/plugins
#   make bench-wordpress         the end-to-end test, then requests/s with ab
#                                and wrk: no cache, object cache, page cache
#                                through PHP, nginx reading Larder
#
# LARDER_BIN picks another Larder binary; WP_MEMCACHED the memcached one.

WP_LARDER_BIN ?= $(or $(LARDER_BIN),$(CURDIR)/$(BUILD)/larder)
WP_MEMCACHED  ?= $(shell command -v memcached 2>/dev/null || echo /usr/bin/memcached)

.PHONY: test-wordpress test-wordpress-unit test-wordpress-e2e bench-wordpress

test-wordpress: test-wordpress-unit test-wordpress-e2e

test-wordpress-unit: $(BUILD)/larder
	@echo "== drop-in API tests against Larder ($(WP_LARDER_BIN))"
	cd wordpress-plugin && SERVER_BIN=$(WP_LARDER_BIN) timeout -k 5 900 phpunit --colors=never
	@echo "== drop-in API tests against memcached ($(WP_MEMCACHED))"
	cd wordpress-plugin && SERVER_BIN=$(WP_MEMCACHED) timeout -k 5 900 phpunit --colors=never

test-wordpress-e2e: $(BUILD)/larder
	@echo "== WordPress + MariaDB + nginx end-to-end test against Larder"
	LARDER_BIN=$(WP_LARDER_BIN) timeout -k 10 900 bash tests/e2e/wordpress.sh

WP_BENCH_SECONDS ?= 10
WP_BENCH_CONCURRENCY ?= 4

bench-wordpress: $(BUILD)/larder
	@echo "== WordPress page requests/s ($(WP_BENCH_SECONDS) s per setup, $(WP_BENCH_CONCURRENCY) connections)"
	LARDER_BIN=$(WP_LARDER_BIN) E2E_BENCH=1 E2E_BENCH_SECONDS=$(WP_BENCH_SECONDS) \
		E2E_BENCH_CONCURRENCY=$(WP_BENCH_CONCURRENCY) E2E_BENCH_OUT=$(CURDIR)/$(BUILD)/wordpress-bench.md \
		timeout -k 10 600 bash tests/e2e/wordpress.sh
	@cat $(BUILD)/wordpress-bench.md

# The companion plugin as installed in wp-content/plugins (or mu-plugins):
# the folder with the two drop-ins in dropins/, as a tarball.
.PHONY: wordpress-plugin-package
wordpress-plugin-package:
	rm -rf $(BUILD)/wordpress/larder-object-cache
	mkdir -p $(BUILD)/wordpress
	cp -r wordpress-plugin/larder-object-cache $(BUILD)/wordpress/
	mkdir -p $(BUILD)/wordpress/larder-object-cache/dropins
	cp wordpress-plugin/object-cache.php wordpress-plugin/advanced-cache.php wordpress-plugin/README.md $(BUILD)/wordpress/larder-object-cache/dropins/
	cp -r wordpress-plugin/nginx $(BUILD)/wordpress/larder-object-cache/
	tar -C $(BUILD)/wordpress -czf $(BUILD)/larder-object-cache.tar.gz larder-object-cache
	@echo "$(BUILD)/larder-object-cache.tar.gz"
