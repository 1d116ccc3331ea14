//! `KeyIndex`: positional access for maps that offer none.
//!
//! SCAN must return about COUNT keys per call, and RANDOMKEY (and eviction
//! sampling) must find a key in O(1); a map whose crate only iterates from
//! the start (flurry, scc) can do neither. Such a backend keeps, beside
//! each of its sub-maps, the sub-map's keys at dense positions (a
//! [`KeySet`]; delete moves the last key into the hole): a position
//! picks a random key in O(1), and a cursor that walks positions downwards
//! keeps Redis's SCAN guarantee (see `value::table`).
//!
//! The index is a hint kept honest by the same rule as the server's index
//! of volatile keys: a key is added after the map gains it, and whoever
//! removes a key from the index removes it after the map lost it and then
//! re-checks the map, re-adding the key if it came back meanwhile. So a
//! key in the map is never missing from the index for longer than an
//! insert in flight; a stale entry (a key the map no longer has) is dropped
//! when a scan or a random pick meets it.
//!
//! Cost: one short mutex section per key added to or removed from the map
//! (updates of existing keys do not touch it), and about 29.5 bytes per
//! key (its own copy as a [`Key`], inline up to 22 bytes, and a 4-byte
//! table slot). It used to hold a `Bytes` handle sharing the map's key,
//! but sharing gave every key a 32-byte reference-counted header besides;
//! then an `IndexSet<Key>`, about 60 bytes per key.

use bytes::Bytes;
use parking_lot::Mutex;

use crate::keyset::KeySet;
use crate::Key;

use crate::value::table::{scan_positions, Hasher};

/// Bits of a scan cursor that hold the position inside a sub-map.
const POSITION_BITS: u32 = 56;

/// The keys of each sub-map of a sharded map.
pub struct KeyIndex {
    shards: Box<[Mutex<KeySet<Hasher>>]>,
}

impl KeyIndex {
    /// An index for `shards` sub-maps (at most 256).
    pub fn new(shards: usize) -> KeyIndex {
        assert!(shards <= 256, "the scan cursor keeps 8 bits for the shard");
        KeyIndex {
            shards: (0..shards).map(|_| Mutex::new(KeySet::default())).collect(),
        }
    }

    /// The map gained `key` in sub-map `shard`.
    pub fn added(&self, shard: usize, key: &[u8]) {
        self.shards[shard].lock().insert(key);
    }

    /// The map lost `key`; `present` re-checks the map after the index let
    /// go of it, in case another thread put it back meanwhile.
    pub fn removed(&self, shard: usize, key: &[u8], present: impl Fn() -> bool) {
        let mut keys = self.shards[shard].lock();
        if keys.remove(key) && present() {
            keys.insert(key);
        }
    }

    /// Forget every key (call before clearing the map, so a key inserted
    /// meanwhile is indexed after the clear).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            let old = std::mem::take(&mut *s.lock());
            drop(old);
        }
    }

    /// Keys indexed (stale ones included).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// True when no key is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One SCAN step from `cursor`: the keys of about `count` positions,
    /// each handed to `visit`, which answers whether the map still has it
    /// (stale keys are dropped). Returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&Bytes) -> bool) -> u64 {
        let mut shard = (cursor >> POSITION_BITS) as usize;
        let mut pos = cursor & ((1 << POSITION_BITS) - 1);
        let mut left = count.max(1);
        while shard < self.shards.len() {
            let keys: Vec<Bytes> = {
                let index = self.shards[shard].lock();
                let (range, next) = scan_positions(pos, left, index.len());
                pos = next;
                range
                    .rev()
                    .filter_map(|i| index.get(i).map(Key::to_bytes))
                    .collect()
            };
            left = left.saturating_sub(keys.len());
            for k in keys {
                if !visit(&k) {
                    self.drop_stale(shard, &k);
                }
            }
            if pos == 0 {
                shard += 1;
            }
            if left == 0 || shard >= self.shards.len() {
                break;
            }
        }
        if shard >= self.shards.len() {
            0
        } else {
            ((shard as u64) << POSITION_BITS) | pos
        }
    }

    /// A key picked about uniformly at random (the shard, then a position:
    /// exactly uniform when shards hold as many keys each), or `None` when
    /// the index is empty. `is_live` checks the map; stale keys are dropped
    /// and another pick is made.
    pub fn random(
        &self,
        mut next: impl FnMut() -> u64,
        mut is_live: impl FnMut(&Bytes) -> bool,
    ) -> Option<Bytes> {
        let n = self.shards.len();
        for _ in 0..64 {
            let start = (next() % n as u64) as usize;
            let picked = (0..n).find_map(|i| {
                let shard = (start + i) % n;
                let index = self.shards[shard].lock();
                let len = index.len();
                let key = index.get((next() % len.max(1) as u64) as usize)?;
                Some((shard, key.to_bytes()))
            });
            let (shard, key) = picked?;
            if is_live(&key) {
                return Some(key);
            }
            self.drop_stale(shard, &key);
        }
        None
    }

    fn drop_stale(&self, shard: usize, key: &[u8]) {
        self.shards[shard].lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn scans_cover_every_shard_about_count_at_a_time() {
        let idx = KeyIndex::new(4);
        for i in 0..100 {
            idx.added(i % 4, &b(&format!("k{i}")));
        }
        let (mut cursor, mut seen, mut calls) = (0, HashSet::new(), 0);
        loop {
            let mut batch = 0;
            cursor = idx.scan(cursor, 7, |k| {
                seen.insert(k.clone());
                batch += 1;
                true
            });
            assert!(batch <= 7);
            calls += 1;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
        assert!(calls >= 100 / 7);
    }

    #[test]
    fn stale_keys_are_dropped_and_removal_rechecks() {
        let idx = KeyIndex::new(2);
        idx.added(0, &b("a"));
        idx.added(1, &b("b"));
        idx.removed(0, b"a", || true);
        assert_eq!(idx.len(), 2, "a key put back meanwhile stays indexed");
        idx.removed(0, b"a", || false);
        assert_eq!(idx.len(), 1);
        let mut seed = 1u64;
        let mut next = || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            seed >> 11
        };
        assert_eq!(idx.random(&mut next, |_| true), Some(b("b")));
        assert_eq!(idx.random(&mut next, |_| false), None);
        assert!(idx.is_empty(), "the stale key was dropped");
    }
}
