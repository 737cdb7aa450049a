//! Kernels of the coded (v3) format: quantize a frame against a prediction with a bound-sized
//! step, and reconstruct it. Each is one portable body, written so the compiler vectorizes it,
//! compiled once for the baseline target and once more with AVX2 enabled on x86-64; every
//! operation is a single IEEE-754 `f32` operation in the same order (Rust never fuses a multiply
//! and an add), so every build gives the same bits.

/// Largest step count magnitude the quantizer produces before the caller's range check:
/// residuals are clamped to `±CLAMP` steps, which the coded encoder then rejects (> 2047).
const CLAMP: f32 = 2048.0;
/// `1.5 · 2²³`: adding and subtracting it rounds an `f32` below 2²² to an integer, ties to even.
const ROUND: f32 = 12_582_912.0;

/// Signature of [`quantize`]: frame, previous frame, weight, step, 1/step, symbols out,
/// reconstruction out → `[max error, max |q|]`.
pub type QuantizeFn = fn(&[f32], &[f32], f32, f32, f32, &mut [u16], &mut [f32]) -> [f32; 2];

/// The coded-format kernels of one kernel set.
#[derive(Clone, Copy)]
pub struct CodedKernels {
    /// See [`quantize`].
    pub quantize: QuantizeFn,
    /// See [`reconstruct`].
    pub reconstruct: fn(&[u16], f32, f32, &[f32], &mut [f32]),
}

/// The portable set (vectorized by the compiler where the target has SIMD in its baseline).
pub const PORTABLE: CodedKernels = CodedKernels {
    quantize,
    reconstruct,
};

/// Quantizes `frame` against the prediction `weight · prev[j]` with step `step` (`inv = 1/step`):
/// `q = round_ties_even(clamp((v − p) · inv, ±2048))`, writes the zigzag symbol of `q` to
/// `syms[j]` and the decoded value `p + q · step` to `recon[j]`. Returns
/// `[max |v − recon|, max |q|]`. All slices have `frame.len()` elements (checked).
pub fn quantize(
    frame: &[f32],
    prev: &[f32],
    weight: f32,
    step: f32,
    inv: f32,
    syms: &mut [u16],
    recon: &mut [f32],
) -> [f32; 2] {
    quantize_body(frame, prev, weight, step, inv, syms, recon)
}

/// Decodes zigzag symbols: `out[j] = q · step` when `weight == 0`, else
/// `weight · prev[j] + q · step`. All slices have `symbols.len()` elements (checked).
pub fn reconstruct(symbols: &[u16], weight: f32, step: f32, prev: &[f32], out: &mut [f32]) {
    reconstruct_body(symbols, weight, step, prev, out)
}

#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn quantize_one(v: f32, pv: f32, weight: f32, step: f32, inv: f32) -> (u16, f32, f32, f32) {
    let p = weight * pv;
    let mut x = (v - p) * inv;
    x = if x < -CLAMP { -CLAMP } else { x };
    x = if x > CLAMP { CLAMP } else { x };
    let q = (x + ROUND) - ROUND;
    let r = p + q * step;
    let qi = q as i32;
    (((qi << 1) ^ (qi >> 31)) as u16, r, (v - r).abs(), q.abs())
}

#[inline(always)]
fn quantize_body(
    frame: &[f32],
    prev: &[f32],
    weight: f32,
    step: f32,
    inv: f32,
    syms: &mut [u16],
    recon: &mut [f32],
) -> [f32; 2] {
    let n = frame.len();
    let (prev, syms, recon) = (&prev[..n], &mut syms[..n], &mut recon[..n]);
    let mut err = [0.0f32; 8];
    let mut code = [0.0f32; 8];
    let mut f8 = frame.chunks_exact(8);
    let mut p8 = prev.chunks_exact(8);
    let mut s8 = syms.chunks_exact_mut(8);
    let mut r8 = recon.chunks_exact_mut(8);
    for (((f, p), s), r) in (&mut f8).zip(&mut p8).zip(&mut s8).zip(&mut r8) {
        for l in 0..8 {
            let (sym, rec, e, a) = quantize_one(f[l], p[l], weight, step, inv);
            s[l] = sym;
            r[l] = rec;
            err[l] = larger(e, err[l]);
            code[l] = larger(a, code[l]);
        }
    }
    let (f, p) = (f8.remainder(), p8.remainder());
    let (s, r) = (s8.into_remainder(), r8.into_remainder());
    for j in 0..f.len() {
        let (sym, rec, e, a) = quantize_one(f[j], p[j], weight, step, inv);
        s[j] = sym;
        r[j] = rec;
        err[0] = larger(e, err[0]);
        code[0] = larger(a, code[0]);
    }
    [
        err.iter().fold(0.0, |m, &e| larger(e, m)),
        code.iter().fold(0.0, |m, &c| larger(c, m)),
    ]
}

#[inline(always)]
fn unzigzag(z: u16) -> f32 {
    let z = z as i32;
    ((z >> 1) ^ -(z & 1)) as f32
}

#[inline(always)]
fn reconstruct_body(symbols: &[u16], weight: f32, step: f32, prev: &[f32], out: &mut [f32]) {
    let n = symbols.len();
    let out = &mut out[..n];
    if weight == 0.0 {
        for (o, &z) in out.iter_mut().zip(symbols) {
            *o = unzigzag(z) * step;
        }
    } else {
        for ((o, &z), &p) in out.iter_mut().zip(symbols).zip(&prev[..n]) {
            *o = weight * p + unzigzag(z) * step;
        }
    }
}

/// The same bodies compiled with AVX2 (and the SSE/AVX it implies).
#[cfg(all(target_arch = "x86_64", feature = "std"))]
pub mod avx2 {
    use super::CodedKernels;

    /// The AVX2 set; only valid where AVX2 was detected (see [`super::super::best`]).
    pub(crate) const KERNELS: CodedKernels = CodedKernels {
        quantize,
        reconstruct,
    };

    fn quantize(
        frame: &[f32],
        prev: &[f32],
        weight: f32,
        step: f32,
        inv: f32,
        syms: &mut [u16],
        recon: &mut [f32],
    ) -> [f32; 2] {
        // SAFETY: this set is only selected after AVX2 was detected.
        unsafe { quantize_avx2(frame, prev, weight, step, inv, syms, recon) }
    }

    fn reconstruct(symbols: &[u16], weight: f32, step: f32, prev: &[f32], out: &mut [f32]) {
        // SAFETY: this set is only selected after AVX2 was detected.
        unsafe { reconstruct_avx2(symbols, weight, step, prev, out) }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn quantize_avx2(
        frame: &[f32],
        prev: &[f32],
        weight: f32,
        step: f32,
        inv: f32,
        syms: &mut [u16],
        recon: &mut [f32],
    ) -> [f32; 2] {
        super::quantize_body(frame, prev, weight, step, inv, syms, recon)
    }

    #[target_feature(enable = "avx2")]
    unsafe fn reconstruct_avx2(
        symbols: &[u16],
        weight: f32,
        step: f32,
        prev: &[f32],
        out: &mut [f32],
    ) {
        super::reconstruct_body(symbols, weight, step, prev, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Checks a set against the portable one bit for bit on awkward values.
    pub(crate) fn check_against_portable(k: CodedKernels) {
        let values = crate::kernels::tests::tricky_values(1000, 77);
        let prev = crate::kernels::tests::tricky_values(1000, 78);
        for n in [0usize, 1, 7, 8, 9, 63, 64, 65, 1000] {
            for (weight, step) in [
                (0.0f32, 0.01f32),
                (1.0, 0.5),
                (0.5625, 3.0e-3),
                (0.25, 1.0e30),
            ] {
                let inv = 1.0 / step;
                let (mut s1, mut s2) = (vec![0u16; n], vec![0u16; n]);
                let (mut r1, mut r2) = (vec![0f32; n], vec![0f32; n]);
                let a = quantize(
                    &values[..n],
                    &prev[..n],
                    weight,
                    step,
                    inv,
                    &mut s1,
                    &mut r1,
                );
                let b = (k.quantize)(
                    &values[..n],
                    &prev[..n],
                    weight,
                    step,
                    inv,
                    &mut s2,
                    &mut r2,
                );
                assert_eq!(s1, s2);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&r1), bits(&r2));
                assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
                (k.reconstruct)(&s1, weight, step, &prev[..n], &mut r2);
                reconstruct(&s1, weight, step, &prev[..n], &mut r1);
                assert_eq!(bits(&r1), bits(&r2));
            }
        }
    }

    #[test]
    fn quantize_and_reconstruct_agree() {
        let frame = [0.3f32, -1.7, 2.49, 100.0, -0.0, 5.0, 7.0, 8.0, 9.0];
        let prev = [0.0f32, -1.0, 2.0, 0.0, 1.0, 5.0, 7.0, 8.0, 9.5];
        let (mut s, mut r) = ([0u16; 9], [0f32; 9]);
        let [err, code] = quantize(&frame, &prev, 1.0, 0.5, 2.0, &mut s, &mut r);
        // 100 − 0 is 200 steps; -1.7 − (−1) is −1.4 steps → −1.
        assert_eq!(code, 200.0);
        assert_eq!(s[1], 1); // zigzag(−1)
        assert!(err <= 0.25);
        let mut back = [0f32; 9];
        reconstruct(&s, 1.0, 0.5, &prev, &mut back);
        assert_eq!(back, r);
    }

    #[test]
    fn best_set_matches_portable() {
        check_against_portable(crate::kernels::best().coded);
    }
}
