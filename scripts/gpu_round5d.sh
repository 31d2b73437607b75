#!/usr/bin/env bash
# Issue 3, fifth round, fourth call (~8 min): hand-written backward passes for LayerNorm and for the MLP's
# bias + GELU, against the tree before them, each a package in .whl/ (gpu_round5c.sh's profile: XLA's LayerNorm
# backward writes a float32 copy of the activations, and the GELU's forward writes h + bias out for the backward):
#   pkg_tree    positions looked up per token, top-k 2 bits per pass (the baseline)
#   pkg_ln      + model.layer_norm (custom VJP)
#   pkg_gelu    + model.gelu_with_bias (custom VJP)
#   pkg_lngelu  + both
# alternating, twice, at 32x1024 and 12x1024; then decoding with pkg_tree and a profile of pkg_lngelu's 32x1024 step.
#
#   OUT=out-r5d scripts/gpu_round5d.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
for b in 32 12; do
  for i in 1 2; do
    for p in tree ln gelu lngelu; do
      pkg $p; step "b$b $p ($i)" 70 "${PKG[@]}" $B train --model=gpt2 --batch_size=$b --steps=20 --warmup=3
    done
  done
done
pkg tree
for i in 1 2; do
  step "decode b64 tree ($i)" 90 "${PKG[@]}" $B decode --model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1
done
pkg lngelu
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "b32 lngelu profile" 120 "${PKG[@]}" $B train --model=gpt2 \
  --batch_size=32 --steps=10 --warmup=3 --profile_steps=2 --dump_hlo --out_dir="$TMP/p32"
keep_profile "$TMP/p32" p32
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
