#!/usr/bin/env bash
# Issue 3, fifth round, fourteenth call (~1 min): a profile of batch-1 decoding as two rows (CUDA graphs off) and
# its optimised HLO, to see where the 0.44 ms per token go now.
#
#   OUT=out-r5l scripts/gpu_round5l.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "decode b1 profile" 90 $B decode --model=gpt2 --batch_size=1 \
  --new_tokens=100 --steps=3 --warmup=1 --profile_steps=1 --dump_hlo --out_dir="$TMP/pd1"
keep_profile "$TMP/pd1" pd1
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
