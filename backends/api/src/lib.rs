//! The `Store` trait: the one interface every FlashKV backend implements.
//!
//! A store is a concurrent map from binary keys to [`Entry`] values. It knows
//! nothing of Redis commands: types, TTL rules, integer parsing and WRONGTYPE
//! live once, in the server's `db` module, above this trait. The value
//! types (the data model: strings, lists, hashes, sets and their compact
//! encodings) live here too, in [`value`], because the store holds them;
//! no backend type can leak into the API.
//!
//! # Contract
//! - Point reads return owned values (a clone of an `Entry` copies a short
//!   string and bumps a reference count for anything longer or a collection). Nothing returned borrows a lock or an epoch guard,
//!   so callers may hold results across `.await`.
//! - [`Store::compute`] is the single atomic read-modify-write primitive. The
//!   closure sees the current entry and decides; the decision is applied
//!   atomically with respect to every other operation on that key. Lock-free
//!   backends may call the closure more than once (after a failed CAS), so it
//!   must be pure apart from what it returns.
//! - Expiry is data: an entry carries its deadline, and the store never looks
//!   at the clock. Deciding that an entry is expired is the caller's job.
//! - Whatever a backend cannot promise under concurrency (an exact `len`, what
//!   a scan sees while writers run) is stated in that backend's crate docs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};

pub use bytes::Bytes;

mod key;
pub mod keyindex;
pub mod keyset;
pub mod num;
pub mod size_class;
pub mod value;

pub use key::{InlineBytes, Key, INLINE_KEY};
pub use value::{Coll, Hash, List, Set, Shared, Str, StrRef, Value};

/// What a store holds for one key.
///
/// 40 bytes: the value (24), the deadline (8), the access clock (4) and
/// whether there is a deadline (1, in what would be padding; an
/// `Option<u64>` would take 16). Every `u64` deadline, 0 and `u64::MAX`
/// included, is kept exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The typed value.
    pub value: Value,
    /// The deadline; 0 when `has_deadline` is false.
    deadline: u64,
    access: Access,
    has_deadline: bool,
}

impl Entry {
    /// An entry holding `value`, expiring at `expires_at` (absolute
    /// milliseconds since the Unix epoch; `None`: the key persists).
    pub fn new(value: Value, expires_at: Option<u64>) -> Self {
        Entry {
            value,
            deadline: expires_at.unwrap_or(0),
            access: Access::default(),
            has_deadline: expires_at.is_some(),
        }
    }

    /// A string entry without expiry.
    pub fn string(bytes: impl AsRef<[u8]>) -> Self {
        Entry::new(Value::Str(Str::new(bytes.as_ref())), None)
    }

    /// Absolute expiry time in milliseconds since the Unix epoch; `None`
    /// means the key persists.
    pub fn expires_at(&self) -> Option<u64> {
        self.has_deadline.then_some(self.deadline)
    }

    /// Set or clear the deadline.
    pub fn set_expires_at(&mut self, at: Option<u64>) {
        self.deadline = at.unwrap_or(0);
        self.has_deadline = at.is_some();
    }

    /// Is this entry logically gone at `now_ms`? Redis treats a key as expired
    /// strictly after its deadline (`now > when` in `keyIsExpired`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        matches!(self.expires_at(), Some(when) if now_ms > when)
    }

    /// The key's access clock (see [`Access`]).
    pub fn access(&self) -> &Access {
        &self.access
    }
}

/// A key's access clock: 32 bits the server's eviction policy owns (Redis's
/// 24 `lru` bits of an object: an LRU clock, or an LFU counter with its
/// decay time). Atomic, so a reader can update it through the shared
/// reference [`Store::read`] hands out; relaxed, because it is a hint.
/// Equality ignores it and a clone copies it.
#[derive(Default)]
pub struct Access(AtomicU32);

impl Access {
    /// The current clock.
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Set the clock.
    pub fn set(&self, v: u32) {
        self.0.store(v, Ordering::Relaxed);
    }
}

impl Clone for Access {
    fn clone(&self) -> Self {
        Access(AtomicU32::new(self.get()))
    }
}

impl PartialEq for Access {
    fn eq(&self, _: &Access) -> bool {
        true
    }
}

impl Eq for Access {}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Access({})", self.get())
    }
}

/// The decision a [`Store::compute`] closure returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Leave the key as it is (absent stays absent).
    Keep,
    /// Store this entry under the key, replacing any current one.
    Put(Entry),
    /// Remove the key if present.
    Remove,
}

/// A concurrent map from binary keys to entries.
///
/// Methods are synchronous and short: no call blocks on I/O, and none may be
/// held across an `.await` by construction (nothing borrowed is returned).
pub trait Store: Default + Send + Sync + 'static {
    /// A short name for reports and test names (`"rwlock"`, `"epoch"`, ...).
    const NAME: &'static str;

    /// Bytes one key costs in this map beyond its key and value payloads
    /// (slot or node, headers, the table's slack at a typical load), as
    /// measured for 1M small keys (`scripts/bench-vs-redis --memory-only`).
    /// MEMORY USAGE adds it to each key's estimate; 0 (test wrappers,
    /// outside maps) means not measured.
    const KEY_OVERHEAD: usize = 0;

    /// Run `f` on the entry stored under `key` (expired or not) and return
    /// its result.
    ///
    /// This is the hot read path: the reference lives only for the call, so
    /// a backend can hand out its own storage without cloning (no reference
    /// count is touched) and without letting a lock or guard escape. `f` runs
    /// exactly once and must not call back into the store.
    fn read<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R;

    /// The entry stored under `key`, expired or not (an owned copy: cloning
    /// an `Entry` bumps reference counts, it never copies payload bytes).
    fn get(&self, key: &[u8]) -> Option<Entry> {
        self.read(key, |e| e.cloned())
    }

    /// Store `entry` under `key`, returning the previous entry.
    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry>;

    /// Remove `key`, returning the entry it had.
    fn remove(&self, key: &[u8]) -> Option<Entry>;

    /// Atomically read and update one key.
    ///
    /// `f` sees the current entry (`None` when absent) and returns the
    /// operation to apply plus a result handed back to the caller. The
    /// operation is applied only if the key still holds what `f` saw; a
    /// backend that detects interference calls `f` again with the new state.
    /// Backends copy `key` into owned storage only when they insert it.
    fn compute<R, F>(&self, key: &[u8], f: F) -> R
    where
        F: FnMut(Option<&Entry>) -> (Op, R);

    /// Number of keys, expired ones included. May be approximate under
    /// concurrent writes; each backend documents its precision.
    fn len(&self) -> usize;

    /// `len() == 0`.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remove every key.
    fn clear(&self);

    /// Keep only the entries for which `f` returns true.
    fn retain<F>(&self, f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool;

    /// Visit a batch of entries starting at `cursor` (0 starts an iteration)
    /// and return the cursor to continue from (0 when the iteration is done).
    ///
    /// `count` is how many entries to visit, about: a call visits at most a
    /// small multiple of `count` entries (whatever the store's size), and
    /// may visit fewer, as Redis's SCAN does. Guarantee (Redis's SCAN
    /// guarantee): a key present for the whole iteration, from cursor 0
    /// until 0 comes back, is visited at least once. Keys added or removed
    /// meanwhile may or may not be visited, and a key may be visited more
    /// than once.
    fn scan<F>(&self, cursor: u64, count: usize, f: F) -> u64
    where
        F: FnMut(&Bytes, &Entry);

    /// A key chosen at random (roughly uniformly), using `seed` as the source
    /// of randomness, or `None` when the store is empty. Expected O(1) work,
    /// whatever the store's size (RANDOMKEY and eviction sampling call it).
    fn random_entry(&self, seed: u64) -> Option<(Bytes, Entry)>;

    /// Housekeeping off the request path, called about every 100 ms by the
    /// server's sweeper thread: a backend that frees memory late (retired
    /// nodes and tables behind an epoch) gives it back here even when no
    /// request arrives. The default does nothing.
    fn maintain(&self) {}
}

/// A step of the splitmix64 generator: backends draw their random picks
/// from the caller's seed with it.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `Store::scan` for a store split into `shards` sub-maps, with the shard
/// index as the cursor: visit whole shards from `cursor` until at least
/// `count` entries were seen, and return the next shard (0 when done).
///
/// `visit(i)` visits every entry of shard `i` and returns how many. A key
/// stays in its shard for life, so a key present for the whole iteration is
/// visited, whatever happens inside the shards meanwhile (the guarantee
/// `Store::scan` asks for).
pub fn scan_shards(
    shards: usize,
    cursor: u64,
    count: usize,
    mut visit: impl FnMut(usize) -> usize,
) -> u64 {
    let mut shard = usize::try_from(cursor).unwrap_or(usize::MAX);
    let mut visited = 0usize;
    while shard < shards {
        visited += visit(shard);
        shard += 1;
        if visited >= count.max(1) {
            break;
        }
    }
    if shard >= shards {
        0
    } else {
        shard as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_gives_the_reference_sequence() {
        // The first outputs from state 0 of Vigna's reference splitmix64.c.
        let mut state = 0;
        let out: Vec<u64> = (0..3).map(|_| splitmix64(&mut state)).collect();
        assert_eq!(
            out,
            [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f]
        );
    }

    #[test]
    fn shard_cursor_stops_after_count_and_ends_at_zero() {
        let sizes = [3, 0, 0, 5, 1];
        let mut seen = vec![];
        let next = scan_shards(5, 0, 4, |i| {
            seen.push(i);
            sizes[i]
        });
        assert_eq!((next, seen), (4, vec![0, 1, 2, 3]));
        assert_eq!(scan_shards(5, 4, 4, |i| sizes[i]), 0);
        assert_eq!(scan_shards(5, u64::MAX, 4, |_| panic!("past the end")), 0);
    }

    #[test]
    fn entries_stay_small() {
        // Memory per key is a product goal: a new variant must not grow
        // every entry (box large payloads).
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Entry>(), 40);
        // A small collection's handle (the Arc's count, the lock and the
        // enum) fits the 48-byte class: large encodings are boxed.
        fn handle<T>() -> usize {
            std::mem::size_of::<(usize, parking_lot::RwLock<T>)>()
        }
        assert!(handle::<value::Hash>() <= 48);
        assert!(handle::<value::Set>() <= 48);
        assert!(handle::<value::ZSet>() <= 48);
    }

    #[test]
    fn expiry_is_strictly_after_the_deadline() {
        let mut e = Entry::string("v");
        assert!(!e.is_expired(u64::MAX));
        e.set_expires_at(Some(100));
        assert!(!e.is_expired(99));
        assert!(!e.is_expired(100));
        assert!(e.is_expired(101));
    }

    /// What the epoch map asks before handing a removed value to its
    /// collector at once: is it large, and does the entry replacing it hold
    /// the same payload (then nothing is freed)?
    #[test]
    fn large_values_and_shared_payloads() {
        let long = Value::Str(value::Str::new(&vec![b'x'; value::LARGE_BYTES]));
        assert!(long.is_large());
        assert!(!Value::Str("short".into()).is_large());
        assert!(long.shares_payload(&long.clone()), "a clone shares");
        let mut set = value::Set::default();
        for i in 0..value::LARGE_ELEMENTS as i64 {
            set.insert(i.to_string().as_bytes(), Default::default());
        }
        let set = Value::set(set);
        assert!(set.is_large());
        assert!(set.shares_payload(&set.clone()));
        assert!(!set.shares_payload(&set.deep_clone()), "a copy does not");
        let small = Value::set(value::Set::default());
        assert!(!small.is_large());
        assert!(!small.shares_payload(&set));
        assert!(!Value::Str("a".into()).shares_payload(&Value::Str("a".into())));
    }
}
