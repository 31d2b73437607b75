#!/usr/bin/env bash
# Issue 3, fourth round (one device call, ~9 min): shakespeare_char's wall time (this tree, the previous
# commit BASELINE, nanoGPT, this tree again: one after another on the same card, each stopped at its step-STOP
# eval) and where its startup's seconds go; then the baby GPT's step with a float32 residual stream, decoding
# through cuDNN (checked, then timed against the explicit path and BASELINE) and top-k by counting passes.
#
#   BASELINE=.whl/pkg_541ff23 OUT=out-r4 scripts/gpu_round4.sh     # carry .whl/ (see gpu_bench.sh)
# ONLY='check|decode|topk|baby|wall_...|startup' picks steps.
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
NANOGPT=${NANOGPT:-.whl/nanogpt}
STOP=${STOP:-1750}
setup_env
# another package runs from its own folder: `python -m` puts the current folder first on sys.path
BASE=(env -C "$BASELINE" PYTHONPATH="$BASELINE:$PYTHONPATH")

python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_nanogpt_jax && stamped "$OUT/wall_nanogpt_jax.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-sc"
want wall_baseline && stamped "$OUT/wall_baseline.log" "^step $STOP:" "${BASE[@]}" "${WALL[@]}" --config.out_dir="$TMP/out-sc-b"
want wall_nanogpt && nanogpt_wall "$OUT/wall_nanogpt.log" "^step $STOP:"
want wall_again && stamped "$OUT/wall_nanogpt_jax_again.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-sc2"
# the main thread's startup under cProfile (the train step compiles on another thread): to the first step
if want startup; then
  say "### startup profile (t=${SECONDS}s)"
  timeout 90 python3 -m cProfile -o "$OUT/startup.prof" -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py \
    --config.data_dir=$PWD/data --config.progress=False --config.max_iters=1 --config.sample_at_end=0 \
    --config.out_dir="$TMP/out-prof" "${SMOKE_TRAIN[@]}" > "$OUT/startup.txt" 2>&1
  python3 -c "import pstats; pstats.Stats('$OUT/startup.prof').sort_stats('cumulative').print_stats(60)" \
    > "$OUT/startup_stats.txt" 2>&1; say "rc=$? startup profile in startup_stats.txt"
fi
BABY=(--model=baby --block_size=256 --batch_size=64 --vocab_size=65 --steps=50 --warmup=5 --dropout=0.2)
step baby 60 $B train "${BABY[@]}"
step "baby baseline" 60 "${BASE[@]}" $B train "${BABY[@]}"
if want check; then
  say "### decode_check"; timeout 120 python3 scripts/round4_probe.py decode_check > "$OUT/probe_decode_check.txt" 2>&1
  say "rc=$? $(tail -n 3 "$OUT/probe_decode_check.txt")"
fi
DECODE_B1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
DECODE_B64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step decode_b1_500 90 $B decode "${DECODE_B1[@]}"
step decode_b64_200 90 $B decode "${DECODE_B64[@]}"
step "decode_b1_500 --attention=xla" 90 $B decode "${DECODE_B1[@]}" --attention=xla
step "decode_b64_200 --attention=xla" 90 $B decode "${DECODE_B64[@]}" --attention=xla
step "decode_b1_500 baseline" 90 "${BASE[@]}" $B decode "${DECODE_B1[@]}"
step "decode_b64_200 baseline" 90 "${BASE[@]}" $B decode "${DECODE_B64[@]}"
for v in radix4 bisect; do
  step "decode_b64_200 topk $v" 90 python3 scripts/round4_probe.py topk $v "${DECODE_B64[@]}"
done

ls "$OUT"/wall_*.log > /dev/null 2>&1 && grep -E 'start|parameters|step [0-9]+:|compil' "$OUT"/wall_*.log | tee -a "$LOG"
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
