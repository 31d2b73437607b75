"""The sampling CLI on a trained tiny run: prompts, cropping, errors."""
import json
import shutil

import pytest

from conftest import run_module, train


@pytest.fixture(scope='module')
def run_dir(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('run')
    train(data_root, out, max_iters=40, eval_interval=20, learning_rate=3e-3)
    return out


def test_samples_start_with_the_prompt_and_use_the_dataset_vocab(run_dir):
    proc = run_module('sample', f'--out_dir={run_dir}', '--start=thou art', '--num_samples=3',
                      '--max_new_tokens=50', '--seed=1')
    samples = proc.stdout.split('\n---------------\n')[:3]
    assert len(samples) == 3 and all(s.startswith('thou art') and len(s) == 58 for s in samples)
    chars = set(json.loads((run_dir / 'meta.json').read_text())['chars'])
    assert set(''.join(samples)) <= chars
    assert len(set(samples)) > 1  # random samples differ


def test_greedy_is_deterministic_and_file_prompts_work(run_dir, tmp_path):
    (tmp_path / 'prompt.txt').write_text('shake the')
    runs = [run_module('sample', f'--out_dir={run_dir}', f'--start={start}', '--num_samples=1',
                       '--max_new_tokens=20', '--temperature=0', f'--seed={seed}').stdout
            for start, seed in ((f'FILE:{tmp_path}/prompt.txt', 1), ('shake the', 2))]
    assert runs[0] == runs[1] and runs[0].startswith('shake the')


def test_a_prompt_longer_than_the_context_is_cropped_with_a_warning(run_dir):
    long_prompt = 'thou art more lovely and temperate ' * 3  # 105 chars > block_size 32
    proc = run_module('sample', f'--out_dir={run_dir}', f'--start={long_prompt}', '--num_samples=1',
                      '--max_new_tokens=5', '--temperature=0')
    assert 'longer than block_size=32' in proc.stderr
    assert proc.stdout.startswith(long_prompt[-32:]) and len(proc.stdout.split('\n---')[0]) == 37


@pytest.mark.parametrize('args, message', [
    (['--start=ZZZ'], "not in this dataset's vocabulary"),
    (['--top_p=0'], '0 < top_p <= 1'),
])
def test_bad_sampling_input(run_dir, args, message):
    proc = run_module('sample', f'--out_dir={run_dir}', *args, check=False)
    assert proc.returncode != 0 and message in proc.stderr


def test_missing_and_corrupt_checkpoints_get_clear_errors(run_dir, tmp_path):
    proc = run_module('sample', f'--out_dir={tmp_path}/nothing', check=False)
    assert proc.returncode != 0 and 'No checkpoint in' in proc.stderr
    broken = tmp_path / 'broken'
    shutil.copytree(run_dir, broken)
    shutil.rmtree(broken / 'ckpt' / 'latest', ignore_errors=True)
    step_dir = next((broken / 'ckpt' / 'best').iterdir())
    for f in (step_dir / 'params').rglob('*'):
        if f.is_file() and f.stat().st_size > 1000:
            f.write_bytes(b'garbage' * 10)
    proc = run_module('sample', f'--out_dir={broken}', check=False)
    assert proc.returncode != 0 and 'could not be read' in proc.stderr and 'corrupt' in proc.stderr
