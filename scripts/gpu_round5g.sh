#!/usr/bin/env bash
# Issue 3, fifth round, ninth call (~4 min): decoding at batch 64 is 1.5-2.6% short of 100k tokens/s with the prefill.
# Variants of generate.py, each a package in .whl/ (diffs in scripts/round5_variants.diff), one after another:
#   pkg_tree5      the tree (4a93832)
#   pkg_nocb       the prefill compiled without CUDA graphs (a graph is rebuilt per call when its buffers move?)
#   pkg_keys       the loop's sampling keys split once before the loop, not one split per step
#   pkg_nocb_keys  both
# and the tree with cuBLAS for the decode's gemms (XLA_FLAGS=--xla_gpu_enable_triton_gemm=false).
#
#   OUT=out-r5g scripts/gpu_round5g.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
for p in tree5 nocb keys nocb_keys tree5; do pkg $p; step "decode b64 $p" 60 "${PKG[@]}" $B decode "${D64[@]}"; done
pkg tree5; XLA_FLAGS=--xla_gpu_enable_triton_gemm=false step "decode b64 tree5 cublas" 60 "${PKG[@]}" $B decode "${D64[@]}"
for p in tree5 nocb_keys; do pkg $p; step "decode b1 $p" 60 "${PKG[@]}" $B decode "${D1[@]}"; done
pkg tree5; XLA_FLAGS=--xla_gpu_enable_triton_gemm=false step "decode b1 tree5 cublas" 60 "${PKG[@]}" $B decode "${D1[@]}"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
