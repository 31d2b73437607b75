"""GPT forward against independent references: causality, the KV cache, init statistics, the loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nanogpt_jax.model import GPT, GPTConfig, count_params, padded_vocab

CFG = GPTConfig(block_size=32, vocab_size=64, n_layer=2, n_head=4, n_embd=32)


@pytest.fixture(scope='module')
def model():
    return GPT(CFG, nnx.Rngs(0))


def random_tokens(shape, seed=0, vocab=CFG.vocab_size):
    return jnp.asarray(np.random.default_rng(seed).integers(0, vocab, shape), jnp.int32)


def test_changing_a_future_token_leaves_earlier_logits_unchanged(model):
    idx = random_tokens((2, 16))
    changed = idx.at[:, 9].set((idx[:, 9] + 1) % CFG.vocab_size)
    before, after = model(idx), model(changed)
    np.testing.assert_array_equal(before[:, :9], after[:, :9])
    assert np.abs(before[:, 9:] - after[:, 9:]).max() > 1e-3


@pytest.mark.parametrize('cache_len', [0, 20])  # block_size, or just the positions decoding fills
def test_kv_cache_decoding_gives_the_full_forward_logits(model, cache_len):
    idx = random_tokens((3, 20), seed=1)
    full_BTV = model(idx)
    cache = model.init_cache(3, cache_len)
    x, cache = model.hidden(idx[:, :7], cache=cache, pos=0)  # prefill 7, then one token at a time
    step_logits = [model.logits(x)]
    for t in range(7, 20):
        x, cache = model.hidden(idx[:, t:t + 1], cache=cache, pos=t)
        step_logits.append(model.logits(x))
    np.testing.assert_allclose(jnp.concatenate(step_logits, axis=1), full_BTV, atol=2e-5)


def test_attention_matches_a_numpy_reference():
    """One layer, no MLP contribution checked separately: q/k/v split, heads, causal softmax, projection."""
    cfg = GPTConfig(block_size=8, vocab_size=64, n_layer=1, n_head=2, n_embd=8)
    attn = GPT(cfg, nnx.Rngs(3)).h[0].attn
    x = np.random.default_rng(0).normal(size=(1, 5, 8)).astype(np.float32)
    w, b = np.asarray(attn.c_attn.kernel[...]), np.asarray(attn.c_attn.bias[...])
    qkv = np.einsum('btd,dke->btke', x, w) + b
    q, k, v = (qkv[:, :, i].reshape(1, 5, 2, 4).transpose(0, 2, 1, 3) for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / 2.0 + np.triu(np.full((5, 5), -np.inf), 1)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    y = (probs @ v).transpose(0, 2, 1, 3).reshape(1, 5, 8)
    expected = y @ np.asarray(attn.c_proj.kernel[...]) + np.asarray(attn.c_proj.bias[...])
    np.testing.assert_allclose(attn(jnp.asarray(x))[0], expected, atol=1e-5)


def test_attention_dropout_path_equals_fused_attention_when_nothing_is_dropped():
    """The explicit path used for dropout > 0 computes the same attention as jax.nn.dot_product_attention."""
    cfg = GPTConfig(block_size=16, vocab_size=64, n_layer=1, n_head=2, n_embd=16, dropout=0.5)
    attn = GPT(cfg, nnx.Rngs(0)).h[0].attn
    attn.attn_dropout.rate, attn.resid_dropout.rate = 1e-9, 0.0  # the dropout path, (almost surely) no drops
    x = jax.random.normal(jax.random.key(1), (2, 10, 16))
    explicit, _ = attn(x, nnx.Rngs(dropout=0))
    fused, _ = attn(x)
    np.testing.assert_allclose(explicit, fused, atol=1e-5)


def test_init_follows_nanogpt(model):
    params = nnx.to_pure_dict(nnx.state(GPT(GPTConfig(n_layer=4, n_embd=256, n_head=4, block_size=256,
                                                       vocab_size=512), nnx.Rngs(0))))
    assert np.std(params['wte']) == pytest.approx(0.02, rel=0.02)
    assert np.std(params['h'][0]['mlp']['c_fc']['kernel']) == pytest.approx(0.02, rel=0.02)
    assert np.std(params['h'][0]['mlp']['c_proj']['kernel']) == pytest.approx(0.02 / np.sqrt(8), rel=0.02)
    assert np.std(params['h'][0]['attn']['c_proj']['kernel']) == pytest.approx(0.02 / np.sqrt(8), rel=0.05)
    assert np.all(params['h'][0]['attn']['c_attn']['bias'] == 0) and np.all(params['ln_f']['scale'] == 1)


def test_no_bias_option_and_param_count():
    with_bias = nnx.to_pure_dict(nnx.state(GPT(CFG, nnx.Rngs(0))))
    no_bias = nnx.to_pure_dict(nnx.state(GPT(GPTConfig(**{**CFG.__dict__, 'bias': False}), nnx.Rngs(0))))
    d, L = CFG.n_embd, CFG.n_layer
    per_layer = 4 * d * d + 8 * d * d + 2 * d  # attn + mlp weights + 2 LayerNorm scales
    assert count_params(no_bias) == CFG.vocab_size * d + L * per_layer + d
    assert count_params(with_bias) - count_params(no_bias) == L * (3 * d + d + 4 * d + d + 2 * d) + d
    assert count_params(with_bias, non_embedding=False) - count_params(with_bias) == CFG.block_size * d


def test_gpt2_124m_has_nanogpts_parameter_count():
    abstract = nnx.eval_shape(lambda: GPT(GPTConfig(vocab_size=50257), nnx.Rngs(0)))
    assert count_params(nnx.to_pure_dict(nnx.state(abstract))) == 123_653_376  # nanoGPT: "123.65M"


def test_vocab_padding():
    assert padded_vocab(50257) == 50304 and padded_vocab(65) == 128 and padded_vocab(64) == 64


def test_loss_is_cross_entropy_and_dropout_is_random_only_with_rngs(model):
    idx, targets = random_tokens((2, 12), seed=2), random_tokens((2, 12), seed=3)
    logits = np.asarray(model(idx), np.float64)
    logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    expected = np.mean(logz - np.take_along_axis(logits, np.asarray(targets)[..., None], -1)[..., 0])
    assert float(model.loss(idx, targets)) == pytest.approx(expected, rel=1e-5)
    dropped = GPT(GPTConfig(**{**CFG.__dict__, 'dropout': 0.5}), nnx.Rngs(0))
    assert float(dropped.loss(idx, targets)) == pytest.approx(expected, rel=1e-5)  # same weights, eval mode
    assert float(dropped.loss(idx, targets, nnx.Rngs(dropout=0))) != pytest.approx(expected, rel=1e-3)


def test_bfloat16_compute_keeps_float32_weights():
    model = GPT(GPTConfig(**{**CFG.__dict__, 'dtype': 'bfloat16'}), nnx.Rngs(0))
    x, _ = model.hidden(random_tokens((1, 8)))
    assert x.dtype == jnp.bfloat16 and model.logits(x).dtype == jnp.float32
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(nnx.state(model)))
    full = GPT(CFG, nnx.Rngs(0))(random_tokens((1, 8)))
    np.testing.assert_allclose(model.logits(x), full, atol=0.05)


@pytest.mark.parametrize('chunk', [0, 7])
def test_loss_ignores_the_padded_vocab_rows(chunk):
    """A char model padded from 50 ids to 64 rows scores like an unpadded one: log-softmax over the first 50."""
    cfg = GPTConfig(**{**CFG.__dict__, 'data_vocab_size': 50})
    model = GPT(cfg, nnx.Rngs(0))
    idx, targets = random_tokens((2, 12), seed=4) % 50, random_tokens((2, 12), seed=5) % 50
    logits = np.asarray(model(idx), np.float64)[..., :50]
    logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    expected = np.mean(logz - np.take_along_axis(logits, np.asarray(targets)[..., None], -1)[..., 0])
    assert float(model.loss(idx, targets, chunk=chunk)) == pytest.approx(expected, rel=1e-5)
    unmasked = GPT(CFG, nnx.Rngs(0)).loss(idx, targets, chunk=chunk)
    assert float(unmasked) > expected + 1e-3  # the 14 padded rows took probability


def test_position_embedding_gradient_is_the_batch_sum_of_the_input_gradient(model):
    """Positions are looked up per (b, t) like tokens (model.hidden): the wpe gradient must still be, row by
    row, the batch sum of the gradient at the blocks' input, as for a (T, D) slice broadcast over the batch,
    and zero past T."""
    graphdef, params = nnx.split(model)
    params = nnx.to_pure_dict(params)
    idx, targets = random_tokens((3, 12), seed=6), random_tokens((3, 12), seed=7)

    def loss_from_input(p, x_BTD):  # the model's forward from the embedded input on
        m = nnx.merge(graphdef, p)
        for block in m.h:
            x_BTD, _ = block(x_BTD)
        logits = m.logits(m.ln_f(x_BTD))
        return jnp.mean(jax.nn.logsumexp(logits, -1) - jnp.take_along_axis(logits, targets[..., None], -1)[..., 0])

    x_BTD = params['wte'][idx] + params['wpe'][:12]
    full_loss = nnx.merge(graphdef, params).loss(idx, targets)
    np.testing.assert_allclose(loss_from_input(params, x_BTD), full_loss, rtol=1e-6)
    dx_BTD = jax.grad(loss_from_input, argnums=1)(params, x_BTD)
    dwpe = jax.grad(lambda p: nnx.merge(graphdef, p).loss(idx, targets))(params)['wpe']
    np.testing.assert_allclose(dwpe[:12], dx_BTD.sum(0), rtol=1e-5, atol=1e-7)
    assert not np.asarray(dwpe[12:]).any()


def loss_and_grads(dtype, chunk, seed=0):
    """Mean loss and its gradients on random tokens, plain (chunk 0) or chunked, for one small model."""
    cfg = GPTConfig(block_size=32, vocab_size=128, n_layer=2, n_head=4, n_embd=32, dtype=dtype)
    graphdef, params = nnx.split(GPT(cfg, nnx.Rngs(0)))
    rng = np.random.default_rng(seed)
    x_BT, y_BT = (jnp.asarray(rng.integers(0, 128, (3, 32)), jnp.int32) for _ in range(2))
    loss = lambda p: nnx.merge(graphdef, p).loss(x_BT, y_BT, chunk=chunk)
    return jax.jit(jax.value_and_grad(loss))(nnx.to_pure_dict(params))


@pytest.mark.parametrize('chunk', [16, 37, 96, 500])  # divides B*T, leaves a padded last chunk, equals it, exceeds it
def test_chunked_cross_entropy_matches_the_plain_loss_and_its_gradients(chunk):
    plain, plain_grads = loss_and_grads('float32', 0)
    chunked, chunked_grads = loss_and_grads('float32', chunk)
    np.testing.assert_allclose(chunked, plain, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), chunked_grads, plain_grads)


def test_chunked_cross_entropy_in_bfloat16_stays_close_to_the_plain_loss():
    plain, plain_grads = loss_and_grads('bfloat16', 0)
    chunked, chunked_grads = loss_and_grads('bfloat16', 37)
    np.testing.assert_allclose(chunked, plain, rtol=1e-3)
    for a, b in zip(jax.tree.leaves(chunked_grads), jax.tree.leaves(plain_grads)):
        assert np.abs(a - b).max() <= 0.05 * np.abs(b).max() + 1e-6  # bf16 rounding, summed in another order


def test_chunked_cross_entropy_keeps_no_whole_batch_logits():
    """XLA's memory plan for loss + gradients: the (B*T, V) fp32 logits dominate the plain loss's
    temporaries; chunked, only one chunk's logits are live."""
    from nanogpt_jax.profiling import memory_analysis
    cfg = GPTConfig(block_size=64, vocab_size=8192, n_layer=1, n_head=2, n_embd=32)
    graphdef, params = nnx.split(GPT(cfg, nnx.Rngs(0)))
    params = nnx.to_pure_dict(params)
    x_BT = jnp.zeros((8, 64), jnp.int32)
    loss = lambda p, c: nnx.merge(graphdef, p).loss(x_BT, x_BT, chunk=c)
    temps = {c: memory_analysis(jax.jit(jax.grad(loss), static_argnums=1).lower(params, c).compile())['temporaries']
             for c in (0, 64)}
    logits_bytes = 8 * 64 * 8192 * 4
    assert temps[0] >= logits_bytes and temps[64] < logits_bytes / 2, temps
