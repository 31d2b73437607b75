#!/usr/bin/env bash
# Issue 3, fifth round, third call (~7 min): the tree (positions looked up per token, gpu_round5b.sh's winner)
# against HEAD's package (.whl/pkg_head), alternating, at 32x1024 and 12x1024; decoding with both, and with the
# top-k cut found 2 bits per pass (8 passes of 3 counts: `round4_probe.py topk radix2`) instead of 1 (16 passes);
# then a profile of the tree's 32x1024 step.
#
#   OUT=out-r5c scripts/gpu_round5c.sh     # carry .whl/
source "$(dirname "$0")/bench_lib.sh"
setup_env
HEAD=(env -C "$PWD/.whl/pkg_head" PYTHONPATH="$PWD/.whl/pkg_head:$PYTHONPATH")
for b in 32 12; do
  for i in 1 2; do
    step "b$b head ($i)" 70 "${HEAD[@]}" $B train --model=gpt2 --batch_size=$b --steps=20 --warmup=3
    step "b$b tree ($i)" 70 $B train --model=gpt2 --batch_size=$b --steps=20 --warmup=3
  done
done
D64=(--model=gpt2 --batch_size=64 --prompt_len=16 --new_tokens=200 --steps=5 --warmup=1)
D1=(--model=gpt2 --batch_size=1 --prompt_len=16 --new_tokens=500 --steps=5 --warmup=1)
step "decode b64 tree (1)" 90 $B decode "${D64[@]}"
step "decode b64 tree topk radix2 (1)" 90 python3 scripts/round4_probe.py topk radix2 "${D64[@]}"
step "decode b64 head" 90 "${HEAD[@]}" $B decode "${D64[@]}"
step "decode b64 tree (2)" 90 $B decode "${D64[@]}"
step "decode b64 tree topk radix2 (2)" 90 python3 scripts/round4_probe.py topk radix2 "${D64[@]}"
step "decode b1 tree" 90 $B decode "${D1[@]}"
step "decode b1 tree topk radix2" 90 python3 scripts/round4_probe.py topk radix2 "${D1[@]}"
XLA_FLAGS=--xla_gpu_enable_command_buffer= step "b32 tree profile" 120 $B train --model=gpt2 \
  --batch_size=32 --steps=10 --warmup=3 --profile_steps=2 --dump_hlo --out_dir="$TMP/p32"
keep_profile "$TMP/p32" p32
summarize
say "### done in ${SECONDS}s"
rm -rf "$TMP"
