"""Benchmark the real train step and the real sampler: ms/iter, tokens/s, MFU, peak memory, compile time.

    python -m nanogpt_jax.bench train --model=gpt2 --batch_size=12 --block_size=1024 --attention=cudnn
    python -m nanogpt_jax.bench train --model=gpt2 --dataset=openwebtext      # real data, as train.py reads it
    python -m nanogpt_jax.bench decode --model=gpt2 --batch_size=64 --new_tokens=200

`train` times train.py's own jitted step (make_train_step, init_params, the sharding layout, the optimizer)
on random tokens held on the device, or on batches read from a prepared dataset by data.py each step;
`decode` times generate.py's prefill and KV-cache decode loop, with random weights. Each compiles first
(timed), warms up, then times with the device synchronised. The last line printed is one JSON object
with the numbers and the config that produced them. XLA flags go in the environment (XLA_FLAGS=...),
and are recorded in that JSON.
"""
import argparse
import json
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from nanogpt_jax import config as config_lib, data, metrics, profiling, sharding
from nanogpt_jax.generate import cast_params, decode, decode_rows, prefill, prefill_bucket
from nanogpt_jax.model import count_params
from nanogpt_jax.optim import make_optimizer
from nanogpt_jax.tokenizer import load_meta
from nanogpt_jax.train import git_commit, init_params, keep_cudnn_out_of_cuda_graphs, make_train_step, model_config

# (n_layer, n_head, n_embd); 'baby' is nanoGPT's shakespeare_char model
MODELS = {'gpt2': (12, 12, 768), 'gpt2-medium': (24, 16, 1024), 'gpt2-large': (36, 20, 1280),
          'gpt2-xl': (48, 25, 1600), 'baby': (6, 6, 384), 'tiny': (2, 2, 32)}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('mode', nargs='?', default='train', choices=['train', 'decode'])
    p.add_argument('--model', default='gpt2', choices=sorted(MODELS), help='shape preset (n_layer, n_head, n_embd)')
    p.add_argument('--n_layer', type=int, help='override the preset')
    p.add_argument('--n_head', type=int, help='override the preset')
    p.add_argument('--n_embd', type=int, help='override the preset')
    p.add_argument('--block_size', type=int, default=1024, help='context length (train: tokens per row)')
    p.add_argument('--vocab_size', type=int, default=50257, help="tokenizer vocab (padded to 64 in the model); "
                   "with --dataset, the dataset's")
    p.add_argument('--batch_size', type=int, help='global micro-batch (train, default 12) or rows decoded '
                   'together (decode, default 1)')
    p.add_argument('--dtype', default='auto', help="'auto' (bfloat16 on GPU/TPU, float32 on CPU) | bfloat16 | float32")
    p.add_argument('--attention', default='auto', help="'auto' (cudnn on GPU) | cudnn | xla (training only)")
    p.add_argument('--steps', type=int, default=20, help='timed train steps, or timed decode repetitions')
    p.add_argument('--warmup', type=int, default=3, help='untimed steps (or repetitions) after compiling')
    p.add_argument('--seed', type=int, default=1337)
    # train
    p.add_argument('--grad_accum', type=int, default=1, help='micro-batches per step (train)')
    p.add_argument('--mesh', default='-1,1,1', help='mesh sizes data,fsdp,tensor (-1: the remaining devices)')
    p.add_argument('--dropout', type=float, default=0.0)
    p.add_argument('--loss_chunk', type=int, default=0, help='>0: chunked cross-entropy over this many tokens')
    p.add_argument('--dataset', default='', help='prepared dataset under --data_dir (train); empty: random tokens')
    p.add_argument('--data_dir', default='data')
    # decode
    p.add_argument('--prompt_len', type=int, default=16, help='prompt tokens per row (decode)')
    p.add_argument('--new_tokens', type=int, default=500, help='tokens generated per row (decode)')
    p.add_argument('--temperature', type=float, default=0.8, help='decode sampling, as nanoGPT sample.py')
    p.add_argument('--top_k', type=int, default=200, help='decode sampling; 0 for no cut')
    # profiling
    p.add_argument('--out_dir', default='out-bench', help='where --profile_steps and --dump_hlo write')
    p.add_argument('--profile_steps', type=int, default=0, help='>0: trace this many steps after timing '
                   '(out_dir/profile) and print the top ops')
    p.add_argument('--dump_hlo', action='store_true', help='write the optimised HLO to out_dir/<step>.hlo.txt')
    args = p.parse_args(argv)
    if args.batch_size is None:
        args.batch_size = 12 if args.mode == 'train' else 1
    return args


def make_config(args):
    """A train.py config (nanogpt_jax/config.py keys) holding the benchmark's choices."""
    c = config_lib.default_config()
    n_layer, n_head, n_embd = MODELS[args.model]
    c.n_layer, c.n_head, c.n_embd = args.n_layer or n_layer, args.n_head or n_head, args.n_embd or n_embd
    c.block_size, c.batch_size, c.gradient_accumulation_steps = args.block_size, args.batch_size, args.grad_accum
    c.dtype, c.attention, c.dropout, c.seed, c.loss_chunk = args.dtype, args.attention, args.dropout, args.seed, args.loss_chunk
    c.dataset, c.data_dir, c.out_dir = args.dataset or 'random', args.data_dir, args.out_dir
    c.mesh_data, c.mesh_fsdp, c.mesh_tensor = (int(n) for n in args.mesh.split(','))
    config_lib.check_config(c)
    return c


def setup(args, config):
    """Mesh, model config and fresh weights, exactly as train.py makes them."""
    mesh = sharding.make_mesh(config)
    meta = load_meta(data.dataset_dir(config)) if args.dataset else {'vocab_size': args.vocab_size}
    dtype, attention = config_lib.resolve_system(config)
    model_cfg = model_config(config, meta, dtype, attention)
    graphdef, abstract_params = sharding.model_layout(model_cfg, mesh)
    params = init_params(config, model_cfg, abstract_params)
    return mesh, meta, model_cfg, graphdef, abstract_params, params


def timed_compile(jitted, *args, **kwargs):
    t0 = time.perf_counter()
    compiled = jitted.lower(*args, **kwargs).compile()
    return compiled, time.perf_counter() - t0


def profile(args, name, run_steps):
    """Trace a few more steps (after the timing, so it does not disturb it) and print the top ops."""
    if not args.profile_steps:
        return None
    trace_dir = os.path.join(args.out_dir, 'profile')
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    run_steps(args.profile_steps)
    jax.profiler.stop_trace()
    print(f'wrote a profile of {args.profile_steps} {name} steps to {trace_dir}')
    print(profiling.top_ops_table(trace_dir, 25))
    return trace_dir


def peak_memory(compiled_list):
    """(bytes, source): the allocator's peak where the device reports it, else XLA's plan."""
    peak = profiling.peak_memory()
    if peak is not None:
        return peak, 'device.memory_stats'
    planned = [max((profiling.memory_analysis(c) or {}).get(k) or 0 for k in ('peak', 'total')) for c in compiled_list]
    planned = [p for p in planned if p]
    return (max(planned), 'compiled.memory_analysis') if planned else (None, None)


def bench_train(args):
    config = make_config(args)
    keep_cudnn_out_of_cuda_graphs(config)  # as train.py: with dropout, before the backend starts
    mesh, meta, model_cfg, graphdef, abstract_params, params = setup(args, config)
    sharding.check_batch(config.batch_size, mesh, config.gradient_accumulation_steps)
    tx = make_optimizer(config)
    opt_state = jax.jit(tx.init, out_shardings=sharding.shardings_of(
        sharding.opt_state_layout(tx, abstract_params, mesh)))(params)
    train_step, _ = make_train_step(graphdef, tx, model_cfg, config.loss_chunk, seed=config.seed)
    step_batch = sharding.batch_sharding(mesh)
    A, B, T = config.gradient_accumulation_steps, config.batch_size, model_cfg.block_size

    if args.dataset:  # what train.py does each step: a host batch from grain, assembled into a global array
        source = data.WindowBatches(data.open_tokens(config, 'train'), micro_steps=A, batch_size=B, block_size=T,
                                    seed=config.seed, split='train')
        batches = data.batch_iterator(source)
        next_batch = lambda: data.to_global(next(batches), step_batch)
    else:  # one random batch, made once on the device: the step alone, no input pipeline
        rng = np.random.default_rng(config.seed)
        local = rng.integers(0, model_cfg.data_vocab_size or model_cfg.vocab_size, (2, A, B, T), dtype=np.int32)
        fixed = data.to_global((local[0], local[1]), step_batch)
        next_batch = lambda: fixed

    num_params = count_params(params)
    flops_token = metrics.flops_per_token(model_cfg, num_params)
    tokens_per_iter = A * B * T
    print(f'{num_params / 1e6:.2f}M parameters (non-embedding) | {model_cfg.n_layer}L {model_cfg.n_head}H '
          f'{model_cfg.n_embd}D, block {T}, vocab {model_cfg.vocab_size} | {jax.device_count()} x '
          f'{jax.devices()[0].device_kind} | {model_cfg.dtype}, {model_cfg.attention} attention | '
          f'{A} x {B} x {T} = {tokens_per_iter:,} tokens per iteration | '
          f'{"data " + args.dataset if args.dataset else "random tokens"}')

    x_ABT, y_ABT = next_batch()
    compiled, compile_s = timed_compile(train_step, params, opt_state, x_ABT, y_ABT, np.int32(0))
    analytic = flops_token * tokens_per_iter / jax.device_count()
    print(f'compiled the train step in {compile_s:.1f}s')
    print(profiling.compiled_summary(compiled, analytic))
    report = profiling.compiled_report(compiled, analytic)
    if args.dump_hlo:
        print(f'wrote the optimised HLO to {profiling.dump_hlo(compiled, args.out_dir, "train_step")}')

    state = {'params': params, 'opt_state': opt_state, 'metrics': None, 'step': 0}

    def run_steps(n):
        for _ in range(n):
            x_ABT, y_ABT = next_batch()
            state['params'], state['opt_state'], state['metrics'] = compiled(
                state['params'], state['opt_state'], x_ABT, y_ABT, np.int32(state['step']))
            state['step'] += 1
        jax.block_until_ready((state['params'], state['opt_state'], state['metrics']))

    t0 = time.perf_counter()
    run_steps(args.warmup)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_steps(args.steps)
    dt = (time.perf_counter() - t0) / args.steps
    loss = float(state['metrics']['loss'])
    tokens_per_sec = tokens_per_iter / dt
    step_mfu = metrics.mfu(tokens_per_sec, flops_token)
    peak, peak_source = peak_memory([compiled])
    mfu_text = f', MFU {100 * step_mfu:.1f}%' if step_mfu is not None else ''
    print(f'train: {dt * 1e3:.2f} ms/iter, {tokens_per_sec:,.0f} tok/s{mfu_text}, loss {loss:.4f}, '
          f'peak memory {peak / 2**30 if peak else float("nan"):.2f} GiB ({peak_source}), compile {compile_s:.1f}s')
    trace_dir = profile(args, 'train', run_steps)
    return dict(mode='train', ms_per_iter=dt * 1e3, tokens_per_sec=tokens_per_sec, mfu=step_mfu,
                peak_memory_bytes=peak, peak_memory_gib=peak / 2**30 if peak else None, peak_memory_source=peak_source,
                compile_s=compile_s, warmup_s=warmup_s, loss=loss, tokens_per_iter=tokens_per_iter,
                num_params=num_params, flops_per_token=flops_token, analytic_flops_per_step_per_device=analytic,
                xla_flops_per_step_per_device=report['xla_flops'], compiled_memory=report['memory'],
                profile_dir=trace_dir, config=run_config(args, model_cfg))


def bench_decode(args):
    config = make_config(args)
    mesh, meta, model_cfg, graphdef, abstract_params, params = setup(args, config)
    B, P, N, S = args.batch_size, args.prompt_len, args.new_tokens, model_cfg.block_size
    if P + N > S:
        raise SystemExit(f'error: prompt_len + new_tokens = {P + N} exceeds block_size={S}; one window is timed.')
    params = cast_params(params, jnp.dtype(model_cfg.dtype))  # as generate() does
    num_params = count_params(params)
    prompt_BP = np.random.default_rng(args.seed).integers(0, args.vocab_size, (B, P), dtype=np.int32)
    rows = decode_rows(B)  # as generate() decodes them: one prompt beside a copy of itself (tokens/s counts B)
    window_np = np.zeros((rows, S), np.int32)
    window_np[:, :P] = np.resize(prompt_BP, (rows, P))
    cache_len = prefill_bucket(P + N, S)  # the positions this window fills, as generate() sizes its cache
    sample = dict(temperature=args.temperature, top_k=args.top_k, top_p=1.0, vocab_size=args.vocab_size)
    print(f'{num_params / 1e6:.2f}M parameters (non-embedding) | {model_cfg.n_layer}L {model_cfg.n_head}H '
          f'{model_cfg.n_embd}D, cache {cache_len} of {S} positions | {jax.device_count()} x {jax.devices()[0].device_kind} | '
          f'{model_cfg.dtype} | batch {B} ({rows} rows decoded), prompt {P}, {N} new tokens, '
          f'temperature {args.temperature}, top_k {args.top_k}')

    window = jnp.asarray(window_np)
    prefill_c, prefill_s = timed_compile(prefill, graphdef, params, window, P, prefill_len=prefill_bucket(P, S),
                                         cache_len=cache_len)
    cache, logits_BV = prefill_c(params, window, P)
    decode_c, decode_s = timed_compile(decode, graphdef, params, window, cache, logits_BV, P,
                                       jax.random.key(0), steps=N, **sample)
    compile_s = prefill_s + decode_s
    print(f'compiled prefill in {prefill_s:.1f}s and the decode loop in {decode_s:.1f}s')
    print('decode loop: ' + profiling.compiled_summary(decode_c))
    if args.dump_hlo:
        for name, c in (('prefill', prefill_c), ('decode', decode_c)):
            print(f'wrote the optimised HLO to {profiling.dump_hlo(c, args.out_dir, name)}')

    def once(i):
        """(prefill seconds, decode seconds), each synchronised."""
        window, key = jax.block_until_ready((jnp.asarray(window_np), jax.random.key(i)))  # window is donated
        t0 = time.perf_counter()
        cache, logits_BV = jax.block_until_ready(prefill_c(params, window, P))
        t1 = time.perf_counter()
        out = jax.block_until_ready(decode_c(params, window, cache, logits_BV, P, key))
        t2 = time.perf_counter()
        assert out.shape == (rows, S)
        return t1 - t0, t2 - t1

    for i in range(args.warmup):
        once(i)
    times = [once(args.warmup + i) for i in range(args.steps)]
    t_prefill = statistics.median(t[0] for t in times)
    t_decode = statistics.median(t[1] for t in times)
    decode_tps, total_tps = B * N / t_decode, B * N / (t_prefill + t_decode)
    # what each decode step reads from memory at least: the weights and the cache
    weight_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(params))
    cache_bytes = 2 * model_cfg.n_layer * rows * cache_len * model_cfg.n_embd * jnp.dtype(model_cfg.dtype).itemsize
    bytes_per_s = (weight_bytes + cache_bytes) * N / t_decode
    peak, peak_source = peak_memory([prefill_c, decode_c])
    print(f'decode: {decode_tps:,.0f} tok/s decoding only ({t_decode / N * 1e3:.3f} ms per step), '
          f'{total_tps:,.0f} tok/s with the prefill ({t_prefill * 1e3:.2f} ms); '
          f'>= {bytes_per_s / 1e9:,.0f} GB/s of weights + KV cache; '
          f'peak memory {peak / 2**30 if peak else float("nan"):.2f} GiB ({peak_source}), compile {compile_s:.1f}s')
    trace_dir = profile(args, 'decode', lambda n: [once(10_000 + i) for i in range(n)])
    return dict(mode='decode', decode_tokens_per_sec=decode_tps, tokens_per_sec=total_tps,
                ms_per_token_step=t_decode / N * 1e3, decode_s=t_decode, prefill_ms=t_prefill * 1e3,
                peak_memory_bytes=peak, peak_memory_gib=peak / 2**30 if peak else None, peak_memory_source=peak_source,
                compile_s=compile_s, prefill_compile_s=prefill_s, decode_compile_s=decode_s, num_params=num_params,
                weight_bytes=weight_bytes, kv_cache_bytes=cache_bytes, min_bytes_per_s=bytes_per_s,
                profile_dir=trace_dir, config=run_config(args, model_cfg))


def run_config(args, model_cfg):
    return dict(**vars(args), model_shape=dict(model_cfg.__dict__), device=jax.devices()[0].device_kind,
                num_devices=jax.device_count(), platform=jax.devices()[0].platform, jax=jax.__version__,
                xla_flags=os.environ.get('XLA_FLAGS', ''), git_commit=git_commit(), argv=sys.argv[1:],
                date=time.strftime('%Y-%m-%d'))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = bench_train(args) if args.mode == 'train' else bench_decode(args)
    print(json.dumps(result), flush=True)
    return result


if __name__ == '__main__':
    main()
