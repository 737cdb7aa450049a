//! aarch64 kernels: NEON quantize/dequantize (4 lanes; NEON is part of the base architecture).
//! Bit packing uses the scalar kernels.

use super::{scalar, GroupStats};
use core::arch::aarch64::*;

fused_via_scalar_packing!(name: "neon", coded: super::coded::PORTABLE);

fn quantize(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    let n = values.len().min(codes.len());
    let whole = n / 4 * 4;
    // SAFETY: NEON is always present on aarch64; loads stay below `whole <= values.len()`.
    unsafe {
        let vinv = vdupq_n_f32(inv);
        let vq = vdupq_n_f32(qmax);
        let vnq = vdupq_n_f32(-qmax);
        // max |x| as the largest bit pattern (so NaN and ∞ show), max |x − q| as floats.
        let mut max_x = vdupq_n_u32(0);
        let mut max_e = vdupq_n_f32(0.0);
        let mut i = 0;
        while i < whole {
            let x = vmulq_f32(vld1q_f32(values.as_ptr().add(i)), vinv);
            max_x = vmaxq_u32(max_x, vreinterpretq_u32_f32(vabsq_f32(x)));
            let r = vrndnq_f32(vminq_f32(vmaxq_f32(x, vnq), vq)); // ties to even
            let e = vabsq_f32(vsubq_f32(x, r));
            max_e = vmaxq_f32(max_e, e);
            let u = vcvtq_u32_f32(vaddq_f32(r, vq));
            let narrow = vmovn_u16(vcombine_u16(vmovn_u32(u), vdup_n_u16(0)));
            let word = vget_lane_u32::<0>(vreinterpret_u32_u8(narrow));
            codes[i..i + 4].copy_from_slice(&word.to_le_bytes());
            i += 4;
        }
        let mx = vmaxvq_u32(max_x);
        let me = vmaxvq_f32(max_e);
        // max_x carries the non-finite signal; max_e only matters for finite input.
        if mx > stats.max_x.to_bits() {
            stats.max_x = f32::from_bits(mx);
        }
        if me > stats.max_e {
            stats.max_e = me;
        }
    }
    scalar::quantize(&values[whole..n], inv, qmax, &mut codes[whole..n], stats);
}

fn dequantize(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    let n = codes.len().min(out.len());
    let whole = n / 8 * 8;
    // SAFETY: NEON is always present on aarch64; 8 bytes read and 8 floats written below `whole`.
    unsafe {
        let vscale = vdupq_n_f32(scale);
        let bias = vdupq_n_s32(qmax);
        let mut i = 0;
        while i < whole {
            let wide = vmovl_u8(vld1_u8(codes.as_ptr().add(i)));
            let lo = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(wide)));
            let hi = vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(wide)));
            vst1q_f32(
                out.as_mut_ptr().add(i),
                vmulq_f32(vcvtq_f32_s32(vsubq_s32(lo, bias)), vscale),
            );
            vst1q_f32(
                out.as_mut_ptr().add(i + 4),
                vmulq_f32(vcvtq_f32_s32(vsubq_s32(hi, bias)), vscale),
            );
            i += 8;
        }
    }
    scalar::dequantize(&codes[whole..n], scale, qmax, &mut out[whole..n]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn neon_matches_scalar() {
        super::super::tests::check_against_scalar(super::KERNELS);
    }
}
