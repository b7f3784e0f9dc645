# Thin wrapper over CMake presets. `make demo` and `make test` work on a fresh Debian 12 machine.
PRESET ?= release
BUILD_DIR := build/$(PRESET)
KILN := $(BUILD_DIR)/kiln
JOBS ?= $(shell nproc)

.PHONY: deps configure build demo test test-slow test-asan thread-safety bench fuzz fmt fmt-check check-deps clean

deps:
	@scripts/install-deps

configure: deps
	@test -f $(BUILD_DIR)/build.ninja || cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	@scripts/demo $(KILN)

# All tests except those labelled `slow`.
test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -LE slow --timeout 600

test-slow: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L slow --timeout 1800

# The unit tests (label `unit`) built with AddressSanitizer and UBSan.
UNIT_TARGETS := base_test auth_test data_test ingest_test storage_test registry_test model_test learn_test \
  tune_test serve_test http_test monitor_test pipeline_test jobs_test api_test rpc_test
test-asan: deps
	@test -f build/asan/build.ninja || cmake --preset asan >/dev/null
	@cmake --build build/asan -j $(JOBS) --target $(UNIT_TARGETS)
	@cd build/asan && ctest --output-on-failure -j $(JOBS) -L unit --timeout 600

# Every target compiled by clang with -Wthread-safety -Werror: the lock annotations
# (KILN_GUARDED_BY, KILN_REQUIRES, ...) are checked.
thread-safety: deps
	@test -f build/thread-safety/build.ninja || cmake --preset thread-safety >/dev/null
	@cmake --build build/thread-safety -j $(JOBS)

bench: build
	@bench/peers/ingest.sh $(KILN)

# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS (default 30).
FUZZ_SECONDS ?= 30
fuzz: deps
	@test -f build/fuzz/build.ninja || cmake --preset fuzz >/dev/null
	@cmake --build build/fuzz -j $(JOBS)
	@scripts/run-fuzzers build/fuzz/fuzz $(FUZZ_SECONDS)

fmt:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

fmt-check:
	@git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

check-deps:
	@scripts/check-deps

clean:
	@rm -rf build
