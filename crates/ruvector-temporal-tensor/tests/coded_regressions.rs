//! Failures the fuzz targets found around coded (TQTC v3) segments. Each test reproduces one
//! finding with the smallest setup; the fuzz input it came from is in `fuzz/regressions/`.
//! Tests of bugs not fixed yet are `#[ignore]`d (so the suite stays green) with the reason;
//! run them with `cargo test --features ffi --test coded_regressions -- --include-ignored`.
#![cfg(feature = "ffi")]

use ruvector_temporal_tensor::ffi::*;
use ruvector_temporal_tensor::{Format, TemporalTensorCompressor, TierPolicy};

const OK: i32 = 0;
const BUFFER_TOO_SMALL: i32 = -10;

/// A coded compressor through the C ABI (default policy, 8 bits, keyframe interval 32).
fn coded_handle(len: u32) -> u32 {
    let mut handle = 0u32;
    // SAFETY: valid out-pointer.
    let status = unsafe {
        ttc_create_with_options(len, 0, 512, 64, 7, 26, 64, 128, 8, 1, 32, 0.0, &mut handle)
    };
    assert_eq!(status, OK);
    handle
}

fn push(handle: u32, frame: &[f32]) {
    let mut out = vec![0u8; 1 << 16];
    let mut written = usize::MAX;
    // SAFETY: valid buffers.
    let status = unsafe {
        ttc_push_frame(
            handle,
            0,
            frame.as_ptr(),
            frame.len(),
            out.as_mut_ptr(),
            out.len(),
            &mut written,
        )
    };
    assert_eq!((status, written), (OK, 0));
}

/// fuzz/regressions/ffi_sequences/coded-peek-pending-len: `ttc_peek` sizes its copy with
/// `pending_segment_len()`, which for a coded compressor is an upper bound
/// (`CodedWriter::max_encoded_len`), not the snapshot's length: `dst.copy_from_slice(&bytes)`
/// (src/ffi.rs, `ttc_peek`) panics "source slice length (74) does not match destination slice
/// length (138)". Natively that is `INTERNAL` (-16) with `catch_unwind`, an abort under
/// `panic = "abort"`, and a trap in the WASM module (the facade's `peek()` of a coded
/// compressor). A buffer between the exact and the pending length gets `BUFFER_TOO_SMALL`
/// asking for the pending length, whose retry panics.
#[test]
fn ttc_peek_of_a_coded_compressor_writes_the_snapshot() {
    let n = 16usize;
    let frame: Vec<f32> = (0..n).map(|i| i as f32 * 0.25 - 1.0).collect();
    let handle = coded_handle(n as u32);
    push(handle, &frame);

    // What the Rust API shows.
    let policy = TierPolicy {
        fixed_bits: 8,
        ..TierPolicy::default()
    };
    let mut model = TemporalTensorCompressor::with_format(policy, n as u32, 0, Format::Coded)
        .expect("valid options");
    model.push_frame(&frame, 0, &mut Vec::new()).expect("push");
    let mut snapshot = Vec::new();
    model.peek(&mut snapshot);
    assert!(snapshot.len() < model.pending_segment_len());

    let mut info = TtcCompressorInfo::default();
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { ttc_compressor_info(handle, &mut info) }, OK);
    assert_eq!(info.pending_len as usize, model.pending_segment_len());

    // A buffer of pending_len bytes ("always enough") receives the snapshot.
    let mut buf = vec![0u8; info.pending_len as usize];
    let mut written = usize::MAX;
    // SAFETY: valid buffers.
    let status = unsafe { ttc_peek(handle, buf.as_mut_ptr(), buf.len(), &mut written) };
    assert_eq!((status, written), (OK, snapshot.len()), "ttc_peek status");
    assert_eq!(buf[..written], snapshot[..]);

    // A buffer of exactly the snapshot's length is enough too; one byte less reports that length.
    let mut exact = vec![0u8; snapshot.len()];
    // SAFETY: valid buffers.
    let status = unsafe { ttc_peek(handle, exact.as_mut_ptr(), exact.len(), &mut written) };
    assert_eq!((status, written), (OK, snapshot.len()));
    assert_eq!(exact, snapshot);
    // SAFETY: valid buffers.
    let status = unsafe { ttc_peek(handle, exact.as_mut_ptr(), snapshot.len() - 1, &mut written) };
    assert_eq!((status, written), (BUFFER_TOO_SMALL, snapshot.len()));
    assert_eq!(ttc_free(handle), OK);
}
