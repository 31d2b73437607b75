#!/usr/bin/env bash
# Issue 3, fifth round, last call (~6 min): the committed tree (positions looked up per token, top-k 2 bits per
# pass) against HEAD's package before them (.whl/pkg_head) on shakespeare_char's baby GPT (batch 64: the batch-minor
# layout could hit it too) and its wall time to the step-STOP eval, one after another on one card; decoding at
# batch 1 and 64 with the tree.
#
#   OUT=out-r5e scripts/gpu_round5e.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
STOP=${STOP:-1750}
setup_env
HEAD=(env -C "$PWD/.whl/pkg_head" PYTHONPATH="$PWD/.whl/pkg_head:$PYTHONPATH")
BABY=(--model=baby --block_size=256 --batch_size=64 --vocab_size=65 --steps=50 --warmup=5 --dropout=0.2)
for i in 1 2; do
  step "baby head ($i)" 60 "${HEAD[@]}" $B train "${BABY[@]}"
  step "baby tree ($i)" 60 $B train "${BABY[@]}"
done
step "decode b1 tree" 90 $B decode --model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1
step "decode b64 tree" 90 $B decode --model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1
python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_tree && stamped "$OUT/wall_tree_1.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-1"
want wall_head && stamped "$OUT/wall_head.log" "^step $STOP:" "${HEAD[@]}" "${WALL[@]}" --config.out_dir="$TMP/out-h"
want wall_tree && stamped "$OUT/wall_tree_2.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-2"
keep_walls 'step (0|250|1250|1500|1750):|compiled the'
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
