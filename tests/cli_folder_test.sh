#!/usr/bin/env bash
# tests/cli_folder_test.sh: image folders end to end on the `tapevit` binary: train on a folder of PNG and JPEG files
# with timm's transforms, eval writes per-class accuracy and a confusion matrix, predict on a file and a folder (CSV
# and logits), a corrupt image stops training cleanly with its name and the last checkpoint kept, bad folders are
# errors naming the folder; every command expected to fail leaves the work directory as it found it.
#   tests/cli_folder_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start folder "$1" "$2"
FIXTURES=$(dirname "$(realpath "$0")")/fixtures/images

"$MAKE_DATA" --folder "$WORK/imgs" 200 50
{
  folder_config "$WORK/imgs" 10
  cat <<INI
scale = 0.5, 1
aa = rand-m5-mstd0.5-inc1
reprob = 0.25
[train]
epochs = 2
batch_size = 20
threads = 2
model_ema = true
model_ema_decay = 0.9
INI
} >"$WORK/folder.ini"
cd "$WORK"
echo "not an image" >imgs/train/class3/notes.txt

# 1. training: the header names the classes, what was skipped and the transforms; EMA reported beside the model
expect 0 'images: 10 classes \(class0, \.\.\., class9\) from .*imgs/train, 1 other files skipped' -- "$TV" train --config folder.ini --output runs/f1
out=$(timeout 300 "$TV" train --config folder.ini --output runs/f2 --workers 1 --epochs 1 2>&1)
grep -qE 'ema top1 [0-9.]+%' <<<"$out" || fail "no EMA accuracy in the epoch line: $out"
grep -qE 'RandomResizedCrop 24 random, rand-m5-mstd0.5-inc1, erasing 0.25; eval: resize 27 bicubic, center crop 24' <<<"$out" ||
  fail "header does not describe the transforms: $out"
expect 0 '^epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds,ema_eval_loss,ema_eval_top1,ema_eval_top5$' -- head -1 runs/f1/summary.csv

# 2. eval on the folder's val split: per-class accuracy and the confusion matrix (CSV and SVG)
expect 0 'on folder val, 50 images: loss [0-9.]+  top1' -- "$TV" eval --checkpoint runs/f1/best.h5
expect 0 '^class,name,images,correct,top1$' -- head -1 runs/f1/eval_val/per_class.csv
expect 0 '^9,class9,5,[0-5],' -- cat runs/f1/eval_val/per_class.csv
expect 0 '^class0,[0-9]+,[0-9]+' -- cat runs/f1/eval_val/confusion.csv
expect 0 'data-true="9" data-pred="9"' -- cat runs/f1/eval_val/confusion.svg
expect 0 'EMA weights' -- "$TV" eval --checkpoint runs/f1/best.h5 --ema --report ema_report
[ -f ema_report/confusion.svg ] || fail "eval --report did not write ema_report/confusion.svg"

# 3. predict: a folder (recursively, sorted by path) to CSV with class names, a file to logits
expect 0 'top-5 classes of 50 images' -- "$TV" predict --checkpoint runs/f1/best.h5 --input imgs/val --out preds.csv
expect 0 '^path,top1,prob1,top2,prob2,top3,prob3,top4,prob4,top5,prob5$' -- head -1 preds.csv
expect 0 '^imgs/val/class0/[0-9]+\.(png|jpg),class[0-9],0\.[0-9]{6},' -- sed -n 2p preds.csv
n=$(($(wc -l <preds.csv) - 1))
[ "$n" = 50 ] || fail "preds.csv has $n rows, expected 50"
first=$(ls imgs/val/class1 | sort | head -1)
expect 0 'logits \[1, 10\]' -- "$TV" predict --checkpoint runs/f1/best.h5 --ema --input "imgs/val/class1/$first" --out one.npy
expect 0 'wrote ema/model.safetensors' -- "$TV" export --checkpoint runs/f1/best.h5 --ema --out ema/model.safetensors
"$TV" train --config folder.ini --output runs/noema --epochs 1 --model_ema false --crop_pct 0.8 --interpolation bilinear >/dev/null 2>&1 || fail "the run without EMA failed"
# the export's config.json carries the run's eval transform and class names: timm sets up the transform tapevit
# measured with, and predict --init names the classes and predicts what the checkpoint predicts
expect 0 'wrote hub/config.json' -- "$TV" export --checkpoint runs/noema/last.h5 --out hub/model.safetensors --hub_config
expect 0 '"crop_pct": 0.8,' -- cat hub/config.json
expect 0 '"interpolation": "bilinear",' -- cat hub/config.json
expect 0 '"label_names": \[' -- cat hub/config.json
expect 0 '"class9"' -- cat hub/config.json
expect 0 'top-5 classes of 50 images' -- "$TV" predict --checkpoint runs/noema/last.h5 --input imgs/val --out by_ckpt.csv
expect 0 'top-5 classes of 50 images' -- "$TV" predict --init hub/model.safetensors --input imgs/val --out by_init.csv
cmp -s by_ckpt.csv by_init.csv || fail "predict --init on the export differs from predict --checkpoint: $(diff by_ckpt.csv by_init.csv | head -4)"
expect_no_new_paths 1 'no EMA weights \(/ema\): the run was trained without model_ema' -- "$TV" export --checkpoint runs/noema/last.h5 --ema --out ema2/model.safetensors
expect_no_new_paths 1 'no \.jpg, \.jpeg or \.png file' -- "$TV" predict --checkpoint runs/f1/best.h5 --input runs --out x.csv
expect_no_new_paths 2 'name it \*\.npy' -- "$TV" predict --checkpoint runs/f1/best.h5 --input imgs/val --out x.txt

# 4. a corrupt image: training stops with its name, exit 1, and the last checkpoint of the earlier epoch stays
"$TV" train --config folder.ini --output runs/f3 --epochs 1 >/dev/null 2>&1 || fail "the clean run failed"
cp runs/f3/last.h5 f3.before
cp "$FIXTURES/truncated.jpg" imgs/train/class4/zz_broken.jpg
expect_no_new_paths 1 "image '.*imgs/train/class4/zz_broken.jpg': JPEG: the data ends before the image does" -- "$TV" train --config folder.ini --resume runs/f3/last.h5 --epochs 2
cmp -s runs/f3/last.h5 f3.before || fail "a failed epoch changed last.h5"
expect_no_new_paths 1 "image '.*imgs/train/class4/zz_broken.jpg': JPEG: the data ends before the image does" -- "$TV" train --config folder.ini --output runs/f4 --cache true
rm imgs/train/class4/zz_broken.jpg

# 5. bad folders: named
mkdir -p imgs/train/class10
expect_no_new_paths 1 "class folder '.*imgs/train/class10' has no image" -- "$TV" train --config folder.ini --output runs/bad1
rmdir imgs/train/class10
expect_no_new_paths 1 "split folder '.*imgs/holdout' does not exist \(key 'val_split'\)" -- "$TV" train --config folder.ini --val_split holdout --output runs/bad2
expect_no_new_paths 1 "data_dir '.*nowhere' is not a folder" -- "$TV" train --config folder.ini --data_dir nowhere --output runs/bad3
expect_no_new_paths 1 "key 'crop_pad' applies to in-memory data sets" -- "$TV" train --config folder.ini --crop_pad 4 --output runs/bad4
expect_no_new_paths 1 "key 'aa' = 'augmix-m5': only RandAugment" -- "$TV" train --config folder.ini --aa augmix-m5 --output runs/bad5
expect_no_new_paths 1 "key 'train_interpolation' must be one of" -- "$TV" train --config folder.ini --train-interpolation cubic --output runs/bad6
expect_no_new_paths 1 "dataset 'folder' has 10 classes but num_classes = 5" -- "$TV" train --config folder.ini --num_classes 5 --output runs/bad7

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all folder CLI checks passed"
