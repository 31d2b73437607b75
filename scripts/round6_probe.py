"""Sixth-round probes for issue 3 (one GPU):

    python scripts/round6_probe.py gemv ROWS [VARIANT ...]   # GPT-2 124M's decode matmuls alone (12 layers of
        qkv, proj, fc + GELU, proj, then the tied head), 100 steps in a fori_loop, with XLA's dot or with
        decode_matmul.matmul; VARIANT is xla or
        pallas:BLOCK_N:NUM_WARPS:BLOCK_K[:HEAD_BLOCK_N:NUM_STAGES:LAYOUT] (LAYOUT n, or t for the layers' weights
        stored transposed). Calls gpu_round6.sh and 6b ran an earlier form with a LOOP field (fori or unrolled)
        before NUM_STAGES; the unrolled loop was dropped.. Prints µs per step.

Each prints a few lines and a last JSON line.
"""
import json
import sys
import time


def gemv():
    import jax
    import jax.numpy as jnp
    import decode_matmul  # scripts/decode_matmul.py (it was nanogpt_jax/decode_matmul.py in gpu_round6*.sh)

    rows, variants = int(sys.argv[2]), sys.argv[3:] or ['xla', 'pallas:32:4:128:128']
    L, D, V = 12, 768, 50304
    keys = iter(jax.random.split(jax.random.key(0), 16))

    def w(*shape):
        return (0.02 * jax.random.normal(next(keys), shape, jnp.float32)).astype(jnp.bfloat16)

    params = dict(qkv=w(L, D, 3 * D), qkv_b=w(L, 3 * D), proj=w(L, D, D), proj_b=w(L, D), fc=w(L, D, 4 * D),
                  fc_b=w(L, 4 * D), fc2=w(L, 4 * D, D), fc2_b=w(L, D), wte=w(V, D))
    x0 = w(rows, D)

    def make(variant):
        if variant == 'xla':
            def mm(x, w, b, gelu=False):
                y = jnp.dot(x, w) + b
                return jax.nn.gelu(y, approximate=True) if gelu else y

            def head(x, wte):
                return jnp.einsum('md,vd->mv', x, wte)
        else:
            _, bn, nw, bk, hbn, stages, layout = (variant + ':128:3:n').split(':')[:7]
            kw = dict(block_n=int(bn), num_warps=int(nw), block_k=int(bk), num_stages=int(stages))
            t = layout == 't'  # the layers' weights stored transposed, (N, K): each program reads whole rows

            def mm(x, w, b, gelu=False):
                return decode_matmul.matmul(x, w, b, gelu=gelu, transposed=t, **kw)

            def head(x, wte):
                return decode_matmul.matmul(x, wte, transposed=True, **dict(kw, block_n=int(hbn)))

        p = params
        if variant.endswith(':t'):
            p = {k: jnp.swapaxes(v, 1, 2) if v.ndim == 3 else v for k, v in params.items()}

        def step(_, x):
            for l in range(L):
                h = mm(x, p['qkv'][l], p['qkv_b'][l])
                x = x + mm(h[:, :D], p['proj'][l], p['proj_b'][l])
                h = mm(x, p['fc'][l], p['fc_b'][l], gelu=True)
                x = x + mm(h, p['fc2'][l], p['fc2_b'][l])
            x = (x + 1e-3 * head(x, p['wte'])[:, :D]).astype(jnp.float32)  # kept at unit scale over 100 steps
            return (x * jax.lax.rsqrt(jnp.mean(jnp.square(x)) + 1e-6)).astype(jnp.bfloat16)

        return jax.jit(lambda x: jax.lax.fori_loop(0, 100, step, x)), jax.jit(lambda x: step(0, x))

    out, ref = {}, None
    for variant in variants:
        try:
            f, once = make(variant)
            y = once(x0)  # one step, compared with the first variant's
            t0 = time.perf_counter()
            f(x0).block_until_ready()
            compile_s = time.perf_counter() - t0
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                f(x0).block_until_ready()
                times.append(time.perf_counter() - t0)
            us = min(times) / 100 * 1e6
            ref = y if ref is None else ref
            err = float(jnp.abs(y.astype(jnp.float32) - ref.astype(jnp.float32)).max())
            out[variant] = dict(us_per_step=us, compile_s=compile_s, max_abs_diff_vs_first=err)
            print(f'{variant:28} rows {rows}: {us:8.1f} us/step (compile {compile_s:.1f} s, one-step diff vs first {err:.3g})')
        except Exception as e:  # a config Triton cannot compile: say so and go on
            out[variant] = dict(error=f'{type(e).__name__}: {str(e)[:300]}')
            print(f'{variant:28} rows {rows}: FAILED {out[variant]["error"]}')
    print(json.dumps(dict(rows=rows, device=jax.devices()[0].device_kind, results=out)))


if __name__ == '__main__':
    dict(gemv=gemv)[sys.argv[1]]()
