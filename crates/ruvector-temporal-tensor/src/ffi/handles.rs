//! The table of live compressors behind `u32` handles.

use super::lock::Lock;
use crate::compressor::TemporalTensorCompressor;
use crate::error::Error;
use ::alloc::boxed::Box;
use ::alloc::vec::Vec;

/// Most compressors alive at once through this ABI.
pub const MAX_LIVE_HANDLES: usize = (1 << 20) - 1;

pub(super) struct Store {
    /// Live compressors by handle, sorted by handle (binary search, O(log n) lookups). Handles
    /// are issued counting up, so a new one goes at the end until the counter wraps; a free
    /// moves the pointers after it. A sorted vector of boxes costs about 5 KB less WebAssembly
    /// code than a `BTreeMap` (as for `ttc_alloc`'s registry).
    live: Vec<(u32, Box<TemporalTensorCompressor>)>,
    /// The next handle to issue (then counting up, wrapping, skipping 0 and live handles).
    next: u32,
}

pub(super) static STORE: Lock<Store> = Lock::new(Store {
    live: Vec::new(),
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
        let (handle, at) = loop {
            let h = self.next;
            self.next = self.next.wrapping_add(1);
            if h != 0 {
                if let Err(at) = self.find(h) {
                    break (h, at);
                }
            }
        };
        self.live.insert(at, (handle, Box::new(compressor)));
        Ok(handle)
    }

    /// Where `handle` is in `live` (`Ok`), or where it would go (`Err`).
    fn find(&self, handle: u32) -> Result<usize, usize> {
        self.live.binary_search_by_key(&handle, |&(h, _)| h)
    }

    pub(super) fn get(&mut self, handle: u32) -> Result<&mut TemporalTensorCompressor, Error> {
        let at = self.find(handle).map_err(|_| Error::InvalidHandle)?;
        Ok(&mut self.live[at].1)
    }

    pub(super) fn remove(&mut self, handle: u32) -> Result<(), Error> {
        let at = self.find(handle).map_err(|_| Error::InvalidHandle)?;
        drop(self.live.remove(at));
        Ok(())
    }
}

/// Test hook: sets the counter the next handle is issued from (to test its wrap-around).
#[doc(hidden)]
pub fn __set_next_handle(next: u32) {
    STORE.lock().next = next;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tier_policy::TierPolicy;

    fn compressor(len: u32) -> TemporalTensorCompressor {
        TemporalTensorCompressor::new(TierPolicy::default(), len, 0).unwrap()
    }

    #[test]
    fn handles_stay_sorted_and_each_finds_its_compressor() {
        // A store of its own (the global one is shared with the ABI tests).
        let mut store = Store {
            live: Vec::new(),
            next: u32::MAX - 3,
        };
        let mut handles = Vec::new();
        for len in 1..=12u32 {
            handles.push((store.insert(compressor(len)).unwrap(), len));
        }
        // The counter wrapped past u32::MAX and skipped 0.
        assert!(handles.iter().all(|&(h, _)| h != 0));
        assert_eq!(handles[4].0, 1);
        for &(h, _) in handles.iter().skip(1).step_by(3) {
            store.remove(h).unwrap();
            assert_eq!(store.remove(h), Err(Error::InvalidHandle));
            assert!(store.get(h).is_err());
        }
        assert!(store.live.windows(2).all(|w| w[0].0 < w[1].0));
        for (i, &(h, len)) in handles.iter().enumerate() {
            if i % 3 != 1 {
                assert_eq!(store.get(h).unwrap().tensor_len(), len);
            }
        }
        // A wrapped counter skips live handles.
        store.next = handles[0].0;
        let h = store.insert(compressor(99)).unwrap();
        assert_eq!(h, handles[1].0, "the first freed value after a live one");
        assert_eq!(store.get(h).unwrap().tensor_len(), 99);
    }
}
