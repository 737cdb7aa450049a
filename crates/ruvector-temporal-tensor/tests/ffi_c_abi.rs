//! The `ttc_*` C ABI, called through its `extern "C"` symbols, every error path included.

mod common;
use common::*;
use ruvector_temporal_tensor::ffi::*;
use ruvector_temporal_tensor::segment;
use ruvector_temporal_tensor::Error;
use std::ptr::{null, null_mut};

/// The handle table is process-wide: tests that check slot reuse must not interleave with
/// others creating handles, so every test here holds this lock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unsafe_dealloc(ptr: *mut u8, cap: usize) -> i32 {
    // SAFETY: the tests never touch memory after a successful dealloc.
    unsafe { ttc_dealloc(ptr, cap) }
}

fn status(e: Error) -> i32 {
    e.status()
}

fn last_error_message() -> (i32, String) {
    let mut buf = [0u8; 256];
    let mut written = 0usize;
    // SAFETY: valid buffer and out-pointer.
    let code = unsafe { ttc_last_error(buf.as_mut_ptr(), buf.len(), &mut written) };
    (code, String::from_utf8(buf[..written].to_vec()).unwrap())
}

fn create(len: u32) -> u32 {
    let mut handle = 0u32;
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { ttc_create(len, 0, &mut handle) }, 0);
    assert_ne!(handle, 0);
    handle
}

#[test]
fn push_flush_decode_round_trip_matches_the_rust_api() {
    let _serial = serial();
    let mut rng = Rng::new(1);
    let frames: Vec<Vec<f32>> = (0..30)
        .map(|t| {
            (0..64)
                .map(|_| rng.normal() * (1.0 + (t / 10) as f32))
                .collect()
        })
        .collect();
    let h = create(64);
    assert_eq!(ttc_set_access(h, 100, 0), 0);
    let mut rust =
        ruvector_temporal_tensor::TemporalTensorCompressor::new(Default::default(), 64, 0).unwrap();
    rust.set_access(100, 0);
    let mut expected = Vec::new();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    for frame in &frames {
        let mut written = usize::MAX;
        // SAFETY: valid pointers and lengths.
        let rc = unsafe {
            ttc_push_frame(
                h,
                1,
                frame.as_ptr(),
                frame.len(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut written,
            )
        };
        assert_eq!(rc, 0);
        got.extend_from_slice(&buf[..written]);
        rust.push_frame(frame, 1, &mut expected).unwrap();
    }
    let mut info = TtcCompressorInfo::default();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { ttc_compressor_info(h, &mut info) }, 0);
    assert_eq!(info.tensor_len, 64);
    assert_eq!(info.active_bits, 8);
    assert_eq!(info.access_count, 100);
    assert_eq!(info.pending_len as usize, rust.pending_segment_len());
    let mut written = 0usize;
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { ttc_flush(h, buf.as_mut_ptr(), buf.len(), &mut written) },
        0
    );
    got.extend_from_slice(&buf[..written]);
    rust.flush(&mut expected);
    assert_eq!(got, expected);

    // Decode through the ABI.
    let (first, _) = segment::split_segments(&got).next().unwrap().unwrap();
    let seg = &got[..first.byte_len];
    let mut seg_info = TtcSegmentInfo::default();
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { ttc_segment_info(seg.as_ptr(), seg.len(), &mut seg_info) },
        0
    );
    assert_eq!(seg_info.bits, 8);
    assert_eq!(seg_info.byte_length as usize, seg.len());
    let values = first.value_count() as usize;
    let mut out = vec![0f32; values];
    let mut n = 0usize;
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { ttc_decode_segment(seg.as_ptr(), seg.len(), out.as_mut_ptr(), out.len(), &mut n) },
        0
    );
    assert_eq!(n, values);
    let mut reference = Vec::new();
    segment::decode(seg, &mut reference).unwrap();
    assert_eq!(out, reference);
    let mut frame = vec![0f32; 64];
    // SAFETY: valid pointers.
    assert_eq!(
        unsafe { ttc_decode_frame(seg.as_ptr(), seg.len(), 1, frame.as_mut_ptr(), 64, &mut n) },
        0
    );
    assert_eq!((n, &frame[..]), (64, &reference[64..128]));
    assert_eq!(ttc_free(h), 0);
}

#[test]
fn stale_handles_are_rejected() {
    let _serial = serial();
    let a = create(8);
    let b = create(8);
    assert_ne!(a, b);
    assert_eq!(ttc_free(a), 0);
    assert_eq!(ttc_free(a), status(Error::InvalidHandle), "double free");
    assert_eq!(
        ttc_touch(a, 1),
        status(Error::InvalidHandle),
        "use after free"
    );
    let c = create(8);
    assert_ne!(c, a, "a freed handle is not issued again");
    assert_eq!(
        ttc_touch(a, 1),
        status(Error::InvalidHandle),
        "the stale handle stays dead"
    );
    assert_eq!(ttc_touch(c, 1), 0);
    assert_eq!(ttc_touch(0, 1), status(Error::InvalidHandle));
    assert_eq!(ttc_touch(0xdead_beef, 1), status(Error::InvalidHandle));
    let (code, message) = last_error_message();
    assert_eq!(code, status(Error::InvalidHandle));
    assert!(message.contains("handle"), "{message}");
    assert_eq!(ttc_free(b), 0);
    assert_eq!(ttc_free(c), 0);
}

#[test]
fn null_pointers_and_bad_arguments_return_codes() {
    let _serial = serial();
    let h = create(4);
    let frame = [1.0f32, 2.0, 3.0, 4.0];
    let mut buf = [0u8; 256];
    let mut written = 0usize;
    // SAFETY: every pointer is valid or null, as each case intends.
    unsafe {
        assert_eq!(ttc_create(4, 0, null_mut()), status(Error::NullPointer));
        assert_eq!(
            ttc_create(0, 0, &mut 0),
            status(Error::InvalidConfig { field: "" })
        );
        assert_eq!(
            ttc_create_with_policy(4, 0, 512, 64, 6, 26, 64, 128, &mut 0),
            status(Error::InvalidConfig { field: "" })
        );
        assert_eq!(
            ttc_create(u32::MAX, 0, &mut 0),
            status(Error::LimitExceeded {
                what: "",
                max: 0,
                requested: 0
            })
        );
        assert_eq!(
            ttc_push_frame(h, 0, null(), 4, buf.as_mut_ptr(), 256, &mut written),
            status(Error::NullPointer)
        );
        assert_eq!(
            ttc_push_frame(h, 0, frame.as_ptr(), 4, null_mut(), 256, &mut written),
            status(Error::NullPointer)
        );
        assert_eq!(
            ttc_push_frame(h, 0, frame.as_ptr(), 4, buf.as_mut_ptr(), 256, null_mut()),
            status(Error::NullPointer)
        );
        assert_eq!(
            ttc_push_frame(h, 0, frame.as_ptr(), 3, buf.as_mut_ptr(), 256, &mut written),
            status(Error::LengthMismatch {
                expected: 0,
                actual: 0
            })
        );
        let misaligned = (frame.as_ptr() as *const u8).add(1) as *const f32;
        assert_eq!(
            ttc_push_frame(h, 0, misaligned, 3, buf.as_mut_ptr(), 256, &mut written),
            status(Error::Misaligned)
        );
        let nan = [1.0f32, f32::NAN, 0.0, 0.0];
        assert_eq!(
            ttc_push_frame(h, 0, nan.as_ptr(), 4, buf.as_mut_ptr(), 256, &mut written),
            status(Error::NonFinite { index: 0 })
        );
        let (_, message) = last_error_message();
        assert!(message.contains("index 1"), "{message}");
        assert_eq!(
            ttc_push_frame(
                h + 1,
                0,
                frame.as_ptr(),
                4,
                buf.as_mut_ptr(),
                256,
                &mut written
            ),
            status(Error::InvalidHandle)
        );
        assert_eq!(
            ttc_flush(h, buf.as_mut_ptr(), 256, null_mut()),
            status(Error::NullPointer)
        );
        assert_eq!(
            ttc_compressor_info(h, null_mut()),
            status(Error::NullPointer)
        );
        // Nothing was pushed by any failing call.
        let mut info = TtcCompressorInfo::default();
        assert_eq!(ttc_compressor_info(h, &mut info), 0);
        assert_eq!(info.active_frames, 0);
        // Zero-length output with a null pointer is fine when nothing is emitted.
        assert_eq!(
            ttc_push_frame(h, 0, frame.as_ptr(), 4, null_mut(), 0, &mut written),
            0
        );
        assert_eq!(written, 0);
        // Decoding: null, truncated, garbage, too-small output.
        let mut out = [0f32; 8];
        let mut n = 0usize;
        assert_eq!(
            ttc_decode_segment(null(), 10, out.as_mut_ptr(), 8, &mut n),
            status(Error::NullPointer)
        );
        assert_eq!(
            ttc_decode_segment(b"TQT".as_ptr(), 3, out.as_mut_ptr(), 8, &mut n),
            status(Error::Truncated {
                needed: 0,
                available: 0
            })
        );
        let junk = [0u8; 40];
        assert_eq!(
            ttc_decode_segment(junk.as_ptr(), 40, out.as_mut_ptr(), 8, &mut n),
            status(Error::BadMagic)
        );
        assert_eq!(
            ttc_segment_info(junk.as_ptr(), 40, null_mut()),
            status(Error::NullPointer)
        );
        assert_eq!(ttc_flush(h, buf.as_mut_ptr(), 256, &mut written), 0);
        let seg = &buf[..written];
        assert_eq!(
            ttc_decode_segment(seg.as_ptr(), seg.len(), out.as_mut_ptr(), 3, &mut n),
            status(Error::BufferTooSmall {
                needed: 0,
                available: 0
            })
        );
        assert_eq!(n, 4, "needed floats reported");
        assert_eq!(
            ttc_decode_frame(seg.as_ptr(), seg.len(), 1, out.as_mut_ptr(), 8, &mut n),
            status(Error::FrameOutOfRange {
                index: 0,
                frame_count: 0
            })
        );
        let mut short = [0u8; 2];
        let mut need = 0usize;
        assert_eq!(
            ttc_last_error(short.as_mut_ptr(), 2, &mut need),
            status(Error::BufferTooSmall {
                needed: 0,
                available: 0
            })
        );
        assert!(need > 2);
    }
    assert_eq!(ttc_free(h), 0);
}

#[test]
fn a_too_small_output_buffer_reports_the_size_and_loses_nothing() {
    let _serial = serial();
    let h = create(64);
    assert_eq!(ttc_set_access(h, u32::MAX, 0), 0);
    let frame: Vec<f32> = (0..64).map(|i| (i as f32).cos()).collect();
    let grown: Vec<f32> = frame.iter().map(|v| v * 5.0).collect();
    let mut written = 0usize;
    let mut small = [0u8; 8];
    let mut big = vec![0u8; 4096];
    // SAFETY: valid pointers and lengths throughout.
    unsafe {
        assert_eq!(
            ttc_push_frame(
                h,
                0,
                frame.as_ptr(),
                64,
                small.as_mut_ptr(),
                8,
                &mut written
            ),
            0
        );
        assert_eq!(
            ttc_push_frame(
                h,
                0,
                frame.as_ptr(),
                64,
                small.as_mut_ptr(),
                8,
                &mut written
            ),
            0
        );
        let rc = ttc_push_frame(
            h,
            0,
            grown.as_ptr(),
            64,
            small.as_mut_ptr(),
            8,
            &mut written,
        );
        assert_eq!(
            rc,
            status(Error::BufferTooSmall {
                needed: 0,
                available: 0
            })
        );
        let needed = written;
        assert_eq!(needed, 26 + 2 + 128);
        let mut info = TtcCompressorInfo::default();
        ttc_compressor_info(h, &mut info);
        assert_eq!((info.active_frames, info.pending_len as usize), (2, needed));
        assert_eq!(
            ttc_push_frame(
                h,
                0,
                grown.as_ptr(),
                64,
                big.as_mut_ptr(),
                needed,
                &mut written
            ),
            0
        );
        assert_eq!(written, needed);
        let mut values = Vec::new();
        let header = segment::decode(&big[..written], &mut values).unwrap();
        assert_eq!(
            header.frame_count, 2,
            "both earlier frames are in the segment"
        );
        // Flush with a small buffer keeps the open segment.
        assert_eq!(
            ttc_flush(h, small.as_mut_ptr(), 8, &mut written),
            status(Error::BufferTooSmall {
                needed: 0,
                available: 0
            })
        );
        assert_eq!(ttc_flush(h, big.as_mut_ptr(), big.len(), &mut written), 0);
        assert_eq!(
            segment::SegmentHeader::parse(&big[..written])
                .unwrap()
                .frame_count,
            1
        );
    }
    assert_eq!(ttc_free(h), 0);
}

#[test]
fn alloc_and_dealloc_are_checked() {
    let _serial = serial();
    let mut ptr = null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { ttc_alloc(100, &mut ptr) }, 0);
    assert!(!ptr.is_null());
    assert_eq!(ptr as usize % 16, 0);
    // SAFETY: ttc_alloc returned 100 zeroed bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(ptr, 100) };
    assert!(bytes.iter().all(|&b| b == 0));
    bytes[99] = 7;
    assert_eq!(
        unsafe_dealloc(ptr, 99),
        status(Error::UnknownAllocation),
        "wrong size"
    );
    // SAFETY: an unrelated pointer.
    assert_eq!(
        unsafe_dealloc(unsafe { ptr.add(1) }, 100),
        status(Error::UnknownAllocation)
    );
    assert_eq!(unsafe_dealloc(ptr, 100), 0);
    assert_eq!(
        unsafe_dealloc(ptr, 100),
        status(Error::UnknownAllocation),
        "double free"
    );
    // SAFETY: null out-pointer is the case under test.
    assert_eq!(
        unsafe { ttc_alloc(8, null_mut()) },
        status(Error::NullPointer)
    );
    let mut zero = null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { ttc_alloc(0, &mut zero) }, 0);
    assert_eq!(unsafe_dealloc(zero, 0), 0);
    let mut huge = null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(
        unsafe { ttc_alloc(usize::MAX, &mut huge) },
        status(Error::LimitExceeded {
            what: "",
            max: 0,
            requested: 0
        })
    );
}

#[test]
fn handles_work_from_several_threads() {
    let _serial = serial();
    let threads: Vec<_> = (0..4)
        .map(|k| {
            std::thread::spawn(move || {
                let h = create(32);
                let frame: Vec<f32> = (0..32).map(|i| (i * (k + 1)) as f32).collect();
                let mut buf = vec![0u8; 4096];
                let mut written = 0;
                for _ in 0..200 {
                    // SAFETY: valid pointers.
                    let rc = unsafe {
                        ttc_push_frame(
                            h,
                            0,
                            frame.as_ptr(),
                            32,
                            buf.as_mut_ptr(),
                            4096,
                            &mut written,
                        )
                    };
                    assert_eq!(rc, 0);
                }
                assert_eq!(ttc_free(h), 0);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn batch_push_checks_its_bound_first() {
    let _serial = serial();
    let h = create(16);
    let frames: Vec<f32> = (0..16 * 10)
        .map(|i| (i as f32 * 0.3).sin() * (1 + i / 48) as f32)
        .collect();
    let mut written = 0usize;
    let mut small = vec![0u8; 64];
    // SAFETY: valid pointers and lengths.
    unsafe {
        let rc = ttc_push_frames(
            h,
            0,
            frames.as_ptr(),
            frames.len(),
            small.as_mut_ptr(),
            64,
            &mut written,
        );
        assert_eq!(
            rc,
            status(Error::BufferTooSmall {
                needed: 0,
                available: 0
            })
        );
        let bound = written;
        let mut info = TtcCompressorInfo::default();
        ttc_compressor_info(h, &mut info);
        assert_eq!(info.active_frames, 0, "nothing consumed");
        let mut buf = vec![0u8; bound];
        assert_eq!(
            ttc_push_frames(
                h,
                0,
                frames.as_ptr(),
                frames.len(),
                buf.as_mut_ptr(),
                bound,
                &mut written
            ),
            0
        );
        let mut rust =
            ruvector_temporal_tensor::TemporalTensorCompressor::new(Default::default(), 16, 0)
                .unwrap();
        let mut expected = Vec::new();
        rust.push_frames(&frames, 0, &mut expected).unwrap();
        assert_eq!(&buf[..written], &expected[..]);
        assert_eq!(
            ttc_push_frames(
                h,
                0,
                frames.as_ptr(),
                17,
                buf.as_mut_ptr(),
                bound,
                &mut written
            ),
            status(Error::LengthMismatch {
                expected: 0,
                actual: 0
            })
        );
    }
    assert_eq!(ttc_free(h), 0);
}

#[test]
fn peek_reports_its_size_and_matches_flush() {
    let _serial = serial();
    let h = create(8);
    let frame = [1.0f32, -2.0, 3.0, 0.5, 0.0, 7.0, -1.0, 2.0];
    let mut written = 0usize;
    let mut buf = vec![0u8; 256];
    let mut small = [0u8; 4];
    // SAFETY: valid pointers and lengths.
    unsafe {
        assert_eq!(ttc_peek(h, buf.as_mut_ptr(), 256, &mut written), 0);
        assert_eq!(written, 0);
        assert_eq!(
            ttc_push_frame(h, 0, frame.as_ptr(), 8, buf.as_mut_ptr(), 256, &mut written),
            0
        );
        assert_eq!(
            ttc_peek(h, small.as_mut_ptr(), 4, &mut written),
            status(Error::BufferTooSmall {
                needed: 0,
                available: 0
            })
        );
        let needed = written;
        assert_eq!(ttc_peek(h, buf.as_mut_ptr(), 256, &mut written), 0);
        assert_eq!(written, needed);
        let snapshot = buf[..written].to_vec();
        assert_eq!(ttc_flush(h, buf.as_mut_ptr(), 256, &mut written), 0);
        assert_eq!(&buf[..written], &snapshot[..]);
    }
    assert_eq!(ttc_free(h), 0);
}

#[test]
fn bits_at_reports_the_width_the_next_push_gets() {
    let _serial = serial();
    let h = create(8);
    let frame = [0.5f32; 8];
    let mut bits = 0u32;
    let mut buf = [0u8; 256];
    let mut written = 0usize;
    // SAFETY: valid out-pointers and buffers throughout.
    unsafe {
        // No accesses: cold.
        assert_eq!(ttc_bits_at(h, 10, &mut bits), 0);
        assert_eq!(bits, 3);
        // One access at 10: score 1024 at 10 (hot), 1024 / 15 = 68 at 24 (warm), 60 at 26 (cold).
        assert_eq!(ttc_set_access(h, 1, 10), 0);
        assert_eq!(ttc_bits_at(h, 10, &mut bits), 0);
        assert_eq!(bits, 8);
        assert_eq!(ttc_bits_at(h, 24, &mut bits), 0);
        assert_eq!(bits, 7);
        assert_eq!(ttc_bits_at(h, 26, &mut bits), 0);
        assert_eq!(bits, 3);
        // The width reported is the one a push at that time opens its segment with.
        assert_eq!(ttc_bits_at(h, 24, &mut bits), 0);
        let pushed = ttc_push_frame(
            h,
            24,
            frame.as_ptr(),
            8,
            buf.as_mut_ptr(),
            256,
            &mut written,
        );
        assert_eq!(pushed, 0);
        let mut info = TtcCompressorInfo::default();
        assert_eq!(ttc_compressor_info(h, &mut info), 0);
        assert_eq!(info.active_bits, bits);
        assert_eq!(ttc_bits_at(h, 0, null_mut()), status(Error::NullPointer));
        assert_eq!(ttc_free(h), 0);
        assert_eq!(ttc_bits_at(h, 0, &mut bits), status(Error::InvalidHandle));
    }
}

#[test]
fn error_bound_is_the_quantizer_table() {
    let _serial = serial();
    let mut bound = 0f32;
    // SAFETY: valid out-pointer, or null on purpose.
    unsafe {
        for (bits, expected) in [(8, 0.008f32), (7, 0.016), (5, 0.065), (3, 0.30)] {
            assert_eq!(ttc_error_bound(bits, &mut bound), 0);
            assert_eq!(bound, expected);
        }
        assert_eq!(
            ttc_error_bound(4, &mut bound),
            status(Error::InvalidArgument)
        );
        assert_eq!(ttc_error_bound(8, null_mut()), status(Error::NullPointer));
    }
}
