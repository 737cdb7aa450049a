//! Python bindings for `ruvector-temporal-tensor` (the `temporal_tensor._native` module).
//!
//! A thin layer: numpy `float32` arrays in (borrowed, never copied, when C-contiguous), segments
//! out as `bytes`, decoded values out as numpy arrays that take over the Rust buffer (no copy).
//! Every failure raises `TemporalTensorError` with `code` set to the core's [`Error::code`]. The
//! GIL is released while the core computes. The Python API is `python/temporal_tensor/`.
#![deny(missing_docs)]

use numpy::{PyArray1, PyReadonlyArray1, PyReadwriteArray1};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Error, TemporalTensorCompressor, TierPolicy};

create_exception!(
    temporal_tensor,
    TemporalTensorError,
    PyException,
    "Every error of the package. `code` is a stable string shared with the JavaScript and C \
     layers (`ERROR_CODES` maps each to its C status)."
);

/// A `TemporalTensorError` with `code` and a message.
fn coded(py: Python<'_>, code: &str, message: String) -> PyErr {
    let err = TemporalTensorError::new_err(message);
    // Setting an attribute on a fresh exception instance cannot fail in practice; if it did,
    // the error is still the right class.
    let _ = err.value(py).setattr("code", code);
    err
}

/// The core's error as a `TemporalTensorError`.
fn py_err(py: Python<'_>, error: Error) -> PyErr {
    coded(py, error.code(), error.to_string())
}

/// A contiguous view of a float32 array, or `INVALID_ARGUMENT`.
fn floats<'a>(py: Python<'_>, array: &'a PyReadonlyArray1<'_, f32>) -> PyResult<&'a [f32]> {
    array.as_slice().map_err(|_| {
        coded(
            py,
            Error::InvalidArgument.code(),
            "frames must be a C-contiguous float32 array".into(),
        )
    })
}

/// A compressor for one stream of frames (mirrors the core's `TemporalTensorCompressor`).
#[pyclass(module = "temporal_tensor._native")]
struct NativeCompressor {
    /// `None` once freed.
    inner: Option<TemporalTensorCompressor>,
}

impl NativeCompressor {
    fn live(&mut self, py: Python<'_>) -> PyResult<&mut TemporalTensorCompressor> {
        self.inner
            .as_mut()
            .ok_or_else(|| py_err(py, Error::InvalidHandle))
    }

    fn live_ref(&self, py: Python<'_>) -> PyResult<&TemporalTensorCompressor> {
        self.inner
            .as_ref()
            .ok_or_else(|| py_err(py, Error::InvalidHandle))
    }
}

#[pymethods]
impl NativeCompressor {
    /// The flat options of `TemporalTensorCompressor::from_flat_options`: the policy fields,
    /// then `fixed_bits`, `format` (0 packed, 1 coded), the keyframe interval and a bound (0: the
    /// tiers').
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        tensor_len: u32,
        now_ts: u32,
        hot_min_score: u32,
        warm_min_score: u32,
        warm_bits: u32,
        drift_pct_q8: u32,
        group_len: u32,
        max_segment_frames: u32,
        fixed_bits: u32,
        format: u32,
        keyframe_interval: u32,
        bound: f32,
    ) -> PyResult<Self> {
        let inner = TemporalTensorCompressor::from_flat_options(
            tensor_len,
            now_ts,
            hot_min_score,
            warm_min_score,
            warm_bits,
            drift_pct_q8,
            group_len,
            max_segment_frames,
            fixed_bits,
            format,
            keyframe_interval,
            bound,
        )
        .map_err(|e| py_err(py, e))?;
        Ok(NativeCompressor { inner: Some(inner) })
    }

    /// Compresses `frames` (a multiple of `tensor_len` values, frame after frame, all at
    /// `now_ts`); returns the segments finished, as `bytes`. All or nothing.
    fn push_many<'py>(
        &mut self,
        py: Python<'py>,
        frames: PyReadonlyArray1<'_, f32>,
        now_ts: u32,
    ) -> PyResult<Bound<'py, PyList>> {
        let frames = floats(py, &frames)?;
        let inner = self.live(py)?;
        let segments = py
            .detach(|| inner.push_frames_split(frames, now_ts))
            .map_err(|e| py_err(py, e))?;
        PyList::new(py, segments.iter().map(|s| PyBytes::new(py, s)))
    }

    /// Finishes the open segment; `None` when none is open.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut out = Vec::new();
        self.live(py)?.flush(&mut out);
        Ok((!out.is_empty()).then(|| PyBytes::new(py, &out)))
    }

    /// The open segment as it would be if finished now (not finished); `None` when none is open.
    fn peek<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut out = Vec::new();
        self.live_ref(py)?.peek(&mut out);
        Ok((!out.is_empty()).then(|| PyBytes::new(py, &out)))
    }

    /// Records one access at `now_ts`.
    fn touch(&mut self, py: Python<'_>, now_ts: u32) -> PyResult<()> {
        self.live(py)?.touch(now_ts);
        Ok(())
    }

    /// Sets the access statistics the tier is computed from.
    fn set_access(
        &mut self,
        py: Python<'_>,
        access_count: u32,
        last_access_ts: u32,
    ) -> PyResult<()> {
        self.live(py)?.set_access(access_count, last_access_ts);
        Ok(())
    }

    /// Drops the compressor's state now (an open segment is lost: flush first); later calls
    /// raise `INVALID_HANDLE`.
    fn free(&mut self) {
        self.inner = None;
    }

    /// `(tensor_len, active_bits (0 = none), active_frames, pending_len, access_count,
    /// last_access_ts)`.
    fn info(&self, py: Python<'_>) -> PyResult<(u32, u8, u32, usize, u32, u32)> {
        let c = self.live_ref(py)?;
        Ok((
            c.tensor_len(),
            c.active_bits().unwrap_or(0),
            c.active_frames(),
            c.pending_segment_len(),
            c.access_count(),
            c.last_access_ts(),
        ))
    }
}

/// Decodes every frame of a segment: a new float32 array of `frame_count * tensor_len` values
/// (at most `limits::MAX_DECODE_VALUES`), handed to numpy without a copy.
#[pyfunction]
fn decode_segment<'py>(py: Python<'py>, segment: &[u8]) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let mut out = Vec::new();
    py.detach(|| segment::decode(segment, &mut out))
        .map_err(|e| py_err(py, e))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Decodes every frame of a segment into `out` (a writable, C-contiguous float32 array of at
/// least `frame_count * tensor_len` values); returns the number of values written.
#[pyfunction]
fn decode_segment_into(
    py: Python<'_>,
    segment: &[u8],
    mut out: PyReadwriteArray1<'_, f32>,
) -> PyResult<usize> {
    let out = out.as_slice_mut().map_err(|_| {
        coded(
            py,
            Error::InvalidArgument.code(),
            "out must be a writable C-contiguous float32 array".into(),
        )
    })?;
    py.detach(|| segment::decode_into(segment, out))
        .map(|(_, written)| written)
        .map_err(|e| py_err(py, e))
}

/// Decodes frame `index` of a segment alone: a new float32 array of `tensor_len` values.
#[pyfunction]
fn decode_frame<'py>(
    py: Python<'py>,
    segment: &[u8],
    index: u64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let out = py
        .detach(|| segment::decode_frame(segment, index))
        .map_err(|e| py_err(py, e))?;
    Ok(PyArray1::from_vec(py, out))
}

/// The validated header of the segment at the start of `segment`, as a dict.
#[pyfunction]
fn segment_info<'py>(py: Python<'py>, segment: &[u8]) -> PyResult<Bound<'py, PyDict>> {
    let h: SegmentHeader = SegmentHeader::parse(segment).map_err(|e| py_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("version", h.version)?;
    d.set_item("format", h.format().name())?;
    d.set_item("bits", h.bits)?;
    d.set_item("group_len", h.group_len)?;
    d.set_item("tensor_len", h.tensor_len)?;
    d.set_item("frame_count", h.frame_count)?;
    d.set_item("scale_count", h.scale_count)?;
    d.set_item("byte_length", h.byte_len)?;
    d.set_item("bound", h.bound)?;
    d.set_item("keyframe_interval", h.keyframe_interval)?;
    d.set_item("frame_padded", h.frame_padded)?;
    d.set_item("compression_ratio", h.compression_ratio())?;
    Ok(d)
}

/// Byte length of every segment stored back to back in `data`, in order; raises on the first
/// segment that does not validate.
#[pyfunction]
fn segment_lengths(py: Python<'_>, data: &[u8]) -> PyResult<Vec<usize>> {
    segment::split_segments(data)
        .map(|part| part.map(|(h, _)| h.byte_len).map_err(|e| py_err(py, e)))
        .collect()
}

/// Name of the kernel set in use (`"avx2+bmi2"`, `"neon"`, `"scalar"`, ...).
#[pyfunction]
fn kernels() -> &'static str {
    ruvector_temporal_tensor::kernels::active_name()
}

/// The `temporal_tensor._native` extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TemporalTensorError", py.get_type::<TemporalTensorError>())?;
    let codes = PyDict::new(py);
    for (status, code) in Error::CODES {
        codes.set_item(code, status)?;
    }
    m.add("ERROR_CODES", codes)?;
    let p = TierPolicy::default();
    let policy = PyDict::new(py);
    policy.set_item("hot_min_score", p.hot_min_score)?;
    policy.set_item("warm_min_score", p.warm_min_score)?;
    policy.set_item("warm_bits", p.warm_bits)?;
    policy.set_item("drift_pct_q8", p.drift_pct_q8)?;
    policy.set_item("group_len", p.group_len)?;
    policy.set_item("max_segment_frames", p.max_segment_frames)?;
    policy.set_item("fixed_bits", p.fixed_bits)?;
    m.add("DEFAULT_POLICY", policy)?;
    m.add(
        "DEFAULT_KEYFRAME_INTERVAL",
        ruvector_temporal_tensor::coded::DEFAULT_KEYFRAME_INTERVAL,
    )?;
    m.add(
        "MAX_DECODE_VALUES",
        ruvector_temporal_tensor::limits::MAX_DECODE_VALUES,
    )?;
    m.add_class::<NativeCompressor>()?;
    m.add_function(wrap_pyfunction!(decode_segment, m)?)?;
    m.add_function(wrap_pyfunction!(decode_segment_into, m)?)?;
    m.add_function(wrap_pyfunction!(decode_frame, m)?)?;
    m.add_function(wrap_pyfunction!(segment_info, m)?)?;
    m.add_function(wrap_pyfunction!(segment_lengths, m)?)?;
    m.add_function(wrap_pyfunction!(kernels, m)?)?;
    Ok(())
}
