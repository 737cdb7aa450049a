//! The `ttc_*` C ABI (feature `ffi`), shared by C callers and the WASM build.
//!
//! Conventions:
//! - Every function returns an `i32` status: `0` on success, otherwise a negative
//!   [`Error::status`] (the table is [`Error::CODES`]). `ttc_last_error` describes the last
//!   failure on the calling thread.
//! - Compressors live behind `u32` handles, issued from a 32-bit counter (never 0, never one
//!   that is live): a freed (stale) or never-issued handle is rejected with `INVALID_HANDLE`,
//!   and a stale handle names a compressor again only after the counter has gone all the way
//!   round, 2³² − 1 creations later. At most [`MAX_LIVE_HANDLES`] compressors live at once.
//! - On a 32-bit target (wasm32) a size that does not fit `usize` is `LIMIT_EXCEEDED`, never a
//!   truncated `BUFFER_TOO_SMALL` count.
//! - Lengths and capacities are `usize` (`size_t`): bytes for `u8` buffers, elements for `f32`
//!   buffers. On success `*out_written` receives what was written; on `BUFFER_TOO_SMALL` it
//!   receives the capacity needed, and nothing else changed, so the same call with a larger
//!   buffer succeeds.
//! - Null pointers give `NULL_POINTER`, misaligned `f32` pointers `MISALIGNED`. An empty input
//!   may pass a null pointer with length 0.
//! - No function unwinds into the caller: under `std`, a panic (a bug) becomes `INTERNAL`.
//!
//! # Safety
//! Non-null pointers must be valid for the stated lengths (reads for inputs, writes for
//! outputs), as in any C API; everything else is checked.

use crate::compressor::TemporalTensorCompressor;
use crate::error::Error;
use crate::segment::{self, SegmentHeader};
use crate::tier_policy::TierPolicy;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// Most compressors alive at once through this ABI.
pub const MAX_LIVE_HANDLES: usize = (1 << 20) - 1;

/// Header fields of a segment, as filled in by [`ttc_segment_info`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TtcSegmentInfo {
    /// Format version (1 or 2: packed; 3: coded).
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

/// A minimal lock: sound on native threads, free on single-threaded WASM.
struct Lock<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by `busy` (acquire/release).
unsafe impl<T: Send> Sync for Lock<T> {}

struct Guard<'a, T>(&'a Lock<T>);

impl<T> Lock<T> {
    const fn new(value: T) -> Self {
        Lock {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    fn lock(&self) -> Guard<'_, T> {
        // Single-threaded WebAssembly: nothing else can hold the lock, unless a call trapped
        // while it held it. Trap again (fail fast) rather than spin forever.
        #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
        if self.busy.load(Ordering::Relaxed) {
            core::panic!(
                "the ttc ABI lock is held: an earlier call trapped; instantiate the module again"
            );
        }
        while self
            .busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        Guard(self)
    }
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

struct Store {
    /// Live compressors by handle (lookups are O(log n)).
    live: BTreeMap<u32, TemporalTensorCompressor>,
    /// The next handle to issue (then counting up, wrapping, skipping 0 and live handles).
    next: u32,
    allocations: BTreeMap<usize, usize>,
}

static STORE: Lock<Store> = Lock::new(Store {
    live: BTreeMap::new(),
    next: 1,
    allocations: BTreeMap::new(),
});

impl Store {
    /// Issues a handle: the counter's next value that is neither 0 nor live. A freed handle is
    /// issued again only once the counter has passed every other value, 2³² − 1 creations on
    /// (each handle, live or freed, is a distinct value until then).
    fn insert(&mut self, compressor: TemporalTensorCompressor) -> Result<u32, Error> {
        if self.live.len() >= MAX_LIVE_HANDLES {
            return Err(Error::LimitExceeded {
                what: "live handles",
                max: MAX_LIVE_HANDLES as u64,
                requested: MAX_LIVE_HANDLES as u64 + 1,
            });
        }
        // At most MAX_LIVE_HANDLES values are live, so this ends within that many steps.
        let handle = loop {
            let h = self.next;
            self.next = self.next.wrapping_add(1);
            if h != 0 && !self.live.contains_key(&h) {
                break h;
            }
        };
        self.live.insert(handle, compressor);
        Ok(handle)
    }

    fn get(&mut self, handle: u32) -> Result<&mut TemporalTensorCompressor, Error> {
        self.live.get_mut(&handle).ok_or(Error::InvalidHandle)
    }

    fn remove(&mut self, handle: u32) -> Result<(), Error> {
        self.live
            .remove(&handle)
            .map(drop)
            .ok_or(Error::InvalidHandle)
    }
}

/// Test hook: sets the counter the next handle is issued from (to test its wrap-around).
#[doc(hidden)]
pub fn __set_next_handle(next: u32) {
    STORE.lock().next = next;
}

#[cfg(feature = "std")]
std::thread_local! {
    static LAST_ERROR: core::cell::Cell<Option<Error>> = const { core::cell::Cell::new(None) };
}

#[cfg(feature = "std")]
fn set_last_error(error: Option<Error>) {
    LAST_ERROR.with(|cell| cell.set(error));
}

#[cfg(feature = "std")]
fn last_error() -> Option<Error> {
    LAST_ERROR.with(|cell| cell.get())
}

#[cfg(not(feature = "std"))]
static LAST_ERROR: Lock<Option<Error>> = Lock::new(None);

#[cfg(not(feature = "std"))]
fn set_last_error(error: Option<Error>) {
    *LAST_ERROR.lock() = error;
}

#[cfg(not(feature = "std"))]
fn last_error() -> Option<Error> {
    *LAST_ERROR.lock()
}

/// Runs `body`, records its error as the thread's last error, and turns it into a status.
fn run(body: impl FnOnce() -> Result<(), Error>) -> i32 {
    #[cfg(feature = "std")]
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or(Err(Error::Internal));
    #[cfg(not(feature = "std"))]
    let result = body();
    match result {
        Ok(()) => 0,
        Err(error) => {
            set_last_error(Some(error));
            error.status()
        }
    }
}

/// `*out = value` for a checked out-pointer.
///
/// # Safety
/// `out` must be null or valid for a write of `T`.
unsafe fn put<T>(out: *mut T, value: T) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: non-null, valid per the caller; unaligned writes allowed.
    unsafe { out.write_unaligned(value) };
    Ok(())
}

/// Reports `needed` through `out_written` when a buffer was too small, then passes the error on.
/// A need that does not fit `usize` (a 32-bit target) cannot be met by any buffer: it becomes
/// `LIMIT_EXCEEDED` (a truncated count would have the caller retry forever, or allocate too
/// little).
///
/// # Safety
/// `out_written` must be null or valid for a write.
unsafe fn report_needed(error: Error, out_written: *mut usize) -> Error {
    if let Error::BufferTooSmall { needed, .. } = error {
        let Ok(needed) = usize::try_from(needed) else {
            return Error::LimitExceeded {
                what: "output size",
                max: usize::MAX as u64,
                requested: needed,
            };
        };
        if !out_written.is_null() {
            // SAFETY: non-null and valid per the caller.
            unsafe { out_written.write_unaligned(needed) };
        }
    }
    error
}

/// A slice over caller memory; null is accepted only for length 0.
///
/// # Safety
/// A non-null `ptr` must be valid for reads of `len` elements.
unsafe fn input<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::NullPointer)
        };
    }
    if (ptr as usize) % core::mem::align_of::<T>() != 0 {
        return Err(Error::Misaligned);
    }
    // SAFETY: non-null, aligned, valid for `len` reads per the caller.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A mutable slice over caller memory; null is accepted only for capacity 0.
///
/// # Safety
/// A non-null `ptr` must be valid for writes of `cap` elements and not alias other arguments.
unsafe fn output<'a, T>(ptr: *mut T, cap: usize) -> Result<&'a mut [T], Error> {
    if ptr.is_null() {
        return if cap == 0 {
            Ok(&mut [])
        } else {
            Err(Error::NullPointer)
        };
    }
    if (ptr as usize) % core::mem::align_of::<T>() != 0 {
        return Err(Error::Misaligned);
    }
    // SAFETY: non-null, aligned, valid for `cap` writes per the caller.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, cap) })
}

/// The shape shared by every call that reads an input buffer and fills an output buffer:
/// checks the pointers, runs `op`, and writes `*out_written` (the count written, or on
/// `BUFFER_TOO_SMALL` the capacity needed).
///
/// # Safety
/// As the module docs: `in_ptr` readable for `in_len`, `out_ptr` writable for `out_cap`
/// elements, `out_written` writable.
unsafe fn with_buffers<I, O>(
    in_ptr: *const I,
    in_len: usize,
    out_ptr: *mut O,
    out_cap: usize,
    out_written: *mut usize,
    op: impl FnOnce(&[I], &mut [O]) -> Result<usize, Error>,
) -> i32 {
    run(|| {
        if out_written.is_null() {
            return Err(Error::NullPointer);
        }
        // SAFETY: caller contract.
        let input = unsafe { input(in_ptr, in_len)? };
        // SAFETY: caller contract.
        let output = unsafe { output(out_ptr, out_cap)? };
        // SAFETY: checked non-null above.
        let written = op(input, output).map_err(|e| unsafe { report_needed(e, out_written) })?;
        // SAFETY: checked non-null above.
        unsafe { put(out_written, written) }
    })
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
/// the frames not yet emitted), and its length to `*out_written` (0 when none is open).
///
/// Errors: `INVALID_HANDLE`, `NULL_POINTER`, `BUFFER_TOO_SMALL` (needed bytes in
/// `*out_written`).
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
            |_, out| {
                let mut store = STORE.lock();
                let compressor = store.get(handle)?;
                // The snapshot's exact length: for coded segments `pending_segment_len` is only
                // an upper bound.
                let mut bytes = Vec::with_capacity(compressor.pending_segment_len());
                let needed = compressor.peek(&mut bytes);
                let available = out.len();
                let dst = out.get_mut(..needed).ok_or(Error::BufferTooSmall {
                    needed: needed as u64,
                    available: available as u64,
                })?;
                dst.copy_from_slice(&bytes);
                Ok(needed)
            },
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

const ALLOC_ALIGN: usize = 16;

/// Allocates `size` bytes (16-byte aligned, zeroed) and writes the pointer to `*out_ptr`. Free
/// with `ttc_dealloc(ptr, size)`.
///
/// Errors: `NULL_POINTER`, `LIMIT_EXCEEDED` (size beyond `isize::MAX`), `OUT_OF_MEMORY`.
///
/// # Safety
/// `out_ptr` must be null or writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_alloc(size: usize, out_ptr: *mut *mut u8) -> i32 {
    run(|| {
        if out_ptr.is_null() {
            return Err(Error::NullPointer);
        }
        let layout =
            core::alloc::Layout::from_size_align(size.max(1), ALLOC_ALIGN).map_err(|_| {
                Error::LimitExceeded {
                    what: "allocation size",
                    max: isize::MAX as u64,
                    requested: size as u64,
                }
            })?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(Error::OutOfMemory);
        }
        STORE.lock().allocations.insert(ptr as usize, size);
        // SAFETY: checked non-null; writable per the caller.
        unsafe { put(out_ptr, ptr) }
    })
}

/// Frees memory from [`ttc_alloc`]; `cap` must be the size it was allocated with.
///
/// Errors: `UNKNOWN_ALLOCATION` for any other pointer or size (nothing is freed).
///
/// # Safety
/// No other reference to the allocation may be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ttc_dealloc(ptr: *mut u8, cap: usize) -> i32 {
    run(|| {
        let mut store = STORE.lock();
        if store.allocations.get(&(ptr as usize)) != Some(&cap) {
            return Err(Error::UnknownAllocation);
        }
        store.allocations.remove(&(ptr as usize));
        let layout = core::alloc::Layout::from_size_align(cap.max(1), ALLOC_ALIGN)
            .map_err(|_| Error::Internal)?;
        // SAFETY: `ptr` came from `alloc_zeroed` with this layout (the registry says so).
        unsafe { alloc::alloc::dealloc(ptr, layout) };
        Ok(())
    })
}

/// Writes the calling thread's last error message (UTF-8, no terminator) to `out_ptr` and its
/// length to `*out_written`, and returns that error's status (0 and an empty message when no
/// call has failed). The last error is not cleared.
///
/// Errors: `NULL_POINTER`; when the message does not fit, `BUFFER_TOO_SMALL` with the needed
/// length in `*out_written`.
///
/// # Safety
/// `out_ptr` writable for `out_cap` bytes, `out_written` writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_last_error(
    out_ptr: *mut u8,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    let Some(error) = last_error() else {
        if !out_written.is_null() {
            // SAFETY: non-null, writable per the caller.
            unsafe { out_written.write_unaligned(0) };
        }
        return 0;
    };
    let mut message = MessageBuf::new();
    let _ = core::fmt::write(&mut message, format_args!("{error}"));
    let bytes = message.as_bytes();
    if out_written.is_null() {
        return Error::NullPointer.status();
    }
    // SAFETY: caller contract.
    let out = match unsafe { output(out_ptr, out_cap) } {
        Ok(out) => out,
        Err(e) => return e.status(),
    };
    // SAFETY: checked non-null above.
    unsafe { out_written.write_unaligned(bytes.len()) };
    if out.len() < bytes.len() {
        return Error::BufferTooSmall {
            needed: bytes.len() as u64,
            available: out.len() as u64,
        }
        .status();
    }
    out[..bytes.len()].copy_from_slice(bytes);
    error.status()
}

/// A fixed buffer for formatting messages without allocating.
struct MessageBuf {
    bytes: [u8; 256],
    len: usize,
}

impl MessageBuf {
    fn new() -> Self {
        MessageBuf {
            bytes: [0; 256],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl core::fmt::Write for MessageBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.len;
        // Messages are ASCII; truncate on a char boundary regardless.
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}
