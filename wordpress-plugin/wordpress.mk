# wordpress-plugin: the object-cache drop-in and its tests.
#
#   make test-wordpress          PHPUnit against Larder and memcached, then
#                                the WordPress + MariaDB end-to-end test
#   make test-wordpress-unit     PHPUnit only
#   make test-wordpress-e2e      end-to-end only
#
# LARDER_BIN picks another Larder binary; WP_MEMCACHED the memcached one.

WP_LARDER_BIN ?= $(or $(LARDER_BIN),$(CURDIR)/$(BUILD)/larder)
WP_MEMCACHED  ?= $(shell command -v memcached 2>/dev/null || echo /usr/bin/memcached)

.PHONY: test-wordpress test-wordpress-unit test-wordpress-e2e

test-wordpress: test-wordpress-unit test-wordpress-e2e

test-wordpress-unit: $(BUILD)/larder
	@echo "== drop-in API tests against Larder ($(WP_LARDER_BIN))"
	cd wordpress-plugin && SERVER_BIN=$(WP_LARDER_BIN) timeout -k 5 900 phpunit --colors=never
	@echo "== drop-in API tests against memcached ($(WP_MEMCACHED))"
	cd wordpress-plugin && SERVER_BIN=$(WP_MEMCACHED) timeout -k 5 900 phpunit --colors=never

test-wordpress-e2e: $(BUILD)/larder
	@echo "== WordPress + MariaDB end-to-end test against Larder"
	LARDER_BIN=$(WP_LARDER_BIN) timeout -k 10 900 bash tests/e2e/wordpress.sh
