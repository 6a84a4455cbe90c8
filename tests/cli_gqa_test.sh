#!/bin/bash
# tests/cli_gqa_test.sh TAPEVIT MAKE_FAKE_DATA: grouped-query attention from the command line (issue 29): the
# num_kv_heads key is checked against num_heads before anything is written, a GQA model trains, resumes and evaluates,
# its checkpoint holds the fused qkv of (num_heads + 2 num_kv_heads) D rows, and export says timm cannot build it while
# writing what tapevit reads back, by the advice the note gives, followed as written.
set -u
. "$(dirname "$(realpath "$0")")/cli_lib.sh"
cli_start gqa "$1" "$2"
cd "$WORK" || exit 1
"$MAKE_DATA" data >/dev/null || { echo "FAIL: make_fake_data"; exit 1; }
# tiny_config's model with 4 query heads of D 8 on 1 key/value head (multi-query)
tiny_config "$WORK/data" 1 | sed 's/^num_heads = 2$/num_heads = 4\nnum_kv_heads = 1/' > mqa.ini
grep -q '^num_kv_heads = 1$' mqa.ini || fail "mqa.ini has no num_kv_heads line"

echo "== 1. bad values: one error naming both keys, nothing written"
expect_no_new_paths 1 "num_heads 4 is not divisible by num_kv_heads 3" -- "$TV" train --config mqa.ini --num_kv_heads 3 --output runs/bad
expect_no_new_paths 1 "num_kv_heads' must be >= 0" -- "$TV" train --config mqa.ini --num_kv_heads -1 --output runs/bad
expect 0 "--num_kv_heads VALUE" -- "$TV" train --help

echo "== 2. train, resume, eval; the checkpoint's qkv is ((4 + 2) 8, 32)"
expect 0 "epoch 1" -- "$TV" train --config mqa.ini --output runs/mqa
grep -q '^num_kv_heads = 1' runs/mqa/config.ini || fail "runs/mqa/config.ini does not record num_kv_heads = 1"
expect 0 "blocks.0.attn.qkv.weight +\[48, 32\]" -- "$TV" info runs/mqa/last.h5 --tensors
expect 0 "epoch 2" -- "$TV" train --resume runs/mqa/last.h5 --epochs 2
expect 0 "top1 [0-9.]+%" -- "$TV" eval --checkpoint runs/mqa/last.h5

echo "== 3. export: timm cannot build it (said), tapevit reads it back as the note says"
expect 0 "note: num_kv_heads 1 \(grouped-query attention\): timm's VisionTransformer has no such argument, so timm cannot build this model: its blocks.\*.attn.qkv.weight would be \[96, 32\], these are \[48, 32\]" -- \
  "$TV" export --checkpoint runs/mqa/last.h5 --out hub/model.safetensors --hub_config
grep -q '"num_kv_heads": 1' hub/config.json || fail "hub/config.json has no num_kv_heads in model_args"
if grep -q 'timm.create_model' <("$TV" export --checkpoint runs/mqa/last.h5 --out hub2/model.safetensors --hub_config 2>&1); then
  fail "export of a GQA model advises timm.create_model, which cannot build it"
fi
# the advice, as written: --init FILE (config.json beside it gives num_kv_heads)
advice=$("$TV" export --checkpoint runs/mqa/last.h5 --out hub/model.safetensors --hub_config | sed -n 's/.*tapevit reads them back: \(--init [^ ]*\) (config.json.*/\1/p')
[ "$advice" = "--init hub/model.safetensors" ] || fail "export --hub_config advice: got '$advice'"
expect 0 "epoch 1" -- "$TV" train $advice --dataset mnist --data_dir "$WORK/data" --epochs 1 --batch_size 64 --threads 2 --output runs/from_hub
grep -q '^num_kv_heads = 1' runs/from_hub/config.ini || fail "a run from the export lost num_kv_heads"
# without config.json: the note names the key to give; the qkv rows, (4 + 2 num_kv_heads) 8 = 48, tell num_kv_heads
advice=$("$TV" export --checkpoint runs/mqa/last.h5 --out bare/w.safetensors | sed -n 's/.*tapevit reads them back: \(.*\) (the qkv rows then give num_kv_heads 1)$/\1/p')
[ "$advice" = "--init bare/w.safetensors --num_heads 4" ] || fail "export advice: got '$advice'"
expect 0 "qkv rows 48 \(not 3 x embed_dim: grouped-query attention" -- "$TV" info bare/w.safetensors
# a num_kv_heads the weights do not have: the misfit names the qkv rows and the value to set, which then works
bad=("$TV" train --init bare/w.safetensors --num_heads 4 --num_kv_heads 2 --dataset mnist --data_dir "$WORK/data" --epochs 1 --batch_size 64 --threads 2 --output runs/kv)
expect_no_new_paths 1 "attention's qkv rows \(\(num_heads \+ 2 num_kv_heads\) head_dim\): the file has 48 \(blocks.0.attn.qkv.weight\), the config builds 64 \(num_heads 4, num_kv_heads 2\)" -- "${bad[@]}"
expect_no_new_paths 1 "^  set num_kv_heads = 1 \(and num_heads as the weights were trained" -- "${bad[@]}"
expect 0 "epoch 1" -- "$TV" train --init bare/w.safetensors --num_heads 4 --num_kv_heads 1 --dataset mnist --data_dir "$WORK/data" --epochs 1 --batch_size 64 --threads 2 --output runs/kv
expect 0 "num_kv_heads 1 \(blocks.0.attn.qkv.weight \[48, 32\] with num_heads 4\)" -- "$TV" train $advice --dataset mnist --data_dir "$WORK/data" --epochs 1 --batch_size 64 --threads 2 --output runs/from_bare
grep -q '^num_kv_heads = 1' runs/from_bare/config.ini || fail "a run from the bare export lost num_kv_heads"
expect 0 "blocks.1.attn.qkv.weight +\[48, 32\]" -- "$TV" info runs/from_bare/last.h5 --tensors
# a multi-head model's export says nothing of it
tiny_config "$WORK/data" 1 > mha.ini
expect 0 "epoch 1" -- "$TV" train --config mha.ini --output runs/mha
if "$TV" export --checkpoint runs/mha/last.h5 --out mha/model.safetensors --hub_config | grep -q num_kv_heads; then
  fail "a multi-head export mentions num_kv_heads"
fi
grep -q num_kv_heads mha/config.json && fail "a multi-head export writes num_kv_heads in model_args"

[ "$failures" = 0 ] && echo "all passed" || { echo "$failures failure(s)"; exit 1; }
