//! `FlurryStore`: an adapter over [`flurry`] 0.5 (a port of Java's
//! `ConcurrentHashMap`), split into 64 shards so SCAN has a stable cursor.
//!
//! Each key is hashed once here with a randomly seeded `foldhash`; the top
//! six bits pick the shard, a `flurry::HashMap<Key, Entry>` (a [`Key`] keeps
//! keys up to 22 bytes inline, with no allocation of their own). Inside the
//! shard flurry hashes again with its own seed (its API takes no pre-computed
//! hash). Reads are lock-free; writes CAS an empty bin or lock the bin's
//! first node. Every operation pins the shard's `seize` collector for its
//! duration only; no guard outlives a call.
//!
//! # Why shards
//! flurry's iterator survives concurrent resizes (it follows forwarding
//! nodes into the next table, as Java's `Traverser` does), but only within
//! one iterator object: there is no position a stateless `u64` cursor could
//! name that keeps its meaning after the table doubles. So the cursor is a
//! shard index and each SCAN call iterates whole shards with flurry's own
//! iterator. A key never changes shard, and a key present for the whole
//! iteration is present for the whole visit of its shard, so it is seen.
//!
//! # `compute` on flurry
//! flurry has no general compute, but two conditional primitives:
//! `try_insert` (insert only if absent) and `compute_if_present` (remap or
//! remove a present key under its bin lock). `compute` combines them:
//! 1. `get` the current value (lock-free) and run the closure on it.
//!    `Keep` is done: it linearizes at that read, so SET NX on an existing
//!    key or INCR on a non-integer never writes.
//! 2. Absent and `Put`: `try_insert` a copy of the key. If another thread
//!    inserted first, run the closure again on the value it inserted.
//! 3. Present and `Put`/`Remove`: `compute_if_present`. Under the bin lock,
//!    if the key still maps to the very value the closure saw (same
//!    allocation; seize cannot free and reuse it while our guard is held, so
//!    there is no ABA) the decision is applied as is; otherwise the closure
//!    runs again on the current value, still under the lock. If the key is
//!    gone by then, start over at 1.
//!
//! Cost: an uncontended `Keep` is one lock-free lookup; an uncontended write
//! is one lookup plus one locked update (or one CAS for a new key), and the
//! closure runs once. Each interference costs one more closure call, and a
//! retry from step 1 when the key vanished meanwhile; the loop is lock-free
//! (a retry means another write to the key completed). A `Keep` decided
//! under the lock after interference still has to store a clone of the
//! current entry, because `compute_if_present` can only replace or remove.
//! Every write allocates a new value box (and a node for a new key) and
//! retires the old one, as flurry always does.
//!
//! # Guarantees under concurrency
//! - Single-key operations (read, get, insert, remove, compute) are
//!   linearizable (flurry's per-bin locking plus the rules above).
//! - `len` is the sum of the shards' counters. Each counter is updated just
//!   after the bin it counts, so with writers running the sum is neither a
//!   snapshot nor exact; once writers stop it is exact. O(64).
//! - `scan` sees every key present for the whole iteration at least once; a
//!   key can be seen twice if a resize moves it while its shard is being
//!   read. Keys added or removed meanwhile may or may not appear. A call
//!   visits whole shards until `count` entries were seen: about n/64 keys
//!   per call, whatever `count` says.
//! - `retain` removes an entry only if it still holds the value the
//!   predicate saw; `clear` and `retain` are per-key atomic, not a snapshot:
//!   keys inserted while they run may survive.
//! - `random_entry` picks a shard from the seed (the first non-empty one from
//!   there) and walks it to a seed-chosen position: O(shard size).
//!
//! # Memory
//! Removed nodes and replaced values are retired to the shard's `seize`
//! collector and freed in batches: once a thread has retired 120 objects to
//! that collector, the batch is freed as soon as every thread that was
//! inside an operation at that moment has left it. So after a mass delete up
//! to 64 × 119 retired entries per writing thread can stay allocated until
//! that thread writes again or the store is dropped. Tables never shrink:
//! after deleting every key each shard keeps its bin array (8 bytes per bin).
//! Dropping the store frees everything.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::hash::BuildHasher;
use std::ptr;
use std::sync::OnceLock;

use bytes::Bytes;
use flurry::Guard;
use foldhash::fast::RandomState;
use store_api::keyindex::KeyIndex;
use store_api::{Entry, Key, Op, Store};

/// Number of shards; a power of two so the top hash bits select one.
pub const SHARDS: usize = 64;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

type Shard = flurry::HashMap<Key, Entry, RandomState>;

/// A shard whose `seize` collector tracks no epochs. Epochs protect
/// reclamation from a thread stalled inside a guard (a reader that keeps
/// one for long); every guard here lives for one call, so they bought
/// nothing, and they cost a thread-local lookup on every pointer flurry
/// loads (`protect`) and a shared counter on every node it links: about
/// 100 instructions per GET (callgrind, `reports/2026-12-06-request-path.md`).
/// Without them a `protect` is one SeqCst load.
fn new_shard() -> Shard {
    let collector = seize::Collector::new().epoch_frequency(None);
    Shard::with_hasher(RandomState::default()).with_collector(collector)
}

/// 64 shards of `flurry::HashMap<Key, Entry>`.
///
/// Shards are built on first use: each flurry map creates its own `seize`
/// collector, which probes the CPU count (cgroup files) and costs tens of
/// microseconds, so building all 64 eagerly made every new keyspace
/// (start-up, FLUSHDB, FLUSHALL) cost ~3 ms per database.
pub struct FlurryStore {
    shards: Box<[OnceLock<Shard>]>,
    hasher: RandomState,
    /// The keys of each shard by position, for SCAN and random picks
    /// (flurry iterates only from the start).
    index: KeyIndex,
}

impl Default for FlurryStore {
    fn default() -> Self {
        FlurryStore {
            shards: (0..SHARDS).map(|_| OnceLock::new()).collect(),
            hasher: RandomState::default(),
            index: KeyIndex::new(SHARDS),
        }
    }
}

impl FlurryStore {
    fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) >> (64 - SHARD_BITS)) as usize
    }

    fn shard(&self, key: &[u8]) -> &Shard {
        self.shards[self.shard_of(key)].get_or_init(new_shard)
    }

    /// Tell the index `key` left the map.
    fn unindex(&self, key: &[u8]) {
        let shard = self.shard(key);
        self.index.removed(self.shard_of(key), key, || {
            shard.contains_key(key, &shard.guard())
        });
    }

    /// The shards built so far (the others are empty).
    fn built(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter().filter_map(OnceLock::get)
    }
}

/// Apply `decided` (a Put or Remove chosen on `old`) to a present key under
/// its bin lock. If the key no longer holds `old`, run `f` again on what it
/// holds. `None` when the key is gone.
fn update_present<R, F>(
    shard: &Shard,
    key: &[u8],
    old: &Entry,
    decided: (Op, R),
    f: &mut F,
    guard: &Guard<'_>,
) -> Option<R>
where
    F: FnMut(Option<&Entry>) -> (Op, R),
{
    let mut decided = Some(decided);
    let mut result = None;
    shard.compute_if_present(
        key,
        |_, current| {
            let (op, r) = match decided.take() {
                // Same allocation: seize keeps `old` alive while we hold the
                // guard, so an equal address means the value never changed.
                Some(d) if ptr::eq(current, old) => d,
                _ => f(Some(current)),
            };
            result = Some(r);
            match op {
                Op::Put(entry) => Some(entry),
                Op::Remove => None,
                Op::Keep => Some(current.clone()),
            }
        },
        guard,
    );
    result
}

impl Store for FlurryStore {
    const NAME: &'static str = "flurry";
    // Node, table, key index: used_memory per key at 1M keys (216 B, values
    // of 16 bytes, kept inline; 328 B with 100-byte ones, less 112) less
    // the key's size class (16).
    const KEY_OVERHEAD: usize = 200;

    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        let shard = self.shard(key);
        let guard = shard.guard();
        f(shard.get(key, &guard))
    }

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        let shard = self.shard(&key);
        let guard = shard.guard();
        let old = shard.insert(Key::new(&key), entry, &guard).cloned();
        if old.is_none() {
            self.index.added(self.shard_of(&key), &key);
        }
        old
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        let shard = self.shard(key);
        let guard = shard.guard();
        let old = shard.remove(key, &guard).cloned();
        if old.is_some() {
            self.unindex(key);
        }
        old
    }

    fn compute<R, F>(&self, key: &[u8], mut f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R),
    {
        let shard = self.shard(key);
        let guard = shard.guard();
        let mut seen = shard.get(key, &guard);
        loop {
            match (seen, f(seen)) {
                (_, (Op::Keep, r)) | (None, (Op::Remove, r)) => return r,
                (None, (Op::Put(entry), r)) => {
                    match shard.try_insert(Key::new(key), entry, &guard) {
                        Ok(_) => {
                            self.index.added(self.shard_of(key), key);
                            return r;
                        }
                        // Another thread inserted first: decide again on its entry.
                        Err(lost) => seen = Some(lost.current),
                    }
                }
                (Some(old), decided) => {
                    let removes = matches!(decided.0, Op::Remove);
                    match update_present(shard, key, old, decided, &mut f, &guard) {
                        Some(r) => {
                            // A removal decided on a re-read is missed here
                            // and leaves a stale index entry, which the next
                            // scan or random pick drops.
                            if removes {
                                self.unindex(key);
                            }
                            return r;
                        }
                        // Removed between our read and the lock: decide again.
                        None => seen = shard.get(key, &guard),
                    }
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.built().map(|s| s.len()).sum()
    }

    fn is_empty(&self) -> bool {
        self.built().all(|s| s.is_empty())
    }

    fn clear(&self) {
        self.index.clear();
        for shard in self.built() {
            shard.clear(&shard.guard());
        }
    }

    fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        let mut dropped = Vec::new();
        for shard in self.built() {
            shard.retain(
                |k, e| {
                    let keep = f(k, e);
                    if !keep {
                        dropped.push(k.clone());
                    }
                    keep
                },
                &shard.guard(),
            );
        }
        for k in dropped {
            self.unindex(&k);
        }
    }

    fn scan<F>(&self, cursor: u64, count: usize, mut f: F) -> u64
    where
        F: FnMut(&Bytes, &Entry),
    {
        self.index.scan(cursor, count, |k| {
            let shard = self.shard(k);
            let guard = shard.guard();
            match shard.get(k.as_ref(), &guard) {
                Some(e) => {
                    f(k, e);
                    true
                }
                None => false,
            }
        })
    }

    fn random_entry(&self, seed: u64) -> Option<(Bytes, Entry)> {
        let mut state = seed;
        let mut found = None;
        self.index.random(
            || store_api::splitmix64(&mut state),
            |k| {
                let shard = self.shard(k);
                let guard = shard.guard();
                found = shard
                    .get(k.as_ref(), &guard)
                    .map(|e| (k.clone(), e.clone()));
                found.is_some()
            },
        );
        found
    }
}
