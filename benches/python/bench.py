"""The Python binding on the Node bench's workload (benches/node/bench.mjs): the same frames (same
generator), the same widths, batch sizes and compressor settings; numpy arrays in, segments out.

    python benches/python/bench.py        (with the wheel installed; `npm run bench` does this)

Env: BENCH_JSON=path writes the rows in the shape of the other benches ({ backend, kernels, op,
bits, dim, nsPerFrame, nsPerFrameBest, ... }), BENCH_QUICK=1 runs shorter, BENCH_DIMS=512,4096
limits the frame lengths. One sample = one call over a batch of frames; figures are medians of
the samples divided by the frames in the batch. Timing only; nothing here asserts on speed.
"""

import json
import os
import statistics
import time

import numpy as np

import temporal_tensor as tt

QUICK = os.environ.get("BENCH_QUICK", "0") not in ("", "0")
DIMS = [int(d) for d in os.environ.get("BENCH_DIMS", "512,4096,65536").split(",") if int(d) > 0]
WIDTHS = [8, 7, 5, 3]
TIME_S = 0.04 if QUICK else 0.4
MIN_SAMPLES = 8 if QUICK else 32
WARMUP = 4 if QUICK else 16


def batch_of(dim):
    return 64 if dim <= 512 else 16 if dim <= 4096 else 4


def xorshift(seed=0x2545F4914F6CDD1D):
    """The Node bench's generator: xorshift64 (13, 7, 17), top 24 bits as a float in [-0.5, 0.5)."""
    mask = (1 << 64) - 1
    s = seed

    def nxt():
        nonlocal s
        s ^= (s << 13) & mask
        s ^= s >> 7
        s ^= (s << 17) & mask
        return (s >> 40) / 2**24 - 0.5

    return nxt


def make_frames(dim, count):
    """``count`` frames of ``dim`` values: a fixed random frame plus jitter of at most 0.1 %."""
    nxt = xorshift()
    base = np.array([nxt() for _ in range(dim)], dtype=np.float32)
    out = np.empty((count, dim), dtype=np.float32)
    for f in range(count):
        out[f] = [float(base[i]) + 0.001 * nxt() for i in range(dim)]
    return out


def pinned(bits, dim):
    """Pinned to one width, writing the packed format that the Rust rows measure (the default
    is coded)."""
    return tt.TemporalTensorCompressor(dim, policy={"fixed_bits": bits}, format="packed")


def measure(fn):
    """Per-call nanoseconds: median and best, after a warm-up."""
    for _ in range(WARMUP):
        fn()
    samples = []
    start = time.perf_counter()
    while len(samples) < MIN_SAMPLES or time.perf_counter() - start < TIME_S:
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples), min(samples), len(samples)


def main():
    kernels = tt.kernels()
    rows = []
    started = time.time()

    def add(row, frames, fn):
        median, best, n = measure(fn)
        rows.append(
            dict(
                row,
                backend="python",
                kernels=kernels,
                nsPerFrame=round(median / frames, 3),
                nsPerFrameBest=round(best / frames, 3),
                framesPerCall=frames,
                samples=n,
            )
        )

    for dim in DIMS:
        batch = batch_of(dim)
        frames = make_frames(dim, batch)
        for bits in WIDTHS:
            # encode: one push_many of the batch (a 2-D float32 array, read in place)
            enc = pinned(bits, dim)
            add(dict(op="encode", bits=bits, dim=dim, api="push_many"), batch,
                lambda: enc.push_many(frames, 0))
            seg = enc.flush()
            if seg is not None and tt.segment_info(seg)["bits"] != bits:
                raise SystemExit(f"encode {bits}b {dim}: wrong width")
            if dim == 512:
                one = pinned(bits, dim)

                def push_each(one=one):
                    for frame in frames:
                        one.push(frame, 0)

                add(dict(op="push", bits=bits, dim=dim, api="push"), batch, push_each)
            # decode: one decode_segment_into (a reused output array) of a segment of the batch
            c = pinned(bits, dim)
            if c.push_many(frames, 0):
                raise SystemExit("the batch should make exactly one segment")
            last = c.flush()
            info = tt.segment_info(last)
            if info["bits"] != bits or info["frame_count"] != batch:
                raise SystemExit(f"decode setup {bits}b {dim}: {info}")
            out = np.empty(batch * dim, dtype=np.float32)
            add(dict(op="decode", bits=bits, dim=dim, api="decode_segment_into"), batch,
                lambda last=last, out=out: tt.decode_segment_into(last, out))

    for r in rows:
        print(f"python  {r['kernels']:<12} {r['op']:<7} {r['bits']:>4} {r['dim']:>6} "
              f"{r['nsPerFrame']:>11.1f} {r['dim'] * 4 / r['nsPerFrame']:>9.2f}  {r['api']}")
    print(f"(python/{kernels}, {len(rows)} tasks in {time.time() - started:.1f} s"
          f"{', quick' if QUICK else ''})")
    path = os.environ.get("BENCH_JSON")
    if path:
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
