//! x86-64 kernels: AVX2 quantize/dequantize (8 lanes), BMI2 `pext`/`pdep` bit packing.
//! Chosen at run time by [`detect`]; each entry point is safe because it is only ever handed
//! out after the features it needs were detected.

use super::{scalar, GroupStats, Kernels};
use core::arch::x86_64::*;

/// The best x86-64 set this CPU supports, or `None` for the scalar one.
pub fn detect() -> Option<Kernels> {
    let avx2 = std::is_x86_feature_detected!("avx2");
    let bmi2 = std::is_x86_feature_detected!("bmi2");
    match (avx2, bmi2) {
        (true, true) => Some(Kernels {
            name: "avx2+bmi2",
            quantize: quantize_avx2,
            dequantize: dequantize_avx2,
            pack: pack_bmi2,
            unpack: unpack_bmi2,
        }),
        (true, false) => Some(Kernels {
            name: "avx2",
            quantize: quantize_avx2,
            dequantize: dequantize_avx2,
            pack: scalar::pack,
            unpack: scalar::unpack,
        }),
        _ => None,
    }
}

fn quantize_avx2(
    values: &[f32],
    inv: f32,
    scale: f32,
    qmax: f32,
    codes: &mut [u8],
    stats: &mut GroupStats,
) {
    // SAFETY: only reachable through `detect`, which checked AVX2.
    unsafe { quantize_avx2_impl(values, inv, scale, qmax, codes, stats) }
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_avx2_impl(
    values: &[f32],
    inv: f32,
    scale: f32,
    qmax: f32,
    codes: &mut [u8],
    stats: &mut GroupStats,
) {
    let n = values.len().min(codes.len());
    let whole = n / 8 * 8;
    let sign = _mm256_set1_ps(-0.0);
    let vinv = _mm256_set1_ps(inv);
    let vscale = _mm256_set1_ps(scale);
    let vq = _mm256_set1_ps(qmax);
    let vnq = _mm256_set1_ps(-qmax);
    let vlimit = _mm256_set1_ps(qmax + 0.5);
    let vmax = _mm256_set1_ps(f32::MAX);
    let bias = _mm256_set1_epi32(qmax as i32);
    // Byte 0 of each 32-bit lane to the low 4 bytes of each 128-bit half.
    let gather = _mm256_setr_epi8(
        0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let mut max_abs = _mm256_setzero_ps();
    let mut max_err = _mm256_setzero_ps();
    let mut clamped = _mm256_setzero_ps();
    let mut finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    let mut i = 0;
    while i < whole {
        // SAFETY: i + 8 <= n <= values.len().
        let v = unsafe { _mm256_loadu_ps(values.as_ptr().add(i)) };
        let a = _mm256_andnot_ps(sign, v);
        finite = _mm256_and_ps(finite, _mm256_cmp_ps::<_CMP_LE_OQ>(a, vmax));
        max_abs = _mm256_max_ps(max_abs, a);
        let x = _mm256_mul_ps(v, vinv);
        clamped = _mm256_or_ps(
            clamped,
            _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_andnot_ps(sign, x), vlimit),
        );
        let c = _mm256_min_ps(_mm256_max_ps(x, vnq), vq);
        let q = _mm256_cvtps_epi32(c); // round to nearest, ties to even (default MXCSR)
        let deq = _mm256_mul_ps(_mm256_cvtepi32_ps(q), vscale);
        max_err = _mm256_max_ps(max_err, _mm256_andnot_ps(sign, _mm256_sub_ps(v, deq)));
        let bytes = _mm256_shuffle_epi8(_mm256_add_epi32(q, bias), gather);
        let lo = _mm256_extract_epi32::<0>(bytes) as u32;
        let hi = _mm256_extract_epi32::<4>(bytes) as u32;
        let word = (lo as u64) | ((hi as u64) << 32);
        codes[i..i + 8].copy_from_slice(&word.to_le_bytes());
        i += 8;
    }
    let mut lanes = [0f32; 8];
    let mut errs = [0f32; 8];
    // SAFETY: each array holds exactly 8 floats.
    unsafe {
        _mm256_storeu_ps(lanes.as_mut_ptr(), max_abs);
        _mm256_storeu_ps(errs.as_mut_ptr(), max_err);
    }
    for k in 0..8 {
        if lanes[k] > stats.max_abs {
            stats.max_abs = lanes[k];
        }
        if errs[k] > stats.max_err {
            stats.max_err = errs[k];
        }
    }
    stats.clamped |= _mm256_movemask_ps(clamped) != 0;
    stats.finite &= _mm256_movemask_ps(finite) == 0xff;
    scalar::quantize(
        &values[whole..n],
        inv,
        scale,
        qmax,
        &mut codes[whole..n],
        stats,
    );
}

fn dequantize_avx2(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    // SAFETY: only reachable through `detect`, which checked AVX2.
    unsafe { dequantize_avx2_impl(codes, scale, qmax, out) }
}

#[target_feature(enable = "avx2")]
unsafe fn dequantize_avx2_impl(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    let n = codes.len().min(out.len());
    let whole = n / 8 * 8;
    let vscale = _mm256_set1_ps(scale);
    let bias = _mm256_set1_epi32(qmax);
    let mut i = 0;
    while i < whole {
        // SAFETY: i + 8 <= n: 8 bytes are readable and 8 floats writable.
        unsafe {
            let c = _mm_loadl_epi64(codes.as_ptr().add(i) as *const __m128i);
            let q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(c), bias);
            _mm256_storeu_ps(
                out.as_mut_ptr().add(i),
                _mm256_mul_ps(_mm256_cvtepi32_ps(q), vscale),
            );
        }
        i += 8;
    }
    scalar::dequantize(&codes[whole..n], scale, qmax, &mut out[whole..n]);
}

/// Low `bits` bits of every byte.
fn lane_mask(bits: u32) -> u64 {
    ((1u64 << bits) - 1) * 0x0101_0101_0101_0101
}

fn pack_bmi2(codes: &[u8], bits: u32, out: &mut [u8]) {
    // SAFETY: only reachable through `detect`, which checked BMI2.
    unsafe { pack_bmi2_impl(codes, bits, out) }
}

#[target_feature(enable = "bmi2")]
unsafe fn pack_bmi2_impl(codes: &[u8], bits: u32, out: &mut [u8]) {
    let b = bits as usize;
    let mask = lane_mask(bits);
    for (chunk, dst) in codes.chunks_exact(8).zip(out.chunks_exact_mut(b)) {
        let x = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        dst.copy_from_slice(&_pext_u64(x, mask).to_le_bytes()[..b]);
    }
}

fn unpack_bmi2(data: &[u8], bits: u32, codes: &mut [u8]) {
    // SAFETY: only reachable through `detect`, which checked BMI2.
    unsafe { unpack_bmi2_impl(data, bits, codes) }
}

#[target_feature(enable = "bmi2")]
unsafe fn unpack_bmi2_impl(data: &[u8], bits: u32, codes: &mut [u8]) {
    let b = bits as usize;
    let mask = lane_mask(bits);
    for (src, chunk) in data.chunks_exact(b).zip(codes.chunks_exact_mut(8)) {
        let mut bytes = [0u8; 8];
        bytes[..b].copy_from_slice(src);
        chunk.copy_from_slice(&_pdep_u64(u64::from_le_bytes(bytes), mask).to_le_bytes());
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
