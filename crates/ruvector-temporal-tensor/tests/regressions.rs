//! Regressions found by fuzzing (`fuzz/`), and the documented maximums (`limits`,
//! `ffi::MAX_LIVE_HANDLES`) checked to be coded errors.

mod common;
use common::*;
use ruvector_temporal_tensor::limits::{MAX_GROUP_LEN, MAX_SEGMENT_FRAMES, MAX_TENSOR_LEN};
use ruvector_temporal_tensor::quantizer::{error_bound, qmax};
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{
    kernels, Error, SegmentField, TemporalTensorCompressor, TierPolicy,
};

/// A version-2 (f32 scales) segment of one frame of one value: `scale` and one code.
fn one_value_v2(bits: u8, scale: f32, code: u8) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"TQTC");
    b.push(2);
    b.push(bits);
    for field in [1u32, 1, 1, 1] {
        // group_len, tensor_len, frame_count, scale_count
        b.extend_from_slice(&field.to_le_bytes());
    }
    b.extend_from_slice(&scale.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // data_len
    b.push(code);
    b
}

/// The largest f32 `s` with `s * k` finite.
fn largest_scale_for(k: f32) -> f32 {
    let mut s = f32::MAX / k;
    while (s * k).is_infinite() {
        s = f32::from_bits(s.to_bits() - 1);
    }
    while (f32::from_bits(s.to_bits() + 1) * k).is_finite() {
        s = f32::from_bits(s.to_bits() + 1);
    }
    s
}

/// Found by `segment_decode`: the top code `2^bits − 1` decodes to `(qmax + 1) · scale`, but
/// `parse` only required `qmax · scale` to be finite, so a valid-looking v2 segment with a scale
/// near `f32::MAX / qmax` decoded to +Inf (the parse docs promise every code decodes finite).
#[test]
fn the_top_code_of_an_accepted_scale_decodes_finite() {
    for bits in 2..=8u8 {
        let q = qmax(bits as u32) as f32;
        let top = ((1u32 << bits) - 1) as u8;
        // A scale for which qmax · s is finite but (qmax + 1) · s overflows: rejected.
        let s = largest_scale_for(q);
        assert!((s * (q + 1.0)).is_infinite(), "bits={bits}");
        let seg = one_value_v2(bits, s, top);
        assert_eq!(
            SegmentHeader::parse(&seg),
            Err(Error::CorruptSegment {
                field: SegmentField::Scale
            }),
            "bits={bits}"
        );
        let mut out = Vec::new();
        assert!(segment::decode(&seg, &mut out).is_err());
        // The largest accepted scale: every code, the top one included, decodes finite.
        let s = largest_scale_for(q + 1.0);
        for code in [0u8, top / 2, top - 1, top] {
            let seg = one_value_v2(bits, s, code);
            let mut out = Vec::new();
            segment::decode(&seg, &mut out).unwrap_or_else(|e| panic!("bits={bits}: {e}"));
            assert!(out[0].is_finite(), "bits={bits} code={code}: {}", out[0]);
            let frame = segment::decode_frame(&seg, 0).unwrap();
            assert!(frame[0].is_finite());
        }
    }
    // Width 1 (qmax 0): codes decode to 0 and 1 · scale, finite for any finite scale.
    let seg = one_value_v2(1, f32::MAX, 1);
    let mut out = Vec::new();
    segment::decode(&seg, &mut out).unwrap();
    assert_eq!(out, [f32::MAX]);
}

/// The encoder side of the fix above: frames at the very top of the f32 range still compress
/// within bound into segments the decoder accepts, at every width and kernel set.
#[test]
fn frames_at_the_top_of_the_f32_range_still_round_trip() {
    for scalar in [false, true] {
        kernels::force_scalar(scalar);
        for bits in [8u8, 7, 5, 3] {
            let frames: Vec<Vec<f32>> = vec![
                vec![
                    f32::MAX,
                    -f32::MAX,
                    3.3e38,
                    0.0,
                    -1.0,
                    1e38,
                    3.0e38,
                    -3.4e38,
                ],
                vec![f32::MAX; 8],
                vec![-f32::MAX; 8],
                (0..8).map(|i| f32::MAX / (i + 1) as f32).collect(),
                vec![3.2e38, 3.3e38, 3.35e38, 3.4e38, 0.0, 0.0, 0.0, 1.0],
            ];
            for group_len in [1, 3, 8] {
                check_round_trip(&frames, bits, group_len);
            }
        }
    }
    kernels::force_scalar(false);
}

/// Found by `compressor_roundtrip`: a frame whose values all underflow to 0 when divided by the
/// open segment's (much larger) scale measured as an all-zero frame with zero error and joined
/// the segment, then decoded as zeros (relative error 1). It must start a new segment instead.
/// (Fixed in `quantizer::quantize_frame`: such groups are measured on the values themselves.)
#[test]
fn a_frame_that_vanishes_under_the_segment_scale_starts_a_new_segment() {
    // The fuzzer's case: 8 bits, one value, 7.7e-27 after a frame that set a huge scale.
    for bits in [8u8, 7, 5, 3] {
        for (big, tiny) in [
            (1e30f32, 7.707_719_5e-27f32),
            (1e21, 7.707_719_5e-27),
            (3e38, 1e-10),
            (1e10, 1e-38),
        ] {
            for n in [1usize, 8, 13] {
                let frames = vec![
                    vec![big; n],
                    vec![tiny; n],
                    (0..n)
                        .map(|i| if i % 2 == 0 { -tiny } else { 0.0 })
                        .collect(),
                    vec![0.0; n],
                    vec![big; n],
                ];
                let (_, segments) = check_round_trip(&frames, bits, 8);
                assert!(segments >= 3, "bits={bits} big={big} tiny={tiny} n={n}");
            }
        }
    }
}

/// Found by `compressor_roundtrip` after the fix above: the same underflow in one group only.
/// A frame whose maximum sits in a group with a tiny (subnormal) scale, measured exactly, while
/// another group's values vanish under that group's huge scale, measured as zero error. The
/// frame joined the segment and the vanished group decoded as zeros (relative error ≈ 1).
#[test]
fn a_group_that_vanishes_under_its_scale_is_measured_exactly() {
    for bits in [8u8, 7, 5, 3] {
        // Group 0 calibrates on a subnormal, group 1 on a huge value.
        let frames = vec![
            vec![1e-39f32, 1e30],
            vec![1e-39, 1e-39],
            vec![1e-39, 0.0],
            vec![2e-39, -1e-39],
        ];
        let (_, segments) = check_round_trip(&frames, bits, 1);
        assert!(segments >= 2, "bits={bits}");
        // Wider groups and longer frames: the vanished group sits between measured ones.
        let n = 24;
        let calib: Vec<f32> = (0..n)
            .map(|i| {
                if (8..16).contains(&i) {
                    3e37
                } else {
                    1e-39 * (1 + i % 5) as f32
                }
            })
            .collect();
        let small: Vec<f32> = (0..n).map(|i| 1.1e-39 * (1 + i % 3) as f32).collect();
        check_round_trip(&[calib.clone(), small.clone(), calib, small], bits, 8);
    }

    // The fuzzer's case, replayed: 3 bits, 9 values in groups of 5, headroom from drift 256.
    let policy = TierPolicy {
        drift_pct_q8: 256,
        group_len: 5,
        max_segment_frames: 2,
        ..TierPolicy::default()
    };
    let e = 1.175_494_4e-38f32;
    let mut c = TemporalTensorCompressor::new(policy, 9, 0).unwrap();
    let mut out = Vec::new();
    let mut pushed: Vec<Vec<f32>> = Vec::new();
    let mut push =
        |c: &mut TemporalTensorCompressor, frame: Vec<f32>, ts: u32, out: &mut Vec<u8>| {
            c.push_frame(&frame, ts, out).unwrap();
            pushed.push(frame);
        };
    push(&mut c, vec![0.0; 9], 1, &mut out);
    c.touch(1);
    c.touch(1);
    push(&mut c, vec![e; 9], 1, &mut out);
    push(
        &mut c,
        vec![e, e, e, e, e, 24.5, e, 2.3e32, 0.0],
        128,
        &mut out,
    );
    c.touch(0);
    let tiny = vec![
        1.175_361_6e-38,
        1.175_855_2e-38,
        1.175_292_6e-38,
        1.175_535_4e-38,
        1.174_953_7e-38,
        1.175_613_7e-38,
        0.0,
        1.174_716_2e-38,
        1.175_472_2e-38,
    ];
    push(&mut c, tiny, 257, &mut out);
    c.flush(&mut out);
    let (headers, values) = decode_all(&out);
    assert_eq!(values.len(), pushed.len() * 9);
    let mut at = 0;
    for h in &headers {
        let bound = error_bound(h.bits as u32).unwrap() as f64;
        for _ in 0..h.frame_count {
            let err = relative_error(&pushed[at / 9], &values[at..at + 9]);
            assert!(
                err < bound,
                "frame {}: error {err} at {} bits",
                at / 9,
                h.bits
            );
            at += 9;
        }
    }
}

/// Found by `compressor_roundtrip`: a subnormal frame (max 245 steps of 2⁻¹⁴⁹) calibrated at 8
/// bits with headroom 2 got a scale of 4 steps and an error of 2 steps (0.82 %), yet `within`
/// accepted it: `target * max_abs` was computed in f32, subnormal, and rounded up to 2 steps.
#[test]
fn subnormal_frames_are_measured_exactly() {
    let ulp = f32::from_bits(1);
    // The fuzzer's frame, and the policy that produced it.
    let frame = vec![
        -3.43e-43f32,
        -3.27e-43,
        -2.5e-44,
        -1.61e-43,
        -3.5e-44,
        -1.58e-43,
        2.91e-43,
        1.58e-43,
        -1.82e-43,
    ];
    let policy = TierPolicy {
        drift_pct_q8: 256,
        group_len: 77,
        max_segment_frames: 2,
        ..TierPolicy::default()
    };
    let mut c = TemporalTensorCompressor::new(policy, 9, 0).unwrap();
    c.set_access(3, 1);
    let mut out = Vec::new();
    c.push_frame(&frame, 1, &mut out).unwrap();
    c.flush(&mut out);
    let (headers, values) = decode_all(&out);
    assert_eq!(headers[0].bits, 8);
    let err = relative_error(&frame, &values);
    assert!(err < 0.008, "error {err}");

    // Every subnormal maximum from 1 to 600 steps, at every width and drift.
    for bits in [8u8, 7, 5, 3] {
        for drift in [0u32, 26, 128, 256] {
            for m in 1..=600u32 {
                let frame: Vec<f32> = [m, m / 2 + 1, m / 3, 18 % (m + 1), 1, 0, m / 7 * 5]
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        if i % 2 == 0 {
                            -(k as f32 * ulp)
                        } else {
                            k as f32 * ulp
                        }
                    })
                    .collect();
                let (policy, count) = pinned(bits, 64);
                let policy = TierPolicy {
                    drift_pct_q8: drift,
                    ..policy
                };
                let mut c = TemporalTensorCompressor::new(policy, frame.len() as u32, 0).unwrap();
                c.set_access(count, 0);
                let mut out = Vec::new();
                c.push_frame(&frame, 0, &mut out).unwrap();
                c.flush(&mut out);
                let (_, values) = decode_all(&out);
                let err = relative_error(&frame, &values);
                let bound = error_bound(bits as u32).unwrap() as f64;
                assert!(err < bound, "bits={bits} drift={drift} m={m}: error {err}");
            }
        }
    }
}

/// A truly all-zero frame still joins an open segment (the fix only rejects false zeros).
#[test]
fn an_all_zero_frame_still_joins_the_open_segment() {
    let mut c = compressor(8, 16, 8);
    let mut out = Vec::new();
    c.push_frame(&[1e30; 16], 0, &mut out).unwrap();
    assert_eq!(c.push_frame(&[0.0; 16], 0, &mut out), Ok(0));
    assert_eq!(c.push_frame(&[-0.0; 16], 0, &mut out), Ok(0));
    assert_eq!(c.active_frames(), 3);
}

#[test]
fn tensor_len_beyond_the_maximum_is_limit_exceeded() {
    let p = TierPolicy::default();
    assert!(TemporalTensorCompressor::new(p, MAX_TENSOR_LEN, 0).is_ok());
    for len in [MAX_TENSOR_LEN + 1, u32::MAX] {
        let e = TemporalTensorCompressor::new(p, len, 0).unwrap_err();
        assert_eq!(
            e,
            Error::LimitExceeded {
                what: "tensor_len",
                max: MAX_TENSOR_LEN as u64,
                requested: len as u64
            }
        );
        assert_eq!(e.code(), "LIMIT_EXCEEDED");
    }
}

#[test]
fn group_len_and_segment_frames_beyond_the_maximums_are_invalid_config() {
    let ok = TierPolicy::default();
    let at_max = TierPolicy {
        group_len: MAX_GROUP_LEN,
        max_segment_frames: MAX_SEGMENT_FRAMES,
        ..ok
    };
    assert_eq!(at_max.validate(), Ok(()));
    let c = TemporalTensorCompressor::new(at_max, 100, 0).unwrap();
    assert_eq!(c.policy().group_len, MAX_GROUP_LEN);
    for (policy, field) in [
        (
            TierPolicy {
                group_len: MAX_GROUP_LEN + 1,
                ..ok
            },
            "group_len",
        ),
        (
            TierPolicy {
                group_len: u32::MAX,
                ..ok
            },
            "group_len",
        ),
        (
            TierPolicy {
                max_segment_frames: MAX_SEGMENT_FRAMES + 1,
                ..ok
            },
            "max_segment_frames",
        ),
        (
            TierPolicy {
                max_segment_frames: u32::MAX,
                ..ok
            },
            "max_segment_frames",
        ),
    ] {
        let e = TemporalTensorCompressor::new(policy, 100, 0).unwrap_err();
        assert_eq!(e, Error::InvalidConfig { field });
        assert_eq!(e.code(), "INVALID_CONFIG");
    }
}

/// A group as long as the maximum works end to end (one scale for the whole frame).
#[test]
fn a_group_of_the_maximum_length_round_trips() {
    let frames: Vec<Vec<f32>> = (0..3)
        .map(|t| (0..1000).map(|i| ((i + t) as f32 * 0.01).sin()).collect())
        .collect();
    let (worst, _) = check_round_trip(&frames, 8, MAX_GROUP_LEN);
    assert!(worst < error_bound(8).unwrap() as f64);
}

#[cfg(feature = "ffi")]
mod ffi {
    use super::*;
    use ruvector_temporal_tensor::ffi::*;
    use std::sync::Mutex;

    /// The handle table is global: the test that fills it runs alone among this file's tests.
    static TABLE: Mutex<()> = Mutex::new(());

    /// Handles freed when dropped, so a failing test does not leave the table full for others.
    struct Owned(Vec<u32>);

    impl Drop for Owned {
        fn drop(&mut self) {
            for &h in &self.0 {
                ttc_free(h);
            }
        }
    }

    fn create_with(len: u32, group_len: u32, max_frames: u32) -> (i32, u32) {
        let mut h = 0u32;
        // SAFETY: valid out-pointer.
        let s = unsafe {
            ttc_create_with_policy(len, 0, 512, 64, 7, 26, group_len, max_frames, &mut h)
        };
        (s, h)
    }

    #[test]
    fn ffi_limits_are_coded_statuses() {
        let _guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let limit = Error::LimitExceeded {
            what: "",
            max: 0,
            requested: 0,
        }
        .status();
        let invalid = Error::InvalidConfig { field: "" }.status();
        assert_eq!(create_with(MAX_TENSOR_LEN + 1, 64, 128).0, limit);
        assert_eq!(create_with(u32::MAX, 64, 128).0, limit);
        assert_eq!(create_with(64, MAX_GROUP_LEN + 1, 128).0, invalid);
        assert_eq!(create_with(64, 64, MAX_SEGMENT_FRAMES + 1).0, invalid);
        let (s, h) = create_with(MAX_TENSOR_LEN, MAX_GROUP_LEN, MAX_SEGMENT_FRAMES);
        assert_eq!(s, 0);
        assert_eq!(ttc_free(h), 0);
    }

    /// Fills the handle table to `MAX_LIVE_HANDLES`: one more create is `LIMIT_EXCEEDED` and
    /// changes nothing; freeing one makes room again. (Before the free list, each create scanned
    /// the table, so filling it took about ten minutes; now it is linear.)
    #[test]
    fn live_handles_beyond_the_maximum_are_limit_exceeded() {
        let _guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let start = std::time::Instant::now();
        let mut owned = Owned(Vec::with_capacity(MAX_LIVE_HANDLES));
        let handles = &mut owned.0;
        let mut h = 0u32;
        let status = loop {
            // SAFETY: valid out-pointer.
            let s = unsafe { ttc_create(1, 0, &mut h) };
            if s != 0 {
                break s;
            }
            handles.push(h);
            assert!(
                handles.len() <= MAX_LIVE_HANDLES,
                "more live handles than the maximum"
            );
        };
        // Other test binaries do not share this process; this file's other FFI tests hold
        // the lock, so every slot is ours.
        assert_eq!(handles.len(), MAX_LIVE_HANDLES);
        assert_eq!(
            status,
            Error::LimitExceeded {
                what: "",
                max: 0,
                requested: 0
            }
            .status()
        );
        let mut buf = [0u8; 256];
        let mut written = 0usize;
        // SAFETY: valid buffer.
        let code = unsafe { ttc_last_error(buf.as_mut_ptr(), buf.len(), &mut written) };
        assert_eq!(code, status);
        let message = std::str::from_utf8(&buf[..written]).unwrap();
        assert!(message.contains("live handles"), "{message}");
        // Distinct handles, all usable.
        let mut sorted = handles.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), handles.len());
        assert_eq!(ttc_touch(handles[12345], 7), 0);
        // Freeing one makes room for exactly one more.
        let freed = handles.swap_remove(777);
        assert_eq!(ttc_free(freed), 0);
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { ttc_create(1, 0, &mut h) }, 0);
        assert_ne!(h, freed, "a freed handle is not issued again");
        assert_eq!(ttc_touch(freed, 0), Error::InvalidHandle.status());
        handles.push(h);
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { ttc_create(1, 0, &mut h) }, status);
        for h in handles.drain(..) {
            assert_eq!(ttc_free(h), 0);
        }
        eprintln!(
            "filled and emptied {MAX_LIVE_HANDLES} handles in {:?}",
            start.elapsed()
        );
    }

    /// Many create/free cycles: every handle issued is new, and every freed one stays dead.
    #[test]
    fn create_free_cycles_never_revive_a_handle() {
        let _guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let mut live: Vec<u32> = Vec::new();
        let mut freed: Vec<u32> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut h = 0u32;
        for i in 0..6_000u32 {
            if i % 3 == 2 {
                let victim = live.swap_remove((i as usize * 7) % live.len());
                assert_eq!(ttc_free(victim), 0);
                freed.push(victim);
            } else {
                // SAFETY: valid out-pointer.
                assert_eq!(unsafe { ttc_create(4, 0, &mut h) }, 0);
                assert!(seen.insert(h), "handle {h} issued twice");
                live.push(h);
            }
        }
        for &f in &freed {
            assert_eq!(ttc_touch(f, 0), Error::InvalidHandle.status());
        }
        for h in live.drain(..) {
            assert_eq!(ttc_free(h), 0);
        }
    }

    /// Issue 11 item 12: with 20-bit slots and 12-bit generations, a stale handle named a
    /// compressor again after 4,095 create/free cycles of its slot. Now 100,000 cycles (each
    /// freeing the one compressor it made, the worst case for slot reuse) never revive it.
    #[test]
    fn a_stale_handle_stays_dead_through_many_create_free_cycles() {
        let _guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let mut h = 0u32;
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { ttc_create(4, 0, &mut h) }, 0);
        let stale = h;
        assert_eq!(ttc_free(stale), 0);
        for _ in 0..100_000 {
            // SAFETY: valid out-pointer.
            assert_eq!(unsafe { ttc_create(4, 0, &mut h) }, 0);
            assert_ne!(h, stale);
            assert_eq!(ttc_touch(stale, 0), Error::InvalidHandle.status());
            assert_eq!(ttc_free(h), 0);
        }
    }

    /// The counter wraps past 2³² − 1 to 1 (never 0) and skips handles that are still live.
    #[test]
    fn the_handle_counter_wraps_skipping_zero_and_live_handles() {
        let _guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let mut h = 0u32;
        ruvector_temporal_tensor::ffi::__set_next_handle(1);
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { ttc_create(4, 0, &mut h) }, 0);
        let one = h; // 1, or the first value above it not live
        ruvector_temporal_tensor::ffi::__set_next_handle(u32::MAX);
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { ttc_create(4, 0, &mut h) }, 0);
        assert_eq!(h, u32::MAX);
        let max = h;
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { ttc_create(4, 0, &mut h) }, 0);
        assert!(
            h != 0 && h != one && h != max && h < 1 << 20,
            "wrapped to {h}"
        );
        for x in [one, max, h] {
            assert_eq!(ttc_free(x), 0);
        }
    }
}
