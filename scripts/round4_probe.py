"""Fourth-round probes for issue 3 (one GPU), small enough to share one device call:

    python scripts/round4_probe.py decode_check    # one decode step through cuDNN (model.cudnn_decode_attention)
                                                   # against the explicit path, and greedy tokens from both
    python scripts/round4_probe.py topk VARIANT BENCH_ARGS...   # bench decode with the k-th largest logit found
                                                   # by counting passes over bf16 keys instead of a sort
    python scripts/round4_probe.py startup DATA_DIR [EVAL_ITERS]   # train.main's startup, step by step, timed
                                                   # (STARTUP_SEQUENTIAL=1: the train step compiled last)
    python scripts/round4_probe.py decode_min_batch N BENCH_ARGS...   # bench decode, cuDNN from batch N

Each prints a few lines and a last JSON line.
"""
import json
import sys


def decode_check():
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx
    from nanogpt_jax import generate
    from nanogpt_jax.model import GPT, GPTConfig

    shape = dict(n_layer=4, n_head=12, n_embd=768, block_size=256, vocab_size=512, dtype='bfloat16')
    rows = {}
    for attention in ('xla', 'cudnn'):
        model = GPT(GPTConfig(**shape, attention=attention), nnx.Rngs(0))
        graphdef, params = nnx.split(model)
        params = generate.cast_params(nnx.to_pure_dict(params), jnp.bfloat16)
        tokens_BS = jnp.asarray(np.random.default_rng(0).integers(0, 512, (8, 256)), jnp.int32)

        @jax.jit
        def step_logits(params, tokens_BS):  # prefill 40 positions, then one cached step at position 40..43
            m = nnx.merge(graphdef, params)
            cache = m.init_cache(8, 64)
            _, cache = m.hidden(tokens_BS[:, :40], cache=cache, pos=0)
            out = []
            for pos in range(40, 44):
                x, cache = m.hidden(tokens_BS[:, pos:pos + 1], cache=cache, pos=pos)
                out.append(m.logits(x)[:, 0])
            return jnp.stack(out, 1)

        full = nnx.merge(graphdef, params)(tokens_BS[:, :44])[:, 40:44]  # no cache: the reference
        got = step_logits(params, tokens_BS)
        greedy = generate.generate(graphdef, params, np.asarray(tokens_BS[:, :16]), 60, jax.random.key(0),
                                   block_size=256, vocab_size=512, temperature=0.0, dtype=jnp.bfloat16)
        rows[attention] = dict(max_abs_err_vs_full=float(jnp.abs(got - full).max()),
                               logit_scale=float(jnp.abs(full).max()), greedy=greedy)
        print(attention, rows[attention]['max_abs_err_vs_full'], rows[attention]['logit_scale'])
    same = float((rows['xla']['greedy'] == rows['cudnn']['greedy']).mean())
    print(json.dumps(dict(xla_err=rows['xla']['max_abs_err_vs_full'], cudnn_err=rows['cudnn']['max_abs_err_vs_full'],
                          logit_scale=rows['xla']['logit_scale'], greedy_tokens_equal=same)))


def topk():
    """`bench decode` with sample_token's cut at the k-th largest bf16-rounded logit found by counting:
    keys = the bf16 bits mapped to order-preserving ints; for each pass fix BITS more bits of the k-th
    key, counting the keys at or above each of the 2**BITS - 1 candidates (radix4: 4 passes of 15
    counts; bisect: 16 passes of 1, as generate.kth_largest_key). sort: a sort of the keys instead."""
    import jax
    import jax.numpy as jnp
    from nanogpt_jax import bench, generate
    variant, argv = sys.argv[2], sys.argv[3:]
    bits = {'radix4': 4, 'radix2': 2, 'bisect': 1, 'sort': 0}[variant]
    original = generate.sample_token

    def kth_key(keys_BV, k):
        t_B = jnp.zeros(keys_BV.shape[:1], jnp.int32)
        for shift in range(16 - bits, -1, -bits):
            cand_BJ = t_B[:, None] + (jnp.arange(1, 2 ** bits, dtype=jnp.int32) << shift)[None, :]
            count_BJ = jnp.sum(keys_BV[:, None, :] >= cand_BJ[:, :, None], axis=-1, dtype=jnp.int32)
            t_B = t_B + (jnp.sum(count_BJ >= k, axis=-1, dtype=jnp.int32) << shift)
        return t_B

    def sample_token(logits_BV, key, temperature, top_k, top_p):
        if temperature == 0.0 or not top_k or top_k == 1:
            return original(logits_BV, key, temperature, top_k, top_p)
        logits_BV = logits_BV / temperature
        b_BV = jax.lax.bitcast_convert_type(logits_BV.astype(jnp.bfloat16), jnp.uint16).astype(jnp.int32)
        keys_BV = jnp.where(b_BV >= 0x8000, 0xFFFF - b_BV, b_BV + 0x8000)  # monotone in the value
        if variant == 'sort':  # the cut of 99573f9: a sort of the bf16-rounded logits
            kth_B1 = jnp.sort(keys_BV, axis=-1)[:, -min(top_k, logits_BV.shape[-1]), None]
        else:
            kth_B1 = kth_key(keys_BV, min(top_k, logits_BV.shape[-1]))[:, None]
        keep_BV = keys_BV >= kth_B1
        return original(jnp.where(keep_BV, logits_BV, -jnp.inf), key, 1.0, 0, top_p)

    # same cut as sample_token's sort, checked here on ties and on random rows before timing
    x = jax.random.normal(jax.random.key(0), (64, 50257)) * 3
    x = x.at[:, :300].set(7.0)  # a tie across the k-th
    for rows in (x, x[:1]) if bits else ():
        rounded = rows.astype(jnp.bfloat16)
        expected = rounded >= jnp.sort(rounded, axis=-1)[:, -200, None]
        b = jax.lax.bitcast_convert_type(rounded, jnp.uint16).astype(jnp.int32)
        keys = jnp.where(b >= 0x8000, 0xFFFF - b, b + 0x8000)
        assert bool(((keys >= jax.jit(kth_key, static_argnums=1)(keys, 200)[:, None]) == expected).all())
    generate.sample_token = sample_token
    bench.main(['decode'] + argv)


def decode_min_batch():
    """`bench decode` with cuDNN decode attention from another batch size (model.CUDNN_DECODE_MIN_BATCH)."""
    from nanogpt_jax import bench, model
    model.CUDNN_DECODE_MIN_BATCH = int(sys.argv[2])
    bench.main(['decode'] + sys.argv[3:])


def startup():
    """train.main's steps up to the first train step for configs/shakespeare_char.py, each timed (seconds
    since the start): where the ~14 s before training go, with the train step compiling in the background."""
    import os
    import time
    t0 = time.perf_counter()
    marks = {}
    mark = lambda name: marks.setdefault(name, round(time.perf_counter() - t0, 2))
    import jax
    import jax.numpy as jnp
    import importlib.util
    from nanogpt_jax import config as config_lib, data, sharding, train
    from nanogpt_jax.tokenizer import load_meta
    mark('imports')
    jax.devices()
    mark('backend')
    spec = importlib.util.spec_from_file_location('c', 'configs/shakespeare_char.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.data_dir = sys.argv[2]
    config.eval_iters = int(sys.argv[3]) if len(sys.argv) > 3 else config.eval_iters  # small for a CPU smoke run
    train.keep_cudnn_out_of_cuda_graphs(config)
    mesh = sharding.make_mesh(config)
    meta = load_meta(data.dataset_dir(config))
    tokens = {split: data.open_tokens(config, split) for split in ('train', 'val')}
    dtype, attention = config_lib.resolve_system(config)
    model_cfg = train.model_config(config, meta, dtype, attention)
    tx = train.make_optimizer(config)
    graphdef, abstract_params = sharding.model_layout(model_cfg, mesh)
    abstract_opt_state = sharding.opt_state_layout(tx, abstract_params, mesh)
    train_step, eval_step = train.make_train_step(graphdef, tx, model_cfg, config.loss_chunk, seed=config.seed,
                                                  schedule=train.lr_schedule(config))
    step_batch = sharding.batch_sharding(mesh)
    batch = jax.ShapeDtypeStruct((1, config.batch_size, model_cfg.block_size), jnp.int32, sharding=step_batch)
    mark('layouts')
    sequential = os.environ.get('STARTUP_SEQUENTIAL') == '1'  # no background compile: after the eval, as before b3a6f95
    if not sequential:
        compiling = train.compile_in_background(train_step, abstract_params, abstract_opt_state, batch, batch,
                                                jax.ShapeDtypeStruct((), jnp.int32))
    params = jax.block_until_ready(train.init_params(config, model_cfg, abstract_params))
    mark('init_params')
    opt_state = jax.block_until_ready(jax.jit(tx.init, out_shardings=sharding.shardings_of(abstract_opt_state))(params))
    mark('opt_init')
    source = lambda split, seed: data.WindowBatches(tokens[split], micro_steps=config.eval_iters, batch_size=config.batch_size,
                                                    block_size=model_cfg.block_size, seed=seed, split=split)
    batches = {split: data.to_global(source(split, config.seed)[0], step_batch) for split in ('train', 'val')}
    mark('eval_batches')
    compiled_eval = eval_step.lower(params, *batches['val']).compile()
    mark('eval_compile')
    losses = {split: float(compiled_eval(params, *b)) for split, b in batches.items()}
    mark('eval_run')
    if sequential:
        compiling = train.compile_in_background(train_step, abstract_params, abstract_opt_state, batch, batch,
                                                jax.ShapeDtypeStruct((), jnp.int32))
    _, compile_s = compiling.result()
    mark('train_compiled')
    losses['train_compile_s'] = round(compile_s, 2)
    print(json.dumps(dict(marks=marks, **losses)))


if __name__ == '__main__':
    {'decode_check': decode_check, 'topk': topk, 'startup': startup, 'decode_min_batch': decode_min_batch}[sys.argv[1]]()
