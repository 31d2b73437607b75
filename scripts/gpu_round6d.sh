#!/usr/bin/env bash
# Issue 3, sixth round, fourth call (~4 min): batch 64's top-k cut reads the (64, 50304) fp32 logits in each of its
# 8 counting passes (~13 MB each). Keys written once in 16 bits (.whl/pkg_k16, this tree), the Gumbel noise from
# XLA's RngBitGenerator instead of threefry (.whl/pkg_rbg), and both (.whl/pkg_k16rbg), against HEAD
# (.whl/pkg_base), one after another on one card.
#
#   OUT=out-r6d scripts/gpu_round6d.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
for v in base k16 rbg k16rbg base k16; do
  pkg $v
  step "decode b64 $v" 60 "${PKG[@]}" $B decode "${D64[@]}"
done
for v in base k16 k16rbg; do
  pkg $v
  step "decode b1 $v" 60 "${PKG[@]}" $B decode "${D1[@]}"
done
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
