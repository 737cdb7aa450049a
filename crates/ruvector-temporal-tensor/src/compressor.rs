//! `TemporalTensorCompressor`: turns a stream of frames into TQTC segments.
//!
//! One segment's scales serve every frame in it. A frame joins the active segment only if it
//! needs no clamping (no value beyond the calibrated headroom, ADR-017's drift rule) **and** it
//! decodes within its width's error bound with the segment's scales (which catches frames that
//! shrank: coarse steps on small values). The error is never estimated: a frame joins when half
//! a step of the coarsest group (the most rounding can be off by when nothing clamps) is already
//! within the bound, else when its measured error is, so the bound holds on any finite stream and
//! the decision is the one exact measurement would make. Otherwise the active segment is finished and a new one is
//! calibrated from the frame.
//!
//! Boundaries: the first frame, a change of width (tier), drift or shrink as above, the frame cap
//! (`TierPolicy::max_segment_frames`), and [`TemporalTensorCompressor::flush`].

use crate::bitpack::{packed_len, BitWriter};
use crate::coded::{CodedWriter, DEFAULT_KEYFRAME_INTERVAL};
use crate::error::Error;
use crate::limits;
use crate::quantizer::{
    error_target, group_max_abs, quantize_frame, quantize_frame_bounded, scales_from_max_abs,
    Divisor, FrameStats, ScaleFormat,
};
use crate::segment::{Format, SegmentParts};
use crate::tier_policy::{Tier, TierPolicy};
use alloc::vec::Vec;

/// Compresses a stream of equal-length `f32` frames into TQTC segments.
///
/// Every operation is all-or-nothing: an `Err` leaves the compressor exactly as it was, and a
/// finished segment is only dropped from the compressor once it has been written out.
#[derive(Clone, Debug, PartialEq)]
pub struct TemporalTensorCompressor {
    policy: TierPolicy,
    tensor_len: u32,
    access_count: u32,
    last_access_ts: u32,
    format: Format,
    /// The open packed segment (format `Packed`).
    active: Option<ActiveSegment>,
    /// The open coded segment (format `Coded`); open while it holds a frame.
    coded: Option<CodedWriter>,
    keyframe_interval: u32,
    /// A bound coded segments keep instead of the tier's (see `set_bound`).
    bound_override: Option<f32>,
}

/// Bytes kept past a frame's end while it is quantized (the kernels' last vector stores spill
/// zeros there, instead of going through a temporary buffer); dropped afterwards.
const WRITE_SLACK: usize = 32;

/// The segment being filled.
#[derive(Clone, Debug)]
struct ActiveSegment {
    bits: u8,
    format: ScaleFormat,
    scales: Vec<f32>,
    divisors: Vec<Divisor>,
    /// `max ½ · scale` over the groups: the most a value that is not clamped can be off.
    half_step: f32,
    frames: u32,
    /// The packed codes in `data[..used]`. The bytes after them are scratch the kernels write
    /// (frames tried, whole-vector stores past a frame's end); they stay allocated and
    /// initialized, so quantizing a frame does not zero-fill its bytes first.
    data: Vec<u8>,
    used: usize,
}

impl PartialEq for ActiveSegment {
    /// Equal segments: the scratch after the codes does not count.
    fn eq(&self, other: &Self) -> bool {
        self.bits == other.bits
            && self.format == other.format
            && self.scales == other.scales
            && self.divisors == other.divisors
            && self.half_step == other.half_step
            && self.frames == other.frames
            && self.codes() == other.codes()
    }
}

/// Where a finished segment goes.
enum Output<'a> {
    /// A vector that grows as needed.
    Grow(&'a mut Vec<u8>),
    /// A fixed buffer that must be large enough.
    Fixed(&'a mut [u8]),
}

impl Output<'_> {
    /// A writable region of exactly `len` bytes, or `BufferTooSmall` (nothing consumed).
    fn reserve(&mut self, len: usize) -> Result<&mut [u8], Error> {
        match self {
            Output::Grow(vec) => {
                let start = vec.len();
                vec.resize(start + len, 0);
                Ok(&mut vec[start..])
            }
            Output::Fixed(buf) => {
                let available = buf.len();
                buf.get_mut(..len).ok_or(Error::BufferTooSmall {
                    needed: len as u64,
                    available: available as u64,
                })
            }
        }
    }
}

/// Result of trying to add a frame to the active segment.
enum Append {
    Done,
    DoesNotFit,
    NonFinite,
}

impl ActiveSegment {
    /// The packed codes of the segment's frames.
    fn codes(&self) -> &[u8] {
        &self.data[..self.used]
    }

    /// Makes `data` at least `len` bytes long (new bytes zero; existing scratch kept).
    fn reserve_data(&mut self, len: usize) {
        if self.data.len() < len {
            self.data.resize(len, 0);
        }
    }

    fn parts(&self, tensor_len: u32, group_len: u32) -> SegmentParts<'_> {
        SegmentParts {
            format: self.format,
            bits: self.bits as u32,
            group_len,
            tensor_len,
            frame_count: self.frames,
            scales: &self.scales,
            data: self.codes(),
        }
    }

    /// Quantizes `frame` after the segment's frames; keeps it only if it fits (see module docs).
    fn try_append(&mut self, frame: &[f32], group_len: usize) -> Append {
        let bits = self.bits as u32;
        let n = frame.len() as u64;
        let start_bit = self.frames as u64 * n * bits as u64;
        let old_len = self.used;
        // Cannot overflow: frames * n * bits stays within the u32 data_len (see frame_cap).
        let new_len = packed_len(self.frames as u64 * n + n, bits).unwrap_or(0) as usize;
        // Most frames of a stream are proven within bounds by the half-step bound on the
        // rounding error, so it is measured only when that bound is not enough.
        let (stats, bounded) = self.quantize_at(frame, group_len, start_bit, new_len, true);
        let target = error_target(bits);
        let fits = stats.finite
            && !stats.clamped
            && if !bounded {
                stats.within(target)
            } else {
                let bound = FrameStats {
                    max_err: stats.max_err.max(self.half_step),
                    ..stats
                };
                bound.within(target) || {
                    self.roll_back(old_len, start_bit);
                    let (measured, _) =
                        self.quantize_at(frame, group_len, start_bit, new_len, false);
                    measured.within(target)
                }
            };
        if fits {
            self.used = new_len;
            self.frames += 1;
            return Append::Done;
        }
        self.roll_back(old_len, start_bit);
        if first_non_finite(frame).is_none() {
            // Includes finite values that overflowed when divided by this segment's scale.
            Append::DoesNotFit
        } else {
            Append::NonFinite
        }
    }

    /// Quantizes `frame` into the segment's bits from `start_bit` on, the data grown to
    /// `new_len` bytes plus room after them (the kernels store whole vectors up to the frame's
    /// last byte). With `bounded`, as [`quantize_frame_bounded`] (the returned flag says whether
    /// the rounding error was left out); otherwise measured, as [`quantize_frame`].
    fn quantize_at(
        &mut self,
        frame: &[f32],
        group_len: usize,
        start_bit: u64,
        new_len: usize,
        bounded: bool,
    ) -> (FrameStats, bool) {
        self.reserve_data(new_len + WRITE_SLACK);
        let bits = self.bits as u32;
        let mut writer = BitWriter::new(&mut self.data, start_bit, bits);
        let (scales, divisors) = (&self.scales, &self.divisors);
        let result = if bounded {
            quantize_frame_bounded(frame, scales, divisors, group_len, bits, &mut writer)
        } else {
            (
                quantize_frame(frame, scales, divisors, group_len, bits, &mut writer),
                false,
            )
        };
        writer.finish();
        result
    }

    /// Drops the codes after `old_len` bytes and clears the bits from `start_bit` on in the
    /// shared last byte.
    fn roll_back(&mut self, old_len: usize, start_bit: u64) {
        self.used = old_len;
        let kept_bits = (start_bit % 8) as u32;
        if let (true, Some(last)) = (kept_bits != 0, self.data[..old_len].last_mut()) {
            *last &= (1u8 << kept_bits) - 1;
        }
    }

    /// Makes this the first frame of a fresh segment at `bits` (the frame must be finite).
    fn calibrate(&mut self, frame: &[f32], bits: u8, group_len: usize, headroom: f32) {
        let bits32 = bits as u32;
        let groups = frame.len().div_ceil(group_len);
        self.bits = bits;
        self.frames = 0;
        self.scales.resize(groups, 0.0);
        let target = error_target(bits32);
        // With the policy's headroom first; if rounding of tiny (subnormal) magnitudes breaks
        // the bound, again without headroom, which the tests show always meets it.
        for headroom in [headroom, 1.0] {
            group_max_abs(frame, group_len, &mut self.scales);
            self.format = scales_from_max_abs(&mut self.scales, bits32, headroom);
            self.divisors.clear();
            self.divisors
                .extend(self.scales.iter().map(|&s| Divisor::for_scale(s)));
            let len = packed_len(frame.len() as u64, bits32).unwrap_or(0) as usize;
            self.reserve_data(len);
            self.used = len;
            let mut writer = BitWriter::new(&mut self.data, 0, bits32);
            let stats = quantize_frame(
                frame,
                &self.scales,
                &self.divisors,
                group_len,
                bits32,
                &mut writer,
            );
            writer.finish();
            if stats.within(target) {
                break;
            }
        }
        self.half_step = self.scales.iter().fold(0.0f32, |m, &s| m.max(0.5 * s));
        self.frames = 1;
    }
}

impl TemporalTensorCompressor {
    /// A compressor for frames of `tensor_len` values, with no accesses recorded as of `now_ts`
    /// (so it starts in the cold tier until [`touch`](Self::touch) or
    /// [`set_access`](Self::set_access) says otherwise).
    ///
    /// Writes packed (version 1/2) segments; see [`with_format`](Self::with_format) for coded ones.
    ///
    /// Errors: [`Error::InvalidConfig`] for a policy out of range or `tensor_len == 0`;
    /// [`Error::LimitExceeded`] for `tensor_len > limits::MAX_TENSOR_LEN`.
    pub fn new(policy: TierPolicy, tensor_len: u32, now_ts: u32) -> Result<Self, Error> {
        Self::with_format(policy, tensor_len, now_ts, Format::Packed)
    }

    /// Like [`new`](Self::new), writing segments in `format`. Coded segments keep each tier's
    /// bound ([`crate::quantizer::error_bound`] of the width the policy picks) with a keyframe every
    /// [`DEFAULT_KEYFRAME_INTERVAL`] frames (see [`set_keyframe_interval`](Self::set_keyframe_interval)).
    pub fn with_format(
        policy: TierPolicy,
        tensor_len: u32,
        now_ts: u32,
        format: Format,
    ) -> Result<Self, Error> {
        policy.validate()?;
        if tensor_len == 0 {
            return Err(Error::InvalidConfig {
                field: "tensor_len",
            });
        }
        if tensor_len > limits::MAX_TENSOR_LEN {
            return Err(Error::LimitExceeded {
                what: "tensor_len",
                max: limits::MAX_TENSOR_LEN as u64,
                requested: tensor_len as u64,
            });
        }
        Ok(TemporalTensorCompressor {
            policy,
            tensor_len,
            access_count: 0,
            last_access_ts: now_ts,
            format,
            active: None,
            coded: None,
            keyframe_interval: DEFAULT_KEYFRAME_INTERVAL,
            bound_override: None,
        })
    }

    /// A compressor from the flat argument list the `ttc_*` C ABI and the language bindings
    /// pass: [`TierPolicy::from_fields`]'s six fields, then `fixed_bits`
    /// ([`TierPolicy::fixed_bits`]), `format` (0 packed, 1 coded), the keyframe interval of coded
    /// segments and a bound to keep instead of the tiers' (0 for the tiers'; see
    /// [`set_bound`](Self::set_bound)).
    ///
    /// Errors: as [`with_format`](Self::with_format), [`set_keyframe_interval`](Self::set_keyframe_interval)
    /// and [`set_bound`](Self::set_bound); [`Error::InvalidConfig`] for another `format` or a
    /// `fixed_bits` beyond `u8`.
    #[allow(clippy::too_many_arguments)]
    pub fn from_flat_options(
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
    ) -> Result<Self, Error> {
        let mut policy = TierPolicy::from_fields(
            hot_min_score,
            warm_min_score,
            warm_bits,
            drift_pct_q8,
            group_len,
            max_segment_frames,
        );
        policy.fixed_bits = u8::try_from(fixed_bits).map_err(|_| Error::InvalidConfig {
            field: "fixed_bits",
        })?;
        let format = match format {
            0 => Format::Packed,
            1 => Format::Coded,
            _ => return Err(Error::InvalidConfig { field: "format" }),
        };
        let mut compressor = Self::with_format(policy, tensor_len, now_ts, format)?;
        compressor.set_keyframe_interval(keyframe_interval)?;
        compressor.set_bound((bound != 0.0).then_some(bound))?;
        Ok(compressor)
    }

    /// The format of the segments this compressor writes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Frames per block of coded segments (decoding one frame decodes at most this many), from
    /// the next segment on. Errors: [`Error::InvalidConfig`] unless
    /// `1..=coded::MAX_KEYFRAME_INTERVAL`.
    pub fn set_keyframe_interval(&mut self, frames: u32) -> Result<(), Error> {
        if frames == 0 || frames > crate::coded::MAX_KEYFRAME_INTERVAL {
            return Err(Error::InvalidConfig {
                field: "keyframe_interval",
            });
        }
        self.keyframe_interval = frames;
        Ok(())
    }

    /// Frames per block of coded segments.
    pub fn keyframe_interval(&self) -> u32 {
        self.keyframe_interval
    }

    /// Makes coded segments keep `bound` (on `max|v − v'| / max|v|` per frame, `0 < bound < 1`)
    /// instead of their tier's bound, from the next segment on; `None` returns to the tiers'
    /// bounds. Segments are still labelled with the tier's width. Used, for example, to re-encode
    /// decoded frames into a colder tier with the error they already carry budgeted.
    ///
    /// Errors: [`Error::InvalidConfig`] for a bound outside `(0, 1)` or a packed compressor
    /// (packed widths have fixed bounds).
    pub fn set_bound(&mut self, bound: Option<f32>) -> Result<(), Error> {
        if let Some(b) = bound {
            if self.format != Format::Coded || !(b > 0.0 && b < 1.0) {
                return Err(Error::InvalidConfig { field: "bound" });
            }
        }
        self.bound_override = bound;
        Ok(())
    }

    /// The bound frames at `bits` are kept within: the override if set, else the tier's.
    pub fn bound_for(&self, bits: u8) -> f32 {
        self.bound_override
            .unwrap_or_else(|| crate::quantizer::error_bound(bits as u32).unwrap_or(0.0))
    }

    /// Records one access at `now_ts` (count saturates at `u32::MAX`).
    pub fn touch(&mut self, now_ts: u32) {
        self.access_count = self.access_count.saturating_add(1);
        self.last_access_ts = now_ts;
    }

    /// Replaces the access statistics.
    pub fn set_access(&mut self, access_count: u32, last_access_ts: u32) {
        self.access_count = access_count;
        self.last_access_ts = last_access_ts;
    }

    /// Values per frame.
    pub fn tensor_len(&self) -> u32 {
        self.tensor_len
    }

    /// The policy in force.
    pub fn policy(&self) -> &TierPolicy {
        &self.policy
    }

    /// Accesses recorded.
    pub fn access_count(&self) -> u32 {
        self.access_count
    }

    /// Timestamp of the last recorded access.
    pub fn last_access_ts(&self) -> u32 {
        self.last_access_ts
    }

    /// The tier the next frame would be stored in at `now_ts`.
    pub fn tier_at(&self, now_ts: u32) -> Tier {
        self.policy
            .tier(self.access_count, self.last_access_ts, now_ts)
    }

    /// Bits per code (8, 7, 5 or 3) a frame pushed at `now_ts` would be stored with: the
    /// policy's [`TierPolicy::select_bits`] on the recorded access statistics (so
    /// [`TierPolicy::fixed_bits`] when set). Changes nothing.
    pub fn bits_at(&self, now_ts: u32) -> u8 {
        self.policy
            .select_bits(self.access_count, self.last_access_ts, now_ts)
    }

    /// Bits per code of the active segment, or `None` when no segment is open.
    pub fn active_bits(&self) -> Option<u8> {
        match self.open_coded() {
            Some(w) => Some(w.bits()),
            None => self.active.as_ref().map(|s| s.bits),
        }
    }

    /// Frames in the active segment (0 when none is open).
    pub fn active_frames(&self) -> u32 {
        match self.open_coded() {
            Some(w) => w.frame_count(),
            None => self.active.as_ref().map_or(0, |s| s.frames),
        }
    }

    /// The coded segment being filled, if it holds a frame.
    fn open_coded(&self) -> Option<&CodedWriter> {
        self.coded.as_ref().filter(|w| w.frame_count() > 0)
    }

    /// Bytes the active segment would take if finished now (0 when none is open): exact for
    /// packed segments, an upper bound for coded ones (their size is known only once they are
    /// entropy coded). A push or flush never emits more than this.
    pub fn pending_segment_len(&self) -> usize {
        if let Some(w) = self.open_coded() {
            return w.max_encoded_len();
        }
        self.active.as_ref().map_or(0, |s| {
            s.parts(self.tensor_len, self.policy.group_len)
                .encoded_len()
        })
    }

    /// Heap bytes held, excluding the active segment's packed codes (its "segment data").
    pub fn overhead_heap_bytes(&self) -> usize {
        if let Some(w) = self.coded.as_ref() {
            return w.overhead_heap_bytes();
        }
        self.active.as_ref().map_or(0, |s| {
            s.scales.capacity() * core::mem::size_of::<f32>()
                + s.divisors.capacity() * core::mem::size_of::<Divisor>()
        })
    }

    /// Heap bytes held by the active segment's packed codes.
    pub fn data_heap_bytes(&self) -> usize {
        if let Some(w) = self.coded.as_ref() {
            return w.data_heap_bytes();
        }
        self.active.as_ref().map_or(0, |s| s.data.capacity())
    }

    /// The most frames a segment of `bits` may hold: the policy's cap, lowered if needed so that
    /// `data_len` fits its `u32` field.
    fn frame_cap(&self, bits: u8) -> u32 {
        let per_frame_bits = self.tensor_len as u64 * bits as u64;
        let policy_cap = self.policy.max_segment_frames;
        if self.format == Format::Packed
            && (policy_cap as u64)
                .checked_mul(per_frame_bits)
                .is_some_and(|b| b <= u32::MAX as u64 * 8)
        {
            // The usual case, without a division per frame.
            return policy_cap;
        }
        let by_format = if self.format == Format::Coded {
            // Worst case a frame is stored raw; the whole segment's length must fit in 31 bits
            // (a block's length field holds it times two).
            (u32::MAX as u64 / 2 - 65_536) / self.coded_frame_worst_case() as u64
        } else {
            (u32::MAX as u64 * 8) / per_frame_bits
        };
        (self.policy.max_segment_frames as u64).min(by_format) as u32
    }

    /// Compresses one frame taken at `now_ts`; when this finishes the active segment, appends
    /// that segment's bytes to `out`.
    ///
    /// Returns the number of bytes appended (0 when the frame joined the active segment).
    ///
    /// Errors (nothing changed, nothing appended): [`Error::LengthMismatch`] when
    /// `frame.len() != tensor_len`; [`Error::NonFinite`] for NaN or ±Inf.
    pub fn push_frame(
        &mut self,
        frame: &[f32],
        now_ts: u32,
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        self.push(frame, now_ts, &mut Output::Grow(out))
    }

    /// Like [`push_frame`](Self::push_frame), writing a finished segment to the start of `out`.
    ///
    /// Errors as `push_frame`, plus [`Error::BufferTooSmall`] (with the size needed) when a
    /// segment is finished and `out` cannot hold it; the frame is then not consumed either, and
    /// the same call with a large enough buffer succeeds. A buffer of
    /// [`pending_segment_len`](Self::pending_segment_len) bytes is always enough.
    pub fn push_frame_into(
        &mut self,
        frame: &[f32],
        now_ts: u32,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.push(frame, now_ts, &mut Output::Fixed(out))
    }

    /// Compresses a batch of frames (`frames.len()` a multiple of `tensor_len`, frame after
    /// frame, all at `now_ts`), appending every segment it finishes to `out` back to back.
    ///
    /// All or nothing: the whole batch is validated before any frame is compressed.
    /// Errors: [`Error::LengthMismatch`] when the length is not a multiple of `tensor_len`;
    /// [`Error::NonFinite`] with the index into `frames` of the first NaN or ±Inf.
    pub fn push_frames(
        &mut self,
        frames: &[f32],
        now_ts: u32,
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        self.check_batch(frames)?;
        let start = out.len();
        for frame in frames.chunks_exact(self.tensor_len as usize) {
            self.push(frame, now_ts, &mut Output::Grow(out))?;
        }
        Ok(out.len() - start)
    }

    /// Like [`push_frames`](Self::push_frames), returning each finished segment in a vector of
    /// its own (for bindings that hand buffers over without copying).
    pub fn push_frames_split(
        &mut self,
        frames: &[f32],
        now_ts: u32,
    ) -> Result<Vec<Vec<u8>>, Error> {
        self.check_batch(frames)?;
        let mut segments = Vec::new();
        let mut out = Vec::new();
        for frame in frames.chunks_exact(self.tensor_len as usize) {
            if self.push(frame, now_ts, &mut Output::Grow(&mut out))? > 0 {
                segments.push(core::mem::take(&mut out));
            }
        }
        Ok(segments)
    }

    /// Like [`push_frames`](Self::push_frames), writing into `out`, which must hold at least
    /// [`max_batch_output_len`](Self::max_batch_output_len) bytes for the batch (checked first:
    /// [`Error::BufferTooSmall`] with that size, nothing consumed).
    pub fn push_frames_into(
        &mut self,
        frames: &[f32],
        now_ts: u32,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.push_frames_into_split(frames, now_ts, out, &mut Vec::new())
    }

    /// Like [`push_frames_into`](Self::push_frames_into), also appending to `ends` the end
    /// offset in `out` of each segment it writes, in order (the first starts at 0; `ends` is left
    /// as it was on error: errors come before anything is written). For bindings that hand the
    /// segments out as views of one buffer.
    pub fn push_frames_into_split(
        &mut self,
        frames: &[f32],
        now_ts: u32,
        out: &mut [u8],
        ends: &mut Vec<usize>,
    ) -> Result<usize, Error> {
        self.check_batch(frames)?;
        let count = frames.len() / self.tensor_len as usize;
        let needed = self.max_batch_output_len(count);
        if out.len() < needed {
            return Err(Error::BufferTooSmall {
                needed: needed as u64,
                available: out.len() as u64,
            });
        }
        let mut written = 0;
        for frame in frames.chunks_exact(self.tensor_len as usize) {
            let len = self.push(frame, now_ts, &mut Output::Fixed(&mut out[written..]))?;
            if len > 0 {
                written += len;
                ends.push(written);
            }
        }
        Ok(written)
    }

    /// An upper bound on the bytes a batch of `frame_count` frames can emit: the open segment
    /// plus, per frame, its codes at 8 bits and one header with f32 scales.
    pub fn max_batch_output_len(&self, frame_count: usize) -> usize {
        let n = self.tensor_len as usize;
        if self.format == Format::Coded {
            // Every frame of a batch is at one tier, so only the frame cap (and the open
            // segment, finished first) starts segments; each pays a header and a full table.
            let cap = self.frame_cap(0) as usize;
            let segments = frame_count.div_ceil(cap.max(1)) + 2;
            let per_segment = crate::coded::HEADER_LEN
                + 2 * crate::rans::MAX_SYMBOLS
                + crate::coded::RECORDS_OVERHEAD
                + crate::coded::CHECKSUM_LEN;
            return self
                .pending_segment_len()
                .saturating_add(frame_count.saturating_mul(self.coded_frame_worst_case()))
                .saturating_add(segments.saturating_mul(per_segment));
        }
        let scales = n.div_ceil(self.policy.group_len as usize);
        let per_frame = crate::segment::FIXED_HEADER_LEN + 4 * scales + n + 1;
        self.pending_segment_len()
            .saturating_add(frame_count.saturating_mul(per_frame))
    }

    /// Most bytes one frame adds to a coded segment: raw values, its record, a block of its own
    /// (with its length field).
    fn coded_frame_worst_case(&self) -> usize {
        4 * self.tensor_len as usize
            + crate::coded::RECORD_MAX_BYTES
            + 5
            + crate::rans::max_encoded_len(0)
    }

    fn check_batch(&self, frames: &[f32]) -> Result<(), Error> {
        let n = self.tensor_len as usize;
        if frames.len() % n != 0 {
            return Err(Error::LengthMismatch {
                expected: (frames.len() / n + 1) * n,
                actual: frames.len(),
            });
        }
        if let Some(index) = first_non_finite(frames) {
            return Err(Error::NonFinite { index });
        }
        Ok(())
    }

    fn push(&mut self, frame: &[f32], now_ts: u32, out: &mut Output<'_>) -> Result<usize, Error> {
        if frame.len() != self.tensor_len as usize {
            return Err(Error::LengthMismatch {
                expected: self.tensor_len as usize,
                actual: frame.len(),
            });
        }
        let bits = self.bits_at(now_ts);
        let cap = self.frame_cap(bits);
        if self.format == Format::Coded {
            return self.push_coded(frame, bits, cap, out);
        }
        let group_len = self.policy.group_len as usize;
        if let Some(active) = self.active.as_mut() {
            if active.bits == bits && active.frames < cap {
                match active.try_append(frame, group_len) {
                    Append::Done => return Ok(0),
                    Append::NonFinite => {
                        let index = first_non_finite(frame).unwrap_or(0);
                        return Err(Error::NonFinite { index });
                    }
                    Append::DoesNotFit => {}
                }
            }
        }
        if let Some(index) = first_non_finite(frame) {
            return Err(Error::NonFinite { index });
        }
        let written = self.write_active(out)?;
        let headroom = self.policy.headroom(bits as u32);
        let mut segment = self.active.take().unwrap_or_else(|| ActiveSegment {
            bits,
            format: ScaleFormat::F16,
            scales: Vec::new(),
            divisors: Vec::new(),
            half_step: 0.0,
            frames: 0,
            data: Vec::new(),
            used: 0,
        });
        segment.calibrate(frame, bits, group_len, headroom);
        self.active = Some(segment);
        Ok(written)
    }

    fn push_coded(
        &mut self,
        frame: &[f32],
        bits: u8,
        cap: u32,
        out: &mut Output<'_>,
    ) -> Result<usize, Error> {
        let max_abs = finite_max_abs(frame)?;
        let mut written = 0;
        if let Some(w) = self.open_coded() {
            if w.bits() != bits || w.frame_count() >= cap {
                written = self.write_active(out)?;
            }
        }
        let bound = self.bound_for(bits);
        let (n, k) = (self.tensor_len as usize, self.keyframe_interval);
        let writer = self
            .coded
            .get_or_insert_with(|| CodedWriter::new(bits, bound, n, k));
        if written > 0 || writer.frame_count() == 0 {
            writer.reset(bits, bound, k);
        }
        writer.push(frame, max_abs);
        Ok(written)
    }

    /// Writes the active segment (if any) to `out`; returns its length. Does not close it.
    fn write_active(&self, out: &mut Output<'_>) -> Result<usize, Error> {
        if let Some(w) = self.open_coded() {
            return Ok(match out {
                Output::Grow(vec) => w.write(vec),
                Output::Fixed(_) => {
                    let mut bytes = Vec::with_capacity(w.max_encoded_len());
                    let len = w.write(&mut bytes);
                    out.reserve(len)?.copy_from_slice(&bytes);
                    len
                }
            });
        }
        let Some(active) = self.active.as_ref() else {
            return Ok(0);
        };
        let parts = active.parts(self.tensor_len, self.policy.group_len);
        let len = parts.encoded_len();
        match out {
            Output::Grow(vec) => parts.append_to(vec),
            Output::Fixed(_) => parts.write(out.reserve(len)?),
        }
        Ok(len)
    }

    /// Appends the bytes the active segment would have if finished now, without finishing it:
    /// a readable snapshot of the frames not yet emitted. Returns the number of bytes appended
    /// (0 when no segment is open). The snapshot is a complete, valid segment.
    pub fn peek(&self, out: &mut Vec<u8>) -> usize {
        // Growing output cannot fail.
        self.write_active(&mut Output::Grow(out)).unwrap_or(0)
    }

    /// Like [`peek`](Self::peek), writing the snapshot to the start of `out`; returns its length
    /// (0 when no segment is open). A packed snapshot is written straight into `out`; a coded one
    /// is entropy coded first (its exact length is known only then).
    ///
    /// Errors: [`Error::BufferTooSmall`] with the exact length needed; nothing changes.
    pub fn peek_into(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.write_active(&mut Output::Fixed(out))
    }

    /// Finishes the active segment, appending its bytes to `out`; returns the number of bytes
    /// appended (0 when no segment was open). The next frame starts a new segment.
    pub fn flush(&mut self, out: &mut Vec<u8>) -> usize {
        let written = self.peek(out);
        self.close_active();
        written
    }

    /// Forgets the active segment (after it was written), keeping the coded writer's buffers.
    fn close_active(&mut self) {
        self.active = None;
        if let Some(w) = self.coded.as_mut() {
            w.clear();
        }
    }

    /// Like [`flush`](Self::flush), writing into `out`.
    ///
    /// Errors: [`Error::BufferTooSmall`] with the size needed; the segment stays open and the same
    /// call with a large enough buffer succeeds.
    pub fn flush_into(&mut self, out: &mut [u8]) -> Result<usize, Error> {
        let written = self.write_active(&mut Output::Fixed(out))?;
        self.close_active();
        Ok(written)
    }
}

/// Index of the first NaN or ±Inf in `values`, if any.
fn first_non_finite(values: &[f32]) -> Option<usize> {
    finite_max_abs(values).err().map(|e| match e {
        Error::NonFinite { index } => index,
        _ => 0,
    })
}

/// The largest `|v|` of `values` (`+0` for none), or [`Error::NonFinite`] with the index of
/// the first NaN or ±Inf. Takes the largest `|v|` bit pattern of 4096 values at a time with
/// the active kernels' `group_max_abs` (vectorized for the CPU: AVX2 on x86-64, simd128 in the
/// SIMD WebAssembly module), which is NaN or ∞ exactly when the chunk holds one, then locates
/// the culprit inside that chunk. For finite values the largest bit pattern is the largest
/// `|v|`.
fn finite_max_abs(values: &[f32]) -> Result<f32, Error> {
    const CHUNK: usize = 4096;
    let group_max_abs = crate::kernels::active().group_max_abs;
    let mut largest = 0.0f32;
    for (c, chunk) in values.chunks(CHUNK).enumerate() {
        let mut max = [0f32];
        group_max_abs(chunk, chunk.len(), &mut max);
        if max[0].to_bits() >= f32::INFINITY.to_bits() {
            let index = chunk.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(Error::NonFinite {
                index: c * CHUNK + index,
            });
        }
        largest = largest.max(max[0]);
    }
    Ok(largest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn first_non_finite_finds_the_first_anywhere() {
        assert_eq!(first_non_finite(&[]), None);
        let len = 3 * 4096 + 17;
        let finite: Vec<f32> = (0..len).map(|i| (i as f32 - 5000.0) * 1e30).collect();
        assert_eq!(first_non_finite(&finite), None);
        let mut edge = vec![f32::MAX; 8];
        edge[3] = -f32::MAX;
        assert_eq!(first_non_finite(&edge), None);
        for at in [0, 1, 4095, 4096, 4097, 8191, 2 * 4096 + 5, len - 1] {
            for bad in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut values = finite.clone();
                values[at] = bad;
                assert_eq!(first_non_finite(&values), Some(at), "{bad} at {at}");
                // A later one does not hide the first.
                values[len - 1] = f32::NAN;
                assert_eq!(first_non_finite(&values), Some(at), "{bad} at {at}");
            }
        }
    }

    #[test]
    fn a_batch_with_a_non_finite_value_changes_nothing() {
        let n = 64;
        let mut c = TemporalTensorCompressor::new(TierPolicy::default(), n as u32, 0).unwrap();
        let mut frames = vec![0.5f32; n * 40];
        frames[n * 37 + 9] = f32::NAN;
        let mut out = Vec::new();
        assert_eq!(
            c.push_frames(&frames, 0, &mut out),
            Err(Error::NonFinite { index: n * 37 + 9 })
        );
        assert!(out.is_empty());
        assert_eq!(c.pending_segment_len(), 0);
    }
}
