//! N-API bindings for `ruvector-temporal-tensor`: a thin layer that moves typed arrays in and out
//! and turns the core's [`Error`] into a JS `Error` whose `code` is [`Error::code`].
//!
//! The typed public API lives in the npm package's TypeScript facade (`src-ts/`); this module
//! only mirrors the core. Argument ranges (u32 timestamps, counts) are checked by the facade.
//!
//! Results are returned in engine-owned typed arrays (`napi_create_arraybuffer`, then a copy),
//! not external buffers over Rust memory: V8 counts them and frees them in its own collections,
//! while Node runs the finalizers of external buffers only when the event loop turns, so a
//! synchronous loop of decodes kept every result's Rust memory alive (1 GiB after 20,000
//! decodes of 64 KiB). `free()` drops a compressor's state at once.
//!
//! The `*Async` methods run the core on the libuv thread pool (napi-rs `AsyncTask`): their inputs
//! are copied first (JS code keeps running and may change its arrays meanwhile), the compressor
//! sits behind a mutex the task holds while it computes, and every other call on that compressor
//! throws `BUSY` until the task has settled. A task still queued when its `AbortSignal` fires is
//! cancelled and rejects with an `AbortError`; a running one completes.
#![deny(missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use napi::bindgen_prelude::{
    AbortSignal, AsyncTask, Either, Env, Float32Array, Float32ArraySlice, ObjectFinalize,
    Uint8Array, Uint8ArraySlice,
};
use napi::ScopedTask;
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

fn busy_error() -> napi::Error<Code> {
    napi::Error::new(
        Code("BUSY"),
        "an async call on this compressor has not settled yet".to_string(),
    )
}

/// How an async call failed: the core's code and message (its promise resolves with this, and
/// the facade throws it as a `TemporalTensorError`).
#[napi(object)]
pub struct TaskFailure {
    /// The core's error code (`NON_FINITE`, `LENGTH_MISMATCH`, ...).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl From<Error> for TaskFailure {
    fn from(error: Error) -> Self {
        TaskFailure {
            code: error.code().to_string(),
            message: error.to_string(),
        }
    }
}

/// A compressor's state, shared with the task that runs on it.
struct Shared {
    /// `None` once freed.
    compressor: Mutex<Option<TemporalTensorCompressor>>,
    /// Set on the JS thread when a task is queued, cleared when it has settled.
    busy: AtomicBool,
    /// `free()` was called while a task ran: the state is dropped when it settles.
    freed: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<TemporalTensorCompressor>> {
        self.compressor
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A compressor's state, as `NativeCompressor.info()` returns it.
#[napi(object)]
pub struct CompressorInfo {
    /// Values per frame.
    pub tensor_len: u32,
    /// Bits of the open segment, 0 when none is open.
    pub active_bits: u32,
    /// Frames in the open segment.
    pub active_frames: u32,
    /// Bytes the open segment would take if finished now (an upper bound for coded segments).
    pub pending_len: u32,
    /// Accesses recorded.
    pub access_count: u32,
    /// Timestamp of the last access.
    pub last_access_ts: u32,
}

/// A segment's header fields, as `segmentInfo()` returns them.
#[napi(object)]
pub struct SegmentInfo {
    /// Format version (1 or 2: packed; 3 or 4: coded).
    pub version: u32,
    /// Bits per code.
    pub bits: u32,
    /// Values per group (0 for coded segments).
    pub group_len: u32,
    /// Values per frame.
    pub tensor_len: u32,
    /// Frames in the segment.
    pub frame_count: u32,
    /// Number of scales (0 for coded segments).
    pub scale_count: u32,
    /// The segment's length in bytes.
    pub byte_length: f64,
    /// The bound every frame keeps: the stored f32, widened.
    pub bound: f64,
    /// The most frames decoding one frame touches (1 for packed segments).
    pub keyframe_interval: u32,
}

/// A compressor for one stream of frames (mirrors `TemporalTensorCompressor`).
///
/// The memory it holds (its open segment, its working buffers) is reported to V8 as external
/// memory as it changes, so collections come sooner when many are left to the collector; `free()`
/// releases it at once.
#[napi(custom_finalize)]
pub struct NativeCompressor {
    /// The compressor, shared with a running task.
    shared: Arc<Shared>,
    /// Bytes reported to V8 with `adjust_external_memory`.
    reported: i64,
    /// Frames copied by `stageFrames` for the next `pushManyAsync`.
    staged: Vec<f32>,
}

impl ObjectFinalize for NativeCompressor {
    fn finalize(self, env: Env) -> napi::Result<()> {
        if self.reported != 0 {
            env.adjust_external_memory(-self.reported)?;
        }
        Ok(())
    }
}

impl NativeCompressor {
    /// Tells V8 how much memory the compressor holds now (the change since the last report).
    /// Skipped while a task runs (it holds the compressor); the next call reports.
    fn report(&mut self, env: &Env) {
        if self.shared.busy.load(Ordering::Acquire) {
            return;
        }
        let now = self.shared.lock().as_ref().map_or(0, |c| {
            (c.pending_segment_len() + c.overhead_heap_bytes()) as i64
        });
        if now != self.reported && env.adjust_external_memory(now - self.reported).is_ok() {
            self.reported = now;
        }
    }

    /// Runs `f` on the compressor: `INVALID_HANDLE` once freed, `BUSY` while a task runs.
    fn with<R>(&self, f: impl FnOnce(&mut TemporalTensorCompressor) -> Result<R>) -> Result<R> {
        if self.shared.freed.load(Ordering::Acquire) {
            return Err(js_error(Error::InvalidHandle));
        }
        if self.shared.busy.load(Ordering::Acquire) {
            return Err(busy_error());
        }
        let mut guard = self.shared.lock();
        let c = guard
            .as_mut()
            .ok_or_else(|| js_error(Error::InvalidHandle))?;
        f(c)
    }

    /// Marks the compressor busy for a task (`INVALID_HANDLE`, `BUSY` as `with`).
    fn claim(&self) -> Result<Arc<Shared>> {
        self.with(|_| Ok(()))?;
        self.shared.busy.store(true, Ordering::Release);
        Ok(self.shared.clone())
    }
}

/// What an async call on a compressor does on the thread pool.
enum Job {
    PushMany { frames: Vec<f32>, now_ts: u32 },
    Flush,
}

/// `pushManyAsync` / `flushAsync`: runs `job` on the shared compressor off the JS thread.
pub struct CompressorTask {
    shared: Arc<Shared>,
    job: Job,
}

impl<'task> ScopedTask<'task> for CompressorTask {
    type Output = std::result::Result<Vec<Vec<u8>>, Error>;
    type JsValue = Either<Vec<Uint8ArraySlice<'task>>, TaskFailure>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let mut guard = self.shared.lock();
        let Some(c) = guard.as_mut() else {
            return Ok(Err(Error::InvalidHandle));
        };
        Ok(match &self.job {
            Job::PushMany { frames, now_ts } => c.push_frames_split(frames, *now_ts),
            Job::Flush => {
                let mut out = Vec::new();
                c.flush(&mut out);
                Ok(if out.is_empty() { vec![] } else { vec![out] })
            }
        })
    }

    fn resolve(&mut self, env: &'task Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        match output {
            Ok(segments) => {
                let mut out = Vec::with_capacity(segments.len());
                for segment in segments.iter().filter(|s| !s.is_empty()) {
                    out.push(Uint8ArraySlice::copy_from(env, segment)?);
                }
                Ok(Either::A(out))
            }
            Err(e) => Ok(Either::B(e.into())),
        }
    }

    fn finally(self, _env: Env) -> napi::Result<()> {
        if self.shared.freed.load(Ordering::Acquire) {
            *self.shared.lock() = None;
        }
        self.shared.busy.store(false, Ordering::Release);
        Ok(())
    }
}

/// `decodeSegmentAsync`: decodes a copy of a segment off the JS thread.
pub struct DecodeTask {
    segment: Vec<u8>,
}

impl<'task> ScopedTask<'task> for DecodeTask {
    type Output = std::result::Result<Vec<f32>, Error>;
    type JsValue = Either<Float32ArraySlice<'task>, TaskFailure>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let mut out = Vec::new();
        Ok(segment::decode(&self.segment, &mut out).map(|_| out))
    }

    fn resolve(&mut self, env: &'task Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        match output {
            Ok(values) => Float32ArraySlice::copy_from(env, &values).map(Either::A),
            Err(e) => Ok(Either::B(e.into())),
        }
    }
}

/// `bytes` in a new engine-owned `Uint8Array`, or `null` when empty.
fn segment_or_null<'env>(env: &'env Env, bytes: &[u8]) -> Result<Option<Uint8ArraySlice<'env>>> {
    if bytes.is_empty() {
        return Ok(None);
    }
    Uint8ArraySlice::copy_from(env, bytes)
        .map(Some)
        .map_err(|e| napi::Error::new(Code("OUT_OF_MEMORY"), e.reason.clone()))
}

#[napi]
impl NativeCompressor {
    /// Creates a compressor; the policy fields are `TierPolicy`'s, in order, then `fixed_bits`,
    /// the format (0 packed, 1 coded), the keyframe interval of coded segments and a bound to keep
    /// instead of the tiers' (0: the tiers').
    #[napi(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        env: &Env,
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
        let mut compressor = NativeCompressor {
            shared: Arc::new(Shared {
                compressor: Mutex::new(Some(inner)),
                busy: AtomicBool::new(false),
                freed: AtomicBool::new(false),
            }),
            reported: 0,
            staged: Vec::new(),
        };
        compressor.report(env);
        Ok(compressor)
    }

    /// Compresses one frame; returns the segment it finished, if any.
    #[napi]
    pub fn push<'env>(
        &mut self,
        env: &'env Env,
        frame: &[f32],
        now_ts: u32,
    ) -> Result<Option<Uint8ArraySlice<'env>>> {
        let mut out = Vec::new();
        self.with(|c| c.push_frame(frame, now_ts, &mut out).map_err(js_error))?;
        self.report(env);
        segment_or_null(env, &out)
    }

    /// Compresses frames stored back to back; returns the segments finished, in order.
    #[napi]
    pub fn push_many<'env>(
        &mut self,
        env: &'env Env,
        frames: &[f32],
        now_ts: u32,
    ) -> Result<Vec<Uint8ArraySlice<'env>>> {
        let segments = self.with(|c| c.push_frames_split(frames, now_ts).map_err(js_error))?;
        self.report(env);
        let mut out = Vec::with_capacity(segments.len());
        for segment in segments {
            out.extend(segment_or_null(env, &segment)?);
        }
        Ok(out)
    }

    /// `pushMany` writing the segments it finishes into `out`, back to back from its start,
    /// instead of a new buffer each (a reused `out` allocates nothing per segment): returns the
    /// end offset of each segment in `out`, or `null` (nothing consumed) when `out` is shorter
    /// than `maxBatchOutputLength` of the batch. `frames` and `out` must not overlap
    /// (`INVALID_ARGUMENT`).
    #[napi]
    pub fn push_many_into(
        &mut self,
        env: &Env,
        frames: &[f32],
        now_ts: u32,
        mut out: Uint8Array,
    ) -> Result<Option<Vec<f64>>> {
        // SAFETY: `out` is the caller's Uint8Array, borrowed only for this synchronous call; JS
        // code cannot run (and touch it) until it returns. It is used as `&mut` only after the
        // check below that it does not overlap `frames`.
        let out = unsafe { out.as_mut() };
        let (f, o) = (frames.as_ptr_range(), out.as_ptr_range());
        if (f.start as usize) < o.end as usize && (o.start as usize) < f.end as usize {
            return Err(napi::Error::new(
                Code("INVALID_ARGUMENT"),
                "frames and out must not overlap".to_string(),
            ));
        }
        let ends = self.with(|c| {
            let count = frames.len() / c.tensor_len() as usize;
            if out.len() < c.max_batch_output_len(count)
                && frames.len().is_multiple_of(c.tensor_len() as usize)
            {
                return Ok(None);
            }
            let mut ends = Vec::new();
            c.push_frames_into_split(frames, now_ts, out, &mut ends)
                .map_err(js_error)?;
            Ok(Some(ends.into_iter().map(|e| e as f64).collect()))
        })?;
        self.report(env);
        Ok(ends)
    }

    /// The bytes `pushManyInto` needs in `out` for `frameCount` frames now: the open segment
    /// plus, per frame, its codes at 8 bits and a header (an upper bound on what it writes).
    #[napi]
    pub fn max_batch_output_length(&self, frame_count: u32) -> Result<f64> {
        self.with(|c| Ok(c.max_batch_output_len(frame_count as usize) as f64))
    }

    /// Copies `frames` to the end of the frames staged for the next `pushManyAsync`, reserving
    /// room for `total` values on the first call (so a large input can be copied in slices, one
    /// per event-loop turn, instead of blocking the loop for one large copy).
    #[napi]
    pub fn stage_frames(&mut self, frames: &[f32], total: f64) -> Result<()> {
        self.with(|_| Ok(()))?;
        if self.staged.is_empty() {
            let total = (total.max(0.0) as usize).max(frames.len());
            self.staged
                .try_reserve_exact(total)
                .map_err(|_| js_error(Error::OutOfMemory))?;
        }
        self.staged.extend_from_slice(frames);
        Ok(())
    }

    /// Drops the staged frames.
    #[napi]
    pub fn clear_staged(&mut self) {
        self.staged = Vec::new();
    }

    /// `pushMany` on the libuv thread pool, on the staged frames followed by a copy of `frames`
    /// (the staged frames are taken, whatever happens): resolves with the segments finished, or
    /// with a `TaskFailure` (nothing changed). Other calls throw `BUSY` until it settles.
    /// Cancelled (an `AbortError` rejection) when `signal` fires before it starts.
    #[napi(ts_return_type = "Promise<Array<Uint8Array> | TaskFailure>")]
    pub fn push_many_async(
        &mut self,
        frames: &[f32],
        now_ts: u32,
        signal: Option<AbortSignal>,
    ) -> Result<AsyncTask<CompressorTask>> {
        let mut staged = std::mem::take(&mut self.staged);
        staged
            .try_reserve_exact(frames.len())
            .map_err(|_| js_error(Error::OutOfMemory))?;
        staged.extend_from_slice(frames);
        let shared = self.claim()?;
        let job = Job::PushMany {
            frames: staged,
            now_ts,
        };
        Ok(AsyncTask::with_optional_signal(
            CompressorTask { shared, job },
            signal,
        ))
    }

    /// `flush` on the libuv thread pool: resolves with `[segment]`, `[]` when none was open.
    #[napi(ts_return_type = "Promise<Array<Uint8Array> | TaskFailure>")]
    pub fn flush_async(&self, signal: Option<AbortSignal>) -> Result<AsyncTask<CompressorTask>> {
        let shared = self.claim()?;
        Ok(AsyncTask::with_optional_signal(
            CompressorTask {
                shared,
                job: Job::Flush,
            },
            signal,
        ))
    }

    /// True while an async call on this compressor has not settled.
    #[napi(getter)]
    pub fn busy(&self) -> bool {
        self.shared.busy.load(Ordering::Acquire)
    }

    /// Finishes the open segment; returns it, or `null` when none was open.
    #[napi]
    pub fn flush<'env>(&mut self, env: &'env Env) -> Result<Option<Uint8ArraySlice<'env>>> {
        let mut out = Vec::new();
        self.with(|c| {
            c.flush(&mut out);
            Ok(())
        })?;
        self.report(env);
        segment_or_null(env, &out)
    }

    /// The open segment as it would be if finished now, without finishing it; `null` when none.
    #[napi]
    pub fn peek<'env>(&self, env: &'env Env) -> Result<Option<Uint8ArraySlice<'env>>> {
        let mut out = Vec::new();
        self.with(|c| {
            c.peek(&mut out);
            Ok(())
        })?;
        segment_or_null(env, &out)
    }

    /// Bits per code (8, 7, 5 or 3) a frame pushed at `nowTs` would be stored with.
    #[napi]
    pub fn bits_at(&self, now_ts: u32) -> Result<u32> {
        self.with(|c| Ok(c.bits_at(now_ts) as u32))
    }

    /// Records one access.
    #[napi]
    pub fn touch(&mut self, now_ts: u32) -> Result<()> {
        self.with(|c| {
            c.touch(now_ts);
            Ok(())
        })
    }

    /// Replaces the access statistics.
    #[napi]
    pub fn set_access(&mut self, access_count: u32, last_access_ts: u32) -> Result<()> {
        self.with(|c| {
            c.set_access(access_count, last_access_ts);
            Ok(())
        })
    }

    /// Drops the compressor's state now (its open segment is discarded); later calls throw
    /// `INVALID_HANDLE`. Calling it again does nothing. During an async call the state is
    /// dropped when that call settles.
    #[napi]
    pub fn free(&mut self, env: &Env) {
        self.shared.freed.store(true, Ordering::Release);
        if !self.shared.busy.load(Ordering::Acquire) {
            *self.shared.lock() = None;
            self.report(env);
        }
    }

    /// The compressor's state.
    #[napi]
    pub fn info(&self) -> Result<CompressorInfo> {
        self.with(|c| Ok(Self::info_of(c)))
    }
}

impl NativeCompressor {
    fn info_of(c: &TemporalTensorCompressor) -> CompressorInfo {
        CompressorInfo {
            tensor_len: c.tensor_len(),
            active_bits: c.active_bits().unwrap_or(0) as u32,
            active_frames: c.active_frames(),
            pending_len: u32::try_from(c.pending_segment_len()).unwrap_or(u32::MAX),
            access_count: c.access_count(),
            last_access_ts: c.last_access_ts(),
        }
    }
}

/// Decodes every frame of a segment (at most `limits::MAX_DECODE_VALUES` values).
#[napi]
pub fn decode_segment<'env>(
    env: &'env Env,
    segment_bytes: &[u8],
) -> Result<Float32ArraySlice<'env>> {
    let mut out = Vec::new();
    segment::decode(segment_bytes, &mut out).map_err(js_error)?;
    Float32ArraySlice::copy_from(env, &out)
        .map_err(|e| napi::Error::new(Code("OUT_OF_MEMORY"), e.reason.clone()))
}

/// `decodeSegment` on the libuv thread pool, on a copy of the segment: resolves with the values
/// or a `TaskFailure`. Cancelled (an `AbortError` rejection) when `signal` fires before it starts.
#[napi(ts_return_type = "Promise<Float32Array | TaskFailure>")]
pub fn decode_segment_async(
    segment_bytes: &[u8],
    signal: Option<AbortSignal>,
) -> AsyncTask<DecodeTask> {
    AsyncTask::with_optional_signal(
        DecodeTask {
            segment: segment_bytes.to_vec(),
        },
        signal,
    )
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
pub fn decode_frame<'env>(
    env: &'env Env,
    segment_bytes: &[u8],
    index: u32,
) -> Result<Float32ArraySlice<'env>> {
    let out = segment::decode_frame(segment_bytes, index as u64).map_err(js_error)?;
    Float32ArraySlice::copy_from(env, &out)
        .map_err(|e| napi::Error::new(Code("OUT_OF_MEMORY"), e.reason.clone()))
}

/// A segment's header fields (validated).
#[napi]
pub fn segment_info(segment_bytes: &[u8]) -> Result<SegmentInfo> {
    let h: SegmentHeader = SegmentHeader::parse(segment_bytes).map_err(js_error)?;
    Ok(SegmentInfo {
        version: h.version as u32,
        bits: h.bits as u32,
        group_len: h.group_len,
        tensor_len: h.tensor_len,
        frame_count: h.frame_count,
        scale_count: h.scale_count,
        byte_length: h.byte_len as f64,
        bound: h.bound as f64,
        keyframe_interval: h.keyframe_interval,
    })
}

/// The bound on `max|v − v'| / max|v|` frames stored at `bits` (8, 7, 5 or 3) keep, as the
/// stored f32 widened. Throws `INVALID_ARGUMENT` for another width.
#[napi]
pub fn error_bound(bits: u32) -> Result<f64> {
    ruvector_temporal_tensor::quantizer::error_bound(bits)
        .map(f64::from)
        .ok_or_else(|| js_error(Error::InvalidArgument))
}

/// Name of the kernel set in use (`"avx2+bmi2"`, `"neon"`, `"scalar"`, ...).
#[napi]
pub fn kernels() -> &'static str {
    ruvector_temporal_tensor::kernels::active_name()
}

/// Why that kernel set is in use: the CPU rule that chose it (e.g. pdep/pext avoided on AMD
/// before Zen 3) or the environment variable that forced it.
#[napi]
pub fn kernels_reason() -> &'static str {
    ruvector_temporal_tensor::kernels::active_reason()
}
