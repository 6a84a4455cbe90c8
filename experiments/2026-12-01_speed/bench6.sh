#!/usr/bin/env bash
# experiments/2026-12-01_speed/bench6.sh: bench runs 6 and 7 (experiments/bench/RESULTS.md), tapevit against PyTorch
# on every model, float32 and bf16 amp. PyTorch's setting search (40 settings, about a minute each at vit_small's size) is not
# repeated: each model runs at the best settings run 5's search found for it on this machine kind (PyTorch 1.13.1,
# OpenBLAS 0.3.21's AVX-512 "Cooperlake" kernels, oneDNN autocast), given with --torch-settings. Nothing else may run.
#   experiments/bench/setup.sh; [ONLY=model,model] experiments/2026-12-01_speed/bench6.sh OUTDIR
# ONLY: run just these models (bench run 9 ran vit-fmnist and vit_tiny_patch16_224).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: bench6.sh OUTDIR}
mkdir -p "$OUT"
# mode -> [torch threads, OpenBLAS threads, OMP_WAIT_POLICY=PASSIVE, OpenBLAS kernels: 'env' (Haswell) or 'auto']
FMNIST='{"train":[1,2,false,"auto"],"train_1t":[1,1,true,"auto"],"infer":[2,1,false,"auto"],"train_amp":[2,1,false,"env"],"infer_amp":[2,1,false,"env"]}'
CIFAR='{"train":[2,2,true,"auto"],"train_1t":[1,1,true,"auto"],"infer":[2,2,false,"auto"],"train_amp":[2,1,true,"env"],"infer_amp":[2,1,true,"env"]}'
TINY='{"train":[1,2,true,"auto"],"train_1t":[1,1,false,"auto"],"infer":[2,2,true,"auto"],"train_amp":[2,1,false,"env"],"infer_amp":[2,1,false,"env"]}'
bench() {  # name settings extra-args...
  local name=$1 settings=$2
  shift 2
  if [ -n "${ONLY:-}" ] && [[ ",$ONLY," != *",$name,"* ]]; then return 0; fi
  echo "== $name, commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ)"
  /usr/bin/python3 experiments/bench/bench.py --models "$name" --torch-settings "$settings" --out "$OUT/$name.json" "$@"
}
{
  bench vit-fmnist "$FMNIST"
  bench vit-cifar "$CIFAR"
  bench vit_tiny_patch16_224 "$TINY"
  bench vit_small_patch16_224 "$TINY" --rounds 1 --warmup 2
  bench vit_base_patch16_224 "$TINY" --rounds 1
} 2>&1 | tee "$OUT/$(basename "$OUT").log"
