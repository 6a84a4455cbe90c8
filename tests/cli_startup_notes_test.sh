#!/usr/bin/env bash
# tests/cli_startup_notes_test.sh: what a run says when it starts, and what `info` shows (issue 32, points 10-12 and
# the smaller ones), end to end on the `tapevit` binary: a boolean key takes the spellings its error names; a flag
# given twice takes the last, saying so; a resume that changes keys lists them (old -> new), a fork says its new run
# id and parent, a longer run says the lr schedule is recomputed (the next step's lr before and after); a fine-tuning
# recipe without init and colour images into a 1-channel model are said at start-up; `info` shows the EMA (its
# weights, decay and metrics) and the class names. Every piece of advice is followed literally.
#   tests/cli_startup_notes_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start startup_notes "$1" "$2"
CONFIGS=$(dirname "$(realpath "$0")")/../configs
FIXTURES=$(dirname "$(realpath "$0")")/fixtures/images

"$MAKE_DATA" "$WORK/data" 256 64
tiny_config "$WORK/data" 1 >"$WORK/tiny.ini"
cd "$WORK"

# key KEY DIR: the value of KEY in DIR/config.ini
key() { sed -n "s/^$1 = //p" "$2/config.ini"; }

# 1. a boolean key: the error names every spelling it takes, and each one named is taken (literally, in any case)
expect_no_new_paths 1 "key 'qkv_bias': expected true or false \(or 1/0, yes/no, on/off\), got 'maybe'" -- \
  "$TV" train --config tiny.ini --qkv_bias maybe --output runs/b0
for word in true 1 yes on YES false 0 no off Off; do
  expect 0 'done: 1 epochs' -- "$TV" train --config tiny.ini --qkv_bias "$word" --output "runs/b_$word"
  want=$(case $word in true | 1 | yes | on | YES) echo true ;; *) echo false ;; esac)
  [ "$(key qkv_bias "runs/b_$word")" = "$want" ] || fail "--qkv_bias $word: config.ini has qkv_bias = $(key qkv_bias "runs/b_$word"), want $want"
done

# 2. a flag given twice takes the last (timm's argparse does), and says so; timm's spelling of the same key counts
expect 0 'note: --lr is given 2 times \(1e-3, 2e-3\): the last is used, 2e-3 \(as timm.s argparse takes the last\)' -- \
  "$TV" train --config tiny.ini --lr 1e-3 --lr 2e-3 --output runs/twice
[ "$(key lr runs/twice)" = 0.002 ] || fail "--lr 1e-3 --lr 2e-3: config.ini has lr = $(key lr runs/twice), want 0.002"
expect 0 'note: --batch_size is given 2 times \(64, 32\): the last is used, 32' -- \
  "$TV" train --config tiny.ini -b 64 --batch-size 32 --output runs/twice_b
[ "$(key batch_size runs/twice_b)" = 32 ] || fail "-b 64 --batch-size 32: config.ini has batch_size = $(key batch_size runs/twice_b)"
# a flag alone then with a value: the value; the same value twice (and a switch twice) leaves nothing to choose
expect 0 'note: --no_aug is given 2 times \(\(alone\), false\): the last is used, false' -- \
  "$TV" train --config tiny.ini --no_aug --no_aug false --output runs/twice_bool
[ "$(key no_aug runs/twice_bool)" = false ] || fail "--no_aug --no_aug false: config.ini has no_aug = $(key no_aug runs/twice_bool)"
out=$(timeout 300 "$TV" train --config tiny.ini --lr 1e-3 --lr 1e-3 --force --force --output runs/twice_same 2>&1)
grep -q 'done: 1 epochs' <<<"$out" && ! grep -q 'is given' <<<"$out" || fail "--lr 1e-3 --lr 1e-3 --force --force: $out"
# --config gathers its values: both files apply, in order, without a note
printf '[optim]\nlr = 1e-3\n' >lr1.ini
expect 0 'done: 1 epochs' -- "$TV" train --config tiny.ini --config lr1.ini --output runs/two_configs
[ "$(key lr runs/two_configs)" = 0.001 ] || fail "--config tiny.ini --config lr1.ini: lr = $(key lr runs/two_configs), want 0.001"
expect 0 'note: --checkpoint is given 2 times \(runs/twice/last.h5, runs/twice_b/last.h5\): the last is used, runs/twice_b/last.h5' -- \
  "$TV" eval --checkpoint runs/twice/last.h5 --checkpoint runs/twice_b/last.h5 --report reports/twice

# 3. a resume says what it changes: the keys (old -> new), the lr schedule recomputed over a new length (the next
# step's lr against the checkpoint's schedule: timm's cosine, computed here from its formula, and the lr that step
# then prints), a fork's new run id and its parent
tiny_config "$WORK/data" 3 >tiny3.ini  # 256 images, batch 64: 4 steps an epoch; lr 3e-3, warmup 2 steps, min_lr 1e-5
expect 0 'done: 3 epochs' -- "$TV" train --config tiny3.ini --output runs/r3
parent=$(sed -n 's/^# tapevit .*, run \([0-9a-f]\{16\}\) started .*/\1/p' runs/r3/config.ini)
[ ${#parent} = 16 ] || fail "runs/r3/config.ini: no run id in its first line: $(head -1 runs/r3/config.ini)"
# cosine LR T: timm's CosineLRScheduler at step t of T steps (after warmup), lr 3e-3, min_lr 1e-5; min_lr from T on
cosine() { awk -v t="$1" -v T="$2" 'BEGIN { lr = t >= T ? 1e-5 : 1e-5 + 0.5 * (3e-3 - 1e-5) * (1 + cos(3.141592653589793 * t / T)); printf "%.2e", lr }'; }
after=$(cosine 12 20) before=$(cosine 12 12)
out=$(timeout 300 "$TV" train --resume runs/r3/last.h5 --epochs 5 --log_interval 1 2>&1)
grep -q '^note: changed from the config of runs/r3/last.h5: epochs 3 -> 5, log_interval 50 -> 1$' <<<"$out" ||
  fail "resume --epochs 5: no 'changed ... epochs 3 -> 5, log_interval 50 -> 1' note: $out"
want="note: the lr schedule is recomputed (cosine over 5 epochs, was 3): the next step, 13 (epoch 4), takes lr $after where the checkpoint's config gives $before"
grep -qxF "$want" <<<"$out" || fail "resume --epochs 5: wanted '$want' in: $out"
first=$(grep -m1 '^epoch 4/5 step  1/4' <<<"$out" | sed -n 's/.*  lr \([^ ]*\) .*/\1/p')
[ "$first" = "$after" ] || fail "the note says step 13 takes lr $after, the step printed lr $first"
grep -q 'a fork' <<<"$out" && fail "a resume beside its checkpoint is not a fork: $out"
cp -r runs/r3 r3.before
out=$(timeout 300 "$TV" train --resume runs/r3/last.h5 --lr 1e-4 --epochs 6 --output runs/fork 2>&1)
child=$(sed -n 's/^# tapevit .*, run \([0-9a-f]\{16\}\) started .*/\1/p' runs/fork/config.ini)
[ ${#child} = 16 ] && [ "$child" != "$parent" ] || fail "the fork's run id '$child' (parent $parent)"
grep -q "^note: changed from the config of runs/r3/last.h5: epochs 5 -> 6, lr 0.003 -> 0.0001$" <<<"$out" ||
  fail "the fork: no 'changed ... epochs 5 -> 6, lr 0.003 -> 0.0001' note: $out"
grep -qF "note: a fork: a new run, $child, continues run $parent (runs/r3/last.h5) from epoch 5, step 20 in runs/fork; runs/r3 is left as it is" <<<"$out" ||
  fail "the fork: no note naming run $child and its parent $parent: $out"
grep -qE "^# tapevit .*, run $child started .*, forked from run $parent at step 20 \(runs/r3/last.h5\)$" runs/fork/config.ini ||
  fail "runs/fork/config.ini: first line $(head -1 runs/fork/config.ini)"
expect 0 "run $child \(a fork of run $parent\), started" -- "$TV" info runs/fork
expect 0 "run $child \(a fork of run $parent\), started" -- "$TV" info runs/fork/last.h5
for f in last.h5 best.h5 summary.csv config.ini; do cmp -s runs/r3/$f r3.before/$f || fail "the fork changed runs/r3/$f"; done
# a fork is a run of its own: its first epoch is its best so far, in its own best.h5 (at lr 1e-4 it need not beat
# the parent's best)
expect 0 'progress: epoch 6 of 6' -- "$TV" info runs/fork/best.h5
# the fork's own resume keeps its id and its parent, and says nothing of a fork
out=$(timeout 300 "$TV" train --resume runs/fork/last.h5 --epochs 7 --lr 1e-4 2>&1)
grep -q 'a fork' <<<"$out" && fail "a resume of the fork beside it is no new fork: $out"
expect 0 "run $child \(a fork of run $parent\), started" -- "$TV" info runs/fork
# a constant schedule does not change with the length: the changed key only
expect 0 'done: 1 epochs' -- "$TV" train --config tiny.ini --sched constant --output runs/const
out=$(timeout 300 "$TV" train --resume runs/const/last.h5 --epochs 2 2>&1)
grep -q '^note: changed from the config of runs/const/last.h5: epochs 1 -> 2$' <<<"$out" || fail "constant: no changed note: $out"
grep -q 'schedule' <<<"$out" && fail "constant schedule, longer run: no schedule note expected: $out"

# 4. info shows the EMA (its weights in the file, its decay, its last and best evaluation, as summary.csv's ema_*
# columns hold them) and the class names (abbreviated past 8; here the class folders, as ls lists them)
"$MAKE_DATA" --folder "$WORK/imgs" 100 40
{
  folder_config "$WORK/imgs" 10
  cat <<INI
[train]
epochs = 3
batch_size = 20
threads = 2
model_ema = true
model_ema_decay = 0.9
INI
} >folder.ini
expect 0 'done: 3 epochs' -- "$TV" train --config folder.ini --output runs/ema
last_ema=$(awk -F, 'NR > 1 { v = $9 } END { printf "%.2f", v }' runs/ema/summary.csv)
last_w=$(awk -F, 'NR > 1 { v = $4 } END { printf "%.2f", v }' runs/ema/summary.csv)
best=$(awk -F, 'NR > 1 && (e == "" || $9 + 0 > b) { b = $9 + 0; e = $1 } END { printf "%.2f%% at epoch %d", b, e }' runs/ema/summary.csv)
classes=$(ls imgs/train | sort -V | awk '{ a[NR] = $0 } END { printf "%d (%s, %s, %s, %s, ... %d more ..., %s, %s)", NR, a[1], a[2], a[3], a[4], NR - 6, a[NR - 1], a[NR] }')
for what in runs/ema runs/ema/last.h5 runs/ema/best.h5; do
  out=$(timeout 60 "$TV" info "$what" 2>&1)
  grep -qF "  ema: /ema holds the EMA of the weights (model_ema true, model_ema_decay 0.9); eval top1 $last_ema% at epoch 3 (the weights $last_w%), best $best" <<<"$out" ||
    fail "info $what: no ema line with $last_ema% (weights $last_w%), best $best: $out"
  grep -qF "  classes: $classes" <<<"$out" || fail "info $what: no 'classes: $classes': $out"
  grep -qE '^    epoch  train_loss  eval_loss   top1    top5   ema_loss  ema_top1  ema_top5   seconds$' <<<"$out" ||
    fail "info $what: the metrics have no ema columns: $out"
done
expect 0 'their EMA under /ema' -- "$TV" info runs/ema/last.h5
# a run without EMA and without class names shows neither
out=$(timeout 60 "$TV" info runs/twice 2>&1)
grep -qE '  (ema|classes):|ema_top1' <<<"$out" && fail "info runs/twice (no EMA, no folder): $out"

# 5. a fine-tuning recipe without init warns at start-up (each configs/finetune_*.ini), and each way out it offers
# works as written: --recipe scratch, --init WEIGHTS
recipe_warning='warning: recipe = finetune: these values \(lr [0-9.e-]+, 1 epochs(, layer_decay [0-9.]+)?(, freeze all_but_head)?\) are tuned for pretrained weights, but init is not set: the model starts from random weights. Give --init WEIGHTS \(a timm model.safetensors or a tapevit checkpoint\), or --recipe scratch to train from random weights on purpose'
expect 0 "$recipe_warning" -- "$TV" train --config "$CONFIGS/finetune_folder.ini" --data_dir imgs --num_classes 10 \
  --img_size 32 --depth 2 --epochs 1 --output runs/ft_scratch
for recipe in finetune_fmnist finetune_linear_probe; do
  expect 0 "$recipe_warning" -- "$TV" train --config tiny.ini --config "$CONFIGS/$recipe.ini" --epochs 1 --output "runs/$recipe"
  out=$(timeout 300 "$TV" train --config tiny.ini --config "$CONFIGS/$recipe.ini" --epochs 1 --recipe scratch --output "runs/${recipe}_s" 2>&1)
  grep -q 'done: 1 epochs' <<<"$out" && ! grep -q 'warning: recipe' <<<"$out" || fail "$recipe --recipe scratch: $out"
  out=$(timeout 300 "$TV" train --config tiny.ini --config "$CONFIGS/$recipe.ini" --epochs 1 --init runs/twice/last.h5 --output "runs/${recipe}_i" 2>&1)
  grep -q 'done: 1 epochs' <<<"$out" && ! grep -q 'warning: recipe' <<<"$out" || fail "$recipe --init runs/twice/last.h5: $out"
done
out=$(timeout 300 "$TV" train --config "$CONFIGS/finetune_folder.ini" --data_dir imgs --num_classes 10 --img_size 32 \
  --depth 2 --epochs 1 --init runs/ft_scratch/last.h5 --output runs/ft_init 2>&1)
grep -q 'done: 1 epochs' <<<"$out" && ! grep -q 'warning: recipe' <<<"$out" || fail "finetune_folder.ini --init: $out"
# a from-scratch config says nothing of it; nor does a resume of the recipe's run (its weights are the checkpoint's)
grep -q 'recipe' <<<"$(timeout 60 "$TV" train --resume runs/finetune_fmnist/last.h5 --epochs 2 2>&1)" &&
  fail "a resume of a fine-tuning run warns of the recipe"

# 6. colour images into a one-channel model are said at start-up, naming one; --in_chans 3 (the advice) trains on
# colour without the note; a folder of grey images (PNG and JPEG, 8- and 16-bit, grey + alpha) says nothing
colour_note="note: the images are in colour \($WORK/imgs/train/class[0-9]/[0-9]+\.(png|jpg), \.\.\.\) but in_chans = 1: each is converted to grey \(PIL's convert\('L'\)\)\. --in_chans 3 trains on the colours"
expect 0 "$colour_note" -- "$TV" train --dataset folder --data_dir "$WORK/imgs" --num_classes 10 --epochs 1 --output runs/grey
out=$(timeout 300 "$TV" train --dataset folder --data_dir "$WORK/imgs" --num_classes 10 --epochs 1 --in_chans 3 --output runs/colour 2>&1)
grep -q 'done: 1 epochs' <<<"$out" && ! grep -q 'in colour' <<<"$out" || fail "--in_chans 3: $out"
[ "$(key in_chans runs/colour)" = 3 ] || fail "--in_chans 3: config.ini has in_chans = $(key in_chans runs/colour)"
for split in train val; do
  mkdir -p "greys/$split/a" "greys/$split/b"
  cp "$FIXTURES"/grey_30x41.png "$FIXTURES"/grey16_19x17.png "greys/$split/a/"
  cp "$FIXTURES"/grey_40x30.jpg "$FIXTURES"/la_21x13.png "greys/$split/b/"
done
out=$(timeout 300 "$TV" train --dataset folder --data_dir greys --num_classes 2 --epochs 1 --batch_size 2 --output runs/greys 2>&1)
grep -q 'done: 1 epochs' <<<"$out" && ! grep -q 'in colour' <<<"$out" || fail "a grey folder: $out"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all start-up notes CLI checks passed"
