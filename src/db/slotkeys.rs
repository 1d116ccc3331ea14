//! The keys of each hash slot (Redis's `slots_to_keys`), kept in cluster
//! mode only, so CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT (which
//! resharding calls for every slot it moves) cost the slot's keys instead
//! of a scan of the whole keyspace.
//!
//! It is a hint kept honest by the volatile index's rule (see `keyspace`):
//! a key is added after the map write that creates it; whoever deletes a
//! key removes it here and then, under the slot's mutex, re-checks the map
//! and adds it back if it exists again. So a key in the map is never
//! missing here; an entry whose key is gone (left by racing writers) is
//! skipped, and dropped, by the readers.

use std::collections::HashSet;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::util::slots::{key_slot, SLOTS};

type Keys = HashSet<Box<[u8]>, foldhash::fast::RandomState>;

/// The keys of one database by hash slot.
pub struct SlotKeys {
    slots: Box<[Mutex<Keys>]>,
}

impl Default for SlotKeys {
    fn default() -> Self {
        SlotKeys {
            slots: (0..SLOTS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl SlotKeys {
    fn slot_of(&self, key: &[u8]) -> &Mutex<Keys> {
        &self.slots[usize::from(key_slot(key))]
    }

    /// `key` was created (copied only if it is not here yet).
    pub fn insert(&self, key: &[u8]) {
        let mut keys = self.slot_of(key).lock();
        if !keys.contains(key) {
            keys.insert(key.into());
        }
    }

    /// `key` was deleted: forget it unless `exists` (asked after the
    /// removal, under the slot's mutex) says a writer created it again.
    pub fn remove(&self, key: &[u8], exists: impl FnOnce() -> bool) {
        let mut keys = self.slot_of(key).lock();
        if keys.remove(key) && exists() {
            keys.insert(key.into());
        }
        shrink(&mut keys);
    }

    /// Up to `limit` keys of `slot` for which `exists` holds; entries
    /// whose key is gone are dropped on the way.
    pub fn keys(&self, slot: usize, limit: usize, exists: impl Fn(&[u8]) -> bool) -> Vec<Bytes> {
        let mut keys = self.slots[slot].lock();
        let mut found = Vec::new();
        let mut stale = Vec::new();
        for k in keys.iter() {
            if found.len() == limit {
                break;
            }
            if exists(k) {
                found.push(Bytes::copy_from_slice(k));
            } else {
                stale.push(k.clone());
            }
        }
        for k in stale {
            keys.remove(&k);
        }
        shrink(&mut keys);
        found
    }

    /// Number of keys in `slot` for which `exists` holds.
    pub fn count(&self, slot: usize, exists: impl Fn(&[u8]) -> bool) -> usize {
        let mut keys = self.slots[slot].lock();
        let before = keys.len();
        keys.retain(|k| exists(k));
        if keys.len() != before {
            shrink(&mut keys);
        }
        keys.len()
    }

    /// Entries `slot` holds, stale ones included (tests: a deleter must
    /// not leave its key for a reader to drop).
    #[cfg(test)]
    pub fn held(&self, slot: usize) -> usize {
        self.slots[slot].lock().len()
    }

    /// Forget every key (the database was emptied in place).
    pub fn clear(&self) {
        for s in self.slots.iter() {
            let old = std::mem::take(&mut *s.lock());
            drop(old);
        }
    }
}

/// Give memory back once a slot's set is mostly empty (a slot migrated
/// away keeps nothing).
fn shrink(keys: &mut Keys) {
    if keys.capacity() > 64 && keys.len() < keys.capacity() / 4 {
        keys.shrink_to(keys.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_slot_and_stale_ones_dropped() {
        let index = SlotKeys::default();
        let slot = usize::from(key_slot(b"{t}a"));
        for k in [&b"{t}a"[..], b"{t}b", b"{t}c", b"other"] {
            index.insert(k);
        }
        index.insert(b"{t}a");
        assert_eq!(index.count(slot, |_| true), 3);
        let mut keys = index.keys(slot, 10, |k| k != b"{t}b");
        keys.sort();
        assert_eq!(keys, vec![&b"{t}a"[..], b"{t}c"]);
        // The stale entry is gone for good.
        assert_eq!(index.count(slot, |_| true), 2);
        assert_eq!(index.keys(slot, 1, |_| true).len(), 1);
    }

    #[test]
    fn a_mostly_emptied_set_gives_memory_back() {
        let mut keys = Keys::default();
        for i in 0..10_000 {
            keys.insert(format!("k{i}").into_bytes().into_boxed_slice());
        }
        keys.retain(|k| k.len() < 3);
        shrink(&mut keys);
        assert!(
            keys.capacity() <= 64,
            "{} kept for 10 keys",
            keys.capacity()
        );
        let mut small = Keys::default();
        small.insert(Box::from(&b"k"[..]));
        small.reserve(40);
        let room = small.capacity();
        shrink(&mut small);
        assert_eq!(small.capacity(), room, "a small set keeps its room");
        // Over a quarter full: kept as it is (no reallocation at every
        // removal on the way down).
        let mut half = Keys::default();
        for i in 0..1_000 {
            half.insert(format!("k{i}").into_bytes().into_boxed_slice());
        }
        let room = half.capacity();
        let mut kept = 0;
        half.retain(|_| {
            kept += 1;
            kept * 4 <= room
        });
        // (Removals leave tombstones: the capacity reported moves a little.)
        let room = half.capacity();
        assert!(half.len() * 4 >= room, "{} of {room}", half.len());
        shrink(&mut half);
        assert_eq!(half.capacity(), room, "a set a quarter full shrank");
    }

    #[test]
    fn a_key_recreated_during_its_removal_stays() {
        let index = SlotKeys::default();
        let slot = usize::from(key_slot(b"k"));
        index.insert(b"k");
        index.remove(b"k", || true);
        assert_eq!(index.count(slot, |_| true), 1);
        index.remove(b"k", || false);
        assert_eq!(index.count(slot, |_| true), 0);
        index.insert(b"k");
        index.clear();
        assert_eq!(index.count(slot, |_| true), 0);
    }

    #[test]
    fn counting_away_stale_entries_gives_their_memory_back() {
        let index = SlotKeys::default();
        let slot = usize::from(key_slot(b"{t}0"));
        for i in 0..1_000 {
            index.insert(format!("{{t}}{i}").as_bytes());
        }
        assert!(index.slots[slot].lock().capacity() >= 1_000);
        assert_eq!(index.count(slot, |k| k == b"{t}0"), 1);
        let cap = index.slots[slot].lock().capacity();
        assert!(cap <= 64, "{cap} kept for 1 key");
    }

    #[test]
    fn a_shrunk_set_keeps_room_to_double() {
        let mut keys = Keys::default();
        for i in 0..10_000 {
            keys.insert(format!("k{i}").into_bytes().into_boxed_slice());
        }
        keys.retain(|k| k.len() < 3);
        assert_eq!(keys.len(), 10);
        shrink(&mut keys);
        assert!(
            keys.capacity() >= 20,
            "{} kept for 10 keys",
            keys.capacity()
        );
    }
}
