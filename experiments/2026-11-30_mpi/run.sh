#!/usr/bin/env bash
# experiments/2026-11-30_mpi/run.sh: one machine, two ways to use its 2 cores, alternating fresh processes:
# 1 process x 2 threads against mpirun -np 2 x 1 thread (the same global batch of 64), for the default config
# (vit_fmnist_tiny) and the vit_fmnist preset (192 x 6); then the allreduce of ViT-Ti/S/B gradient buffers.
#   experiments/2026-11-30_mpi/run.sh [ROUNDS]      (from the repository root, after scripts/setup.sh; nothing else
#                                                     running: the timings are only as clean as the machine is idle)
# Writes scaling.jsonl and allreduce.jsonl here; model.py turns them into the README's tables.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
OUT=experiments/2026-11-30_mpi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MPI=(mpirun -np 2 --bind-to core)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
: >"$OUT/scaling.jsonl"
declare -A ARGS=(
  [vit_fmnist_tiny]="--config configs/fmnist.ini"
  [vit_fmnist]="--model vit_fmnist --dataset fashion-mnist --batch_size 64"
)
COMMON="--epochs 1 --train_per_class 400 --val_per_class 20 --log_interval 100000"
for r in $(seq "$ROUNDS"); do
  for model in vit_fmnist_tiny vit_fmnist; do
    for setting in 1x2 2x1; do
      if [ $setting = 1x2 ]; then
        log=$(build/tapevit train ${ARGS[$model]} $COMMON --threads 2 --output "$TMP/run" --force 2>&1)
      else
        log=$("${MPI[@]}" build/tapevit train ${ARGS[$model]} $COMMON --threads 1 --output "$TMP/run" --force 2>&1)
      fi
      ips=$(grep -oE '[0-9]+ train img/s' <<<"$log" | grep -oE '^[0-9]+')
      pct=$(grep -oE '[0-9.]+% of the training time in allreduce' <<<"$log" | grep -oE '^[0-9.]+' || echo 0)
      ms=$(grep -oE '[0-9.]+ ms per step' <<<"$log" | grep -oE '^[0-9.]+' || echo 0)
      echo "{\"round\": $r, \"model\": \"$model\", \"setting\": \"$setting\", \"train_img_s\": $ips, \"allreduce_pct\": $pct, \"allreduce_ms_per_step\": $ms, \"commit\": \"$(git rev-parse --short HEAD)\"}" | tee -a "$OUT/scaling.jsonl"
    done
  done
done
"${MPI[@]}" build/experiments/bench/bench_allreduce 20 | tee "$OUT/allreduce.jsonl"
