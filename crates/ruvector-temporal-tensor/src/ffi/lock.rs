//! A minimal spin lock for the ABI's global state: sound on native threads, free on
//! single-threaded WebAssembly (where a lock found held means an earlier call trapped).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A minimal lock: sound on native threads, free on single-threaded WASM.
pub(super) struct Lock<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by `busy` (acquire/release).
unsafe impl<T: Send> Sync for Lock<T> {}

pub(super) struct Guard<'a, T>(&'a Lock<T>);

impl<T> Lock<T> {
    pub(super) const fn new(value: T) -> Self {
        Lock {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    pub(super) fn lock(&self) -> Guard<'_, T> {
        // Single-threaded WebAssembly: nothing else can hold the lock, unless a call trapped
        // while it held it. Trap again (fail fast) rather than spin forever: the host sees a
        // trap and must instantiate the module again (a panic message would reach no one).
        #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
        if self.busy.load(Ordering::Relaxed) {
            core::arch::wasm32::unreachable();
        }
        while self
            .busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        Guard(self)
    }
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.0.value.get() }
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock exclusively.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}
