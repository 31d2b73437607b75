"""GPT-2 xl (1.5B) on OpenWebText: the gpt2 recipe with GPT-2 xl's shape."""
from configs.gpt2 import get_config as gpt2_config


def get_config():
    c = gpt2_config()
    c.out_dir = 'out-gpt2-xl'
    c.wandb_run_name = 'gpt2-xl'
    c.n_layer = 48
    c.n_head = 25
    c.n_embd = 1600
    return c
