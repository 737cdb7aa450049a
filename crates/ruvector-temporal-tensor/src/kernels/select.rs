//! Which kernel set to use, and why: the CPU's identity (CPUID on x86-64) and a pure decision
//! rule, [`choose`], so the rule can be tested with any vendor, family and model.
//!
//! The rule avoids BMI2 `pdep`/`pext` where they are microcoded: AMD before family 0x19 (Zen 1
//! and 2: 8 to 140 ns per instruction depending on the mask, against 1 cycle elsewhere) and Hygon
//! (Zen 1 based). There the `avx2` set packs bits with shifts, shuffles and multiplies, which is
//! fast on every CPU with AVX2; so is an unknown vendor's. BMI2 is used only where it is known to
//! be fast.

/// A kernel set, by the name [`super::Kernels::name`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelSet {
    /// The scalar reference.
    Scalar,
    /// x86-64 AVX2; bit packing by shifts, shuffles and multiplies (no BMI2).
    Avx2,
    /// x86-64 AVX2, with BMI2 `pdep`/`pext` where they win.
    Avx2Bmi2,
    /// aarch64 NEON.
    Neon,
    /// wasm32 simd128.
    Simd128,
}

impl KernelSet {
    /// Every set, in order of preference from least to most specialized.
    pub const ALL: [KernelSet; 5] = [
        KernelSet::Scalar,
        KernelSet::Avx2,
        KernelSet::Avx2Bmi2,
        KernelSet::Neon,
        KernelSet::Simd128,
    ];

    /// The set's name: `"scalar"`, `"avx2"`, `"avx2+bmi2"`, `"neon"` or `"simd128"`.
    pub const fn name(self) -> &'static str {
        match self {
            KernelSet::Scalar => "scalar",
            KernelSet::Avx2 => "avx2",
            KernelSet::Avx2Bmi2 => "avx2+bmi2",
            KernelSet::Neon => "neon",
            KernelSet::Simd128 => "simd128",
        }
    }

    /// The set called `name` (as [`name`](Self::name) spells it; ASCII case ignored).
    pub fn from_name(name: &str) -> Option<KernelSet> {
        KernelSet::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// A small integer (1..=5) identifying the set.
    pub(crate) const fn id(self) -> u8 {
        match self {
            KernelSet::Scalar => 1,
            KernelSet::Avx2 => 2,
            KernelSet::Avx2Bmi2 => 3,
            KernelSet::Neon => 4,
            KernelSet::Simd128 => 5,
        }
    }

    /// Inverse of [`id`](Self::id).
    pub(crate) const fn from_id(id: u8) -> Option<KernelSet> {
        match id {
            1 => Some(KernelSet::Scalar),
            2 => Some(KernelSet::Avx2),
            3 => Some(KernelSet::Avx2Bmi2),
            4 => Some(KernelSet::Neon),
            5 => Some(KernelSet::Simd128),
            _ => None,
        }
    }
}

/// The instruction-set extensions [`choose`] looks at (usable ones: on x86-64 this includes the
/// operating system's support for AVX state).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// x86-64 AVX2.
    pub avx2: bool,
    /// x86-64 BMI2 (`pdep`, `pext`).
    pub bmi2: bool,
    /// aarch64 NEON.
    pub neon: bool,
    /// wasm32 simd128 (compiled in).
    pub simd128: bool,
}

impl Features {
    /// Whether `set` can run with these features.
    pub const fn supports(self, set: KernelSet) -> bool {
        match set {
            KernelSet::Scalar => true,
            KernelSet::Avx2 => self.avx2,
            KernelSet::Avx2Bmi2 => self.avx2 && self.bmi2,
            KernelSet::Neon => self.neon,
            KernelSet::Simd128 => self.simd128,
        }
    }
}

/// The kernel set for a CPU, and why. `vendor` is the CPUID vendor string (`"GenuineIntel"`,
/// `"AuthenticAMD"`, `"HygonGenuine"`, …; empty off x86-64), `family` and `model` the display
/// family and model (extended fields folded in, as Linux's `/proc/cpuinfo` shows them).
///
/// Pure: the same arguments always give the same answer (the unit tests inject CPUs).
pub fn choose(
    vendor: &str,
    family: u32,
    model: u32,
    features: Features,
) -> (KernelSet, &'static str) {
    let _ = model; // No model-specific rule yet; kept so one can be added without an API change.
    if features.simd128 {
        return (KernelSet::Simd128, "wasm32 module built with simd128");
    }
    if features.neon {
        return (
            KernelSet::Neon,
            "aarch64: NEON is part of the base architecture",
        );
    }
    if !features.avx2 {
        return (
            KernelSet::Scalar,
            "no AVX2 detected (or no run-time detection: the std feature is off)",
        );
    }
    if !features.bmi2 {
        return (KernelSet::Avx2, "AVX2 without BMI2");
    }
    match vendor {
        "AuthenticAMD" if family < 0x19 => (
            KernelSet::Avx2,
            "AMD family before 0x19 (Zen 2 or older): pdep/pext are microcoded there, so bits are \
             packed with shifts, shuffles and multiplies",
        ),
        "AuthenticAMD" => (
            KernelSet::Avx2Bmi2,
            "AMD family 0x19 or later (Zen 3 or newer): pdep/pext take one cycle",
        ),
        "HygonGenuine" => (
            KernelSet::Avx2,
            "Hygon (Zen 1 based): pdep/pext are microcoded there, so bits are packed with \
             shifts, shuffles and multiplies",
        ),
        "GenuineIntel" => (
            KernelSet::Avx2Bmi2,
            "Intel with BMI2 (Haswell or newer): pdep/pext take one cycle",
        ),
        _ => (
            KernelSet::Avx2,
            "CPU vendor not known to have fast pdep/pext, so bits are packed with shifts, \
             shuffles and multiplies",
        ),
    }
}

/// What CPUID says about this CPU (x86-64; on other targets the vendor and brand are empty and
/// the numbers zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuInfo {
    vendor: [u8; 12],
    brand: [u8; 48],
    /// Display family (base family, plus the extended family when the base is 0xF).
    pub family: u32,
    /// Display model (base model, plus the extended model for families 0x6 and 0xF and later).
    pub model: u32,
    /// Stepping.
    pub stepping: u32,
}

impl CpuInfo {
    /// The vendor string, e.g. `"AuthenticAMD"` (empty when unknown).
    pub fn vendor(&self) -> &str {
        ascii_str(&self.vendor)
    }

    /// The brand string, e.g. `"AMD EPYC 7B12"` (empty when the CPU has none).
    pub fn brand(&self) -> &str {
        ascii_str(&self.brand).trim()
    }
}

fn ascii_str(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("")
}

/// Identifies the CPU (CPUID leaves 0, 1 and 0x8000_0002..4 on x86-64).
pub fn cpu() -> CpuInfo {
    #[allow(unused_mut)] // filled in on x86-64 only
    let mut info = CpuInfo {
        vendor: [0; 12],
        brand: [0; 48],
        family: 0,
        model: 0,
        stepping: 0,
    };
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // SAFETY: CPUID exists on every x86-64 CPU (the call is `unsafe` on older toolchains).
        #[allow(unused_unsafe)]
        let leaf = |n: u32| unsafe { __cpuid(n) };
        let l0 = leaf(0);
        info.vendor[0..4].copy_from_slice(&l0.ebx.to_le_bytes());
        info.vendor[4..8].copy_from_slice(&l0.edx.to_le_bytes());
        info.vendor[8..12].copy_from_slice(&l0.ecx.to_le_bytes());
        if l0.eax >= 1 {
            let (family, model, stepping) = decode_signature(leaf(1).eax);
            info.family = family;
            info.model = model;
            info.stepping = stepping;
        }
        if leaf(0x8000_0000).eax >= 0x8000_0004 {
            for (k, n) in (0x8000_0002u32..=0x8000_0004).enumerate() {
                let r = leaf(n);
                for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].into_iter().enumerate() {
                    let at = k * 16 + j * 4;
                    info.brand[at..at + 4].copy_from_slice(&reg.to_le_bytes());
                }
            }
        }
    }
    info
}

/// Display family, model and stepping from CPUID leaf 1's EAX.
pub fn decode_signature(eax: u32) -> (u32, u32, u32) {
    let stepping = eax & 0xf;
    let base_model = (eax >> 4) & 0xf;
    let base_family = (eax >> 8) & 0xf;
    let ext_model = (eax >> 16) & 0xf;
    let ext_family = (eax >> 20) & 0xff;
    let family = if base_family == 0xf {
        base_family + ext_family
    } else {
        base_family
    };
    let model = if base_family == 0x6 || base_family == 0xf {
        base_model | (ext_model << 4)
    } else {
        base_model
    };
    (family, model, stepping)
}

/// The features of the CPU this runs on, as far as this build can tell.
pub fn features() -> Features {
    #[allow(unused_mut)]
    let mut f = Features::default();
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    {
        f.avx2 = std::is_x86_feature_detected!("avx2");
        f.bmi2 = std::is_x86_feature_detected!("bmi2");
    }
    // Without `std` there is no run-time detection: what the build targets is what runs (as
    // the `half` crate does), so a build for AVX2/BMI2 CPUs gets their kernels.
    #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
    {
        f.avx2 = cfg!(target_feature = "avx2");
        f.bmi2 = cfg!(target_feature = "bmi2");
    }
    #[cfg(target_arch = "aarch64")]
    {
        f.neon = true;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        f.simd128 = true;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86_FULL: Features = Features {
        avx2: true,
        bmi2: true,
        neon: false,
        simd128: false,
    };

    #[test]
    fn amd_before_zen3_never_gets_pdep() {
        // Excavator (0x15), Zen 1/+/2 (0x17), Hygon Dhyana (0x18).
        for (vendor, family, model) in [
            ("AuthenticAMD", 0x15, 0x60),
            ("AuthenticAMD", 0x17, 0x01),
            ("AuthenticAMD", 0x17, 0x31),
            ("AuthenticAMD", 0x17, 0x71),
            ("HygonGenuine", 0x18, 0x00),
        ] {
            let (set, why) = choose(vendor, family, model, X86_FULL);
            assert_eq!(set, KernelSet::Avx2, "{vendor} {family:#x} {model:#x}");
            assert!(why.contains("microcoded"), "{why}");
        }
    }

    #[test]
    fn fast_pdep_cpus_get_bmi2() {
        for (vendor, family, model) in [
            ("AuthenticAMD", 0x19, 0x01), // Zen 3
            ("AuthenticAMD", 0x19, 0x11), // Zen 4
            ("AuthenticAMD", 0x1a, 0x02), // Zen 5
            ("GenuineIntel", 0x6, 0x3c),  // Haswell
            ("GenuineIntel", 0x6, 0x8f),  // Sapphire Rapids
        ] {
            assert_eq!(
                choose(vendor, family, model, X86_FULL).0,
                KernelSet::Avx2Bmi2,
                "{vendor} {family:#x} {model:#x}"
            );
        }
    }

    #[test]
    fn unknown_vendors_and_missing_features_stay_safe() {
        assert_eq!(
            choose("CentaurHauls", 0x7, 0x3b, X86_FULL).0,
            KernelSet::Avx2
        );
        assert_eq!(choose("", 0, 0, X86_FULL).0, KernelSet::Avx2);
        let no_bmi2 = Features {
            bmi2: false,
            ..X86_FULL
        };
        assert_eq!(
            choose("GenuineIntel", 0x6, 0x3c, no_bmi2),
            (KernelSet::Avx2, "AVX2 without BMI2")
        );
        // BMI2 without AVX2 (some Pentium/Celeron parts): scalar.
        let no_avx2 = Features {
            avx2: false,
            ..X86_FULL
        };
        assert_eq!(
            choose("GenuineIntel", 0x6, 0x9c, no_avx2).0,
            KernelSet::Scalar
        );
        assert_eq!(choose("", 0, 0, Features::default()).0, KernelSet::Scalar);
    }

    #[test]
    fn other_architectures() {
        let neon = Features {
            neon: true,
            ..Features::default()
        };
        assert_eq!(choose("", 0, 0, neon).0, KernelSet::Neon);
        let wasm = Features {
            simd128: true,
            ..Features::default()
        };
        assert_eq!(choose("", 0, 0, wasm).0, KernelSet::Simd128);
    }

    #[test]
    fn choice_is_always_supported() {
        for avx2 in [false, true] {
            for bmi2 in [false, true] {
                let f = Features {
                    avx2,
                    bmi2,
                    ..Features::default()
                };
                for vendor in ["AuthenticAMD", "GenuineIntel", "HygonGenuine", "x"] {
                    for family in [0x6, 0x15, 0x17, 0x18, 0x19, 0x1a] {
                        let (set, _) = choose(vendor, family, 0, f);
                        assert!(f.supports(set), "{vendor} {family:#x} {f:?} -> {set:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn signatures_decode_like_linux() {
        // EPYC 7B12 (Zen 2): family 0x17 model 0x31.
        assert_eq!(decode_signature(0x0083_0f10), (0x17, 0x31, 0));
        // EPYC 9004 (Zen 4): family 0x19 model 0x11 stepping 1.
        assert_eq!(decode_signature(0x00a1_0f11), (0x19, 0x11, 1));
        // Skylake-SP: family 6 model 0x55 stepping 4.
        assert_eq!(decode_signature(0x0005_0654), (0x6, 0x55, 4));
    }

    #[test]
    fn names_round_trip() {
        for set in KernelSet::ALL {
            assert_eq!(KernelSet::from_name(set.name()), Some(set));
            assert_eq!(KernelSet::from_id(set.id()), Some(set));
        }
        assert_eq!(KernelSet::from_name("AVX2+BMI2"), Some(KernelSet::Avx2Bmi2));
        assert_eq!(KernelSet::from_name("sse2"), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn this_cpu_identifies_itself() {
        let cpu = cpu();
        assert_eq!(cpu.vendor().len(), 12, "{cpu:?}");
        assert!(cpu.family >= 6, "{cpu:?}");
    }
}
