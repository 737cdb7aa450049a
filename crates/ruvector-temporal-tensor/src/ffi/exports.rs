//! The `ttc_*` functions over compressors and segments (see the module docs of [`super`]).

use super::abi::{input, put, run, with_buffers};
use super::handles::STORE;
use crate::compressor::TemporalTensorCompressor;
use crate::error::Error;
use crate::segment::{self, SegmentHeader};
use crate::tier_policy::TierPolicy;

/// Header fields of a segment, as filled in by [`ttc_segment_info`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TtcSegmentInfo {
    /// Format version (1 or 2: packed; 3 or 4: coded).
    pub version: u32,
    /// Bits per code.
    pub bits: u32,
    /// Values per group.
    pub group_len: u32,
    /// Values per frame.
    pub tensor_len: u32,
    /// Frames in the segment.
    pub frame_count: u32,
    /// Number of scales.
    pub scale_count: u32,
    /// The segment's length in bytes.
    pub byte_length: u32,
    /// The bound on `max|v − v'| / max|v|` every frame keeps.
    pub bound: f32,
    /// The most frames decoding one frame touches (1 for packed segments).
    pub keyframe_interval: u32,
}

/// A compressor's state, as filled in by [`ttc_compressor_info`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtcCompressorInfo {
    /// Values per frame.
    pub tensor_len: u32,
    /// Bits of the open segment, 0 when none is open.
    pub active_bits: u32,
    /// Frames in the open segment.
    pub active_frames: u32,
    /// Bytes the open segment would take if finished now (exact for packed segments, an upper
    /// bound for coded ones): an output capacity that is always enough for the next push or
    /// flush.
    pub pending_len: u32,
    /// Accesses recorded.
    pub access_count: u32,
    /// Timestamp of the last access.
    pub last_access_ts: u32,
}

/// Creates a compressor with the default policy for frames of `len` values; writes its handle.
///
/// # Safety
/// `out_handle` must be null or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ttc_create(len: u32, now_ts: u32, out_handle: *mut u32) -> i32 {
    let p = TierPolicy::default();
    // SAFETY: forwarded caller contract.
    unsafe {
        ttc_create_with_policy(
            len,
            now_ts,
            p.hot_min_score,
            p.warm_min_score,
            p.warm_bits as u32,
            p.drift_pct_q8,
            p.group_len,
            p.max_segment_frames,
            out_handle,
        )
    }
}

/// Creates a compressor with an explicit policy (the fields of [`TierPolicy`], in order).
///
/// Errors: `INVALID_CONFIG`, `LIMIT_EXCEEDED` (tensor length or live handles), `NULL_POINTER`.
///
/// # Safety
/// `out_handle` must be null or valid for a write.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ttc_create_with_policy(
    len: u32,
    now_ts: u32,
    hot_min_score: u32,
    warm_min_score: u32,
    warm_bits: u32,
    drift_pct_q8: u32,
    group_len: u32,
    max_segment_frames: u32,
    out_handle: *mut u32,
) -> i32 {
    // Packed segments, the tiers' widths and bounds: the options' defaults.
    // SAFETY: forwarded caller contract.
    unsafe {
        ttc_create_with_options(
            len,
            now_ts,
            hot_min_score,
            warm_min_score,
            warm_bits,
            drift_pct_q8,
            group_len,
            max_segment_frames,
            0,
            0,
            crate::coded::DEFAULT_KEYFRAME_INTERVAL,
            0.0,
            out_handle,
        )
    }
}

/// Like [`ttc_create_with_policy`], also choosing the width (`fixed_bits`: 0 lets the tiers
/// decide, else 8, 7, 5 or 3), the segment format (`format`: 0 packed, versions 1/2; 1 coded,
/// version 3) and, for coded segments, the frames per keyframe block (`keyframe_interval`,
/// 1..=65535) and a bound to keep instead of the tiers' (`bound`: 0 for the tiers', else in
/// `(0, 1)`; see `TemporalTensorCompressor::set_bound`).
///
/// Errors: `INVALID_CONFIG`, `LIMIT_EXCEEDED`, `NULL_POINTER`.
///
/// # Safety
/// `out_handle` must be null or valid for writing a `u32`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ttc_create_with_options(
    len: u32,
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
    out_handle: *mut u32,
) -> i32 {
    run(|| {
        if out_handle.is_null() {
            return Err(Error::NullPointer);
        }
        let compressor = TemporalTensorCompressor::from_flat_options(
            len,
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
        )?;
        let handle = STORE.lock().insert(compressor)?;
        // SAFETY: checked non-null above; valid per the caller.
        unsafe { put(out_handle, handle) }
    })
}

/// Frees a compressor; its open segment (if any) is discarded, so flush first to keep it.
///
/// Errors: `INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn ttc_free(handle: u32) -> i32 {
    run(|| STORE.lock().remove(handle))
}

/// Records one access at `now_ts`.
///
/// Errors: `INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn ttc_touch(handle: u32, now_ts: u32) -> i32 {
    run(|| {
        STORE.lock().get(handle)?.touch(now_ts);
        Ok(())
    })
}

/// Replaces a compressor's access statistics.
///
/// Errors: `INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn ttc_set_access(handle: u32, access_count: u32, last_access_ts: u32) -> i32 {
    run(|| {
        STORE
            .lock()
            .get(handle)?
            .set_access(access_count, last_access_ts);
        Ok(())
    })
}

/// Writes the bits per code (8, 7, 5 or 3) a frame pushed at `now_ts` would be stored with, as
/// the compressor's policy picks them from its access statistics (or its fixed width). Changes
/// nothing.
///
/// Errors: `INVALID_HANDLE`, `NULL_POINTER`.
///
/// # Safety
/// `out_bits` must be null or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ttc_bits_at(handle: u32, now_ts: u32, out_bits: *mut u32) -> i32 {
    run(|| {
        if out_bits.is_null() {
            return Err(Error::NullPointer);
        }
        let bits = STORE.lock().get(handle)?.bits_at(now_ts);
        // SAFETY: checked non-null above; valid per the caller.
        unsafe { put(out_bits, bits as u32) }
    })
}

/// Writes the bound on `max|v − v'| / max|v|` every frame stored at `bits` (8, 7, 5 or 3) keeps:
/// [`crate::quantizer::error_bound`] (0.008, 0.016, 0.065, 0.30).
///
/// Errors: `INVALID_ARGUMENT` for another width, `NULL_POINTER`.
///
/// # Safety
/// `out_bound` must be null or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn ttc_error_bound(bits: u32, out_bound: *mut f32) -> i32 {
    run(|| {
        if out_bound.is_null() {
            return Err(Error::NullPointer);
        }
        let bound = crate::quantizer::error_bound(bits).ok_or(Error::InvalidArgument)?;
        // SAFETY: checked non-null above; valid per the caller.
        unsafe { put(out_bound, bound) }
    })
}

/// Compresses one frame of `len` values. When this finishes a segment, writes it to `out_ptr`
/// and its length to `*out_written`; otherwise `*out_written = 0`.
///
/// Errors (nothing consumed): `INVALID_HANDLE`, `NULL_POINTER`, `MISALIGNED`,
/// `LENGTH_MISMATCH`, `NON_FINITE`, `BUFFER_TOO_SMALL` (needed bytes in `*out_written`).
///
/// # Safety
/// See the module docs: `in_ptr` readable for `len` floats, `out_ptr` writable for `out_cap`
/// bytes, `out_written` writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_push_frame(
    handle: u32,
    now_ts: u32,
    in_ptr: *const f32,
    len: usize,
    out_ptr: *mut u8,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        with_buffers(in_ptr, len, out_ptr, out_cap, out_written, |frame, out| {
            STORE
                .lock()
                .get(handle)?
                .push_frame_into(frame, now_ts, out)
        })
    }
}

/// Compresses `len / tensor_len` frames stored back to back, all at `now_ts`; writes every
/// segment this finishes to `out_ptr`, back to back, and their total length to `*out_written`.
///
/// All or nothing. `out_cap` must be at least the bound the call reports: with a smaller
/// buffer the call returns `BUFFER_TOO_SMALL` with that bound in `*out_written` before
/// compressing anything. Other errors as [`ttc_push_frame`] (`NON_FINITE` is checked for the
/// whole batch first; `LENGTH_MISMATCH` when `len` is not a multiple of the tensor length).
///
/// # Safety
/// As [`ttc_push_frame`].
#[no_mangle]
pub unsafe extern "C" fn ttc_push_frames(
    handle: u32,
    now_ts: u32,
    in_ptr: *const f32,
    len: usize,
    out_ptr: *mut u8,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        with_buffers(in_ptr, len, out_ptr, out_cap, out_written, |frames, out| {
            STORE
                .lock()
                .get(handle)?
                .push_frames_into(frames, now_ts, out)
        })
    }
}

/// Finishes the open segment, writing it to `out_ptr` and its length to `*out_written` (0 when
/// no segment was open).
///
/// Errors: `INVALID_HANDLE`, `NULL_POINTER`, `BUFFER_TOO_SMALL` (needed bytes in
/// `*out_written`; the segment stays open).
///
/// # Safety
/// `out_ptr` writable for `out_cap` bytes, `out_written` writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_flush(
    handle: u32,
    out_ptr: *mut u8,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract; the input is empty.
    unsafe {
        with_buffers(
            core::ptr::null::<u8>(),
            0,
            out_ptr,
            out_cap,
            out_written,
            |_, out| STORE.lock().get(handle)?.flush_into(out),
        )
    }
}

/// Writes the open segment as it would be if finished now, without finishing it (a snapshot of
/// the frames not yet emitted), and its length to `*out_written` (0 when none is open). A packed
/// snapshot is written straight into `out_ptr`.
///
/// Errors: `INVALID_HANDLE`, `NULL_POINTER`, `BUFFER_TOO_SMALL` (the exact bytes needed in
/// `*out_written`; nothing changes).
///
/// # Safety
/// `out_ptr` writable for `out_cap` bytes, `out_written` writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_peek(
    handle: u32,
    out_ptr: *mut u8,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract; the input is empty.
    unsafe {
        with_buffers(
            core::ptr::null::<u8>(),
            0,
            out_ptr,
            out_cap,
            out_written,
            |_, out| STORE.lock().get(handle)?.peek_into(out),
        )
    }
}

/// Fills `*out_info` with a compressor's state.
///
/// Errors: `INVALID_HANDLE`, `NULL_POINTER`.
///
/// # Safety
/// `out_info` must be null or writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_compressor_info(handle: u32, out_info: *mut TtcCompressorInfo) -> i32 {
    run(|| {
        if out_info.is_null() {
            return Err(Error::NullPointer);
        }
        let mut store = STORE.lock();
        let c = store.get(handle)?;
        let info = TtcCompressorInfo {
            tensor_len: c.tensor_len(),
            active_bits: c.active_bits().unwrap_or(0) as u32,
            active_frames: c.active_frames(),
            pending_len: u32::try_from(c.pending_segment_len()).unwrap_or(u32::MAX),
            access_count: c.access_count(),
            last_access_ts: c.last_access_ts(),
        };
        // SAFETY: checked non-null; writable per the caller.
        unsafe { put(out_info, info) }
    })
}

/// Decodes every frame of the segment at `seg_ptr` into `out_ptr` (`out_cap` floats); writes the
/// number of floats to `*out_written`.
///
/// Errors: the segment errors (`TRUNCATED`, `BAD_MAGIC`, `UNSUPPORTED_VERSION`,
/// `CORRUPT_SEGMENT`), `NULL_POINTER`, `MISALIGNED`, `BUFFER_TOO_SMALL` (needed floats in
/// `*out_written`).
///
/// # Safety
/// `seg_ptr` readable for `seg_len` bytes, `out_ptr` writable for `out_cap` floats.
#[no_mangle]
pub unsafe extern "C" fn ttc_decode_segment(
    seg_ptr: *const u8,
    seg_len: usize,
    out_ptr: *mut f32,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        with_buffers(
            seg_ptr,
            seg_len,
            out_ptr,
            out_cap,
            out_written,
            |bytes, out| segment::decode_into(bytes, out).map(|(_, written)| written),
        )
    }
}

/// Decodes frame `index` of the segment alone into `out_ptr`; writes `tensor_len` to
/// `*out_written`.
///
/// Errors: as [`ttc_decode_segment`], plus `FRAME_OUT_OF_RANGE`.
///
/// # Safety
/// `seg_ptr` readable for `seg_len` bytes, `out_ptr` writable for `out_cap` floats.
#[no_mangle]
pub unsafe extern "C" fn ttc_decode_frame(
    seg_ptr: *const u8,
    seg_len: usize,
    index: u32,
    out_ptr: *mut f32,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        with_buffers(
            seg_ptr,
            seg_len,
            out_ptr,
            out_cap,
            out_written,
            |bytes, out| {
                segment::decode_frame_into(bytes, index as u64, out).map(|h| h.tensor_len as usize)
            },
        )
    }
}

/// Validates the segment at `seg_ptr` and fills `*out_info` with its header.
///
/// Errors: the segment errors, `NULL_POINTER`.
///
/// # Safety
/// `seg_ptr` readable for `seg_len` bytes, `out_info` writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_segment_info(
    seg_ptr: *const u8,
    seg_len: usize,
    out_info: *mut TtcSegmentInfo,
) -> i32 {
    run(|| {
        if out_info.is_null() {
            return Err(Error::NullPointer);
        }
        // SAFETY: caller contract.
        let bytes = unsafe { input(seg_ptr, seg_len)? };
        let h: SegmentHeader = SegmentHeader::parse(bytes)?;
        let info = TtcSegmentInfo {
            version: h.version as u32,
            bits: h.bits as u32,
            group_len: h.group_len,
            tensor_len: h.tensor_len,
            frame_count: h.frame_count,
            scale_count: h.scale_count,
            byte_length: u32::try_from(h.byte_len).unwrap_or(u32::MAX),
            bound: h.bound,
            keyframe_interval: h.keyframe_interval,
        };
        // SAFETY: checked non-null; writable per the caller.
        unsafe { put(out_info, info) }
    })
}

/// Writes the name of the kernel set in use (`"avx2+bmi2"`, `"neon"`, `"simd128"`, `"scalar"`,
/// ...; see [`crate::kernels`]) to `out_ptr` and its length to `*out_written`.
///
/// Errors: `NULL_POINTER`, `BUFFER_TOO_SMALL` (needed bytes in `*out_written`).
///
/// # Safety
/// `out_ptr` writable for `out_cap` bytes, `out_written` writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_kernels(
    out_ptr: *mut u8,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    // SAFETY: forwarded caller contract; the input is empty.
    unsafe {
        with_buffers(
            core::ptr::null::<u8>(),
            0,
            out_ptr,
            out_cap,
            out_written,
            |_, out| {
                let name = crate::kernels::active_name().as_bytes();
                let available = out.len() as u64;
                let dst = out.get_mut(..name.len()).ok_or(Error::BufferTooSmall {
                    needed: name.len() as u64,
                    available,
                })?;
                dst.copy_from_slice(name);
                Ok(name.len())
            },
        )
    }
}
