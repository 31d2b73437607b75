"""Shared fixtures: a tiny char dataset made here (always available) and tiny-run helpers."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_TEXT = REPO.parent / 'shared' / 'data' / 'tinyshakespeare.txt'

# A model small enough that a CPU trains it in seconds.
TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, gradient_accumulation_steps=1,
            max_iters=20, lr_decay_iters=20, warmup_iters=5, eval_interval=10, eval_iters=2, log_interval=1,
            dropout=0.0, sample_at_end=0, progress=False)


def write_char_dataset(directory: Path, text: str) -> Path:
    """train.bin / val.bin / meta.json as data/shakespeare_char/prepare.py writes them (90/10)."""
    directory.mkdir(parents=True, exist_ok=True)
    chars = ''.join(sorted(set(text)))
    ids = np.array([chars.index(c) for c in text], np.uint16)
    n = int(0.9 * len(ids))
    ids[:n].tofile(directory / 'train.bin')
    ids[n:].tofile(directory / 'val.bin')
    meta = dict(tokenizer='char', vocab_size=len(chars), dtype='uint16', train_tokens=n,
                val_tokens=len(ids) - n, source='tests', source_sha256='', chars=chars)
    (directory / 'meta.json').write_text(json.dumps(meta))
    return directory


@pytest.fixture(scope='session')
def data_root(tmp_path_factory) -> Path:
    """data_dir holding 'tiny' (made-up verse, always there)."""
    root = tmp_path_factory.mktemp('data')
    rng = np.random.default_rng(0)
    words = ['thou', 'art', 'more', 'lovely', 'and', 'temperate', 'rough', 'winds', 'do', 'shake', 'the',
             'darling', 'buds', 'of', 'may', 'summer', 'lease', 'hath', 'all', 'too', 'short', 'a', 'date']
    lines = [' '.join(rng.choice(words, size=6)) + ',' for _ in range(3000)]
    write_char_dataset(root / 'tiny', '\n'.join(lines) + '\n')
    return root


def overrides(**kw) -> list[str]:
    return [f'--config.{k}={v}' for k, v in kw.items()]


def run_module(module: str, *args, env=None, timeout=300, check=True) -> subprocess.CompletedProcess:
    """python -m nanogpt_jax.<module> args..., from the repo root, on the CPU."""
    full_env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONUNBUFFERED': '1', **(env or {})}
    full_env.pop('XLA_FLAGS', None) if not (env and 'XLA_FLAGS' in env) else None
    proc = subprocess.run([sys.executable, '-m', f'nanogpt_jax.{module}', *args], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f'{module} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n'
                             f'stderr:\n{proc.stderr[-5000:]}')
    return proc


def train(data_root: Path, out_dir: Path, check=True, env=None, **kw) -> subprocess.CompletedProcess:
    args = overrides(**{**TINY, 'dataset': 'tiny', 'data_dir': data_root, 'out_dir': out_dir, **kw})
    return run_module('train', '--config=configs/shakespeare_char_cpu.py', *args, env=env, check=check)


def read_metrics(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (Path(out_dir) / 'metrics.jsonl').read_text().splitlines()]


def train_losses(out_dir: Path) -> dict[int, float]:
    return {m['step']: m['train_loss'] for m in read_metrics(out_dir) if 'val_loss' not in m}
