//! wasm32 kernels: simd128 quantize/dequantize (4 lanes), compiled in when the module is built
//! with `-C target-feature=+simd128`. Bit packing uses the scalar kernels.

use super::{scalar, GroupStats};
use core::arch::wasm32::*;

fused_via_scalar_packing!(name: "simd128", coded: super::coded::simd128::KERNELS);

fn quantize(values: &[f32], inv: f32, qmax: f32, codes: &mut [u8], stats: &mut GroupStats) {
    let n = values.len().min(codes.len());
    let whole = n / 4 * 4;
    let vinv = f32x4_splat(inv);
    let vq = f32x4_splat(qmax);
    let vnq = f32x4_splat(-qmax);
    // max |x| as the largest bit pattern (so NaN and ∞ show), max |x − q| as floats.
    let mut max_x = u32x4_splat(0);
    let mut max_e = f32x4_splat(0.0);
    let mut i = 0;
    while i < whole {
        // SAFETY: i + 4 <= values.len(); unaligned loads are allowed in wasm.
        let v = unsafe { v128_load(values.as_ptr().add(i) as *const v128) };
        let x = f32x4_mul(v, vinv);
        max_x = u32x4_max(max_x, f32x4_abs(x));
        let r = f32x4_nearest(f32x4_pmin(vq, f32x4_pmax(vnq, x))); // ties to even
        let e = f32x4_abs(f32x4_sub(x, r));
        max_e = f32x4_pmax(max_e, e);
        let u = i32x4_trunc_sat_f32x4(f32x4_add(r, vq));
        let narrow = u8x16_narrow_i16x8(i16x8_narrow_i32x4(u, u), i16x8_splat(0));
        let word = i32x4_extract_lane::<0>(narrow) as u32;
        codes[i..i + 4].copy_from_slice(&word.to_le_bytes());
        i += 4;
    }
    let lanes = |v: v128| {
        [
            u32x4_extract_lane::<0>(v),
            u32x4_extract_lane::<1>(v),
            u32x4_extract_lane::<2>(v),
            u32x4_extract_lane::<3>(v),
        ]
    };
    for (mx, me) in lanes(max_x).into_iter().zip(lanes(max_e)) {
        if mx > stats.max_x.to_bits() {
            stats.max_x = f32::from_bits(mx);
        }
        let me = f32::from_bits(me);
        if me > stats.max_e {
            stats.max_e = me;
        }
    }
    scalar::quantize(&values[whole..n], inv, qmax, &mut codes[whole..n], stats);
}

fn dequantize(codes: &[u8], scale: f32, qmax: i32, out: &mut [f32]) {
    let n = codes.len().min(out.len());
    let whole = n / 8 * 8;
    let vscale = f32x4_splat(scale);
    let bias = i32x4_splat(qmax);
    let mut i = 0;
    while i < whole {
        // SAFETY: 8 bytes readable and 8 floats writable below `whole`.
        unsafe {
            let wide = u16x8_load_extend_u8x8(codes.as_ptr().add(i));
            let lo = i32x4_sub(u32x4_extend_low_u16x8(wide), bias);
            let hi = i32x4_sub(u32x4_extend_high_u16x8(wide), bias);
            v128_store(
                out.as_mut_ptr().add(i) as *mut v128,
                f32x4_mul(f32x4_convert_i32x4(lo), vscale),
            );
            v128_store(
                out.as_mut_ptr().add(i + 4) as *mut v128,
                f32x4_mul(f32x4_convert_i32x4(hi), vscale),
            );
        }
        i += 8;
    }
    scalar::dequantize(&codes[whole..n], scale, qmax, &mut out[whole..n]);
}
