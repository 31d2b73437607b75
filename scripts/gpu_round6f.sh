#!/usr/bin/env bash
# Issue 3, sixth round, sixth call (~4 min): gpu_round6e.sh's traces showed the batch-64 prefill (2.2 ms) attending
# over the whole 256-position cache for its 16 positions (~45 us per layer), and the decode call copying the
# cache it was given (24 copies, ~0.43 ms). This tree (.whl/pkg_new): 16-bit keys, the prefill's attention within
# the prompt, the cache donated; .whl/pkg_k16 the keys alone; .whl/pkg_base HEAD. One after another on one card.
#
#   OUT=out-r6f scripts/gpu_round6f.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step "check decode vs full forward" 120 python3 scripts/round4_probe.py decode_check
for v in base k16 new base new; do
  pkg $v
  step "decode b64 $v" 60 "${PKG[@]}" $B decode "${D64[@]}"
done
for v in base new; do
  pkg $v
  step "decode b1 $v" 60 "${PKG[@]}" $B decode "${D1[@]}"
done
grep -E "^(xla|cudnn) " "$LOG" > "$OUT/probe_lines.txt"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
