"""Compress streams of float32 tensor frames with bounded error, into TQTC segments.

numpy arrays in (C-contiguous float32 arrays are read in place, other array-likes are converted
once), segments out as ``bytes``, decoded values out as numpy arrays. The same Rust core as the
npm package computes everything, so segments are byte-for-byte those the Node, WebAssembly and C
builds write and read. The GIL is released while the core works.

    >>> import numpy as np, temporal_tensor as tt
    >>> c = tt.TemporalTensorCompressor(512)
    >>> c.set_access(100, 0)                     # hot tier: 8-bit bound
    >>> frames = np.random.default_rng(0).standard_normal((10, 512), dtype=np.float32)
    >>> segments = c.push_many(frames, 1) + [c.flush()]
    >>> tt.decode_segment(segments[-1]).shape
    (10, 512)

Every failure raises :class:`TemporalTensorError`; its ``code`` is one of ``ERROR_CODES`` (the
same strings as the JavaScript errors' ``code`` and the C ABI's ``TTC_*`` statuses).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

import numpy as np

from ._native import (
    DEFAULT_KEYFRAME_INTERVAL,
    DEFAULT_POLICY,
    ERROR_CODES,
    MAX_DECODE_VALUES,
    NativeCompressor as _NativeCompressor,
    TemporalTensorError,
    decode_frame as _decode_frame,
    decode_segment as _decode_segment,
    decode_segment_into as _decode_segment_into,
    kernels,
    segment_info as _segment_info,
    segment_lengths as _segment_lengths,
)

__all__ = [
    "DEFAULT_FORMAT",
    "DEFAULT_KEYFRAME_INTERVAL",
    "DEFAULT_POLICY",
    "ERROR_CODES",
    "MAX_DECODE_VALUES",
    "TemporalTensorCompressor",
    "TemporalTensorError",
    "decode_frame",
    "decode_segment",
    "decode_segment_into",
    "kernels",
    "segment_info",
    "split_segments",
]

#: The format a compressor writes unless told otherwise (as the npm package's ``DEFAULT_FORMAT``).
DEFAULT_FORMAT = "coded"
_FORMATS = {"packed": 0, "coded": 1}
_U32_MAX = 2**32 - 1


def _error(code: str, message: str) -> TemporalTensorError:
    err = TemporalTensorError(message)
    err.code = code
    return err


def _u32(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise _error("INVALID_ARGUMENT", f"{name} must be an integer in [0, 2^32), got {value!r}")
    if not 0 <= int(value) <= _U32_MAX:
        raise _error("INVALID_ARGUMENT", f"{name} must be in [0, 2^32), got {value}")
    return int(value)


def _floats(frames: Any) -> np.ndarray:
    """A flat, C-contiguous float32 view of ``frames`` (no copy when it already is one)."""
    try:
        array = np.ascontiguousarray(frames, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise _error("INVALID_ARGUMENT", f"frames must be float32 array-like: {e}") from None
    return array.reshape(-1)


def _segment(segment: Any) -> bytes:
    if isinstance(segment, bytes):
        return segment
    if isinstance(segment, (bytearray, memoryview)):
        return bytes(segment)
    if isinstance(segment, np.ndarray) and segment.dtype == np.uint8:
        return segment.tobytes()
    raise _error("INVALID_ARGUMENT", "a segment must be bytes, bytearray, memoryview or uint8 array")


class TemporalTensorCompressor:
    """Compresses one stream of equal-length float32 frames into TQTC segments.

    Each frame is stored at the width of its tensor's tier (hot 8 bits, warm 7 or 5, cold 3, from
    the access statistics) and decodes within that width's bound on ``max|v - v'| / max|v|``
    (0.8 %, 1.6 %, 6.5 %, 30 %). A call that raises changes nothing.

    Args:
        tensor_len: values per frame, 1..=2^24.
        now_ts: timestamp (u32 ticks) at creation.
        policy: overrides of ``DEFAULT_POLICY`` (ADR-017 §3.4; snake_case keys).
        format: ``"coded"`` (TQTC v3, smallest) or ``"packed"`` (v1/v2, the ADR's fixed-width
            layout).
        keyframe_interval: frames per keyframe block of coded segments, 1..=65535.
        bound: coded segments only: keep every frame within this bound, in (0, 1), instead of its
            tier's.
    """

    def __init__(
        self,
        tensor_len: int,
        *,
        now_ts: int = 0,
        policy: Optional[Mapping[str, int]] = None,
        format: str = DEFAULT_FORMAT,
        keyframe_interval: int = DEFAULT_KEYFRAME_INTERVAL,
        bound: Optional[float] = None,
    ) -> None:
        merged = dict(DEFAULT_POLICY)
        for key, value in (policy or {}).items():
            if key not in DEFAULT_POLICY:
                raise _error("INVALID_ARGUMENT", f'unknown policy option "{key}"')
            merged[key] = _u32(value, f"policy.{key}")
        if format not in _FORMATS:
            raise _error("INVALID_ARGUMENT", f"format must be 'coded' or 'packed', got {format!r}")
        if bound is not None and not (isinstance(bound, (int, float)) and 0 < bound < 1):
            raise _error("INVALID_CONFIG", f"bound must be in (0, 1), got {bound!r}")
        self._native = _NativeCompressor(
            _u32(tensor_len, "tensor_len"),
            _u32(now_ts, "now_ts"),
            merged["hot_min_score"],
            merged["warm_min_score"],
            merged["warm_bits"],
            merged["drift_pct_q8"],
            merged["group_len"],
            merged["max_segment_frames"],
            merged["fixed_bits"],
            _FORMATS[format],
            _u32(keyframe_interval, "keyframe_interval"),
            0.0 if bound is None else float(bound),
        )
        self.tensor_len = int(tensor_len)

    def push(self, frame: Any, now_ts: int) -> Optional[bytes]:
        """Compresses one frame of ``tensor_len`` values; returns the segment it finished, if
        any (``LENGTH_MISMATCH`` for another length, ``NON_FINITE`` for NaN or ±Inf)."""
        values = _floats(frame)
        if values.size != self.tensor_len:
            raise _error(
                "LENGTH_MISMATCH",
                f"length mismatch: expected {self.tensor_len}, got {values.size}",
            )
        done = self._native.push_many(values, _u32(now_ts, "now_ts"))
        return done[0] if done else None

    def push_many(self, frames: Any, now_ts: int) -> list:
        """Compresses frames stored back to back (shape ``(k, tensor_len)`` or a flat multiple of
        ``tensor_len``), all at ``now_ts``; returns every segment finished. All or nothing."""
        return self._native.push_many(_floats(frames), _u32(now_ts, "now_ts"))

    def flush(self) -> Optional[bytes]:
        """Finishes the open segment; ``None`` when none is open."""
        return self._native.flush()

    def peek(self) -> Optional[bytes]:
        """The open segment as it would be if finished now, without finishing it."""
        return self._native.peek()

    def touch(self, now_ts: int) -> None:
        """Records one access at ``now_ts``."""
        self._native.touch(_u32(now_ts, "now_ts"))

    def set_access(self, access_count: int, last_access_ts: int) -> None:
        """Sets the access statistics the tier is computed from."""
        self._native.set_access(
            _u32(access_count, "access_count"), _u32(last_access_ts, "last_access_ts")
        )

    def free(self) -> None:
        """Releases the compressor now (an open segment is lost: flush first)."""
        self._native.free()

    def info(self) -> dict:
        """The compressor's state."""
        keys = ("tensor_len", "active_bits", "active_frames", "pending_len", "access_count",
                "last_access_ts")
        return dict(zip(keys, self._native.info()))


def decode_segment(segment: Any) -> np.ndarray:
    """Decodes every frame of a segment: a new float32 array of shape
    ``(frame_count, tensor_len)``."""
    data = _segment(segment)
    info = segment_info(data)
    return _decode_segment(data).reshape(info["frame_count"], info["tensor_len"])


def decode_segment_into(segment: Any, out: np.ndarray) -> int:
    """Decodes every frame of a segment into ``out`` (a writable, C-contiguous float32 array
    with room for ``frame_count * tensor_len`` values); returns the number of values written."""
    if not (
        isinstance(out, np.ndarray)
        and out.dtype == np.float32
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        raise _error("INVALID_ARGUMENT", "out must be a writable C-contiguous float32 array")
    return _decode_segment_into(_segment(segment), out.reshape(-1))


def decode_frame(segment: Any, index: int) -> np.ndarray:
    """Decodes frame ``index`` of a segment alone: a new float32 array of ``tensor_len``
    values."""
    return _decode_frame(_segment(segment), _u32(index, "index"))


def segment_info(segment: Any) -> dict:
    """The validated header of the segment at the start of ``segment``: ``version``,
    ``format`` (``"packed"`` or ``"coded"``), ``bits``, ``group_len``, ``tensor_len``,
    ``frame_count``, ``scale_count``, ``byte_length``, ``bound``, ``keyframe_interval``,
    ``frame_padded`` (a packed segment whose frames start on byte boundaries, see
    docs/format.md) and ``compression_ratio``."""
    return _segment_info(_segment(segment))


def split_segments(data: Any) -> Iterator[bytes]:
    """The segments of bytes holding them back to back (a ``.tqtc`` file), in order."""
    buf = _segment(data)
    view = memoryview(buf)
    at = 0
    for length in _segment_lengths(buf):
        yield bytes(view[at : at + length])
        at += length
