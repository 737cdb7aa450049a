"""The Python binding against the shared golden vectors and segments written by the Node facade.

Run by `npm test` (scripts/python.mjs) in a fresh venv where the built wheel is installed;
`TT_NODE_FIXTURES` names the folder of Node-written segments (written by the same script).
"""

import json
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

import temporal_tensor as tt

VECTORS = Path(__file__).resolve().parents[2] / "ruvector-temporal-tensor" / "tests" / "vectors"
ROOT = Path(__file__).resolve().parents[3]


def f32(path):
    return np.fromfile(path, dtype="<f4")


def manifest(sub=""):
    return json.loads((VECTORS / sub / "manifest.json").read_text())["cases"]


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("case", manifest(), ids=lambda c: c["name"])
def test_golden_vectors_encode_and_decode_byte_for_byte(case):
    golden = (VECTORS / case["tqtc"]).read_bytes()
    expected = f32(VECTORS / case["decoded"])
    # Decoding: every segment of the file, bit for bit.
    decoded = np.concatenate([tt.decode_segment(s).reshape(-1) for s in tt.split_segments(golden)])
    assert np.array_equal(bits(decoded), bits(expected))
    # Encoding the same input with the same settings gives the same bytes.
    policy = {snake(k): v for k, v in case["policy"].items()}
    c = tt.TemporalTensorCompressor(
        case["tensorLen"],
        now_ts=case["nowTs"],
        policy=policy,
        format=case["format"],
        keyframe_interval=case["keyframeInterval"],
    )
    c.set_access(case["accessCount"], case["lastAccessTs"])
    frames = f32(VECTORS / case["input"]).reshape(case["frames"], case["tensorLen"])
    out = []
    for frame in frames:
        seg = c.push(frame, case["nowTs"])
        if seg is not None:
            out.append(seg)
    last = c.flush()
    if last is not None:
        out.append(last)
    assert b"".join(out) == golden
    assert len(out) == case["segments"]


@pytest.mark.parametrize("case", manifest("padded"), ids=lambda c: c["name"])
def test_frame_padded_vectors_decode_on_every_path(case):
    seg = (VECTORS / "padded" / case["tqtc"]).read_bytes()
    expected = f32(VECTORS / "padded" / case["decoded"])
    n, frames = case["tensorLen"], case["frames"]
    info = tt.segment_info(seg)
    assert (info["bits"], info["tensor_len"], info["frame_count"]) == (case["bits"], n, frames)
    assert info["frame_padded"] == (frames > 1)
    assert np.array_equal(bits(tt.decode_segment(seg).reshape(-1)), bits(expected))
    out = np.zeros(n * frames, dtype=np.float32)
    assert tt.decode_segment_into(seg, out) == n * frames
    assert np.array_equal(bits(out), bits(expected))
    for k in range(frames):
        assert np.array_equal(bits(tt.decode_frame(seg, k)), bits(expected[k * n : (k + 1) * n]))


@pytest.mark.parametrize("case", manifest("coded-v3"), ids=lambda c: c["name"])
def test_version_3_coded_vectors_still_decode(case):
    seg = (VECTORS / "coded-v3" / case["tqtc"]).read_bytes()
    expected = f32(VECTORS / "coded-v3" / case["decoded"])
    info = tt.segment_info(seg)
    assert (info["version"], info["format"]) == (3, "coded")
    assert np.array_equal(bits(tt.decode_segment(seg).reshape(-1)), bits(expected))


def node_cases():
    folder = os.environ.get("TT_NODE_FIXTURES")
    if not folder:
        return []
    return [dict(c, folder=folder) for c in json.loads((Path(folder) / "manifest.json").read_text())]


@pytest.mark.skipif(not os.environ.get("TT_NODE_FIXTURES"), reason="needs Node-written segments")
def test_node_fixtures_are_present():
    assert len(node_cases()) >= 8


@pytest.mark.parametrize("case", node_cases(), ids=lambda c: c["name"])
def test_node_written_segments_byte_for_byte(case):
    folder = Path(case["folder"])
    node_bytes = (folder / case["tqtc"]).read_bytes()
    node_decoded = f32(folder / case["decoded"])
    frames = f32(folder / case["input"]).reshape(-1, case["tensorLen"])
    # Python decodes what Node wrote exactly as Node does.
    ours = np.concatenate([tt.decode_segment(s).reshape(-1) for s in tt.split_segments(node_bytes)])
    assert np.array_equal(bits(ours), bits(node_decoded))
    # And writes the same bytes from the same frames and options.
    c = tt.TemporalTensorCompressor(
        case["tensorLen"],
        policy={snake(k): v for k, v in case["policy"].items()},
        format=case["format"],
        keyframe_interval=case["keyframeInterval"],
    )
    out = c.push_many(frames, case["ts"])
    last = c.flush()
    assert b"".join(out + ([last] if last else [])) == node_bytes


def test_errors_carry_the_shared_codes():
    table = json.loads((VECTORS / "error_codes.json").read_text())
    assert tt.ERROR_CODES == table
    cases = [
        (lambda: tt.decode_segment(b"TQT"), "TRUNCATED"),
        (lambda: tt.decode_segment(b"XXXX" + bytes(40)), "BAD_MAGIC"),
        (lambda: tt.segment_info(b"TQTC\x09" + bytes(40)), "UNSUPPORTED_VERSION"),
        (lambda: tt.TemporalTensorCompressor(0), "INVALID_CONFIG"),
        (lambda: tt.TemporalTensorCompressor(4).push(np.zeros(3, np.float32), 0), "LENGTH_MISMATCH"),
        (lambda: tt.TemporalTensorCompressor(2).push([1.0, float("nan")], 0), "NON_FINITE"),
        (lambda: tt.TemporalTensorCompressor(4, now_ts=-1), "INVALID_ARGUMENT"),
        (lambda: tt.decode_segment("not bytes"), "INVALID_ARGUMENT"),
    ]
    for call, code in cases:
        with pytest.raises(tt.TemporalTensorError) as info:
            call()
        assert info.value.code == code, (code, str(info.value))
        assert code in table
    seg = (VECTORS / manifest()[0]["tqtc"]).read_bytes()
    first = next(tt.split_segments(seg))
    with pytest.raises(tt.TemporalTensorError) as info:
        tt.decode_frame(first, 10**6)
    assert info.value.code == "FRAME_OUT_OF_RANGE"
    with pytest.raises(tt.TemporalTensorError) as info:
        tt.decode_segment_into(first, np.zeros(1, np.float32))
    assert info.value.code == "BUFFER_TOO_SMALL"
    c = tt.TemporalTensorCompressor(4)
    c.free()
    with pytest.raises(tt.TemporalTensorError) as info:
        c.flush()
    assert info.value.code == "INVALID_HANDLE"


def test_round_trip_within_the_bound_with_numpy_shapes():
    rng = np.random.default_rng(7)
    frames = np.cumsum(rng.standard_normal((40, 300)).astype(np.float32) * 0.05, axis=0) + 1
    for fmt in ("coded", "packed"):
        c = tt.TemporalTensorCompressor(300, format=fmt)
        c.set_access(1000, 0)
        segs = c.push_many(frames, 1) + [c.flush()]
        back = np.concatenate([tt.decode_segment(s) for s in segs if s])
        assert back.shape == frames.shape and back.dtype == np.float32
        for frame, dec in zip(frames, back):
            assert np.max(np.abs(frame - dec)) / np.max(np.abs(frame)) < 0.008
        # Non-contiguous and float64 input is converted, with the same result.
        c2 = tt.TemporalTensorCompressor(300, format=fmt)
        c2.set_access(1000, 0)
        wide = np.asfortranarray(frames.astype(np.float64))
        assert c2.push_many(wide, 1) + [c2.flush()] == segs


def test_decoders_release_the_gil():
    # Decodes on several threads at once give the same values as one thread (the GIL is
    # released inside the core; this checks that doing so is safe, not a speed).
    c = tt.TemporalTensorCompressor(4096, format="coded")
    frames = np.sin(np.arange(64 * 4096, dtype=np.float32) / 50).reshape(64, 4096)
    segs = c.push_many(frames, 0) + [c.flush()]
    segs = [s for s in segs if s]
    want = [tt.decode_segment(s) for s in segs]
    results = {}

    def work(k):
        results[k] = [tt.decode_segment(s) for s in segs]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert all(np.array_equal(a, b) for a, b in zip(results[k], want))
