//! Documented maximums. Exceeding one is an [`crate::Error`], never an allocation failure.

/// Largest tensor (frame) length a compressor accepts: 2²⁴ values (64 MiB of `f32` per frame).
pub const MAX_TENSOR_LEN: u32 = 1 << 24;

/// Largest quantization group length a policy accepts.
pub const MAX_GROUP_LEN: u32 = 1 << 24;

/// Largest `max_segment_frames` a policy accepts.
pub const MAX_SEGMENT_FRAMES: u32 = 1 << 16;

/// Most `f32` values an allocating decode (`segment::decode`, `decodeSegment`) produces from one
/// segment: 2²⁸ values (1 GiB). A coded segment can describe far more values than it has bytes
/// (a run of zeros costs almost nothing), so a larger one is refused with
/// [`crate::Error::LimitExceeded`] before anything is allocated; decode it frame by frame or into
/// a caller's buffer instead.
pub const MAX_DECODE_VALUES: u64 = 1 << 28;
