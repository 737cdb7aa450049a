//! N-API bindings for `ruvector-temporal-tensor`: a thin layer that moves typed arrays in and out
//! and turns the core's [`Error`] into a JS `Error` whose `code` is [`Error::code`].
//!
//! The typed public API lives in the npm package's TypeScript facade (`src-ts/`); this module
//! only mirrors the core. Argument ranges (u32 timestamps, counts) are checked by the facade.
#![deny(missing_docs)]

use napi::bindgen_prelude::{Float32Array, Uint8Array};
use napi_derive::napi;
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Error, TemporalTensorCompressor};

/// The JS error code: the core's stable code string.
pub struct Code(&'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

type Result<T> = napi::Result<T, Code>;

fn js_error(error: Error) -> napi::Error<Code> {
    napi::Error::new(Code(error.code()), error.to_string())
}

/// A compressor for one stream of frames (mirrors `TemporalTensorCompressor`).
#[napi]
pub struct NativeCompressor {
    inner: TemporalTensorCompressor,
}

#[napi]
impl NativeCompressor {
    /// Creates a compressor; the policy fields are `TierPolicy`'s, in order, then `fixed_bits`,
    /// the format (0 packed, 1 coded), the keyframe interval of coded segments and a bound to keep
    /// instead of the tiers' (0: the tiers').
    #[napi(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
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
        bound: f64,
    ) -> Result<Self> {
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
            bound as f32,
        )
        .map_err(js_error)?;
        Ok(NativeCompressor { inner })
    }

    /// Compresses one frame; returns the segment it finished, if any.
    #[napi]
    pub fn push(&mut self, frame: &[f32], now_ts: u32) -> Result<Option<Uint8Array>> {
        let mut out = Vec::new();
        self.inner
            .push_frame(frame, now_ts, &mut out)
            .map_err(js_error)?;
        Ok((!out.is_empty()).then(|| Uint8Array::new(out)))
    }

    /// Compresses frames stored back to back; returns the segments finished, in order.
    #[napi]
    pub fn push_many(&mut self, frames: &[f32], now_ts: u32) -> Result<Vec<Uint8Array>> {
        let segments = self
            .inner
            .push_frames_split(frames, now_ts)
            .map_err(js_error)?;
        Ok(segments.into_iter().map(Uint8Array::new).collect())
    }

    /// Finishes the open segment; returns it, or `null` when none was open.
    #[napi]
    pub fn flush(&mut self) -> Option<Uint8Array> {
        let mut out = Vec::new();
        self.inner.flush(&mut out);
        (!out.is_empty()).then(|| Uint8Array::new(out))
    }

    /// The open segment as it would be if finished now, without finishing it; `null` when none.
    #[napi]
    pub fn peek(&self) -> Option<Uint8Array> {
        let mut out = Vec::new();
        self.inner.peek(&mut out);
        (!out.is_empty()).then(|| Uint8Array::new(out))
    }

    /// Records one access.
    #[napi]
    pub fn touch(&mut self, now_ts: u32) {
        self.inner.touch(now_ts);
    }

    /// Replaces the access statistics.
    #[napi]
    pub fn set_access(&mut self, access_count: u32, last_access_ts: u32) {
        self.inner.set_access(access_count, last_access_ts);
    }

    /// `[tensorLen, activeBits (0 = none), activeFrames, pendingLen, accessCount, lastAccessTs]`.
    #[napi]
    pub fn info(&self) -> Vec<u32> {
        let c = &self.inner;
        vec![
            c.tensor_len(),
            c.active_bits().unwrap_or(0) as u32,
            c.active_frames(),
            u32::try_from(c.pending_segment_len()).unwrap_or(u32::MAX),
            c.access_count(),
            c.last_access_ts(),
        ]
    }
}

/// Decodes every frame of a segment.
#[napi]
pub fn decode_segment(segment_bytes: &[u8]) -> Result<Float32Array> {
    let mut out = Vec::new();
    segment::decode(segment_bytes, &mut out).map_err(js_error)?;
    Ok(Float32Array::new(out))
}

/// Decodes every frame of a segment into `out` (at least `frameCount * tensorLen` values);
/// returns the number of values written.
#[napi]
pub fn decode_segment_into(segment_bytes: &[u8], mut out: Float32Array) -> Result<u32> {
    // SAFETY: `out` is the caller's Float32Array, borrowed only for this synchronous call; JS
    // code cannot run (and touch it) until it returns.
    let out = unsafe { out.as_mut() };
    segment::decode_into(segment_bytes, out)
        .map(|(_, written)| written as u32)
        .map_err(js_error)
}

/// Decodes frame `index` of a segment alone.
#[napi]
pub fn decode_frame(segment_bytes: &[u8], index: u32) -> Result<Float32Array> {
    segment::decode_frame(segment_bytes, index as u64)
        .map(Float32Array::new)
        .map_err(js_error)
}

/// `[version, bits, groupLen, tensorLen, frameCount, scaleCount, byteLength, bound,
/// keyframeInterval]` of a segment (`bound` is the stored f32, widened).
#[napi]
pub fn segment_info(segment_bytes: &[u8]) -> Result<Vec<f64>> {
    let h: SegmentHeader = SegmentHeader::parse(segment_bytes).map_err(js_error)?;
    Ok(vec![
        h.version as f64,
        h.bits as f64,
        h.group_len as f64,
        h.tensor_len as f64,
        h.frame_count as f64,
        h.scale_count as f64,
        h.byte_len as f64,
        h.bound as f64,
        h.keyframe_interval as f64,
    ])
}

/// Name of the kernel set in use (`"avx2+bmi2"`, `"neon"`, `"scalar"`, ...).
#[napi]
pub fn kernels() -> &'static str {
    ruvector_temporal_tensor::kernels::active_name()
}
