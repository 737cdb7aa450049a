//! Arbitrary sequences of `ttc_*` calls: create (any policy; through `ttc_create_with_options`
//! also any width, format (packed, coded, invalid), keyframe interval and bound), push / push_frames / flush / peek with
//! arbitrary capacities and (mis)aligned offsets into a buffer, null pointers, free, reuse of
//! freed slots, stale and made-up handles, info, decode / decode_frame / segment_info of emitted
//! or arbitrary bytes, alloc / dealloc, last_error and kernels.
//!
//! Oracle: no crash and no `INTERNAL` (a caught panic); every status is in the documented set
//! of its function; statuses and emitted bytes equal those of a Rust-API model (one
//! `TemporalTensorCompressor` per live handle); `BUFFER_TOO_SMALL` reports a size with which
//! the same call succeeds; `ttc_last_error` names the last failure. Every handle is freed at the
//! end of each run, so the global handle table does not grow across runs.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use common::Input;
use libfuzzer_sys::fuzz_target;
use ruvector_temporal_tensor::ffi::*;
use ruvector_temporal_tensor::segment::{self, SegmentHeader};
use ruvector_temporal_tensor::{Error, Format, SegmentField, TemporalTensorCompressor, TierPolicy};
use std::collections::BTreeMap;
use std::ptr::{null, null_mut};

const MAX_OPS: usize = 64;
const ARENA: usize = 8192;

const OK: i32 = 0;
fn st(e: Error) -> i32 {
    e.status()
}
// The statuses, from the error enum (the one table of them).
const LENGTH_MISMATCH: i32 = Error::LengthMismatch {
    expected: 0,
    actual: 0,
}
.status();
const NON_FINITE: i32 = Error::NonFinite { index: 0 }.status();
const INVALID_CONFIG: i32 = Error::InvalidConfig { field: "" }.status();
const LIMIT_EXCEEDED: i32 = Error::LimitExceeded {
    what: "",
    max: 0,
    requested: 0,
}
.status();
const TRUNCATED: i32 = Error::Truncated {
    needed: 0,
    available: 0,
}
.status();
const BAD_MAGIC: i32 = Error::BadMagic.status();
const UNSUPPORTED_VERSION: i32 = Error::UnsupportedVersion { version: 0 }.status();
const CORRUPT_SEGMENT: i32 = Error::CorruptSegment {
    field: SegmentField::Bits,
}
.status();
const FRAME_OUT_OF_RANGE: i32 = Error::FrameOutOfRange {
    index: 0,
    frame_count: 0,
}
.status();
const BUFFER_TOO_SMALL: i32 = Error::BufferTooSmall {
    needed: 0,
    available: 0,
}
.status();
const NULL_POINTER: i32 = Error::NullPointer.status();
const MISALIGNED: i32 = Error::Misaligned.status();
const INVALID_HANDLE: i32 = Error::InvalidHandle.status();
const UNKNOWN_ALLOCATION: i32 = Error::UnknownAllocation.status();
const OUT_OF_MEMORY: i32 = Error::OutOfMemory.status();
const INTERNAL: i32 = Error::Internal.status();

const SEGMENT_ERRORS: [i32; 4] = [TRUNCATED, BAD_MAGIC, UNSUPPORTED_VERSION, CORRUPT_SEGMENT];

/// 8-byte aligned scratch memory, addressed by byte offset.
struct Arena {
    words: Vec<u64>,
}

impl Arena {
    fn new() -> Self {
        Arena {
            words: vec![0; ARENA / 8],
        }
    }
    fn base(&mut self) -> *mut u8 {
        self.words.as_mut_ptr().cast()
    }
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the Vec<u64> owns ARENA bytes.
        unsafe { std::slice::from_raw_parts_mut(self.base(), ARENA) }
    }
}

/// A pointer/capacity pair into an arena (or null), in units of `unit` bytes.
#[derive(Clone, Copy, Debug)]
struct Region {
    offset: Option<usize>, // None: null pointer
    cap: usize,            // units
}

impl Region {
    fn pick(input: &mut Input, unit: usize, max_units: usize) -> Region {
        let tag = input.u8();
        if tag % 11 == 0 {
            let cap = if tag & 0x80 != 0 {
                input.usize_below(64)
            } else {
                0
            };
            return Region { offset: None, cap };
        }
        // Mostly aligned offsets; sometimes any byte offset.
        let offset = if tag % 5 == 0 {
            input.usize_below(64)
        } else {
            input.usize_below(16) * 8
        };
        let room = (ARENA - offset) / unit;
        let cap = match tag % 4 {
            0 => room.min(max_units),
            _ => input.usize_below(room.min(max_units) + 1),
        };
        Region {
            offset: Some(offset),
            cap,
        }
    }

    /// The pointer-check error `with_buffers` reports for this output region, if any.
    fn check(&self, align: usize) -> Option<i32> {
        match self.offset {
            None if self.cap > 0 => Some(NULL_POINTER),
            Some(o) if o % align != 0 => Some(MISALIGNED),
            _ => None,
        }
    }

    fn ptr<T>(&self, arena: &mut Arena) -> *mut T {
        match self.offset {
            None => null_mut(),
            // SAFETY: offset < ARENA.
            Some(o) => unsafe { arena.base().add(o) }.cast(),
        }
    }
}

struct Model {
    compressors: BTreeMap<u32, TemporalTensorCompressor>,
    stale: Vec<u32>,
    segments: Vec<Vec<u8>>,
    allocations: Vec<(usize, usize)>,
    last_status: i32,
}

fn assert_status(status: i32, allowed: &[i32], what: &str) {
    assert_ne!(status, INTERNAL, "{what}: INTERNAL (a panic was caught)");
    assert!(
        status == OK || allowed.contains(&status),
        "{what}: status {status} not in {allowed:?}"
    );
}

impl Model {
    fn record(&mut self, status: i32) {
        if status != OK {
            self.last_status = status;
        }
    }

    fn check_last_error(&mut self) {
        let mut buf = [0u8; 256];
        let mut written = 0usize;
        // SAFETY: valid buffer and out-pointer.
        let status = unsafe { ttc_last_error(buf.as_mut_ptr(), buf.len(), &mut written) };
        assert_eq!(
            status, self.last_status,
            "ttc_last_error names the last failure"
        );
        if status != OK {
            assert!(written > 0 && written <= buf.len());
            assert!(std::str::from_utf8(&buf[..written]).is_ok());
            // A zero-capacity buffer reports the length needed.
            let mut needed = 0usize;
            // SAFETY: null with capacity 0 is allowed.
            let s = unsafe { ttc_last_error(null_mut(), 0, &mut needed) };
            assert_eq!((s, needed), (BUFFER_TOO_SMALL, written));
        }
    }

    /// Picks a handle: a live one, a stale one, or anything.
    fn handle(&self, input: &mut Input) -> u32 {
        let tag = input.u8();
        let live: Vec<u32> = self.compressors.keys().copied().collect();
        match tag % 8 {
            0 if !self.stale.is_empty() => self.stale[input.usize_below(self.stale.len())],
            1 => input.u32_interesting(),
            _ if !live.is_empty() => live[input.usize_below(live.len())],
            _ => input.u32(),
        }
    }
}

fn frames(input: &mut Input, n: usize, count: usize) -> Vec<f32> {
    let mut seed = input.u32() | 1;
    let magnitude = input.f32_finite();
    let mut out: Vec<f32> = (0..n * count)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            magnitude * ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0)
        })
        .collect();
    if input.u8() % 4 == 0 && !out.is_empty() {
        let at = input.usize_below(out.len());
        out[at] = input.f32_interesting();
    }
    if input.u8() % 8 == 0 {
        out.push(1.0); // wrong length
    }
    out
}

/// Which push-like call.
#[derive(Clone, Copy, PartialEq)]
enum Push {
    One,
    Many,
}

/// Runs a push through the ABI with the frames placed at `in_offset` (bytes) and the output
/// `region`, compares with the model, and retries `BUFFER_TOO_SMALL` with the reported size.
#[allow(clippy::too_many_arguments)]
fn push(
    model: &mut Model,
    arena: &mut Arena,
    out_arena: &mut Arena,
    kind: Push,
    handle: u32,
    ts: u32,
    values: &[f32],
    in_offset: Option<usize>,
    region: Region,
    null_written: bool,
) {
    let in_ptr: *const f32 = match in_offset {
        None => null(),
        Some(o) => {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            arena.bytes()[o..o + bytes.len()].copy_from_slice(&bytes);
            // SAFETY: inside the arena.
            unsafe { arena.base().add(o) }.cast()
        }
    };
    let out_ptr: *mut u8 = region.ptr(out_arena);
    out_arena.bytes().fill(0xa5);
    let mut written = usize::MAX;
    let written_ptr: *mut usize = if null_written {
        null_mut()
    } else {
        &mut written
    };
    // SAFETY: every non-null pointer is inside an arena for its length/capacity.
    let status = unsafe {
        match kind {
            Push::One => ttc_push_frame(
                handle,
                ts,
                in_ptr,
                values.len(),
                out_ptr,
                region.cap,
                written_ptr,
            ),
            Push::Many => ttc_push_frames(
                handle,
                ts,
                in_ptr,
                values.len(),
                out_ptr,
                region.cap,
                written_ptr,
            ),
        }
    };
    let what = if kind == Push::One {
        "ttc_push_frame"
    } else {
        "ttc_push_frames"
    };
    assert_status(
        status,
        &[
            INVALID_HANDLE,
            NULL_POINTER,
            MISALIGNED,
            LENGTH_MISMATCH,
            NON_FINITE,
            BUFFER_TOO_SMALL,
        ],
        what,
    );
    model.record(status);

    // The expected result: pointer checks first, then the model.
    let pointer_error = if null_written {
        Some(NULL_POINTER)
    } else {
        match in_offset {
            None if !values.is_empty() => Some(NULL_POINTER),
            Some(o) if o % 4 != 0 => Some(MISALIGNED),
            _ => region.check(1),
        }
    };
    if let Some(expected) = pointer_error {
        assert_eq!(status, expected, "{what}: pointer checks");
        return;
    }
    let Some(model_c) = model.compressors.get_mut(&handle) else {
        assert_eq!(status, INVALID_HANDLE, "{what}: unknown handle {handle:#x}");
        return;
    };
    let before = model_c.clone();
    let mut buf = vec![0u8; region.cap];
    let expected = match kind {
        Push::One => model_c.push_frame_into(values, ts, &mut buf),
        Push::Many => model_c.push_frames_into(values, ts, &mut buf),
    };
    match expected {
        Ok(n) => {
            assert_eq!(status, OK, "{what}: model succeeded");
            assert_eq!(written, n);
            let out = &out_arena.bytes()[region.offset.unwrap_or(0)..][..n];
            assert_eq!(out, &buf[..n], "{what}: bytes differ from the Rust API");
            if n > 0 {
                model.segments.push(buf[..n].to_vec());
            }
        }
        Err(e) => {
            assert_eq!(status, st(e), "{what}: model failed with {e:?}");
            assert_same!(*model_c, before);
            if let Error::BufferTooSmall { needed, .. } = e {
                assert_eq!(written as u64, needed, "{what}: needed size reported");
                // The same call with the reported size succeeds (bytes checked above).
                let room = ARENA - region.offset.unwrap_or(0);
                if written <= room && region.offset.is_some() {
                    let retry = Region {
                        offset: region.offset,
                        cap: written,
                    };
                    push(
                        model, arena, out_arena, kind, handle, ts, values, in_offset, retry, false,
                    );
                } else {
                    let mut big = vec![0u8; written];
                    let mut w2 = 0usize;
                    let ptr = if values.is_empty() { null() } else { in_ptr };
                    // SAFETY: a fresh buffer of the reported size.
                    let s = unsafe {
                        match kind {
                            Push::One => ttc_push_frame(
                                handle,
                                ts,
                                ptr,
                                values.len(),
                                big.as_mut_ptr(),
                                big.len(),
                                &mut w2,
                            ),
                            Push::Many => ttc_push_frames(
                                handle,
                                ts,
                                ptr,
                                values.len(),
                                big.as_mut_ptr(),
                                big.len(),
                                &mut w2,
                            ),
                        }
                    };
                    assert_eq!(s, OK, "{what}: retry with the reported size");
                    let model_c = model.compressors.get_mut(&handle).expect("live");
                    let mut mbuf = vec![0u8; written];
                    let n = match kind {
                        Push::One => model_c.push_frame_into(values, ts, &mut mbuf),
                        Push::Many => model_c.push_frames_into(values, ts, &mut mbuf),
                    }
                    .expect("model retry");
                    assert_eq!(w2, n);
                    assert_eq!(big[..n], mbuf[..n]);
                    if n > 0 {
                        model.segments.push(mbuf[..n].to_vec());
                    }
                }
            }
        }
    }
}

fn flush(
    model: &mut Model,
    out_arena: &mut Arena,
    handle: u32,
    region: Region,
    null_written: bool,
) {
    let mut written = usize::MAX;
    let written_ptr: *mut usize = if null_written {
        null_mut()
    } else {
        &mut written
    };
    // SAFETY: region inside the arena.
    let status = unsafe { ttc_flush(handle, region.ptr(out_arena), region.cap, written_ptr) };
    assert_status(
        status,
        &[INVALID_HANDLE, NULL_POINTER, BUFFER_TOO_SMALL],
        "ttc_flush",
    );
    model.record(status);
    if null_written {
        assert_eq!(status, NULL_POINTER);
        return;
    }
    if let Some(e) = region.check(1) {
        assert_eq!(status, e);
        return;
    }
    let Some(model_c) = model.compressors.get_mut(&handle) else {
        assert_eq!(status, INVALID_HANDLE);
        return;
    };
    let mut buf = vec![0u8; region.cap];
    match model_c.flush_into(&mut buf) {
        Ok(n) => {
            assert_eq!((status, written), (OK, n));
            let out = &out_arena.bytes()[region.offset.unwrap_or(0)..][..n];
            assert_eq!(out, &buf[..n], "ttc_flush bytes");
            if n > 0 {
                model.segments.push(buf[..n].to_vec());
            }
        }
        Err(e) => {
            assert_eq!(status, st(e));
            let Error::BufferTooSmall { needed, .. } = e else {
                panic!("flush_into: {e:?}")
            };
            assert_eq!(written as u64, needed);
            let mut big = vec![0u8; written];
            let mut w2 = 0usize;
            // SAFETY: a fresh buffer of the reported size.
            let s = unsafe { ttc_flush(handle, big.as_mut_ptr(), big.len(), &mut w2) };
            assert_eq!(
                (s, w2),
                (OK, written),
                "ttc_flush retry with the reported size"
            );
            let n = model_c
                .flush_into(&mut buf_of(written))
                .expect("model retry");
            assert_eq!(n, written);
            model.segments.push(big);
        }
    }
}

/// `ttc_peek`: the model's snapshot, nothing changed; `BUFFER_TOO_SMALL` then a retry.
fn peek(model: &mut Model, out_arena: &mut Arena, handle: u32, region: Region, null_written: bool) {
    let before = model.compressors.get(&handle).cloned();
    let mut written = usize::MAX;
    let written_ptr: *mut usize = if null_written {
        null_mut()
    } else {
        &mut written
    };
    // SAFETY: region inside the arena.
    let status = unsafe { ttc_peek(handle, region.ptr(out_arena), region.cap, written_ptr) };
    assert_status(
        status,
        &[INVALID_HANDLE, NULL_POINTER, BUFFER_TOO_SMALL],
        "ttc_peek",
    );
    model.record(status);
    if null_written {
        assert_eq!(status, NULL_POINTER);
        return;
    }
    if let Some(e) = region.check(1) {
        assert_eq!(status, e);
        return;
    }
    let Some(c) = before else {
        assert_eq!(status, INVALID_HANDLE);
        return;
    };
    let mut snapshot = Vec::new();
    let n = c.peek(&mut snapshot);
    if n <= region.cap {
        assert_eq!((status, written), (OK, n), "ttc_peek");
        let out = &out_arena.bytes()[region.offset.unwrap_or(0)..][..n];
        assert_eq!(out, &snapshot[..], "ttc_peek bytes");
    } else {
        assert_eq!(
            (status, written),
            (BUFFER_TOO_SMALL, n),
            "ttc_peek reports the size"
        );
        let mut big = vec![0u8; n];
        let mut w2 = 0usize;
        // SAFETY: a fresh buffer of the reported size.
        let s = unsafe { ttc_peek(handle, big.as_mut_ptr(), big.len(), &mut w2) };
        assert_eq!((s, w2), (OK, n), "ttc_peek retry with the reported size");
        assert_eq!(big, snapshot);
    }
    // Peeking changed nothing: the handle's info still matches the model.
    let mut info = TtcCompressorInfo::default();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { ttc_compressor_info(handle, &mut info) }, OK);
    assert_eq!(info.pending_len as usize, c.pending_segment_len());
    assert_eq!(info.active_frames, c.active_frames());
}

fn buf_of(n: usize) -> Vec<u8> {
    vec![0u8; n]
}

/// Decode / decode_frame / segment_info of `bytes`, compared with the Rust API.
fn decode(
    model: &mut Model,
    arena: &mut Arena,
    out_arena: &mut Arena,
    bytes: &[u8],
    op: u8,
    input: &mut Input,
) {
    let seg_offset = input.usize_below(32);
    let len = bytes.len().min(ARENA - seg_offset);
    let bytes = &bytes[..len];
    arena.bytes()[seg_offset..seg_offset + len].copy_from_slice(bytes);
    // SAFETY: inside the arena.
    let seg_ptr: *const u8 = if input.u8() % 16 == 0 {
        null()
    } else {
        unsafe { arena.base().add(seg_offset) }
    };
    let seg_error = if seg_ptr.is_null() && len > 0 {
        Some(NULL_POINTER)
    } else {
        None
    };
    let expected_header = SegmentHeader::parse(bytes);
    match op % 3 {
        0 => {
            let mut info = TtcSegmentInfo::default();
            // SAFETY: valid pointers.
            let status = unsafe { ttc_segment_info(seg_ptr, len, &mut info) };
            assert_status(
                status,
                &[
                    NULL_POINTER,
                    TRUNCATED,
                    BAD_MAGIC,
                    UNSUPPORTED_VERSION,
                    CORRUPT_SEGMENT,
                ],
                "ttc_segment_info",
            );
            model.record(status);
            if let Some(e) = seg_error {
                assert_eq!(status, e);
                return;
            }
            match expected_header {
                Ok(h) => {
                    assert_eq!(status, OK);
                    assert_eq!(
                        (
                            info.version,
                            info.bits,
                            info.tensor_len,
                            info.frame_count,
                            info.byte_length as usize
                        ),
                        (
                            h.version as u32,
                            h.bits as u32,
                            h.tensor_len,
                            h.frame_count,
                            h.byte_len
                        )
                    );
                    assert_eq!(
                        (
                            info.group_len,
                            info.scale_count,
                            info.bound.to_bits(),
                            info.keyframe_interval
                        ),
                        (
                            h.group_len,
                            h.scale_count,
                            h.bound.to_bits(),
                            h.keyframe_interval
                        )
                    );
                }
                Err(e) => assert_eq!(status, st(e)),
            }
        }
        1 | 2 => {
            let whole = op % 3 == 1;
            let index = if input.bool() {
                input.u8() as u32 % 4
            } else {
                input.u32_interesting()
            };
            let region = Region::pick(input, 4, ARENA / 4);
            let mut written = usize::MAX;
            let out_ptr: *mut f32 = region.ptr(out_arena);
            // SAFETY: inside the arenas.
            let status = unsafe {
                if whole {
                    ttc_decode_segment(seg_ptr, len, out_ptr, region.cap, &mut written)
                } else {
                    ttc_decode_frame(seg_ptr, len, index, out_ptr, region.cap, &mut written)
                }
            };
            let what = if whole {
                "ttc_decode_segment"
            } else {
                "ttc_decode_frame"
            };
            let mut allowed = vec![NULL_POINTER, MISALIGNED, BUFFER_TOO_SMALL];
            allowed.extend_from_slice(&SEGMENT_ERRORS);
            if !whole {
                allowed.push(FRAME_OUT_OF_RANGE);
            }
            assert_status(status, &allowed, what);
            model.record(status);
            if let Some(e) = seg_error.or(region.check(4)) {
                assert_eq!(status, e, "{what}: pointer checks");
                return;
            }
            let mut expect = vec![0f32; region.cap];
            let result = if whole {
                segment::decode_into(bytes, &mut expect).map(|(_, n)| n)
            } else {
                segment::decode_frame_into(bytes, index as u64, &mut expect)
                    .map(|h| h.tensor_len as usize)
            };
            match result {
                Ok(n) => {
                    assert_eq!((status, written), (OK, n), "{what}");
                    let o = region.offset.unwrap_or(0);
                    let got: Vec<u32> = out_arena.bytes()[o..o + 4 * n]
                        .chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    let want: Vec<u32> = expect[..n].iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, want, "{what}: values differ from the Rust API");
                    assert!(
                        expect[..n].iter().all(|v| v.is_finite()),
                        "{what}: non-finite"
                    );
                }
                Err(e) => {
                    assert_eq!(status, st(e), "{what}: {e:?}");
                    if let Error::BufferTooSmall { needed, .. } = e {
                        assert_eq!(written as u64, needed);
                        let mut big = vec![0f32; written];
                        let mut w2 = 0usize;
                        // SAFETY: fresh buffer of the reported size.
                        let s = unsafe {
                            if whole {
                                ttc_decode_segment(
                                    seg_ptr,
                                    len,
                                    big.as_mut_ptr(),
                                    big.len(),
                                    &mut w2,
                                )
                            } else {
                                ttc_decode_frame(
                                    seg_ptr,
                                    len,
                                    index,
                                    big.as_mut_ptr(),
                                    big.len(),
                                    &mut w2,
                                )
                            }
                        };
                        assert_eq!(
                            (s, w2),
                            (OK, written),
                            "{what}: retry with the reported size"
                        );
                    }
                }
            }
        }
        _ => unreachable!(),
    }
}

/// `ttc_create_with_policy` / `ttc_create_with_options` with any policy and options.
fn create(model: &mut Model, input: &mut Input, op: u8) {
    // Create: the default policy, or any fields.
    let len = match input.u8() % 8 {
        0 => input.u32_interesting(),
        _ => 1 + input.u8() as u32 % 64,
    };
    let now = input.u32_interesting();
    let fields = if op & 0x10 != 0 {
        [
            input.u32_interesting(),
            input.u32_interesting(),
            input.u32_interesting() % 9,
            input.u32_interesting() % 300,
            input.u32_interesting(),
            input.u32_interesting(),
        ]
    } else {
        [
            512,
            64,
            7,
            26,
            1 + input.u8() as u32 % 70,
            1 + input.u8() as u32 % 6,
        ]
    };
    // With bit 5: ttc_create_with_options (width, format, keyframe interval, bound).
    let options = (op & 0x20 != 0).then(|| {
        let fixed_bits = match input.u8() % 8 {
            0..=2 => 0,
            3 => 3,
            4 => 5,
            5 => 7,
            6 => 8,
            _ => input.u32_interesting() % 10,
        };
        let format = match input.u8() % 8 {
            0..=2 => 0,
            7 => input.u32_interesting(),
            _ => 1,
        };
        let keyframe_interval = match input.u8() % 4 {
            0 => input.u32_interesting(),
            _ => 1 + input.u8() as u32 % 10,
        };
        let bound = match input.u8() % 4 {
            0 | 1 => 0.0,
            2 => [1e-4f32, 0.01, 0.3, 0.999_999_94][input.u8() as usize % 4],
            _ => input.f32_interesting(),
        };
        (fixed_bits, format, keyframe_interval, bound)
    });
    let null_out = input.u8() % 32 == 0;
    let mut handle = 0u32;
    let out: *mut u32 = if null_out { null_mut() } else { &mut handle };
    // SAFETY: valid out-pointer (or null).
    let status = unsafe {
        match options {
            None => ttc_create_with_policy(
                len, now, fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], out,
            ),
            Some((fixed_bits, format, keyframe_interval, bound)) => ttc_create_with_options(
                len,
                now,
                fields[0],
                fields[1],
                fields[2],
                fields[3],
                fields[4],
                fields[5],
                fixed_bits,
                format,
                keyframe_interval,
                bound,
                out,
            ),
        }
    };
    let what = if options.is_some() {
        "ttc_create_with_options"
    } else {
        "ttc_create_with_policy"
    };
    assert_status(
        status,
        &[INVALID_CONFIG, LIMIT_EXCEEDED, NULL_POINTER],
        what,
    );
    model.record(status);
    let mut policy = TierPolicy::from_fields(
        fields[0], fields[1], fields[2], fields[3], fields[4], fields[5],
    );
    if null_out {
        assert_eq!(status, NULL_POINTER);
        return;
    }
    // The model: the documented checks, in the documented order.
    let created = match options {
        None => TemporalTensorCompressor::new(policy, len, now),
        Some((fixed_bits, format, keyframe_interval, bound)) => {
            policy.fixed_bits = u8::try_from(fixed_bits).unwrap_or(1);
            let format = match format {
                0 => Ok(Format::Packed),
                1 => Ok(Format::Coded),
                _ => Err(Error::InvalidConfig { field: "format" }),
            };
            format.and_then(|format| {
                let mut c = TemporalTensorCompressor::with_format(policy, len, now, format)?;
                c.set_keyframe_interval(keyframe_interval)?;
                c.set_bound((bound != 0.0).then_some(bound))?;
                assert_eq!(c.format(), format);
                Ok(c)
            })
        }
    };
    match created {
        Ok(c) => {
            assert_eq!(
                status, OK,
                "{what}: the model accepted {policy:?} {options:?} len={len}"
            );
            assert_ne!(handle, 0);
            assert!(
                !model.compressors.contains_key(&handle),
                "a live handle was issued twice"
            );
            model.stale.retain(|&h| h != handle);
            model.compressors.insert(handle, c);
        }
        Err(e) => assert_eq!(status, st(e), "{what}: {e:?}"),
    }
}

/// `ttc_free` of a live, stale or made-up handle.
fn free(model: &mut Model, input: &mut Input) {
    let h = model.handle(input);
    let status = ttc_free(h);
    assert_status(status, &[INVALID_HANDLE], "ttc_free");
    model.record(status);
    if model.compressors.remove(&h).is_some() {
        assert_eq!(status, OK);
        model.stale.push(h);
    } else {
        assert_eq!(status, INVALID_HANDLE);
    }
}

/// `ttc_touch`, then `ttc_bits_at` against the model.
fn touch(model: &mut Model, input: &mut Input) {
    let h = model.handle(input);
    let ts = input.u32_interesting();
    let status = ttc_touch(h, ts);
    assert_status(status, &[INVALID_HANDLE], "ttc_touch");
    model.record(status);
    match model.compressors.get_mut(&h) {
        Some(c) => {
            assert_eq!(status, OK);
            c.touch(ts);
        }
        None => assert_eq!(status, INVALID_HANDLE),
    }
    // The width a push would get at that time, as the model's policy picks it (no input read,
    // so the regression seeds keep exercising what they did).
    let at = ts;
    let mut bits = u32::MAX;
    // SAFETY: valid out-pointer.
    let status = unsafe { ttc_bits_at(h, at, &mut bits) };
    assert_status(status, &[INVALID_HANDLE], "ttc_bits_at");
    model.record(status);
    match model.compressors.get(&h) {
        Some(c) => assert_eq!((status, bits), (OK, c.bits_at(at) as u32)),
        None => assert_eq!(status, INVALID_HANDLE),
    }
}

/// `ttc_set_access`.
fn set_access(model: &mut Model, input: &mut Input) {
    let h = model.handle(input);
    let (count, last) = (input.u32_interesting(), input.u32_interesting());
    let status = ttc_set_access(h, count, last);
    assert_status(status, &[INVALID_HANDLE], "ttc_set_access");
    model.record(status);
    match model.compressors.get_mut(&h) {
        Some(c) => {
            assert_eq!(status, OK);
            c.set_access(count, last);
        }
        None => assert_eq!(status, INVALID_HANDLE),
    }
}

/// `ttc_push_frame` / `ttc_push_frames` with arbitrary frames, offsets and capacities.
fn push_op(model: &mut Model, input: &mut Input, arena: &mut Arena, out_arena: &mut Arena, op: u8) {
    let kind = if op % 16 == 8 { Push::Many } else { Push::One };
    let h = model.handle(input);
    let n = model
        .compressors
        .get(&h)
        .map_or(1 + input.u8() as usize % 8, |c| c.tensor_len() as usize);
    let count = if kind == Push::Many {
        input.u8() as usize % 4
    } else {
        1
    };
    let values = frames(input, n.min(2048), count);
    let ts = input.u32_interesting() % 64;
    let in_offset = match input.u8() % 16 {
        0 => None,
        1 => Some(input.usize_below(8)),
        _ => Some(input.usize_below(8) * 4),
    };
    // Frames larger than the arena are cut short (LENGTH_MISMATCH, as the model says).
    let mut values = values;
    values.truncate((ARENA - 64) / 4);
    let region = Region::pick(input, 1, ARENA);
    let null_written = input.u8() % 32 == 0;
    push(
        model,
        arena,
        out_arena,
        kind,
        h,
        ts,
        &values,
        in_offset,
        region,
        null_written,
    );
}

/// `ttc_flush` or `ttc_peek`.
fn flush_or_peek(model: &mut Model, input: &mut Input, out_arena: &mut Arena, op: u8) {
    let h = model.handle(input);
    let region = Region::pick(input, 1, ARENA);
    let null_written = input.u8() % 32 == 0;
    if op & 0x40 != 0 {
        peek(model, out_arena, h, region, null_written);
    } else {
        flush(model, out_arena, h, region, null_written);
    }
}

/// `ttc_compressor_info`.
fn info(model: &mut Model, input: &mut Input) {
    let h = model.handle(input);
    let mut info = TtcCompressorInfo::default();
    let null_info = input.u8() % 16 == 0;
    let ptr: *mut TtcCompressorInfo = if null_info { null_mut() } else { &mut info };
    // SAFETY: valid out-pointer or null.
    let status = unsafe { ttc_compressor_info(h, ptr) };
    assert_status(
        status,
        &[INVALID_HANDLE, NULL_POINTER],
        "ttc_compressor_info",
    );
    model.record(status);
    if null_info {
        assert_eq!(status, NULL_POINTER);
    } else if let Some(c) = model.compressors.get(&h) {
        assert_eq!(status, OK);
        assert_eq!(info.tensor_len, c.tensor_len());
        assert_eq!(info.active_bits, c.active_bits().unwrap_or(0) as u32);
        assert_eq!(info.active_frames, c.active_frames());
        assert_eq!(info.pending_len as usize, c.pending_segment_len());
        assert_eq!(
            (info.access_count, info.last_access_ts),
            (c.access_count(), c.last_access_ts())
        );
    } else {
        assert_eq!(status, INVALID_HANDLE);
    }
}

/// Decoding an emitted segment (maybe damaged) or raw fuzz bytes.
fn decode_op(
    model: &mut Model,
    input: &mut Input,
    arena: &mut Arena,
    out_arena: &mut Arena,
    op: u8,
) {
    // Decode an emitted segment (maybe damaged), or raw fuzz bytes.
    let bytes: Vec<u8> = if !model.segments.is_empty() && op & 0x20 == 0 {
        let mut s = model.segments[input.usize_below(model.segments.len())].clone();
        match input.u8() % 4 {
            0 if !s.is_empty() => {
                let at = input.usize_below(s.len());
                s[at] ^= input.u8() | 1;
            }
            1 => s.truncate(input.usize_below(s.len() + 1)),
            _ => {}
        }
        s
    } else {
        let n = input.usize_below(256);
        input.bytes(n).to_vec()
    };
    let sub = input.u8();
    decode(model, arena, out_arena, &bytes, sub, input);
}

/// `ttc_alloc` / `ttc_dealloc` with right or wrong sizes and pointers.
fn alloc_or_dealloc(model: &mut Model, input: &mut Input) {
    // alloc / dealloc (right or wrong sizes and pointers).
    if input.bool() || model.allocations.is_empty() {
        let size = match input.u8() % 8 {
            0 => usize::MAX - input.u8() as usize,
            1 => isize::MAX as usize + 1,
            _ => input.usize_below(4096),
        };
        let mut ptr: *mut u8 = null_mut();
        let null_out = input.u8() % 16 == 0;
        let out: *mut *mut u8 = if null_out { null_mut() } else { &mut ptr };
        // SAFETY: valid out-pointer or null.
        let status = unsafe { ttc_alloc(size, out) };
        assert_status(
            status,
            &[NULL_POINTER, LIMIT_EXCEEDED, OUT_OF_MEMORY],
            "ttc_alloc",
        );
        model.record(status);
        if status == OK {
            assert!(!ptr.is_null() && ptr as usize % 16 == 0);
            // SAFETY: freshly allocated, zeroed, `size` bytes.
            let mem = unsafe { std::slice::from_raw_parts_mut(ptr, size) };
            assert!(mem.iter().all(|&b| b == 0), "ttc_alloc memory is zeroed");
            mem.fill(0x5a);
            model.allocations.push((ptr as usize, size));
        } else if null_out {
            assert_eq!(status, NULL_POINTER);
        } else {
            assert!(
                size > isize::MAX as usize - 16,
                "ttc_alloc({size}) failed: {status}"
            );
        }
    } else {
        let i = input.usize_below(model.allocations.len());
        let (ptr, size) = model.allocations[i];
        let wrong = input.u8() % 4;
        let (p, s) = match wrong {
            0 => (ptr, size + 1),
            1 => (ptr + 16, size),
            _ => (ptr, size),
        };
        // SAFETY: the registry rejects wrong pairs; right pairs are ours.
        let status = unsafe { ttc_dealloc(p as *mut u8, s) };
        assert_status(status, &[UNKNOWN_ALLOCATION], "ttc_dealloc");
        model.record(status);
        if wrong < 2 {
            assert_eq!(status, UNKNOWN_ALLOCATION);
        } else {
            assert_eq!(status, OK);
            model.allocations.swap_remove(i);
            // Double free is rejected.
            // SAFETY: rejected by the registry.
            let again = unsafe { ttc_dealloc(p as *mut u8, s) };
            assert_eq!(again, UNKNOWN_ALLOCATION);
            model.record(again);
        }
    }
}

/// `ttc_kernels` with any output region.
fn kernels(model: &mut Model, input: &mut Input, out_arena: &mut Arena) {
    let region = Region::pick(input, 1, 64);
    let mut written = usize::MAX;
    // SAFETY: region inside the arena.
    let status = unsafe { ttc_kernels(region.ptr(out_arena), region.cap, &mut written) };
    assert_status(status, &[NULL_POINTER, BUFFER_TOO_SMALL], "ttc_kernels");
    model.record(status);
    if let Some(e) = region.check(1) {
        assert_eq!(status, e);
    } else if status == BUFFER_TOO_SMALL {
        assert!(written > region.cap);
        let mut big = vec![0u8; written];
        let mut w2 = 0;
        // SAFETY: fresh buffer.
        let s = unsafe { ttc_kernels(big.as_mut_ptr(), big.len(), &mut w2) };
        assert_eq!((s, w2), (OK, written));
    } else {
        assert_eq!(status, OK);
        let o = region.offset.unwrap_or(0);
        assert!(std::str::from_utf8(&out_arena.bytes()[o..o + written]).is_ok());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let mut arena = Arena::new();
    let mut out_arena = Arena::new();
    let mut model = Model {
        compressors: BTreeMap::new(),
        stale: Vec::new(),
        segments: Vec::new(),
        allocations: Vec::new(),
        // The last error is per thread and survives runs: start from what it says now.
        last_status: {
            let mut w = 0usize;
            let mut buf = [0u8; 256];
            // SAFETY: valid buffer.
            unsafe { ttc_last_error(buf.as_mut_ptr(), buf.len(), &mut w) }
        },
    };
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let op = input.u8();
        match op % 16 {
            0 | 1 => create(&mut model, &mut input, op),
            2 => free(&mut model, &mut input),
            3 => touch(&mut model, &mut input),
            4 => set_access(&mut model, &mut input),
            5..=7 | 8 => push_op(&mut model, &mut input, &mut arena, &mut out_arena, op),
            9 => flush_or_peek(&mut model, &mut input, &mut out_arena, op),
            10 => info(&mut model, &mut input),
            11 | 12 => decode_op(&mut model, &mut input, &mut arena, &mut out_arena, op),
            13 => alloc_or_dealloc(&mut model, &mut input),
            14 => kernels(&mut model, &mut input, &mut out_arena),
            _ => model.check_last_error(),
        }
    }
    model.check_last_error();
    // Leave nothing behind: free every handle and allocation.
    for (h, _) in std::mem::take(&mut model.compressors) {
        assert_eq!(ttc_free(h), OK);
        assert_eq!(ttc_free(h), INVALID_HANDLE, "double free rejected");
    }
    for (ptr, size) in model.allocations.drain(..) {
        // SAFETY: ours, exact size.
        assert_eq!(unsafe { ttc_dealloc(ptr as *mut u8, size) }, OK);
    }
});
