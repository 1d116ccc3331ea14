//! Sorted-set commands: ZADD, ZINCRBY, ZREM, ZCARD, ZCOUNT, ZLEXCOUNT,
//! ZSCORE, ZMSCORE, ZRANK, ZREVRANK, the ZRANGE family (and ZRANGESTORE),
//! ZREMRANGEBY*, ZRANDMEMBER, ZSCAN here; the pops (and their blocking
//! forms) in [`pop`]; ZUNION, ZINTER, ZDIFF, their STORE forms and
//! ZINTERCARD in [`algebra`]; range parsing in [`range`].
//!
//! A sorted set (`store_api::value::ZSet`) is a pack while small and a
//! member table plus a ranked order once large, changed in place under its
//! key's stripe like every collection. Every range turns into a run of
//! ranks first (O(log n)), then the run is read or removed.

mod algebra;
mod parse;
pub mod pop;
pub mod range;

use bytes::Bytes;
use store_api::value::{shared, ZLimits, ZSet};
use store_api::{Coll, Entry, Store, Value};

use super::hashes::random_positions;
use super::scan::{self, ScanOpts};
use super::value::fresh;
use super::{CmdError, Ctx, Reply};
use crate::db::events::class;
use crate::protocol::Frame;
use crate::util::numbers::{d2string, fmt_g17};
use crate::util::rand;
pub use algebra::store_result;
pub use parse::{parse_zadd, ROWS};
pub use pop::serve_ready;
use range::{ranks, window, Span};

/// Sorted-set commands.
#[derive(Debug)]
pub enum Cmd {
    /// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`
    /// and `ZINCRBY key increment member`.
    Add(Add),
    /// `ZREM key member [member ...]`
    Rem(Bytes, Vec<Bytes>),
    /// `ZCARD key`
    Card(Bytes),
    /// `ZCOUNT key min max`, `ZLEXCOUNT key min max`.
    Count(Bytes, Span),
    /// `ZSCORE key member`
    Score(Bytes, Bytes),
    /// `ZMSCORE key member [member ...]`
    MScore(Bytes, Vec<Bytes>),
    /// `ZRANK` / `ZREVRANK key member` (true: from the top).
    Rank(Bytes, Bytes, bool),
    /// The ZRANGE family and ZRANGESTORE.
    Range(Box<RangeCmd>),
    /// `ZREMRANGEBYRANK|SCORE|LEX key a b`.
    RemRange(Bytes, Span),
    /// `ZPOPMIN|ZPOPMAX`, `ZMPOP`, `BZPOPMIN|BZPOPMAX`, `BZMPOP`.
    Pop(pop::Pop),
    /// `ZRANDMEMBER key [count [WITHSCORES]]`
    RandMember(Bytes, Option<(i64, bool)>),
    /// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD.
    Algebra(Box<algebra::Algebra>),
    /// `ZSCAN key cursor [MATCH pattern] [COUNT count]`
    Scan(Bytes, u64, Vec<Bytes>),
}

/// How ZADD (and ZINCRBY) treats each member.
#[derive(Debug, Default, Clone, Copy)]
pub struct AddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update to a greater score.
    pub gt: bool,
    /// Only update to a lesser score.
    pub lt: bool,
    /// Count changed members too.
    pub ch: bool,
    /// Add to the score (reply with the new score).
    pub incr: bool,
}

/// A parsed ZADD.
#[derive(Debug)]
pub struct Add {
    key: Bytes,
    flags: AddFlags,
    pairs: Vec<(f64, Bytes)>,
    /// The event name (`zadd`, or `zincr` for INCR and ZINCRBY).
    event: &'static str,
}

/// A parsed ZRANGE-family command.
#[derive(Debug)]
pub struct RangeCmd {
    key: Bytes,
    /// ZRANGESTORE's destination.
    dst: Option<Bytes>,
    span: Span,
    rev: bool,
    /// LIMIT offset count.
    limit: Option<(i64, i64)>,
    withscores: bool,
}

/// The limits of the configuration.
pub fn limits<S: Store>(ctx: &Ctx<'_, S>) -> ZLimits {
    ZLimits {
        max_entries: ctx.config.encodings.zset_max_listpack_entries,
        max_value: ctx.config.encodings.zset_max_listpack_value,
    }
}

/// The sorted set under a live entry (`None` when absent), or WRONGTYPE.
pub fn zset_of(e: Option<&Entry>) -> Result<Option<&store_api::Shared<ZSet>>, CmdError> {
    match e.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Coll(Coll::ZSet(z))) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

/// A member with its score: an array of two (RESP3) or two flat elements
/// (RESP2), inside [`Frame::Pairs`].
fn scored(m: &[u8], s: f64) -> (Frame, Frame) {
    (bulk(m), Frame::Double(s))
}

/// Members of a run, with scores as pairs when asked.
fn members_reply<'a>(items: impl Iterator<Item = (&'a [u8], f64)>, withscores: bool) -> Frame {
    if withscores {
        Frame::Pairs(items.map(|(m, s)| scored(m, s)).collect())
    } else {
        Frame::Array(super::value::bulks(items.map(|(m, _)| m)))
    }
}

/// Read the sorted set at `key` (`None` when absent).
fn read_zset<S: Store, R>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    mut f: impl FnMut(Option<&ZSet>) -> R,
) -> Result<R, CmdError> {
    ctx.ks().read(key, ctx.now, |e| {
        Ok(match zset_of(e)? {
            Some(z) => f(Some(&z.read())),
            None => f(None),
        })
    })
}

/// Change the existing sorted set at `key` in place; a set left empty is
/// deleted. `f` answers (result, changed).
fn with_zset<S: Store, R>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    event: &'static str,
    f: impl FnOnce(&mut ZSet) -> (R, bool),
) -> Result<Option<R>, CmdError> {
    let (mut changed, mut emptied) = (false, false);
    let r = ctx.ks().mutate(key, ctx.now, |slot| {
        let Some(z) = zset_of(slot.entry())?.cloned() else {
            return Ok(None);
        };
        let mut z = z.write();
        let r;
        (r, changed) = f(&mut z);
        if changed {
            slot.changed();
        }
        if z.is_empty() {
            slot.remove();
            emptied = true;
        }
        Ok(Some(r))
    })?;
    if changed {
        ctx.notify(class::ZSET, event, key);
    }
    if emptied {
        ctx.notify(class::GENERIC, "del", key);
    }
    Ok(r)
}

/// Execute a sorted-set command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    let frame = match cmd {
        Cmd::Add(a) => add(ctx, a)?,
        Cmd::Rem(key, members) => {
            let n = with_zset(ctx, &key, "zrem", |z| {
                let n = members.iter().filter(|m| z.remove(m).is_some()).count();
                (n, n > 0)
            })?;
            Frame::Integer(n.unwrap_or(0) as i64)
        }
        Cmd::Card(key) => read_zset(ctx, &key, |z| Frame::Integer(z.map_or(0, ZSet::len) as i64))?,
        Cmd::Count(key, span) => read_zset(ctx, &key, |z| {
            Frame::Integer(z.map_or(0, |z| ranks(z, &span).len()) as i64)
        })?,
        Cmd::Score(key, m) => read_zset(ctx, &key, |z| {
            z.and_then(|z| z.score(&m))
                .map_or(Frame::Null, Frame::Double)
        })?,
        Cmd::MScore(key, ms) => read_zset(ctx, &key, |z| {
            Frame::Array(
                ms.iter()
                    .map(|m| {
                        z.and_then(|z| z.score(m))
                            .map_or(Frame::Null, Frame::Double)
                    })
                    .collect(),
            )
        })?,
        Cmd::Rank(key, m, rev) => read_zset(ctx, &key, |z| {
            z.and_then(|z| Some((z.rank(&m)?.0, z.len())))
                .map_or(Frame::Null, |(r, n)| {
                    Frame::Integer(if rev { n - 1 - r } else { r } as i64)
                })
        })?,
        Cmd::Range(r) if r.dst.is_some() => range_store(ctx, *r)?,
        Cmd::Range(r) => read_zset(ctx, &r.key, |z| match z {
            None => Frame::Array(vec![]),
            Some(z) => {
                let run = selected(z, &r);
                if r.rev {
                    members_reply(z.range(run.start, run.end).rev(), r.withscores)
                } else {
                    members_reply(z.range(run.start, run.end), r.withscores)
                }
            }
        })?,
        Cmd::RemRange(key, span) => {
            let event = match span {
                Span::Rank(..) => "zremrangebyrank",
                Span::Score(..) => "zremrangebyscore",
                Span::Lex(..) => "zremrangebylex",
            };
            let n = with_zset(ctx, &key, event, |z| {
                let run = ranks(z, &span);
                let n = z.remove_range(run.start, run.end).len();
                (n, n > 0)
            })?;
            Frame::Integer(n.unwrap_or(0) as i64)
        }
        Cmd::Pop(p) => return pop::execute(ctx, p),
        Cmd::RandMember(key, count) => rand_member(ctx, &key, count)?,
        Cmd::Algebra(a) => algebra::execute(ctx, *a)?,
        Cmd::Scan(key, cursor, opts) => zscan(ctx, &key, cursor, &opts)?,
    };
    Ok(Reply::Now(frame))
}

/// The ranks a range command selects, LIMIT applied, ascending.
fn selected(z: &ZSet, r: &RangeCmd) -> std::ops::Range<usize> {
    let run = match r.span {
        // A REV rank range counts from the top.
        Span::Rank(start, end) if r.rev => {
            let top = range::rank_range(z.len(), start, end);
            z.len() - top.end..z.len() - top.start
        }
        _ => ranks(z, &r.span),
    };
    match r.limit {
        Some((offset, count)) => window(run, offset, count, r.rev),
        None => run,
    }
}

/// ZADD and ZINCRBY, as Redis's `zaddGenericCommand`: members are applied
/// in order, and a NaN result stops the command with the members before
/// it kept.
fn add<S: Store>(ctx: &mut Ctx<'_, S>, a: Add) -> Result<Frame, CmdError> {
    let limits = limits(ctx);
    let f = a.flags;
    let (ks, now) = (ctx.ks(), ctx.now);
    let mut served = Vec::new();
    let outcome = ks.mutate(&a.key, now, |slot| {
        let (z, created) = match zset_of(slot.entry())? {
            Some(z) => (z.clone(), false),
            None if f.xx => return Ok(None),
            None => {
                // Redis 7.0 looks at the first member only.
                let first = a.pairs.first().map_or(0, |(_, m)| m.len());
                let z = ZSet::with_hint(1, first, limits);
                (shared(z), true)
            }
        };
        let mut zs = z.write();
        let (mut added, mut updated) = (0, 0);
        let (mut last, mut failed) = (None, false);
        for (score, m) in &a.pairs {
            let cur = zs.score(m);
            let new = match (cur, f.incr) {
                (Some(c), true) => c + score,
                _ => *score,
            };
            if new.is_nan() {
                failed = true;
                break;
            }
            match cur {
                Some(_) if f.nx => continue,
                None if f.xx => continue,
                Some(c) if (f.lt && new >= c) || (f.gt && new <= c) => continue,
                Some(c) => {
                    if new != c {
                        zs.insert(m, new, limits);
                        updated += 1;
                    }
                }
                None => {
                    zs.insert(m, new, limits);
                    added += 1;
                }
            }
            last = Some(new);
        }
        zs.trim();
        let mut defer = false;
        if added + updated > 0 {
            slot.changed();
            if created {
                slot.put(fresh(Value::Coll(Coll::ZSet(z.clone()))));
                // Clients blocked on the key are served before anyone
                // else can see it (inside EXEC: right after it).
                if ks.in_transaction() {
                    defer = true;
                } else {
                    pop::serve_waiters(ks, &a.key, &mut zs, &mut served);
                    if zs.is_empty() {
                        slot.remove();
                    }
                }
            }
        }
        Ok(Some((added, updated, last, failed, defer)))
    })?;
    let Some((added, updated, last, failed, defer)) = outcome else {
        return Ok(if f.incr {
            Frame::Null
        } else {
            Frame::Integer(0)
        });
    };
    if added + updated > 0 {
        ctx.notify(class::ZSET, a.event, &a.key);
    }
    for (class, event, key) in &served {
        ctx.notify(*class, event, key);
    }
    if defer {
        ctx.defer_ready(vec![a.key.clone()]);
    }
    if failed {
        return Err(CmdError::ScoreNan);
    }
    Ok(match (f.incr, last) {
        (true, Some(s)) => Frame::Double(s),
        (true, None) => Frame::Null,
        (false, _) if f.ch => Frame::Integer(added + updated),
        (false, _) => Frame::Integer(added),
    })
}

/// ZRANGESTORE: the selected members replace `dst` (deleted when empty).
fn range_store<S: Store>(ctx: &mut Ctx<'_, S>, r: RangeCmd) -> Result<Frame, CmdError> {
    let limits = limits(ctx);
    let dst = r.dst.clone().unwrap_or_default();
    let (ks, now) = (ctx.ks(), ctx.now);
    let guard = ks.lock_keys([&r.key[..], &dst[..]]);
    let picked: Vec<(Vec<u8>, f64)> = ks.read_locked(&guard, &r.key, now, |e| {
        Ok::<_, CmdError>(match zset_of(e)? {
            None => Vec::new(),
            Some(z) => {
                let z = z.read();
                let run = selected(&z, &r);
                let items = z.range(run.start, run.end).map(|(m, s)| (m.to_vec(), s));
                if r.rev {
                    items.rev().collect()
                } else {
                    items.collect()
                }
            }
        })
    })?;
    let n = picked.len();
    let existed = algebra::store_result(ks, &guard, &dst, now, picked, limits);
    drop(guard);
    if n > 0 {
        ctx.notify(class::ZSET, "zrangestore", &dst);
        ctx.defer_ready(vec![dst]);
    } else if existed {
        ctx.notify(class::GENERIC, "del", &dst);
    }
    Ok(Frame::Integer(n as i64))
}

/// ZRANDMEMBER, with Redis's cases (see HRANDFIELD).
fn rand_member<S: Store>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    count: Option<(i64, bool)>,
) -> Result<Frame, CmdError> {
    read_zset(ctx, key, |z| {
        let Some((count, withscores)) = count else {
            return z
                .filter(|z| !z.is_empty())
                .and_then(|z| z.get(rand::below(z.len())))
                .map_or(Frame::Null, |(m, _)| bulk(m));
        };
        let Some(z) = z else {
            return Frame::Array(vec![]);
        };
        let picks = random_positions(z.len(), count);
        members_reply(picks.into_iter().filter_map(|i| z.get(i)), withscores)
    })
}

/// ZSCAN: scores as Redis's scan prints them: a listpack's stored text
/// (`d2string`), a skiplist's score as a long double with `%.17Lg`, which
/// for a double's exact value is `%.17g` (`1.1000000000000001`, `1e+17`,
/// `9.8813129168249309e-323`).
fn zscan<S: Store>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    cursor: u64,
    opts: &[Bytes],
) -> Result<Frame, CmdError> {
    let found = ctx
        .ks()
        .read(key, ctx.now, |e| zset_of(e).map(|z| z.cloned()))?;
    let Some(z) = found else {
        return Ok(scan::reply(0, vec![]));
    };
    let opts = ScanOpts::parse(opts, false)?;
    let z = z.read();
    let packed = z.encoding() == "listpack";
    let (items, next) = z.scan(cursor, opts.count);
    let mut out = Vec::with_capacity(items.len() * 2);
    for (m, s) in items.into_iter().filter(|(m, _)| opts.matches(m)) {
        out.push(bulk(m));
        let text = if packed { d2string(s) } else { fmt_g17(s) };
        out.push(Frame::Bulk(Bytes::from(text)));
    }
    Ok(scan::reply(next, out))
}

#[cfg(test)]
mod tests;
