//! The one door to synchronization primitives.
//!
//! Every atomic, lock and cell the map uses is imported from here, never from
//! `std::sync` directly. Under `--cfg loom` they are loom's types, so the
//! model checker sees every access and explores its interleavings; otherwise
//! they are the std/core types and cost nothing extra (crossbeam-epoch's
//! `primitive` module and sharded-slab's `sync.rs` follow the same pattern).

#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    sync::atomic::{AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize},
    sync::Mutex,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicIsize, AtomicPtr, AtomicU64, AtomicUsize},
    Mutex,
};

pub(crate) use std::sync::atomic::Ordering;

/// Back off inside a wait loop. Under loom a spin must yield, or the model
/// checker would explore an unbounded number of spins of one thread.
#[inline]
pub(crate) fn spin_wait(spins: &mut u32) {
    #[cfg(loom)]
    {
        let _ = spins;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    {
        if *spins < 64 {
            *spins += 1;
            std::hint::spin_loop();
        } else {
            // Two cores shared with other processes: give the CPU to the
            // thread we are waiting for instead of burning our slice.
            std::thread::yield_now();
        }
    }
}

/// Pads and aligns a value to 128 bytes (two cache lines: adjacent-line
/// prefetch on x86 pairs them), so hot counters do not share a line.
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A use-after-free detector that exists only in loom builds.
///
/// Nodes and tables embed one. Creating it counts as a write in loom's
/// causality tracking, every dereference of the containing object calls
/// [`Canary::check`] (a read), and freeing or poisoning calls
/// [`Canary::poison`] (a write). So loom reports a dereference that does not
/// happen-after the object's initialization (a missing Acquire/Release pair)
/// and one that races with its free; a dereference that happens after a
/// poison fails the assertion. In normal builds it is a zero-sized no-op.
pub(crate) struct Canary {
    #[cfg(loom)]
    freed: UnsafeCell<bool>,
}

impl Canary {
    pub(crate) fn new() -> Self {
        // Loom's clocks tick only at synchronization points, so a write made
        // right after, say, a mutex unlock would carry the unlock's
        // timestamp, and a thread that acquired the unlock would wrongly
        // count as having seen it. A relaxed store to a private atomic ticks
        // the clock without synchronizing with anyone.
        #[cfg(loom)]
        AtomicUsize::new(0).store(1, Ordering::Relaxed);
        Canary {
            #[cfg(loom)]
            freed: UnsafeCell::new(false),
        }
    }

    #[inline(always)]
    pub(crate) fn check(&self) {
        #[cfg(loom)]
        self.freed.with(|freed| {
            // SAFETY: loom's `with` checks this read against every write
            // (creation and `poison`); the pointer is valid for the cell.
            assert!(
                !unsafe { *freed },
                "use after free: object was retired and reclaimed"
            );
        });
    }

    #[inline(always)]
    pub(crate) fn poison(&self) {
        #[cfg(loom)]
        self.freed.with_mut(|freed| {
            // SAFETY: loom's `with_mut` checks that no access is concurrent.
            unsafe { *freed = true };
        });
    }
}
