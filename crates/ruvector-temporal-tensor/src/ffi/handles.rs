//! The table of live compressors behind `u32` handles.

use super::lock::Lock;
use crate::compressor::TemporalTensorCompressor;
use crate::error::Error;
use ::alloc::collections::BTreeMap;

/// Most compressors alive at once through this ABI.
pub const MAX_LIVE_HANDLES: usize = (1 << 20) - 1;

pub(super) struct Store {
    /// Live compressors by handle (lookups are O(log n)).
    live: BTreeMap<u32, TemporalTensorCompressor>,
    /// The next handle to issue (then counting up, wrapping, skipping 0 and live handles).
    next: u32,
}

pub(super) static STORE: Lock<Store> = Lock::new(Store {
    live: BTreeMap::new(),
    next: 1,
});

impl Store {
    /// Issues a handle: the counter's next value that is neither 0 nor live. A freed handle is
    /// issued again only once the counter has passed every other value, 2³² − 1 creations on
    /// (each handle, live or freed, is a distinct value until then).
    pub(super) fn insert(&mut self, compressor: TemporalTensorCompressor) -> Result<u32, Error> {
        if self.live.len() >= MAX_LIVE_HANDLES {
            return Err(Error::LimitExceeded {
                what: "live handles",
                max: MAX_LIVE_HANDLES as u64,
                requested: MAX_LIVE_HANDLES as u64 + 1,
            });
        }
        // At most MAX_LIVE_HANDLES values are live, so this ends within that many steps.
        let handle = loop {
            let h = self.next;
            self.next = self.next.wrapping_add(1);
            if h != 0 && !self.live.contains_key(&h) {
                break h;
            }
        };
        self.live.insert(handle, compressor);
        Ok(handle)
    }

    pub(super) fn get(&mut self, handle: u32) -> Result<&mut TemporalTensorCompressor, Error> {
        self.live.get_mut(&handle).ok_or(Error::InvalidHandle)
    }

    pub(super) fn remove(&mut self, handle: u32) -> Result<(), Error> {
        self.live
            .remove(&handle)
            .map(drop)
            .ok_or(Error::InvalidHandle)
    }
}

/// Test hook: sets the counter the next handle is issued from (to test its wrap-around).
#[doc(hidden)]
pub fn __set_next_handle(next: u32) {
    STORE.lock().next = next;
}
