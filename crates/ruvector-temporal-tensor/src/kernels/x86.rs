//! x86-64 kernels: AVX2 quantize/dequantize (8 lanes) and BMI2 `pext`/`pdep` bit packing,
//! fused so codes never leave registers. Chosen at run time by [`detect`]; each entry point is
//! safe because it is only handed out after the features it needs were detected.

use super::{scalar, GroupStats, Kernels};
use core::arch::x86_64::*;

/// The best x86-64 set this CPU supports, or `None` for the scalar one.
pub fn detect() -> Option<Kernels> {
    if !std::is_x86_feature_detected!("avx2") {
        return None;
    }
    if std::is_x86_feature_detected!("bmi2") {
        return Some(Kernels {
            name: "avx2+bmi2",
            quantize,
            dequantize,
            pack: pack_bmi2,
            unpack: unpack_bmi2,
            quantize_pack: quantize_pack_bmi2,
            unpack_dequantize: unpack_dequantize_bmi2,
        });
    }
    Some(Kernels {
        name: "avx2",
        quantize,
        dequantize,
        pack: scalar::pack,
        unpack: scalar::unpack,
        quantize_pack: |v, inv, s, q, bits, out, st| {
            super::quantize_pack_with(quantize, v, inv, s, q, bits, out, st)
        },
        unpack_dequantize: |d, bits, s, q, out| {
            super::unpack_dequantize_with(dequantize, d, bits, s, q, out)
        },
    })
}

/// Quantizes 8 lanes at a time, accumulating the statistics in registers.
struct Quant8 {
    sign: __m256,
    inv: __m256,
    scale: __m256,
    q: __m256,
    neg_q: __m256,
    limit: __m256,
    max: __m256,
    bias: __m256i,
    gather: __m256i,
    max_abs: __m256,
    max_err: __m256,
    clamped: __m256,
    finite: __m256,
}

impl Quant8 {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(inv: f32, scale: f32, qmax: f32) -> Self {
        Quant8 {
            sign: _mm256_set1_ps(-0.0),
            inv: _mm256_set1_ps(inv),
            scale: _mm256_set1_ps(scale),
            q: _mm256_set1_ps(qmax),
            neg_q: _mm256_set1_ps(-qmax),
            limit: _mm256_set1_ps(qmax + 0.5),
            max: _mm256_set1_ps(f32::MAX),
            bias: _mm256_set1_epi32(qmax as i32),
            // Byte 0 of each 32-bit lane to the low 4 bytes of each 128-bit half.
            gather: _mm256_setr_epi8(
                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1,
                -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
            ),
            max_abs: _mm256_setzero_ps(),
            max_err: _mm256_setzero_ps(),
            clamped: _mm256_setzero_ps(),
            finite: _mm256_castsi256_ps(_mm256_set1_epi32(-1)),
        }
    }

    /// Quantizes 8 values; returns their codes, one per byte, first value in the lowest byte.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step(&mut self, v: __m256) -> u64 {
        let a = _mm256_andnot_ps(self.sign, v);
        self.finite = _mm256_and_ps(self.finite, _mm256_cmp_ps::<_CMP_LE_OQ>(a, self.max));
        self.max_abs = _mm256_max_ps(self.max_abs, a);
        let x = _mm256_mul_ps(v, self.inv);
        let beyond = _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_andnot_ps(self.sign, x), self.limit);
        self.clamped = _mm256_or_ps(self.clamped, beyond);
        let c = _mm256_min_ps(_mm256_max_ps(x, self.neg_q), self.q);
        let q = _mm256_cvtps_epi32(c); // round to nearest, ties to even (default MXCSR)
        let deq = _mm256_mul_ps(_mm256_cvtepi32_ps(q), self.scale);
        let err = _mm256_andnot_ps(self.sign, _mm256_sub_ps(v, deq));
        self.max_err = _mm256_max_ps(self.max_err, err);
        let bytes = _mm256_shuffle_epi8(_mm256_add_epi32(q, self.bias), self.gather);
        let lo = _mm256_extract_epi32::<0>(bytes) as u32 as u64;
        let hi = _mm256_extract_epi32::<4>(bytes) as u32 as u64;
        lo | (hi << 32)
    }

    /// Folds the lane statistics into `stats`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn finish(&self, stats: &mut GroupStats) {
        let mut lanes = [0f32; 8];
        let mut errs = [0f32; 8];
        // SAFETY: each array holds exactly 8 floats.
        unsafe {
            _mm256_storeu_ps(lanes.as_mut_ptr(), self.max_abs);
            _mm256_storeu_ps(errs.as_mut_ptr(), self.max_err);
        }
        for k in 0..8 {
            if lanes[k] > stats.max_abs {
                stats.max_abs = lanes[k];
            }
            if errs[k] > stats.max_err {
                stats.max_err = errs[k];
            }
        }
        stats.clamped |= _mm256_movemask_ps(self.clamped) != 0;
        stats.finite &= _mm256_movemask_ps(self.finite) == 0xff;
    }
}

/// `(codes − qmax) · scale` for the 8 codes in `word` (one per byte).
#[target_feature(enable = "avx2")]
#[inline]
fn dequantize8(word: u64, bias: __m256i, scale: __m256) -> __m256 {
    let codes = _mm_cvtsi64_si128(word as i64);
    let q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(codes), bias);
    _mm256_mul_ps(_mm256_cvtepi32_ps(q), scale)
}

/// Low `bits` bits of every byte.
fn lane_mask(bits: u32) -> u64 {
    ((1u64 << bits) - 1) * 0x0101_0101_0101_0101
}

fn quantize(
    values: &[f32],
    inv: f32,
    scale: f32,
    qmax: f32,
    codes: &mut [u8],
    stats: &mut GroupStats,
) {
    // SAFETY: only reachable through `detect`, which checked AVX2.
    unsafe { quantize_avx2(values, inv, scale, qmax, codes, stats) }
}

#[target_feature(enable = "avx2")]
fn quantize_avx2(
    values: &[f32],
    inv: f32,
    scale: f32,
    qmax: f32,
    codes: &mut [u8],
    stats: &mut GroupStats,
) {
    let n = values.len().min(codes.len());
    let whole = n / 8 * 8;
    let mut q8 = Quant8::new(inv, scale, qmax);
    for (chunk, out) in values[..whole]
        .chunks_exact(8)
        .zip(codes.chunks_exact_mut(8))
    {
        // SAFETY: `chunk` holds 8 floats.
        let word = q8.step(unsafe { _mm256_loadu_ps(chunk.as_ptr()) });
        out.copy_from_slice(&word.to_le_bytes());
    }
    q8.finish(stats);
    scalar::quantize(
        &values[whole..n],
        inv,
        scale,
        qmax,
        &mut codes[whole..n],
        stats,
    );
}

fn dequantize(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    // SAFETY: only reachable through `detect`, which checked AVX2.
    unsafe { dequantize_avx2(codes, scale, qmax, out) }
}

#[target_feature(enable = "avx2")]
fn dequantize_avx2(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    let n = codes.len().min(out.len());
    let whole = n / 8 * 8;
    let vscale = _mm256_set1_ps(scale);
    let bias = _mm256_set1_epi32(qmax);
    for (chunk, dst) in codes[..whole].chunks_exact(8).zip(out.chunks_exact_mut(8)) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 codes"));
        // SAFETY: `dst` holds 8 floats.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), dequantize8(word, bias, vscale)) };
    }
    scalar::dequantize(&codes[whole..n], scale, qmax, &mut out[whole..n]);
}

fn pack_bmi2(codes: &[u8], bits: u32, out: &mut [u8]) {
    // SAFETY: only reachable through `detect`, which checked BMI2.
    unsafe { pack_bmi2_impl(codes, bits, out) }
}

#[target_feature(enable = "bmi2")]
fn pack_bmi2_impl(codes: &[u8], bits: u32, out: &mut [u8]) {
    let b = bits as usize;
    let mask = lane_mask(bits);
    for (i, chunk) in codes.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 codes"));
        scalar::store_low_bytes(out, i * b, _pext_u64(x, mask), b);
    }
}

fn unpack_bmi2(data: &[u8], bits: u32, codes: &mut [u8]) {
    // SAFETY: only reachable through `detect`, which checked BMI2.
    unsafe { unpack_bmi2_impl(data, bits, codes) }
}

#[target_feature(enable = "bmi2")]
fn unpack_bmi2_impl(data: &[u8], bits: u32, codes: &mut [u8]) {
    let b = bits as usize;
    let mask = lane_mask(bits);
    for (i, chunk) in codes.chunks_exact_mut(8).enumerate() {
        let v = scalar::load_bytes(data, i * b, b);
        chunk.copy_from_slice(&_pdep_u64(v, mask).to_le_bytes());
    }
}

fn quantize_pack_bmi2(
    values: &[f32],
    inv: f32,
    scale: f32,
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut GroupStats,
) {
    // SAFETY: only reachable through `detect`, which checked AVX2 and BMI2.
    unsafe { quantize_pack_avx2_bmi2(values, inv, scale, qmax, bits, out, stats) }
}

#[target_feature(enable = "avx2,bmi2")]
fn quantize_pack_avx2_bmi2(
    values: &[f32],
    inv: f32,
    scale: f32,
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut GroupStats,
) {
    let b = bits as usize;
    let mask = lane_mask(bits);
    let mut q8 = Quant8::new(inv, scale, qmax);
    for (i, chunk) in values.chunks_exact(8).enumerate() {
        // SAFETY: `chunk` holds 8 floats.
        let word = q8.step(unsafe { _mm256_loadu_ps(chunk.as_ptr()) });
        let packed = if b == 8 { word } else { _pext_u64(word, mask) };
        scalar::store_low_bytes(out, i * b, packed, b);
    }
    q8.finish(stats);
}

fn unpack_dequantize_bmi2(data: &[u8], bits: u32, scale: f32, qmax: i32, out: &mut [f32]) {
    // SAFETY: only reachable through `detect`, which checked AVX2 and BMI2.
    unsafe { unpack_dequantize_avx2_bmi2(data, bits, scale, qmax, out) }
}

#[target_feature(enable = "avx2,bmi2")]
fn unpack_dequantize_avx2_bmi2(data: &[u8], bits: u32, scale: f32, qmax: i32, out: &mut [f32]) {
    let b = bits as usize;
    let mask = lane_mask(bits);
    let vscale = _mm256_set1_ps(scale);
    let bias = _mm256_set1_epi32(qmax);
    for (i, dst) in out.chunks_exact_mut(8).enumerate() {
        let v = scalar::load_bytes(data, i * b, b);
        let word = if b == 8 { v } else { _pdep_u64(v, mask) };
        // SAFETY: `dst` holds 8 floats.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), dequantize8(word, bias, vscale)) };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn avx2_and_bmi2_match_scalar() {
        match super::detect() {
            Some(k) => super::super::tests::check_against_scalar(k),
            None => std::eprintln!("skipping: no AVX2 on this CPU"),
        }
    }
}
