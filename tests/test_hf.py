"""GPT-2 interop with Hugging Face: load a transformers GPT-2, export ours, both give the same logits.

Needs the test extra (transformers + CPU torch); skipped without it.
"""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nanogpt_jax.hf import export_hf, load_hf_gpt2
from nanogpt_jax.model import GPT, GPTConfig

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')
safetensors_numpy = pytest.importorskip('safetensors.numpy')

transformers.logging.set_verbosity_error()
N_LAYER, N_EMBD, N_HEAD, VOCAB, N_POS = 3, 64, 4, 101, 64


def hf_gpt2(seed: int = 0):
    """A small GPT2LMHeadModel with weights far from their init (LayerNorms included), so a
    misplaced tensor shows up in the logits and greedy decoding has clear winners."""
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(n_layer=N_LAYER, n_embd=N_EMBD, n_head=N_HEAD, vocab_size=VOCAB, n_positions=N_POS,
                                  bos_token_id=None, eos_token_id=None)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if '.ln_' in name and name.endswith('weight'):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    return model


def ours(model_kwargs: dict, params: dict) -> GPT:
    model = GPT(GPTConfig(**model_kwargs), nnx.Rngs(0))
    state = nnx.state(model)
    nnx.replace_by_pure_dict(state, jax.tree.map(jnp.asarray, params))
    nnx.update(model, state)
    return model


@nnx.jit
def forward(model, idx):
    return model(idx)


def hf_logits(model, idx) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(idx)).long()).logits.numpy()


@pytest.fixture(scope='module')
def hf_model():
    return hf_gpt2()


@pytest.fixture(scope='module')
def hf_dir(hf_model, tmp_path_factory):
    d = tmp_path_factory.mktemp('hf_gpt2')
    hf_model.save_pretrained(d)
    assert (d / 'model.safetensors').exists()
    return d


@pytest.fixture(scope='module')
def loaded(hf_dir):
    return load_hf_gpt2(str(hf_dir))


def test_load_matches_transformers_logits(hf_model, loaded):
    model_kwargs, params = loaded
    assert model_kwargs == dict(block_size=N_POS, vocab_size=VOCAB, n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD,
                                bias=True)
    assert params['h'][0]['attn']['c_attn']['kernel'].shape == (N_EMBD, 3, N_EMBD)
    assert all(x.dtype == np.float32 for x in jax.tree.leaves(params))
    # the exact pure-dict structure of our model
    reference = nnx.to_pure_dict(nnx.state(GPT(GPTConfig(**model_kwargs), nnx.Rngs(0))))
    assert jax.tree.structure(reference) == jax.tree.structure(params)
    assert jax.tree.map(np.shape, reference) == jax.tree.map(np.shape, params)
    idx = np.random.default_rng(0).integers(0, VOCAB, (2, N_POS))
    ours_BTV = np.asarray(forward(ours(model_kwargs, params), jnp.asarray(idx)))
    diff = np.abs(ours_BTV - hf_logits(hf_model, idx)).max()
    assert diff <= 1e-4, diff


def test_greedy_generation_matches(hf_model, loaded):
    model = ours(*loaded)
    prompt = [5, 17, 42, 3, 99]
    n_new = 30
    with torch.no_grad():
        hf_out = hf_model.generate(torch.tensor([prompt]), max_new_tokens=n_new, do_sample=False, pad_token_id=0,
                                   attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    hf_tokens = hf_out[0, len(prompt):].tolist()
    buf = np.zeros((1, N_POS), np.int32)  # one fixed shape: one compile; causal, so the tail is ignored
    buf[0, :len(prompt)] = prompt
    for t in range(len(prompt), len(prompt) + n_new):
        buf[0, t] = int(np.argmax(np.asarray(forward(model, jnp.asarray(buf)))[0, t - 1]))
    assert buf[0, len(prompt):len(prompt) + n_new].tolist() == hf_tokens
    assert len(set(hf_tokens)) > 3  # not a degenerate repeat of one token


def test_load_pytorch_bin_with_legacy_names(hf_model, loaded, tmp_path):
    """OpenAI's Hub checkpoints: no 'transformer.' prefix, causal-mask buffers, a tied lm_head."""
    state = {k.removeprefix('transformer.'): v.clone() for k, v in hf_model.state_dict().items()}
    for i in range(N_LAYER):
        state[f'h.{i}.attn.bias'] = torch.tril(torch.ones(N_POS, N_POS)).view(1, 1, N_POS, N_POS)
        state[f'h.{i}.attn.masked_bias'] = torch.tensor(-1e4)
    state['lm_head.weight'] = state['wte.weight'].clone()
    torch.save(state, tmp_path / 'pytorch_model.bin')
    hf_model.config.to_json_file(tmp_path / 'config.json')
    model_kwargs, params = load_hf_gpt2(str(tmp_path))
    assert model_kwargs == loaded[0]
    jax.tree.map(np.testing.assert_array_equal, params, loaded[1])


def test_load_sharded_safetensors(hf_model, loaded, tmp_path):
    hf_model.save_pretrained(tmp_path, max_shard_size='100KB')
    assert (tmp_path / 'model.safetensors.index.json').exists() and not (tmp_path / 'model.safetensors').exists()
    _, params = load_hf_gpt2(str(tmp_path))
    jax.tree.map(np.testing.assert_array_equal, params, loaded[1])


def random_ours(bias: bool, vocab_size: int, seed: int = 1):
    """Our GPT with its nanoGPT init perturbed (LayerNorms too), as (model_kwargs, params, model)."""
    model_kwargs = dict(block_size=32, vocab_size=vocab_size, n_layer=2, n_head=4, n_embd=32, bias=bias)
    params = nnx.to_pure_dict(nnx.state(GPT(GPTConfig(**model_kwargs), nnx.Rngs(seed))))
    keys = iter(jax.random.split(jax.random.key(seed), len(jax.tree.leaves(params))))
    params = jax.tree.map(lambda x: np.asarray(x + 0.1 * jax.random.normal(next(keys), x.shape)), params)
    return model_kwargs, params, ours(model_kwargs, params)


@pytest.mark.parametrize('bias', [True, False])
def test_export_loads_in_transformers(bias, tmp_path, capsys):
    model_kwargs, params, model = random_ours(bias, vocab_size=128)  # a padded vocab, exported as is
    export_hf(params, model_kwargs, str(tmp_path), tokenizer_name='char')
    out = capsys.readouterr().out
    assert ('no biases' in out) == (not bias)
    hf, info = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info['missing_keys'] and not info['unexpected_keys'] and not info['mismatched_keys'], info
    assert hf.config.vocab_size == 128 and hf.config.n_positions == 32
    idx = np.random.default_rng(1).integers(0, 128, (2, 32))
    diff = np.abs(np.asarray(forward(model, jnp.asarray(idx))) - hf_logits(hf.eval(), idx)).max()
    assert diff <= 1e-4, diff
    if bias:  # and back again, bit for bit
        kwargs2, params2 = load_hf_gpt2(str(tmp_path))
        assert kwargs2 == model_kwargs
        jax.tree.map(np.testing.assert_array_equal, params2, params)


def test_export_gpt2_tokenizer(tmp_path):
    from nanogpt_jax.tokenizer import gpt2_encoding
    model_kwargs = dict(block_size=16, vocab_size=50304, n_layer=1, n_head=2, n_embd=8, bias=True)
    params = nnx.to_pure_dict(nnx.state(GPT(GPTConfig(**model_kwargs), nnx.Rngs(0))))
    export_hf(params, model_kwargs, str(tmp_path), tokenizer_name='gpt2')
    tok = transformers.AutoTokenizer.from_pretrained(tmp_path)
    text = "Hello world! ROMEO: O, she doth teach the torches to burn bright. <|endoftext|> 2024\n\n  x"
    expected = gpt2_encoding().encode(text, allowed_special='all')
    assert tok(text)['input_ids'] == expected
    assert tok.decode(expected) == text
    assert tok.eos_token_id == 50256
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path)
    assert hf.config.vocab_size == 50304 and hf.config.eos_token_id == 50256


def test_export_cli_on_a_trained_run(data_root, tmp_path):
    """Train a tiny run, export it with the CLI, and transformers gives our checkpoint's logits."""
    from conftest import run_module, train
    from nanogpt_jax import checkpoint
    train(data_root, tmp_path / 'run', max_iters=4, eval_interval=4)
    run_module('export', f'--out_dir={tmp_path}/run', f'--hf_dir={tmp_path}/hf')
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / 'hf').eval()
    mesh = jax.make_mesh((1, 1, 1), ('data', 'fsdp', 'tensor'), axis_types=(jax.sharding.AxisType.Auto,) * 3)
    model_cfg, graphdef, params, meta = checkpoint.load_for_inference(str(tmp_path / 'run'), 'best', mesh)
    assert hf.config.vocab_size == model_cfg.vocab_size == 64  # the char vocab, padded: exported as it is
    idx = np.random.default_rng(1).integers(0, meta['vocab_size'], (2, model_cfg.block_size))
    diff = np.abs(np.asarray(nnx.merge(graphdef, params)(jnp.asarray(idx))) - hf_logits(hf, idx)).max()
    assert diff <= 1e-4, diff


def test_init_from_hf_dir_trains_and_samples_like_transformers(hf_model, hf_dir, data_root, tmp_path):
    """init_from=<dir> through both CLIs: greedy sampling with the KV cache gives transformers' tokens,
    and a training run starts from the HF model's shape with only dropout changed."""
    from conftest import run_module, train
    from nanogpt_jax.tokenizer import gpt2_encoding
    prompt = '&('  # GPT-2 ids 5 and 7: inside this small model's 101-token vocab
    ids = gpt2_encoding().encode(prompt)
    with torch.no_grad():
        hf_out = hf_model.generate(torch.tensor([ids]), max_new_tokens=30, do_sample=False, pad_token_id=0,
                                   attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    proc = run_module('sample', f'--init_from={hf_dir}', f'--start={prompt}', '--temperature=0', '--num_samples=2',
                      '--max_new_tokens=30')
    expected = gpt2_encoding().decode(hf_out[0].tolist())
    assert proc.stdout.split('\n---------------\n')[:2] == [expected, expected]

    gpt2_data = data_root.parent / 'gpt2_data' / 'small'
    gpt2_data.mkdir(parents=True)
    tokens = np.random.default_rng(0).integers(0, VOCAB, 5000).astype(np.uint16)
    tokens.tofile(gpt2_data / 'train.bin')
    tokens.tofile(gpt2_data / 'val.bin')
    chars = ''.join(chr(0x100 + i) for i in range(VOCAB))  # a made-up vocabulary of the model's size
    (gpt2_data / 'meta.json').write_text(json.dumps(dict(tokenizer='char', vocab_size=VOCAB, dtype='uint16',
                                                         chars=chars)))
    train(gpt2_data.parent, tmp_path / 'run', init_from=str(hf_dir), dataset='small', max_iters=2, eval_interval=2,
          block_size=N_POS, dropout=0.1, eval_iters=1, batch_size=2)
    run = json.loads((tmp_path / 'run' / 'run.json').read_text())
    assert run['model']['n_layer'] == N_LAYER and run['model']['vocab_size'] == VOCAB
    assert run['model']['dropout'] == 0.1


def test_load_by_name_from_hf_cache(hf_dir, loaded, tmp_path, monkeypatch):
    import huggingface_hub
    snapshot = tmp_path / 'models--openai-community--gpt2' / 'snapshots' / 'abc123'
    shutil.copytree(hf_dir, snapshot)
    (tmp_path / 'models--openai-community--gpt2' / 'refs').mkdir()
    (tmp_path / 'models--openai-community--gpt2' / 'refs' / 'main').write_text('abc123')
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(tmp_path))
    monkeypatch.setattr(huggingface_hub, 'snapshot_download', lambda *a, **k: pytest.fail('went online'))
    model_kwargs, params = load_hf_gpt2('gpt2')
    assert model_kwargs == loaded[0]
    jax.tree.map(np.testing.assert_array_equal, params, loaded[1])


def test_load_by_name_offline_says_how(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError('no connection')
    monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(tmp_path))
    monkeypatch.setattr(huggingface_hub, 'snapshot_download', offline)
    with pytest.raises(RuntimeError, match='hf download openai-community/gpt2-medium'):
        load_hf_gpt2('gpt2-medium')
    with pytest.raises(ValueError, match='neither a directory nor one of'):
        load_hf_gpt2('gpt3')


def _copy(hf_dir, tmp_path):
    d = tmp_path / 'bad'
    shutil.copytree(hf_dir, d)
    return d


def _edit_config(d, **changes):
    cfg = json.loads((d / 'config.json').read_text())
    cfg.update(changes)
    (d / 'config.json').write_text(json.dumps(cfg))


def _edit_weights(d, fn):
    tensors = safetensors_numpy.load_file(d / 'model.safetensors')
    fn(tensors)
    safetensors_numpy.save_file(tensors, d / 'model.safetensors', metadata={'format': 'pt'})


BAD = {  # what is broken -> (how to break it, the error must match)
    'no config': (lambda d: os.remove(d / 'config.json'), r'config\.json not found'),
    'no weights': (lambda d: os.remove(d / 'model.safetensors'), r'No weights in .*model\.safetensors'),
    'llama': (lambda d: _edit_config(d, model_type='llama', architectures=['LlamaForCausalLM']),
              r"model_type is 'llama'.*only GPT-2"),
    'other head': (lambda d: _edit_config(d, architectures=['GPT2ForSequenceClassification']),
                   r'GPT2ForSequenceClassification'),
    'layer scaling': (lambda d: _edit_config(d, scale_attn_by_inverse_layer_idx=True), 'scale_attn_by_inverse'),
    'relu': (lambda d: _edit_config(d, activation_function='relu'), r"activation_function is 'relu'"),
    'n_inner': (lambda d: _edit_config(d, n_inner=100), 'n_inner=100'),
    'wrong shape': (lambda d: _edit_weights(d, lambda t: t.update({'transformer.h.1.mlp.c_fc.weight': np.zeros(
        (N_EMBD, 3 * N_EMBD), np.float32)})), (r'transformer\.h\.1\.mlp\.c_fc\.weight has shape \(64, 192\), '
                                              r'expected \(64, 256\)')),
    'config disagrees': (lambda d: _edit_config(d, n_embd=128, n_head=4), r'transformer\.wte\.weight has shape'),
    'missing tensor': (lambda d: _edit_weights(d, lambda t: t.pop('transformer.h.2.ln_2.bias')),
                       r'missing tensors h\.2\.ln_2\.bias'),
    'fewer layers': (lambda d: _edit_config(d, n_layer=2), r'unexpected tensors transformer\.h\.2\.'),
    'untied head': (lambda d: _edit_weights(d, lambda t: t.update(
        {'lm_head.weight': t['transformer.wte.weight'] + 1})), r'lm_head\.weight differs'),
    'not safetensors': (lambda d: (d / 'model.safetensors').write_bytes(b'not a file'), 'not a readable safetensors'),
}


@pytest.mark.parametrize('case', list(BAD))
def test_bad_directory(case, hf_dir, tmp_path):
    d = _copy(hf_dir, tmp_path)
    breaker, message = BAD[case]
    breaker(d)
    with pytest.raises(ValueError, match=message):
        load_hf_gpt2(str(d))


def test_layer_norm_epsilon_warns(hf_dir, tmp_path):
    d = _copy(hf_dir, tmp_path)
    _edit_config(d, layer_norm_epsilon=1e-6)
    with pytest.warns(UserWarning, match='layer_norm_epsilon=1e-06'):
        load_hf_gpt2(str(d))
