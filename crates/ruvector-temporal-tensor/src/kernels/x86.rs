//! x86-64 kernels: AVX2 quantize/dequantize (8 lanes, 32 per step in the fused path) and BMI2
//! `pext`/`pdep` bit packing, fused so codes never leave registers. Chosen at run time by
//! [`detect`]; each entry point is safe because it is only handed out after the features it
//! needs were detected.

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
            coded: super::coded::avx2::KERNELS,
        });
    }
    Some(Kernels {
        name: "avx2",
        quantize,
        dequantize,
        pack: scalar::pack,
        unpack: scalar::unpack,
        quantize_pack: avx2_only::quantize_pack,
        unpack_dequantize: avx2_only::unpack_dequantize,
        coded: super::coded::avx2::KERNELS,
    })
}

/// Quantizes 8 lanes at a time, accumulating the statistics in registers.
struct Quant8 {
    sign: __m256,
    inv: __m256,
    q: __m256,
    neg_q: __m256,
    max_x: __m256,
    max_e: __m256,
    sum_e: __m256,
}

impl Quant8 {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(inv: f32, qmax: f32) -> Self {
        Quant8 {
            sign: _mm256_set1_ps(-0.0),
            inv: _mm256_set1_ps(inv),
            q: _mm256_set1_ps(qmax),
            neg_q: _mm256_set1_ps(-qmax),
            max_x: _mm256_setzero_ps(),
            max_e: _mm256_setzero_ps(),
            sum_e: _mm256_setzero_ps(),
        }
    }

    /// Quantizes 8 values; returns their codes as 32-bit integers.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step(&mut self, v: __m256) -> __m256i {
        let x = _mm256_mul_ps(v, self.inv);
        self.max_x = _mm256_max_ps(self.max_x, _mm256_andnot_ps(self.sign, x));
        let c = _mm256_min_ps(_mm256_max_ps(x, self.neg_q), self.q);
        let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(c);
        let e = _mm256_andnot_ps(self.sign, _mm256_sub_ps(x, r));
        self.max_e = _mm256_max_ps(self.max_e, e);
        self.sum_e = _mm256_add_ps(self.sum_e, e);
        _mm256_cvttps_epi32(_mm256_add_ps(r, self.q))
    }

    /// Quantizes 32 values (`p.len() == 32`); returns their 32 codes as bytes, in order.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step32(&mut self, p: &[f32]) -> __m256i {
        assert!(p.len() >= 32);
        // SAFETY: `p` holds at least 32 floats.
        let (a, b, c, d) = unsafe {
            (
                _mm256_loadu_ps(p.as_ptr()),
                _mm256_loadu_ps(p.as_ptr().add(8)),
                _mm256_loadu_ps(p.as_ptr().add(16)),
                _mm256_loadu_ps(p.as_ptr().add(24)),
            )
        };
        let (a, b, c, d) = (self.step(a), self.step(b), self.step(c), self.step(d));
        let bytes = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
        _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }

    /// Folds the lane statistics into `stats`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn finish(&self, stats: &mut GroupStats) {
        let mut x = [0f32; 8];
        let mut e = [0f32; 8];
        let mut s = [0f32; 8];
        // SAFETY: each array holds exactly 8 floats.
        unsafe {
            _mm256_storeu_ps(x.as_mut_ptr(), self.max_x);
            _mm256_storeu_ps(e.as_mut_ptr(), self.max_e);
            _mm256_storeu_ps(s.as_mut_ptr(), self.sum_e);
        }
        for k in 0..8 {
            if x[k] > stats.max_x {
                stats.max_x = x[k];
            }
            if e[k] > stats.max_e {
                stats.max_e = e[k];
            }
            stats.sum_e += s[k];
        }
    }
}

/// The low byte of each 32-bit lane of `codes`, in order, as one `u64`.
#[target_feature(enable = "avx2")]
#[inline]
fn narrow8(codes: __m256i) -> u64 {
    let gather = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let bytes = _mm256_shuffle_epi8(codes, gather);
    let lo = _mm256_extract_epi32::<0>(bytes) as u32 as u64;
    let hi = _mm256_extract_epi32::<4>(bytes) as u32 as u64;
    lo | (hi << 32)
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

fn quantize(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    // SAFETY: only reachable through `detect`, which checked AVX2.
    unsafe { quantize_avx2(values, inv, qmax, codes, stats) }
}

#[target_feature(enable = "avx2")]
fn quantize_avx2(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    let n = values.len().min(codes.len());
    let whole = n / 8 * 8;
    let mut q8 = Quant8::new(inv, qmax);
    for (chunk, out) in values[..whole]
        .chunks_exact(8)
        .zip(codes.chunks_exact_mut(8))
    {
        // SAFETY: `chunk` holds 8 floats.
        let word = narrow8(q8.step(unsafe { _mm256_loadu_ps(chunk.as_ptr()) }));
        out.copy_from_slice(&word.to_le_bytes());
    }
    q8.finish(stats);
    scalar::quantize(&values[whole..n], inv, qmax, &mut codes[whole..n], stats);
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

/// The fused kernels of CPUs with AVX2 but no BMI2: AVX2 quantize, scalar packing.
mod avx2_only {
    use super::{dequantize, quantize, GroupStats};
    fused_via_scalar_packing!();
}

fn quantize_pack_bmi2(
    values: &[f32],
    inv: f32,
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut GroupStats,
) {
    // SAFETY: only reachable through `detect`, which checked AVX2 and BMI2.
    unsafe { quantize_pack_avx2_bmi2(values, inv, qmax, bits, out, stats) }
}

#[target_feature(enable = "avx2,bmi2")]
fn quantize_pack_avx2_bmi2(
    values: &[f32],
    inv: f32,
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut GroupStats,
) {
    let b = bits as usize;
    let mask = lane_mask(bits);
    let mut q8 = Quant8::new(inv, qmax);
    let wide = values.len() / 32 * 32;
    let mut at = 0;
    for chunk in values[..wide].chunks_exact(32) {
        let bytes = q8.step32(chunk);
        let words = [
            _mm256_extract_epi64::<0>(bytes) as u64,
            _mm256_extract_epi64::<1>(bytes) as u64,
            _mm256_extract_epi64::<2>(bytes) as u64,
            _mm256_extract_epi64::<3>(bytes) as u64,
        ];
        for word in words {
            let packed = if b == 8 { word } else { _pext_u64(word, mask) };
            scalar::store_low_bytes(out, at, packed, b);
            at += b;
        }
    }
    for chunk in values[wide..].chunks_exact(8) {
        // SAFETY: `chunk` holds 8 floats.
        let word = narrow8(q8.step(unsafe { _mm256_loadu_ps(chunk.as_ptr()) }));
        let packed = if b == 8 { word } else { _pext_u64(word, mask) };
        scalar::store_low_bytes(out, at, packed, b);
        at += b;
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
    let count = out.len() / 8;
    // Chunks whose 8-byte load stays inside `data` need no bounds check.
    let fast = if data.len() >= 8 {
        ((data.len() - 8) / b + 1).min(count)
    } else {
        0
    };
    let (head, tail) = out.split_at_mut(fast * 8);
    for (i, dst) in head.chunks_exact_mut(8).enumerate() {
        // SAFETY: i < fast, so i * b + 8 <= data.len().
        let v = u64::from_le(unsafe { data.as_ptr().add(i * b).cast::<u64>().read_unaligned() });
        let word = if b == 8 { v } else { _pdep_u64(v, mask) };
        // SAFETY: `dst` holds 8 floats.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), dequantize8(word, bias, vscale)) };
    }
    for (i, dst) in tail.chunks_exact_mut(8).enumerate() {
        let v = scalar::load_bytes(data, (fast + i) * b, b);
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

    #[test]
    fn avx2_without_bmi2_matches_scalar() {
        if std::is_x86_feature_detected!("avx2") {
            let mut k = super::detect().unwrap();
            k.pack = super::scalar::pack;
            k.unpack = super::scalar::unpack;
            k.quantize_pack = super::avx2_only::quantize_pack;
            k.unpack_dequantize = super::avx2_only::unpack_dequantize;
            super::super::tests::check_against_scalar(k);
        }
    }
}
