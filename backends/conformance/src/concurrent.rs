//! Concurrency checks with exact answers: single winners, exact sums, no lost
//! bytes, no torn entries, counts that add up once threads have stopped.
//!
//! Each check's doc names the broken implementation it catches; the crate's
//! `tests/mutants.rs` runs them against such implementations. Every loop is
//! bounded in iterations (and the stress variants also in wall time).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use crate::support::{
    as_int, key, payload, scan_all, string, string_expiring, Budget, SpinBarrier, SplitMix,
    StopOnDrop, THREADS,
};

fn join<T>(h: thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// INCR as a compute closure: returns the new value.
fn incr<S: Store>(s: &S, k: &[u8]) -> i64 {
    s.compute(k, |e| {
        let n = as_int(e).expect("counter holds an integer") + 1;
        (Op::Put(string(n.to_string())), n)
    })
}

fn counter<S: Store>(s: &S, k: &[u8]) -> i64 {
    as_int(s.get(k).as_ref()).expect("integer")
}

/// N threads race SET NX on a fresh key each round: exactly one wins, and
/// the key holds the winner's value. Catches check-then-act (get, then
/// insert) and a compute whose closure result does not match what it stored.
pub fn set_nx_race_has_exactly_one_winner<S: Store>() {
    set_nx_race::<S>(1_000);
}

/// [`set_nx_race_has_exactly_one_winner`] over many more rounds.
pub fn stress_set_nx_many_rounds<S: Store>() {
    set_nx_race::<S>(20_000);
}

fn set_nx_race<S: Store>(rounds: usize) {
    let s = S::default();
    let start = SpinBarrier::new(THREADS);
    let wins: Vec<Vec<bool>> = thread::scope(|sc| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (s, start) = (&s, &start);
                sc.spawn(move || {
                    (0..rounds)
                        .map(|r| {
                            start.wait(r);
                            s.compute(&key("nx", r), |e| match e {
                                None => (Op::Put(string(format!("{t}"))), true),
                                Some(_) => (Op::Keep, false),
                            })
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(join).collect()
    });
    for r in 0..rounds {
        let winners: Vec<usize> = (0..THREADS)
            .filter(|&t| wins[t].get(r) == Some(&true))
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "{}: round {r}: SET NX winners {winners:?}",
            S::NAME
        );
        assert_eq!(
            s.get(&key("nx", r)),
            Some(string(format!("{}", winners[0]))),
            "{}: round {r}: the key must hold the winner's value",
            S::NAME
        );
    }
}

/// N threads INCR two keys: the totals are exact and every returned value
/// is distinct. Catches lost updates (read-modify-write that is not atomic)
/// and a retry loop that returns the result of a discarded attempt.
pub fn concurrent_increments_sum_exactly<S: Store>() {
    const PER_THREAD: usize = 1_000;
    let s = S::default();
    let keys = [Bytes::from_static(b"c0"), Bytes::from_static(b"c1")];
    let returned: Vec<Vec<i64>> = thread::scope(|sc| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (s, keys) = (&s, &keys);
                sc.spawn(move || (0..PER_THREAD).map(|i| incr(s, &keys[i % 2])).collect())
            })
            .collect();
        handles.into_iter().map(join).collect()
    });
    let per_key = (THREADS * PER_THREAD / 2) as i64;
    for (ki, k) in keys.iter().enumerate() {
        assert_eq!(counter(&s, k), per_key, "{}: total of {k:?}", S::NAME);
        let mut seen: Vec<i64> = returned
            .iter()
            .flat_map(|r| r.iter().skip(ki).step_by(2).copied())
            .collect();
        seen.sort_unstable();
        let expected: Vec<i64> = (1..=per_key).collect();
        assert!(
            seen == expected,
            "{}: INCR results on {k:?} are not 1..={per_key} once each",
            S::NAME
        );
    }
}

/// INCRs on many keys stay exact while other threads grow and shrink the
/// table. Catches a resize that migrates a stale copy of an entry.
pub fn increments_survive_concurrent_resizes<S: Store>() {
    increments_with_resizes::<S>(40, 3_000, Duration::from_secs(10));
}

/// [`increments_survive_concurrent_resizes`], larger.
pub fn stress_increments_with_resizes<S: Store>() {
    increments_with_resizes::<S>(400, 30_000, Duration::from_secs(60));
}

fn increments_with_resizes<S: Store>(rounds: usize, filler: usize, budget: Duration) {
    const COUNTERS: usize = 64;
    let s = S::default();
    let done = AtomicBool::new(false);
    let budget = Budget::new(budget);
    let (incrementers, fillers) = (THREADS / 2, THREADS - THREADS / 2);
    let completed: Vec<usize> = thread::scope(|sc| {
        for t in 0..fillers {
            let (s, done) = (&s, &done);
            sc.spawn(move || {
                let prefix = format!("fill{t}");
                for _ in 0..10_000 {
                    for j in 0..filler {
                        s.insert(key(&prefix, j), string("f"));
                    }
                    for j in 0..filler {
                        s.remove(&key(&prefix, j));
                    }
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                }
            });
        }
        let handles: Vec<_> = (0..incrementers)
            .map(|_| {
                let s = &s;
                sc.spawn(move || {
                    let mut r = 0;
                    while r < rounds && !budget.spent() {
                        for c in 0..COUNTERS {
                            incr(s, &key("ctr", c));
                        }
                        r += 1;
                    }
                    r
                })
            })
            .collect();
        let _stop = StopOnDrop(&done);
        handles.into_iter().map(join).collect()
    });
    let total: usize = completed.iter().sum();
    for c in 0..COUNTERS {
        assert_eq!(
            counter(&s, &key("ctr", c)),
            total as i64,
            "{}: counter {c}",
            S::NAME
        );
    }
}

/// N threads APPEND numbered tags to one key: every byte arrives and each
/// thread's tags appear in its own order. Catches lost or duplicated appends.
pub fn concurrent_appends_lose_no_bytes<S: Store>() {
    const PER_THREAD: usize = 300;
    let s = S::default();
    let lens: Vec<Vec<usize>> = thread::scope(|sc| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let s = &s;
                sc.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let tag = [t as u8, (i >> 8) as u8, i as u8];
                            s.compute(b"log", |e| {
                                let mut v = e.map(|e| payload(e).to_vec()).unwrap_or_default();
                                v.extend_from_slice(&tag);
                                let len = v.len();
                                (Op::Put(string(v)), len)
                            })
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(join).collect()
    });
    let log = s
        .get(b"log")
        .map(|e| payload(&e).to_vec())
        .unwrap_or_default();
    assert_eq!(
        log.len(),
        THREADS * PER_THREAD * 3,
        "{}: appended bytes",
        S::NAME
    );
    let mut next = [0usize; THREADS];
    for tag in log.chunks(3) {
        let t = tag[0] as usize;
        let i = (tag[1] as usize) << 8 | tag[2] as usize;
        assert_eq!(i, next[t], "{}: thread {t}'s appends out of order", S::NAME);
        next[t] += 1;
    }
    for (t, l) in lens.iter().enumerate() {
        assert!(
            l.windows(2).all(|w| w[0] < w[1]),
            "{}: thread {t} saw the length shrink",
            S::NAME
        );
    }
}

/// An entry whose parts must agree: both halves of the payload and the
/// deadline all encode `n`.
fn consistent(n: u64) -> Entry {
    let mut v = n.to_le_bytes().to_vec();
    v.extend_from_slice(&n.to_le_bytes());
    string_expiring(v, n)
}

fn assert_consistent(name: &str, e: Option<&Entry>) {
    let Some(e) = e else { return };
    let p = payload(e);
    assert_eq!(p.len(), 16, "{name}: torn payload length {p:?}");
    let (a, b) = p.split_at(8);
    assert_eq!(a, b, "{name}: torn payload {p:?}");
    let n = u64::from_le_bytes(a.try_into().unwrap());
    assert_eq!(
        e.expires_at(),
        Some(n),
        "{name}: deadline from another write than the payload"
    );
}

/// Readers (get, read, compute, scan, random_entry) never see an entry
/// mixed from two writes. Catches a backend that stores the deadline or
/// parts of the value apart from the rest and reads them separately.
pub fn readers_never_see_a_torn_entry<S: Store>() {
    const WRITES: u64 = 6_000;
    const KEYS: u64 = 4;
    let s = S::default();
    let writers_left = AtomicUsize::new(2);
    thread::scope(|sc| {
        for w in 0..2u64 {
            let (s, left) = (&s, &writers_left);
            sc.spawn(move || {
                for n in (w..WRITES).step_by(2) {
                    let k = key("t", (n % KEYS) as usize);
                    match n % 5 {
                        0 => drop(s.remove(&k)),
                        1 | 2 => drop(s.insert(k, consistent(n))),
                        _ => s.compute(&k, |_| (Op::Put(consistent(n)), ())),
                    }
                }
                left.fetch_sub(1, Ordering::Release);
            });
        }
        for r in 0..2u64 {
            let (s, left) = (&s, &writers_left);
            sc.spawn(move || {
                let mut rng = SplitMix(r);
                for _ in 0..200_000 {
                    if left.load(Ordering::Acquire) == 0 {
                        break;
                    }
                    let k = key("t", rng.below(KEYS as usize));
                    assert_consistent(S::NAME, s.get(&k).as_ref());
                    s.read(&k, |e| assert_consistent(S::NAME, e));
                    s.compute(&k, |e| {
                        assert_consistent(S::NAME, e);
                        (Op::Keep, ())
                    });
                    if let Some((_, e)) = s.random_entry(rng.next_u64()) {
                        assert_consistent(S::NAME, Some(&e));
                    }
                    s.scan(0, 1, |_, e| assert_consistent(S::NAME, Some(e)));
                }
            });
        }
    });
}

/// INCRs race removals (remove and compute-Remove, both returning the old
/// value): what was removed plus what is left equals the increments made.
/// Catches remove and compute that are not atomic with respect to each other.
pub fn increments_and_removals_conserve_the_total<S: Store>() {
    const PER_THREAD: usize = 2_000;
    let s = S::default();
    let incrementers_left = AtomicUsize::new(2);
    let drained: i64 = thread::scope(|sc| {
        for _ in 0..2 {
            let (s, left) = (&s, &incrementers_left);
            sc.spawn(move || {
                for _ in 0..PER_THREAD {
                    incr(s, b"c");
                }
                left.fetch_sub(1, Ordering::Release);
            });
        }
        let s = &s;
        let drainer = sc.spawn(|| {
            let mut drained = 0;
            for i in 0..1_000_000u64 {
                if incrementers_left.load(Ordering::Acquire) == 0 {
                    break;
                }
                drained += if i % 2 == 0 {
                    s.remove(b"c").map_or(0, |e| as_int(Some(&e)).unwrap())
                } else {
                    s.compute(b"c", |e| {
                        (Op::Remove, e.map_or(0, |e| as_int(Some(e)).unwrap()))
                    })
                };
                thread::yield_now();
            }
            drained
        });
        join(drainer)
    });
    let left = s.get(b"c").map_or(0, |e| as_int(Some(&e)).unwrap());
    assert_eq!(
        drained + left,
        2 * PER_THREAD as i64,
        "{}: drained {drained} + left {left}",
        S::NAME
    );
}

/// Threads insert disjoint keys (and remove some) concurrently: afterwards
/// len is exact and every key is where it should be. Catches inserts lost
/// during a concurrent resize and a key counter that drifts.
pub fn disjoint_writers_leave_an_exact_len<S: Store>() {
    const PER_THREAD: usize = 3_000;
    let s = S::default();
    thread::scope(|sc| {
        for t in 0..THREADS {
            let s = &s;
            sc.spawn(move || {
                let prefix = format!("w{t}");
                for i in 0..PER_THREAD {
                    assert_eq!(s.insert(key(&prefix, i), string("v")), None);
                    if i % 3 == 0 {
                        // i / 2 is distinct for each such i, inserted and not yet removed.
                        assert!(
                            s.remove(&key(&prefix, i / 2)).is_some(),
                            "{}: w{t}:{}",
                            S::NAME,
                            i / 2
                        );
                    }
                }
            });
        }
    });
    let mut expected = 0;
    for t in 0..THREADS {
        let present: HashSet<usize> = (0..PER_THREAD)
            .filter(|i| s.get(&key(&format!("w{t}"), *i)).is_some())
            .collect();
        let removed: HashSet<usize> = (0..PER_THREAD).step_by(3).map(|i| i / 2).collect();
        for i in 0..PER_THREAD {
            assert_eq!(
                present.contains(&i),
                !removed.contains(&i),
                "{}: key w{t}:{i}",
                S::NAME
            );
        }
        expected += present.len();
    }
    assert_eq!(
        s.len(),
        expected,
        "{}: len after concurrent writers",
        S::NAME
    );
    assert_eq!(
        scan_all(&s, 100)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<HashSet<_>>()
            .len(),
        expected
    );
}

/// Random writes from every thread over shared keys; once they stop, len,
/// a full scan and point gets all count the same keys. Catches a size
/// counter that drifts when writers race on one key.
pub fn len_agrees_with_contents_after_concurrent_churn<S: Store>() {
    mixed_ops::<S>(2_000, 500, Duration::from_secs(10));
}

/// [`len_agrees_with_contents_after_concurrent_churn`], larger.
pub fn stress_mixed_ops_stay_consistent<S: Store>() {
    mixed_ops::<S>(200_000, 5_000, Duration::from_secs(60));
}

fn mixed_ops<S: Store>(ops: usize, keys: usize, budget: Duration) {
    let s = S::default();
    let budget = Budget::new(budget);
    thread::scope(|sc| {
        for t in 0..THREADS {
            let s = &s;
            sc.spawn(move || {
                let mut rng = SplitMix(t as u64 + 100);
                for i in 0..ops {
                    if i % 256 == 0 && budget.spent() {
                        return;
                    }
                    let k = key("m", rng.below(keys));
                    match rng.below(6) {
                        0 | 1 => drop(s.insert(k, string("v"))),
                        2 => drop(s.remove(&k)),
                        3 => s.compute(&k, |e| {
                            (
                                if e.is_some() {
                                    Op::Remove
                                } else {
                                    Op::Put(string("c"))
                                },
                                (),
                            )
                        }),
                        4 => s.compute(&k, |_| (Op::Put(string("p")), ())),
                        _ => drop(s.get(&k)),
                    }
                }
            });
        }
    });
    let present = (0..keys).filter(|&i| s.get(&key("m", i)).is_some()).count();
    let scanned: HashSet<Bytes> = scan_all(&s, 64).into_iter().map(|(k, _)| k).collect();
    assert_eq!(scanned.len(), present, "{}: scan vs get", S::NAME);
    assert_eq!(s.len(), present, "{}: len vs contents", S::NAME);
}

/// retain runs while other threads increment counters and churn keys: the
/// kept keys all survive with their values, the dropped ones are gone, and
/// no increment is lost. Catches a retain that rebuilds the table from a
/// snapshot (losing writes made meanwhile) or drops keys it should keep.
pub fn retain_during_churn_keeps_every_kept_key<S: Store>() {
    const STABLE: usize = 1_000;
    const COUNTERS: usize = 50;
    let s = S::default();
    for i in 0..STABLE {
        s.insert(key("keep", i), string(format!("{i}")));
        s.insert(key("drop", i), string("x"));
    }
    let done = AtomicBool::new(false);
    let increments = thread::scope(|sc| {
        let s = &s;
        let done = &done;
        sc.spawn(move || {
            for round in 0..1_000 {
                for j in 0..1_000 {
                    let k = key("churn", j);
                    if round % 2 == 0 {
                        drop(s.insert(k, string("c")))
                    } else {
                        drop(s.remove(&k))
                    }
                }
                if done.load(Ordering::Relaxed) {
                    return;
                }
            }
        });
        let incrementer = sc.spawn(move || {
            let mut rounds = 0;
            while !done.load(Ordering::Relaxed) && rounds < 10_000 {
                for c in 0..COUNTERS {
                    incr(s, &key("ctr", c));
                }
                rounds += 1;
            }
            rounds
        });
        let stop = StopOnDrop(done);
        for _ in 0..5 {
            s.retain(|k, _| !k.starts_with(b"drop:"));
            thread::yield_now();
        }
        drop(stop);
        join(incrementer)
    });
    for i in 0..STABLE {
        assert_eq!(
            s.get(&key("keep", i)),
            Some(string(format!("{i}"))),
            "{}: keep:{i}",
            S::NAME
        );
        assert_eq!(s.get(&key("drop", i)), None, "{}: drop:{i}", S::NAME);
    }
    for c in 0..COUNTERS {
        assert_eq!(
            counter(&s, &key("ctr", c)),
            increments as i64,
            "{}: counter {c}",
            S::NAME
        );
    }
}
