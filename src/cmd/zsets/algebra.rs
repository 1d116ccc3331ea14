//! ZUNION, ZINTER, ZDIFF, ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE and
//! ZINTERCARD, as Redis's `zunionInterDiffGenericCommand`: sets count as
//! sorted sets with every score 1, inputs are weighted, equal members
//! aggregate with SUM (NaN becomes 0), MIN or MAX, and the result is in
//! (score, member) order. Every input key is read under one snapshot (the
//! STORE forms lock every key they name, the destination included).

use std::collections::HashMap;

use bytes::Bytes;
use store_api::value::{ZLimits, ZSet};
use store_api::{Coll, Entry, Store, Value};

use super::{limits, members_reply};
use crate::cmd::value::fresh;
use crate::cmd::{CmdError, Ctx};
use crate::db::events::class;
use crate::db::{Access, KeysGuard};
use crate::protocol::Frame;

/// Which operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Members of any input.
    Union,
    /// Members of every input.
    Inter,
    /// Members of the first input and of no other.
    Diff,
}

/// How equal members combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Add (NaN becomes 0).
    Sum,
    /// The least.
    Min,
    /// The greatest.
    Max,
}

/// What the command does with the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Reply with the members (WITHSCORES: with scores).
    Reply(bool),
    /// Store in this key and reply with the count.
    Store(Bytes),
    /// ZINTERCARD: reply with the count, stopping at LIMIT (0: none).
    Card(usize),
}

/// A parsed command.
#[derive(Debug)]
pub struct Algebra {
    /// The operation.
    pub op: Op,
    /// Input keys.
    pub keys: Vec<Bytes>,
    /// One weight per key.
    pub weights: Vec<f64>,
    /// How equal members combine.
    pub aggregate: Aggregate,
    /// What to do with the result.
    pub output: Output,
    /// A bad option, reported after the keys' types are checked.
    pub bad: Option<CmdError>,
}

fn combine(agg: Aggregate, acc: f64, v: f64) -> f64 {
    match agg {
        Aggregate::Sum => {
            let s = acc + v;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => acc.min(v),
        Aggregate::Max => acc.max(v),
    }
}

/// One input: its members with scores (a set's members score 1).
enum Input<'a> {
    Missing,
    Z(parking_lot::RwLockReadGuard<'a, ZSet>),
    S(parking_lot::RwLockReadGuard<'a, store_api::value::Set>),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Z(z) => z.len(),
            Input::S(s) => s.len(),
        }
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Z(z) => z.score(m),
            Input::S(s) => s.contains(m).then_some(1.0),
        }
    }

    fn each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Input::Missing => {}
            Input::Z(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Input::S(s) => s.iter().for_each(|m| f(&m.to_vec(), 1.0)),
        }
    }
}

/// The weighted score (NaN, from inf * 0, becomes 0).
fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// Compute the result over `entries` (type-checked: sets and sorted sets
/// only), in (score, member) order.
fn compute(a: &Algebra, entries: &[Option<Entry>]) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let handles = entries
        .iter()
        .map(|e| match e.as_ref().map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Coll(Coll::ZSet(z))) => Ok(Some(Coll::ZSet(z.clone()))),
            Some(Value::Coll(Coll::Set(s))) => Ok(Some(Coll::Set(s.clone()))),
            Some(_) => Err(CmdError::WrongType),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(e) = &a.bad {
        return Err(e.clone());
    }
    // `read_recursive`: ZUNION a a locks one set twice.
    let inputs: Vec<Input<'_>> = handles
        .iter()
        .map(|h| match h {
            Some(Coll::ZSet(z)) => Input::Z(z.read_recursive()),
            Some(Coll::Set(s)) => Input::S(s.read_recursive()),
            _ => Input::Missing,
        })
        .collect();
    let mut out: Vec<(Vec<u8>, f64)> = match a.op {
        Op::Inter => {
            // Smallest first, as Redis sorts its inputs (stably).
            let mut order: Vec<usize> = (0..inputs.len()).collect();
            order.sort_by_key(|&i| inputs[i].len());
            let first = order[0];
            let mut out = Vec::new();
            inputs[first].each(|m, s| {
                let mut acc = weighted(a.weights[first], s);
                for &j in &order[1..] {
                    match inputs[j].score(m) {
                        Some(v) => acc = combine(a.aggregate, acc, weighted(a.weights[j], v)),
                        None => return,
                    }
                }
                out.push((m.to_vec(), acc));
            });
            out
        }
        Op::Union => {
            let mut order: Vec<usize> = (0..inputs.len()).collect();
            order.sort_by_key(|&i| inputs[i].len());
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for &i in &order {
                inputs[i].each(|m, s| {
                    let v = weighted(a.weights[i], s);
                    acc.entry(m.to_vec())
                        .and_modify(|x| *x = combine(a.aggregate, *x, v))
                        .or_insert(v);
                });
            }
            acc.into_iter().collect()
        }
        Op::Diff => {
            let mut out = Vec::new();
            inputs[0].each(|m, s| {
                if inputs[1..].iter().all(|i| i.score(m).is_none()) {
                    out.push((m.to_vec(), s));
                }
            });
            out
        }
    };
    out.sort_by(|x, y| store_api::value::zset::cmp(x.1, &x.0, y.1, &y.0));
    Ok(out)
}

/// Replace `dst` (stripe held) with `items` (deleted when empty); true
/// when a key was there before.
pub fn store_result<S: Store>(
    ks: Access<'_, S>,
    guard: &KeysGuard<'_>,
    dst: &[u8],
    now: u64,
    items: Vec<(Vec<u8>, f64)>,
    limits: ZLimits,
) -> bool {
    ks.mutate_locked(guard, dst, now, |slot| {
        let existed = slot.entry().is_some();
        if items.is_empty() {
            slot.remove();
            return existed;
        }
        let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let mut z = ZSet::with_hint(items.len(), longest, limits);
        for (m, s) in &items {
            z.insert(m, *s, limits);
        }
        slot.put(fresh(Value::zset(z)));
        existed
    })
}

/// Run one of the commands.
pub fn execute<S: Store>(ctx: &mut Ctx<'_, S>, a: Algebra) -> Result<Frame, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    match &a.output {
        Output::Reply(withscores) => {
            let items = ks.read_all(&a.keys, now, |entries| compute(&a, entries))?;
            Ok(members_reply(
                items.iter().map(|(m, s)| (&m[..], *s)),
                *withscores,
            ))
        }
        Output::Card(limit) => {
            let n = ks
                .read_all(&a.keys, now, |entries| compute(&a, entries))?
                .len();
            Ok(Frame::Integer(
                if *limit == 0 { n } else { n.min(*limit) } as i64
            ))
        }
        Output::Store(dst) => {
            let limits = limits(ctx);
            let guard = ks.lock_keys(a.keys.iter().map(|k| &k[..]).chain([&dst[..]]));
            let entries: Vec<Option<Entry>> = a
                .keys
                .iter()
                .map(|k| ks.read_locked(&guard, k, now, |e| e.cloned()))
                .collect();
            let items = compute(&a, &entries)?;
            let n = items.len();
            let existed = store_result(ks, &guard, dst, now, items, limits);
            drop(guard);
            let event = match a.op {
                Op::Union => "zunionstore",
                Op::Inter => "zinterstore",
                Op::Diff => "zdiffstore",
            };
            if n > 0 {
                ctx.notify(class::ZSET, event, dst);
                ctx.defer_ready(vec![dst.clone()]);
            } else if existed {
                ctx.notify(class::GENERIC, "del", dst);
            }
            Ok(Frame::Integer(n as i64))
        }
    }
}
