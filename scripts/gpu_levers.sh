#!/usr/bin/env bash
# Issue 3's levers, second round, on one GPU: decoding with a static trip count, XLA flags on the 124M train
# step, and shakespeare_char's wall time next to nanoGPT's own on the same card.
#
#   ONLY='decode|train' scripts/gpu_levers.sh     # one call (~8 min)
#   ONLY='wall|baby|topk' scripts/gpu_levers.sh   # another (~7 min)
#
# Carry .whl/ (wheels, tinyshakespeare.txt; see gpu_bench.sh). Optional:
#   BASELINE=dir   a copy of an older nanogpt_jax package (dir/nanogpt_jax): its decode rows run too, for a
#                  same-machine comparison (git archive <commit> nanogpt_jax | tar -x -C dir)
#   NANOGPT=dir    a checkout of karpathy/nanoGPT (default .whl/nanogpt): its shakespeare_char run is stamped
#                  the same way as ours, in a scratch copy (its prepare.py writes data/ and meta.pkl there)
# Output in $OUT: bench.log, results.jsonl, summary.txt, wall_*.log (every line stamped with seconds since launch).
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
NANOGPT=${NANOGPT:-.whl/nanogpt}
setup_env
DECODE_B1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
DECODE_B64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
TRAIN=(--model=gpt2 --attention=cudnn --dtype=bfloat16 --steps=20 --warmup=3)

# ----- decoding: the loop with a known trip count (no host round trip per token) -----
step decode_b1_500 90 $B decode "${DECODE_B1[@]}"
step decode_b64_200 90 $B decode "${DECODE_B64[@]}"
step decode_b1_500_greedy 90 $B decode "${DECODE_B1[@]}" --temperature=0
step decode_b64_200_topk0 90 $B decode "${DECODE_B64[@]}" --top_k=0
if [ -n "${BASELINE:-}" ]; then
  # from its own folder: `python -m` puts the current folder first on sys.path (before this fix, these rows
  # ran the working tree's package)
  step baseline_decode_b1_500 90 env -C "$BASELINE" PYTHONPATH="$BASELINE:$PYTHONPATH" $B decode "${DECODE_B1[@]}"
  step baseline_decode_b64_200 90 env -C "$BASELINE" PYTHONPATH="$BASELINE:$PYTHONPATH" $B decode "${DECODE_B64[@]}"
fi
XLA_FLAGS=--xla_gpu_enable_command_buffer= step decode_b1_500_no_command_buffers 90 $B decode "${DECODE_B1[@]}"
step decode_b1_100_profile 90 $B decode "${DECODE_B1[@]}" --new_tokens=100 --steps=2 --profile_steps=1 --out_dir="$TMP/prof-decode"
step decode_b64_200_profile 90 $B decode "${DECODE_B64[@]}" --steps=2 --profile_steps=1 --out_dir="$TMP/prof-decode64"
XLA_FLAGS=--xla_gpu_enable_command_buffer= step decode_b64_200_no_command_buffers_profile 90 $B decode "${DECODE_B64[@]}" \
  --steps=2 --profile_steps=1 --out_dir="$TMP/prof-decode64-ncb"
# the top-k cut's k-th largest logit: lax.top_k against sort-free selections (scripts/topk_micro.py)
[ -z "${SMOKE:-}" ] && step topk 120 python3 scripts/topk_micro.py  # (SMOKE's bench flags are not its flags)

# ----- training: XLA flags one at a time on the 124M step (compare with train_12x1024) -----
step train_12x1024 100 $B train "${TRAIN[@]}" --batch_size=12
for flags in --xla_gpu_enable_triton_gemm=false --xla_gpu_enable_cublaslt=true \
             --xla_gpu_enable_latency_hiding_scheduler=true --xla_gpu_enable_command_buffer=; do
  XLA_FLAGS=$flags step "train_12x1024 $flags" 100 $B train "${TRAIN[@]}" --batch_size=12
done
step train_32x1024 100 $B train "${TRAIN[@]}" --batch_size=32
XLA_FLAGS=--xla_gpu_enable_triton_gemm=false step "train_32x1024 --xla_gpu_enable_triton_gemm=false" 100 \
  $B train "${TRAIN[@]}" --batch_size=32

# ----- shakespeare_char: wall time from launch to each eval, ours and nanoGPT's, stopped after step 2750 -----
if { want wall_nanogpt_jax || want wall_nanogpt || want wall_no_triton; } && [ -f "$TEXT" ]; then
  python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
fi
WALL=(python3 -m nanogpt_jax.train --config=configs/shakespeare_char.py --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_nanogpt_jax && stamped "$OUT/wall_nanogpt_jax.log" '^step 2750:' "${WALL[@]}" --config.out_dir="$TMP/out-sc"
if want wall_nanogpt && [ -f "$NANOGPT/train.py" ]; then
  cp -r "$NANOGPT" "$TMP/nanogpt" && mkdir -p "$TMP/nanogpt/data/shakespeare_char"
  cp "$TEXT" "$TMP/nanogpt/data/shakespeare_char/input.txt"
  (cd "$TMP/nanogpt" && python3 data/shakespeare_char/prepare.py 2>&1 | tail -n 2 | tee -a "$LOG" &&
   stamped "$OUT/wall_nanogpt.log" '^step 2750:' python3 train.py config/train_shakespeare_char.py)
fi
want wall_no_triton && XLA_FLAGS=--xla_gpu_enable_triton_gemm=false \
  stamped "$OUT/wall_nanogpt_jax_no_triton.log" '^step 2750:' "${WALL[@]}" --config.out_dir="$TMP/out-sc-nt"
ls "$OUT"/wall_*.log > /dev/null 2>&1 && grep -E 'start|step [0-9]+:|compil' "$OUT"/wall_*.log | tee -a "$LOG"

# ----- the baby GPT's step (dropout 0.2): threefry vs rbg random bits for dropout, XLA flags, profiles -----
BABY=(--model=baby --block_size=256 --batch_size=64 --vocab_size=65 --dropout=0.2 --steps=50 --warmup=5)
step baby_64x256 60 $B train "${BABY[@]}" --profile_steps=3 --out_dir="$TMP/prof-baby"
JAX_DEFAULT_PRNG_IMPL=rbg step baby_64x256_rbg 60 $B train "${BABY[@]}"
XLA_FLAGS=--xla_gpu_enable_command_buffer= step baby_64x256_no_command_buffers_profile 60 $B train "${BABY[@]}" \
  --profile_steps=2 --out_dir="$TMP/prof-baby-ncb"
for flags in --xla_gpu_enable_triton_gemm=false --xla_gpu_autotune_level=0; do
  XLA_FLAGS=$flags step "baby_64x256 $flags" 60 $B train "${BABY[@]}"
done

summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
