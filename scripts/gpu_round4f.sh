#!/usr/bin/env bash
# Issue 3, fourth round, last call (~5 min): configs/shakespeare_char.py now sets triton_gemm=False (cuBLAS for every
# gemm: faster compiles, gpu_round4e.sh); its wall time against the same with --config.triton_gemm=True and against
# nanoGPT, one after another on one card, each stopped at its step-STOP eval.
#
#   OUT=out-r4f scripts/gpu_round4f.sh     # carry .whl/ (see gpu_bench.sh)
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
NANOGPT=${NANOGPT:-.whl/nanogpt}
STOP=${STOP:-1750}
setup_env
python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_tree && stamped "$OUT/wall_tree_1.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-1"
want wall_triton && stamped "$OUT/wall_triton.log" "^step $STOP:" "${WALL[@]}" --config.triton_gemm=True \
  --config.out_dir="$TMP/out-t"
want wall_nanogpt && nanogpt_wall "$OUT/wall_nanogpt.log" "^step $STOP:"
want wall_tree && stamped "$OUT/wall_tree_2.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-2"
keep_walls 'step (0|250|1250|1500|1750):|compiled the'
say "### done in ${SECONDS}s"
rm -rf "$TMP"
