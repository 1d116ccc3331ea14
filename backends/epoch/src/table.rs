//! The slot array and the meaning of a slot word.
//!
//! A slot is one `AtomicUsize`. Its states (bits 0..=2 are flags, bits 3..=47
//! a node address, bits 48..=63 a 16-bit tag taken from the key's hash):
//!
//! | word                 | meaning                                           |
//! |----------------------|---------------------------------------------------|
//! | `EMPTY` (0)          | never used in this table: a probe ends here       |
//! | `tag \| addr`        | live node                                          |
//! | `TOMB` (0b010)       | deleted; never reused in this table               |
//! | `FROZEN \| tag \| addr` | being migrated: still the current value of its key |
//! | `FROZEN_EMPTY` (0b001) | was empty when frozen: a probe ends here          |
//! | `FROZEN_TOMB` (0b011) | was a tombstone when frozen                       |
//! | `MOVED` (0b101)      | its node now lives in `next`                      |
//!
//! Transitions: `EMPTY -> live` (insert), `live -> live'` (update, same key),
//! `live -> TOMB` (remove), and in a resize `x -> FROZEN | x` followed by
//! `FROZEN | live -> MOVED`. A slot never goes back to `EMPTY`, and a slot that
//! held key K holds K, a tombstone, or a frozen/moved marker thereafter. Those
//! two facts make lock-free linear probing unique-keyed.

use crate::node::NodeRef;
use crate::reclaim::{RetireOps, Retired};
use crate::sync::{AtomicPtr, AtomicUsize, CachePadded, Canary, Ordering};

pub(crate) const EMPTY: usize = 0;
pub(crate) const FROZEN: usize = 0b001;
pub(crate) const TOMB: usize = 0b010;
pub(crate) const MOVED_BIT: usize = 0b100;
pub(crate) const FROZEN_EMPTY: usize = FROZEN;
pub(crate) const MOVED: usize = FROZEN | MOVED_BIT;
const ADDR_MASK: usize = ((1 << 48) - 1) & !0b111;
const TAG_SHIFT: u32 = 48;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("store-epoch packs a 16-bit hash tag into the top bits of a 64-bit pointer");

/// The 16-bit tag of a hash, in slot-word position.
#[inline(always)]
pub(crate) fn tag_bits(hash: u64) -> usize {
    ((hash >> 48) as usize) << TAG_SHIFT
}

/// The word that publishes node address `addr` for `hash`.
#[inline(always)]
pub(crate) fn live_word(addr: usize, hash: u64) -> usize {
    // User-space addresses on x86-64 and AArch64 (48-bit or 4-level mode)
    // leave the top 16 bits clear; the tag would corrupt anything else.
    assert!(
        addr & !ADDR_MASK == 0,
        "node address does not fit in 48 bits"
    );
    addr | tag_bits(hash)
}

/// Does the word reference a node (live or frozen)?
#[inline(always)]
pub(crate) fn has_node(word: usize) -> bool {
    word & ADDR_MASK != 0
}

/// Could the node in `word` be for `hash`? (Tag compare, no dereference.)
#[inline(always)]
pub(crate) fn tag_matches(word: usize, hash: u64) -> bool {
    (word ^ tag_bits(hash)) >> TAG_SHIFT == 0
}

/// The node referenced by `word`.
///
/// # Safety
/// `has_node(word)`, and `word` was loaded (Acquire) from a slot while the
/// guard behind `'g` was pinned.
#[inline(always)]
pub(crate) unsafe fn node<'g>(word: usize) -> NodeRef<'g> {
    // SAFETY: forwarded contract.
    unsafe { NodeRef::from_addr(addr(word)) }
}

/// The node address in a word.
#[inline(always)]
pub(crate) fn addr(word: usize) -> usize {
    word & ADDR_MASK
}

/// Strip flag bits from a word that references a node.
#[inline(always)]
pub(crate) fn unfrozen(word: usize) -> usize {
    word & !FROZEN
}

/// Probe sequence: 8 consecutive slots (one cache line when aligned) from the
/// home slot, then triangular jumps of whole 8-slot groups. Within one table
/// the first `capacity` positions visit every slot once when
/// `capacity >= 8`, and the consecutive part alone covers smaller tables.
#[derive(Clone, Copy)]
pub(crate) struct Probe {
    base: usize,
    i: usize,
    mask: usize,
}

impl Probe {
    #[inline(always)]
    pub(crate) fn new(home: usize, mask: usize) -> Self {
        Probe {
            base: home,
            i: 0,
            mask,
        }
    }

    /// The slot of the `i`th probe, then advance.
    #[inline(always)]
    pub(crate) fn next_index(&mut self) -> usize {
        let idx = (self.base + (self.i & 7)) & self.mask;
        self.i += 1;
        if self.i & 7 == 0 {
            // tri(g + 1) = tri(g) + g + 1, in units of 8 slots.
            self.base += 8 * (self.i >> 3);
        }
        idx
    }
}

/// One generation of the map: a power-of-two slot array plus the state of
/// its migration to the next generation.
pub(crate) struct Table {
    pub(crate) slots: Box<[AtomicUsize]>,
    pub(crate) mask: usize,
    /// Writers that probe this far without finding the key or an empty slot
    /// start a resize instead of probing further.
    pub(crate) probe_limit: usize,
    /// Slots per migration chunk.
    pub(crate) chunk: usize,
    /// Distinguishes tables that reuse an address (for `retain`'s re-pin).
    pub(crate) generation: u64,
    /// The table this one is migrating into; null until a resize starts.
    pub(crate) next: AtomicPtr<Table>,
    /// Next chunk to hand out to a migrating thread.
    pub(crate) claimed: CachePadded<AtomicUsize>,
    /// Chunks fully migrated; the migration is complete at `chunks()`.
    pub(crate) copied: CachePadded<AtomicUsize>,
    canary: Canary,
}

impl Table {
    pub(crate) fn new(capacity: usize, chunk: usize, probe_limit: usize, generation: u64) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Table {
            slots: (0..capacity).map(|_| AtomicUsize::new(EMPTY)).collect(),
            mask: capacity - 1,
            probe_limit: probe_limit.clamp(1, capacity),
            chunk: chunk.clamp(1, capacity),
            generation,
            next: AtomicPtr::new(std::ptr::null_mut()),
            claimed: CachePadded(AtomicUsize::new(0)),
            copied: CachePadded(AtomicUsize::new(0)),
            canary: Canary::new(),
        }
    }

    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    #[inline(always)]
    pub(crate) fn slot(&self, idx: usize) -> &AtomicUsize {
        // SAFETY-free: `idx` is always masked by `self.mask`; the bounds check
        // is left to the optimizer.
        &self.slots[idx]
    }

    #[inline(always)]
    pub(crate) fn probe(&self, hash: u64) -> Probe {
        Probe::new(hash as usize & self.mask, self.mask)
    }

    pub(crate) fn chunks(&self) -> usize {
        self.capacity().div_ceil(self.chunk)
    }

    /// Has every chunk been migrated?
    pub(crate) fn migrated(&self) -> bool {
        self.copied.load(Ordering::Acquire) >= self.chunks()
    }

    /// Loom's use-after-free check; call on every dereference of a table
    /// pointer loaded from shared memory.
    #[inline(always)]
    pub(crate) fn check(&self) -> &Self {
        self.canary.check();
        self
    }

    /// Package a table pointer for retirement.
    pub(crate) fn retired(ptr: *mut Table) -> Retired {
        Retired {
            ptr: ptr.cast(),
            ops: &TABLE_OPS,
        }
    }
}

pub(crate) static TABLE_OPS: RetireOps = RetireOps {
    free: free_table,
    poison: poison_table,
};

/// Free a table's slot array. A retired table holds only markers (its nodes
/// moved on), so no node is freed here.
unsafe fn free_table(ptr: *mut u8) {
    // SAFETY: `ptr` came from `Box::into_raw` and is retired exactly once.
    let table = unsafe { Box::from_raw(ptr.cast::<Table>()) };
    table.canary.poison();
    drop(table);
}

unsafe fn poison_table(ptr: *mut u8) {
    // SAFETY: still allocated (the mock frees only when dropped).
    unsafe { (*ptr.cast::<Table>()).canary.poison() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_visits_every_slot_once() {
        for cap in [1usize, 2, 4, 8, 16, 64, 1024] {
            for home in [0, 1, 5, cap - 1] {
                let mut p = Probe::new(home, cap - 1);
                let mut seen = vec![false; cap];
                for _ in 0..cap {
                    let i = p.next_index();
                    assert!(!seen[i], "cap {cap} home {home} revisits {i}");
                    seen[i] = true;
                }
            }
        }
    }

    #[test]
    fn words_decode() {
        let hash = 0xabcd_0000_0000_0001u64;
        let w = live_word(0x1000, hash);
        assert!(has_node(w) && tag_matches(w, hash));
        assert!(!tag_matches(w, 0x1234_0000_0000_0001));
        assert!(has_node(w | FROZEN));
        assert_eq!(unfrozen(w | FROZEN), w);
        for marker in [EMPTY, TOMB, FROZEN_EMPTY, FROZEN | TOMB, MOVED] {
            assert!(!has_node(marker));
        }
    }
}
