"""Evaluate OpenAI's GPT-2 (124M) on OpenWebText; nanoGPT reports val loss 3.12 (train 3.11)."""
from nanogpt_jax.config import default_config


def get_config(model='gpt2'):
    c = default_config()
    c.init_from = model
    c.out_dir = f'out-eval-{model}'
    c.dataset = 'openwebtext'
    c.batch_size = 8
    c.gradient_accumulation_steps = 1
    c.eval_iters = 500  # use more iterations to get a good estimate
    c.eval_only = True
    return c
