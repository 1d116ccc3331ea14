//! The index of keys that carry a TTL (Redis's `expires` dict), so the
//! sweeper samples only those.
//!
//! It is deliberately not a `Store`: it holds key copies and nothing else,
//! costs the same whatever backend the database uses, and supports what the
//! sweeper needs, sampling by position. 64 shards, each a mutex around a
//! dense vector of keys plus a hash table of positions into it: insert and
//! remove are O(1) under one shard's lock (removal swaps the last key into
//! the hole), and a cursor walks positions shard by shard.
//!
//! About 37 bytes per volatile key, against 40-ish for Redis, which shares
//! the key string between its two dicts: a [`Key`] (24 bytes, keys of up to
//! 22 bytes inline) in a vector that grows by doubling, and a 4-byte
//! position plus a control byte in a table at hashbrown's load (7/16 to
//! 7/8). An `IndexSet<Box<[u8]>>` took 90: a hash and a box per key, the
//! key's own allocation, and an entry vector kept as large as the table.
//!
//! The index is a hint kept honest by the rule in `keyspace`: a key is
//! added after the write that gives it a TTL, and removed by whoever takes
//! the TTL away, who then re-checks the map.

use std::hash::BuildHasher;

use bytes::Bytes;
use hashbrown::HashTable;
use parking_lot::Mutex;
use store_api::Key;

/// Shards; a power of two.
const SHARDS: usize = 64;

/// The shard is picked by hash bits 32 to 37, which neither the table's
/// bucket position (the low bits) nor its control byte (the top 7) uses:
/// a shard whose keys all shared those bits would probe far longer.
fn shard_of(hash: u64) -> usize {
    (hash >> 32) as usize % SHARDS
}

/// One shard: keys at dense positions, and their positions by hash.
#[derive(Default)]
struct Shard {
    keys: Vec<Key>,
    index: HashTable<u32>,
}

impl Shard {
    /// Add `key` unless it is there: one probe either way.
    fn insert(&mut self, hash: u64, key: &[u8], hasher: &foldhash::fast::RandomState) {
        let at = u32::try_from(self.keys.len()).expect("under 4G volatile keys per shard");
        let keys = &self.keys;
        let entry = self.index.entry(
            hash,
            |&i| keys[i as usize].as_bytes() == key,
            |&i| hasher.hash_one(keys[i as usize].as_bytes()),
        );
        if let hashbrown::hash_table::Entry::Vacant(slot) = entry {
            slot.insert(at);
            self.keys.push(Key::new(key));
        }
    }

    fn remove(&mut self, hash: u64, key: &[u8], hasher: &foldhash::fast::RandomState) -> bool {
        let keys = &self.keys;
        let Ok(found) = self
            .index
            .find_entry(hash, |&i| keys[i as usize].as_bytes() == key)
        else {
            return false;
        };
        let at = found.remove().0 as usize;
        let last = self.keys.len() - 1;
        if at != last {
            // The last key moves into the hole: point its entry there.
            let moved = hasher.hash_one(self.keys[last].as_bytes());
            let slot = self.index.find_mut(moved, |&i| i as usize == last);
            *slot.expect("every key has a position") = at as u32;
        }
        self.keys.swap_remove(at);
        let (len, target) = (self.keys.len(), self.keys.len() * 2);
        if self.keys.capacity() > 64 && len < self.keys.capacity() / 4 {
            self.keys.shrink_to(target);
        }
        if self.index.capacity() > 64 && len < self.index.capacity() / 4 {
            let keys = &self.keys;
            self.index
                .shrink_to(target, |&i| hasher.hash_one(keys[i as usize].as_bytes()));
        }
        true
    }
}

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
    /// Add `key` (copied only if it is not there yet).
    pub fn insert(&self, key: &[u8]) {
        let hash = self.hasher.hash_one(key);
        self.shards[shard_of(hash)]
            .lock()
            .insert(hash, key, &self.hasher);
    }

    /// Remove `key`; true if it was there.
    pub fn remove(&self, key: &[u8]) -> bool {
        let hash = self.hasher.hash_one(key);
        self.shards[shard_of(hash)]
            .lock()
            .remove(hash, key, &self.hasher)
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
            let keys = &self.shards[(first + i) % SHARDS].lock().keys;
            let n = keys.len();
            (n > 0).then(|| keys[(seed as usize) % n].to_bytes())
        })
    }

    /// Number of keys (sums the shards; for INFO and the sweeper).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().keys.len()).sum()
    }

    /// True when no key has a TTL.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.lock().keys.is_empty())
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
            let set = &self.shards[shard].lock().keys;
            let mut i = (below as usize).min(set.len());
            while i > 0 && keys.len() < count {
                i -= 1;
                keys.push(set[i].to_bytes());
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
        let capacity: usize = idx
            .shards
            .iter()
            .map(|s| {
                let s = s.lock();
                s.keys.capacity().max(s.index.capacity())
            })
            .sum();
        assert!(
            capacity <= SHARDS * 64,
            "capacity {capacity} kept after removing everything"
        );
    }
}
