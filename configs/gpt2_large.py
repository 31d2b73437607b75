"""GPT-2 large (774M) on OpenWebText: the gpt2 recipe with GPT-2 large's shape."""
from configs.gpt2 import get_config as gpt2_config


def get_config():
    c = gpt2_config()
    c.out_dir = 'out-gpt2-large'
    c.wandb_run_name = 'gpt2-large'
    c.n_layer = 36
    c.n_head = 20
    c.n_embd = 1280
    return c
