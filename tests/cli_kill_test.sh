#!/usr/bin/env bash
# tests/cli_kill_test.sh: SIGKILL at 20 random moments of a run that checkpoints every 2 steps, a quarter of them
# while a checkpoint is being written (the moment its temporary file appears). After every kill last.h5 (and
# best.h5) must pass `info --verify` and hold no fewer steps than before; every restart resumes from it (and removes
# the killed write's temporary file); the final weights must be bitwise those of an uninterrupted run.
# The moments are drawn in steps, not seconds (the run's speed varies tenfold with what else the machine runs): the
# script follows the run's per-step progress lines through a pipe and kills a random time (up to about one step)
# after the drawn step's line.
#   tests/cli_kill_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY [SEED]
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start kill "$1" "$2"
RANDOM=${3:-20261130}  # the kill moments' draws

"$MAKE_DATA" "$WORK/data" 2560 160 >/dev/null
tiny_config "$WORK/data" 3 >"$WORK/tiny.ini"
cd "$WORK"
TRAIN=(--config tiny.ini --checkpoint_steps 2 --log_interval 1)

# the uninterrupted run, and its time per step (for the delay after a step's line)
t0=$EPOCHREALTIME
expect 0 'done: 3 epochs, 120 steps' -- "$TV" train "${TRAIN[@]}" --output runs/ref
t1=$EPOCHREALTIME
per_step=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 120 }')
echo "uninterrupted run: ${per_step}s per step"

step_of() { "$TV" info "$1" 2>/dev/null | grep -oE 'step [0-9]+' | head -1 | grep -oE '[0-9]+'; }
mkfifo progress
last_step=0 in_write=0 finished=0
for i in $(seq 20); do
  if [ -f runs/k/last.h5 ]; then
    "$TV" train --resume runs/k/last.h5 --log_interval 1 >progress 2>"k$i.log" &
  else
    "$TV" train "${TRAIN[@]}" --output runs/k --force >progress 2>"k$i.log" &
  fi
  pid=$!
  exec {lines}<progress
  if ((i % 4 == 0)); then
    # inside a checkpoint write: the moment a temporary file of the run appears (polled by a bash builtin)
    how="during a write"
    deadline=$((SECONDS + 60))
    until compgen -G "runs/k/.*.tmp-$pid" >/dev/null || ((SECONDS > deadline)) || ! kill -0 $pid 2>/dev/null; do :; done
  else
    # anywhere: a random time after the progress line of a step drawn among the next 10 (0: during the start)
    ahead=$((RANDOM % 11))
    target=$((last_step + ahead))
    delay=$(awk -v r=$RANDOM -v s="$per_step" 'BEGIN { printf "%.4f", 1.5 * s * r / 32767 }')
    how="${delay}s after step $target"
    if ((ahead)); then
      while read -r -u $lines line; do
        echo "$line" >>"k$i.out"
        if [[ $line =~ epoch\ ([0-9]+)/[0-9]+\ step\ +([0-9]+)/([0-9]+) ]] &&
          (((BASH_REMATCH[1] - 1) * BASH_REMATCH[3] + BASH_REMATCH[2] >= target)); then
          break
        fi
      done
    fi
    sleep "$delay"
  fi
  kill -KILL $pid 2>/dev/null
  { wait $pid; } 2>/dev/null  # (without bash's "Killed" line)
  rc=$?
  cat <&$lines >>"k$i.out"
  exec {lines}<&-
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
  expect 0 'done: 3 epochs, 120 steps' -- "$TV" train --resume runs/k/last.h5 --log_interval 1
fi
grep -hq "note: removed runs/k/\..*\.tmp-[0-9]*, a partial file left by a run stopped while writing it" k*.log k*.out ||
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
