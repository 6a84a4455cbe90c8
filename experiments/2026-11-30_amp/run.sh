#!/usr/bin/env bash
# experiments/2026-11-30_amp/run.sh: a training step of vit-fmnist (batch 128) and vit_tiny_patch16_224 (batch 32) in
# float32 and with amp (bfloat16 matrix products), for each bench_tapevit binary given, alternating fresh processes,
# ROUNDS rounds of STEPS timed steps (median per run). Nothing else may run meanwhile.
#   experiments/2026-11-30_amp/run.sh ROUNDS STEPS NAME=BINARY [NAME=BINARY ...]
# Case files are written by experiments/bench/bench.py's write_case (timm's init, a random batch).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=$1 STEPS=$2
shift 2
CASES=$(mktemp -d)
trap 'rm -rf "$CASES"' EXIT
/usr/bin/python3 -c "
import sys; sys.path.insert(0, 'experiments/bench'); import bench
bench.write_case('$CASES/vit-fmnist.h5', bench.MODELS['vit-fmnist'])
bench.write_case('$CASES/vit_tiny_patch16_224.h5', bench.MODELS['vit_tiny_patch16_224'])"
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
build/experiments/bench/bench_tapevit peak
for model in vit-fmnist vit_tiny_patch16_224; do
  for r in $(seq "$ROUNDS"); do
    for nb in "$@"; do
      name=${nb%%=*} bin=${nb#*=}
      for amp in "" --amp; do
        "$bin" train "$CASES/$model.h5" --steps "$STEPS" --warmup 2 $amp | /usr/bin/python3 -c "
import json, statistics, sys
d = json.loads(sys.stdin.read()); t = statistics.median(d['step_seconds'])
print(json.dumps({'model': '$model', 'round': $r, 'binary': '$name', 'amp': d['amp'], 'first_loss': round(d['first_loss'], 6),
                  'median_step_s': round(t, 4), 'img_per_s': round(d['batch'] / t, 1)}))"
      done
    done
  done
done
