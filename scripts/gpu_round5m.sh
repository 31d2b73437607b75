#!/usr/bin/env bash
# Issue 3, fifth round, fifteenth call (~2 min): decoding's gemms are now most of a step (gpu_round5l.sh: ~260 of
# ~455 us per token at batch 1, 3x the weights' read time; M = 2 or 64 rows). cuBLAS for them, and XLA's wider
# Triton gemm search space, one after another on one card.
#
#   OUT=out-r5m scripts/gpu_round5m.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
WIDE=--xla_gpu_experimental_enable_dynamic_dot_search_space=true
step "decode b1" 60 $B decode "${D1[@]}"
XLA_FLAGS=--xla_gpu_enable_triton_gemm=false step "decode b1 cublas" 60 $B decode "${D1[@]}"
XLA_FLAGS=$WIDE step "decode b1 $WIDE" 90 $B decode "${D1[@]}"
step "decode b64" 60 $B decode "${D64[@]}"
XLA_FLAGS=$WIDE step "decode b64 $WIDE" 90 $B decode "${D64[@]}"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
