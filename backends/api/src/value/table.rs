//! What large hashes, sets and sorted sets are built on: an
//! insertion-indexed hash table ([`Table`]), chosen for three properties
//! Redis's commands need.
//!
//! - O(1) insert, lookup and delete (delete moves the last element into the
//!   hole: `swap_remove`).
//! - A uniformly random element in O(1) (pick an index), for HRANDFIELD,
//!   SRANDMEMBER and SPOP.
//! - A cursor that keeps Redis's SCAN guarantee across any writes between
//!   calls ([`scan_positions`]): positions are visited from the last to the
//!   first. A delete moves the last element into the hole; since the last
//!   element is always at or above the cursor, an element not yet visited
//!   only ever moves to another unvisited position, and an element already
//!   visited may move down and be seen again (which SCAN allows). Inserts
//!   append above the cursor and may be missed (also allowed).
//!
//! # Why not `indexmap`
//! The layout is `indexmap`'s (elements in a vector, a hash table of their
//! positions), with three costs less per element: no stored hash (8 bytes;
//! a resize hashes the elements again, as Redis's dict does), positions as
//! `u32` in the index (4 bytes less per bucket), and no reservation of the
//! element vector to the index's capacity (`indexmap` keeps them equal, so
//! at 1M elements the vector held 1.8M slots). A table that empties to an
//! eighth of its room shrinks, as Redis's dicts do.
//!
//! # Why not [`KeySet`](crate::keyset::KeySet)'s table
//! `KeySet` (the volatile-key index) finds keys with linear probing over
//! `u32` slots carrying hash tags, 7/10 to 7/8 full, its keys in chunks of
//! 256: fewer bytes, slower probes. Tried here as one engine for both, it
//! took a hash of 1M fields from 72-76 to 67-71 bytes per field, and made
//! HGET 40% slower (6.8 to 9.4-11.4 ns) and an HSET-then-HDEL of a new
//! field 60% slower (57 to 90-100 ns): misses walk clusters (8 to 13 slots
//! on average under churn), where hashbrown matches 16 control bytes at a
//! time. Hashes already cost less than in Redis and are short of its
//! speed, so they keep hashbrown; the volatile index, touched once per
//! write with a TTL, keeps the bytes (`reports/2026-12-05-one-table-engine.md`).

/// Hash state for tables: randomly seeded per process.
pub type Hasher = foldhash::fast::RandomState;

/// An element of a [`Table`]: found by its key.
pub trait Keyed {
    /// The bytes the element is found by.
    fn key(&self) -> &[u8];
}

impl Keyed for Box<[u8]> {
    fn key(&self) -> &[u8] {
        self
    }
}

/// Elements in insertion order (until a removal moves the last into its
/// hole), found by key in O(1). At most `u32::MAX` elements.
#[derive(Clone)]
pub struct Table<T> {
    elements: Vec<T>,
    index: hashbrown::HashTable<u32>,
    hasher: Hasher,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            elements: Vec::new(),
            index: hashbrown::HashTable::new(),
            hasher: Hasher::default(),
        }
    }
}

/// The position of element `i` as the index stores it.
fn pos(i: usize) -> u32 {
    u32::try_from(i).expect("a collection holds at most u32::MAX elements")
}

impl<T: Keyed> Table<T> {
    /// An empty table with room for `n` elements.
    pub fn with_capacity(n: usize) -> Table<T> {
        Table {
            elements: Vec::with_capacity(n),
            index: hashbrown::HashTable::with_capacity(n),
            hasher: Hasher::default(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// Buckets of the index (a power of two, or 0 before the first
    /// insert): hashbrown fills at most 7/8 of them once past 8.
    pub fn buckets(&self) -> usize {
        match self.index.capacity() {
            0 => 0,
            cap if cap < 8 => (cap + 1).next_power_of_two(),
            cap => (cap * 8 / 7).next_power_of_two(),
        }
    }

    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(key)
    }

    /// What hashbrown calls to hash a position again when it moves it.
    fn rehash<'a>(elements: &'a [T], hasher: &'a Hasher) -> impl Fn(&u32) -> u64 + 'a {
        use std::hash::BuildHasher;
        move |&j| hasher.hash_one(elements[j as usize].key())
    }

    #[inline]
    fn find_hashed(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let elements = &self.elements;
        self.index
            .find(hash, |&i| elements[i as usize].key() == key)
            .map(|&i| i as usize)
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_hashed(self.hash(key), key)
    }

    /// The element with `key`.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.find(key).map(|i| &self.elements[i])
    }

    /// The element with `key`, to change in place (not its key).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
        self.find(key).map(|i| &mut self.elements[i])
    }

    /// Is there an element with `key`?
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// The element at position `i`.
    pub fn get_index(&self, i: usize) -> Option<&T> {
        self.elements.get(i)
    }

    /// Add `element`, or replace the one with its key in its place;
    /// returns the replaced one.
    pub fn replace(&mut self, element: T) -> Option<T> {
        let hash = self.hash(element.key());
        if let Some(i) = self.find_hashed(hash, element.key()) {
            return Some(std::mem::replace(&mut self.elements[i], element));
        }
        self.push(hash, element);
        None
    }

    /// Add the element `make` builds unless `key` (its key) is present;
    /// true when added. Nothing is built for a key already there.
    pub fn insert_with(&mut self, key: &[u8], make: impl FnOnce() -> T) -> bool {
        self.get_or_insert_with(key, make).1
    }

    /// The element with `key`, made by `make` and added if absent; true
    /// when added. One lookup either way.
    pub fn get_or_insert_with(&mut self, key: &[u8], make: impl FnOnce() -> T) -> (&mut T, bool) {
        let hash = self.hash(key);
        match self.find_hashed(hash, key) {
            Some(i) => (&mut self.elements[i], false),
            None => {
                self.push(hash, make());
                let last = self.elements.len() - 1;
                (&mut self.elements[last], true)
            }
        }
    }

    /// Add `element` unless its key is present; true when added.
    pub fn insert(&mut self, element: T) -> bool {
        let hash = self.hash(element.key());
        if self.find_hashed(hash, element.key()).is_some() {
            return false;
        }
        self.push(hash, element);
        true
    }

    /// Add an element whose key is absent and hashes to `hash`.
    fn push(&mut self, hash: u64, element: T) {
        let i = pos(self.elements.len());
        self.elements.push(element);
        self.index
            .insert_unique(hash, i, Self::rehash(&self.elements, &self.hasher));
    }

    /// Remove the element with `key`, moving the last into its place.
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<T> {
        let elements = &self.elements;
        let slot = self
            .index
            .find_entry(self.hash(key), |&i| elements[i as usize].key() == key)
            .ok()?;
        let (i, _) = slot.remove();
        Some(self.unlink(i as usize))
    }

    /// Remove the element at position `i`, moving the last into its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<T> {
        let hash = self.hash(self.elements.get(i)?.key());
        let at = pos(i);
        if let Ok(slot) = self.index.find_entry(hash, |&j| j == at) {
            slot.remove();
        }
        Some(self.unlink(i))
    }

    /// Take element `i` (already out of the index) from the vector,
    /// moving the last element into its place and its position with it.
    fn unlink(&mut self, i: usize) -> T {
        let last = self.elements.len() - 1;
        if i != last {
            let hash = self.hash(self.elements[last].key());
            let (moved, at) = (pos(last), pos(i));
            if let Some(slot) = self.index.find_mut(hash, |&j| j == moved) {
                *slot = at;
            }
        }
        let removed = self.elements.swap_remove(i);
        self.shrink_if_sparse();
        removed
    }

    /// Give back room once at most an eighth of it is used (Redis's dicts
    /// shrink below a tenth), keeping twice what is left.
    fn shrink_if_sparse(&mut self) {
        // The element vector's room, not the index's: hashbrown's
        // `capacity` falls as removals leave tombstones.
        let (len, room) = (self.elements.len(), self.elements.capacity());
        if room > 64 && len <= room / 8 {
            let keep = (len * 2).max(8);
            self.index
                .shrink_to(keep, Self::rehash(&self.elements, &self.hasher));
            self.elements.shrink_to(keep);
        }
    }

    /// Every element, by position.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.elements.iter()
    }

    /// Heap bytes of the table itself (without what the elements point
    /// to): the element vector and the index (hashbrown's own count of
    /// its one allocation: a `u32` and a control byte per bucket, plus one
    /// group of control bytes).
    pub fn heap_bytes(&self, class: super::SizeClass) -> usize {
        let elements = self.elements.capacity() * std::mem::size_of::<T>();
        super::pack::allocated(elements, class)
            + super::pack::allocated(self.index.allocation_size(), class)
    }
}

/// The same elements, in any order.
impl<T: Keyed + PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Table<T>) -> bool {
        self.len() == other.len() && self.iter().all(|e| other.get(e.key()) == Some(e))
    }
}

impl<T: Keyed + Eq> Eq for Table<T> {}

impl<T: std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.elements).finish()
    }
}

/// The positions one scan call visits: from `cursor` (0 starts at the end)
/// down, about `count` of them, in a table of `len` elements. Returns the
/// positions and the next cursor (0 when done).
pub fn scan_positions(cursor: u64, count: usize, len: usize) -> (std::ops::Range<usize>, u64) {
    let top = match cursor {
        0 => len,
        c => usize::try_from(c).unwrap_or(usize::MAX).min(len),
    };
    let bottom = top.saturating_sub(count.max(1));
    let next = if bottom == 0 { 0 } else { bottom as u64 };
    (bottom..top, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn buckets_are_the_index_size_hashbrown_chose() {
        let mut t: Table<Box<[u8]>> = Table::default();
        assert_eq!(t.buckets(), 0);
        for i in 0..5000u32 {
            t.insert(i.to_string().into_bytes().into());
            let (b, len) = (t.buckets(), t.len());
            assert!(
                b.is_power_of_two() && b > len,
                "{len} elements in {b} buckets"
            );
            // The index's allocation: a u32 and a control byte per bucket,
            // plus a group of control bytes (16).
            assert_eq!(t.index.allocation_size(), b * 5 + 16, "{len} elements");
        }
    }

    fn b(s: impl ToString) -> Box<[u8]> {
        s.to_string().into_bytes().into_boxed_slice()
    }

    /// A small random number generator for the tests.
    fn lcg(seed: u64) -> impl FnMut(usize) -> usize {
        let mut seed = seed;
        move |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n.max(1)
        }
    }

    #[test]
    fn cursors_walk_down_and_end_at_zero() {
        assert_eq!(scan_positions(0, 3, 7), (4..7, 4));
        assert_eq!(scan_positions(4, 3, 7), (1..4, 1));
        assert_eq!(scan_positions(1, 3, 7), (0..1, 0));
        assert_eq!(scan_positions(0, 10, 7), (0..7, 0));
        assert_eq!(
            scan_positions(99, 3, 7),
            (4..7, 4),
            "a stale cursor is clamped"
        );
        assert_eq!(scan_positions(0, 3, 0), (0..0, 0));
    }

    #[test]
    fn elements_present_throughout_are_seen_whatever_is_deleted() {
        let mut next = lcg(12345);
        for round in 0..50 {
            let mut set: Table<Box<[u8]>> = Table::default();
            for i in 0..200 {
                set.insert(b(i));
            }
            let stable: Vec<u32> = (0..200).filter(|i| i % 3 == 0).collect();
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            let mut fresh = 1000 + round * 1000;
            loop {
                let (range, next_cursor) = scan_positions(cursor, 7, set.len());
                for i in range {
                    seen.insert(set.get_index(i).unwrap().clone());
                }
                cursor = next_cursor;
                if cursor == 0 {
                    break;
                }
                // Writes between calls: delete unstable elements, add new ones.
                for _ in 0..5 {
                    let i = next(set.len());
                    let v: u32 = std::str::from_utf8(set.get_index(i).unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    if !v.is_multiple_of(3) || v >= 1000 {
                        set.swap_remove_index(i);
                    }
                    set.insert(b(fresh));
                    fresh += 1;
                }
            }
            for s in &stable {
                assert!(
                    seen.contains(&b(s)),
                    "round {round}: {s} was present throughout but not seen"
                );
            }
        }
    }

    /// Every element is found at the position it is at, and nothing else
    /// is found.
    fn check(t: &Table<Box<[u8]>>, model: &HashMap<u32, ()>) {
        assert_eq!(t.len(), model.len());
        for (i, e) in t.iter().enumerate() {
            assert_eq!(t.find(e), Some(i), "{e:?} is indexed at its position");
        }
        for k in model.keys() {
            assert!(t.contains(&b(k)));
        }
    }

    #[test]
    fn follows_a_model_through_inserts_removals_and_shrinks() {
        let mut next = lcg(99);
        let mut t: Table<Box<[u8]>> = Table::default();
        let mut model = HashMap::new();
        for step in 0..40_000 {
            // Grow to ~3,000, then drain, then grow again: shrinks happen.
            let grow = (step / 8_000) % 2 == 0;
            let k = next(4_000) as u32;
            if next(3) > 0 && grow || next(5) == 0 {
                assert_eq!(t.insert(b(k)), model.insert(k, ()).is_none());
            } else if next(2) == 0 {
                assert_eq!(t.swap_remove(&b(k)).is_some(), model.remove(&k).is_some());
            } else if !t.is_empty() {
                let i = next(t.len());
                let e = t.swap_remove_index(i).unwrap();
                let k: u32 = std::str::from_utf8(&e).unwrap().parse().unwrap();
                assert!(model.remove(&k).is_some());
            }
            if step % 997 == 0 {
                check(&t, &model);
            }
        }
        check(&t, &model);
        assert_eq!(t.swap_remove_index(t.len()), None);
    }

    #[test]
    fn a_drained_table_gives_its_room_back() {
        let mut t: Table<Box<[u8]>> = Table::with_capacity(0);
        for i in 0..10_000 {
            t.insert(b(i));
        }
        let full = t.heap_bytes(|n| n);
        for i in 0..9_990 {
            assert!(t.swap_remove(&b(i)).is_some());
        }
        assert!(
            t.heap_bytes(|n| n) * 50 < full,
            "10 elements keep {} of {full} bytes",
            t.heap_bytes(|n| n)
        );
        for i in 9_990..10_000 {
            assert!(t.contains(&b(i)));
        }
    }

    #[test]
    fn the_with_forms_build_only_what_is_missing() {
        let mut t: Table<Box<[u8]>> = Table::default();
        let (e, new) = t.get_or_insert_with(b"a", || b("a"));
        assert!(new && &**e == b"a");
        let (e, new) = t.get_or_insert_with(b"a", || unreachable!("a is there"));
        assert!(!new && &**e == b"a");
        assert!(!t.insert_with(b"a", || unreachable!("a is there")));
        assert!(t.insert_with(b"b", || b("b")));
        assert_eq!(
            (t.len(), t.get_index(1).map(|e| &**e)),
            (2, Some(&b"b"[..]))
        );
        assert!(t.contains(b"b"));
    }

    #[test]
    fn replace_keeps_the_position_and_returns_the_old_element() {
        #[derive(Clone, Debug, PartialEq)]
        struct Kv(&'static str, u32);
        impl Keyed for Kv {
            fn key(&self) -> &[u8] {
                self.0.as_bytes()
            }
        }
        let mut t = Table::default();
        assert_eq!(t.replace(Kv("a", 1)), None);
        assert_eq!(t.replace(Kv("b", 2)), None);
        assert_eq!(t.replace(Kv("a", 3)), Some(Kv("a", 1)));
        assert_eq!(t.get_index(0), Some(&Kv("a", 3)));
        assert!(!t.insert(Kv("b", 9)), "insert keeps what is there");
        assert_eq!(t.get(b"b"), Some(&Kv("b", 2)));
        t.get_mut(b"b").unwrap().1 = 4;
        assert_eq!(t.get(b"b"), Some(&Kv("b", 4)));
        let mut u = Table::default();
        u.replace(Kv("b", 4));
        u.replace(Kv("a", 3));
        assert_eq!(t, u, "equal in any order");
        u.replace(Kv("a", 5));
        assert_ne!(t, u, "not with another element");
    }
}
