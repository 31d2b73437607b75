#!/usr/bin/env bash
# Issue 3, fifth round, sixth and seventh calls (~5 min): with positions looked up per token, the shakespeare_char
# train step's compile went from 6.9 to 9.4-9.6 s (gpu_round5e.sh), eating the faster step's gain. Here the tree
# with and without an XLA flag (FLAG below) that may explain it, one after another on one card: the baby GPT's and
# GPT-2's step, and shakespeare_char's wall time to the step-STOP eval. The sixth call's FLAG,
# --xla_gpu_experimental_enable_triton_softmax_priority_fusion=false, is unknown to jax 0.11.2's XLA; the seventh's,
# --xla_gpu_enable_scatter_determinism_expander=false, lets the embeddings' gradients (scatter-adds) use atomics
# instead of XLA's sort-based deterministic expansion.
#
#   OUT=out-r5f scripts/gpu_round5f.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
STOP=${STOP:-1750}
FLAG=${FLAG:---xla_gpu_enable_scatter_determinism_expander=false}
setup_env
BABY=(--model=baby --block_size=256 --batch_size=64 --vocab_size=65 --steps=50 --warmup=5 --dropout=0.2)
for i in 1 2; do
  step "baby tree ($i)" 60 $B train "${BABY[@]}"
  XLA_FLAGS=$FLAG step "baby tree $FLAG ($i)" 60 $B train "${BABY[@]}"
done
for b in 32 12; do
  step "b$b tree" 70 $B train --model=gpt2 --batch_size=$b --steps=20 --warmup=3
  XLA_FLAGS=$FLAG step "b$b tree $FLAG" 70 $B train --model=gpt2 --batch_size=$b --steps=20 --warmup=3
done
python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
XLA_FLAGS=$FLAG stamped "$OUT/wall_flag_1.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-1"
stamped "$OUT/wall_tree.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-t"
XLA_FLAGS=$FLAG stamped "$OUT/wall_flag_2.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-2"
keep_walls 'step (0|250|1250|1500|1750):|compiled the'
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
