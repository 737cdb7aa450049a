//! Kernels of the coded (v3) format. A frame is predicted from `w/16` of the previous decoded
//! frame and the difference quantized with the frame's step (`q = round((v − p) / step)`,
//! decoded as `p + q · step`: closed-loop, so the error never accumulates); the integer `q`s
//! may then be differenced along the frame (lossless), and the result is entropy coded. Each kernel is one portable body written so the compiler
//! vectorizes it, compiled for the baseline target and again with AVX2 on x86-64; every step is
//! an IEEE-754 `f32` or integer operation in a fixed order (Rust never fuses a multiply and an
//! add), so every build gives the same bits.

/// Step counts are clamped to this magnitude (so the rounding trick is exact); the encoder
/// rejects frames that reach it.
pub const CODE_CLAMP: f32 = 2048.0;
/// `1.5 · 2²³`: adding and subtracting it rounds an `f32` below 2²² to an integer, ties to even.
const ROUND: f32 = 12_582_912.0;

/// Signature of [`quantize`].
pub type QuantizeFn = fn(&[f32], &[f32], u8, f32, f32, &mut [i32], &mut [f32]) -> [f32; 2];
/// Signature of [`reconstruct`].
pub type ReconstructFn = fn(&[u16], Prediction, f32, &[f32], &mut [f32]);

/// The coded-format kernels of one kernel set.
#[derive(Clone, Copy)]
pub struct CodedKernels {
    /// See [`quantize`].
    pub quantize: QuantizeFn,
    /// See [`residual_costs`].
    pub residual_costs: fn(&[i32]) -> [u64; 6],
    /// See [`residuals`].
    pub residuals: fn(&[i32], Difference, &mut [u16]),
    /// See [`reconstruct`].
    pub reconstruct: ReconstructFn,
    /// See [`prediction_distance`].
    pub distance: fn(&[f32], &[f32], u8) -> f32,
    /// See [`smooth`].
    pub smooth: fn(&[f32], &mut [f32]),
    /// See [`fit_sums`].
    pub fit_sums: fn(&[f32], &[f32]) -> [f32; 3],
    /// See [`fit_sums2`].
    pub fit_sums2: FitSums2Fn,
}

/// The signature of [`fit_sums2`].
pub type FitSums2Fn = fn(&[f32], &[f32], &[f32]) -> [f32; 5];

/// The portable set (vectorized by the compiler where the target has SIMD in its baseline).
pub const PORTABLE: CodedKernels = CodedKernels {
    quantize,
    residual_costs,
    residuals,
    reconstruct,
    distance: prediction_distance,
    smooth,
    fit_sums,
    fit_sums2,
};

/// How a frame is predicted: from `weight/16` of the previous decoded frame (0 = not at all),
/// and how its step counts are differenced along the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prediction {
    /// Numerator of the temporal weight, 0..=16.
    pub weight: u8,
    /// How the step counts `q` become the coded residuals `r`.
    pub difference: Difference,
}

/// How a frame's step counts `q[j]` become the residuals `r[j]` that are entropy coded, along
/// the frame with `q[−1] = 0` and 32-bit wrapping arithmetic. Lossless either way: it only
/// changes what is coded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Difference {
    /// `r[j] = q[j]`.
    #[default]
    None,
    /// `r[j] = q[j] − q[j−1]`.
    Full,
    /// `r[j] = q[j] − (q[j−1] >> 1)`: half the previous count, rounded down (an arithmetic
    /// shift). For counts that follow their neighbour only partly.
    Half,
}

impl Difference {
    /// All three, in the order of [`residual_costs`]' entries.
    pub const ALL: [Difference; 3] = [Difference::None, Difference::Full, Difference::Half];

    /// What is subtracted from `q[j]`, given `q[j−1]`.
    #[inline(always)]
    fn base(self, before: i32) -> i32 {
        match self {
            Difference::None => 0,
            Difference::Full => before,
            Difference::Half => before >> 1,
        }
    }
}

#[inline(always)]
fn round(x: f32) -> f32 {
    (x + ROUND) - ROUND
}

/// `round(x)` as an `f32` and as an `i32`, for `|x| < 2²²`: the integer is read from the bits of
/// `x + 1.5·2²³` (whose unit in the last place is 1), so no float-to-int conversion is needed.
#[inline(always)]
fn round_to_int(x: f32) -> (f32, i32) {
    let t = x + ROUND;
    (
        t - ROUND,
        (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32),
    )
}

#[inline(always)]
fn clamp(x: f32, limit: f32) -> f32 {
    if x < -limit {
        -limit
    } else if x > limit {
        limit
    } else {
        x
    }
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
fn zigzag(r: i32) -> u16 {
    ((r << 1) ^ (r >> 31)) as u16
}

#[inline(always)]
fn unzigzag(z: u16) -> i32 {
    let z = z as i32;
    (z >> 1) ^ -(z & 1)
}

/// Quantizes `frame` against the prediction `p = (weight/16) · prev[j]` with step `step`
/// (`inv = 1/step`): `q[j] = round(clamp((v − p) · inv, ±2048))` and
/// `recon[j] = p + q[j] · step` (just `q[j] · step` when `weight == 0`). Returns
/// `[max |v − recon|, max |q|]`. All slices have `frame.len()` elements (checked).
pub fn quantize(
    frame: &[f32],
    prev: &[f32],
    weight: u8,
    step: f32,
    inv: f32,
    q: &mut [i32],
    recon: &mut [f32],
) -> [f32; 2] {
    quantize_body(frame, prev, weight, step, inv, q, recon)
}

#[inline(always)]
fn quantize_body(
    frame: &[f32],
    prev: &[f32],
    weight: u8,
    step: f32,
    inv: f32,
    q: &mut [i32],
    recon: &mut [f32],
) -> [f32; 2] {
    // With weight 0 the prediction is exactly 0 (never −0 · prev): `(v − 0) = v`, and the value
    // decodes as `q · step`. Two monomorphic loops keep the per-value work branch-free.
    if weight == 0 {
        quantize_lanes::<false>(frame, prev, 0.0, step, inv, q, recon)
    } else {
        quantize_lanes::<true>(frame, prev, weight as f32 / 16.0, step, inv, q, recon)
    }
}

#[inline(always)]
fn quantize_lanes<const PREDICT: bool>(
    frame: &[f32],
    prev: &[f32],
    w: f32,
    step: f32,
    inv: f32,
    q: &mut [i32],
    recon: &mut [f32],
) -> [f32; 2] {
    let n = frame.len();
    let (prev, q, recon) = (&prev[..n], &mut q[..n], &mut recon[..n]);
    let mut err = [0.0f32; 8];
    let mut code = [0.0f32; 8];
    let whole = n - n % 8;
    for base in (0..whole).step_by(8) {
        let (f, p) = (&frame[base..base + 8], &prev[base..base + 8]);
        let (qq, r) = (&mut q[base..base + 8], &mut recon[base..base + 8]);
        for l in 0..8 {
            let pred = if PREDICT { w * p[l] } else { 0.0 };
            let (x, xi) = round_to_int(clamp((f[l] - pred) * inv, CODE_CLAMP));
            let rec = if PREDICT { pred + x * step } else { x * step };
            qq[l] = xi;
            r[l] = rec;
            err[l] = larger((f[l] - rec).abs(), err[l]);
            code[l] = larger(x.abs(), code[l]);
        }
    }
    quantize_tail::<PREDICT>(
        frame, prev, w, step, inv, q, recon, whole, &mut err, &mut code,
    )
}

/// Quantizes values `from..` one at a time into statistics lane 0, then folds the eight lanes:
/// the common end of every quantize kernel (portable, AVX2, simd128).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn quantize_tail<const PREDICT: bool>(
    frame: &[f32],
    prev: &[f32],
    w: f32,
    step: f32,
    inv: f32,
    q: &mut [i32],
    recon: &mut [f32],
    from: usize,
    err: &mut [f32; 8],
    code: &mut [f32; 8],
) -> [f32; 2] {
    for j in from..frame.len() {
        let pred = if PREDICT { w * prev[j] } else { 0.0 };
        let (x, xi) = round_to_int(clamp((frame[j] - pred) * inv, CODE_CLAMP));
        let rec = if PREDICT { pred + x * step } else { x * step };
        q[j] = xi;
        recon[j] = rec;
        err[0] = larger((frame[j] - rec).abs(), err[0]);
        code[0] = larger(x.abs(), code[0]);
    }
    [
        err.iter().fold(0.0, |m, &e| larger(e, m)),
        code.iter().fold(0.0, |m, &c| larger(c, m)),
    ]
}

/// Costs of coding step counts `q` with each [`Difference`] (in the order of
/// [`Difference::ALL`]): `[Σ|r| none, Σ|r| full, Σ|r| half, max|r| none, max|r| full,
/// max|r| half]`.
pub fn residual_costs(q: &[i32]) -> [u64; 6] {
    residual_costs_body(q)
}

#[inline(always)]
fn residual_costs_body(q: &[i32]) -> [u64; 6] {
    // |q| ≤ 2048, so lane sums of u32 are exact for frames below 2^20 values per lane; longer
    // frames are summed in pieces.
    let mut total = [0u64; 6];
    for (c, piece) in q.chunks(1 << 20).enumerate() {
        let before = if c == 0 { 0 } else { q[c * (1 << 20) - 1] };
        let mut sum = [[0u32; 8]; 3];
        let mut top = [[0u32; 8]; 3];
        let mut prev8 = piece.chunks_exact(8);
        let mut last = before;
        for chunk in &mut prev8 {
            let mut shifted = [0i32; 8];
            shifted[0] = last;
            shifted[1..].copy_from_slice(&chunk[..7]);
            for l in 0..8 {
                let a = chunk[l].unsigned_abs();
                let d = chunk[l].wrapping_sub(shifted[l]).unsigned_abs();
                let h = chunk[l].wrapping_sub(shifted[l] >> 1).unsigned_abs();
                sum[0][l] += a;
                sum[1][l] += d;
                sum[2][l] += h;
                top[0][l] = top[0][l].max(a);
                top[1][l] = top[1][l].max(d);
                top[2][l] = top[2][l].max(h);
            }
            last = chunk[7];
        }
        for &x in prev8.remainder() {
            let a = x.unsigned_abs();
            let d = x.wrapping_sub(last).unsigned_abs();
            let h = x.wrapping_sub(last >> 1).unsigned_abs();
            sum[0][0] += a;
            sum[1][0] += d;
            sum[2][0] += h;
            top[0][0] = top[0][0].max(a);
            top[1][0] = top[1][0].max(d);
            top[2][0] = top[2][0].max(h);
            last = x;
        }
        for m in 0..3 {
            total[m] += sum[m].iter().map(|&x| x as u64).sum::<u64>();
            total[3 + m] = total[3 + m].max(top[m].iter().copied().max().unwrap_or(0) as u64);
        }
    }
    total
}

/// Writes the zigzag symbols of the residuals `r` of `q` under `difference`.
pub fn residuals(q: &[i32], difference: Difference, out: &mut [u16]) {
    residuals_body(q, difference, out)
}

#[inline(always)]
fn residuals_body(q: &[i32], difference: Difference, out: &mut [u16]) {
    let out = &mut out[..q.len()];
    if difference == Difference::None {
        for (o, &x) in out.iter_mut().zip(q) {
            *o = zigzag(x);
        }
    } else {
        let mut last = 0i32;
        for (o, &x) in out.iter_mut().zip(q) {
            *o = zigzag(x.wrapping_sub(difference.base(last)));
            last = x;
        }
    }
}

/// Decodes a frame from its symbols: `q` from the zigzag residuals (undoing the prediction's
/// [`Difference`] serially), then `out[j] = q[j] · step` (weight 0) or `(weight/16) · prev[j] + q[j] · step`.
/// The running sum wraps (a hostile segment yields wrong values, never a panic). All slices
/// have `symbols.len()` elements (checked).
pub fn reconstruct(
    symbols: &[u16],
    prediction: Prediction,
    step: f32,
    prev: &[f32],
    out: &mut [f32],
) {
    reconstruct_body(symbols, prediction, step, prev, out)
}

#[inline(always)]
fn reconstruct_body(
    symbols: &[u16],
    prediction: Prediction,
    step: f32,
    prev: &[f32],
    out: &mut [f32],
) {
    let n = symbols.len();
    let out = &mut out[..n];
    let difference = prediction.difference;
    if difference != Difference::None {
        // The running sum is serial; keep it apart from the vectorizable part.
        let mut running = 0i32;
        for (o, &s) in out.iter_mut().zip(symbols) {
            running = difference.base(running).wrapping_add(unzigzag(s));
            *o = running as f32;
        }
    } else {
        for (o, &s) in out.iter_mut().zip(symbols) {
            *o = unzigzag(s) as f32;
        }
    }
    if prediction.weight == 0 {
        for o in out.iter_mut() {
            *o *= step;
        }
    } else {
        let w = prediction.weight as f32 / 16.0;
        for (o, &p) in out.iter_mut().zip(&prev[..n]) {
            *o = w * p + *o * step;
        }
    }
}

/// Quantizes `frame` along a chain: each value is predicted by the decoded value before it
/// (`p[0] = 0`), `q[j] = round(clamp((v[j] − p) · inv, ±2048))`, `recon[j] = p + q[j] · step`.
/// Serial by nature, so one portable version serves every kernel set (the encoder uses it for a
/// block's first frame only). Returns `[max |v − recon|, max |q|]`.
pub fn quantize_chain(
    frame: &[f32],
    step: f32,
    inv: f32,
    q: &mut [i32],
    recon: &mut [f32],
) -> [f32; 2] {
    let n = frame.len();
    let (q, recon) = (&mut q[..n], &mut recon[..n]);
    let (mut p, mut err, mut code) = (0.0f32, 0.0f32, 0.0f32);
    for j in 0..n {
        let v = frame[j];
        let x = round(clamp((v - p) * inv, CODE_CLAMP));
        let rec = p + x * step;
        q[j] = x as i32;
        recon[j] = rec;
        err = larger((v - rec).abs(), err);
        code = larger(x.abs(), code);
        p = rec;
    }
    [err, code]
}

/// One pass of the `[1, 2, 1] / 4` smoothing filter along a frame, edges repeated:
/// `out[j] = (x[j−1] · 0.25 + x[j+1] · 0.25) + x[j] · 0.5` with `x[−1] = x[0]` and
/// `x[n] = x[n−1]`, each `f32` operation rounded as written. The weights sum to one, so
/// `|out[j]| ≤ max|x|` and finite inputs give finite outputs. Used by smoothed prediction
/// (the coded format's predictors `17..=20`); one portable body serves every kernel set.
/// `out` has at least `x.len()` elements (checked).
#[inline(always)]
pub fn smooth(x: &[f32], out: &mut [f32]) {
    let n = x.len();
    let out = &mut out[..n];
    let f = |l: f32, c: f32, r: f32| (l * 0.25 + r * 0.25) + c * 0.5;
    match n {
        0 => {}
        1 => out[0] = f(x[0], x[0], x[0]),
        _ => {
            out[0] = f(x[0], x[0], x[1]);
            for (((o, &l), &c), &r) in out[1..n - 1]
                .iter_mut()
                .zip(&x[..n - 2])
                .zip(&x[1..n - 1])
                .zip(&x[2..])
            {
                *o = f(l, c, r);
            }
            out[n - 1] = f(x[n - 2], x[n - 1], x[n - 1]);
        }
    }
}

/// A chunk of exactly 8 values as an array (so loops over its lanes compile to one register).
#[inline(always)]
fn lanes8(chunk: &[f32]) -> [f32; 8] {
    let mut a = [0.0f32; 8];
    a.copy_from_slice(&chunk[..8]);
    a
}

/// `[Σ f·p, Σ p·p, Σ f·f]` over `frame` and `prev` (the least-squares sums of predicting `frame`
/// by a multiple of `prev`), each summed in 8 fixed lanes and added up by [`sum_lanes`], so
/// every build gives the same `f32`s. Slices of equal length.
#[inline(always)]
pub fn fit_sums(frame: &[f32], prev: &[f32]) -> [f32; 3] {
    let mut dot = [0.0f32; 8];
    let mut pp = [0.0f32; 8];
    let mut ff = [0.0f32; 8];
    let mut fc = frame.chunks_exact(8);
    let mut pc = prev.chunks_exact(8);
    for (f, p) in (&mut fc).zip(&mut pc) {
        let (f, p) = (lanes8(f), lanes8(p));
        for l in 0..8 {
            dot[l] += f[l] * p[l];
            pp[l] += p[l] * p[l];
            ff[l] += f[l] * f[l];
        }
    }
    for (&f, &p) in fc.remainder().iter().zip(pc.remainder()) {
        dot[0] += f * p;
        pp[0] += p * p;
        ff[0] += f * f;
    }
    [sum_lanes(dot), sum_lanes(pp), sum_lanes(ff)]
}

/// [`fit_sums`] of `frame` against `prev` and against `other` in one pass:
/// `[Σ f·p, Σ p·p, Σ f·f, Σ f·o, Σ o·o]`, each in 8 fixed lanes added up by [`sum_lanes`].
/// Slices of equal length.
#[inline(always)]
pub fn fit_sums2(frame: &[f32], prev: &[f32], other: &[f32]) -> [f32; 5] {
    // One array per sum, so each is one register of 8 lanes when compiled for AVX2.
    let (mut dot, mut pp, mut ff) = ([0.0f32; 8], [0.0f32; 8], [0.0f32; 8]);
    let (mut dot_o, mut oo) = ([0.0f32; 8], [0.0f32; 8]);
    let mut fc = frame.chunks_exact(8);
    let mut pc = prev.chunks_exact(8);
    let mut oc = other.chunks_exact(8);
    for ((f, p), o) in (&mut fc).zip(&mut pc).zip(&mut oc) {
        let (f, p, o) = (lanes8(f), lanes8(p), lanes8(o));
        for l in 0..8 {
            dot[l] += f[l] * p[l];
            pp[l] += p[l] * p[l];
            ff[l] += f[l] * f[l];
            dot_o[l] += f[l] * o[l];
            oo[l] += o[l] * o[l];
        }
    }
    let rest = fc
        .remainder()
        .iter()
        .zip(pc.remainder())
        .zip(oc.remainder());
    for ((&f, &p), &o) in rest {
        dot[0] += f * p;
        pp[0] += p * p;
        ff[0] += f * f;
        dot_o[0] += f * o;
        oo[0] += o * o;
    }
    [dot, pp, ff, dot_o, oo].map(sum_lanes)
}

/// `Σ |v[j] − (weight/16) · p[j]|` (just `Σ |v[j]|` for weight 0), summed in 16 fixed lanes
/// (value `j` in lane `j mod 16`, the values past the last whole 16 in lane 0, in order), lane
/// `l` then added to lane `l + 8` and the eight totals by [`sum_lanes`], so every build gives the
/// same `f32`. (Sixteen lanes: two independent sums per 8 values, half the wait on each
/// addition.) The encoder's estimate of how well a prediction fits, before quantizing. Slices of
/// equal length (the shorter one bounds the sum).
#[inline(always)]
pub fn prediction_distance(v: &[f32], p: &[f32], weight: u8) -> f32 {
    let w = weight as f32 / 16.0;
    let n = if weight == 0 {
        v.len()
    } else {
        v.len().min(p.len())
    };
    let whole = n - n % 16;
    let (mut lo, mut hi) = ([0.0f32; 8], [0.0f32; 8]);
    let term = |j: usize| {
        if weight == 0 {
            v[j].abs()
        } else {
            (v[j] - w * p[j]).abs()
        }
    };
    let mut j = 0;
    while j < whole {
        for l in 0..8 {
            lo[l] += term(j + l);
            hi[l] += term(j + 8 + l);
        }
        j += 16;
    }
    for j in whole..n {
        lo[0] += term(j);
    }
    let mut lanes = [0.0f32; 8];
    for l in 0..8 {
        lanes[l] = lo[l] + hi[l];
    }
    sum_lanes(lanes)
}

/// The sum of eight lane totals in one fixed order, `((0+4) + (1+5)) + ((2+6) + (3+7))`, so
/// every build that sums in the same lanes gets the same `f32` (the encoder's choices depend on
/// it, and every backend must write the same bytes).
pub fn sum_lanes(a: [f32; 8]) -> f32 {
    ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
}

/// Decodes a chain-quantized frame ([`quantize_chain`]): `out[j] = out[j−1] + q[j] · step` with
/// `out[−1] = 0` and `q` the zigzag-decoded symbols.
pub fn reconstruct_chain(symbols: &[u16], step: f32, out: &mut [f32]) {
    let mut p = 0.0f32;
    for (o, &s) in out[..symbols.len()].iter_mut().zip(symbols) {
        p += unzigzag(s) as f32 * step;
        *o = p;
    }
}

/// The quantize kernel with WebAssembly simd128, four values at a time; the rest portable.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod simd128 {
    use super::CodedKernels;
    use core::arch::wasm32::*;

    /// The simd128 set.
    pub(crate) const KERNELS: CodedKernels = CodedKernels {
        quantize,
        ..super::PORTABLE
    };

    fn quantize(
        frame: &[f32],
        prev: &[f32],
        weight: u8,
        step: f32,
        inv: f32,
        q: &mut [i32],
        recon: &mut [f32],
    ) -> [f32; 2] {
        let n = frame.len();
        let (prev, q, recon) = (&prev[..n], &mut q[..n], &mut recon[..n]);
        if weight == 0 {
            lanes::<false>(frame, prev, 0.0, step, inv, q, recon)
        } else {
            lanes::<true>(frame, prev, weight as f32 / 16.0, step, inv, q, recon)
        }
    }

    /// [`super::quantize_lanes`] with the same operations in the same order: `pmax`/`pmin` are
    /// exactly the scalar comparisons (`a < b ? b : a`), so NaN and signed zeros agree too. The
    /// eight statistics lanes of the portable body are kept as two vectors (lanes 0–3, 4–7).
    fn lanes<const PREDICT: bool>(
        frame: &[f32],
        prev: &[f32],
        w: f32,
        step: f32,
        inv: f32,
        q: &mut [i32],
        recon: &mut [f32],
    ) -> [f32; 2] {
        let n = frame.len();
        let whole = n - n % 8;
        let (vw, vstep, vinv) = (f32x4_splat(w), f32x4_splat(step), f32x4_splat(inv));
        let (lo, hi) = (
            f32x4_splat(-super::CODE_CLAMP),
            f32x4_splat(super::CODE_CLAMP),
        );
        let round = f32x4_splat(super::ROUND);
        let round_bits = i32x4_splat(super::ROUND.to_bits() as i32);
        let mut err = [f32x4_splat(0.0); 2];
        let mut code = [f32x4_splat(0.0); 2];
        let load = |s: &[f32], at: usize| f32x4(s[at], s[at + 1], s[at + 2], s[at + 3]);
        let mut j = 0;
        while j < whole {
            for half in 0..2 {
                let at = j + 4 * half;
                let v = load(frame, at);
                let pred = if PREDICT {
                    f32x4_mul(vw, load(prev, at))
                } else {
                    f32x4_splat(0.0)
                };
                let x = f32x4_mul(f32x4_sub(v, pred), vinv);
                let x = f32x4_pmin(f32x4_pmax(x, lo), hi);
                let t = f32x4_add(x, round);
                let xr = f32x4_sub(t, round);
                let xi = i32x4_sub(t, round_bits);
                let scaled = f32x4_mul(xr, vstep);
                let rec = if PREDICT {
                    f32x4_add(pred, scaled)
                } else {
                    scaled
                };
                q[at] = i32x4_extract_lane::<0>(xi);
                q[at + 1] = i32x4_extract_lane::<1>(xi);
                q[at + 2] = i32x4_extract_lane::<2>(xi);
                q[at + 3] = i32x4_extract_lane::<3>(xi);
                recon[at] = f32x4_extract_lane::<0>(rec);
                recon[at + 1] = f32x4_extract_lane::<1>(rec);
                recon[at + 2] = f32x4_extract_lane::<2>(rec);
                recon[at + 3] = f32x4_extract_lane::<3>(rec);
                let e = f32x4_abs(f32x4_sub(v, rec));
                err[half] = f32x4_pmax(err[half], e);
                code[half] = f32x4_pmax(code[half], f32x4_abs(xr));
            }
            j += 8;
        }
        let mut e = [0.0f32; 8];
        let mut c = [0.0f32; 8];
        for half in 0..2 {
            let (ev, cv) = (err[half], code[half]);
            e[4 * half..4 * half + 4].copy_from_slice(&[
                f32x4_extract_lane::<0>(ev),
                f32x4_extract_lane::<1>(ev),
                f32x4_extract_lane::<2>(ev),
                f32x4_extract_lane::<3>(ev),
            ]);
            c[4 * half..4 * half + 4].copy_from_slice(&[
                f32x4_extract_lane::<0>(cv),
                f32x4_extract_lane::<1>(cv),
                f32x4_extract_lane::<2>(cv),
                f32x4_extract_lane::<3>(cv),
            ]);
        }
        super::quantize_tail::<PREDICT>(frame, prev, w, step, inv, q, recon, whole, &mut e, &mut c)
    }
}

/// The same bodies compiled with AVX2 (and the SSE/AVX it implies).
#[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
pub mod avx2 {
    use super::{CodedKernels, Difference, Prediction};

    /// The AVX2 set; only valid where AVX2 was detected (see [`super::super::best`]).
    pub(crate) const KERNELS: CodedKernels = CodedKernels {
        quantize,
        residual_costs,
        residuals,
        reconstruct,
        distance,
        smooth,
        fit_sums,
        fit_sums2,
    };

    macro_rules! avx2_wrapper {
        ($name:ident, $inner:ident, $body:ident, ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
            fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: this set is only selected after AVX2 was detected.
                unsafe { $inner($($arg),*) }
            }

            #[target_feature(enable = "avx2")]
            unsafe fn $inner($($arg: $ty),*) $(-> $ret)? {
                super::$body($($arg),*)
            }
        };
    }

    fn quantize(
        frame: &[f32],
        prev: &[f32],
        weight: u8,
        step: f32,
        inv: f32,
        q: &mut [i32],
        recon: &mut [f32],
    ) -> [f32; 2] {
        let n = frame.len();
        let (prev, q, recon) = (&prev[..n], &mut q[..n], &mut recon[..n]);
        // SAFETY: this set is only selected after AVX2 was detected; all slices hold n values.
        unsafe {
            if weight == 0 {
                quantize_avx2::<false>(frame, prev, 0.0, step, inv, q, recon)
            } else {
                quantize_avx2::<true>(frame, prev, weight as f32 / 16.0, step, inv, q, recon)
            }
        }
    }

    /// [`super::quantize_lanes`] eight values at a time with the same operations in the same
    /// order: `max(−L, x)` and `min(L, x)` are the scalar clamp's comparisons, `max(e, m)` its
    /// `larger`, and the integer comes from the bits of `x + 1.5·2²³`.
    #[target_feature(enable = "avx2")]
    unsafe fn quantize_avx2<const PREDICT: bool>(
        frame: &[f32],
        prev: &[f32],
        w: f32,
        step: f32,
        inv: f32,
        q: &mut [i32],
        recon: &mut [f32],
    ) -> [f32; 2] {
        use core::arch::x86_64::*;
        let n = frame.len();
        let whole = n - n % 8;
        let (vw, vstep, vinv) = (_mm256_set1_ps(w), _mm256_set1_ps(step), _mm256_set1_ps(inv));
        let (lo, hi) = (
            _mm256_set1_ps(-super::CODE_CLAMP),
            _mm256_set1_ps(super::CODE_CLAMP),
        );
        let round = _mm256_set1_ps(super::ROUND);
        let round_bits = _mm256_set1_epi32(super::ROUND.to_bits() as i32);
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let (mut err, mut code) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut j = 0;
        while j < whole {
            // SAFETY: j + 8 <= whole <= n, the length of every slice (checked by the caller).
            let v = unsafe { _mm256_loadu_ps(frame.as_ptr().add(j)) };
            let pred = if PREDICT {
                // SAFETY: as above.
                _mm256_mul_ps(vw, unsafe { _mm256_loadu_ps(prev.as_ptr().add(j)) })
            } else {
                _mm256_setzero_ps()
            };
            let x = _mm256_mul_ps(_mm256_sub_ps(v, pred), vinv);
            let x = _mm256_min_ps(hi, _mm256_max_ps(lo, x));
            let t = _mm256_add_ps(x, round);
            let xr = _mm256_sub_ps(t, round);
            let xi = _mm256_sub_epi32(_mm256_castps_si256(t), round_bits);
            let scaled = _mm256_mul_ps(xr, vstep);
            let rec = if PREDICT {
                _mm256_add_ps(pred, scaled)
            } else {
                scaled
            };
            // SAFETY: as above.
            unsafe {
                _mm256_storeu_si256(q.as_mut_ptr().add(j).cast(), xi);
                _mm256_storeu_ps(recon.as_mut_ptr().add(j), rec);
            }
            let e = _mm256_and_ps(_mm256_sub_ps(v, rec), abs_mask);
            err = _mm256_max_ps(e, err);
            code = _mm256_max_ps(_mm256_and_ps(xr, abs_mask), code);
            j += 8;
        }
        let mut lanes = [[0.0f32; 8]; 2];
        // SAFETY: each lane array holds 8 values.
        unsafe {
            _mm256_storeu_ps(lanes[0].as_mut_ptr(), err);
            _mm256_storeu_ps(lanes[1].as_mut_ptr(), code);
        }
        // The tail, value by value, into lane 0 as the portable body does.
        let [mut err_lanes, mut code_lanes] = lanes;
        super::quantize_tail::<PREDICT>(
            frame,
            prev,
            w,
            step,
            inv,
            q,
            recon,
            whole,
            &mut err_lanes,
            &mut code_lanes,
        )
    }
    avx2_wrapper!(residual_costs, residual_costs_avx2, residual_costs_body, (q: &[i32]) -> [u64; 6]);
    avx2_wrapper!(residuals, residuals_avx2, residuals_body, (q: &[i32], difference: Difference, out: &mut [u16]));
    avx2_wrapper!(reconstruct, reconstruct_avx2, reconstruct_body,
        (symbols: &[u16], prediction: Prediction, step: f32, prev: &[f32], out: &mut [f32]));
    // The portable bodies compiled for AVX2: the same operations in the same order (the eight
    // lanes become one register), so the same results.

    fn distance(v: &[f32], p: &[f32], weight: u8) -> f32 {
        let n = v.len().min(if weight == 0 { v.len() } else { p.len() });
        // SAFETY: this set is only selected after AVX2 was detected; `v` holds n values, and so
        // does `p` whenever it is read (weight > 0).
        unsafe {
            if weight == 0 {
                distance_avx2::<false>(&v[..n], &[], 0.0)
            } else {
                distance_avx2::<true>(&v[..n], &p[..n], weight as f32 / 16.0)
            }
        }
    }

    /// [`super::prediction_distance`] with its 16 lanes in two registers: the same operations
    /// lane by lane (`|v − w·p|`, a product then a difference), the tail into lane 0, the
    /// registers added and their lanes summed by [`super::sum_lanes`], so the same `f32`.
    #[target_feature(enable = "avx2")]
    unsafe fn distance_avx2<const PREDICT: bool>(v: &[f32], p: &[f32], w: f32) -> f32 {
        use core::arch::x86_64::*;
        let n = v.len();
        let whole = n - n % 16;
        let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFF_FFFF));
        let vw = _mm256_set1_ps(w);
        let term = |j: usize| {
            // SAFETY: the callers' j + 8 ≤ whole ≤ n, the length of `v` (and of `p` when
            // PREDICT).
            let mut d = unsafe { _mm256_loadu_ps(v.as_ptr().add(j)) };
            if PREDICT {
                // SAFETY: as above.
                let pv = unsafe { _mm256_loadu_ps(p.as_ptr().add(j)) };
                d = _mm256_sub_ps(d, _mm256_mul_ps(vw, pv));
            }
            _mm256_and_ps(d, abs_mask)
        };
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut j = 0;
        while j < whole {
            lo = _mm256_add_ps(lo, term(j));
            hi = _mm256_add_ps(hi, term(j + 8));
            j += 16;
        }
        let mut lanes = [0.0f32; 8];
        // SAFETY: the lane array holds 8 values.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), lo) };
        for j in whole..n {
            lanes[0] += if PREDICT {
                (v[j] - w * p[j]).abs()
            } else {
                v[j].abs()
            };
        }
        let mut high = [0.0f32; 8];
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(high.as_mut_ptr(), hi) };
        for (l, h) in lanes.iter_mut().zip(high) {
            *l += h;
        }
        super::sum_lanes(lanes)
    }

    avx2_wrapper!(smooth, smooth_avx2, smooth, (x: &[f32], out: &mut [f32]));

    fn fit_sums(frame: &[f32], prev: &[f32]) -> [f32; 3] {
        let n = frame.len().min(prev.len());
        // SAFETY: this set is only selected after AVX2 was detected; both slices hold n values.
        let [dot, pp, ff, _, _] = unsafe { fit_sums_avx2::<false>(&frame[..n], &prev[..n], &[]) };
        [dot, pp, ff]
    }

    fn fit_sums2(frame: &[f32], prev: &[f32], other: &[f32]) -> [f32; 5] {
        let n = frame.len().min(prev.len()).min(other.len());
        // SAFETY: this set is only selected after AVX2 was detected; all slices hold n values.
        unsafe { fit_sums_avx2::<true>(&frame[..n], &prev[..n], &other[..n]) }
    }

    /// [`super::fit_sums`] (`OTHER` false; the last two sums are then 0) and
    /// [`super::fit_sums2`] with one register per sum: lane `l` gets the same products added in
    /// the same order as the portable bodies' lane `l` (no fused multiply-add), the tail goes
    /// to lane 0, and [`super::sum_lanes`] adds the lanes up, so the results are the same bits.
    /// (The compiler does not keep the portable bodies' sums one to a register.)
    #[target_feature(enable = "avx2")]
    unsafe fn fit_sums_avx2<const OTHER: bool>(f: &[f32], p: &[f32], o: &[f32]) -> [f32; 5] {
        use core::arch::x86_64::*;
        let n = f.len();
        let whole = n - n % 8;
        let mut acc = [_mm256_setzero_ps(); 5];
        let mut j = 0;
        while j < whole {
            // SAFETY: j + 8 ≤ whole ≤ n, the length of every slice read (o's too when OTHER).
            let (fv, pv) = unsafe {
                (
                    _mm256_loadu_ps(f.as_ptr().add(j)),
                    _mm256_loadu_ps(p.as_ptr().add(j)),
                )
            };
            acc[0] = _mm256_add_ps(acc[0], _mm256_mul_ps(fv, pv));
            acc[1] = _mm256_add_ps(acc[1], _mm256_mul_ps(pv, pv));
            acc[2] = _mm256_add_ps(acc[2], _mm256_mul_ps(fv, fv));
            if OTHER {
                // SAFETY: as above.
                let ov = unsafe { _mm256_loadu_ps(o.as_ptr().add(j)) };
                acc[3] = _mm256_add_ps(acc[3], _mm256_mul_ps(fv, ov));
                acc[4] = _mm256_add_ps(acc[4], _mm256_mul_ps(ov, ov));
            }
            j += 8;
        }
        let mut lanes = [[0.0f32; 8]; 5];
        for (l, a) in lanes.iter_mut().zip(acc) {
            // SAFETY: each lane array holds 8 values.
            unsafe { _mm256_storeu_ps(l.as_mut_ptr(), a) };
        }
        for j in whole..n {
            lanes[0][0] += f[j] * p[j];
            lanes[1][0] += p[j] * p[j];
            lanes[2][0] += f[j] * f[j];
            if OTHER {
                lanes[3][0] += f[j] * o[j];
                lanes[4][0] += o[j] * o[j];
            }
        }
        lanes.map(super::sum_lanes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Checks a set against the portable one bit for bit on awkward values, and that
    /// reconstruct inverts quantize + residuals.
    pub(crate) fn check_against_portable(set: CodedKernels) {
        let values = crate::kernels::tests::tricky_values(1000, 77);
        let prev = crate::kernels::tests::tricky_values(1000, 78);
        for n in [0usize, 1, 7, 8, 9, 63, 64, 65, 1000] {
            for step in [0.01f32, 0.5, 3.0e-3, 1.0e30, 7.0e-39] {
                let inv = 1.0 / step;
                for weight in [0u8, 1, 9, 16] {
                    let (mut q1, mut q2) = (vec![0i32; n], vec![0i32; n]);
                    let (mut r1, mut r2) = (vec![0f32; n], vec![0f32; n]);
                    let a = quantize(
                        &values[..n],
                        &prev[..n],
                        weight,
                        step,
                        inv,
                        &mut q1,
                        &mut r1,
                    );
                    let b = (set.quantize)(
                        &values[..n],
                        &prev[..n],
                        weight,
                        step,
                        inv,
                        &mut q2,
                        &mut r2,
                    );
                    assert_eq!((&q1, bits(&r1)), (&q2, bits(&r2)));
                    assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
                    assert_eq!(residual_costs(&q1), (set.residual_costs)(&q1));
                    let d = prediction_distance(&values[..n], &prev[..n], weight);
                    assert_eq!(
                        d.to_bits(),
                        (set.distance)(&values[..n], &prev[..n], weight).to_bits()
                    );
                    for (d, difference) in Difference::ALL.into_iter().enumerate() {
                        let (mut s1, mut s2) = (vec![0u16; n], vec![0u16; n]);
                        residuals(&q1, difference, &mut s1);
                        (set.residuals)(&q1, difference, &mut s2);
                        assert_eq!(s1, s2);
                        let fits = residual_costs(&q1)[3 + d] <= 2047;
                        let pred = Prediction { weight, difference };
                        let (mut o1, mut o2) = (vec![0f32; n], vec![0f32; n]);
                        reconstruct(&s1, pred, step, &prev[..n], &mut o1);
                        (set.reconstruct)(&s1, pred, step, &prev[..n], &mut o2);
                        assert_eq!(bits(&o1), bits(&o2));
                        if fits {
                            assert_eq!(bits(&o1), bits(&r1), "n {n} step {step} {pred:?}");
                        }
                    }
                }
            }
        }
    }

    /// The encoder's measuring kernels of a set against the portable ones, bit for bit.
    pub(crate) fn check_measures_against_portable(set: CodedKernels) {
        for (seed, scale) in [(91u64, 1.0f32), (92, 1.0e-30), (93, 3.0e30)] {
            let values: Vec<f32> = crate::kernels::tests::tricky_values(1000, seed)
                .iter()
                .map(|v| v * scale)
                .collect();
            let prev = crate::kernels::tests::tricky_values(1000, seed + 10);
            for n in [0usize, 1, 2, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 384, 1000] {
                let (v, p) = (&values[..n], &prev[..n]);
                let a = fit_sums(v, p).map(f32::to_bits);
                assert_eq!(a, (set.fit_sums)(v, p).map(f32::to_bits), "fit n {n}");
                let o = &values[1000 - n..];
                let b = fit_sums2(v, p, o).map(f32::to_bits);
                assert_eq!(b, (set.fit_sums2)(v, p, o).map(f32::to_bits), "fit2 n {n}");
                assert_eq!(&b[..3], &a[..], "fit2 extends fit, n {n}");
                let (mut s1, mut s2) = (vec![0f32; n], vec![0f32; n]);
                smooth(v, &mut s1);
                (set.smooth)(v, &mut s2);
                assert_eq!(bits(&s1), bits(&s2), "smooth n {n}");
            }
        }
    }

    #[test]
    fn measures_of_the_best_set_match_portable() {
        check_measures_against_portable(PORTABLE);
        check_measures_against_portable(crate::kernels::best().coded);
    }

    #[test]
    fn chain_round_trips() {
        let values = crate::kernels::tests::tricky_values(300, 5);
        let (mut q, mut r) = (vec![0i32; 300], vec![0f32; 300]);
        let [err, code] = quantize_chain(&values, 0.25, 4.0, &mut q, &mut r);
        let syms: Vec<u16> = q.iter().map(|&x| zigzag(x)).collect();
        let mut back = vec![0f32; 300];
        reconstruct_chain(&syms, 0.25, &mut back);
        assert_eq!(bits(&back), bits(&r));
        assert!(code <= CODE_CLAMP && err >= 0.0);
    }

    #[test]
    fn costs_count_both_ways() {
        // Half: 3 − 0, 4 − 1, 4 − 2, −10 − 2.
        assert_eq!(
            residual_costs(&[3, 4, 4, -10]),
            [21, 3 + 1 + 14, 3 + 3 + 2 + 12, 10, 14, 12]
        );
        // Rounded down: −3 >> 1 = −2, so r = 5 − (−2) = 7.
        assert_eq!(residual_costs(&[-3, 5]), [8, 3 + 8, 3 + 7, 5, 8, 7]);
        let mut syms = [0u16; 2];
        residuals(&[-3, 5], Difference::Half, &mut syms);
        assert_eq!(syms, [zigzag(-3), zigzag(7)]);
        let mut back = [0f32; 2];
        let half = Prediction {
            weight: 0,
            difference: Difference::Half,
        };
        reconstruct(&syms, half, 1.0, &[0.0; 2], &mut back);
        assert_eq!(back, [-3.0, 5.0]);
        let long: Vec<i32> = (0..100).collect();
        let half_sum: u64 = (0..100).map(|j: u64| j - j.saturating_sub(1) / 2).sum();
        assert_eq!(residual_costs(&long), [4950, 99, half_sum, 99, 1, 50]);
    }

    #[test]
    fn portable_round_trips() {
        check_against_portable(PORTABLE);
    }

    #[test]
    fn best_set_matches_portable() {
        check_against_portable(crate::kernels::best().coded);
    }
}
