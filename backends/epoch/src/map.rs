//! The lock-free core: lookup and the CAS write loop; cooperative resize is
//! in `map::resize`.
//!
//! See the crate documentation for the design and the safety argument; the
//! comments here name which invariant each step relies on.

use std::hash::BuildHasher;

use store_api::Entry;

use crate::node::{NodeRef, OwnedNode};
use crate::reclaim::Reclaim;
use crate::sync::{AtomicIsize, AtomicPtr, AtomicU64, CachePadded, Ordering::*};
use crate::table::{
    addr, has_node, live_word, node, tag_matches, Table, EMPTY, FROZEN, FROZEN_EMPTY, MOVED, TOMB,
};
use crate::Config;

mod resize;

/// Number of stripes of the entry counter (a power of two).
#[cfg(not(loom))]
const STRIPES: usize = 32;
/// Under loom every stripe is an atomic to explore: keep two.
#[cfg(loom)]
const STRIPES: usize = 2;

/// `table.next` while a shrink sizes the new table (see
/// [`RawMap::start_shrink`]): writers wait for the real table; readers never
/// see it, as they follow `next` only past a `MOVED` slot, and no slot is
/// frozen before the real table is installed. A well-aligned non-null
/// address no allocation returns; it is never dereferenced.
#[inline(always)]
fn reserved() -> *mut Table {
    std::ptr::dangling_mut()
}

/// Ordering of the slot load on the read path. The planted bug for the loom
/// demo weakens it to `Relaxed`, which lets a reader dereference a node whose
/// initialization it has not synchronized with.
#[cfg(not(flashkv_planted_bug))]
const READ_SLOT: crate::sync::Ordering = Acquire;
#[cfg(flashkv_planted_bug)]
const READ_SLOT: crate::sync::Ordering = Relaxed;

pub(crate) struct RawMap<R: Reclaim> {
    root: AtomicPtr<Table>,
    stripes: Box<[CachePadded<AtomicIsize>]>,
    generation: AtomicU64,
    hasher: foldhash::fast::FixedState,
    config: Config,
    pub(crate) reclaim: R,
    /// A failpoint for the unit tests: runs once, inside a shrink, after the
    /// new table was sized and before it is installed (see
    /// `tests::keys_inserted_while_a_shrink_is_sized_still_fit`).
    #[cfg(all(test, not(loom)))]
    pub(crate) shrink_pause: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// A failpoint for the unit tests: runs in a helper after each chunk it
    /// copied, with the old and new capacities, until it returns true (see
    /// `tests::scan_sees_every_key_halfway_through_a_shrink`).
    #[cfg(all(test, not(loom)))]
    pub(crate) chunk_copied: MigrationHook,
}

#[cfg(all(test, not(loom)))]
pub(crate) type MigrationHook =
    std::sync::Mutex<Option<Box<dyn FnMut(usize, usize) -> bool + Send>>>;

/// What a writer found probing for its key.
enum Locate {
    /// The key's slot and the word it held.
    Found(usize, usize),
    /// The key is absent; this is the first empty slot of its probe run.
    Vacant(usize),
    /// The probe limit was reached: the table must grow, or be cleaned when
    /// most of the probed slots were tombstones.
    Full { tombstones: usize },
    /// A frozen slot: this table is being migrated.
    Frozen,
}

/// The decision of one write attempt (see [`RawMap::write`]).
pub(crate) enum Step<T> {
    /// Leave the key alone and return.
    Keep(T),
    /// Publish the node prepared in the spare slot.
    Put(T),
    /// Remove the key.
    Remove(T),
}

/// Why a resize is started.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// A probe run of live keys hit the limit: grow.
    Full,
    /// A probe run hit the limit and was mostly tombstones: copy to drop them.
    Clogged,
    /// Few live keys in a big table.
    Shrink,
}

impl<R: Reclaim> RawMap<R> {
    pub(crate) fn new(config: Config, reclaim: R) -> Self {
        let cap = config
            .initial_capacity
            .max(config.min_capacity)
            .max(1)
            .next_power_of_two();
        let seed = config.seed.unwrap_or_else(random_seed);
        let map = RawMap {
            root: AtomicPtr::new(std::ptr::null_mut()),
            stripes: (0..STRIPES)
                .map(|_| CachePadded(AtomicIsize::new(0)))
                .collect(),
            generation: AtomicU64::new(1),
            hasher: foldhash::fast::FixedState::with_seed(seed),
            config,
            reclaim,
            #[cfg(all(test, not(loom)))]
            shrink_pause: std::sync::Mutex::new(None),
            #[cfg(all(test, not(loom)))]
            chunk_copied: std::sync::Mutex::new(None),
        };
        let table = map.new_table(cap);
        map.root.store(Box::into_raw(Box::new(table)), Release);
        map
    }

    fn new_table(&self, cap: usize) -> Table {
        let limit = self
            .config
            .probe_limit
            .unwrap_or_else(|| default_probe_limit(cap));
        Table::new(
            cap,
            self.config.chunk_size,
            limit,
            self.generation.fetch_add(1, Relaxed),
        )
    }

    /// Tables built so far (the first included; see `EpochStore::tables_built`).
    pub(crate) fn tables_built(&self) -> u64 {
        self.generation.load(Relaxed) - 1
    }

    #[inline]
    pub(crate) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The current root table.
    #[inline(always)]
    pub(crate) fn root<'g>(&self, _guard: &'g R::Guard<'_>) -> &'g Table {
        // SAFETY: the root is never null after construction; a table is
        // retired only after the root moved past it, and we hold a guard, so
        // the table outlives `'g`. Acquire pairs with the Release that
        // published it (construction or `advance_root`).
        unsafe { &*self.root.load(Acquire) }.check()
    }

    /// `table.next`, which the caller knows is set.
    #[inline]
    fn next<'g>(&self, table: &'g Table) -> &'g Table {
        let next = table.next.load(Acquire);
        // Cold path (only during resizes): a null here is an ordering bug
        // (the planted one produces it), so fail loudly instead of faulting.
        assert!(
            !next.is_null() && next != reserved(),
            "frozen slot seen before its table's `next`"
        );
        // SAFETY: `next` is set before any slot is frozen and never changes;
        // it is retired only after the root moved past it, which happens
        // after our guard (which protects `table`) was pinned, so it is
        // still allocated. Acquire pairs with the Release CAS that set it.
        unsafe { &*next }.check()
    }

    // ---------------------------------------------------------------- reads

    /// Find the node for `key`: never writes shared memory, never waits.
    #[inline]
    pub(crate) fn find<'g>(
        &self,
        hash: u64,
        key: &[u8],
        guard: &'g R::Guard<'_>,
    ) -> Option<NodeRef<'g>> {
        let mut table = self.root(guard);
        loop {
            let mut moved = false;
            let mut probe = table.probe(hash);
            for _ in 0..table.capacity() {
                let word = table.slot(probe.next_index()).load(READ_SLOT);
                if word == EMPTY || word == FROZEN_EMPTY {
                    break;
                }
                if word == MOVED {
                    moved = true;
                } else if has_node(word) && tag_matches(word, hash) {
                    // SAFETY: loaded with Acquire under our guard.
                    let n = unsafe { node(word) };
                    if n.hash() == hash && n.key() == key {
                        // Live, or frozen mid-copy: either way it is the
                        // key's current value (nothing writes the key in
                        // `next` before this slot becomes MOVED).
                        return Some(n);
                    }
                }
            }
            if !moved {
                return None;
            }
            // Part of the run moved on; the key may be in the next table.
            table = self.next(table);
        }
    }

    // ---------------------------------------------------------------- writes

    /// Probe `table` for a writer.
    fn locate(&self, table: &Table, hash: u64, key: &[u8]) -> Locate {
        let mut probe = table.probe(hash);
        let mut tombstones = 0;
        // Past half the limit, a run that is mostly tombstones is clogged:
        // report it now (a same-size copy drops them) rather than let every
        // lookup walk it until the hard limit.
        let clog_check = (table.probe_limit / 2).max(8);
        for i in 0..table.probe_limit {
            if i >= clog_check && tombstones * 2 >= i {
                return Locate::Full { tombstones };
            }
            let idx = probe.next_index();
            let word = table.slot(idx).load(Acquire);
            if word & FROZEN != 0 {
                return Locate::Frozen;
            }
            if word == EMPTY {
                return Locate::Vacant(idx);
            }
            tombstones += usize::from(word == TOMB);
            if has_node(word) && tag_matches(word, hash) {
                // SAFETY: loaded with Acquire while the caller's guard is
                // pinned (`write` holds it for the whole call).
                let n = unsafe { node(word) };
                if n.hash() == hash && n.key() == key {
                    return Locate::Found(idx, word);
                }
            }
        }
        Locate::Full { tombstones }
    }

    /// The write loop shared by insert, remove, compute and retain.
    ///
    /// `decide` sees the current entry and returns a [`Step`]; for `Put` it
    /// must leave the node to publish in `spare`. It runs again after every
    /// lost CAS, with the state that won.
    pub(crate) fn write<T>(
        &self,
        hash: u64,
        key: &[u8],
        spare: &mut Option<OwnedNode>,
        guard: &R::Guard<'_>,
        mut decide: impl FnMut(Option<&Entry>, &mut Option<OwnedNode>) -> Step<T>,
    ) -> T {
        let mut table = self.root(guard);
        'table: loop {
            if !table.next.load(Acquire).is_null() {
                // A resize is running: new keys must not land in a table
                // being emptied (bounds what the new table must hold).
                table = self.help_resize(table, guard);
                continue;
            }
            let (idx, mut word) = match self.locate(table, hash, key) {
                Locate::Frozen => {
                    table = self.help_resize(table, guard);
                    continue;
                }
                Locate::Full { tombstones } => {
                    let clogged = tombstones * 4 >= table.probe_limit;
                    self.start_resize(
                        table,
                        if clogged {
                            Reason::Clogged
                        } else {
                            Reason::Full
                        },
                    );
                    table = self.help_resize(table, guard);
                    continue;
                }
                Locate::Vacant(idx) => (idx, EMPTY),
                Locate::Found(idx, word) => (idx, word),
            };
            loop {
                // SAFETY: `word` was loaded with Acquire (by `locate` or as a
                // failed CAS's Acquire result) under our guard.
                let current = has_node(word).then(|| unsafe { node(word) });
                let step = decide(current.map(|n| n.entry()), spare);
                let (new, out) = match step {
                    Step::Keep(out) => return out,
                    Step::Remove(out) if current.is_none() => return out,
                    Step::Remove(out) => (TOMB, out),
                    Step::Put(out) => {
                        let addr = spare.as_ref().expect("Step::Put without a node").addr();
                        (live_word(addr, hash), out)
                    }
                };
                // Release publishes the new node's contents (and orders our
                // reads of the old one before its retirement); Acquire on
                // failure lets us dereference the node that won.
                match table.slot(idx).compare_exchange(word, new, AcqRel, Acquire) {
                    Ok(_) => {
                        if new != TOMB {
                            spare.take().expect("spare").published();
                        }
                        match current {
                            Some(old) => {
                                // A large value leaving the map; not one the
                                // new node still holds (EXPIRE, PERSIST).
                                let gone = &old.entry().value;
                                let large = gone.is_large()
                                    && (new == TOMB || {
                                        // SAFETY: our own node, just
                                        // published, under our guard.
                                        let now = &unsafe { node(new) }.entry().value;
                                        !now.shares_payload(gone)
                                    });
                                // SAFETY: our CAS unlinked it, so it is
                                // unreachable and retired exactly once (only
                                // the CAS winner retires).
                                unsafe { self.reclaim.retire(guard, old.retired()) };
                                if large {
                                    // Not left in this thread's bag until it
                                    // fills: the next collection frees it.
                                    self.reclaim.flush(guard);
                                }
                            }
                            None => {
                                self.count(hash, 1);
                            }
                        }
                        // About one remove in 64 per stripe, and every remove
                        // that empties a stripe, checks whether to shrink:
                        // keeps `len`'s sum off the common path but always
                        // looks once the map is (nearly) empty.
                        if new == TOMB && self.count(hash, -1) & 63 == 1 {
                            self.shrink_if_sparse(table, guard);
                        }
                        return out;
                    }
                    Err(actual) if actual & FROZEN != 0 => {
                        table = self.help_resize(table, guard);
                        continue 'table;
                    }
                    // Another key took the empty slot, or our key was
                    // deleted (tombstones are not reused): probe again.
                    Err(actual) if word == EMPTY || actual == TOMB => continue 'table,
                    // The slot still holds our key, in a newer node.
                    Err(actual) => word = actual,
                }
            }
        }
    }

    /// Add `delta` to the key's stripe and return the stripe's old value.
    fn count(&self, hash: u64, delta: isize) -> isize {
        // Striped by key hash rather than by thread: no thread-local lookup,
        // a key's insert and remove hit the same stripe (so a quiescent
        // stripe is never negative), and two threads rarely share a stripe.
        // Relaxed: the count publishes nothing, it is only summed for `len`
        // and the resize policy.
        self.stripes[(hash >> 40) as usize & (STRIPES - 1)].fetch_add(delta, Relaxed)
    }

    pub(crate) fn len(&self) -> usize {
        let sum: isize = self.stripes.iter().map(|s| s.load(Relaxed)).sum();
        sum.max(0) as usize
    }

    // ------------------------------------------------------- whole-map walks

    /// Visit every node whose hash falls in scan class `v` under `mask`
    /// (see `scan` in lib.rs) in `table` and in the tables it moves into.
    pub(crate) fn visit_class<'g>(
        &self,
        table: &'g Table,
        v: usize,
        mask: usize,
        f: &mut impl FnMut(NodeRef<'g>),
    ) {
        let tm = table.mask;
        let (first, step, count) = if tm >= mask {
            (v & mask, mask + 1, (tm + 1) / (mask + 1))
        } else {
            (v & tm, 1, 1)
        };
        let mut moved = false;
        for j in 0..count {
            let home = first + j * step;
            let mut probe = crate::table::Probe::new(home, tm);
            for _ in 0..table.capacity() {
                let word = table.slot(probe.next_index()).load(Acquire);
                if word == EMPTY || word == FROZEN_EMPTY {
                    break;
                }
                if word == MOVED {
                    moved = true;
                } else if has_node(word) {
                    // SAFETY: Acquire load under the caller's guard.
                    let n = unsafe { node(word) };
                    let h = n.hash() as usize;
                    if h & tm == home && h & mask == v & mask {
                        f(n);
                    }
                }
            }
        }
        if moved {
            self.visit_class(self.next(table), v, mask, f);
        }
    }

    /// Remove every entry for which `keep` returns false. Re-pins every
    /// chunk so a long walk does not hold back reclamation.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&[u8], &Entry) -> bool) {
        let mut idx = 0usize;
        let mut at: Option<(*const Table, u64)> = None;
        loop {
            let guard = self.reclaim.pin();
            let mut table = self.root(&guard);
            if !table.next.load(Acquire).is_null() {
                table = self.help_resize(table, &guard);
            }
            if at != Some((table as *const Table, table.generation)) {
                // A new table (first pass, or a resize moved everything):
                // start over; `keep` may see an entry twice.
                at = Some((table as *const Table, table.generation));
                idx = 0;
            }
            let end = (idx + 1024).min(table.capacity());
            // A large value removed in this chunk: hand the bag over once,
            // at the chunk's end (see `write`).
            let mut large = false;
            while idx < end {
                let word = table.slot(idx).load(Acquire);
                if word & FROZEN != 0 {
                    break; // a resize started: the next round restarts
                }
                if has_node(word) {
                    // SAFETY: Acquire load under `guard`.
                    let n = unsafe { node(word) };
                    if !keep(n.key(), n.entry()) {
                        match table
                            .slot(idx)
                            .compare_exchange(word, TOMB, AcqRel, Acquire)
                        {
                            Ok(_) => {
                                large |= n.entry().value.is_large();
                                // SAFETY: unlinked by our CAS, retired once.
                                unsafe { self.reclaim.retire(&guard, n.retired()) };
                                self.count(n.hash(), -1);
                            }
                            Err(_) => continue, // changed under us: look again
                        }
                    }
                }
                idx += 1;
            }
            if large {
                self.reclaim.flush(&guard);
            }
            if idx >= table.capacity() {
                self.shrink_if_sparse(table, &guard);
                return;
            }
        }
    }
}

impl<R: Reclaim> Drop for RawMap<R> {
    fn drop(&mut self) {
        // `&mut self`: no other thread can reach the map. Every write waits
        // for a migration it joins to complete and the root to advance, so
        // the root is the only table holding nodes.
        let root = self.root.load(Relaxed);
        // SAFETY: the root came from `Box::into_raw` and is owned by the map.
        let table = unsafe { Box::from_raw(root) };
        debug_assert!(table.next.load(Relaxed).is_null());
        for slot in table.slots.iter() {
            let word = slot.load(Relaxed);
            if has_node(word) {
                // SAFETY: the node is reachable only from this slot, nobody
                // else can read it any more, and it is freed once.
                unsafe { crate::node::free_node(addr(word) as *mut u8) };
            }
        }
    }
}

/// Without an explicit probe limit: ~4 * log2(capacity), at least 16. With
/// 8-slot groups and triangular jumps this lets a table reach roughly 75-85%
/// load before a writer gives up and grows it (measured in the unit tests).
pub(crate) fn default_probe_limit(capacity: usize) -> usize {
    (4 * capacity.max(2).ilog2() as usize).max(16)
}

fn random_seed() -> u64 {
    #[cfg(loom)]
    {
        // Loom replays executions: hashing must be deterministic.
        0
    }
    #[cfg(not(loom))]
    {
        std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
    }
}

impl<R: Reclaim> RawMap<R> {
    /// A random node: 32 random slots, then a sweep from a random start;
    /// follows `MOVED` markers into the next table.
    pub(crate) fn random_node<'g>(
        &self,
        guard: &'g R::Guard<'_>,
        rng: &mut impl FnMut() -> u64,
    ) -> Option<NodeRef<'g>> {
        let mut table = self.root(guard);
        loop {
            let mut moved = false;
            let start = rng() as usize;
            for attempt in 0..32 + table.capacity() {
                let idx = if attempt < 32 {
                    rng() as usize
                } else {
                    start + attempt
                } & table.mask;
                let word = table.slot(idx).load(Acquire);
                if has_node(word) {
                    // SAFETY: Acquire load under `guard`.
                    return Some(unsafe { node(word) });
                }
                moved |= word == MOVED;
            }
            if !moved {
                return None;
            }
            table = self.next(table);
        }
    }
}
