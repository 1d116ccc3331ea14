//! Model check: random operation sequences run against the backend and
//! against a plain `std::collections::HashMap`; every result and the final
//! state must match. proptest shrinks a failure to a short sequence.
//!
//! Compound commands (SET NX/XX, INCR, APPEND, GETDEL, PERSIST, EXPIRE) are
//! described once as a pure decision function ([`decide`]) used as the
//! `compute` closure on the backend and applied by hand to the model, so the
//! check is about what the store does with the decision, not about Redis.
//! Redis's semantics are checked independently at the server: the models in
//! `tests/server/smodel.rs` (strings and TTLs), `model.rs` (collections)
//! and `zmodel.rs` (sorted sets) compute every reply from their own
//! description of each command and share no code with the server.
//!
//! The case count is fixed ([`DEFAULT_CASES`]) so CI time is predictable;
//! raise it with `FLASHKV_PROPTEST_CASES=5000`. proptest picks a fresh seed
//! per run; `PROPTEST_RNG_SEED=<n>` replays one.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use store_api::{Entry, Op, Store, Value};

use crate::support::{as_int, payload, scan_all, string};

/// Cases per run unless `FLASHKV_PROPTEST_CASES` says otherwise: about
/// 0.3 s per backend in release, a few seconds in debug.
pub const DEFAULT_CASES: u32 = 1024;
/// Longest generated operation sequence.
pub const MAX_OPS: usize = 64;
const KEY_SPACE: u8 = 12;

/// One step of a generated sequence. Keys are small numbers so operations
/// collide often; `Grow` adds hundreds of keys at once to force resizes.
#[derive(Clone, Debug)]
pub enum ModelOp {
    /// `get`.
    Get(u8),
    /// `read`, cloning what it sees.
    Read(u8),
    /// `insert` with an optional deadline.
    Insert(u8, Vec<u8>, Option<u64>),
    /// `remove`.
    Remove(u8),
    /// `compute` with one of the Redis-shaped decisions.
    Compute(u8, ComputeOp),
    /// `clear`.
    Clear,
    /// `retain` with a predicate.
    Retain(RetainRule),
    /// Scan to completion with this COUNT hint.
    Scan(usize),
    /// `len` and `is_empty`.
    Len,
    /// `random_entry` with this seed.
    RandomEntry(u64),
    /// Insert keys `g:0..n`.
    Grow(u16),
}

/// A compute closure, shaped like the commands the server builds on it.
#[derive(Clone, Debug)]
pub enum ComputeOp {
    /// SET NX: put if absent; true when it did.
    SetNx(Vec<u8>),
    /// SET XX: put if present (dropping the deadline); true when it did.
    SetXx(Vec<u8>),
    /// INCRBY: parse, add, put back keeping the deadline; error leaves the key.
    Incr(i64),
    /// APPEND: concatenate, keep the deadline; returns the new length.
    Append(Vec<u8>),
    /// GETDEL: remove and return the entry.
    GetDel,
    /// PERSIST: drop the deadline; true when there was one.
    Persist,
    /// PEXPIREAT: set the deadline of a present key; true when present.
    ExpireAt(u64),
    /// Look without changing anything.
    Peek,
}

/// A retain predicate.
#[derive(Clone, Debug)]
pub enum RetainRule {
    /// Keep keys whose last byte is even.
    EvenKeys,
    /// Keep entries not expired at this time.
    NotExpiredAt(u64),
    /// Keep payloads shorter than this.
    ShorterThan(usize),
    /// Keep everything.
    Everything,
    /// Keep nothing.
    Nothing,
}

/// What an operation answered; compared between backend and model.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// An entry or its absence.
    Entry(Option<Entry>),
    /// A yes/no answer.
    Bool(bool),
    /// An integer reply or an error.
    Int(Result<i64, ()>),
    /// A length.
    Len(usize),
    /// Whole contents.
    Contents(BTreeMap<Bytes, Entry>),
    /// Nothing to compare.
    Unit,
}

fn with_payload(old: Option<&Entry>, bytes: Vec<u8>, keep_deadline: bool) -> Entry {
    Entry::new(
        Value::Str(bytes.into()),
        old.and_then(|e| e.expires_at()).filter(|_| keep_deadline),
    )
}

/// The pure decision a [`ComputeOp`] makes on the current entry.
pub fn decide(op: &ComputeOp, cur: Option<&Entry>) -> (Op, Outcome) {
    match (op, cur) {
        (ComputeOp::SetNx(v), None) => (
            Op::Put(with_payload(None, v.clone(), false)),
            Outcome::Bool(true),
        ),
        (ComputeOp::SetNx(_), Some(_)) | (ComputeOp::SetXx(_), None) => {
            (Op::Keep, Outcome::Bool(false))
        }
        (ComputeOp::SetXx(v), Some(e)) => (
            Op::Put(with_payload(Some(e), v.clone(), false)),
            Outcome::Bool(true),
        ),
        (ComputeOp::Incr(by), _) => match as_int(cur).and_then(|n| n.checked_add(*by)) {
            Some(n) => (
                Op::Put(with_payload(cur, n.to_string().into_bytes(), true)),
                Outcome::Int(Ok(n)),
            ),
            None => (Op::Keep, Outcome::Int(Err(()))),
        },
        (ComputeOp::Append(v), _) => {
            let mut bytes = cur.map(|e| payload(e).to_vec()).unwrap_or_default();
            bytes.extend_from_slice(v);
            let len = bytes.len();
            (Op::Put(with_payload(cur, bytes, true)), Outcome::Len(len))
        }
        (ComputeOp::GetDel, _) => (Op::Remove, Outcome::Entry(cur.cloned())),
        (ComputeOp::Persist, Some(e)) if e.expires_at().is_some() => {
            let mut e = e.clone();
            e.set_expires_at(None);
            (Op::Put(e), Outcome::Bool(true))
        }
        (ComputeOp::Persist, _) | (ComputeOp::ExpireAt(_), None) => {
            (Op::Keep, Outcome::Bool(false))
        }
        (ComputeOp::ExpireAt(at), Some(e)) => {
            let mut e = e.clone();
            e.set_expires_at(Some(*at));
            (Op::Put(e), Outcome::Bool(true))
        }
        (ComputeOp::Peek, _) => (Op::Keep, Outcome::Entry(cur.cloned())),
    }
}

/// Does `rule` keep this entry?
pub fn keeps(rule: &RetainRule, key: &[u8], e: &Entry) -> bool {
    match rule {
        RetainRule::EvenKeys => key.last().is_none_or(|b| b % 2 == 0),
        RetainRule::NotExpiredAt(now) => !e.is_expired(*now),
        RetainRule::ShorterThan(n) => payload(e).len() < *n,
        RetainRule::Everything => true,
        RetainRule::Nothing => false,
    }
}

fn key_of(n: u8) -> Bytes {
    Bytes::from(format!("k{n}"))
}

fn grow_key(i: u16) -> Bytes {
    Bytes::from(format!("g:{i}"))
}

/// Apply one op to the backend.
fn run_on_store<S: Store>(s: &S, op: &ModelOp) -> Outcome {
    match op {
        ModelOp::Get(k) => Outcome::Entry(s.get(&key_of(*k))),
        ModelOp::Read(k) => Outcome::Entry(s.read(&key_of(*k), |e| e.cloned())),
        ModelOp::Insert(k, v, at) => Outcome::Entry(s.insert(key_of(*k), entry(v, *at))),
        ModelOp::Remove(k) => Outcome::Entry(s.remove(&key_of(*k))),
        ModelOp::Compute(k, c) => s.compute(&key_of(*k), |cur| decide(c, cur)),
        ModelOp::Clear => {
            s.clear();
            Outcome::Unit
        }
        ModelOp::Retain(rule) => {
            s.retain(|k, e| keeps(rule, k, e));
            Outcome::Unit
        }
        ModelOp::Scan(count) => Outcome::Contents(scan_all(s, *count).into_iter().collect()),
        ModelOp::Len => Outcome::Len(s.len()),
        ModelOp::RandomEntry(_) => Outcome::Unit, // checked against the model in `run_case`
        ModelOp::Grow(n) => {
            for i in 0..*n {
                s.insert(grow_key(i), string(format!("{i}")));
            }
            Outcome::Unit
        }
    }
}

fn entry(v: &[u8], at: Option<u64>) -> Entry {
    Entry::new(Value::Str(v.into()), at)
}

/// Apply one op to the model.
fn run_on_model(m: &mut HashMap<Bytes, Entry>, op: &ModelOp) -> Outcome {
    match op {
        ModelOp::Get(k) | ModelOp::Read(k) => Outcome::Entry(m.get(&key_of(*k)).cloned()),
        ModelOp::Insert(k, v, at) => Outcome::Entry(m.insert(key_of(*k), entry(v, *at))),
        ModelOp::Remove(k) => Outcome::Entry(m.remove(&key_of(*k))),
        ModelOp::Compute(k, c) => {
            let k = key_of(*k);
            let (op, out) = decide(c, m.get(&k));
            match op {
                Op::Keep => {}
                Op::Put(e) => {
                    m.insert(k, e);
                }
                Op::Remove => {
                    m.remove(&k);
                }
            }
            out
        }
        ModelOp::Clear => {
            m.clear();
            Outcome::Unit
        }
        ModelOp::Retain(rule) => {
            m.retain(|k, e| keeps(rule, k, e));
            Outcome::Unit
        }
        ModelOp::Scan(_) => {
            Outcome::Contents(m.iter().map(|(k, e)| (k.clone(), e.clone())).collect())
        }
        ModelOp::Len => Outcome::Len(m.len()),
        ModelOp::RandomEntry(_) => Outcome::Unit,
        ModelOp::Grow(n) => {
            for i in 0..*n {
                m.insert(grow_key(i), string(format!("{i}")));
            }
            Outcome::Unit
        }
    }
}

/// Run one generated sequence on a fresh store and a fresh model.
pub fn run_case<S: Store>(ops: &[ModelOp]) -> Result<(), TestCaseError> {
    let s = S::default();
    let mut m = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if let ModelOp::RandomEntry(seed) = op {
            match s.random_entry(*seed) {
                None => prop_assert!(
                    m.is_empty(),
                    "op #{}: random_entry None on a non-empty store",
                    i
                ),
                Some((k, e)) => prop_assert_eq!(m.get(&k), Some(&e), "op #{}: random_entry", i),
            }
        }
        if let ModelOp::Len = op {
            prop_assert_eq!(s.is_empty(), m.is_empty(), "op #{}: is_empty", i);
        }
        let got = run_on_store(&s, op);
        let want = run_on_model(&mut m, op);
        prop_assert_eq!(got, want, "op #{}: {:?}", i, op);
    }
    let contents: BTreeMap<Bytes, Entry> = scan_all(&s, 16).into_iter().collect();
    let expected: BTreeMap<Bytes, Entry> = m.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
    prop_assert_eq!(&contents, &expected, "final contents");
    prop_assert_eq!(s.len(), m.len(), "final len");
    for k in (0..KEY_SPACE).map(key_of) {
        prop_assert_eq!(s.get(&k), m.get(&k).cloned(), "final get {:?}", k);
    }
    Ok(())
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(prop::sample::select(b"0123456789-ab\0".to_vec()), 0..6),
        1 => Just(i64::MAX.to_string().into_bytes()),
    ]
}

fn compute_op() -> impl Strategy<Value = ComputeOp> {
    prop_oneof![
        value().prop_map(ComputeOp::SetNx),
        value().prop_map(ComputeOp::SetXx),
        prop_oneof![4 => -3i64..=3, 1 => Just(i64::MAX), 1 => Just(i64::MIN)]
            .prop_map(ComputeOp::Incr),
        value().prop_map(ComputeOp::Append),
        Just(ComputeOp::GetDel),
        Just(ComputeOp::Persist),
        (0u64..2_000).prop_map(ComputeOp::ExpireAt),
        Just(ComputeOp::Peek),
    ]
}

fn retain_rule() -> impl Strategy<Value = RetainRule> {
    prop_oneof![
        Just(RetainRule::EvenKeys),
        (0u64..2_000).prop_map(RetainRule::NotExpiredAt),
        (0usize..5).prop_map(RetainRule::ShorterThan),
        Just(RetainRule::Everything),
        Just(RetainRule::Nothing),
    ]
}

/// Strategy for one [`ModelOp`].
pub fn model_op() -> impl Strategy<Value = ModelOp> {
    let k = || 0..KEY_SPACE;
    prop_oneof![
        3 => k().prop_map(ModelOp::Get),
        1 => k().prop_map(ModelOp::Read),
        4 => (k(), value(), prop::option::of(0u64..2_000)).prop_map(|(k, v, at)| ModelOp::Insert(k, v, at)),
        2 => k().prop_map(ModelOp::Remove),
        6 => (k(), compute_op()).prop_map(|(k, c)| ModelOp::Compute(k, c)),
        1 => Just(ModelOp::Clear),
        1 => retain_rule().prop_map(ModelOp::Retain),
        1 => (0usize..50).prop_map(ModelOp::Scan),
        1 => Just(ModelOp::Len),
        1 => any::<u64>().prop_map(ModelOp::RandomEntry),
        1 => (0u16..400).prop_map(ModelOp::Grow),
    ]
}

/// Cases to run: `FLASHKV_PROPTEST_CASES` or [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var("FLASHKV_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The backend behaves like a `HashMap` on random op sequences.
pub fn random_op_sequences_match_a_hashmap_model<S: Store>() {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = prop::collection::vec(model_op(), 1..MAX_OPS);
    match runner.run(&strategy, |ops| run_case::<S>(&ops)) {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => panic!(
            "{}: backend and model disagree: {reason}\nminimal failing sequence ({} ops):\n{ops:#?}",
            S::NAME,
            ops.len()
        ),
        Err(TestError::Abort(reason)) => panic!("{}: proptest aborted: {reason}", S::NAME),
    }
}
