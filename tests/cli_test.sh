#!/usr/bin/env bash
# tests/cli_test.sh: the `tapevit` command as a user runs it: config file + command-line overrides, --help,
# bad keys and values (one clear message, non-zero exit), train -> info -> eval -> resume, and nothing on
# disk written or overwritten by a failed command (each failure below is checked to leave the work directory as it
# was: a start that fails leaves no run directory and no lock file).
#   tests/cli_test.sh TAPEVIT_BINARY MAKE_FAKE_DATA_BINARY
set -uo pipefail
source "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start cli "$1" "$2"
cd "$WORK"  # (a run without --output writes runs/<date>-<model> here)

"$MAKE_DATA" "$WORK/data" 640 160
tiny_config "$WORK/data" 5 >"$WORK/tiny.ini"
# a truncated IDX file: the data set as make_fake_data wrote it, its training images cut short
mkdir "$WORK/cut" && cp "$WORK"/data/* "$WORK/cut/" && truncate -s 3000 "$WORK/cut/train-images-idx3-ubyte"

# help lists every key with its default
expect 0 '--embed_dim VALUE +embedding dim C \(default: 64\)' -- "$TV" train --help
expect 0 '--opt_betas VALUE .*\(default: 0.9, 0.999\)' -- "$TV" train --help
expect_no_new_paths 2 'usage: tapevit' -- "$TV"
expect_no_new_paths 2 "unknown command 'trian'" -- "$TV" trian

# bad keys and values: one message naming the key (and the file), non-zero exit
expect_no_new_paths 2 "unknown option '--embed_dmi'; did you mean 'embed_dim'" -- "$TV" train --embed_dmi 64
expect_no_new_paths 1 "command line: key 'lr': expected a number, got 'fast'" -- "$TV" train --lr fast
expect_no_new_paths 1 "embed_dim 101 is not divisible by num_heads 2" -- "$TV" train --embed_dim 101
expect_no_new_paths 1 "img_size 28 is smaller than patch_size 30" -- "$TV" train --patch_size 30
expect_no_new_paths 1 "key 'lr' must be positive, got -0.1" -- "$TV" train --lr -0.1
expect_no_new_paths 1 "key 'model': unknown preset 'vit_huge'" -- "$TV" train --model vit_huge
printf '[model]\nembed_dmi = 64\n' >"$WORK/typo.ini"
expect_no_new_paths 1 "typo.ini: unknown key 'embed_dmi'; did you mean 'embed_dim'" -- "$TV" train --config "$WORK/typo.ini"
expect_no_new_paths 1 "nope.ini: cannot open config file" -- "$TV" train --config "$WORK/nope.ini"

# data that cannot be read: an error naming the file, and no run directory (nor its parents, nor a lock file) left,
# whether --output names it or the run picks runs/<date>-<model>
expect_no_new_paths 1 "/nonexistent/train-images-idx3-ubyte\[\.gz\]: not found" -- "$TV" train --config "$WORK/tiny.ini" --data_dir /nonexistent --output "$WORK/never/deeper"
expect_no_new_paths 1 "/nonexistent/train-images-idx3-ubyte\[\.gz\]: not found" -- "$TV" train --config "$WORK/tiny.ini" --data_dir /nonexistent
expect_no_new_paths 1 "cut/train-images-idx3-ubyte: truncated: expected 501760 bytes of pixels after the 16-byte header, found 2984" -- "$TV" train --config "$WORK/tiny.ini" --data_dir "$WORK/cut" --output "$WORK/never"
expect_no_new_paths 1 "cut/train-images-idx3-ubyte: truncated" -- "$TV" train --config "$WORK/tiny.ini" --data_dir "$WORK/cut"
# ... and a run that fails in its first steps, before its first checkpoint, leaves nothing either
expect_no_new_paths 1 "non-finite loss .* No checkpoint was written yet" -- "$TV" train --config "$WORK/tiny.ini" --lr 1e30 --clip_grad 0 --sched constant --warmup_epochs 0 --output "$WORK/never"
# ... into a directory that exists: it stays, holding what it held
mkdir "$WORK/mine" && echo "notes" >"$WORK/mine/notes.txt"
expect_no_new_paths 1 "cut/train-images-idx3-ubyte: truncated" -- "$TV" train --config "$WORK/tiny.ini" --data_dir "$WORK/cut" --output "$WORK/mine"

# config file + command line (the command line wins; a later --config wins over an earlier one); a bare
# boolean flag means true
printf '[train]\nepochs = 1\n' >"$WORK/one_epoch.ini"
expect 0 'done: 2 epochs, 20 steps' -- "$TV" train --config "$WORK/tiny.ini" --config "$WORK/one_epoch.ini" --epochs 2 --no_aug --output "$WORK/run"
expect 0 '^epochs = 2$' -- cat "$WORK/run/config.ini"
expect 0 '^no_aug = true$' -- cat "$WORK/run/config.ini"
expect 0 '^embed_dim = 32$' -- cat "$WORK/run/config.ini"
expect 0 '^epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,seconds$' -- head -1 "$WORK/run/summary.csv"

# info, eval
expect 0 'tapevit checkpoint v1' -- "$TV" info "$WORK/run/last.h5"
expect 0 'blocks.1.mlp.fc2.weight +\[32, 64\] +float32' -- "$TV" info "$WORK/run/last.h5" --tensors
expect 0 'progress: epoch 2 of 2, step 20, complete' -- "$TV" info "$WORK/run/last.h5"
expect 0 'on mnist test, 160 images: loss [0-9.]+  top1 [0-9.]+%' -- "$TV" eval --checkpoint "$WORK/run/last.h5"
expect_no_new_paths 1 'nothing.h5: no such file; .*run holds .*run/best.h5, .*run/last.h5' -- "$TV" eval --checkpoint "$WORK/run/nothing.h5"
expect_no_new_paths 1 'run: is a directory, not a file; .*run holds .*run/best.h5, .*run/last.h5' -- "$TV" train --resume "$WORK/run"
out=$("$TV" eval --checkpoint "$WORK/nothing.h5" 2>&1)
grep -q 'has no digest' <<<"$out" && fail "eval of a missing file notes that it has no digest: $out"
expect 1 'nothing.h5: no such file' -- "$TV" info "$WORK/nothing.h5" --verify

# nothing overwritten: a new run into a used directory is refused; a corrupt checkpoint is refused
cp "$WORK/run/last.h5" "$WORK/last.copy"
expect_no_new_paths 1 'already holds a run \(last.h5, best.h5, summary.csv\); resume it with --resume .*/run/last.h5, choose another --output' -- "$TV" train --config "$WORK/tiny.ini" --output "$WORK/run"
head -c 5000 "$WORK/run/last.h5" >"$WORK/corrupt.h5"
expect_no_new_paths 1 'corrupt.h5: damaged: truncated \(5000 bytes, [0-9]+ when written\)' -- "$TV" train --resume "$WORK/corrupt.h5"
expect_no_new_paths 1 'corrupt.h5: damaged: truncated \(5000 bytes, [0-9]+ when written\)' -- "$TV" eval --checkpoint "$WORK/corrupt.h5"
cmp -s "$WORK/run/last.h5" "$WORK/last.copy" || { echo "FAIL: last.h5 changed"; failures=$((failures + 1)); }
# a resume that fails leaves the run as it was (its config.ini, its lock file): at start (unreadable data, an EMA the
# checkpoint lacks), elsewhere (its fork directory is not left behind), and in its first steps (config.ini, already
# rewritten for the resumed session, gets its bytes back)
expect_no_new_paths 1 "cut/train-images-idx3-ubyte: truncated" -- "$TV" train --resume "$WORK/run/last.h5" --epochs 3 --data_dir "$WORK/cut"
expect_no_new_paths 1 "model_ema = true, but the checkpoint has no EMA weights" -- "$TV" train --resume "$WORK/run/last.h5" --epochs 3 --model_ema true
expect_no_new_paths 1 "cut/train-images-idx3-ubyte: truncated" -- "$TV" train --resume "$WORK/run/last.h5" --epochs 3 --data_dir "$WORK/cut" --output "$WORK/fork"
expect_no_new_paths 1 "non-finite loss .*The last good checkpoint is .*run/last.h5 \(left as it was\)" -- "$TV" train --resume "$WORK/run/last.h5" --epochs 3 --lr 1e30 --clip_grad 0 --sched constant --warmup_epochs 0

# resume to more epochs: continues at epoch 3 with the checkpoint's config
expect 0 'done: 3 epochs, 30 steps' -- "$TV" train --resume "$WORK/run/last.h5" --epochs 3
expect 0 '^3,' -- tail -1 "$WORK/run/summary.csv"

# fine-tuning from weights: a tapevit checkpoint as --init; misfits are refused before anything is written
expect 0 'weights from .*last.h5: 32 loaded, 0 resampled, 0 adapted, 0 re-initialised, 0 missing \(kept init\), 0 ignored' -- "$TV" train --config "$WORK/tiny.ini" --init "$WORK/run/last.h5" --epochs 1 --output "$WORK/ft"
expect 0 '^init = .*last.h5$' -- cat "$WORK/ft/config.ini"
expect_no_new_paths 1 'embed_dim: the file has 32 .*the config says 48' -- "$TV" train --config "$WORK/tiny.ini" --init "$WORK/run/last.h5" --embed_dim 48 --output "$WORK/ft_bad"
expect_no_new_paths 1 'nothing.safetensors: cannot open' -- "$TV" train --config "$WORK/tiny.ini" --init "$WORK/nothing.safetensors" --output "$WORK/ft_bad"

# export to timm safetensors (+ Hub config.json); predict from the checkpoint and from the exported weights gives
# the same logits; bad input is refused
expect 0 'wrote .*model.safetensors: 32 tensors' -- "$TV" export --checkpoint "$WORK/run/last.h5" --out "$WORK/model.safetensors" --hub_config
expect 0 '"architecture": "vit_custom_patch7_28"' -- cat "$WORK/config.json"
expect 0 '"embed_dim": 32' -- cat "$WORK/config.json"
# a uint8 .npy as numpy.save writes it: make_npy SHAPE BYTES FILE
make_npy() {
  local dict="{'descr': '|u1', 'fortran_order': False, 'shape': ($1), }"
  local pad=$((64 - (10 + ${#dict} + 1) % 64))
  { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(((${#dict} + pad + 1) % 256)))\\x00"
    printf '%s%*s\n' "$dict" "$pad" ''; head -c "$2" /dev/urandom; } >"$3"
}
make_npy "2, 28, 28" 1568 "$WORK/images.npy"
make_npy "2, 3, 28, 28" 4704 "$WORK/rgb.npy"
expect 0 'wrote .*a.npy: logits \[2, 10\]' -- "$TV" predict --input "$WORK/images.npy" --out "$WORK/a.npy" --checkpoint "$WORK/run/last.h5"
expect 0 'wrote .*b.npy: logits \[2, 10\]' -- "$TV" predict --input "$WORK/images.npy" --out "$WORK/b.npy" --init "$WORK/model.safetensors" --config "$WORK/tiny.ini"
cmp -s "$WORK/a.npy" "$WORK/b.npy" || { echo "FAIL: predict from the checkpoint and from the export differ"; failures=$((failures + 1)); }
expect_no_new_paths 1 "rgb.npy: images of shape \[2, 3, 28, 28\], expected \[N, 1, 28, 28\]" -- "$TV" predict --input "$WORK/rgb.npy" --out "$WORK/c.npy" --checkpoint "$WORK/run/last.h5"
expect_no_new_paths 2 'exactly one of --checkpoint CKPT and --init WEIGHTS' -- "$TV" predict --input "$WORK/images.npy" --out "$WORK/c.npy"
expect_no_new_paths 1 'tiny.ini: not a .npy file' -- "$TV" predict --input "$WORK/tiny.ini" --out "$WORK/c.npy" --checkpoint "$WORK/run/last.h5"

# top-level help and version; plot from a run's summary.csv
expect 0 'train .*resume a run' -- "$TV" --help
expect_no_new_paths 2 'plot +draw a run' -- "$TV"
expect 0 '^tapevit [0-9]+\.[0-9]+\.[0-9]+' -- "$TV" --version
expect 0 'AVX-512 float GEMM: (on|off)' -- "$TV" --version
[ -s "$WORK/run/curves.svg" ] || { echo "FAIL: the run did not write curves.svg"; failures=$((failures + 1)); }
rm -f "$WORK/run/curves.svg"
expect 0 "wrote $WORK/run/curves.svg \(1 run\)" -- "$TV" plot "$WORK/run"
grep -q '<polyline class="series"' "$WORK/run/curves.svg" || { echo "FAIL: plot drew no lines"; failures=$((failures + 1)); }
expect 0 "wrote $WORK/two.svg \(2 runs\)" -- "$TV" plot "$WORK/run/summary.csv" "$WORK/run/summary.csv" --out "$WORK/two.svg"
expect_no_new_paths 2 'several runs needs --out' -- "$TV" plot "$WORK/run/summary.csv" "$WORK/run/summary.csv"
expect_no_new_paths 2 'needs at least one summary.csv' -- "$TV" plot
expect_no_new_paths 1 "tiny.ini:1: no column 'epoch'" -- "$TV" plot "$WORK/tiny.ini" --out "$WORK/x.svg"

if [ "$failures" -ne 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
