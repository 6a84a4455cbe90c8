#!/usr/bin/env bash
# (b), second recipe: RandomResizedCrop at scale 0.35-1 (the 28-px Fashion-MNIST images upscaled to 224 lose
# their content in timm's default 8% crops), pretrain 4 epochs, fine-tune 30 epochs without RandAugment
set -euo pipefail
# run from the repository root, after run.sh (it makes the folders)
DATA=${DATA:-/tmp/tapevit_folder_experiment} OUT=runs/2026-11-30_image_folders TV=build/tapevit
ARCH=(--img_size 224 --patch_size 16 --in_chans 3 --embed_dim 64 --depth 4 --num_heads 2)
$TV train --dataset folder --data_dir "$DATA/pre224" "${ARCH[@]}" --num_classes 5 --epochs 4 --batch_size 64 \
  --scale 0.35 1 --lr 2e-3 --warmup_epochs 0.3 --output "$OUT/pretrain224_s35" | tail -2
$TV export --checkpoint "$OUT/pretrain224_s35/best.h5" --out "$OUT/export_s35/model.safetensors" --hub_config
FT=(--dataset folder --data_dir "$DATA/ft224" "${ARCH[@]}" --num_classes 5 --epochs 30 --batch_size 32
    --val_per_class 200 --scale 0.35 1 --smoothing 0.1 --model_ema true --model_ema_decay 0.99)
$TV train "${FT[@]}" --init "$OUT/export_s35/model.safetensors" --lr 5e-4 --layer_decay 0.75 --warmup_epochs 1 \
  --output "$OUT/finetune224_s35" | tail -2
$TV train "${FT[@]}" --lr 2e-3 --warmup_epochs 1 --output "$OUT/scratch224_s35" | tail -2
for r in finetune224_s35 scratch224_s35; do
  $TV eval --checkpoint "$OUT/$r/best.h5"
  $TV eval --checkpoint "$OUT/$r/best.h5" --ema
done
