#!/usr/bin/env bash
# Issue 3, fifth round, twelfth call (~2 min): jax 0.11.2's XLA has no flag to turn dot strength reduction off
# (gpu_round5i.sh). It rewrites a matmul whose left side is a vector (batch 1: every size-1 dim dropped) into a
# multiply and a reduction; from 2 rows on, the same matmul is a gemm. Decoding at batch 1, 2, 4 and 8, one card.
#
#   OUT=out-r5j scripts/gpu_round5j.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
for b in 1 2 4 8 1; do
  step "decode b$b" 60 $B decode --model=gpt2 --batch_size=$b --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1
done
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
