//! wasm32 kernels with simd128 (4 f32 lanes), compiled in when the module is built with
//! `-C target-feature=+simd128`: quantize/dequantize, and the fused quantize+pack and
//! unpack+dequantize kernels with the codes packed and unpacked in vector registers, 16 codes
//! per step (as the AVX2 set does with 32). The standalone `pack`/`unpack` (only used on
//! unaligned bit streams) are the scalar ones.
//!
//! Rounding is the scalar one exactly: `(c + 1.5·2²³) − 1.5·2²³` rounds ties to even, and the
//! sum's bit pattern holds the code in its low bits, so no float-to-int conversion is needed
//! (simd128's saturating one is a long instruction sequence on x86-64). Packing joins codes
//! with uniform shifts, `v128.bitselect` and `i32x4.dot_i16x8_s`, then one `i8x16.swizzle`;
//! unpacking spreads bytes with a swizzle and lifts each code with a 16-bit multiply. Every
//! table is indexed by the width at run time, so each kernel is compiled once (not once per
//! width), which keeps the module small.

use super::{scalar, FrameStats, GroupStats, Kernels};
use core::arch::wasm32::*;

/// The simd128 set.
pub const KERNELS: Kernels = Kernels {
    name: "simd128",
    quantize,
    dequantize,
    pack: scalar::pack,
    unpack: scalar::unpack,
    quantize_pack,
    unpack_dequantize,
    quantize_pack_groups,
    quantize_pack_groups_bounded: Some(quantize_pack_groups_bounded),
    unpack_dequantize_groups,
    group_max_abs,
    coded: super::coded::simd128::KERNELS,
};

/// `1.5·2²³`: adding it to `|c| ≤ 2²²` rounds `c` to an integer, ties to even (as
/// [`super::float::round_ties_even`] does), and leaves `c` in the low bits of the bit pattern.
const MAGIC: f32 = 12_582_912.0;

// ---- quantizing ----

/// Quantizes 4 lanes at a time, keeping the statistics in registers, each as the largest bit
/// pattern shifted left by one (the sign bit dropped: `|x|`'s order, one instruction): `max |x|`
/// (an integer maximum, so NaN and ∞ show in it) and `max |x − q|` (the same as the float
/// maximum for finite input).
#[derive(Clone, Copy)]
struct Quant {
    inv: v128,
    q: v128,
    neg_q: v128,
    magic: v128,
    /// `qmax − bits(MAGIC)` per i32 lane: added to the rounded sum's bits it gives the code.
    bias: v128,
    max_x: v128,
    max_e: v128,
}

impl Quant {
    #[inline(always)]
    fn new(inv: f32, qmax: f32) -> Self {
        Quant {
            inv: f32x4_splat(inv),
            q: f32x4_splat(qmax),
            neg_q: f32x4_splat(-qmax),
            magic: f32x4_splat(MAGIC),
            bias: i32x4_splat((qmax as i32).wrapping_sub(MAGIC.to_bits() as i32)),
            max_x: u32x4_splat(0),
            max_e: u32x4_splat(0),
        }
    }

    /// Starts a new group with another reciprocal scale.
    #[inline(always)]
    fn start(&mut self, inv: f32) {
        self.inv = f32x4_splat(inv);
        self.max_x = u32x4_splat(0);
        self.max_e = u32x4_splat(0);
    }

    /// Quantizes 4 values; returns their codes (`0..=2·qmax`) in i32 lanes. With `measure`
    /// false, `max |x − q|` is left as it was (the rounding error is not computed).
    #[inline(always)]
    fn step4(&mut self, v: v128, measure: bool) -> v128 {
        let x = f32x4_mul(v, self.inv);
        self.max_x = u32x4_max(self.max_x, i32x4_shl(x, 1));
        // pmax(−q, NaN) is −q: a NaN gets some valid code (and is reported by max_x).
        let c = f32x4_pmin(self.q, f32x4_pmax(self.neg_q, x));
        let t = f32x4_add(c, self.magic);
        if measure {
            let r = f32x4_sub(t, self.magic);
            self.max_e = u32x4_max(self.max_e, i32x4_shl(f32x4_sub(x, r), 1));
        }
        i32x4_add(t, self.bias)
    }

    /// Quantizes the 8 floats at `p` (`p.len() >= 8`); their codes in the 8 u16 lanes.
    #[inline(always)]
    fn step8(&mut self, p: &[f32], measure: bool) -> v128 {
        let a = self.step4(load_f32(&p[..4]), measure);
        let b = self.step4(load_f32(&p[4..8]), measure);
        // Codes ≤ 254: the saturating narrow keeps them.
        u16x8_narrow_i32x4(a, b)
    }

    /// `max |x|` and `max |x − q|` per lane, as floats (bit patterns).
    #[inline(always)]
    fn maxima(&self) -> (v128, v128) {
        (u32x4_shr(self.max_x, 1), u32x4_shr(self.max_e, 1))
    }

    /// Folds the lane statistics into `stats`.
    #[inline(always)]
    fn finish(&self, stats: &mut GroupStats) {
        let (max_x, max_e) = self.maxima();
        let mx = hmax_u32(max_x);
        if mx > stats.max_x.to_bits() {
            stats.max_x = f32::from_bits(mx);
        }
        let me = f32::from_bits(hmax_u32(max_e));
        if me > stats.max_e {
            stats.max_e = me;
        }
    }
}

/// The 4 floats at the start of `p` (`p.len() >= 4`).
#[inline(always)]
fn load_f32(p: &[f32]) -> v128 {
    assert!(p.len() >= 4);
    // SAFETY: 16 readable bytes; wasm loads need no alignment.
    unsafe { v128_load(p.as_ptr().cast()) }
}

/// The largest of 4 unsigned lanes.
#[inline(always)]
fn hmax_u32(v: v128) -> u32 {
    let m = u32x4_max(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let m = u32x4_max(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
    u32x4_extract_lane::<0>(m)
}

/// The largest of 4 lanes, as `if lane > m` finds it (a NaN lane is skipped).
#[inline(always)]
fn hmax_f32(v: v128) -> f32 {
    let m = f32x4_pmax(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let m = f32x4_pmax(m, i32x4_shuffle::<1, 0, 3, 2>(m, m));
    f32x4_extract_lane::<0>(m)
}

fn quantize(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    let n = values.len().min(codes.len());
    let whole = n / 8 * 8;
    // Codes stored one per byte are what packing at 8 bits writes.
    quantize_pack(&values[..whole], inv, qmax, 8, &mut codes[..whole], stats);
    scalar::quantize(&values[whole..n], inv, qmax, &mut codes[whole..n], stats);
}

/// Per group, `max |x|` as [`scalar::group_max_abs`] takes it (an integer maximum of the bit
/// patterns without their sign: NaN and ∞ show in it), 16 values per step in four
/// accumulators. Written out rather than left to the compiler's vectorizer, which the
/// size-optimized module build does not run on it.
fn group_max_abs(frame: &[f32], group_len: usize, out: &mut [f32]) {
    for (chunk, slot) in frame.chunks(group_len).zip(out.iter_mut()) {
        let [mut a0, mut a1, mut a2, mut a3] = [u32x4_splat(0); 4];
        let mut blocks = chunk.chunks_exact(16);
        for block in &mut blocks {
            let p = block.as_ptr();
            // Shifted left by one: the sign bit drops out (`|x|`'s order).
            // SAFETY: `block` holds 16 floats; wasm loads need no alignment.
            unsafe {
                a0 = u32x4_max(a0, i32x4_shl(v128_load(p.cast()), 1));
                a1 = u32x4_max(a1, i32x4_shl(v128_load(p.add(4).cast()), 1));
                a2 = u32x4_max(a2, i32x4_shl(v128_load(p.add(8).cast()), 1));
                a3 = u32x4_max(a3, i32x4_shl(v128_load(p.add(12).cast()), 1));
            }
        }
        let all = u32x4_max(u32x4_max(a0, a1), u32x4_max(a2, a3));
        let tail = blocks
            .remainder()
            .iter()
            .fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
        *slot = f32::from_bits((hmax_u32(all) >> 1).max(tail));
    }
}

// ---- dequantizing ----

/// What [`dequantize8`] needs, per lane: the high half that makes a float of a code, the float
/// made of code `qmax`, and the scale.
#[derive(Clone, Copy)]
struct Dequant {
    high: v128,
    bias: v128,
    scale: v128,
}

impl Dequant {
    /// For codes in the low 8 bits of their u16 lanes: high half `0x4B00`, each code `c`
    /// becomes `2²³ + c`.
    #[inline(always)]
    fn new(qmax: i32, scale: f32) -> Self {
        Dequant {
            high: u16x8_splat(0x4b00),
            bias: f32x4_splat(8_388_608.0 + qmax as f32),
            scale: f32x4_splat(scale),
        }
    }

    /// For codes in bits 8..15 of their u16 lanes (the low byte zero): high half `0x4700`, each
    /// code `c` becomes `2¹⁵ + c` (the exponent absorbs the shift).
    #[inline(always)]
    fn shifted(qmax: i32, scale: f32) -> Self {
        Dequant {
            high: u16x8_splat(0x4700),
            bias: f32x4_splat(32_768.0 + qmax as f32),
            scale: f32x4_splat(scale),
        }
    }
}

/// `(codes − qmax) · scale` for 8 codes in u16 lanes, stored at `out[..8]`. Each code becomes a
/// float `2^k + code` by pairing it with `d.high` (one unpack), so subtracting `2^k + qmax`
/// gives `code − qmax` exactly, as the scalar integer subtraction and conversion do.
#[inline(always)]
fn dequantize8(codes: v128, d: Dequant, out: &mut [f32]) {
    assert!(out.len() >= 8);
    let lo = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(codes, d.high);
    let hi = i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(codes, d.high);
    // SAFETY: `out` holds 8 floats; wasm stores need no alignment.
    unsafe {
        v128_store(
            out.as_mut_ptr().cast(),
            f32x4_mul(f32x4_sub(lo, d.bias), d.scale),
        );
        v128_store(
            out.as_mut_ptr().add(4).cast(),
            f32x4_mul(f32x4_sub(hi, d.bias), d.scale),
        );
    }
}

fn dequantize(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    let n = codes.len().min(out.len());
    let whole = n / 8 * 8;
    // Codes one per byte are 8-bit packed data.
    unpack_dequantize(&codes[..whole], 8, scale, qmax, &mut out[..whole]);
    scalar::dequantize(&codes[whole..n], scale, qmax, &mut out[whole..n]);
}

// ---- bit packing ----

/// Per width (index `bits`, 1..=7) the swizzle that moves the `bits` bytes of each 64-bit lane
/// to the front (the rest zeroed: indices ≥ 16 give zero).
const COMPACT: [[u8; 16]; 8] = {
    let mut t = [[0xff; 16]; 8];
    let mut b = 1;
    while b < 8 {
        let mut k = 0;
        while k < b {
            t[b][k] = k as u8;
            t[b][b + k] = (8 + k) as u8;
            k += 1;
        }
        b += 1;
    }
    t
};

/// Per width, swizzles that put in 16-bit lane `k` the bytes `⌊k·bits/8⌋` and the next of
/// packed data: `[0]` for codes 0..8, `[1]` for codes 8..16 (whose bytes start `bits` later).
const SPREAD: [[[u8; 16]; 2]; 8] = {
    let mut t = [[[0; 16]; 2]; 8];
    let mut b = 1;
    while b < 8 {
        let mut half = 0;
        while half < 2 {
            let mut k = 0;
            while k < 8 {
                let first = half * b + k * b / 8;
                t[b][half][2 * k] = first as u8;
                t[b][half][2 * k + 1] = (first + 1) as u8;
                k += 1;
            }
            half += 1;
        }
        b += 1;
    }
    t
};

/// Per width, the multiplier `2^(8 − k·bits mod 8)` that moves code `k` of its 16-bit lane to
/// bit 8 (the bits below it leave the lane's high byte; those above are masked off).
const LIFT: [[u16; 8]; 8] = {
    let mut t = [[0; 8]; 8];
    let mut b = 1;
    while b < 8 {
        let mut k = 0;
        while k < 8 {
            t[b][k] = (1u32 << (8 - k * b % 8)) as u16;
            k += 1;
        }
        b += 1;
    }
    t
};

/// 16 bytes of a table.
#[inline(always)]
fn table<T>(t: &[T]) -> v128 {
    assert_eq!(core::mem::size_of_val(t), 16);
    // SAFETY: `t` is 16 bytes long.
    unsafe { v128_load(t.as_ptr().cast()) }
}

/// Constants that pack codes of `bits` (1..=7) bits, given in u16 lanes, 16 codes into
/// `2·bits` bytes (or 8 into `bits`).
#[derive(Clone, Copy)]
struct Packer {
    bits: usize,
    /// i16 pairs `[1, 2^bits]`: the dot product joins pairs of codes into 32-bit lanes.
    pairs: v128,
    /// i16 pairs `[1, 2^(2·bits)]`: joins pairs of those (narrowed to 16 bits) likewise.
    quads: v128,
    /// `2^(4·bits) − 1` per 64-bit lane.
    low64: v128,
    /// [`COMPACT`] for this width.
    compact: v128,
}

impl Packer {
    #[inline(always)]
    fn new(bits: u32) -> Self {
        let b = bits as usize;
        debug_assert!((1..8).contains(&b));
        Packer {
            bits: b,
            pairs: i32x4_splat(1 | (1 << b) << 16),
            quads: i32x4_splat(1 | (1 << (2 * b)) << 16),
            low64: u64x2_splat((1 << (4 * b)) - 1),
            compact: table(&COMPACT[b]),
        }
    }

    /// Packs 16 codes (`lo`: codes 0..8, `hi`: codes 8..16, in u16 lanes) into the first
    /// `2·bits` bytes of the result; the other bytes are zero.
    #[inline(always)]
    fn pack16(&self, lo: v128, hi: v128) -> v128 {
        let pairs = u16x8_narrow_i32x4(
            i32x4_dot_i16x8(lo, self.pairs),
            i32x4_dot_i16x8(hi, self.pairs),
        );
        i8x16_swizzle(self.join(pairs), self.compact)
    }

    /// Packs 8 codes (u16 lanes) into the low `8·bits` bits of the result (the bits above zero).
    #[inline(always)]
    fn pack8(&self, codes: v128) -> u64 {
        let pairs = i32x4_dot_i16x8(codes, self.pairs);
        u64x2_extract_lane::<0>(self.join(u16x8_narrow_i32x4(pairs, pairs)))
    }

    /// From pairs of codes (u16 lanes of `2·bits ≤ 14` bits): 64-bit lanes of `8·bits` bits
    /// (the bits above zero), lane 0 from u16 lanes 0..4, lane 1 from lanes 4..8.
    #[inline(always)]
    fn join(&self, pairs: v128) -> v128 {
        let b = self.bits as u32;
        // 32-bit lanes of 4·bits bits, then those joined in 64-bit lanes likewise.
        let quads = i32x4_dot_i16x8(pairs, self.quads);
        v128_bitselect(quads, u64x2_shr(quads, 32 - 4 * b), self.low64)
    }
}

/// Constants that unpack 16 codes of `bits` (1..=7) bits into u16 lanes.
#[derive(Clone, Copy)]
struct Unpacker {
    /// [`SPREAD`] for this width.
    spread: [v128; 2],
    /// [`LIFT`] for this width.
    lift: v128,
    /// `(2^bits − 1) · 2⁸` per u16 lane.
    mask: v128,
}

impl Unpacker {
    #[inline(always)]
    fn new(bits: u32) -> Self {
        let b = bits as usize;
        debug_assert!((1..8).contains(&b));
        Unpacker {
            spread: [table(&SPREAD[b][0]), table(&SPREAD[b][1])],
            lift: table(&LIFT[b]),
            mask: u16x8_splat(((1 << b) - 1) << 8),
        }
    }

    /// Codes `8·half..8·half + 8` of the packed bytes `bytes`, in bits 8..15 of u16 lanes (for
    /// [`Dequant::shifted`]: no shift back down).
    #[inline(always)]
    fn codes8(&self, bytes: v128, half: usize) -> v128 {
        let spread = i8x16_swizzle(bytes, self.spread[half]);
        v128_and(i16x8_mul(spread, self.lift), self.mask)
    }
}

/// 16 bytes from `data[at..]` (`at ≤ data.len()`, `data.len() ≥ 16`): one load when they are
/// there, else the last 16 bytes of `data` moved down to `at` (zeros after its end). No call
/// (a copy would be one), so the loops around it keep their constants in registers.
#[inline(always)]
fn load16(data: &[u8], at: usize) -> v128 {
    let end = data.len() - 16;
    if at <= end {
        // SAFETY: 16 bytes at `at` (checked just above).
        unsafe { v128_load(data.as_ptr().add(at).cast()) }
    } else {
        // SAFETY: 16 bytes at `end` (`data.len() ≥ 16`).
        let last = unsafe { v128_load(data.as_ptr().add(end).cast()) };
        // Lane i takes byte i + (at − end) < 32; indices past 15 give zero.
        let from = i8x16_add(
            i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            u8x16_splat((at - end) as u8),
        );
        i8x16_swizzle(last, from)
    }
}

/// Writes the first `len` (≤ 16) bytes of `v` at `out[at..]`, and zeros over up to `16 − len`
/// bytes after them when they fit.
#[inline(always)]
fn store16(out: &mut [u8], at: usize, v: v128, len: usize) {
    if at + 16 <= out.len() {
        // SAFETY: 16 bytes at `at` (checked just above).
        unsafe { v128_store(out.as_mut_ptr().add(at).cast(), v) }
    } else {
        let mut tmp = [0u8; 16];
        // SAFETY: `tmp` holds 16 bytes.
        unsafe { v128_store(tmp.as_mut_ptr().cast(), v) };
        out[at..at + len].copy_from_slice(&tmp[..len]);
    }
}

// ---- fused kernels ----

/// Quantizes `values` (a multiple of 8) with `q` and packs their codes at `out[at..]` with `p`
/// (`None` for 8 bits); returns where the next code goes. Bytes after the codes may be zeroed.
/// `MEASURE`: whether to take `max |x − q|` (see [`Quant::step4`]). Two copies: one measuring
/// ([`quantize_pack_run_measuring`]), one inlined into the bounded kernel (no test in its loop).
#[inline(always)]
fn quantize_pack_run<const MEASURE: bool>(
    q: &mut Quant,
    p: Option<&Packer>,
    values: &[f32],
    out: &mut [u8],
    mut at: usize,
) -> usize {
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        let lo = q.step8(&chunk[..8], MEASURE);
        let hi = q.step8(&chunk[8..], MEASURE);
        // One loop for every width (a branch the CPU predicts): half the code of two loops.
        let (bytes, len) = match p {
            None => (u8x16_narrow_i16x8(lo, hi), 16),
            Some(p) => (p.pack16(lo, hi), 2 * p.bits),
        };
        store16(out, at, bytes, len);
        at += len;
    }
    if let Some(chunk) = chunks.remainder().get(..8) {
        let codes = q.step8(chunk, MEASURE);
        let (word, len) = match p {
            None => (u64x2_extract_lane::<0>(u8x16_narrow_i16x8(codes, codes)), 8),
            Some(p) => (p.pack8(codes), p.bits),
        };
        scalar::store_low_bytes(out, at, word, len);
        at += len;
    }
    at
}

/// [`quantize_pack_run`] measuring the rounding error: one copy, called once per group by the
/// measuring kernels (the bounded one, the hot path of steady streams, inlines its own loop).
#[inline(never)]
fn quantize_pack_run_measuring(
    q: &mut Quant,
    p: Option<&Packer>,
    values: &[f32],
    out: &mut [u8],
    at: usize,
) -> usize {
    quantize_pack_run::<true>(q, p, values, out, at)
}

fn quantize_pack(
    values: &[f32],
    inv: f32,
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut GroupStats,
) {
    let mut q = Quant::new(inv, qmax);
    let p = (bits < 8).then(|| Packer::new(bits));
    quantize_pack_run_measuring(&mut q, p.as_ref(), &values[..values.len() / 8 * 8], out, 0);
    q.finish(stats);
}

fn quantize_pack_groups(
    values: &[f32],
    group_len: usize,
    scales: &[f32],
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut FrameStats,
) {
    quantize_pack_groups_measuring::<true>(values, group_len, scales, qmax, bits, out, stats);
}

/// [`quantize_pack_groups`] without the rounding error (see
/// [`scalar::quantize_pack_groups_bounded`]): three fewer operations per 4 values.
fn quantize_pack_groups_bounded(
    values: &[f32],
    group_len: usize,
    scales: &[f32],
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut FrameStats,
) {
    quantize_pack_groups_measuring::<false>(values, group_len, scales, qmax, bits, out, stats);
}

/// The whole-frame kernels: `max_err` from each group's `max |x − q|` when `MEASURE`, else only
/// from the vanishing groups.
#[inline(never)]
fn quantize_pack_groups_measuring<const MEASURE: bool>(
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
    let min_positive = u32x4_splat(f32::MIN_POSITIVE.to_bits());
    // Per lane, over the groups: max |x| bit patterns (finite and clamped come from it: the
    // limit is the same for every group), max |x|·scale and max |x − q|·scale (equal to the
    // scalar per-group products' maxima: rounding is monotonic).
    let mut all_x = u32x4_splat(0);
    let mut max_abs = f32x4_splat(0.0);
    let mut max_err = f32x4_splat(0.0);
    let mut at = 0;
    for (chunk, &scale) in values.chunks(group_len).zip(scales) {
        q.start(1.0 / scale);
        at = if MEASURE {
            quantize_pack_run_measuring(&mut q, p.as_ref(), chunk, out, at)
        } else {
            quantize_pack_run::<false>(&mut q, p.as_ref(), chunk, out, at)
        };
        let s = f32x4_splat(scale);
        let (mx, me) = q.maxima();
        all_x = u32x4_max(all_x, mx);
        max_abs = f32x4_pmax(max_abs, f32x4_mul(mx, s));
        max_err = f32x4_pmax(max_err, f32x4_mul(me, s));
        // Every lane's max |x| (as bits) below the smallest normal: the group vanished.
        if u32x4_all_true(u32x4_lt(mx, min_positive)) {
            stats.fold_vanished(chunk);
        }
    }
    let max_x = f32::from_bits(hmax_u32(all_x));
    stats.fold_maxima(max_x, qmax, hmax_f32(max_abs), hmax_f32(max_err));
}

fn unpack_dequantize(data: &[u8], bits: u32, scale: f32, qmax: i32, out: &mut [f32]) {
    unpack_dequantize_groups(data, bits, usize::MAX, &[scale], qmax, out);
}

fn unpack_dequantize_groups(
    data: &[u8],
    bits: u32,
    group_len: usize,
    scales: &[f32],
    qmax: i32,
    out: &mut [f32],
) {
    let n = out.len() / 8 * 8;
    let b = bits as usize;
    assert!(data.len() >= n / 8 * b);
    let mut at = 0;
    if b == 8 {
        for (group, &scale) in out[..n].chunks_mut(group_len).zip(scales) {
            let s = Dequant::new(qmax, scale);
            let mut pairs = group.chunks_exact_mut(16);
            for dst in &mut pairs {
                // SAFETY: 16 bytes at `at`, as `at + 16 <= n <= data.len()` (asserted above).
                let bytes = unsafe { v128_load(data.as_ptr().add(at).cast()) };
                let (lo, hi) = dst.split_at_mut(8);
                dequantize8(u16x8_extend_low_u8x16(bytes), s, lo);
                dequantize8(u16x8_extend_high_u8x16(bytes), s, hi);
                at += 16;
            }
            if let Some(dst) = pairs.into_remainder().get_mut(..8) {
                // SAFETY: 8 bytes at `at`, as `at + 8 <= n <= data.len()` (asserted above).
                let codes = unsafe { u16x8_load_extend_u8x8(data.as_ptr().add(at)) };
                dequantize8(codes, s, dst);
                at += 8;
            }
        }
        return;
    }
    // `load16` needs 16 bytes: shorter data (a frame of a few values) is padded once.
    let mut padded = [0u8; 16];
    let data = if data.len() < 16 {
        padded[..data.len()].copy_from_slice(data);
        &padded[..]
    } else {
        data
    };
    let u = Unpacker::new(bits);
    for (group, &scale) in out[..n].chunks_mut(group_len).zip(scales) {
        let s = Dequant::shifted(qmax, scale);
        let mut pairs = group.chunks_exact_mut(16);
        for dst in &mut pairs {
            // 16 codes from one 16-byte window (2·bits ≤ 14 bytes used).
            let bytes = load16(data, at);
            let (lo, hi) = dst.split_at_mut(8);
            dequantize8(u.codes8(bytes, 0), s, lo);
            dequantize8(u.codes8(bytes, 1), s, hi);
            at += 2 * b;
        }
        if let Some(dst) = pairs.into_remainder().get_mut(..8) {
            dequantize8(u.codes8(load16(data, at), 0), s, dst);
            at += b;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn simd128_matches_scalar() {
        super::super::tests::check_against_scalar(super::KERNELS);
    }
}
