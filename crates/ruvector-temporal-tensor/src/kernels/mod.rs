//! Hot loops, with a scalar reference and SIMD specializations that agree with it bit for bit.
//!
//! | kernel | scalar | x86-64 | aarch64 | wasm32 |
//! | --- | --- | --- | --- | --- |
//! | quantize + measure error | ✓ | AVX2 | NEON | simd128 |
//! | dequantize | ✓ | AVX2 | NEON | simd128 |
//! | pack / unpack 8 codes | ✓ (shift/or) | BMI2 `pext`/`pdep` | scalar | scalar |
//! | fused quantize+pack, unpack+dequantize | ✓ | AVX2 + BMI2 | NEON | simd128 |
//! | coded quantize / reconstruct ([`coded`]) | ✓ | AVX2 (compiler-vectorized) | NEON (auto) | simd128 (auto) |
//!
//! The set is chosen once, on first use, and cached: on x86-64 by runtime detection (needs the
//! `std` feature; without it the scalar set is used), on aarch64 NEON always (it is part of the
//! base architecture), on wasm32 simd128 when the module is compiled with
//! `-C target-feature=+simd128`. [`force_scalar`] switches every kernel to the scalar reference
//! (for comparison and benchmarks); the environment variable `TEMPORAL_TENSOR_FORCE_SCALAR=1`
//! does the same at start-up under `std`.
//!
//! All kernels round ties to even and compute `v · (1/scale)`, so SIMD and scalar results are
//! identical; the tests in this module check every kernel against the scalar one.

/// Defines `quantize_pack` and `unpack_dequantize` for a kernel set from the `quantize` and
/// `dequantize` in scope, packing with the scalar bit packer (see [`quantize_pack_with`]).
macro_rules! fused_via_scalar_packing {
    () => {
        pub(super) fn quantize_pack(
            values: &[f32],
            inv: f32,
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut GroupStats,
        ) {
            $crate::kernels::quantize_pack_with(quantize, values, inv, qmax, bits, out, stats);
        }

        pub(super) fn unpack_dequantize(
            data: &[u8],
            bits: u32,
            scale: f32,
            qmax: i32,
            out: &mut [f32],
        ) {
            $crate::kernels::unpack_dequantize_with(dequantize, data, bits, scale, qmax, out);
        }
    };
}

pub mod coded;
pub mod scalar;

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd;
#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod x86;

use core::sync::atomic::{AtomicU8, Ordering};

/// What a quantize kernel measured, in code units (`x = v · inv`): exactly the same numbers from
/// every kernel, so every backend makes the same segment decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GroupStats {
    /// `max |x|`: the largest scaled magnitude (beyond `qmax + ½` means a value was clamped).
    pub max_x: f32,
    /// `max |x − q|`: the largest rounding error, in steps.
    pub max_e: f32,
    /// `Σ |x − q|`: finite unless some value was NaN or infinite, or overflowed when scaled.
    pub sum_e: f32,
}

/// One implementation of every kernel.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Human-readable name (`"scalar"`, `"avx2"`, `"avx2+bmi2"`, `"neon"`, `"simd128"`).
    pub name: &'static str,
    /// See [`scalar::quantize`].
    pub quantize: fn(&[f32], f32, f32, &mut [u8], &mut GroupStats),
    /// See [`scalar::dequantize`].
    pub dequantize: fn(&[u8], f32, i32, &mut [f32]),
    /// See [`scalar::pack`].
    pub pack: fn(&[u8], u32, &mut [u8]),
    /// See [`scalar::unpack`].
    pub unpack: fn(&[u8], u32, &mut [u8]),
    /// See [`scalar::quantize_pack`].
    pub quantize_pack: fn(&[f32], f32, f32, u32, &mut [u8], &mut GroupStats),
    /// See [`scalar::unpack_dequantize`].
    pub unpack_dequantize: fn(&[u8], u32, f32, i32, &mut [f32]),
    /// The coded format's kernels ([`coded`]).
    pub coded: coded::CodedKernels,
}

/// The scalar reference set.
pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    quantize: scalar::quantize,
    dequantize: scalar::dequantize,
    pack: scalar::pack,
    unpack: scalar::unpack,
    quantize_pack: scalar::quantize_pack,
    unpack_dequantize: scalar::unpack_dequantize,
    coded: coded::PORTABLE,
};

/// Fused quantize + pack built from a quantize kernel and the scalar packer, 64 codes at a time.
pub(crate) fn quantize_pack_with(
    quantize: fn(&[f32], f32, f32, &mut [u8], &mut GroupStats),
    values: &[f32],
    inv: f32,
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut GroupStats,
) {
    let mut codes = [0u8; 64];
    for (i, chunk) in values.chunks(64).enumerate() {
        let codes = &mut codes[..chunk.len()];
        quantize(chunk, inv, qmax, codes, stats);
        scalar::pack(codes, bits, &mut out[i * 8 * bits as usize..]);
    }
}

/// Fused unpack + dequantize built from the scalar unpacker and a dequantize kernel.
pub(crate) fn unpack_dequantize_with(
    dequantize: fn(&[u8], f32, i32, &mut [f32]),
    data: &[u8],
    bits: u32,
    scale: f32,
    qmax: i32,
    out: &mut [f32],
) {
    let mut codes = [0u8; 64];
    for (i, chunk) in out.chunks_mut(64).enumerate() {
        let codes = &mut codes[..chunk.len()];
        scalar::unpack(&data[i * 8 * bits as usize..], bits, codes);
        dequantize(codes, scale, qmax, chunk);
    }
}

const UNSET: u8 = 0;
const USE_SCALAR: u8 = 1;
const USE_BEST: u8 = 2;
static CHOICE: AtomicU8 = AtomicU8::new(UNSET);

/// The best set this CPU supports (ignores [`force_scalar`]).
pub fn best() -> Kernels {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if let Some(k) = x86::detect() {
        return k;
    }
    #[cfg(target_arch = "aarch64")]
    return neon::KERNELS;
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm_simd::KERNELS;
    #[allow(unreachable_code)]
    SCALAR
}

/// The set in use: chosen once, then cached.
#[inline]
pub fn active() -> Kernels {
    match CHOICE.load(Ordering::Relaxed) {
        USE_SCALAR => SCALAR,
        USE_BEST => best_cached(),
        _ => {
            let forced = forced_by_env();
            CHOICE.store(
                if forced { USE_SCALAR } else { USE_BEST },
                Ordering::Relaxed,
            );
            if forced {
                SCALAR
            } else {
                best_cached()
            }
        }
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn best_cached() -> Kernels {
    static BEST: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();
    *BEST.get_or_init(best)
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
fn best_cached() -> Kernels {
    best()
}

#[cfg(feature = "std")]
fn forced_by_env() -> bool {
    std::env::var_os("TEMPORAL_TENSOR_FORCE_SCALAR").is_some_and(|v| v == "1")
}

#[cfg(not(feature = "std"))]
fn forced_by_env() -> bool {
    false
}

/// Forces the scalar reference kernels (`true`) or returns to the best available (`false`).
/// Results are identical either way; only speed differs.
pub fn force_scalar(on: bool) {
    CHOICE.store(if on { USE_SCALAR } else { USE_BEST }, Ordering::Relaxed);
}

/// Name of the kernel set in use.
pub fn active_name() -> &'static str {
    active().name
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Values that exercise every branch: normal, ties, clamping, zeros, extremes.
    pub(crate) fn tricky_values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed | 1;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let r = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                match i % 11 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => r * 1e30,
                    3 => (i % 7) as f32 * 0.5, // exact ties after scaling by 1
                    4 => f32::MAX * r,
                    5 => r * 1e-30,
                    _ => r * 3.0,
                }
            })
            .collect()
    }

    fn same_stats(a: &GroupStats, b: &GroupStats, what: &str) {
        assert_eq!(a.max_x.to_bits(), b.max_x.to_bits(), "{what}: max_x");
        assert_eq!(a.max_e.to_bits(), b.max_e.to_bits(), "{what}: max_e");
        assert_eq!(
            a.sum_e.is_finite(),
            b.sum_e.is_finite(),
            "{what}: finiteness"
        );
    }

    /// Checks `kernels` against the scalar reference on many shapes; call from each arch.
    pub(crate) fn check_against_scalar(kernels: Kernels) {
        let bits_of = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for bits in [3u32, 5, 7, 8] {
            let qmax = crate::quantizer::qmax(bits) as f32;
            let b = bits as usize;
            for len in [
                0usize, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 512,
            ] {
                for (seed, scale) in [(1u64, 0.02f32), (2, 1.0), (3, 3.0), (4, 1e-20), (5, 1e20)] {
                    let what =
                        alloc::format!("{} bits={bits} len={len} scale={scale}", kernels.name);
                    let values = tricky_values(len, seed * 1000 + len as u64);
                    let inv = 1.0 / scale;
                    let (mut a, mut b2) = (vec![0u8; len], vec![0u8; len]);
                    let (mut sa, mut sb) = (GroupStats::default(), GroupStats::default());
                    scalar::quantize(&values, inv, qmax, &mut a, &mut sa);
                    (kernels.quantize)(&values, inv, qmax, &mut b2, &mut sb);
                    if sa.sum_e.is_finite() {
                        assert_eq!(a, b2, "{what}: quantize");
                    }
                    same_stats(&sa, &sb, &what);

                    let (mut da, mut db) = (vec![0f32; len], vec![0f32; len]);
                    scalar::dequantize(&a, scale, qmax as i32, &mut da);
                    (kernels.dequantize)(&a, scale, qmax as i32, &mut db);
                    assert_eq!(bits_of(&da), bits_of(&db), "{what}: dequantize");

                    // Fused paths on the multiple-of-8 prefix.
                    let whole = len / 8 * 8;
                    let size = whole / 8 * b + 8;
                    let (mut pa, mut pb) = (vec![0u8; size], vec![0u8; size]);
                    let (mut sa, mut sb) = (GroupStats::default(), GroupStats::default());
                    scalar::quantize_pack(&values[..whole], inv, qmax, bits, &mut pa, &mut sa);
                    (kernels.quantize_pack)(&values[..whole], inv, qmax, bits, &mut pb, &mut sb);
                    let used = whole / 8 * b;
                    if sa.sum_e.is_finite() {
                        assert_eq!(pa[..used], pb[..used], "{what}: quantize_pack");
                    }
                    same_stats(&sa, &sb, &what);
                    let (mut da, mut db) = (vec![0f32; whole], vec![0f32; whole]);
                    scalar::unpack_dequantize(&pa[..used], bits, scale, qmax as i32, &mut da);
                    (kernels.unpack_dequantize)(&pa[..used], bits, scale, qmax as i32, &mut db);
                    assert_eq!(bits_of(&da), bits_of(&db), "{what}: unpack_dequantize");
                }
                // Non-finite input: both report it (codes are discarded then).
                let mut values = tricky_values(len.max(1), 9);
                values[len.max(1) / 2] = f32::NAN;
                let mut codes = vec![0u8; values.len()];
                let (mut sa, mut sb) = (GroupStats::default(), GroupStats::default());
                scalar::quantize(&values, 1.0, qmax, &mut codes, &mut sa);
                (kernels.quantize)(&values, 1.0, qmax, &mut codes, &mut sb);
                assert!(
                    !sa.sum_e.is_finite() && !sb.sum_e.is_finite(),
                    "{}",
                    kernels.name
                );
            }
            for groups in [0usize, 1, 2, 5, 64] {
                let codes: Vec<u8> = tricky_values(groups * 8, bits as u64)
                    .iter()
                    .map(|v| (v.to_bits() % (1 << bits)) as u8)
                    .collect();
                let (mut pa, mut pb) = (vec![0u8; groups * b], vec![0u8; groups * b]);
                scalar::pack(&codes, bits, &mut pa);
                (kernels.pack)(&codes, bits, &mut pb);
                assert_eq!(pa, pb, "{} pack bits={bits}", kernels.name);
                let mut back = vec![0u8; codes.len()];
                (kernels.unpack)(&pa, bits, &mut back);
                assert_eq!(back, codes, "{} unpack bits={bits}", kernels.name);
            }
        }
    }

    #[test]
    fn scalar_pack_matches_the_bit_writer() {
        for bits in 1..=8u32 {
            let codes: Vec<u8> = (0..64u32)
                .map(|i| ((i * 37 + 5) % (1 << bits)) as u8)
                .collect();
            let mut fast = vec![0u8; 8 * bits as usize];
            scalar::pack(&codes, bits, &mut fast);
            let mut slow = vec![0u8; 8 * bits as usize];
            crate::bitpack::pack_into(&mut slow, 0, &codes, bits);
            assert_eq!(fast, slow, "bits={bits}");
        }
    }

    #[test]
    fn best_kernels_match_scalar_on_this_cpu() {
        check_against_scalar(best());
    }

    #[test]
    fn forcing_scalar_switches_and_restores() {
        force_scalar(true);
        assert_eq!(active_name(), "scalar");
        force_scalar(false);
        assert_eq!(active_name(), best().name);
    }
}
