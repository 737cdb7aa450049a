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
pub const ABI_VERSION: u32 = 1;

/// Returns [`ABI_VERSION`], so a host can check it loaded a module it understands.
#[no_mangle]
pub extern "C" fn ttc_abi_version() -> u32 {
    ABI_VERSION
}
