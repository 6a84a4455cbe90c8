#!/usr/bin/env bash
# tests/cli_kill_test.sh: SIGKILL at 20 random moments of a run that checkpoints every 2 steps, a quarter of them
# while a checkpoint is being written (the moment its temporary file appears). After every kill last.h5 (and
# best.h5) must pass `info --verify` and hold no fewer steps than before; every restart resumes from it (and removes
# the killed write's temporary file); the final weights must be bitwise those of an uninterrupted run.
#   tests/cli_kill_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY [SEED]
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start kill "$1" "$2"
RANDOM=${3:-20261130}  # the kill moments' draws (the timing itself varies from machine to machine)

"$MAKE_DATA" "$WORK/data" 2560 160 >/dev/null
tiny_config "$WORK/data" 3 >"$WORK/tiny.ini"
cd "$WORK"
TRAIN=(--config tiny.ini --checkpoint_steps 2 --log_interval 10)

# the uninterrupted run, and its length in seconds
t0=$EPOCHREALTIME
expect 0 'done: 3 epochs, 120 steps' -- "$TV" train "${TRAIN[@]}" --output runs/ref
t1=$EPOCHREALTIME
span=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
echo "uninterrupted run: ${span}s"

step_of() { "$TV" info "$1" 2>/dev/null | grep -oE 'step [0-9]+' | head -1 | grep -oE '[0-9]+'; }

last_step=0 in_write=0 finished=0
for i in $(seq 20); do
  if [ -f runs/k/last.h5 ]; then
    "$TV" train --resume runs/k/last.h5 --log_interval 10 >"k$i.log" 2>&1 &
  else
    "$TV" train "${TRAIN[@]}" --output runs/k --force >"k$i.log" 2>&1 &
  fi
  pid=$!
  if ((i % 4 == 0)); then
    # inside a checkpoint write: the moment a temporary file of the run appears (polled by a bash builtin)
    how="during a write"
    deadline=$((SECONDS + 30))
    until compgen -G "runs/k/.*.tmp-$pid" >/dev/null || ((SECONDS > deadline)) || ! kill -0 $pid 2>/dev/null; do :; done
  else
    # anywhere: up to 15% of the uninterrupted run's length after the start
    delay=$(awk -v r=$RANDOM -v s="$span" 'BEGIN { printf "%.3f", 0.05 + s * 0.15 * r / 32767 }')
    how="after ${delay}s"
    sleep "$delay"
  fi
  kill -KILL $pid 2>/dev/null
  { wait $pid; } 2>/dev/null  # (without bash's "Killed" line)
  rc=$?
  left=$(compgen -G "runs/k/.*.tmp-*" | wc -l)
  ((left)) && in_write=$((in_write + 1))
  if [ "$rc" = 0 ]; then finished=1; fi
  if [ -f runs/k/last.h5 ]; then
    for f in last best; do
      [ -f runs/k/$f.h5 ] || continue
      out=$("$TV" info runs/k/$f.h5 --verify 2>&1) || fail "kill $i ($how): $f.h5 fails its digest: $out"
    done
    step=$(step_of runs/k/last.h5)
    [ -n "$step" ] || { fail "kill $i ($how): info cannot read last.h5"; step=$last_step; }
    ((step >= last_step)) || fail "kill $i ($how): last.h5 went back from step $last_step to $step"
    last_step=$step
  fi
  echo "kill $i $how: exit $rc, last.h5 at step $last_step, $left temporary file(s) left"
  ((finished)) && break
done
((in_write >= 1)) || fail "no kill landed inside a checkpoint write"
echo "$in_write of the kills left a partial write behind"

# the rest of the run, then the comparison
if ((!finished)); then
  expect 0 'done: 3 epochs, 120 steps' -- "$TV" train --resume runs/k/last.h5 --log_interval 10
fi
grep -hq "note: removed runs/k/\..*\.tmp-[0-9]*, a partial file left by a run stopped while writing it" k*.log ||
  fail "no restart reported removing a killed write's temporary file"
compgen -G "runs/k/.*.tmp-*" >/dev/null && fail "temporary files remain after the run: $(ls -a runs/k)"
(cd runs/ref && "$TV" export --checkpoint last.h5 --out ../ref.safetensors >/dev/null) || fail "export of the reference run"
(cd runs/k && "$TV" export --checkpoint last.h5 --out ../k.safetensors >/dev/null) || fail "export of the killed run"
cmp -s runs/ref.safetensors runs/k.safetensors || fail "the killed-and-resumed run's weights differ from the uninterrupted run's"
[ "$(step_of runs/k/last.h5)" = 120 ] || fail "the killed run ends at step $(step_of runs/k/last.h5), not 120"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "20 kills, every checkpoint valid, final weights bitwise equal to the uninterrupted run's"
