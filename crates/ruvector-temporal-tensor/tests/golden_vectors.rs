//! Golden vectors pin the TQTC bytes for every backend.
//!
//! `tests/vectors/manifest.json` lists cases; each has raw little-endian `f32` input frames, the
//! segments the compressor must produce from them (byte for byte), and the decoded values (bit
//! for bit). The Node and WASM suites read the same files. To regenerate after an intended
//! format change: `TTC_BLESS=1 cargo test --test golden_vectors`.

mod common;
use common::*;
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Format, TemporalTensorCompressor, TierPolicy};
use std::fs;
use std::path::PathBuf;

struct Case {
    name: &'static str,
    format: Format,
    keyframe_interval: u32,
    bits: u8,
    tensor_len: usize,
    group_len: u32,
    frames: Vec<Vec<f32>>,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng::new(42);
    let mut normal = |n: usize, k: f32| -> Vec<f32> { (0..n).map(|_| k * rng.normal()).collect() };
    let base = normal(20, 1.0);
    let stable: Vec<Vec<f32>> = (0..4)
        .map(|t| base.iter().map(|v| v * (1.0 + 0.01 * t as f32)).collect())
        .collect();
    let tiny: Vec<Vec<f32>> = (0..3).map(|_| normal(20, 1e-9)).collect();
    let drifting = vec![
        base.clone(),
        base.iter().map(|v| v * 4.0).collect(),
        base.clone(),
    ];
    let offsets = normal(24, 2.0);
    let mut state = normal(24, 1.0);
    let walk: Vec<Vec<f32>> = (0..10)
        .map(|_| {
            for (s, d) in state.iter_mut().zip(normal(24, 0.2)) {
                *s += d;
            }
            state.iter().zip(&offsets).map(|(s, o)| s + o).collect()
        })
        .collect();
    let mut cases = Vec::new();
    for bits in [8u8, 7, 5, 3] {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        cases.push(Case {
            name: leak(format!("v1-{bits}bit")),
            format: Format::Packed,
            keyframe_interval: 32,
            bits,
            tensor_len: 20,
            group_len: 8,
            frames: stable.clone(),
        });
        cases.push(Case {
            name: leak(format!("v2-{bits}bit")),
            format: Format::Packed,
            keyframe_interval: 32,
            bits,
            tensor_len: 20,
            group_len: 8,
            frames: tiny.clone(),
        });
        // Coded: a drifting walk over 3 keyframe blocks (prediction, running differences,
        // shared steps), and one with a frame of subnormal magnitude (stored raw).
        cases.push(Case {
            name: leak(format!("coded-{bits}bit")),
            format: Format::Coded,
            keyframe_interval: 4,
            bits,
            tensor_len: 24,
            group_len: 64,
            frames: walk.clone(),
        });
    }
    // Spectrum-like frames (a smooth curve plus noise): predicted from the smoothed previous
    // frame.
    let spectra: Vec<Vec<f32>> = (0..12)
        .map(|t| {
            (0..32)
                .map(|j| {
                    -30.0 + 20.0 * (0.2 * j as f32 + 0.1 * t as f32).sin() + 2.0 * rng.normal()
                })
                .collect()
        })
        .collect();
    for bits in [8u8, 3] {
        cases.push(Case {
            name: Box::leak(format!("coded-smoothed-{bits}bit").into_boxed_str()),
            format: Format::Coded,
            keyframe_interval: 6,
            bits,
            tensor_len: 32,
            group_len: 64,
            frames: spectra.clone(),
        });
    }
    // A third of the values noisy, the rest steady, in the same places every frame: two symbol
    // contexts (two frequency tables) pay.
    let steady: Vec<f32> = (0..96).map(|j| 20.0 + (0.1 * j as f32).sin()).collect();
    let split: Vec<Vec<f32>> = (0..64)
        .map(|_| {
            steady
                .iter()
                .enumerate()
                .map(|(j, &v)| {
                    if j % 3 == 0 {
                        v + 0.5 * rng.normal()
                    } else {
                        v
                    }
                })
                .collect()
        })
        .collect();
    cases.push(Case {
        name: "coded-contexts-8bit",
        format: Format::Coded,
        keyframe_interval: 16,
        bits: 8,
        tensor_len: 96,
        group_len: 64,
        frames: split,
    });
    // Noise whose size changes along the frame, in the same bands every frame: version 5's
    // five activity contexts pay.
    let bands: Vec<Vec<f32>> = (0..96)
        .map(|_| {
            (0..128)
                .map(|j| {
                    let noise = [0.0, 0.25, 1.0, 4.0][j / 32];
                    10.0 + (0.05 * j as f32).sin() + noise * rng.normal()
                })
                .collect()
        })
        .collect();
    cases.push(Case {
        name: "coded-activity-8bit",
        format: Format::Coded,
        keyframe_interval: 16,
        bits: 8,
        tensor_len: 128,
        group_len: 64,
        frames: bands,
    });
    let mut odd = walk[..5].to_vec();
    odd[2] = odd[2].iter().map(|v| v * 1e-41).collect();
    odd[3] = vec![0.0; 24];
    cases.push(Case {
        name: "coded-raw-and-zero-8bit",
        format: Format::Coded,
        keyframe_interval: 32,
        bits: 8,
        tensor_len: 24,
        group_len: 64,
        frames: odd,
    });
    cases.push(Case {
        name: "drift-8bit",
        format: Format::Packed,
        keyframe_interval: 32,
        bits: 8,
        tensor_len: 20,
        group_len: 8,
        frames: drifting,
    });
    cases.push(Case {
        name: "zeros-3bit",
        format: Format::Packed,
        keyframe_interval: 32,
        bits: 3,
        tensor_len: 5,
        group_len: 64,
        frames: vec![vec![0.0; 5]; 2],
    });
    cases
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f32_from(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn manifest_entry(case: &Case, policy: &TierPolicy, access: u32, segments: usize) -> String {
    format!(
        concat!(
            "    {{\"name\": \"{}\", \"bits\": {}, \"tensorLen\": {}, \"frames\": {}, ",
            "\"format\": \"{}\", \"keyframeInterval\": {}, ",
            "\"segments\": {}, \"policy\": {{\"hotMinScore\": {}, \"warmMinScore\": {}, ",
            "\"warmBits\": {}, \"driftPctQ8\": {}, \"groupLen\": {}, \"maxSegmentFrames\": {}}}, ",
            "\"accessCount\": {}, \"lastAccessTs\": 0, \"nowTs\": 0, ",
            "\"input\": \"{}.input.f32\", \"tqtc\": \"{}.tqtc\", \"decoded\": \"{}.decoded.f32\"}}"
        ),
        case.name,
        case.bits,
        case.tensor_len,
        case.frames.len(),
        case.format.name(),
        case.keyframe_interval,
        segments,
        policy.hot_min_score,
        policy.warm_min_score,
        policy.warm_bits,
        policy.drift_pct_q8,
        policy.group_len,
        policy.max_segment_frames,
        access,
        case.name,
        case.name,
        case.name,
    )
}

#[test]
fn golden_vectors_encode_and_decode_byte_for_byte() {
    let bless = std::env::var_os("TTC_BLESS").is_some();
    let mut entries = Vec::new();
    let mut versions_seen = std::collections::BTreeSet::new();
    for case in cases() {
        let (policy, access) = pinned(case.bits, case.group_len);
        let input: Vec<f32> = if bless {
            case.frames.concat()
        } else {
            f32_from(&fs::read(dir().join(format!("{}.input.f32", case.name))).unwrap())
        };
        let mut c =
            TemporalTensorCompressor::with_format(policy, case.tensor_len as u32, 0, case.format)
                .unwrap();
        c.set_keyframe_interval(case.keyframe_interval).unwrap();
        c.set_access(access, 0);
        let frames: Vec<Vec<f32>> = input.chunks(case.tensor_len).map(|f| f.to_vec()).collect();
        let encoded = compress(&mut c, &frames);
        let (headers, decoded) = decode_all(&encoded);
        for h in &headers {
            versions_seen.insert(h.version);
        }
        for (t, frame) in frames.iter().enumerate() {
            let n = case.tensor_len;
            let err = relative_error(frame, &decoded[t * n..(t + 1) * n]);
            assert!(
                err < ruvector_temporal_tensor::quantizer::error_bound(case.bits as u32).unwrap()
                    as f64
            );
        }
        if bless {
            fs::create_dir_all(dir()).unwrap();
            fs::write(
                dir().join(format!("{}.input.f32", case.name)),
                f32_bytes(&input),
            )
            .unwrap();
            fs::write(dir().join(format!("{}.tqtc", case.name)), &encoded).unwrap();
            fs::write(
                dir().join(format!("{}.decoded.f32", case.name)),
                f32_bytes(&decoded),
            )
            .unwrap();
        } else {
            let golden = fs::read(dir().join(format!("{}.tqtc", case.name))).unwrap();
            assert_eq!(encoded, golden, "{}: encoder output changed", case.name);
            let golden_decoded =
                f32_from(&fs::read(dir().join(format!("{}.decoded.f32", case.name))).unwrap());
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&decoded),
                bits(&golden_decoded),
                "{}: decoder output changed",
                case.name
            );
            for part in segment::split_segments(&golden) {
                let (h, seg) = part.unwrap();
                assert_eq!(SegmentHeader::parse(seg).unwrap(), h);
            }
        }
        // Byte 22 (tables − 1): the two contexts, and the five, each written where they pay.
        for (name, tables_less_one) in [("coded-contexts-8bit", 1), ("coded-activity-8bit", 4)] {
            if case.name == name {
                assert!(headers.iter().all(|h| h.version == 5));
                assert_eq!(encoded[22], tables_less_one, "{name}: tables");
            }
        }
        entries.push(manifest_entry(&case, &policy, access, headers.len()));
    }
    assert_eq!(
        versions_seen.into_iter().collect::<Vec<_>>(),
        vec![1, 2, 5],
        "every written version covered"
    );
    let manifest = format!("{{\n  \"cases\": [\n{}\n  ]\n}}\n", entries.join(",\n"));
    let path = dir().join("manifest.json");
    if bless {
        fs::write(path, manifest).unwrap();
    } else {
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            manifest,
            "manifest out of date"
        );
    }
}

/// Version-3 and version-4 coded segments, written by earlier releases
/// (`tests/vectors/coded-v3/`, `coded-v4/`; read, never written now): every frame decodes bit
/// for bit, whole and alone, and the records read as their layout says.
#[test]
fn older_coded_versions_still_decode() {
    for (version, count) in [(3u8, 7), (4, 8)] {
        older_coded_vectors_decode(version, count);
    }
}

fn older_coded_vectors_decode(version: u8, count: usize) {
    let folder = dir().join(format!("coded-v{version}"));
    let manifest = fs::read_to_string(folder.join("manifest.json")).unwrap();
    let names: Vec<&str> = manifest
        .split("\"name\": \"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(names.len(), count);
    for name in names {
        let bytes = fs::read(folder.join(format!("{name}.tqtc"))).unwrap();
        let expected = f32_from(&fs::read(folder.join(format!("{name}.decoded.f32"))).unwrap());
        let (headers, decoded) = decode_all(&bytes);
        assert!(headers.iter().all(|h| h.version == version), "{name}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decoded), bits(&expected), "{name}");
        let n = headers[0].tensor_len as usize;
        let frames = headers.iter().map(|h| h.frame_count as u64).sum::<u64>();
        let mut at = 0usize;
        for part in segment::split_segments(&bytes) {
            let (h, seg) = part.unwrap();
            let records = ruvector_temporal_tensor::coded::frame_records(seg).unwrap();
            assert_eq!(records.len() as u32, h.frame_count);
            for i in 0..h.frame_count as u64 {
                let one = segment::decode_frame(seg, i).unwrap();
                let start = at + i as usize * n;
                assert_eq!(
                    bits(&one),
                    bits(&expected[start..start + n]),
                    "{name} frame {i}"
                );
            }
            at += h.frame_count as usize * n;
        }
        assert_eq!(at as u64, frames * n as u64);
    }
}

/// The error-code table the bindings use, pinned as a file they can read.
#[test]
fn error_codes_file_matches_the_enum() {
    let body: Vec<String> = ruvector_temporal_tensor::Error::CODES
        .iter()
        .map(|(status, code)| format!("  \"{code}\": {status}"))
        .collect();
    let expected = format!("{{\n{}\n}}\n", body.join(",\n"));
    let path = dir().join("error_codes.json");
    if std::env::var_os("TTC_BLESS").is_some() {
        fs::write(&path, &expected).unwrap();
    }
    assert_eq!(fs::read_to_string(path).unwrap(), expected);
}
