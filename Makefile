# Thin wrapper around CMake.  `make run` and `make test` work on a fresh
# Debian machine: they install what is missing, build, and run.
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build run test test-asan test-tsan test-valgrind fuzz fuzz-ci \
	bench install \
	clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The CLI tour, then cairnd in the foreground on the same store (Ctrl-C
# stops it); CAIRND_LISTEN=HOST:PORT to move it off 127.0.0.1:2113.
run: build
	@sh scripts/tour.sh $(BUILD)/cairn $(BUILD)/cairnd

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite once more under AddressSanitizer and UBSan.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCAIRN_SANITIZE=ON \
	    -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && CAIRN_SKIP_BIG=1 ctest --output-on-failure -j $(JOBS)

# The concurrency tests once more under ThreadSanitizer.
test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCAIRN_TSAN=ON \
	    -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	@cd $(TSAN_BUILD) && CAIRN_TEST_FILTER='*concurrent*' \
	    ctest --output-on-failure -R 'conformance|unit.group_commit|unit.exec|example'

# The unit tests (label unit: the core's logic, the decorators, the
# out-of-memory tests) once more under valgrind's memcheck, in the normal
# build: scripts/valgrind-tests.sh.
test-valgrind: build
	@sh scripts/valgrind-tests.sh $(BUILD) unit

# Each fuzz target for FUZZ_SECONDS with libFuzzer (clang); builds only
# the targets.  fuzz-ci is what .ci/run runs: each target 60 s.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCAIRN_FUZZ=ON \
	    >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	@sh fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# A fixed seed: CI explores the inputs a developer's `make fuzz-ci` of the
# same commit explored (see fuzz/run.sh); `make fuzz` explores anew.
fuzz-ci:
	@FUZZ_SEED=1 $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60

bench: build
	@$(BUILD)/cairn-bench

install: build
	@cmake --install $(BUILD)

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
