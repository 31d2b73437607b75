#!/usr/bin/env bash
# Issue 3, third round (~7 min a call): cuDNN attention-weight dropout (checked against a reference), the baby
# GPT's step, decoding against older packages (DECODE_PKGS), then shakespeare_char's wall time: this tree, the
# previous commit (BASELINE) and nanoGPT, one after another on the same card, each stopped after its step-STOP eval.
#
#   BASELINE=.whl/baseline DECODE_PKGS='.whl/pkg_b3e64fe .whl/pkg_fd59632' OUT=out-r3w scripts/gpu_round3_wall.sh
# Carry .whl/ (see gpu_bench.sh, gpu_levers.sh); ONLY='check|baby|decode|wall_...' picks steps.
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
NANOGPT=${NANOGPT:-.whl/nanogpt}
STOP=${STOP:-2000}
setup_env
# model.cudnn_dropout_attention's masks; with CUDA graphs on (no flag) XLA aborts in cuda_dnn.cc
# ("Check failed: local_device_ordinal.has_value()"), without them or without cuDNN in them it runs
if want check; then
  for flags in "" --xla_gpu_enable_command_buffer= --xla_gpu_enable_command_buffer=-CUDNN; do
    say "### cudnn_dropout_check XLA_FLAGS=$flags"
    XLA_FLAGS=$flags timeout 120 python3 scripts/round3_probe.py cudnn_dropout_check > "$TMP/check" 2>&1
    say "rc=$? $(grep -E 'Check failed|^\{' "$TMP/check" | head -n 2)"
  done
fi
# the baby GPT's step with cuDNN's attention-weight dropout (train.keep_cudnn_out_of_cuda_graphs keeps cuDNN out of CUDA graphs)
BABY=(--model=baby --block_size=256 --batch_size=64 --vocab_size=65 --steps=50 --warmup=5)
step baby_dropout0.2 60 $B train "${BABY[@]}" --dropout=0.2
step baby_dropout0.2_xla 60 $B train "${BABY[@]}" --dropout=0.2 --attention=xla
DECODE_B1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
DECODE_B64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step decode_b1_500 90 $B decode "${DECODE_B1[@]}"
step decode_b64_200 90 $B decode "${DECODE_B64[@]}"
# the decode loop with a static trip count (b3e64fe) against the while loop (fd59632), same cache, same top-k
for pkg in ${DECODE_PKGS:-}; do
  step "decode_b1_500 $pkg" 90 env -C "$pkg" PYTHONPATH="$pkg:$PYTHONPATH" $B decode "${DECODE_B1[@]}"
  step "decode_b64_200 $pkg" 90 env -C "$pkg" PYTHONPATH="$pkg:$PYTHONPATH" $B decode "${DECODE_B64[@]}"
done

python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_nanogpt_jax && stamped "$OUT/wall_nanogpt_jax.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-sc"
# another package runs from its own folder: `python -m` puts the current folder first on sys.path
if want wall_baseline && [ -n "${BASELINE:-}" ]; then
  stamped "$OUT/wall_baseline.log" "^step $STOP:" env -C "$BASELINE" PYTHONPATH="$BASELINE:$PYTHONPATH" "${WALL[@]}" \
    --config.out_dir="$TMP/out-sc-b"
fi
want wall_nanogpt && nanogpt_wall "$OUT/wall_nanogpt.log" "^step $STOP:"
want wall_again && stamped "$OUT/wall_nanogpt_jax_again.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-sc2"
ls "$OUT"/wall_*.log > /dev/null 2>&1 && grep -E 'start|parameters|step [0-9]+:|compil' "$OUT"/wall_*.log | tee -a "$LOG"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
