//! The TQTC byte format: exact layout, and rejection of every kind of malformed input.

mod common;
use common::*;
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Error, SegmentField};

fn sample_segment(bits: u8) -> Vec<u8> {
    let mut rng = Rng::new(bits as u64);
    let frames: Vec<Vec<f32>> = (0..3)
        .map(|_| (0..20).map(|_| rng.normal()).collect())
        .collect();
    let mut c = compressor(bits, 20, 8);
    let bytes = compress(&mut c, &vec![frames[0].clone(); 3]);
    assert_eq!(SegmentHeader::parse(&bytes).unwrap().byte_len, bytes.len());
    bytes
}

/// A version-2 segment (tiny magnitudes need f32 scales).
fn sample_v2() -> Vec<u8> {
    let mut c = compressor(8, 20, 8);
    let frame: Vec<f32> = (0..20).map(|i| (i as f32 - 10.0) * 1e-9).collect();
    let bytes = compress(&mut c, &[frame]);
    assert_eq!(bytes[4], 2);
    bytes
}

#[test]
fn header_layout_is_little_endian_at_fixed_offsets() {
    let bytes = sample_segment(5);
    assert_eq!(&bytes[0..4], b"TQTC");
    assert_eq!(bytes[4], 1, "version");
    assert_eq!(bytes[5], 5, "bits");
    assert_eq!(&bytes[6..10], &8u32.to_le_bytes(), "group_len");
    assert_eq!(&bytes[10..14], &20u32.to_le_bytes(), "tensor_len");
    assert_eq!(&bytes[14..18], &3u32.to_le_bytes(), "frame_count");
    assert_eq!(&bytes[18..22], &3u32.to_le_bytes(), "scale_count");
    let data_len = (20 * 3 * 5usize).div_ceil(8) as u32;
    assert_eq!(
        &bytes[28..32],
        &data_len.to_le_bytes(),
        "data_len after 3 f16 scales"
    );
    assert_eq!(bytes.len(), 32 + data_len as usize);

    let v2 = sample_v2();
    let h = SegmentHeader::parse(&v2).unwrap();
    assert_eq!((h.version, h.scale_count), (2, 3));
    assert_eq!(
        &v2[34..38],
        &((20 * 8u32) / 8).to_le_bytes(),
        "data_len after 3 f32 scales"
    );
}

#[test]
fn every_truncation_is_reported_as_truncated() {
    for bytes in [sample_segment(3), sample_segment(8), sample_v2()] {
        for len in 0..bytes.len() {
            match SegmentHeader::parse(&bytes[..len]) {
                Err(Error::Truncated { needed, available }) => {
                    assert_eq!(available, len as u64);
                    assert!(needed > len as u64);
                }
                other => panic!("prefix of {len} bytes: {other:?}"),
            }
        }
        assert!(SegmentHeader::parse(&bytes).is_ok());
    }
}

fn with(mut bytes: Vec<u8>, at: usize, patch: &[u8]) -> Vec<u8> {
    bytes[at..at + patch.len()].copy_from_slice(patch);
    bytes
}

#[test]
fn each_bad_field_is_named() {
    let good = sample_segment(7);
    let corrupt = |field| Err(Error::CorruptSegment { field });
    let cases: Vec<(Vec<u8>, Result<SegmentHeader, Error>)> = vec![
        (with(good.clone(), 0, b"TQTD"), Err(Error::BadMagic)),
        (
            with(good.clone(), 4, &[0]),
            Err(Error::UnsupportedVersion { version: 0 }),
        ),
        (
            with(good.clone(), 4, &[6]),
            Err(Error::UnsupportedVersion { version: 6 }),
        ),
        (with(good.clone(), 5, &[0]), corrupt(SegmentField::Bits)),
        (with(good.clone(), 5, &[9]), corrupt(SegmentField::Bits)),
        (
            with(good.clone(), 6, &0u32.to_le_bytes()),
            corrupt(SegmentField::GroupLen),
        ),
        (
            with(good.clone(), 10, &0u32.to_le_bytes()),
            corrupt(SegmentField::TensorLen),
        ),
        (
            with(good.clone(), 14, &0u32.to_le_bytes()),
            corrupt(SegmentField::FrameCount),
        ),
        (
            with(good.clone(), 18, &4u32.to_le_bytes()),
            corrupt(SegmentField::ScaleCount),
        ),
        (
            with(good.clone(), 28, &999u32.to_le_bytes()),
            corrupt(SegmentField::DataLen),
        ),
        // f16 NaN, +Inf and a negative scale.
        (
            with(good.clone(), 22, &0x7e00u16.to_le_bytes()),
            corrupt(SegmentField::Scale),
        ),
        (
            with(good.clone(), 24, &0x7c00u16.to_le_bytes()),
            corrupt(SegmentField::Scale),
        ),
        (
            with(good.clone(), 26, &0xbc00u16.to_le_bytes()),
            corrupt(SegmentField::Scale),
        ),
        // Another width's data length: frame_count changed.
        (
            with(good.clone(), 14, &4u32.to_le_bytes()),
            corrupt(SegmentField::DataLen),
        ),
    ];
    for (i, (bytes, expected)) in cases.into_iter().enumerate() {
        assert_eq!(SegmentHeader::parse(&bytes), expected, "case {i}");
        let mut out = Vec::new();
        assert!(segment::decode(&bytes, &mut out).is_err());
        assert!(out.is_empty(), "nothing decoded from a bad segment");
    }
    let v2 = sample_v2();
    for bad in [f32::NAN, f32::INFINITY, -1.0, f32::MAX / 100.0] {
        assert_eq!(
            SegmentHeader::parse(&with(v2.clone(), 22, &bad.to_le_bytes())),
            corrupt(SegmentField::Scale)
        );
    }
}

#[test]
fn huge_claims_are_rejected_before_allocating() {
    // A 26-byte header claiming 4 billion values per frame and 4 billion frames.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"TQTC");
    bytes.extend_from_slice(&[1, 8]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // group_len
    bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // tensor_len
    bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // frame_count
    bytes.extend_from_slice(&1u32.to_le_bytes()); // scale_count
    bytes.extend_from_slice(&0x3c00u16.to_le_bytes());
    bytes.extend_from_slice(&u32::MAX.to_le_bytes()); // data_len
    assert_eq!(
        SegmentHeader::parse(&bytes),
        Err(Error::CorruptSegment {
            field: SegmentField::DataLen
        })
    );
    // Scale count claiming 4 billion scales: truncated, no allocation.
    let mut many = bytes.clone();
    many[6..10].copy_from_slice(&1u32.to_le_bytes());
    many[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        SegmentHeader::parse(&many),
        Err(Error::Truncated { .. })
    ));
    // A consistent 1-bit header whose data is missing.
    let mut one_bit = bytes.clone();
    one_bit[5] = 1;
    one_bit[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
    one_bit[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
    one_bit[14..18].copy_from_slice(&8u32.to_le_bytes());
    assert!(matches!(
        SegmentHeader::parse(&one_bit),
        Err(Error::Truncated {
            needed: 4_294_967_323,
            ..
        })
    ));
}

#[test]
fn trailing_bytes_are_not_part_of_a_segment() {
    let a = sample_segment(3);
    let b = sample_segment(8);
    let mut joined = a.clone();
    joined.extend_from_slice(&b);
    assert_eq!(SegmentHeader::parse(&joined).unwrap().byte_len, a.len());
    let parts: Vec<_> = segment::split_segments(&joined)
        .map(|p| p.unwrap().1.to_vec())
        .collect();
    assert_eq!(parts, vec![a.clone(), b]);
    joined.extend_from_slice(b"junk");
    let results: Vec<_> = segment::split_segments(&joined).collect();
    assert_eq!(results.len(), 3);
    assert!(results[2].is_err());
}

#[test]
fn decode_into_reports_the_needed_capacity() {
    let bytes = sample_segment(8);
    let mut small = [0.0f32; 59];
    assert_eq!(
        segment::decode_into(&bytes, &mut small),
        Err(Error::BufferTooSmall {
            needed: 60,
            available: 59
        })
    );
    assert!(small.iter().all(|&v| v == 0.0), "nothing written");
    let mut exact = [0.0f32; 60];
    assert_eq!(segment::decode_into(&bytes, &mut exact).unwrap().1, 60);
    let mut frame = [0.0f32; 19];
    assert!(matches!(
        segment::decode_frame_into(&bytes, 0, &mut frame),
        Err(Error::BufferTooSmall { needed: 20, .. })
    ));
}

#[test]
fn random_corruption_never_panics() {
    let seeds = [
        sample_segment(3),
        sample_segment(5),
        sample_segment(8),
        sample_v2(),
    ];
    let mut rng = Rng::new(2024);
    for round in 0..200_000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next_u64() as u8;
        }
        if rng.below(8) == 0 {
            let keep = rng.below(bytes.len() + 1);
            bytes.truncate(keep);
        }
        let mut out = Vec::new();
        match segment::decode(&bytes, &mut out) {
            Ok(h) => {
                assert_eq!(out.len() as u64, h.value_count());
                assert!(out.iter().all(|v| v.is_finite()));
            }
            Err(_) => assert!(out.is_empty()),
        }
        let _ = segment::decode_frame(&bytes, rng.below(5) as u64);
    }
}
