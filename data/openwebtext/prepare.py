"""OpenWebText with GPT-2 BPE (nanoGPT's recipe), or your own corpus with --input: train.bin, val.bin, meta.json.

    python data/openwebtext/prepare.py                     # HF datasets (pip install datasets): ~8M documents,
                                                           # ~9B train tokens (17 GB train.bin), 54 GB of HF cache
    python data/openwebtext/prepare.py --input=my_corpus/  # a folder (or one file) of .txt / .jsonl / .parquet

Each document ends with <|endoftext|>; tokenizing runs in --num_proc processes and tokens go to disk in chunks,
so the corpus is never held in memory. Local input: each .txt file is one document, each .jsonl line one JSON
object with a "text" field, each .parquet row its "text" column (needs pyarrow); hidden files are skipped.
"""
import argparse
import hashlib
import json
import os
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without `pip install`
from nanogpt_jax.prepare_utils import announce, dtype_for, write_meta  # noqa: E402
from nanogpt_jax.tokenizer import gpt2_encoding  # noqa: E402

DTYPE = dtype_for(50257)  # GPT-2 ids fit uint16
SUFFIXES = (".txt", ".jsonl", ".parquet")


def encode(text: str) -> np.ndarray:
    """GPT-2 ids of one document with <|endoftext|> appended (runs in the worker processes)."""
    enc = gpt2_encoding()
    ids = enc.encode_ordinary(text)
    ids.append(enc.eot_token)
    return np.array(ids, dtype=DTYPE)


# ----------------------------------------------------------------------------- nanoGPT's recipe: HF datasets
def hf_process(example: dict) -> dict:
    ids = encode(example["text"])
    return {"ids": ids, "len": len(ids)}


def prepare_hf(args, out_dir: Path) -> tuple[dict, str, str]:
    try:
        from datasets import load_dataset  # only this path needs it, so it is not a dependency
    except ImportError:
        sys.exit("error: downloading OpenWebText needs HF datasets: `pip install datasets`; "
                 "or pass --input=DIR with your own .txt/.jsonl/.parquet files.")
    dataset = load_dataset(args.hf_dataset, num_proc=args.num_proc)
    source = f"huggingface datasets: {args.hf_dataset}"
    announce(f"data source: {source} ({len(dataset['train']):,} documents)")
    h = hashlib.sha256()  # of every document's UTF-8 text, in the dataset's order
    for batch in tqdm(dataset["train"].iter(batch_size=10_000), desc="sha256", unit="batch"):
        for text in batch["text"]:
            h.update(text.encode("utf-8"))
    split = dataset["train"].train_test_split(test_size=args.val_fraction, seed=args.seed, shuffle=True)
    split["val"] = split.pop("test")
    tokenized = split.map(hf_process, remove_columns=["text"], desc="tokenizing", num_proc=args.num_proc)
    counts = {}
    for name, dset in tokenized.items():
        n = int(np.sum(dset.with_format("numpy")["len"], dtype=np.uint64))
        arr = np.memmap(out_dir / f"{name}.bin", dtype=DTYPE, mode="w+", shape=(n,))
        shards, idx = min(1024, len(dset)), 0
        for i in tqdm(range(shards), desc=f"writing {name}.bin"):
            batch = dset.shard(num_shards=shards, index=i, contiguous=True).with_format("numpy")
            ids = np.concatenate(batch["ids"])
            arr[idx: idx + len(ids)] = ids
            idx += len(ids)
        arr.flush()
        counts[name] = n
    return counts, source, h.hexdigest()


# ----------------------------------------------------------------------------- your own corpus: --input
def list_files(path: Path) -> list[Path]:
    if not path.exists():
        sys.exit(f"error: --input={path} does not exist; pass a folder (or file) of .txt / .jsonl / .parquet files.")
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(path).parts))
    unknown = [str(p) for p in files if p.suffix not in SUFFIXES]
    if unknown:
        sys.exit(f"error: can't read {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}: --input takes .txt "
                 "(one document per file), .jsonl (a \"text\" field per line) and .parquet (a \"text\" column) files; "
                 f"move the others out of {path}.")
    if not files:
        sys.exit(f"error: {path} holds no .txt / .jsonl / .parquet files.")
    return files


def parquet_file(f: Path):
    try:
        import pyarrow.parquet as pq  # only .parquet input needs it
    except ImportError:
        sys.exit(f"error: reading {f} needs pyarrow: `pip install pyarrow` (or convert it to .jsonl).")
    pf = pq.ParquetFile(f)
    if "text" not in pf.schema_arrow.names:
        sys.exit(f"error: {f} has no \"text\" column (columns: {pf.schema_arrow.names}).")
    return pf


def scan(files: list[Path]) -> tuple[int, int, str]:
    """(documents, bytes, sha256 of the files concatenated in sorted order) in one streaming pass."""
    h, n_docs, n_bytes = hashlib.sha256(), 0, 0
    for f in files:
        with open(f, "rb") as fh:
            if f.suffix == ".jsonl":  # one document per non-blank line
                for line in fh:
                    h.update(line)
                    if line.strip():
                        n_docs, n_bytes = n_docs + 1, n_bytes + len(line)
                continue
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
                n_bytes += len(chunk)
        n_docs += 1 if f.suffix == ".txt" else parquet_file(f).metadata.num_rows
    return n_docs, n_bytes, h.hexdigest()


def documents(files: list[Path]):
    """Each document's text, streamed file by file in the same order scan() counted them."""
    for f in files:
        if f.suffix == ".txt":
            try:
                yield f.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                sys.exit(f"error: {f} is not UTF-8 text ({e}).")
        elif f.suffix == ".jsonl":
            with open(f, "rb") as fh:
                for i, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            text = json.loads(line)["text"]
                            assert isinstance(text, str)
                        except (ValueError, KeyError, TypeError, AssertionError):
                            sys.exit(f"error: {f}:{i} is not a JSON object with a string \"text\" field.")
                        yield text
        else:
            for batch in parquet_file(f).iter_batches(columns=["text"]):
                yield from (t or "" for t in batch.column(0).to_pylist())


def batches(docs, max_docs=4096, max_chars=1 << 26):
    """Groups of documents, so the worker pool never has more than ~64M characters in flight."""
    batch, chars = [], 0
    for d in docs:
        batch.append(d)
        chars += len(d)
        if len(batch) >= max_docs or chars >= max_chars:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def prepare_local(args, out_dir: Path) -> tuple[dict, str, str]:
    path = Path(args.input).expanduser().resolve()
    files = list_files(path)
    n_docs, n_bytes, sha = scan(files)
    if n_docs == 0 or n_bytes == 0:
        sys.exit(f"error: {path} is empty: no documents to tokenize.")
    if n_docs < 2:
        sys.exit(f"error: {path} holds 1 document, but train and val need one each: split the text into "
                 "several .txt files, or one document per line in a .jsonl file.")
    announce(f"data source: {path} ({len(files)} files, {n_docs:,} documents, {n_bytes:,} bytes)")
    gpt2_encoding()  # build it once here; forked workers inherit it
    # like nanoGPT's train_test_split: a seeded random val_fraction of the documents, at least one each side
    n_val = min(max(1, round(n_docs * args.val_fraction)), n_docs - 1)
    is_val = np.zeros(n_docs, dtype=bool)
    is_val[np.random.default_rng(args.seed).choice(n_docs, n_val, replace=False)] = True

    tmp = {s: out_dir / f"{s}.bin.tmp" for s in ("train", "val")}
    counts = {"train": 0, "val": 0}
    outs = {s: open(p, "wb", buffering=1 << 24) for s, p in tmp.items()}  # written in 16 MB chunks
    pool = Pool(args.num_proc) if args.num_proc > 1 else None
    try:
        i = 0
        with tqdm(total=n_docs, desc="tokenizing", unit="doc") as bar:
            for batch in batches(documents(files)):
                for ids in (pool.imap(encode, batch, chunksize=16) if pool else map(encode, batch)):
                    split = "val" if is_val[i] else "train"
                    outs[split].write(ids.tobytes())
                    counts[split] += len(ids)
                    i += 1
                bar.update(len(batch))
    finally:
        if pool:
            pool.close()
        for f in outs.values():
            f.close()
    assert i == n_docs, f"counted {n_docs} documents but read {i}"
    if sum(counts.values()) == n_docs:  # nothing but <|endoftext|>
        for p in tmp.values():
            p.unlink()
        sys.exit(f"error: {path} is empty: its {n_docs} documents hold no text.")
    for s, p in tmp.items():
        os.replace(p, out_dir / f"{s}.bin")
    print(f"documents: {n_docs - n_val:,} train, {n_val:,} val")
    return counts, str(path), sha


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", help="a folder or file of .txt / .jsonl / .parquet; default: HF OpenWebText")
    parser.add_argument("--out_dir", default=str(Path(__file__).resolve().parent), help="where the outputs go")
    parser.add_argument("--val_fraction", type=float, default=0.0005, help="share of documents for val (min 1)")
    parser.add_argument("--seed", type=int, default=2357, help="seed of the train/val split")
    parser.add_argument("--num_proc", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="tokenizer processes")
    parser.add_argument("--hf_dataset", default="openwebtext", help="HF dataset name (without --input)")
    args = parser.parse_args()
    if not 0 < args.val_fraction < 1:
        sys.exit("error: --val_fraction must be between 0 and 1.")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    counts, source, sha = prepare_local(args, out_dir) if args.input else prepare_hf(args, out_dir)
    print(f"train has {counts['train']:,} tokens")
    print(f"val has {counts['val']:,} tokens")
    enc = gpt2_encoding()
    meta = dict(tokenizer="gpt2", vocab_size=enc.n_vocab, dtype=DTYPE, train_tokens=counts["train"],
                val_tokens=counts["val"], source=source, source_sha256=sha, eot_token=enc.eot_token)
    print("wrote", write_meta(out_dir, meta))
    # OpenWebText: train.bin ~17GB (~9B tokens), val.bin ~8.5MB (~4M tokens)


if __name__ == "__main__":
    main()
