//! Hostile coded (TQTC v3 and v4) segments through every decoding entry point. The oracle is in
//! `common/coded.rs` (no panic, bounded allocation, `decode` / `decode_into` / `decode_frame`
//! consistent, errors behind the header only when the header parsed).
//!
//! Almost any mutation breaks the CRC-32C, which `parse` checks before anything else, so the
//! input can ask for the checksum to be recomputed to reach the structure behind it. Forms:
//! - input starting with `T` (`"TQTC"`, e.g. the golden vectors): the segment, as it is;
//! - otherwise the first byte holds flags:
//!   - bit 0 clear, *raw*: the segment is `"TQTC"`, version 3 (bit 5 clear) or 4 (bit 5 set),
//!     then the rest of the input;
//!   - bit 0 set, *generated*: the rest drives a coded compressor (tensor length, frames,
//!     keyframe interval, width, bound override, values) to one valid segment, which must decode
//!     with every frame within the bound it records; then up to 8 mutations (byte flips and
//!     sets, interesting u16/u32/f32 writes anywhere or into header fields, insertions,
//!     deletions). Without bit 1, a mutated segment whose magic, version, `byte_len` and length
//!     are intact must fail its checksum;
//!   - bit 1: recompute the checksum (last 4 bytes of the segment = CRC-32C of the bytes before),
//!     bit 2: with `byte_len` (offset 24) set to the whole length, else kept when in range;
//!   - bit 3 (generated): append the unread rest of the input after the segment;
//!   - bit 4: also split two copies back to back;
//!   - bit 7: allow whole decodes of up to `limits::MAX_DECODE_VALUES` values (1 GiB), which
//!     are otherwise only parsed and random-accessed (they are slow).
//!
//! `FUZZ_TRACE=1` prints what was generated and how it was mutated.
#![no_main]

#[path = "common/mod.rs"]
mod common;

#[path = "common/coded.rs"]
mod coded_oracle;

use common::{relative_error, Input};
use libfuzzer_sys::fuzz_target;
use ruvector_temporal_tensor::coded::{self, CHECKSUM_LEN, HEADER_LEN};
use ruvector_temporal_tensor::quantizer::error_bound;
use ruvector_temporal_tensor::segment::{self, SegmentHeader, MAGIC};
use ruvector_temporal_tensor::{Error, Format, SegmentField, TemporalTensorCompressor, TierPolicy};

fn trace() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

macro_rules! trace {
    ($($arg:tt)*) => {
        if trace() {
            eprintln!($($arg)*);
        }
    };
}

fn xorshift(state: &mut u32) -> f32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    (*state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
}

/// A finite frame of `n` values: zeros, a scaled or noisy copy of the previous frame, a
/// constant, noise, a ramp or alternating signs, at an edge magnitude, with edge values spliced in.
fn frame(input: &mut Input, n: usize, previous: &[f32]) -> Vec<f32> {
    let mode = input.u8();
    let mut seed = input.u32() | 1;
    let magnitude = input.f32_finite();
    let mut out: Vec<f32> = match mode % 8 {
        0 => vec![0.0; n],
        1 => {
            let factor = 1.0 + xorshift(&mut seed) * 0.3;
            previous.iter().map(|v| v * factor).collect()
        }
        2 | 3 => previous
            .iter()
            .map(|v| v + magnitude * 0.01 * xorshift(&mut seed))
            .collect(),
        4 => vec![magnitude; n],
        5 => (0..n).map(|i| magnitude * (i as f32 / n as f32)).collect(),
        6 => (0..n)
            .map(|i| if i % 2 == 0 { magnitude } else { -magnitude })
            .collect(),
        _ => (0..n).map(|_| magnitude * xorshift(&mut seed)).collect(),
    };
    for v in out.iter_mut() {
        if !v.is_finite() {
            *v = 0.0;
        }
    }
    for _ in 0..input.u8() % 4 {
        let at = input.usize_below(n);
        out[at] = input.f32_finite();
    }
    out
}

/// A bound override: none, a typical one, or anything the input spells (kept only in (0, 1)).
fn bound(input: &mut Input) -> Option<f32> {
    const TYPICAL: [f32; 8] = [1e-6, 1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.999_999_94];
    match input.u8() % 8 {
        0..=3 => None,
        4 | 5 => Some(TYPICAL[input.u8() as usize % TYPICAL.len()]),
        6 => Some(((input.u32() >> 8) as f32 / (1u32 << 24) as f32).max(f32::MIN_POSITIVE)),
        _ => Some(input.f32_interesting()).filter(|b| *b > 0.0 && *b < 1.0),
    }
}

/// One valid coded segment from the input; checks that it decodes within its recorded bound.
fn generate(input: &mut Input) -> Vec<u8> {
    let n = match input.u8() {
        t @ 0..=199 => 1 + t as usize % 48,
        200..=249 => 1 + input.u16() as usize % 2048,
        _ => 1 + input.u32() as usize % 70_000,
    };
    let frames = (1 + input.u8() as usize % 24).min(((1 << 17) / n).max(1));
    let k = match input.u8() {
        t @ 0..=239 => 1 + t as u32 % 9,
        _ => (1 + input.u16() as u32).min(65_535),
    };
    let bits = [8u8, 7, 5, 3][input.u8() as usize % 4];
    let bound = bound(input);
    let policy = TierPolicy {
        fixed_bits: bits,
        max_segment_frames: 64,
        ..TierPolicy::default()
    };
    let mut c = TemporalTensorCompressor::with_format(policy, n as u32, 0, Format::Coded)
        .expect("valid options");
    c.set_keyframe_interval(k).expect("valid keyframe interval");
    c.set_bound(bound).expect("valid bound");
    let mut stream = Vec::with_capacity(frames * n);
    let mut previous = vec![1.0f32; n];
    for _ in 0..frames {
        let f = frame(input, n, &previous);
        stream.extend_from_slice(&f);
        previous = f;
    }
    trace!("generate n={n} frames={frames} k={k} bits={bits} bound={bound:?}");
    let mut out = Vec::new();
    c.push_frames(&stream, 0, &mut out).expect("finite frames");
    c.flush(&mut out);
    let header = SegmentHeader::parse(&out).expect("the compressor wrote a valid segment");
    assert_eq!(header.byte_len, out.len(), "one segment");
    assert_eq!(
        (
            header.version,
            header.bits,
            header.tensor_len,
            header.frame_count
        ),
        (coded::VERSION_CODED, bits, n as u32, frames as u32)
    );
    assert_eq!(header.keyframe_interval, k);
    let expected_bound = bound.unwrap_or_else(|| error_bound(bits as u32).unwrap());
    assert_eq!(
        header.bound.to_bits(),
        expected_bound.to_bits(),
        "recorded bound"
    );
    let mut decoded = Vec::new();
    segment::decode(&out, &mut decoded).expect("the compressor's segment decodes");
    for (i, (original, got)) in stream
        .chunks_exact(n)
        .zip(decoded.chunks_exact(n))
        .enumerate()
    {
        assert!(got.iter().all(|v| v.is_finite()));
        let err = relative_error(original, got);
        assert!(
            err < header.bound as f64,
            "frame {i}: relative error {err} exceeds the recorded bound {}\noriginal {original:?}\ndecoded {got:?}",
            header.bound
        );
    }
    out
}

/// Header fields: (offset, width in bytes).
const FIELDS: [(usize, usize); 9] = [
    (5, 1),
    (6, 2),
    (8, 4),
    (12, 4),
    (16, 4),
    (20, 2),
    (22, 2),
    (24, 4),
    (28, 2),
];

fn write(data: &mut [u8], at: usize, bytes: &[u8]) {
    let len = data.len();
    let at = at.min(len.saturating_sub(bytes.len()));
    let end = (at + bytes.len()).min(len);
    data[at..end].copy_from_slice(&bytes[..end - at]);
}

/// Applies up to 8 mutations chosen by the input.
fn mutate(input: &mut Input, data: &mut Vec<u8>) {
    for _ in 0..input.u8() % 9 {
        if data.is_empty() {
            return;
        }
        let kind = input.u8();
        let at = input.u16() as usize % data.len();
        match kind % 9 {
            0 => data[at] ^= input.u8() | 1,
            1 => data[at] = input.u8(),
            2 => write(data, at, &input.u32_interesting().to_le_bytes()),
            3 => write(data, at, &input.f32_interesting().to_bits().to_le_bytes()),
            4 => {
                let (off, width) = FIELDS[input.u8() as usize % FIELDS.len()];
                let v = input.u32_interesting().to_le_bytes();
                write(data, off, &v[..width]);
            }
            5 => data.insert(at, input.u8()),
            6 => {
                data.remove(at);
            }
            7 => write(data, at, &(input.u8() as u16 * 16).to_le_bytes()),
            _ => {
                // A small integer (a block length, symbol count, frequency...) nudged.
                let old = u32::from_le_bytes([
                    data[at],
                    *data.get(at + 1).unwrap_or(&0),
                    *data.get(at + 2).unwrap_or(&0),
                    *data.get(at + 3).unwrap_or(&0),
                ]);
                let delta = (input.u8() as i8) as i32;
                write(data, at, &old.wrapping_add(delta as u32).to_le_bytes());
            }
        }
        trace!("mutation {} at {at}", kind % 9);
    }
}

fuzz_target!(|bytes: &[u8]| {
    let (data, big) = match bytes.first() {
        None => return,
        Some(b'T') => {
            if !coded_oracle::is_coded(bytes) {
                return; // packed: segment_decode's business
            }
            (bytes.to_vec(), false)
        }
        Some(&flags) => {
            let mut input = Input::new(&bytes[1..]);
            let mut data;
            if flags & 1 == 0 {
                data = MAGIC.to_le_bytes().to_vec();
                data.push(if flags & 0x20 == 0 { 3 } else { 4 });
                data.extend_from_slice(input.rest());
            } else {
                let original = generate(&mut input);
                data = original.clone();
                mutate(&mut input, &mut data);
                // Magic, version, byte_len and length intact: only the checksum can catch it
                // (a CRC-32C collision is possible in principle, at odds of 2^-32).
                let intact = data.len() == original.len()
                    && data[..5] == original[..5]
                    && data[24..28] == original[24..28];
                if flags & 2 == 0 && intact && data != original {
                    assert_eq!(
                        SegmentHeader::parse(&data),
                        Err(Error::CorruptSegment {
                            field: SegmentField::Checksum
                        }),
                        "a damaged segment passed its checksum"
                    );
                }
                if flags & 8 != 0 {
                    data.extend_from_slice(input.rest());
                }
            }
            if flags & 2 != 0 {
                let whole = flags & 4 != 0;
                // With trailing bytes the generated segment's own byte_len is kept (when intact).
                coded_oracle::patch_checksum(&mut data, whole);
            }
            (data, flags & 0x80 != 0)
        }
    };
    trace!("{} bytes, big={big}", data.len());
    coded_oracle::check(&data, big);
    coded_oracle::check_split(&data);
    if bytes.first() != Some(&b'T')
        && bytes[0] & 0x10 != 0
        && data.len() >= HEADER_LEN + CHECKSUM_LEN
    {
        let mut twice = data.clone();
        twice.extend_from_slice(&data);
        coded_oracle::check_split(&twice);
    }
    ruvector_temporal_tensor::kernels::force_scalar(false);
});
