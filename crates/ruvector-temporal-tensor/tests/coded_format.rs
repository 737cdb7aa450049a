//! Coded (TQTC v3) segments: round trips within each tier's bound, random access, keyframes,
//! raw fallback, and rejection of damaged bytes.

mod common;

use common::*;
use ruvector_temporal_tensor::coded::{self, DEFAULT_KEYFRAME_INTERVAL};
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Error, Format};

const WIDTHS: [u8; 4] = [8, 7, 5, 3];

/// A slowly drifting random walk with per-channel offsets (like a real activation stream).
fn walk(rng: &mut Rng, frames: usize, n: usize, step: f32) -> Vec<Vec<f32>> {
    let offsets: Vec<f32> = (0..n).map(|_| rng.normal() * 2.0).collect();
    let mut cur: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    (0..frames)
        .map(|_| {
            for v in cur.iter_mut() {
                *v += rng.normal() * step;
            }
            cur.iter().zip(&offsets).map(|(v, o)| v + o).collect()
        })
        .collect()
}

fn load_npy(path: &str) -> Option<(usize, usize, Vec<f32>)> {
    let bytes = std::fs::read(path).ok()?;
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).ok()?;
    let shape = header.split("'shape': (").nth(1)?.split(')').next()?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let data: Vec<f32> = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some((dims[0], dims[1], data))
}

#[test]
fn every_tier_round_trips_within_its_bound() {
    let mut rng = Rng::new(7);
    for &(frames, n) in &[(1usize, 1usize), (3, 7), (100, 512), (70, 384), (33, 1000)] {
        for step in [0.0f32, 0.01, 0.3, 3.0] {
            let stream = walk(&mut rng, frames, n, step);
            for bits in WIDTHS {
                check_round_trip_in(Format::Coded, &stream, bits, 64);
            }
        }
    }
}

/// Spectrum-like frames: a smooth curve along the frame that drifts over time, plus noise (like
/// log-power spectra, whose neighbouring bins are related).
fn spectra(rng: &mut Rng, frames: usize, n: usize, noise: f32) -> Vec<Vec<f32>> {
    (0..frames)
        .map(|t| {
            (0..n)
                .map(|j| {
                    let x = j as f32 / n as f32;
                    -40.0 + 25.0 * (6.0 * x + 0.05 * t as f32).sin() - 20.0 * x
                        + noise * rng.normal()
                })
                .collect()
        })
        .collect()
}

/// The predictor field (`mode & 0x1F`, 255 for raw) of every frame of a coded segment.
fn predictor_fields(seg: &[u8]) -> Vec<u8> {
    coded::frame_records(seg)
        .unwrap()
        .into_iter()
        .map(|(mode, _)| {
            if mode == coded::MODE_RAW {
                mode
            } else {
                mode & 0x1F
            }
        })
        .collect()
}

#[test]
fn smooth_frames_are_predicted_from_the_smoothed_previous_frame() {
    let mut rng = Rng::new(23);
    let stream = spectra(&mut rng, 80, 256, 3.0);
    for bits in WIDTHS {
        check_round_trip_in(Format::Coded, &stream, bits, 64);
        let mut c = compressor_in(Format::Coded, bits, 256, 64);
        let bytes = compress(&mut c, &stream);
        let fields: Vec<u8> = segment::split_segments(&bytes)
            .flat_map(|seg| predictor_fields(seg.unwrap().1))
            .collect();
        assert_eq!(fields.len(), stream.len());
        let smoothed = fields
            .iter()
            .filter(|&&f| {
                (coded::SMOOTHED + 1..=coded::SMOOTHED + coded::MAX_SMOOTHING_PASSES).contains(&f)
            })
            .count();
        assert!(
            smoothed > stream.len() / 2,
            "{bits}-bit: {smoothed} smoothed frames of {}: {fields:?}",
            stream.len()
        );
    }
    // Unrelated neighbours (an embedding-like walk) never pick smoothing.
    let stream = walk(&mut rng, 80, 256, 0.3);
    let mut c = compressor_in(Format::Coded, 8, 256, 64);
    let bytes = compress(&mut c, &stream);
    for seg in segment::split_segments(&bytes) {
        assert!(predictor_fields(seg.unwrap().1)
            .iter()
            .all(|&f| f <= coded::SMOOTHED || f == coded::MODE_RAW));
    }
}

#[test]
fn smoothing_follows_the_documented_filter() {
    use ruvector_temporal_tensor::kernels::coded::smooth;
    let x = [4.0f32, -8.0, 16.0, 1.0, 3.4e38];
    let mut out = [0.0f32; 5];
    smooth(&x, &mut out);
    let f = |l: f32, c: f32, r: f32| (l * 0.25 + r * 0.25) + c * 0.5;
    let expected = [
        f(4.0, 4.0, -8.0),
        f(4.0, -8.0, 16.0),
        f(-8.0, 16.0, 1.0),
        f(16.0, 1.0, 3.4e38),
        f(1.0, 3.4e38, 3.4e38),
    ];
    assert_eq!(out.map(f32::to_bits), expected.map(f32::to_bits));
    assert!(
        out.iter().all(|v| v.is_finite()),
        "no overflow near f32::MAX"
    );
    let mut one = [0.0f32];
    smooth(&[-2.5], &mut one);
    assert_eq!(one, [-2.5]);
    smooth(&[], &mut []);
}

#[test]
fn awkward_magnitudes_stay_within_bound() {
    let n = 97;
    let mut rng = Rng::new(11);
    let mut frames = Vec::new();
    for scale in [
        0.0f32,
        1e-45,
        1e-40,
        1e-38,
        1e-30,
        1e-3,
        1.0,
        1e20,
        1e37,
        3e38,
        f32::MAX,
    ] {
        frames.push((0..n).map(|_| rng.signed() * scale).collect::<Vec<f32>>());
        // Alternating signs at the extremes: predicting from the previous frame overflows.
        frames.push(
            (0..n)
                .map(|i| if i % 2 == 0 { scale } else { -scale })
                .collect(),
        );
        frames.push(
            (0..n)
                .map(|i| if i % 2 == 0 { -scale } else { scale })
                .collect(),
        );
    }
    frames.push(vec![f32::MIN_POSITIVE; n]);
    frames.push((0..n).map(|i| if i == 5 { 1e30 } else { 1e-30 }).collect());
    for bits in WIDTHS {
        check_round_trip_in(Format::Coded, &frames, bits, 64);
    }
}

#[test]
fn any_frame_decodes_alone_touching_at_most_one_block() {
    let mut rng = Rng::new(3);
    let stream = walk(&mut rng, 100, 64, 0.05);
    let mut c = compressor_in(Format::Coded, 8, 64, 64);
    c.set_keyframe_interval(7).unwrap();
    let bytes = compress(&mut c, &stream);
    let (headers, all) = decode_all(&bytes);
    assert_eq!(headers.len(), 1);
    let h = headers[0];
    assert_eq!(
        (h.version, h.keyframe_interval, h.frame_count),
        (coded::VERSION_CODED, 7, 100)
    );
    assert_eq!(h.format(), Format::Coded);
    assert_eq!(h.bound, 0.008);
    for i in 0..100u64 {
        let one = segment::decode_frame(&bytes, i).unwrap();
        assert_eq!(
            one,
            all[i as usize * 64..(i as usize + 1) * 64],
            "frame {i}"
        );
    }
    assert_eq!(
        segment::decode_frame(&bytes, 100),
        Err(Error::FrameOutOfRange {
            index: 100,
            frame_count: 100
        })
    );
    assert_eq!(DEFAULT_KEYFRAME_INTERVAL, 32);
    assert!(c.set_keyframe_interval(0).is_err());
}

#[test]
fn coded_segments_follow_tier_changes_and_the_frame_cap() {
    let mut rng = Rng::new(5);
    let stream = walk(&mut rng, 300, 32, 0.1);
    let mut c = compressor_in(Format::Coded, 7, 32, 64);
    let mut out = Vec::new();
    for f in &stream[..150] {
        c.push_frame(f, 0, &mut out).unwrap();
    }
    // The default cap of 128 frames finished one segment.
    assert_eq!(c.active_frames(), 22);
    c.set_access(u32::MAX, 0); // now hot: 8 bits
    let before = out.len();
    c.push_frame(&stream[150], 0, &mut out).unwrap();
    assert!(out.len() > before);
    assert_eq!(c.active_bits(), Some(8));
    c.flush(&mut out);
    assert_eq!(c.active_frames(), 0);
    let (headers, values) = decode_all(&out);
    let shape: Vec<(u8, u32)> = headers.iter().map(|h| (h.bits, h.frame_count)).collect();
    assert_eq!(shape, vec![(7, 128), (7, 22), (8, 1)]);
    assert_eq!(values.len(), 151 * 32);
}

#[test]
fn errors_leave_the_compressor_unchanged() {
    let mut c = compressor_in(Format::Coded, 5, 16, 64);
    let mut out = Vec::new();
    c.push_frame(&[1.0; 16], 0, &mut out).unwrap();
    let before = c.clone();
    let mut bad = vec![1.0f32; 16];
    bad[9] = f32::NAN;
    assert_eq!(
        c.push_frame(&bad, 0, &mut out),
        Err(Error::NonFinite { index: 9 })
    );
    assert_eq!(
        c.push_frame(&[1.0; 15], 0, &mut out),
        Err(Error::LengthMismatch {
            expected: 16,
            actual: 15
        })
    );
    assert_eq!(c, before);
    // A finished segment that does not fit a caller buffer is reported with its size; the same
    // call with that size succeeds.
    for _ in 0..127 {
        c.push_frame(&[2.0; 16], 0, &mut out).unwrap();
    }
    let before = c.clone();
    let mut small = [0u8; 8];
    let needed = match c.push_frame_into(&[3.0; 16], 0, &mut small) {
        Err(Error::BufferTooSmall { needed, .. }) => needed as usize,
        other => panic!("{other:?}"),
    };
    assert_eq!(c, before);
    let mut exact = vec![0u8; needed];
    assert_eq!(c.push_frame_into(&[3.0; 16], 0, &mut exact), Ok(needed));
    assert_eq!(SegmentHeader::parse(&exact).unwrap().frame_count, 128);
}

#[test]
fn peek_is_a_valid_snapshot_and_pending_len_bounds_it() {
    let mut rng = Rng::new(9);
    let stream = walk(&mut rng, 40, 100, 0.2);
    let mut c = compressor_in(Format::Coded, 8, 100, 64);
    let mut sink = Vec::new();
    for (t, f) in stream.iter().enumerate() {
        c.push_frame(f, 0, &mut sink).unwrap();
        let mut snap = Vec::new();
        let len = c.peek(&mut snap);
        assert!(len <= c.pending_segment_len());
        let mut values = Vec::new();
        segment::decode(&snap, &mut values).unwrap();
        assert_eq!(values.len(), (t + 1) * 100);
    }
    let mut flushed = Vec::new();
    c.flush(&mut flushed);
    let mut snap = Vec::new();
    assert_eq!(c.peek(&mut snap), 0);
    let mut again = Vec::new();
    let mut d = compressor_in(Format::Coded, 8, 100, 64);
    assert_eq!(compress(&mut d, &stream), flushed);
    assert!(again.is_empty());
    again.push(0);
}

#[test]
fn batches_give_the_same_bytes_as_single_pushes() {
    let mut rng = Rng::new(21);
    let stream = walk(&mut rng, 300, 48, 0.05);
    let flat: Vec<f32> = stream.iter().flatten().copied().collect();
    for bits in WIDTHS {
        let mut a = compressor_in(Format::Coded, bits, 48, 64);
        let one = compress(&mut a, &stream);
        let mut b = compressor_in(Format::Coded, bits, 48, 64);
        let mut batch = Vec::new();
        b.push_frames(&flat, 0, &mut batch).unwrap();
        b.flush(&mut batch);
        assert_eq!(one, batch, "bits {bits}");
        let mut c = compressor_in(Format::Coded, bits, 48, 64);
        let mut fixed = vec![0u8; c.max_batch_output_len(300)];
        let len = c.push_frames_into(&flat, 0, &mut fixed).unwrap();
        c.flush(&mut fixed[..len].to_vec());
        let mut tail = Vec::new();
        let mut c2 = compressor_in(Format::Coded, bits, 48, 64);
        c2.push_frames(&flat, 0, &mut tail).unwrap();
        assert_eq!(&fixed[..len], &tail[..]);
    }
}

#[test]
fn every_damaged_byte_is_rejected() {
    let mut rng = Rng::new(13);
    let stream = walk(&mut rng, 40, 24, 0.1);
    let mut c = compressor_in(Format::Coded, 7, 24, 64);
    c.set_keyframe_interval(8).unwrap();
    let bytes = compress(&mut c, &stream);
    assert_eq!(SegmentHeader::parse(&bytes).unwrap().byte_len, bytes.len());
    let mut out = Vec::new();
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[at] ^= flip;
            assert!(
                segment::decode(&bad, &mut out).is_err(),
                "byte {at} ^ {flip:#x}"
            );
            assert!(out.is_empty());
        }
    }
    for len in 0..bytes.len() {
        assert!(
            matches!(
                SegmentHeader::parse(&bytes[..len]),
                Err(Error::Truncated { .. })
            ),
            "length {len}"
        );
    }
}

/// Builds a coded segment around a hand-made body, with a correct checksum.
fn forge(fields: &[(usize, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut seg = vec![0u8; coded::HEADER_LEN];
    seg[..4].copy_from_slice(&0x4354_5154u32.to_le_bytes());
    seg[4] = 3;
    seg[5] = 8;
    seg[6..8].copy_from_slice(&1u16.to_le_bytes());
    seg[8..12].copy_from_slice(&4u32.to_le_bytes());
    seg[12..16].copy_from_slice(&1u32.to_le_bytes());
    seg[16..20].copy_from_slice(&0.008f32.to_le_bytes());
    for (at, value) in fields {
        seg[*at..*at + value.len()].copy_from_slice(value);
    }
    seg.extend_from_slice(body);
    let len = (seg.len() + 4) as u32;
    seg[24..28].copy_from_slice(&len.to_le_bytes());
    let crc = ruvector_temporal_tensor::crc32c::crc32c(&seg);
    seg.extend_from_slice(&crc.to_le_bytes());
    seg
}

#[test]
fn hostile_segments_with_valid_checksums_are_rejected() {
    use ruvector_temporal_tensor::SegmentField as F;
    let corrupt = |field| Err(Error::CorruptSegment { field });
    // One block of one raw frame of 4 values: a valid segment.
    let mut block = vec![255u8];
    for v in [1.0f32, -2.0, 3.0, 0.5] {
        block.extend_from_slice(&v.to_le_bytes());
    }
    block.extend_from_slice(&[0, 0, 1, 0].repeat(4)); // four lanes at 2^16
    let mut lens_and_block = (block.len() as u32).to_le_bytes().to_vec();
    lens_and_block.extend_from_slice(&block);
    let good = forge(&[], &lens_and_block);
    let mut out = Vec::new();
    segment::decode(&good, &mut out).unwrap();
    assert_eq!(out, vec![1.0, -2.0, 3.0, 0.5]);
    let cases: Vec<(Vec<u8>, Result<(), Error>)> = vec![
        (forge(&[(5, &[0])], &lens_and_block), corrupt(F::Bits)),
        (
            forge(&[(6, &[0, 0])], &lens_and_block),
            corrupt(F::KeyframeInterval),
        ),
        (
            forge(&[(8, &[0, 0, 0, 0])], &lens_and_block),
            corrupt(F::TensorLen),
        ),
        (
            forge(&[(8, &[0, 0, 0, 2])], &lens_and_block),
            corrupt(F::TensorLen),
        ),
        (
            forge(&[(12, &[0, 0, 0, 0])], &lens_and_block),
            corrupt(F::FrameCount),
        ),
        (
            forge(&[(16, &f32::NAN.to_le_bytes())], &lens_and_block),
            corrupt(F::Bound),
        ),
        (
            forge(&[(16, &1.0f32.to_le_bytes())], &lens_and_block),
            corrupt(F::Bound),
        ),
        (
            forge(&[(20, &[1, 16])], &lens_and_block),
            corrupt(F::FreqTable),
        ),
        (
            forge(&[(22, &[1, 0])], &lens_and_block),
            corrupt(F::Reserved),
        ),
        (
            forge(&[(20, &[1, 0])], &lens_and_block),
            corrupt(F::FreqTable),
        ),
        (
            forge(&[], &lens_and_block[..lens_and_block.len() - 1]),
            corrupt(F::BlockLen),
        ),
        // Two frames, one block each: the second block's length is missing.
        (
            forge(&[(12, &[2, 0, 0, 0])], &lens_and_block),
            corrupt(F::BlockLen),
        ),
    ];
    for (i, (bytes, expected)) in cases.into_iter().enumerate() {
        let got = segment::decode(&bytes, &mut out).map(|_| ());
        assert_eq!(got, expected, "case {i}");
    }
    // Two frames claimed in a block that holds one.
    let two = forge(&[(6, &[2, 0]), (12, &[2, 0, 0, 0])], &lens_and_block);
    assert!(matches!(
        segment::decode(&two, &mut out),
        Err(Error::CorruptSegment { .. })
    ));
    // A first frame predicted from nothing, an unknown mode, then step-code differences: one
    // that makes the code negative, one beyond the finite codes, a truncated one, an overlong
    // one.
    for (mode, step, field) in [
        (3u8, &[2u8][..], F::FrameMode),
        (17, &[2], F::FrameMode),
        (20, &[2], F::FrameMode),
        (21, &[2], F::FrameMode),
        (0x31, &[2], F::FrameMode),
        (0xB5, &[2], F::FrameMode),
        (0, &[1], F::Step),
        (0, &[0x80, 0xFC, 0x07], F::Step),
        (0, &[0x80], F::Step),
        (0, &[0x82, 0x00], F::Step),
        (0, &[0x80, 0x80, 0x80, 0x01], F::Step),
    ] {
        let mut block = vec![mode];
        block.extend_from_slice(step);
        block.extend_from_slice(&[0, 0, 1, 0].repeat(4));
        let mut body = (block.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&block);
        assert_eq!(
            segment::decode(&forge(&[], &body), &mut out).map(|_| ()),
            corrupt(field)
        );
    }
    // Huge claims are refused before allocating.
    let huge = forge(&[(8, &[0, 0, 0, 1]), (12, &[0, 0, 1, 0])], &lens_and_block);
    assert!(matches!(
        segment::decode(&huge, &mut out),
        Err(Error::LimitExceeded { .. })
    ));
}

/// Frames scattered around one profile (such as token states) are predicted from the mean of
/// the block's earlier frames (mode bit 0x40 in version 4), and decode within bound, whole and
/// one by one.
#[test]
fn frames_around_a_common_profile_use_mean_prediction() {
    let mut rng = Rng::new(33);
    let n = 128;
    let profile: Vec<f32> = (0..n).map(|_| 3.0 * rng.normal()).collect();
    let frames: Vec<Vec<f32>> = (0..40)
        .map(|_| profile.iter().map(|p| p + rng.normal()).collect())
        .collect();
    for bits in [8u8, 3] {
        let mut c = compressor_in(Format::Coded, bits, n as u32, 64);
        let seg = compress(&mut c, &frames);
        let records = coded::frame_records(&seg).unwrap();
        let means = records
            .iter()
            .filter(|r| r.0 & coded::MODE_MEAN != 0)
            .count();
        assert!(means >= 20, "{bits}-bit: {means} of 40 frames by the mean");
        let (_, decoded) = decode_all(&seg);
        let bound = ruvector_temporal_tensor::quantizer::error_bound(bits as u32).unwrap() as f64;
        for (t, f) in frames.iter().enumerate() {
            assert!(relative_error(f, &decoded[t * n..(t + 1) * n]) < bound);
            let one = segment::decode_frame(&seg, t as u64).unwrap();
            assert_eq!(one, decoded[t * n..(t + 1) * n], "frame {t}");
        }
    }
}

/// A version-4 segment's blocks go on one rANS lane when their stream is short and on four
/// otherwise (the low bit of each block's length field), and both decode within bound.
#[test]
fn short_blocks_use_one_lane_and_long_ones_four() {
    let mut rng = Rng::new(21);
    let n = 256;
    // Two blocks of noise (long streams), then two of one repeated frame (almost nothing).
    let mut frames: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..n).map(|_| rng.normal()).collect())
        .collect();
    let still: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    frames.extend((0..8).map(|_| still.clone()));
    let mut c = compressor_in(Format::Coded, 8, n as u32, 64);
    c.set_keyframe_interval(4).unwrap();
    let seg = compress(&mut c, &frames);
    let (headers, decoded) = decode_all(&seg);
    assert_eq!((headers.len(), headers[0].frame_count), (1, 16));
    for (t, f) in frames.iter().enumerate() {
        assert!(
            relative_error(f, &decoded[t * n..(t + 1) * n]) < 0.008,
            "frame {t}"
        );
    }
    let fields = block_fields(&seg);
    let one_lane: Vec<bool> = fields.iter().map(|f| f & 1 == 1).collect();
    assert_eq!(one_lane, [false, false, true, true], "fields {fields:?}");
    assert!(fields[..2]
        .iter()
        .all(|f| (f >> 1) as usize >= coded::ONE_LANE_MAX_BYTES));
}

/// The block fields (`2 · length + one-lane flag`) of a version-4 segment.
fn block_fields(seg: &[u8]) -> Vec<u64> {
    let leb = |at: &mut usize| {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = seg[*at];
            *at += 1;
            v |= ((b & 0x7F) as u64) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return v;
            }
        }
    };
    let symbols = u16::from_le_bytes([seg[20], seg[21]]) as usize;
    let tables = seg[22] as usize + 1;
    let mut at = coded::HEADER_LEN;
    for _ in 0..symbols * tables {
        leb(&mut at);
    }
    let records = leb(&mut at) as usize;
    at += records;
    let k = u16::from_le_bytes([seg[6], seg[7]]) as usize;
    let frames = u32::from_le_bytes(seg[12..16].try_into().unwrap()) as usize;
    (0..frames.div_ceil(k)).map(|_| leb(&mut at)).collect()
}

/// Blocks of more than `ONE_LANE_MAX_SYMBOLS` symbols use four lanes even when they code to
/// almost nothing (one lane is serial: too slow for that many symbols), and shorter ones one.
#[test]
fn one_lane_is_kept_to_short_blocks() {
    let mut rng = Rng::new(22);
    let n = 512;
    let still: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
    let frames: Vec<Vec<f32>> = (0..32).map(|_| still.clone()).collect();
    for (k, one_lane) in [(16u32, false), (8, true)] {
        assert_eq!(
            k as usize * n <= coded::ONE_LANE_MAX_SYMBOLS,
            one_lane,
            "{k} frames of {n}"
        );
        let mut c = compressor_in(Format::Coded, 3, n as u32, 64);
        c.set_keyframe_interval(k).unwrap();
        let seg = compress(&mut c, &frames);
        let fields = block_fields(&seg);
        assert_eq!(fields.len(), 32 / k as usize);
        for f in &fields {
            assert!(
                (f >> 1) < coded::ONE_LANE_MAX_BYTES as u64,
                "short stream {f}"
            );
            assert_eq!(f & 1 == 1, one_lane, "{k}-frame blocks: fields {fields:?}");
        }
        let (_, decoded) = decode_all(&seg);
        for (t, f) in frames.iter().enumerate() {
            assert!(
                relative_error(f, &decoded[t * n..(t + 1) * n]) < 0.3,
                "frame {t}"
            );
        }
    }
}

/// Version-4 layout damage behind a valid checksum: the record stream's length, the block
/// lengths (LEB128) and garbage records are all refused with a coded error, never a panic.
#[test]
fn hostile_version_4_layouts_are_rejected() {
    use ruvector_temporal_tensor::SegmentField as F;
    let mut rng = Rng::new(9);
    let stream = walk(&mut rng, 5, 4, 0.1);
    let mut c = compressor_in(Format::Coded, 8, 4, 64);
    c.set_keyframe_interval(2).unwrap();
    let good = compress(&mut c, &stream);
    let mut out = Vec::new();
    segment::decode(&good, &mut out).unwrap();
    assert_eq!(good[4], coded::VERSION_CODED);
    // Where the parts are: table, record stream length and bytes, three block lengths.
    let symbols = u16::from_le_bytes([good[20], good[21]]) as usize;
    let mut table_end = coded::HEADER_LEN;
    for _ in 0..symbols {
        table_end += if good[table_end] & 0x80 != 0 { 2 } else { 1 };
    }
    assert!(good[table_end] < 0x80, "a short record stream");
    let records_len = good[table_end] as usize;
    let lens_at = table_end + 1 + records_len;
    // Rebuilds a segment from `body` (header fields kept) with a fresh length and checksum.
    let reseal = |mut body: Vec<u8>| {
        body.truncate(body.len() - coded::CHECKSUM_LEN);
        let len = (body.len() + coded::CHECKSUM_LEN) as u32;
        body[24..28].copy_from_slice(&len.to_le_bytes());
        let crc = ruvector_temporal_tensor::crc32c::crc32c(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    };
    let splice = |at: usize, remove: usize, insert: &[u8]| {
        let mut b = good.clone();
        b.splice(at..at + remove, insert.iter().copied());
        reseal(b)
    };
    let corrupt = |field| Err(Error::CorruptSegment { field });
    let decode = |b: &[u8]| segment::decode(b, &mut Vec::new()).map(|_| ());
    // Byte 22 (frequency tables − 1) other than 0, 1 or 4, and byte 23 not zero.
    let with = |at: usize, v: u8| {
        let mut b = good.clone();
        b[at] = v;
        reseal(b)
    };
    assert_eq!(decode(&with(22, 2)), corrupt(F::Reserved));
    assert_eq!(decode(&with(22, 3)), corrupt(F::Reserved));
    assert_eq!(decode(&with(22, 255)), corrupt(F::Reserved));
    // Five tables exist from version 5 on: a version-4 segment announcing them is corrupt.
    let mut v4_five = good.clone();
    (v4_five[4], v4_five[22]) = (4, 4);
    assert_eq!(decode(&reseal(v4_five)), corrupt(F::Reserved));
    assert_eq!(decode(&with(23, 1)), corrupt(F::Reserved));
    // A second table announced but not there: the bytes after the first table are no table.
    assert!(matches!(
        decode(&with(22, 1)),
        Err(Error::CorruptSegment { .. })
    ));
    // The record stream claims more bytes than the segment has; an overlong length field.
    assert_eq!(
        decode(&splice(table_end, 1, &[0xFF, 0xFF, 0xFF, 0xFF, 0x0F])),
        corrupt(F::Records)
    );
    assert_eq!(
        decode(&splice(table_end, 1, &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01])),
        corrupt(F::Records)
    );
    // A block length one too long, and one written with a redundant zero byte.
    let first_len = good[lens_at];
    assert_eq!(
        decode(&splice(lens_at, 1, &[first_len + 1])),
        corrupt(F::BlockLen)
    );
    assert_eq!(
        decode(&splice(lens_at, 1, &[first_len | 0x80, 0])),
        corrupt(F::BlockLen)
    );
    // Every value of every record byte: decoded or refused with a coded error.
    for at in table_end + 1..lens_at {
        for v in [0u8, 0x55, 0xAA, 0xFF] {
            let mut b = good.clone();
            b[at] = v;
            match decode(&reseal(b)) {
                Ok(()) | Err(Error::CorruptSegment { .. }) => {}
                other => panic!("record byte {at} = {v}: {other:?}"),
            }
        }
    }
}

/// Ratio of the coded and packed formats on the real traces in `traces/` (printed; the bound
/// is asserted): `cargo test --release --test coded_format real_trace -- --nocapture`. The
/// committed MiniLM trace is required; the ones `npm run traces` makes are used when present.
#[test]
fn real_trace_ratios() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../traces/");
    let mut paths = vec![format!("{root}minilm-stdlib-384.npy")];
    if let Ok(dir) = std::fs::read_dir(format!("{root}generated")) {
        let mut more: Vec<String> = dir
            .filter_map(|e| e.ok().map(|e| e.path().display().to_string()))
            .filter(|p| p.ends_with(".npy"))
            .collect();
        more.sort();
        paths.extend(more);
    }
    for (i, path) in paths.iter().enumerate() {
        let Some((frames, dim, data)) = load_npy(path) else {
            assert!(i > 0, "{path} is missing");
            continue;
        };
        let stream: Vec<Vec<f32>> = data.chunks_exact(dim).map(|c| c.to_vec()).collect();
        assert_eq!(stream.len(), frames);
        let name = path.rsplit('/').next().unwrap_or(path);
        for bits in WIDTHS {
            let mut ratios = Vec::new();
            for format in [Format::Packed, Format::Coded] {
                let mut c = compressor_in(format, bits, dim as u32, 64);
                let bytes = compress(&mut c, &stream);
                let (_, values) = decode_all(&bytes);
                let bound =
                    ruvector_temporal_tensor::quantizer::error_bound(bits as u32).unwrap() as f64;
                for (t, f) in stream.iter().enumerate() {
                    assert!(relative_error(f, &values[t * dim..(t + 1) * dim]) < bound);
                }
                ratios.push((data.len() * 4) as f64 / bytes.len() as f64);
            }
            println!(
                "{name} {bits}-bit bound: packed {:.3}x, coded {:.3}x",
                ratios[0], ratios[1]
            );
        }
    }
}

#[test]
fn a_bound_override_is_kept_and_recorded() {
    let mut rng = Rng::new(17);
    let stream = walk(&mut rng, 50, 200, 0.2);
    let mut c = compressor_in(Format::Coded, 3, 200, 64);
    c.set_bound(Some(0.05)).unwrap();
    let bytes = compress(&mut c, &stream);
    let (headers, values) = decode_all(&bytes);
    assert!(headers.iter().all(|h| h.bits == 3 && h.bound == 0.05));
    for (t, f) in stream.iter().enumerate() {
        assert!(relative_error(f, &values[t * 200..(t + 1) * 200]) < 0.05);
    }
    for bad in [0.0f32, 1.0, -0.1, f32::NAN] {
        assert_eq!(
            c.set_bound(Some(bad)),
            Err(Error::InvalidConfig { field: "bound" })
        );
    }
    let mut packed = compressor(8, 4, 64);
    assert!(packed.set_bound(Some(0.01)).is_err());
    assert!(packed.set_bound(None).is_ok());
}

#[test]
fn a_compressor_equals_its_clone_after_rejected_attempts() {
    // Alternating extremes make the predicted attempt overflow (non-finite scratch values)
    // before the frame is coded another way; the state compared is what will be written.
    let n = 16;
    let mut c = compressor_in(Format::Coded, 8, n as u32, 64);
    let mut out = Vec::new();
    for k in 0..4 {
        let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
        let frame: Vec<f32> = (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    sign * 3e38
                } else {
                    -sign * 3e38
                }
            })
            .collect();
        c.push_frame(&frame, 0, &mut out).unwrap();
        assert_eq!(c, c.clone());
    }
}

/// At a low rate, a frame that the previous frame's mode codes with no more residual steps
/// keeps that mode, even when another prediction is closer: a fading frame (each 5 % below
/// the last) is best fitted by a smaller weight every time, but at the cold tier's step the
/// full-weight prediction quantizes to the same all-zero residuals, so a change would cost
/// record bits for nothing.
#[test]
fn low_rate_frames_keep_a_finer_previous_step_when_it_codes_no_worse() {
    // Each frame is the previous one 10 % larger, so its own step is 10 % coarser: far beyond
    // what steps are reused for at 512 values (1/64). At the cold bound the growth stays below
    // a step, every residual rounds to 0 with either step, and the first frame's step is kept.
    let n = 512;
    let first: Vec<f32> = (0..n).map(|j| 10.0 + (j as f32 * 0.05).sin()).collect();
    let frames: Vec<Vec<f32>> = (0..4)
        .map(|t| first.iter().map(|v| v * 1.1f32.powi(t)).collect())
        .collect();
    let steps = |bits| {
        let mut c = compressor_in(Format::Coded, bits, n as u32, 64);
        let seg = compress(&mut c, &frames);
        let (_, decoded) = decode_all(&seg);
        for (t, f) in frames.iter().enumerate() {
            let bound = ruvector_temporal_tensor::quantizer::error_bound(bits as u32).unwrap();
            let err = relative_error(f, &decoded[t * n..(t + 1) * n]);
            assert!(err < bound as f64, "{bits}-bit frame {t}: {err}");
        }
        coded::frame_records(&seg)
            .unwrap()
            .iter()
            .map(|r| r.1)
            .collect::<Vec<f32>>()
    };
    let cold = steps(3);
    assert!(cold.iter().all(|&s| s == cold[0]), "cold steps {cold:?}");
    // At the hot tier the residuals are many steps, and each frame takes its own step.
    let hot = steps(8);
    assert!(
        hot.windows(2).filter(|w| w[1] > w[0]).count() >= 2,
        "hot steps {hot:?}"
    );
}

#[test]
fn low_rate_frames_keep_the_previous_mode_when_it_codes_no_worse() {
    let n = 64;
    let first: Vec<f32> = (0..n).map(|j| 10.0 + (j as f32 * 0.3).sin()).collect();
    let mut frames = vec![first.clone(), first];
    for _ in 0..4 {
        let next: Vec<f32> = frames.last().unwrap().iter().map(|v| v * 0.95).collect();
        frames.push(next);
    }
    let mut c = compressor_in(Format::Coded, 3, n as u32, 64);
    let seg = compress(&mut c, &frames);
    let modes: Vec<u8> = coded::frame_records(&seg)
        .unwrap()
        .iter()
        .map(|r| r.0)
        .collect();
    assert!(modes[1..].iter().all(|&m| m == modes[1]), "modes {modes:?}");
    let (_, decoded) = decode_all(&seg);
    for (t, f) in frames.iter().enumerate() {
        assert!(
            relative_error(f, &decoded[t * n..(t + 1) * n]) < 0.3,
            "frame {t}"
        );
    }
    // At the hot tier the residuals are large, and the closer weights win.
    let mut c = compressor_in(Format::Coded, 8, n as u32, 64);
    let seg = compress(&mut c, &frames);
    let hot: Vec<u8> = coded::frame_records(&seg)
        .unwrap()
        .iter()
        .map(|r| r.0)
        .collect();
    assert!(hot[2..].iter().any(|&m| m != hot[1]), "hot modes {hot:?}");
}
