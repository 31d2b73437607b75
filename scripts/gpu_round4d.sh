#!/usr/bin/env bash
# Issue 3, fourth round, last call (~8 min): startup step by step with the weights drawn on the host; then
# shakespeare_char's wall time on one card: this tree, BASELINE (the session's starting commit), nanoGPT, this
# tree again, each stopped at its step-STOP eval; then decoding at batches 1 and 64 and the 124M train step.
#
#   BASELINE=.whl/pkg_541ff23 OUT=out-r4d scripts/gpu_round4d.sh     # carry .whl/ (see gpu_bench.sh)
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
NANOGPT=${NANOGPT:-.whl/nanogpt}
STOP=${STOP:-1750}
setup_env
BASE=(env -C "$BASELINE" PYTHONPATH="$BASELINE:$PYTHONPATH")  # `python -m` puts the current folder first
python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
if want startup; then
  say "### startup (t=${SECONDS}s)"
  timeout 120 python3 scripts/round4_probe.py startup "$PWD/data" ${SMOKE:+2} > "$TMP/startup" 2>&1
  say "rc=$? $(tail -n 1 "$TMP/startup")"
fi
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_tree && stamped "$OUT/wall_tree_1.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-t1"
want wall_baseline && stamped "$OUT/wall_baseline.log" "^step $STOP:" "${BASE[@]}" "${WALL[@]}" --config.out_dir="$TMP/out-b"
want wall_nanogpt && nanogpt_wall "$OUT/wall_nanogpt.log" "^step $STOP:"
want wall_tree && stamped "$OUT/wall_tree_2.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-t2"
step decode_b1_500 90 $B decode --model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1
step decode_b64_200 90 $B decode --model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1
step train_12x1024 120 $B train --model=gpt2 --batch_size=12 --steps=20 --warmup=3
step train_32x1024 120 $B train --model=gpt2 --batch_size=32 --steps=20 --warmup=3
summarize
keep_walls 'parameters|step [0-9]+:|compiled the'
say "### done in ${SECONDS}s"
rm -rf "$TMP"
