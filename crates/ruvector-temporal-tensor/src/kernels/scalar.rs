//! Scalar reference kernels. Every SIMD kernel must produce exactly what these produce.

use super::float::{clamp, round_ties_even};
use super::GroupStats;

/// Quantizes `values` with `x = v · inv`: writes codes `round_ties_even(clamp(x, ±qmax)) + qmax`
/// and folds into `stats` (in code units) `max |x|` and `max |x − q|` (see [`GroupStats`]:
/// `max |x|` is the largest bit pattern, so a NaN or infinite `x` shows in it). Never inlined:
/// the SIMD sets call it for their last few values, where an inlined (and unrolled) copy would
/// only make the WebAssembly modules bigger.
#[inline(never)]
pub fn quantize(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    for (&v, code) in values.iter().zip(codes.iter_mut()) {
        let x = v * inv;
        let ax = x.abs();
        if ax.to_bits() > stats.max_x.to_bits() {
            stats.max_x = ax;
        }
        let r = round_ties_even(clamp(x, -qmax, qmax));
        let e = (x - r).abs();
        if e > stats.max_e {
            stats.max_e = e;
        }
        *code = (r + qmax) as u8;
    }
}

/// `out[i] = (codes[i] − qmax) · scale`. Never inlined, as [`quantize`].
#[inline(never)]
pub fn dequantize(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    for (&code, slot) in codes.iter().zip(out.iter_mut()) {
        *slot = (code as i32 - qmax) as f32 * scale;
    }
}

/// Packs codes (each `< 2^bits`, `codes.len()` a multiple of 8) into the first
/// `codes.len() / 8 * bits` bytes of `out`, least significant bit first. Bytes of `out` after
/// those may be overwritten with zeros.
pub fn pack(codes: &[u8], bits: u32, out: &mut [u8]) {
    let b = bits as usize;
    let mut at = 0;
    for chunk in codes.chunks_exact(8) {
        let x = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        // Written out (as opt-level 3 unrolls it): the size-optimized WebAssembly build would
        // keep a loop.
        let code = |k: usize| ((x >> (8 * k)) & 0xff) << (k * b);
        let v = code(0) | code(1) | code(2) | code(3) | code(4) | code(5) | code(6) | code(7);
        store_low_bytes(out, at, v, b);
        at += b;
    }
}

/// Inverse of [`pack`]: reads `codes.len() / 8 * bits` bytes from the start of `data` (which
/// may be longer; nothing past it is read).
pub fn unpack(data: &[u8], bits: u32, codes: &mut [u8]) {
    let b = bits as usize;
    let mask = (1u64 << b) - 1;
    for (i, chunk) in codes.chunks_exact_mut(8).enumerate() {
        let v = load_bytes(data, i * b, b);
        // Written out, and one 8-byte store (see `pack`).
        let code = |k: usize| ((v >> (k * b)) & mask) << (8 * k);
        let x = code(0) | code(1) | code(2) | code(3) | code(4) | code(5) | code(6) | code(7);
        if let Ok(chunk) = <&mut [u8; 8]>::try_from(chunk) {
            *chunk = x.to_le_bytes();
        }
    }
}

/// Writes the low `len` bytes of `value` at `out[at..]`: one 8-byte store when 8 bytes fit
/// (the extra bytes are zeros the next store overwrites), else byte by byte.
#[inline(always)]
pub(crate) fn store_low_bytes(out: &mut [u8], at: usize, value: u64, len: usize) {
    if at + 8 <= out.len() {
        // SAFETY: `at + 8 <= out.len()`, so the 8 bytes are inside `out`.
        unsafe {
            out.as_mut_ptr()
                .add(at)
                .cast::<u64>()
                .write_unaligned(value.to_le())
        }
    } else {
        for (k, slot) in out[at..at + len].iter_mut().enumerate() {
            *slot = (value >> (8 * k)) as u8;
        }
    }
}

/// Reads `len` (≤ 8) bytes at `data[at..]` as a little-endian integer; one 8-byte load when
/// 8 bytes are there (the bytes past `len` are then ignored by the caller's masks).
#[inline(always)]
pub(crate) fn load_bytes(data: &[u8], at: usize, len: usize) -> u64 {
    if let Some(src) = data.get(at..at + 8) {
        u64::from_le_bytes([
            src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7],
        ])
    } else {
        data[at..at + len]
            .iter()
            .enumerate()
            .fold(0u64, |v, (k, &byte)| v | (byte as u64) << (8 * k))
    }
}

/// [`quantize`] then [`pack`] (`values.len()` a multiple of 8): writes
/// `values.len() / 8 * bits` bytes at the start of `out` (bytes after them may be zeroed).
/// Not inlined into the whole-frame kernel: one copy of the loop (the WebAssembly modules stay
/// small).
#[inline(never)]
pub fn quantize_pack(
    values: &[f32],
    inv: f32,
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut GroupStats,
) {
    super::quantize_pack_with(quantize, values, inv, qmax, bits, out, stats);
}

/// [`unpack`] then [`dequantize`] (`out.len()` a multiple of 8): reads
/// `out.len() / 8 * bits` bytes from the start of `data` (which may be longer). Not inlined
/// into the whole-frame kernel, as [`quantize_pack`].
#[inline(never)]
pub fn unpack_dequantize(data: &[u8], bits: u32, scale: f32, qmax: i32, out: &mut [f32]) {
    super::unpack_dequantize_with(dequantize, data, bits, scale, qmax, out);
}

/// [`quantize_pack`] of every group of a frame: group `g` is `values[g·group_len..][..group_len]`
/// with scale `scales[g]`, quantized with `inv = 1 / scales[g]` and packed after the groups
/// before it (`values.len() / 8 · bits` bytes at the start of `out`; bytes after them may be
/// zeroed). Folds each group into `stats` as `quantizer::quantize_frame` does: clamping,
/// finiteness, `max |v|` and the error in value units (`max_x · scale`, `max_e · scale`), and
/// for a group whose `max_x` is below `f32::MIN_POSITIVE` the group's own `max |v|`.
///
/// Requires `group_len` and `values.len()` to be multiples of 8, a scale for every group, and
/// every scale normal with a normal reciprocal (groups of other scales take the quantizer's
/// general path). Other sets agree with this bit for bit in the codes and, when the frame is
/// finite, in every field of `stats` (otherwise in `stats.finite`).
pub fn quantize_pack_groups(
    values: &[f32],
    group_len: usize,
    scales: &[f32],
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut super::FrameStats,
) {
    super::quantize_pack_groups_with(
        quantize_pack,
        values,
        group_len,
        scales,
        qmax,
        bits,
        out,
        stats,
    );
}

/// [`quantize_pack_groups`] without measuring the rounding error: the same codes, and the same
/// `stats` except that `max_err` takes only the vanishing groups' `max |v|`, not
/// `max |x − q| · scale`. A caller that needs the error bounds it instead: in a group that does
/// not clamp, `|x − q| ≤ ½` exactly, so its error is at most `½ · scale` (see
/// `quantizer::quantize_frame`). Sets with a faster kernel for this skip the error arithmetic.
pub fn quantize_pack_groups_bounded(
    values: &[f32],
    group_len: usize,
    scales: &[f32],
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut super::FrameStats,
) {
    super::quantize_pack_groups_folding(
        quantize_pack,
        values,
        group_len,
        scales,
        qmax,
        bits,
        out,
        stats,
        false,
    );
}

/// [`unpack_dequantize`] of every group of a frame (`out.len()` and `group_len` multiples of 8):
/// group `g` of `out` decoded with `scales[g]` from `out.len() / 8 · bits` bytes at the start of
/// `data` (which may be longer).
pub fn unpack_dequantize_groups(
    data: &[u8],
    bits: u32,
    group_len: usize,
    scales: &[f32],
    qmax: i32,
    out: &mut [f32],
) {
    super::unpack_dequantize_groups_with(
        unpack_dequantize,
        data,
        bits,
        group_len,
        scales,
        qmax,
        out,
    );
}

/// `max |v|` of each group of `frame` into `out` (`out.len()` = number of groups), as the largest
/// bit pattern of `|v|`: the float maximum for finite values (NaN for a group holding one). An
/// integer maximum is associative, so the compiler vectorizes this loop (the SIMD sets compile
/// this same body for their target features).
#[inline(always)]
pub fn group_max_abs(frame: &[f32], group_len: usize, out: &mut [f32]) {
    for (chunk, slot) in frame.chunks(group_len).zip(out.iter_mut()) {
        let m = chunk
            .iter()
            .fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
        *slot = f32::from_bits(m);
    }
}
