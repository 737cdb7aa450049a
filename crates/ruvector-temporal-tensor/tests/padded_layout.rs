//! Frame-padded packed segments: the layout some other TQTC writers produce, where every frame
//! starts on a byte boundary (`data_len = frame_count · ceil(tensor_len · bits / 8)`).
//!
//! The segments are built here from ADR-017 §3.3's field table with a bit-at-a-time packer written
//! from the format description (least significant bit first), independent of the crate's
//! `bitpack`. They are pinned as golden vectors in `tests/vectors/padded/` (bytes and decoded
//! values; the Python suite reads the same files). Regenerate with
//! `TTC_BLESS=1 cargo test --test padded_layout`.

use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Error, SegmentField};
use std::fs;
use std::path::PathBuf;

/// f16 bit patterns of the scales used (all normal numbers, exact in f32).
const SCALES_F16: [u16; 6] = [0x3800, 0x3400, 0x3E00, 0x3000, 0x3A00, 0x4000];

/// An f16 normal number's value, from its sign, exponent and mantissa fields.
fn f16_value(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1f) as i32;
    let mant = (bits & 0x3ff) as f32;
    sign * (1.0 + mant / 1024.0) * 2f32.powi(exp - 15)
}

struct Case {
    bits: u32,
    tensor_len: u32,
    group_len: u32,
    frames: u32,
}

impl Case {
    fn name(&self) -> String {
        format!(
            "padded-{}bit-n{}-f{}",
            self.bits, self.tensor_len, self.frames
        )
    }
    fn scale_count(&self) -> u32 {
        self.tensor_len.div_ceil(self.group_len)
    }
    /// Codes of every frame, from a small LCG (any value in `0..2^bits`).
    fn codes(&self) -> Vec<Vec<u8>> {
        let mut state = self.bits * 7919 + self.tensor_len * 31 + self.frames;
        (0..self.frames)
            .map(|_| {
                (0..self.tensor_len)
                    .map(|_| {
                        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        ((state >> 16) % (1 << self.bits)) as u8
                    })
                    .collect()
            })
            .collect()
    }
    fn scales(&self) -> Vec<u16> {
        (0..self.scale_count() as usize)
            .map(|g| SCALES_F16[(g + self.bits as usize) % SCALES_F16.len()])
            .collect()
    }
    /// `value = (code − qmax) · scale`, qmax = 2^(bits−1) − 1 (ADR-017 §3.1).
    fn expected_values(&self) -> Vec<f32> {
        let qmax = (1i32 << (self.bits - 1)) - 1;
        let scales = self.scales();
        self.codes()
            .iter()
            .flat_map(|frame| {
                frame.iter().enumerate().map(|(i, &c)| {
                    (c as i32 - qmax) as f32 * f16_value(scales[i / self.group_len as usize])
                })
            })
            .collect()
    }
    /// A version-1 segment; `padded` starts every frame on a byte boundary.
    fn segment(&self, padded: bool) -> Vec<u8> {
        let mut bit_stream: Vec<bool> = Vec::new();
        for frame in self.codes() {
            for code in frame {
                for b in 0..self.bits {
                    bit_stream.push(code >> b & 1 == 1);
                }
            }
            while padded && bit_stream.len() % 8 != 0 {
                bit_stream.push(false);
            }
        }
        let mut data = vec![0u8; bit_stream.len().div_ceil(8)];
        for (i, bit) in bit_stream.iter().enumerate() {
            if *bit {
                data[i / 8] |= 1 << (i % 8);
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(b"TQTC");
        out.push(1);
        out.push(self.bits as u8);
        for v in [
            self.group_len,
            self.tensor_len,
            self.frames,
            self.scale_count(),
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for s in self.scales() {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }
}

/// 3/5/7-bit, two tensor lengths whose `tensor_len · bits` is not a multiple of 8, one frame and
/// nine (with nine frames the padded and unpadded lengths always differ).
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for bits in [3, 5, 7] {
        for (tensor_len, group_len) in [(5, 4), (21, 8)] {
            for frames in [1, 9] {
                cases.push(Case {
                    bits,
                    tensor_len,
                    group_len,
                    frames,
                });
            }
        }
    }
    cases
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/padded")
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn bits_of(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn padded_golden_vectors_decode_on_every_path() {
    let bless = std::env::var_os("TTC_BLESS").is_some();
    let mut entries = Vec::new();
    for case in cases() {
        let name = case.name();
        let bytes = case.segment(true);
        let expected = case.expected_values();
        let n = case.tensor_len as usize;
        let stride = (n * case.bits as usize).div_ceil(8);
        let header = SegmentHeader::parse(&bytes).unwrap();
        assert_eq!(header.data_len as usize, case.frames as usize * stride);
        assert_eq!(header.byte_len, bytes.len());
        assert_eq!(header.frame_padded, case.frames > 1, "{name}");

        // decode (appending), decode_into, decode_frame_into for every frame.
        let mut decoded = vec![9.0];
        assert_eq!(segment::decode(&bytes, &mut decoded), Ok(header));
        assert_eq!(bits_of(&decoded[1..]), bits_of(&expected), "{name}");
        let mut into = vec![0f32; expected.len()];
        assert_eq!(
            segment::decode_into(&bytes, &mut into),
            Ok((header, expected.len()))
        );
        assert_eq!(bits_of(&into), bits_of(&expected));
        for f in 0..case.frames as usize {
            let mut one = vec![0f32; n];
            segment::decode_frame_into(&bytes, f as u64, &mut one).unwrap();
            assert_eq!(bits_of(&one), bits_of(&expected[f * n..(f + 1) * n]));
        }
        // The unpadded layout of the same codes decodes to the same values.
        let mut unpadded = Vec::new();
        segment::decode(&case.segment(false), &mut unpadded).unwrap();
        assert_eq!(bits_of(&unpadded), bits_of(&expected));
        // Back to back with a segment of the other layout.
        let mut file = bytes.clone();
        file.extend_from_slice(&case.segment(false));
        let parts: Vec<_> = segment::split_segments(&file)
            .map(|p| p.unwrap().0.byte_len)
            .collect();
        assert_eq!(parts, vec![bytes.len(), case.segment(false).len()]);

        let tqtc = dir().join(format!("{name}.tqtc"));
        let dec = dir().join(format!("{name}.decoded.f32"));
        if bless {
            fs::create_dir_all(dir()).unwrap();
            fs::write(&tqtc, &bytes).unwrap();
            fs::write(&dec, f32_bytes(&expected)).unwrap();
        } else {
            assert_eq!(fs::read(&tqtc).unwrap(), bytes, "{name}: bytes changed");
            assert_eq!(fs::read(&dec).unwrap(), f32_bytes(&expected), "{name}");
        }
        entries.push(format!(
            concat!(
                "    {{\"name\": \"{0}\", \"bits\": {1}, \"tensorLen\": {2}, \"groupLen\": {3}, ",
                "\"frames\": {4}, \"tqtc\": \"{0}.tqtc\", \"decoded\": \"{0}.decoded.f32\"}}"
            ),
            name, case.bits, case.tensor_len, case.group_len, case.frames
        ));
    }
    let manifest = format!("{{\n  \"cases\": [\n{}\n  ]\n}}\n", entries.join(",\n"));
    let path = dir().join("manifest.json");
    if bless {
        fs::write(path, manifest).unwrap();
    } else {
        assert_eq!(fs::read_to_string(path).unwrap(), manifest);
    }
}

#[test]
fn data_len_matching_neither_layout_is_corrupt() {
    let case = Case {
        bits: 3,
        tensor_len: 21,
        group_len: 8,
        frames: 9,
    };
    let bytes = case.segment(true);
    let at = 22 + 2 * case.scale_count() as usize;
    // 72 bytes padded, 71 unpadded: 70 and 73 are neither.
    for delta in [-2i64, 1] {
        let mut bad = bytes.clone();
        let len = (bytes.len() - at - 4) as i64 + delta;
        bad[at..at + 4].copy_from_slice(&(len as u32).to_le_bytes());
        bad.resize(at + 4 + len as usize, 0);
        assert_eq!(
            SegmentHeader::parse(&bad),
            Err(Error::CorruptSegment {
                field: SegmentField::DataLen
            })
        );
    }
    // Truncated padded data is reported as such, on every path.
    let short = &bytes[..bytes.len() - 1];
    let err = Error::Truncated {
        needed: bytes.len() as u64,
        available: bytes.len() as u64 - 1,
    };
    assert_eq!(SegmentHeader::parse(short), Err(err));
    assert_eq!(segment::decode(short, &mut Vec::new()), Err(err));
    assert_eq!(segment::decode_frame(short, 8), Err(err));
}

#[test]
fn lengths_that_coincide_are_read_as_the_adr_layout() {
    // 7 bits × 1 value × 2 frames: both layouts take 2 bytes; the ADR's unpadded layout wins.
    let case = Case {
        bits: 7,
        tensor_len: 1,
        group_len: 1,
        frames: 2,
    };
    let unpadded = case.segment(false);
    assert_eq!(unpadded.len(), case.segment(true).len());
    let header = SegmentHeader::parse(&unpadded).unwrap();
    assert!(!header.frame_padded);
    let mut out = Vec::new();
    segment::decode(&unpadded, &mut out).unwrap();
    assert_eq!(bits_of(&out), bits_of(&case.expected_values()));
}

#[test]
fn the_encoder_writes_the_unpadded_layout() {
    use ruvector_temporal_tensor::{TemporalTensorCompressor, TierPolicy};
    let mut c = TemporalTensorCompressor::new(TierPolicy::default(), 5, 0).unwrap();
    c.set_access(0, 0); // cold: 3-bit
    let mut out = Vec::new();
    for t in 0..4 {
        let frame: Vec<f32> = (0..5).map(|i| i as f32 * 0.1 + 0.05).collect();
        c.push_frame(&frame, t, &mut out).unwrap();
    }
    c.flush(&mut out);
    let h = SegmentHeader::parse(&out).unwrap();
    assert_eq!(h.bits, 3);
    assert_eq!(h.frame_count, 4);
    assert!(!h.frame_padded);
    assert_eq!(h.data_len as u64, (5u64 * 4 * 3).div_ceil(8));
}

#[cfg(feature = "ffi")]
#[test]
fn the_c_abi_decodes_padded_segments() {
    use ruvector_temporal_tensor::ffi::{
        ttc_decode_frame, ttc_decode_segment, ttc_segment_info, TtcSegmentInfo,
    };
    for case in cases().into_iter().filter(|c| c.frames > 1) {
        let bytes = case.segment(true);
        let expected = case.expected_values();
        let mut out = vec![0f32; expected.len()];
        let mut written = 0usize;
        // SAFETY: valid buffers of the given lengths.
        let status = unsafe {
            ttc_decode_segment(
                bytes.as_ptr(),
                bytes.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut written,
            )
        };
        assert_eq!((status, written), (0, expected.len()));
        assert_eq!(bits_of(&out), bits_of(&expected));
        let n = case.tensor_len as usize;
        let last = case.frames - 1;
        let mut frame = vec![0f32; n];
        // SAFETY: as above.
        let status = unsafe {
            ttc_decode_frame(
                bytes.as_ptr(),
                bytes.len(),
                last,
                frame.as_mut_ptr(),
                n,
                &mut written,
            )
        };
        assert_eq!(status, 0);
        assert_eq!(bits_of(&frame), bits_of(&expected[last as usize * n..]));
        let mut info = TtcSegmentInfo::default();
        // SAFETY: as above.
        let status = unsafe { ttc_segment_info(bytes.as_ptr(), bytes.len(), &mut info) };
        assert_eq!(status, 0);
        assert_eq!(info.byte_length as usize, bytes.len());
        assert_eq!(info.frame_count, case.frames);
    }
}
