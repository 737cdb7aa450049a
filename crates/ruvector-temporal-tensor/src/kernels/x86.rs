//! x86-64 kernels: AVX2 quantize/dequantize (8 lanes, 32 per step in the fused paths) with the
//! codes packed and unpacked in registers, in two sets:
//!
//! - [`AVX2`] packs bits with multiplies, shifts and byte shuffles (`vpmaddubsw`, `vpmaddwd`,
//!   `vpsllq`, `vpshufb`, `vpsrlvd`): no BMI2, so it is fast on every CPU with AVX2, including
//!   those where `pdep`/`pext` are microcoded (AMD Zen 1/2, Hygon).
//! - [`AVX2_BMI2`] is the same except where BMI2 measurably wins on CPUs with one-cycle
//!   `pdep`/`pext` (measured on AMD Zen 4): packing in the fused quantize+pack (four `pext` per 32
//!   codes run on the integer side while the vector units quantize: about 5 % faster at
//!   7/5/3 bits) and the lone 8-code steps (one instruction instead of about nine). Unpacking for
//!   decode stays on the vector side in both sets (`pdep` + widening measured 15 % slower).
//!
//! [`super::choose`] decides which one a CPU gets. Each entry point is safe because the sets are
//! only handed out (by `super::kernels_of` and `super::lookup`) after the features they need were
//! detected.

use super::{scalar, FrameStats, GroupStats, Kernels};
use core::arch::x86_64::*;

/// AVX2 without BMI2.
pub(super) const AVX2: Kernels = Kernels {
    name: "avx2",
    quantize,
    dequantize,
    pack: swar::pack,
    unpack: swar::unpack,
    quantize_pack: swar::quantize_pack,
    unpack_dequantize: swar::unpack_dequantize,
    quantize_pack_groups: swar::quantize_pack_groups,
    quantize_pack_groups_bounded: Some(swar::quantize_pack_groups_bounded),
    unpack_dequantize_groups: swar::unpack_dequantize_groups,
    group_max_abs,
    coded: super::coded::avx2::KERNELS,
};

/// AVX2 with BMI2 where it wins.
pub(super) const AVX2_BMI2: Kernels = Kernels {
    name: "avx2+bmi2",
    quantize,
    dequantize,
    pack: bmi2::pack,
    unpack: bmi2::unpack,
    quantize_pack: bmi2::quantize_pack,
    unpack_dequantize: bmi2::unpack_dequantize,
    quantize_pack_groups: bmi2::quantize_pack_groups,
    quantize_pack_groups_bounded: Some(bmi2::quantize_pack_groups_bounded),
    unpack_dequantize_groups: bmi2::unpack_dequantize_groups,
    group_max_abs,
    coded: super::coded::avx2::KERNELS,
};

// ---- quantizing ----

/// Quantizes 8 lanes at a time, keeping the statistics in registers: `max |x|` as the largest
/// bit pattern (an integer maximum, so NaN and ∞ show in it) and `max |x − q|`.
#[derive(Clone, Copy)]
struct Quant {
    abs: __m256,
    inv: __m256,
    q: __m256,
    neg_q: __m256,
    q_bytes: __m256i,
    neg_q_bytes: __m256i,
    q_dwords: __m256i,
    neg_q_dwords: __m256i,
    max_x: __m256i,
    max_e: __m256,
}

impl Quant {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(inv: f32, qmax: f32) -> Self {
        Quant {
            abs: _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX)),
            inv: _mm256_set1_ps(inv),
            q: _mm256_set1_ps(qmax),
            neg_q: _mm256_set1_ps(-qmax),
            q_bytes: _mm256_set1_epi8(qmax as i8),
            neg_q_bytes: _mm256_set1_epi8(-(qmax as i8)),
            q_dwords: _mm256_set1_epi32(qmax as i32),
            neg_q_dwords: _mm256_set1_epi32(-(qmax as i32)),
            max_x: _mm256_setzero_si256(),
            max_e: _mm256_setzero_ps(),
        }
    }

    /// Starts a new group with another reciprocal scale.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn start(&mut self, inv: f32) {
        self.inv = _mm256_set1_ps(inv);
        self.max_x = _mm256_setzero_si256();
        self.max_e = _mm256_setzero_ps();
    }

    /// `x = v · inv`; returns `round(clamp(x, ±qmax))`, `|x|` and `|x − that|`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn round(&self, v: __m256) -> (__m256, __m256, __m256) {
        let x = _mm256_mul_ps(v, self.inv);
        // max(x, −q) is −q for NaN: the code is then some valid code (and discarded).
        let c = _mm256_min_ps(_mm256_max_ps(x, self.neg_q), self.q);
        let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(c);
        let e = _mm256_and_ps(_mm256_sub_ps(x, r), self.abs);
        (r, _mm256_and_ps(x, self.abs), e)
    }

    /// Quantizes 8 values; returns their unsigned codes as 32-bit integers.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step8(&mut self, v: __m256) -> __m256i {
        let (r, ax, e) = self.round(v);
        self.max_x = _mm256_max_epu32(self.max_x, _mm256_castps_si256(ax));
        // Errors are non-negative: their bit patterns order as the floats do (and NaN, for
        // non-finite input, needs no particular answer).
        self.max_e = _mm256_castsi256_ps(_mm256_max_epu32(
            _mm256_castps_si256(e),
            _mm256_castps_si256(self.max_e),
        ));
        _mm256_add_epi32(_mm256_cvtps_epi32(r), self.q_dwords)
    }

    /// Quantizes 8 values; returns their signed codes as 32-bit integers (statistics folded).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn signed8(&mut self, v: __m256) -> __m256i {
        let (r, ax, e) = self.round(v);
        self.max_x = _mm256_max_epu32(self.max_x, _mm256_castps_si256(ax));
        self.max_e = _mm256_castsi256_ps(_mm256_max_epu32(
            _mm256_castps_si256(e),
            _mm256_castps_si256(self.max_e),
        ));
        _mm256_cvtps_epi32(r)
    }

    /// Quantizes 32 values (`p.len() >= 32`); returns their 32 codes as bytes, in order.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step32(&mut self, p: &[f32]) -> __m256i {
        assert!(p.len() >= 32);
        // One vector at a time, folding its statistics at once: few live registers (AVX2 has
        // 16), and the max chains are short next to the rest of the work.
        let ia = self.signed8(load8(&p[..8]));
        let ib = self.signed8(load8(&p[8..16]));
        let ab = _mm256_packs_epi32(ia, ib);
        let ic = self.signed8(load8(&p[16..24]));
        let id = self.signed8(load8(&p[24..32]));
        let cd = _mm256_packs_epi32(ic, id);
        // Signed codes −q..=q fit an i8 after saturating packs; the bias is added per byte.
        let bytes = _mm256_packs_epi16(ab, cd);
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_add_epi8(bytes, self.q_bytes)
    }

    /// Quantizes 8 values without measuring the error, folding `max |x|` only: returns
    /// `round(min(x, qmax))` as 32-bit integers (ties to even: `vcvtps2dq` in the default
    /// rounding mode), which the caller still clamps at `−qmax` (below it, and for `x ≤ −2³¹`,
    /// where the conversion gives `i32::MIN`, clamping gives `−qmax`, as rounding the clamped
    /// value does; NaN gives `qmax`, a valid code discarded with the frame).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn rounded8(&mut self, v: __m256) -> __m256i {
        let x = _mm256_mul_ps(v, self.inv);
        let ax = _mm256_and_ps(x, self.abs);
        self.max_x = _mm256_max_epu32(self.max_x, _mm256_castps_si256(ax));
        _mm256_cvtps_epi32(_mm256_min_ps(x, self.q))
    }

    /// [`step8`](Self::step8) without measuring the error ([`rounded8`](Self::rounded8)).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step8_bounded(&mut self, v: __m256) -> __m256i {
        let signed = _mm256_max_epi32(self.rounded8(v), self.neg_q_dwords);
        _mm256_add_epi32(signed, self.q_dwords)
    }

    /// [`step32`](Self::step32) without measuring the error ([`rounded8`](Self::rounded8)):
    /// the saturating packs keep the order of the integers, so clamping the bytes at `−qmax`
    /// clamps them as the scalar kernel does.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step32_bounded(&mut self, p: &[f32]) -> __m256i {
        assert!(p.len() >= 32);
        let ia = self.rounded8(load8(&p[..8]));
        let ib = self.rounded8(load8(&p[8..16]));
        let ab = _mm256_packs_epi32(ia, ib);
        let ic = self.rounded8(load8(&p[16..24]));
        let id = self.rounded8(load8(&p[24..32]));
        let cd = _mm256_packs_epi32(ic, id);
        let bytes = _mm256_packs_epi16(ab, cd);
        let bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_add_epi8(_mm256_max_epi8(bytes, self.neg_q_bytes), self.q_bytes)
    }

    /// Folds the lane statistics into `stats`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn finish(&self, stats: &mut GroupStats) {
        let mx = hmax_u32(self.max_x);
        if mx > stats.max_x.to_bits() {
            stats.max_x = f32::from_bits(mx);
        }
        let me = hmax_ps(self.max_e);
        if me > stats.max_e {
            stats.max_e = me;
        }
    }
}

/// 8 floats (`p.len() >= 8`).
#[target_feature(enable = "avx2")]
#[inline]
fn load8(p: &[f32]) -> __m256 {
    assert!(p.len() >= 8);
    // SAFETY: `p` holds at least 8 floats.
    unsafe { _mm256_loadu_ps(p.as_ptr()) }
}

/// The largest of 8 unsigned lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn hmax_u32(v: __m256i) -> u32 {
    let m = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let m = _mm_max_epu32(m, _mm_shuffle_epi32::<0b01_00_11_10>(m));
    let m = _mm_max_epu32(m, _mm_shuffle_epi32::<0b10_11_00_01>(m));
    _mm_cvtsi128_si32(m) as u32
}

/// The largest of 8 lanes (as `if lane > m` would find it when none is NaN).
#[target_feature(enable = "avx2")]
#[inline]
fn hmax_ps(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_movehdup_ps(m));
    _mm_cvtss_f32(m)
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

/// `(codes − qmax) · scale` for 8 codes in 32-bit lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn dequantize8(codes: __m256i, bias: __m256i, scale: __m256) -> __m256 {
    _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(codes, bias)), scale)
}

/// 8 codes (one per byte of `word`) in 32-bit lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn widen8(word: u64) -> __m256i {
    _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(word as i64))
}

/// 8 bytes at `data[at..]` as a little-endian word: one load when they are there, else the
/// bytes that are (the caller masks the rest).
#[inline(always)]
fn word_at(data: &[u8], at: usize, len: usize) -> u64 {
    scalar::load_bytes(data, at, len)
}

fn quantize(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    // SAFETY: only reachable through the sets of this module, handed out after AVX2 was detected.
    unsafe { quantize_avx2(values, inv, qmax, codes, stats) }
}

#[target_feature(enable = "avx2")]
fn quantize_avx2(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    let n = values.len().min(codes.len());
    let mut q = Quant::new(inv, qmax);
    let mut i = 0;
    while i + 32 <= n {
        let bytes = q.step32(&values[i..i + 32]);
        let dst = &mut codes[i..i + 32];
        // SAFETY: `dst` holds 32 bytes.
        unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), bytes) };
        i += 32;
    }
    while i + 8 <= n {
        // SAFETY: 8 floats at `i`.
        let v = unsafe { _mm256_loadu_ps(values.as_ptr().add(i)) };
        let word = narrow8(q.step8(v));
        codes[i..i + 8].copy_from_slice(&word.to_le_bytes());
        i += 8;
    }
    q.finish(stats);
    scalar::quantize(&values[i..n], inv, qmax, &mut codes[i..n], stats);
}

fn group_max_abs(frame: &[f32], group_len: usize, out: &mut [f32]) {
    // SAFETY: only reachable through the sets of this module, handed out after AVX2 was detected.
    unsafe { group_max_abs_avx2(frame, group_len, out) }
}

/// The portable body ([`scalar::group_max_abs`]) vectorized with AVX2's `vpmaxud`.
#[target_feature(enable = "avx2")]
fn group_max_abs_avx2(frame: &[f32], group_len: usize, out: &mut [f32]) {
    scalar::group_max_abs(frame, group_len, out);
}

fn dequantize(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    // SAFETY: only reachable through the sets of this module, handed out after AVX2 was detected.
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
        let v = dequantize8(widen8(word), bias, vscale);
        // SAFETY: `dst` holds 8 floats.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), v) };
    }
    scalar::dequantize(&codes[whole..n], scale, qmax, &mut out[whole..n]);
}

// ---- bit packing ----

/// Low `bits` bits of every byte.
const fn lane_mask(bits: u32) -> u64 {
    ((1u64 << bits) - 1) * 0x0101_0101_0101_0101
}

/// Per width (index `bits`, 1..=7) the `vpshufb` control that moves the `bits` bytes of each
/// 64-bit lane to the front of its 128-bit lane (the rest zeroed).
const COMPACT: [[i8; 32]; 8] = {
    let mut t = [[-1i8; 32]; 8];
    let mut b = 1;
    while b < 8 {
        let mut lane = 0;
        while lane < 2 {
            let mut k = 0;
            while k < b {
                t[b][lane * 16 + k] = k as i8;
                t[b][lane * 16 + b + k] = (8 + k) as i8;
                k += 1;
            }
            lane += 1;
        }
        b += 1;
    }
    t
};

/// Per width, `vpshufb` controls that put in 32-bit lane `k` bytes `⌊k·bits/8⌋` and the next
/// of packed data broadcast to both 128-bit lanes: `[0]` for codes 0..8, `[1]` for codes 8..16
/// (whose bytes start `bits` bytes later).
const SPREAD: [[[i8; 32]; 2]; 8] = {
    let mut t = [[[-1i8; 32]; 2]; 8];
    let mut b = 1;
    while b < 8 {
        let mut half = 0;
        while half < 2 {
            let mut k = 0;
            while k < 8 {
                let first = half * b + k * b / 8;
                let at = k / 4 * 16 + k % 4 * 4;
                t[b][half][at] = first as i8;
                t[b][half][at + 1] = (first + 1) as i8;
                k += 1;
            }
            half += 1;
        }
        b += 1;
    }
    t
};

/// Per width, `k·bits mod 8` for 32-bit lane `k`: the shift that brings code `k` down.
const SHIFTS: [[i32; 8]; 8] = {
    let mut t = [[0i32; 8]; 8];
    let mut b = 1;
    while b < 8 {
        let mut k = 0;
        while k < 8 {
            t[b][k] = (k * b % 8) as i32;
            k += 1;
        }
        b += 1;
    }
    t
};

/// Per width, for unpacking 16 codes to bytes: the `vpshufb` control putting bytes
/// `⌊k·bits/8⌋` and the next in 16-bit lane `k`, and the multiplier `2^(16 − bits − k·bits mod 8)`
/// that lifts code `k` to the top of its lane.
const SPREAD16: [[i8; 32]; 8] = {
    let mut t = [[0i8; 32]; 8];
    let mut b = 1;
    while b < 8 {
        let mut k = 0;
        while k < 16 {
            let first = k * b / 8;
            let at = k / 8 * 16 + k % 8 * 2;
            t[b][at] = first as i8;
            t[b][at + 1] = (first + 1) as i8;
            k += 1;
        }
        b += 1;
    }
    t
};
const LIFT16: [[u16; 16]; 8] = {
    let mut t = [[0u16; 16]; 8];
    let mut b = 1;
    while b < 8 {
        let mut k = 0;
        while k < 16 {
            t[b][k] = (1u32 << (16 - b - k * b % 8)) as u16;
            k += 1;
        }
        b += 1;
    }
    t
};

/// Code `k` of a 16-code step in the 16-bit lane order that `vpunpcklwd`/`vpunpckhwd` turn into
/// codes 0..8 and 8..16 in order: lanes 0..4 and 4..8 of the low 128 bits hold codes 0..4 and
/// 8..12, those of the high 128 bits codes 4..8 and 12..16.
const fn word_code(lane: usize) -> usize {
    let (half, j) = (lane / 8, lane % 8);
    half * 4 + if j < 4 { j } else { j + 4 }
}

/// Per width (1..=7), the `vpshufb` control putting in 16-bit lane `l` bytes `⌊k·bits/8⌋` and
/// the next of packed data broadcast to both 128-bit lanes, with `k = word_code(l)`.
const WORDS: [[i8; 32]; 8] = {
    let mut t = [[-1i8; 32]; 8];
    let mut b = 1;
    while b < 8 {
        let mut l = 0;
        while l < 16 {
            let first = word_code(l) * b / 8;
            let at = l / 8 * 16 + l % 8 * 2;
            t[b][at] = first as i8;
            t[b][at + 1] = (first + 1) as i8;
            l += 1;
        }
        b += 1;
    }
    t
};

/// Per width (1..=7), for 16-bit lane `l`: `2^(16 − bits − k·bits mod 8)`, `k = word_code(l)`,
/// the multiplier that lifts the lane's code to its top bits.
const WORD_LIFT: [[u16; 16]; 8] = {
    let mut t = [[0u16; 16]; 8];
    let mut b = 1;
    while b < 8 {
        let mut l = 0;
        while l < 16 {
            t[b][l] = (1u32 << (16 - b - word_code(l) * b % 8)) as u16;
            l += 1;
        }
        b += 1;
    }
    t
};

/// `v`, hidden from the optimizer: with the constant in view, it rewrites the two unpacks of
/// [`Widen16`] into unpacks plus byte shuffles (three more operations per 16 codes).
#[target_feature(enable = "avx2")]
#[inline]
fn opaque(mut v: __m256i) -> __m256i {
    // SAFETY: an empty instruction sequence that reads and writes one register.
    unsafe { core::arch::asm!("/* {0} */", inout(ymm_reg) v, options(pure, nomem, nostack)) };
    v
}

/// Per width (1..=7), for 16-bit lane `l`: the bits of code `k = word_code(l)` where the
/// [`WORDS`] shuffle leaves them, `(2^bits − 1) << k·bits mod 8`.
const WORD_MASK: [[u16; 16]; 8] = {
    let mut t = [[0u16; 16]; 8];
    let mut b = 1;
    while b < 8 {
        let mut l = 0;
        while l < 16 {
            t[b][l] = (((1u32 << b) - 1) << (word_code(l) * b % 8)) as u16;
            l += 1;
        }
        b += 1;
    }
    t
};

/// Dequantizes 16 codes of `bits` (1..=7) bits at a time: a byte shuffle gathers each code's
/// two bytes into a 16-bit lane, a multiply by a power of two and a shift isolate the code, two
/// unpacks against `0x4B00` make the lanes the floats `2²³ + c` in order, and per 8 codes a
/// subtraction of `2²³ + qmax` (exact) and a multiply by the scale (rounded once, as the scalar
/// `(c − qmax) as f32 · scale`): 9 vector operations per 16 codes, where masking each code in
/// a 32-bit lane took 11.
#[derive(Clone, Copy)]
struct Widen16 {
    /// [`WORDS`] for this width.
    order: __m256i,
    /// [`WORD_LIFT`] for this width.
    lift: __m256i,
    /// `16 − bits`.
    drop: __m128i,
    /// `0x4B00` in every 16-bit lane: the high half of `2²³`'s bits.
    magic: __m256i,
    /// `2²³ + qmax` in every lane.
    offset: __m256,
    /// [`WORD_MASK`] for this width.
    mask: __m256i,
    /// Per 32-bit lane `k` of the unpacked halves, with `sh = k·bits mod 8`: `2²³ + qmax·2^sh`
    /// and `2^−sh`.
    lane_offset: __m256,
    unlift: __m256,
}

impl Widen16 {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(bits: u32, qmax: i32) -> Self {
        let b = bits as usize;
        debug_assert!((1..8).contains(&b));
        Widen16 {
            order: table(&WORDS[b]),
            lift: table(&WORD_LIFT[b]),
            drop: _mm_cvtsi32_si128(16 - b as i32),
            magic: opaque(_mm256_set1_epi16(0x4B00)),
            offset: _mm256_set1_ps(8_388_608.0 + qmax as f32),
            mask: table(&WORD_MASK[b]),
            lane_offset: _mm256_add_ps(
                _mm256_set1_ps(8_388_608.0),
                _mm256_mul_ps(
                    _mm256_set1_ps(qmax as f32),
                    _mm256_cvtepi32_ps(_mm256_sllv_epi32(_mm256_set1_epi32(1), table(&SHIFTS[b]))),
                ),
            ),
            unlift: _mm256_castsi256_ps(_mm256_sub_epi32(
                _mm256_set1_epi32(1.0f32.to_bits() as i32),
                _mm256_slli_epi32::<23>(table(&SHIFTS[b])),
            )),
        }
    }

    /// `scale · 2^−sh` for every lane, for [`step16_in_place`](Self::step16_in_place): exact
    /// when `scale` is zero or at least `2^7` times the smallest normal (see [`Self::exact`]).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn lane_scale(&self, scale: f32) -> __m256 {
        _mm256_mul_ps(_mm256_set1_ps(scale), self.unlift)
    }

    /// Whether [`lane_scale`](Self::lane_scale) is exact for `scale` (no lane leaves the normal
    /// range), so that [`step16_in_place`](Self::step16_in_place) gives the scalar result.
    #[inline(always)]
    fn exact(scale: f32) -> bool {
        scale == 0.0 || scale >= f32::MIN_POSITIVE * 128.0
    }

    /// [`step16`](Self::step16) with each code masked where the shuffle left it, `c·2^sh`
    /// (one operation instead of a multiply and a shift): the lanes are then `2²³ + c·2^sh`,
    /// minus `2²³ + qmax·2^sh` exactly `(c − qmax)·2^sh`, and times `scale·2^−sh`
    /// ([`lane_scale`](Self::lane_scale), exact for the scales [`Self::exact`] accepts) the
    /// real product is `(c − qmax)·scale`, rounded once: the scalar result. 8 vector operations
    /// per 16 codes.
    ///
    /// # Safety
    /// As for [`step16`](Self::step16).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn step16_in_place(&self, src: *const u8, dst: *mut f32, lane_scale: __m256) {
        // SAFETY: the caller's guarantee.
        let bytes = unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(src.cast())) };
        let words = _mm256_and_si256(_mm256_shuffle_epi8(bytes, self.order), self.mask);
        let lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(words, self.magic));
        let hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(words, self.magic));
        let lo = _mm256_mul_ps(_mm256_sub_ps(lo, self.lane_offset), lane_scale);
        let hi = _mm256_mul_ps(_mm256_sub_ps(hi, self.lane_offset), lane_scale);
        // SAFETY: the caller's guarantee.
        unsafe {
            _mm256_storeu_ps(dst, lo);
            _mm256_storeu_ps(dst.add(8), hi);
        }
    }

    /// Dequantizes the 16 codes in the first `2·bits` of 16 bytes at `src` into 16 floats at
    /// `dst`, `scale` in every lane.
    ///
    /// # Safety
    /// 16 bytes at `src` must be readable and 16 floats at `dst` writable.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn step16(&self, src: *const u8, dst: *mut f32, scale: __m256) {
        // SAFETY: the caller's guarantee.
        let bytes = unsafe { _mm256_broadcastsi128_si256(_mm_loadu_si128(src.cast())) };
        let words = _mm256_shuffle_epi8(bytes, self.order);
        // Each code to the top of its lane (dropping the codes above it), then down.
        let words = _mm256_srl_epi16(_mm256_mullo_epi16(words, self.lift), self.drop);
        let lo = _mm256_castsi256_ps(_mm256_unpacklo_epi16(words, self.magic));
        let hi = _mm256_castsi256_ps(_mm256_unpackhi_epi16(words, self.magic));
        let lo = _mm256_mul_ps(_mm256_sub_ps(lo, self.offset), scale);
        let hi = _mm256_mul_ps(_mm256_sub_ps(hi, self.offset), scale);
        // SAFETY: the caller's guarantee.
        unsafe {
            _mm256_storeu_ps(dst, lo);
            _mm256_storeu_ps(dst.add(8), hi);
        }
    }
}

/// Loads 32 bytes of a table.
#[target_feature(enable = "avx2")]
#[inline]
fn table<T>(t: &[T]) -> __m256i {
    assert_eq!(core::mem::size_of_val(t), 32);
    // SAFETY: `t` is 32 bytes long.
    unsafe { _mm256_loadu_si256(t.as_ptr().cast()) }
}

/// Constants that pack codes of `bits` (1..=7) bits, one per byte: 32 at a time in a vector
/// register, or 8 at a time in a `u64`.
#[derive(Clone, Copy)]
struct Packer {
    bits: usize,
    /// Bytes `[1, 2^bits]`: `vpmaddubsw` joins byte pairs into 16-bit lanes of `2·bits` bits.
    pairs: __m256i,
    /// Words `[1, 2^(2·bits)]`: `vpmaddwd` joins those into 32-bit lanes of `4·bits` bits.
    quads: __m256i,
    /// `4·bits`, the shift that joins 32-bit lanes into 64-bit lanes of `bits` bytes.
    shift: __m128i,
    /// [`COMPACT`] for this width.
    compact: __m256i,
    /// The low `bits` bits of every byte (`pext` mask).
    lane_mask: u64,
}

impl Packer {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(bits: u32) -> Self {
        let b = bits as usize;
        debug_assert!((1..8).contains(&b));
        Packer {
            bits: b,
            pairs: _mm256_set1_epi16((1u16 | (1u16 << b) << 8) as i16),
            quads: _mm256_set1_epi32(1 | (1i32 << (2 * b)) << 16),
            shift: _mm_cvtsi32_si128(4 * b as i32),
            compact: table(&COMPACT[b]),
            lane_mask: lane_mask(bits),
        }
    }

    /// Packs 32 codes (bytes of `codes`, in order) into `4·bits` bytes: the first `2·bits` in the
    /// low half of the result, the rest in the high half; every other byte is zero.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn pack32(&self, codes: __m256i) -> (__m128i, __m128i) {
        // Codes < 2^bits ≤ 128 are non-negative as the signed operand.
        let pairs = _mm256_maddubs_epi16(self.pairs, codes);
        let quads = _mm256_madd_epi16(pairs, self.quads);
        let low = _mm256_blend_epi32::<0b1010_1010>(quads, _mm256_setzero_si256());
        let high = _mm256_sll_epi64(_mm256_srli_epi64::<32>(quads), self.shift);
        let packed = _mm256_shuffle_epi8(_mm256_or_si256(low, high), self.compact);
        (
            _mm256_castsi256_si128(packed),
            _mm256_extracti128_si256::<1>(packed),
        )
    }

    /// Writes 32 packed codes (`4·bits` bytes) at `out[at..]`, zeroing up to 16 bytes after them
    /// when they fit.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn store32(&self, (lo, hi): (__m128i, __m128i), out: &mut [u8], at: usize) {
        let b = self.bits;
        if at + 2 * b + 16 <= out.len() {
            // SAFETY: both 16-byte stores end at or before `at + 2·bits + 16 <= out.len()`.
            unsafe {
                let p = out.as_mut_ptr().add(at);
                _mm_storeu_si128(p.cast(), lo);
                _mm_storeu_si128(p.add(2 * b).cast(), hi);
            }
        } else {
            let mut tmp = [0u8; 32];
            // SAFETY: `tmp` holds 32 bytes and 2·bits + 16 <= 30.
            unsafe {
                _mm_storeu_si128(tmp.as_mut_ptr().cast(), lo);
                _mm_storeu_si128(tmp.as_mut_ptr().add(2 * b).cast(), hi);
            }
            out[at..at + 4 * b].copy_from_slice(&tmp[..4 * b]);
        }
    }

    /// Packs 32 codes (bytes of `codes`, in order) into `4·bits` bytes at `out[at..]` with
    /// [`pack32`](Self::pack32), zeroing up to 16 bytes after them when they fit.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn put32_swar(&self, codes: __m256i, out: &mut [u8], at: usize) {
        self.store32(self.pack32(codes), out, at);
    }

    /// [`put32_swar`](Self::put32_swar) with four `pext` (zeroing up to 8 bytes after them).
    #[target_feature(enable = "avx2,bmi2")]
    #[inline]
    fn put32_pext(&self, codes: __m256i, out: &mut [u8], at: usize) {
        let b = self.bits;
        let words = [
            _mm256_extract_epi64::<0>(codes) as u64,
            _mm256_extract_epi64::<1>(codes) as u64,
            _mm256_extract_epi64::<2>(codes) as u64,
            _mm256_extract_epi64::<3>(codes) as u64,
        ];
        let packed = words.map(|w| _pext_u64(w, self.lane_mask));
        if at + 3 * b + 8 <= out.len() {
            for (k, p) in packed.into_iter().enumerate() {
                // SAFETY: the last 8-byte store ends at `at + 3·bits + 8 <= out.len()`.
                unsafe {
                    out.as_mut_ptr()
                        .add(at + k * b)
                        .cast::<u64>()
                        .write_unaligned(p.to_le())
                };
            }
        } else {
            for (k, p) in packed.into_iter().enumerate() {
                scalar::store_low_bytes(out, at + k * b, p, b);
            }
        }
    }

    /// Packs 8 codes (the bytes of `word`) into the low `8·bits` bits, with shifts and masks.
    #[inline(always)]
    fn pack8_swar(&self, word: u64) -> u64 {
        let b = self.bits as u32;
        let x = (word & 0x00ff_00ff_00ff_00ff) | ((word & 0xff00_ff00_ff00_ff00) >> (8 - b));
        let x = (x & 0x0000_ffff_0000_ffff) | ((x & 0xffff_0000_ffff_0000) >> (16 - 2 * b));
        (x & 0x0000_0000_ffff_ffff) | ((x & 0xffff_ffff_0000_0000) >> (32 - 4 * b))
    }

    /// [`pack8_swar`](Self::pack8_swar) with one `pext`.
    #[target_feature(enable = "bmi2")]
    #[inline]
    fn pack8_pext(&self, word: u64) -> u64 {
        _pext_u64(word, self.lane_mask)
    }
}

/// Constants that unpack codes of `bits` (1..=7) bits: 8 or 16 at a time into 32-bit lanes,
/// 16 at a time into bytes, or 8 at a time in a `u64`.
#[derive(Clone, Copy)]
struct Unpacker {
    bits: usize,
    /// [`SPREAD`] for this width.
    spread: [__m256i; 2],
    /// [`SHIFTS`] for this width.
    shifts: __m256i,
    /// `2^bits − 1` per 32-bit lane.
    mask: __m256i,
    /// [`SPREAD16`] and [`LIFT16`] for this width.
    spread16: __m256i,
    lift16: __m256i,
    /// `16 − bits`, the shift that brings lifted codes back down.
    drop16: __m128i,
    /// The low `bits` bits of every byte (`pdep` mask).
    lane_mask: u64,
}

impl Unpacker {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new(bits: u32) -> Self {
        let b = bits as usize;
        debug_assert!((1..8).contains(&b));
        Unpacker {
            bits: b,
            spread: [table(&SPREAD[b][0]), table(&SPREAD[b][1])],
            shifts: table(&SHIFTS[b]),
            mask: _mm256_set1_epi32((1 << b) - 1),
            spread16: table(&SPREAD16[b]),
            lift16: table(&LIFT16[b]),
            drop16: _mm_cvtsi32_si128(16 - b as i32),
            lane_mask: lane_mask(bits),
        }
    }

    /// Codes `8·half..8·half + 8` of packed bytes broadcast to both 128-bit lanes, in 32-bit
    /// lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn codes8(&self, bytes: __m256i, half: usize) -> __m256i {
        let spread = _mm256_shuffle_epi8(bytes, self.spread[half]);
        _mm256_and_si256(_mm256_srlv_epi32(spread, self.shifts), self.mask)
    }

    /// The 8 codes packed in the low `8·bits` bits of `word`, in 32-bit lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn codes8_swar(&self, word: u64) -> __m256i {
        self.codes8(_mm256_set1_epi64x(word as i64), 0)
    }

    /// The 16 codes packed in the first `2·bits` bytes of `bytes`, as 16 bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn codes16(&self, bytes: __m128i) -> __m128i {
        let w = _mm256_broadcastsi128_si256(bytes);
        let spread = _mm256_shuffle_epi8(w, self.spread16);
        let codes = _mm256_srl_epi16(_mm256_mullo_epi16(spread, self.lift16), self.drop16);
        let packed = _mm256_packus_epi16(codes, codes);
        _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(packed))
    }

    /// The 8 codes packed in the low `8·bits` bits of `word`, one per byte, with shifts and masks.
    #[inline(always)]
    fn unpack8_swar(&self, word: u64) -> u64 {
        let b = self.bits as u32;
        let m4 = (1u64 << (4 * b)) - 1;
        let x = (word & m4) | ((word << (32 - 4 * b)) & (m4 << 32));
        let m2 = ((1u64 << (2 * b)) - 1) * 0x0000_0001_0000_0001;
        let x = (x & m2) | ((x << (16 - 2 * b)) & (m2 << 16));
        let m1 = ((1u64 << b) - 1) * 0x0001_0001_0001_0001;
        (x & m1) | ((x << (8 - b)) & (m1 << 8))
    }

    /// [`unpack8_swar`](Self::unpack8_swar) with one `pdep`.
    #[target_feature(enable = "bmi2")]
    #[inline]
    fn unpack8_pdep(&self, word: u64) -> u64 {
        _pdep_u64(word, self.lane_mask)
    }
}

/// Quantizes and packs `$values` (a multiple of 8) at `$out[$at..]` with `$q` (a [`Quant`]) and
/// `$p` (an `Option<Packer>`, `None` for 8 bits), advancing `$at`; `$pack8` packs a lone group
/// of 8 codes. (A macro so it is inlined into each kernel.)
macro_rules! quantize_pack_run {
    ($q:ident, $p:ident, $values:expr, $out:ident, $at:ident, $put32:ident, $pack8:ident) => {
        quantize_pack_run!($q, $p, $values, $out, $at, $put32, $pack8, step32, step8)
    };
    (
        $q:ident,
        $p:ident,
        $values:expr,
        $out:ident,
        $at:ident,
        $put32:ident,
        $pack8:ident,
        $step32:ident,
        $step8:ident
    ) => {{
        let mut chunks = $values.chunks_exact(32);
        match &$p {
            None => {
                for chunk in &mut chunks {
                    let bytes = $q.$step32(chunk);
                    let dst = &mut $out[$at..$at + 32];
                    // SAFETY: `dst` holds 32 bytes.
                    unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), bytes) };
                    $at += 32;
                }
            }
            Some(p) => {
                for chunk in &mut chunks {
                    p.$put32($q.$step32(chunk), $out, $at);
                    $at += 4 * p.bits;
                }
            }
        }
        for chunk in chunks.remainder().chunks_exact(8) {
            // SAFETY: `chunk` holds 8 floats.
            let word = narrow8($q.$step8(unsafe { _mm256_loadu_ps(chunk.as_ptr()) }));
            match &$p {
                None => {
                    $out[$at..$at + 8].copy_from_slice(&word.to_le_bytes());
                    $at += 8;
                }
                Some(p) => {
                    scalar::store_low_bytes($out, $at, p.$pack8(word), p.bits);
                    $at += p.bits;
                }
            }
        }
    }};
}

/// The kernels that pack or unpack, for one strategy: `$pack8`/`$unpack8` are the `u64` steps
/// for lone groups of 8 codes, methods of [`Packer`] / [`Unpacker`]; `$features` the target
/// features all of it needs.
macro_rules! packing_kernels {
    ($features:literal, $put32:ident, $pack8:ident, $unpack8:ident) => {
        use super::*;

        pub(super) fn pack(codes: &[u8], bits: u32, out: &mut [u8]) {
            // SAFETY: only reachable through the sets of the parent module, handed out after
            // the features were detected.
            unsafe { pack_impl(codes, bits, out) }
        }

        #[target_feature(enable = $features)]
        fn pack_impl(codes: &[u8], bits: u32, out: &mut [u8]) {
            let n = codes.len() / 8 * 8;
            if bits == 8 {
                out[..n].copy_from_slice(&codes[..n]);
                return;
            }
            let p = Packer::new(bits);
            let b = bits as usize;
            let mut at = 0;
            let mut i = 0;
            while i + 32 <= n {
                // SAFETY: 32 bytes at `i`.
                let v = unsafe { _mm256_loadu_si256(codes.as_ptr().add(i).cast()) };
                p.$put32(v, out, at);
                at += 4 * b;
                i += 32;
            }
            for chunk in codes[i..n].chunks_exact(8) {
                let word = u64::from_le_bytes(chunk.try_into().expect("8 codes"));
                scalar::store_low_bytes(out, at, p.$pack8(word), b);
                at += b;
            }
        }

        pub(super) fn unpack(data: &[u8], bits: u32, codes: &mut [u8]) {
            // SAFETY: as for `pack`.
            unsafe { unpack_impl(data, bits, codes) }
        }

        #[target_feature(enable = $features)]
        fn unpack_impl(data: &[u8], bits: u32, codes: &mut [u8]) {
            let n = codes.len() / 8 * 8;
            if bits == 8 {
                codes[..n].copy_from_slice(&data[..n]);
                return;
            }
            let u = Unpacker::new(bits);
            let b = bits as usize;
            let mut at = 0;
            let mut i = 0;
            while i + 16 <= n && at + 16 <= data.len() {
                // SAFETY: 16 bytes at `at` in `data`, 16 at `i` in `codes`.
                unsafe {
                    let bytes = _mm_loadu_si128(data.as_ptr().add(at).cast());
                    _mm_storeu_si128(codes.as_mut_ptr().add(i).cast(), u.codes16(bytes));
                }
                at += 2 * b;
                i += 16;
            }
            for chunk in codes[i..n].chunks_exact_mut(8) {
                let word = u.$unpack8(word_at(data, at, b));
                chunk.copy_from_slice(&word.to_le_bytes());
                at += b;
            }
        }

        pub(super) fn quantize_pack(
            values: &[f32],
            inv: f32,
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut GroupStats,
        ) {
            // SAFETY: as for `pack`.
            unsafe { quantize_pack_impl(values, inv, qmax, bits, out, stats) }
        }

        #[target_feature(enable = $features)]
        fn quantize_pack_impl(
            values: &[f32],
            inv: f32,
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut GroupStats,
        ) {
            let mut q = Quant::new(inv, qmax);
            let p = (bits < 8).then(|| Packer::new(bits));
            let mut at = 0;
            quantize_pack_run!(
                q,
                p,
                values[..values.len() / 8 * 8],
                out,
                at,
                $put32,
                $pack8
            );
            q.finish(stats);
        }

        pub(super) fn quantize_pack_groups(
            values: &[f32],
            group_len: usize,
            scales: &[f32],
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut FrameStats,
        ) {
            // SAFETY: as for `pack`.
            unsafe { quantize_pack_groups_impl(values, group_len, scales, qmax, bits, out, stats) }
        }

        #[target_feature(enable = $features)]
        fn quantize_pack_groups_impl(
            values: &[f32],
            group_len: usize,
            scales: &[f32],
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut FrameStats,
        ) {
            let mut q = Quant::new(1.0, qmax);
            let p = (bits < 8).then(|| Packer::new(bits));
            let min_positive = _mm256_set1_ps(f32::MIN_POSITIVE);
            // Per lane, over the groups: max |x| bit patterns (finite and clamped come from
            // it: the limit is the same for every group), max |x|·scale and max |x − q|·scale
            // (equal to the scalar per-group products' maxima: rounding is monotonic).
            let mut all_x = _mm256_setzero_si256();
            let mut max_abs = _mm256_setzero_ps();
            let mut max_err = _mm256_setzero_ps();
            let mut at = 0;
            for (chunk, &scale) in values.chunks(group_len).zip(scales) {
                q.start(1.0 / scale);
                quantize_pack_run!(q, p, chunk, out, at, $put32, $pack8);
                let s = _mm256_set1_ps(scale);
                all_x = _mm256_max_epu32(all_x, q.max_x);
                let mx = _mm256_castsi256_ps(q.max_x);
                max_abs = _mm256_max_ps(_mm256_mul_ps(mx, s), max_abs);
                max_err = _mm256_max_ps(_mm256_mul_ps(q.max_e, s), max_err);
                if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(mx, min_positive)) == 0xff {
                    stats.fold_vanished(chunk);
                }
            }
            let max_x = f32::from_bits(hmax_u32(all_x));
            stats.fold_maxima(max_x, qmax, hmax_ps(max_abs), hmax_ps(max_err));
        }

        pub(super) fn quantize_pack_groups_bounded(
            values: &[f32],
            group_len: usize,
            scales: &[f32],
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut FrameStats,
        ) {
            // SAFETY: as for `pack`.
            unsafe {
                quantize_pack_groups_bounded_impl(values, group_len, scales, qmax, bits, out, stats)
            }
        }

        /// `quantize_pack_groups_impl` without the error: per value a multiply, a clamp, a
        /// conversion and the `max |x|` fold (see `scalar::quantize_pack_groups_bounded`).
        #[target_feature(enable = $features)]
        fn quantize_pack_groups_bounded_impl(
            values: &[f32],
            group_len: usize,
            scales: &[f32],
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut FrameStats,
        ) {
            let mut q = Quant::new(1.0, qmax);
            let p = (bits < 8).then(|| Packer::new(bits));
            let min_positive = _mm256_set1_ps(f32::MIN_POSITIVE);
            let mut all_x = _mm256_setzero_si256();
            let mut max_abs = _mm256_setzero_ps();
            let mut at = 0;
            for (chunk, &scale) in values.chunks(group_len).zip(scales) {
                q.start(1.0 / scale);
                quantize_pack_run!(
                    q,
                    p,
                    chunk,
                    out,
                    at,
                    $put32,
                    $pack8,
                    step32_bounded,
                    step8_bounded
                );
                all_x = _mm256_max_epu32(all_x, q.max_x);
                let mx = _mm256_castsi256_ps(q.max_x);
                max_abs = _mm256_max_ps(_mm256_mul_ps(mx, _mm256_set1_ps(scale)), max_abs);
                if _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LT_OQ>(mx, min_positive)) == 0xff {
                    stats.fold_vanished(chunk);
                }
            }
            let max_x = f32::from_bits(hmax_u32(all_x));
            stats.fold_maxima(max_x, qmax, hmax_ps(max_abs), 0.0);
        }

        pub(super) fn unpack_dequantize(
            data: &[u8],
            bits: u32,
            scale: f32,
            qmax: i32,
            out: &mut [f32],
        ) {
            // SAFETY: as for `pack`.
            unsafe { unpack_dequantize_groups_impl(data, bits, usize::MAX, &[scale], qmax, out) }
        }

        pub(super) fn unpack_dequantize_groups(
            data: &[u8],
            bits: u32,
            group_len: usize,
            scales: &[f32],
            qmax: i32,
            out: &mut [f32],
        ) {
            // SAFETY: as for `pack`.
            unsafe { unpack_dequantize_groups_impl(data, bits, group_len, scales, qmax, out) }
        }

        #[target_feature(enable = $features)]
        fn unpack_dequantize_groups_impl(
            data: &[u8],
            bits: u32,
            group_len: usize,
            scales: &[f32],
            qmax: i32,
            out: &mut [f32],
        ) {
            let n = out.len() / 8 * 8;
            let b = bits as usize;
            // Everything below reads inside `data[..n / 8 · bits]`, or 16-byte windows that
            // start there and end inside `data`.
            let data = &data[..];
            assert!(data.len() >= n / 8 * b);
            let bias = _mm256_set1_epi32(qmax);
            let mut at = 0;
            // Whole groups of 16-code steps whose every 16-byte window lies inside `data` go
            // through loops without a check per step (`whole_groups`); the rest, if any (the
            // frame's last groups near the end of the data, a group length that is not a
            // multiple of 16), through the checked loops: with `Widen16` (3 bits: below).
            let (mut o, mut g) = (0, 0);
            if b != 3 && b != 8 {
                let w = Widen16::new(bits, qmax);
                while let Some(steps16) =
                    whole_groups(data.len(), at, b, group_len, o, n, g, scales)
                        .filter(|_| Widen16::exact(scales[g]))
                {
                    let s = w.lane_scale(scales[g]);
                    // SAFETY: `whole_groups` checked that the group's windows, the last one at
                    // `at + group_len / 8 · bits − 2·bits`, end inside `data`, and that
                    // `out[o..o + group_len]` is inside `out`.
                    unsafe {
                        let src = data.as_ptr().add(at);
                        let dst = out.as_mut_ptr().add(o);
                        if steps16 == 4 {
                            // The default group length (64), unrolled.
                            for k in 0..4 {
                                w.step16_in_place(src.add(2 * b * k), dst.add(16 * k), s);
                            }
                        } else {
                            for k in 0..steps16 {
                                w.step16_in_place(src.add(2 * b * k), dst.add(16 * k), s);
                            }
                        }
                    }
                    at += group_len / 8 * b;
                    o += group_len;
                    g += 1;
                }
                if o == n {
                    // Every group done (the usual case): nothing else to set up.
                    return;
                }
            }
            if b == 8 {
                for (group, &scale) in out[o..n].chunks_mut(group_len).zip(&scales[g..]) {
                    let s = _mm256_set1_ps(scale);
                    for dst in group.chunks_exact_mut(8) {
                        // SAFETY: 8 bytes at `at < n` (asserted above); `dst` holds 8 floats.
                        unsafe {
                            let bytes = _mm_loadl_epi64(data.as_ptr().add(at).cast());
                            let v = dequantize8(_mm256_cvtepu8_epi32(bytes), bias, s);
                            _mm256_storeu_ps(dst.as_mut_ptr(), v);
                        }
                        at += 8;
                    }
                }
                return;
            }
            let u = Unpacker::new(bits);
            if b == 3 {
                // Each group's 8 possible values (c − qmax)·scale in one register: `vpermps`
                // picks them by the low 3 bits of each lane, so the codes need no mask and no
                // conversion.
                let steps = _mm256_cvtepi32_ps(_mm256_sub_epi32(
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                    bias,
                ));
                // `SHIFTS[3]` as a constant: the compiler then knows every shift is below 32
                // (with the shifts in a register it adds a blend for larger ones).
                let shifts = _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5);
                debug_assert_eq!(SHIFTS[3], [0, 3, 6, 1, 4, 7, 2, 5]);
                let step16 = |src: *const u8, dst: *mut f32, table: __m256| {
                    // SAFETY: the callers pass 16 readable bytes at `src` and 16 writable
                    // floats at `dst`.
                    unsafe {
                        let bytes = _mm256_broadcastsi128_si256(_mm_loadu_si128(src.cast()));
                        for half in 0..2 {
                            // Code `k` in the low bits of lane `k`, later codes above it.
                            let spread = _mm256_shuffle_epi8(bytes, u.spread[half]);
                            let codes = _mm256_srlv_epi32(spread, shifts);
                            let v = _mm256_permutevar8x32_ps(table, codes);
                            _mm256_storeu_ps(dst.add(8 * half), v);
                        }
                    }
                };
                // (`o`, `g` and `at` are still 0 here: the loop above is for other widths.)
                while let Some(steps16) =
                    whole_groups(data.len(), at, b, group_len, o, n, g, scales)
                {
                    let table = _mm256_mul_ps(steps, _mm256_set1_ps(scales[g]));
                    // SAFETY: `whole_groups` checked that the group's windows, the last one
                    // at `at + group_len / 8 · bits − 2·bits`, end inside `data`, and that
                    // `out[o..o + group_len]` is inside `out`.
                    unsafe {
                        let src = data.as_ptr().add(at);
                        let dst = out.as_mut_ptr().add(o);
                        for k in 0..steps16 {
                            step16(src.add(2 * b * k), dst.add(16 * k), table);
                        }
                    }
                    at += group_len / 8 * b;
                    o += group_len;
                    g += 1;
                }
                for (group, &scale) in out[o..n].chunks_mut(group_len).zip(&scales[g..]) {
                    let table = _mm256_mul_ps(steps, _mm256_set1_ps(scale));
                    let (fast, rest) = group.split_at_mut(16 * windows(data.len(), at, b, group));
                    for dst in fast.chunks_exact_mut(16) {
                        // The 16 bytes at `at` are inside `data` (`windows`); `dst` holds 16
                        // floats.
                        step16(data[at..at + 16].as_ptr(), dst.as_mut_ptr(), table);
                        at += 2 * b;
                    }
                    for dst in rest.chunks_exact_mut(8) {
                        let codes = u.codes8_swar(word_at(data, at, b));
                        let v = _mm256_permutevar8x32_ps(table, codes);
                        // SAFETY: `dst` holds 8 floats.
                        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), v) };
                        at += b;
                    }
                }
                return;
            }
            let w = Widen16::new(bits, qmax);
            for (group, &scale) in out[o..n].chunks_mut(group_len).zip(&scales[g..]) {
                let s = _mm256_set1_ps(scale);
                let (fast, rest) = group.split_at_mut(16 * windows(data.len(), at, b, group));
                for dst in fast.chunks_exact_mut(16) {
                    // SAFETY: the 16 bytes at `at` are inside `data` (`windows`); `dst` holds
                    // 16 floats.
                    unsafe { w.step16(data[at..at + 16].as_ptr(), dst.as_mut_ptr(), s) };
                    at += 2 * b;
                }
                for dst in rest.chunks_exact_mut(8) {
                    let codes = u.codes8_swar(word_at(data, at, b));
                    // SAFETY: `dst` holds 8 floats.
                    unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), dequantize8(codes, bias, s)) };
                    at += b;
                }
            }
        }
    };
}

/// Whether group `g` (its codes at byte `at` of data of `len` bytes, its values at
/// `out[o..o + group_len]` of a frame's `n` whole values) can be decoded with no check per step:
/// `Some(group_len / 16)` steps of 16 codes of `bits` (< 8) bits when `group_len` is a multiple
/// of 16, `g` has a scale, the group ends at or before `n`, and every step's 16-byte window
/// (the last at `at + group_len / 8 · bits − 2·bits`) ends inside the data.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn whole_groups(
    len: usize,
    at: usize,
    bits: usize,
    group_len: usize,
    o: usize,
    n: usize,
    g: usize,
    scales: &[f32],
) -> Option<usize> {
    let fits = group_len % 16 == 0
        && group_len > 0
        && g < scales.len()
        && o + group_len <= n
        && at + group_len / 8 * bits + 16 - 2 * bits <= len;
    fits.then_some(group_len / 16)
}

/// How many steps of 16 codes of `bits` (< 8) bits, the first at byte `at`, can each load 16
/// bytes inside data of `len` bytes, at most the number of whole steps in `group`.
#[inline(always)]
fn windows(len: usize, at: usize, bits: usize, group: &[f32]) -> usize {
    let steps = group.len() / 16;
    let fits = |k: usize| at + k * 2 * bits + 16 <= len;
    if steps == 0 || fits(steps - 1) {
        // Every step (the usual case: only the last group of the data is near its end).
        return steps;
    }
    (0..steps).take_while(|&k| fits(k)).count()
}

/// Packing by multiplies, shifts and shuffles (no BMI2).
mod swar {
    packing_kernels!("avx2", put32_swar, pack8_swar, unpack8_swar);
}

/// The same with `pext`/`pdep` for the 8-code steps.
mod bmi2 {
    packing_kernels!("avx2,bmi2", put32_pext, pack8_pext, unpack8_pdep);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sets_match_scalar() {
        if !std::is_x86_feature_detected!("avx2") {
            std::eprintln!("skipping: no AVX2 on this CPU");
            return;
        }
        super::super::tests::check_against_scalar(AVX2);
        if std::is_x86_feature_detected!("bmi2") {
            super::super::tests::check_against_scalar(AVX2_BMI2);
        }
    }

    #[test]
    fn u64_packing_steps_agree() {
        if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("bmi2") {
            return;
        }
        let mut state = 0x1234_5678_9abc_def1u64;
        for bits in 1..8u32 {
            // SAFETY: AVX2 and BMI2 were detected above.
            let (p, u) = unsafe { (Packer::new(bits), Unpacker::new(bits)) };
            for _ in 0..2000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let codes = state & lane_mask(bits);
                // SAFETY: BMI2 was detected above.
                let (pext, pdep) = unsafe { (p.pack8_pext(codes), u.unpack8_pdep(state)) };
                assert_eq!(p.pack8_swar(codes), pext, "bits={bits}");
                assert_eq!(u.unpack8_swar(state), pdep, "bits={bits}");
                // SAFETY: AVX2 was detected above.
                let lanes = unsafe { u.codes8_swar(state) };
                let mut got = [0u32; 8];
                // SAFETY: `got` holds 8 lanes.
                unsafe { _mm256_storeu_si256(got.as_mut_ptr().cast(), lanes) };
                let want = pdep.to_le_bytes().map(u32::from);
                assert_eq!(got, want, "bits={bits}");
            }
        }
    }
}
