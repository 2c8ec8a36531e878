# packaging: install, systemd unit, config, man page; ecosystem tests.
.PHONY: install test-ecosystem
install:
	@echo "install: not written yet"; false
test-ecosystem:
	@echo "test-ecosystem: not written yet"
