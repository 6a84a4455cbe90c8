#!/usr/bin/env bash
# scripts/test_sanitizers.sh: the whole suite again, built with AddressSanitizer and UndefinedBehaviorSanitizer
# (any finding stops the test that met it), in build-asan/. Run by .ci/run after scripts/test.sh.
#   scripts/test_sanitizers.sh [build-dir]        default: build-asan
# The install test is left out: it builds an example against the installed library without the sanitizer runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build-asan}
TAPEVIT_TESTS=1 scripts/setup.sh >/dev/null  # the packages (and the ordinary build, which the sanitizer build does not need)
# float-cast-overflow: GCC leaves it out of "undefined" (a float too large for the integer it is converted to)
FLAGS="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEVIT_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined,float-cast-overflow" >/dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
# detect_leaks=0: libhdf5 and libgomp keep allocations until exit, by design
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --output-on-failure -E "^Install:"
