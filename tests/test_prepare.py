"""data/*/prepare.py run as scripts on local files (no network): token counts, meta.json, round trips, errors."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nanogpt_jax import prepare_utils
from nanogpt_jax.tokenizer import get_tokenizer, gpt2_encoding, load_meta

REPO = Path(__file__).resolve().parents[1]
TINY = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
needs_tiny = pytest.mark.skipif(not TINY.exists(), reason=f"tiny Shakespeare not found at {TINY}")
EOT = 50256


def prepare(name, *args, ok=True):
    r = subprocess.run([sys.executable, str(REPO / "data" / name / "prepare.py"), *map(str, args)],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert (r.returncode == 0) == ok, r.stdout + r.stderr
    return r


def load_bins(out_dir):
    meta = load_meta(out_dir)
    train, val = (np.memmap(out_dir / f"{s}.bin", dtype=meta["dtype"], mode="r") for s in ("train", "val"))
    assert (len(train), len(val)) == (meta["train_tokens"], meta["val_tokens"])
    return meta, train, val


@needs_tiny
def test_shakespeare_char(tmp_path):
    r = prepare("shakespeare_char", f"--input={TINY}", f"--out_dir={tmp_path}")
    assert "data source: using local file" in r.stdout
    meta, train, val = load_bins(tmp_path)
    assert meta["tokenizer"] == "char" and meta["vocab_size"] == 65 == len(meta["chars"])
    assert meta["chars"] == "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    assert (meta["train_tokens"], meta["val_tokens"]) == (1_003_854, 111_540)  # as nanoGPT reports
    assert meta["dtype"] == "uint16" and train.dtype == np.uint16
    assert meta["source"] == str(TINY.resolve())
    assert meta["source_sha256"].startswith("86c4e6aa") and meta["source_sha256"].endswith("565ed")
    assert "eot_token" not in meta and not (tmp_path / "input.txt").exists()
    tok = get_tokenizer(meta)
    assert tok.decode(np.concatenate([train, val])) == TINY.read_text(encoding="utf-8")


@needs_tiny
def test_shakespeare_gpt2(tmp_path):
    prepare("shakespeare", f"--input={TINY}", f"--out_dir={tmp_path}")
    meta, train, val = load_bins(tmp_path)
    assert meta["tokenizer"] == "gpt2" and meta["vocab_size"] == 50257 and meta["eot_token"] == EOT
    assert (meta["train_tokens"], meta["val_tokens"]) == (301_966, 36_059)  # as nanoGPT reports
    assert meta["dtype"] == "uint16" and meta["source_sha256"] == prepare_utils.TINY_SHAKESPEARE_SHA256
    tok = get_tokenizer(meta)
    assert tok.decode(train) + tok.decode(val) == TINY.read_text(encoding="utf-8")


@needs_tiny
def test_cached_input_records_the_url(tmp_path, capsys):
    """A cached input.txt is used without touching the network; it records the URL only if it is that file."""
    shutil.copy(TINY, tmp_path / "input.txt")
    text, source, sha = prepare_utils.shakespeare_text(None, tmp_path)
    assert source == prepare_utils.TINY_SHAKESPEARE_URL and sha == prepare_utils.TINY_SHAKESPEARE_SHA256
    assert len(text) == 1_115_394 and "data source: using cached" in capsys.readouterr().out
    (tmp_path / "input.txt").write_text("my own text\n")
    assert prepare_utils.shakespeare_text(None, tmp_path)[1] == str((tmp_path / "input.txt").resolve())


def test_play_markdown_to_text():
    md = ("# Macbeth\n\n## ACT I\n\n## SCENE I. A desert place.\n\n_Thunder and lightning. Enter three\nWitches_\n\n"
          "**First Witch**  \nWhen shall we three meet again  \nIn thunder?\n\n**ALL**  \n__\\[Aside]_  \n"
          "Fair is foul\u2014and foul is fair:\n\n_Exeunt_\n\nHover through the fog.\n\n*Alarum.*\n\n"
          "### SCENE II. A camp.\n\nNo speaker yet.\n")
    assert prepare_utils.play_markdown_to_text(md) == (
        "First Witch:\nWhen shall we three meet again\nIn thunder?\n\n"
        "ALL:\nFair is foul--and foul is fair:\n\nALL:\nHover through the fog.\n")


def test_missing_input(tmp_path):
    r = prepare("shakespeare_char", f"--input={tmp_path / 'nope.txt'}", f"--out_dir={tmp_path}", ok=False)
    assert "is not a file" in r.stderr
    r = prepare("openwebtext", f"--input={tmp_path / 'nope'}", f"--out_dir={tmp_path}", ok=False)
    assert "does not exist" in r.stderr


def make_corpus(root: Path) -> list[str]:
    """A few .txt and .jsonl files (one nested); returns the documents in the order prepare.py reads them."""
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("The first file.\nIt has two lines.")
    (root / "b.jsonl").write_text('{"text": "Hello world"}\n\n{"text": "caf\\u00e9 \\u2014 na\\u00efve", "id": 2}\n')
    (root / "c.txt").write_text("")  # an empty document is still a document: just <|endoftext|>
    (root / "sub" / "d.jsonl").write_text("".join(json.dumps({"text": f"document {i}"}) + "\n" for i in range(5)))
    (root / "sub" / "e.txt").write_text("Last one.\n")
    (root / ".hidden.bin").write_bytes(b"skipped")
    return (["The first file.\nIt has two lines.", "Hello world", "caf\u00e9 \u2014 na\u00efve", ""]
            + [f"document {i}" for i in range(5)] + ["Last one.\n"])


def split_docs(ids) -> list[str]:
    ids = np.asarray(ids)
    assert len(ids) and ids[-1] == EOT  # every document ends with EOT
    ends = np.flatnonzero(ids == EOT)
    enc = gpt2_encoding()
    return [enc.decode(ids[s:e].tolist()) for s, e in zip(np.r_[0, ends[:-1] + 1], ends, strict=True)]


def test_openwebtext_local_corpus(tmp_path):
    docs = make_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    prepare("openwebtext", f"--input={tmp_path / 'corpus'}", f"--out_dir={out}", "--num_proc=2", "--val_fraction=0.2")
    meta, train, val = load_bins(out)
    assert meta["tokenizer"] == "gpt2" and meta["dtype"] == "uint16" and meta["eot_token"] == EOT
    assert meta["source"] == str((tmp_path / "corpus").resolve())
    files = sorted(p for p in (tmp_path / "corpus").rglob("*") if p.is_file() and not p.name.startswith("."))
    assert meta["source_sha256"] == hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()
    train_docs, val_docs = split_docs(train), split_docs(val)
    assert len(val_docs) == 2 and len(train_docs) == len(docs) - 2  # round(10 * 0.2)
    assert sorted(train_docs + val_docs) == sorted(docs)
    assert [d for d in docs if d in train_docs] == train_docs  # document order is kept within each split
    enc = gpt2_encoding()
    assert meta["train_tokens"] + meta["val_tokens"] == sum(len(enc.encode_ordinary(d)) + 1 for d in docs)
    assert not list(out.glob("*.tmp"))


def test_openwebtext_single_process_same_bins(tmp_path):
    """The default val_fraction still puts one document in val; 1 process writes what 2 processes write."""
    make_corpus(tmp_path / "corpus")
    for n, out in [(1, tmp_path / "one"), (2, tmp_path / "two")]:
        prepare("openwebtext", f"--input={tmp_path / 'corpus'}", f"--out_dir={out}", f"--num_proc={n}")
    (_, train1, val1), (_, train2, val2) = load_bins(tmp_path / "one"), load_bins(tmp_path / "two")
    assert len(split_docs(val1)) == 1 and np.array_equal(train1, train2) and np.array_equal(val1, val2)


def test_openwebtext_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    (tmp_path / "corpus").mkdir()
    pq.write_table(pa.table({"text": ["one", "two", "three"], "n": [1, 2, 3]}), tmp_path / "corpus" / "x.parquet")
    prepare("openwebtext", f"--input={tmp_path / 'corpus'}", f"--out_dir={tmp_path}", "--num_proc=1")
    _, train, val = load_bins(tmp_path)
    assert sorted(split_docs(train) + split_docs(val)) == ["one", "three", "two"]


@pytest.mark.parametrize("files, message", [
    ({}, "holds no .txt / .jsonl / .parquet"),
    ({"a.txt": "", "b.jsonl": "\n"}, "is empty"),
    ({"a.txt": "", "b.jsonl": '{"text": ""}\n'}, "is empty: its 2 documents hold no text"),
    ({"a.txt": "only one document"}, "train and val need one each"),
    ({"a.txt": "x", "notes.md": "y"}, "can't read"),
    ({"a.jsonl": '{"text": "ok"}\n{"body": "no text"}\n'}, "a.jsonl:2 is not a JSON object"),
])
def test_openwebtext_bad_input(tmp_path, files, message):
    (tmp_path / "corpus").mkdir()
    for name, text in files.items():
        (tmp_path / "corpus" / name).write_text(text)
    r = prepare("openwebtext", f"--input={tmp_path / 'corpus'}", f"--out_dir={tmp_path / 'out'}", "--num_proc=1",
                ok=False)
    assert message in r.stderr
