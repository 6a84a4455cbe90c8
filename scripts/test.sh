#!/usr/bin/env bash
# scripts/test.sh: set everything up (scripts/setup.sh) and run the full test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
TAPEVIT_TESTS=1 scripts/setup.sh build
ctest --test-dir build -j "$(nproc)" --output-on-failure
