//! The value types: how strings, lists, hashes, sets and sorted sets are laid out in
//! memory and how they change.
//!
//! # How a collection changes inside a concurrent map
//! Entries in a map are immutable once stored (lock-free backends hand
//! readers a reference that may outlive a concurrent write). A string is
//! replaced whole by `Store::compute`. A collection instead lives behind a
//! [`Shared`] handle (a reference-counted reader-writer lock) and is changed
//! in place: the server takes the key's stripe lock exclusively, finds the
//! entry, and locks the collection for writing, so no two writers ever
//! touch one collection at once and a writer never copies it (HSET on a
//! 1M-field hash and LPUSH on a 10M-element list cost the same as on a
//! small one). Readers lock the collection for reading, without the
//! stripe. Cloning an `Entry` clones the handle, not the collection;
//! COPY and RESTORE use [`Value::deep_clone`].
//!
//! A long string that a command edits (SETBIT, SETRANGE, APPEND, BITFIELD)
//! becomes a [`Coll::Raw`]: a growable buffer behind the same kind of
//! handle, edited in place like a collection. Copying it whole on every
//! SETBIT made a bit write cost O(length) (a 1 MB bitmap took 8x Redis's
//! time per SETBIT) and a string built by APPEND O(length^2). Its type is
//! still "string": every command that reads a string reads both forms
//! through [`Value::str_bytes`].
//!
//! Each type keeps Redis 7.0's encodings and thresholds (see the modules):
//! lists are quicklists of [`Pack`] nodes; hashes are a pack until
//! `hash-max-listpack-*`, then a table; sets are an integer set until
//! `set-max-intset-entries` or a non-integer member, then a table; sorted
//! sets are a pack until `zset-max-listpack-*`, then a member table plus
//! a ranked order.

pub mod hash;
pub mod list;
pub mod pack;
pub mod set;
pub mod string;
pub mod table;
pub mod zset;

use parking_lot::RwLock;
use triomphe::Arc;

pub use hash::{Hash, HashLimits};
pub use list::List;
pub use pack::Pack;
pub use set::{IntSet, Member, Set};
pub use string::{grow_for, grow_zeroed, Str, StrRef, RAW_FROM};
pub use zset::{ZLimits, ZSet};

/// The allocator's size for a request of `n` bytes (its size class), for
/// the `heap_bytes` estimates behind MEMORY USAGE.
pub type SizeClass = fn(usize) -> usize;

/// A collection shared between the map and whoever is reading or changing
/// it: clone the `Arc` to keep it, lock it to use it. A `triomphe::Arc`
/// (no weak count): with the lock and a small collection's enum it fits
/// the 48-byte class.
pub type Shared<T> = Arc<RwLock<T>>;

/// Wrap a new collection.
pub fn shared<T>(value: T) -> Shared<T> {
    Arc::new(RwLock::new(value))
}

/// Elements from which a collection is [large](Value::is_large).
pub const LARGE_ELEMENTS: usize = 64;
/// Bytes from which a string is [large](Value::is_large).
pub const LARGE_BYTES: usize = 64 * 1024;

/// A Redis value. Every key is typed from the start.
///
/// Two variants so that a value stays 24 bytes: the collection handle and
/// its tag fit in what the string leaves unused (see [`Str`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A binary-safe string (also what INCR and friends operate on).
    Str(Str),
    /// A collection, changed in place behind its lock.
    Coll(Coll),
}

/// A value changed in place behind its lock: a collection, or a long
/// string that was edited.
#[derive(Clone, Debug)]
pub enum Coll {
    /// A list of binary-safe strings.
    List(Shared<List>),
    /// A hash of fields to values.
    Hash(Shared<Hash>),
    /// A set of binary-safe strings.
    Set(Shared<Set>),
    /// A sorted set: members ordered by score.
    ZSet(Shared<ZSet>),
    /// A string of at least [`RAW_FROM`] bytes that SETBIT, SETRANGE,
    /// APPEND or BITFIELD changed, edited in place (Redis's `raw`
    /// encoding, with sds's growth rule: see [`string::grow_for`]).
    Raw(Shared<Vec<u8>>),
}

fn same<T: PartialEq>(a: &Shared<T>, b: &Shared<T>) -> bool {
    Arc::ptr_eq(a, b) || *a.read() == *b.read()
}

impl PartialEq for Coll {
    fn eq(&self, other: &Coll) -> bool {
        match (self, other) {
            (Coll::List(a), Coll::List(b)) => same(a, b),
            (Coll::Hash(a), Coll::Hash(b)) => same(a, b),
            (Coll::Set(a), Coll::Set(b)) => same(a, b),
            (Coll::ZSet(a), Coll::ZSet(b)) => same(a, b),
            (Coll::Raw(a), Coll::Raw(b)) => same(a, b),
            _ => false,
        }
    }
}

impl Eq for Coll {}

impl Value {
    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Coll(Coll::Raw(_)) => "string",
            Value::Coll(Coll::List(_)) => "list",
            Value::Coll(Coll::Hash(_)) => "hash",
            Value::Coll(Coll::Set(_)) => "set",
            Value::Coll(Coll::ZSet(_)) => "zset",
        }
    }

    /// A new list value.
    pub fn list(l: List) -> Value {
        Value::Coll(Coll::List(shared(l)))
    }

    /// A new hash value.
    pub fn hash(h: Hash) -> Value {
        Value::Coll(Coll::Hash(shared(h)))
    }

    /// A new set value.
    pub fn set(s: Set) -> Value {
        Value::Coll(Coll::Set(shared(s)))
    }

    /// A new sorted set value.
    pub fn zset(z: ZSet) -> Value {
        Value::Coll(Coll::ZSet(shared(z)))
    }

    /// A string edited in place from now on (see [`Coll::Raw`]).
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value::Coll(Coll::Raw(shared(bytes)))
    }

    /// The bytes of a string, in either form; `None` for a collection.
    #[inline]
    pub fn str_bytes(&self) -> Option<StrRef<'_>> {
        match self {
            Value::Str(s) => Some(StrRef::Str(s)),
            Value::Coll(Coll::Raw(r)) => Some(StrRef::Raw(r.read())),
            Value::Coll(_) => None,
        }
    }

    /// An independent copy (COPY, RESTORE, snapshots): a collection is
    /// copied, not shared; a string is shared (it never changes in place,
    /// and sharing it never changes what it costs).
    pub fn deep_clone(&self) -> Value {
        match self {
            Value::Str(s) => Value::Str(s.clone()),
            Value::Coll(Coll::List(l)) => Value::list(l.read().clone()),
            Value::Coll(Coll::Hash(h)) => Value::hash(h.read().clone()),
            Value::Coll(Coll::Set(s)) => Value::set(s.read().clone()),
            Value::Coll(Coll::ZSet(z)) => Value::zset(z.read().clone()),
            Value::Coll(Coll::Raw(r)) => Value::raw(r.read().clone()),
        }
    }

    /// Bytes of payload this value holds (memory estimates; O(n) for
    /// collections).
    pub fn payload_len(&self) -> usize {
        match self {
            Value::Str(b) => b.len(),
            Value::Coll(Coll::List(l)) => l.read().iter().map(<[u8]>::len).sum(),
            Value::Coll(Coll::Hash(h)) => h.read().iter().map(|(f, v)| f.len() + v.len()).sum(),
            Value::Coll(Coll::Set(s)) => s.read().iter().map(|m| m.to_vec().len()).sum(),
            Value::Coll(Coll::ZSet(z)) => z.read().iter().map(|(m, _)| m.len() + 8).sum(),
            Value::Coll(Coll::Raw(r)) => r.read().len(),
        }
    }

    /// Heap bytes this value holds, read from its structures' real
    /// capacities (MEMORY USAGE; O(n) for collections): a string's
    /// buffer, or a collection's shared handle and everything in it.
    pub fn heap_bytes(&self, class: SizeClass) -> usize {
        fn handle<T>(class: SizeClass) -> usize {
            // The `Arc`'s count and the lock around the collection.
            class(std::mem::size_of::<usize>() + std::mem::size_of::<RwLock<T>>())
        }
        match self {
            Value::Str(b) => b.heap_bytes(class),
            Value::Coll(Coll::List(l)) => handle::<List>(class) + l.read().heap_bytes(class),
            Value::Coll(Coll::Hash(h)) => handle::<Hash>(class) + h.read().heap_bytes(class),
            Value::Coll(Coll::Set(s)) => handle::<Set>(class) + s.read().heap_bytes(class),
            Value::Coll(Coll::ZSet(z)) => handle::<ZSet>(class) + z.read().heap_bytes(class),
            Value::Coll(Coll::Raw(r)) => handle::<Vec<u8>>(class) + class(r.read().capacity()),
        }
    }

    /// Whether this value holds enough memory that a map which defers its
    /// frees in batches (epoch's crossbeam bags, flurry's seize batches)
    /// should hand it to its collector at once when it leaves the map. Left
    /// to the batch it stays allocated until the thread that removed it
    /// retires enough other objects, which on a quiet server is never (an
    /// UNLINKed set of 100,000 members kept its memory). A collection of at
    /// least [`LARGE_ELEMENTS`] elements (Redis's `LAZYFREE_THRESHOLD`, from
    /// which it frees in the background) or a string of at least
    /// [`LARGE_BYTES`] counts.
    ///
    /// Never waits for a lock: a collection locked by someone else (its
    /// holder may be the very thread removing it) counts as large, which
    /// costs at most an early hand-over.
    pub fn is_large(&self) -> bool {
        fn at_least<T>(c: &Shared<T>, n: usize, len: impl Fn(&T) -> usize) -> bool {
            c.try_read().is_none_or(|c| len(&c) >= n)
        }
        match self {
            Value::Str(s) => s.len() >= LARGE_BYTES,
            Value::Coll(Coll::Raw(r)) => at_least(r, LARGE_BYTES, Vec::len),
            Value::Coll(Coll::List(l)) => at_least(l, LARGE_ELEMENTS, List::len),
            Value::Coll(Coll::Hash(h)) => at_least(h, LARGE_ELEMENTS, Hash::len),
            Value::Coll(Coll::Set(s)) => at_least(s, LARGE_ELEMENTS, Set::len),
            Value::Coll(Coll::ZSet(z)) => at_least(z, LARGE_ELEMENTS, ZSet::len),
        }
    }

    /// Whether both hold the same payload (one handle or heap string in
    /// two entries, as when EXPIRE or RENAME makes a new entry for a value):
    /// then retiring one entry frees nothing.
    pub fn shares_payload(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Str(a), Value::Str(b)) => a.shares_heap(b),
            (Value::Coll(Coll::List(a)), Value::Coll(Coll::List(b))) => Arc::ptr_eq(a, b),
            (Value::Coll(Coll::Hash(a)), Value::Coll(Coll::Hash(b))) => Arc::ptr_eq(a, b),
            (Value::Coll(Coll::Set(a)), Value::Coll(Coll::Set(b))) => Arc::ptr_eq(a, b),
            (Value::Coll(Coll::ZSet(a)), Value::Coll(Coll::ZSet(b))) => Arc::ptr_eq(a, b),
            (Value::Coll(Coll::Raw(a)), Value::Coll(Coll::Raw(b))) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// Number of elements of a collection (1 for a string).
    pub fn element_count(&self) -> usize {
        match self {
            Value::Str(_) | Value::Coll(Coll::Raw(_)) => 1,
            Value::Coll(Coll::List(l)) => l.read().len(),
            Value::Coll(Coll::Hash(h)) => h.read().len(),
            Value::Coll(Coll::Set(s)) => s.read().len(),
            Value::Coll(Coll::ZSet(z)) => z.read().len(),
        }
    }
}
