#!/usr/bin/env bash
# Issue 3, fifth round, eleventh call (~3 min): at batch 1 XLA turns each decode matmul (M = 1) into an elementwise
# multiply and a reduction ("dot strength reduction": gpu_round5.sh's decode profile, ~340 of ~600 us per token, 4x
# the weights' bandwidth time). Decoding with it off, one after another on one card.
#
#   OUT=out-r5i scripts/gpu_round5i.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
OFF=--xla_gpu_enable_dot_strength_reduction=false
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
D8=(--model=gpt2 --batch_size=8 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step "decode b1" 60 $B decode "${D1[@]}"
XLA_FLAGS=$OFF step "decode b1 $OFF" 60 $B decode "${D1[@]}"
XLA_FLAGS="$OFF --xla_gpu_enable_triton_gemm=false" step "decode b1 $OFF cublas" 60 $B decode "${D1[@]}"
step "decode b1 (2)" 60 $B decode "${D1[@]}"
XLA_FLAGS=$OFF step "decode b1 $OFF (2)" 60 $B decode "${D1[@]}"
step "decode b8" 60 $B decode "${D8[@]}"
XLA_FLAGS=$OFF step "decode b8 $OFF" 60 $B decode "${D8[@]}"
step "decode b64" 60 $B decode "${D64[@]}"
XLA_FLAGS=$OFF step "decode b64 $OFF" 60 $B decode "${D64[@]}"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
