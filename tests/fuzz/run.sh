#!/usr/bin/env bash
# tests/fuzz/run.sh: build the libFuzzer targets with clang (AddressSanitizer + UBSan, in build-fuzz/) and run one
# or all of them, each until RUNS executions or SECONDS, whichever comes first.
#   tests/fuzz/run.sh [TARGET|all] [SECONDS] [RUNS]      defaults: all 600 1000000
# Targets (tests/fuzz/targets.cpp): safetensors checkpoint idx cifar npy ini cli image. Each starts from its
# committed seeds (tests/fuzz/corpus/<target>, copied to build-fuzz/corpus/<target> so a run does not churn them);
# an input that crashes, hangs (> 30 s: a file without a digest is read in a child process first, given 10 s) or allocates beyond 4 GB lands in tests/fuzz/regressions/<target>/, which
# the suite replays (tests/test_fuzz.cpp). Logs: build-fuzz/logs/<target>.log; the last lines of each are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
WHICH=${1:-all}
SECONDS_TO_RUN=${2:-600}
RUNS=${3:-1000000}
ALL="safetensors checkpoint idx cifar npy ini cli image"
missing=()
for p in clang libclang-rt-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
scripts/setup.sh >/dev/null  # the library's packages (and the ordinary build)
FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEVIT_BUILD_FUZZ=ON \
  -DTAPEVIT_BUILD_TESTS=OFF -DTAPEVIT_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_C_FLAGS="$FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
[ "$WHICH" = all ] && targets=$ALL || targets=$WHICH
for t in $targets; do cmake --build build-fuzz -j "$(nproc)" --target "fuzz_$t"; done
mkdir -p build-fuzz/logs
export ASAN_OPTIONS=detect_leaks=0  # libhdf5 and libgomp keep allocations until exit, by design
export UBSAN_OPTIONS=print_stacktrace=1
for t in $targets; do
  rm -rf "build-fuzz/corpus/$t" && mkdir -p "build-fuzz/corpus/$t" "tests/fuzz/regressions/$t"
  cp tests/fuzz/corpus/"$t"/* "build-fuzz/corpus/$t/"
  echo "== fuzz_$t: up to $RUNS executions or $SECONDS_TO_RUN s"
  status=0
  build-fuzz/fuzz/fuzz_"$t" "build-fuzz/corpus/$t" -runs="$RUNS" -max_total_time="$SECONDS_TO_RUN" -timeout=30 \
    -rss_limit_mb=4096 -artifact_prefix="tests/fuzz/regressions/$t/" -print_final_stats=1 \
    >"build-fuzz/logs/$t.log" 2>&1 || status=$?
  grep -E "^(stat::|#[0-9]+ *DONE|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)" "build-fuzz/logs/$t.log" | tail -12
  echo "   exit $status"
done
