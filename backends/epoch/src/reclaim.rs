//! Memory reclamation behind a small interface.
//!
//! The map never frees a node or table that another thread might still be
//! reading. It *retires* it instead: the reclaimer runs the destructor once no
//! thread can hold a reference any more. Two implementations:
//!
//! - [`EpochReclaim`] (the default): crossbeam-epoch's global collector. A
//!   guard pins the thread; garbage is freed two epoch advances later, when
//!   every thread pinned at retire time has unpinned.
//! - [`MockReclaim`]: a checking reclaimer for loom models and tests. It keeps
//!   a count of live guards; when the count returns to zero, everything
//!   retired so far is *poisoned* (never actually freed before the map is
//!   dropped), and every dereference checks the poison (see `sync::Canary`).
//!   Quiescence is a stricter condition than an epoch advance, so the mock
//!   never frees earlier than crossbeam would, and a dereference it flags is a
//!   real bug.
//!
//! The trait is sealed: the map's safety argument relies on the exact
//! contract of these two implementations.

use crate::sync::Mutex;

mod sealed {
    pub trait Sealed {}
}

/// Something retired: a type-erased pointer and how to destroy it.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Retired {
    pub(crate) ptr: *mut u8,
    pub(crate) ops: &'static RetireOps,
}

/// How to poison and free one kind of retired object.
#[doc(hidden)]
pub struct RetireOps {
    /// Drop and deallocate. Called exactly once per retired pointer.
    pub(crate) free: unsafe fn(*mut u8),
    /// Mark as freed without deallocating (loom's canary); a no-op otherwise.
    pub(crate) poison: unsafe fn(*mut u8),
}

// SAFETY: a `Retired` is only a pointer to an object that is no longer
// reachable; the objects the map retires (nodes holding `Bytes`, tables of
// atomics) are themselves `Send`, so destroying them on another thread is fine.
unsafe impl Send for Retired {}

/// A memory reclamation scheme the map can run on.
pub trait Reclaim: sealed::Sealed + Default + Send + Sync + 'static {
    /// Proof that the current thread is inside a read-side critical section.
    type Guard<'a>
    where
        Self: 'a;

    /// Enter a critical section: nothing retired after this call is freed
    /// until the guard is dropped.
    fn pin(&self) -> Self::Guard<'_>;

    /// Hand `retired` over for destruction once no guard that could have seen
    /// it is alive.
    ///
    /// # Safety
    /// The object must already be unreachable from the map (no new reference
    /// to it can be created), and must be retired exactly once.
    #[doc(hidden)]
    unsafe fn retire(&self, guard: &Self::Guard<'_>, retired: Retired);

    /// Move what this thread retired to where any thread's `collect` can
    /// free it. The default does nothing.
    fn flush(&self, guard: &Self::Guard<'_>) {
        let _ = guard;
    }

    /// Free what has been retired and is no longer visible to any guard, as
    /// far as this scheme can without other threads' help. The default does
    /// nothing (the mock frees at quiescence already).
    fn collect(&self) {}
}

/// Pin-and-flush rounds per [`Reclaim::collect`] of [`EpochReclaim`]: the
/// global epoch must advance twice past the garbage, and each round frees a
/// bounded number of bags.
const COLLECT_ROUNDS: usize = 16;

/// crossbeam-epoch's global collector (the production reclaimer).
#[derive(Default, Clone, Copy, Debug)]
pub struct EpochReclaim;

impl sealed::Sealed for EpochReclaim {}

impl Reclaim for EpochReclaim {
    type Guard<'a> = crossbeam_epoch::Guard;

    #[inline]
    fn pin(&self) -> crossbeam_epoch::Guard {
        crossbeam_epoch::pin()
    }

    #[inline]
    fn flush(&self, guard: &crossbeam_epoch::Guard) {
        guard.flush();
    }

    fn collect(&self) {
        // Each round moves this thread's deferred frees to the global queue,
        // tries to advance the epoch and runs what has expired (a bounded
        // number of bags per round). Garbage needs two epoch advances.
        for _ in 0..COLLECT_ROUNDS {
            crossbeam_epoch::pin().flush();
        }
    }

    unsafe fn retire(&self, guard: &crossbeam_epoch::Guard, retired: Retired) {
        // SAFETY: the caller guarantees `retired` is unreachable and retired
        // once; crossbeam runs the closure after every guard that was pinned
        // when it was deferred has been dropped. The closure only frees
        // memory, which is safe on any thread (see `unsafe impl Send`).
        unsafe { guard.defer_unchecked(move || (retired.ops.free)(retired.ptr)) }
    }
}

/// A checking reclaimer for models: poisons retired objects at quiescence and
/// frees them only when the map (and so the reclaimer) is dropped.
#[derive(Default)]
pub struct MockReclaim {
    state: Mutex<MockState>,
}

#[derive(Default)]
struct MockState {
    active: usize,
    retired: Vec<Retired>,
    poisoned: Vec<Retired>,
}

impl sealed::Sealed for MockReclaim {}

/// A live critical section of [`MockReclaim`].
pub struct MockGuard<'a> {
    mock: &'a MockReclaim,
}

impl Reclaim for MockReclaim {
    type Guard<'a> = MockGuard<'a>;

    fn pin(&self) -> MockGuard<'_> {
        self.state.lock().unwrap().active += 1;
        MockGuard { mock: self }
    }

    unsafe fn retire(&self, _guard: &MockGuard<'_>, retired: Retired) {
        self.state.lock().unwrap().retired.push(retired);
    }
}

impl Drop for MockGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.mock.state.lock().unwrap();
        state.active -= 1;
        if state.active == 0 {
            let MockState {
                retired, poisoned, ..
            } = &mut *state;
            for r in retired.drain(..) {
                // SAFETY: no guard is alive, and every object in `retired`
                // was unreachable before it was pushed (contract of
                // `retire`), so no thread holds or can obtain a reference;
                // poisoning only writes the canary, the memory stays valid.
                unsafe { (r.ops.poison)(r.ptr) };
                poisoned.push(r);
            }
        }
    }
}

impl Drop for MockReclaim {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap();
        for r in state.poisoned.drain(..).chain(state.retired.drain(..)) {
            // SAFETY: `&mut self` means no guard exists; each pointer was
            // retired exactly once and not freed yet.
            unsafe { (r.ops.free)(r.ptr) };
        }
    }
}
