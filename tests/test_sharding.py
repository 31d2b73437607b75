"""Layouts on 8 simulated CPU devices train exactly like one device, with weights really split.

Each layout is a config change (mesh_data x mesh_fsdp x mesh_tensor). The runs go through the real
code (sharding.model_layout, train.init_params, train.make_train_step, data.WindowBatches) in a
subprocess: XLA_FLAGS must be set before JAX starts, and must not leak into other tests. This file
is also that subprocess's script: `python tests/test_sharding.py SPEC_JSON` prints JSON results.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# n_head and the padded vocab (64) must divide by the 8-way tensor axis, n_embd by the 8-way fsdp axis,
# the batch by the 8 batch shards.
MODEL = dict(n_layer=2, n_head=8, n_embd=64, block_size=32, batch_size=16, gradient_accumulation_steps=2,
             dropout=0.0, learning_rate=4e-3, warmup_iters=1, lr_decay_iters=10, max_iters=10, dtype='float32',
             attention='xla')
STEPS = 4
LAYOUTS = {'data': (8, 1, 1), 'fsdp': (1, 8, 1), 'tensor': (1, 1, 8), 'mixed': (2, 2, 2)}


# ----------------------------------------------------------------------------------------------------
# The subprocess: train STEPS steps under each asked layout, report losses, grad norms and layouts.
# ----------------------------------------------------------------------------------------------------

def spec_of(sharding, ndim: int) -> list:
    """The PartitionSpec as a list, one entry per dimension, leaving out mesh axes of size 1
    (P('tensor') on a mesh whose tensor axis is 1 is the same layout as P(None))."""
    def entry(axes):
        axes = [a for a in ((axes,) if isinstance(axes, str) else axes or ()) if sharding.mesh.shape[a] > 1]
        return None if not axes else axes[0] if len(axes) == 1 else axes
    return [entry(axes) for axes in (*sharding.spec, *[None] * (ndim - len(sharding.spec)))]


def describe(tree) -> dict:
    """{'a/b/c': (spec, shape of one device's shard)} of every array (or abstract array) in a tree."""
    import jax
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    shard_shape = lambda x: (x.addressable_shards[0].data.shape if isinstance(x, jax.Array)
                             else x.sharding.shard_shape(x.shape))
    return {'/'.join(str(getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k)))) for k in path):
            (spec_of(x.sharding, len(x.shape)), list(shard_shape(x))) for path, x in flat}


def run_layout(mesh_sizes, data_dir: str, model: dict, steps: int) -> dict:
    import jax
    from nanogpt_jax import config as config_lib, data, sharding, train
    from nanogpt_jax.generate import generate
    from nanogpt_jax.optim import make_optimizer
    from nanogpt_jax.tokenizer import load_meta

    config = config_lib.default_config()
    config.update(dict(model, dataset='tiny', data_dir=data_dir, mesh_data=mesh_sizes[0],
                       mesh_fsdp=mesh_sizes[1], mesh_tensor=mesh_sizes[2]))
    config_lib.check_config(config)
    mesh = sharding.make_mesh(config)
    sharding.check_batch(config.batch_size, mesh, config.gradient_accumulation_steps)
    model_cfg = train.model_config(config, load_meta(data.dataset_dir(config)), config.dtype, config.attention)
    tx = make_optimizer(config)
    graphdef, abstract_params = sharding.model_layout(model_cfg, mesh)
    params = train.init_params(config, model_cfg, abstract_params)
    abstract_opt_state = sharding.opt_state_layout(tx, abstract_params, mesh)
    opt_state = jax.jit(tx.init, out_shardings=sharding.shardings_of(abstract_opt_state))(params)
    train_step, eval_step = train.make_train_step(graphdef, tx, model_cfg, seed=config.seed)

    def batches(split, micro_steps):
        return data.WindowBatches(data.open_tokens(config, split), micro_steps=micro_steps,
                                  batch_size=config.batch_size, block_size=config.block_size, seed=config.seed,
                                  split=split, rows=sharding.process_rows(mesh, config.batch_size))

    train_source, val_source = batches('train', config.gradient_accumulation_steps), batches('val', 1)
    step_batch = sharding.batch_sharding(mesh)
    out = dict(mesh=dict(mesh.shape), loss=[], grad_norm=[], val_loss=[])
    for i in range(steps):
        x_ABT, y_ABT = data.to_global(train_source[i], step_batch)
        if i == 0:  # compiled ahead, as train.py does, to read the per-device memory it needs
            train_step = train_step.lower(params, opt_state, x_ABT, y_ABT, np.int32(i)).compile()
            out['temp_bytes'] = train_step.memory_analysis().temp_size_in_bytes
        params, opt_state, metrics = train_step(params, opt_state, x_ABT, y_ABT, np.int32(i))
        x_1BT, y_1BT = data.to_global(val_source[i], step_batch)
        out['loss'].append(float(metrics['loss']))
        out['grad_norm'].append(float(metrics['grad_norm']))
        out['val_loss'].append(float(eval_step(params, x_1BT, y_1BT)))
    out['batch'] = describe({'x': x_ABT})['x']
    out['params'] = describe(params)  # after training: the step keeps the layout
    out['opt_state'] = describe(opt_state)
    out['expected'] = {path: spec for path, (spec, _) in describe(abstract_params).items()}  # RULES' layout
    prompt_1P = np.asarray(x_1BT)[0, :1, :8]  # one row: does not divide over the batch shards
    out['greedy_sample'] = generate(graphdef, params, prompt_1P, 8, jax.random.key(0), block_size=config.block_size,
                                    vocab_size=model_cfg.vocab_size, temperature=0.0)[0].tolist()
    return out


if __name__ == '__main__':
    spec = json.loads(sys.argv[1])
    results = {name: run_layout(sizes, spec['data_dir'], spec['model'], spec['steps'])
               for name, sizes in spec['layouts'].items()}
    print('RESULTS ' + json.dumps(results))
    sys.exit(0)


# ----------------------------------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------------------------------

def launch(layouts: dict, data_dir, devices: int) -> subprocess.Popen:
    env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
    env.pop('XLA_FLAGS', None)
    if devices > 1:
        env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
    spec = dict(layouts=layouts, data_dir=str(data_dir), model=MODEL, steps=STEPS)
    return subprocess.Popen([sys.executable, __file__, json.dumps(spec)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def collect(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-5000:]
    return json.loads(next(line for line in stdout.splitlines() if line.startswith('RESULTS '))[len('RESULTS '):])


@pytest.fixture(scope='module')
def runs(data_root):
    """The four 8-device layouts and the 1-device reference, run side by side."""
    eight = launch(LAYOUTS, data_root, devices=8)
    one = launch({'one': (1, 1, 1)}, data_root, devices=1)
    return {**collect(one), **collect(eight)}


@pytest.mark.parametrize('layout', LAYOUTS)
def test_layout_trains_like_one_device(runs, layout):
    one, run = runs['one'], runs[layout]
    assert run['mesh'] == dict(zip(('data', 'fsdp', 'tensor'), LAYOUTS[layout]))
    assert one['loss'][-1] < one['loss'][0] - 0.2  # it learns, so the steps are not trivially equal
    np.testing.assert_allclose(run['loss'], one['loss'], rtol=1e-5)
    np.testing.assert_allclose(run['grad_norm'], one['grad_norm'], rtol=1e-5)
    np.testing.assert_allclose(run['val_loss'], one['val_loss'], rtol=1e-5)
    assert run['greedy_sample'] == one['greedy_sample']  # decoding one row on the split weights


def test_fsdp_activations_are_split_over_the_batch_like_data_parallel(runs):
    """ZeRO-3: weights are gathered, activations stay split over the rows (the residual stream is
    constrained); left to itself XLA keeps whole batches split along the model dimension (~2x here)."""
    assert runs['fsdp']['temp_bytes'] < 1.25 * runs['data']['temp_bytes'], (runs['fsdp']['temp_bytes'],
                                                                              runs['data']['temp_bytes'])


# What each layout must do to a few weights, written out by hand (global shapes: wte (64, 64), c_attn kernel
# (64, 3, 64), mlp c_fc kernel (64, 256), mlp c_proj kernel (256, 64), ln_1 scale (64,), wpe (32, 64)).
EXPECTED = {
    'data': {'wte': ([None, None], [64, 64]), 'h/0/attn/c_attn/kernel': ([None, None, None], [64, 3, 64]),
             'h/0/mlp/c_fc/kernel': ([None, None], [64, 256]), 'h/0/ln_1/scale': ([None], [64])},
    'fsdp': {'wte': ([None, 'fsdp'], [64, 8]), 'h/0/attn/c_attn/kernel': (['fsdp', None, None], [8, 3, 64]),
             'h/0/mlp/c_fc/kernel': (['fsdp', None], [8, 256]), 'h/0/mlp/c_proj/kernel': ([None, 'fsdp'], [256, 8]),
             'h/0/ln_1/scale': (['fsdp'], [8]), 'wpe': ([None, 'fsdp'], [32, 8])},
    'tensor': {'wte': (['tensor', None], [8, 64]), 'h/0/attn/c_attn/kernel': ([None, None, 'tensor'], [64, 3, 8]),
               'h/0/attn/c_proj/kernel': (['tensor', None], [8, 64]), 'h/0/attn/c_attn/bias': ([None, 'tensor'], [3, 8]),
               'h/0/mlp/c_fc/kernel': ([None, 'tensor'], [64, 32]), 'h/0/mlp/c_proj/kernel': (['tensor', None], [32, 64]),
               'h/0/ln_1/scale': ([None], [64])},
    'mixed': {'wte': (['tensor', 'fsdp'], [32, 32]), 'h/0/attn/c_attn/kernel': (['fsdp', None, 'tensor'], [32, 3, 32]),
              'h/0/mlp/c_fc/kernel': (['fsdp', 'tensor'], [32, 128]), 'h/0/mlp/c_proj/kernel': (['tensor', 'fsdp'], [128, 32]),
              'h/0/ln_1/scale': (['fsdp'], [32])},
}
# (micro_steps, batch, T) inputs of 2 x 16 x 32: rows split over data x fsdp, whatever the tensor axis.
EXPECTED_BATCH = {'data': ([None, 'data', None], [2, 2, 32]), 'fsdp': ([None, 'fsdp', None], [2, 2, 32]),
                  'tensor': ([None, None, None], [2, 16, 32]), 'mixed': ([None, ['data', 'fsdp'], None], [2, 4, 32])}


@pytest.mark.parametrize('layout', LAYOUTS)
def test_weights_and_optimizer_moments_are_split_as_the_rules_say(runs, layout):
    run = runs[layout]
    for path, (spec, shard_shape) in EXPECTED[layout].items():
        assert run['params'][path] == [spec, shard_shape], path
    for path, (spec, shard_shape) in run['params'].items():  # every weight: its RULES spec, and really split
        assert spec == run['expected'][path], path
        full_shape = runs['one']['params'][path][1]
        assert shard_shape == [d // int(np.prod([run['mesh'][a] for a in ([s] if isinstance(s, str) else s or [])]))
                               for d, s in zip(full_shape, spec)], path
    moments = {path: v for path, v in run['opt_state'].items() if '/mu/' in f'/{path}/' or '/nu/' in f'/{path}/'}
    assert len(moments) == 2 * len(run['params'])
    for path, layout_of_moment in moments.items():
        param_path = path.split('/mu/')[-1] if '/mu/' in path else path.split('/nu/')[-1]
        assert layout_of_moment == run['params'][param_path], path
    assert run['batch'] == list(EXPECTED_BATCH[layout])


# ----------------------------------------------------------------------------------------------------
# Bad layouts: clear errors that name the numbers, before anything is allocated or compiled
# (abstract meshes: these run in this process, on one device).
# ----------------------------------------------------------------------------------------------------

def abstract_mesh(data=1, fsdp=1, tensor=1):
    from jax.sharding import AbstractMesh, AxisType
    return AbstractMesh((data, fsdp, tensor), ('data', 'fsdp', 'tensor'), axis_types=(AxisType.Auto,) * 3)


@pytest.mark.parametrize('sizes, devices, message', [
    ((3, 1, 1), 8, 'mesh_data=3, mesh_fsdp=1, mesh_tensor=1 make a mesh of 3 devices, but there are 8'),
    ((-1, 3, 1), 8, 'mesh_data=-1, mesh_fsdp=3, mesh_tensor=1 do not divide the 8 devices'),
    ((-1, -1, 2), 8, 'at most one -1'),
    ((2, 0, 1), 2, 'use positive sizes'),
])
def test_a_mesh_that_does_not_match_the_devices_is_refused(sizes, devices, message):
    from nanogpt_jax import sharding
    from nanogpt_jax.config import default_config
    config = default_config()
    config.mesh_data, config.mesh_fsdp, config.mesh_tensor = sizes
    with pytest.raises(ValueError, match=re.escape(message)):
        sharding.mesh_shape(config, devices)


def test_mesh_sizes_resolve_minus_one_to_the_remaining_devices():
    from nanogpt_jax import sharding
    from nanogpt_jax.config import default_config
    config = default_config()
    config.mesh_data, config.mesh_fsdp, config.mesh_tensor = 2, -1, 2
    assert sharding.mesh_shape(config, 16) == (2, 4, 2)
    config.mesh_data, config.mesh_fsdp, config.mesh_tensor = -1, 1, 1
    assert sharding.mesh_shape(config, 1) == (1, 1, 1)


@pytest.mark.parametrize('shape, mesh, message', [
    (dict(n_embd=36, n_head=4), dict(fsdp=8),
     'Parameter h/0/attn/c_attn/kernel of shape (36, 3, 36): dimension 36 is not divisible by mesh axis fsdp of size 8'),
    (dict(n_embd=48, n_head=6), dict(tensor=4),
     'n_head=6 is not divisible by the tensor-parallel mesh axis of size 4'),
    (dict(n_embd=64, n_head=8, vocab_size=100), dict(tensor=8),  # a vocab not padded to a multiple of 64
     'Parameter wte of shape (100, 64): dimension 100 is not divisible by mesh axis tensor of size 8'),
])
def test_a_dimension_that_does_not_divide_its_mesh_axis_names_the_parameter(shape, mesh, message):
    from nanogpt_jax import sharding
    from nanogpt_jax.model import GPTConfig
    model_cfg = GPTConfig(**{**dict(n_layer=1, block_size=16, vocab_size=64), **shape})
    with pytest.raises(ValueError, match=re.escape(message)):
        sharding.model_layout(model_cfg, abstract_mesh(**mesh))


def test_a_layout_that_divides_gets_rule_shardings_without_allocating():
    from jax.sharding import PartitionSpec as P
    from nanogpt_jax import sharding
    from nanogpt_jax.model import GPTConfig
    _, abstract = sharding.model_layout(GPTConfig(n_layer=1, n_head=4, n_embd=64, block_size=16, vocab_size=128),
                                        abstract_mesh(data=2, fsdp=2, tensor=4))
    assert abstract['wte'].sharding.spec == P('tensor', 'fsdp')
    assert abstract['h'][0]['mlp']['c_proj']['kernel'].sharding.spec == P('tensor', 'fsdp')
    assert abstract['wte'].sharding.shard_shape(abstract['wte'].shape) == (32, 32)


@pytest.mark.parametrize('batch_size, accum, mesh, message', [
    (12, 4, dict(data=8), 'batch_size=12 (the global micro-batch) is not divisible by the 8 batch shards '
                          '(mesh data x fsdp = 8 x 1). To keep the tokens per step, set batch_size=24 '
                          'gradient_accumulation_steps=2.'),
    (6, 1, dict(data=2, fsdp=2, tensor=2), 'batch_size=6 (the global micro-batch) is not divisible by the 4 batch '
                                           'shards (mesh data x fsdp = 2 x 2). Use a batch_size that is a multiple of 4.'),
])
def test_a_batch_that_does_not_divide_the_batch_axes_is_refused(batch_size, accum, mesh, message):
    from nanogpt_jax import sharding
    with pytest.raises(ValueError, match=re.escape(message)):
        sharding.check_batch(batch_size, abstract_mesh(**mesh), accum)
    sharding.check_batch(batch_size * 4, abstract_mesh(**mesh), accum)  # a multiple is fine, whatever the tensor axis
