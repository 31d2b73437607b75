#!/usr/bin/env bash
# One call on a lent GPU machine: install the carried wheels, then issue 2's GPU check (shakespeare_char to
# best val loss) and a first GPT-2 124M step time through the train CLI. Usage: bash scripts/gpu_smoke.sh
set -uo pipefail
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import jax, flax, optax, orbax.checkpoint as o, grain, ml_collections, tiktoken; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', o.__version__, jax.devices())"
python3 data/shakespeare_char/prepare.py --input=.whl/tinyshakespeare.txt > /dev/null
python3 data/shakespeare/prepare.py --input=.whl/tinyshakespeare.txt > /dev/null
start=$(date +%s.%N)
python3 -m nanogpt_jax.train --config=configs/shakespeare_char.py --config.progress=False 2>&1 | grep -v "^iter [0-9]*[1-9]0:" | tee $OUT/shakespeare_char.log
echo "shakespeare_char wall time: $(echo "$(date +%s.%N) - $start" | bc) s" | tee -a $OUT/shakespeare_char.log
cp out-shakespeare-char/metrics.jsonl $OUT/shakespeare_char_metrics.jsonl
python3 -m nanogpt_jax.sample --out_dir=out-shakespeare-char --num_samples=1 --max_new_tokens=300 2>&1 | tail -12
for b in 12 32; do
  python3 -m nanogpt_jax.train --config=configs/gpt2.py --config.dataset=shakespeare --config.batch_size=$b \
    --config.gradient_accumulation_steps=1 --config.max_iters=60 --config.eval_interval=1000 --config.eval_iters=2 \
    --config.log_interval=20 --config.progress=False --config.out_dir=/tmp/gpt2-$b 2>&1 | grep -E "iter|compiled|param|Error|error" | tee -a $OUT/gpt2_train.log
done
