//! WebAssembly build of `ruvector-temporal-tensor`.
//!
//! Built for `wasm32-unknown-unknown`, this cdylib exports the crate's `ttc_*` C ABI (see
//! `ruvector_temporal_tensor::ffi`) and the module's linear memory. Hosts allocate buffers with
//! `ttc_alloc`, pass pointers and lengths, read results back from memory, and free with
//! `ttc_dealloc`. Every function returns a status (0, or a negative code from
//! `ruvector_temporal_tensor::Error::CODES`).
#![deny(missing_docs)]

pub use ruvector_temporal_tensor::ffi::*;

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
