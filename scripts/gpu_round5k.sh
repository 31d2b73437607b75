#!/usr/bin/env bash
# Issue 3, fifth round, thirteenth call (~2 min): a single prompt decoded beside a copy of itself
# (generate.decode_rows: 2 rows make the matmuls gemms; gpu_round5j.sh: batch 2 takes 0.445 ms per step against
# batch 1's 0.584) against the tree before it (.whl/pkg_tree5), one after another on one card.
#
#   OUT=out-r5k scripts/gpu_round5k.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
OLD=(env -C "$PWD/.whl/pkg_tree5" PYTHONPATH="$PWD/.whl/pkg_tree5:$PYTHONPATH")
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
for i in 1 2; do
  step "decode b1 tree5 ($i)" 60 "${OLD[@]}" $B decode "${D1[@]}"
  step "decode b1 two rows ($i)" 60 $B decode "${D1[@]}"
done
step "decode b64 two rows" 60 $B decode --model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
