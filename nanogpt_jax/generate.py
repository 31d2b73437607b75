"""Sampling with a fixed-size KV cache: a prefill over the prompt, then a loop of one-token steps on the device.

The window is always (batch, block_size), and the prefill length and the cache's length (the positions
this window will fill: attention reads all of them at every step) are rounded up to powers of two, so
there are at most log2(block_size) shapes of each, whatever the prompts. The decode loop's trip count is
static (the number of new tokens in this window): a loop of known trip count runs 11% faster per token at
batch 1 on an H100 than a `while` on a traced bound (docs/benchmarks.md), for one compile per count.
A generation longer than block_size slides: the last 3/4 of the window is prefilled again and decoding
goes on, where nanoGPT would recompute the whole context for every token.
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils


def cast_params(params, dtype):
    """Cast float weights once, before the loop, so each step reads bf16 weights, not fp32."""
    return jax.tree.map(lambda p: p.astype(dtype) if jnp.issubdtype(p.dtype, jnp.floating) else p, params)


def bf16_keys(x_BV):
    """The values rounded to bf16, as int32 keys in [0, 65535] that order as the values do."""
    bits_BV = jax.lax.bitcast_convert_type(x_BV.astype(jnp.bfloat16), jnp.uint16).astype(jnp.int32)
    return jnp.where(bits_BV >= 0x8000, 0xFFFF - bits_BV, bits_BV + 0x8000)  # negatives: flip; positives: lift


def kth_largest_key(keys_BV, k: int):
    """Each row's k-th largest 16-bit key, two bits at a time from the top: of the 3 candidates that set the
    next two bits, the largest that k keys still reach is kept. 8 passes of 3 counts over the row run faster
    on a GPU than 16 passes of 1 or one sort of the row (docs/benchmarks.md)."""
    kth_B = jnp.zeros(keys_BV.shape[:1], jnp.int32)
    for shift in range(14, -1, -2):
        candidates_BC = kth_B[:, None] + (jnp.arange(1, 4, dtype=jnp.int32) << shift)
        counts_BC = jnp.sum(keys_BV[:, None, :] >= candidates_BC[:, :, None], axis=-1, dtype=jnp.int32)
        # counts fall as the candidate grows: the number of candidates k keys reach is the next two bits
        kth_B = kth_B + (jnp.sum(counts_BC >= k, axis=-1, dtype=jnp.int32) << shift)
    return kth_B


def sample_token(logits_BV, key, temperature: float, top_k: int, top_p: float):
    """Next token per row: greedy at temperature 0, else from the tempered, top-k / top-p cut distribution."""
    if temperature == 0.0 or top_k == 1:
        return jnp.argmax(logits_BV, axis=-1).astype(jnp.int32)
    logits_BV = logits_BV / temperature
    if top_k:  # keep what reaches the k-th largest logit, compared rounded to bf16 (as nanoGPT's bf16 logits
        # are; a tie at the k-th keeps all tied)
        # the keys are written once, in 16 bits: the 8 counting passes then read half of what fp32 logits are
        keys_BV = jax.lax.optimization_barrier(bf16_keys(logits_BV).astype(jnp.uint16)).astype(jnp.int32)
        kth_B1 = kth_largest_key(keys_BV, min(top_k, logits_BV.shape[-1]))[:, None]
        logits_BV = jnp.where(keys_BV < kth_B1, -jnp.inf, logits_BV)
    if top_p < 1.0:  # keep the smallest set of tokens whose probability reaches top_p
        sorted_BV = jnp.sort(logits_BV, axis=-1)[:, ::-1]
        cum_BV = jnp.cumsum(jax.nn.softmax(sorted_BV, axis=-1), axis=-1)
        cut_B1 = jnp.take_along_axis(sorted_BV, jnp.sum(cum_BV < top_p, axis=-1, keepdims=True), axis=-1)
        logits_BV = jnp.where(logits_BV < cut_B1, -jnp.inf, logits_BV)
    return jax.random.categorical(key, logits_BV, axis=-1).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=('graphdef', 'prefill_len', 'cache_len'))
def prefill(graphdef, params, tokens_BS, length, *, prefill_len: int, cache_len: int):
    """Run the first prefill_len positions of the window into a new cache of cache_len positions;
    return the cache and the logits at length-1."""
    model = nnx.merge(graphdef, params)
    cache = model.init_cache(tokens_BS.shape[0], cache_len)
    x_BPD, cache = model.hidden(tokens_BS[:, :prefill_len], cache=cache, pos=0)
    last_B1D = jax.lax.dynamic_slice_in_dim(x_BPD, length - 1, 1, axis=1)
    return cache, model.logits(last_B1D)[:, 0]


@functools.partial(jax.jit, static_argnames=('graphdef', 'steps', 'temperature', 'top_k', 'top_p', 'vocab_size'),
                   donate_argnames=('tokens_BS', 'cache'))  # a cache not donated is copied before the loop
def decode(graphdef, params, tokens_BS, cache, logits_BV, length, key, *, steps: int,
           temperature: float, top_k: int, top_p: float, vocab_size: int):
    """Sample tokens into positions [length, length + steps) of the window, one cached step at a time
    (the cache holds at least length + steps positions)."""
    model = nnx.merge(graphdef, params)

    def step(i, carry):
        tokens_BS, cache, logits_BV, key = carry
        pos = length + i
        key, sub = jax.random.split(key)
        token_B = sample_token(logits_BV[:, :vocab_size], sub, temperature, top_k, top_p)
        tokens_BS = jax.lax.dynamic_update_slice_in_dim(tokens_BS, token_B[:, None], pos, axis=1)
        x_B1D, cache = model.hidden(token_B[:, None], cache=cache, pos=pos)
        return tokens_BS, cache, model.logits(x_B1D)[:, 0], key

    return jax.lax.fori_loop(0, steps, step, (tokens_BS, cache, logits_BV, key))[0]


def to_host(x):
    """All of x as a numpy array, also when XLA spread its rows over other processes' devices (a multi-process
    mesh with more than one row to decode), which np.asarray cannot fetch."""
    return np.asarray(x) if x.is_fully_addressable else multihost_utils.process_allgather(x, tiled=True)


def prefill_bucket(length: int, block_size: int) -> int:
    """Round a length up to a power of two (at least 16, at most block_size): few shapes, few compiles."""
    return min(block_size, max(16, 1 << (length - 1).bit_length()))


def decode_rows(batch_size: int) -> int:
    """Rows to decode for batch_size prompts. One row makes every matmul a vector-matrix product, which XLA
    (GPU) rewrites into an elementwise multiply and a reduction, ~4x slower than the weights' bandwidth; from
    two rows they are gemms. So a single prompt is decoded beside a copy of itself, which is then dropped:
    1.3x faster per token on an H100 (docs/benchmarks.md)."""
    return max(batch_size, 2)


def generate(graphdef, params, prompt_BP, max_new_tokens: int, key, *, block_size: int, vocab_size: int,
             temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, dtype=jnp.float32):
    """Continue each row of prompt_BP (ints, shape (B, P), P <= block_size) by max_new_tokens tokens.
    Returns a numpy array (B, P + max_new_tokens)."""
    prompt_BP = np.asarray(prompt_BP, np.int32)
    out_BN = np.resize(prompt_BP, (decode_rows(len(prompt_BP)), prompt_BP.shape[1]))  # rows repeated if padded
    B = out_BN.shape[0]
    params = cast_params(params, dtype)
    keep = max(1, block_size * 3 // 4)
    produced = 0
    while produced < max_new_tokens:
        context_BL = out_BN[:, -(block_size if produced == 0 else keep):]
        if context_BL.shape[1] >= block_size:  # a full window: slide before sampling
            context_BL = context_BL[:, -keep:]
        length = context_BL.shape[1]
        window_BS = np.zeros((B, block_size), np.int32)
        window_BS[:, :length] = context_BL
        window_BS = jnp.asarray(window_BS)
        end = min(length + max_new_tokens - produced, block_size)
        cache, logits_BV = prefill(graphdef, params, window_BS, length, prefill_len=prefill_bucket(length, block_size),
                                   cache_len=prefill_bucket(end, block_size))
        key, sub = jax.random.split(key)
        window_BS = decode(graphdef, params, window_BS, cache, logits_BV, length, sub, steps=end - length,
                           temperature=float(temperature), top_k=int(top_k or 0), top_p=float(top_p),
                           vocab_size=vocab_size)
        out_BN = np.concatenate([out_BN, to_host(window_BS[:, length:end])], axis=1)
        produced += end - length
    return out_BN[:len(prompt_BP)]
