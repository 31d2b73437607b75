#!/usr/bin/env bash
# Issue 3, sixth round, fifth call (~2 min): batch 64 decodes at 101k tok/s but 99k with the prefill, which takes
# 2.3-2.8 ms for 64 x 16 prompt tokens (~4 decode steps). Traces of one prefill and decode loop (this tree), with
# CUDA graphs on (module times) and off (each op), to see where the prefill's time goes.
#
#   OUT=out-r6e scripts/gpu_round6e.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
step "decode b64 profile" 90 $B decode "${D64[@]}" --profile_steps=1 --out_dir=$TMP/p64 --dump_hlo
keep_profile $TMP/p64 p64
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "decode b64 profile no graphs" 90 $B decode "${D64[@]}" --profile_steps=1 --out_dir=$TMP/p64n
keep_profile $TMP/p64n p64n
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
