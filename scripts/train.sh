#!/usr/bin/env bash
# scripts/train.sh: set everything up (scripts/setup.sh) and train the default config (configs/fmnist.ini) on
# Fashion-MNIST from Debian's dataset-fashion-mnist. Extra arguments go to `tapevit train`, e.g.
#   scripts/train.sh --epochs 2 --output runs/quick
#   scripts/train.sh --config configs/cifar10.ini --data_dir /path/to/cifar-10-batches-bin
# (a later --config wins over the default one, and keys given here win over both).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
exec build/tapevit train --config configs/fmnist.ini "$@"
