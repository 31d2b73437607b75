#!/usr/bin/env bash
# Issue 3, sixth round, second call (~5 min): decode_matmul's first form (K unrolled, one stage, weights (K, N)) ran
# GPT-2's decode matmuls 2x slower than XLA (gpu_round6.sh: 593-826 vs 326 us per step). A loop Triton pipelines,
# and the layers' weights stored transposed (each program reads whole rows), on the same probe.
#
#   OUT=out-r6b scripts/gpu_round6b.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
P=(python3 scripts/round6_probe.py gemv)
step "gemv 2 a" 150 "${P[@]}" 2 xla pallas:16:4:128:128:fori:3:n pallas:16:4:128:128:fori:4:t pallas:32:4:128:128:fori:4:t \
  pallas:16:4:128:128:unrolled:1:t pallas:16:4:256:128:fori:3:n
step "gemv 2 b" 150 "${P[@]}" 2 pallas:64:4:64:128:fori:4:t pallas:16:2:128:64:fori:4:t pallas:32:8:128:256:fori:4:t \
  pallas:16:4:64:128:fori:6:n pallas:16:4:64:64:fori:6:t
step "gemv 64" 150 "${P[@]}" 64 xla pallas:16:4:128:128:fori:3:n pallas:32:4:128:128:fori:4:t pallas:64:4:128:256:fori:3:n \
  pallas:16:4:64:128:fori:6:t
grep -E "us/step|FAILED" "$LOG" > "$OUT/probe_lines.txt"
say "### done in ${SECONDS}s"
rm -rf "$TMP"
