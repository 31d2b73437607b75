"""Fine-tune OpenAI's GPT-2 XL on Shakespeare (BPE): prepare with python data/shakespeare/prepare.py.
Use a smaller model on smaller cards: --config.init_from=gpt2 (or gpt2-medium, gpt2-large)."""
from nanogpt_jax.config import default_config


def get_config():
    c = default_config()
    c.out_dir = 'out-shakespeare'
    c.eval_interval = 5
    c.eval_iters = 40
    c.wandb_project = 'shakespeare'
    c.wandb_run_name = 'ft'
    c.dataset = 'shakespeare'
    c.init_from = 'gpt2-xl'  # the largest GPT-2 model
    c.always_save_checkpoint = False  # only save when val improves
    # 1 batch x 32 accumulation x 1024 tokens = 32,768 tokens per step; Shakespeare is 301,966 tokens,
    # so one epoch is ~9.2 steps
    c.batch_size = 1
    c.gradient_accumulation_steps = 32
    c.max_iters = 20
    c.learning_rate = 3e-5  # fine-tune at a constant, small learning rate
    c.decay_lr = False
    return c
