//! The calling convention every `ttc_*` function shares: statuses and the thread's last error,
//! checked pointers and slices over caller memory, and the "input buffer in, output buffer out,
//! count or needed size in `*out_written`" shape.

use crate::error::Error;

#[cfg(feature = "std")]
std::thread_local! {
    static LAST_ERROR: core::cell::Cell<Option<Error>> = const { core::cell::Cell::new(None) };
}

#[cfg(feature = "std")]
pub(super) fn set_last_error(error: Option<Error>) {
    LAST_ERROR.with(|cell| cell.set(error));
}

#[cfg(feature = "std")]
pub(super) fn last_error() -> Option<Error> {
    LAST_ERROR.with(|cell| cell.get())
}

#[cfg(not(feature = "std"))]
static LAST_ERROR: super::lock::Lock<Option<Error>> = super::lock::Lock::new(None);

#[cfg(not(feature = "std"))]
pub(super) fn set_last_error(error: Option<Error>) {
    *LAST_ERROR.lock() = error;
}

#[cfg(not(feature = "std"))]
pub(super) fn last_error() -> Option<Error> {
    *LAST_ERROR.lock()
}

/// Runs `body`, records its error as the thread's last error, and turns it into a status.
pub(super) fn run(body: impl FnOnce() -> Result<(), Error>) -> i32 {
    #[cfg(feature = "std")]
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or(Err(Error::Internal));
    #[cfg(not(feature = "std"))]
    let result = body();
    match result {
        Ok(()) => 0,
        Err(error) => {
            set_last_error(Some(error));
            error.status()
        }
    }
}

/// `*out = value` for a checked out-pointer.
///
/// # Safety
/// `out` must be null or valid for a write of `T`.
pub(super) unsafe fn put<T>(out: *mut T, value: T) -> Result<(), Error> {
    if out.is_null() {
        return Err(Error::NullPointer);
    }
    // SAFETY: non-null, valid per the caller; unaligned writes allowed.
    unsafe { out.write_unaligned(value) };
    Ok(())
}

/// Reports `needed` through `out_written` when a buffer was too small, then passes the error on.
/// A need that does not fit `usize` (a 32-bit target) cannot be met by any buffer: it becomes
/// `LIMIT_EXCEEDED` (a truncated count would have the caller retry forever, or allocate too
/// little).
///
/// # Safety
/// `out_written` must be null or valid for a write.
pub(super) unsafe fn report_needed(error: Error, out_written: *mut usize) -> Error {
    if let Error::BufferTooSmall { needed, .. } = error {
        let Ok(needed) = usize::try_from(needed) else {
            return Error::LimitExceeded {
                what: "output size",
                max: usize::MAX as u64,
                requested: needed,
            };
        };
        if !out_written.is_null() {
            // SAFETY: non-null and valid per the caller.
            unsafe { out_written.write_unaligned(needed) };
        }
    }
    error
}

/// A slice over caller memory; null is accepted only for length 0.
///
/// # Safety
/// A non-null `ptr` must be valid for reads of `len` elements.
pub(super) unsafe fn input<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Error::NullPointer)
        };
    }
    if (ptr as usize) % core::mem::align_of::<T>() != 0 {
        return Err(Error::Misaligned);
    }
    // SAFETY: non-null, aligned, valid for `len` reads per the caller.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A mutable slice over caller memory; null is accepted only for capacity 0.
///
/// # Safety
/// A non-null `ptr` must be valid for writes of `cap` elements and not alias other arguments.
pub(super) unsafe fn output<'a, T>(ptr: *mut T, cap: usize) -> Result<&'a mut [T], Error> {
    if ptr.is_null() {
        return if cap == 0 {
            Ok(&mut [])
        } else {
            Err(Error::NullPointer)
        };
    }
    if (ptr as usize) % core::mem::align_of::<T>() != 0 {
        return Err(Error::Misaligned);
    }
    // SAFETY: non-null, aligned, valid for `cap` writes per the caller.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, cap) })
}

/// The shape shared by every call that reads an input buffer and fills an output buffer:
/// checks the pointers, runs `op`, and writes `*out_written` (the count written, or on
/// `BUFFER_TOO_SMALL` the capacity needed).
///
/// # Safety
/// As the module docs: `in_ptr` readable for `in_len`, `out_ptr` writable for `out_cap`
/// elements, `out_written` writable.
pub(super) unsafe fn with_buffers<I, O>(
    in_ptr: *const I,
    in_len: usize,
    out_ptr: *mut O,
    out_cap: usize,
    out_written: *mut usize,
    op: impl FnOnce(&[I], &mut [O]) -> Result<usize, Error>,
) -> i32 {
    run(|| {
        if out_written.is_null() {
            return Err(Error::NullPointer);
        }
        // SAFETY: caller contract.
        let input = unsafe { input(in_ptr, in_len)? };
        // SAFETY: caller contract.
        let output = unsafe { output(out_ptr, out_cap)? };
        // SAFETY: checked non-null above.
        let written = op(input, output).map_err(|e| unsafe { report_needed(e, out_written) })?;
        // SAFETY: checked non-null above.
        unsafe { put(out_written, written) }
    })
}

/// Writes the calling thread's last error message (UTF-8, no terminator) to `out_ptr` and its
/// length to `*out_written`, and returns that error's status (0 and an empty message when no
/// call has failed). The last error is not cleared.
///
/// Errors: `NULL_POINTER`; when the message does not fit, `BUFFER_TOO_SMALL` with the needed
/// length in `*out_written`.
///
/// # Safety
/// `out_ptr` writable for `out_cap` bytes, `out_written` writable.
#[no_mangle]
pub unsafe extern "C" fn ttc_last_error(
    out_ptr: *mut u8,
    out_cap: usize,
    out_written: *mut usize,
) -> i32 {
    let Some(error) = last_error() else {
        if !out_written.is_null() {
            // SAFETY: non-null, writable per the caller.
            unsafe { out_written.write_unaligned(0) };
        }
        return 0;
    };
    let mut message = MessageBuf::new();
    let _ = core::fmt::write(&mut message, format_args!("{error}"));
    let bytes = message.as_bytes();
    if out_written.is_null() {
        return Error::NullPointer.status();
    }
    // SAFETY: caller contract.
    let out = match unsafe { output(out_ptr, out_cap) } {
        Ok(out) => out,
        Err(e) => return e.status(),
    };
    // SAFETY: checked non-null above.
    unsafe { out_written.write_unaligned(bytes.len()) };
    if out.len() < bytes.len() {
        return Error::BufferTooSmall {
            needed: bytes.len() as u64,
            available: out.len() as u64,
        }
        .status();
    }
    out[..bytes.len()].copy_from_slice(bytes);
    error.status()
}

/// A fixed buffer for formatting messages without allocating.
struct MessageBuf {
    bytes: [u8; 256],
    len: usize,
}

impl MessageBuf {
    fn new() -> Self {
        MessageBuf {
            bytes: [0; 256],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl core::fmt::Write for MessageBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.len;
        // Messages are ASCII; truncate on a char boundary regardless.
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}
