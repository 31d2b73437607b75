"""python -m nanogpt_jax.bench on a tiny model: its last line is one JSON object with sane numbers."""
import json
import math

import pytest

from conftest import run_module

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
