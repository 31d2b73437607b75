"""FLOPs, MFU and the metric writers."""
import json
import types

import pytest

from nanogpt_jax import metrics
from nanogpt_jax.config import default_config
from nanogpt_jax.model import GPTConfig


def test_flops_per_token_is_nanogpts_estimate_for_gpt2():
    cfg = GPTConfig()
    n = 123_653_376  # GPT-2 124M without position embeddings
    assert metrics.flops_per_token(cfg, n) == 6 * n + 12 * 12 * 12 * 64 * 1024


def test_peak_table_and_mfu(monkeypatch):
    kinds = {'NVIDIA H100 80GB HBM3': 989e12, 'NVIDIA H100 PCIe': 756e12, 'NVIDIA H200': 989e12,
             'NVIDIA A100-SXM4-40GB': 312e12, 'TPU v5 lite': 197e12, 'TPU v4': 275e12, 'cpu': None}
    for kind, peak in kinds.items():
        assert metrics.peak_flops(types.SimpleNamespace(device_kind=kind)) == peak, kind
    monkeypatch.setattr(metrics, 'peak_flops', lambda device=None: 1e15)
    assert metrics.mfu(500_000, 1e9, num_devices=1) == pytest.approx(0.5)
    assert metrics.mfu(500_000, 1e9, num_devices=2) == pytest.approx(0.25)


def test_writer_keeps_jsonl_and_tensorboard_and_trims_on_resume(tmp_path):
    pytest.importorskip('tensorboardX')
    c = default_config()
    c.out_dir, c.tensorboard_log = str(tmp_path), True
    writer = metrics.MetricsWriter(c)
    for step in range(6):
        writer.write(dict(step=step, train_loss=1.0 / (step + 1), lr=1e-3, tokens_per_sec=10.0, mfu=None))
    writer.close()
    assert list((tmp_path / 'tensorboard').glob('events.out.tfevents.*'))
    writer = metrics.MetricsWriter(c, resume_step=3)  # a run resumed from the checkpoint at step 3
    writer.write(dict(step=4, train_loss=9.0, lr=1e-3, tokens_per_sec=10.0, mfu=None))
    writer.close()
    lines = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
    assert [l['step'] for l in lines] == [0, 1, 2, 3, 4] and lines[-1]['train_loss'] == 9.0
    assert lines[0]['mfu'] is None
