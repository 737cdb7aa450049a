//! Hot loops, with a scalar reference and SIMD specializations that agree with it bit for bit.
//!
//! | kernel | scalar | x86-64 `avx2` | x86-64 `avx2+bmi2` | aarch64 | wasm32 |
//! | --- | --- | --- | --- | --- | --- |
//! | quantize + measure error | ✓ | AVX2 | AVX2 | NEON | simd128 |
//! | dequantize | ✓ | AVX2 | AVX2 | NEON | simd128 |
//! | pack codes | ✓ (shift/or) | AVX2 multiplies + shuffles | `pext` | scalar | scalar |
//! | unpack codes | ✓ (shift/mask) | AVX2 shuffles + multiplies | AVX2 (+ `pdep` for lone groups of 8) | scalar | scalar |
//! | fused quantize+pack (one group, or a whole frame) | ✓ | AVX2, packing in vector registers | AVX2, packing with `pext` | NEON + scalar packing | simd128, packing in vector registers (dot products + swizzle) |
//! | fused quantize+pack of a frame without the error (bounded by half a step instead) | — (uses the measuring kernel) | AVX2 | AVX2 + `pext` | — | simd128 |
//! | fused unpack+dequantize (one group, or a whole frame) | ✓ | AVX2 | AVX2 | NEON + scalar unpacking | simd128, unpacking in vector registers (swizzle + multiply) |
//! | group maxima (calibration) | ✓ (vectorized by the compiler) | same body, AVX2 | same body, AVX2 | same body | same body |
//! | coded quantize / reconstruct ([`coded`]) | ✓ | AVX2 (compiler-vectorized) | same | NEON (auto) | simd128 (auto) |
//!
//! The set is chosen once, on first use, and cached ([`active`]): on x86-64 by run-time detection
//! (needs the `std` feature; without it, the features the build targets, so a `no_std` build
//! compiled with `-C target-feature=+avx2,+bmi2` uses those kernels, else the scalar set) and the
//! rule of [`choose`], which
//! never picks BMI2 on CPUs where `pdep`/`pext` are microcoded; on aarch64 NEON always (it is part
//! of the base architecture); on wasm32 simd128 when the module is compiled with
//! `-C target-feature=+simd128`. [`active_reason`] says why.
//!
//! Under `std`, the environment overrides the choice at start-up:
//! `TEMPORAL_TENSOR_KERNELS=scalar|avx2|avx2+bmi2|neon|simd128` forces a set (a value that is not
//! a set, or a set this CPU cannot run, leaves the automatic choice, and [`active_reason`] says
//! so; `auto` or an empty value is the automatic choice), and `TEMPORAL_TENSOR_FORCE_SCALAR=1`
//! forces the scalar set (it wins over `TEMPORAL_TENSOR_KERNELS`). At run time [`force`] and
//! [`force_scalar`] switch sets (for comparisons and benchmarks): results are identical whichever
//! set runs; only speed differs.
//!
//! All kernels round ties to even and compute `v · (1/scale)`, so SIMD and scalar results are
//! identical; the tests in this module check every kernel of every set this CPU supports against
//! the scalar one (`kernels::check`; the simd128 set inside a WebAssembly test module, run under Node
//! by `__test__/wasm-kernels.test.ts`, as `cargo test` cannot run on wasm32 here).

/// Defines a kernel set's table `KERNELS` (named `$name`, with the coded kernels `$coded`) and
/// its `quantize_pack`, `unpack_dequantize`, `quantize_pack_groups`, `unpack_dequantize_groups`
/// and `group_max_abs` from the `quantize` and `dequantize` in scope, packing with the scalar bit
/// packer (see [`quantize_pack_with`]).
#[allow(unused_macros)] // used by the aarch64 set
macro_rules! fused_via_scalar_packing {
    (name: $name:literal, coded: $coded:expr $(,)?) => {
        /// This target's set: its own quantize/dequantize, scalar bit packing.
        pub const KERNELS: $crate::kernels::Kernels = $crate::kernels::Kernels {
            name: $name,
            quantize,
            dequantize,
            pack: $crate::kernels::scalar::pack,
            unpack: $crate::kernels::scalar::unpack,
            quantize_pack,
            unpack_dequantize,
            quantize_pack_groups,
            quantize_pack_groups_bounded: None,
            unpack_dequantize_groups,
            group_max_abs,
            coded: $coded,
        };

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

        pub(super) fn quantize_pack_groups(
            values: &[f32],
            group_len: usize,
            scales: &[f32],
            qmax: f32,
            bits: u32,
            out: &mut [u8],
            stats: &mut $crate::kernels::FrameStats,
        ) {
            $crate::kernels::quantize_pack_groups_with(
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

        pub(super) fn group_max_abs(frame: &[f32], group_len: usize, out: &mut [f32]) {
            // The portable body, vectorized by the compiler for this target.
            $crate::kernels::scalar::group_max_abs(frame, group_len, out);
        }

        pub(super) fn unpack_dequantize_groups(
            data: &[u8],
            bits: u32,
            group_len: usize,
            scales: &[f32],
            qmax: i32,
            out: &mut [f32],
        ) {
            $crate::kernels::unpack_dequantize_groups_with(
                unpack_dequantize,
                data,
                bits,
                group_len,
                scales,
                qmax,
                out,
            );
        }
    };
}

#[cfg(any(test, feature = "kernel-check"))]
#[doc(hidden)] // test support: every set against the scalar one
pub mod check;
#[doc(hidden)] // kernel internals, public for the tests, benches and fuzz targets
pub mod coded;
pub(crate) mod float;
#[doc(hidden)]
pub mod scalar;
mod select;

#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd;
#[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
mod x86;

pub use select::{choose, cpu, decode_signature, features, CpuInfo, Features, KernelSet};

use alloc::vec::Vec;
use core::cmp::Ordering as FloatOrdering;
use core::sync::atomic::{AtomicU8, Ordering};

#[doc(hidden)]
/// What a quantize kernel measured, in code units (`x = v · inv`): exactly the same numbers from
/// every kernel, so every backend makes the same segment decisions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GroupStats {
    /// `max |x|`, the largest scaled magnitude (beyond `qmax + ½` means a value was clamped),
    /// taken as the largest bit pattern of `|x|`: NaN if some `x` was NaN, else `+∞` if some
    /// was infinite (a non-finite value, or a finite one that overflowed when scaled).
    pub max_x: f32,
    /// `max |x − q|`: the largest rounding error, in steps. Kernels agree on it when
    /// [`finite`](Self::finite).
    pub max_e: f32,
}

impl GroupStats {
    /// Every `x` was finite (no NaN or infinite value, none overflowed when scaled).
    #[inline]
    pub fn finite(&self) -> bool {
        self.max_x <= f32::MAX
    }
}

/// What quantizing one frame (or part of one) measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameStats {
    /// `max |v|` over the frame.
    pub max_abs: f32,
    /// `max |v - decode(encode(v))|` over the frame (to a few ulps of `max_abs`).
    pub max_err: f32,
    /// Some value lay outside the representable range `±(qmax + ½)·s` of its group.
    pub clamped: bool,
    /// Every value was finite (false also when a finite value overflowed once scaled).
    pub finite: bool,
}

impl Default for FrameStats {
    /// Nothing seen yet: zero maxima, not clamped, finite.
    fn default() -> Self {
        FrameStats {
            max_abs: 0.0,
            max_err: 0.0,
            clamped: false,
            finite: true,
        }
    }
}

impl FrameStats {
    /// Adds a group measured in code steps (`x = v / scale`) by a kernel.
    pub(crate) fn fold_group(&mut self, group: &GroupStats, scale: f32, qmax: f32) {
        self.fold_maxima(group.max_x, qmax, group.max_x * scale, group.max_e * scale);
    }

    /// Adds maxima measured by a kernel: `max_x` the largest `|x|` in code steps (NaN, or above
    /// `f32::MAX`, when a value was not finite or overflowed once scaled), `max_abs` and
    /// `max_err` the largest `|v|` and rounding error in value units (0 when not measured).
    pub(crate) fn fold_maxima(&mut self, max_x: f32, qmax: f32, max_abs: f32, max_err: f32) {
        self.finite &= max_x <= f32::MAX;
        // Beyond qmax + ½ steps, or NaN (non-finite input): clamped.
        let within = max_x.partial_cmp(&(qmax + 0.5));
        self.clamped |= !matches!(within, Some(FloatOrdering::Less | FloatOrdering::Equal));
        if max_abs > self.max_abs {
            self.max_abs = max_abs;
        }
        if max_err > self.max_err {
            self.max_err = max_err;
        }
    }

    /// Adds a group whose values all scaled to a subnormal or zero `x = v / scale` (a group of a
    /// frame much smaller than the one its scale was calibrated on). There `x` has lost its
    /// precision or vanished, so the error measured in code steps is wrong (zero when `x`
    /// underflows), while every code is 0 and the group decodes to zeros: its exact error and
    /// its maximum are both `max |v|`.
    pub(crate) fn fold_vanished(&mut self, values: &[f32]) {
        let m = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if m > self.max_abs {
            self.max_abs = m;
        }
        if m > self.max_err {
            self.max_err = m;
        }
    }

    /// True when the frame is within `target` relative error (`max_err <= target * max_abs`).
    ///
    /// The product is taken in f64, where it is exact: in f32 it is subnormal for subnormal
    /// frames and rounds to a whole number of 2⁻¹⁴⁹ steps, which let a frame 2 steps off pass a
    /// threshold of 1.94 steps.
    pub fn within(&self, target: f32) -> bool {
        self.finite && self.max_err as f64 <= target as f64 * self.max_abs as f64
    }
}

#[doc(hidden)]
/// Signature of [`scalar::quantize_pack_groups`].
pub type QuantizePackGroupsFn = fn(&[f32], usize, &[f32], f32, u32, &mut [u8], &mut FrameStats);
#[doc(hidden)]
/// Signature of [`scalar::unpack_dequantize_groups`].
pub type UnpackDequantizeGroupsFn = fn(&[u8], u32, usize, &[f32], i32, &mut [f32]);

#[doc(hidden)]
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
    /// See [`scalar::quantize_pack_groups`].
    pub quantize_pack_groups: QuantizePackGroupsFn,
    /// [`scalar::quantize_pack_groups_bounded`] when the set has a kernel for it that is faster
    /// than its `quantize_pack_groups` (`None`: callers use `quantize_pack_groups`).
    pub quantize_pack_groups_bounded: Option<QuantizePackGroupsFn>,
    /// See [`scalar::unpack_dequantize_groups`].
    pub unpack_dequantize_groups: UnpackDequantizeGroupsFn,
    /// See [`scalar::group_max_abs`].
    pub group_max_abs: fn(&[f32], usize, &mut [f32]),
    /// The coded format's kernels ([`coded`]).
    pub coded: coded::CodedKernels,
}

#[doc(hidden)]
/// The scalar reference set.
pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    quantize: scalar::quantize,
    dequantize: scalar::dequantize,
    pack: scalar::pack,
    unpack: scalar::unpack,
    quantize_pack: scalar::quantize_pack,
    unpack_dequantize: scalar::unpack_dequantize,
    quantize_pack_groups: scalar::quantize_pack_groups,
    // Measuring the error costs the scalar loop little: no separate kernel.
    quantize_pack_groups_bounded: None,
    unpack_dequantize_groups: scalar::unpack_dequantize_groups,
    group_max_abs: scalar_group_max_abs,
    coded: coded::PORTABLE,
};

/// [`scalar::group_max_abs`] as a function pointer (the body itself is always inlined).
fn scalar_group_max_abs(frame: &[f32], group_len: usize, out: &mut [f32]) {
    scalar::group_max_abs(frame, group_len, out);
}

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

/// A whole frame's groups through a one-group `quantize_pack`, folding each group's statistics
/// as [`crate::quantizer::quantize_frame`] does (see [`scalar::quantize_pack_groups`]). Not
/// inlined into its callers (the WebAssembly modules stay small).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) fn quantize_pack_groups_with(
    quantize_pack: fn(&[f32], f32, f32, u32, &mut [u8], &mut GroupStats),
    values: &[f32],
    group_len: usize,
    scales: &[f32],
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut FrameStats,
) {
    quantize_pack_groups_folding(
        quantize_pack,
        values,
        group_len,
        scales,
        qmax,
        bits,
        out,
        stats,
        true,
    );
}

/// [`quantize_pack_groups_with`], folding each group's rounding error into `stats.max_err` when
/// `measured`, else leaving it out (see [`scalar::quantize_pack_groups_bounded`]).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(crate) fn quantize_pack_groups_folding(
    quantize_pack: fn(&[f32], f32, f32, u32, &mut [u8], &mut GroupStats),
    values: &[f32],
    group_len: usize,
    scales: &[f32],
    qmax: f32,
    bits: u32,
    out: &mut [u8],
    stats: &mut FrameStats,
    measured: bool,
) {
    let per_group = group_len / 8 * bits as usize;
    for (g, (chunk, &scale)) in values.chunks(group_len).zip(scales).enumerate() {
        let mut group = GroupStats::default();
        quantize_pack(
            chunk,
            1.0 / scale,
            qmax,
            bits,
            &mut out[g * per_group..],
            &mut group,
        );
        if !measured {
            group.max_e = 0.0;
        }
        stats.fold_group(&group, scale, qmax);
        if group.max_x < f32::MIN_POSITIVE {
            stats.fold_vanished(chunk);
        }
    }
}

/// A whole frame's groups through a one-group `unpack_dequantize`.
pub(crate) fn unpack_dequantize_groups_with(
    unpack_dequantize: fn(&[u8], u32, f32, i32, &mut [f32]),
    data: &[u8],
    bits: u32,
    group_len: usize,
    scales: &[f32],
    qmax: i32,
    out: &mut [f32],
) {
    let per_group = group_len / 8 * bits as usize;
    for (g, (chunk, &scale)) in out.chunks_mut(group_len).zip(scales).enumerate() {
        unpack_dequantize(&data[g * per_group..], bits, scale, qmax, chunk);
    }
}

// ---- choosing the set ----

/// The set in use (low 4 bits: [`KernelSet::id`]) and how it came to be (high bits), or 0 before
/// the first use. Only ever holds sets this CPU supports: every store checks.
static STATE: AtomicU8 = AtomicU8::new(0);
const FROM_START: u8 = 1 << 4;
const FROM_FORCE: u8 = 2 << 4;
const FROM_FORCE_SCALAR: u8 = 3 << 4;
const FROM_BEST: u8 = 4 << 4;

#[doc(hidden)]
/// The kernels of `set`, if this CPU (and build) can run them.
pub fn kernels_of(set: KernelSet) -> Option<Kernels> {
    if !features().supports(set) {
        return None;
    }
    match set {
        KernelSet::Scalar => Some(SCALAR),
        #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
        KernelSet::Avx2 => Some(x86::AVX2),
        #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
        KernelSet::Avx2Bmi2 => Some(x86::AVX2_BMI2),
        #[cfg(target_arch = "aarch64")]
        KernelSet::Neon => Some(neon::KERNELS),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        KernelSet::Simd128 => Some(wasm_simd::KERNELS),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[doc(hidden)]
/// Every set this CPU can run, the scalar one first, then in order of [`KernelSet::ALL`].
pub fn supported() -> Vec<Kernels> {
    KernelSet::ALL.into_iter().filter_map(kernels_of).collect()
}

/// Every set this CPU can run, by name (as [`supported`]).
pub fn supported_sets() -> Vec<KernelSet> {
    KernelSet::ALL
        .into_iter()
        .filter(|&s| features().supports(s))
        .collect()
}

/// The automatic choice for this CPU ([`choose`] on [`cpu`] and [`features`]), and why.
pub fn auto_choice() -> (KernelSet, &'static str) {
    #[cfg(feature = "std")]
    {
        // CPUID can be slow (a virtual machine exit): once per process.
        static AUTO: std::sync::OnceLock<(KernelSet, &'static str)> = std::sync::OnceLock::new();
        *AUTO.get_or_init(auto_choice_now)
    }
    #[cfg(not(feature = "std"))]
    auto_choice_now()
}

fn auto_choice_now() -> (KernelSet, &'static str) {
    // wasm32 has no CPUID: the build's features decide (and the module stays without the
    // UTF-8 check that reading an empty vendor string would bring in).
    if cfg!(target_arch = "wasm32") {
        return choose("", 0, 0, features());
    }
    let cpu = cpu();
    choose(cpu.vendor(), cpu.family, cpu.model, features())
}

#[doc(hidden)]
/// The set [`auto_choice`] picks for this CPU (ignores the environment and [`force`]).
pub fn best() -> Kernels {
    kernels_of(auto_choice().0).unwrap_or(SCALAR)
}

#[doc(hidden)]
/// The set in use: chosen once (see the module docs), then cached.
#[inline]
pub fn active() -> Kernels {
    let state = match STATE.load(Ordering::Relaxed) {
        0 => start(),
        s => s,
    };
    lookup(state)
}

/// The kernels of a `STATE` value (which only holds supported sets).
#[inline]
fn lookup(state: u8) -> Kernels {
    match KernelSet::from_id(state & 0xf) {
        #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
        Some(KernelSet::Avx2) => x86::AVX2,
        #[cfg(all(target_arch = "x86_64", any(feature = "std", target_feature = "avx2")))]
        Some(KernelSet::Avx2Bmi2) => x86::AVX2_BMI2,
        #[cfg(target_arch = "aarch64")]
        Some(KernelSet::Neon) => neon::KERNELS,
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Some(KernelSet::Simd128) => wasm_simd::KERNELS,
        // The simd128 module runs its own set only (see `SIMD128_ONLY`).
        #[cfg(all(
            target_arch = "wasm32",
            target_feature = "simd128",
            not(feature = "kernel-check")
        ))]
        _ => wasm_simd::KERNELS,
        #[cfg(not(all(
            target_arch = "wasm32",
            target_feature = "simd128",
            not(feature = "kernel-check")
        )))]
        _ => SCALAR,
    }
}

/// True in the shipped simd128 WebAssembly module: it runs simd128 only ([`force`] refuses the
/// scalar set there, which nothing in the module asks for: it has no environment, and the C
/// ABI cannot force a set), so the scalar set's table and the kernels only it reaches stay out
/// of the module (3.4 KB of ADR-017 §8.3's 100 KB budget). The kernel-check test build keeps it.
const SIMD128_ONLY: bool = cfg!(all(
    target_arch = "wasm32",
    target_feature = "simd128",
    not(feature = "kernel-check")
));

/// Makes the start-up choice the active one, unless a `force` got there first.
#[cold]
fn start() -> u8 {
    let (set, _) = start_choice();
    let state = FROM_START | set.id();
    match STATE.compare_exchange(0, state, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => state,
        Err(current) => current,
    }
}

/// The set the process starts with (environment, then [`auto_choice`]) and why; computed once.
#[cfg(feature = "std")]
fn start_choice() -> (KernelSet, &'static str) {
    // The reason lives in the static itself: no heap allocation that would outlive a caller's
    // measurement of its own memory.
    static CHOICE: std::sync::OnceLock<(KernelSet, Text)> = std::sync::OnceLock::new();
    let (set, why) = CHOICE.get_or_init(|| {
        let env = |name: &str| std::env::var(name).ok();
        decide_start(
            env("TEMPORAL_TENSOR_FORCE_SCALAR").as_deref(),
            env("TEMPORAL_TENSOR_KERNELS").as_deref(),
            auto_choice(),
            features(),
        )
    });
    (*set, why.as_str())
}

#[cfg(not(feature = "std"))]
fn start_choice() -> (KernelSet, &'static str) {
    auto_choice()
}

/// A short text kept inline (truncated at 256 bytes, on a character boundary).
#[cfg(feature = "std")]
#[derive(Clone, Debug)]
struct Text {
    bytes: [u8; 256],
    len: usize,
}

#[cfg(feature = "std")]
impl Text {
    fn new(parts: &[&str]) -> Text {
        let mut text = Text {
            bytes: [0; 256],
            len: 0,
        };
        for part in parts {
            for c in part.chars() {
                let mut utf8 = [0u8; 4];
                let c = c.encode_utf8(&mut utf8).as_bytes();
                if text.len + c.len() > text.bytes.len() {
                    return text;
                }
                text.bytes[text.len..text.len + c.len()].copy_from_slice(c);
                text.len += c.len();
            }
        }
        text
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

/// The start-up rule: `force_scalar` and `kernels` are the values of
/// `TEMPORAL_TENSOR_FORCE_SCALAR` and `TEMPORAL_TENSOR_KERNELS` (if set).
#[cfg(feature = "std")]
fn decide_start(
    force_scalar: Option<&str>,
    kernels: Option<&str>,
    auto: (KernelSet, &'static str),
    features: Features,
) -> (KernelSet, Text) {
    if force_scalar == Some("1") {
        return (
            KernelSet::Scalar,
            Text::new(&["TEMPORAL_TENSOR_FORCE_SCALAR=1"]),
        );
    }
    let (auto_set, auto_why) = auto;
    let Some(value) = kernels
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "auto")
    else {
        return (auto_set, Text::new(&[auto_why]));
    };
    let var = "TEMPORAL_TENSOR_KERNELS=";
    // Quote at most 32 characters of a value that is not a set name.
    let quoted = value
        .char_indices()
        .nth(32)
        .map_or(value, |(i, _)| &value[..i]);
    match KernelSet::from_name(value) {
        Some(set) if features.supports(set) => (set, Text::new(&[var, set.name()])),
        Some(set) => (
            auto_set,
            Text::new(&[
                var,
                set.name(),
                " cannot run on this CPU, so the automatic choice: ",
                auto_why,
            ]),
        ),
        None => (
            auto_set,
            Text::new(&[
                var,
                quoted,
                " is not a kernel set (scalar, avx2, avx2+bmi2, neon, simd128), so the \
                 automatic choice: ",
                auto_why,
            ]),
        ),
    }
}

/// Makes `set` the active set. Returns `false` (and changes nothing) if this CPU cannot run it,
/// or, in the simd128 WebAssembly module, if it is not simd128 (that module holds no other set).
/// Results are identical whichever set runs; only speed differs.
pub fn force(set: KernelSet) -> bool {
    if !features().supports(set) || (SIMD128_ONLY && set != KernelSet::Simd128) {
        return false;
    }
    STATE.store(FROM_FORCE | set.id(), Ordering::Relaxed);
    true
}

/// Forces the scalar reference kernels (`true`) or returns to the automatic choice, [`best`]
/// (`false`). Results are identical either way; only speed differs. For tests and benchmarks;
/// [`force`] is the general form (in the simd128 WebAssembly module, which holds no scalar set,
/// both leave simd128 in use).
#[doc(hidden)]
pub fn force_scalar(on: bool) {
    let state = if on && !SIMD128_ONLY {
        FROM_FORCE_SCALAR | KernelSet::Scalar.id()
    } else {
        FROM_BEST | auto_choice().0.id()
    };
    STATE.store(state, Ordering::Relaxed);
}

/// The set in use.
pub fn active_set() -> KernelSet {
    active();
    KernelSet::from_id(STATE.load(Ordering::Relaxed) & 0xf).unwrap_or(KernelSet::Scalar)
}

/// Name of the kernel set in use.
pub fn active_name() -> &'static str {
    active().name
}

/// Why the set in use was chosen: the CPU rule of [`choose`] (e.g. "AMD family before 0x19 (Zen 2
/// or older): pdep/pext are microcoded there, …"), the environment variable that forced it (and
/// whether its value was refused), or the [`force`] / [`force_scalar`] call.
pub fn active_reason() -> &'static str {
    active();
    match STATE.load(Ordering::Relaxed) & 0xf0 {
        FROM_FORCE => "forced by kernels::force",
        FROM_FORCE_SCALAR => "forced by kernels::force_scalar(true)",
        FROM_BEST => auto_choice().1,
        _ => start_choice().1,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::check::ordinary_values;
    pub(crate) use super::check::{check_against_scalar, tricky_values};

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
    fn scalar_group_kernels_are_the_group_by_group_loop() {
        // The scalar whole-frame kernel is the reference for the others; check it against the
        // one-group kernels it is made of, with a scale per group.
        let values = ordinary_values(320, 3, 1.0);
        let scales = [0.01f32, 0.02, 0.5, 1e-3, 0.03];
        for bits in [3u32, 8] {
            let q = crate::quantizer::qmax(bits) as f32;
            let mut whole = vec![0u8; 40 * bits as usize];
            let mut stats = FrameStats::default();
            scalar::quantize_pack_groups(&values, 64, &scales, q, bits, &mut whole, &mut stats);
            let mut by_group = vec![0u8; 40 * bits as usize];
            let mut expect = FrameStats::default();
            for (g, chunk) in values.chunks(64).enumerate() {
                let mut gs = GroupStats::default();
                let at = g * 8 * bits as usize;
                scalar::quantize_pack(
                    chunk,
                    1.0 / scales[g],
                    q,
                    bits,
                    &mut by_group[at..],
                    &mut gs,
                );
                expect.fold_group(&gs, scales[g], q);
                if gs.max_x < f32::MIN_POSITIVE {
                    expect.fold_vanished(chunk);
                }
            }
            assert_eq!(whole, by_group);
            assert_eq!(stats, expect);
            assert!(stats.clamped, "the 1e-3 group clamps");
        }
    }

    #[test]
    fn every_supported_set_matches_scalar() {
        for k in supported() {
            check_against_scalar(k);
        }
    }

    #[test]
    fn forcing_switches_and_restores() {
        // The only test that changes the active set (tests run in parallel; every set gives the
        // same results, so other tests cannot tell).
        for set in supported_sets() {
            assert!(force(set));
            assert_eq!(active_name(), set.name());
            assert_eq!(active_set(), set);
            assert_eq!(active_reason(), "forced by kernels::force");
        }
        for set in KernelSet::ALL {
            if !features().supports(set) {
                let before = active_set();
                assert!(!force(set), "{set:?}");
                assert_eq!(active_set(), before);
            }
        }
        force_scalar(true);
        assert_eq!(active_name(), "scalar");
        assert_eq!(active_reason(), "forced by kernels::force_scalar(true)");
        force_scalar(false);
        assert_eq!(active_name(), best().name);
        assert_eq!(active_reason(), auto_choice().1);
    }

    #[test]
    fn the_automatic_choice_runs_here() {
        let (set, why) = auto_choice();
        assert!(features().supports(set), "{set:?}: {why}");
        assert_eq!(best().name, set.name());
        assert!(supported_sets().contains(&set));
        assert_eq!(supported()[0].name, "scalar");
    }

    #[cfg(feature = "std")]
    #[test]
    fn environment_rule() {
        let all = Features {
            avx2: true,
            bmi2: true,
            neon: false,
            simd128: false,
        };
        let auto = (KernelSet::Avx2Bmi2, "fast pdep");
        let d = |fs: Option<&str>, k: Option<&str>, f: Features| {
            let (set, why) = decide_start(fs, k, auto, f);
            (set, std::string::String::from(why.as_str()))
        };
        assert_eq!(
            d(None, None, all),
            (KernelSet::Avx2Bmi2, "fast pdep".into())
        );
        assert_eq!(d(None, Some(""), all).0, KernelSet::Avx2Bmi2);
        assert_eq!(d(None, Some("auto"), all).0, KernelSet::Avx2Bmi2);
        assert_eq!(
            d(None, Some("avx2"), all),
            (KernelSet::Avx2, "TEMPORAL_TENSOR_KERNELS=avx2".into())
        );
        assert_eq!(d(None, Some("scalar"), all).0, KernelSet::Scalar);
        assert_eq!(d(None, Some("AVX2+BMI2"), all).0, KernelSet::Avx2Bmi2);
        // FORCE_SCALAR=1 wins; other values of it are ignored.
        assert_eq!(d(Some("1"), Some("avx2"), all).0, KernelSet::Scalar);
        assert_eq!(d(Some("0"), Some("avx2"), all).0, KernelSet::Avx2);
        // Unsupported and unknown values fall back to the automatic choice, and say so.
        let (set, why) = d(None, Some("neon"), all);
        assert_eq!(set, KernelSet::Avx2Bmi2);
        assert!(
            why.contains("cannot run on this CPU") && why.ends_with("fast pdep"),
            "{why}"
        );
        let no_bmi2 = Features { bmi2: false, ..all };
        let (set, why) = decide_start(None, Some("avx2+bmi2"), (KernelSet::Avx2, "no"), no_bmi2);
        let why = why.as_str();
        assert_eq!(set, KernelSet::Avx2);
        assert!(why.contains("cannot run on this CPU"), "{why}");
        let (set, why) = d(None, Some("sse9"), all);
        assert_eq!(set, KernelSet::Avx2Bmi2);
        assert!(why.contains("sse9 is not a kernel set"), "{why}");
        let long = "x".repeat(1000);
        let (_, why) = d(None, Some(&long), all);
        assert!(why.len() < 256 && why.contains(&long[..32]) && !why.contains(&long[..33]));
    }

    #[test]
    fn the_start_choice_is_reported() {
        let (set, why) = start_choice();
        assert!(features().supports(set));
        assert!(!why.is_empty());
    }
}
