//! The index of keys that carry a TTL (Redis's `expires` dict), so the
//! sweeper samples only those.
//!
//! It is deliberately not a `Store`: it holds key copies and nothing else,
//! costs the same whatever backend the database uses, and supports what the
//! sweeper needs, sampling by position. 64 shards, each a mutex around an
//! `IndexSet` (a dense vector of keys plus a hash index): insert and remove
//! are O(1) under one shard's lock (removal swaps the last key into the
//! hole), and a cursor walks positions shard by shard. About 80 bytes per
//! volatile key (the key's own allocation included), against 40-ish for
//! Redis, which shares the key string between its two dicts.
//!
//! The index is a hint kept honest by the rule in `keyspace`: a key is
//! added after the write that gives it a TTL, and removed by whoever takes
//! the TTL away, who then re-checks the map.

use std::hash::BuildHasher;

use bytes::Bytes;
use indexmap::IndexSet;
use parking_lot::Mutex;

/// Shards; a power of two so the top hash bits pick one.
const SHARDS: usize = 64;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();

type Shard = IndexSet<Box<[u8]>, foldhash::fast::RandomState>;

/// The set of keys with a TTL in one database.
pub struct VolatileIndex {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::RandomState,
}

impl Default for VolatileIndex {
    fn default() -> Self {
        VolatileIndex {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl VolatileIndex {
    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) >> (64 - SHARD_BITS)) as usize]
    }

    /// Add `key` (copied only if it is not there yet).
    pub fn insert(&self, key: &[u8]) {
        let mut shard = self.shard(key).lock();
        if !shard.contains(key) {
            shard.insert(key.into());
        }
    }

    /// Remove `key`; true if it was there.
    pub fn remove(&self, key: &[u8]) -> bool {
        let mut shard = self.shard(key).lock();
        let removed = shard.swap_remove(key);
        if removed && shard.capacity() > 64 && shard.len() < shard.capacity() / 4 {
            let target = shard.len() * 2;
            shard.shrink_to(target);
        }
        removed
    }

    /// Forget every key (the database was emptied in place).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            let old = std::mem::take(&mut *s.lock());
            drop(old);
        }
    }

    /// A key chosen at random from `seed` (eviction's `volatile-*`
    /// sampling): a random shard, the next non-empty one, a random slot.
    pub fn random(&self, seed: u64) -> Option<Bytes> {
        let first = (seed >> 58) as usize % SHARDS;
        (0..SHARDS).find_map(|i| {
            let set = self.shards[(first + i) % SHARDS].lock();
            let n = set.len();
            (n > 0).then(|| Bytes::copy_from_slice(&set[(seed as usize) % n]))
        })
    }

    /// Number of keys (sums the shards; for INFO and the sweeper).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// True when no key has a TTL.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.lock().is_empty())
    }

    /// Up to `count` keys from `cursor` (0 starts a pass) and the cursor to
    /// continue from (0 once the pass has covered every shard).
    ///
    /// Each shard is walked from its last position down. Removing a key
    /// moves the shard's last key into its place, and that key has already
    /// been visited, so the sweeper deleting what it sampled never makes a
    /// pass skip a key. Concurrent removals of unvisited keys may make a
    /// key appear twice; sampling only needs every key to come up.
    pub fn sample(&self, cursor: u64, count: usize) -> (Vec<Bytes>, u64) {
        const FRESH: u64 = u32::MAX as u64;
        let (mut shard, mut below) = match cursor {
            0 => (0, FRESH),
            c => ((c >> 32) as usize, c & FRESH),
        };
        let mut keys = Vec::with_capacity(count);
        while shard < SHARDS && keys.len() < count {
            let set = self.shards[shard].lock();
            let mut i = (below as usize).min(set.len());
            while i > 0 && keys.len() < count {
                i -= 1;
                keys.extend(set.get_index(i).map(|k| Bytes::copy_from_slice(k)));
            }
            if i > 0 {
                return (keys, ((shard as u64) << 32) | i as u64);
            }
            shard += 1;
            below = FRESH;
        }
        let next = if shard >= SHARDS {
            0
        } else {
            ((shard as u64) << 32) | FRESH
        };
        (keys, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_len() {
        let idx = VolatileIndex::default();
        idx.insert(b"a");
        idx.insert(b"a");
        idx.insert(b"b");
        assert_eq!(idx.len(), 2);
        assert!(idx.remove(b"a"));
        assert!(!idx.remove(b"a"));
        assert_eq!(idx.len(), 1);
        assert!(!idx.is_empty());
    }

    #[test]
    fn a_pass_of_samples_visits_every_key_once() {
        let idx = VolatileIndex::default();
        for i in 0..5_000 {
            idx.insert(format!("key:{i}").as_bytes());
        }
        let (mut cursor, mut seen) = (0, Vec::new());
        loop {
            let (keys, next) = idx.sample(cursor, 20);
            assert!(keys.len() <= 20);
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 5_000);
    }

    #[test]
    fn deleting_what_was_sampled_skips_nothing() {
        let idx = VolatileIndex::default();
        for i in 0..3_000 {
            idx.insert(format!("key:{i}").as_bytes());
        }
        let mut cursor = 0;
        loop {
            let (keys, next) = idx.sample(cursor, 20);
            for k in keys {
                assert!(idx.remove(&k));
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert!(idx.is_empty(), "{} keys never sampled", idx.len());
    }

    #[test]
    fn mass_removal_gives_memory_back() {
        let idx = VolatileIndex::default();
        for i in 0..50_000 {
            idx.insert(format!("key:{i}").as_bytes());
        }
        for i in 0..50_000 {
            idx.remove(format!("key:{i}").as_bytes());
        }
        // What stays is bounded by the shard count, not by the keys removed.
        let capacity: usize = idx.shards.iter().map(|s| s.lock().capacity()).sum();
        assert!(
            capacity <= SHARDS * 64,
            "capacity {capacity} kept after removing everything"
        );
    }
}
