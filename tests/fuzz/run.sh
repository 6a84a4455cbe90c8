#!/usr/bin/env bash
# tests/fuzz/run.sh: build the libFuzzer target for the .safetensors reader with clang (ASan + UBSan) and run it.
#   tests/fuzz/run.sh [SECONDS]     default 300; new crashing inputs land in tests/fuzz/regressions/
# The committed corpus seeds it with valid files; tests/test_safetensors.cpp replays every file in
# tests/fuzz/regressions/ on each CI run.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_TO_RUN=${1:-300}
missing=()
for p in clang libclang-rt-14-dev libeigen3-dev nlohmann-json3-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
mkdir -p build/fuzz tests/fuzz/corpus tests/fuzz/regressions
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -I. \
  tests/fuzz/fuzz_safetensors.cpp src/io/safetensors.cpp src/io/atomic_file.cpp -o build/fuzz/fuzz_safetensors
# a scratch copy of the corpus, so a run does not churn the committed one
rm -rf build/fuzz/corpus && cp -r tests/fuzz/corpus build/fuzz/corpus
cp tests/fixtures/*.safetensors build/fuzz/corpus/
build/fuzz/fuzz_safetensors build/fuzz/corpus -max_total_time="$SECONDS_TO_RUN" -max_len=4096 \
  -artifact_prefix=tests/fuzz/regressions/ -print_final_stats=1 2>&1 | tail -25
