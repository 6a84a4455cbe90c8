#!/usr/bin/env bash
# tests/layering_test.sh SOURCE_DIR: every #include of the project's own files respects the layers of the design
# (README, "What is inside"): core includes only core; layers and optim only core (and themselves); data only core;
# io no train; nothing but the tests includes the CLI. A `tapevit/...` include is checked against those rules; any
# other quoted include must stay in the including file's folder (a relative path such as "../src/core/x.h" would
# reach another layer unseen by the rules). Prints each violation with its file and line.
set -uo pipefail
cd "$1"
violations=0
INCLUDE='[[:space:]]*#[[:space:]]*include[[:space:]]*'  # "#include", "#  include", ...
# check FILES... -- ALLOWED_REGEX: every tapevit include in FILES must match ALLOWED_REGEX
check() {
  local allowed=${!#} files=("${@:1:$#-2}")
  while IFS= read -r hit; do
    echo "layering: $hit (allowed here: $allowed)"; violations=$((violations + 1))
  done < <(grep -HnE "^$INCLUDE[\"<]tapevit/" "${files[@]}" 2>/dev/null |
           grep -vE "^[^:]+:[0-9]+:$INCLUDE[\"<]tapevit/($allowed)[\">]")
}
CORE='[a-z0-9_]+\.h'  # the top-level headers of include/tapevit/
check include/tapevit/*.h src/core/*.cpp -- "$CORE"
check layers/*.h layers/*.cpp -- "$CORE|layers/[a-z0-9_]+\.h"
check optim/*.h optim/*.cpp -- "$CORE|optim/[a-z0-9_]+\.h"
check include/tapevit/data/*.h src/data/*.cpp -- "$CORE|data/[a-z0-9_]+\.h"
check include/tapevit/io/*.h src/io/*.cpp -- "$CORE|layers/[a-z0-9_]+\.h|optim/[a-z0-9_]+\.h|io/[a-z0-9_]+\.h"
check include/tapevit/train/*.h src/train/*.cpp src/train/*.h -- "$CORE|layers/[a-z0-9_]+\.h|optim/[a-z0-9_]+\.h|data/[a-z0-9_]+\.h|io/[a-z0-9_]+\.h|train/[a-z0-9_]+\.h"
# Other quoted includes: a path with a folder in it ("../src/core/gemm_avx512.h", "core/x.h") must resolve inside the
# including file's own folder; one that leaves it is a violation whatever it reaches (a header another layer may
# use belongs in include/tapevit/ and is included as tapevit/...). A bare name ("run.h", "args.h") is the file's
# neighbour, or a generated header on the include path (git_commit.h).
while IFS= read -r hit; do
  file=${hit%%:*} rest=${hit#*:}
  line=${rest%%:*}
  path=$(sed -E "s/^$INCLUDE\"([^\"]*)\".*/\1/" <<<"${rest#*:}")
  [[ $path == tapevit/* || $path != */* ]] && continue
  dir=$(realpath -m --relative-to=. "$(dirname "$file")")
  target=$(realpath -m --relative-to=. "$dir/$path")
  [[ $target == "$dir"/* ]] && continue
  echo "layering: $file:$line: #include \"$path\" reaches $target, outside $dir/ (across folders, include tapevit/... headers)"
  violations=$((violations + 1))
done < <(grep -rHnE --include='*.h' --include='*.cpp' "^$INCLUDE\"" include src layers optim examples)
# (tests may drive the CLI: tests/fuzz/targets.cpp runs `info` as main does)
if grep -rn '#include ".*cli/' --include='*.h' --include='*.cpp' include src layers optim examples; then
  echo "layering: the CLI is included above"; violations=$((violations + 1))
fi
[ "$violations" -eq 0 ] && echo "layering: every include respects the layers" || exit 1
