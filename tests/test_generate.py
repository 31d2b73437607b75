"""KV-cache sampling against a full-forward reference, shape stability (no recompiles), and sampling rules."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nanogpt_jax import generate as gen
from nanogpt_jax.model import GPT, GPTConfig

CFG = GPTConfig(block_size=32, vocab_size=64, n_layer=2, n_head=2, n_embd=32)


@pytest.fixture(scope='module')
def split_model():
    model = GPT(CFG, nnx.Rngs(0))
    # sharpen the weights so greedy choices are clear-cut rather than near-ties
    state = jax.tree.map(lambda p: p * 4 if p.ndim == 2 else p, nnx.state(model))
    nnx.update(model, state)
    graphdef, state = nnx.split(model)
    return model, graphdef, nnx.to_pure_dict(state)


def greedy_reference(model, prompt, n_new):
    """nanoGPT's loop: a full forward over the whole sequence for every new token."""
    seq = list(prompt)
    for _ in range(n_new):
        logits = model(jnp.asarray([seq[-CFG.block_size:]], jnp.int32))
        seq.append(int(jnp.argmax(logits[0, -1])))
    return seq


def run(graphdef, params, prompt_BP, n_new, **kw):
    return gen.generate(graphdef, params, np.asarray(prompt_BP), n_new, jax.random.key(0),
                        block_size=CFG.block_size, vocab_size=CFG.vocab_size, **kw)


def test_greedy_decoding_matches_full_forward(split_model):
    model, graphdef, params = split_model
    prompts = [[1, 2, 3], [7, 9, 4, 4, 5, 60, 2, 8, 11]]
    for prompt in prompts:
        out = run(graphdef, params, [prompt, prompt], 20, temperature=0.0)
        expected = greedy_reference(model, prompt, 20)
        assert out[0].tolist() == expected and out[1].tolist() == expected


def test_a_single_prompt_is_decoded_beside_a_copy_of_itself(split_model):
    """One row would make every matmul a vector-matrix product (slow on GPU, generate.decode_rows): a single
    prompt is sampled as row 0 of two copies, and only that row comes back."""
    _, graphdef, params = split_model
    assert [gen.decode_rows(b) for b in (1, 2, 5)] == [2, 2, 5]
    prompt = [3, 1, 4, 1, 5]
    one = run(graphdef, params, [prompt], 12, temperature=1.0, top_k=10)
    two = run(graphdef, params, [prompt, prompt], 12, temperature=1.0, top_k=10)
    assert one.shape == (1, 17) and one[0].tolist() == two[0].tolist()
    assert two[0].tolist() != two[1].tolist()  # sampled, not greedy: the copy's row draws its own tokens


def test_new_prompt_lengths_do_not_recompile(split_model):
    """sample.py's case: the same number of new tokens after prompts of any length."""
    _, graphdef, params = split_model
    run(graphdef, params, [[1, 2]], 3, temperature=0.0)  # prefill bucket 16, a cache of 16
    decode_compiles, prefill_compiles = gen.decode._cache_size(), gen.prefill._cache_size()
    for length in (3, 5, 9, 13):  # same buckets: prompt <= 16 tokens, prompt + new <= 16
        run(graphdef, params, [list(range(1, length + 1))], 3, temperature=0.0)
    assert (gen.decode._cache_size(), gen.prefill._cache_size()) == (decode_compiles, prefill_compiles)
    run(graphdef, params, [list(range(20))], 3, temperature=0.0)  # new buckets: one prefill, one decode
    assert gen.prefill._cache_size() == prefill_compiles + 1
    assert gen.decode._cache_size() == decode_compiles + 1
    for length in (17, 25, 29):  # and no more
        run(graphdef, params, [list(range(length))], 3, temperature=0.0)
    assert gen.prefill._cache_size() == prefill_compiles + 1
    assert gen.decode._cache_size() == decode_compiles + 1
    assert [gen.prefill_bucket(n, 32) for n in (1, 16, 17, 32)] == [16, 16, 32, 32]


def test_generation_longer_than_the_context_slides_the_window(split_model):
    model, graphdef, params = split_model
    prompt = [3, 1, 4, 1, 5]
    out = run(graphdef, params, [prompt], 70, temperature=0.0)
    assert out.shape == (1, 75)
    expected = greedy_reference(model, prompt, CFG.block_size - len(prompt))
    assert out[0, :CFG.block_size].tolist() == expected  # exact while the whole context fits
    assert out.min() >= 0 and out.max() < CFG.vocab_size


def test_top_k_one_and_tiny_top_p_are_greedy(split_model):
    _, graphdef, params = split_model
    greedy = run(graphdef, params, [[5, 6]], 12, temperature=0.0)
    assert (run(graphdef, params, [[5, 6]], 12, temperature=1.0, top_k=1) == greedy).all()
    assert (run(graphdef, params, [[5, 6]], 12, temperature=1.0, top_p=1e-6) == greedy).all()


def test_sampling_follows_the_tempered_cut_distribution():
    logits = jnp.log(jnp.asarray([[0.5, 0.25, 0.15, 0.1]]))
    keys = jax.random.split(jax.random.key(0), 20000)

    def freq(**kw):
        draws = jax.jit(jax.vmap(lambda k: gen.sample_token(logits, k, **kw)[0]))(keys)
        return np.bincount(np.asarray(draws), minlength=4) / len(keys)

    np.testing.assert_allclose(freq(temperature=1.0, top_k=0, top_p=1.0), [0.5, 0.25, 0.15, 0.1], atol=0.015)
    np.testing.assert_allclose(freq(temperature=1.0, top_k=2, top_p=1.0), [2 / 3, 1 / 3, 0, 0], atol=0.015)
    np.testing.assert_allclose(freq(temperature=1.0, top_k=0, top_p=0.7), [2 / 3, 1 / 3, 0, 0], atol=0.015)
    squared = np.array([0.25, 0.0625, 0.0225, 0.01])  # temperature 0.5 squares the probabilities
    np.testing.assert_allclose(freq(temperature=0.5, top_k=0, top_p=1.0), squared / squared.sum(), atol=0.015)


def test_top_k_compares_in_bf16_and_keeps_ties_at_the_kth():
    """1.0 and 1.0001 are one bf16 value: with top_k=2 both tie for second place and both stay (as with
    nanoGPT's bf16 logits), where an exact float32 cut would keep only 1.0001."""
    logits = jnp.asarray([[2.0, 1.0, 1.0001, -1.0]])
    keys = jax.random.split(jax.random.key(1), 20000)
    draws = jax.jit(jax.vmap(lambda k: gen.sample_token(logits, k, 1.0, 2, 1.0)[0]))(keys)
    freq = np.bincount(np.asarray(draws), minlength=4) / len(keys)
    p = np.exp([2.0, 1.0, 1.0001])
    np.testing.assert_allclose(freq, [*(p / p.sum()), 0], atol=0.015)


@pytest.mark.parametrize('k', [1, 7, 200, 1000])
def test_kth_largest_key_is_the_kth_of_the_sorted_bf16_values(k):
    """Against numpy's sort of the bf16-rounded rows: random rows (ties among the rounded values), a row
    with -inf (masked) entries, and a row of one repeated value."""
    rng = np.random.default_rng(k)
    rows = rng.standard_normal((4, 1000)).astype(np.float32) * [[3], [0.01], [100], [1]]
    rows[3, ::2] = -np.inf
    rows = np.concatenate([rows, np.full((1, 1000), -2.5, np.float32)])
    rounded = np.asarray(jnp.asarray(rows).astype(jnp.bfloat16).astype(jnp.float32))
    expected = np.sort(rounded, axis=-1)[:, -k]
    keys = np.asarray(gen.bf16_keys(jnp.asarray(rows)))
    kth = np.asarray(jax.jit(gen.kth_largest_key, static_argnums=1)(keys, k))
    for i in range(len(rows)):  # the k-th key is the key of the entries equal to the k-th value, and only theirs
        np.testing.assert_array_equal(keys[i] == kth[i], rounded[i] == expected[i])
        assert (keys[i] == kth[i]).any()


def test_decode_loop_has_a_known_trip_count(split_model):
    """A loop of known trip count, which XLA's GPU runtime runs faster than a while on a traced bound."""
    _, graphdef, params = split_model
    window = jnp.zeros((1, CFG.block_size), jnp.int32)
    cache, logits = gen.prefill(graphdef, params, window, 3, prefill_len=16, cache_len=16)
    hlo = gen.decode.lower(graphdef, params, window, cache, logits, 3, jax.random.key(0), steps=5, temperature=0.8,
                           top_k=5, top_p=1.0, vocab_size=CFG.vocab_size).compile().as_text()
    assert '"known_trip_count":{"n":"5"}' in hlo
