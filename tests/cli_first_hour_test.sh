#!/usr/bin/env bash
# tests/cli_first_hour_test.sh: what a timm user meets in the first hour, end to end on the `tapevit` binary:
# resume never writes into another run's directory, a moved run resumes where it is, a finished run is left alone,
# the model asked for is the model built, timm's flags work (or say what to do instead), the live display fits
# 70/80/160-column terminals, `info` on a run directory and a safetensors file, export's names.
# Every command expected to fail is checked to leave the work directory as it found it (expect_no_new_paths).
#   tests/cli_first_hour_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
README=$(dirname "$(realpath "$0")")/../README.md
TV=$(realpath "$1")
MAKE_DATA=$(realpath "$2")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tapevit_first_hour.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
source "$(dirname "$(realpath "$0")")/cli_lib.sh"

# same_files DIR COPY: every run file of DIR is byte-identical to the one in COPY
same_files() {
  for f in last.h5 best.h5 summary.csv config.ini; do
    cmp -s "$1/$f" "$2/$f" || fail "$1/$f changed"
  done
}

"$MAKE_DATA" "$WORK/data" 640 160
tiny_config "$WORK/data" 2 >"$WORK/tiny.ini"
cd "$WORK"
expect 0 'done: 2 epochs' -- "$TV" train --config tiny.ini --output runs/r1
expect 0 'done: 1 epochs' -- "$TV" train --config tiny.ini --output runs/r3 --seed 3 --epochs 1
cp -r runs/r1 r1.before
cp -r runs/r3 r3.before

# 1. a resume into another run's directory is refused, and that run's files stay as they were
expect_no_new_paths 1 'runs/r1 holds another run \(its last.h5: seed 42, step 20, epoch 2.*pass --force' -- "$TV" train --resume runs/r3/last.h5 --epochs 3 --output runs/r1
same_files runs/r1 r1.before
same_files runs/r3 r3.before
# ... and a resume from an older checkpoint of the same run over a later last.h5 too
cp runs/r3/last.h5 r3_epoch1.h5
expect 0 'done: 2 epochs' -- "$TV" train --resume runs/r3/last.h5 --epochs 2
cp -r runs/r3 r3.epoch2
expect_no_new_paths 1 'runs/r3/last.h5 is at step 20, further than r3_epoch1.h5 \(step 10\)' -- "$TV" train --resume r3_epoch1.h5 --epochs 3 --output runs/r3
same_files runs/r3 r3.epoch2
# ... unless --force
expect 0 'done: 3 epochs' -- "$TV" train --resume r3_epoch1.h5 --epochs 3 --output runs/r3 --force

# 2. a moved run resumes where it is now, not where it was first written
cp -r runs/r1 runs/r1moved
cp -r runs/r1 r1.unmoved
expect 0 'run directory: runs/r1moved \(resumed from runs/r1moved/last.h5\)' -- "$TV" train --resume runs/r1moved/last.h5 --epochs 3
expect 0 '^3,' -- tail -1 runs/r1moved/summary.csv
same_files runs/r1 r1.unmoved

# 4. --init with --resume is refused; resuming a finished run changes nothing
expect_no_new_paths 2 'init starts a new run from weights and --resume continues a run' -- "$TV" train --resume runs/r1/last.h5 --init runs/r3/last.h5
expect 0 'already complete \(2 of 2 epochs\); pass --epochs N \(N > 2\) to extend it. Nothing was changed' -- "$TV" train --resume runs/r1/last.h5
same_files runs/r1 r1.before

# 3. a preset on the command line wins over a config file's architecture keys, and the run says so
"$TV" train --config tiny.ini --model vit_fmnist_small --epochs 1 --train_per_class 8 --output runs/small >small.log 2>&1
expect 0 'note: model = vit_fmnist_small \(command line\) replaces patch_size = 7, embed_dim = 32, depth = 2, num_heads = 2, mlp_ratio = 2 from tiny.ini' -- cat small.log
expect 0 '^tapevit train: vit_fmnist_small: embed_dim 96, depth 6, num_heads 3, patch 4, mlp 384, 28x28x1 -> 10 classes, [0-9]+ parameters$' -- cat small.log
expect 0 '^embed_dim = 96$' -- cat runs/small/config.ini
# ... keys given after the preset on the command line still apply, and the header names what changed
expect 0 'vit_fmnist_small: embed_dim 48, depth 6, num_heads 3, .*\(changed from the preset: embed_dim 96 -> 48\)' -- "$TV" train --config tiny.ini --model vit_fmnist_small --embed_dim 48 --epochs 1 --train_per_class 8 --output runs/small48

# 5. timm's spellings: dashed flags, -b, and in config files
printf '[train]\nbatch-size = 32\n[optim]\nwarmup-epochs = 0\n' >timm.ini
expect 0 'done: 1 epochs, 20 steps' -- "$TV" train --config tiny.ini --config timm.ini --epochs 1 --output runs/timm_ini
expect 0 '^batch_size = 32$' -- cat runs/timm_ini/config.ini
expect 0 'done: 1 epochs, 40 steps' -- "$TV" train --config tiny.ini --batch-size 16 --warmup-epochs=0 --drop-path 0.1 --epochs 1 --output runs/timm_cli
expect 0 '^drop_path = 0.1$' -- cat runs/timm_cli/config.ini
expect 0 'done: 1 epochs, 40 steps' -- "$TV" train --config tiny.ini -b 16 --epochs 1 --output runs/timm_b
expect 0 'note: --pin-mem \(timm.s\) has no effect' -- "$TV" train --config tiny.ini --workers 2 --pin-mem --scale 0.5 1 --epochs 1 --output runs/timm_workers
expect 0 '^workers = 2$' -- cat runs/timm_workers/config.ini
expect 0 '^scale = 0.5, ?1$' -- cat runs/timm_workers/config.ini

# 6. timm flags tapevit does not have: a specific answer, not a far-off guess
expect_no_new_paths 2 "'model-ema-warmup' \(timm's --model-ema-warmup\) is not supported: the EMA decay is constant" -- "$TV" train --model-ema-warmup
expect_no_new_paths 2 "'experiment' \(timm's --experiment\) is not supported: name the run directory: --output runs/NAME" -- "$TV" train --experiment foo
expect_no_new_paths 2 "'pretrained' \(timm's --pretrained\) is not supported: give the weights as a file: --init" -- "$TV" train --pretrained
expect_no_new_paths 2 "'crop-mode' \(timm's --crop-mode\) is not supported" -- "$TV" train --crop-mode squash
printf '[train]\nmodel-ema-warmup = true\n' >warmup.ini
expect_no_new_paths 1 "warmup.ini: 'model-ema-warmup' \(timm's --model-ema-warmup\) is not supported" -- "$TV" train --config warmup.ini
out=$("$TV" train --frobnicate 2>&1)
grep -q "did you mean" <<<"$out" && fail "an unrelated flag got a suggestion: $out"
expect 0 '\| `--batch-size` \| `batch_size` \|' -- "$TV" train --timm_flags
expect 0 'vit_fmnist_tiny +28 +4 +1 +10 +64 +4 +2' -- "$TV" train --list_models
# the README's table is the command's
while IFS= read -r row; do grep -qxF -- "$row" "$README" || fail "README lacks the timm flag row: $row"; done < <("$TV" train --timm_flags)

# 8. the live display fits the terminal: every redraw of the line at most COLUMNS-1 characters
for cols in 70 80 160; do
  script -qfec "stty cols $cols rows 30; $TV train --config tiny.ini --epochs 2 --output runs/tty$cols" /dev/null >tty$cols.raw 2>&1
  grep -q "done: 2 epochs" tty$cols.raw || fail "no run at $cols columns: $(tail -3 tty$cols.raw)"
  # the text between carriage returns / newlines, escape sequences removed
  longest=$(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' tty$cols.raw | tr '\r' '\n' | grep -v '^tapevit train:\|^data:\|^run directory:\|^epoch [0-9]*/[0-9]*  train_loss\|^done:' | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
  if [ "$longest" -gt $((cols - 1)) ]; then fail "a progress line of $longest characters at $cols columns"; else echo "ok:   progress lines fit $cols columns (longest $longest)"; fi
  lines=$(tr -cd '\n' <tty$cols.raw | wc -c)
  [ "$lines" -le 8 ] || fail "$lines lines at $cols columns (a line per step?)"
  grep -q "eval \[" tty$cols.raw || fail "no evaluation progress at $cols columns"
done
script -qfec "stty cols 70 rows 30; $TV eval --checkpoint runs/r1/last.h5" /dev/null >eval70.raw 2>&1
grep -q "eval \[" eval70.raw || fail "tapevit eval shows no progress on a terminal"
grep -q "top1" eval70.raw || fail "tapevit eval printed no result: $(cat eval70.raw)"
# errors start on their own line, with no blank line before them when no bar is active
out=$("$TV" train --config tiny.ini --lr -1 2>&1)
[ "$(head -c 8 <<<"$out")" = "tapevit " ] || fail "an error does not start its output: '$out'"
grep -q "^tapevit train: error: .*key 'lr' must be positive, got -1$" <<<"$out" || fail "not the lr error: '$out'"

# 9. messages a user can act on
"$MAKE_DATA" --cifar cifar 20
expect_no_new_paths 1 "set in_chans = 3, img_size = 32, or model = vit_cifar" -- "$TV" train --dataset cifar10 --data_dir cifar --output runs/c
expect_no_new_paths 1 "batch_size 128 is larger than the 'cifar10' training set \(100 samples\)" -- "$TV" train --model vit_cifar --dataset cifar10 --data_dir cifar --batch_size 128 --output runs/c
printf 'PK\003\004 not weights' >weights.pth
expect_no_new_paths 1 "weights.pth: not a safetensors file" -- "$TV" train --config tiny.ini --init weights.pth --output runs/w

# 10. info on a run directory and on a safetensors file
expect 0 'runs/r1: a tapevit run' -- "$TV" info runs/r1
expect 0 'best: epoch [12], eval top1' -- "$TV" info runs/r1
expect 0 'resume: tapevit train --resume runs/r1/last.h5' -- "$TV" info runs/r1
lines=$("$TV" info runs/r1/last.h5 | wc -l)
[ "$lines" -le 30 ] || fail "info on a checkpoint prints $lines lines"
"$TV" export --checkpoint runs/r1/last.h5 --out hub/model.safetensors --hub_config >/dev/null || fail "export"
expect 0 'fits a ViT with embed_dim 32, depth 2, patch_size 7, in_chans 1, mlp hidden 64' -- "$TV" info hub/model.safetensors
expect 0 '32 tensors' -- "$TV" info hub/model.safetensors

# 7. --init reads the config.json beside the weights: no architecture keys needed
expect 0 'note: the architecture, mean/std and img_size come from hub/config.json' -- "$TV" train --init hub/model.safetensors --dataset mnist --data_dir data --epochs 1 --threads 2 --output runs/from_hub
expect 0 '^embed_dim = 32$' -- cat runs/from_hub/config.ini
expect_no_new_paths 1 'set embed_dim = 32 \(and num_heads as the weights were trained: it is not in them; now 2\)' -- "$TV" train --config tiny.ini --init hub/model.safetensors --embed_dim 48 --output runs/bad_hub
# ... and without config.json the weights decide the architecture (timm's VisionTransformer defaults for the rest,
# not tapevit's preset): only num_heads is needed
mkdir -p bare && cp hub/model.safetensors bare/
expect_no_new_paths 1 'bare/model.safetensors: num_heads is not in the weights and no config.json is beside them' -- "$TV" train --init bare/model.safetensors --dataset mnist --data_dir data --output runs/from_bare
expect 0 "bare/model.safetensors has no config.json beside it: the model is timm's VisionTransformer defaults with what the weights decide \\(img_size 28, patch_size 7, in_chans 1, num_classes 10, embed_dim 32, depth 2, mlp_ratio 2, qkv_bias true, init_values 0, global_pool avg" -- "$TV" train --init bare/model.safetensors --num_heads 2 --dataset mnist --data_dir data --epochs 1 --threads 2 --output runs/from_bare
expect 0 '^global_pool = avg$' -- cat runs/from_bare/config.ini
expect 0 '^model = vit_custom_bare$' -- cat runs/from_bare/config.ini  # named after bare/model.safetensors' folder

# 12. export's names; provenance in config.ini and the checkpoint
expect_no_new_paths 2 'name the file \*.safetensors' -- "$TV" export --checkpoint runs/r1/last.h5 --out model.bin
expect 0 'wrote new/sub/dir/m.safetensors' -- "$TV" export --checkpoint runs/r1/last.h5 --out new/sub/dir/m.safetensors
expect 0 '"architecture": "vit_custom_patch7_28"' -- cat hub/config.json
expect 0 '^# tapevit [0-9.]+ \(commit [0-9a-f]+(-dirty)?|unknown\), run [0-9a-f]{16} started' -- head -1 runs/r1/config.ini
expect 0 '^# command: tapevit train --config tiny.ini --output runs/r1$' -- cat runs/r1/config.ini

# 13. the eval split: a held-out part of train, and subsets evaluate a part of the test split
expect 0 'data: mnist 5[01][0-9] train / 1[23][0-9] eval \(held out of train \(val_fraction 0.2\)\)' -- "$TV" train --config tiny.ini --val_fraction 0.2 --epochs 1 --output runs/val
expect 0 'data: mnist 50 train / 50 eval \(test split, first 5 per class' -- "$TV" train --config tiny.ini --train_per_class 5 --val_per_class 5 --batch_size 10 --epochs 1 --output runs/few

# review fixes: a config file given again on resume keeps the run's architecture; a stray argument is an error; a
# fork (a resume written elsewhere) is a run of its own, so its origin resuming into it later is refused
printf '[model]\nmodel = vit_fmnist_tiny\npatch_size = 7\n[data]\ndataset = mnist\ndata_dir = data\n[train]\nepochs = 1\nbatch_size = 64\nthreads = 2\n' >preset.ini
expect 0 'done: 1 epochs' -- "$TV" train --config preset.ini --depth 1 --output runs/d1
expect 0 'done: 2 epochs' -- "$TV" train --config preset.ini --resume runs/d1/last.h5 --epochs 2
expect_no_new_paths 2 "unexpected argument 'tiny.ini' \(did you mean --config tiny.ini\?\)" -- "$TV" train tiny.ini
expect 0 'done: 4 epochs' -- "$TV" train --resume runs/r3/last.h5 --epochs 4 --output runs/r3fork
expect 0 'done: 5 epochs' -- "$TV" train --resume runs/r3/last.h5 --epochs 5
expect_no_new_paths 1 'runs/r3fork holds another run' -- "$TV" train --resume runs/r3/last.h5 --epochs 6 --output runs/r3fork
expect 0 'done: 1 epochs, 40 steps' -- "$TV" train --config tiny.ini -b16 --epochs 1 --output runs/timm_b16

# 14. the built-in defaults are the default config's
"$TV" train --help >help.txt
grep -qE -- '--model VALUE .*\(default: vit_fmnist_tiny_avg\)' help.txt || fail "train --help: the default model is not vit_fmnist_tiny_avg"
grep -qE -- '--epochs VALUE .*\(default: 26\)' help.txt || fail "train --help: the default epochs is not 26 (configs/fmnist.ini)"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all first-hour checks passed"
