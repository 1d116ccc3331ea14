//! `EpochStore`: FlashKV's lock-free hash map, reclaimed with crossbeam-epoch.
//!
//! This module doc is the design document. Code lives in `table` (slot words,
//! probe sequence), `node` (entry allocations), `map` (lookup, the CAS write
//! loop), `map::resize` (cooperative resize), `reclaim` (the reclamation
//! interface) and `sync` (the loom shim every atomic goes through).
//!
//! # Algorithm
//!
//! **Open addressing over tagged pointers to immutable entries.** A table is a
//! power-of-two array of `AtomicUsize` slots. A slot holds either a marker
//! (empty, tombstone, migration states; see `table.rs`) or the address of a
//! *node* with a 16-bit tag from the key's hash in the top pointer bits. A
//! node is one allocation holding everything about a key: the `Entry` (value
//! and `expires_at`), the full 64-bit hash and the key bytes inline. Nodes
//! are immutable once published; every update publishes a new node.
//!
//! - **Read** (`read`, `get`): pin, load the root table, walk the probe
//!   sequence (8 consecutive slots, then triangular jumps of 8-slot groups),
//!   compare tags in the slot word and only then dereference, compare hash and
//!   key, and hand `&Entry` to the caller's closure. A read performs loads
//!   only: it never writes shared memory, never takes a lock, never helps or
//!   waits for a resize.
//! - **Write** (`insert`, `remove`, `compute`): probe for the key; the
//!   decision closure sees the current entry; one `compare_exchange` on the
//!   one slot applies it (new node, or a tombstone). A lost CAS re-runs the
//!   closure against the state that won. The CAS winner retires the old node.
//! - **Resize** (grow, same-size cleanup, shrink): blocking-cooperative and
//!   chunked. A writer that cannot place its key within `probe_limit` probes
//!   (or whose probe run is clogged with tombstones, or a remove that finds
//!   the table sparse) installs `table.next`. Every writer that then touches
//!   the table claims chunks of slots, *freezes*
//!   each slot (`fetch_or(FROZEN)`, after which no CAS on it can succeed),
//!   moves the node pointer (not the node) into the new table and marks the
//!   slot `MOVED`. Writers wait until every chunk is done, then continue in
//!   the new table; the root pointer advances and the old table is retired.
//!   Readers are never blocked: a frozen slot still holds its key's current
//!   value, and a `MOVED` marker on a probe run sends the reader on to
//!   `next`. No lock anywhere, resize included; writers wait only for a
//!   migration, and a shrink stops them briefly while it counts the keys
//!   (see "Sizing a shrink").
//!
//! **Why this design.** The hot path of a Redis server is a point read. Here a
//! read costs one guard pin (~6 ns with crossbeam), one slot load, and one
//! node access that brings hash, key and entry together (the 64-byte header
//! plus a short key span one or two adjacent lines), so it pays one dependent
//! miss beyond the slot, no more. The alternatives:
//! - *Split-ordered lists* (Shalev & Shavit): nodes never move on resize,
//!   which is elegant, but every lookup walks a sorted linked list, one
//!   dependent miss per node, and the bucket array is a second indirection.
//! - *Click / papaya*: also open addressing, but with a per-slot state
//!   machine over separate key and value words (papaya: a metadata byte
//!   array, an entry pointer and boxed values). Incremental, non-blocking
//!   copying is more complex and costs more atomics per slot; our values are
//!   small `Bytes`, so an immutable node per write is as cheap as a value box
//!   and keeps one allocation per entry.
//! - *Java 8 `ConcurrentHashMap`* (= flurry): bins locked for writes, node
//!   and value chased separately.
//!
//! Growth is decided by probe length, never by a global counter on the write
//! path: with 8-slot groups the default limit (`~4 * log2(capacity)`, at least
//! 16) is exceeded at roughly 75-85% load. The entry count is kept in 32
//! cache-padded stripes picked by key hash, summed only by `len` and by the
//! resize policy.
//!
//! **Unique keys without locks.** Two facts make concurrent inserts of one key
//! agree on one slot: within a table a slot never returns to `EMPTY`, and a
//! slot that once held key K only ever holds K, a tombstone, or a migration
//! marker. An insert probes to the first `EMPTY` slot and CASes it; if that
//! fails it probes again from the start, so a racing insert of the same key
//! is found. Tombstones are therefore *not* reused for other keys within a
//! table (that would need a second protocol to stop two inserters picking
//! different tombstones); a same-size copy when runs are clogged drops them.
//!
//! # Memory reclamation protocol
//!
//! 1. Every operation pins once (`Reclaim::pin`) and dereferences nodes and
//!    tables only while pinned; nothing borrowed escapes the call (`read`'s
//!    closure runs inside the guard, `get`/`insert`/`remove` return clones).
//! 2. An object is retired only once it is unreachable, and by exactly one
//!    thread: a node by the CAS that unlinked it (the winner of the CAS on its
//!    slot), a table by the CAS that moved the root past it. A node moved by
//!    a resize is not retired (it is still reachable from the new table).
//! 3. Retired objects are freed once every guard that could have seen them
//!    is gone (crossbeam: two epoch advances). A reader that loaded a slot
//!    before the unlinking CAS is pinned, so the node outlives its use.
//! 4. Tables: a thread holding table T may follow `T.next`; `next` is retired
//!    only after the root moved past it, which is after T was retired, so
//!    anything reachable from a table a guard saw stays allocated.
//! 5. Nodes never published (a lost CAS, a closure that changed its mind) are
//!    freed at once; they were never shared.
//!
//! Reclamation sits behind the sealed [`Reclaim`] trait: [`EpochReclaim`] is
//! crossbeam's global collector; [`MockReclaim`] is a checking reclaimer for
//! loom (poison at quiescence, assert on dereference). Note crossbeam frees
//! garbage only when threads pin (a collection attempt every 128 pins), so
//! long-lived workers keep garbage bounded; garbage still queued at process
//! exit stays reachable from the global collector, which LeakSanitizer does
//! not report.
//!
//! # Why each ordering suffices
//!
//! - Slot loads are `Acquire`; a CAS that publishes a node is `Release` (we
//!   use `AcqRel`): the node's initialization happens-before any dereference
//!   by a thread that loaded its address. A failed CAS is `Acquire` because
//!   its result is dereferenced. (The planted loom bug weakens the read-path
//!   load to `Relaxed`; the models catch it.)
//! - `root` and `next` are published with `Release` (CAS) and loaded with
//!   `Acquire`: a table's slots are initialized before it is visible.
//! - Freezing is `fetch_or(FROZEN, AcqRel)`: Acquire to read the node it
//!   moves; Release because a writer whose CAS fails on the frozen word goes
//!   on to read `table.next`, which the migrator had read before freezing.
//! - Copy into `next` (`Release` CAS) happens-before the `MOVED` store
//!   (`Release`), which a reader `Acquire`s before probing `next`: a reader
//!   that sees `MOVED` finds the node in `next`.
//! - `copied` is `fetch_add(AcqRel)` and waiters load it with `Acquire`:
//!   the RMWs form a release sequence, so a writer that sees the migration
//!   complete sees every copy, and only then writes into `next`.
//! - `claimed` (chunk hand-out) and the count stripes are `Relaxed`: they
//!   publish no memory; atomicity of the RMW is all they need.

//! # Sizing a shrink
//!
//! Growing and same-size copies make a table at least as big as the old one,
//! which holds every key the old one can. A shrink sizes the new table from
//! the live count (`len`, a racy sum of stripes), so it must stop inserts
//! before it counts: it first CASes a reserved marker into `next`. Writers
//! that see the marker wait for the real table, as for any migration;
//! readers never see it (they follow `next` only past a `MOVED` slot, and
//! nothing is frozen until the real table is installed). After the marker
//! the count can only fall, except for writers that checked `next` just
//! before it, one key each, which the sizing slack covers. The earlier order
//! (count, then publish the table) let a writer insert any number of keys in
//! between and overflow the new table: the migration panicked and every
//! other writer waited forever for it to complete. Found as a hang of the
//! churn stress test under AddressSanitizer; the unit test
//! `keys_inserted_while_a_shrink_is_sized_still_fit` replays it with a
//! failpoint.
//!
//! Linearizability: a key has exactly one authoritative slot at any time
//! (its slot in the oldest table that has not moved it), and every write is
//! one successful CAS on that slot, so writes to one key are totally ordered
//! by that slot's modification order. Nothing writes a key into `next` before
//! the whole old table is migrated, so a frozen value stays current until its
//! slot becomes `MOVED`.
//!
//! # TTL
//!
//! Expiry is data: `Entry::expires_at` lives inside the node, so value and
//! deadline change together in one CAS. The store never reads the clock. A
//! lazy expiry check is a `compute` whose closure sees an expired entry and
//! returns `Op::Remove`; if a `SET` replaced the entry in between, the CAS
//! fails, the closure re-runs on the fresh entry and keeps it.
//!
//! # compute: INCR, APPEND, SET NX/XX/GET
//!
//! `compute(key, f)` is the CAS retry loop above: `f` sees the current entry
//! (`None` when absent) and returns `Keep`, `Put(entry)` or `Remove`. `INCR`
//! parses the old value and puts the new one; `APPEND` puts old ++ suffix;
//! `SET NX` puts only from `None`, `SET XX` only from `Some`, `SET ... GET`
//! also returns the old value. A lost CAS means another write to this key
//! came first; `f` runs again with that write's result, so no update is
//! lost and `f` must be pure. The node allocated for a failed attempt is
//! reused for the next one.
//!
//! # Deleted and expired slots
//!
//! A remove (including an expiry `compute`) CASes the node to `TOMB` and
//! retires the node at once, so the value's memory is returned after the
//! grace period even though the slot is not. Lookups probe past tombstones;
//! re-inserting the same key takes a fresh empty slot. Tombstones disappear
//! when the table is copied. A writer whose probe run passes half the probe
//! limit with at least half of it tombstones (or hits the limit with a
//! quarter of it tombstones) reports the table *clogged*, and the copy is
//! same-size (unless the live count needs more), which only drops them. The
//! copy moves pointers; the one dereference per live entry (its stored hash)
//! is prefetched a few slots ahead.
//!
//! # Returning memory (shrinking)
//!
//! About one remove in 64 (when its counter stripe crosses a multiple of 64,
//! and always when it empties its stripe) sums the counter; if fewer than
//! 1/16 of the slots are live it starts a resize to a table sized for about
//! twice the live count (never below `min_capacity`, and only if that is
//! actually smaller). So a map emptied by
//! removes always shrinks, without every remove summing the stripes. `retain` and
//! `clear` check at the end of their walk. Old tables and nodes are retired,
//! not freed in place, so memory comes back after the epoch grace period.
//!
//! # Guarantees under concurrency
//!
//! - `read`, `get`, `insert`, `remove`, `compute` are linearizable per key;
//!   `compute`'s closure may run more than once.
//! - `len` sums the stripes: exact when no writer runs, otherwise within the
//!   number of in-flight writes.
//! - `scan` uses Redis's reverse-binary cursor over home buckets of the root
//!   table at the time of the call (`dictScan`): each step visits the probe
//!   run of one home bucket and reports the keys whose home it is, following
//!   `MOVED` markers into the next table (with all the buckets there that
//!   map to this one). A key present for the whole iteration is reported at
//!   least once across any number of resizes; some may be reported twice.
//! - `retain` walks the table re-pinning every 1024 slots; if a resize moves
//!   the table under it, it restarts on the new table, so `f` may see an
//!   entry twice. `clear` is `retain(|_, _| false)` followed by a shrink: not
//!   atomic, an insert racing it may survive.
//! - `random_entry` samples random slots, then sweeps: roughly uniform.
//!
//! # Known limits
//!
//! - Node addresses must fit in 48 bits (x86-64 and AArch64 user space with
//!   4-level paging); publishing a node asserts it.
//! - Resizes block writers (readers never): a writer that meets a migration
//!   helps and then waits for chunks claimed by other threads, so a
//!   descheduled helper delays writers by at most the chunk it holds.
//! - Growth is driven by probe length; keys engineered to collide under the
//!   (random, per-map) seed would force repeated doubling.
//! - Garbage is freed when threads pin (crossbeam collects every 128 pins);
//!   a thread that stops using the map leaves its last bag in the collector.
//!
//! # Checking it
//!
//! - Unit and stress tests, and the shared conformance suite:
//!   `cargo test -p store-epoch` (heavy stress: add `-- --ignored`).
//! - Loom with the checking mock reclaimer (see `tests/loom.rs`):
//!   `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target-loom cargo test -p store-epoch --test loom --release`
//! - Loom with crossbeam-epoch's real collector:
//!   `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom --cfg crossbeam_loom" CARGO_TARGET_DIR=target-cbloom cargo test -p store-epoch --test loom --release -- crossbeam_`
//! - The planted bug (a `Relaxed` slot load on the read path) must make the
//!   `planted_bug_is_caught` model fail (loom: "Causality violation"); under
//!   the cfg that test is marked `should_panic`, so this passes (the resize
//!   models `get_racing_a_resize` and `get_and_remove_racing_a_resize` fail
//!   under the cfg too, by design):
//!   `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom --cfg flashkv_planted_bug" CARGO_TARGET_DIR=target-loom-bug cargo test -p store-epoch --test loom --release planted_bug_is_caught`
//! - AddressSanitizer / LeakSanitizer over the unit, stress and conformance
//!   tests (add `--release -- --include-ignored` for the heavy stress):
//!   `RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target-asan cargo test -p store-epoch --target x86_64-unknown-linux-gnu`
//!   LeakSanitizer reports nothing without suppressions: garbage still
//!   deferred at exit hangs off crossbeam's global collector (reachable), and
//!   the map's `Drop` frees every live node and the root table.
#![warn(unsafe_op_in_unsafe_fn, missing_docs)]

mod map;
mod node;
pub mod reclaim;
mod sync;
mod table;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use crate::map::{RawMap, Step};
use crate::node::OwnedNode;
pub use crate::reclaim::{EpochReclaim, MockReclaim, Reclaim};

/// Sizing knobs. Tests and loom models use tiny values so that a resize
/// happens within a few operations; the defaults suit a server.
#[derive(Clone, Debug)]
pub struct Config {
    /// Slots in the first table (rounded up to a power of two).
    pub initial_capacity: usize,
    /// Shrinking never goes below this many slots.
    pub min_capacity: usize,
    /// Slots a resizing thread claims at a time.
    pub chunk_size: usize,
    /// Probes a writer makes before it resizes instead; `None` derives it
    /// from the capacity (about `4 * log2(capacity)`, at least 16).
    pub probe_limit: Option<usize>,
    /// Hash seed; `None` picks a random one (fixed under loom).
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            initial_capacity: 64,
            min_capacity: 64,
            chunk_size: 1024,
            probe_limit: None,
            seed: None,
        }
    }
}

/// A lock-free concurrent map from keys to entries; see the crate docs.
///
/// `R` picks the reclamation scheme: crossbeam-epoch by default,
/// [`MockReclaim`] in models.
pub struct EpochStore<R: Reclaim = EpochReclaim> {
    map: RawMap<R>,
}

impl EpochStore {
    /// An empty store with the default configuration.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }
}

impl<R: Reclaim> EpochStore<R> {
    /// An empty store sized by `config`.
    pub fn with_config(config: Config) -> Self {
        EpochStore {
            map: RawMap::new(config, R::default()),
        }
    }

    /// Tables built since the store was made, the first one included:
    /// every resize (grow, same-size copy, shrink) builds one. Tests use it
    /// to show that a run went through resizes.
    pub fn tables_built(&self) -> u64 {
        self.map.tables_built()
    }

    /// The reclaimer (lets tests and models inspect or drive it).
    pub fn reclaimer(&self) -> &R {
        &self.map.reclaim
    }

    /// Slots in the current table (for tests of resizing and shrinking).
    pub fn capacity(&self) -> usize {
        let guard = self.map.reclaim.pin();
        self.map.root(&guard).capacity()
    }

    /// The hash this store uses for `key` (lets tests pick colliding keys).
    pub fn hash_of(&self, key: &[u8]) -> u64 {
        self.map.hash(key)
    }
}

impl<R: Reclaim> Default for EpochStore<R> {
    fn default() -> Self {
        Self::with_config(Config::default())
    }
}

impl<R: Reclaim> Store for EpochStore<R> {
    const NAME: &'static str = "epoch";
    // Node with the key inline, bucket array: used_memory per key at 1M keys
    // (84 B with 16-byte keys and inline 16-byte values; 196 B with 100-byte
    // values) less the key's and the value's heap size classes that MEMORY
    // USAGE adds itself (16 + 0; 16 + 112).
    const KEY_OVERHEAD: usize = 68;

    #[inline]
    fn read<T>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> T) -> T {
        let hash = self.map.hash(key);
        let guard = self.map.reclaim.pin();
        f(self.map.find(hash, key, &guard).map(|n| n.entry()))
    }

    fn insert(&self, key: Bytes, entry: Entry) -> Option<Entry> {
        let hash = self.map.hash(&key);
        let guard = self.map.reclaim.pin();
        let mut spare = Some(OwnedNode::new(hash, &key, entry));
        self.map.write(hash, &key, &mut spare, &guard, |cur, _| {
            Step::Put(cur.cloned())
        })
    }

    fn remove(&self, key: &[u8]) -> Option<Entry> {
        let hash = self.map.hash(key);
        let guard = self.map.reclaim.pin();
        self.map
            .write(hash, key, &mut None, &guard, |cur, _| match cur {
                Some(e) => Step::Remove(Some(e.clone())),
                None => Step::Keep(None),
            })
    }

    fn compute<T, F>(&self, key: &[u8], mut f: F) -> T
    where
        F: FnMut(Option<&Entry>) -> (Op, T),
    {
        let hash = self.map.hash(key);
        let guard = self.map.reclaim.pin();
        let mut spare = None;
        self.map.write(hash, key, &mut spare, &guard, |cur, spare| {
            let (op, out) = f(cur);
            match op {
                Op::Keep => Step::Keep(out),
                Op::Remove => Step::Remove(out),
                Op::Put(entry) => {
                    match spare {
                        Some(node) => node.set_entry(entry),
                        None => *spare = Some(OwnedNode::new(hash, key, entry)),
                    }
                    Step::Put(out)
                }
            }
        })
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn clear(&self) {
        self.map.retain(|_, _| false);
    }

    fn retain<F>(&self, f: F)
    where
        F: FnMut(&[u8], &Entry) -> bool,
    {
        self.map.retain(f);
    }

    fn scan<F>(&self, cursor: u64, count: usize, mut f: F) -> u64
    where
        F: FnMut(&Bytes, &Entry),
    {
        let guard = self.map.reclaim.pin();
        let table = self.map.root(&guard);
        let mask = table.mask;
        let budget = count.max(1);
        let (mut v, mut emitted, mut buckets) = (cursor as usize, 0usize, 0usize);
        loop {
            self.map.visit_class(table, v, mask, &mut |n| {
                emitted += 1;
                f(&Bytes::copy_from_slice(n.key()), n.entry());
            });
            v = next_cursor(v, mask);
            buckets += 1;
            // Like Redis, bound the empty buckets one call may walk.
            if v == 0 || emitted >= budget || buckets >= budget * 10 {
                return v as u64;
            }
        }
    }

    /// Retired nodes and tables wait in crossbeam's bags until some thread
    /// pins; once the load stops nobody does, and a resize's old tables (as
    /// much as the table itself) would stay allocated.
    fn maintain(&self) {
        self.map.reclaim.collect();
    }

    fn random_entry(&self, seed: u64) -> Option<(Bytes, Entry)> {
        let guard = self.map.reclaim.pin();
        let mut rng = seed;
        self.map
            .random_node(&guard, &mut || store_api::splitmix64(&mut rng))
            .map(|n| (Bytes::copy_from_slice(n.key()), n.entry().clone()))
    }
}

/// Redis's `dictScan` cursor step: increment the reversed cursor over the
/// bits of `mask`, so that buckets are visited high-bit first and a resize
/// between calls neither skips a bucket class nor needs the old size.
fn next_cursor(v: usize, mask: usize) -> usize {
    (v | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

#[cfg(all(test, not(loom)))]
mod tests;
