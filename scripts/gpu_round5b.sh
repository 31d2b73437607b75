#!/usr/bin/env bash
# Issue 3, fifth round, second call (~8 min): the GPT-2 124M train step with its residual stream laid out
# batch-major again. gpu_round5.sh's profile showed XLA laying the residual stream out (T, D, B), because the
# position embedding's gradient (a sum over the batch) was distributed over every layer's residual add: every
# LayerNorm became a column reduction and every gemm input a transpose. Variants, each a package in .whl/:
#   pkg_head         HEAD (the baseline)
#   pkg_barrier      the wpe add as a custom VJP whose sum over the batch sits behind an optimization barrier
#   pkg_gather       wpe looked up with a (B, T) index like wte: its gradient is a scatter-add
#   pkg_qkv3         barrier + q, k, v as three gemms (no slice copies of the fused qkv output)
#   pkg_gather_qkv3  gather + three gemms
#   pkg_lse          barrier + the loss's logsumexp as one variadic reduce (one read of the logits, not two)
# one after another on one card, at 32x1024 then 12x1024; then a profile of pkg_barrier at 32x1024.
#
#   OUT=out-r5b scripts/gpu_round5b.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
PKGS=${PKGS:-"head barrier gather qkv3 gather_qkv3 lse head"}
for b in 32 12; do
  n=0; for p in $PKGS; do n=$((n + 1))
    pkg $p; step "b$b $p ($n)" 70 "${PKG[@]}" $B train --model=gpt2 --batch_size=$b --steps=20 --warmup=3
  done
done
pkg barrier; XLA_FLAGS=--xla_gpu_enable_command_buffer= step "b32 barrier profile" 120 "${PKG[@]}" $B train --model=gpt2 \
  --batch_size=32 --steps=10 --warmup=3 --profile_steps=2 --dump_hlo --out_dir="$TMP/p32"
keep_profile "$TMP/p32" p32
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
