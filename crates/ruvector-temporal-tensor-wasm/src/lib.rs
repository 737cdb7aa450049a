//! WebAssembly build of `ruvector-temporal-tensor`.
//!
//! Built for `wasm32-unknown-unknown`, this cdylib exports the crate's `ttc_*` C ABI (see
//! `ruvector_temporal_tensor::ffi`) and the module's linear memory. Hosts allocate buffers with
//! `ttc_alloc`, pass pointers and lengths, read results back from memory, and free with
//! `ttc_dealloc`. Every function returns a status (0, or a negative code from
//! `ruvector_temporal_tensor::Error::CODES`).
//!
//! The shipped modules are `no_std` on wasm32: a panic traps at once (no message is formatted:
//! the host has nowhere to print one, and a trap is what it sees either way) and memory comes
//! from `dlmalloc`, the allocator std itself uses on wasm32. Leaving std's panic machinery out
//! keeps the modules inside ADR-017 §8.3's size budget whichever toolchain builds them. The
//! test-only `kernel-check` build keeps std (it reports panic messages).
#![deny(missing_docs)]
#![cfg_attr(all(target_arch = "wasm32", not(feature = "kernel-check")), no_std)]

pub use ruvector_temporal_tensor::ffi::*;

/// The heap of the `no_std` module: dlmalloc over `memory.grow`.
#[cfg(all(target_arch = "wasm32", not(feature = "kernel-check")))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic (a bug; bad input gets a coded error instead) traps; the host's glue then marks the
/// instance broken.
#[cfg(all(target_arch = "wasm32", not(feature = "kernel-check")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// Version of this build's ABI: bumped whenever a `ttc_*` signature changes.
pub const ABI_VERSION: u32 = 3;

/// Returns [`ABI_VERSION`], so a host can check it loaded a module it understands.
#[no_mangle]
pub extern "C" fn ttc_abi_version() -> u32 {
    ABI_VERSION
}

/// 64 bytes of 16-aligned memory for out-parameters (`*mut u32`, `*mut usize`, info structs).
#[repr(C, align(16))]
struct Scratch(core::cell::UnsafeCell<[u8; 64]>);

// SAFETY: only ever handed to the host as a raw pointer; Rust never reads or writes it.
unsafe impl Sync for Scratch {}

static SCRATCH: Scratch = Scratch(core::cell::UnsafeCell::new([0; 64]));

/// Address of a 64-byte, 16-aligned area the host may use for out-parameters, so it needs no
/// allocation before its first call. Rust never touches it.
#[no_mangle]
pub extern "C" fn ttc_scratch_ptr() -> *mut u8 {
    SCRATCH.0.get().cast()
}

/// Test support (feature `kernel-check`; never in the shipped modules): the kernel sets of this
/// module against the scalar reference, where `cargo test` cannot run.
#[cfg(feature = "kernel-check")]
mod kernel_check {
    use ruvector_temporal_tensor::kernels;
    use std::sync::Mutex;

    /// The message of the last panic (what differed).
    static MESSAGE: Mutex<String> = Mutex::new(String::new());

    /// Runs `kernels::check::check_against_scalar` on every kernel set this module supports
    /// (the scalar one, and simd128 in the SIMD build) and returns how many sets it checked,
    /// after writing their names, comma-separated, into `out[..cap]` (truncated). A difference
    /// panics, which traps: [`ttc_kernel_check_message`] then says what differed.
    ///
    /// # Safety
    /// `out` must be valid for `cap` bytes of writes.
    #[no_mangle]
    pub unsafe extern "C" fn ttc_kernel_check(out: *mut u8, cap: usize) -> u32 {
        std::panic::set_hook(Box::new(|info| {
            if let Ok(mut m) = MESSAGE.lock() {
                *m = info.to_string();
            }
        }));
        let sets = kernels::supported();
        let names: Vec<&str> = sets.iter().map(|k| k.name).collect();
        let names = names.join(",");
        let n = names.len().min(cap);
        // SAFETY: the caller guarantees `cap` writable bytes at `out`.
        unsafe { core::ptr::copy_nonoverlapping(names.as_ptr(), out, n) };
        for k in &sets {
            kernels::check::check_against_scalar(*k);
        }
        sets.len() as u32
    }

    /// Copies the last panic's message into `out[..cap]` (truncated); returns its full length.
    ///
    /// # Safety
    /// `out` must be valid for `cap` bytes of writes.
    #[no_mangle]
    pub unsafe extern "C" fn ttc_kernel_check_message(out: *mut u8, cap: usize) -> usize {
        let m = MESSAGE.lock().map(|m| m.clone()).unwrap_or_default();
        // SAFETY: the caller guarantees `cap` writable bytes at `out`.
        unsafe { core::ptr::copy_nonoverlapping(m.as_ptr(), out, m.len().min(cap)) };
        m.len()
    }
}
