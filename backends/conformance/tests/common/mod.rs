//! Stores for testing the tests: an obviously correct reference store and
//! deliberately broken ones, each broken in the way one conformance check
//! exists to catch.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{BTreeSet, HashMap};
use std::hash::Hasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

/// One `Mutex<HashMap>`. With `POSITIONAL = false` ([`MutexStore`]) a scan
/// walks the keys in the order of a fixed hash (kept in a `BTreeSet` beside
/// the map) and the cursor is the next hash to visit: bounded per call and
/// correct by inspection, since a key's hash never changes. With
/// `POSITIONAL = true` ([`PositionCursor`]) the cursor is a position in the
/// map's iteration order, which a resize reshuffles: the classic way to
/// break the SCAN guarantee.
#[derive(Default)]
pub struct MapStore<const POSITIONAL: bool>(Mutex<Inner>);

#[derive(Default)]
pub struct Inner {
    map: HashMap<Bytes, Entry>,
    /// Every key by its fixed hash: the reference scan order.
    order: BTreeSet<(u64, Bytes)>,
}

/// The reference store.
pub type MutexStore = MapStore<false>;
/// The reference store with a positional scan cursor.
pub type PositionCursor = MapStore<true>;

/// A hash that never changes (SipHash with zero keys).
fn fixed_hash(key: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    h.write(key);
    h.finish()
}

impl Inner {
    fn insert(&mut self, key: Bytes, entry: Entry) -> Option<Entry> {
        self.order.insert((fixed_hash(&key), key.clone()));
        self.map.insert(key, entry)
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let old = self.map.remove(key);
        if old.is_some() {
            self.order
                .remove(&(fixed_hash(key), Bytes::copy_from_slice(key)));
        }
        if self.map.capacity() > 64 && self.map.len() < self.map.capacity() / 4 {
            self.map.shrink_to(self.map.len() * 2);
        }
        old
    }
}

impl<const POSITIONAL: bool> MapStore<POSITIONAL> {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<const POSITIONAL: bool> Store for MapStore<POSITIONAL> {
    const NAME: &'static str = if POSITIONAL {
        "position_cursor"
    } else {
        "mutex"
    };

    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        f(self.lock().map.get(key))
    }

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        self.lock().insert(key, entry)
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        self.lock().remove(key)
    }

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        let mut m = self.lock();
        let (op, r) = f(m.map.get(key));
        match op {
            Op::Keep => {}
            Op::Put(e) => match m.map.get_mut(key) {
                Some(slot) => *slot = e,
                None => drop(m.insert(Bytes::copy_from_slice(key), e)),
            },
            Op::Remove => drop(m.remove(key)),
        }
        r
    }

    fn len(&self) -> usize {
        self.lock().map.len()
    }

    fn clear(&self) {
        let old = std::mem::take(&mut *self.lock());
        drop(old);
    }

    fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        let mut m = self.lock();
        let gone: Vec<Bytes> = m
            .map
            .iter()
            .filter(|(k, e)| !f(k, e))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            m.remove(&k);
        }
    }

    fn scan<F>(&self, cursor: u64, count: usize, mut f: F) -> u64
    where
        F: FnMut(&Bytes, &Entry),
    {
        let m = self.lock();
        if !POSITIONAL {
            // Whole hash groups from `cursor` on, until `count` entries.
            let mut last = None;
            for (visited, (h, k)) in m.order.range((cursor, Bytes::new())..).enumerate() {
                if visited >= count.max(1) && last != Some(*h) {
                    return *h;
                }
                f(k, &m.map[k]);
                last = Some(*h);
            }
            return 0;
        }
        let start = cursor as usize;
        let mut visited = 0;
        for (k, e) in m.map.iter().skip(start).take(count.max(1)) {
            f(k, e);
            visited += 1;
        }
        if start + visited >= m.map.len() {
            0
        } else {
            (start + visited) as u64
        }
    }

    fn random_entry(&self, seed: u64) -> Option<(Bytes, Entry)> {
        let m = self.lock();
        if m.map.is_empty() {
            return None;
        }
        let nth = (seed % m.map.len() as u64) as usize;
        m.map.iter().nth(nth).map(|(k, e)| (k.clone(), e.clone()))
    }
}

/// The anti-pattern from flashkv 0.1: compute as get, decide, then insert or
/// remove, with a yield in the window where another thread can act.
#[derive(Default)]
pub struct CheckThenAct<S>(pub S);

/// A store whose insert and compute-Put first write a half-updated entry
/// (new payload, old deadline) and the full entry after a yield.
#[derive(Default)]
pub struct Torn<S>(pub S);

/// A store that keeps its own key counter and decides whether a remove
/// deleted something from a separate, earlier lookup.
#[derive(Default)]
pub struct DriftingLen<S>(pub S, AtomicUsize);

/// A store whose compute returns the result of a probe call of the closure
/// made outside the atomic step, while applying a later call's decision.
#[derive(Default)]
pub struct StaleResult<S>(pub S);

/// A store whose retain snapshots the contents, clears, and re-inserts the
/// kept entries: writes made meanwhile are lost.
#[derive(Default)]
pub struct SnapshotRetain<S>(pub S);

/// A store that never frees removed entries (they go to a graveyard).
#[derive(Default)]
pub struct Leaky<S>(pub S, Mutex<Vec<Entry>>);

/// Implements the `Store` methods that a wrapper does not override by
/// forwarding them to the wrapped store.
macro_rules! forward {
    (read) => {
        fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
            self.0.read(key, f)
        }
    };
    (insert) => {
        fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
            self.0.insert(key, entry)
        }
    };
    (remove) => {
        fn remove(&self, key: &[u8]) -> Option<Entry> {
            self.0.remove(key)
        }
    };
    (compute) => {
        fn compute<R, F>(&self, key: &[u8], f: F) -> R
        where
            F: FnMut(Option<&Entry>) -> (Op, R),
        {
            self.0.compute(key, f)
        }
    };
    (len) => {
        fn len(&self) -> usize {
            self.0.len()
        }
    };
    (clear) => {
        fn clear(&self) {
            self.0.clear()
        }
    };
    (retain) => {
        fn retain<F>(&self, f: F)
        where
            F: FnMut(&[u8], &Entry) -> bool,
        {
            self.0.retain(f)
        }
    };
    (scan) => {
        fn scan<F>(&self, cursor: u64, count: usize, f: F) -> u64
        where
            F: FnMut(&Bytes, &Entry),
        {
            self.0.scan(cursor, count, f)
        }
    };
    (random_entry) => {
        fn random_entry(&self, seed: u64) -> Option<(Bytes, Entry)> {
            self.0.random_entry(seed)
        }
    };
}

impl<S: Store> Store for CheckThenAct<S> {
    const NAME: &'static str = "check_then_act";
    forward!(read);
    forward!(insert);
    forward!(remove);
    forward!(len);
    forward!(clear);
    forward!(retain);
    forward!(scan);
    forward!(random_entry);

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        let current = self.0.get(key);
        thread::yield_now();
        let (op, r) = f(current.as_ref());
        match op {
            Op::Keep => {}
            Op::Put(e) => drop(self.0.insert(Bytes::copy_from_slice(key), e)),
            Op::Remove => drop(self.0.remove(key)),
        }
        r
    }
}

impl<S: Store> Store for Torn<S> {
    const NAME: &'static str = "torn";
    forward!(read);
    forward!(remove);
    forward!(len);
    forward!(clear);
    forward!(retain);
    forward!(scan);
    forward!(random_entry);

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        let old = self.0.compute(&key, |cur| {
            let half = Entry::new(entry.value.clone(), cur.and_then(|e| e.expires_at()));
            (Op::Put(half), cur.cloned())
        });
        thread::yield_now();
        self.0.insert(key, entry);
        old
    }

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        let (full, r) = self.0.compute(key, |cur| match f(cur) {
            (Op::Put(e), r) => {
                let half = Entry::new(e.value.clone(), cur.and_then(|c| c.expires_at()));
                (Op::Put(half), (Some(e), r))
            }
            (op, r) => (op, (None, r)),
        });
        if let Some(e) = full {
            thread::yield_now();
            self.0.insert(Bytes::copy_from_slice(key), e);
        }
        r
    }
}

impl<S: Store> Store for DriftingLen<S> {
    const NAME: &'static str = "drifting_len";
    forward!(read);
    forward!(scan);
    forward!(random_entry);
    forward!(retain);

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        let old = self.0.insert(key, entry);
        if old.is_none() {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        old
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        let existed = self.0.get(key).is_some();
        thread::yield_now();
        let old = self.0.remove(key);
        if existed {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
        old
    }

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        let (r, delta) = self.0.compute(key, |cur| {
            let (op, r) = f(cur);
            let delta = match (&op, cur.is_some()) {
                (Op::Put(_), false) => 1isize,
                (Op::Remove, true) => -1,
                _ => 0,
            };
            (op, (r, delta))
        });
        if delta > 0 {
            self.1.fetch_add(1, Ordering::SeqCst);
        } else if delta < 0 {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
        r
    }

    fn len(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }

    fn clear(&self) {
        self.0.clear();
        self.1.store(0, Ordering::SeqCst);
    }
}

impl<S: Store> Store for StaleResult<S> {
    const NAME: &'static str = "stale_result";
    forward!(read);
    forward!(insert);
    forward!(remove);
    forward!(len);
    forward!(clear);
    forward!(retain);
    forward!(scan);
    forward!(random_entry);

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        let (_, probe) = f(self.0.get(key).as_ref());
        thread::yield_now();
        self.0.compute(key, |cur| (f(cur).0, ()));
        probe
    }
}

impl<S: Store> Store for SnapshotRetain<S> {
    const NAME: &'static str = "snapshot_retain";
    forward!(read);
    forward!(insert);
    forward!(remove);
    forward!(compute);
    forward!(len);
    forward!(clear);
    forward!(scan);
    forward!(random_entry);

    fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        let mut kept = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = self.0.scan(cursor, 1_000, |k, e| {
                if f(k, e) {
                    kept.push((k.clone(), e.clone()));
                }
            });
            if cursor == 0 {
                break;
            }
        }
        thread::yield_now();
        self.0.clear();
        for (k, e) in kept {
            self.0.insert(k, e);
        }
    }
}

impl<S: Store> Leaky<S> {
    fn bury(&self, e: Entry) {
        self.1
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e);
    }
}

impl<S: Store> Store for Leaky<S> {
    const NAME: &'static str = "leaky";
    forward!(read);
    forward!(insert);
    forward!(compute);
    forward!(len);
    forward!(scan);
    forward!(random_entry);

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        let old = self.0.remove(key);
        if let Some(e) = &old {
            self.bury(e.clone());
        }
        old
    }

    fn clear(&self) {
        self.retain(|_, _| false);
    }

    fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        self.0.retain(|k, e| {
            let keep = f(k, e);
            if !keep {
                self.bury(e.clone());
            }
            keep
        });
    }
}
