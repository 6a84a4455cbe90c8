#!/usr/bin/env bash
# experiments/2026-12-08_preempt/stop_latency.sh: how long a SIGTERM takes to stop a run, from the signal to the
# process's exit, with last.h5 written (issue 33). Each case starts a run, waits for step 1's progress line, waits
# DELAY seconds more (into step 2), sends SIGTERM and times the exit; it prints one JSON line per case with the
# latency, the step last.h5 holds and its size.
#   experiments/2026-12-08_preempt/stop_latency.sh [TAPEVIT] [ROUNDS]      (default build/tapevit, 3 rounds)
# Cases: vit-fmnist (configs/fmnist.ini on Debian's Fashion-MNIST), 1 s into step 2; vit_small_patch14_dinov2 at
# 518 px, batch 32, on a generated image folder, 30 s into step 2 (a step there runs for minutes). Run it on a quiet
# machine; give TAPEVIT=/work/old2/tapevit (or an older build) for the time before the change.
set -uo pipefail
TV=$(realpath "${1:-build/tapevit}")
ROUNDS=${2:-3}
MAKE_DATA=$(realpath "${MAKE_DATA:-build/tests/make_fake_data}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/stop_latency.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
CONFIGS=$(realpath configs)
CASES=${CASES:-vit_fmnist vit_small_518}  # (one of them: CASES=vit_fmnist)
BATCH_518=${BATCH_518:-32}

# measure NAME DELAY -- TRAIN_ARGS...: one JSON line
measure() {
  local name=$1 delay=$2
  shift 3
  local dir="$WORK/run_$name"
  rm -rf "$dir"
  "$TV" train "$@" --log_interval 1 --output "$dir" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  until grep -qE 'step +1/' "$WORK/$name.log" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "{\"case\": \"$name\", \"error\": \"the run ended before step 1: $(tail -1 "$WORK/$name.log")\"}"; return; }
    sleep 0.05
  done
  sleep "$delay"
  local t0=$EPOCHREALTIME
  kill -TERM $pid
  wait $pid
  local rc=$? t1=$EPOCHREALTIME
  local step size
  step=$("$TV" info "$dir/last.h5" 2>/dev/null | grep -oE 'step [0-9]+' | head -1 | grep -oE '[0-9]+')
  size=$(stat -c %s "$dir/last.h5" 2>/dev/null || echo 0)
  awk -v n="$name" -v a="$t0" -v b="$t1" -v rc=$rc -v s="${step:-none}" -v z="$size" -v d="$delay" \
    'BEGIN { printf "{\"case\": \"%s\", \"signal_after_step1_s\": %s, \"stop_latency_s\": %.3f, \"exit\": %d, \"last_h5_step\": \"%s\", \"last_h5_bytes\": %d}\n", n, d, b - a, rc, s, z }'
}

"$MAKE_DATA" --folder "$WORK/folder" 320 40 >/dev/null
for r in $(seq "$ROUNDS"); do
  [[ " $CASES " == *" vit_fmnist "* ]] && measure vit_fmnist 1 -- --config "$CONFIGS/fmnist.ini"
  [[ " $CASES " == *" vit_small_518 "* ]] && measure vit_small_518 30 -- --model vit_small_patch14_dinov2 \
    --num_classes 10 --batch_size "$BATCH_518" --dataset folder --data_dir "$WORK/folder" --epochs 1
done
