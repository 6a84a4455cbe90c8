#!/usr/bin/env bash
# experiments/time_to_accuracy/screen.sh: the recipe screen behind the 10-minute Fashion-MNIST recipe.
# Runs two recipes at a time, one thread each, so their wall times mean nothing: what a screen compares is
# top-1 per epoch, with each recipe's epochs set to what its measured 2-thread throughput fits in 10 minutes.
# The chosen recipe is then timed alone (see README.md).
#   [TAPEVIT=a copy of build/tapevit] experiments/time_to_accuracy/screen.sh OUTDIR NAME1 "ARGS1" [NAME2 "ARGS2"]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; shift
mkdir -p "$out"
pids=()
while [ $# -ge 2 ]; do
  name=$1 args=$2; shift 2
  # shellcheck disable=SC2086
  "${TAPEVIT:-build/tapevit}" train --config configs/fmnist.ini --threads 1 --log_interval 1000 --output "$out/$name" $args \
    > "$out/$name.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
