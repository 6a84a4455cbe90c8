#!/usr/bin/env bash
# scripts/setup.sh: install tapevit's Debian 12 build dependencies (only those missing) and build it.
#   scripts/setup.sh [build-dir]        default build dir: build
# Environment: TAPEVIT_NATIVE=OFF builds without -march=native; JOBS sets build parallelism; TAPEVIT_TESTS=1 adds
# the tests' packages; EXTRA_PACKAGES adds Debian packages to install.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}

PACKAGES=(g++ make cmake pkg-config libeigen3-dev libhdf5-dev libboost-program-options-dev doctest-dev
          nlohmann-json3-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev dataset-fashion-mnist
          openmpi-bin libopenmpi-dev)  # MPI: data-parallel training (mpirun -np N tapevit train); CMake's TAPEVIT_MPI
# TAPEVIT_TESTS=1 (scripts/test.sh, scripts/test_sanitizers.sh): what the tests need besides the build's:
# rsvg-convert and the font it draws with, to check the pictures as rendered images (tests/test_pictures.cpp)
if [ "${TAPEVIT_TESTS:-0}" = 1 ]; then PACKAGES+=(librsvg2-bin fonts-dejavu-core); fi
# EXTRA_PACKAGES: more Debian packages for a caller's purpose (experiments/bench/setup.sh: PyTorch and OpenBLAS)
read -r -a extra <<<"${EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DTAPEVIT_NATIVE="${TAPEVIT_NATIVE:-ON}" > /dev/null
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}"
