//! Shared helpers for the integration tests: seeded streams and round-trip checks.
#![allow(dead_code)]

use ruvector_temporal_tensor::quantizer::error_bound;
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Format, TemporalTensorCompressor, TierPolicy};

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [-1, 1).
    pub fn signed(&mut self) -> f32 {
        (self.unit() * 2.0 - 1.0) as f32
    }
    /// Approximately standard normal (sum of uniforms).
    pub fn normal(&mut self) -> f32 {
        ((0..4).map(|_| self.unit()).sum::<f64>() - 2.0) as f32 * 1.732
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A policy and access statistics that pin the compressor to `bits` at timestamp 0..
///
/// Thresholds and access counts rather than `TierPolicy::fixed`, on purpose: the golden-vector
/// manifest records this policy so that a reader with only `ttc_create_with_policy` (no
/// `fixed_bits`) reproduces the vectors, and tests that move a compressor to another tier with
/// `set_access` (coded_format.rs) need a width that still follows the access statistics.
pub fn pinned(bits: u8, group_len: u32) -> (TierPolicy, u32) {
    let base = TierPolicy {
        group_len,
        ..TierPolicy::default()
    };
    match bits {
        8 => (base, u32::MAX),
        7 | 5 => (
            TierPolicy {
                hot_min_score: u32::MAX,
                warm_min_score: 0,
                warm_bits: bits,
                ..base
            },
            0,
        ),
        3 => (base, 0),
        _ => panic!("unsupported width {bits}"),
    }
}

/// A compressor pinned to `bits` (timestamps must stay small: the hot tier decays with age).
pub fn compressor(bits: u8, tensor_len: u32, group_len: u32) -> TemporalTensorCompressor {
    compressor_in(Format::Packed, bits, tensor_len, group_len)
}

/// A compressor pinned to `bits` writing `format`.
pub fn compressor_in(
    format: Format,
    bits: u8,
    tensor_len: u32,
    group_len: u32,
) -> TemporalTensorCompressor {
    let (policy, count) = pinned(bits, group_len);
    let mut c = TemporalTensorCompressor::with_format(policy, tensor_len, 0, format).unwrap();
    c.set_access(count, 0);
    c
}

/// Pushes every frame (timestamp 0) and flushes; returns the concatenated segments.
pub fn compress(c: &mut TemporalTensorCompressor, frames: &[Vec<f32>]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        c.push_frame(frame, 0, &mut out).unwrap();
    }
    c.flush(&mut out);
    out
}

/// Decodes back-to-back segments; returns the headers and all values in order.
pub fn decode_all(bytes: &[u8]) -> (Vec<SegmentHeader>, Vec<f32>) {
    let mut headers = Vec::new();
    let mut values = Vec::new();
    for part in segment::split_segments(bytes) {
        let (header, seg) = part.unwrap();
        segment::decode(seg, &mut values).unwrap();
        headers.push(header);
    }
    (headers, values)
}

/// ADR-017 §8.2's measure: max|v - v'| / max|v| (0 for an all-zero frame decoded exactly).
pub fn relative_error(original: &[f32], decoded: &[f32]) -> f64 {
    let max_abs = original.iter().map(|v| v.abs() as f64).fold(0.0, f64::max);
    let max_err = original
        .iter()
        .zip(decoded)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .fold(0.0, f64::max);
    if max_abs == 0.0 {
        if max_err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        max_err / max_abs
    }
}

/// Compresses `frames` at `bits`, decodes, checks every frame against the bound and every
/// segment's width; returns (worst relative error, segment count).
pub fn check_round_trip(frames: &[Vec<f32>], bits: u8, group_len: u32) -> (f64, usize) {
    check_round_trip_in(Format::Packed, frames, bits, group_len)
}

/// [`check_round_trip`] for either format.
pub fn check_round_trip_in(
    format: Format,
    frames: &[Vec<f32>],
    bits: u8,
    group_len: u32,
) -> (f64, usize) {
    let n = frames[0].len();
    let mut c = compressor_in(format, bits, n as u32, group_len);
    let bytes = compress(&mut c, frames);
    let (headers, values) = decode_all(&bytes);
    assert_eq!(values.len(), frames.len() * n, "every frame comes back");
    assert!(headers
        .iter()
        .all(|h| h.bits == bits && h.format() == format));
    let bound = error_bound(bits as u32).unwrap() as f64;
    let mut worst = 0.0f64;
    for (t, frame) in frames.iter().enumerate() {
        let err = relative_error(frame, &values[t * n..(t + 1) * n]);
        assert!(err < bound, "bits={bits} frame {t}: error {err} >= {bound}");
        worst = worst.max(err);
    }
    (worst, headers.len())
}
