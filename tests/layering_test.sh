#!/usr/bin/env bash
# tests/layering_test.sh SOURCE_DIR: every #include "tapevit/..." respects the layers of the design (README, "What
# is inside"): core includes only core; layers and optim only core (and themselves); data only core; io no train;
# nothing but the tests includes the CLI. Prints each violation with its file and line.
set -uo pipefail
cd "$1"
violations=0
# check FILES... -- ALLOWED_REGEX: every tapevit include in FILES must match ALLOWED_REGEX
check() {
  local allowed=${!#} files=("${@:1:$#-2}")
  while IFS= read -r hit; do
    echo "layering: $hit (allowed here: $allowed)"; violations=$((violations + 1))
  done < <(grep -Hn '#include "tapevit/' "${files[@]}" 2>/dev/null | grep -vE "#include \"tapevit/($allowed)\"")
}
CORE='[a-z0-9_]+\.h'  # the top-level headers of include/tapevit/
check include/tapevit/*.h src/core/*.cpp -- "$CORE"
check layers/*.h layers/*.cpp -- "$CORE|layers/[a-z0-9_]+\.h"
check optim/*.h optim/*.cpp -- "$CORE|optim/[a-z0-9_]+\.h"
check include/tapevit/data/*.h src/data/*.cpp -- "$CORE|data/[a-z0-9_]+\.h"
check include/tapevit/io/*.h src/io/*.cpp -- "$CORE|layers/[a-z0-9_]+\.h|optim/[a-z0-9_]+\.h|io/[a-z0-9_]+\.h"
check include/tapevit/train/*.h src/train/*.cpp src/train/*.h -- "$CORE|layers/[a-z0-9_]+\.h|optim/[a-z0-9_]+\.h|data/[a-z0-9_]+\.h|io/[a-z0-9_]+\.h|train/[a-z0-9_]+\.h"
# (tests may drive the CLI: tests/fuzz/targets.cpp runs `info` as main does)
if grep -rn '#include ".*cli/' --include='*.h' --include='*.cpp' include src layers optim examples; then
  echo "layering: the CLI is included above"; violations=$((violations + 1))
fi
[ "$violations" -eq 0 ] && echo "layering: every include respects the layers" || exit 1
