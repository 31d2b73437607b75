#!/usr/bin/env bash
# Issue 3, sixth round, third call (~6 min): with a pipelined loop decode_matmul runs GPT-2's decode matmuls as fast
# as XLA's gemms (gpu_round6b.sh: 330-350 vs 308 us per step), so the gain must come from fewer kernels: each
# LayerNorm and residual add inside a matmul's kernel (model.Block.decode_step, 5 kernels per layer). `bench decode`
# with it (block sizes as in .whl/pkg_f1..f3) against HEAD (.whl/pkg_base), one after another on one card.
#
#   OUT=out-r6c scripts/gpu_round6c.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step "check decode vs full forward" 120 python3 scripts/round4_probe.py decode_check
for v in base f1 f2 f3; do
  pkg $v
  step "decode b1 $v" 60 "${PKG[@]}" $B decode "${D1[@]}"
  step "decode b64 $v" 60 "${PKG[@]}" $B decode "${D64[@]}"
done
pkg base; step "decode b64 base again" 60 "${PKG[@]}" $B decode "${D64[@]}"
step "gemv 2" 150 python3 scripts/round6_probe.py gemv 2 xla pallas:16:2:128:64:4:n pallas:16:2:256:64:3:n \
  pallas:16:4:256:64:3:n pallas:16:4:128:64:3:n
grep -E "us/step|FAILED|^(xla|cudnn) " "$LOG" > "$OUT/probe_lines.txt"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
