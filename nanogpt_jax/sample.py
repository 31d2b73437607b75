"""Sample from a trained model, or from OpenAI's GPT-2.

    python -m nanogpt_jax.sample --out_dir=out-shakespeare-char --start="ROMEO:" --num_samples=3
    python -m nanogpt_jax.sample --init_from=gpt2 --start=FILE:prompt.txt --top_p=0.9
"""
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging

from nanogpt_jax import checkpoint, sharding
from nanogpt_jax.config import default_config, resolve_system
from nanogpt_jax.generate import generate
from nanogpt_jax.model import GPTConfig
from nanogpt_jax.tokenizer import get_tokenizer

flags.DEFINE_string('out_dir', 'out', 'Run directory holding ckpt/ (used when init_from=resume).')
flags.DEFINE_string('init_from', 'resume', "'resume' (a run in out_dir), 'gpt2*' or a Hugging Face GPT-2 dir.")
flags.DEFINE_enum('which', 'best', ['best', 'latest'], "Which checkpoint of out_dir: 'best' (lowest val loss) or 'latest' (the newest).")
flags.DEFINE_string('start', '\n', 'Prompt text, or FILE:path to read it from a file.')
flags.DEFINE_integer('num_samples', 10, 'Samples to draw (decoded as one batch).')
flags.DEFINE_integer('max_new_tokens', 500, 'Tokens generated per sample.')
flags.DEFINE_float('temperature', 0.8, '1.0 = no change, < 1.0 = less random, 0 = greedy.')
flags.DEFINE_integer('top_k', 200, 'Keep only the top_k most likely tokens (0 = all).')
flags.DEFINE_float('top_p', 1.0, 'Nucleus sampling: keep the most likely tokens up to this probability.')
flags.DEFINE_integer('seed', 1337, 'Random seed.')
flags.DEFINE_enum('dtype', 'auto', ['auto', 'float32', 'bfloat16', 'float16'], 'Compute dtype.')
FLAGS = flags.FLAGS


def read_prompt(start: str) -> str:
    if start.startswith('FILE:'):
        with open(start[len('FILE:'):], encoding='utf-8') as f:
            return f.read()
    return start


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if FLAGS.temperature < 0 or FLAGS.top_k < 0 or not 0 < FLAGS.top_p <= 1 or FLAGS.max_new_tokens < 1:
        raise app.UsageError('Need temperature >= 0, top_k >= 0, 0 < top_p <= 1 and max_new_tokens >= 1.')
    system = default_config()
    system.dtype = FLAGS.dtype
    mesh = sharding.make_mesh(system)  # data-parallel over local devices: samples are split, weights copied
    if FLAGS.init_from == 'resume':
        dtype, _ = resolve_system(system)  # decoding attends through the cache, always with XLA
        model_cfg, graphdef, params, meta = checkpoint.load_for_inference(FLAGS.out_dir, FLAGS.which, mesh, dtype)
    else:
        from nanogpt_jax.hf import load_hf_gpt2
        model_kwargs, hf_params = load_hf_gpt2(FLAGS.init_from)
        dtype, _ = resolve_system(system)
        model_cfg = GPTConfig(**model_kwargs, dtype=dtype)
        graphdef, abstract = sharding.model_layout(model_cfg, mesh)
        params = jax.tree.map(lambda x, a: jax.device_put(np.asarray(x, np.float32), a.sharding), hf_params, abstract)
        meta = None  # GPT-2 BPE
    tokenizer = get_tokenizer(meta)

    prompt = tokenizer.encode(read_prompt(FLAGS.start))
    if not prompt:
        raise app.UsageError('The prompt encodes to no tokens: give a non-empty --start.')
    if len(prompt) > model_cfg.block_size:
        print(f'warning: the prompt is {len(prompt)} tokens, longer than block_size={model_cfg.block_size}; '
              f'keeping its last {model_cfg.block_size} tokens.', file=sys.stderr)
        prompt = prompt[-model_cfg.block_size:]
    if max(prompt) >= model_cfg.vocab_size:
        raise app.UsageError(f'The prompt has token id {max(prompt)}, beyond the model\'s {model_cfg.vocab_size} tokens: '
                             f'the tokenizer ({tokenizer.name}) does not match this model.')
    prompt_BP = np.tile(np.asarray(prompt, np.int32), (FLAGS.num_samples, 1))
    out_BN = generate(graphdef, params, prompt_BP, FLAGS.max_new_tokens, jax.random.key(FLAGS.seed),
                      block_size=model_cfg.block_size, vocab_size=min(tokenizer.vocab_size, model_cfg.vocab_size),
                      temperature=FLAGS.temperature, top_k=FLAGS.top_k, top_p=FLAGS.top_p, dtype=jnp.dtype(dtype))
    for row in out_BN:
        print(tokenizer.decode(row.tolist()))
        print('---------------')


if __name__ == '__main__':
    app.run(main)
