#!/usr/bin/env bash
# Issue 3, fourth round, third call (~8 min): the startup with the train step compiled in the background or
# after the step-0 eval (twice each, alternating); cuDNN decoding at batches 16 and 32 against the explicit
# path; the committed decode at batches 1 and 64; the 124M train step; one shakespeare_char run.
#
#   OUT=out-r4c scripts/gpu_round4c.sh     # carry .whl/ (see gpu_bench.sh)
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
STOP=${STOP:-1750}
setup_env
python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
for i in 1 2; do
  for seq in 0 1; do
    want startup || continue
    say "### startup STARTUP_SEQUENTIAL=$seq (t=${SECONDS}s)"
    STARTUP_SEQUENTIAL=$seq timeout 120 python3 scripts/round4_probe.py startup "$PWD/data" ${SMOKE:+2} \
      > "$TMP/startup" 2>&1; say "rc=$? $(tail -n 1 "$TMP/startup")"
  done
done
D16=(--model=gpt2 --batch_size=16 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
D32=(--model=gpt2 --batch_size=32 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step "decode_b16_200 cudnn" 90 python3 scripts/round4_probe.py decode_min_batch 1 "${D16[@]}"
step decode_b16_200 90 $B decode "${D16[@]}"
step decode_b32_200 90 $B decode "${D32[@]}"
step "decode_b32_200 --attention=xla" 90 $B decode "${D32[@]}" --attention=xla
step decode_b1_500 90 $B decode --model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1
step decode_b64_200 90 $B decode --model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1
step train_12x1024 120 $B train --model=gpt2 --batch_size=12 --steps=20 --warmup=3
step train_32x1024 120 $B train --model=gpt2 --batch_size=32 --steps=20 --warmup=3
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_tree && stamped "$OUT/wall_tree.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-t"
ls "$OUT"/wall_*.log > /dev/null 2>&1 && grep -E 'parameters|step [0-9]+:|compiled the' "$OUT"/wall_*.log | tee -a "$LOG"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
