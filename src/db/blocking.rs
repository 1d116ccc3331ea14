//! Clients blocked on keys (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
//! BZPOPMIN, BZPOPMAX, BZMPOP): one
//! FIFO queue of [`Waiter`]s per key, per keyspace.
//!
//! The rules that make this exact, without a global lock:
//! - A blocking command checks its keys and registers its waiter while
//!   holding every key's stripe exclusively, and a push changes a list
//!   only while holding that list's stripe exclusively; so a push either
//!   happens before the check (the command pops at once) or finds the
//!   waiter registered. No wake-up is lost.
//! - The pusher serves waiters itself, in the order they blocked, before
//!   it releases the stripe: a pushed element goes to a blocked client
//!   before any other client can see it (Redis serves blocked clients
//!   before running the next command).
//! - A waiter is served at most once. Serving and giving up (timeout,
//!   CLIENT UNBLOCK, disconnect) both go through the waiter's own mutex:
//!   whichever comes first wins, and a client that gives up after being
//!   served takes the served reply instead, so no element is ever popped
//!   for a client that never receives it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use store_api::value::list::End;

use crate::protocol::Frame;

/// What serving a waiter does.
#[derive(Clone, Debug)]
pub enum BlockOp {
    /// BLPOP / BRPOP (`count: None`, reply `[key, element]`) and BLMPOP
    /// (`count: Some`, reply `[key, [elements...]]`).
    Pop {
        /// Which end to pop from.
        end: End,
        /// BLMPOP's COUNT.
        count: Option<usize>,
    },
    /// BLMOVE / BRPOPLPUSH: pop from the key, push to `dst`, reply with the
    /// element.
    Move {
        /// Destination list.
        dst: Bytes,
        /// Pop end.
        from: End,
        /// Push end.
        to: End,
    },
    /// BZPOPMIN / BZPOPMAX (`count: None`, reply `[key, member, score]`)
    /// and BZMPOP (`count: Some`, reply `[key, [[member, score]...]]`).
    /// List pushes pass these by; sorted-set writes serve them.
    ZPop {
        /// From the top.
        max: bool,
        /// BZMPOP's COUNT.
        count: Option<usize>,
    },
}

enum State {
    Waiting,
    Served(Frame),
    GaveUp,
}

/// One blocked client.
pub struct Waiter {
    /// The keys it waits on, in the order it named them.
    pub keys: Vec<Bytes>,
    /// What serving it does.
    pub op: BlockOp,
    state: Mutex<State>,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("keys", &self.keys)
            .field("op", &self.op)
            .finish()
    }
}

impl Waiter {
    /// A waiter on `keys`; `wake` tells its connection it was served.
    pub fn new(keys: Vec<Bytes>, op: BlockOp, wake: Box<dyn Fn() + Send + Sync>) -> Arc<Waiter> {
        Arc::new(Waiter {
            keys,
            op,
            state: Mutex::new(State::Waiting),
            wake,
        })
    }

    /// Serve the waiter with `f`'s reply if it is still waiting; `f` runs
    /// under the waiter's lock (so a concurrent give-up waits for it) and
    /// returns `None` when it could not serve after all. True when served.
    pub fn serve(&self, f: impl FnOnce() -> Option<Frame>) -> bool {
        let mut state = self.state.lock();
        if !matches!(*state, State::Waiting) {
            return false;
        }
        match f() {
            Some(reply) => {
                *state = State::Served(reply);
                drop(state);
                (self.wake)();
                true
            }
            None => false,
        }
    }

    /// Is it still waiting?
    pub fn is_waiting(&self) -> bool {
        matches!(*self.state.lock(), State::Waiting)
    }

    /// The reply it was served, if any (taken once).
    pub fn take_reply(&self) -> Option<Frame> {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, State::GaveUp) {
            State::Served(f) => Some(f),
            other => {
                *state = other;
                None
            }
        }
    }

    /// Give up waiting (timeout, CLIENT UNBLOCK, disconnect). Returns the
    /// reply if it was served meanwhile, which the client must take.
    pub fn give_up(&self) -> Option<Frame> {
        let mut state = self.state.lock();
        match std::mem::replace(&mut *state, State::GaveUp) {
            State::Served(f) => Some(f),
            _ => None,
        }
    }
}

/// The blocked clients of one keyspace.
#[derive(Default)]
pub struct Blocked {
    queues: Mutex<HashMap<Bytes, VecDeque<Arc<Waiter>>>>,
    /// Waiters registered (a fast "nobody waits" check on every push).
    count: AtomicUsize,
}

impl Blocked {
    /// Register `w` on each of its keys (the caller holds their stripes).
    pub fn register(&self, w: &Arc<Waiter>) {
        let mut q = self.queues.lock();
        for k in &w.keys {
            let queue = q.entry(k.clone()).or_default();
            if !queue.iter().any(|x| Arc::ptr_eq(x, w)) {
                queue.push_back(w.clone());
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Does anyone wait on `key`? (One atomic load when nobody waits.)
    pub fn has_waiters(&self, key: &[u8]) -> bool {
        self.count.load(Ordering::Relaxed) > 0 && self.queues.lock().contains_key(key)
    }

    /// The waiters on `key`, in the order they blocked.
    pub fn waiters(&self, key: &[u8]) -> Vec<Arc<Waiter>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        self.queues
            .lock()
            .get(key)
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Remove `w` from every queue (after it was served or gave up).
    pub fn remove(&self, w: &Arc<Waiter>) {
        let mut q = self.queues.lock();
        let mut found = false;
        for k in &w.keys {
            if let Some(queue) = q.get_mut(k) {
                let before = queue.len();
                queue.retain(|x| !Arc::ptr_eq(x, w));
                found |= queue.len() != before;
                if queue.is_empty() {
                    q.remove(k);
                }
            }
        }
        if found {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Exchange the waiters with `other` (SWAPDB: a client blocked in
    /// database 9 stays blocked in database 9, whose keys changed).
    pub fn swap(&self, other: &Blocked) {
        if std::ptr::eq(self, other) {
            return;
        }
        std::mem::swap(&mut *self.queues.lock(), &mut *other.queues.lock());
        let n = self
            .count
            .swap(other.count.load(Ordering::Relaxed), Ordering::Relaxed);
        other.count.store(n, Ordering::Relaxed);
    }

    /// The keys someone waits on.
    pub fn keys(&self) -> Vec<Bytes> {
        if self.is_empty() {
            return Vec::new();
        }
        self.queues.lock().keys().cloned().collect()
    }

    /// Number of blocked clients.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when nobody is blocked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn waiter(keys: &[&str], woken: Arc<AtomicBool>) -> Arc<Waiter> {
        Waiter::new(
            keys.iter()
                .map(|k| Bytes::copy_from_slice(k.as_bytes()))
                .collect(),
            BlockOp::Pop {
                end: End::Left,
                count: None,
            },
            Box::new(move || woken.store(true, Ordering::SeqCst)),
        )
    }

    #[test]
    fn queues_are_fifo_and_removal_covers_every_key() {
        let b = Blocked::default();
        let flag = Arc::new(AtomicBool::new(false));
        let w1 = waiter(&["a", "b"], flag.clone());
        let w2 = waiter(&["a"], flag.clone());
        assert!(!b.has_waiters(b"a"));
        b.register(&w1);
        b.register(&w2);
        assert_eq!(b.len(), 2);
        assert!(b.has_waiters(b"a") && b.has_waiters(b"b"));
        assert!(!b.has_waiters(b"c"));
        let order = b.waiters(b"a");
        assert!(Arc::ptr_eq(&order[0], &w1) && Arc::ptr_eq(&order[1], &w2));
        b.remove(&w1);
        assert_eq!(b.len(), 1, "INFO blocked_clients after one leaves");
        assert!(!b.has_waiters(b"b"));
        assert_eq!(b.waiters(b"a").len(), 1);
        b.remove(&w1);
        assert_eq!(b.len(), 1, "removing twice counts once");
    }

    #[test]
    fn a_waiter_is_served_once_and_a_late_give_up_gets_the_reply() {
        let woken = Arc::new(AtomicBool::new(false));
        let w = waiter(&["a"], woken.clone());
        assert!(w.serve(|| Some(Frame::Integer(1))));
        assert!(woken.load(Ordering::SeqCst));
        assert!(!w.serve(|| panic!("served twice")));
        assert_eq!(w.give_up(), Some(Frame::Integer(1)));
        let w = waiter(&["a"], woken);
        assert_eq!(w.give_up(), None);
        assert!(!w.serve(|| panic!("served after giving up")));
        assert!(!w.is_waiting());
    }
}
