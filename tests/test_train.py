"""The training CLI end to end on tiny runs: learning, resume, data parallelism, metrics, bad input."""
import functools
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, SHARED_TEXT, TINY, overrides, read_metrics, run_module, train, train_losses


def test_run_writes_metrics_checkpoints_and_run_record(data_root, tmp_path):
    train(data_root, tmp_path, max_iters=20, eval_interval=10)
    records = read_metrics(tmp_path)
    evals = [r for r in records if 'val_loss' in r]
    steps = [r for r in records if 'val_loss' not in r]
    assert [r['step'] for r in evals] == [0, 10, 20]
    assert [r['step'] for r in steps] == list(range(20))
    assert all({'train_loss', 'lr', 'tokens_per_sec', 'mfu'} <= r.keys() for r in steps)
    vocab = json.loads((data_root / 'tiny' / 'meta.json').read_text())['vocab_size']
    assert abs(evals[0]['val_loss'] - np.log(vocab)) < 0.2  # uniform over the data's ids, not the padded 64
    assert evals[-1]['val_loss'] < evals[0]['val_loss'] - 0.2
    # each improving eval saved `best` only, and the end saw the newest state already saved
    assert sorted(os.listdir(tmp_path / 'ckpt')) == ['best'] and os.listdir(tmp_path / 'ckpt' / 'best') == ['20']
    run = json.loads((tmp_path / 'run.json').read_text())
    assert run['dataset_meta']['tokenizer'] == 'char' and run['model']['n_layer'] == 2
    c = json.loads((tmp_path / 'config.json').read_text())

    def nanogpt_get_lr(it):  # nanoGPT's train.py, for the lr each step record reports (computed in the step)
        if it < c['warmup_iters']:
            return c['learning_rate'] * (it + 1) / (c['warmup_iters'] + 1)
        ratio = min((it - c['warmup_iters']) / (c['lr_decay_iters'] - c['warmup_iters']), 1.0)
        return c['min_lr'] + 0.5 * (1.0 + np.cos(np.pi * ratio)) * (c['learning_rate'] - c['min_lr'])
    assert [r['lr'] for r in steps] == pytest.approx([nanogpt_get_lr(r['step']) for r in steps], rel=1e-5)
    assert json.loads((tmp_path / 'config.json').read_text())['n_embd'] == 32


@pytest.mark.skipif(not SHARED_TEXT.exists(), reason=f'{SHARED_TEXT} (shared/ data) is not present')
def test_short_shakespeare_char_run_lowers_val_loss(tmp_path):
    data_dir = tmp_path / 'data'
    subprocess.run([sys.executable, 'data/shakespeare_char/prepare.py', f'--input={SHARED_TEXT}',
                    f'--out_dir={data_dir / "shakespeare_char"}'], cwd=REPO, check=True, capture_output=True)
    out = tmp_path / 'out'
    run_module('train', '--config=configs/shakespeare_char_cpu.py',
               *overrides(data_dir=data_dir, out_dir=out, max_iters=150, eval_interval=150, eval_iters=5,
                          lr_decay_iters=150, progress=False, sample_at_end=0, log_interval=50))
    evals = [r['val_loss'] for r in read_metrics(out) if 'val_loss' in r]
    assert evals[0] > 4.0 and evals[-1] < 2.7, evals  # from uniform over 65 chars to letter statistics


def test_eval_step_is_the_mean_of_the_per_batch_losses():
    """The eval's lax.map over K batches against the model's loss on each batch, one at a time."""
    import jax
    import optax
    from flax import nnx
    from nanogpt_jax.model import GPT, GPTConfig
    from nanogpt_jax.train import make_train_step
    graphdef, params = nnx.split(GPT(GPTConfig(block_size=16, vocab_size=64, n_layer=1, n_head=2, n_embd=16),
                                     nnx.Rngs(0)))
    params = nnx.to_pure_dict(params)
    x_KBT, y_KBT = (jax.random.randint(jax.random.key(i), (5, 3, 16), 0, 64) for i in (1, 2))
    _, eval_step = make_train_step(graphdef, optax.sgd(0.1), GPTConfig())
    per_batch = [float(nnx.merge(graphdef, params).loss(x_KBT[k], y_KBT[k])) for k in range(5)]
    assert float(eval_step(params, x_KBT, y_KBT)) == pytest.approx(np.mean(per_batch), rel=1e-6)
    assert np.std(per_batch) > 1e-3  # the batches differ, so a wrong mean would show


def test_resume_continues_the_same_loss_curve(data_root, tmp_path):
    full, part = tmp_path / 'full', tmp_path / 'part'
    kw = dict(max_iters=16, lr_decay_iters=16, eval_interval=8, dropout=0.1, gradient_accumulation_steps=2)
    train(data_root, full, **kw)
    train(data_root, part, **{**kw, 'max_iters': 8})  # stops (and saves) at step 8
    train(data_root, part, **kw, init_from='resume')
    full_losses, part_losses = train_losses(full), train_losses(part)
    assert sorted(part_losses) == list(range(16))
    np.testing.assert_allclose([part_losses[s] for s in range(16)], [full_losses[s] for s in range(16)],
                               rtol=1e-6)


def test_data_parallel_on_8_devices_matches_one_device(data_root, tmp_path):
    kw = dict(max_iters=6, eval_interval=6, batch_size=16, dropout=0.0)
    train(data_root, tmp_path / 'one', **kw)
    train(data_root, tmp_path / 'eight', **kw, env={'XLA_FLAGS': '--xla_force_host_platform_device_count=8'})
    run = json.loads((tmp_path / 'eight' / 'run.json').read_text())
    assert run['devices'] == 8 and run['mesh'] == {'data': 8, 'fsdp': 1, 'tensor': 1}
    one, eight = train_losses(tmp_path / 'one'), train_losses(tmp_path / 'eight')
    np.testing.assert_allclose([eight[s] for s in range(6)], [one[s] for s in range(6)], rtol=1e-5)


def test_eval_only_prints_losses_and_trains_nothing(data_root, tmp_path):
    proc = train(data_root, tmp_path, eval_only=True)
    assert 'val loss' in proc.stderr + proc.stdout
    assert not (tmp_path / 'ckpt').exists()


def test_a_reader_that_stops_after_the_last_eval_still_gets_its_checkpoint_and_a_prompt_exit(data_root, tmp_path):
    """`train | (read until the last eval)`: the run's next write fails while its async save is in flight.
    The save completes and the process exits (orbax's waiting threads once held it for their 300 s timeout)."""
    env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONUNBUFFERED': '1'}
    args = overrides(**{**TINY, 'dataset': 'tiny', 'data_dir': data_root, 'out_dir': tmp_path, 'max_iters': 20,
                        'eval_interval': 10, 'sample_at_end': 0})
    proc = subprocess.Popen([sys.executable, '-m', 'nanogpt_jax.train', '--config=configs/shakespeare_char_cpu.py',
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith('step 20:'):
            break
    proc.stdout.close()
    proc.wait(timeout=120)
    assert os.listdir(tmp_path / 'ckpt' / 'best') == ['20']


def test_sigterm_saves_a_checkpoint_that_resumes(data_root, tmp_path):
    env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'PYTHONUNBUFFERED': '1'}
    args = overrides(**{**TINY, 'dataset': 'tiny', 'data_dir': data_root, 'out_dir': tmp_path,
                        'max_iters': 100000, 'lr_decay_iters': 100000, 'eval_interval': 100000})
    proc = subprocess.Popen([sys.executable, '-m', 'nanogpt_jax.train', '--config=configs/shakespeare_char_cpu.py',
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / 'metrics.jsonl').exists() or \
            len((tmp_path / 'metrics.jsonl').read_text().splitlines()) < 4:
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, output
    assert 'init_from=resume' in output
    step = int(sorted(os.listdir(tmp_path / 'ckpt' / 'latest'), key=int)[-1])
    assert step > 3
    train(data_root, tmp_path, init_from='resume', max_iters=step + 2, lr_decay_iters=100000, eval_interval=100000)
    assert max(train_losses(tmp_path)) == step + 1


@pytest.mark.parametrize('kw, message', [
    (dict(bach_size=4), 'batch_size'),  # misspelled key: the error names the closest valid key
    (dict(dataset='nope'), 'python data/nope/prepare.py'),
    (dict(init_from='resume'), 'holds no checkpoint'),
    (dict(n_embd=30, n_head=4), 'not divisible by n_head'),
    (dict(batch_size=12, gradient_accumulation_steps=4, mesh_data=8), 'batch_size=24 gradient_accumulation_steps=2'),
    (dict(mesh_data=3), 'make a mesh of 3 devices'),
])
def test_bad_input_gets_a_clear_error(data_root, tmp_path, kw, message):
    env = {'XLA_FLAGS': '--xla_force_host_platform_device_count=8'} if 'mesh_data' in kw else None
    if 'mesh_data' in kw and kw['mesh_data'] == 3:
        env = None
    proc = train(data_root, tmp_path, check=False, env=env, **kw)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout, proc.stderr[-2000:]


def xla_flags_after(monkeypatch, set_flags, xla_flags, **overrides):
    """XLA_FLAGS after set_flags (a train.py function) has seen the default config with these overrides."""
    from nanogpt_jax import config as config_lib
    monkeypatch.setenv('XLA_FLAGS', xla_flags)
    c = config_lib.default_config()
    c.update(overrides)
    set_flags(c)
    return os.environ['XLA_FLAGS']


def test_cudnn_leaves_cuda_graphs_only_when_training_with_dropout(monkeypatch):
    """cuDNN attention with dropout aborts XLA inside a CUDA graph: the flag that keeps it out is added for
    dropout with cuDNN possible, never over a user's own choice, and not otherwise."""
    from nanogpt_jax.train import keep_cudnn_out_of_cuda_graphs
    flags_after = functools.partial(xla_flags_after, monkeypatch, keep_cudnn_out_of_cuda_graphs)

    assert flags_after('', dropout=0.2) == '--xla_gpu_enable_command_buffer=-CUDNN'
    assert flags_after('--xla_dump_to=x', dropout=0.2, attention='cudnn') == \
        '--xla_dump_to=x --xla_gpu_enable_command_buffer=-CUDNN'
    assert flags_after('--xla_gpu_enable_command_buffer=', dropout=0.2) == '--xla_gpu_enable_command_buffer='
    assert flags_after('', dropout=0.0) == ''
    assert flags_after('', dropout=0.2, attention='xla') == ''


def test_triton_gemm_false_sets_the_xla_flag_unless_the_user_did(monkeypatch):
    from nanogpt_jax.train import use_cublas_gemms
    flags_after = functools.partial(xla_flags_after, monkeypatch, use_cublas_gemms)

    assert flags_after('', triton_gemm=False) == '--xla_gpu_enable_triton_gemm=false'
    assert flags_after('--xla_gpu_enable_triton_gemm=true', triton_gemm=False) == '--xla_gpu_enable_triton_gemm=true'
    assert flags_after('--xla_dump_to=x') == '--xla_dump_to=x'
