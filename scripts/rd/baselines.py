#!/usr/bin/env python3
"""SZ3 (PyPI pysz) and ZFP (PyPI zfpy) at the tier error bounds, on one trace.

    python3 scripts/rd/baselines.py TRACE.npy [--bounds hot=0.008,warm7=0.016,...]
                                               [--iters 25] [--repeats 3] [--codecs sz3,zfp]

The trace is a float32 array [frames, dim]. The error of a frame (ADR-017 §8.2) is
max|v - v'| / max|v| over its values; a setting meets a bound when EVERY frame's error is
strictly below it. For each bound and codec the script bisects the codec's absolute error
parameter on a log scale (SZ3: ABS error-bound mode on the whole 2-D array; ZFP: fixed-accuracy
tolerance on the whole 2-D array) to the largest value that still meets the bound, then reports,
at that value: ratio (raw f32 bytes / compressed bytes), worst frame error, SNR in dB
(10·log10(Σv² / Σ(v - v')²)), and encode / decode MB/s of raw f32 bytes (best of --repeats runs).

Prints one JSON object on stdout; progress goes to stderr. Runs itself inside the venv of
make_traces.py (default /tmp/tt-rd-venv, or $TT_RD_VENV), creating it if needed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_traces  # noqa: E402  (venv helper and pins)

DEFAULT_BOUNDS = "hot=0.008,warm7=0.016,warm5=0.065,cold=0.30"


def log(msg: str) -> None:
    print(f"[baselines] {msg}", file=sys.stderr, flush=True)


def frame_errors(x64, maxabs, y):
    """Per-frame max|v - v'| / max|v| (a zero frame: 0 when exact, inf otherwise)."""
    import numpy as np
    err = np.abs(x64 - y.astype(np.float64)).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(maxabs > 0, err / np.where(maxabs > 0, maxabs, 1.0),
                       np.where(err > 0, np.inf, 0.0))
    return rel


class Codec:
    name = ""
    param = ""

    def compress(self, x, eb):  # -> bytes-like with len()
        raise NotImplementedError

    def decompress(self, blob, shape):
        raise NotImplementedError


class SZ3(Codec):
    name = "sz3"
    param = "absErrorBound"

    def __init__(self):
        import importlib.metadata as md
        from pysz import sz, szConfig, szErrorBoundMode
        self.sz, self.szConfig, self.mode = sz, szConfig, szErrorBoundMode
        conf = szConfig()
        self.info = {"package": "pysz", "version": md.version("pysz"),
                     "mode": "ABS (szErrorBoundMode.ABS), whole 2-D array [frames, dim]",
                     "algorithm": int(conf.cmprAlgo), "algorithm_note": "pysz default (1 = INTERP_LORENZO)",
                     "openmp": bool(conf.openmp)}

    def compress(self, x, eb):
        conf = self.szConfig(x.shape)
        conf.errorBoundMode = self.mode.ABS
        conf.absErrorBound = float(eb)
        blob, _ratio = self.sz.compress(x, conf)
        return blob

    def decompress(self, blob, shape):
        import numpy as np
        out, _conf = self.sz.decompress(blob, np.float32, shape)
        return out


class ZFP(Codec):
    name = "zfp"
    param = "tolerance"

    def __init__(self):
        import importlib.metadata as md
        import zfpy
        self.zfpy = zfpy
        self.info = {"package": "zfpy", "version": md.version("zfpy"),
                     "mode": "fixed accuracy (compress_numpy(tolerance=...)), whole 2-D array "
                             "[frames, dim], header written (write_header=True)",
                     "execution": "serial (zfpy default)"}

    def compress(self, x, eb):
        return self.zfpy.compress_numpy(x, tolerance=float(eb))

    def decompress(self, blob, shape):
        out = self.zfpy.decompress_numpy(blob)
        assert out.shape == tuple(shape) and out.dtype.itemsize == 4
        return out


def evaluate(codec: Codec, x, x64, maxabs, eb):
    blob = codec.compress(x, eb)
    y = codec.decompress(blob, x.shape)
    return len(blob), float(frame_errors(x64, maxabs, y).max()), y


def bisect(codec: Codec, x, x64, maxabs, bound: float, iters: int):
    """Largest parameter (log-scale bisection) whose worst frame error is < bound."""
    positive = maxabs[maxabs > 0]
    lo = bound * float(positive.min()) * 0.5 if positive.size else 1e-30
    hi = bound * float(maxabs.max()) * 2.0
    evals = 0

    def ok(eb):
        nonlocal evals
        evals += 1
        return evaluate(codec, x, x64, maxabs, eb)[1] < bound

    tries = 0
    while not ok(lo):
        lo *= 0.25
        tries += 1
        if tries > 40:
            return None, evals
    tries = 0
    while ok(hi):
        lo = hi
        hi *= 4.0
        tries += 1
        if tries > 20:
            return lo, evals
    for _ in range(iters):
        mid = math.sqrt(lo * hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, evals


def timed(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(trace: Path, bounds: dict, iters: int, repeats: int, codecs: list[str]) -> dict:
    import numpy as np
    x = np.load(trace)
    if x.dtype != np.float32 or x.ndim != 2:
        sys.exit(f"[baselines] {trace}: expected a 2-D float32 array, got {x.dtype} {x.shape}")
    x = np.ascontiguousarray(x)
    x64 = x.astype(np.float64)
    maxabs = np.abs(x64).max(axis=1)
    raw = x.nbytes
    signal = float(np.sum(x64 * x64))
    out = {"trace": str(trace), "shape": list(x.shape), "rawBytes": raw, "bounds": bounds,
           "iterations": iters, "repeats": repeats, "codecs": {}}
    for name in codecs:
        codec = {"sz3": SZ3, "zfp": ZFP}[name]()
        res = {}
        for tier, bound in bounds.items():
            t0 = time.perf_counter()
            eb, evals = bisect(codec, x, x64, maxabs, bound, iters)
            if eb is None:
                res[tier] = {"bound": bound, "feasible": False, "evaluations": evals}
                log(f"{trace.stem} {name} {tier}: no setting meets the bound")
                continue
            size, worst, y = evaluate(codec, x, x64, maxabs, eb)
            noise = float(np.sum((x64 - y.astype(np.float64)) ** 2))
            blob = codec.compress(x, eb)
            enc = timed(lambda: codec.compress(x, eb), repeats)
            dec = timed(lambda: codec.decompress(blob, x.shape), repeats)
            res[tier] = {
                "bound": bound, "feasible": True, codec.param: eb,
                "bytes": size, "ratio": raw / size, "worstRelErr": worst,
                "snrDb": (10.0 * math.log10(signal / noise)) if noise > 0 else None,
                "encMBps": raw / enc / 1e6, "decMBps": raw / dec / 1e6,
                "evaluations": evals, "searchSeconds": round(time.perf_counter() - t0, 2),
            }
            log(f"{trace.stem} {name} {tier}: {codec.param}={eb:.4g} ratio {raw / size:.2f} "
                f"worst {worst:.5f} ({evals} runs, {time.perf_counter() - t0:.1f} s)")
        out["codecs"][name] = {**codec.info, "parameter": codec.param, "results": res}
    return out


def parse_bounds(text: str) -> dict:
    bounds = {}
    for part in text.split(","):
        tier, _, value = part.partition("=")
        bounds[tier.strip()] = float(value)
    return bounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace", type=Path)
    ap.add_argument("--bounds", default=DEFAULT_BOUNDS, help=f"tier=bound,... (default {DEFAULT_BOUNDS})")
    ap.add_argument("--iters", type=int, default=25, help="bisection steps (default 25)")
    ap.add_argument("--repeats", type=int, default=3, help="timing runs, best kept (default 3)")
    ap.add_argument("--codecs", default="sz3,zfp")
    ap.add_argument("--venv", default=make_traces.DEFAULT_VENV)
    args = ap.parse_args()

    if os.environ.get("TT_RD_INNER") != "1":
        py = make_traces.ensure_venv(Path(args.venv))
        env = make_traces.inner_env()
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = "1"
        sys.exit(subprocess.run([str(py), str(Path(__file__).resolve()), *sys.argv[1:]],
                                env=env).returncode)
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    result = run(args.trace.resolve(), parse_bounds(args.bounds), args.iters, args.repeats, codecs)
    json.dump(result, sys.stdout, indent=2, allow_nan=False)
    print()


if __name__ == "__main__":
    main()
