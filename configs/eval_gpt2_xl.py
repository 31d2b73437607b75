"""Evaluate OpenAI's GPT-2 xl on OpenWebText; nanoGPT reports val loss 2.54."""
from configs.eval_gpt2 import get_config as eval_config


def get_config():
    return eval_config('gpt2-xl')
