"""AdamW as nanoGPT configures it: which parameters decay, and the learning-rate schedule's values."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from nanogpt_jax.config import default_config
from nanogpt_jax.model import GPT, GPTConfig
from nanogpt_jax.optim import decay_mask, lr_schedule, make_optimizer


def nanogpt_get_lr(it, c):
    """nanoGPT's train.py get_lr, verbatim in meaning."""
    if it < c.warmup_iters:
        return c.learning_rate * (it + 1) / (c.warmup_iters + 1)
    if it > c.lr_decay_iters:
        return c.min_lr
    ratio = (it - c.warmup_iters) / (c.lr_decay_iters - c.warmup_iters)
    return c.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c.learning_rate - c.min_lr)


def test_schedule_at_warmup_peak_and_end():
    c = default_config()
    c.learning_rate, c.min_lr, c.warmup_iters, c.lr_decay_iters = 6e-4, 6e-5, 100, 1000
    schedule = lr_schedule(c)
    assert float(schedule(0)) == pytest.approx(6e-4 / 101)
    assert float(schedule(50)) == pytest.approx(6e-4 * 51 / 101)
    assert float(schedule(100)) == pytest.approx(6e-4)  # peak
    assert float(schedule(550)) == pytest.approx((6e-4 + 6e-5) / 2)  # halfway down the cosine
    assert float(schedule(1000)) == pytest.approx(6e-5)
    assert float(schedule(5000)) == pytest.approx(6e-5)
    for it in (0, 7, 99, 100, 101, 333, 999, 1000, 1001, 2000):
        assert float(schedule(it)) == pytest.approx(nanogpt_get_lr(it, c), rel=1e-5)
    c.decay_lr = False
    assert float(lr_schedule(c)(500)) == pytest.approx(6e-4)


def test_weight_decay_only_on_matrices():
    params = nnx.to_pure_dict(nnx.state(GPT(GPTConfig(block_size=8, vocab_size=64, n_layer=1, n_head=2,
                                                      n_embd=8), nnx.Rngs(0))))
    mask = decay_mask(params)
    assert mask['wte'] and mask['wpe'] and mask['h'][0]['attn']['c_attn']['kernel']
    assert mask['h'][0]['mlp']['c_proj']['kernel']
    assert not mask['h'][0]['attn']['c_attn']['bias'] and not mask['ln_f']['scale']
    assert not mask['h'][0]['ln_1']['bias']
    # behaviour: with zero gradients only the masked params move (AdamW's decoupled decay)
    c = default_config()
    c.grad_clip, c.weight_decay, c.decay_lr, c.learning_rate = 0.0, 0.5, False, 0.1
    tx = make_optimizer(c)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    np.testing.assert_allclose(new['wte'], params['wte'] * (1 - 0.1 * 0.5), rtol=1e-6)
    np.testing.assert_array_equal(new['ln_f']['scale'], params['ln_f']['scale'])
    np.testing.assert_array_equal(new['h'][0]['mlp']['c_fc']['bias'], params['h'][0]['mlp']['c_fc']['bias'])


def test_gradients_are_clipped_to_grad_clip_before_adam():
    """Two steps with gradients of norm 10 then 0.5: the clipped optimizer must act as plain AdamW on
    gradients rescaled to norm <= 1 (computed here in numpy), and differently from unclipped AdamW."""
    c = default_config()
    c.grad_clip, c.weight_decay, c.decay_lr, c.learning_rate = 1.0, 0.0, False, 0.1
    params = {'w': jnp.ones((2, 3))}
    g1 = np.random.default_rng(0).normal(size=(2, 3))
    grads = [g1 * 10 / np.linalg.norm(g1), g1 * 0.5 / np.linalg.norm(g1)]
    clipped = [g / max(1.0, np.linalg.norm(g)) for g in grads]

    def two_updates(tx, gs):
        state, out = tx.init(params), []
        for g in gs:
            update, state = tx.update({'w': jnp.asarray(g, jnp.float32)}, state, params)
            out.append(np.asarray(update['w']))
        return out

    plain = optax.adamw(0.1, b1=c.beta1, b2=c.beta2, eps=1e-8, weight_decay=0.0)
    ours = two_updates(make_optimizer(c), grads)
    for a, b in zip(ours, two_updates(plain, clipped)):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    assert not np.allclose(ours[1], two_updates(plain, grads)[1], rtol=1e-3)
