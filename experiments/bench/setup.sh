#!/usr/bin/env bash
# experiments/bench/setup.sh: what bench.py needs, on Debian 12: tapevit's Release build (scripts/setup.sh), and for
# the PyTorch side python3-torch, python3-numpy, python3-h5py and OpenBLAS. Without libopenblas0-pthread, Debian's
# python3-torch runs on netlib's reference BLAS (libblas3), 2-5x slower; bench.py refuses to time it then.
set -euo pipefail
cd "$(dirname "$0")/../.."
EXTRA_PACKAGES="python3-torch python3-numpy python3-h5py libopenblas0-pthread" scripts/setup.sh
# libopenblas0-pthread registers libblas.so.3 with a higher priority than libblas3; say which one is in use
update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -E '^Value:' || true
