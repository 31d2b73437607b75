#!/usr/bin/env bash
# Issue 3, fourth round, compile-time flags on shakespeare_char's wall time (~6 min): the train step's compile is the
# startup's critical path (docs/benchmarks.md, Fourth session), so: this tree with no flag, with XLA's autotuner at
# level 1 (no check of candidate kernels' results), with cuBLAS for every gemm (no Triton gemm fusions to autotune),
# and nanoGPT, one after another on one card, each stopped at its step-STOP eval.
#
#   OUT=out-r4e scripts/gpu_round4e.sh     # carry .whl/ (see gpu_bench.sh)
source "$(dirname "$0")/bench_lib.sh"
TEXT=${TINYSHAKESPEARE:-.whl/tinyshakespeare.txt}
NANOGPT=${NANOGPT:-.whl/nanogpt}
STOP=${STOP:-1500}
setup_env
python3 data/shakespeare_char/prepare.py --input="$TEXT" 2>&1 | tail -n 2 | tee -a "$LOG"
WALL=(python3 -m nanogpt_jax.train --config=$PWD/configs/shakespeare_char.py --config.data_dir=$PWD/data
      --config.progress=False "${SMOKE_TRAIN[@]}")
want wall_tree && stamped "$OUT/wall_tree.log" "^step $STOP:" "${WALL[@]}" --config.out_dir="$TMP/out-t"
want wall_autotune1 && XLA_FLAGS=--xla_gpu_autotune_level=1 stamped "$OUT/wall_autotune1.log" "^step $STOP:" \
  "${WALL[@]}" --config.out_dir="$TMP/out-a"
want wall_no_triton && XLA_FLAGS=--xla_gpu_enable_triton_gemm=false stamped "$OUT/wall_no_triton.log" "^step $STOP:" \
  "${WALL[@]}" --config.out_dir="$TMP/out-n"
want wall_nanogpt && nanogpt_wall "$OUT/wall_nanogpt.log" "^step $STOP:"
keep_walls 'step (0|250|1250|1500):|compiled the|iter (9|19):'
say "### done in ${SECONDS}s"
rm -rf "$TMP"
