#!/usr/bin/env bash
# tests/cli_reliability_test.sh: stopping and sharing a run from the command line: SIGTERM / SIGINT stop the run at a
# step (the one under way given up, tests/cli_preempt_test.sh), write last.h5 there and exit 128+signal with the
# resume command; a second signal exits at once; a second run on a
# directory in use is refused naming the holder's PID; a file-size limit, a directory turned read-only and a full disk
# are errors naming their cause, not a crash; under an address-space limit a run that fits trains and one that does
# not is refused saying what to set; a refused or failed start leaves the files as it found them.
#   tests/cli_reliability_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start reliability "$1" "$2"

"$MAKE_DATA" "$WORK/data" 2560 160
tiny_config "$WORK/data" 20 >"$WORK/tiny.ini"
cd "$WORK"

# wait_for FILE PATTERN: until FILE matches (at most 60 s)
wait_for() {
  for _ in $(seq 600); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "timed out waiting for /$2/ in $1"
  return 1
}

for sig in TERM INT; do
  "$TV" train --config tiny.ini --log_interval 2 --output runs/$sig >$sig.log 2>&1 &
  pid=$!
  wait_for $sig.log 'step +[0-9]+/40'
  kill -$sig $pid
  wait $pid
  rc=$?
  want=$((128 + $(kill -l $sig)))
  [ "$rc" = "$want" ] || fail "SIG$sig: exit $rc, expected $want: $(tail -3 $sig.log)"
  # (a signal between steps: that step is saved; in a step's forward or backward pass: the step is given up)
  grep -qE "stopped by SIG$sig (after step [0-9]+ \(epoch [0-9]+\); runs/$sig/last.h5 holds that step. Resume with: tapevit train --resume runs/$sig/last.h5|during step [0-9]+ \(epoch [0-9]+\), which is given up \(a resume redoes it\). The last good checkpoint is runs/$sig/last.h5 \(step [0-9]+: [^)]+\); resume with: tapevit train --resume runs/$sig/last.h5)$" $sig.log ||
    fail "SIG$sig: no stop message: $(tail -3 $sig.log)"
  expect 0 'step [0-9]+' -- "$TV" info runs/$sig/last.h5
done
expect 0 'done: 20 epochs' -- "$TV" train --resume runs/TERM/last.h5 --epochs 20

# a second signal exits at once
"$TV" train --config tiny.ini --log_interval 2 --output runs/twice >twice.log 2>&1 &
pid=$!
wait_for twice.log 'step +[0-9]+/40'
kill -TERM $pid
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" = 143 ] || fail "two SIGTERMs: exit $rc, expected 143"

# one run per directory: the second is refused at once, naming the first's PID
"$TV" train --config tiny.ini --log_interval 2 --output runs/busy >busy.log 2>&1 &
pid=$!
wait_for busy.log 'step +[0-9]+/40'
lock_before="$(stat -c %i runs/busy/.tapevit.lock) $(cat runs/busy/.tapevit.lock)"
BUSY="$WORK/*busy*" expect_no_new_paths 1 "run directory runs/busy is in use by another tapevit run \(PID $pid\)" -- "$TV" train --config tiny.ini --output runs/busy --force
# ... and the refused start leaves the holder's lock file as it was (the same file, its PID)
lock_after="$(stat -c %i runs/busy/.tapevit.lock) $(cat runs/busy/.tapevit.lock)"
[ "$lock_after" = "$lock_before" ] || fail "a refused start changed the holder's lock file: '$lock_before' -> '$lock_after'"
kill -TERM $pid
wait $pid

# a file-size limit: the checkpoint write fails with its cause, no crash, and the resumed session (which had written
# no checkpoint) leaves the run as it was: no temporary file, last.h5 and config.ini unchanged
expect 0 'done: 1 epochs' -- "$TV" train --config tiny.ini --epochs 1 --output runs/fsize
expect_no_new_paths 1 "runs/fsize/last.h5: cannot write: file too large \(over the file-size limit, ulimit -f\)" -- bash -c "ulimit -f 16; exec '$TV' train --resume runs/fsize/last.h5 --epochs 2"

# an address-space limit (ulimit -v, as SGE's h_vmem caps a job): a run that fits trains under it; one that does not
# is refused at start, before anything is written, saying how much it needs and what to set, and each setting it
# suggests trains
if ldd "$TV" | grep -q libasan; then
  echo "note: address-space limits not tested: AddressSanitizer reserves terabytes of shadow memory"
else
  expect 0 'done: 1 epochs, 10 steps' -- bash -c "ulimit -v 4000000 && exec '$TV' train --config tiny.ini --model vit_fmnist_tiny --batch_size 32 --train_per_class 32 --epochs 1 --output runs/limited"
  big="'$TV' train --config tiny.ini --patch_size 2 --train_per_class 64 --epochs 1"  # 1 step of 640 images
  expect_no_new_paths 1 "the run needs about [0-9]+ MiB of memory: [0-9]+ MiB for a training step \(micro-batches of 640 rows: batch_size 640 / grad_accum_steps 1\) and [0-9]+ MiB to evaluate .* the address-space limit \(ulimit -v\) of 976 MiB leaves [0-9]+ MiB .* set grad_accum_steps = [0-9]+ .*, or lower batch_size to [0-9]+ or less" -- bash -c "ulimit -v 1000000 && exec $big --batch_size 640 --output runs/too_big"
  out=$(bash -c "ulimit -v 1000000 && exec $big --batch_size 640 --output runs/too_big" 2>&1)
  accum=$(grep -oE 'set grad_accum_steps = [0-9]+' <<<"$out" | grep -oE '[0-9]+$')
  batch=$(grep -oE 'lower batch_size to [0-9]+' <<<"$out" | grep -oE '[0-9]+$')
  expect 0 'done: 1 epochs, 1 steps' -- bash -c "ulimit -v 1000000 && exec $big --batch_size 640 --grad_accum_steps ${accum:-0} --output runs/accum"
  expect 0 'done: 1 epochs, 1 steps' -- bash -c "ulimit -v 1000000 && exec $big --batch_size ${batch:-0} --output runs/smaller"
fi

# a directory that turns read-only during the run (a remount after file-system errors; chmod without root): the next
# checkpoint write fails naming the path and the cause, exit 1, the checkpoints before stay valid, no crash
mkdir -p runs/ro
cat >ro.sh <<SH
set -u
if [ "\$(id -u)" = 0 ]; then mount --bind runs/ro runs/ro || exit 90; fi
"$TV" train --config tiny.ini --checkpoint_steps 4 --log_interval 2 --output runs/ro >ro.log 2>&1 &
pid=\$!
for _ in \$(seq 600); do grep -qE 'step +(8|1[0-9])/40' ro.log && break; sleep 0.05; done
if [ "\$(id -u)" = 0 ]; then
  # refused (busy) while a checkpoint is being written: again a moment later
  for _ in 1 2 3 4 5 6 7 8 9 10; do mount -o remount,bind,ro runs/ro 2>/dev/null && break; sleep 0.01; done
  grep -q " \$(realpath runs/ro) .*\bro\b" /proc/self/mountinfo || { kill \$pid; exit 91; }
else
  chmod a-w runs/ro
fi
wait \$pid
SH
if [ "$(id -u)" = 0 ]; then unshare -m bash ro.sh; else bash ro.sh; fi
rc=$?
chmod u+w runs/ro
if [ "$rc" = 90 ] || [ "$rc" = 91 ]; then
  echo "note: read-only directory not tested: this root cannot bind-mount (unshare -m without CAP_SYS_ADMIN)"
else
  [ "$rc" = 1 ] || fail "read-only directory: exit $rc, expected 1: $(tail -3 ro.log)"
  grep -qE "runs/ro/last.h5: cannot write: .*(read-only file system|permission denied)" ro.log ||
    fail "read-only directory: the path or the cause is not named: $(tail -3 ro.log)"
  expect 0 'digest ok' -- "$TV" info runs/ro/last.h5 --verify
  # When the remount lands after a checkpoint's temporary file was written and closed, the rename fails and the
  # read-only directory cannot have the temporary removed either; the next run in the directory removes it
  # (remove_stale_temporaries). Otherwise nothing may be left.
  if ! grep -q "(renaming " ro.log; then
    ls -a runs/ro | grep -q '\.tmp-' && fail "read-only directory: a temporary file was left: $(ls -a runs/ro)"
  fi
fi

# a full disk (a tmpfs of 2.5 checkpoints in a mount namespace: epoch 1 writes last.h5 and best.h5, epoch 2's
# last.h5 needs a third): the write fails naming the path and 'no space left', exit 1, last.h5 of epoch 1 valid
size=$(stat -c %s runs/fsize/last.h5)
mkdir -p runs/full
cat >full.sh <<SH
set -u
mount -t tmpfs -o size=\$(( $size * 5 / 2 / 1024 + 16 ))k tmpfs runs/full || exit 90
"$TV" train --config tiny.ini --epochs 2 --output runs/full >full.log 2>&1
rc=\$?
"$TV" info runs/full/last.h5 --verify >>full.log 2>&1 || rc=92
ls -a runs/full >>full.log
exit \$rc
SH
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
  unshare -m bash full.sh
  rc=$?
  if [ "$rc" = 90 ]; then
    echo "note: full disk not tested: no tmpfs mount in a mount namespace here"
  else
    [ "$rc" = 1 ] || fail "full disk: exit $rc, expected 1 (92: last.h5 not valid after it): $(tail -5 full.log)"
    grep -qE "runs/full/last.h5: cannot write: no space left on the device \(disk full\)" full.log ||
      fail "full disk: the path or the cause is not named: $(tail -5 full.log)"
    grep -q '\.tmp-' full.log && fail "full disk: a temporary file was left: $(tail -5 full.log)"
  fi
else
  echo "note: full disk not tested: needs root and unshare -m"
fi

# a damaged checkpoint: info --verify and every reader name the damage, nothing hangs
expect 0 'digest ok: [0-9]+ bytes, [0-9]+ tensors' -- "$TV" info runs/fsize/last.h5 --verify
cp runs/fsize/last.h5 damaged.h5
printf 'XXXXXXXXX' | dd of=damaged.h5 bs=1 seek=40000 conv=notrunc 2>/dev/null
expect_no_new_paths 1 'damaged.h5: damaged: its bytes do not match the digest written with it \(in tensor [a-z_]+/[^)]+\)' -- "$TV" info damaged.h5 --verify
expect_no_new_paths 1 'damaged.h5: damaged: its bytes do not match the digest written with it \(in tensor [a-z_]+/[^)]+\)' -- "$TV" eval --checkpoint damaged.h5
# an older checkpoint (no digest: its first 16 bytes zeroed, which libhdf5 skips as the user block) still loads,
# with a note that it is read without an integrity check
cp runs/fsize/last.h5 old.h5
dd if=/dev/zero of=old.h5 bs=1 count=16 conv=notrunc 2>/dev/null
expect 0 'note: old.h5 has no digest \(written before tapevit kept one, or not by tapevit\): it is read without an integrity check' -- "$TV" eval --checkpoint old.h5
expect 0 'old.h5: no digest' -- "$TV" info old.h5 --verify
head -c 30000 runs/fsize/last.h5 >cut.h5
expect_no_new_paths 1 'cut.h5: damaged: truncated' -- "$TV" info cut.h5

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all reliability CLI checks passed"
