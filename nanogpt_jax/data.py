"""Token windows from train.bin / val.bin, as global batches sharded over the mesh.

Batch i is a pure function of (seed, split, i): random windows like nanoGPT's get_batch, drawn by
a generator seeded with i. So the data position is just the step number, a resumed run sees the
same batches as an uninterrupted one, and each process builds only its own rows of every batch.
grain runs the reads on background threads, one record per whole batch (per-row records are slow).
"""
import os

import grain
import jax
import numpy as np

from nanogpt_jax.tokenizer import load_meta


def dataset_dir(config) -> str:
    return os.path.join(config.data_dir, config.dataset)


def open_tokens(config, split: str) -> np.ndarray:
    """Memory-map data_dir/dataset/{split}.bin, or say exactly how to prepare it."""
    path = os.path.join(dataset_dir(config), f'{split}.bin')
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path} does not exist: dataset {config.dataset!r} is not prepared. '
                                f'Run: python data/{config.dataset}/prepare.py (it writes data/{config.dataset}/; '
                                f'--config.data_dir names the folder that holds {config.dataset}/, now {config.data_dir!r}).')
    meta = load_meta(dataset_dir(config)) or {'dtype': 'uint16'}  # nanoGPT's GPT-2 .bin files are uint16
    tokens = np.memmap(path, dtype=np.dtype(meta['dtype']), mode='r')
    if len(tokens) <= config.block_size + 1:
        raise ValueError(f'{path} holds {len(tokens)} tokens, too few for block_size={config.block_size}: '
                         f'use a smaller block_size or more data.')
    return tokens


class WindowBatches:
    """grain random-access source: record i is this process's rows of batch i, shaped
    (micro_steps, rows, block_size) for inputs and targets."""

    def __init__(self, tokens, *, micro_steps, batch_size, block_size, seed, split, rows=None):
        self.tokens, self.micro_steps, self.block_size = tokens, micro_steps, block_size
        self.batch_size, self.seed = batch_size, seed
        self.split_id = {'train': 0, 'val': 1}[split]
        if rows is None:  # the rows this process's devices hold: sharding.process_rows(mesh, batch_size)
            per_process = batch_size // jax.process_count()
            rows = slice(jax.process_index() * per_process, (jax.process_index() + 1) * per_process)
        self.rows = rows

    def __len__(self):
        return 2**62  # endless: records are drawn at random

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, self.split_id, int(i)])
        starts = rng.integers(0, len(self.tokens) - self.block_size - 1, size=(self.micro_steps, self.batch_size))
        starts = starts[:, self.rows]  # draw the global batch, keep this process's rows
        window = np.asarray(self.tokens[starts[..., None] + np.arange(self.block_size + 1)], dtype=np.int32)
        return window[..., :-1], window[..., 1:]


def batch_iterator(source: WindowBatches, start: int = 0, prefetch: int = 4):
    """Batches start, start+1, ... read ahead on background threads."""
    options = grain.ReadOptions(num_threads=min(4, prefetch), prefetch_buffer_size=prefetch)
    return iter(grain.MapDataset.source(source)[start:].to_iter_dataset(options))


def to_global(local_batch, sharding):
    """Assemble the processes' rows into one global jax.Array per input (no host holds all of it)."""
    return tuple(jax.make_array_from_process_local_data(sharding, x) for x in local_batch)
