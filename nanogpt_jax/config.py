"""Every config key with its default (nanoGPT's names), and the checks run before anything compiles.

A recipe in configs/ starts from `default_config()` and changes what it needs; the command line
changes more with `--config.key=value`. A key that is not here is an error naming the nearest ones.
"""
import difflib

import jax
import ml_collections


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    # I/O
    c.out_dir = 'out'
    c.eval_interval = 2000
    c.log_interval = 1
    c.eval_iters = 200
    c.eval_only = False  # evaluate once and exit
    c.always_save_checkpoint = True  # save `latest` at every eval, not only when val improves
    c.init_from = 'scratch'  # 'scratch' | 'resume' | 'gpt2' | 'gpt2-medium' | 'gpt2-large' | 'gpt2-xl' | HF dir
    c.sample_at_end = 0  # print this many characters of a sample from the final model
    # logging
    c.wandb_log = False
    c.wandb_project = 'owt'
    c.wandb_run_name = 'gpt2'
    c.tensorboard_log = False
    c.progress = True  # tqdm progress bar between log lines
    # data
    c.dataset = 'openwebtext'
    c.data_dir = 'data'  # datasets live in data_dir/<dataset>/{train,val}.bin
    c.gradient_accumulation_steps = 5 * 8
    c.batch_size = 12  # global micro-batch: summed over all devices and hosts
    c.block_size = 1024
    # model
    c.n_layer = 12
    c.n_head = 12
    c.n_embd = 768
    c.dropout = 0.0
    c.bias = True
    c.vocab_size = 0  # 0: from the dataset's meta.json (GPT-2's 50257 when it has none), padded to 64
    # optimizer: AdamW
    c.learning_rate = 6e-4
    c.max_iters = 600000
    c.weight_decay = 1e-1
    c.beta1 = 0.9
    c.beta2 = 0.95
    c.grad_clip = 1.0  # 0 disables clipping
    # learning rate schedule
    c.decay_lr = True
    c.warmup_iters = 2000
    c.lr_decay_iters = 600000
    c.min_lr = 6e-5
    # system
    c.seed = 1337
    c.dtype = 'auto'  # compute dtype: 'auto' (bfloat16 on GPU/TPU, float32 on CPU) | 'bfloat16' | 'float32'
    c.attention = 'auto'  # 'auto' (cudnn on GPU, xla elsewhere) | 'cudnn' | 'xla'
    c.triton_gemm = True  # GPU: XLA may fuse gemms into autotuned Triton kernels; False: cuBLAS for every gemm
    c.mesh_data = -1  # mesh axis sizes; -1 takes the devices the others leave
    c.mesh_fsdp = 1
    c.mesh_tensor = 1
    # multi-process runs: empty means read the environment (SLURM, Cloud TPU, JAX_COORDINATOR_ADDRESS)
    c.coordinator_address = ''
    c.num_processes = 0
    c.process_id = -1
    # profiling (issue 3)
    c.profile_steps = 0  # >0: write a jax.profiler trace of this many steady-state steps to out_dir/profile
    c.dump_hlo = False  # write the optimised HLO of the train step to out_dir
    c.loss_chunk = 0  # >0: cross-entropy over this many tokens at a time, never all fp32 logits at once
    return c


def check_keys(given, known, where: str) -> None:
    """Raise a KeyError naming the closest valid keys for any key that is not a config key."""
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.5)
            hint = f' Did you mean {", ".join(close)}?' if close else ''
            raise KeyError(f'Unknown config key {key!r} in {where}.{hint} '
                           f'Valid keys are listed in nanogpt_jax/config.py.')


def check_config(c: ml_collections.ConfigDict) -> None:
    """Cheap checks that fail before any device work, with what to change."""
    check_keys(c.keys(), default_config().keys(), 'the config')
    if c.n_embd % c.n_head:
        raise ValueError(f'n_embd={c.n_embd} is not divisible by n_head={c.n_head}: '
                         f'choose n_embd as a multiple of n_head.')
    for key in ('batch_size', 'block_size', 'n_layer', 'n_head', 'n_embd', 'gradient_accumulation_steps',
                'eval_iters'):
        if c[key] < 1:
            raise ValueError(f'{key}={c[key]} must be at least 1.')
    if not 0.0 <= c.dropout < 1.0:
        raise ValueError(f'dropout={c.dropout} must be in [0, 1).')
    if c.dtype not in ('auto', 'bfloat16', 'float32', 'float16'):
        raise ValueError(f"dtype={c.dtype!r}: use 'auto', 'bfloat16', 'float16' or 'float32'.")
    if c.attention not in ('auto', 'cudnn', 'xla'):
        raise ValueError(f"attention={c.attention!r}: use 'auto', 'cudnn' or 'xla'.")
    if c.decay_lr and c.lr_decay_iters < c.warmup_iters:
        raise ValueError(f'lr_decay_iters={c.lr_decay_iters} is below warmup_iters={c.warmup_iters}.')


def check_flag_overrides(argv) -> None:
    """`--config.key=value` names a key that exists; exits with the nearest keys otherwise.
    (Checked before absl parses the flags, whose own error does not suggest anything.)"""
    given = [a[len('--config.'):].split('=', 1)[0].split('.')[0] for a in argv[1:] if a.startswith('--config.')]
    try:
        check_keys(given, default_config().keys(), 'the command line')
    except KeyError as e:
        raise SystemExit(f'error: {e.args[0]}') from None


def resolve_system(config):
    """'auto' dtype and attention for the platform we are on."""
    platform = jax.devices()[0].platform
    dtype = config.dtype if config.dtype != 'auto' else ('float32' if platform == 'cpu' else 'bfloat16')
    head_dim = config.n_embd // config.n_head
    # cuDNN also applies the attention-weight dropout in training (model.cudnn_dropout_attention);
    # with 'xla', dropout > 0 makes training attend explicitly, the (T, T) weights materialised
    cudnn_ok = platform == 'gpu' and dtype in ('bfloat16', 'float16') and head_dim <= 128 and head_dim % 8 == 0
    attention = config.attention if config.attention != 'auto' else ('cudnn' if cudnn_ok else 'xla')
    return dtype, attention
