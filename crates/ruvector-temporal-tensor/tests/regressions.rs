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
        let mut handles = Vec::with_capacity(MAX_LIVE_HANDLES);
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
        assert_ne!(h, freed, "a new generation");
        assert_eq!(h & 0xfffff, freed & 0xfffff, "the freed slot is reused");
        handles.push(h);
        // SAFETY: valid out-pointer.
        assert_eq!(unsafe { ttc_create(1, 0, &mut h) }, status);
        for h in handles {
            assert_eq!(ttc_free(h), 0);
        }
        eprintln!(
            "filled and emptied {MAX_LIVE_HANDLES} handles in {:?}",
            start.elapsed()
        );
    }

    /// Many create/free cycles stay fast and reuse slots (the free list stays consistent).
    #[test]
    fn create_free_cycles_reuse_slots() {
        let _guard = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let mut live: Vec<u32> = Vec::new();
        let mut h = 0u32;
        for i in 0..6_000u32 {
            if i % 3 == 2 {
                let victim = live.swap_remove((i as usize * 7) % live.len());
                assert_eq!(ttc_free(victim), 0);
                assert_eq!(ttc_touch(victim, 0), Error::InvalidHandle.status());
            } else {
                // SAFETY: valid out-pointer.
                assert_eq!(unsafe { ttc_create(4, 0, &mut h) }, 0);
                assert!(!live.contains(&h));
                live.push(h);
            }
        }
        let slots: std::collections::BTreeSet<u32> = live.iter().map(|h| h & 0xfffff).collect();
        assert_eq!(slots.len(), live.len(), "no slot holds two live handles");
        for h in live {
            assert_eq!(ttc_free(h), 0);
        }
    }
}
