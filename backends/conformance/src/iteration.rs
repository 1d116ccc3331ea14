//! Whole-store operations: retain, clear, scan and random_entry.
//!
//! The centrepiece is the SCAN guarantee from the trait docs: a key present
//! for a whole iteration (cursor 0 until 0 comes back) is visited at least
//! once, even while other threads insert and remove enough keys to resize the
//! table underneath the cursor. A cursor that is a position in a table that
//! moves (an index into a compacting array, a slot number that changes
//! meaning on resize) fails [`scan_visits_every_stable_key_while_others_churn`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use store_api::Store;

use crate::support::{
    key, payload, scan_all, scan_call_bound, string, Budget, SplitMix, StopOnDrop,
};

/// retain keeps exactly the entries its predicate accepts.
pub fn retain_keeps_only_matching_entries<S: Store>() {
    let s = S::default();
    for i in 0..300 {
        s.insert(key("k", i), string(format!("{i}")));
    }
    s.retain(|_, e| payload(e).len() == 2); // keeps 10..=99
    assert_eq!(s.len(), 90);
    for i in 0..300 {
        assert_eq!(
            s.get(&key("k", i)).is_some(),
            (10..100).contains(&i),
            "key {i}"
        );
    }
}

/// retain shows the predicate every key with its entry.
pub fn retain_sees_every_entry<S: Store>() {
    let s = S::default();
    for i in 0..500 {
        s.insert(key("k", i), string(format!("{i}")));
    }
    let mut seen = HashMap::new();
    s.retain(|k, e| {
        seen.insert(Bytes::copy_from_slice(k), e.clone());
        true
    });
    assert_eq!(seen.len(), 500);
    for i in 0..500 {
        assert_eq!(seen.get(&key("k", i)), Some(&string(format!("{i}"))));
    }
    assert_eq!(s.len(), 500);
}

/// retain that rejects everything leaves an empty, usable store.
pub fn retain_rejecting_everything_empties_the_store<S: Store>() {
    let s = S::default();
    for i in 0..1_000 {
        s.insert(key("k", i), string("v"));
    }
    s.retain(|_, _| false);
    assert!(s.is_empty());
    assert_eq!(scan_all(&s, 100).len(), 0);
    s.insert(key("k", 1), string("back"));
    assert_eq!(s.get(&key("k", 1)), Some(string("back")));
}

/// clear removes every key: get, len, scan and random_entry agree.
pub fn clear_removes_every_key<S: Store>() {
    let s = S::default();
    for i in 0..2_000 {
        s.insert(key("k", i), string("v"));
    }
    s.clear();
    assert_eq!(s.len(), 0);
    assert!(s.is_empty());
    assert_eq!(scan_all(&s, 100).len(), 0);
    assert_eq!(s.random_entry(42), None);
    for i in (0..2_000).step_by(97) {
        assert_eq!(s.get(&key("k", i)), None);
    }
}

/// A cleared store takes writes again, over and over.
pub fn store_is_usable_after_clear<S: Store>() {
    let s = S::default();
    for round in 0..5 {
        for i in 0..200 {
            assert_eq!(s.insert(key("k", i), string(format!("{round}"))), None);
        }
        assert_eq!(s.len(), 200);
        s.clear();
        s.clear();
    }
    assert!(s.is_empty());
}

/// Scanning an empty store visits nothing and returns cursor 0.
pub fn scan_of_empty_store_ends_at_once<S: Store>() {
    let s = S::default();
    let mut visited = 0;
    let mut cursor = 0;
    for _ in 0..scan_call_bound(0) {
        cursor = s.scan(cursor, 10, |_, _| visited += 1);
        if cursor == 0 {
            break;
        }
    }
    assert_eq!((cursor, visited), (0, 0));
}

/// A full iteration visits every key with its entry and nothing else, for
/// any COUNT hint.
pub fn scan_to_completion_visits_every_key_with_its_entry<S: Store>() {
    const N: usize = 5_000;
    let s = S::default();
    for i in 0..N {
        s.insert(key("k", i), string(format!("{i}")));
    }
    for count in [1, 10, 333, 100_000] {
        // Duplicates are allowed by the contract; missing or phantom keys are not.
        let mut seen = HashSet::new();
        for (k, e) in scan_all(&s, count) {
            let i: usize = std::str::from_utf8(&k[2..]).unwrap().parse().unwrap();
            assert_eq!(k, key("k", i), "no phantom keys");
            assert_eq!(e, string(format!("{i}")), "entry of {k:?}");
            seen.insert(k);
        }
        assert_eq!(seen.len(), N, "count={count}: every key visited");
    }
}

/// A call visits about COUNT entries whatever the store's size (Redis's
/// cost per SCAN call), not a whole sub-map: at most a few times COUNT.
pub fn scan_calls_visit_about_count_entries<S: Store>() {
    const N: usize = 40_000;
    let s = S::default();
    for i in 0..N {
        s.insert(key("k", i), string("v"));
    }
    let (mut cursor, mut calls, mut total, mut most) = (0, 0usize, 0usize, 0usize);
    loop {
        let mut n = 0;
        cursor = s.scan(cursor, 10, |_, _| n += 1);
        calls += 1;
        total += n;
        most = most.max(n);
        if cursor == 0 || calls > N {
            break;
        }
    }
    assert!(most <= 50, "one SCAN COUNT 10 call visited {most} entries");
    assert!(total >= N, "visited {total} of {N}");
    assert!(calls >= N / 50, "{calls} calls for {N} keys at COUNT 10");
}

/// Random picks reach keys all over the store, not one region of it.
pub fn random_entry_spreads_over_the_store<S: Store>() {
    const N: usize = 20_000;
    let s = S::default();
    for i in 0..N {
        s.insert(key("k", i), string("v"));
    }
    let mut seen = HashSet::new();
    for seed in 0..2_000u64 {
        // Seeds unrelated to any generator a backend may run on them.
        if let Some((k, _)) = s.random_entry(seed.wrapping_mul(0xd1b5_4a32_d192_ed03) ^ 0x5555) {
            seen.insert(k);
        }
    }
    assert!(
        seen.len() > 1_500,
        "2000 picks found only {} distinct keys",
        seen.len()
    );
}

/// COUNT 0 is a hint like any other: the iteration still ends.
pub fn scan_with_count_zero_still_makes_progress<S: Store>() {
    let s = S::default();
    for i in 0..100 {
        s.insert(key("k", i), string("v"));
    }
    let keys: HashSet<Bytes> = scan_all(&s, 0).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 100);
}

/// Cursors carry all the state: two interleaved iterations both complete.
pub fn scan_cursors_are_independent<S: Store>() {
    let s = S::default();
    for i in 0..1_000 {
        s.insert(key("k", i), string("v"));
    }
    let (mut a, mut b) = (0u64, 0u64);
    let (mut seen_a, mut seen_b) = (HashSet::new(), HashSet::new());
    let (mut done_a, mut done_b) = (false, false);
    for _ in 0..scan_call_bound(1_000) {
        if !done_a {
            a = s.scan(a, 5, |k, _| {
                seen_a.insert(k.clone());
            });
            done_a = a == 0;
        }
        if !done_b {
            b = s.scan(b, 17, |k, _| {
                seen_b.insert(k.clone());
            });
            done_b = b == 0;
        }
        if done_a && done_b {
            break;
        }
    }
    assert!(done_a && done_b, "both iterations must end");
    assert_eq!((seen_a.len(), seen_b.len()), (1_000, 1_000));
}

/// Parameters of the SCAN-under-churn check.
#[derive(Clone, Copy, Debug)]
pub struct ScanChurn {
    /// Keys present for the whole test; each iteration must visit all.
    pub stable: usize,
    /// Keys each churn thread inserts and then removes per round: several
    /// times `stable`, so tables grow and shrink while the scan runs.
    pub churn_batch: usize,
    /// Churn threads.
    pub churners: usize,
    /// Full iterations to complete (the budget may cut this short).
    pub iterations: usize,
    /// Wall-clock budget for the scanning loop.
    pub budget: Duration,
}

/// The SCAN guarantee while other threads force resizes. Catches a cursor
/// that is a position in a table that moves under it.
pub fn scan_visits_every_stable_key_while_others_churn<S: Store>() {
    scan_guarantee_under_churn::<S>(ScanChurn {
        stable: 1_000,
        churn_batch: 3_000,
        churners: 2,
        iterations: 8,
        budget: Duration::from_secs(3),
    });
}

/// [`scan_visits_every_stable_key_while_others_churn`], longer and larger.
pub fn stress_scan_guarantee_under_heavy_churn<S: Store>() {
    scan_guarantee_under_churn::<S>(ScanChurn {
        stable: 5_000,
        churn_batch: 20_000,
        churners: 3,
        iterations: 200,
        budget: Duration::from_secs(30),
    });
}

/// Run the SCAN-under-churn check with explicit parameters.
pub fn scan_guarantee_under_churn<S: Store>(cfg: ScanChurn) {
    let s = S::default();
    for i in 0..cfg.stable {
        s.insert(key("stable", i), string(format!("{i}")));
    }
    let stop = AtomicBool::new(false);
    let churn_ops = AtomicUsize::new(0);
    let (done, overlapped) = thread::scope(|sc| {
        for t in 0..cfg.churners {
            let (s, stop, churn_ops) = (&s, &stop, &churn_ops);
            sc.spawn(move || churn(s, t, cfg.churn_batch, stop, churn_ops));
        }
        let _stop = StopOnDrop(&stop);
        scan_while_churning(&s, &cfg, &churn_ops)
    });
    assert!(done > 0, "{}: no full iteration completed", S::NAME);
    assert!(
        overlapped > 0,
        "{}: no iteration overlapped the churn, so nothing was tested",
        S::NAME
    );
}

fn churn<S: Store>(s: &S, t: usize, batch: usize, stop: &AtomicBool, ops: &AtomicUsize) {
    const MAX_ROUNDS: usize = 10_000;
    let prefix = format!("churn{t}");
    for _ in 0..MAX_ROUNDS {
        for j in 0..batch {
            s.insert(key(&prefix, j), string("c"));
            ops.fetch_add(1, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                return;
            }
        }
        for j in 0..batch {
            s.remove(&key(&prefix, j));
            ops.fetch_add(1, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

/// Returns (iterations completed, iterations during which churn progressed).
fn scan_while_churning<S: Store>(
    s: &S,
    cfg: &ScanChurn,
    churn_ops: &AtomicUsize,
) -> (usize, usize) {
    let counts = [1, 7, 64, 1_000];
    let budget = Budget::new(cfg.budget);
    let (mut done, mut overlapped) = (0, 0);
    // Past the planned iterations, keep going (within the budget) until one
    // has overlapped the churn: on a busy machine the churners may not have
    // run yet.
    let cap = cfg.iterations.saturating_mul(100);
    while (done < cfg.iterations || overlapped == 0) && done < cap && !budget.spent() {
        let count = counts[done % counts.len()];
        let ops_before = churn_ops.load(Ordering::Relaxed);
        let mut seen = vec![false; cfg.stable];
        let mut cursor = 0;
        let mut calls = 0usize;
        let max_calls = scan_call_bound(2 * s.len().max(cfg.stable));
        loop {
            cursor = s.scan(cursor, count, |k, e| {
                if let Some(i) = k.strip_prefix(b"stable:") {
                    let i: usize = std::str::from_utf8(i).unwrap().parse().unwrap();
                    assert_eq!(payload(e), format!("{i}").as_bytes(), "entry of {k:?}");
                    seen[i] = true;
                } else {
                    assert!(k.starts_with(b"churn"), "phantom key {k:?}");
                }
            });
            calls += 1;
            assert!(calls < max_calls, "{}: scan never ended", S::NAME);
            if cursor == 0 {
                break;
            }
            if calls & 15 == 0 {
                thread::yield_now(); // let churners in between scan calls
            }
        }
        let missing: Vec<usize> = (0..cfg.stable).filter(|&i| !seen[i]).collect();
        assert!(
            missing.is_empty(),
            "{}: iteration {done} (count={count}) missed {} stable keys, e.g. {:?}",
            S::NAME,
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        done += 1;
        if churn_ops.load(Ordering::Relaxed) != ops_before {
            overlapped += 1;
        }
    }
    (done, overlapped)
}

/// random_entry of an empty store is `None`, for any seed.
pub fn random_entry_of_empty_store_is_none<S: Store>() {
    let s = S::default();
    let mut rng = SplitMix(1);
    for _ in 0..100 {
        assert_eq!(s.random_entry(rng.next_u64()), None);
    }
    assert_eq!(s.random_entry(0), None);
    assert_eq!(s.random_entry(u64::MAX), None);
}

/// random_entry returns a key that is stored, with its entry.
pub fn random_entry_returns_a_stored_key_with_its_entry<S: Store>() {
    let s = S::default();
    for i in 0..50 {
        s.insert(key("k", i), string(format!("{i}")));
    }
    let mut rng = SplitMix(2);
    for _ in 0..500 {
        let (k, e) = s.random_entry(rng.next_u64()).expect("non-empty store");
        assert_eq!(s.get(&k), Some(e));
    }
}

/// With a single key, every seed finds it.
pub fn random_entry_with_one_key_always_returns_it<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"only"), string("v"));
    let mut rng = SplitMix(3);
    for seed in [0, 1, u64::MAX]
        .into_iter()
        .chain((0..300).map(|_| rng.next_u64()))
    {
        assert_eq!(
            s.random_entry(seed),
            Some((Bytes::from_static(b"only"), string("v"))),
            "seed {seed}"
        );
    }
}

/// Over many seeds every key comes up (the expiry sampler relies on this to
/// reach every volatile key eventually).
pub fn random_entry_reaches_every_key<S: Store>() {
    let s = S::default();
    for i in 0..8 {
        s.insert(key("k", i), string("v"));
    }
    let mut rng = SplitMix(4);
    let mut seen = HashSet::new();
    for _ in 0..4_000 {
        seen.insert(s.random_entry(rng.next_u64()).unwrap().0);
    }
    let missing: Vec<_> = (0..8)
        .map(|i| key("k", i))
        .filter(|k| !seen.contains(k))
        .collect();
    assert!(missing.is_empty(), "never returned: {missing:?}");
}

/// After clear there is nothing to pick.
pub fn random_entry_after_clear_is_none<S: Store>() {
    let s = S::default();
    for i in 0..100 {
        s.insert(key("k", i), string("v"));
    }
    s.clear();
    let mut rng = SplitMix(5);
    for _ in 0..100 {
        assert_eq!(s.random_entry(rng.next_u64()), None);
    }
}
