//! Scalar reference kernels. Every SIMD kernel must produce exactly what these produce.

use super::GroupStats;
use crate::quantizer::round_ties_even;

/// Quantizes `values` with `x = v * inv`, writing codes `round_ties_even(clamp(x, ±qmax)) + qmax`
/// and folding the exact decoded error (`|v − q·scale|`), `max |v|`, clamping (`|x| > qmax + ½`)
/// and finiteness into `stats`.
pub fn quantize(
    values: &[f32],
    inv: f32,
    scale: f32,
    qmax: f32,
    codes: &mut [u8],
    stats: &mut GroupStats,
) {
    let limit = qmax + 0.5;
    for (&v, code) in values.iter().zip(codes.iter_mut()) {
        let a = v.abs();
        stats.finite &= a <= f32::MAX;
        let x = v * inv;
        stats.clamped |= x.abs() > limit;
        let q = round_ties_even(x.clamp(-qmax, qmax));
        let q = if q.is_nan() { 0.0 } else { q };
        *code = (q as i32 + qmax as i32) as u8;
        let err = (v - q * scale).abs();
        if err > stats.max_err {
            stats.max_err = err;
        }
        if a > stats.max_abs {
            stats.max_abs = a;
        }
    }
}

/// `out[i] = (codes[i] − qmax) · scale`.
pub fn dequantize(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    for (&code, slot) in codes.iter().zip(out.iter_mut()) {
        *slot = (code as i32 - qmax) as f32 * scale;
    }
}

/// Packs codes (each `< 2^bits`, `codes.len()` a multiple of 8) into `out`
/// (`codes.len() / 8 * bits` bytes), least significant bit first.
pub fn pack(codes: &[u8], bits: u32, out: &mut [u8]) {
    let b = bits as usize;
    for (chunk, dst) in codes.chunks_exact(8).zip(out.chunks_exact_mut(b)) {
        let mut v = 0u64;
        for (k, &c) in chunk.iter().enumerate() {
            v |= (c as u64) << (k * b);
        }
        dst.copy_from_slice(&v.to_le_bytes()[..b]);
    }
}

/// Inverse of [`pack`]: reads `codes.len() / 8 * bits` bytes of `data`.
pub fn unpack(data: &[u8], bits: u32, codes: &mut [u8]) {
    let b = bits as usize;
    let mask = (1u64 << b) - 1;
    for (src, chunk) in data.chunks_exact(b).zip(codes.chunks_exact_mut(8)) {
        let mut bytes = [0u8; 8];
        bytes[..b].copy_from_slice(src);
        let v = u64::from_le_bytes(bytes);
        for (k, c) in chunk.iter_mut().enumerate() {
            *c = ((v >> (k * b)) & mask) as u8;
        }
    }
}
