//! Shared helpers for the fuzz targets: a byte cursor that turns fuzz input into structured
//! choices (never fails: past the end it yields zeros), interesting float values, and the
//! round-trip oracle.
#![allow(dead_code)]

use ruvector_temporal_tensor::kernels::{self, KernelSet};
use ruvector_temporal_tensor::quantizer::error_bound;
use std::sync::OnceLock;

/// The SIMD kernel set a run compares with the scalar one: one of the sets this CPU supports
/// besides scalar (e.g. both `avx2` and `avx2+bmi2`, whichever the automatic choice is), picked
/// by a hash of the input so a reproducer replays with the same set; scalar where there is none.
pub fn simd_set(data: &[u8]) -> KernelSet {
    static SETS: OnceLock<Vec<KernelSet>> = OnceLock::new();
    let sets = SETS.get_or_init(|| {
        kernels::supported_sets()
            .into_iter()
            .filter(|&s| s != KernelSet::Scalar)
            .collect()
    });
    if sets.is_empty() {
        return KernelSet::Scalar;
    }
    // FNV-1a.
    let h = data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    });
    sets[h as usize % sets.len()]
}

/// Switches every kernel to `set` (which this CPU supports).
pub fn use_set(set: KernelSet) {
    assert!(
        kernels::force(set),
        "cannot force the {} kernels",
        set.name()
    );
}

/// Reads structured values from the fuzz input, front to back.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn usize_below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.u32() as usize % n
        }
    }

    /// `n` bytes (fewer when the input runs out).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// The rest of the input.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.data)
    }

    /// A u32 that is often one of the interesting boundary values.
    pub fn u32_interesting(&mut self) -> u32 {
        const SPECIAL: [u32; 12] = [
            0,
            1,
            2,
            5,
            7,
            64,
            128,
            256,
            257,
            1 << 16,
            (1 << 16) + 1,
            u32::MAX,
        ];
        let tag = self.u8();
        if tag < 128 {
            SPECIAL[tag as usize % SPECIAL.len()]
        } else {
            self.u32()
        }
    }

    /// An f32 biased towards edge cases: zeros, NaN, ±Inf, huge, tiny, subnormal, ties, or any
    /// bit pattern.
    pub fn f32_interesting(&mut self) -> f32 {
        let tag = self.u8();
        let sign = if tag & 0x80 != 0 { -1.0 } else { 1.0 };
        let v = match tag & 0x0f {
            0 => 0.0,
            1 => f32::NAN,
            2 => f32::INFINITY,
            3 => f32::MAX,
            4 => f32::MIN_POSITIVE,
            5 => f32::from_bits(self.u8() as u32 + 1), // subnormal
            6 => f32::from_bits(self.u32() & 0x007f_ffff), // any subnormal
            7 => (self.u8() as i8) as f32 * 0.5,       // exact ties
            8 => f32::MAX / (self.u8() as f32 + 1.0),
            9 => 1e30 * (self.u8() as f32 + 1.0),
            10 => 1e-30 * (self.u8() as f32 + 1.0),
            11 | 12 => (self.u16() as i16) as f32 / 256.0,
            _ => f32::from_bits(self.u32()),
        };
        sign * v
    }

    /// An f32 that is finite (non-finite picks become zero).
    pub fn f32_finite(&mut self) -> f32 {
        let v = self.f32_interesting();
        if v.is_finite() {
            v
        } else {
            0.0
        }
    }
}

/// Panics unless `a` and `b` are the same state. `PartialEq` first; when it says no, the `Debug`
/// forms decide, because a compressor's scratch buffers may hold NaN (a coded writer keeps the
/// overflowed reconstruction of a rejected chain quantization), which makes a state differ
/// from its own clone under `PartialEq`. (`Debug` tells -0.0 from 0.0 but not NaN payloads.)
#[macro_export]
macro_rules! assert_same {
    ($a:expr, $b:expr $(, $($msg:tt)+)?) => {{
        let (a, b) = (&$a, &$b);
        if a != b && format!("{a:?}") != format!("{b:?}") {
            assert_eq!(a, b $(, $($msg)+)?);
        }
    }};
}

/// `max|v − v'| / max|v|` of one frame, in f64; 0 for an all-zero frame decoded exactly and
/// infinity for an all-zero frame decoded inexactly.
pub fn relative_error(original: &[f32], decoded: &[f32]) -> f64 {
    let mut max_abs = 0.0f64;
    let mut max_err = 0.0f64;
    for (&a, &b) in original.iter().zip(decoded) {
        max_abs = max_abs.max((a as f64).abs());
        max_err = max_err.max((a as f64 - b as f64).abs());
    }
    if max_abs == 0.0 {
        if max_err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        max_err / max_abs
    }
}

/// Panics unless `decoded` is within the bound of `bits` for `original`.
pub fn assert_within_bound(original: &[f32], decoded: &[f32], bits: u8, what: &str) {
    assert_eq!(original.len(), decoded.len(), "{what}: length");
    assert!(
        decoded.iter().all(|v| v.is_finite()),
        "{what}: decoded a non-finite value"
    );
    let bound =
        error_bound(bits as u32).unwrap_or_else(|| panic!("{what}: unexpected width {bits}"));
    let err = relative_error(original, decoded);
    assert!(
        err < bound as f64,
        "{what}: relative error {err} at {bits} bits exceeds {bound}\noriginal {original:?}\ndecoded {decoded:?}"
    );
}
