//! Float helpers every kernel (and the quantizer above them) rounds and clamps with, so scalar
//! and SIMD paths agree bit for bit. Free of panicking `std` helpers (no `f32::clamp`), so they
//! add nothing to the WebAssembly module.

/// `x.clamp(lo, hi)` for `lo <= hi` (NaN stays NaN), without `f32::clamp`'s panic path, whose
/// message formatting would add ~16 KB of float printing to the WebAssembly module.
#[inline(always)]
pub(crate) fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// Round to nearest, ties to even, for `|x| <= 2^22` (codes are far smaller).
#[inline(always)]
pub(crate) fn round_ties_even(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23
    (x + MAGIC) - MAGIC
}
