"""nanoGPT's baby GPT on tiny Shakespeare, characters: a 10.7M model, ~1.47 val loss after ~4 minutes on a GPU."""
from nanogpt_jax.config import default_config


def get_config():
    c = default_config()
    c.out_dir = 'out-shakespeare-char'
    c.eval_interval = 250  # we overfit on this small data, so evaluate often
    c.eval_iters = 200
    c.log_interval = 10
    c.always_save_checkpoint = False  # keep only what improves val
    c.wandb_project = 'shakespeare-char'
    c.wandb_run_name = 'mini-gpt'
    c.dataset = 'shakespeare_char'
    c.gradient_accumulation_steps = 1
    c.batch_size = 64
    c.block_size = 256  # context of up to 256 previous characters
    c.n_layer = 6
    c.n_head = 6
    c.n_embd = 384
    c.dropout = 0.2
    c.learning_rate = 1e-3  # a baby network can take a large learning rate
    c.max_iters = 5000
    c.lr_decay_iters = 5000  # usually max_iters
    c.min_lr = 1e-4  # learning_rate / 10
    c.beta2 = 0.99  # a bit larger because few tokens per iteration
    c.warmup_iters = 100
    # a small model's run is short enough for its compile to matter: cuBLAS gemms compile ~5 s sooner than
    # autotuned Triton ones and step as fast here (docs/benchmarks.md)
    c.triton_gemm = False
    return c
