//! Arbitrary bytes through every segment entry point: `SegmentHeader::parse`, `decode`,
//! `decode_into`, `decode_frame`, `decode_frame_into` and `split_segments`.
//!
//! Both packed layouts (ADR-017's unpadded one and frames padded to whole bytes) are accepted.
//! Oracle: nothing panics; an `Ok` header is consistent with the bytes; `Ok` decodes give
//! exactly `value_count` values, all finite, identical from the scalar and a SIMD set (picked from
//! the input: `common::simd_set`) and
//! from the whole-segment and random-access paths; too-small buffers report the size needed.
//! Coded (v3) bytes go through the coded oracle (`common/coded.rs`, see also `coded_decode`).
#![no_main]

#[path = "common/mod.rs"]
mod common;

#[path = "common/coded.rs"]
mod coded_oracle;

use libfuzzer_sys::fuzz_target;
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{kernels, Error};

fn bits_of(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn check_segment(data: &[u8]) {
    if coded_oracle::is_coded(data) {
        coded_oracle::check(data, false);
        return;
    }
    let parsed = SegmentHeader::parse(data);
    let simd = common::simd_set(data);
    common::use_set(simd);
    let mut best = vec![1.5f32; 3]; // decode appends: prefix must survive
    let decoded = segment::decode(data, &mut best);
    match (&parsed, &decoded) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "parse and decode disagree on the header"),
        (Err(a), Err(b)) => assert_eq!(a, b, "parse and decode disagree on the error"),
        _ => panic!("parse {parsed:?} but decode {decoded:?}"),
    }
    assert_eq!(
        &best[..3],
        &[1.5; 3],
        "decode clobbered the existing contents"
    );
    let header = match parsed {
        Ok(h) => h,
        Err(e) => {
            assert!(Error::CODES.iter().any(|&(s, _)| s == e.status()));
            // The random-access and into-buffer paths report the same error.
            let mut out = [0f32; 4];
            assert_eq!(segment::decode_into(data, &mut out).unwrap_err(), e);
            assert_eq!(segment::decode_frame(data, 0).unwrap_err(), e);
            return;
        }
    };
    // Header consistency.
    assert!(header.byte_len <= data.len());
    assert!((1..=8).contains(&header.bits));
    assert!(header.version == 1 || header.version == 2);
    assert_eq!(
        header.byte_len,
        26 + header.scale_width() * header.scale_count as usize + header.data_len as usize
    );
    assert_eq!(
        header.scale_count,
        header.tensor_len.div_ceil(header.group_len)
    );
    // data_len is one of the two packed layouts; frame-padded only where they differ.
    let frame_bits = header.tensor_len as u64 * header.bits as u64;
    let unpadded = (frame_bits * header.frame_count as u64).div_ceil(8);
    let padded = frame_bits.div_ceil(8) * header.frame_count as u64;
    if header.frame_padded {
        assert_eq!(header.data_len as u64, padded);
        assert_ne!(padded, unpadded, "ambiguous lengths must read as unpadded");
    } else {
        assert_eq!(header.data_len as u64, unpadded);
    }
    assert_eq!(
        SegmentHeader::parse(&data[..header.byte_len]),
        Ok(header),
        "trailing bytes changed the header"
    );
    let values = header.value_count() as usize;
    let best = &best[3..];
    assert_eq!(best.len(), values, "decode wrote value_count values");
    assert!(
        best.iter().all(|v| v.is_finite()),
        "decoded a non-finite value from a valid segment: {header:?}"
    );

    // Scalar kernels decode bit for bit the same.
    kernels::force_scalar(true);
    let mut scalar = Vec::new();
    segment::decode(data, &mut scalar).expect("valid segment");
    common::use_set(simd);
    assert_eq!(
        bits_of(best),
        bits_of(&scalar),
        "scalar and {} kernels differ",
        simd.name()
    );

    // decode_into: exact capacity works, one less reports the need and writes nothing.
    let mut into = vec![7.0f32; values + 1];
    let (h, n) = segment::decode_into(data, &mut into).expect("valid segment");
    assert_eq!((h, n), (header, values));
    assert_eq!(bits_of(&into[..values]), bits_of(best));
    assert_eq!(into[values], 7.0, "decode_into wrote past value_count");
    let mut short = vec![7.0f32; values - 1];
    assert_eq!(
        segment::decode_into(data, &mut short),
        Err(Error::BufferTooSmall {
            needed: values as u64,
            available: values as u64 - 1
        })
    );
    assert!(
        short.iter().all(|&v| v == 7.0),
        "a failed decode_into wrote"
    );

    // Random access: a few frames (first, last, a middle one) match the full decode.
    let n = header.tensor_len as usize;
    let frames = header.frame_count as u64;
    let mut picks = vec![0, frames - 1, frames / 2];
    picks.dedup();
    for index in picks {
        let frame = segment::decode_frame(data, index).expect("frame in range");
        let at = index as usize * n;
        assert_eq!(bits_of(&frame), bits_of(&best[at..at + n]), "frame {index}");
        let mut buf = vec![0f32; n];
        assert_eq!(
            segment::decode_frame_into(data, index, &mut buf),
            Ok(header)
        );
        assert_eq!(bits_of(&buf), bits_of(&frame));
        if n > 1 {
            let mut small = vec![0f32; n - 1];
            assert_eq!(
                segment::decode_frame_into(data, index, &mut small),
                Err(Error::BufferTooSmall {
                    needed: n as u64,
                    available: n as u64 - 1
                })
            );
        }
    }
    assert_eq!(
        segment::decode_frame(data, frames),
        Err(Error::FrameOutOfRange {
            index: frames,
            frame_count: header.frame_count
        })
    );
    assert!(matches!(
        segment::decode_frame(data, u64::MAX),
        Err(Error::FrameOutOfRange { .. })
    ));
}

fuzz_target!(|data: &[u8]| {
    check_segment(data);

    // split_segments: every yielded segment is valid and they tile a prefix of the input.
    let mut consumed = 0usize;
    let mut failed = false;
    for part in segment::split_segments(data) {
        assert!(!failed, "split_segments yielded after an error");
        match part {
            Ok((header, bytes)) => {
                assert_eq!(bytes.len(), header.byte_len);
                assert_eq!(bytes.as_ptr(), data[consumed..].as_ptr());
                consumed += bytes.len();
                check_segment(bytes);
            }
            Err(e) => {
                assert_eq!(SegmentHeader::parse(&data[consumed..]), Err(e));
                failed = true;
            }
        }
    }
    assert!(failed || consumed == data.len());
});
