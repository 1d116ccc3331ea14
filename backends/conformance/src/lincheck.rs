//! A linearizability checker run on real concurrent histories.
//!
//! # Recording
//! A history is 2–4 threads doing a few single-key operations each on one to
//! three fresh keys. Threads line up on a spinning barrier and start
//! together; every operation takes an invocation stamp before it starts and
//! a response stamp after it returns, both from one shared `AtomicU64`
//! counter (SeqCst `fetch_add`), so `a.ret < b.call` means `a` really
//! finished before `b` began. Many short histories are recorded per test
//! (default [`DEFAULT_HISTORIES`], or `FLASHKV_LINCHECK_HISTORIES`).
//!
//! # Checking
//! Every operation touches one key, and keys are independent objects, so by
//! locality (Herlihy & Wing 1990; "P-compositionality" in Horn & Kroening
//! 2015) a history is linearizable iff each key's sub-history is. Each
//! sub-history is checked with the Wing–Gong search as improved by Lowe:
//! depth-first, at each step try every pending operation that was invoked
//! before the earliest response among pending operations, apply it to the
//! sequential model ([`apply_model`]) and require the recorded result;
//! `(linearized set, model state)` pairs already explored are memoized, so
//! the search is polynomial in practice for these sizes.
//!
//! A failure prints the offending key's sub-history with its stamps.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use store_api::{Op, Store};

use crate::support::{as_int, payload, string, Budget, SpinBarrier, SplitMix};

/// Histories per test unless `FLASHKV_LINCHECK_HISTORIES` says otherwise.
pub const DEFAULT_HISTORIES: usize = 300;

/// A single-key operation. Values are one ASCII digit so INCR often applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinOp {
    /// `get`: the value.
    Get,
    /// `read`: the value, seen through the closure.
    Read,
    /// `insert`: the previous value.
    Insert(u8),
    /// `remove`: the previous value.
    Remove,
    /// SET NX via compute: did it store.
    SetNx(u8),
    /// INCR via compute: the new value, or `None` for not-an-integer.
    Incr,
    /// APPEND via compute: the new length.
    Append(u8),
    /// GETDEL via compute: the previous value.
    GetDel,
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LinRet {
    /// A value or its absence.
    Value(Option<Vec<u8>>),
    /// A yes/no.
    Bool(bool),
    /// An integer or an error.
    Int(Option<i64>),
    /// A length.
    Len(usize),
}

/// One completed operation in a history.
#[derive(Clone, Debug)]
pub struct Event {
    /// Thread that ran it.
    pub thread: usize,
    /// Key index within the history.
    pub key: u8,
    /// The operation.
    pub op: LinOp,
    /// Its result.
    pub ret: LinRet,
    /// Invocation stamp.
    pub call: u64,
    /// Response stamp.
    pub ret_at: u64,
}

/// The sequential specification of one key.
pub fn apply_model(state: &mut Option<Vec<u8>>, op: LinOp) -> LinRet {
    match op {
        LinOp::Get | LinOp::Read => LinRet::Value(state.clone()),
        LinOp::Insert(v) => LinRet::Value(state.replace(vec![v])),
        LinOp::Remove | LinOp::GetDel => LinRet::Value(state.take()),
        LinOp::SetNx(v) => LinRet::Bool(state.is_none() && state.replace(vec![v]).is_none()),
        LinOp::Incr => {
            let n = match state {
                None => Some(1),
                Some(b) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .and_then(|n| n.checked_add(1)),
            };
            if let Some(n) = n {
                *state = Some(n.to_string().into_bytes());
            }
            LinRet::Int(n)
        }
        LinOp::Append(v) => {
            let b = state.get_or_insert_with(Vec::new);
            b.push(v);
            LinRet::Len(b.len())
        }
    }
}

fn value(e: Option<&store_api::Entry>) -> Option<Vec<u8>> {
    e.map(|e| payload(e).to_vec())
}

/// Run `op` on the store.
pub fn apply_store<S: Store>(s: &S, k: &[u8], op: LinOp) -> LinRet {
    match op {
        LinOp::Get => LinRet::Value(value(s.get(k).as_ref())),
        LinOp::Read => LinRet::Value(s.read(k, value)),
        LinOp::Insert(v) => LinRet::Value(value(
            s.insert(Bytes::copy_from_slice(k), string(vec![v]))
                .as_ref(),
        )),
        LinOp::Remove => LinRet::Value(value(s.remove(k).as_ref())),
        LinOp::SetNx(v) => LinRet::Bool(s.compute(k, |e| match e {
            None => (Op::Put(string(vec![v])), true),
            Some(_) => (Op::Keep, false),
        })),
        LinOp::Incr => LinRet::Int(s.compute(
            k,
            |e| match as_int(e).and_then(|n| n.checked_add(1)) {
                Some(n) => (Op::Put(string(n.to_string())), Some(n)),
                None => (Op::Keep, None),
            },
        )),
        LinOp::Append(v) => LinRet::Len(s.compute(k, |e| {
            let mut b = value(e).unwrap_or_default();
            b.push(v);
            let len = b.len();
            (Op::Put(string(b)), len)
        })),
        LinOp::GetDel => LinRet::Value(s.compute(k, |e| (Op::Remove, value(e)))),
    }
}

/// A key whose sub-history has no linearization.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The key index.
    pub key: u8,
    /// Its sub-history, in invocation order.
    pub events: Vec<Event>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "no linearization for key {} of this history:", self.key)?;
        for e in &self.events {
            writeln!(
                f,
                "  [{:>4} .. {:>4}] thread {} {:?} -> {:?}",
                e.call, e.ret_at, e.thread, e.op, e.ret
            )?;
        }
        Ok(())
    }
}

/// Check one key's sub-history (at most 64 events).
pub fn linearizable(events: &[Event]) -> bool {
    assert!(events.len() <= 64, "sub-history too long for the bitset");
    let all = if events.len() == 64 {
        u64::MAX
    } else {
        (1u64 << events.len()) - 1
    };
    let mut memo = HashSet::new();
    search(events, 0, all, None, &mut memo)
}

fn search(
    events: &[Event],
    done: u64,
    all: u64,
    state: Option<Vec<u8>>,
    memo: &mut HashSet<(u64, Option<Vec<u8>>)>,
) -> bool {
    if done == all {
        return true;
    }
    if !memo.insert((done, state.clone())) {
        return false;
    }
    let pending = || (0..events.len()).filter(move |i| done & (1 << i) == 0);
    let first_response = pending()
        .map(|i| events[i].ret_at)
        .min()
        .unwrap_or(u64::MAX);
    for i in pending().filter(|&i| events[i].call < first_response) {
        let mut next = state.clone();
        if apply_model(&mut next, events[i].op) == events[i].ret
            && search(events, done | (1 << i), all, next, memo)
        {
            return true;
        }
    }
    false
}

/// Check a whole history key by key.
pub fn check_history(events: &[Event]) -> Result<(), Violation> {
    let mut by_key: BTreeMap<u8, Vec<Event>> = BTreeMap::new();
    for e in events {
        by_key.entry(e.key).or_default().push(e.clone());
    }
    for (key, mut sub) in by_key {
        if !linearizable(&sub) {
            sub.sort_by_key(|e| e.call);
            return Err(Violation { key, events: sub });
        }
    }
    Ok(())
}

/// Did any two operations on one key overlap in time?
pub fn has_overlap(events: &[Event]) -> bool {
    events.iter().enumerate().any(|(i, a)| {
        events[i + 1..]
            .iter()
            .any(|b| a.key == b.key && a.call < b.ret_at && b.call < a.ret_at)
    })
}

/// Shape of the recorded histories.
#[derive(Clone, Debug)]
pub struct Config {
    /// Threads per history (2–4 keeps the search small).
    pub threads: usize,
    /// Operations each thread runs per history.
    pub ops_per_thread: usize,
    /// Distinct keys per history.
    pub keys: u8,
    /// Operations to draw from.
    pub mix: Vec<LinOp>,
    /// Histories to record and check.
    pub histories: usize,
    /// Keep recording (up to 20 × `histories`, or until the budget if none
    /// overlapped yet) until this many histories had operations overlapping
    /// in time: on a busy machine threads often run one after another,
    /// which tests nothing.
    pub min_overlapping: usize,
    /// Wall-clock budget; recording stops early when it runs out.
    pub budget: Duration,
    /// Seed for the operation plans.
    pub seed: u64,
}

/// Every operation kind, with a few different digits.
pub fn full_mix() -> Vec<LinOp> {
    use LinOp::*;
    vec![
        Get,
        Read,
        Insert(b'1'),
        Insert(b'7'),
        Remove,
        SetNx(b'3'),
        SetNx(b'4'),
        Incr,
        Incr,
        Append(b'2'),
        GetDel,
    ]
}

/// What a run found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Histories recorded and checked.
    pub histories: usize,
    /// Histories in which some operations overlapped in time.
    pub overlapping: usize,
}

const BATCH: usize = 50;

/// Record and check histories until `cfg.histories` or the budget; return the
/// first violation found.
pub fn run<S: Store>(cfg: &Config) -> Result<Stats, Violation> {
    let s = S::default();
    let mut rng = SplitMix(cfg.seed);
    let budget = Budget::new(cfg.budget);
    let mut stats = Stats::default();
    let mut batch = 0;
    let cap = cfg.histories.saturating_mul(20);
    // Past the cap, only a run with no overlap at all goes on (within the
    // budget): on a loaded machine whole batches run one thread at a time.
    while (stats.histories < cfg.histories || stats.overlapping < cfg.min_overlapping)
        && (stats.histories < cap || stats.overlapping == 0)
        && !budget.spent()
    {
        let n = BATCH.min(cfg.histories.max(1));
        for history in record_batch(&s, cfg, batch, n, &mut rng) {
            check_history(&history)?;
            stats.histories += 1;
            stats.overlapping += usize::from(has_overlap(&history));
        }
        batch += 1;
    }
    Ok(stats)
}

/// Look for a violation; `Some` as soon as one is found.
pub fn find_violation<S: Store>(cfg: &Config) -> Option<Violation> {
    run::<S>(cfg).err()
}

type Plan = Vec<Vec<Vec<(u8, LinOp)>>>; // [history][thread][op]

fn record_batch<S: Store>(
    s: &S,
    cfg: &Config,
    batch: usize,
    n: usize,
    rng: &mut SplitMix,
) -> Vec<Vec<Event>> {
    let plan: Plan = (0..n)
        .map(|_| {
            (0..cfg.threads)
                .map(|_| {
                    (0..cfg.ops_per_thread)
                        .map(|_| {
                            (
                                rng.below(cfg.keys as usize) as u8,
                                cfg.mix[rng.below(cfg.mix.len())],
                            )
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let clock = AtomicU64::new(0);
    let start = SpinBarrier::new(cfg.threads);
    let per_thread: Vec<Vec<(usize, Event)>> = thread::scope(|sc| {
        let handles: Vec<_> = (0..cfg.threads)
            .map(|t| {
                let (plan, clock, start) = (&plan, &clock, &start);
                sc.spawn(move || {
                    let mut out = Vec::new();
                    for (h, threads) in plan.iter().enumerate() {
                        start.wait(h);
                        for &(key, op) in &threads[t] {
                            let k = format!("lin:{batch}:{h}:{key}");
                            let call = clock.fetch_add(1, Ordering::SeqCst);
                            let ret = apply_store(s, k.as_bytes(), op);
                            let ret_at = clock.fetch_add(1, Ordering::SeqCst);
                            out.push((
                                h,
                                Event {
                                    thread: t,
                                    key,
                                    op,
                                    ret,
                                    call,
                                    ret_at,
                                },
                            ));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut histories = vec![Vec::new(); n];
    for (h, e) in per_thread.into_iter().flatten() {
        histories[h].push(e);
    }
    histories
}

/// Histories per test: `FLASHKV_LINCHECK_HISTORIES` or [`DEFAULT_HISTORIES`].
pub fn histories() -> usize {
    std::env::var("FLASHKV_LINCHECK_HISTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_HISTORIES)
}

fn assert_linearizable<S: Store>(cfg: Config) {
    match run::<S>(&cfg) {
        Ok(stats) => {
            eprintln!("lincheck: {}: {stats:?}", S::NAME);
            assert!(stats.histories > 0, "{}: no history recorded", S::NAME);
            assert!(
                stats.overlapping > 0,
                "{}: none of {} histories had overlapping operations, so nothing was tested",
                S::NAME,
                stats.histories
            );
        }
        Err(v) => panic!("{}: {v}", S::NAME),
    }
}

/// Three threads, one key, every kind of operation.
pub fn single_key_histories_are_linearizable<S: Store>() {
    assert_linearizable::<S>(Config {
        threads: 3,
        ops_per_thread: 4,
        keys: 1,
        mix: full_mix(),
        histories: histories(),
        min_overlapping: 30,
        budget: Duration::from_secs(10),
        seed: 1,
    });
}

/// Four threads over three keys.
pub fn multi_key_histories_are_linearizable<S: Store>() {
    assert_linearizable::<S>(Config {
        threads: 4,
        ops_per_thread: 4,
        keys: 3,
        mix: full_mix(),
        histories: histories(),
        min_overlapping: 30,
        budget: Duration::from_secs(10),
        seed: 2,
    });
}

/// The compound commands that race in practice: SET NX, INCR, GETDEL.
pub fn set_nx_and_incr_histories_are_linearizable<S: Store>() {
    use LinOp::*;
    assert_linearizable::<S>(Config {
        threads: 3,
        ops_per_thread: 3,
        keys: 1,
        mix: vec![SetNx(b'5'), SetNx(b'6'), Incr, Incr, GetDel, Remove, Get],
        histories: histories(),
        min_overlapping: 30,
        budget: Duration::from_secs(10),
        seed: 3,
    });
}

/// Many more and longer histories.
pub fn stress_many_histories_are_linearizable<S: Store>() {
    assert_linearizable::<S>(Config {
        threads: 4,
        ops_per_thread: 6,
        keys: 2,
        mix: full_mix(),
        histories: 20_000,
        min_overlapping: 1_000,
        budget: Duration::from_secs(120),
        seed: 4,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinOp::*;

    fn ev(thread: usize, op: LinOp, ret: LinRet, call: u64, ret_at: u64) -> Event {
        Event {
            thread,
            key: 0,
            op,
            ret,
            call,
            ret_at,
        }
    }

    fn v(b: &[u8]) -> LinRet {
        LinRet::Value(Some(b.to_vec()))
    }

    #[test]
    fn sequential_history_that_follows_the_model_passes() {
        let h = [
            ev(0, SetNx(b'1'), LinRet::Bool(true), 0, 1),
            ev(0, Incr, LinRet::Int(Some(2)), 2, 3),
            ev(1, Get, v(b"2"), 4, 5),
            ev(1, GetDel, v(b"2"), 6, 7),
            ev(0, Get, LinRet::Value(None), 8, 9),
        ];
        assert!(check_history(&h).is_ok());
    }

    #[test]
    fn two_overlapping_set_nx_winners_fail() {
        let h = [
            ev(0, SetNx(b'1'), LinRet::Bool(true), 0, 3),
            ev(1, SetNx(b'2'), LinRet::Bool(true), 1, 2),
        ];
        assert!(check_history(&h).is_err());
    }

    #[test]
    fn overlapping_write_may_or_may_not_be_seen() {
        for seen in [LinRet::Value(None), v(b"1")] {
            let h = [
                ev(0, Insert(b'1'), LinRet::Value(None), 0, 3),
                ev(1, Get, seen, 1, 2),
            ];
            assert!(check_history(&h).is_ok());
        }
    }

    #[test]
    fn stale_read_after_a_completed_write_fails() {
        let h = [
            ev(0, Insert(b'1'), LinRet::Value(None), 0, 1),
            ev(1, Get, LinRet::Value(None), 2, 3),
        ];
        assert!(check_history(&h).is_err());
    }

    #[test]
    fn lost_increment_fails() {
        let h = [
            ev(0, Incr, LinRet::Int(Some(1)), 0, 3),
            ev(1, Incr, LinRet::Int(Some(1)), 1, 2),
        ];
        assert!(check_history(&h).is_err());
    }

    #[test]
    fn keys_are_checked_independently() {
        let mut other = ev(1, Get, LinRet::Value(None), 2, 3);
        other.key = 1;
        let h = [ev(0, Insert(b'1'), LinRet::Value(None), 0, 1), other];
        assert!(check_history(&h).is_ok());
    }

    #[test]
    fn memoized_search_rejects_a_wide_history_quickly() {
        // 14 fully overlapping reads plus one impossible result: without
        // memoization the search would try 15! orders before giving up.
        let mut h: Vec<Event> = (0..14)
            .map(|i| ev(i % 4, Get, LinRet::Value(None), i as u64, 100 + i as u64))
            .collect();
        h.push(ev(3, Get, v(b"never written"), 20, 90));
        assert!(check_history(&h).is_err());
    }
}
