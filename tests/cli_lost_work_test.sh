#!/usr/bin/env bash
# tests/cli_lost_work_test.sh: no work lost to a bad file or an early end, end to end on the `tapevit` binary.
# Unreadable images of either split are all named when the data is loaded, before any step (with a progress line for
# large folders); an evaluation that fails keeps the epoch in last.h5, says so, and its resume (the advice, run as
# printed) ends bitwise equal to an uninterrupted run; a first run killed or failed before its first checkpoint does
# not block the same command; a refusal advises only files that exist; --output naming a file is one error naming
# the key; a second signal says which checkpoint is on disk.
#   tests/cli_lost_work_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start lost_work "$1" "$2"
FIXTURES=$(dirname "$(realpath "$0")")/fixtures/images

"$MAKE_DATA" --folder "$WORK/imgs" 200 50 >/dev/null
{
  folder_config "imgs" 10
  cat <<INI
[train]
epochs = 2
batch_size = 20
threads = 2
model_ema = true
model_ema_decay = 0.9
INI
} >"$WORK/folder.ini"
"$MAKE_DATA" "$WORK/data" 2560 160 >/dev/null
tiny_config "$WORK/data" 1 >"$WORK/tiny.ini"
cd "$WORK"

# run_out CMD...: runs CMD (under a timeout), its stdout+stderr in $out and its exit code in $rc
run_out() {
  out=$(timeout 300 "$@" 2>&1)
  rc=$?
}
# has PATTERN WHAT: $out matches the grep -E PATTERN, else a failure naming WHAT
has() { grep -qE -- "$1" <<<"$out" || fail "$2: /$1/ not in:"$'\n'"$out"; }

# 1. unreadable images of both splits: all named at once when the data is loaded, nothing trained, nothing written
cp "$FIXTURES/truncated.jpg" imgs/val/class4/zz_cut.jpg
cp "$FIXTURES/empty.png" imgs/train/class1/empty.png
cp "$FIXTURES/not_image.jpg" imgs/train/class7/text.jpg
before=$(tree_listing)
run_out "$TV" train --config folder.ini --output runs/a
[ "$rc" = 1 ] || fail "bad images: exit $rc, want 1"
has "3 of the 253 images of imgs/train and imgs/val are unreadable \(remove or replace them\)" "bad images counted"
has "image 'imgs/train/class1/empty.png': not a JPEG or PNG file \(an empty file\)" "the empty file named"
has "image 'imgs/train/class7/text.jpg': not a JPEG or PNG file \(bytes" "the text file named"
has "image 'imgs/val/class4/zz_cut.jpg': JPEG: the data ends before the image does \(truncated file\)" "the cut file named"
grep -qE 'epoch 1/2' <<<"$out" && fail "bad images: training started before they were found:"$'\n'"$out"
[ "$before" = "$(tree_listing)" ] || fail "bad images: the failed start changed what is on disk"
rm imgs/val/class4/zz_cut.jpg imgs/train/class1/empty.png imgs/train/class7/text.jpg

# a large folder: a line of the check's progress when the output is not a terminal
"$MAKE_DATA" --folder big 1000 100 >/dev/null
cp "$FIXTURES/truncated.png" big/val/class2/zz_cut.png
run_out "$TV" train --config folder.ini --data_dir big --output runs/big
[ "$rc" = 1 ] || fail "large folder: exit $rc, want 1"
has '^checking images: 1101/1101 in [0-9]+s$' "the check's progress line"
has "1 of the 1101 images of big/train and big/val is unreadable \(remove or replace it\):" "large folder: the bad file counted"
rm -r big

# 2. an evaluation that fails (a damaged image the start's check cannot see: complete, its inside corrupt) keeps the
# epoch in last.h5 and says so; its advice, once the image is gone, resumes and evaluates that epoch first: the run
# ends bitwise as an uninterrupted one (weights, EMA, and the metrics of every epoch)
cp "$FIXTURES/corrupt.png" imgs/val/class4/zz_damaged.png
run_out "$TV" train --config folder.ini --output runs/b
[ "$rc" = 1 ] || fail "damaged eval image: exit $rc, want 1"
has "evaluating epoch 1 on imgs/val: image 'imgs/val/class4/zz_damaged.png': PNG: " "the evaluation's error"
has "The last good checkpoint is runs/b/last.h5 \(step 10: epoch 1 trained, not yet evaluated\); once that is fixed, resume with: tapevit train --resume runs/b/last.h5 \(it evaluates epoch 1 first\)" "the kept epoch"
expect 0 'digest ok' -- "$TV" info runs/b/last.h5 --verify
expect 0 'progress: epoch 0 of 2 \(\+10 batches\), step 10' -- "$TV" info runs/b/last.h5
rm imgs/val/class4/zz_damaged.png
advice=$(grep -oE 'resume with: tapevit train [^(]*' <<<"$out" | head -1 | sed 's/^resume with: tapevit //; s/ *$//')
read -ra words <<<"$advice"
expect 0 'done: 2 epochs, 20 steps' -- "$TV" "${words[@]}"
expect 0 'done: 2 epochs, 20 steps' -- "$TV" train --config folder.ini --output runs/ref
for w in "" --ema; do  # (from inside each run directory: the export records the checkpoint's path)
  for r in b ref; do
    (cd runs/$r && "$TV" export --checkpoint last.h5 $w --out "../$r$w.safetensors" >/dev/null) || fail "export runs/$r $w"
  done
  cmp -s "runs/b$w.safetensors" "runs/ref$w.safetensors" || fail "the resumed run's weights ($w) differ from the uninterrupted run's"
done
# summary.csv without the seconds column: epoch, losses, top-1/top-5, lr and the EMA's equal
strip() { cut -d, -f1-6,8- "$1"; }
[ "$(strip runs/b/summary.csv)" = "$(strip runs/ref/summary.csv)" ] ||
  fail "summary.csv differs from the uninterrupted run's: $(diff <(strip runs/b/summary.csv) <(strip runs/ref/summary.csv))"
[ "$(wc -l <runs/b/summary.csv)" = 3 ] || fail "runs/b/summary.csv has $(wc -l <runs/b/summary.csv) lines, want 3"
expect 0 'best: epoch [12], eval top1' -- "$TV" info runs/b

# 3. a first run that fails in epoch 1 (a damaged training image) leaves nothing; the same command then trains
cp "$FIXTURES/corrupt.png" imgs/train/class3/zz_damaged.png
before=$(tree_listing)
run_out "$TV" train --config folder.ini --output runs/c --epochs 1
[ "$rc" = 1 ] || fail "damaged training image: exit $rc, want 1"
has "image 'imgs/train/class3/zz_damaged.png': PNG: " "the damaged training image named"
has "^No checkpoint was written yet$" "no checkpoint"
[ "$before" = "$(tree_listing)" ] || fail "the run that failed in epoch 1 left something behind"
rm imgs/train/class3/zz_damaged.png
expect 0 'done: 1 epochs' -- "$TV" train --config folder.ini --output runs/c --epochs 1

# a first run killed before its first checkpoint leaves its config.ini: not a run, the same command trains there
"$TV" train --config tiny.ini --output runs/k --log_interval 1 >k.out 2>&1 &
pid=$!
deadline=$((SECONDS + 120))
until grep -q 'epoch 1/1 step' k.out 2>/dev/null || ((SECONDS > deadline)) || ! kill -0 $pid 2>/dev/null; do sleep 0.05; done
kill -KILL $pid 2>/dev/null
{ wait $pid; } 2>/dev/null
[ -f runs/k/config.ini ] && [ ! -f runs/k/last.h5 ] || fail "the killed run did not leave config.ini alone: $(ls -a runs/k)"
expect 0 'runs/k: no checkpoint, nothing to resume: config.ini is from a run that ended before its first checkpoint' -- "$TV" info runs/k
expect 0 'note: runs/k/config.ini is from a run that ended before its first checkpoint \(nothing to resume\); this run replaces it' -- "$TV" train --config tiny.ini --output runs/k
[ -f runs/k/last.h5 ] || fail "the rerun in runs/k wrote no last.h5"

# a refusal advises only files that exist, and its advice works as printed
mkdir runs/d && cp runs/ref/best.h5 runs/ref/summary.csv runs/ref/config.ini runs/d/
run_out "$TV" train --config folder.ini --output runs/d
[ "$rc" = 1 ] || fail "runs/d (best.h5 alone): exit $rc, want 1"
has "output directory runs/d already holds a run \(best.h5, summary.csv\); resume it with --resume runs/d/best.h5, choose another --output, or pass --force" "runs/d: the advice"
grep -q last.h5 <<<"$out" && fail "runs/d has no last.h5, but the refusal names it: $out"
expect 0 'done: 3 epochs' -- "$TV" train --resume runs/d/best.h5 --epochs 3
rm runs/d/*.h5
expect_no_new_paths 1 "output directory runs/d already holds a run \(summary.csv\); its checkpoints are gone, so it cannot be resumed. Choose another --output, or pass --force" -- "$TV" train --config folder.ini --output runs/d

# 4. --output naming a file: one error naming the key and the path
touch afile
expect_no_new_paths 1 "key 'output' = 'afile': it is a file, not a directory \(a run writes a directory" -- "$TV" train --config tiny.ini --output afile
expect_no_new_paths 1 "key 'output' = 'afile/run': afile is a file, not a directory" -- "$TV" train --config tiny.ini --output afile/run
expect_no_new_paths 1 "key 'output' = 'afile': it is a file" -- "$TV" train --resume runs/ref/last.h5 --epochs 3 --output afile

# 5. a second signal exits at once and says which checkpoint is on disk; that advice resumes
"$TV" train --config tiny.ini --output runs/s --log_interval 1 --checkpoint_steps 2 >s.out 2>s.err &
pid=$!
deadline=$((SECONDS + 120))
until { [ -f runs/s/last.h5 ] && grep -qE 'epoch 1/1 step +([5-9]|[1-9][0-9])/' s.out; } 2>/dev/null || ((SECONDS > deadline)) || ! kill -0 $pid 2>/dev/null; do sleep 0.05; done
kill -INT $pid
kill -TERM $pid
wait $pid
rc=$?
out=$(cat s.err)
[ "$rc" = 143 ] || [ "$rc" = 130 ] || fail "second signal: exit $rc, want 143 (or 130)"
has "tapevit train: a second (SIGINT|signal): exiting at once, without a new checkpoint. The last good checkpoint is runs/s/last.h5 \(step [0-9]+: batch [0-9]+ of 40 of epoch 1\); resume with: tapevit train --resume runs/s/last.h5$" "the second signal's note"
said=$(grep -oE 'runs/s/last.h5 \(step [0-9]+' <<<"$out" | grep -oE '[0-9]+$')
ondisk=$("$TV" info runs/s/last.h5 | grep -oE 'step [0-9]+' | head -1 | grep -oE '[0-9]+')
[ -n "$said" ] && [ "$said" = "$ondisk" ] || fail "the note says step '$said', last.h5 holds step '$ondisk'"
advice=$(grep -oE 'resume with: tapevit train .*' <<<"$out" | sed 's/^resume with: tapevit //')
read -ra words <<<"$advice"
expect 0 'done: 1 epochs, 40 steps' -- "$TV" "${words[@]}"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all lost-work CLI checks passed"
