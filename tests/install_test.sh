#!/usr/bin/env bash
# tests/install_test.sh BUILD_DIR SOURCE_DIR: install tapevit into a fresh prefix, then build and run
# examples/custom_layer against that prefix alone, as another project would (find_package(tapevit)).
# Fails if the installed package or the example's build refers to tapevit's source or build tree, if the example's
# gradient check fails, or if its loss does not fall.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tapevit_install.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PREFIX=$WORK/prefix

cmake --install "$BUILD" --prefix "$PREFIX" > "$WORK/install.log"
test -f "$PREFIX/lib/cmake/tapevit/tapevitConfig.cmake"
test -f "$PREFIX/include/tapevit/layers/linear.h"    # layer headers come with the library
test -f "$PREFIX/include/tapevit/gradcheck.h"
if grep -rl -e "$SRC" -e "$BUILD" "$PREFIX/lib/cmake" "$PREFIX/include"; then
  echo "install_test: the installed package refers to the source or build tree (files above)"; exit 1
fi
"$PREFIX/bin/tapevit" --version | grep -q "^tapevit [0-9]"

cp -r "$SRC/examples/custom_layer" "$WORK/example"   # the example's sources, away from tapevit's tree
cmake -S "$WORK/example" -B "$WORK/example-build" -DCMAKE_PREFIX_PATH="$PREFIX" \
      -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON > "$WORK/configure.log"
grep -q "^tapevit_DIR:PATH=$PREFIX/lib/cmake/tapevit$" "$WORK/example-build/CMakeCache.txt" ||
  { echo "install_test: find_package(tapevit) did not take the installed package"; grep tapevit_DIR "$WORK/example-build/CMakeCache.txt"; exit 1; }
# (each path with its '/': a temporary directory /tmp/ciT is not inside a source tree /tmp/ci)
if grep -F -e "$SRC/" -e "$BUILD/" "$WORK/example-build/compile_commands.json"; then
  echo "install_test: the example's compile commands refer to tapevit's source or build tree"; exit 1
fi
cmake --build "$WORK/example-build" -j 2 > "$WORK/build.log" || { cat "$WORK/build.log"; exit 1; }
"$WORK/example-build/custom_layer"
