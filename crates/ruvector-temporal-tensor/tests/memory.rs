//! ADR-017 §8.3: a compressor holds < 1 KB besides its segment data, measured with a counting
//! allocator.

use ruvector_temporal_tensor::{TemporalTensorCompressor, TierPolicy};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted: only the test's own, so the harness's
    /// threads (output capture, timers) cannot move the figures.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            LIVE.fetch_add(layout.size(), Ordering::SeqCst);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            LIVE.fetch_add(new_size, Ordering::SeqCst);
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn compressor_overhead_is_under_one_kilobyte() {
    let frames: Vec<Vec<f32>> = (0..100)
        .map(|t| {
            (0..512)
                .map(|i| ((i * 7 + t) as f32 * 0.01).sin())
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(1 << 20);
    // One-time process state (the kernel choice, which may read the environment) is set up by
    // a first compressor, before counting starts.
    let mut warm = TemporalTensorCompressor::new(TierPolicy::default(), 4, 0).unwrap();
    warm.push_frame(&[1.0; 4], 1, &mut Vec::new()).unwrap();
    drop(warm);
    COUNTED.with(|c| c.set(true));
    let before = LIVE.load(Ordering::SeqCst);
    let mut c = TemporalTensorCompressor::new(TierPolicy::default(), 512, 0).unwrap();
    c.set_access(1000, 0);
    for frame in &frames {
        c.push_frame(frame, 1, &mut out).unwrap();
    }
    let heap = LIVE.load(Ordering::SeqCst) - before;
    let data = c.data_heap_bytes();
    let overhead = heap - data + std::mem::size_of::<TemporalTensorCompressor>();
    assert_eq!(
        heap - data,
        c.overhead_heap_bytes(),
        "the accounting is honest"
    );
    assert!(overhead < 1024, "overhead {overhead} B");
    assert!(
        data >= c.pending_segment_len() - 26 - 16,
        "data is the packed codes"
    );
    drop(c);
    assert_eq!(LIVE.load(Ordering::SeqCst), before, "nothing leaks");
    println!(
        "512-dim compressor: {} B struct + {} B heap besides {} B of segment data",
        std::mem::size_of::<TemporalTensorCompressor>(),
        heap - data,
        data
    );
}
