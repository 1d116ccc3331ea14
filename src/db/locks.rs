//! Key locks: what makes multi-key commands atomic without a global lock.
//!
//! Every keyspace has [`STRIPES`] stripes; a key belongs to the stripe its
//! hash selects. A stripe is a reader-writer lock plus a sequence number:
//!
//! - single-key writes (SET, INCR, EXPIRE, lazy and active expiry) hold the
//!   stripe's lock *shared* for the one `Store` call, so they never wait for
//!   each other, only for a multi-key command on the same stripe;
//! - single-key reads (GET, TTL, EXISTS...) take no lock: they read the
//!   sequence number, read the store, and retry if the number changed or was
//!   odd (a seqlock), so they write no shared memory at all;
//! - multi-key commands (MSET, MSETNX, DEL of several keys, RENAME, COPY,
//!   MOVE) lock every stripe they touch *exclusively*, in one global order
//!   (keyspace, then stripe index) so two of them cannot deadlock, make the
//!   sequence numbers odd, apply all their changes, then make them even.
//!   Multi-key reads (MGET, EXISTS of several keys) validate every stripe's
//!   sequence number and retry, falling back to shared locks.
//!
//! So no client can see half of a multi-key command: a reader that could see
//! a partial state finds an odd or changed sequence number and retries, and
//! no single-key write can slip in between the parts. FLUSHDB, FLUSHALL and
//! SWAPDB do not use these locks: they swap whole keyspaces (see `db`).
//!
//! **No deadlock, even out of order.** A script may touch keys it did not
//! declare, so it locks more stripes while it already holds some, in no
//! particular order ([`ScriptGuard`]). That is safe because every other
//! holder of several stripes takes them *all or nothing*: it waits a short
//! while for each, and if one stays busy it lets go of everything, waits
//! for that one alone, and starts over ([`KeyLocks::lock_plan`],
//! [`KeyLocks::read_many`], [`KeyLocks::shared_whole`]). Only one script runs
//! at a time (they share one Lua VM), so the script is the only party that
//! ever waits for ever while holding stripes, and a cycle needs two.
//!
//! A wait longer than [`LONG_WAIT`] (behind a long script, KEYS, a SORT BY)
//! runs as a blocking section, which on a multi-threaded runtime hands the
//! thread's other work to another thread first. The server's workers are
//! single-threaded event loops, where that does nothing: there a busy
//! script keeps the server answering BUSY and SCRIPT KILL by serving its
//! own worker's other connections while it runs (`state::scripts`'s
//! step-aside), and a connection that waits here holds its worker until
//! the wait ends.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{fence, AtomicU64, Ordering};

use std::time::Duration;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Stripes per keyspace. More stripes mean fewer false conflicts between
/// unrelated multi-key commands; each costs one cache line.
pub const STRIPES: usize = 512;

/// Every stripe index, for whole-keyspace reads.
static ALL_STRIPES: [usize; STRIPES] = {
    let mut all = [0; STRIPES];
    let mut i = 0;
    while i < STRIPES {
        all[i] = i;
        i += 1;
    }
    all
};

/// Attempts at a lock-free multi-key read before falling back to locks.
const OPTIMISTIC_TRIES: usize = 4;

/// How long an all-or-nothing acquirer waits for one stripe while holding
/// others before it lets go of them.
const HOLDING_WAIT: Duration = Duration::from_micros(200);

/// A wait longer than this moves the thread's other tasks elsewhere.
pub const LONG_WAIT: Duration = Duration::from_millis(10);

/// Wait for a lock with `timed` (a `try_*_for`); if it is still busy after
/// [`LONG_WAIT`], wait with `forever` as a blocking section of the async
/// runtime (its other tasks move to another thread meanwhile).
fn wait_long<G>(timed: impl FnOnce(Duration) -> Option<G>, forever: impl FnOnce() -> G) -> G {
    if let Some(g) = timed(LONG_WAIT) {
        return g;
    }
    crate::util::blocking_section(forever)
}

#[repr(align(64))]
#[derive(Default)]
struct Stripe {
    lock: RwLock<()>,
    seq: AtomicU64,
}

/// The stripes of one keyspace.
pub struct KeyLocks {
    stripes: Box<[Stripe]>,
    /// Randomly seeded per keyspace; a fast hash because every command
    /// computes one (the store then hashes the key again with its own).
    hasher: foldhash::fast::RandomState,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

type HeldStripe<'a> = (&'a AtomicU64, RwLockWriteGuard<'a, ()>);

/// Proof that a set of stripes is held exclusively; released on drop. The
/// first stripe is kept inline so a single-key lock allocates nothing.
pub struct ExclusiveGuard<'a> {
    first: Option<HeldStripe<'a>>,
    rest: Vec<HeldStripe<'a>>,
}

impl<'a> ExclusiveGuard<'a> {
    fn empty() -> Self {
        ExclusiveGuard {
            first: None,
            rest: Vec::new(),
        }
    }

    fn push(&mut self, held: HeldStripe<'a>) {
        if self.first.is_none() {
            self.first = Some(held);
        } else {
            self.rest.push(held);
        }
    }
}

impl Drop for ExclusiveGuard<'_> {
    fn drop(&mut self) {
        for (seq, _guard) in self.rest.drain(..).rev().chain(self.first.take()) {
            seq.fetch_add(1, Ordering::Release);
        }
    }
}

/// What a `*_locked` keyspace method needs: stripes this command locked
/// itself, or the word of a transaction (EXEC, a script) that locked every
/// stripe its commands touch before running them.
pub enum KeysGuard<'a> {
    /// Locked by this command; released on drop.
    Own(ExclusiveGuard<'a>),
    /// Already held by the enclosing transaction.
    Held,
}

impl<'a> From<ExclusiveGuard<'a>> for KeysGuard<'a> {
    fn from(g: ExclusiveGuard<'a>) -> Self {
        KeysGuard::Own(g)
    }
}

impl KeyLocks {
    /// The stripe index of `key`.
    pub fn stripe_of(&self, key: &[u8]) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        (h.finish() as usize) % STRIPES
    }

    /// Hold `key`'s stripe shared while `f` runs (a single-key write).
    pub fn write_one<R>(&self, key: &[u8], f: impl FnOnce() -> R) -> R {
        let _guard = self.stripes[self.stripe_of(key)].read_waiting();
        f()
    }

    /// Run `f` (a single-key read) until it ran with no multi-key command
    /// changing the key's stripe meanwhile.
    pub fn read_one<R>(&self, key: &[u8], mut f: impl FnMut() -> R) -> R {
        let stripe = &self.stripes[self.stripe_of(key)];
        loop {
            let before = stripe.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                // A multi-key writer is inside: wait for it to leave.
                drop(stripe.read_waiting());
                continue;
            }
            let r = f();
            // The seqlock read fence: every load `f` made is ordered before
            // the validating load (pairs with the fence in `lock_into`).
            fence(Ordering::Acquire);
            if stripe.seq.load(Ordering::Relaxed) == before {
                return r;
            }
        }
    }

    /// Run `f` (a read of several keys) so that it sees all or nothing of
    /// every multi-key command: optimistically first, then under shared
    /// locks.
    pub fn read_many<R>(&self, stripes: &[usize], mut f: impl FnMut() -> R) -> R {
        for _ in 0..OPTIMISTIC_TRIES {
            let before: Vec<u64> = stripes
                .iter()
                .map(|&i| self.stripes[i].seq.load(Ordering::Acquire))
                .collect();
            if before.iter().any(|s| s & 1 == 1) {
                std::thread::yield_now();
                continue;
            }
            let r = f();
            fence(Ordering::Acquire);
            let unchanged = stripes
                .iter()
                .zip(&before)
                .all(|(&i, &s)| self.stripes[i].seq.load(Ordering::Relaxed) == s);
            if unchanged {
                return r;
            }
        }
        let _guards = self.read_all(stripes.iter().copied());
        f()
    }

    /// [`read_many`](Self::read_many) over every stripe: a short read of
    /// the whole keyspace (DBSIZE, one SCAN call) that must not see half
    /// of a multi-key command or transaction.
    pub fn read_whole<R>(&self, f: impl FnMut() -> R) -> R {
        self.read_many(&ALL_STRIPES, f)
    }

    /// Hold every stripe shared while `f` runs: a long read of the whole
    /// keyspace (KEYS) as one snapshot. Single-key writes go on (they
    /// hold stripes shared too); multi-key commands wait.
    pub fn shared_whole<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guards = self.read_all(0..STRIPES);
        f()
    }

    /// Hold `key`'s stripe exclusively (a single-key write that changes a
    /// collection in place), without allocating.
    pub fn lock_one(&self, key: &[u8]) -> ExclusiveGuard<'_> {
        self.lock(&[self.stripe_of(key)])
    }

    /// `key`'s stripe exclusively if it is free right now (never waits, so
    /// it may be taken out of the global order without deadlock).
    pub fn try_lock_one(&self, key: &[u8]) -> Option<ExclusiveGuard<'_>> {
        let stripe = &self.stripes[self.stripe_of(key)];
        let w = stripe.lock.try_write()?;
        let mut guard = ExclusiveGuard::empty();
        guard.push(stripe.enter(w));
        Some(guard)
    }

    /// Do `a` and `b` share a stripe?
    pub fn same_stripe(&self, a: &[u8], b: &[u8]) -> bool {
        self.stripe_of(a) == self.stripe_of(b)
    }

    /// Is `key`'s stripe held exclusively (by someone)? For assertions in
    /// transactions, which must hold every stripe they touch.
    pub fn is_exclusive(&self, key: &[u8]) -> bool {
        self.stripes[self.stripe_of(key)].lock.is_locked_exclusive()
    }

    /// Sorted, de-duplicated stripe indices of `keys`.
    pub fn stripes_of<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Vec<usize> {
        let mut v: Vec<usize> = keys.into_iter().map(|k| self.stripe_of(k)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Lock `stripes` (sorted, unique) exclusively.
    pub fn lock(&self, stripes: &[usize]) -> ExclusiveGuard<'_> {
        Self::acquire(&[(self, stripes)])
    }

    /// Every stripe, exclusively: a command whose keys cannot be known in
    /// advance (SORT with BY or GET patterns) runs alone in the database.
    pub fn lock_all(&self) -> ExclusiveGuard<'_> {
        let all: Vec<usize> = (0..STRIPES).collect();
        self.lock(&all)
    }

    /// Lock `stripes` of two keyspaces in the global order (by address).
    pub fn lock_pair<'a>(
        a: (&'a KeyLocks, &[usize]),
        b: (&'a KeyLocks, &[usize]),
    ) -> ExclusiveGuard<'a> {
        Self::lock_plan(vec![(a.0, a.1.to_vec()), (b.0, b.1.to_vec())])
    }

    /// Lock every stripe of several keyspaces (in the global order).
    pub fn lock_every<'a>(all: impl IntoIterator<Item = &'a KeyLocks>) -> ExclusiveGuard<'a> {
        let every: Vec<usize> = (0..STRIPES).collect();
        Self::lock_plan(all.into_iter().map(|l| (l, every.clone())).collect())
    }

    /// Lock the given stripes of several keyspaces exclusively, all or
    /// nothing (see the module doc), in the global order (keyspace address,
    /// then stripe), as a transaction does. A keyspace may appear more than
    /// once.
    pub fn lock_plan(mut plan: Vec<(&KeyLocks, Vec<usize>)>) -> ExclusiveGuard<'_> {
        plan.sort_by_key(|(l, _)| *l as *const KeyLocks);
        let mut merged: Vec<(&KeyLocks, Vec<usize>)> = Vec::with_capacity(plan.len());
        for (locks, mut stripes) in plan {
            match merged.last_mut() {
                Some((l, s)) if std::ptr::eq(*l, locks) => s.append(&mut stripes),
                _ => merged.push((locks, stripes)),
            }
        }
        for (_, stripes) in &mut merged {
            stripes.sort_unstable();
            stripes.dedup();
        }
        let parts: Vec<(&KeyLocks, &[usize])> = merged.iter().map(|(l, s)| (*l, &s[..])).collect();
        Self::acquire(&parts)
    }

    /// Take every listed stripe exclusively, all or nothing: wait a short
    /// while for each; if one stays busy, let go of everything, wait for
    /// that one alone, and start over. So this never waits long while
    /// holding a stripe (which is what lets a script lock out of order).
    fn acquire<'a>(parts: &[(&'a KeyLocks, &[usize])]) -> ExclusiveGuard<'a> {
        'attempt: loop {
            let mut guard = ExclusiveGuard::empty();
            for (locks, stripes) in parts {
                for &i in stripes.iter() {
                    let stripe = &locks.stripes[i];
                    let w = match stripe.lock.try_write() {
                        Some(w) => w,
                        None if guard.first.is_none() => stripe.write_waiting(),
                        None => match stripe.lock.try_write_for(HOLDING_WAIT) {
                            Some(w) => w,
                            None => {
                                drop(guard);
                                drop(stripe.write_waiting());
                                continue 'attempt;
                            }
                        },
                    };
                    guard.push(stripe.enter(w));
                }
            }
            return guard;
        }
    }

    /// Hold `stripes` (ascending) shared, all or nothing as [`acquire`].
    fn read_all(
        &self,
        stripes: impl Iterator<Item = usize> + Clone,
    ) -> Vec<RwLockReadGuard<'_, ()>> {
        'attempt: loop {
            let mut guards = Vec::new();
            for i in stripes.clone() {
                let stripe = &self.stripes[i];
                let r = match stripe.lock.try_read() {
                    Some(r) => r,
                    None if guards.is_empty() => stripe.read_waiting(),
                    None => match stripe.lock.try_read_for(HOLDING_WAIT) {
                        Some(r) => r,
                        None => {
                            drop(guards);
                            drop(stripe.read_waiting());
                            continue 'attempt;
                        }
                    },
                };
                guards.push(r);
            }
            return guards;
        }
    }
}

impl Stripe {
    fn read_waiting(&self) -> RwLockReadGuard<'_, ()> {
        self.lock
            .try_read()
            .unwrap_or_else(|| wait_long(|t| self.lock.try_read_for(t), || self.lock.read()))
    }

    fn write_waiting(&self) -> RwLockWriteGuard<'_, ()> {
        self.lock
            .try_write()
            .unwrap_or_else(|| wait_long(|t| self.lock.try_write_for(t), || self.lock.write()))
    }

    /// Mark the stripe as being changed (odd sequence number) under `w`.
    fn enter<'a>(&'a self, w: RwLockWriteGuard<'a, ()>) -> HeldStripe<'a> {
        self.seq.fetch_add(1, Ordering::Relaxed);
        // Writes made under the lock are ordered after the odd number,
        // so a reader that sees one of them also sees the odd number.
        fence(Ordering::Release);
        (&self.seq, w)
    }
}

/// The stripes a running script holds: its declared keys' stripes from
/// the start, and more as it touches keys it did not declare. It may wait
/// for a stripe while holding others, in any order; that is deadlock-free
/// only because one script runs at a time and every other multi-stripe
/// acquirer is all-or-nothing (see the module doc).
pub struct ScriptGuard<'a> {
    held: Vec<(&'a KeyLocks, [u64; STRIPES / 64])>,
    guard: ExclusiveGuard<'a>,
}

impl<'a> Default for ScriptGuard<'a> {
    fn default() -> Self {
        ScriptGuard {
            held: Vec::new(),
            guard: ExclusiveGuard::empty(),
        }
    }
}

impl<'a> ScriptGuard<'a> {
    /// Make sure `stripes` of `locks` are held, waiting for those that are
    /// not (first all that are free at once, in order, then the rest).
    pub fn hold(&mut self, locks: &'a KeyLocks, stripes: &[usize]) {
        let slot = match self.held.iter().position(|(l, _)| std::ptr::eq(*l, locks)) {
            Some(i) => i,
            None => {
                self.held.push((locks, [0; STRIPES / 64]));
                self.held.len() - 1
            }
        };
        for &i in stripes {
            let bits = &mut self.held[slot].1;
            if bits[i / 64] & (1 << (i % 64)) != 0 {
                continue;
            }
            bits[i / 64] |= 1 << (i % 64);
            let stripe = &locks.stripes[i];
            let w = stripe.write_waiting();
            self.guard.push(stripe.enter(w));
        }
    }

    /// Does it hold `stripe` of `locks`?
    pub fn holds(&self, locks: &KeyLocks, stripe: usize) -> bool {
        self.held.iter().any(|(l, bits)| {
            std::ptr::eq(*l, locks) && bits[stripe / 64] & (1 << (stripe % 64)) != 0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A single-key read runs once when nobody changes its stripe, and
    /// again when a multi-key writer did meanwhile (the seqlock's check).
    #[test]
    fn a_read_reruns_only_after_a_writer_changed_its_stripe() {
        let locks = KeyLocks::default();
        let mut calls = 0;
        locks.read_one(b"k", || {
            calls += 1;
            assert!(calls < 100, "a read nobody disturbed never ended");
        });
        assert_eq!(calls, 1);
        let stripe = locks.stripe_of(b"k");
        let mut calls = 0;
        locks.read_one(b"k", || {
            calls += 1;
            if calls == 1 {
                drop(locks.lock(&[stripe]));
            }
        });
        assert_eq!(calls, 2, "a read a writer disturbed was taken as is");
    }

    #[test]
    fn keys_on_one_stripe_are_seen_to_share_it() {
        let locks = KeyLocks::default();
        let find = |same: bool| {
            (0..)
                .map(|i| format!("d{i}"))
                .find(|k| (locks.stripe_of(k.as_bytes()) == locks.stripe_of(b"src")) == same)
                .unwrap()
        };
        assert!(locks.same_stripe(b"src", find(true).as_bytes()));
        assert!(!locks.same_stripe(b"src", find(false).as_bytes()));
    }

    #[test]
    fn readers_never_see_half_of_a_locked_update() {
        let keys = [&b"a"[..], b"b"];
        torn_reads(&keys, |locks, stripes, f| locks.read_many(stripes, f));
        // A single-key read, against a multi-key command holding its
        // stripe, and a whole-keyspace read.
        torn_reads(&keys[..1], |locks, _, f| locks.read_one(b"a", f));
        torn_reads(&keys, |locks, _, f| locks.read_whole(f));
    }

    /// Two cells that a "multi-key command" on `keys` always sets
    /// together, read by `read` while it runs: never one without the other.
    fn torn_reads(
        keys: &[&[u8]],
        read: impl Fn(&KeyLocks, &[usize], &mut dyn FnMut() -> (u64, u64)) -> (u64, u64),
    ) {
        let locks = Arc::new(KeyLocks::default());
        let cells = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let stop = Arc::new(AtomicBool::new(false));
        let stripes = locks.stripes_of(keys.iter().copied());
        let writer = {
            let (locks, cells, stop, stripes) =
                (locks.clone(), cells.clone(), stop.clone(), stripes.clone());
            std::thread::spawn(move || {
                for i in 1..=20_000u64 {
                    let _g = locks.lock(&stripes);
                    cells[0].store(i, Ordering::Relaxed);
                    // A window a reader that does not wait would fall in.
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                    cells[1].store(i, Ordering::Relaxed);
                }
                stop.store(true, Ordering::Release);
            })
        };
        let mut reads = 0;
        while !stop.load(Ordering::Acquire) || reads == 0 {
            let (a, b) = read(&locks, &stripes, &mut || {
                (
                    cells[0].load(Ordering::Relaxed),
                    cells[1].load(Ordering::Relaxed),
                )
            });
            assert_eq!(a, b, "torn read");
            reads += 1;
        }
        writer.join().unwrap();
    }

    #[test]
    fn whole_keyspace_reads_cover_every_stripe() {
        assert!(ALL_STRIPES.iter().copied().eq(0..STRIPES));
    }

    #[test]
    fn a_held_stripe_is_seen_as_exclusive() {
        let locks = KeyLocks::default();
        assert!(!locks.is_exclusive(b"k"));
        let g = locks.lock_one(b"k");
        assert!(locks.is_exclusive(b"k"));
        drop(g);
        let shared = locks.write_one(b"k", || locks.is_exclusive(b"k"));
        assert!(!shared, "a single-key writer shares the stripe");
    }

    #[test]
    fn a_script_holds_exactly_the_stripes_it_took() {
        // On its own thread, so that taking a stripe it already holds (a
        // deadlock) fails the test instead of hanging it.
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (locks, other) = (KeyLocks::default(), KeyLocks::default());
            let mut guard = ScriptGuard::default();
            let taken = [0, 3, 64, 200, STRIPES - 1];
            guard.hold(&locks, &taken);
            guard.hold(&locks, &[3, 64]);
            for i in 0..STRIPES {
                assert_eq!(guard.holds(&locks, i), taken.contains(&i), "stripe {i}");
                assert!(!guard.holds(&other, i));
            }
            drop(guard);
            assert!(locks.stripes.iter().all(|s| !s.lock.is_locked()));
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(20))
            .expect("the guard deadlocked on a stripe it held, or failed a check");
    }

    #[test]
    fn a_multi_key_lock_waiting_for_a_stripe_lets_go_of_the_others() {
        // B wants stripes 3 and 5; 5 is held here. B must not sit on 3
        // while it waits (a script taking stripes as it goes could hold 5
        // and want 3: a deadlock), so 3 is free to take within moments.
        let locks = Arc::new(KeyLocks::default());
        let held = locks.lock(&[5]);
        let b = {
            let locks = locks.clone();
            std::thread::spawn(move || drop(locks.lock(&[3, 5])))
        };
        std::thread::sleep(Duration::from_millis(50));
        let three = locks.stripes[3].lock.try_write_for(Duration::from_secs(5));
        assert!(three.is_some(), "B waits for 5 while holding 3");
        drop(three);
        drop(held);
        b.join().unwrap();
    }

    #[test]
    fn pair_locking_in_either_order_does_not_deadlock() {
        let x = Arc::new(KeyLocks::default());
        let y = Arc::new(KeyLocks::default());
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let (x, y) = (x.clone(), y.clone());
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        let (a, b) = if t == 0 { (&*x, &*y) } else { (&*y, &*x) };
                        let _g = KeyLocks::lock_pair((a, &[1, 2]), (b, &[2, 3]));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn a_multi_key_read_disturbed_by_a_writer_is_run_again() {
        let l = KeyLocks::default();
        let stripes = l.stripes_of([b"a".as_slice(), b"b".as_slice()]);
        let mut runs = 0;
        let seen = l.read_many(&stripes, || {
            runs += 1;
            if runs == 1 {
                // A multi-key command goes through the stripes mid-read.
                drop(l.lock(&stripes));
            }
            runs
        });
        assert_eq!(seen, 2, "the disturbed first read was discarded");
        assert_eq!(runs, 2, "and the undisturbed retry was taken at once");
    }
}
