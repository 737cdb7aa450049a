//! The `ttc_*` C ABI (feature `ffi`), shared by C callers and the WASM build.
//!
//! Conventions:
//! - Every function returns an `i32` status: `0` on success, otherwise a negative
//!   [`crate::Error::status`] (the table is [`crate::Error::CODES`]). `ttc_last_error` describes the last
//!   failure on the calling thread.
//! - Compressors live behind `u32` handles, issued from a 32-bit counter (never 0, never one
//!   that is live): a freed (stale) or never-issued handle is rejected with `INVALID_HANDLE`,
//!   and a stale handle names a compressor again only after the counter has gone all the way
//!   round, 2³² − 1 creations later. At most [`MAX_LIVE_HANDLES`] compressors live at once.
//! - On a 32-bit target (wasm32) a size that does not fit `usize` is `LIMIT_EXCEEDED`, never a
//!   truncated `BUFFER_TOO_SMALL` count.
//! - Lengths and capacities are `usize` (`size_t`): bytes for `u8` buffers, elements for `f32`
//!   buffers. On success `*out_written` receives what was written; on `BUFFER_TOO_SMALL` it
//!   receives the capacity needed, and nothing else changed, so the same call with a larger
//!   buffer succeeds.
//! - Null pointers give `NULL_POINTER`, misaligned `f32` pointers `MISALIGNED`. An empty input
//!   may pass a null pointer with length 0.
//! - No function unwinds into the caller: under `std`, a panic (a bug) becomes `INTERNAL`.
//!
//! # Safety
//! Non-null pointers must be valid for the stated lengths (reads for inputs, writes for
//! outputs), as in any C API; everything else is checked.
//!
//! Layout: `lock` (the global state's lock), `handles` (live compressors by handle), `abi`
//! (statuses, last error, checked pointers), `alloc` (`ttc_alloc`/`ttc_dealloc`) and `exports`
//! (every other `ttc_*` function).

mod abi;
mod alloc;
mod exports;
mod handles;
mod lock;

pub use abi::ttc_last_error;
pub use alloc::{ttc_alloc, ttc_dealloc};
pub use exports::*;
pub use handles::{__set_next_handle, MAX_LIVE_HANDLES};
