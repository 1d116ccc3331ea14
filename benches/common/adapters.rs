//! Outside reference points: papaya and dashmap behind the `Store` trait, so
//! the same generic bench bodies run over them. Bench-only; both use the
//! same `foldhash` the FlashKV backends use, so hashing costs match.
//!
//! Costs the adapters add, stated so the numbers can be read fairly:
//! - papaya's `compute` takes an owned key, so every `compute` here copies
//!   the key into a fresh `Bytes` (one small allocation) even when it only
//!   updates; `read`/`insert`/`remove` add nothing.
//! - dashmap's `compute` tries `get_mut` first (no allocation for an update
//!   of a present key) and falls back to `entry`, which needs an owned key,
//!   for inserts and removals; the closure may then run twice, which the
//!   `Store` contract allows.
//! - `scan` visits everything in one call and `random_entry` returns the
//!   first entry: enough for the contract, never benchmarked.

use bytes::Bytes;
use foldhash::fast::RandomState;
use store_api::{Entry, Op, Store};

/// `papaya::HashMap<Bytes, Entry>`.
pub struct PapayaStore(papaya::HashMap<Bytes, Entry, RandomState>);

impl Default for PapayaStore {
    fn default() -> Self {
        PapayaStore(papaya::HashMap::with_hasher(RandomState::default()))
    }
}

impl Store for PapayaStore {
    const NAME: &'static str = "papaya";

    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        let guard = self.0.guard();
        f(self.0.get(key, &guard))
    }

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        self.0.pin().insert(key, entry).cloned()
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        self.0.pin().remove(key).cloned()
    }

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        use papaya::{Compute, Operation};
        let mut out = None;
        let map = self.0.pin();
        let result = map.compute(Bytes::copy_from_slice(key), |cur| {
            let (op, r) = f(cur.map(|(_, v)| v));
            match (op, cur) {
                (Op::Put(e), _) => {
                    out = Some(r);
                    Operation::Insert(e)
                }
                (Op::Remove, Some(_)) => {
                    out = Some(r);
                    Operation::Remove
                }
                _ => Operation::Abort(r),
            }
        });
        match result {
            Compute::Aborted(r) => r,
            _ => out.expect("papaya applied an operation the closure chose"),
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&self) {
        self.0.pin().clear();
    }

    fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        self.0.pin().retain(|k, v| f(k, v));
    }

    fn scan<F>(&self, _cursor: u64, _count: usize, mut f: F) -> u64
    where
        F: FnMut(&Bytes, &Entry),
    {
        self.0.pin().iter().for_each(|(k, v)| f(k, v));
        0
    }

    fn random_entry(&self, _seed: u64) -> Option<(Bytes, Entry)> {
        let map = self.0.pin();
        let first = map.iter().next().map(|(k, v)| (k.clone(), v.clone()));
        first
    }
}

/// `dashmap::DashMap<Bytes, Entry>`.
pub struct DashStore(dashmap::DashMap<Bytes, Entry, RandomState>);

impl Default for DashStore {
    fn default() -> Self {
        DashStore(dashmap::DashMap::with_hasher(RandomState::default()))
    }
}

impl Store for DashStore {
    const NAME: &'static str = "dashmap";

    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        f(self.0.get(key).as_deref())
    }

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        self.0.insert(key, entry)
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        self.0.remove(key).map(|(_, v)| v)
    }

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        use dashmap::mapref::entry::Entry as Slot;
        if let Some(mut cur) = self.0.get_mut(key) {
            let (op, r) = f(Some(&*cur));
            match op {
                Op::Keep => return r,
                Op::Put(e) => {
                    *cur = e;
                    return r;
                }
                // Removal needs the entry API; decide again under it.
                Op::Remove => {}
            }
        }
        match self.0.entry(Bytes::copy_from_slice(key)) {
            Slot::Occupied(mut o) => {
                let (op, r) = f(Some(o.get()));
                match op {
                    Op::Keep => {}
                    Op::Put(e) => {
                        o.insert(e);
                    }
                    Op::Remove => {
                        o.remove();
                    }
                }
                r
            }
            Slot::Vacant(v) => {
                let (op, r) = f(None);
                if let Op::Put(e) = op {
                    v.insert(e);
                }
                r
            }
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn clear(&self) {
        self.0.clear();
    }

    fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        self.0.retain(|k, v| f(k, v));
    }

    fn scan<F>(&self, _cursor: u64, _count: usize, mut f: F) -> u64
    where
        F: FnMut(&Bytes, &Entry),
    {
        self.0.iter().for_each(|r| f(r.key(), r.value()));
        0
    }

    fn random_entry(&self, _seed: u64) -> Option<(Bytes, Entry)> {
        self.0
            .iter()
            .next()
            .map(|r| (r.key().clone(), r.value().clone()))
    }
}
