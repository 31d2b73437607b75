"""Train a GPT.

    python -m nanogpt_jax.train --config=configs/shakespeare_char.py --config.max_iters=2000

The whole method, top to bottom: config -> mesh -> data -> a jitted train step (gradient accumulation
inside, state donated), compiled on another thread from the shapes while the model and optimizer are
created (already sharded) -> the loop (eval, checkpoints, logs) -> an optional sample. The same file
runs on a CPU, a GPU node or a TPU pod.
"""
import concurrent.futures
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, logging
from flax import nnx
from ml_collections import config_flags
from tqdm import tqdm

from nanogpt_jax import checkpoint, config as config_lib, data, distributed, metrics, profiling, sharding
from nanogpt_jax.generate import generate
from nanogpt_jax.model import GPTConfig, GPT, count_params, padded_vocab
from nanogpt_jax.optim import lr_schedule, make_optimizer
from nanogpt_jax.tokenizer import get_tokenizer, load_meta

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/shakespeare_char_cpu.py', 'Recipe file in configs/.')


def git_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=here, capture_output=True, text=True,
                              timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def model_config(config, meta, dtype, attention, pretrained_shape=None):
    """The model's shape: from the checkpoint when resuming or starting from GPT-2, else the config."""
    shape = dict(n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd, block_size=config.block_size,
                 bias=config.bias, vocab_size=config.vocab_size or padded_vocab(meta['vocab_size'] if meta else 50257))
    if config.init_from == 'resume':
        try:
            directory = checkpoint.find(config.out_dir, 'latest')
        except FileNotFoundError:
            raise FileNotFoundError(f'init_from=resume, but {config.out_dir}/ckpt holds no checkpoint. Train first '
                                    f'with init_from=scratch, or set out_dir to the run you want to resume.') from None
        shape = checkpoint.read_info(directory)['model']
    elif pretrained_shape is not None:
        shape = pretrained_shape  # only dropout (and a shorter block_size) may differ from GPT-2's
    shape = {k: v for k, v in shape.items() if k not in ('dropout', 'dtype', 'attention', 'data_vocab_size')}
    data_vocab = meta['vocab_size'] if meta else 50257
    if data_vocab > shape['vocab_size']:
        raise ValueError(f'The dataset {config.dataset!r} has {data_vocab} token ids, more than the model\'s '
                         f'{shape["vocab_size"]}: {config.init_from} expects another tokenizer. Prepare the data '
                         f'with it, or train from scratch.')
    return GPTConfig(**shape, data_vocab_size=data_vocab if data_vocab < shape['vocab_size'] else 0,
                     dropout=config.dropout, dtype=dtype, attention=attention)


def load_pretrained(config):
    """(shape, params) of OpenAI's GPT-2 or a Hugging Face GPT-2 directory, cropped to block_size."""
    from nanogpt_jax.hf import crop_block_size, load_hf_gpt2
    shape, params = load_hf_gpt2(config.init_from)
    if config.block_size < shape['block_size']:
        shape, params = crop_block_size(shape, params, config.block_size)
    return shape, params


def init_params(config, model_cfg, abstract_params, pretrained_params=None):
    """Fresh weights drawn on the host CPU, or pretrained ones; then placed on the devices as the rules say.
    The model's init is ~350 small random-number kernels: compiled for a GPU they took ~10 s (an H200
    machine), for the host ~1 s, and drawing 124M numbers there takes a second or two (docs/benchmarks.md).
    Every process draws the same values from config.seed and keeps its own shards."""
    if pretrained_params is None:
        init = jax.jit(lambda key: nnx.to_pure_dict(nnx.state(GPT(model_cfg, nnx.Rngs(key)))))
        try:
            host = jax.local_devices(backend='cpu')[0]
        except RuntimeError:  # JAX_PLATFORMS leaves the CPU out: draw them on the devices, already sharded
            return jax.jit(init, out_shardings=sharding.shardings_of(abstract_params))(jax.random.key(config.seed))
        with jax.default_device(host):
            pretrained_params = init(jax.random.key(config.seed))
    return jax.tree.map(lambda x, a: jax.device_put(np.asarray(x, np.float32), a.sharding),
                        pretrained_params, abstract_params)


def make_train_step(graphdef, tx, model_cfg, loss_chunk: int = 0, *, seed: int = 0, schedule=None):
    def loss_fn(params, x_BT, y_BT, key):
        model = nnx.merge(graphdef, params)
        rngs = nnx.Rngs(dropout=key) if model_cfg.dropout > 0 else None
        return model.loss(x_BT, y_BT, rngs, chunk=loss_chunk)

    def train_step(params, opt_state, x_ABT, y_ABT, step):
        """One optimizer step over A micro-batches: gradients summed in a scan, then averaged. The dropout
        key and the logged learning rate come from the step number here, so the loop runs no op of its own
        on the device (each would be compiled on first use, while the train step compiles)."""
        keys_A = jax.random.split(jax.random.fold_in(jax.random.key(seed), step), x_ABT.shape[0])

        def micro_step(grads, batch):
            loss, micro_grads = jax.value_and_grad(loss_fn)(params, *batch)
            return jax.tree.map(jnp.add, grads, micro_grads), loss

        if x_ABT.shape[0] == 1:  # no accumulation: no loop, no zeroed gradient buffer
            loss, grads = jax.value_and_grad(loss_fn)(params, x_ABT[0], y_ABT[0], keys_A[0])
            losses_A = loss[None]
        else:
            zeros = jax.tree.map(jnp.zeros_like, params)
            grads, losses_A = jax.lax.scan(micro_step, zeros, (x_ABT, y_ABT, keys_A))
        grads = jax.tree.map(lambda g: g / x_ABT.shape[0], grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        step_metrics = {'loss': losses_A.mean(), 'grad_norm': optax.global_norm(grads)}
        return params, opt_state, step_metrics | ({'lr': schedule(step)} if schedule else {})

    def eval_step(params, x_KBT, y_KBT):
        """Mean loss over K batches in one call: a single dispatch per eval, not one per batch."""
        model = nnx.merge(graphdef, params)
        return jax.lax.map(lambda xy: model.loss(*xy, chunk=loss_chunk), (x_KBT, y_KBT)).mean()

    return jax.jit(train_step, donate_argnums=(0, 1)), jax.jit(eval_step)


def keep_cudnn_out_of_cuda_graphs(config) -> None:
    """cuDNN attention with dropout (model.cudnn_dropout_attention) aborts XLA inside a CUDA graph (jax 0.11.2:
    "Check failed: local_device_ordinal.has_value()"), so with dropout on a GPU the cuDNN calls run outside
    the graphs. An XLA flag, read when the backend starts: call this before any jax computation."""
    flags = os.environ.get('XLA_FLAGS', '')
    if config.dropout > 0 and config.attention in ('auto', 'cudnn') and 'xla_gpu_enable_command_buffer' not in flags:
        os.environ['XLA_FLAGS'] = f'{flags} --xla_gpu_enable_command_buffer=-CUDNN'.strip()


def use_cublas_gemms(config) -> None:
    """triton_gemm=False: every gemm through cuBLAS, none fused into a Triton kernel that XLA autotunes at compile
    time. An XLA flag, read when the backend starts (call before any jax computation); a user's own wins."""
    flags = os.environ.get('XLA_FLAGS', '')
    if not config.triton_gemm and 'xla_gpu_enable_triton_gemm' not in flags:
        os.environ['XLA_FLAGS'] = f'{flags} --xla_gpu_enable_triton_gemm=false'.strip()


def compile_in_background(jitted, *abstract_args):
    """A future of (compiled step, seconds), compiled on another thread from the arguments' shapes and
    shardings. XLA compiles without holding the GIL, so the ~15 s a GPU spends compiling (and autotuning)
    a train step overlap the weights' init, the other compiles and the step-0 eval."""
    def compile_step():
        t0 = time.perf_counter()
        compiled = jitted.lower(*abstract_args).compile()
        return compiled, time.perf_counter() - t0

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix='compile')
    future = pool.submit(compile_step)
    pool.shutdown(wait=False)  # the thread ends with its compile
    return future


class StopSignal:
    """Ctrl-C / SIGTERM set a flag; the loop saves a checkpoint at the next step boundary and exits."""

    def __init__(self):
        self.received = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.handle)

    def handle(self, signum, frame):
        if self.received is not None:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        tqdm.write(f'{self.received}: finishing this step and saving a checkpoint (again to abort)')


def main(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint step at INFO
    config = _CONFIG.value
    config_lib.check_config(config)
    keep_cudnn_out_of_cuda_graphs(config)
    use_cublas_gemms(config)
    distributed.initialize(config)
    is_main = jax.process_index() == 0
    log = tqdm.write if is_main else (lambda *a, **k: None)

    # ----- mesh, data, model -----
    mesh = sharding.make_mesh(config)
    sharding.check_batch(config.batch_size, mesh, config.gradient_accumulation_steps)
    meta = load_meta(data.dataset_dir(config))
    train_tokens, val_tokens = data.open_tokens(config, 'train'), data.open_tokens(config, 'val')
    dtype, attention = config_lib.resolve_system(config)
    pretrained_shape, pretrained_params = (load_pretrained(config) if config.init_from not in ('scratch', 'resume')
                                           else (None, None))
    model_cfg = model_config(config, meta, dtype, attention, pretrained_shape)
    tx = make_optimizer(config)
    graphdef, abstract_params = sharding.model_layout(model_cfg, mesh)
    # eval_only needs no optimizer state (for gpt2-xl that is 12 GB of Adam moments)
    abstract_opt_state = None if config.eval_only else sharding.opt_state_layout(tx, abstract_params, mesh)

    # ----- compiled steps: the train step compiles in the background from the shapes alone -----
    schedule = lr_schedule(config)
    train_step, eval_step = make_train_step(graphdef, tx, model_cfg, config.loss_chunk, seed=config.seed,
                                            schedule=schedule)
    step_batch = sharding.batch_sharding(mesh)
    if not config.eval_only:
        batch = jax.ShapeDtypeStruct((config.gradient_accumulation_steps, config.batch_size, model_cfg.block_size),
                                     jnp.int32, sharding=step_batch)
        compiling = compile_in_background(train_step, abstract_params, abstract_opt_state, batch, batch,
                                          jax.ShapeDtypeStruct((), jnp.int32))
    if config.init_from != 'resume':
        params = init_params(config, model_cfg, abstract_params, pretrained_params)
    iter_num, best_val_loss = 0, float('inf')
    if config.init_from == 'resume':
        directory = checkpoint.find(config.out_dir, 'latest')
        params, opt_state, info = checkpoint.restore(directory, abstract_params, abstract_opt_state)
        iter_num, best_val_loss = info['step'], info['best_val_loss']
        log(f'resuming from {directory} at step {iter_num} (best val loss {best_val_loss:.4f})')
    elif not config.eval_only:
        opt_state = jax.jit(tx.init, out_shardings=sharding.shardings_of(abstract_opt_state))(params)

    num_params = count_params(params)
    flops_token = metrics.flops_per_token(model_cfg, num_params)
    tokens_per_iter = config.gradient_accumulation_steps * config.batch_size * model_cfg.block_size
    log(f'{num_params / 1e6:.2f}M parameters (non-embedding) | mesh {dict(mesh.shape)} on '
        f'{jax.device_count()} x {jax.devices()[0].device_kind} | {dtype}, {attention} attention | '
        f'{tokens_per_iter:,} tokens per iteration')

    # ----- the run directory: enough to reproduce the run -----
    os.makedirs(config.out_dir, exist_ok=True)
    checkpoint.write_json(os.path.join(config.out_dir, 'config.json'), config.to_dict())
    checkpoint.write_json(os.path.join(config.out_dir, 'meta.json'), meta or {'tokenizer': 'gpt2', 'vocab_size': 50257})
    checkpoint.write_json(os.path.join(config.out_dir, 'run.json'), dict(
        git_commit=git_commit(), command=sys.argv, jax=jax.__version__, devices=jax.device_count(),
        device_kind=jax.devices()[0].device_kind, processes=jax.process_count(), mesh=dict(mesh.shape),
        dataset=config.dataset, dataset_meta=meta, model=model_cfg.__dict__))

    # ----- batches -----
    make_source = lambda tokens, split, micro, seed: data.WindowBatches(
        tokens, micro_steps=micro, batch_size=config.batch_size, block_size=model_cfg.block_size, seed=seed, split=split,
        rows=sharding.process_rows(mesh, config.batch_size))  # only the rows this process's devices hold
    train_batches = data.batch_iterator(make_source(train_tokens, 'train', config.gradient_accumulation_steps,
                                                    config.seed), start=iter_num)
    # every eval reads the same eval_iters batches of each split: drawn once, kept on the devices
    eval_sources = {'train': make_source(train_tokens, 'train', config.eval_iters, config.seed + 1),
                    'val': make_source(val_tokens, 'val', config.eval_iters, config.seed)}
    eval_batches = {split: data.to_global(source[0], step_batch) for split, source in eval_sources.items()}

    def estimate_loss():
        """Mean loss over the eval batches of each split."""
        return {split: float(eval_step(params, *batches)) for split, batches in eval_batches.items()}

    if config.eval_only:
        losses = estimate_loss()
        log(f'eval: train loss {losses["train"]:.4f}, val loss {losses["val"]:.4f}')
        return

    ckpts = checkpoint.Checkpoints(config.out_dir)
    writer = metrics.MetricsWriter(config, resume_step=iter_num)

    def save(kind):
        info = dict(step=iter_num, best_val_loss=best_val_loss, data_index=iter_num,
                    model={k: v for k, v in model_cfg.__dict__.items() if k not in ('dtype', 'attention')},
                    config=config.to_dict())
        ckpts.save(kind, iter_num, params, opt_state, info)

    stop = StopSignal()
    start_iter, pending, t_last = iter_num, None, time.perf_counter()
    bar = tqdm(total=config.max_iters, initial=iter_num, disable=not (is_main and config.progress and sys.stderr.isatty()),
               dynamic_ncols=True, leave=False)
    try:
        while True:
            # ----- eval and checkpoints -----
            resumed_here = iter_num == start_iter and config.init_from == 'resume'
            if (iter_num % config.eval_interval == 0 or iter_num == config.max_iters) and not resumed_here:
                losses = estimate_loss()
                log(f'step {iter_num}: train loss {losses["train"]:.4f}, val loss {losses["val"]:.4f}')
                writer.write(dict(step=iter_num, train_loss=losses['train'], val_loss=losses['val']))
                improved = losses['val'] < best_val_loss
                best_val_loss = min(best_val_loss, losses['val'])
                if iter_num > 0 and improved:  # one save: `best` is then also the newest state (see checkpoint.py)
                    save('best')
                elif iter_num > 0 and config.always_save_checkpoint:
                    save('latest')
            if iter_num >= config.max_iters or stop.received:
                break

            # ----- one step; read the previous step's metrics only after this one is dispatched -----
            x_ABT, y_ABT = data.to_global(next(train_batches), step_batch)
            if iter_num == start_iter:
                t0 = time.perf_counter()
                train_step, compile_s = compiling.result()
                log(f'compiled the train step in {compile_s:.1f}s, in the background (waited {time.perf_counter() - t0:.1f}s)')
                log(profiling.compiled_summary(train_step, flops_token * tokens_per_iter / jax.device_count()))
                if config.dump_hlo and is_main:
                    log(f'wrote the optimised HLO to {profiling.dump_hlo(train_step, config.out_dir)}')
            if config.profile_steps and iter_num == start_iter + 3:
                jax.profiler.start_trace(os.path.join(config.out_dir, 'profile'), create_perfetto_trace=True)
            params, opt_state, step_metrics = train_step(params, opt_state, x_ABT, y_ABT, np.int32(iter_num))
            if config.profile_steps and iter_num == start_iter + 3 + config.profile_steps:
                jax.block_until_ready(params)
                jax.profiler.stop_trace()
                log(f'wrote a profile of {config.profile_steps} steps to {config.out_dir}/profile')
            if pending is not None:
                log_step(pending, config, writer, log, flops_token, tokens_per_iter)
            pending = None
            iter_num += 1
            bar.update(1)
            if iter_num % config.log_interval == 0:
                now = time.perf_counter()
                pending = (iter_num - 1, step_metrics, (now - t_last) / config.log_interval)
                t_last = now

        # ----- finish: last metrics, final checkpoint, wait for async writes -----
        if pending is not None:
            log_step(pending, config, writer, log, flops_token, tokens_per_iter)
        bar.close()
        if stop.received or ckpts.newest_step() < iter_num:
            save('latest')
    finally:  # an async save in flight completes even if the loop dies (an error, a closed stdout):
        ckpts.wait()  # else orbax's threads hold the exit until their 300 s timeout
        ckpts.close()
    writer.close()
    if stop.received:
        log(f'stopped by {stop.received} at step {iter_num}; checkpoint saved. '
            f'Resume with --config.init_from=resume --config.out_dir={config.out_dir}')
        sys.exit(130 if stop.received == 'SIGINT' else 143)
    if config.sample_at_end:  # every process decodes (the weights may be split across them); process 0 prints
        tokenizer = get_tokenizer(meta)
        start = np.asarray([tokenizer.encode('\n')], np.int32)
        out = generate(graphdef, params, start, config.sample_at_end, jax.random.key(config.seed),
                       block_size=model_cfg.block_size, vocab_size=tokenizer.vocab_size,
                       temperature=0.8, top_k=200, dtype=jnp.dtype(dtype))
        log('---------- sample ----------\n' + tokenizer.decode(out[0].tolist()))


def log_step(pending, config, writer, log, flops_token, tokens_per_iter):
    step, step_metrics, dt = pending
    loss, grad_norm, lr = (float(v) for v in jax.device_get((step_metrics['loss'], step_metrics['grad_norm'],
                                                             step_metrics['lr'])))
    tokens_per_sec = tokens_per_iter / dt
    step_mfu = metrics.mfu(tokens_per_sec, flops_token)
    mfu_text = f', mfu {100 * step_mfu:.1f}%' if step_mfu is not None else ''
    log(f'iter {step}: loss {loss:.4f}, time {dt * 1000:.1f}ms, {tokens_per_sec:,.0f} tok/s{mfu_text}')
    writer.write(dict(step=step, train_loss=loss, lr=lr, grad_norm=grad_norm,
                      tokens_per_sec=tokens_per_sec, mfu=step_mfu))


if __name__ == '__main__':
    config_lib.check_flag_overrides(sys.argv)
    app.run(main)
