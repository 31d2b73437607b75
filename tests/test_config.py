"""Config keys and the checks that run before anything compiles."""
import pytest

from nanogpt_jax.config import check_config, check_flag_overrides, default_config


def test_recipes_load_and_pass_the_checks():
    import importlib
    for name in ('shakespeare_char', 'shakespeare_char_cpu', 'gpt2', 'gpt2_medium', 'gpt2_large', 'gpt2_xl',
                 'finetune_shakespeare', 'eval_gpt2', 'eval_gpt2_medium', 'eval_gpt2_large', 'eval_gpt2_xl'):
        c = importlib.import_module(f'configs.{name}').get_config()
        check_config(c)
    gpt2 = importlib.import_module('configs.gpt2').get_config()
    assert gpt2.batch_size * gpt2.block_size * gpt2.gradient_accumulation_steps == 491_520
    assert importlib.import_module('configs.gpt2_xl').get_config().n_embd == 1600
    assert importlib.import_module('configs.eval_gpt2_large').get_config().init_from == 'gpt2-large'


def test_misspelt_keys_name_the_closest():
    with pytest.raises(SystemExit, match="'lerning_rate'.*Did you mean learning_rate"):
        check_flag_overrides(['train', '--config.lerning_rate=1e-3'])
    check_flag_overrides(['train', '--config.learning_rate=1e-3', '--config=configs/gpt2.py'])
    c = default_config()
    c.n_layers = 4  # a recipe that adds a key nobody reads
    with pytest.raises(KeyError, match='n_layer'):
        check_config(c)


@pytest.mark.parametrize('key, value, message', [
    ('n_embd', 100, 'not divisible by n_head'),
    ('dropout', 1.0, 'dropout'),
    ('dtype', 'float8', 'dtype'),
    ('attention', 'flash', 'attention'),
    ('batch_size', 0, 'batch_size=0'),
    ('eval_iters', 0, 'eval_iters=0'),  # the mean loss over no batches would be nan
    ('lr_decay_iters', 10, 'lr_decay_iters=10'),
])
def test_bad_values_are_rejected_with_what_to_change(key, value, message):
    c = default_config()
    c[key] = value
    with pytest.raises(ValueError, match=message):
        check_config(c)
