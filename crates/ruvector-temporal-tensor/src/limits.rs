//! Documented maximums. Exceeding one is an [`crate::Error`], never an allocation failure.

/// Largest tensor (frame) length a compressor accepts: 2²⁴ values (64 MiB of `f32` per frame).
pub const MAX_TENSOR_LEN: u32 = 1 << 24;

/// Largest quantization group length a policy accepts.
pub const MAX_GROUP_LEN: u32 = 1 << 24;

/// Largest `max_segment_frames` a policy accepts.
pub const MAX_SEGMENT_FRAMES: u32 = 1 << 16;
