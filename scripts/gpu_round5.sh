#!/usr/bin/env bash
# Issue 3, fifth round, first call (~8 min): where the GPT-2 124M train step's time goes now (a profile of the
# 32x1024 step with CUDA graphs off, its optimised HLO), XLA GPU flags that may speed its gemms and fusions up
# (each against the baseline, one after another on one card), and profiles of the decode loop at batch 1 and 64.
#
#   OUT=out-r5 scripts/gpu_round5.sh     # carry .whl/ (see gpu_bench.sh)
source "$(dirname "$0")/bench_lib.sh"
setup_env
T32=(--model=gpt2 --batch_size=32 --steps=20 --warmup=3)
step "b32 baseline" 80 $B train "${T32[@]}"
for f in --xla_gpu_experimental_enable_triton_warp_specialization=true \
         --xla_gpu_experimental_enable_triton_tma=true \
         --xla_gpu_experimental_enable_fusion_block_level_rewriter=true \
         --xla_gpu_cudnn_gemm_fusion_level=2 \
         --xla_gpu_experimental_enable_triton_heroless_priority_fusion=true \
         --xla_gpu_enable_cudnn_layer_norm=true; do
  XLA_FLAGS=$f step "b32 $f" 80 $B train "${T32[@]}"
done
step "b32 baseline again" 80 $B train "${T32[@]}"
# profiles: CUDA graphs off so that every op shows in the trace
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "b32 profile" 120 $B train "${T32[@]}" --profile_steps=2 \
  --dump_hlo --out_dir="$TMP/p32"
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "decode b1 profile" 90 $B decode --model=gpt2 --batch_size=1 \
  --new_tokens=100 --steps=3 --warmup=1 --profile_steps=1 --dump_hlo --out_dir="$TMP/pd1"
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "decode b64 profile" 90 $B decode --model=gpt2 --batch_size=64 \
  --new_tokens=100 --steps=3 --warmup=1 --profile_steps=1 --dump_hlo --out_dir="$TMP/pd64"
for p in p32 pd1 pd64; do keep_profile "$TMP/$p" $p; done
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
