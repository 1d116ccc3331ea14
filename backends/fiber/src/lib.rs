//! Fibers: a command that may run a long script runs on a stack of its
//! own, so that the script can step aside while it is busy and let its
//! worker thread answer the thread's other connections.
//!
//! # Why
//! A FlashKV worker is a single-threaded event loop (as Redis's one
//! thread), and a script holds the thread until it ends. Redis, once a
//! script has run past `busy-reply-threshold`, serves its other clients
//! from inside the script's hook (`processEventsWhileBlocked`): they get
//! BUSY, and SCRIPT KILL, FUNCTION KILL and SHUTDOWN NOSAVE work. Without
//! that, the connections that share the script's worker would wait for it
//! (for ever, with `while true do end`). With a fiber the script's hook
//! calls [`suspend`]: the stack of the running command is set aside, the
//! connection's task returns to the event loop (as `yield_now`), the loop
//! serves the other connections, and the task resumes the script where it
//! stood.
//!
//! # Cost
//! A command that cannot run a script never sees a fiber. One that can
//! (EVAL, FCALL, EXEC...) takes a stack from a per-thread pool and
//! switches to it and back: a few dozen instructions next to the ~20,000
//! of an EVAL. A script that ends before it is busy never suspends.
//!
//! # Rules (why the one unsafe function is sound where it is called)
//! A suspended fiber holds borrows of its caller's data on its stack, so
//! [`run`] is `unsafe`: its future must be polled to completion or
//! dropped, never leaked, and only on one thread. FlashKV calls it only
//! from a connection's task on a worker, whose current-thread runtime
//! never moves a task to another thread and drops it on its own thread.
//! Both rules are checked at run time as far as they can be: a fiber
//! resumed on another thread panics instead of switching, and a fiber
//! dropped while suspended is driven to its end there (with [`suspend`]
//! refusing), never unwound or leaked.

use std::cell::{Cell, RefCell};
use std::thread::ThreadId;

use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

/// A fiber's stack: address space reserved up front, pages committed as
/// they are touched (deep Lua recursion and cjson nesting stay well
/// inside; a worker thread's own stack is 2 MiB).
const STACK_BYTES: usize = 8 << 20;

/// Stacks each thread keeps for its next fibers (a second is needed
/// only while one fiber is suspended and another command starts one).
const POOLED: usize = 2;

thread_local! {
    /// The running fiber's yielder on this thread, null outside a fiber
    /// and while the fiber is suspended.
    static CURRENT: Cell<*const Yielder<(), ()>> = const { Cell::new(std::ptr::null()) };
    /// Set while a suspended fiber is being driven to its end by a drop:
    /// [`suspend`] refuses.
    static FINISHING: Cell<bool> = const { Cell::new(false) };
    static POOL: RefCell<Vec<DefaultStack>> = const { RefCell::new(Vec::new()) };
    /// This thread's id (`thread::current()` costs a reference count).
    static THREAD: ThreadId = std::thread::current().id();
}

fn this_thread() -> ThreadId {
    THREAD.with(|t| *t)
}

/// Step aside: if the caller runs on a fiber, return to the task that
/// resumed it (which yields to its event loop) and come back when it is
/// resumed; true then. False, at once, when not on a fiber (a command run
/// in-process, a test) or while a dropped fiber is being finished.
pub fn suspend() -> bool {
    let yielder = CURRENT.get();
    if yielder.is_null() || FINISHING.get() {
        return false;
    }
    CURRENT.set(std::ptr::null());
    // SAFETY: `yielder` was set by this fiber's body (in `Fiber::start`)
    // from the `&Yielder` corosensei passed it, which lives as long as the
    // body runs, and this call is inside that body (CURRENT is cleared on
    // every way out of it and while it is suspended).
    unsafe { (*yielder).suspend(()) };
    CURRENT.set(yielder);
    true
}

/// Is a fiber running on this thread right now?
pub fn on_fiber() -> bool {
    !CURRENT.get().is_null()
}

/// One command's stack.
struct Fiber<R> {
    co: Option<Coroutine<(), (), R, DefaultStack>>,
    thread: ThreadId,
}

impl<R> Fiber<R> {
    /// # Safety
    /// What `f` borrows must stay valid until the fiber has finished or
    /// been dropped, and the fiber must not be leaked (see the crate doc).
    unsafe fn start<F: FnOnce() -> R>(f: F) -> Fiber<R> {
        let stack = POOL
            .with(|p| p.borrow_mut().pop())
            .map_or_else(|| DefaultStack::new(STACK_BYTES), Ok)
            .expect("address space for a fiber's stack");
        let body = move |yielder: &Yielder<(), ()>, ()| {
            /// Puts back the caller's yielder however the body ends.
            struct Restore(*const Yielder<(), ()>);
            impl Drop for Restore {
                fn drop(&mut self) {
                    CURRENT.set(self.0);
                }
            }
            let _restore = Restore(CURRENT.replace(yielder));
            f()
        };
        // SAFETY: the caller promises that what `f` borrows outlives the
        // fiber and that the fiber is not leaked; `body` borrows nothing
        // else.
        let co = unsafe { Coroutine::with_stack_unchecked(stack, body) };
        Fiber {
            co: Some(co),
            thread: this_thread(),
        }
    }

    /// Run until the body ends (its result) or suspends (None).
    fn resume(&mut self) -> Option<R> {
        assert_eq!(
            self.thread,
            this_thread(),
            "a fiber is resumed only on the thread that started it"
        );
        let co = self.co.as_mut().expect("resumed after its end");
        match co.resume(()) {
            CoroutineResult::Yield(()) => None,
            CoroutineResult::Return(r) => {
                let stack = self.co.take().expect("just ran").into_stack();
                POOL.with(|p| {
                    let mut p = p.borrow_mut();
                    if p.len() < POOLED {
                        p.push(stack);
                    }
                });
                Some(r)
            }
        }
    }
}

impl<R> Drop for Fiber<R> {
    fn drop(&mut self) {
        if self.co.as_ref().is_none_or(|co| !co.started()) {
            return;
        }
        if self.thread != this_thread() {
            // Cannot switch here, must not unwind or free a stack that
            // holds borrows: keep it (never happens on a worker).
            std::mem::forget(self.co.take());
            return;
        }
        // Finish the command where it stands, [`suspend`] refusing (a
        // script stopped for shutdown ends at its next hook).
        let was = FINISHING.replace(true);
        while self.resume().is_none() {}
        FINISHING.set(was);
    }
}

/// Run `f` on a fiber: when it [`suspend`]s, the returned future yields to
/// the event loop (behind the I/O that is ready, as `yield_now`) and then
/// resumes it. Resolves to what `f` returns.
///
/// # Safety
/// The future must be polled to completion or dropped, never leaked, and
/// polled on one thread only (a current-thread runtime's task): `f`'s
/// borrows live on the fiber's stack while it is suspended.
pub async unsafe fn run<R, F: FnOnce() -> R>(f: F) -> R {
    // SAFETY: forwarded to our caller; the fiber lives inside this future.
    let fiber = unsafe { Fiber::start(f) };
    let mut fiber = OneThread(fiber);
    loop {
        if let Some(r) = fiber.0.resume() {
            return r;
        }
        tokio::task::yield_now().await;
    }
}

/// A fiber held across an await of a future that must be `Send` (tokio's
/// `Handle::spawn`): it never leaves its thread (checked in
/// [`Fiber::resume`] and [`Fiber::drop`]).
struct OneThread<R>(Fiber<R>);

// SAFETY: a `Fiber` is only ever resumed on the thread that started it
// (asserted before every switch) and finished or kept, never unwound, when
// dropped elsewhere; so moving it between threads never runs its stack on
// another thread.
unsafe impl<R> Send for OneThread<R> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::Context;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_fiber_that_never_suspends_returns_its_value() {
        let mut x = 1;
        let r = runtime().block_on(async {
            unsafe {
                run(|| {
                    x += 1;
                    x * 10
                })
            }
            .await
        });
        assert_eq!((r, x), (20, 2));
        assert!(!on_fiber());
    }

    #[test]
    fn suspend_outside_a_fiber_refuses() {
        assert!(!suspend());
    }

    #[test]
    fn a_suspended_fiber_lets_other_tasks_run_and_resumes_where_it_stood() {
        let rt = runtime();
        let log = std::rc::Rc::new(RefCell::new(Vec::new()));
        let local = tokio::task::LocalSet::new();
        let (a, b) = (log.clone(), log.clone());
        local.block_on(&rt, async move {
            let other = tokio::task::spawn_local(async move {
                b.borrow_mut().push("other");
            });
            let r = unsafe {
                run(|| {
                    a.borrow_mut().push("before");
                    let mut steps = 0;
                    // Step aside until the other task has run.
                    while !a.borrow().contains(&"other") {
                        assert!(on_fiber());
                        assert!(suspend());
                        steps += 1;
                        assert!(steps < 100);
                    }
                    a.borrow_mut().push("after");
                    7
                })
            }
            .await;
            other.await.unwrap();
            assert_eq!(r, 7);
        });
        assert_eq!(*log.borrow(), ["before", "other", "after"]);
    }

    #[test]
    fn a_fiber_dropped_while_suspended_is_finished_not_leaked() {
        let rt = runtime();
        let done = std::rc::Rc::new(Cell::new(0));
        let d = done.clone();
        rt.block_on(async move {
            let mut fut = Box::pin(unsafe {
                run(move || {
                    // Suspends once; a drop finishes it with suspend refused.
                    let first = suspend();
                    let second = suspend();
                    d.set(if first && !second { 1 } else { 2 });
                })
            });
            // Poll once: it suspends.
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            drop(fut);
        });
        assert_eq!(done.get(), 1);
        assert!(!FINISHING.get());
    }

    #[test]
    fn the_future_is_send_when_its_parts_are() {
        fn send<T: Send>(_: &T) {}
        let mut x = 0u64;
        let fut = unsafe { run(|| x += 1) };
        send(&fut);
        drop(fut);
    }

    #[test]
    fn stacks_are_reused() {
        let rt = runtime();
        for _ in 0..10 {
            rt.block_on(async { unsafe { run(|| 1) }.await });
        }
        assert!(POOL.with(|p| p.borrow().len()) >= 1);
        assert!(POOL.with(|p| p.borrow().len()) <= POOLED);
    }
}
