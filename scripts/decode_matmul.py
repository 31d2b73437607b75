# Kept for scripts/round6_probe.py; tried in the package as nanogpt_jax/decode_matmul.py and dropped (scripts/round6_variants.diff).
"""A decode step's matmuls, each one Pallas (Triton) kernel with the LayerNorm before it and the bias, GELU and
residual add after it inside.

A decode step (B <= 64 rows, one position) runs ~14 kernels per layer, each a few µs, most of it fixed cost:
on an H100 the step is bound by the number of kernels, not by the weights it reads (docs/profiling.md). XLA
fuses a matmul's bias and GELU, but a LayerNorm (a reduction) is a kernel of its own. Here each program
normalises the few input rows itself (they are tiny and come from L2), then streams its BN columns of the
weight once in a loop Triton pipelines, and adds the bias, GELU and residual before its one store.
"""
import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

MAX_ROWS = 64  # more rows than this and the matmul is no longer a weight read: XLA's gemm is the right tool
BLOCK_K = 128  # K is walked in slices of this size (Triton arrays are powers of two; 768 is not)


def _kernel(*refs, has_bias: bool, has_ln: bool, has_residual: bool, transposed: bool, gelu: bool, block_k: int):
    """o = [residual +] [gelu](LN(x) @ w [+ b]) for one program's BN columns; w is (K, BN), or (BN, K) when
    transposed. refs: x, w, [b], [ln_scale, ln_bias], [residual], o."""
    x_ref, w_ref, *refs, o_ref = refs
    b_ref = refs.pop(0) if has_bias else None
    ln_scale_ref, ln_bias_ref = (refs.pop(0), refs.pop(0)) if has_ln else (None, None)
    residual_ref = refs.pop(0) if has_residual else None
    K = x_ref.shape[1]
    chunks = range(0, K, block_k)

    if has_ln:  # LayerNorm statistics of the rows, two passes in float32 as model.LayerNorm
        mean_M1 = sum(x_ref[:, pl.ds(k, block_k)].astype(jnp.float32).sum(1, keepdims=True) for k in chunks) / K
        var_M1 = sum(jnp.square(x_ref[:, pl.ds(k, block_k)].astype(jnp.float32) - mean_M1).sum(1, keepdims=True)
                     for k in chunks) / K
        rstd_M1 = jax.lax.rsqrt(var_M1 + 1e-5)

    def product(i, acc_MN):
        k = pl.multiple_of(i * block_k, block_k)
        x_MK = x_ref[:, pl.ds(k, block_k)]
        if has_ln:
            y_MK = (x_MK.astype(jnp.float32) - mean_M1) * rstd_M1 * ln_scale_ref[pl.ds(k, block_k)][None, :]
            x_MK = (y_MK + ln_bias_ref[pl.ds(k, block_k)][None, :]).astype(x_ref.dtype)
        if transposed:  # (BN, K) rows: contract both on their last axis
            return acc_MN + jax.lax.dot_general(x_MK, w_ref[:, pl.ds(k, block_k)], (((1,), (1,)), ((), ())),
                                                preferred_element_type=jnp.float32)
        return acc_MN + jnp.dot(x_MK, w_ref[pl.ds(k, block_k), :], preferred_element_type=jnp.float32)

    acc_MN = jax.lax.fori_loop(0, len(chunks), product, jnp.zeros(o_ref.shape, jnp.float32))
    if has_bias:
        acc_MN += b_ref[...].astype(jnp.float32)[None, :]
    if gelu:
        acc_MN = jax.nn.gelu(acc_MN, approximate=True)
    if has_residual:
        acc_MN += residual_ref[...].astype(jnp.float32)
    o_ref[...] = acc_MN.astype(o_ref.dtype)


def applies(x_BTD, n_out: int = 16) -> bool:
    """Whether products of x_BTD (D -> n_out; a layer's are all multiples of D) are a decode step's that this
    kernel runs: one position, few rows, one GPU (a pallas_call is not partitioned over a mesh), bf16, and
    sizes the blocks divide."""
    B, T, D = x_BTD.shape
    return (T == 1 and B <= MAX_ROWS and D % BLOCK_K == 0 and n_out % 16 == 0 and x_BTD.dtype == jnp.bfloat16
            and jax.default_backend() == 'gpu' and jax.device_count() == 1)


def default_block_n(n: int) -> int:
    """Columns per program: a few hundred programs for the layers' matrices, larger ones for the head's."""
    block_n = 64 if n > 8192 else 16
    while n % block_n:
        block_n //= 2
    return block_n


@functools.partial(jax.jit, static_argnames=('transposed', 'gelu', 'block_n', 'block_k', 'num_warps', 'num_stages',
                                             'interpret'))
def matmul(x_MK, w, b_N=None, *, ln=None, residual_MN=None, transposed: bool = False, gelu: bool = False,
           block_n: int = 0, block_k: int = BLOCK_K, num_warps: int = 4, num_stages: int = 3,
           interpret: bool | None = None):
    """[residual_MN +] [gelu](LN(x_MK) @ w [+ b_N]) in x's dtype; w is (K, N), or (N, K) when transposed, and ln
    a LayerNorm's (scale_K, bias_K) or None. The rows are padded to a power of two >= 16 (Triton's smallest
    dot); K must be a multiple of block_k and N of block_n. Off a GPU it runs in Pallas' interpreter (for tests)."""
    M, K = x_MK.shape
    N = w.shape[0] if transposed else w.shape[1]
    block_n = block_n or default_block_n(N)
    rows = max(16, 1 << (M - 1).bit_length())
    pad = lambda a: jnp.pad(a, ((0, rows - M), (0, 0)))
    whole = lambda *shape: pl.BlockSpec(shape, lambda j: (0,) * len(shape))
    in_specs = [whole(rows, K), (pl.BlockSpec((block_n, K), lambda j: (j, 0)) if transposed
                                 else pl.BlockSpec((K, block_n), lambda j: (0, j)))]
    args = [pad(x_MK), w]
    if b_N is not None:
        in_specs.append(pl.BlockSpec((block_n,), lambda j: (j,)))
        args.append(b_N)
    if ln is not None:
        in_specs += [whole(K), whole(K)]
        args += [p.astype(jnp.float32) for p in ln]
    if residual_MN is not None:
        in_specs.append(pl.BlockSpec((rows, block_n), lambda j: (0, j)))
        args.append(pad(residual_MN))
    kernel = functools.partial(_kernel, has_bias=b_N is not None, has_ln=ln is not None,
                               has_residual=residual_MN is not None, transposed=transposed, gelu=gelu, block_k=block_k)
    y_RN = pl.pallas_call(
        kernel, out_shape=jax.ShapeDtypeStruct((rows, N), x_MK.dtype), grid=(N // block_n,),
        in_specs=in_specs, out_specs=pl.BlockSpec((rows, block_n), lambda j: (0, j)),
        compiler_params=plgpu.CompilerParams(num_warps=num_warps, num_stages=num_stages),
        interpret=jax.default_backend() != 'gpu' if interpret is None else interpret,
        name='decode_matmul')(*args)
    return y_RN[:M]
