//! The kernel sets against the scalar reference: every kernel of a set on many shapes of input
//! (ties, clamping, vanishing groups, non-finite values, every group-length remainder), bit for
//! bit. Run by the unit tests on every set the CPU supports, and, with the `kernel-check`
//! feature, by the WebAssembly test module (`ttc_kernel_check`), where `cargo test` cannot run.
//! Failures panic with what differed.

use super::{scalar, FrameStats, GroupStats, Kernels};
use alloc::vec;
use alloc::vec::Vec;

/// The next state of a xorshift64 generator (deterministic test data; `state` non-zero).
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Values that exercise every branch: normal, ties, clamping, zeros, extremes.
pub fn tricky_values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed | 1;
    (0..n)
        .map(|i| {
            let r = (xorshift(&mut state) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
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

/// Plain values around `±amplitude` with a few exact ties (in steps of `1/inv`).
pub(crate) fn ordinary_values(n: usize, seed: u64, amplitude: f32) -> Vec<f32> {
    let mut state = seed | 1;
    (0..n)
        .map(|i| {
            let r = (xorshift(&mut state) >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
            if i % 13 == 5 {
                0.0
            } else {
                r * amplitude
            }
        })
        .collect()
}

/// Kernels agree on `finite`, and on `max_x` and `max_e` when it holds.
fn same_stats(a: &GroupStats, b: &GroupStats, what: &str) {
    assert_eq!(a.finite(), b.finite(), "{what}: finiteness");
    if a.finite() {
        assert_eq!(a.max_x.to_bits(), b.max_x.to_bits(), "{what}: max_x");
        assert_eq!(a.max_e.to_bits(), b.max_e.to_bits(), "{what}: max_e");
    }
}

fn same_frame_stats(a: &FrameStats, b: &FrameStats, what: &str) {
    assert_eq!(a.finite, b.finite, "{what}: finite ({a:?} vs {b:?})");
    if a.finite {
        assert_eq!(a.clamped, b.clamped, "{what}: clamped");
        assert_eq!(a.max_abs.to_bits(), b.max_abs.to_bits(), "{what}: max_abs");
        assert_eq!(a.max_err.to_bits(), b.max_err.to_bits(), "{what}: max_err");
    }
}

/// Checks `kernels` against the scalar reference on many shapes; call from each arch.
pub fn check_against_scalar(kernels: Kernels) {
    let bits_of = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for bits in [3u32, 5, 7, 8] {
        let qmax = crate::quantizer::qmax(bits) as f32;
        let b = bits as usize;
        for len in [
            0usize, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 512,
        ] {
            // Tiny scales too: below `2⁷ · f32::MIN_POSITIVE` and subnormal.
            for (seed, scale) in [
                (1u64, 0.02f32),
                (2, 1.0),
                (3, 3.0),
                (4, 1e-20),
                (5, 1e20),
                (6, 3e-37),
                (7, 1e-39),
            ] {
                let what = alloc::format!("{} bits={bits} len={len} scale={scale}", kernels.name);
                let values = tricky_values(len, seed * 1000 + len as u64);
                let inv = 1.0 / scale;
                let (mut a, mut b2) = (vec![0u8; len], vec![0u8; len]);
                let (mut sa, mut sb) = (GroupStats::default(), GroupStats::default());
                scalar::quantize(&values, inv, qmax, &mut a, &mut sa);
                (kernels.quantize)(&values, inv, qmax, &mut b2, &mut sb);
                if sa.finite() {
                    assert_eq!(a, b2, "{what}: quantize");
                }
                same_stats(&sa, &sb, &what);

                let (mut da, mut db) = (vec![0f32; len], vec![0f32; len]);
                scalar::dequantize(&a, scale, qmax as i32, &mut da);
                (kernels.dequantize)(&a, scale, qmax as i32, &mut db);
                assert_eq!(bits_of(&da), bits_of(&db), "{what}: dequantize");

                // Fused paths on the multiple-of-8 prefix, into exact and roomy buffers.
                let whole = len / 8 * 8;
                let used = whole / 8 * b;
                for slack in [0usize, 40] {
                    let (mut pa, mut pb) = (vec![0u8; used + slack], vec![0u8; used + slack]);
                    let (mut sa, mut sb) = (GroupStats::default(), GroupStats::default());
                    scalar::quantize_pack(&values[..whole], inv, qmax, bits, &mut pa, &mut sa);
                    (kernels.quantize_pack)(&values[..whole], inv, qmax, bits, &mut pb, &mut sb);
                    if sa.finite() {
                        assert_eq!(pa[..used], pb[..used], "{what}: quantize_pack");
                        assert!(pb[used..].iter().all(|&x| x == 0), "{what}: past the end");
                    }
                    same_stats(&sa, &sb, &what);
                    let (mut da, mut db) = (vec![0f32; whole], vec![0f32; whole]);
                    scalar::unpack_dequantize(&pa, bits, scale, qmax as i32, &mut da);
                    (kernels.unpack_dequantize)(&pa, bits, scale, qmax as i32, &mut db);
                    assert_eq!(bits_of(&da), bits_of(&db), "{what}: unpack_dequantize");
                }
            }
            // Non-finite input: both report it (codes are discarded then).
            for bad in [f32::NAN, f32::INFINITY, -f32::NAN] {
                let mut values = tricky_values(len.max(1), 9);
                values[len.max(1) / 2] = bad;
                let mut codes = vec![0u8; values.len()];
                let (mut sa, mut sb) = (GroupStats::default(), GroupStats::default());
                scalar::quantize(&values, 1.0, qmax, &mut codes, &mut sa);
                (kernels.quantize)(&values, 1.0, qmax, &mut codes, &mut sb);
                assert!(!sa.finite() && !sb.finite(), "{}", kernels.name);
                let whole = values.len() / 8 * 8;
                if whole > len.max(1) / 2 {
                    let mut out = vec![0u8; whole];
                    let mut sb = GroupStats::default();
                    (kernels.quantize_pack)(&values[..whole], 1.0, qmax, bits, &mut out, &mut sb);
                    assert!(!sb.finite(), "{} quantize_pack", kernels.name);
                }
            }
        }
        for groups in [0usize, 1, 2, 3, 4, 5, 7, 9, 64] {
            let codes: Vec<u8> = tricky_values(groups * 8, bits as u64)
                .iter()
                .map(|v| (v.to_bits() % (1 << bits)) as u8)
                .collect();
            for slack in [0usize, 1, 40] {
                let size = groups * b + slack;
                let (mut pa, mut pb) = (vec![0u8; size], vec![0u8; size]);
                scalar::pack(&codes, bits, &mut pa);
                (kernels.pack)(&codes, bits, &mut pb);
                assert_eq!(pa, pb, "{} pack bits={bits} groups={groups}", kernels.name);
                let mut back = vec![0u8; codes.len()];
                (kernels.unpack)(&pa, bits, &mut back);
                assert_eq!(back, codes, "{} unpack bits={bits}", kernels.name);
            }
        }
        check_groups_against_scalar(kernels, bits);
    }
    for group_len in [1usize, 7, 8, 16, 64, 100, 4096] {
        for len in [0usize, 5, 64, 300, 1000, 4100] {
            let mut values = tricky_values(len, group_len as u64);
            let groups = len.div_ceil(group_len);
            let (mut a, mut b) = (vec![0f32; groups], vec![1f32; groups]);
            scalar::group_max_abs(&values, group_len, &mut a);
            (kernels.group_max_abs)(&values, group_len, &mut b);
            assert_eq!(bits_of(&a), bits_of(&b), "{} group_max_abs", kernels.name);
            // Non-finite values (the batch check reads NaN and ∞ from it), at any position.
            for (k, bad) in [f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
                .into_iter()
                .enumerate()
            {
                if len > 0 {
                    values[(k * 977 + group_len) % len] = bad;
                }
            }
            scalar::group_max_abs(&values, group_len, &mut a);
            (kernels.group_max_abs)(&values, group_len, &mut b);
            assert_eq!(bits_of(&a), bits_of(&b), "{} group_max_abs", kernels.name);
        }
    }
    // Standalone packing is defined for every width 1..=8.
    for bits in 1..=8u32 {
        for groups in [1usize, 4, 5, 13] {
            let codes: Vec<u8> = (0..groups * 8)
                .map(|i| ((i * 37 + 11) % (1 << bits)) as u8)
                .collect();
            let size = groups * bits as usize + 40;
            let (mut pa, mut pb) = (vec![0u8; size], vec![0u8; size]);
            scalar::pack(&codes, bits, &mut pa);
            (kernels.pack)(&codes, bits, &mut pb);
            assert_eq!(pa, pb, "{} pack bits={bits}", kernels.name);
            let mut back = vec![0u8; codes.len()];
            (kernels.unpack)(&pa[..groups * bits as usize], bits, &mut back);
            assert_eq!(back, codes, "{} unpack bits={bits}", kernels.name);
        }
    }
}

/// The whole-frame kernels against the scalar ones: group lengths with every remainder of
/// 32, groups that vanish (values far below their scale), clamp, or hold ties.
fn check_groups_against_scalar(kernels: Kernels, bits: u32) {
    let bits_of = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let qmax = crate::quantizer::qmax(bits) as f32;
    let b = bits as usize;
    for group_len in [8usize, 16, 24, 32, 40, 56, 64, 72, 96, 128, 136] {
        for len in [8usize, 64, 136, 512, 1000, 1024] {
            let len = len / 8 * 8;
            let groups = len.div_ceil(group_len);
            for seed in 0..4u64 {
                let mut values = ordinary_values(len, seed * 77 + len as u64, 2.0);
                // Scales: calibrated with headroom, except a few shrunk (clamping, some by far),
                // grown (vanishing), and tie-making ones.
                let mut scales = vec![0f32; groups];
                crate::quantizer::group_max_abs(&values, group_len, &mut scales);
                crate::quantizer::scales_from_max_abs(&mut scales, bits, 1.1);
                for (g, s) in scales.iter_mut().enumerate() {
                    if *s == 0.0 {
                        *s = 1.0;
                    }
                    match (g as u64 + seed) % 7 {
                        1 if seed == 1 => *s *= 0.5,
                        2 => *s *= 1e30,
                        3 => *s = 0.5,
                        // Far beyond the range (|x| > 2³¹ steps: integer conversion overflows).
                        4 if seed == 2 => *s *= 1e-20,
                        _ => {}
                    }
                }
                if seed == 3 {
                    // Ties: multiples of half a step.
                    for (i, v) in values.iter_mut().enumerate() {
                        let s = scales[i / group_len];
                        *v = ((i % 9) as f32 - 4.0) * 0.5 * s;
                    }
                }
                let what = alloc::format!(
                    "{} bits={bits} group_len={group_len} len={len} seed={seed}",
                    kernels.name
                );
                let used = len / 8 * b;
                for slack in [0usize, 3, 40] {
                    let mut pa = vec![0u8; used + slack];
                    let mut pb = vec![0u8; used + slack];
                    let (mut sa, mut sb) = (FrameStats::default(), FrameStats::default());
                    scalar::quantize_pack_groups(
                        &values, group_len, &scales, qmax, bits, &mut pa, &mut sa,
                    );
                    (kernels.quantize_pack_groups)(
                        &values, group_len, &scales, qmax, bits, &mut pb, &mut sb,
                    );
                    same_frame_stats(&sa, &sb, &what);
                    assert_eq!(pa[..used], pb[..used], "{what}: quantize_pack_groups");
                    assert!(pb[used..].iter().all(|&x| x == 0), "{what}: past the end");
                    let mut da = vec![0f32; len];
                    let mut db = vec![1f32; len];
                    // The data alone, and with bytes after it (the kernels may then use
                    // whole-vector loads up to the last code).
                    scalar::unpack_dequantize_groups(
                        &pa,
                        bits,
                        group_len,
                        &scales,
                        qmax as i32,
                        &mut da,
                    );
                    (kernels.unpack_dequantize_groups)(
                        &pa,
                        bits,
                        group_len,
                        &scales,
                        qmax as i32,
                        &mut db,
                    );
                    assert_eq!(
                        bits_of(&da),
                        bits_of(&db),
                        "{what}: unpack_dequantize_groups"
                    );
                }
                if let Some(bounded) = kernels.quantize_pack_groups_bounded {
                    check_bounded(bounded, &values, group_len, &scales, bits, &what);
                }
                // Statistics fold into what is already there.
                let mut pa = vec![0u8; used];
                let mut pb = vec![0u8; used];
                let start = FrameStats {
                    max_abs: 0.75,
                    max_err: 0.001,
                    clamped: false,
                    finite: true,
                };
                let (mut sa, mut sb) = (start, start);
                scalar::quantize_pack_groups(
                    &values, group_len, &scales, qmax, bits, &mut pa, &mut sa,
                );
                (kernels.quantize_pack_groups)(
                    &values, group_len, &scales, qmax, bits, &mut pb, &mut sb,
                );
                same_frame_stats(&sa, &sb, &what);
                // A non-finite value anywhere is reported.
                for bad in [f32::NAN, f32::NEG_INFINITY] {
                    let mut values = values.clone();
                    values[(seed as usize * 131) % len] = bad;
                    let (mut sa, mut sb) = (FrameStats::default(), FrameStats::default());
                    scalar::quantize_pack_groups(
                        &values, group_len, &scales, qmax, bits, &mut pa, &mut sa,
                    );
                    (kernels.quantize_pack_groups)(
                        &values, group_len, &scales, qmax, bits, &mut pb, &mut sb,
                    );
                    assert!(!sa.finite && !sb.finite, "{what}: {bad}");
                }
            }
        }
    }
}

/// A set's `quantize_pack_groups_bounded` against the scalar one (codes, statistics, what it
/// leaves in place, non-finite input), and the scalar one against the measuring kernel: the same
/// codes and statistics but for `max_err`, which is at most the measured one.
fn check_bounded(
    bounded: super::QuantizePackGroupsFn,
    values: &[f32],
    group_len: usize,
    scales: &[f32],
    bits: u32,
    what: &str,
) {
    let qmax = crate::quantizer::qmax(bits) as f32;
    let used = values.len() / 8 * bits as usize;
    let start = FrameStats {
        max_abs: 0.75,
        max_err: 0.001,
        clamped: false,
        finite: true,
    };
    for (slack, from) in [
        (0usize, FrameStats::default()),
        (40, FrameStats::default()),
        (3, start),
    ] {
        let (mut pa, mut pb) = (vec![0u8; used + slack], vec![0u8; used + slack]);
        let (mut sa, mut sb) = (from, from);
        scalar::quantize_pack_groups_bounded(
            values, group_len, scales, qmax, bits, &mut pa, &mut sa,
        );
        bounded(values, group_len, scales, qmax, bits, &mut pb, &mut sb);
        same_frame_stats(&sa, &sb, what);
        assert_eq!(
            pa[..used],
            pb[..used],
            "{what}: quantize_pack_groups_bounded"
        );
        assert!(
            pb[used..].iter().all(|&x| x == 0),
            "{what}: bounded, past the end"
        );
        let mut pm = vec![0u8; used + slack];
        let mut measured = from;
        scalar::quantize_pack_groups(
            values,
            group_len,
            scales,
            qmax,
            bits,
            &mut pm,
            &mut measured,
        );
        assert_eq!(pa, pm, "{what}: bounded codes");
        assert_eq!(sa.finite, measured.finite, "{what}: bounded finite");
        if sa.finite {
            assert_eq!(sa.clamped, measured.clamped, "{what}: bounded clamped");
            assert_eq!(
                sa.max_abs.to_bits(),
                measured.max_abs.to_bits(),
                "{what}: bounded max"
            );
            assert!(sa.max_err <= measured.max_err, "{what}: bounded max_err");
        }
    }
    for bad in [f32::NAN, f32::NEG_INFINITY, f32::INFINITY] {
        let mut values = values.to_vec();
        let at = values.len() / 3;
        values[at] = bad;
        let mut pb = vec![0u8; used];
        let mut sb = FrameStats::default();
        bounded(&values, group_len, scales, qmax, bits, &mut pb, &mut sb);
        assert!(!sb.finite, "{what}: bounded {bad}");
    }
}
