#!/usr/bin/env bash
# Issue 3, fourth round, second call (~9 min): startup step by step; shakespeare_char's wall time and val loss,
# this tree against OTHER (a package with a float32 residual stream), twice each, interleaved, then nanoGPT;
# decoding with the counting top-k cut against the sort it replaces, cuDNN decoding at batch 8; the 124M step
# of this tree and OTHER.
#
#   OTHER=.whl/pkg_fp32res OUT=out-r4b scripts/gpu_round4b.sh     # carry .whl/ (see gpu_bench.sh)
# ONLY='startup|wall_...|decode...|train...' picks steps. Wall logs end up in walls.tgz.
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
NANOGPT=${NANOGPT:-.whl/nanogpt}
STOP=${STOP:-1750}
setup_env
# another package runs from its own folder: `python -m` puts the current folder first on sys.path
OTHER_RUN=(env -C "$OTHER" PYTHONPATH="$OTHER:$PYTHONPATH")
python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
if want startup; then
  say "### startup probe (t=${SECONDS}s)"
  timeout 120 python3 scripts/round4_probe.py startup "$PWD/data" ${SMOKE:+2} > "$OUT/probe_startup.txt" 2>&1
  say "rc=$? $(tail -n 1 "$OUT/probe_startup.txt")"
fi
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
for i in 1 2; do
  want wall_tree && stamped "$OUT/wall_tree_$i.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-t$i"
  want wall_other && stamped "$OUT/wall_other_$i.log" "^step $STOP:" "${OTHER_RUN[@]}" "${WALL[@]}" --config.out_dir="$TMP/out-o$i"
done
want wall_nanogpt && nanogpt_wall "$OUT/wall_nanogpt.log" "^step $STOP:"

DECODE_B1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
DECODE_B8=(--model=gpt2 --batch_size=8 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
DECODE_B64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step decode_b1_500 90 $B decode "${DECODE_B1[@]}"
step "decode_b1_500 topk sort" 90 python3 scripts/round4_probe.py topk sort "${DECODE_B1[@]}"
step decode_b8_200 90 $B decode "${DECODE_B8[@]}"
step "decode_b8_200 --attention=xla" 90 $B decode "${DECODE_B8[@]}" --attention=xla
step decode_b64_200 90 $B decode "${DECODE_B64[@]}"
TRAIN=(--model=gpt2 --batch_size=12 --steps=20 --warmup=3)
step train_12x1024 120 $B train "${TRAIN[@]}"
step "train_12x1024 other" 120 "${OTHER_RUN[@]}" $B train "${TRAIN[@]}"

summarize
keep_walls 'parameters|step [0-9]+:|compiled the'
say "### done in ${SECONDS}s"
rm -rf "$TMP"
