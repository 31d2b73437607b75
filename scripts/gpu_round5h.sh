#!/usr/bin/env bash
# Issue 3, fifth round, tenth call (~1 min): a profile of the tree's 12x1024 GPT-2 step (CUDA graphs off) and its
# optimised HLO, to check that batch 12 has no layout surprise of its own and to see where its time goes.
#
#   OUT=out-r5h scripts/gpu_round5h.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "b12 tree profile" 120 $B train --model=gpt2 \
  --batch_size=12 --steps=10 --warmup=3 --profile_steps=2 --dump_hlo --out_dir="$TMP/p12"
keep_profile "$TMP/p12" p12
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
