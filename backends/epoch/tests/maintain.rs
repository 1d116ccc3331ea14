//! `Store::maintain` frees retired memory with no other activity.
//!
//! Its own test binary with one test (two phases, one after the other): no
//! other thread pins crossbeam's global collector, so nothing but the code
//! under test can free what the test retires. Phase one fails if
//! `maintain` does nothing; phase two fails if retiring a table leaves the
//! retiring thread's garbage in its thread-local bag.
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
fn maintain_frees_retired_memory() {
    same_thread();
    idle_thread();
}

/// This thread retired the nodes; nothing pins afterwards.
fn same_thread() {
    let store = EpochStore::new();
    let freed = Arc::new(AtomicUsize::new(0));
    const N: usize = 100;
    for i in 0..N {
        let key = Bytes::from(format!("k{i}"));
        let value = Bytes::from_owner(Counted(freed.clone()));
        store.insert(key.clone(), Entry::string(value));
        store.insert(key, Entry::string("plain"));
    }
    store.maintain();
    assert_eq!(
        freed.load(Ordering::SeqCst),
        N,
        "maintain left this thread's retired nodes allocated"
    );
}

/// Another thread, still alive and idle, retired the nodes and then grew
/// the table. Its deferred frees must not wait in its thread-local bag
/// (only that thread's next pins would free them): retiring a table hands
/// the bag over, and the sweeper's `maintain` frees it.
fn idle_thread() {
    let store = Arc::new(EpochStore::new());
    let freed = Arc::new(AtomicUsize::new(0));
    const N: usize = 100;
    let (done, wait_done) = std::sync::mpsc::channel();
    let (stop, wait_stop) = std::sync::mpsc::channel::<()>();
    let worker = {
        let (store, freed) = (store.clone(), freed.clone());
        std::thread::spawn(move || {
            for i in 0..N {
                let key = Bytes::from(format!("k{i}"));
                let value = Bytes::from_owner(Counted(freed.clone()));
                store.insert(key.clone(), Entry::string(value));
                // The overwrite retires the node that holds the counted value.
                store.insert(key, Entry::string("plain"));
            }
            // Grow the table (at least one resize retires a table).
            for i in 0..5_000 {
                store.insert(Bytes::from(format!("grow{i}")), Entry::string("g"));
            }
            done.send(()).unwrap();
            // Stay alive without pinning: a thread's exit would hand its
            // bag over by itself.
            let _ = wait_stop.recv();
        })
    };
    wait_done.recv().unwrap();
    store.maintain();
    let seen = freed.load(Ordering::SeqCst);
    stop.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(seen, N, "maintain left retired nodes allocated");
}
