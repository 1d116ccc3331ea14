//! `TinyEpoch`: the epoch map with a tiny configuration (4 slots, 2-slot
//! migration chunks), so that any test storing more than a few keys runs
//! through many grows, same-size copies and shrinks, with several threads
//! helping one migration chunk by chunk. Each store adds the tables it
//! built to [`TABLES_BUILT`] when dropped.

use std::sync::atomic::{AtomicU64, Ordering};

use store_api::{Bytes, Entry, Op, Store};
use store_epoch::{Config, EpochStore};

/// Tables built by every `TinyEpoch` dropped so far in this process.
pub static TABLES_BUILT: AtomicU64 = AtomicU64::new(0);

pub struct TinyEpoch(EpochStore);

impl Default for TinyEpoch {
    fn default() -> Self {
        TinyEpoch(EpochStore::with_config(Config {
            initial_capacity: 4,
            min_capacity: 4,
            chunk_size: 2,
            probe_limit: None,
            seed: None,
        }))
    }
}

impl Drop for TinyEpoch {
    fn drop(&mut self) {
        TABLES_BUILT.fetch_add(self.0.tables_built(), Ordering::Relaxed);
    }
}

impl Store for TinyEpoch {
    const NAME: &'static str = "epoch";

    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        self.0.read(key, f)
    }

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        self.0.insert(key, entry)
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        self.0.remove(key)
    }

    fn compute<R, F>(&self, key: &[u8], f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        self.0.compute(key, f)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&self) {
        self.0.clear()
    }

    fn retain<F>(&self, f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        self.0.retain(f)
    }

    fn scan<F>(&self, cursor: u64, count: usize, f: F) -> u64
    where
        F: FnMut(&Bytes, &Entry),
    {
        self.0.scan(cursor, count, f)
    }

    fn random_entry(&self, seed: u64) -> Option<(Bytes, Entry)> {
        self.0.random_entry(seed)
    }

    fn maintain(&self) {
        self.0.maintain()
    }
}
