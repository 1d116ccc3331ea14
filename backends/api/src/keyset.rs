//! `KeySet`: a set of keys at dense positions, in about 31 bytes per key.
//!
//! Two indexes need the same thing: the server's index of volatile keys
//! (the sweeper and `volatile-*` eviction sample it by position) and
//! [`KeyIndex`](crate::keyindex::KeyIndex) (SCAN cursors and random picks
//! for maps that have no positions of their own). Both keep a copy of
//! every key, so at a million keys each byte here is a megabyte.
//!
//! The keys sit at dense positions (a [`Key`] each, 24 bytes, keys of up
//! to 22 bytes inline), so a position picks a key in O(1) and a cursor can
//! walk positions; removal moves the last key into the hole. They are kept
//! in chunks of 256, not one vector: a vector that doubles is anywhere
//! from half full to full, a third of its bytes idle on average, where the
//! chunks leave at most one chunk's worth idle per set.
//!
//! A table finds a key's position: open addressing with linear probing, one
//! `u32` per slot holding the position and, in the bits the position does
//! not need, a tag taken from the hash, so a probe reads a key only when
//! the tags agree (8 or more tag bits below 16M keys per set). It grows by
//! a quarter when 7/8 full, so it is 7/10 to 7/8 full: 4.6 to 5.7 bytes
//! per key.
//!
//! Why not `hashbrown` or `indexmap`: both grow by doubling, so a table
//! sits anywhere from 7/16 to 7/8 full, and `indexmap` also keeps a hash
//! beside each key and a `usize` per slot. Measured at one million keys in
//! 64 sets, `IndexSet<Key>` cost about 60 bytes per key and a vector plus
//! a `HashTable<u32>` about 36 (10.5 of them the table's: each set had just
//! doubled it). This set costs 29 to 31 at any size past a few thousand
//! keys (test `costs_at_most_31_bytes_per_key`).
//!
//! Removal leaves a tombstone where a probe may need to go past the slot
//! (the next slot is in use; otherwise the slot, and the tombstones just
//! before it, become empty): shifting the following slots back would
//! hash each moved key again, a cache miss apiece. Tombstones count
//! towards the load, and a table with many is rebuilt at its size. A
//! rebuild hashes every key again; growing by a quarter, each key is
//! hashed about five times over the set's growth, all under the caller's
//! lock of this one set.

use std::hash::BuildHasher;

use crate::value::table::Hasher;
use crate::Key;

/// A free slot.
const EMPTY: u32 = 0;
/// A slot whose key was removed: probes go past it, inserts may reuse it.
const TOMBSTONE: u32 = 1;
/// The smallest table.
const MIN_SLOTS: usize = 8;
/// Keys per chunk (a power of two): 6 KB.
const CHUNK: usize = 256;

/// Keys at dense positions `0..len()`, findable by content.
pub struct KeySet<S = Hasher> {
    /// Every chunk but the last is full; only the first is ever allocated
    /// smaller than `CHUNK` (it grows by doubling, for small sets).
    chunks: Vec<Vec<Key>>,
    len: usize,
    /// `EMPTY`, `TOMBSTONE`, or `(position + 1) << tag_bits | tag`.
    slots: Box<[u32]>,
    /// Bits of a slot that hold the tag (at least 1, so a used slot is
    /// never `EMPTY` or `TOMBSTONE`).
    tag_bits: u32,
    tombstones: usize,
    hasher: S,
}

impl<S: BuildHasher + Default> Default for KeySet<S> {
    fn default() -> Self {
        KeySet::with_hasher(S::default())
    }
}

impl<S: BuildHasher> KeySet<S> {
    /// An empty set hashing with `hasher` (it allocates nothing yet).
    pub fn with_hasher(hasher: S) -> Self {
        KeySet {
            chunks: Vec::new(),
            len: 0,
            slots: Box::new([]),
            tag_bits: 0,
            tombstones: 0,
            hasher,
        }
    }

    /// The hash `insert_hashed` and `remove_hashed` expect for `key`.
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key at `position`, if there is one.
    pub fn get(&self, position: usize) -> Option<&Key> {
        self.chunks.get(position / CHUNK)?.get(position % CHUNK)
    }

    /// The keys, by position.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.chunks.iter().flatten()
    }

    /// Bytes this set holds on the heap, besides what long keys point to.
    pub fn heap_bytes(&self) -> usize {
        let keys: usize = self.chunks.iter().map(Vec::capacity).sum();
        keys * std::mem::size_of::<Key>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<Key>>()
            + self.slots.len() * 4
    }

    /// Add `key` unless it is there; true if it was added.
    pub fn insert(&mut self, key: &[u8]) -> bool {
        self.insert_hashed(self.hash(key), key)
    }

    /// `insert` with the key's hash already computed by [`KeySet::hash`].
    pub fn insert_hashed(&mut self, hash: u64, key: &[u8]) -> bool {
        let free = match self.lookup(hash, key) {
            Ok(_) => return false,
            Err(free) => free,
        };
        let slot = if (self.len + self.tombstones + 1) * 8 > self.slots.len() * 7 {
            // Grow by a quarter (to 7/10 full). When the keys alone fill at
            // most half the table, tombstones filled it: rebuild in place.
            let live = self.len + 1;
            let size = if live * 2 > self.slots.len() {
                (live * 10).div_ceil(7).max(MIN_SLOTS)
            } else {
                self.slots.len()
            };
            self.rebuild(size);
            self.free_slot(hash)
        } else {
            // Under 7/8 full the probe met an empty slot, if no tombstone.
            free.expect("the table is never full")
        };
        if self.slots[slot] == TOMBSTONE {
            self.tombstones -= 1;
        }
        self.slots[slot] = self.pack(self.len, hash);
        self.push(Key::new(key));
        true
    }

    /// Remove `key`; true if it was there. The last key takes its position.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        self.remove_hashed(self.hash(key), key)
    }

    /// `remove` with the key's hash already computed by [`KeySet::hash`].
    pub fn remove_hashed(&mut self, hash: u64, key: &[u8]) -> bool {
        let Some(slot) = self.find(hash, key) else {
            return false;
        };
        let position = self.position(self.slots[slot]);
        self.vacate(slot);
        let last = self.pop();
        if position != self.len {
            // The last key moves into the hole: point its slot there.
            let moved = self.hash(last.as_bytes());
            let at = self
                .probe(moved)
                .find(|&i| self.slots[i] > TOMBSTONE && self.position(self.slots[i]) == self.len)
                .expect("every key has a slot");
            self.slots[at] = self.pack(position, moved);
            *self.key_at_mut(position) = last;
        }
        self.shrink_if_sparse();
        true
    }

    fn push(&mut self, key: Key) {
        let room = self.chunks.last().is_some_and(|c| c.len() < CHUNK);
        if !room {
            let first = self.chunks.is_empty();
            self.chunks
                .push(Vec::with_capacity(if first { 4 } else { CHUNK }));
        }
        let tail = self.chunks.last_mut().expect("a chunk with room");
        if tail.len() == tail.capacity() {
            // Only the first chunk starts small: double it up to CHUNK.
            tail.reserve_exact(tail.len().min(CHUNK - tail.len()));
        }
        tail.push(key);
        self.len += 1;
    }

    fn pop(&mut self) -> Key {
        let tail = self.chunks.last_mut().expect("a key to pop");
        let key = tail.pop().expect("the last chunk is never empty");
        if tail.is_empty() && self.chunks.len() > 1 {
            self.chunks.pop();
        }
        self.len -= 1;
        key
    }

    /// Give memory back once the set is mostly empty.
    fn shrink_if_sparse(&mut self) {
        let len = self.len;
        if len == 0 {
            self.chunks = Vec::new();
            self.slots = Box::new([]);
            self.tombstones = 0;
            return;
        }
        if self.chunks.capacity() > 4 && self.chunks.len() < self.chunks.capacity() / 4 {
            self.chunks.shrink_to(self.chunks.len() * 2);
        }
        if let [only] = &mut self.chunks[..] {
            if only.capacity() > 64 && len < only.capacity() / 4 {
                only.shrink_to(len * 2);
            }
        }
        if self.slots.len() > 64 && len * 5 < self.slots.len() {
            self.rebuild((len * 10).div_ceil(7).max(MIN_SLOTS));
        }
    }

    /// The slots from `hash`'s home onwards, wrapping once around.
    fn probe(&self, hash: u64) -> impl Iterator<Item = usize> {
        let n = self.slots.len();
        let home = ((hash as u128 * n as u128) >> 64) as usize;
        (home..n).chain(0..home)
    }

    /// Free `slot`. A tombstone is needed only where a probe may have to
    /// go past the slot: when the next slot is empty, none does, so the
    /// slot is emptied, and so are the tombstones just before it. This
    /// keeps an insert-then-delete churn (SET EX then DEL) from filling the
    /// table with tombstones and rebuilding it every few hundred deletes.
    fn vacate(&mut self, slot: usize) {
        let n = self.slots.len();
        if self.slots[(slot + 1) % n] != EMPTY {
            self.slots[slot] = TOMBSTONE;
            self.tombstones += 1;
            return;
        }
        self.slots[slot] = EMPTY;
        let mut i = slot;
        loop {
            i = if i == 0 { n - 1 } else { i - 1 };
            if self.slots[i] != TOMBSTONE {
                break;
            }
            self.slots[i] = EMPTY;
            self.tombstones -= 1;
        }
    }

    /// The slot holding `key`.
    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.lookup(hash, key).ok()
    }

    /// `Ok`: the slot holding `key`. `Err`: the first slot an insert of it
    /// may take (a tombstone or the empty slot that ended the probe), so an
    /// insert probes once.
    fn lookup(&self, hash: u64, key: &[u8]) -> Result<usize, Option<usize>> {
        let tag = self.tag(hash);
        let mask = (1u32 << self.tag_bits) - 1;
        let mut free = None;
        for i in self.probe(hash) {
            match self.slots[i] {
                EMPTY => return Err(free.or(Some(i))),
                TOMBSTONE => {
                    free.get_or_insert(i);
                }
                s if s & mask == tag && self.key_at(self.position(s)) == key => return Ok(i),
                _ => {}
            }
        }
        Err(free)
    }

    /// The first slot from `hash`'s home that an insert may take.
    fn free_slot(&self, hash: u64) -> usize {
        self.probe(hash)
            .find(|&i| self.slots[i] <= TOMBSTONE)
            .expect("the table is never full")
    }

    /// Rebuild the table with `slots` slots, dropping the tombstones.
    fn rebuild(&mut self, slots: usize) {
        // A position + 1 needs the bits of `slots` (keys never outnumber
        // slots); the rest hold the tag.
        let position_bits = usize::BITS - slots.leading_zeros();
        assert!(position_bits < 32, "over 2^31 keys in one KeySet");
        self.tag_bits = 32 - position_bits;
        self.slots = vec![EMPTY; slots].into_boxed_slice();
        self.tombstones = 0;
        for position in 0..self.len {
            let hash = self.hash(self.key_at(position));
            let slot = self.free_slot(hash);
            self.slots[slot] = self.pack(position, hash);
        }
    }

    /// The tag of `hash`: bits above the lowest 8 (callers shard by those)
    /// and far below the top ones (which pick the home slot).
    fn tag(&self, hash: u64) -> u32 {
        ((hash >> 8) as u32) & ((1u32 << self.tag_bits) - 1)
    }

    fn key_at(&self, position: usize) -> &[u8] {
        self.chunks[position / CHUNK][position % CHUNK].as_bytes()
    }

    fn key_at_mut(&mut self, position: usize) -> &mut Key {
        &mut self.chunks[position / CHUNK][position % CHUNK]
    }

    fn pack(&self, position: usize, hash: u64) -> u32 {
        ((position as u32 + 1) << self.tag_bits) | self.tag(hash)
    }

    fn position(&self, slot: u32) -> usize {
        (slot >> self.tag_bits) as usize - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasherDefault;

    /// Every key in the table at its own position, and nothing else.
    fn assert_consistent<S: BuildHasher>(set: &KeySet<S>) {
        let used = set.slots.iter().filter(|&&s| s > TOMBSTONE).count();
        assert_eq!(used, set.len(), "one used slot per key");
        assert_eq!(
            set.slots.iter().filter(|&&s| s == TOMBSTONE).count(),
            set.tombstones
        );
        for (position, key) in set.iter().enumerate() {
            let slot = set.find(set.hash(key.as_bytes()), key.as_bytes());
            let slot = slot.unwrap_or_else(|| panic!("key at {position} not found"));
            assert_eq!(set.position(set.slots[slot]), position);
        }
        assert!(set.len() + set.tombstones < set.slots.len().max(1));
    }

    fn key(i: usize) -> Vec<u8> {
        // Both inline keys and allocated ones.
        if i.is_multiple_of(3) {
            format!("a-long-key-that-does-not-fit-inline:{i}").into_bytes()
        } else {
            format!("key:{i}").into_bytes()
        }
    }

    #[test]
    fn follows_a_model_through_inserts_and_removals() {
        let mut set = KeySet::<Hasher>::default();
        let mut model = HashSet::new();
        let mut seed = 7u64;
        for step in 0..60_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = key((seed >> 33) as usize % 3_000);
            // Grow for a while, then mostly remove, so the set both grows
            // and shrinks through several sizes.
            let insert = (seed >> 20) % 10 < if step < 30_000 { 6 } else { 3 };
            if insert {
                assert_eq!(set.insert(&k), model.insert(k.clone()), "step {step}");
            } else {
                assert_eq!(set.remove(&k), model.remove(&k), "step {step}");
            }
            assert_eq!(set.is_empty(), model.is_empty(), "step {step}");
            if step % 997 == 0 {
                assert_consistent(&set);
            }
        }
        assert_consistent(&set);
        let held: HashSet<Vec<u8>> = set.iter().map(|k| k.as_bytes().to_vec()).collect();
        assert_eq!(held, model);
    }

    /// Every key hashes alike: every probe walks the whole cluster and
    /// every tag agrees, so only the key comparison tells keys apart.
    #[derive(Default)]
    struct Constant;
    impl std::hash::Hasher for Constant {
        fn finish(&self) -> u64 {
            0x5555_5555_5555_5555
        }
        fn write(&mut self, _: &[u8]) {}
    }

    #[test]
    fn keys_that_collide_completely_stay_apart() {
        let mut set = KeySet::<BuildHasherDefault<Constant>>::default();
        for i in 0..300 {
            assert!(set.insert(&key(i)));
        }
        assert!(!set.insert(&key(7)));
        for i in (0..300).step_by(2) {
            assert!(set.remove(&key(i)), "key {i}");
        }
        assert_consistent(&set);
        for i in 0..300 {
            assert_eq!(set.remove(&key(i)), i % 2 == 1, "key {i}");
        }
        assert!(set.is_empty());
    }

    #[test]
    fn a_removal_at_the_end_of_a_cluster_leaves_no_tombstone() {
        // Every key hashes alike, so the keys fill one run of slots in the
        // order they came.
        let mut set = KeySet::<BuildHasherDefault<Constant>>::default();
        for i in 0..10 {
            set.insert(&key(i));
        }
        assert!(set.remove(&key(9)), "the end of the run");
        assert_eq!(set.tombstones, 0);
        assert!(set.remove(&key(5)), "inside the run");
        assert_eq!(set.tombstones, 1, "probes for 6..8 must go past it");
        for i in [8, 7, 6] {
            assert!(set.remove(&key(i)));
            assert_consistent(&set);
        }
        assert_eq!(set.tombstones, 0, "emptied with the run's new end");
        for i in 0..5 {
            assert!(!set.insert(&key(i)), "key {i} is still found");
        }
        assert!(set.insert(&key(9)));
        assert_consistent(&set);
    }

    #[test]
    fn churn_at_one_size_does_not_grow_the_table() {
        // Tombstones count towards the load: without rebuilding in place,
        // a steady insert/remove churn would fill the table with them and
        // grow it without end (or loop forever looking for a free slot).
        let mut set = KeySet::<Hasher>::default();
        for i in 0..1_000 {
            set.insert(&key(i));
        }
        let slots = set.slots.len();
        for i in 1_000..50_000 {
            set.insert(&key(i));
            assert!(set.remove(&key(i - 1_000)));
        }
        assert_consistent(&set);
        assert_eq!(set.len(), 1_000);
        assert!(
            set.slots.len() <= slots * 3 / 2,
            "{} slots, was {slots}",
            set.slots.len()
        );
    }

    #[test]
    fn the_table_grows_geometrically() {
        // A rebuild hashes every key: growing by a fixed fraction keeps an
        // insert O(1) amortised; growing to just fit would rebuild on every
        // insert, O(n) each.
        let mut set = KeySet::<Hasher>::default();
        let mut sizes = 0;
        let mut last = 0;
        for i in 0..20_000 {
            set.insert(&key(i));
            if set.slots.len() != last {
                sizes += 1;
                last = set.slots.len();
            }
        }
        // 8 slots to 7/10-full for 20,000 keys in steps of 1.25: 35 sizes.
        assert!(sizes <= 40, "{sizes} table sizes on the way to 20,000 keys");
    }

    #[test]
    fn costs_at_most_31_bytes_per_key() {
        // 24 for the key, a chunk's worth of headroom, 4 per slot at 7/10
        // to 7/8 full. Doubling would cost up to 24*2 + 4*16/7 at the
        // sizes just past a growth step.
        for n in (4_000..40_000).step_by(1_789) {
            let mut set = KeySet::<Hasher>::default();
            for i in 0..n {
                set.insert(format!("key:{i:012}").as_bytes());
            }
            let per_key = set.heap_bytes() as f64 / n as f64;
            assert!(per_key < 31.0, "{n} keys: {per_key:.1} B each");
            // And no less than the keys and a table at most 7/8 full.
            assert!(
                per_key >= 24.0 + 4.0 * 8.0 / 7.0,
                "{n} keys: {per_key:.1} B each"
            );
        }
    }

    /// After every removal each part is in proportion to what is left,
    /// and shrinks exactly by the rules: the chunk list once under a
    /// quarter used, a lone first chunk once under a quarter used (each
    /// to twice what is left), the table once under a fifth used (rebuilt
    /// 7/10 full); small ones never. Nothing shrinks at other times (a
    /// shrink on every removal would reallocate on every removal).
    #[test]
    fn removals_shrink_every_part_by_the_rules() {
        let mut set = KeySet::<Hasher>::default();
        for i in 0..20_000 {
            set.insert(&key(i));
        }
        let lone = |set: &KeySet| match &set.chunks[..] {
            [only] => Some(only.capacity()),
            _ => None,
        };
        for i in 0..20_000 {
            let (chunks, room, slots) = (set.chunks.capacity(), lone(&set), set.slots.len());
            assert!(set.remove(&key(i)));
            let len = set.len();
            if len == 0 {
                break;
            }
            let now = set.chunks.capacity();
            if chunks > 4 && set.chunks.len() < chunks / 4 {
                assert_eq!(now, set.chunks.len() * 2, "{len} keys");
            } else {
                assert_eq!(now, chunks, "{len} keys: the chunk list shrank early");
            }
            if let (Some(room), Some(now)) = (room, lone(&set)) {
                if room > 64 && len < room / 4 {
                    assert_eq!(now, len * 2, "{len} keys");
                } else {
                    assert_eq!(now, room, "{len} keys: the lone chunk shrank early");
                }
            }
            if slots > 64 && len * 5 < slots {
                assert_eq!(set.slots.len(), (len * 10).div_ceil(7).max(MIN_SLOTS));
            } else {
                assert_eq!(set.slots.len(), slots, "{len} keys: the table shrank early");
            }
        }
        assert_eq!(set.len(), 0);
        assert_eq!(set.heap_bytes(), 0);
    }

    #[test]
    fn mass_removal_gives_memory_back() {
        let mut set = KeySet::<Hasher>::default();
        for i in 0..50_000 {
            set.insert(&key(i));
        }
        for i in 10..50_000 {
            set.remove(&key(i));
        }
        assert_consistent(&set);
        assert!(
            set.heap_bytes() <= 64 * 24 + 64 * 4,
            "{} bytes kept",
            set.heap_bytes()
        );
        for i in 0..10 {
            set.remove(&key(i));
        }
        assert_eq!(set.heap_bytes(), 0);
    }
}
