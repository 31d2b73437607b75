"""docs/colab.ipynb runs top to bottom on a CPU with tiny settings (so it cannot rot): its cells are
executed by a real kernel (nbclient), with a cell after its "parameters" cell that shrinks the run."""
import nbclient  # the test extra: pip install -e ".[test]"
import nbformat

from conftest import REPO, SHARED_TEXT

NOTEBOOK = REPO / 'docs' / 'colab.ipynb'


def test_the_notebook_is_valid_and_has_a_parameters_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert [c for c in nb.cells if 'parameters' in c.metadata.get('tags', [])]
    assert not any(c.get('outputs') for c in nb.cells if c.cell_type == 'code'), 'commit the notebook without outputs'


def test_the_notebook_prepares_trains_and_samples_on_cpu(tmp_path):
    text = tmp_path / 'input.txt'  # tiny Shakespeare when shared/ has it, else a few lines of verse
    text.write_text(SHARED_TEXT.read_text()[:200_000] if SHARED_TEXT.exists() else
                    'ROMEO:\nBut soft, what light through yonder window breaks?\n' * 400)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
    tiny = ('--config.max_iters=20 --config.lr_decay_iters=20 --config.warmup_iters=2 --config.eval_interval=10 '
            '--config.eval_iters=2 --config.log_interval=5 --config.n_layer=2 --config.n_head=2 --config.n_embd=32 '
            '--config.block_size=32 --config.batch_size=8 --config.sample_at_end=0')
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(f'''
import os, sys
os.environ['PATH'] = os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH']  # `python` is this kernel's, as on Colab
os.environ['JAX_PLATFORMS'] = 'cpu'
os.environ.pop('XLA_FLAGS', None)
REPO_URL = None  # must not be needed: the notebook runs inside this checkout
INSTALL = False  # (tests run from the checkout; installing would change the test environment)
CONFIG = 'configs/shakespeare_char_cpu.py'
OVERRIDES = {tiny!r}
DATA_DIR = {str(tmp_path / 'data')!r}
DATA_INPUT = {str(text)!r}
OUT_DIR = {str(tmp_path / 'out')!r}
SAMPLE_TOKENS = 20
'''))
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name='python3',
                                     resources={'metadata': {'path': str(REPO / 'docs')}})  # opened from docs/
    client.execute()  # raises CellExecutionError, with the cell's output, if any cell fails

    output = '\n'.join(o.get('text', '') for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []))
    assert f'repo: {REPO}' in output
    assert (tmp_path / 'data' / 'shakespeare_char' / 'train.bin').exists()
    assert 'step 20: train loss' in output
    assert 'step    20   train loss' in output  # the loss table read back from metrics.jsonl
    samples = output.split('--max_new_tokens=20')[-1]
    assert samples.count('ROMEO:') == 2, samples
    assert (tmp_path / 'out' / 'ckpt' / 'best').is_dir()
