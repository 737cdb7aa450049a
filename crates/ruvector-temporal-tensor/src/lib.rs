//! Temporal tensor compression with tiered quantization (ADR-017).
//!
//! Streams of `f32` frames (embeddings, activations, KV-cache-like tensors) are quantized
//! groupwise with symmetric codes of 8, 7, 5 or 3 bits, and one set of group scales is reused
//! across many frames (a *segment*) until the data drifts. Which width a frame gets follows how
//! often the tensor is accessed ([`TierPolicy`]). Segments are self-describing byte strings in the
//! TQTC format ([`segment`]), identical from every backend.
//!
//! **Guarantee:** every frame decodes within its width's bound on `max|v − v'| / max|v|`
//! (< 0.8 % at 8 bits, < 1.6 % at 7, < 6.5 % at 5, < 30 % at 3; see [`quantizer::error_bound`]), on
//! any stream of finite values. The compressor measures each frame's exact decoded error and
//! starts a new segment whenever reusing the current scales would break the bound.
//!
//! ```
//! use ruvector_temporal_tensor::{segment, TemporalTensorCompressor, TierPolicy};
//!
//! let mut compressor = TemporalTensorCompressor::new(TierPolicy::default(), 512, 0)?;
//! compressor.set_access(100, 0); // a frequently read tensor: hot tier, 8-bit codes
//!
//! let mut segments = Vec::new();
//! for t in 0..10u32 {
//!     let frame: Vec<f32> = (0..512).map(|i| ((i + t as usize) as f32 * 0.01).sin()).collect();
//!     compressor.push_frame(&frame, t, &mut segments)?;
//! }
//! compressor.flush(&mut segments);
//!
//! let mut decoded = Vec::new();
//! for part in segment::split_segments(&segments) {
//!     let (_header, bytes) = part?;
//!     segment::decode(bytes, &mut decoded)?;
//! }
//! assert_eq!(decoded.len(), 10 * 512);
//! # Ok::<(), ruvector_temporal_tensor::Error>(())
//! ```
//!
//! The crate has no dependencies and is `no_std` + `alloc` without its default `std` feature.
//! The `ffi` feature adds the `ttc_*` C ABI used by C callers and the WASM build.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

/// Bit packing of codes: an internal layer, public only for the fuzz targets.
#[doc(hidden)]
pub mod bitpack;
pub mod coded;
mod coded_records;
pub mod compressor;
pub mod crc32c;
pub mod error;
pub mod f16;
#[cfg(feature = "ffi")]
pub mod ffi;
pub mod kernels;
pub mod limits;
pub mod quantizer;
mod range_coder;
pub mod rans;
pub mod segment;
pub mod tier_policy;

/// The crate README's examples, compiled and run as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use compressor::TemporalTensorCompressor;
pub use error::{Error, SegmentField};
pub use segment::{Format, SegmentHeader};
pub use tier_policy::{Tier, TierPolicy};
