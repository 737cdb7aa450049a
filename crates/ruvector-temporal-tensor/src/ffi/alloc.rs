//! `ttc_alloc` / `ttc_dealloc`: memory for hosts that cannot allocate in this module's address
//! space themselves (WebAssembly), with a registry so a wrong pointer or size is an error, never
//! undefined behaviour.

use super::abi::{put, run};
use super::lock::Lock;
use crate::error::Error;
use ::alloc::vec::Vec;

/// Live allocations as `(address, size)`, sorted by address (binary search; hosts hold a few
/// long-lived buffers, and a sorted vector costs far less WebAssembly code than a map).
static ALLOCATIONS: Lock<Vec<(usize, usize)>> = Lock::new(Vec::new());

const ALLOC_ALIGN: usize = 16;

/// Allocates `size` bytes (16-byte aligned, zeroed) and writes the pointer to `*out_ptr`. Free
/// with `ttc_dealloc(ptr, size)`.
///
/// Errors: `NULL_POINTER`, `LIMIT_EXCEEDED` (size beyond `isize::MAX`), `OUT_OF_MEMORY`.
///
/// # Safety
/// `out_ptr` must be null or writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_alloc(size: usize, out_ptr: *mut *mut u8) -> i32 {
    run(|| {
        if out_ptr.is_null() {
            return Err(Error::NullPointer);
        }
        let layout =
            core::alloc::Layout::from_size_align(size.max(1), ALLOC_ALIGN).map_err(|_| {
                Error::LimitExceeded {
                    what: "allocation size",
                    max: isize::MAX as u64,
                    requested: size as u64,
                }
            })?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { ::alloc::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(Error::OutOfMemory);
        }
        let mut allocations = ALLOCATIONS.lock();
        // A fresh allocation is never live, so the search fails and says where it goes.
        let (Ok(at) | Err(at)) = allocations.binary_search_by_key(&(ptr as usize), |&(a, _)| a);
        allocations.insert(at, (ptr as usize, size));
        // SAFETY: checked non-null; writable per the caller.
        unsafe { put(out_ptr, ptr) }
    })
}

/// Frees memory from [`ttc_alloc`]; `cap` must be the size it was allocated with.
///
/// Errors: `UNKNOWN_ALLOCATION` for any other pointer or size (nothing is freed).
///
/// # Safety
/// No other reference to the allocation may be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ttc_dealloc(ptr: *mut u8, cap: usize) -> i32 {
    run(|| {
        let mut allocations = ALLOCATIONS.lock();
        let at = match allocations.binary_search_by_key(&(ptr as usize), |&(a, _)| a) {
            Ok(at) if allocations[at].1 == cap => at,
            _ => return Err(Error::UnknownAllocation),
        };
        allocations.remove(at);
        let layout = core::alloc::Layout::from_size_align(cap.max(1), ALLOC_ALIGN)
            .map_err(|_| Error::Internal)?;
        // SAFETY: `ptr` came from `alloc_zeroed` with this layout (the registry says so).
        unsafe { ::alloc::alloc::dealloc(ptr, layout) };
        Ok(())
    })
}
