"""How fast can a decode step find each row's k-th largest logit (the top-k sampling cut)?

    python scripts/topk_micro.py [--k=200] [--vocab=50304] [--batch=1,64]

Times each method inside a jitted loop of `--iters` steps (as the decode loop runs it: no dispatch per
call), checks that every exact method returns lax.top_k's value, and prints one line per (method, batch)
plus a JSON line. The `max` row is the floor: one reduction over the row.
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np


def kth_top_k(x_BV, k):
    return jax.lax.top_k(x_BV, k)[0][:, -1]


def kth_sort(x_BV, k):
    return jnp.sort(x_BV, axis=-1)[:, -k]


def kth_two_stage(x_BV, k, chunks=16):
    """top-k of each of `chunks` slices of the row, then top-k of their union: the same k-th value."""
    B, V = x_BV.shape
    x_BCW = jnp.pad(x_BV, ((0, 0), (0, -V % chunks)), constant_values=-jnp.inf).reshape(B, chunks, -1)
    return kth_top_k(jax.lax.top_k(x_BCW, k)[0].reshape(B, -1), k)


def kth_bisect(x_BV, k):
    """Bisection over the float32 values' order-preserving int32 keys: 32 counting passes."""
    bits_BV = jax.lax.bitcast_convert_type(x_BV.astype(jnp.float32), jnp.int32)
    keys_BV = jnp.where(bits_BV < 0, bits_BV ^ 0x7FFFFFFF, bits_BV)  # monotone in the float's value

    def body(_, bounds):
        lo_B, hi_B = bounds  # invariant: count(keys >= lo) >= k > count(keys >= hi + 1)
        mid_B = (lo_B >> 1) + (hi_B >> 1) + ((lo_B | hi_B) & 1)  # ceil((lo + hi) / 2) without int32 overflow
        ok_B = jnp.sum(keys_BV >= mid_B[:, None], axis=-1) >= k
        return jnp.where(ok_B, mid_B, lo_B), jnp.where(ok_B, hi_B, mid_B - 1)

    lo_B = jnp.full(x_BV.shape[:1], jnp.iinfo(jnp.int32).min, jnp.int32)
    hi_B = jnp.full(x_BV.shape[:1], jnp.iinfo(jnp.int32).max, jnp.int32)
    key_B = jax.lax.fori_loop(0, 32, body, (lo_B, hi_B))[0]
    bits_B = jnp.where(key_B < 0, key_B ^ 0x7FFFFFFF, key_B)
    return jax.lax.bitcast_convert_type(bits_B, jnp.float32)


def kth_radix16(x_BV, k):
    """Radix select, 4 bits per pass: 8 passes, each counting the candidates at or above 15 digits at once."""
    bits_BV = jax.lax.bitcast_convert_type(x_BV.astype(jnp.float32), jnp.uint32)
    keys_BV = jnp.where(bits_BV >> 31 == 1, ~bits_BV, bits_BV | jnp.uint32(0x80000000))  # monotone in the value
    digits_J = jnp.arange(1, 16, dtype=jnp.uint32)
    prefix_B = jnp.zeros(x_BV.shape[:1], jnp.uint32)
    above_B = jnp.zeros(x_BV.shape[:1], jnp.int32)  # keys above every key that has the current prefix
    for shift in range(28, -1, -4):
        high_mask = jnp.uint32((0xFFFFFFFF << (shift + 4)) & 0xFFFFFFFF)
        match_BV = (keys_BV & high_mask) == (prefix_B[:, None] & high_mask)
        digit_BV = (keys_BV >> shift) & 15
        count_BJ = jnp.sum(match_BV[:, None, :] & (digit_BV[:, None, :] >= digits_J[None, :, None]), axis=-1)
        ok_BJ = above_B[:, None] + count_BJ >= k  # digit j still leaves >= k keys at or above it
        digit_B = jnp.sum(ok_BJ, axis=-1).astype(jnp.uint32)  # ok is true for j = 1..d: the chosen digit d
        above_B = above_B + jnp.where(digit_B < 15, jnp.take_along_axis(
            count_BJ, jnp.minimum(digit_B, 14).astype(jnp.int32)[:, None], axis=-1)[:, 0], 0)
        prefix_B = prefix_B | (digit_B << shift)
    bits_B = jnp.where(prefix_B >> 31 == 1, prefix_B & jnp.uint32(0x7FFFFFFF), ~prefix_B)
    return jax.lax.bitcast_convert_type(bits_B, jnp.float32)


METHODS = {'max': lambda x, k: x.max(-1), 'top_k': kth_top_k, 'sort': kth_sort, 'two_stage': kth_two_stage,
           'bisect': kth_bisect, 'radix16': kth_radix16}


def time_method(fn, x_BV, k, iters):
    @jax.jit
    def loop(x_BV):
        def body(i, acc_B):  # perturb the logits each step so nothing is hoisted out of the loop
            return acc_B + fn(x_BV + i.astype(x_BV.dtype) * 1e-3 + acc_B[:, None] * 1e-9, k)
        return jax.lax.fori_loop(0, iters, body, jnp.zeros(x_BV.shape[:1], x_BV.dtype))

    jax.block_until_ready(loop(x_BV))
    t0 = time.perf_counter()
    jax.block_until_ready(loop(x_BV))
    return (time.perf_counter() - t0) / iters


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--k', type=int, default=200)
    p.add_argument('--vocab', type=int, default=50304)
    p.add_argument('--batch', default='1,64')
    p.add_argument('--iters', type=int, default=200)
    args = p.parse_args()
    rows = []
    for B in (int(b) for b in args.batch.split(',')):
        x_BV = jax.random.normal(jax.random.key(B), (B, args.vocab), jnp.float32) * 3
        expected = np.asarray(kth_top_k(x_BV, args.k))
        for name, fn in METHODS.items():
            if name != 'max':
                np.testing.assert_array_equal(np.asarray(jax.jit(fn, static_argnums=1)(x_BV, args.k)), expected)
            us = time_method(fn, x_BV, args.k, args.iters) * 1e6
            rows.append(dict(method=name, batch=B, k=args.k, vocab=args.vocab, us_per_step=us))
            print(f'batch {B:3d}  {name:10s} {us:8.1f} us per step')
    print(json.dumps(dict(device=jax.devices()[0].device_kind, jax=jax.__version__, rows=rows)))


if __name__ == '__main__':
    main()
