//! The coded (TQTC v3) decoding oracle, shared by `coded_decode` and `segment_decode`, with a
//! counting global allocator that measures the peak heap a call adds.
//!
//! [`check`] runs a byte string through every entry point (`SegmentHeader::parse`, `decode`,
//! `decode_into`, `decode_frame`, `decode_frame_into`, `split_segments`) and asserts:
//! - nothing panics (ASan catches UB);
//! - `decode` refuses more than `limits::MAX_DECODE_VALUES` values with `LIMIT_EXCEEDED`
//!   without allocating, and otherwise allocates at most its output plus per-frame scratch;
//!   a parse error is returned unchanged by every entry point, without allocating;
//! - `parse` is `Ok` exactly when `decode` gets past the header: then `decode` either succeeds
//!   or fails with `CORRUPT_SEGMENT` on a field behind the header (never a header field, the
//!   checksum, `TRUNCATED`, ...), leaving the output vector as it was;
//! - when `decode` succeeds: every value is finite; `decode_into` into an exact buffer gives the
//!   same bits (and one value less reports the size and writes nothing); every `decode_frame(i)`
//!   succeeds with the same bits as the whole decode (all frames when affordable, else the first,
//!   last, and each block's first and last); the scalar kernels and a SIMD set agree (the set
//!   picked from the input by `common::simd_set`; the including target has `mod common`);
//! - when `decode` fails: the last frame of some block fails too (the first such block with the
//!   same error), since decoding a block's last frame checks the whole block;
//! - trailing bytes change nothing, and `split_segments` tiles a prefix of the input.
#![allow(dead_code)]

use ruvector_temporal_tensor::coded::{is_coded_version, CHECKSUM_LEN, HEADER_LEN};
use ruvector_temporal_tensor::limits::MAX_DECODE_VALUES;
use ruvector_temporal_tensor::segment::{self, SegmentHeader, MAGIC};
use ruvector_temporal_tensor::{kernels, Error, SegmentField};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts live heap bytes and their peak (the fuzz targets run one input at a time).
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: forwards to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`; returns its result and the most heap bytes it held at once beyond what was live
/// before (including what it returns).
pub fn peak_alloc<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    (r, PEAK.load(Relaxed).saturating_sub(base))
}

/// Whole segments up to this many values get every check (all frames, both kernel sets).
pub const FULL_VALUES: u64 = 1 << 18;
/// Symbol decodes spent on random-access checks per segment, at most.
pub const FRAME_WORK: u64 = 1 << 21;
/// Without `big`, segments of more values are parsed and random-accessed but not decoded whole
/// (`decode` would fill up to 1 GiB per run).
pub const BIG_VALUES: u64 = 1 << 22;

pub fn is_coded(bytes: &[u8]) -> bool {
    bytes.len() >= 5 && bytes[..4] == MAGIC.to_le_bytes() && is_coded_version(bytes[4])
}

fn bits_of(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Fields `CodedHeader::parse` checks: a decode error naming one of these means parse missed it.
/// (`freq_table` is checked by both: parse bounds the symbol count, decode reads the table.)
fn is_header_field(field: SegmentField) -> bool {
    matches!(
        field,
        SegmentField::Bits
            | SegmentField::TensorLen
            | SegmentField::FrameCount
            | SegmentField::Checksum
            | SegmentField::ByteLen
            | SegmentField::Reserved
            | SegmentField::Bound
            | SegmentField::KeyframeInterval
    )
}

/// Heap a decode may add besides its output: `prev`, `cur`, the block sum and mean (f32) and
/// symbols (u16) and contexts (u8) per value of a frame, the slot tables (6 bytes a slot) and
/// frequency tables (4 bytes a symbol) of up to `ACTIVITY_TABLES` contexts (version 5), block
/// lengths and offsets, per-block frame records and (versions 4 and 5) the record decoder's
/// models.
fn scratch_allowance(h: &SegmentHeader) -> usize {
    let n = h.tensor_len as usize;
    let blocks = h.frame_count.div_ceil(h.keyframe_interval) as usize;
    let records = h.keyframe_interval.min(h.frame_count) as usize;
    let tables = ruvector_temporal_tensor::coded::ACTIVITY_TABLES;
    19 * n + 16 * (blocks + 1) + 8 * records + tables * (4 + 6) * 4096 + 4096 + 2048
}

/// The frames whose random access is checked, within [`FRAME_WORK`] symbol decodes (a frame at
/// position `p` of its block decodes `p + 1` frames).
fn frames_to_check(h: &SegmentHeader) -> Vec<u64> {
    let (n, f, k) = (
        h.tensor_len as u64,
        h.frame_count as u64,
        h.keyframe_interval as u64,
    );
    let cost = |i: u64| (i % k + 1) * n;
    let blocks = f.div_ceil(k);
    // Every frame: n · Σ (position + 1) over the blocks.
    let full_blocks = f / k;
    let tail = f % k;
    let all = n * (full_blocks * k * (k + 1) / 2 + tail * (tail + 1) / 2);
    if all <= FRAME_WORK {
        return (0..f).collect();
    }
    let mut picks = vec![0, f - 1, f / 2];
    for b in 0..blocks.min(64) {
        picks.push(b * k);
        picks.push(((b + 1) * k).min(f) - 1);
    }
    picks.sort_unstable();
    picks.dedup();
    let mut spent = 0;
    picks.retain(|&i| {
        let c = cost(i);
        let keep = spent + c <= FRAME_WORK || i == 0 && c <= BIG_VALUES;
        if keep {
            spent += c;
        }
        keep
    });
    picks
}

/// `FUZZ_TRACE=1` prints each check's outcome (for replaying inputs and seeing what a corpus
/// reaches).
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some())
}

/// Checks one coded byte string (see the module docs). `big` allows whole decodes of more than
/// [`BIG_VALUES`] values. Returns the decoded values when `decode` succeeded.
pub fn check(data: &[u8], big: bool) -> Option<Vec<f32>> {
    let simd = crate::common::simd_set(data);
    crate::common::use_set(simd);
    let parsed = SegmentHeader::parse(data);
    if tracing() {
        eprintln!("coded check: parse {parsed:?}");
    }
    let header = match parsed {
        Err(e) => {
            assert!(Error::CODES.iter().any(|&(s, _)| s == e.status()));
            // (A mutated version byte may have made it a packed segment.)
            if let (true, Error::CorruptSegment { field }) = (is_coded(data), e) {
                assert!(
                    is_header_field(field) || field == SegmentField::FreqTable,
                    "parse failed on {field:?}"
                );
            }
            // Every entry point reports the same error, allocating nothing (decode_frame
            // allocates its result after parsing only).
            let mut out = vec![1.5f32; 3];
            let (r, peak) = peak_alloc(|| segment::decode(data, &mut out));
            assert_eq!(r, Err(e));
            assert_eq!(peak, 0, "decode allocated {peak} bytes for a bad header");
            assert_eq!(out, [1.5; 3]);
            let mut buf = [0f32; 4];
            let (r, peak) = peak_alloc(|| segment::decode_into(data, &mut buf).map(|_| ()));
            assert_eq!((r, peak), (Err(e), 0), "decode_into");
            let (r, peak) =
                peak_alloc(|| segment::decode_frame_into(data, 0, &mut buf).map(|_| ()));
            assert_eq!((r, peak), (Err(e), 0), "decode_frame_into");
            let (r, peak) = peak_alloc(|| segment::decode_frame(data, 0).map(|_| ()));
            assert_eq!((r, peak), (Err(e), 0), "decode_frame");
            return None;
        }
        Ok(h) => h,
    };

    // The header agrees with the bytes.
    assert!(is_coded_version(header.version));
    assert!((1..=8).contains(&header.bits));
    assert!(header.byte_len <= data.len() && header.byte_len >= HEADER_LEN + CHECKSUM_LEN);
    assert_eq!(
        header.data_len as usize,
        header.byte_len - HEADER_LEN - CHECKSUM_LEN
    );
    assert_eq!((header.group_len, header.scale_count), (0, 0));
    assert!(
        header.bound > 0.0 && header.bound < 1.0,
        "bound {}",
        header.bound
    );
    assert!(header.keyframe_interval >= 1 && header.keyframe_interval <= 65535);
    assert!(header.tensor_len >= 1 && header.frame_count >= 1);
    assert_eq!(
        u32::from_le_bytes(data[24..28].try_into().unwrap()) as usize,
        header.byte_len
    );
    let seg = &data[..header.byte_len];
    assert_eq!(
        SegmentHeader::parse(seg),
        Ok(header),
        "trailing bytes changed the header"
    );
    assert_eq!(
        SegmentHeader::parse(&seg[..seg.len() - 1]),
        Err(Error::Truncated {
            needed: header.byte_len as u64,
            available: header.byte_len as u64 - 1
        })
    );

    let values = header.value_count();
    let scratch = scratch_allowance(&header);

    // decode: refused before allocating beyond the limit.
    if values > MAX_DECODE_VALUES {
        let mut out = vec![1.5f32; 3];
        let (r, peak) = peak_alloc(|| segment::decode(data, &mut out));
        assert_eq!(
            r,
            Err(Error::LimitExceeded {
                what: "decoded values",
                max: MAX_DECODE_VALUES,
                requested: values
            })
        );
        assert_eq!(
            peak, 0,
            "decode allocated {peak} bytes before refusing {values} values"
        );
        assert_eq!(out, [1.5; 3]);
        check_random_access(data, &header, None);
        return None;
    }
    if values > BIG_VALUES && !big {
        check_random_access(data, &header, None);
        return None;
    }

    let mut out = vec![1.5f32; 3]; // decode appends: the prefix must survive
    let (decoded, peak) = peak_alloc(|| segment::decode(data, &mut out));
    // The output grows to hold `values` more (amortized growth may double a tiny vector).
    let out_bytes = 4 * (values as usize + 3).max(6);
    assert!(
        peak <= out_bytes + scratch,
        "decode of {values} values ({header:?}) peaked at {peak} bytes (output {out_bytes}, scratch {scratch})"
    );
    assert!(peak as u64 <= 4 * (MAX_DECODE_VALUES + 6) + scratch as u64);
    assert_eq!(
        &out[..3],
        &[1.5; 3],
        "decode clobbered the existing contents"
    );
    if tracing() {
        eprintln!("coded check: decode {:?}", decoded.map(|_| values));
    }
    match decoded {
        Ok(h) => assert_eq!(h, header),
        Err(e) => {
            match e {
                Error::CorruptSegment { field } => assert!(
                    !is_header_field(field),
                    "parse accepted the header but decode failed on {field:?}"
                ),
                other => panic!("parse accepted the header but decode failed with {other:?}"),
            }
            assert_eq!(out.len(), 3, "a failed decode left values behind");
            // decode_into fails the same way (it may have written the frames before the bad one).
            if values <= FULL_VALUES {
                let mut buf = vec![0f32; values as usize];
                assert_eq!(segment::decode_into(data, &mut buf).map(|_| ()), Err(e));
            }
            check_random_access(data, &header, Some(e));
            return None;
        }
    }
    let best = out.split_off(3);
    assert_eq!(best.len() as u64, values, "decode wrote value_count values");
    assert!(
        best.iter().all(|v| v.is_finite()),
        "decoded a non-finite value: {header:?}"
    );
    check_frames(data, &header, &best);
    if values <= FULL_VALUES {
        // Scalar kernels decode bit for bit the same.
        kernels::force_scalar(true);
        let mut scalar = Vec::new();
        let r = segment::decode(data, &mut scalar);
        crate::common::use_set(simd);
        assert_eq!(r, Ok(header), "scalar kernels");
        assert!(
            bits_of(&best) == bits_of(&scalar),
            "scalar and {} kernels differ",
            simd.name()
        );

        // decode_into: the exact size works, one less reports the need and writes nothing.
        let mut into = vec![7.0f32; values as usize + 1];
        let (r, peak) = peak_alloc(|| segment::decode_into(data, &mut into));
        assert_eq!(r, Ok((header, values as usize)));
        assert!(
            peak <= scratch,
            "decode_into peaked at {peak} bytes (scratch {scratch})"
        );
        assert!(
            bits_of(&into[..values as usize]) == bits_of(&best),
            "decode_into differs"
        );
        assert_eq!(
            into[values as usize], 7.0,
            "decode_into wrote past value_count"
        );
        let mut short = vec![7.0f32; values as usize - 1];
        assert_eq!(
            segment::decode_into(data, &mut short),
            Err(Error::BufferTooSmall {
                needed: values,
                available: values - 1
            })
        );
        assert!(
            short.iter().all(|&v| v == 7.0),
            "a failed decode_into wrote"
        );

        // Trailing bytes change nothing.
        if seg.len() < data.len() {
            let mut alone = Vec::new();
            assert_eq!(segment::decode(seg, &mut alone), Ok(header));
            assert!(
                bits_of(&alone) == bits_of(&best),
                "trailing bytes changed the values"
            );
        }
    }
    // Out of range.
    let frames = header.frame_count as u64;
    for index in [frames, u64::MAX] {
        assert_eq!(
            segment::decode_frame(data, index),
            Err(Error::FrameOutOfRange {
                index,
                frame_count: header.frame_count
            })
        );
    }
    Some(best)
}

/// Random access after a successful whole decode: every checked frame equals its slice.
fn check_frames(data: &[u8], header: &SegmentHeader, best: &[f32]) {
    let n = header.tensor_len as usize;
    let scratch = scratch_allowance(header);
    for index in frames_to_check(header) {
        let (frame, peak) = peak_alloc(|| segment::decode_frame(data, index));
        let frame = frame.unwrap_or_else(|e| {
            panic!("decode succeeded but decode_frame({index}) failed with {e:?}")
        });
        assert!(
            peak <= 4 * n + scratch,
            "decode_frame peaked at {peak} bytes"
        );
        let at = index as usize * n;
        assert!(
            bits_of(&frame) == bits_of(&best[at..at + n]),
            "decode_frame({index}) differs from the whole decode"
        );
        if n > 1 && index == 0 {
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
}

/// Random access without (or after a failed) whole decode: results are `Ok` with finite values
/// or `CORRUPT_SEGMENT` behind the header; `decode_frame` and `decode_frame_into` agree. With
/// `failed = Some(e)`, the first block whose last frame fails (checked while affordable) fails
/// with `e`.
fn check_random_access(data: &[u8], header: &SegmentHeader, failed: Option<Error>) {
    let n = header.tensor_len as usize;
    let (f, k) = (header.frame_count as u64, header.keyframe_interval as u64);
    let scratch = scratch_allowance(header);
    let check_one = |index: u64| -> Result<(), Error> {
        let (frame, peak) = peak_alloc(|| segment::decode_frame(data, index));
        assert!(
            peak <= 4 * n + scratch,
            "decode_frame peaked at {peak} bytes"
        );
        match frame {
            Ok(frame) => {
                assert_eq!(frame.len(), n);
                assert!(
                    frame.iter().all(|v| v.is_finite()),
                    "decode_frame: non-finite"
                );
                let mut buf = vec![0f32; n];
                assert_eq!(
                    segment::decode_frame_into(data, index, &mut buf),
                    Ok(*header)
                );
                assert!(
                    bits_of(&buf) == bits_of(&frame),
                    "decode_frame_into differs"
                );
                Ok(())
            }
            Err(e) => {
                match e {
                    Error::CorruptSegment { field } => assert!(!is_header_field(field), "{e:?}"),
                    other => panic!("decode_frame({index}) failed with {other:?}"),
                }
                let mut buf = vec![0f32; n];
                assert_eq!(segment::decode_frame_into(data, index, &mut buf), Err(e));
                Err(e)
            }
        }
    };
    match failed {
        Some(e) => {
            // Each block's last frame decodes (and checks) its whole block: the first failing
            // block is the one the whole decode stopped at.
            let mut spent = 0u64;
            for b in 0..f.div_ceil(k) {
                let last = ((b + 1) * k).min(f) - 1;
                spent += (last - b * k + 1) * n as u64;
                if spent > FRAME_WORK.max(header.value_count()) {
                    return;
                }
                if let Err(got) = check_one(last) {
                    assert_eq!(got, e, "block {b} fails differently from the whole decode");
                    return;
                }
            }
            panic!("decode failed with {e:?} but every block's last frame decodes");
        }
        None => {
            for index in frames_to_check(header) {
                let _ = check_one(index);
            }
        }
    }
}

/// `split_segments` yields whole segments tiling a prefix of `data`, then at most one error
/// (the parse error of the rest).
pub fn check_split(data: &[u8]) {
    let mut consumed = 0usize;
    let mut failed = false;
    for part in segment::split_segments(data) {
        assert!(!failed, "split_segments yielded after an error");
        match part {
            Ok((header, bytes)) => {
                assert_eq!(bytes.len(), header.byte_len);
                assert_eq!(bytes.as_ptr(), data[consumed..].as_ptr());
                assert_eq!(SegmentHeader::parse(&data[consumed..]), Ok(header));
                consumed += bytes.len();
            }
            Err(e) => {
                assert_eq!(SegmentHeader::parse(&data[consumed..]), Err(e));
                failed = true;
            }
        }
    }
    assert!(failed || consumed == data.len());
}

/// Makes `data` a coded segment whose checksum matches: `byte_len` (offset 24) becomes
/// `data.len()` when `whole` or when the stored one is out of range, and the CRC-32C of the bytes
/// before it is written over the segment's last 4 bytes. Returns false if `data` is too short.
pub fn patch_checksum(data: &mut [u8], whole: bool) -> bool {
    if data.len() < HEADER_LEN + CHECKSUM_LEN {
        return false;
    }
    let stored = u32::from_le_bytes(data[24..28].try_into().unwrap()) as usize;
    let len = if whole || stored < HEADER_LEN + CHECKSUM_LEN || stored > data.len() {
        data.len()
    } else {
        stored
    };
    data[24..28].copy_from_slice(&(len as u32).to_le_bytes());
    let body = len - CHECKSUM_LEN;
    let crc = ruvector_temporal_tensor::crc32c::crc32c(&data[..body]);
    assert_eq!(
        crc,
        ruvector_temporal_tensor::crc32c::crc32c_scalar(&data[..body]),
        "CRC-32C: hardware and portable differ"
    );
    data[body..len].copy_from_slice(&crc.to_le_bytes());
    true
}
