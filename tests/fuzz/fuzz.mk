# tests/fuzz: libFuzzer targets, the soak test and hostile-input tests.
.PHONY: fuzz soak test-hostile
fuzz:
	@echo "fuzz: not written yet"; false
soak:
	@echo "soak: not written yet"; false
test-hostile:
	@echo "test-hostile: not written yet"
