"""The quickstart: a baby GPT on tiny Shakespeare sized for a laptop CPU (a few minutes on 2 cores),
ending with a sample. Prepare the data first: python data/shakespeare_char/prepare.py"""
from configs.shakespeare_char import get_config as baby_gpt


def get_config():
    c = baby_gpt()
    c.out_dir = 'out-shakespeare-char-cpu'
    c.eval_interval = 250
    c.eval_iters = 20
    c.log_interval = 25
    c.batch_size = 32
    c.block_size = 64
    c.n_layer = 4
    c.n_head = 4
    c.n_embd = 128
    c.dropout = 0.0
    c.max_iters = 2000
    c.lr_decay_iters = 2000
    c.sample_at_end = 500  # characters printed at the end
    return c
