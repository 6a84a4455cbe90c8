#!/usr/bin/env bash
# tests/mpi_test.sh: data-parallel training on loopback ranks (ctest label mpi), against one process.
#   tests/mpi_test.sh TAPEVIT MAKE_FAKE_DATA COMPARE_CHECKPOINTS MPIRUN
# 1. exact: mpirun -np 2 x 1 thread, with dropout, attention dropout, drop path, crops, flips, mixup and cutmix, is
#    bitwise one process with grad_accum_steps 2 (the same two slices' gradients, added in rank order): weights,
#    AdamW state and the evaluation's top-1/top-5 (sharded over the ranks) equal.
# 2. equivalence: 2 and 3 ranks against one process, same global batch, 20 steps (AdamW and SGD): every step's
#    loss and the final weights within bounds (float sums in another order).
# 3. resume on the same N bitwise; on another N within the bounds.
# 4. failures: a batch the ranks do not divide, ranks started differently, an error on one rank, a rank that
#    stops answering (dist_timeout): one clear error, a non-zero exit, no rank left waiting.
# 5. preemption in a long step: SIGTERM to both ranks in a forward pass, to one rank in a backward pass: the step is
#    given up on both, last.h5 at the step before, the resume bitwise (tests/cli_preempt_test.sh for one process).
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start mpi "$1" "$2"
COMPARE=$(realpath "$3")
MPIRUN=$4
MPI=("$MPIRUN")
if "$MPIRUN" --version 2>&1 | grep -q "Open MPI"; then
  # loopback ranks on a small machine: more ranks than cores, unbound; as root in a container OpenMPI wants consent
  MPI+=(--oversubscribe --bind-to none)
  [ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
  export OMPI_MCA_btl=self,vader  # shared memory only: no network probing
fi
cd "$WORK"

# compare A B [REL LOSS]: compare_checkpoints, printed
compare() {
  local out rc
  out=$("$COMPARE" "$@" 2>&1)
  rc=$?
  sed 's/^/    /' <<<"$out"
  return $rc
}

# tiny_config's ViT with every random draw of a training step on, one thread per process
{
  tiny_config data 2 | grep -v '^threads'
  cat <<INI
[model]
drop = 0.1
attn_drop = 0.1
drop_path = 0.2
[data]
crop_pad = 2
hflip = 0.5
mixup = 0.8
cutmix = 1.0
[train]
threads = 1
INI
} >reg.ini

# 1. exact: 64 images, batch 16 (4 steps/epoch), 2 epochs; the evaluation's 40 images in 3 batches over 2 ranks
"$MAKE_DATA" data 64 40 >/dev/null
EXACT=(--config reg.ini --batch_size 16 --epochs 2 --log_interval 1)
expect 0 'batch 16 = 2 ranks x 8' -- "${MPI[@]}" -np 2 "$TV" train "${EXACT[@]}" --output exact_np2
expect 0 'batch 16 = 2 micro-batches x 8 \(grad_accum_steps\)' -- "$TV" train "${EXACT[@]}" --grad_accum_steps 2 --output exact_accum
# OpenMPI gives each rank a pseudo-terminal for stdout even when mpirun's own output is a pipe or a file: the
# progress must still be log lines, not a redrawn terminal line
out=$(timeout 300 "${MPI[@]}" -np 2 "$TV" train "${EXACT[@]}" --output lines_np2 2>&1)
grep -q $'\r' <<<"$out" && fail "2 ranks: the progress was a redrawn terminal line, not log lines"
grep -qE 'epoch 2/2 step +4/4' <<<"$out" || fail "2 ranks: no progress line per log_interval step: $out"
echo "exact: 2 ranks against one process with grad_accum_steps 2"
compare exact_np2/last.h5 exact_accum/last.h5 || fail "2 ranks are not bitwise one process with grad_accum_steps 2"
expect 0 'batch 16 = 2 ranks x 2 micro-batches x 4' -- "${MPI[@]}" -np 2 "$TV" train "${EXACT[@]}" --grad_accum_steps 2 --output exact_np2_accum2
expect 0 '' -- "$TV" train "${EXACT[@]}" --grad_accum_steps 4 --output exact_accum4
# 2 ranks x 2 micro-batches sum as ((m0 + m1) + (m2 + m3)), 4 micro-batches as (((m0 + m1) + m2) + m3): close, not equal
echo "2 ranks x 2 micro-batches against one process x 4 micro-batches"
compare exact_np2_accum2/last.h5 exact_accum4/last.h5 5e-5 1e-5 || fail "2 ranks x 2 micro-batches differ from 4 micro-batches"

# 2. equivalence: 48 images, batch 48 (one step per epoch, so that metrics/train_loss is every step's loss), 20
#    epochs; one process against 2 and 3 ranks
"$MAKE_DATA" data 48 40 >/dev/null
EQ=(--config reg.ini --batch_size 48 --epochs 20 --warmup_epochs 2 --log_interval 5)
# equivalent NAME WEIGHTS LOSS -- ARGS...: training ARGS in one process, then on 2 and 3 ranks; the ranks' final
# weights (and optimizer state) within WEIGHTS relative L2 of one process's, every step's loss within LOSS
equivalent() {
  local name=$1 weights=$2 loss=$3
  shift 4
  expect 0 'done: 20 epochs, 20 steps' -- "$TV" train "$@" --output "${name}_np1"
  for n in 2 3; do
    expect 0 "batch 48 = $n ranks x $((48 / n))" -- "${MPI[@]}" -np $n "$TV" train "$@" --output "${name}_np$n"
    echo "$name, $n ranks against one process (weights within $weights relative L2, every step's loss within $loss)"
    compare "${name}_np1/last.h5" "${name}_np$n/last.h5" "$weights" "$loss" ||
      fail "$name: $n ranks differ from one process beyond the bounds"
  done
}
equivalent AdamW 5e-5 1e-5 -- "${EQ[@]}"
equivalent SGD 1e-6 1e-6 -- "${EQ[@]}" --opt sgd --lr 0.05 --weight_decay 1e-4

# 3. resume: a constant schedule, so that a run of 4 epochs and one of 2 extended to 4 take the same steps
RES=(--config reg.ini --batch_size 48 --sched constant --warmup_epochs 0 --log_interval 5)
expect 0 'done: 4 epochs' -- "${MPI[@]}" -np 2 "$TV" train "${RES[@]}" --epochs 4 --output res_full
expect 0 'done: 2 epochs' -- "${MPI[@]}" -np 2 "$TV" train "${RES[@]}" --epochs 2 --output res_part
cp -r res_part res_other
expect 0 'done: 4 epochs' -- "${MPI[@]}" -np 2 "$TV" train --resume res_part/last.h5 --epochs 4
echo "resumed on 2 ranks against uninterrupted on 2 ranks (bitwise)"
compare res_full/last.h5 res_part/last.h5 || fail "a run resumed on the same 2 ranks is not bitwise the uninterrupted one"
expect 0 'batch 48 = 3 ranks x 16' -- "${MPI[@]}" -np 3 "$TV" train --resume res_other/last.h5 --epochs 4
echo "resumed on 3 ranks against uninterrupted on 2 ranks (within the bounds)"
compare res_full/last.h5 res_other/last.h5 5e-5 1e-5 || fail "a run resumed on 3 ranks differs beyond the bounds"

# 4. failures
expect 1 "key 'batch_size' \(16\) must be divisible by ranks x grad_accum_steps \(3 x 1 = 3\)" -- \
  "${MPI[@]}" -np 3 "$TV" train --config reg.ini --batch_size 16 --epochs 1 --output bad_split
[ -e bad_split/last.h5 ] && fail "a refused run wrote a checkpoint"
expect 1 "the ranks of this run differ from rank 0 .*the command line and config files of rank\(s\) 1 " -- \
  "${MPI[@]}" -np 1 "$TV" train --config reg.ini --batch_size 16 --epochs 1 --output mixed : \
  -np 1 "$TV" train --config reg.ini --batch_size 16 --epochs 1 --output mixed --lr 0.002
expect 2 "tapevit train rank 1/2 \(.*\): unknown option '--lrr'" -- \
  "${MPI[@]}" -np 1 "$TV" train --config reg.ini --batch_size 16 --epochs 1 --output usage : \
  -np 1 "$TV" train --config reg.ini --batch_size 16 --epochs 1 --output usage --lrr 0.002
# only train runs on several processes: other commands under a launcher of several are refused
OMPI_COMM_WORLD_SIZE=2 expect 2 "a launcher started 2 processes, but only 'train' runs on several" -- \
  "$TV" eval --checkpoint exact_np2/last.h5
# a rank that stops answering: SIGSTOP rank 1 mid-run; rank 0's allreduce gives up after dist_timeout
"$MAKE_DATA" data 2560 40 >/dev/null
"${MPI[@]}" -np 2 "$TV" train --config reg.ini --batch_size 16 --epochs 30 --checkpoint_steps 20 --dist_timeout 3 \
  --log_interval 1 --output hang >hang.log 2>&1 &
launcher=$!
stopped=""
for _ in $(seq 200); do
  for p in $(pgrep -f "tapevit train --config reg.ini --batch_size 16 --epochs 30"); do
    if tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then stopped=$p; fi
  done
  [ -n "$stopped" ] && grep -q ' 30/160' hang.log && break
  sleep 0.1
done
[ -n "$stopped" ] || fail "rank 1 of the run to stop was not found"
kill -STOP "$stopped"
t0=$SECONDS
wait $launcher
rc=$?
grep -qE "tapevit train rank 0/2 \(.*\): error: the (loss|gradients) of step [0-9]+ did not complete within 3 s \(dist_timeout\)" hang.log ||
  fail "a stopped rank did not end in a dist_timeout error: $(tail -c 600 hang.log)"
((rc != 0)) || fail "the run with a stopped rank exited 0"
((SECONDS - t0 < 60)) || fail "the run with a stopped rank took $((SECONDS - t0)) s to end"
compgen -G "hang/.*.tmp-*" >/dev/null && fail "a partial checkpoint was left behind"
[ -f hang/last.h5 ] && { "$TV" info hang/last.h5 --verify >/dev/null 2>&1 || fail "hang/last.h5 fails its digest"; }
echo "stopped rank: exit $rc after $((SECONDS - t0)) s"

# 5. preemption in a long step (the test hook TAPEVIT_TEST_SLOW_STEP: 200 ms at each tape node, 4 s in the update,
#    phases announced on stderr; a step then takes about 11 s): SIGTERM to both ranks 0.3 s into step 2's forward
#    pass gives the step up on both within 5 s (finishing the step would take 10 s), last.h5 at
#    step 1 and the resume bitwise the uninterrupted run (weights and optimizer state); SIGTERM to rank 1 alone in its
#    backward pass: rank 0, which got none, finishes its pass and gives the step up with it (no rank left waiting)
PRE=(--config reg.ini --batch_size 16 --train_per_class 8 --epochs 2 --log_interval 1)
expect 0 'done: 2 epochs, 10 steps' -- "${MPI[@]}" -np 2 "$TV" train "${PRE[@]}" --output pre_ref
# rank_pid R: the PID of rank R of the run writing into pre_NAME
rank_pid() {
  for p in $(pgrep -f "tapevit train --config reg.ini --batch_size 16 --train_per_class 8 --epochs 2 --log_interval 1 --output $1"); do
    tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo $p
  done
}
for who in both rank1; do
  phase=forward
  [ $who = rank1 ] && phase=backward
  TAPEVIT_TEST_SLOW_STEP=200 "${MPI[@]}" -x TAPEVIT_TEST_SLOW_STEP -np 2 "$TV" train "${PRE[@]}" --output pre_$who >pre_$who.log 2>&1 &
  launcher=$!
  for _ in $(seq 1200); do
    grep -q "test: step 2 $phase" pre_$who.log && break
    sleep 0.1
  done
  sleep 0.3
  r0=$(rank_pid pre_$who 0) r1=$(rank_pid pre_$who 1)
  [ -n "$r0" ] && [ -n "$r1" ] || fail "preempt $who: the ranks were not found"
  t0=$EPOCHREALTIME
  if [ $who = both ]; then kill -TERM $r0 $r1; else kill -TERM $r1; fi
  wait $launcher
  rc=$?
  latency=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  echo "preempt $who in step 2's $phase: exit $rc after ${latency}s"
  ((rc != 0)) || fail "preempt $who: the run exited 0"
  grep -qF "stopped by SIGTERM during step 2 (epoch 1), which is given up (a resume redoes it). The last good checkpoint is pre_$who/last.h5 (step 1: batch 1 of 5 of epoch 1)" pre_$who.log ||
    fail "preempt $who: no message that step 2 is given up: $(tail -c 600 pre_$who.log)"
  grep -q "test: step 2 update" pre_$who.log && fail "preempt $who: a rank went on to step 2's update"
  # both ranks signalled: each stops at its next node; rank 1 alone: rank 0 finishes its backward pass (3.5 s)
  bound=5
  [ $who = rank1 ] && bound=15
  awk -v l="$latency" -v b=$bound 'BEGIN { exit !(l < b) }' || fail "preempt $who: ${latency}s from the signal to the exit (want under ${bound}s)"
  "$TV" info pre_$who/last.h5 --verify >/dev/null 2>&1 || fail "preempt $who: last.h5 fails its digest"
  "$TV" info pre_$who/last.h5 | grep -q 'step 1\b' || fail "preempt $who: last.h5 is not at step 1: $("$TV" info pre_$who/last.h5 | head -3)"
  expect 0 'done: 2 epochs, 10 steps' -- "${MPI[@]}" -np 2 "$TV" train --resume pre_$who/last.h5 --log_interval 1
  compare pre_ref/last.h5 pre_$who/last.h5 || fail "preempt $who: the resumed run is not bitwise the uninterrupted one"
done

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "MPI: all checks passed"
