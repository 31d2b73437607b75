"""Orbax checkpoints in out_dir: `best` (lowest val loss, for sampling) and `latest` (the state at a
later step: when always_save_checkpoint, after an eval that did not improve; and at the end or on a stop).

An eval that improves writes `best` only: it is also the newest state, and a second copy would cost
the run another save. So "the newest checkpoint" (for resuming, and `--which=latest`) is whichever of
the two holds the higher step. Each is a CheckpointManager keeping one step, written asynchronously by
every process. A step holds the params, the optimizer state, and a JSON record of step, best val loss,
data position and the model's shape, so a checkpoint directory alone is enough to resume or sample.
"""
import json
import os

import jax
import ml_collections
import orbax.checkpoint as ocp


def _manager(directory: str, read_only: bool = False) -> ocp.CheckpointManager:
    # `latest` and `best` may save the same step at once: their cross-process barriers need distinct names
    barriers = ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=os.path.basename(os.path.normpath(directory)))
    options = ocp.CheckpointManagerOptions(max_to_keep=1, create=not read_only,
                                           enable_async_checkpointing=not read_only, multiprocessing_options=barriers)
    return ocp.CheckpointManager(os.path.abspath(directory), options=options)


class Checkpoints:
    def __init__(self, out_dir: str):
        self.root = os.path.join(out_dir, 'ckpt')
        self.managers = {}

    def manager(self, kind: str) -> ocp.CheckpointManager:
        if kind not in self.managers:
            self.managers[kind] = _manager(os.path.join(self.root, kind))
        return self.managers[kind]

    def save(self, kind: str, step: int, params, opt_state, info: dict) -> None:
        self.manager(kind).save(step, args=ocp.args.Composite(
            params=ocp.args.StandardSave(params), opt_state=ocp.args.StandardSave(opt_state),
            info=ocp.args.JsonSave(info)), force=True)

    def newest_step(self) -> int:
        """The highest step saved (or being saved) in best/ and latest/; -1 when none."""
        steps = [self.managers[kind].latest_step() if kind in self.managers else
                 latest_step(os.path.join(self.root, kind)) for kind in ('best', 'latest')]
        return max((s for s in steps if s is not None), default=-1)

    def wait(self) -> None:
        for m in self.managers.values():
            m.wait_until_finished()

    def close(self) -> None:
        for m in self.managers.values():
            m.close()


def latest_step(directory: str):
    if not os.path.isdir(directory):
        return None
    return _manager(directory, read_only=True).latest_step()


def find(out_dir: str, which: str = 'best') -> str:
    """Directory of the 'best' checkpoint (else the newest: no eval improved) or of the newest ('latest':
    whichever of best/ and latest/ holds the higher step)."""
    steps = {kind: latest_step(os.path.join(out_dir, 'ckpt', kind)) for kind in ('best', 'latest')}
    saved = [kind for kind in steps if steps[kind] is not None]
    if not saved:
        raise FileNotFoundError(f'No checkpoint in {out_dir}/ckpt. Train first with --config.out_dir={out_dir}, '
                                f'or point --out_dir at a directory that holds one.')
    kind = 'best' if which == 'best' and 'best' in saved else max(saved, key=steps.get)
    return os.path.join(out_dir, 'ckpt', kind)


def restore(directory: str, abstract_params, abstract_opt_state=None):
    """(params, opt_state or None, info) from the newest step in `directory`, placed as the
    abstract arrays' shardings say (so a checkpoint written on 8 GPUs restores on 1 or on CPU)."""
    manager = _manager(directory, read_only=True)
    step = manager.latest_step()
    items = dict(params=ocp.args.StandardRestore(abstract_params), info=ocp.args.JsonRestore())
    if abstract_opt_state is not None:
        items['opt_state'] = ocp.args.StandardRestore(abstract_opt_state)
    try:
        restored = manager.restore(step, args=ocp.args.Composite(**items))
    except Exception as e:  # orbax raises many kinds; all mean the same thing to a user
        raise RuntimeError(f'Checkpoint {directory}/{step} could not be read ({type(e).__name__}: {e}). '
                           f'It may be corrupt or from a different model: delete that step directory to fall '
                           f'back to an older checkpoint, or start with init_from=scratch.') from e
    return restored['params'], restored.get('opt_state'), restored['info']


def read_info(directory: str) -> dict:
    """The JSON record of the newest step, without touching the arrays."""
    manager = _manager(directory, read_only=True)
    step = manager.latest_step()
    return manager.restore(step, args=ocp.args.Composite(info=ocp.args.JsonRestore()))['info']


def write_json(path: str, obj) -> None:
    """Written by process 0 only, atomically, so a killed run never leaves half a file."""
    if jax.process_index() != 0:
        return
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(obj, f, indent=2, default=str)
    os.replace(tmp, path)


def load_config(out_dir: str) -> ml_collections.ConfigDict:
    path = os.path.join(out_dir, 'config.json')
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path} not found: {out_dir} is not a nanogpt_jax run directory.')
    with open(path) as f:
        return ml_collections.ConfigDict(json.load(f))


def load_for_inference(out_dir: str, which: str, mesh, dtype: str = 'float32', attention: str = 'xla'):
    """(model config, graphdef, params, dataset meta) of a run's best or latest checkpoint, laid out on `mesh`."""
    from nanogpt_jax import sharding
    from nanogpt_jax.model import GPTConfig
    directory = find(out_dir, which)
    model_cfg = GPTConfig(**read_info(directory)['model'], dtype=dtype, attention=attention)
    graphdef, abstract_params = sharding.model_layout(model_cfg, mesh)
    params, _, _ = restore(directory, abstract_params)
    meta_path = os.path.join(out_dir, 'meta.json')
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else None
    return model_cfg, graphdef, params, meta
