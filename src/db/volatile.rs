//! The index of keys that carry a TTL (Redis's `expires` dict), so the
//! sweeper samples only those.
//!
//! It is deliberately not a `Store`: it holds key copies and nothing else,
//! costs the same whatever backend the database uses, and supports what the
//! sweeper needs, sampling by position. 64 shards, each a mutex around a
//! [`KeySet`] (keys at dense positions plus a compact table of positions):
//! insert and remove are O(1) under one shard's lock (removal moves the
//! last key into the hole), and a cursor walks positions shard by shard.
//!
//! About 29.5 bytes per volatile key at any size (a 24-byte [`Key`], keys
//! of up to 22 bytes inline, plus 4-byte table slots 7/10 to 7/8 full),
//! against 40-ish for Redis, which shares the key string between its two
//! dicts. An `IndexSet<Box<[u8]>>` took 90, and a `Vec<Key>` with a
//! hashbrown table of positions 36 at a million keys (up to 50 just after
//! both doubled).
//!
//! The index is a hint kept honest by the rule in `keyspace`: a key is
//! added after the write that gives it a TTL, and removed by whoever takes
//! the TTL away, who then re-checks the map.

use std::hash::BuildHasher;

use bytes::Bytes;
use parking_lot::Mutex;
use store_api::keyset::KeySet;

/// Shards; a power of two.
const SHARDS: usize = 64;

/// The shard is picked by the hash's lowest bits, which `KeySet` uses for
/// neither the home slot (the top bits) nor the tag (bits 8 and up).
fn shard_of(hash: u64) -> usize {
    hash as usize % SHARDS
}

type Shard = KeySet<foldhash::fast::RandomState>;

/// The set of keys with a TTL in one database.
pub struct VolatileIndex {
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::RandomState,
}

impl Default for VolatileIndex {
    fn default() -> Self {
        // Every shard hashes alike, so a key is hashed once per operation.
        let hasher = foldhash::fast::RandomState::default();
        VolatileIndex {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::with_hasher(hasher.clone())))
                .collect(),
            hasher,
        }
    }
}

impl VolatileIndex {
    /// Add `key` (copied only if it is not there yet).
    pub fn insert(&self, key: &[u8]) {
        let hash = self.hasher.hash_one(key);
        self.shards[shard_of(hash)].lock().insert_hashed(hash, key);
    }

    /// Remove `key`; true if it was there.
    pub fn remove(&self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        self.shards[shard_of(hash)].lock().remove_hashed(hash, key)
    }

    /// Forget every key (the database was emptied in place).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            let old = std::mem::replace(&mut *s.lock(), Shard::with_hasher(self.hasher.clone()));
            drop(old);
        }
    }

    /// A key chosen at random from `seed` (eviction's `volatile-*`
    /// sampling): a random shard, the next non-empty one, a random slot.
    pub fn random(&self, seed: u64) -> Option<Bytes> {
        let first = (seed >> 58) as usize % SHARDS;
        (0..SHARDS).find_map(|i| {
            let keys = self.shards[(first + i) % SHARDS].lock();
            let at = seed as usize % keys.len().max(1);
            keys.get(at).map(|k| k.to_bytes())
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
                keys.extend(set.get(i).map(|k| k.to_bytes()));
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
    fn every_key_stays_findable_as_others_move_into_holes() {
        // Removal moves the shard's last key into the hole and the table
        // must follow it; shrinking rehashes every position. A stale
        // position answers "absent" for a key that is there.
        let idx = VolatileIndex::default();
        let key = |i: usize| format!("key:{i}").into_bytes();
        for i in 0..4_000 {
            idx.insert(&key(i));
        }
        let mut gone: Vec<usize> = (0..4_000).filter(|i| i % 4 != 0).collect();
        gone.sort_by_key(|i| (i * 7919) % 4_001);
        for &i in &gone {
            assert!(idx.remove(&key(i)), "key {i} lost before its removal");
        }
        assert_eq!(idx.len(), 1_000);
        for i in 0..4_000 {
            assert_eq!(idx.remove(&key(i)), i % 4 == 0, "key {i}");
        }
        assert!(idx.is_empty());
    }

    #[test]
    fn random_keys_come_from_the_index() {
        let idx = VolatileIndex::default();
        assert_eq!(idx.random(7), None);
        for i in 0..100 {
            idx.insert(format!("key:{i}").as_bytes());
        }
        let mut seen = std::collections::HashSet::new();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..1_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = idx.random(seed).expect("a key, from a non-empty index");
            assert!(k.starts_with(b"key:"));
            seen.insert(k);
        }
        assert!(seen.len() > 50, "only {} distinct keys", seen.len());
    }

    #[test]
    fn a_pass_of_samples_visits_every_key_once() {
        let idx = VolatileIndex::default();
        for i in 0..5_000 {
            idx.insert(format!("key:{i}").as_bytes());
        }
        let (mut cursor, mut seen) = (0, Vec::new());
        // Bounded: a pass that never ends fails instead of hanging.
        for calls in 0.. {
            assert!(calls < 5_000 / 20 + SHARDS, "the pass does not end");
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
        for calls in 0.. {
            assert!(calls < 3_000 / 20 + SHARDS, "the pass does not end");
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
        let kept: usize = idx.shards.iter().map(|s| s.lock().heap_bytes()).sum();
        assert_eq!(kept, 0, "{kept} bytes kept after removing everything");
    }

    #[test]
    fn keys_are_spread_over_the_shards_by_their_hash_s_low_bits() {
        assert_eq!(shard_of(0), 0);
        assert_eq!(shard_of(63), 63);
        assert_eq!(shard_of(64 + 5), 5);
        assert_eq!(shard_of(u64::MAX), 63);
        let idx = VolatileIndex::default();
        for i in 0..1_000 {
            idx.insert(format!("key:{i}").as_bytes());
        }
        let used = idx.shards.iter().filter(|s| !s.lock().is_empty()).count();
        assert!(used > SHARDS / 2, "{used} shards in use");
    }
}
