#!/usr/bin/env bash
# tests/cli_predict_test.sh: your own photos, the second hour (issue 32, points 6, 8, 9 and the smaller ones) on the
# `tapevit` binary: predict on a folder with a truncated JPEG (an error naming it and --skip_bad, which lists what
# it skips), the CSV on standard output (--out -), top-k with fewer than 5 classes, a 3-channel export fine-tuned
# with --in_chans 1 (mean/std averaged as timm's loader does), a run from an export named after its architecture,
# a preset's note listing only the keys it changes, a file beside the class folders, and what `info` says of an
# export's presets.
#   tests/cli_predict_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start predict "$1" "$2"
FIXTURES=$(dirname "$(realpath "$0")")/fixtures/images
cd "$WORK"

# a 4-class folder of RGB images (PNG and JPEG), and a small 3-channel model trained on it for an epoch
"$MAKE_DATA" --folder imgs 80 20
for s in train val; do rm -r imgs/$s/class[4-9]; done
{
  folder_config "imgs" 4
  cat <<INI
[train]
epochs = 1
batch_size = 16
threads = 2
INI
} >rgb.ini
first_image() { ls "$1"/* | head -1; }  # the first image of a class folder (a .png or a .jpg)
f=$(first_image imgs/val/class2)
cp "$f" "imgs/train/stray.${f##*.}"  # an image beside the class folders: in no class

# 1. the start-up line says why the stray image was skipped: its place, not its type
out=$(timeout 300 "$TV" train --config rgb.ini --output runs/rgb 2>&1) || fail "training the RGB run failed: $out"
grep -qE 'from imgs/train, 1 file beside the class folders skipped \(in no class folder\);' <<<"$out" ||
  fail "the start-up line does not say the stray image is beside the class folders: $(grep images: <<<"$out")"
grep -q 'not .jpg' <<<"$out" && fail "the stray image (a .png) is counted as not .jpg/.jpeg/.png: $(grep images: <<<"$out")"

# 2. predict on a folder with a truncated JPEG: an error naming the file and the way on, nothing written ...
mkdir new
cp imgs/val/class0/0.png new/a.png
cp "$FIXTURES/truncated.jpg" new/b.jpg
f=$(first_image imgs/val/class1)
cp "$f" "new/c.${f##*.}"
expect_no_new_paths 1 "image 'new/b.jpg': JPEG: the data ends before the image does.*; --skip_bad leaves out the files that cannot be read or decoded" -- "$TV" predict --checkpoint runs/rgb/best.h5 --input new --out preds.csv
# ... and the advice, followed: the bad file listed with why, the count at the end, the others predicted
expect 0 "skipped image 'new/b.jpg': JPEG: the data ends before the image does" -- "$TV" predict --checkpoint runs/rgb/best.h5 --input new --out preds.csv --skip_bad
expect 0 '^wrote preds.csv: top-4 classes of 2 images; 1 file skipped \(listed above\)$' -- "$TV" predict --checkpoint runs/rgb/best.h5 --input new --out preds.csv --skip_bad
# the rows are those of the good files predicted without the bad one (the batch that failed is redone whole)
mkdir good && cp new/a.png new/c.* good/
"$TV" predict --checkpoint runs/rgb/best.h5 --input good --out good.csv >/dev/null 2>&1 || fail "predict on the good files failed"
diff <(sed 's|^[^,]*/||' preds.csv) <(sed 's|^[^,]*/||' good.csv) >/dev/null ||
  fail "skipping changed the other files' predictions: $(diff preds.csv good.csv | head -4)"
# several bad files, in different batches (batch 1): each listed, the count at the end
cp "$FIXTURES/truncated.png" new/d.png
cp "$FIXTURES/not_image.jpg" new/e.jpg
expect 0 '3 files skipped \(listed above\)' -- "$TV" predict --checkpoint runs/rgb/best.h5 --input new --out preds3.csv --skip_bad --batch_size 1
n=$(($(wc -l <preds3.csv) - 1))
[ "$n" = 2 ] || fail "with 3 of 5 files bad, preds3.csv has $n rows, expected 2"
# nothing left to predict: an error, after the list
mkdir all_bad && cp "$FIXTURES/truncated.jpg" all_bad/
expect_no_new_paths 1 "^tapevit predict: error: --input all_bad: no image could be read or decoded \(1 skipped, listed above\)" -- "$TV" predict --checkpoint runs/rgb/best.h5 --input all_bad --out all.csv --skip_bad
expect 1 "^skipped image 'all_bad/truncated.jpg': JPEG: the data ends" -- "$TV" predict --checkpoint runs/rgb/best.h5 --input all_bad --out all.csv --skip_bad
expect_no_new_paths 2 'skip_bad applies to image files and folders' -- "$TV" predict --checkpoint runs/rgb/best.h5 --input x.npy --out x.npy --skip_bad
rm new/d.png new/e.jpg

# 3. --out -: the CSV on standard output, alone (notes and the summary on standard error), as the file would be
"$TV" predict --checkpoint runs/rgb/best.h5 --input new --out - --skip_bad >stdout.csv 2>stderr.txt || fail "predict --out - failed: $(cat stderr.txt)"
cmp -s stdout.csv preds.csv || fail "predict --out - printed another table than --out preds.csv: $(diff stdout.csv preds.csv | head -4)"
expect 0 '^path,top1,prob1,top2,prob2,top3,prob3,top4,prob4$' -- head -1 stdout.csv
# every row: a path, then 4 (class, probability) pairs, classes distinct, probabilities descending and summing to 1
awk -F, 'NR > 1 { if (NF != 9) bad = bad " fields:" NF; s = 0; seen = "";
                  for (i = 2; i < 9; i += 2) { p = $(i + 1); s += p; if (i > 2 && p > prev + 1e-9) bad = bad " order";
                    prev = p; if (index(seen, "|" $i "|")) bad = bad " repeated:" $i; seen = seen "|" $i "|" }
                  if (s < 0.99999 || s > 1.00001) bad = bad " sum:" s; rows++ }
     END { if (rows != 2) bad = bad " rows:" rows; print (bad == "" ? "ok" : "bad" bad) }' stdout.csv >check.txt
expect 0 '^ok$' -- cat check.txt
expect 0 'predicted top-4 classes of 2 images; 1 file skipped' -- cat stderr.txt
grep -qvE '^(path,|new/)' stdout.csv && fail "standard output holds more than the table: $(grep -vE '^(path,|new/)' stdout.csv | head -3)"
# an ignored timm flag's note goes to standard error too
"$TV" predict --checkpoint runs/rgb/best.h5 --input new/a.png --out - --pin-mem >stdout1.csv 2>/dev/null || fail "predict --out - --pin-mem failed"
expect 0 '^2$' -- sed -n '$=' stdout1.csv

# 4. top-k says k: 4 classes, one image
expect 0 '^wrote one.csv: top-4 classes of 1 image$' -- "$TV" predict --checkpoint runs/rgb/best.h5 --input new/a.png --out one.csv

# 5. a 3-channel export fine-tuned with --in_chans 1: config.json's mean/std averaged as timm's loader does
"$TV" export --checkpoint runs/rgb/best.h5 --out export/model.safetensors --hub_config >/dev/null || fail "export failed"
expect 0 '"mean": \[' -- cat export/config.json
out=$(timeout 300 "$TV" train --init export/model.safetensors --in_chans 1 --dataset folder --data_dir imgs --epochs 1 --batch_size 16 --threads 2 --output runs/grey 2>&1)
[ $? = 0 ] || fail "train --init export/model.safetensors --in_chans 1 failed: $out"
# (0.485 + 0.456 + 0.406) / 3 = 0.449, (0.229 + 0.224 + 0.225) / 3 = 0.226: timm's adapt_to_chs
grep -qE 'note: mean = 0.485, 0.456, 0.406 \(export/config.json\) is for 3 channels; in_chans = 1 \(command line\): mean = 0.44(9|89999+[0-9]*), their average' <<<"$out" ||
  fail "no note of the averaged mean: $out"
grep -qE '1 adapted' <<<"$out" || fail "patch_embed.proj.weight not adapted to 1 channel: $(grep 'weights from' <<<"$out")"
expect 0 '^mean = 0.44(9|89999+[0-9]*)$' -- cat runs/grey/config.ini
expect 0 '^std = 0.226(0000+[0-9]*)?$' -- cat runs/grey/config.ini
expect 0 '^in_chans = 1$' -- cat runs/grey/config.ini
# the mean given for 3 channels on the same command line as in_chans 1 is an error that says what fits
expect_no_new_paths 1 "key 'mean' has 3 values, expected 1 \(in_chans is 1\)$" -- "$TV" train --init export/model.safetensors --in_chans 1 --mean 0.5 0.5 0.5 --dataset folder --data_dir imgs --output runs/bad_mean

# 6. a run from an export's config.json is named after the export's architecture, and reads back on resume
out=$(timeout 300 "$TV" train --init export/model.safetensors --dataset folder --data_dir imgs --epochs 1 --batch_size 16 --threads 2 --output runs/from_export 2>&1)
grep -q '^tapevit train: vit_custom_patch8_24: embed_dim 32, depth 2' <<<"$out" || fail "the run is not named after export/config.json's architecture: $(grep '^tapevit train:' <<<"$out")"
expect 0 '^model = vit_custom_patch8_24$' -- cat runs/from_export/config.ini
expect 0 'epoch 2/2' -- "$TV" train --resume runs/from_export/last.h5 --epochs 2

# 7. a preset over config.json names only the values it changes (mlp_ratio 4.0 and in_chans 3 are vit_cifar's)
out=$(timeout 300 "$TV" predict --init export/model.safetensors --model vit_cifar --input new --out x.csv 2>&1)
grep -qE 'note: model = vit_cifar \(command line\) replaces img_size = 24, patch_size = 8, num_classes = 4, embed_dim = 32, depth = 2, num_heads = 2, global_pool = avg from export/config.json; give them after it to keep them' <<<"$out" ||
  fail "the note of what --model vit_cifar replaces: $(grep replaces <<<"$out")"
grep -qE 'mlp_ratio|in_chans = 3' <<<"$(grep replaces <<<"$out")" && fail "the note lists values vit_cifar does not change: $(grep replaces <<<"$out")"

# 8. info on an export: the presets of its shape, and apart those of other images or classes (timm's rules adapt them)
"$TV" train --dataset folder --data_dir imgs --num_classes 4 --epochs 1 --batch_size 16 --threads 2 --output runs/default >/dev/null 2>&1 || fail "the default model on the folder failed"
"$TV" export --checkpoint runs/default/last.h5 --out default/model.safetensors >/dev/null || fail "export of runs/default failed"
expect 0 '^  presets of that shape: none \(set the keys above\)$' -- "$TV" info default/model.safetensors
expect 0 '^  presets of that shape for other images or classes \(--init adapts the weights to them: .*\): vit_fmnist_tiny_avg \(num_heads 2; num_classes 10\)$' -- "$TV" info default/model.safetensors

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all predict CLI checks passed"
