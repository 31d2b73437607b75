"""python -m nanogpt_jax.bench on a tiny model: its last line is one JSON object with sane numbers.
Also the levers it measures (the chunked cross-entropy equals the plain one)."""
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import run_module
from nanogpt_jax.model import GPT, GPTConfig

TINY_BENCH = ['--model=tiny', '--block_size=32', '--vocab_size=256', '--steps=4', '--warmup=1']


def bench(*args) -> tuple[dict, str]:
    stdout = run_module('bench', *TINY_BENCH, *args, timeout=120).stdout
    return json.loads(stdout.strip().splitlines()[-1]), stdout


def test_train_json_has_consistent_numbers():
    result, stdout = bench('train', '--batch_size=4', '--grad_accum=2')
    for key in ('ms_per_iter', 'tokens_per_sec', 'mfu', 'peak_memory_bytes', 'compile_s', 'loss', 'config',
                'flops_per_token', 'xla_flops_per_step_per_device', 'analytic_flops_per_step_per_device'):
        assert key in result, key
    assert result['mode'] == 'train' and result['tokens_per_iter'] == 2 * 4 * 32
    assert result['tokens_per_sec'] == pytest.approx(result['tokens_per_iter'] / (result['ms_per_iter'] / 1e3), rel=1e-6)
    assert result['mfu'] is None  # no known peak on a CPU
    assert result['compile_s'] > 0 and result['peak_memory_bytes'] > 0 and math.isfinite(result['loss'])
    assert result['loss'] == pytest.approx(math.log(256), abs=0.5)  # random tokens, untrained model
    shape = result['config']['model_shape']
    assert (shape['n_layer'], shape['n_head'], shape['n_embd'], shape['block_size'], shape['vocab_size']) == (2, 2, 32, 32, 256)
    assert 'compiled step memory per device (MB)' in stdout and 'FLOPs per step per device' in stdout


def test_train_on_a_prepared_dataset_with_the_chunked_loss(data_root):
    result, stdout = bench('train', '--batch_size=4', f'--data_dir={data_root}', '--dataset=tiny', '--loss_chunk=48')
    assert 'data tiny' in stdout
    meta = json.loads((data_root / 'tiny' / 'meta.json').read_text())
    assert result['config']['model_shape']['vocab_size'] == -(-meta['vocab_size'] // 64) * 64
    assert result['config']['loss_chunk'] == 48 and math.isfinite(result['loss'])


def test_decode_json_has_consistent_numbers():
    result, _ = bench('decode', '--batch_size=3', '--prompt_len=5', '--new_tokens=12')
    for key in ('decode_tokens_per_sec', 'tokens_per_sec', 'ms_per_token_step', 'prefill_ms', 'peak_memory_bytes',
                'compile_s', 'config'):
        assert key in result, key
    assert result['mode'] == 'decode'
    assert result['decode_tokens_per_sec'] == pytest.approx(3 * 12 / result['decode_s'], rel=1e-6)
    assert result['ms_per_token_step'] == pytest.approx(result['decode_s'] * 1e3 / 12, rel=1e-6)
    assert 0 < result['tokens_per_sec'] < result['decode_tokens_per_sec']
    assert result['compile_s'] > 0 and result['peak_memory_bytes'] > 0


def test_decode_refuses_more_tokens_than_one_window():
    proc = run_module('bench', *TINY_BENCH, 'decode', '--prompt_len=16', '--new_tokens=20', check=False)
    assert proc.returncode != 0 and 'exceeds block_size' in proc.stderr


@pytest.mark.parametrize('chunk', [16, 37, 96, 500])  # divides B*T, leaves a padded last chunk, equals it, exceeds it
def test_chunked_cross_entropy_matches_the_plain_loss_and_its_gradients(chunk):
    cfg = GPTConfig(block_size=32, vocab_size=128, n_layer=2, n_head=4, n_embd=32)
    graphdef, params = nnx.split(GPT(cfg, nnx.Rngs(0)))
    params = nnx.to_pure_dict(params)
    rng = np.random.default_rng(0)
    x_BT, y_BT = (jnp.asarray(rng.integers(0, 128, (3, 32)), jnp.int32) for _ in range(2))
    loss = lambda p, c: nnx.merge(graphdef, p).loss(x_BT, y_BT, chunk=c)
    plain, plain_grads = jax.value_and_grad(loss)(params, 0)
    chunked, chunked_grads = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, chunk)
    np.testing.assert_allclose(chunked, plain, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), chunked_grads, plain_grads)


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


def test_chunked_cross_entropy_in_bfloat16_stays_close_to_the_plain_loss():
    cfg = GPTConfig(block_size=32, vocab_size=128, n_layer=2, n_head=4, n_embd=32, dtype='bfloat16')
    graphdef, params = nnx.split(GPT(cfg, nnx.Rngs(0)))
    params = nnx.to_pure_dict(params)
    rng = np.random.default_rng(0)
    x_BT, y_BT = (jnp.asarray(rng.integers(0, 128, (3, 32)), jnp.int32) for _ in range(2))
    loss = lambda p, c: nnx.merge(graphdef, p).loss(x_BT, y_BT, chunk=c)
    plain, plain_grads = jax.value_and_grad(loss)(params, 0)
    chunked, chunked_grads = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, 37)
    np.testing.assert_allclose(chunked, plain, rtol=1e-3)
    for a, b in zip(jax.tree.leaves(chunked_grads), jax.tree.leaves(plain_grads)):
        assert np.abs(a - b).max() <= 0.05 * np.abs(b).max() + 1e-6  # bf16 rounding, summed in another order
