//! Model check of sorted-set ranges: random ZADD/ZINCRBY/ZREM/ZREMRANGE*
//! and ZPOP* sequences, with every range query (by rank, score and lex,
//! REV, LIMIT, WITHSCORES, ZCOUNT, ZLEXCOUNT, ZRANK) checked after each
//! step against a naive sorted `Vec` written here from Redis's
//! documentation. Small limits make the sets cross from the listpack to
//! the skiplist encoding within a case.
//!
//! Cases per run: [`CASES`], or `FLASHKV_PROPTEST_CASES`.

use flashkv::{Frame, Store};
use proptest::prelude::*;

use crate::backends;
use crate::model::{run, runner, server};

const CASES: u32 = 128;

#[derive(Clone, Debug)]
enum Op {
    Add(i8, u8),
    Incr(i8, u8),
    Rem(u8),
    RemRank(i8, i8),
    RemScore(i8, i8),
    Pop(bool, u8),
}

fn member(m: u8) -> String {
    // Few members, so updates and ties on score are common.
    format!("m{:02}", m % 40)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (-6i8..6, any::<u8>()).prop_map(|(s, m)| Op::Add(s, m)),
        2 => (-3i8..3, any::<u8>()).prop_map(|(s, m)| Op::Incr(s, m)),
        2 => any::<u8>().prop_map(Op::Rem),
        1 => (-8i8..8, -8i8..8).prop_map(|(a, b)| Op::RemRank(a, b)),
        1 => (-6i8..6, -6i8..6).prop_map(|(a, b)| Op::RemScore(a, b)),
        1 => (any::<bool>(), 0u8..4).prop_map(|(max, n)| Op::Pop(max, n)),
    ]
}

/// (score, member) kept sorted as Redis orders a sorted set.
#[derive(Default)]
struct Model(Vec<(f64, String)>);

impl Model {
    fn sort(&mut self) {
        self.0
            .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap().then_with(|| a.1.cmp(&b.1)));
    }

    fn set(&mut self, m: String, s: f64) {
        self.0.retain(|(_, x)| *x != m);
        self.0.push((s, m));
        self.sort();
    }

    fn score(&self, m: &str) -> Option<f64> {
        self.0.iter().find(|(_, x)| x == m).map(|(s, _)| *s)
    }

    fn rank_span(&self, a: i64, b: i64) -> Vec<usize> {
        let n = self.0.len() as i64;
        let a = if a < 0 { a + n } else { a }.max(0);
        let b = if b < 0 { b + n } else { b }.min(n - 1);
        (a..=b).map(|i| i as usize).collect()
    }
}

fn argv(words: &[String]) -> Vec<String> {
    words.to_vec()
}

fn w(s: &str) -> Vec<String> {
    s.split(' ').map(String::from).collect()
}

/// The number `Frame::Double` prints for an integral score.
fn fmt(s: f64) -> String {
    format!("{}", s as i64)
}

fn bulks<'a>(items: impl Iterator<Item = &'a (f64, String)>, scores: bool) -> Frame {
    if scores {
        Frame::Pairs(
            items
                .map(|(s, m)| (Frame::bulk(m.clone()), Frame::Double(*s)))
                .collect(),
        )
    } else {
        Frame::Array(items.map(|(_, m)| Frame::bulk(m.clone())).collect())
    }
}

fn within(s: f64, (lo, lo_ex): (f64, bool), (hi, hi_ex): (f64, bool)) -> bool {
    (if lo_ex { s > lo } else { s >= lo }) && (if hi_ex { s < hi } else { s <= hi })
}

fn bound(v: i8, ex: bool) -> String {
    format!("{}{v}", if ex { "(" } else { "" })
}

/// Apply `op` to the model; the reply Redis gives.
fn apply(model: &mut Model, op: &Op) -> (Vec<String>, Frame) {
    match op {
        Op::Add(s, m) => {
            let new = model.score(&member(*m)).is_none();
            model.set(member(*m), f64::from(*s));
            (
                w(&format!("ZADD z {s} {}", member(*m))),
                Frame::Integer(i64::from(new)),
            )
        }
        Op::Incr(s, m) => {
            let v = model.score(&member(*m)).unwrap_or(0.0) + f64::from(*s);
            model.set(member(*m), v);
            (
                w(&format!("ZINCRBY z {s} {}", member(*m))),
                Frame::Double(v),
            )
        }
        Op::Rem(m) => {
            let before = model.0.len();
            model.0.retain(|(_, x)| *x != member(*m));
            (
                w(&format!("ZREM z {}", member(*m))),
                Frame::Integer((before - model.0.len()) as i64),
            )
        }
        Op::RemRank(a, b) => {
            let span = model.rank_span(i64::from(*a), i64::from(*b));
            for &i in span.iter().rev() {
                model.0.remove(i);
            }
            (
                w(&format!("ZREMRANGEBYRANK z {a} {b}")),
                Frame::Integer(span.len() as i64),
            )
        }
        Op::RemScore(a, b) => {
            let before = model.0.len();
            let (lo, hi) = (f64::from(*a), f64::from(*b));
            model.0.retain(|(s, _)| !(*s >= lo && *s <= hi));
            (
                w(&format!("ZREMRANGEBYSCORE z {a} {b}")),
                Frame::Integer((before - model.0.len()) as i64),
            )
        }
        Op::Pop(max, n) => {
            let k = usize::from(*n).min(model.0.len());
            let taken: Vec<(f64, String)> = if *max {
                let at = model.0.len() - k;
                model.0.drain(at..).rev().collect()
            } else {
                model.0.drain(..k).collect()
            };
            let name = if *max { "ZPOPMAX" } else { "ZPOPMIN" };
            let reply = if *n == 0 {
                Frame::Array(vec![])
            } else {
                bulks(taken.iter(), true)
            };
            (w(&format!("{name} z {n}")), reply)
        }
    }
}

/// Every query, with what the model answers.
fn queries(
    model: &Model,
    (a, b): (i8, i8),
    (ax, bx): (bool, bool),
    limit: (i8, i8),
) -> Vec<(Vec<String>, Frame)> {
    let z = &model.0;
    let mut out = Vec::new();
    let span = if z.is_empty() {
        vec![]
    } else {
        model.rank_span(i64::from(a), i64::from(b))
    };
    out.push((
        w(&format!("ZRANGE z {a} {b} WITHSCORES")),
        bulks(span.iter().map(|&i| &z[i]), true),
    ));
    let n = z.len();
    out.push((
        w(&format!("ZRANGE z {a} {b} REV")),
        bulks(span.iter().map(|&i| &z[n - 1 - i]), false),
    ));
    let (lo, hi) = ((f64::from(a), ax), (f64::from(b), bx));
    let hits: Vec<&(f64, String)> = z.iter().filter(|(s, _)| within(*s, lo, hi)).collect();
    let (min, max) = (bound(a, ax), bound(b, bx));
    out.push((
        w(&format!("ZCOUNT z {min} {max}")),
        Frame::Integer(hits.len() as i64),
    ));
    let (off, cnt) = limit;
    let window = |items: Vec<&(f64, String)>| -> Vec<(f64, String)> {
        if off < 0 {
            return vec![];
        }
        let it = items.into_iter().skip(off as usize).cloned();
        if cnt < 0 {
            it.collect()
        } else {
            it.take(cnt as usize).collect()
        }
    };
    let fwd = window(hits.clone());
    out.push((
        w(&format!(
            "ZRANGEBYSCORE z {min} {max} WITHSCORES LIMIT {off} {cnt}"
        )),
        bulks(fwd.iter(), true),
    ));
    let back = window(hits.iter().rev().copied().collect());
    out.push((
        w(&format!(
            "ZRANGE z {max} {min} BYSCORE REV LIMIT {off} {cnt}"
        )),
        bulks(back.iter(), false),
    ));
    // Lex ranges over the members that share the lowest score.
    if let Some((low, _)) = z.first() {
        let flat: Vec<&(f64, String)> = z.iter().filter(|(s, _)| s == low).collect();
        let (x, y) = (member(a.unsigned_abs() * 3), member(b.unsigned_abs() * 3));
        let lex: Vec<(f64, String)> = flat
            .iter()
            .filter(|(_, m)| {
                (if ax { *m > x } else { *m >= x }) && (if bx { *m < y } else { *m <= y })
            })
            .map(|e| (*e).clone())
            .collect();
        let (lmin, lmax) = (
            format!("{}{x}", if ax { "(" } else { "[" }),
            format!("{}{y}", if bx { "(" } else { "[" }),
        );
        let top = fmt(*low);
        out.push((
            w(&format!("ZRANGESTORE flat z {top} {top} BYSCORE")),
            Frame::Integer(flat.len() as i64),
        ));
        out.push((
            w(&format!("ZRANGEBYLEX flat {lmin} {lmax}")),
            bulks(lex.iter(), false),
        ));
        out.push((
            w(&format!("ZLEXCOUNT flat {lmin} {lmax}")),
            Frame::Integer(lex.len() as i64),
        ));
    }
    for (i, (_, m)) in z.iter().enumerate().step_by(3) {
        out.push((w(&format!("ZRANK z {m}")), Frame::Integer(i as i64)));
        out.push((
            w(&format!("ZREVRANK z {m}")),
            Frame::Integer((n - 1 - i) as i64),
        ));
    }
    out.push((w("ZCARD z"), Frame::Integer(n as i64)));
    out
}

/// An empty reply is `*0` whether built as pairs or as an array.
fn norm(f: Frame) -> Frame {
    match f {
        Frame::Pairs(p) if p.is_empty() => Frame::Array(vec![]),
        other => other,
    }
}

fn sorted_set_ranges_follow_the_model<S: Store>() {
    let step = (
        op(),
        (-8i8..8, -8i8..8),
        (any::<bool>(), any::<bool>()),
        (-1i8..4, -1i8..5),
    );
    runner(CASES)
        .run(&prop::collection::vec(step, 1..80), |steps| {
            let (exec, mut client) = server::<S>();
            run(
                &exec,
                &mut client,
                &w("CONFIG SET zset-max-listpack-entries 8"),
            );
            let mut model = Model::default();
            for (op, range, excl, limit) in &steps {
                let (cmd, want) = apply(&mut model, op);
                let got = run(&exec, &mut client, &argv(&cmd));
                prop_assert_eq!(norm(got), norm(want), "{:?}", cmd);
                for (q, want) in queries(&model, *range, *excl, *limit) {
                    let got = run(&exec, &mut client, &q);
                    prop_assert_eq!(norm(got), norm(want), "{:?} after {:?}", q, cmd);
                }
            }
            Ok(())
        })
        .unwrap();
}

backends!(sorted_set_ranges_follow_the_model);
