#!/usr/bin/env bash
# One short call on one GPU: the 124M train step at 12x1024 and 32x1024, then shakespeare_char timed to its
# best val loss (each log line stamped with seconds since the command started).
set -uo pipefail
export PYTHONUNBUFFERED=1 OUT=${OUT:-/tmp/out}
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
for b in 12 32; do timeout 90 python3 -m nanogpt_jax.bench train --model=gpt2 --batch_size=$b --steps=20 2>&1 | grep -E "^train:|compiled step" | tee -a $OUT/final.log; done
python3 data/shakespeare_char/prepare.py --input=.whl/tinyshakespeare.txt > /dev/null
stamp() { python3 -c "import sys, time; t = time.time(); [print(f'{time.time() - t:7.2f} {l}', end='', flush=True) for l in sys.stdin]"; }
{ echo "0 start"; python3 -m nanogpt_jax.train --config=configs/shakespeare_char.py --config.progress=False 2>&1; } | stamp | grep -vE " iter [0-9]*[1-9]9:" | tee -a $OUT/shakespeare_char_final.log | grep -E "start|^ *[0-9.]+ step|compiled|iter (9|99|1999|4999):"
