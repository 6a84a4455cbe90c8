#!/usr/bin/env bash
# tests/cli_preempt_test.sh: preemption when a step is long. SIGTERM in a step's forward pass, in its backward pass
# and in its optimizer update: the run exits within seconds however much of the step is left; last.h5 holds the step
# before (forward, backward: the step is given up) or the step itself (update: it finishes), and the run resumed from
# it is bitwise an uninterrupted one. Two signals: the second exits at once and the checkpoint on disk stays valid.
# The steps are made long by the test hook TAPEVIT_TEST_SLOW_STEP=MS (src/train/train.cpp): MS ms at each tape node
# and 20 x MS in the update, each phase announced on stderr ("test: step 2 backward"), which the test waits for.
#   tests/cli_preempt_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start preempt "$1" "$2"

"$MAKE_DATA" "$WORK/data" 2560 160 >/dev/null
tiny_config "$WORK/data" 2 >"$WORK/tiny.ini"
cd "$WORK"
# 2 epochs of 5 steps (32 images of each of 10 classes, batch 64)
TRAIN=(--config tiny.ini --train_per_class 32 --log_interval 1)
# ms per tape node: a step of this tiny model then takes about 11 s (forward and backward 3.5 s each, the update 4 s),
# so that a run which finished the step after a signal 0.3 s into its forward or backward pass would take 7 s or more
SLOW=200
BOUND=3  # seconds from the signal to the exit: a node's delay and a tiny model's checkpoint write, with room

# wait_for FILE PATTERN PID: until FILE matches (at most 120 s, and while PID runs)
wait_for() {
  for _ in $(seq 1200); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || break
    sleep 0.1
  done
  fail "no /$2/ in $1: $(tail -3 "$1")"
  return 1
}
step_of() { "$TV" info "$1" 2>/dev/null | grep -oE 'step [0-9]+' | head -1 | grep -oE '[0-9]+'; }
# same_weights DIR_A DIR_B: the last.h5 weights of the two run directories are bitwise equal (their exports, each
# made inside its directory so that the metadata's checkpoint name is the same, compared byte for byte)
same_weights() {
  (cd "$1" && "$TV" export --checkpoint last.h5 --out weights.safetensors >/dev/null 2>&1) || { fail "export of $1"; return 1; }
  (cd "$2" && "$TV" export --checkpoint last.h5 --out weights.safetensors >/dev/null 2>&1) || { fail "export of $2"; return 1; }
  cmp -s "$1/weights.safetensors" "$2/weights.safetensors"
}

expect 0 'done: 2 epochs, 10 steps' -- "$TV" train "${TRAIN[@]}" --output runs/ref

# signal_in NAME PHASE SIGNALS BOUND [ARGS]: a slow run, SIGTERM 0.3 s into step 2's PHASE (and again 0.5 s later
# when SIGNALS = 2),
# which must exit within BOUND s; the exit's code and latency (seconds from the first signal) in rc and latency, its
# output in NAME.log
signal_in() {
  local name=$1 phase=$2 n=$3 bound=$4
  TAPEVIT_TEST_SLOW_STEP=$SLOW "$TV" train "${TRAIN[@]}" --output runs/$name "${@:5}" >$name.log 2>&1 &
  local pid=$!
  wait_for $name.log "test: step 2 $phase" $pid || { kill -KILL $pid; wait $pid; rc=-1 latency=-1; return; }
  sleep 0.3
  local t0=$EPOCHREALTIME
  kill -TERM $pid
  ((n == 2)) && { sleep 0.5; kill -TERM $pid; }
  wait $pid
  rc=$?
  latency=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  echo "SIGTERM in step 2's $phase: exit $rc after ${latency}s"
  awk -v l="$latency" -v b="$bound" 'BEGIN { exit !(l < b) }' ||
    fail "SIGTERM in step 2's $phase: the run took ${latency}s to exit (want under ${bound}s): $(tail -3 $name.log)"
}

# 1-2. forward and backward: the step is given up, last.h5 holds step 1, the message says so and how to resume
for phase in forward backward; do
  signal_in $phase $phase 1 $BOUND
  [ "$rc" = 143 ] || fail "SIGTERM in the $phase pass: exit $rc, want 143: $(tail -3 $phase.log)"
  grep -qF "stopped by SIGTERM during step 2 (epoch 1), which is given up (a resume redoes it). The last good checkpoint is runs/$phase/last.h5 (step 1: batch 1 of 5 of epoch 1); resume with: tapevit train --resume runs/$phase/last.h5" $phase.log ||
    fail "SIGTERM in the $phase pass: no message that step 2 is given up: $(tail -3 $phase.log)"
  grep -q "test: step 2 update" $phase.log && fail "SIGTERM in the $phase pass: step 2 went on to its update"
  [ "$(step_of runs/$phase/last.h5)" = 1 ] || fail "SIGTERM in the $phase pass: last.h5 at step $(step_of runs/$phase/last.h5), want 1"
  # the advice, followed literally
  expect 0 'done: 2 epochs, 10 steps' -- "$TV" train --resume runs/$phase/last.h5 --log_interval 1
  same_weights runs/ref runs/$phase ||
    fail "SIGTERM in the $phase pass: the resumed run's weights differ from the uninterrupted run's"
done

# 3. the optimizer update: it finishes (the rest of its 4 s), last.h5 holds step 2
signal_in update update 1 $((4 + BOUND))
[ "$rc" = 143 ] || fail "SIGTERM in the update: exit $rc, want 143: $(tail -3 update.log)"
grep -qF "stopped by SIGTERM after step 2 (epoch 1); runs/update/last.h5 holds that step. Resume with: tapevit train --resume runs/update/last.h5" update.log ||
  fail "SIGTERM in the update: no message that step 2 is saved: $(tail -3 update.log)"
grep -q "test: step 3" update.log && fail "SIGTERM in the update: step 3 was started"
[ "$(step_of runs/update/last.h5)" = 2 ] || fail "SIGTERM in the update: last.h5 at step $(step_of runs/update/last.h5), want 2"
expect 0 'done: 2 epochs, 10 steps' -- "$TV" train --resume runs/update/last.h5 --log_interval 1
same_weights runs/ref runs/update || fail "SIGTERM in the update: the resumed run's weights differ"

# 4. two signals 0.5 s apart in step 2's update, which the first lets finish (3.7 s more); checkpoint_steps 1:
#    last.h5 holds step 1. The second exits at once, saying which checkpoint is on disk, which stays valid and
#    resumes to the uninterrupted run's weights
signal_in twice update 2 2 --checkpoint_steps 1
[ "$rc" = 143 ] || fail "two SIGTERMs: exit $rc, want 143: $(tail -3 twice.log)"
grep -qF "tapevit train: a second signal: exiting at once, without a new checkpoint. The last good checkpoint is runs/twice/last.h5 (step 1: batch 1 of 5 of epoch 1); resume with: tapevit train --resume runs/twice/last.h5" twice.log ||
  fail "two SIGTERMs: no note of the checkpoint on disk: $(tail -3 twice.log)"
"$TV" info runs/twice/last.h5 --verify >/dev/null 2>&1 || fail "two SIGTERMs: last.h5 fails its digest"
compgen -G "runs/twice/.*.tmp-*" >/dev/null && fail "two SIGTERMs: a temporary file was left: $(ls -a runs/twice)"
[ "$(step_of runs/twice/last.h5)" = 1 ] || fail "two SIGTERMs: last.h5 at step $(step_of runs/twice/last.h5), want 1"
expect 0 'done: 2 epochs, 10 steps' -- "$TV" train --resume runs/twice/last.h5 --log_interval 1
same_weights runs/ref runs/twice || fail "two SIGTERMs: the resumed run's weights differ"

# 5. a signal in the first step of a new run: nothing was finished, nothing is written (the directory is left as it
#    was found) and the message says the same command starts the run again
TAPEVIT_TEST_SLOW_STEP=$SLOW "$TV" train "${TRAIN[@]}" --output runs/first >first.log 2>&1 &
pid=$!
wait_for first.log "test: step 1 backward" $pid
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" = 143 ] || fail "SIGTERM in step 1: exit $rc, want 143: $(tail -3 first.log)"
grep -qF "stopped by SIGTERM during step 1 (epoch 1), which is given up (a resume redoes it). No checkpoint was written yet (nothing to resume: the same command starts the run again)" first.log ||
  fail "SIGTERM in step 1: no message that nothing was written: $(tail -3 first.log)"
[ -e runs/first ] && fail "SIGTERM in step 1 left runs/first behind: $(ls -a runs/first)"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "preemption: forward, backward, update, a second signal and the first step: all checks passed"
