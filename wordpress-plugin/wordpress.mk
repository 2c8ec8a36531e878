# wordpress-plugin: the object-cache drop-in and its tests.
.PHONY: test-wordpress
test-wordpress:
	@echo "test-wordpress: not written yet"
