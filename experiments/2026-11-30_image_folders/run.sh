#!/usr/bin/env bash
# experiments/2026-11-30_image_folders/run.sh: the image-folder experiment (run from the repository root, alone on
# the machine; results in experiments/2026-11-30_image_folders/README.md).
#   1. the pipeline's cost: images/s it delivers alone, and training images/s on its batches vs on one batch in
#      memory (bench_pipeline), at 224 px (vit_tiny_patch16_224, 400x300 JPEGs) and at 28/32 px (Fashion-MNIST PNGs)
#   2. (a) the default recipe on Fashion-MNIST from the IDX files and from the same images as a PNG folder
#   3. (b) a 224-px ViT pretrained on Fashion-MNIST classes 0-4 (folder at 224), exported to timm's safetensors,
#      fine-tuned on 100 images per class of classes 5-9 (JPEG folder at 224) vs the same model from scratch
set -euo pipefail
HERE=experiments/2026-11-30_image_folders
DATA=${DATA:-/tmp/tapevit_folder_experiment}
OUT=${OUT:-runs/2026-11-30_image_folders}
TV=build/tapevit
BP=build/experiments/bench/bench_pipeline
mkdir -p "$DATA" "$OUT"
[ -d "$DATA/fmnist_png" ] || /usr/bin/python3 $HERE/make_folders.py fmnist "$DATA/fmnist_png"
[ -d "$DATA/photos" ] || /usr/bin/python3 $HERE/make_folders.py photos "$DATA/photos" 1000
[ -d "$DATA/pre224" ] || /usr/bin/python3 $HERE/make_folders.py pretrain224 "$DATA/pre224"
[ -d "$DATA/ft224" ] || /usr/bin/python3 $HERE/make_folders.py fmnist224 "$DATA/ft224" 100

echo "== 1. pipeline" | tee "$OUT/bench.jsonl.log"
for rep in 1 2 3; do
  for w in 1 2; do
    $BP loader "$DATA/photos" 224 3 $w 32 30
    $BP loader "$DATA/photos" 224 3 $w 32 30 rand-m9-mstd0.5-inc1
    $BP loader "$DATA/fmnist_png" 28 1 $w 64 300
  done
  $BP train "$DATA/photos" vit_tiny_patch16_224 224 3 1 32 5
  $BP train "$DATA/fmnist_png" vit_fmnist_tiny 28 1 1 64 100
  $BP train "$DATA/fmnist_png" vit_cifar 32 1 1 64 40
done | tee "$OUT/bench.jsonl"

echo "== 2. (a) Fashion-MNIST: IDX vs PNG folder, the default recipe"
$TV train --config configs/fmnist.ini --output "$OUT/fmnist_idx" | tail -3
# the same recipe on the folder: the whole image (scale 1, ratio 1: the crop is the image, resized to itself),
# no eval resize (crop_pct 1), Fashion-MNIST's mean/std, flips as the default
$TV train --config configs/fmnist.ini --dataset folder --data_dir "$DATA/fmnist_png" --scale 1 1 --ratio 1 1 \
  --crop_pct 1 --mean 0.2860 --std 0.3530 --output "$OUT/fmnist_png" | tail -3

echo "== 3. (b) fine-tuning at 224 from an exported checkpoint vs scratch"
# finetune_vs_scratch TAG PRETRAIN_EPOCHS FINETUNE_EPOCHS "PRETRAIN KEYS" "FINETUNE KEYS": pretrain on classes 0-4,
# export, fine-tune on 100 images per class of classes 5-9 and train the same from scratch (both with the finetune
# keys), evaluate both on all 5,000 test images
finetune_vs_scratch() {
  local tag=$1 pre_epochs=$2 ft_epochs=$3
  local -a pre_keys ft_keys
  read -ra pre_keys <<<"$4"
  read -ra ft_keys <<<"$5"
  local ARCH=(--img_size 224 --patch_size 16 --in_chans 3 --embed_dim 64 --depth 4 --num_heads 2)
  $TV train --dataset folder --data_dir "$DATA/pre224" "${ARCH[@]}" --num_classes 5 --epochs "$pre_epochs" \
    --batch_size 64 --lr 2e-3 --warmup_epochs 0.3 --output "$OUT/pretrain224$tag" "${pre_keys[@]}" | tail -3
  $TV export --checkpoint "$OUT/pretrain224$tag/best.h5" --out "$OUT/export$tag/model.safetensors" --hub_config
  local FT=(--dataset folder --data_dir "$DATA/ft224" "${ARCH[@]}" --num_classes 5 --epochs "$ft_epochs"
            --batch_size 32 --val_per_class 200 --smoothing 0.1 --model_ema true --model_ema_decay 0.99 "${ft_keys[@]}")
  $TV train "${FT[@]}" --init "$OUT/export$tag/model.safetensors" --lr 5e-4 --layer_decay 0.75 --warmup_epochs 1 \
    --output "$OUT/finetune224$tag" | tail -3
  $TV train "${FT[@]}" --lr 2e-3 --warmup_epochs 1 --output "$OUT/scratch224$tag" | tail -3
  for r in finetune224$tag scratch224$tag; do
    $TV eval --checkpoint "$OUT/$r/best.h5"
    $TV eval --checkpoint "$OUT/$r/best.h5" --ema
  done
}
# run 1: timm's defaults (RandomResizedCrop scale 0.08-1), RandAugment, erasing and drop path when fine-tuning
finetune_vs_scratch "" 3 15 "" "--aa rand-m9-mstd0.5-inc1 --reprob 0.25 --drop_path 0.1"
# run 2: RandomResizedCrop at scale 0.35-1 (28-px images upscaled to 224 keep little in timm's 8% crops), longer
finetune_vs_scratch _s35 4 30 "--scale 0.35 1" "--scale 0.35 1"
