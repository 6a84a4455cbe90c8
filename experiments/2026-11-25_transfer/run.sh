#!/usr/bin/env bash
# experiments/2026-11-25_transfer/run.sh: pretrain on Fashion-MNIST classes 0-4, export to timm safetensors, then
# fine-tune on classes 5-9 with 100 training images per class, against the same model trained from scratch on them.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-runs/transfer}
mkdir -p "$OUT"
TV=build/tapevit
[ -e "$OUT/pretrain/best.h5" ] ||
  $TV train --config configs/fmnist.ini --classes 0,1,2,3,4 --num_classes 5 --epochs 8 --output "$OUT/pretrain" --log_interval 1000
$TV export --checkpoint "$OUT/pretrain/best.h5" --out "$OUT/pretrained.safetensors" --hub_config
SMALL=(--classes 5,6,7,8,9 --num_classes 5 --train_per_class 100 --epochs 30 --log_interval 1000)
rm -rf "$OUT/finetune" "$OUT/scratch"
$TV train --config configs/fmnist.ini --config configs/finetune_fmnist.ini --init "$OUT/pretrained.safetensors" "${SMALL[@]}" --output "$OUT/finetune"
$TV train --config configs/fmnist.ini "${SMALL[@]}" --output "$OUT/scratch"
