"""GPT-2 (124M) on OpenWebText, nanoGPT's train_gpt2.py: ~2.85 val loss after 300B tokens.

Tokens per step: 12 batch x 1024 block x 40 accumulation = 491,520, whatever the device count
(batch_size is global here). On 8 GPUs: --config.batch_size=96 --config.gradient_accumulation_steps=5.
"""
from nanogpt_jax.config import default_config


def get_config():
    c = default_config()
    c.out_dir = 'out-gpt2'
    c.wandb_run_name = 'gpt2-124M'
    c.dataset = 'openwebtext'
    c.batch_size = 12
    c.block_size = 1024
    c.gradient_accumulation_steps = 5 * 8
    c.max_iters = 600000  # 300B tokens
    c.lr_decay_iters = 600000
    c.eval_interval = 1000
    c.eval_iters = 200
    c.log_interval = 10
    c.weight_decay = 1e-1
    return c
