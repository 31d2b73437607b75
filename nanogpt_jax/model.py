"""GPT-2 in Flax NNX, initialised as nanoGPT does.

Weights are float32 master copies; each layer casts them to the activations' dtype (bfloat16 on
GPU/TPU), so mixed precision needs no second copy of the model. Every parameter carries `axes`,
its logical axis names; sharding.py maps those to mesh axes with one small table of rules.
The same forward serves training (no cache) and decoding (a fixed-size KV cache and a position).
"""
import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

from nanogpt_jax import sharding

RESIDUAL = ('batch', None, None)  # logical axes of the residual stream (B, T, D)
# decode steps attend through cuDNN from this batch size: it reads only the filled part of the cache, but its
# one call costs more than the explicit path's three small kernels at small batches (docs/benchmarks.md)
CUDNN_DECODE_MIN_BATCH = 32


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # padded to a multiple of 64 (see padded_vocab)
    data_vocab_size: int = 0  # token ids the data can hold, when fewer than vocab_size: the loss masks the rest
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    dtype: str = 'float32'  # compute dtype of activations
    attention: str = 'xla'  # jax.nn.dot_product_attention implementation: 'xla' or 'cudnn'


def padded_vocab(vocab_size: int) -> int:
    """Round the vocab up to a multiple of 64, as nanoGPT does for GPT-2 (50257 -> 50304)."""
    return -(-vocab_size // 64) * 64


def normal_param(rngs: nnx.Rngs, shape, std: float, axes) -> nnx.Param:
    return nnx.Param(std * jax.random.normal(rngs.params(), shape, jnp.float32), axes=axes)


def zeros_param(shape, axes) -> nnx.Param:
    return nnx.Param(jnp.zeros(shape, jnp.float32), axes=axes)


class Linear(nnx.Module):
    """x @ kernel (+ bias); the kernel is (d_in, *out_shape) so q/k/v can keep a head axis."""

    def __init__(self, d_in: int, out_shape: tuple, axes: tuple, *, bias: bool, std: float, rngs: nnx.Rngs):
        self.kernel = normal_param(rngs, (d_in, *out_shape), std, axes)
        self.bias = zeros_param(out_shape, axes[1:]) if bias else None

    def __call__(self, x):
        y = jnp.tensordot(x, self.kernel[...].astype(x.dtype), axes=1)
        return y if self.bias is None else y + self.bias[...].astype(x.dtype)


class LayerNorm(nnx.Module):
    """LayerNorm with an optional bias (nanoGPT's), computed in float32."""

    def __init__(self, d: int, *, bias: bool):
        self.scale = nnx.Param(jnp.ones((d,), jnp.float32), axes=('embed',))
        self.bias = zeros_param((d,), ('embed',)) if bias else None

    def __call__(self, x):
        x32 = x.astype(jnp.float32)
        mean = x32.mean(-1, keepdims=True)
        var = jnp.square(x32 - mean).mean(-1, keepdims=True)
        y = (x32 - mean) * jax.lax.rsqrt(var + 1e-5) * self.scale[...]
        if self.bias is not None:
            y = y + self.bias[...]
        return y.astype(x.dtype)


class CausalSelfAttention(nnx.Module):
    def __init__(self, cfg: GPTConfig, rngs: nnx.Rngs, layer: int = 0):
        d, proj_std = cfg.n_embd, 0.02 / math.sqrt(2 * cfg.n_layer)
        self.n_head, self.attention, self.layer = cfg.n_head, cfg.attention, layer
        self.c_attn = Linear(d, (3, d), ('embed', None, 'heads'), bias=cfg.bias, std=0.02, rngs=rngs)
        self.c_proj = Linear(d, (d,), ('heads', 'embed'), bias=cfg.bias, std=proj_std, rngs=rngs)
        self.attn_dropout = nnx.Dropout(cfg.dropout)
        self.resid_dropout = nnx.Dropout(cfg.dropout)

    def __call__(self, x_BTD, rngs=None, cache=None, pos=None):
        B, T, D = x_BTD.shape
        qkv_BT3D = self.c_attn(x_BTD)
        q_BTNH, k_BTNH, v_BTNH = (qkv_BT3D[:, :, i].reshape(B, T, self.n_head, D // self.n_head)
                                  for i in range(3))
        if cache is not None:  # decoding: write k, v at [pos, pos+T) of the cache, attend to what is written
            k_BNSH, v_BNSH = (jax.lax.dynamic_update_slice(c, x.transpose(0, 2, 1, 3).astype(c.dtype), (0, 0, pos, 0))
                              for c, x in zip(cache, (k_BTNH, v_BTNH)))
            cache = (k_BNSH, v_BNSH)
            if isinstance(pos, int) and pos == 0:  # a prefill of an empty cache: causal attention within the chunk,
                # not over the whole cache it fills (docs/benchmarks.md: 16 of 256 positions at batch 64)
                y_BTNH = jax.nn.dot_product_attention(q_BTNH, k_BTNH, v_BTNH, is_causal=True,
                                                      implementation=self.attention)
            elif T == 1 and B >= CUDNN_DECODE_MIN_BATCH and self.attention == 'cudnn':  # a decode step
                y_BTNH = cudnn_decode_attention(q_BTNH, k_BNSH, v_BNSH, pos)
            else:
                visible_TS = jnp.arange(k_BNSH.shape[2])[None, :] <= pos + jnp.arange(T)[:, None]
                probs_BNTS = attention_weights(q_BTNH, k_BNSH, visible_TS)
                y_BTNH = jnp.einsum('bnts,bnsh->btnh', probs_BNTS.astype(v_BNSH.dtype), v_BNSH)
        elif rngs is not None and self.attn_dropout.rate > 0 and self.attention == 'cudnn':
            y_BTNH = cudnn_dropout_attention(q_BTNH, k_BTNH, v_BTNH, self.attn_dropout.rate, seed=self.layer)
        elif rngs is not None and self.attn_dropout.rate > 0:  # nanoGPT's dropout on the attention weights
            # without cuDNN: explicit attention, the (T, T) weights materialised
            k_BNTH, v_BNTH = k_BTNH.transpose(0, 2, 1, 3), v_BTNH.transpose(0, 2, 1, 3)
            probs_BNTT = self.attn_dropout(attention_weights(q_BTNH, k_BNTH, jnp.tril(jnp.ones((T, T), bool))),
                                           rngs=rngs)
            y_BTNH = jnp.einsum('bnts,bnsh->btnh', probs_BNTT.astype(v_BNTH.dtype), v_BNTH)
        else:  # training / full forward: fused causal attention (cuDNN flash attention on GPU)
            y_BTNH = jax.nn.dot_product_attention(q_BTNH, k_BTNH, v_BTNH, is_causal=True,
                                                  implementation=self.attention)
        y_BTD = self.c_proj(y_BTNH.reshape(B, T, D))
        return self.resid_dropout(y_BTD, deterministic=rngs is None, rngs=rngs), cache


def attention_weights(q_BTNH, k_BNSH, visible_TS):
    """softmax(q.k / sqrt(H)) over the visible positions, in float32: (B, N, T, S). Keys are laid out
    (B, N, S, H), heads before positions, so that the product reads a KV cache in place as a batch of
    (S, H) matrices (laid out (B, S, N, H), it would be transposed, i.e. copied, at every decode step)."""
    scores_BNTS = jnp.einsum('btnh,bnsh->bnts', q_BTNH, k_BNSH, preferred_element_type=jnp.float32)
    scores_BNTS = jnp.where(visible_TS, scores_BNTS / math.sqrt(q_BTNH.shape[-1]), -jnp.inf)
    return jax.nn.softmax(scores_BNTS, axis=-1)


def cudnn_dropout_attention(q_BTNH, k_BTNH, v_BTNH, rate: float, seed: int):
    """Causal flash attention with dropout on the weights, in cuDNN: jax.nn.dot_product_attention has no
    dropout argument, but the cuDNN call under it (a private jax module) does. cuDNN draws the mask from
    the static seed and a counter that XLA advances at every call: on an H100 each call and each step of
    a scan got a new mask, the backward the forward's mask, and each layer (seed) its own
    (scripts/round3_probe.py cudnn_dropout_check). The masks do not follow config.seed: the counter
    starts at 0 in every process. Inside a CUDA graph XLA aborts on this call, so
    train.py keeps cuDNN out of the graphs when dropout is on (train.keep_cudnn_out_of_cuda_graphs)."""
    from jax._src.cudnn.fused_attention_stablehlo import MaskType, dot_product_attention
    return dot_product_attention(q_BTNH, k_BTNH, v_BTNH, scale=1 / math.sqrt(q_BTNH.shape[-1]),
                                 mask_type=MaskType.CAUSAL, dropout_rate=rate, seed=seed)


def cudnn_decode_attention(q_B1NH, k_BNSH, v_BNSH, pos):
    """One decode step's attention in one cuDNN flash-attention call that reads only the cache's first
    pos + 1 positions (a padding mask of that length), not the whole cache as the explicit path does.
    The cache's (B, N, S, H) layout is cuDNN's BNTH; the single query is laid out that way for free."""
    from jax._src.cudnn.fused_attention_stablehlo import MaskType, dot_product_attention
    B, _, N, H = q_B1NH.shape
    q_BN1H = q_B1NH.reshape(B, N, 1, H)
    y_BN1H = dot_product_attention(q_BN1H, k_BNSH, v_BNSH, q_seqlen=jnp.ones((B,), jnp.int32),
                                   kv_seqlen=jnp.full((B,), pos + 1, jnp.int32), scale=1 / math.sqrt(H),
                                   mask_type=MaskType.PADDING, qkv_layout='BNTH')
    return y_BN1H.reshape(B, 1, N, H)


class MLP(nnx.Module):
    def __init__(self, cfg: GPTConfig, rngs: nnx.Rngs):
        d, proj_std = cfg.n_embd, 0.02 / math.sqrt(2 * cfg.n_layer)
        self.c_fc = Linear(d, (4 * d,), ('embed', 'mlp'), bias=cfg.bias, std=0.02, rngs=rngs)
        self.c_proj = Linear(4 * d, (d,), ('mlp', 'embed'), bias=cfg.bias, std=proj_std, rngs=rngs)
        self.dropout = nnx.Dropout(cfg.dropout)

    def __call__(self, x_BTD, rngs=None):
        h_BTF = jax.nn.gelu(self.c_fc(x_BTD), approximate=True)  # GPT-2's tanh GELU
        return self.dropout(self.c_proj(h_BTF), deterministic=rngs is None, rngs=rngs)


class Block(nnx.Module):
    def __init__(self, cfg: GPTConfig, rngs: nnx.Rngs, layer: int = 0):
        self.ln_1 = LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg, rngs, layer)
        self.ln_2 = LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg, rngs)

    def __call__(self, x_BTD, rngs=None, cache=None, pos=None):
        y_BTD, cache = self.attn(self.ln_1(x_BTD), rngs, cache, pos)
        x_BTD = x_BTD + y_BTD
        return x_BTD + self.mlp(self.ln_2(x_BTD), rngs), cache


class GPT(nnx.Module):
    def __init__(self, cfg: GPTConfig, rngs: nnx.Rngs):
        self.cfg = cfg
        self.wte = normal_param(rngs, (cfg.vocab_size, cfg.n_embd), 0.02, ('vocab', 'embed'))
        self.wpe = normal_param(rngs, (cfg.block_size, cfg.n_embd), 0.02, (None, 'embed'))
        self.drop = nnx.Dropout(cfg.dropout)
        self.h = nnx.List([Block(cfg, rngs, layer=i) for i in range(cfg.n_layer)])
        self.ln_f = LayerNorm(cfg.n_embd, bias=cfg.bias)

    def hidden(self, idx_BT, rngs=None, cache=None, pos=0):
        """Final-layer activations (B, T, D); with a cache (see init_cache), also the updated cache."""
        # positions are looked up like tokens, one row per (b, t). The gradient of a (T, D) slice broadcast over
        # the batch is a sum over the batch, for which XLA (GPU, batch 32) laid the whole residual stream out
        # batch-minor: every LayerNorm and gemm input became a transpose, 6% of the GPT-2 step (docs/benchmarks.md)
        pos_BT = jnp.broadcast_to(pos + jnp.arange(idx_BT.shape[1]), idx_BT.shape)
        x_BTD = (self.wte[...][idx_BT] + self.wpe[...][pos_BT]).astype(jnp.dtype(self.cfg.dtype))
        x_BTD = self.drop(sharding.constrain(x_BTD, RESIDUAL), deterministic=rngs is None, rngs=rngs)
        new_cache = []
        for i, block in enumerate(self.h):
            x_BTD, layer_cache = block(x_BTD, rngs, None if cache is None else cache[i], pos)
            x_BTD = sharding.constrain(x_BTD, RESIDUAL)
            new_cache.append(layer_cache)
        return self.ln_f(x_BTD), (None if cache is None else new_cache)

    def logits(self, x_BTD, dtype=jnp.float32):
        """Tied output head: logits over the padded vocab. The matmul stays in the compute dtype (bf16
        on GPU): asking it for fp32 output makes its backward an fp32 matmul, the step's largest."""
        return jnp.einsum('btd,vd->btv', x_BTD, self.wte[...].astype(x_BTD.dtype)).astype(dtype)

    def __call__(self, idx_BT, rngs=None):
        return self.logits(self.hidden(idx_BT, rngs)[0])

    def loss(self, idx_BT, targets_BT, rngs=None, chunk: int = 0):
        """Mean next-token cross-entropy. chunk > 0: computed `chunk` tokens at a time (see chunked_cross_entropy)."""
        if chunk:
            return chunked_cross_entropy(self.hidden(idx_BT, rngs)[0], self.wte[...], targets_BT, chunk,
                                         self.cfg.data_vocab_size)
        # logsumexp - target logit, from logits in the compute dtype: XLA upcasts inside the reductions, so
        # no (B, T, V) float32 array (logits or log-probs) is ever written to memory
        x_BTD = self.hidden(idx_BT, rngs)[0]
        logits_BTV = self.logits(x_BTD, dtype=x_BTD.dtype)
        lse_BT = jax.nn.logsumexp(mask_padding(logits_BTV.astype(jnp.float32), self.cfg.data_vocab_size), axis=-1)
        target_BT = jnp.take_along_axis(logits_BTV, targets_BT[..., None], axis=-1)[..., 0].astype(jnp.float32)
        return (lse_BT - target_BT).mean()

    def init_cache(self, batch_size: int, length: int = 0, dtype=None):
        """Zeroed (k, v) per layer, each (B, n_head, length, head_dim); length defaults to block_size.
        Attention reads the whole cache at every step (masked past the current position), so decoding
        sizes it to the positions it will fill."""
        c = self.cfg
        shape = (batch_size, c.n_head, length or c.block_size, c.n_embd // c.n_head)
        dtype = dtype or jnp.dtype(c.dtype)
        return [(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype)) for _ in range(c.n_layer)]


def mask_padding(logits_BTV, data_vocab_size: int):
    """-inf past the data's vocab: a vocab padded for fast matmuls (65 characters -> 128 rows) then gives
    the same softmax as an unpadded one (nanoGPT's), and no probability to ids that cannot occur."""
    V = logits_BTV.shape[-1]
    if not 0 < data_vocab_size < V:
        return logits_BTV
    return jnp.where(jnp.arange(V) < data_vocab_size, logits_BTV, -jnp.inf)


def chunked_cross_entropy(x_BTD, wte_VD, targets_BT, chunk: int, data_vocab_size: int = 0):
    """The tied head's mean cross-entropy without the (B*T, V) float32 logits ever existing at once:
    a lax.map over chunks of `chunk` tokens, each rematerialised in the backward pass (jax.checkpoint),
    so only one chunk's logits are live. The fp32 weight is cast inside each chunk so its gradient
    is summed over chunks in fp32."""
    D = x_BTD.shape[-1]
    x_ND, t_N = x_BTD.reshape(-1, D), targets_BT.reshape(-1)
    N = t_N.shape[0]
    K = -(-N // chunk)  # number of chunks; the last one padded with zero rows, dropped below
    x_KCD = jnp.pad(x_ND, ((0, K * chunk - N), (0, 0))).reshape(K, chunk, D)
    t_KC = jnp.pad(t_N, (0, K * chunk - N)).reshape(K, chunk)

    @jax.checkpoint
    def chunk_nll(x_CD, t_C):
        logits_CV = jnp.einsum('cd,vd->cv', x_CD, wte_VD.astype(x_CD.dtype)).astype(jnp.float32)  # as logits()
        target_C = jnp.take_along_axis(logits_CV, t_C[:, None], axis=-1)[:, 0]
        return jax.nn.logsumexp(mask_padding(logits_CV, data_vocab_size), axis=-1) - target_C

    nll_N = jax.lax.map(lambda xt: chunk_nll(*xt), (x_KCD, t_KC)).reshape(-1)[:N]
    return nll_N.mean()


def count_params(params, non_embedding: bool = True) -> int:
    """Parameter count; like nanoGPT, position embeddings are left out by default
    (token embeddings stay in: they are tied to the output head)."""
    n = sum(x.size for x in jax.tree.leaves(params))
    return n - params['wpe'].size if non_embedding else n
