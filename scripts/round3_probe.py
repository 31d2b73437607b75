"""Third-round probes for issue 3 (one GPU), each small enough to share one device call:

    python scripts/round3_probe.py cudnn_dropout   # does cuDNN's fused attention draw a new dropout mask per call?
    python scripts/round3_probe.py cudnn_dropout_check   # model.cudnn_dropout_attention's masks, against a reference
    python scripts/round3_probe.py eval_groups     # a shakespeare_char eval: n batches per forward instead of 1
    python scripts/round3_probe.py startup         # where the seconds before the first step go: imports, jax init
    python scripts/round3_probe.py topk VARIANT BENCH_ARGS...   # bench decode with another top-k cut

Each prints a few lines and a last JSON line.
"""
import json
import math
import statistics
import subprocess
import sys
import time


def timed(fn, *args, reps=5):
    import jax
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cudnn_dropout():
    """cuDNN flash attention with dropout (jax's private API takes a static seed): is the mask the same at
    every call, in every layer? And its forward+backward time against our explicit dropout attention."""
    import jax
    import jax.numpy as jnp
    from jax._src.cudnn.fused_attention_stablehlo import MaskType, dot_product_attention
    from flax import nnx
    from nanogpt_jax.model import attention_weights
    B, T, N, H = 64, 256, 6, 64
    q, k, v, w = (jax.random.normal(jax.random.key(i), (B, T, N, H), jnp.bfloat16) for i in range(4))

    def fused(q, k, v, rate):
        return dot_product_attention(q, k, v, scale=1 / math.sqrt(H), mask_type=MaskType.CAUSAL,
                                     dropout_rate=rate, seed=42)

    f = jax.jit(lambda q, k, v: fused(q, k, v, 0.2))
    o1, o2 = f(q, k, v), f(q, k, v)
    two = jax.jit(lambda q, k, v: (fused(q, k, v, 0.2), fused(q, k, v, 0.2)))(q, k, v)
    ref = jax.jit(lambda q, k, v: fused(q, k, v, 0.0))(q, k, v)
    out = dict(same_mask_across_calls=bool(jnp.array_equal(o1, o2)),
               same_mask_two_layers_one_call=bool(jnp.array_equal(*two)),
               rel_diff_vs_no_dropout=float(jnp.linalg.norm((o1 - ref).astype(jnp.float32)) /
                                            jnp.linalg.norm(ref.astype(jnp.float32))))

    def explicit(q, k, v, key):
        k_, v_ = k.transpose(0, 2, 1, 3), v.transpose(0, 2, 1, 3)
        p = nnx.Dropout(0.2)(attention_weights(q, k_, jnp.tril(jnp.ones((T, T), bool))), rngs=nnx.Rngs(dropout=key))
        return jnp.einsum('bnts,bnsh->btnh', p.astype(v.dtype), v_)

    loss_fused = jax.jit(jax.grad(lambda q, k, v: jnp.sum(fused(q, k, v, 0.2) * w), argnums=(0, 1, 2)))
    loss_explicit = jax.jit(jax.grad(lambda q, k, v, key: jnp.sum(explicit(q, k, v, key) * w), argnums=(0, 1, 2)))
    loss_nodrop = jax.jit(jax.grad(lambda q, k, v: jnp.sum(fused(q, k, v, 0.0) * w), argnums=(0, 1, 2)))
    out['fwd_bwd_ms'] = dict(cudnn_dropout=1e3 * timed(loss_fused, q, k, v),
                             explicit_dropout=1e3 * timed(loss_explicit, q, k, v, jax.random.key(0)),
                             cudnn_no_dropout=1e3 * timed(loss_nodrop, q, k, v))
    print(json.dumps(out))


def cudnn_dropout_check():
    """model.cudnn_dropout_attention against explicit attention with the mask it drew. With v one-hot over
    positions (v[s] = e_s), the output row t is the dropped-out weights row t itself, so the forward
    reveals the mask: mask[t, s] = out[t, s] * (1 - p) / softmax[t, s]. The gradients of the same call are
    then checked against autodiff through explicit attention with that mask: a backward that drew another
    mask fails. Checked for one call, for each step of a scan (as gradient accumulation runs), across calls
    and across layers (seeds)."""
    import jax
    import jax.numpy as jnp
    from nanogpt_jax.model import cudnn_dropout_attention
    B, T, N, H, p = 2, 128, 2, 128, 0.2
    q, k = (0.5 * jax.random.normal(jax.random.key(i), (B, T, N, H), jnp.float32) for i in (1, 2))
    v = jnp.broadcast_to(jnp.eye(T, H)[None, :, None, :], (B, T, N, H))
    w = jax.random.normal(jax.random.key(3), (B, T, N, H), jnp.float32)
    causal = jnp.tril(jnp.ones((T, T), bool))

    def softmax_BNTS(q, k):
        s = jnp.einsum('btnh,bsnh->bnts', q, k) / math.sqrt(H)
        return jax.nn.softmax(jnp.where(causal, s, -jnp.inf), axis=-1)

    def fused_loss(q, k, v, seed):
        out = cudnn_dropout_attention(*(a.astype(jnp.bfloat16) for a in (q, k, v)), p, seed)
        return jnp.sum(out.astype(jnp.float32) * w), out

    def reveal(q, k, out_BTNH):
        probs = softmax_BNTS(q.astype(jnp.bfloat16).astype(jnp.float32), k.astype(jnp.bfloat16).astype(jnp.float32))
        ratio = out_BTNH.astype(jnp.float32).transpose(0, 2, 1, 3)[..., :T] * (1 - p) / jnp.where(causal, probs, 1)
        return jnp.where(causal, jnp.round(ratio), 0), float(jnp.max(jnp.where(causal, jnp.abs(ratio - jnp.round(ratio)), 0)))

    def ref_grads(q, k, v, mask):
        def loss(q, k, v):
            probs = softmax_BNTS(q, k) * mask / (1 - p)
            return jnp.sum(jnp.einsum('bnts,bsnh->btnh', probs, v) * w)
        return jax.grad(loss, argnums=(0, 1, 2))(*(a.astype(jnp.bfloat16).astype(jnp.float32) for a in (q, k, v)))

    def compare(grads, out):
        mask, off = reveal(q, k, out)
        ref = ref_grads(q, k, v, mask)
        rel = [float(jnp.linalg.norm(g.astype(jnp.float32) - r) / jnp.linalg.norm(r)) for g, r in zip(grads, ref)]
        return mask, dict(rounding_off=off, keep=float(mask.sum() / (B * N * causal.sum())), rel_err_dq_dk_dv=rel)

    step = jax.jit(jax.grad(fused_loss, argnums=(0, 1, 2), has_aux=True), static_argnums=3)
    g1, o1 = step(q, k, v, 0)
    g2, o2 = step(q, k, v, 0)
    m1, r1 = compare(g1, o1)
    m2, r2 = compare(g2, o2)

    def scan_body(carry, _):
        grads, out = jax.grad(fused_loss, argnums=(0, 1, 2), has_aux=True)(q, k, v, 0)
        return carry, (grads, out)
    gs, os_ = jax.jit(lambda: jax.lax.scan(scan_body, 0, None, length=2)[1])()
    ms0, rs0 = compare(jax.tree.map(lambda a: a[0], gs), os_[0])
    ms1, rs1 = compare(jax.tree.map(lambda a: a[1], gs), os_[1])
    two = jax.jit(lambda: (fused_loss(q, k, v, 0)[1], fused_loss(q, k, v, 1)[1]))()
    out = dict(call1=r1, call2=r2, scan_step0=rs0, scan_step1=rs1,
               masks_differ_across_calls=bool((m1 != m2).any()), masks_differ_across_scan_steps=bool((ms0 != ms1).any()),
               masks_differ_across_seeds=bool((reveal(q, k, two[0])[0] != reveal(q, k, two[1])[0]).any()))
    print(json.dumps(out))


def eval_groups():
    """A shakespeare_char eval (200 batches of 64 x 256 per split) as a lax.map over groups of n batches,
    each group one forward of n*64 rows."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx
    from nanogpt_jax import bench
    args = bench.parse_args(['train', '--model=baby', '--block_size=256', '--batch_size=64', '--vocab_size=65'])
    config = bench.make_config(args)
    mesh, meta, model_cfg, graphdef, abstract_params, params = bench.setup(args, config)
    K, B, T = 200, 64, 256
    rng = np.random.default_rng(0)
    x, y = (jnp.asarray(rng.integers(0, 65, (K, B, T), dtype=np.int32)) for _ in range(2))
    rows = {}
    for n in (1, 2, 4, 5, 8, 10, 20):
        @jax.jit
        def eval_step(params, x_KBT, y_KBT):
            model = nnx.merge(graphdef, params)
            x_GRT, y_GRT = (a.reshape(K // n, n * B, T) for a in (x_KBT, y_KBT))
            return jax.lax.map(lambda xy: model.loss(*xy), (x_GRT, y_GRT)).mean()
        t0 = time.perf_counter()
        compiled = eval_step.lower(params, x, y).compile()
        compile_s = time.perf_counter() - t0
        rows[n] = dict(ms=1e3 * timed(compiled, params, x, y, reps=3), compile_s=compile_s,
                       loss=float(compiled(params, x, y)))
        print(n, rows[n], flush=True)
    print(json.dumps(dict(eval_groups=rows, attention=model_cfg.attention)))


def startup():
    """Import times (python -X importtime), then jax's backend start."""
    err = subprocess.run([sys.executable, '-X', 'importtime', '-c', 'import nanogpt_jax.train'],
                         capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        parts = line.split('|')
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    top = sorted(rows, reverse=True)[:25]
    for us, name in top:
        print(f'{us / 1e6:7.2f} s cumulative  {name}')
    t0 = time.perf_counter()
    import jax
    t1 = time.perf_counter()
    jax.devices()
    t2 = time.perf_counter()
    jax.block_until_ready(jax.numpy.ones(4) + 1)
    t3 = time.perf_counter()
    print(json.dumps(dict(import_jax_s=t1 - t0, backend_init_s=t2 - t1, first_op_s=t3 - t2,
                          top_imports=[(us / 1e6, name.strip()) for us, name in top[:12]])))


def topk():
    """`bench decode` with sample_token's k-th largest logit found another way (VARIANT):
    top_k_bf16 / sort_bf16: on the logits rounded to bf16 (as nanoGPT's autocast head makes them), kept where
    the rounded logit reaches the rounded k-th; sort_fp32: jnp.sort instead of lax.top_k."""
    import jax
    import jax.numpy as jnp
    from nanogpt_jax import bench, generate
    variant, argv = sys.argv[2], sys.argv[3:]
    original = generate.sample_token

    def sample_token(logits_BV, key, temperature, top_k, top_p):
        if temperature == 0.0 or not top_k:
            return original(logits_BV, key, temperature, top_k, top_p)
        logits_BV = logits_BV / temperature
        if variant == 'sort_fp32':
            kth_B1 = jnp.sort(logits_BV, axis=-1)[:, -top_k][:, None]
            keep_BV = logits_BV >= kth_B1
        else:
            rounded_BV = logits_BV.astype(jnp.bfloat16)
            if variant == 'top_k_bf16':
                kth_B1 = jax.lax.top_k(rounded_BV, top_k)[0][:, -1:]
            else:
                kth_B1 = jnp.sort(rounded_BV, axis=-1)[:, -top_k][:, None]
            keep_BV = rounded_BV >= kth_B1
        return original(jnp.where(keep_BV, logits_BV, -jnp.inf), key, 1.0, 0, top_p)

    generate.sample_token = sample_token
    bench.main(['decode'] + argv)


if __name__ == '__main__':
    {'cudnn_dropout': cudnn_dropout, 'cudnn_dropout_check': cudnn_dropout_check, 'eval_groups': eval_groups, 'startup': startup, 'topk': topk}[sys.argv[1]]()
