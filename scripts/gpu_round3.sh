#!/usr/bin/env bash
# Issue 3's levers, third round, on one GPU (one device call, ~9 min): where shakespeare_char's seconds go
# (startup, the baby GPT's dropout, its compile, its evals), top-k cuts for batch-64 decoding, and the
# bf16-vs-fp32 row for the 124M step.
#
#   OUT=out-r3 scripts/gpu_round3.sh      # carry .whl/ (see gpu_bench.sh)
#
# Output in $OUT: bench.log, results.jsonl, summary.txt, probe_*.txt (scripts/round3_probe.py).
source "$(dirname "$0")/bench_lib.sh"
setup_env
probe() { local name=$1; shift; want "$name" || return 0; say "### probe $name (t=${SECONDS}s)";
          timeout 150 python3 scripts/round3_probe.py "$@" > "$OUT/probe_$name.txt" 2>&1; say "rc=$? $(tail -n 1 "$OUT/probe_$name.txt")"; }

probe startup startup
probe cudnn_dropout cudnn_dropout

# ----- the baby GPT's step: what dropout costs, and compile-time flags -----
BABY=(--model=baby --block_size=256 --batch_size=64 --vocab_size=65 --steps=50 --warmup=5)
step baby_dropout0.2 60 $B train "${BABY[@]}" --dropout=0.2
step baby_dropout0_xla 60 $B train "${BABY[@]}" --dropout=0 --attention=xla
step baby_dropout0_cudnn 60 $B train "${BABY[@]}" --dropout=0 --attention=cudnn
for flags in "--xla_gpu_enable_triton_gemm=false --xla_gpu_autotune_level=0" --xla_gpu_autotune_level=1; do
  XLA_FLAGS=$flags step "baby_dropout0.2 $flags" 60 $B train "${BABY[@]}" --dropout=0.2
done
probe eval_groups eval_groups

# ----- batch-64 decoding: the k-th largest logit from lax.top_k (now), or sorts, on fp32 or bf16 -----
DECODE_B64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step decode_b64_200 90 $B decode "${DECODE_B64[@]}"
for v in top_k_bf16 sort_bf16 sort_fp32; do
  step "decode_b64_200 $v" 90 python3 scripts/round3_probe.py topk $v "${DECODE_B64[@]}"
done
step "decode_b1_500 sort_bf16" 90 python3 scripts/round3_probe.py topk sort_bf16 --model=gpt2 --batch_size=1 --new_tokens=500 --steps=5 --warmup=1
step decode_b1_500 90 $B decode --model=gpt2 --batch_size=1 --new_tokens=500 --steps=5 --warmup=1

# ----- bf16 compute with fp32 master weights vs fp32 compute (cuDNN needs bf16: both with XLA attention) -----
step train_12x1024_bf16_xla 100 $B train --model=gpt2 --batch_size=12 --attention=xla --dtype=bfloat16 --steps=10 --warmup=2
step train_12x1024_fp32_xla 120 $B train --model=gpt2 --batch_size=12 --attention=xla --dtype=float32 --steps=10 --warmup=2

summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
