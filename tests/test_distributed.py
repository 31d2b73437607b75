"""Two processes on one machine, joined by jax.distributed over 127.0.0.1 (CPU devices, gloo
collectives), train through the real CLI, checkpoint, resume, and follow the one-process loss curve."""
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, TINY, overrides, read_metrics, train_losses

# Each process builds its own rows of every batch; gradient accumulation runs across both.
RUN = dict(TINY, gradient_accumulation_steps=2, max_iters=8, lr_decay_iters=8, warmup_iters=2, eval_interval=4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(data_root, out_dir, env=None, **kw) -> subprocess.Popen:
    args = overrides(**{**RUN, 'dataset': 'tiny', 'data_dir': data_root, 'out_dir': out_dir, **kw})
    outside = {k: v for k, v in os.environ.items()  # no cluster of the machine running the tests leaks in
               if not k.startswith(('SLURM_', 'OMPI_', 'JAX_', 'TPU_', 'KUBERNETES_')) and k != 'XLA_FLAGS'}
    full_env = {**outside, 'JAX_PLATFORMS': 'cpu', 'PYTHONUNBUFFERED': '1', **(env or {})}
    return subprocess.Popen([sys.executable, '-m', 'nanogpt_jax.train', '--config=configs/shakespeare_char_cpu.py',
                             *args], cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_all(procs, timeout=300) -> list[str]:
    """Outputs of every process; if one fails, stop the others (they would wait for it) and say why."""
    deadline, outputs = time.time() + timeout, {}
    try:
        while len(outputs) < len(procs):
            for i, p in enumerate(procs):
                if i not in outputs and p.poll() is not None:
                    outputs[i] = p.stdout.read()
                    assert p.returncode == 0, f'process {i} exited {p.returncode}:\n{outputs[i][-5000:]}'
            assert time.time() < deadline, f'timed out; finished: {sorted(outputs)}'
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [outputs[i] for i in range(len(procs))]


def explicit(port, process_id, n=2):
    return dict(coordinator_address=f'127.0.0.1:{port}', num_processes=n, process_id=process_id)


def slurm_env(port, process_id, n=2):
    """What srun gives each task of a one-node, two-task step; jax.distributed finds the rest."""
    return dict(SLURM_JOB_ID='4242', SLURM_STEP_NODELIST='localhost', SLURM_NTASKS=str(n),
                SLURM_PROCID=str(process_id), SLURM_LOCALID=str(process_id), JAX_COORDINATOR_PORT=str(port))


def test_two_processes_train_checkpoint_and_resume_like_one(data_root, tmp_path):
    one, two = tmp_path / 'one', tmp_path / 'two'
    reference = launch(data_root, one)

    # Steps 0-3: 2 processes x 2 devices, FSDP across the processes and tensor parallel within each,
    # joined by explicit flags. Saves step 4 (from both processes), then samples from the split weights (every process decodes, process 0 prints).
    port = free_port()
    layout = dict(mesh_data=1, mesh_fsdp=2, mesh_tensor=2, max_iters=4, sample_at_end=16)
    first = wait_all([launch(data_root, two, env={'XLA_FLAGS': '--xla_force_host_platform_device_count=2'},
                             **layout, **explicit(port, i)) for i in range(2)] + [reference])
    run = json.loads((two / 'run.json').read_text())
    assert (run['processes'], run['devices'], run['mesh']) == (2, 4, {'data': 1, 'fsdp': 2, 'tensor': 2})
    assert ['4'] in [sorted(os.listdir(kind)) for kind in (two / 'ckpt').iterdir()]

    # Steps 4-7: resumed by 2 processes x 1 device, data parallel, joined as a SLURM job step would be.
    port = free_port()
    second = wait_all([launch(data_root, two, init_from='resume', env=slurm_env(port, i)) for i in range(2)])
    assert json.loads((two / 'run.json').read_text())['mesh'] == {'data': 2, 'fsdp': 1, 'tensor': 1}

    # The same curve as one process on one device: same global batches, same steps.
    assert [r['step'] for r in read_metrics(two) if 'val_loss' not in r] == list(range(8))  # process 0 alone writes
    ref_losses, losses = train_losses(one), train_losses(two)
    np.testing.assert_allclose([losses[s] for s in range(8)], [ref_losses[s] for s in range(8)], rtol=1e-5)
    ref_evals = {r['step']: r['val_loss'] for r in read_metrics(one) if 'val_loss' in r}
    evals = {r['step']: r['val_loss'] for r in read_metrics(two) if 'val_loss' in r}
    assert sorted(evals) == [0, 4, 8]
    np.testing.assert_allclose([evals[s] for s in evals], [ref_evals[s] for s in evals], rtol=1e-5)
    assert ref_losses[7] < ref_losses[0] - 0.1

    # Logs come from process 0 only.
    for p0, p1 in (first[:2], second):
        assert 'train loss' in p0 and 'iter ' in p0
        assert 'train loss' not in p1 and 'iter ' not in p1 and 'parameters' not in p1
    assert '---------- sample' in first[0] and '---------- sample' not in first[1]


@pytest.mark.parametrize('config, env, message', [
    (dict(num_processes=2, process_id=0), {}, "(got '', 2, 0)"),
    (dict(coordinator_address='127.0.0.1:1234'), {}, "(got '127.0.0.1:1234', 0, -1)"),
    ({}, dict(JAX_COORDINATOR_ADDRESS='127.0.0.1:1234', JAX_NUM_PROCESSES='2'), "(got '127.0.0.1:1234', 2, -1)"),
    (dict(coordinator_address='127.0.0.1:1234', num_processes=2, process_id=2), {}, '0 <= process_id < num_processes'),
])
def test_an_incomplete_multi_process_setup_is_refused_before_joining(config, env, message, monkeypatch):
    from nanogpt_jax import distributed
    from nanogpt_jax.config import default_config
    for key in ('JAX_COORDINATOR_ADDRESS', 'JAX_NUM_PROCESSES', 'JAX_PROCESS_ID', 'SLURM_NTASKS'):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    c = default_config()
    c.update(config)
    with pytest.raises(ValueError, match='A multi-process run needs coordinator_address') as error:
        distributed.initialize(c)
    assert message in str(error.value)


@pytest.mark.parametrize('config, message', [
    (dict(num_processes=2, process_id=1), "needs coordinator_address, num_processes and process_id (got '', 2, 1)"),
    (dict(coordinator_address='auto'), "coordinator_address='auto' found no cluster to join"),
])
def test_the_train_cli_names_the_missing_coordinator(data_root, tmp_path, config, message):
    proc = launch(data_root, tmp_path, **config)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0
    assert message in output
    assert 'compiled' not in output and not (tmp_path / 'ckpt').exists()
