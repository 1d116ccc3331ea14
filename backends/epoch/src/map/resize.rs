//! Cooperative resize: grow, same-size copy and shrink (see the crate
//! documentation's "Resize" and "Sizing a shrink").

use crate::reclaim::Reclaim;
use crate::sync::{spin_wait, Ordering::*};
#[cfg(all(target_arch = "x86_64", not(loom)))]
use crate::table::addr;
use crate::table::{has_node, node, unfrozen, Table, EMPTY, FROZEN, MOVED};

use super::{reserved, RawMap, Reason};

impl<R: Reclaim> RawMap<R> {
    pub(crate) fn shrink_if_sparse(&self, table: &Table, guard: &R::Guard<'_>) {
        let min = self.config.min_capacity.max(1).next_power_of_two();
        if table.capacity() > min
            && self.len() * 16 < table.capacity()
            && self.start_resize(table, Reason::Shrink)
        {
            self.help_resize(table, guard);
        }
    }

    /// The capacity a resize for `reason` should produce.
    fn target_capacity(&self, cap: usize, reason: Reason) -> usize {
        let live = self.len();
        // Slack for writers that decided to insert before they could see the
        // resize (at most one key each): the new table must hold them too.
        let fit = ((live + live / 8 + 8) * 2).next_power_of_two();
        let min = self.config.min_capacity.max(1).next_power_of_two();
        match reason {
            Reason::Full => cap * 2,
            // The copy drops the tombstones; `fit` still grows it if needed.
            Reason::Clogged => cap,
            Reason::Shrink => fit,
        }
        .max(fit)
        .max(min)
    }

    /// Install `table.next` unless a resize already did. Returns false only
    /// for a shrink that would not make the table smaller (nothing to do).
    pub(super) fn start_resize(&self, table: &Table, reason: Reason) -> bool {
        if !table.next.load(Acquire).is_null() {
            return true;
        }
        if reason == Reason::Shrink {
            return self.start_shrink(table);
        }
        // Growing (`Full`) or a same-size copy (`Clogged`): the new table is
        // at least as big as this one, so it holds every key this one can.
        let new = Box::into_raw(Box::new(
            self.new_table(self.target_capacity(table.capacity(), reason)),
        ));
        // Release publishes the new table to helpers and readers.
        if table
            .next
            .compare_exchange(std::ptr::null_mut(), new, AcqRel, Acquire)
            .is_err()
        {
            // SAFETY: our table was never published.
            drop(unsafe { Box::from_raw(new) });
        }
        true
    }

    /// A shrink sizes the new table from the live count, so inserts must
    /// stop *before* it counts: it reserves `next` first (writers that see
    /// the reservation wait, as for any migration), then counts, then
    /// installs the table. Counting first and publishing later let a writer
    /// insert any number of keys in between, which overflowed the new table.
    /// After the reservation the count can only fall, except for writers
    /// that checked `next` just before it (one key each, in the slack of
    /// `target_capacity`).
    fn start_shrink(&self, table: &Table) -> bool {
        // Cheap first look (racy): do not stop writers for nothing.
        if self.target_capacity(table.capacity(), Reason::Shrink) >= table.capacity() {
            return false;
        }
        if table
            .next
            .compare_exchange(std::ptr::null_mut(), reserved(), AcqRel, Acquire)
            .is_err()
        {
            return true; // another resize started
        }
        // Keys may have arrived since the first look: the table is then as
        // big as they need (a same-size or bigger copy), never too small.
        let cap = self.target_capacity(table.capacity(), Reason::Shrink);
        #[cfg(all(test, not(loom)))]
        {
            let pause = self.shrink_pause.lock().unwrap().take();
            if let Some(pause) = pause {
                pause();
            }
        }
        // Release publishes the new table to helpers and readers. Only the
        // reserving thread writes `next` while it holds the reservation.
        let new = Box::into_raw(Box::new(self.new_table(cap)));
        table.next.store(new, Release);
        true
    }

    /// Help migrate `table` into `table.next` until the migration is
    /// complete, then return the next table. Writers block here (helping);
    /// readers never call it.
    pub(super) fn help_resize<'g>(&self, table: &'g Table, guard: &'g R::Guard<'_>) -> &'g Table {
        let mut spins = 0;
        while table.next.load(Acquire) == reserved() {
            spin_wait(&mut spins); // a shrink is sizing its table
        }
        let next = self.next(table);
        let chunks = table.chunks();
        loop {
            // Relaxed: the counter only hands out distinct chunk numbers.
            let chunk = table.claimed.fetch_add(1, Relaxed);
            if chunk >= chunks {
                break;
            }
            let start = chunk * table.chunk;
            let end = (start + table.chunk).min(table.capacity());
            for idx in start..end {
                if idx + PREFETCH_AHEAD < end {
                    prefetch_node(table.slot(idx + PREFETCH_AHEAD).load(Relaxed));
                }
                self.migrate_slot(table, next, idx);
            }
            // Release: our copies happen-before whoever sees the count
            // complete (a release sequence through every helper's RMW).
            table.copied.fetch_add(1, AcqRel);
            #[cfg(all(test, not(loom)))]
            {
                let mut hook = self.chunk_copied.lock().unwrap();
                if hook
                    .as_mut()
                    .is_some_and(|f| f(table.capacity(), next.capacity()))
                {
                    *hook = None;
                }
            }
        }
        let mut spins = 0;
        while !table.migrated() {
            spin_wait(&mut spins);
        }
        self.advance_root(guard);
        next
    }

    /// Freeze one slot and move its node (if any) into `next`.
    fn migrate_slot(&self, table: &Table, next: &Table, idx: usize) {
        // AcqRel: Acquire to read the node we move; Release so a writer whose
        // CAS fails on the frozen word sees `table.next` set.
        let word = table.slot(idx).fetch_or(FROZEN, AcqRel);
        debug_assert!(word & FROZEN == 0, "slot migrated twice");
        if !has_node(word) {
            return; // FROZEN_EMPTY or FROZEN|TOMB: nothing to move
        }
        // SAFETY: Acquire load (the fetch_or) under the caller's guard.
        let hash = unsafe { node(word) }.hash();
        let mut probe = next.probe(hash);
        let live = unfrozen(word);
        for _ in 0..next.capacity() {
            let slot = next.slot(probe.next_index());
            // Keys are unique and nothing but migration writes `next` until
            // the migration completes, so the first empty slot will do.
            // Release publishes the node to readers of `next` (its contents
            // were published to us by the Acquire above).
            if slot.load(Relaxed) == EMPTY
                && slot.compare_exchange(EMPTY, live, Release, Relaxed).is_ok()
            {
                // Release: a reader that sees MOVED then finds the node in
                // `next`.
                table.slot(idx).store(MOVED, Release);
                return;
            }
        }
        unreachable!("resize target overflowed: its capacity is sized for every live key");
    }

    /// Move the root past every table whose migration is complete; the CAS
    /// winner retires the old table.
    fn advance_root(&self, guard: &R::Guard<'_>) {
        loop {
            let old = self.root.load(Acquire);
            // SAFETY: guarded root (see `root`).
            let table = unsafe { &*old }.check();
            let next = table.next.load(Acquire);
            if next.is_null() || next == reserved() || !table.migrated() {
                return;
            }
            if self
                .root
                .compare_exchange(old, next, AcqRel, Acquire)
                .is_ok()
            {
                // SAFETY: the root no longer points at `old` and nothing else
                // leads to it except `next` pointers of older tables, which
                // were retired before it; only the CAS winner retires it.
                unsafe { self.reclaim.retire(guard, Table::retired(old)) };
                // A table is big and retired rarely: hand it to the shared
                // queue now, where the sweeper's `collect` reaches it, not
                // after this thread's next 64 retirements.
                self.reclaim.flush(guard);
            }
        }
    }
}

/// Slots ahead of the migrating one whose node is prefetched: moving a node
/// reads its hash, one cache miss per live entry otherwise.
const PREFETCH_AHEAD: usize = 8;

/// Hint the CPU to fetch the node a slot word points to. A prefetch never
/// faults, so a stale or freed address is harmless; no dereference happens.
#[inline(always)]
fn prefetch_node(word: usize) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    if has_node(word) {
        // SAFETY: `_mm_prefetch` is only a cache hint: it never faults or
        // reads architecturally, whatever the address.
        #[allow(unused_unsafe)]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                addr(word) as *const i8
            )
        };
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = word;
}
