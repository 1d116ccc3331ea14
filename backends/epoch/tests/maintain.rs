//! `Store::maintain` frees retired memory with no other activity.
//!
//! Its own test binary with one test: no other thread pins crossbeam's
//! global collector, so nothing but `maintain` can free what the test
//! retires (the check fails if `maintain` does nothing).
#![cfg(not(loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use store_api::{Bytes, Entry, Store};
use store_epoch::EpochStore;

/// A value's buffer that counts its own drop.
struct Counted(Arc<AtomicUsize>);

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        b"counted"
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn maintain_frees_overwritten_values_when_nothing_else_runs() {
    let store = EpochStore::new();
    let freed = Arc::new(AtomicUsize::new(0));
    const N: usize = 100;
    for i in 0..N {
        let key = Bytes::from(format!("k{i}"));
        let value = Bytes::from_owner(Counted(freed.clone()));
        store.insert(key.clone(), Entry::string(value));
        // The overwrite retires the node that holds the counted value.
        store.insert(key, Entry::string("plain"));
    }
    // Retired, not yet freed: the frees wait in this thread's bag.
    assert!(freed.load(Ordering::SeqCst) < N);
    store.maintain();
    assert_eq!(
        freed.load(Ordering::SeqCst),
        N,
        "maintain left retired nodes allocated"
    );
}
