#!/usr/bin/env bash
# Issue 3, sixth round, first call (~6 min): decoding's gemms read the weights at ~1/5 of HBM bandwidth (M = 2 or 64
# rows; gpu_round5l.sh). decode_matmul.matmul, a Pallas (Triton) kernel per matmul with the bias and GELU inside:
# its block sizes on GPT-2's decode matmuls alone (round6_probe.py gemv), then `bench decode` with it (this tree)
# against HEAD without it (.whl/pkg_base), one after another on one card.
#
#   OUT=out-r6 scripts/gpu_round6.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step "check decode vs full forward" 120 python3 scripts/round4_probe.py decode_check
step "gemv 2" 150 python3 scripts/round6_probe.py gemv 2 xla pallas:32:4:128:128 pallas:16:4:128:128 pallas:64:4:128:128 \
  pallas:16:2:128:64 pallas:32:2:128:64 pallas:32:4:256:256 pallas:16:4:256:128 pallas:32:8:256:128
step "gemv 64" 120 python3 scripts/round6_probe.py gemv 64 xla pallas:32:4:128:128 pallas:16:4:128:128 pallas:64:4:128:128 \
  pallas:64:8:128:256 pallas:32:4:256:128
pkg base
step "decode b1 base" 60 "${PKG[@]}" $B decode "${D1[@]}"
step "decode b1 pallas" 60 $B decode "${D1[@]}"
step "decode b64 base" 60 "${PKG[@]}" $B decode "${D64[@]}"
step "decode b64 pallas" 60 $B decode "${D64[@]}"
step "decode b1 base again" 60 "${PKG[@]}" $B decode "${D1[@]}"
step "decode b1 pallas again" 60 $B decode "${D1[@]}"
grep -E "us/step|FAILED|^(xla|cudnn) " "$LOG" > "$OUT/probe_lines.txt"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
