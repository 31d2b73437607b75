"""Batches: nanoGPT's random windows, a pure function of (seed, split, index), split across processes."""
import numpy as np
import pytest

from nanogpt_jax import data
from nanogpt_jax.config import default_config


def make_config(data_root, **kw):
    c = default_config()
    c.data_dir, c.dataset, c.block_size = str(data_root), 'tiny', 16
    c.update(kw)
    return c


def test_windows_are_next_token_pairs_from_the_file(tmp_path):
    (tmp_path / 'rand').mkdir()  # random tokens: every 16-token window occurs once
    np.random.default_rng(0).integers(0, 60000, 5000).astype(np.uint16).tofile(tmp_path / 'rand' / 'train.bin')
    tokens = data.open_tokens(make_config(tmp_path, dataset='rand'), 'train')
    source = data.WindowBatches(tokens, micro_steps=3, batch_size=4, block_size=16, seed=0, split='train')
    x, y = source[5]
    assert x.shape == y.shape == (3, 4, 16) and x.dtype == np.int32
    np.testing.assert_array_equal(x[..., 1:], y[..., :-1])
    raw = np.fromfile(tmp_path / 'rand' / 'train.bin', np.uint16)
    for row_x, row_y in zip(x.reshape(-1, 16), y.reshape(-1, 16)):
        start = next(i for i in range(len(raw) - 16) if (raw[i:i + 16] == row_x).all())
        np.testing.assert_array_equal(raw[start + 1:start + 17], row_y)


def test_batches_depend_only_on_seed_split_and_index(data_root):
    c = make_config(data_root)
    tokens = data.open_tokens(c, 'train')
    make = lambda seed, split='train': data.WindowBatches(tokens, micro_steps=1, batch_size=4, block_size=16,
                                                          seed=seed, split=split)
    np.testing.assert_array_equal(make(1)[7][0], make(1)[7][0])
    assert not np.array_equal(make(1)[7][0], make(1)[8][0])
    assert not np.array_equal(make(1)[7][0], make(2)[7][0])
    assert not np.array_equal(make(1)[7][0], make(1, 'val')[7][0])
    it = data.batch_iterator(make(1), start=7)  # resuming at step 7 sees batch 7, then 8
    np.testing.assert_array_equal(next(it)[0], make(1)[7][0])
    np.testing.assert_array_equal(next(it)[0], make(1)[8][0])


def test_each_process_builds_only_its_rows(data_root, monkeypatch):
    tokens = data.open_tokens(make_config(data_root), 'train')
    whole = data.WindowBatches(tokens, micro_steps=2, batch_size=8, block_size=16, seed=0, split='train')[3][0]
    monkeypatch.setattr(data.jax, 'process_count', lambda: 2)
    parts = []
    for pid in (0, 1):
        monkeypatch.setattr(data.jax, 'process_index', lambda pid=pid: pid)
        parts.append(data.WindowBatches(tokens, micro_steps=2, batch_size=8, block_size=16, seed=0,
                                        split='train')[3][0])
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_nanogpt_bin_without_meta_loads_as_uint16(tmp_path):
    (tmp_path / 'owt').mkdir()
    np.arange(1000, dtype=np.uint16).tofile(tmp_path / 'owt' / 'train.bin')
    c = make_config(tmp_path, dataset='owt')
    assert data.open_tokens(c, 'train').dtype == np.uint16 and len(data.open_tokens(c, 'train')) == 1000


def test_missing_or_too_small_dataset_says_what_to_do(tmp_path, data_root):
    with pytest.raises(FileNotFoundError, match='python data/nothing/prepare.py'):
        data.open_tokens(make_config(tmp_path, dataset='nothing'), 'train')
    with pytest.raises(ValueError, match='too few for block_size'):
        data.open_tokens(make_config(data_root, block_size=10**6), 'val')
