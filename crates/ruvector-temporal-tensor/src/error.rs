//! The crate's single error type.
//!
//! Every variant has a stable string [`Error::code`] (what the Node and WASM bindings expose as
//! `TemporalTensorError.code`) and a stable negative [`Error::status`] (what the `ttc_*` C ABI
//! returns). Both are part of the public contract: they never change meaning between releases.

use core::fmt;

/// Which field of a segment failed validation (see [`Error::CorruptSegment`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentField {
    /// `bits` is outside `1..=8`.
    Bits,
    /// `group_len` is zero.
    GroupLen,
    /// `tensor_len` is zero.
    TensorLen,
    /// `frame_count` is zero.
    FrameCount,
    /// `scale_count` differs from `ceil(tensor_len / group_len)`.
    ScaleCount,
    /// `data_len` is neither `ceil(tensor_len * frame_count * bits / 8)` (the ADR-017 layout) nor
    /// `frame_count * ceil(tensor_len * bits / 8)` (frames padded to whole bytes).
    DataLen,
    /// A scale is negative, NaN, infinite, or so large that a code would decode to infinity.
    Scale,
    /// A coded (v3 to v5) segment's CRC-32C does not match its bytes.
    Checksum,
    /// A coded segment's `byte_len` is smaller than its fixed parts.
    ByteLen,
    /// A coded segment's reserved byte is not zero.
    Reserved,
    /// A coded segment's error bound is not a finite number in `(0, 1)`.
    Bound,
    /// A coded segment's keyframe interval is zero.
    KeyframeInterval,
    /// A coded segment's symbol frequency table is malformed.
    FreqTable,
    /// A coded segment's block lengths do not add up to its payload.
    BlockLen,
    /// A coded frame's predictor mode is unknown, or predicts from a frame that does not exist.
    FrameMode,
    /// A coded frame's quantization step is negative, NaN or infinite.
    Step,
    /// A coded block's entropy-coded stream is malformed or does not end where it should.
    Stream,
    /// A version-4 coded segment's frame-record stream is longer than the segment, or its
    /// length field is malformed.
    Records,
    /// A coded frame decodes to a non-finite value.
    Values,
}

impl SegmentField {
    /// The field's name as written in the format description (`bits`, `group_len`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            SegmentField::Bits => "bits",
            SegmentField::GroupLen => "group_len",
            SegmentField::TensorLen => "tensor_len",
            SegmentField::FrameCount => "frame_count",
            SegmentField::ScaleCount => "scale_count",
            SegmentField::DataLen => "data_len",
            SegmentField::Scale => "scales",
            SegmentField::Checksum => "checksum",
            SegmentField::ByteLen => "byte_len",
            SegmentField::Reserved => "reserved",
            SegmentField::Bound => "bound",
            SegmentField::KeyframeInterval => "keyframe_interval",
            SegmentField::FreqTable => "freq_table",
            SegmentField::BlockLen => "block_len",
            SegmentField::FrameMode => "frame_mode",
            SegmentField::Step => "step",
            SegmentField::Stream => "stream",
            SegmentField::Records => "records",
            SegmentField::Values => "values",
        }
    }
}

/// Every way an operation of this crate can fail.
///
/// An operation that returns an `Error` has changed nothing: compressors keep their state and no
/// finished segment is dropped.
///
/// New variants may be added in minor releases (`#[non_exhaustive]`): match with a wildcard arm,
/// or use [`Error::code`] / [`Error::status`], which are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A frame's length differs from the compressor's tensor length, or an FFI length argument
    /// disagrees with the data it describes.
    LengthMismatch {
        /// The length that was required.
        expected: usize,
        /// The length that was given.
        actual: usize,
    },
    /// A frame holds NaN or ±Inf at `index`; only finite values can be compressed.
    NonFinite {
        /// Position of the first non-finite value in the frame.
        index: usize,
    },
    /// A configuration value is out of its documented range (see [`crate::TierPolicy::validate`]).
    InvalidConfig {
        /// Which option (the Rust field name).
        field: &'static str,
    },
    /// A documented maximum ([`crate::limits`]) would be exceeded.
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// The maximum allowed.
        max: u64,
        /// The value asked for (saturated to `u64::MAX`).
        requested: u64,
    },
    /// The bytes end before the segment does.
    Truncated {
        /// Bytes the segment needs.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The first four bytes are not the `TQTC` magic.
    BadMagic,
    /// The segment's version is not one this decoder knows (1, 2 and 3).
    UnsupportedVersion {
        /// The version byte that was found.
        version: u8,
    },
    /// A header field is inconsistent or out of range.
    CorruptSegment {
        /// The offending field.
        field: SegmentField,
    },
    /// A frame index past the end of the segment.
    FrameOutOfRange {
        /// The index asked for.
        index: u64,
        /// Frames in the segment.
        frame_count: u32,
    },
    /// An output buffer cannot hold the result; retry with at least `needed` units (bytes for
    /// segments, `f32` elements for decoded values). Nothing was consumed.
    BufferTooSmall {
        /// Capacity required.
        needed: u64,
        /// Capacity given.
        available: u64,
    },
    /// A null pointer was passed where data or an out-parameter was required (FFI only).
    NullPointer,
    /// A pointer is not aligned for its element type (FFI only).
    Misaligned,
    /// The handle does not name a live compressor (never created, or already freed) (FFI only).
    InvalidHandle,
    /// A pointer/size pair given to `ttc_dealloc` was not returned by `ttc_alloc` (FFI only).
    UnknownAllocation,
    /// Memory could not be allocated (FFI `ttc_alloc` only; elsewhere allocation failure aborts
    /// as in all Rust code).
    OutOfMemory,
    /// A bug in this crate was caught at the FFI boundary instead of unwinding into the caller.
    Internal,
    /// An argument has the wrong type or is out of range (raised by the language bindings,
    /// e.g. a timestamp that is not a `u32`, or a method called on a freed compressor's wrapper
    /// is reported as [`Error::InvalidHandle`]).
    InvalidArgument,
}

/// Writes a row's message: `(format, args...)` over the variant's fields, or a plain string.
macro_rules! write_message {
    ($f:ident, ($($format:tt)+)) => {
        write!($f, $($format)+)
    };
    ($f:ident, $plain:literal) => {
        $f.write_str($plain)
    };
}

/// The one table of every variant: its status, its code and its message (a format string over
/// the variant's fields). `code`, `status`, `CODES` and `Display` are all generated from it, so
/// they cannot disagree.
macro_rules! error_table {
    ($(
        $variant:ident $({ $($field:ident),* })? => $status:literal, $code:literal, $message:tt;
    )+) => {
        impl Error {
            /// Stable, machine-readable name of the variant (`"LENGTH_MISMATCH"`, ...).
            pub const fn code(&self) -> &'static str {
                match self {
                    $(Error::$variant $({ $($field: _),* })? => $code,)+
                }
            }

            /// Stable negative status code returned by the `ttc_*` C ABI (0 means success).
            pub const fn status(&self) -> i32 {
                match self {
                    $(Error::$variant $({ $($field: _),* })? => $status,)+
                }
            }

            /// Every `(status, code)` pair, in status order: the table bindings use to name
            /// statuses.
            pub const CODES: [(i32, &'static str); [$($status),+].len()] = [$(($status, $code)),+];
        }

        impl fmt::Display for Error {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match *self {
                    $(Error::$variant $({ $($field),* })? => write_message!(f, $message),)+
                }
            }
        }
    };
}

error_table! {
    LengthMismatch { expected, actual } => -1, "LENGTH_MISMATCH",
        ("length mismatch: expected {expected}, got {actual}");
    NonFinite { index } => -2, "NON_FINITE",
        ("frame value at index {index} is NaN or infinite");
    InvalidConfig { field } => -3, "INVALID_CONFIG",
        ("invalid configuration value for `{field}`");
    LimitExceeded { what, max, requested } => -4, "LIMIT_EXCEEDED",
        ("{what} {requested} exceeds the maximum {max}");
    Truncated { needed, available } => -5, "TRUNCATED",
        ("truncated segment: needs {needed} bytes, {available} available");
    BadMagic => -6, "BAD_MAGIC", "not a TQTC segment (bad magic)";
    UnsupportedVersion { version } => -7, "UNSUPPORTED_VERSION",
        ("unsupported segment version {version}");
    CorruptSegment { field } => -8, "CORRUPT_SEGMENT",
        ("corrupt segment: invalid `{}`", field.name());
    FrameOutOfRange { index, frame_count } => -9, "FRAME_OUT_OF_RANGE",
        ("frame index {index} out of range for a segment of {frame_count} frames");
    BufferTooSmall { needed, available } => -10, "BUFFER_TOO_SMALL",
        ("output buffer too small: needs {needed}, capacity {available}");
    NullPointer => -11, "NULL_POINTER", "null pointer argument";
    Misaligned => -12, "MISALIGNED", "pointer is not aligned for its element type";
    InvalidHandle => -13, "INVALID_HANDLE", "unknown or freed compressor handle";
    UnknownAllocation => -14, "UNKNOWN_ALLOCATION",
        "pointer and size were not returned by ttc_alloc";
    OutOfMemory => -15, "OUT_OF_MEMORY", "out of memory";
    Internal => -16, "INTERNAL", "internal error (please report)";
    InvalidArgument => -17, "INVALID_ARGUMENT", "invalid argument";
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_table_matches_variants() {
        let samples = [
            Error::LengthMismatch {
                expected: 1,
                actual: 2,
            },
            Error::NonFinite { index: 0 },
            Error::InvalidConfig { field: "x" },
            Error::LimitExceeded {
                what: "x",
                max: 1,
                requested: 2,
            },
            Error::Truncated {
                needed: 1,
                available: 0,
            },
            Error::BadMagic,
            Error::UnsupportedVersion { version: 9 },
            Error::CorruptSegment {
                field: SegmentField::Bits,
            },
            Error::FrameOutOfRange {
                index: 1,
                frame_count: 1,
            },
            Error::BufferTooSmall {
                needed: 2,
                available: 1,
            },
            Error::NullPointer,
            Error::Misaligned,
            Error::InvalidHandle,
            Error::UnknownAllocation,
            Error::OutOfMemory,
            Error::Internal,
            Error::InvalidArgument,
        ];
        let messages = [
            "length mismatch: expected 1, got 2",
            "frame value at index 0 is NaN or infinite",
            "invalid configuration value for `x`",
            "x 2 exceeds the maximum 1",
            "truncated segment: needs 1 bytes, 0 available",
            "not a TQTC segment (bad magic)",
            "unsupported segment version 9",
            "corrupt segment: invalid `bits`",
            "frame index 1 out of range for a segment of 1 frames",
            "output buffer too small: needs 2, capacity 1",
            "null pointer argument",
            "pointer is not aligned for its element type",
            "unknown or freed compressor handle",
            "pointer and size were not returned by ttc_alloc",
            "out of memory",
            "internal error (please report)",
            "invalid argument",
        ];
        assert_eq!(samples.len(), Error::CODES.len());
        assert_eq!(samples.len(), messages.len());
        for ((e, (status, code)), message) in samples.iter().zip(Error::CODES).zip(messages) {
            assert_eq!(e.status(), status);
            assert_eq!(e.code(), code);
            assert_eq!(e.to_string(), message);
        }
        for (i, (status, _)) in Error::CODES.iter().enumerate() {
            assert_eq!(
                *status,
                -(i as i32) - 1,
                "statuses are -1, -2, ... in order"
            );
        }
    }
}
