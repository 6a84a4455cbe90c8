#!/usr/bin/env bash
# tests/cli_labels_test.sh: a checkpoint's class names are the label contract (issue 32), end to end on the `tapevit`
# binary: eval and --resume match a folder's classes to them by name (a renamed folder that changes the folders'
# sorted order changes nothing), a folder with other classes is refused naming them, eval --class_subset scores some
# of the classes, --init follows the weights' class order; eval scores the split a run held out (--val_fraction),
# every piece of advice in eval's errors works as written, and eval on other data does not overwrite the run's report.
#   tests/cli_labels_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start labels "$1" "$2"
cd "$WORK"

"$MAKE_DATA" --folder imgs 200 50  # 10 classes class0..class9, 20 train and 5 val images each
{
  folder_config "imgs" 4
  cat <<INI
[train]
epochs = 6
batch_size = 20
threads = 2
[optim]
lr = 3e-3
INI
} >folder.ini
# "eval ... top1 X%  top5 Y%": the numbers of an eval line
scores() { grep -oE 'loss [0-9.]+  top1 [0-9.]+%  top5 [0-9.]+%' <<<"$1"; }
# the same tree with one class folder renamed in both splits: copy_renamed FROM TO OLD NEW
copy_renamed() {
  cp -r "$1" "$2"
  for s in train val; do mv "$2/$s/$3" "$2/$s/$4"; done
}

# 1. A run on some of the classes, in another order than the folders' (classes = 4, 3, 2, 0): its labels are the
#    class names it stores. Renaming a folder it did not train on (class1 -> z_class1) moves class4 to another place
#    in the sorted order; eval and a resume must not notice.
"$TV" train --config folder.ini --classes 4,3,2,0 --output runs/r1 >/dev/null 2>&1 || fail "the run on 4 classes failed"
copy_renamed imgs renamed class1 z_class1
ref=$(scores "$("$TV" eval --checkpoint runs/r1/best.h5 2>&1)")
[ -n "$ref" ] || fail "no eval line for runs/r1/best.h5"
cp runs/r1/eval_val/per_class.csv run_report.csv
out=$("$TV" eval --checkpoint runs/r1/best.h5 --data_dir renamed 2>&1)
[ "$(scores "$out")" = "$ref" ] || fail "eval on the renamed folder: '$(scores "$out")', on the original: '$ref' ($out)"
# the report on other data is its own (eval_renamed_val), the run's eval_val stays; both list the same classes
cmp -s runs/r1/eval_val/per_class.csv run_report.csv || fail "eval on another data_dir changed runs/r1/eval_val/per_class.csv"
cmp -s runs/r1/eval_renamed_val/per_class.csv run_report.csv ||
  fail "eval_renamed_val/per_class.csv differs from the run's: $(diff runs/r1/eval_renamed_val/per_class.csv run_report.csv)"
expect 0 '^0,class4,5,' -- cat runs/r1/eval_renamed_val/per_class.csv

# 2. A resume on the renamed folder trains on the same images with the same labels: bitwise the resume on the
#    original (the run stopped at epoch 3 both times, resumed to 6)
"$TV" train --config folder.ini --classes 4,3,2,0 --epochs 3 --output runs/r2 >/dev/null 2>&1 || fail "the 3-epoch run failed"
cp -r runs/r2 runs/r2b
"$TV" train --resume runs/r2/last.h5 --epochs 6 >/dev/null 2>&1 || fail "the resume on the original folder failed"
expect 0 'done: 6 epochs' -- "$TV" train --resume runs/r2b/last.h5 --epochs 6 --data_dir renamed
cut -d, -f1-6 runs/r2/summary.csv >a.csv
cut -d, -f1-6 runs/r2b/summary.csv >b.csv
cmp -s a.csv b.csv || fail "the resume on the renamed folder trained otherwise: $(diff a.csv b.csv)"
a=$(scores "$("$TV" eval --checkpoint runs/r2/last.h5 2>&1)")
b=$(scores "$("$TV" eval --checkpoint runs/r2b/last.h5 2>&1)")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "the resumed checkpoints score '$a' and '$b'"

# 3. Other classes are refused, naming them and the checkpoint; the advice works as written
copy_renamed imgs renamed2 class2 z_class2  # class2 is one of the model's
expect_no_new_paths 1 "the class folders of 'renamed2/val' are not the classes of runs/r1/best.h5 \('class4', 'class3', 'class2', 'class0'\): no folder for 'class2'; the other folders, left out: .*'z_class2'" -- "$TV" eval --checkpoint runs/r1/best.h5 --data_dir renamed2
expect_no_new_paths 1 "the class folders of 'renamed2/train' are not the classes of runs/r1/last.h5 .*no folder for 'class2'.*replace --resume runs/r1/last.h5 with --config runs/r1/config.ini --init runs/r1/last.h5 and choose a new --output" -- "$TV" train --resume runs/r1/last.h5 --epochs 8 --data_dir renamed2 --output runs/fork
expect 0 'done: 8 epochs' -- "$TV" train --config runs/r1/config.ini --init runs/r1/last.h5 --epochs 8 --data_dir renamed2 --output runs/fork
# a folder with some of the classes: refused, or with --class_subset (the advice) scored, predicted among all 4
mkdir some && cp -r imgs/train imgs/val some/ && rm -r some/val/class3
expect_no_new_paths 1 "no folder for 'class3'; the other folders, left out: 'class1', 'class5', .*\. The labels are the model's: name the class folders as its classes, or pass --class_subset to score only the classes that have a folder" -- "$TV" eval --checkpoint runs/r1/best.h5 --data_dir some
out=$("$TV" eval --checkpoint runs/r1/best.h5 --data_dir some --class_subset 2>&1)
grep -q "note: --class_subset: no image of 'class3'" <<<"$out" || fail "no note of the class without images: $out"
# top-1 on the other three classes, from the full report's counts
want=$(awk -F, 'NR > 1 && $2 != "class3" { n += $3; ok += $4 } END { printf "%.2f", 100 * ok / n }' run_report.csv)
grep -q "15 images: loss [0-9.]*  top1 $want%" <<<"$out" || fail "eval --class_subset: want top1 $want% of 15 images: $out"
expect 0 '^1,class3,0,0,$' -- cat runs/r1/eval_some_val/per_class.csv

# 4. --init from weights whose class names are the folder's classes in another order: the labels follow the
#    weights' names, so the head keeps its meaning (a run at lr ~0 scores what runs/r1 scores on the same images)
mkdir four && for s in train val; do mkdir four/$s && cp -r imgs/$s/class{0,2,3,4} four/$s/; done
out=$("$TV" train --config folder.ini --data_dir four --init runs/r1/best.h5 --epochs 1 --lr 1e-12 --warmup_epochs 0 --output runs/init 2>&1)
grep -q "note: the labels follow the class names of runs/r1/best.h5 (its head's order)" <<<"$out" || fail "no note of the labels' order: $out"
r1_top1=$(grep -oE 'top1 [0-9.]+%' <<<"$ref")
grep -qE "epoch 1/1  train_loss [0-9.]+  eval_loss [0-9.]+  $r1_top1" <<<"$out" || fail "--init's first epoch does not score $r1_top1 as runs/r1: $out"
"$TV" eval --checkpoint runs/init/last.h5 --report init_report >/dev/null 2>&1 || fail "eval of runs/init/last.h5 failed"
expect 0 "^0,class4,5," -- cat init_report/per_class.csv

# 5. eval scores the split a run held out of train (--val_fraction, the run's value), as each epoch scored it
"$TV" train --config folder.ini --classes 0,1,2,3 --val_fraction 0.2 --epochs 2 --output runs/held >/dev/null 2>&1 || fail "the val_fraction run failed"
row=$(tail -1 runs/held/summary.csv)  # epoch,train_loss,eval_loss,eval_top1,...
loss=$(cut -d, -f3 <<<"$row")
top1=$(cut -d, -f4 <<<"$row")
out=$("$TV" eval --checkpoint runs/held/last.h5 --val_fraction 0.2 2>&1)
grep -q "on folder held out of train (val_fraction 0.2), 16 images" <<<"$out" || fail "eval --val_fraction: $out"
want=$(awk -v l="$loss" -v t="$top1" 'BEGIN { printf "loss %.4f  top1 %.2f%%", l, t }')
grep -q "$want" <<<"$out" || fail "eval --val_fraction 0.2 does not score what the run's last epoch scored ($want): $out"
[ -f runs/held/eval_heldout/per_class.csv ] || fail "no eval_heldout report"
expect_no_new_paths 1 "held out val_fraction 0.2 of train; another fraction would score images it trained on. Give --val_fraction 0.2 \(the run's\), or leave it out" -- "$TV" eval --checkpoint runs/held/last.h5 --val_fraction 0.3
expect_no_new_paths 1 "held nothing out of train \(val_fraction 0\).*Leave --val_fraction out to score the val split" -- "$TV" eval --checkpoint runs/r1/best.h5 --val_fraction 0.2
expect 0 'on folder val, 20 images' -- "$TV" eval --checkpoint runs/held/last.h5

# 6. eval's messages suggest only what eval takes, and each suggestion works as written
mkdir -p trainonly && cp -r imgs/train trainonly/
out=$("$TV" eval --checkpoint runs/r1/best.h5 --data_dir trainonly 2>&1)
grep -q "has no eval split folder: expected one of validation, val, test (or set val_split)" <<<"$out" || fail "eval without a val folder: $out"
expect 0 'on folder train, 80 images' -- "$TV" eval --checkpoint runs/r1/best.h5 --data_dir trainonly --val_split train
expect 2 "unknown option '--num_clases'$" -- "$TV" eval --checkpoint runs/r1/best.h5 --num_clases 3
# an in-memory data set of another class count (no class names to match): the model is the checkpoint's
"$MAKE_DATA" mnist 320 80
"$TV" train --model vit_fmnist_tiny --dataset mnist --data_dir mnist --classes 0,1,2 --num_classes 3 --epochs 1 --embed_dim 32 --depth 1 --num_heads 2 --output runs/m3 >/dev/null 2>&1 || fail "the mnist run failed"
expect_no_new_paths 1 "has 2 classes but num_classes = 3; the model is the checkpoint's: evaluate it on data of its 3 classes" -- "$TV" eval --checkpoint runs/m3/last.h5 --classes 0,1
expect 0 'on mnist test' -- "$TV" eval --checkpoint runs/m3/last.h5 --classes 0,1,2

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all label CLI checks passed"
