//! `SccStore`: an adapter over [`scc::HashMap`] (scc 3), split into 64 shards
//! so SCAN has a stable cursor.
//!
//! Each key is hashed once here with a randomly seeded `foldhash`; the top
//! six bits pick the shard, an `scc::HashMap<Key, Box<Entry>>` (which hashes
//! again with its own `foldhash` seed: its API takes no pre-computed hash).
//! scc keeps entries inline in buckets of 32 slots, each bucket with its own
//! read-write lock; bucket arrays are reached lock-free under an `sdd` epoch
//! guard and resized incrementally by whichever threads touch them.
//!
//! # Why shards
//! `scc::HashMap::iter_sync` survives a concurrent resize within one call
//! (it maps its bucket position from the old array onto the new one), but
//! it cannot start from a position, so there is no `u64` a later SCAN call
//! could resume from. The cursor is therefore a shard index, and each SCAN
//! call iterates whole shards. A key never changes shard, and a key present
//! for the whole iteration is present for the whole visit of its shard.
//!
//! # `compute` on scc
//! scc's entry API holds the bucket's write lock, so `compute` is direct:
//! `get_sync` locks the key's bucket if the key is present, and the closure
//! runs once under that lock (Keep, replace, or remove the occupied entry).
//! If the key is absent and the closure says `Put`, `entry_sync` with a copy
//! of the key locks the bucket again; if another thread inserted meanwhile
//! the closure runs once more, on that entry, under the lock. The key is
//! copied only when an insert is attempted.
//!
//! # Guarantees under concurrency
//! - Single-key operations are linearizable (scc documents its map methods
//!   as linearizable; every one here is a single locked bucket access).
//! - `len` is the sum of `scc::HashMap::len` over the shards. scc keeps no
//!   counter: each call reads every bucket's metadata, so `len` costs
//!   O(capacity), and while a resize is in flight it may count an entry
//!   twice (once in the old array). With writers running it is neither a
//!   snapshot nor exact; once writers stop it is exact.
//! - `scan` sees every key present for the whole iteration at least once; a
//!   key can be seen twice if a resize moves it while its shard is being
//!   read. Keys added or removed meanwhile may or may not appear. A call
//!   visits whole shards until `count` entries were seen: about n/64 keys
//!   per call, whatever `count` says. The visit callback runs under a bucket
//!   read lock and must not call back into the store.
//! - `retain` and `clear` are per-bucket atomic, not a snapshot: keys
//!   inserted while they run may survive.
//! - `random_entry` picks a shard from the seed (the first non-empty one from
//!   there) and walks it to a seed-chosen position: O(shard capacity).
//!
//! # Memory
//! A removed entry is moved out of its bucket and dropped at once (readers
//! hold the bucket lock, so no deferral is needed). A bucket array that
//! becomes sparse is replaced by a smaller one, and the old array is retired
//! to the `sdd` epoch collector, freed once every thread that could still see
//! it has moved past the epoch (collectors advance as threads enter and
//! leave scc operations). Dropping the store frees the arrays the same way.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::hash::BuildHasher;

use bytes::Bytes;
use foldhash::fast::RandomState;
use scc::hash_map::{Entry as Slot, OccupiedEntry};
use store_api::keyindex::KeyIndex;
use store_api::{Entry, Key, Op, Store};

/// Number of shards; a power of two so the top hash bits select one.
pub const SHARDS: usize = 64;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

type Shard = scc::HashMap<Key, Box<Entry>, RandomState>;

/// 64 shards of `scc::HashMap<Key, Box<Entry>>`.
///
/// A bucket slot holds the key inline (up to 22 bytes; longer keys have a
/// heap copy) and a pointer to the entry: 32 bytes, where the key handle
/// and entry inline took 72 (plus the key's own allocation). scc's buckets
/// sit at 35-45% load, so slot size is most of what a key costs. The entry
/// is boxed, not inline, for eviction as well: scc frees a removed entry's
/// slot only when its bucket array shrinks, and the evictor, which watches
/// `used_memory`, must see a removal free something. With key and entry
/// both inline a removal freed nothing and the evictor went on evicting
/// recently used keys (`lru_evicts_the_keys_idle_longest`: 419 recent
/// against 2,794 idle); the box (the 48-byte size class) is what a removal
/// gives back at once. An update rewrites the boxed entry in place.
pub struct SccStore {
    shards: Box<[Shard]>,
    hasher: RandomState,
    /// The keys of each shard by position, for SCAN and random picks (scc
    /// iterates only from the start).
    index: KeyIndex,
}

impl Default for SccStore {
    fn default() -> Self {
        SccStore {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: RandomState::default(),
            index: KeyIndex::new(SHARDS),
        }
    }
}

impl SccStore {
    fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) >> (64 - SHARD_BITS)) as usize
    }

    fn shard(&self, key: &[u8]) -> &Shard {
        &self.shards[self.shard_of(key)]
    }

    /// Tell the index `key` left the map.
    fn unindex(&self, key: &[u8]) {
        let shard = self.shard(key);
        self.index
            .removed(self.shard_of(key), key, || shard.contains_sync(key));
    }

    /// Apply a decision to an entry whose bucket we hold locked.
    fn apply(&self, mut slot: OccupiedEntry<'_, Key, Box<Entry>, RandomState>, op: Op) {
        match op {
            Op::Keep => {}
            Op::Put(entry) => {
                let old = std::mem::replace(&mut **slot.get_mut(), entry);
                drop(slot); // unlock before the old payload is freed
                drop(old);
            }
            Op::Remove => {
                let (key, _) = slot.remove_entry();
                self.unindex(&key);
            }
        }
    }
}

impl Store for SccStore {
    const NAME: &'static str = "scc";
    // Bucket slot, boxed entry, key index: used_memory per key at 1M keys
    // (150.6 B, values of 16 bytes, kept inline; 262.6 B with 100-byte
    // ones, less 112) less the key's size class (16).
    const KEY_OVERHEAD: usize = 135;

    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        // `f` is FnOnce: it moves into the reader closure, and comes back
        // out through `f` only if that closure never ran (key absent).
        let mut f = Some(f);
        let found = self
            .shard(key)
            .read_sync(key, |_, e| f.take().map(|f| f(Some(&**e))));
        match (found.flatten(), f) {
            (Some(r), _) => r,
            (None, Some(f)) => f(None),
            (None, None) => unreachable!("read_sync ran the reader without a result"),
        }
    }

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        let shard = self.shard(&key);
        if let Some(mut slot) = shard.get_sync(&key[..]) {
            return Some(std::mem::replace(&mut **slot.get_mut(), entry));
        }
        match shard.entry_sync(Key::new(&key)) {
            Slot::Occupied(mut slot) => Some(std::mem::replace(&mut **slot.get_mut(), entry)),
            Slot::Vacant(slot) => {
                slot.insert_entry(Box::new(entry));
                self.index.added(self.shard_of(&key), &key);
                None
            }
        }
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        let old = self.shard(key).remove_sync(key).map(|(_, e)| *e);
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
        if let Some(slot) = shard.get_sync(key) {
            let (op, r) = f(Some(slot.get()));
            self.apply(slot, op);
            return r;
        }
        let (op, r) = f(None);
        let Op::Put(entry) = op else { return r };
        match shard.entry_sync(Key::new(key)) {
            Slot::Vacant(slot) => {
                slot.insert_entry(Box::new(entry));
                self.index.added(self.shard_of(key), key);
                r
            }
            Slot::Occupied(slot) => {
                // Another thread inserted between our two lookups.
                let (op, r) = f(Some(slot.get()));
                self.apply(slot, op);
                r
            }
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.is_empty())
    }

    fn clear(&self) {
        self.index.clear();
        for shard in self.shards.iter() {
            shard.clear_sync();
        }
    }

    fn retain<F>(&self, mut f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        let mut dropped = Vec::new();
        for shard in self.shards.iter() {
            shard.retain_sync(|k, e| {
                let keep = f(k.as_bytes(), e);
                if !keep {
                    dropped.push(k.clone());
                }
                keep
            });
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
            self.shard(k).read_sync(&k[..], |_, e| f(k, e)).is_some()
        })
    }

    fn random_entry(&self, seed: u64) -> Option<(Bytes, Entry)> {
        let mut state = seed;
        let mut found = None;
        self.index.random(
            || store_api::splitmix64(&mut state),
            |k| {
                found = self
                    .shard(k)
                    .read_sync(&k[..], |_, e| (k.clone(), Entry::clone(e)));
                found.is_some()
            },
        );
        found
    }
}
