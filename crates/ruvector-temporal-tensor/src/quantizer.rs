//! Groupwise symmetric quantization (ADR-017 §4.2) with measured error.
//!
//! A frame of `tensor_len` values is split into groups of `group_len` consecutive values (the
//! last group may be shorter). Each group has one scale `s` (the value of one code step). A value
//! `v` becomes the signed code `q = round_ties_even(clamp(v / s, -qmax, qmax))` with
//! `qmax = 2^(bits-1) - 1`, stored unsigned as `q + qmax`. Decoding is `q as f32 * s` with exactly
//! the stored scale.
//!
//! `v / s` is computed as `v * (1 / s)` when both `s` and `1 / s` are normal `f32` numbers, and as
//! a true division otherwise (subnormal or huge scales), so that tiny and huge magnitudes keep
//! their precision. Every kernel, scalar or SIMD, follows this rule, so they agree bit for bit.

use crate::bitpack::{BitReader, BitWriter};
use crate::f16::{F16_MAX, F16_MIN_POSITIVE};
pub(crate) use crate::kernels::float::{clamp, round_ties_even};
pub use crate::kernels::FrameStats;
use crate::kernels::GroupStats;

/// Largest code magnitude for a width: `2^(bits-1) - 1` (127 for 8 bits, 3 for 3 bits).
pub const fn qmax(bits: u32) -> u32 {
    (1u32 << (bits - 1)) - 1
}

/// Largest magnitude `|code − qmax|` any stored code can decode to: `qmax + 1`, for the top code
/// `2^bits − 1` (which the encoder never writes, but a segment may hold).
pub fn max_code_magnitude(bits: u32) -> f32 {
    (qmax(bits) + 1) as f32
}

/// ADR-017 §8.2's bound on `max|v - v'| / max|v|` per frame for a supported width, or `None` for
/// widths the compressor does not produce.
pub const fn error_bound(bits: u32) -> Option<f32> {
    match bits {
        8 => Some(0.008),
        7 => Some(0.016),
        5 => Some(0.065),
        3 => Some(0.30),
        _ => None,
    }
}

/// The error the compressor actually allows per frame: 1 % under [`error_bound`], leaving room
/// for the rounding of whoever measures it.
pub fn error_target(bits: u32) -> f32 {
    error_bound(bits).map_or(0.0, |bound| bound * 0.99)
}

/// The largest calibration headroom (scale multiplier) for which a freshly calibrated frame
/// still meets [`error_target`]: rounding error is `headroom / (2 * qmax)` of the group maximum,
/// with a margin for the f16 rounding up of scales.
pub fn max_headroom(bits: u32) -> f32 {
    let h = 2.0 * qmax(bits) as f32 * error_target(bits) / (1.0 + 1.0 / 256.0);
    if h < 1.0 {
        1.0
    } else {
        h
    }
}

/// The largest scale with which every code still decodes to a finite value. The largest code
/// magnitude a segment can hold is `qmax + 1` (code `2^bits − 1`), not `qmax`: the decoder
/// ([`crate::segment::SegmentHeader::parse`]) requires `(qmax + 1) * scale` to be finite, so
/// the encoder must never choose a larger scale.
fn max_scale(bits: u32) -> f32 {
    let q = max_code_magnitude(bits);
    let mut s = f32::MAX / q;
    while (s * q).is_infinite() {
        s = f32::from_bits(s.to_bits() - 1);
    }
    s
}

/// How a group's values are divided by its scale (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Divisor {
    /// Scale zero: every value maps to code 0.
    Zero,
    /// Multiply by this reciprocal.
    Reciprocal(f32),
    /// Divide by the scale itself.
    Divide(f32),
}

impl Divisor {
    /// The divisor rule for a stored scale (finite, non-negative).
    pub(crate) fn for_scale(scale: f32) -> Divisor {
        if scale == 0.0 {
            return Divisor::Zero;
        }
        let inv = 1.0 / scale;
        if scale.is_normal() && inv.is_normal() {
            Divisor::Reciprocal(inv)
        } else {
            Divisor::Divide(scale)
        }
    }

    #[inline(always)]
    fn apply(self, v: f32) -> f32 {
        match self {
            Divisor::Zero => 0.0,
            Divisor::Reciprocal(inv) => v * inv,
            Divisor::Divide(s) => v / s,
        }
    }
}

/// Where scales are stored in a segment: f16 (format version 1) or f32 (version 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleFormat {
    /// Every scale is zero or an f16 normal number: stored as f16 (version 1).
    F16,
    /// Some scale is outside f16's normal range: all stored as f32 (version 2).
    F32,
}

/// Writes `max |v|` of each group of `frame` into `out` (`out.len()` = number of groups).
///
/// The maximum is taken over the bit patterns of `|v|` (an integer maximum, which the compiler
/// vectorizes): the same as the float maximum on finite values; a group holding a NaN gets NaN.
/// Runs on the active kernels ([`crate::kernels::scalar::group_max_abs`]).
pub fn group_max_abs(frame: &[f32], group_len: usize, out: &mut [f32]) {
    (crate::kernels::active().group_max_abs)(frame, group_len, out);
}

/// The smallest f16 value `>= s`, as an `f32`, for `s` in f16's normal range
/// (`F16_MIN_POSITIVE..=F16_MAX`): `s` with its mantissa rounded up to 10 bits (equal to
/// `f16_bits_to_f32(f16_bits_at_least(s))` there, without the conversions).
#[inline]
fn f16_ceil_normal(s: f32) -> f32 {
    f32::from_bits((s.to_bits() + 0x1fff) & !0x1fff)
}

/// Turns group maxima into stored scales at `bits`, in place, and returns their storage format.
///
/// On entry `values[g]` is `max |v|` of group `g`; on return it is the group's scale: the exact
/// stored value (f16-rounded-up for [`ScaleFormat::F16`]), at least `max * headroom / qmax` and
/// never so large that `(qmax + 1) * scale` overflows. A group may therefore grow by `headroom` before
/// its values would be clamped.
pub(crate) fn scales_from_max_abs(values: &mut [f32], bits: u32, headroom: f32) -> ScaleFormat {
    let q = qmax(bits) as f32;
    let factor = headroom / q;
    let cap = max_scale(bits);
    let mut format = ScaleFormat::F16;
    for slot in values.iter_mut() {
        let m = *slot;
        let mut s = (m * factor).min(cap);
        if m > 0.0 && s * q < m {
            // Rounding (or a headroom of 1) left the extreme value outside the range: widen by
            // the smallest step that brings it back (or to the cap).
            s = (m / q).min(cap);
            if s * q < m && s < cap {
                s = f32::from_bits(s.to_bits() + 1);
            }
        }
        if m > 0.0 && s == 0.0 {
            s = f32::from_bits(1);
        }
        *slot = s;
        // An f16 normal at least `s` exists exactly when `s` is in f16's normal range (above
        // F16_MAX it would round up to infinity).
        let f16_normal = (F16_MIN_POSITIVE..=F16_MAX).contains(&s);
        if s != 0.0 && !f16_normal {
            format = ScaleFormat::F32;
        }
    }
    if format == ScaleFormat::F16 {
        for slot in values.iter_mut() {
            if *slot != 0.0 {
                // Checked above: in f16's normal range.
                *slot = f16_ceil_normal(*slot);
            }
        }
    }
    format
}

/// Codes handled per pass on the unaligned (slow) path; they live on the stack.
const CHUNK: usize = 64;

/// Quantizes `frame` with the stored `scales` into `writer`, measuring the error.
///
/// `divisors[g]` must be `Divisor::for_scale(scales[g])`. Uses the kernels of
/// [`crate::kernels::active`]: the whole-frame quantize+pack kernel for the leading groups when
/// the stream is byte-aligned, the group length a multiple of 8 and the scales ordinary (the
/// usual case), then fused quantize+pack per group while the stream stays byte-aligned, and
/// codes one by one otherwise.
///
/// The error is measured in code steps (`|x − q|` with `x = v / scale`) and scaled back per
/// group; it differs from the decoded error by a few ulps of `max |v|`, far inside the 1 % margin
/// of [`error_target`]. [`FrameStats::finite`] is false when a value is NaN or infinite, and also
/// when a finite value overflows once divided by a tiny scale: callers tell the two apart.
pub(crate) fn quantize_frame(
    frame: &[f32],
    scales: &[f32],
    divisors: &[Divisor],
    group_len: usize,
    bits: u32,
    writer: &mut BitWriter<'_>,
) -> FrameStats {
    quantize_frame_with(frame, scales, divisors, group_len, bits, writer, false).0
}

/// [`quantize_frame`] (the same codes), leaving out of `max_err` the rounding error of the groups
/// the whole-frame kernel takes when the active set has a faster kernel that does not measure it
/// ([`crate::kernels::scalar::quantize_pack_groups_bounded`]). Returns the statistics and whether
/// that happened; if it did, and the frame is finite and not clamped, each of those groups' error
/// is at most half a step (`½ · scale`), so `max(max_err, max ½ · scale)` bounds the measured
/// `max_err` from above.
pub(crate) fn quantize_frame_bounded(
    frame: &[f32],
    scales: &[f32],
    divisors: &[Divisor],
    group_len: usize,
    bits: u32,
    writer: &mut BitWriter<'_>,
) -> (FrameStats, bool) {
    quantize_frame_with(frame, scales, divisors, group_len, bits, writer, true)
}

fn quantize_frame_with(
    frame: &[f32],
    scales: &[f32],
    divisors: &[Divisor],
    group_len: usize,
    bits: u32,
    writer: &mut BitWriter<'_>,
    bounded: bool,
) -> (FrameStats, bool) {
    let kernels = crate::kernels::active();
    let q = qmax(bits) as f32;
    let mut stats = FrameStats::default();
    let fast = whole_frame_groups(frame.len(), group_len, divisors);
    let mut done = 0;
    let mut left_out = false;
    if fast > 0 {
        if let Some(out) = writer.aligned_tail() {
            let len = (fast * group_len).min(frame.len());
            let kernel = match kernels.quantize_pack_groups_bounded {
                Some(kernel) if bounded => {
                    left_out = true;
                    kernel
                }
                _ => kernels.quantize_pack_groups,
            };
            kernel(&frame[..len], group_len, scales, q, bits, out, &mut stats);
            writer.skip_bytes(len / 8 * bits as usize);
            done = fast;
        }
    }
    let mut codes = [0u8; CHUNK];
    for ((values, &scale), &divisor) in frame.chunks(group_len).zip(scales).zip(divisors).skip(done)
    {
        let Divisor::Reciprocal(inv) = divisor else {
            for chunk in values.chunks(CHUNK) {
                let out = &mut codes[..chunk.len()];
                quantize_by_rule(chunk, divisor, scale, q, out, &mut stats);
                writer.put_codes(out, kernels.pack);
            }
            continue;
        };
        let mut group = GroupStats::default();
        let mut rest = values;
        let whole = values.len() / 8 * 8;
        if whole > 0 {
            if let Some(out) = writer.aligned_tail() {
                (kernels.quantize_pack)(&values[..whole], inv, q, bits, out, &mut group);
                writer.skip_bytes(whole / 8 * bits as usize);
                rest = &values[whole..];
            }
        }
        for chunk in rest.chunks(CHUNK) {
            let out = &mut codes[..chunk.len()];
            (kernels.quantize)(chunk, inv, q, out, &mut group);
            writer.put_codes(out, kernels.pack);
        }
        stats.fold_group(&group, scale, q);
        if group.max_x < f32::MIN_POSITIVE {
            stats.fold_vanished(values);
        }
    }
    (stats, left_out)
}

/// How many leading groups of a frame the whole-frame kernels take: none unless `group_len` is a
/// multiple of 8; then the groups up to the first with an unusual scale, and not a last group
/// whose length is not a multiple of 8.
fn whole_frame_groups(frame_len: usize, group_len: usize, divisors: &[Divisor]) -> usize {
    if group_len % 8 != 0 || group_len == 0 {
        return 0;
    }
    // One divisor per group; a last group whose length is not a multiple of 8 is left out (its
    // length is the frame's modulo 8, as the group length is a multiple of 8).
    debug_assert_eq!(divisors.len(), frame_len.div_ceil(group_len));
    let groups = if frame_len % 8 == 0 {
        divisors.len()
    } else {
        divisors.len().saturating_sub(1)
    };
    divisors[..groups]
        .iter()
        .position(|d| !matches!(d, Divisor::Reciprocal(_)))
        .unwrap_or(groups)
}

/// The scalar formula for the rare divisors (zero, subnormal or huge scales).
fn quantize_by_rule(
    values: &[f32],
    divisor: Divisor,
    scale: f32,
    q: f32,
    codes: &mut [u8],
    stats: &mut FrameStats,
) {
    let limit = q + 0.5;
    for (&v, code) in values.iter().zip(codes.iter_mut()) {
        let a = v.abs();
        // False for NaN and ±Inf.
        stats.finite &= a <= f32::MAX;
        let x = divisor.apply(v);
        stats.clamped |= x.abs() > limit;
        let c = round_ties_even(clamp(x, -q, q));
        let c = if c.is_nan() { 0.0 } else { c };
        *code = (c as i32 + q as i32) as u8;
        let err = (v - c * scale).abs();
        if err > stats.max_err {
            stats.max_err = err;
        }
        if a > stats.max_abs {
            stats.max_abs = a;
        }
    }
}

/// Decodes `out.len()` values (one frame) from `reader` with per-group `scales`:
/// `(code - qmax) * scale`. The whole-frame unpack+dequantize kernel when the stream is
/// byte-aligned and the group length a multiple of 8 (the usual case), else fused
/// unpack+dequantize per group while the stream is byte-aligned.
pub(crate) fn dequantize_frame(
    reader: &mut BitReader<'_>,
    bits: u32,
    group_len: usize,
    scales: &[f32],
    out: &mut [f32],
) {
    let kernels = crate::kernels::active();
    let q = qmax(bits) as i32;
    let mut fast = 0;
    if group_len % 8 == 0 && group_len > 0 {
        // Whole groups, and the last one too if its length is a multiple of 8.
        let len = if out.len() % 8 == 0 {
            out.len()
        } else {
            out.len() / group_len * group_len
        };
        let len = len.min(scales.len() * group_len);
        let bytes = len / 8 * bits as usize;
        if len > 0 {
            if let Some(data) = reader.aligned_tail().filter(|d| d.len() >= bytes) {
                (kernels.unpack_dequantize_groups)(
                    data,
                    bits,
                    group_len,
                    scales,
                    q,
                    &mut out[..len],
                );
                reader.skip_bytes(bytes);
                if len == out.len() {
                    return;
                }
                // Otherwise `len` is a whole number of groups.
                fast = len / group_len;
            }
        }
    }
    let mut codes = [0u8; CHUNK];
    for (group, &scale) in out.chunks_mut(group_len).zip(scales).skip(fast) {
        let whole = group.len() / 8 * 8;
        let mut done = 0;
        if whole > 0 {
            let bytes = whole / 8 * bits as usize;
            if let Some(data) = reader.aligned_tail().filter(|d| d.len() >= bytes) {
                (kernels.unpack_dequantize)(data, bits, scale, q, &mut group[..whole]);
                reader.skip_bytes(bytes);
                done = whole;
            }
        }
        for chunk in group[done..].chunks_mut(CHUNK) {
            let codes = &mut codes[..chunk.len()];
            reader.get_codes(codes, kernels.unpack);
            (kernels.dequantize)(codes, scale, q, chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitpack::packed_len;
    use alloc::vec;
    use alloc::vec::Vec;

    fn round_trip(
        frame: &[f32],
        group_len: usize,
        bits: u32,
        headroom: f32,
    ) -> (Vec<f32>, FrameStats) {
        let groups = frame.len().div_ceil(group_len);
        let mut scales = vec![0.0; groups];
        group_max_abs(frame, group_len, &mut scales);
        scales_from_max_abs(&mut scales, bits, headroom);
        let divisors: Vec<Divisor> = scales.iter().map(|&s| Divisor::for_scale(s)).collect();
        let mut data = vec![0u8; packed_len(frame.len() as u64, bits).unwrap() as usize];
        let mut writer = BitWriter::new(&mut data, 0, bits);
        let stats = quantize_frame(frame, &scales, &divisors, group_len, bits, &mut writer);
        writer.finish();
        let mut out = vec![0.0; frame.len()];
        let mut reader = BitReader::new(&data, 0, bits);
        dequantize_frame(&mut reader, bits, group_len, &scales, &mut out);
        (out, stats)
    }

    #[test]
    fn qmax_and_bounds() {
        assert_eq!(qmax(8), 127);
        assert_eq!(qmax(7), 63);
        assert_eq!(qmax(5), 15);
        assert_eq!(qmax(3), 3);
        assert_eq!(error_bound(4), None);
        for bits in [3, 5, 7, 8] {
            let h = max_headroom(bits);
            assert!(h > 1.5, "bits={bits} h={h}");
            // Calibration error at the cap stays inside the target.
            assert!(h / (2.0 * qmax(bits) as f32) * (1.0 + 1.0 / 1024.0) <= error_target(bits));
        }
    }

    #[test]
    fn measured_error_matches_the_decoded_error() {
        let frame: Vec<f32> = (0..300)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        for bits in [3u32, 5, 7, 8] {
            let (out, stats) = round_trip(&frame, 64, bits, 1.1);
            let err = frame
                .iter()
                .zip(&out)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Measured in code steps: equal to the decoded error up to a few ulps.
            let max_abs = frame.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(
                (err - stats.max_err).abs() <= 4.0 * f32::EPSILON * max_abs,
                "bits={bits}"
            );
            assert!(stats.finite && !stats.clamped);
            assert!(stats.within(error_target(bits)), "bits={bits}");
        }
    }

    #[test]
    fn all_zero_groups_are_exact() {
        let frame = vec![0.0f32; 130];
        let (out, stats) = round_trip(&frame, 64, 3, 1.1);
        assert_eq!(out, frame);
        assert_eq!(stats.max_err, 0.0);
        assert!(stats.within(0.0));
    }

    #[test]
    fn extreme_magnitudes_stay_finite_and_bounded() {
        for bits in [3u32, 5, 7, 8] {
            for m in [
                f32::MAX,
                3e38,
                1e-38,
                1e-42,
                f32::from_bits(1),
                f32::from_bits(200),
            ] {
                let frame = [m, -m, m * 0.5, 0.0, -m * 0.25];
                let (out, stats) = round_trip(&frame, 2, bits, max_headroom(bits));
                assert!(out.iter().all(|v| v.is_finite()), "bits={bits} m={m:e}");
                assert!(
                    stats.within(error_target(bits)) || {
                        // Retry at headroom 1, as the compressor does.
                        round_trip(&frame, 2, bits, 1.0)
                            .1
                            .within(error_target(bits))
                    }
                );
            }
        }
    }

    #[test]
    fn every_subnormal_magnitude_calibrates_within_bound() {
        for bits in [3u32, 5, 7, 8] {
            for units in 1u32..4096 {
                let m = f32::from_bits(units);
                let frame: Vec<f32> = (0..units.min(300))
                    .map(|j| f32::from_bits(units - j))
                    .collect();
                let target = error_target(bits);
                let ok = round_trip(&frame, 64, bits, max_headroom(bits))
                    .1
                    .within(target)
                    || round_trip(&frame, 64, bits, 1.0).1.within(target);
                assert!(ok, "bits={bits} m={m:e}");
            }
        }
    }

    #[test]
    fn non_finite_is_reported() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let frame = [1.0, bad, 2.0];
            let (_, stats) = round_trip(&[1.0, 2.0, 3.0], 4, 8, 1.0);
            assert!(stats.finite);
            let scales = [0.1f32];
            let divisors = [Divisor::for_scale(0.1)];
            let mut data = vec![0u8; 3];
            let mut writer = BitWriter::new(&mut data, 0, 8);
            let stats = quantize_frame(&frame, &scales, &divisors, 4, 8, &mut writer);
            assert!(!stats.finite);
        }
    }

    #[test]
    fn f16_scales_round_up_and_f32_when_needed() {
        let mut scales = [1.0f32, 0.0, 100.0];
        assert_eq!(scales_from_max_abs(&mut scales, 8, 1.0), ScaleFormat::F16);
        assert!(scales[0] * 127.0 >= 1.0 && scales[2] * 127.0 >= 100.0);
        assert_eq!(scales[1], 0.0);
        // Tiny group: scale below f16's normal range.
        assert_eq!(
            scales_from_max_abs(&mut [1.0, 1e-4], 8, 1.0),
            ScaleFormat::F32
        );
        // Huge group: scale above f16's range.
        assert_eq!(scales_from_max_abs(&mut [1e8], 3, 1.0), ScaleFormat::F32);
    }

    #[test]
    fn f16_ceiling_matches_the_converter() {
        use crate::f16::{f16_bits_at_least, f16_bits_to_f32};
        let lo = F16_MIN_POSITIVE.to_bits();
        let hi = F16_MAX.to_bits();
        // Every 2^13-aligned pattern and its neighbours, and a stride through the rest.
        let mut checked = 0;
        let mut b = lo;
        while b <= hi {
            for s in [
                b,
                b + 1,
                b + 0xfff,
                b + 0x1000,
                b + 0x1001,
                b.wrapping_sub(1),
            ] {
                let v = f32::from_bits(s);
                if (F16_MIN_POSITIVE..=F16_MAX).contains(&v) {
                    let want = f16_bits_to_f32(f16_bits_at_least(v).unwrap());
                    assert_eq!(f16_ceil_normal(v).to_bits(), want.to_bits(), "{v:e}");
                    checked += 1;
                }
            }
            b += 0x2000;
        }
        for s in (lo..=hi).step_by(977) {
            let v = f32::from_bits(s);
            let want = f16_bits_to_f32(f16_bits_at_least(v).unwrap());
            assert_eq!(f16_ceil_normal(v).to_bits(), want.to_bits(), "{v:e}");
        }
        assert!(checked > 100_000);
        // Just above F16_MAX no f16 is at least the value.
        assert_eq!(f16_bits_at_least(f32::from_bits(hi + 1)), None);
    }

    #[test]
    fn group_maxima_match_the_float_maximum() {
        let frame: Vec<f32> = (0..300)
            .map(|i| match i % 7 {
                0 => -0.0,
                1 => f32::MAX * if i % 2 == 0 { 1.0 } else { -1.0 },
                2 => f32::from_bits(i as u32),
                3 => -(i as f32) * 0.37,
                _ => (i as f32).sin(),
            })
            .collect();
        for group_len in [1usize, 7, 64, 300] {
            let mut fast = vec![0f32; frame.len().div_ceil(group_len)];
            group_max_abs(&frame, group_len, &mut fast);
            for (g, chunk) in frame.chunks(group_len).enumerate() {
                let want = chunk
                    .iter()
                    .fold(0.0f32, |m, v| if v.abs() > m { v.abs() } else { m });
                assert_eq!(fast[g].to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn rounding_is_ties_to_even() {
        assert_eq!(round_ties_even(0.5), 0.0);
        assert_eq!(round_ties_even(1.5), 2.0);
        assert_eq!(round_ties_even(2.5), 2.0);
        assert_eq!(round_ties_even(-2.5), -2.0);
        assert_eq!(round_ties_even(-0.4), 0.0);
        assert_eq!(round_ties_even(126.6), 127.0);
    }
}
