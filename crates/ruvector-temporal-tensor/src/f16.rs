//! IEEE 754 binary16 ("half") conversion in software, bit-exact with hardware (x86 F16C).
//!
//! `f32 -> f16` rounds to nearest, ties to even, produces subnormals and ±Inf on overflow, and
//! keeps NaN payload bits (truncated, quiet bit set). `f16 -> f32` is exact for every input.

/// Positive infinity as binary16 bits.
pub const F16_INFINITY: u16 = 0x7c00;
/// Largest finite binary16 value, 65504.
pub const F16_MAX: f32 = 65504.0;
/// Smallest positive normal binary16 value, 2⁻¹⁴.
pub const F16_MIN_POSITIVE: f32 = 6.103_515_6e-5;

/// Converts an `f32` to binary16 bits, rounding to nearest with ties to even.
pub fn f32_to_f16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x007f_ffff;

    if exp == 0xff {
        if man == 0 {
            return sign | F16_INFINITY;
        }
        return sign | F16_INFINITY | 0x0200 | (man >> 13) as u16;
    }
    let half_exp = exp - 127 + 15;
    if half_exp >= 31 {
        return sign | F16_INFINITY;
    }
    if half_exp <= 0 {
        // Below 2^-25 everything rounds to (signed) zero.
        if half_exp < -10 {
            return sign;
        }
        let full = man | 0x0080_0000;
        let shift = (14 - half_exp) as u32;
        return sign | round_shift_right_even(full, shift) as u16;
    }
    let base = ((half_exp as u32) << 10) | (man >> 13);
    // A carry out of the mantissa correctly bumps the exponent (up to Inf).
    sign | round_with_remainder(base, man & 0x1fff, 0x1000) as u16
}

/// `value >> shift`, rounded to nearest with ties to even (`1 <= shift <= 31`).
fn round_shift_right_even(value: u32, shift: u32) -> u32 {
    let half = 1u32 << (shift - 1);
    round_with_remainder(value >> shift, value & ((1u32 << shift) - 1), half)
}

/// Rounds `truncated` up when the dropped `remainder` is above `half`, or equal to it with
/// `truncated` odd.
fn round_with_remainder(truncated: u32, remainder: u32, half: u32) -> u32 {
    if remainder > half || (remainder == half && truncated & 1 == 1) {
        truncated + 1
    } else {
        truncated
    }
}

/// Converts binary16 bits to the `f32` of exactly the same value (NaN: payload kept, made quiet).
pub fn f16_bits_to_f32(half: u16) -> f32 {
    let sign = ((half & 0x8000) as u32) << 16;
    let exp = ((half >> 10) & 0x1f) as u32;
    let man = (half & 0x03ff) as u32;
    match exp {
        0 => {
            // Zero or subnormal: man * 2^-24, exact in f32.
            let magnitude = man as f32 * (1.0 / 16_777_216.0);
            f32::from_bits(sign | magnitude.to_bits())
        }
        31 if man == 0 => f32::from_bits(sign | 0x7f80_0000),
        // NaN: payload kept, quiet bit set (as F16C does).
        31 => f32::from_bits(sign | 0x7fc0_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

/// True when `half` is a finite binary16 number that is zero or normal (not subnormal, Inf, NaN).
pub fn is_zero_or_normal(half: u16) -> bool {
    let exp = (half >> 10) & 0x1f;
    (exp != 0 && exp != 31) || half & 0x7fff == 0
}

/// The smallest non-negative binary16 value `>= value`, for a finite `value >= 0`.
///
/// Returns `None` when that value would be infinite. Used to store scales rounded up, so that a
/// stored scale never shrinks the range it was computed for.
pub fn f16_bits_at_least(value: f32) -> Option<u16> {
    let mut half = f32_to_f16_bits(value) & 0x7fff;
    if f16_bits_to_f32(half) < value {
        half += 1;
    }
    (half < F16_INFINITY).then_some(half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_f16_round_trips_through_f32() {
        for half in 0..=u16::MAX {
            let wide = f16_bits_to_f32(half);
            let back = f32_to_f16_bits(wide);
            let is_nan = (half & 0x7c00) == 0x7c00 && (half & 0x03ff) != 0;
            if is_nan {
                assert!(wide.is_nan(), "{half:#06x}");
                // Signalling NaNs come back quiet; the payload and sign are kept.
                assert_eq!(back, half | 0x0200, "{half:#06x}");
            } else {
                assert_eq!(back, half, "{half:#06x} -> {wide:e}");
            }
        }
    }

    #[test]
    fn every_f16_value_is_exact() {
        // Independent reference: sign * mantissa * 2^exponent in f64.
        for half in 0..=u16::MAX {
            let exp = ((half >> 10) & 0x1f) as i32;
            let man = (half & 0x3ff) as f64;
            let sign = if half & 0x8000 != 0 { -1.0 } else { 1.0 };
            let expected = match exp {
                0 => sign * man * 2f64.powi(-24),
                31 if man == 0.0 => sign * f64::INFINITY,
                31 => continue,
                _ => sign * (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
            };
            assert_eq!(f16_bits_to_f32(half) as f64, expected, "{half:#06x}");
        }
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 2^-11 is exactly halfway between 1 and the next f16: ties to even (1.0).
        assert_eq!(f32_to_f16_bits(1.0 + 2f32.powi(-11)), 0x3c00);
        // 1 + 3 * 2^-11 is halfway between odd 0x3c01 and even 0x3c02.
        assert_eq!(f32_to_f16_bits(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16_bits(65504.0), 0x7bff);
        assert_eq!(f32_to_f16_bits(65519.99), 0x7bff);
        assert_eq!(f32_to_f16_bits(65520.0), 0x7c00);
        assert_eq!(f32_to_f16_bits(f32::INFINITY), 0x7c00);
        assert_eq!(f32_to_f16_bits(f32::NEG_INFINITY), 0xfc00);
        assert_eq!(f32_to_f16_bits(2f32.powi(-24)), 0x0001);
        assert_eq!(f32_to_f16_bits(2f32.powi(-25)), 0x0000);
        assert_eq!(f32_to_f16_bits(1.5 * 2f32.powi(-25)), 0x0001);
        assert_eq!(f32_to_f16_bits(-0.0), 0x8000);
        assert_eq!(f32_to_f16_bits(F16_MIN_POSITIVE), 0x0400);
        assert!(f16_bits_to_f32(f32_to_f16_bits(f32::NAN)).is_nan());
    }

    #[test]
    fn at_least_never_rounds_down() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let value = f32::from_bits((state as u32) & 0x7fff_ffff);
            if !value.is_finite() {
                continue;
            }
            match f16_bits_at_least(value) {
                Some(half) => {
                    let stored = f16_bits_to_f32(half);
                    assert!(stored >= value, "{value:e}");
                    if half > 0 {
                        assert!(f16_bits_to_f32(half - 1) < value, "{value:e}");
                    }
                }
                None => assert!(value > F16_MAX),
            }
        }
    }

    #[test]
    fn zero_or_normal_classification() {
        assert!(is_zero_or_normal(0x0000));
        assert!(is_zero_or_normal(0x8000));
        assert!(is_zero_or_normal(0x0400));
        assert!(is_zero_or_normal(0x7bff));
        assert!(!is_zero_or_normal(0x0001));
        assert!(!is_zero_or_normal(0x03ff));
        assert!(!is_zero_or_normal(0x7c00));
        assert!(!is_zero_or_normal(0x7e00));
    }

    /// Hardware reference: compare with the CPU's F16C conversion where it exists.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn matches_f16c_hardware() {
        use core::arch::x86_64::*;
        if !std::is_x86_feature_detected!("f16c") {
            std::eprintln!("skipping: this CPU has no F16C");
            return;
        }
        #[target_feature(enable = "f16c")]
        unsafe fn hw_to_f16(value: f32) -> u16 {
            let v = _mm_set1_ps(value);
            _mm_extract_epi16::<0>(_mm_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(v)) as u16
        }
        #[target_feature(enable = "f16c")]
        unsafe fn hw_to_f32(half: u16) -> f32 {
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(half as i16)))
        }
        for half in 0..=u16::MAX {
            // SAFETY: F16C was detected above.
            let hw = unsafe { hw_to_f32(half) };
            assert_eq!(hw.to_bits(), f16_bits_to_f32(half).to_bits(), "{half:#06x}");
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..2_000_000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Half the samples anywhere in f32, half concentrated around the f16 range.
            let bits = if i % 2 == 0 {
                state as u32
            } else {
                let exp = 100 + (state >> 40) as u32 % 50;
                ((state as u32) & 0x807f_ffff) | (exp << 23)
            };
            let value = f32::from_bits(bits);
            // SAFETY: F16C was detected above.
            let hw = unsafe { hw_to_f16(value) };
            assert_eq!(hw, f32_to_f16_bits(value), "{value:e} ({bits:#010x})");
        }
    }
}
