# Top-level wrapper around CMake: `make run` and `make test` on a fresh Debian 12 machine.
# Installs missing Debian packages (as root) or prints the exact command (otherwise).

BUILD_TYPE ?= RelWithDebInfo
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
CMAKE_FLAGS += -DSY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
else
BUILD ?= build
CMAKE_FLAGS += -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
endif
CONFIG ?= examples/quickstart.lua
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Everything the build and the tests need, as Debian 12 package names.
DEPS := build-essential cmake pkg-config libluajit-5.1-dev luajit libcurl4-openssl-dev \
        libcjson-dev lua-cjson lua-busted libevent-dev libhttp-parser-dev curl \
        libpcre2-dev unicode-data libhiredis-dev libssl-dev
# What `make test` needs besides: promtool checks the example alert rules; redis-server backs
# the shared-limit tests (started by the tests on a loopback port); Node.js and npm run
# the official SDKs against the gateway (tests/clients). `nodejs:node` means "unless a `node`
# is on the PATH": an existing (newer) Node is kept, Debian's is installed only when none is.
TEST_DEPS := prometheus nodejs:node npm:npm redis-server
# npm packages for `make test`, each directory installed with `npm ci` from its lock file.
TEST_NPM := tests/clients
# Extra tools for `make bench` (never libnginx-mod-http-lua: it removes libluajit-5.1-dev).
BENCH_DEPS := nginx wrk redis-server

.PHONY: all deps test-deps bench-deps build run test bench clean

all: build

deps:
	@./tools/ensure-deps $(DEPS)

test-deps:
	@./tools/ensure-deps $(TEST_DEPS)
	@for d in $(TEST_NPM); do ./tools/ensure-npm-ci $$d || exit 1; done

bench-deps:
	@./tools/ensure-deps $(BENCH_DEPS)

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/switchyard serve --config $(CONFIG)

test: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j 1 $(CTEST_ARGS)

bench: bench-deps build
	./bench/gateway.sh $(BUILD)

clean:
	rm -rf build build-asan
