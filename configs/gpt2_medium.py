"""GPT-2 medium (355M) on OpenWebText: the gpt2 recipe with GPT-2 medium's shape."""
from configs.gpt2 import get_config as gpt2_config


def get_config():
    c = gpt2_config()
    c.out_dir = 'out-gpt2-medium'
    c.wandb_run_name = 'gpt2-medium'
    c.n_layer = 24
    c.n_head = 16
    c.n_embd = 1024
    return c
