#!/usr/bin/env bash
# Issue 3, sixth round, seventh call (~4 min): batch 64's loop writes and reads its (64, 50304) logits in fp32: the
# head's output, the keys' pass and the sampling's pass. The logits kept in the compute dtype (bf16), as nanoGPT's
# are under autocast (.whl/pkg_bf16), against this tree (.whl/pkg_new) and HEAD (.whl/pkg_base), on one card.
#
#   OUT=out-r6g scripts/gpu_round6g.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
for v in base new bf16 base new bf16; do
  pkg $v
  step "decode b64 $v" 60 "${PKG[@]}" $B decode "${D64[@]}"
done
for v in base new bf16; do
  pkg $v
  step "decode b1 $v" 60 "${PKG[@]}" $B decode "${D1[@]}"
done
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
