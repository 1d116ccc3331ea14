//! Argument parsing for the sorted-set commands, in the order Redis checks
//! (the first error Redis would report is the one we report).

use super::algebra::{Aggregate, Algebra, Op, Output};
use super::pop::{Pop, Shape};
use super::range::{parse_lex_range, parse_score_range, Span};
use super::{Add, AddFlags, Cmd, RangeCmd};
use crate::cmd::args::parse_timeout;
use crate::cmd::hashes::MAX_RANDOM_REPLY;
use crate::cmd::lists::mpop_args;
use crate::cmd::{is, parse_int, scan, Args, CmdError, Command, Row};
use crate::util::numbers::string2d;

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::ZSets(c))
}

fn float(b: &[u8]) -> Result<f64, CmdError> {
    string2d(b).ok_or(CmdError::NotFloat)
}

/// ZADD's parser (GEOADD hands it the encoded positions).
pub fn parse_zadd(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let rest = a.rest();
    let mut f = AddFlags::default();
    let mut i = 0;
    while let Some(w) = rest.get(i) {
        match w.to_ascii_uppercase().as_slice() {
            b"NX" => f.nx = true,
            b"XX" => f.xx = true,
            b"GT" => f.gt = true,
            b"LT" => f.lt = true,
            b"CH" => f.ch = true,
            b"INCR" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let args = &rest[i..];
    if args.is_empty() || args.len() % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::ZaddNxXx);
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::ZaddGtLtNx);
    }
    if f.incr && args.len() > 2 {
        return Err(CmdError::ZaddIncrPair);
    }
    let pairs = args
        .chunks_exact(2)
        .map(|p| Ok((float(&p[0])?, p[1].clone())))
        .collect::<Result<Vec<_>, CmdError>>()?;
    let event = if f.incr { "zincr" } else { "zadd" };
    cmd(Cmd::Add(Add {
        key,
        flags: f,
        pairs,
        event,
    }))
}

fn parse_zincrby(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let by = float(&a.bytes()?)?;
    let member = a.bytes()?;
    cmd(Cmd::Add(Add {
        key,
        flags: AddFlags {
            incr: true,
            ..AddFlags::default()
        },
        pairs: vec![(by, member)],
        event: "zincr",
    }))
}

fn parse_zrem(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::Rem(key, a.rest()))
}

fn parse_zcard(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Card(a.bytes()?))
}

fn parse_zcount(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let span = parse_score_range(&a.bytes()?, &a.bytes()?)?;
    cmd(Cmd::Count(key, span))
}

fn parse_zlexcount(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let span = parse_lex_range(&a.bytes()?, &a.bytes()?)?;
    cmd(Cmd::Count(key, span))
}

fn parse_zscore(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Score(a.bytes()?, a.bytes()?))
}

fn parse_zmscore(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::MScore(key, a.rest()))
}

fn parse_zrank(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Rank(a.bytes()?, a.bytes()?, false))
}

fn parse_zrevrank(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Rank(a.bytes()?, a.bytes()?, true))
}

/// What a ZRANGE spelling fixes in advance.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// Redis's `zrangeGenericCommand` parsing: options after `key min max`
/// (after `dst src min max` for ZRANGESTORE), then conflicts, then the
/// range itself.
fn range_cmd(
    mut a: Args<'_>,
    store: bool,
    fixed: Kind,
    fixed_rev: Option<bool>,
) -> Result<Command, CmdError> {
    let dst = if store { Some(a.bytes()?) } else { None };
    let key = a.bytes()?;
    let (mut min, mut max) = (a.bytes()?, a.bytes()?);
    let rest = a.rest();
    let (mut kind, mut rev) = (fixed, fixed_rev);
    let (mut withscores, mut limit) = (false, None);
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        let left = rest.len() - i - 1;
        if !store && is(w, "WITHSCORES") {
            withscores = true;
        } else if is(w, "LIMIT") && left >= 2 {
            limit = Some((parse_int(&rest[i + 1])?, parse_int(&rest[i + 2])?));
            i += 2;
        } else if rev.is_none() && is(w, "REV") {
            rev = Some(true);
        } else if kind == Kind::Auto && is(w, "BYLEX") {
            kind = Kind::Lex;
        } else if kind == Kind::Auto && is(w, "BYSCORE") {
            kind = Kind::Score;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let rev = rev.unwrap_or(false);
    if kind == Kind::Auto {
        kind = Kind::Rank;
    }
    if limit.is_some() && kind == Kind::Rank {
        return Err(CmdError::LimitNeedsByScore);
    }
    if withscores && kind == Kind::Lex {
        return Err(CmdError::WithscoresByLex);
    }
    if rev && kind != Kind::Rank {
        // The range is given as max, min.
        std::mem::swap(&mut min, &mut max);
    }
    let span = match kind {
        Kind::Score => parse_score_range(&min, &max)?,
        Kind::Lex => parse_lex_range(&min, &max)?,
        _ => Span::Rank(parse_int(&min)?, parse_int(&max)?),
    };
    cmd(Cmd::Range(Box::new(RangeCmd {
        key,
        dst,
        span,
        rev,
        limit,
        withscores,
    })))
}

fn parse_zrange(a: Args<'_>) -> Result<Command, CmdError> {
    range_cmd(a, false, Kind::Auto, None)
}

fn parse_zrangestore(a: Args<'_>) -> Result<Command, CmdError> {
    range_cmd(a, true, Kind::Auto, None)
}

fn parse_zrevrange(a: Args<'_>) -> Result<Command, CmdError> {
    range_cmd(a, false, Kind::Rank, Some(true))
}

fn parse_zrangebyscore(a: Args<'_>) -> Result<Command, CmdError> {
    range_cmd(a, false, Kind::Score, Some(false))
}

fn parse_zrevrangebyscore(a: Args<'_>) -> Result<Command, CmdError> {
    range_cmd(a, false, Kind::Score, Some(true))
}

fn parse_zrangebylex(a: Args<'_>) -> Result<Command, CmdError> {
    range_cmd(a, false, Kind::Lex, Some(false))
}

fn parse_zrevrangebylex(a: Args<'_>) -> Result<Command, CmdError> {
    range_cmd(a, false, Kind::Lex, Some(true))
}

fn parse_zremrangebyrank(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let span = Span::Rank(parse_int(&a.bytes()?)?, parse_int(&a.bytes()?)?);
    cmd(Cmd::RemRange(key, span))
}

fn parse_zremrangebyscore(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let span = parse_score_range(&a.bytes()?, &a.bytes()?)?;
    cmd(Cmd::RemRange(key, span))
}

fn parse_zremrangebylex(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let span = parse_lex_range(&a.bytes()?, &a.bytes()?)?;
    cmd(Cmd::RemRange(key, span))
}

fn zpop(mut a: Args<'_>, max: bool) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let rest = a.rest();
    let (count, shape) = match rest.as_slice() {
        [] => (1, Shape::One),
        [n] => {
            let n = parse_int(n)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(CmdError::NotPositive)?;
            (n, Shape::Counted)
        }
        _ => return Err(CmdError::Syntax),
    };
    cmd(Cmd::Pop(Pop {
        keys: vec![key],
        max,
        shape,
        count,
        block: None,
    }))
}

fn parse_zpopmin(a: Args<'_>) -> Result<Command, CmdError> {
    zpop(a, false)
}

fn parse_zpopmax(a: Args<'_>) -> Result<Command, CmdError> {
    zpop(a, true)
}

fn bzpop(a: Args<'_>, max: bool) -> Result<Command, CmdError> {
    let mut keys = a.rest();
    let timeout = keys.pop().ok_or(CmdError::Syntax)?;
    let timeout = parse_timeout(&timeout)?;
    cmd(Cmd::Pop(Pop {
        keys,
        max,
        shape: Shape::Keyed,
        count: 1,
        block: Some(timeout),
    }))
}

fn parse_bzpopmin(a: Args<'_>) -> Result<Command, CmdError> {
    bzpop(a, false)
}

fn parse_bzpopmax(a: Args<'_>) -> Result<Command, CmdError> {
    bzpop(a, true)
}

fn min_max(b: &[u8]) -> Result<bool, CmdError> {
    if is(b, "MIN") {
        Ok(false)
    } else if is(b, "MAX") {
        Ok(true)
    } else {
        Err(CmdError::Syntax)
    }
}

fn parse_zmpop(a: Args<'_>) -> Result<Command, CmdError> {
    let (keys, max, count) = mpop_args(a, min_max)?;
    cmd(Cmd::Pop(Pop {
        keys,
        max,
        shape: Shape::Multi,
        count,
        block: None,
    }))
}

fn parse_bzmpop(mut a: Args<'_>) -> Result<Command, CmdError> {
    let timeout = a.bytes()?;
    let (keys, max, count) = mpop_args(a, min_max)?;
    let timeout = parse_timeout(&timeout)?;
    cmd(Cmd::Pop(Pop {
        keys,
        max,
        shape: Shape::Multi,
        count,
        block: Some(timeout),
    }))
}

fn parse_zrandmember(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let Some(count) = a.next() else {
        return cmd(Cmd::RandMember(key, None));
    };
    let count = parse_int(&count)?;
    if count == i64::MIN {
        return Err(CmdError::LongOutOfRange);
    }
    let withscores = match a.rest().as_slice() {
        [] => false,
        [w] if is(w, "WITHSCORES") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::ValueOutOfRange);
    }
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_REPLY {
        return Err(CmdError::ValueOutOfRange);
    }
    cmd(Cmd::RandMember(key, Some((count, withscores))))
}

/// `numkeys key [key ...]` then the options of `op` (Redis checks the
/// options only after the keys' types; so do we, in execute).
fn algebra(
    mut a: Args<'_>,
    name: &'static str,
    op: Op,
    store: bool,
    card: bool,
) -> Result<Command, CmdError> {
    let dst = if store { Some(a.bytes()?) } else { None };
    let numkeys = parse_int(&a.bytes()?)?;
    if numkeys < 1 {
        return Err(CmdError::NoInputKeys(name));
    }
    let rest = a.rest();
    let n = numkeys as usize;
    if numkeys as u64 > rest.len() as u64 {
        return Err(CmdError::Syntax);
    }
    let keys = rest[..n].to_vec();
    let opts = &rest[n..];
    let mut alg = Algebra {
        op,
        keys,
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        bad: None,
        output: match dst {
            Some(d) => Output::Store(d),
            None if card => Output::Card(0),
            None => Output::Reply(false),
        },
    };
    let mut options = || {
        let mut i = 0;
        while i < opts.len() {
            let left = opts.len() - i;
            let w = &opts[i];
            if op != Op::Diff && !card && left > n && is(w, "WEIGHTS") {
                for (j, weight) in opts[i + 1..=i + n].iter().enumerate() {
                    alg.weights[j] = string2d(weight).ok_or(CmdError::WeightNotFloat)?;
                }
                i += n + 1;
            } else if op != Op::Diff && !card && left >= 2 && is(w, "AGGREGATE") {
                let v = &opts[i + 1];
                alg.aggregate = if is(v, "SUM") {
                    Aggregate::Sum
                } else if is(v, "MIN") {
                    Aggregate::Min
                } else if is(v, "MAX") {
                    Aggregate::Max
                } else {
                    return Err(CmdError::Syntax);
                };
                i += 2;
            } else if !store && !card && is(w, "WITHSCORES") {
                alg.output = Output::Reply(true);
                i += 1;
            } else if card && left >= 2 && is(w, "LIMIT") {
                let limit = parse_int(&opts[i + 1])
                    .ok()
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or(CmdError::LimitNegative)?;
                alg.output = Output::Card(limit);
                i += 2;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(())
    };
    // Redis reports a bad option only after checking the keys' types.
    alg.bad = options().err();
    cmd(Cmd::Algebra(Box::new(alg)))
}

fn parse_zunion(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, "zunion", Op::Union, false, false)
}

fn parse_zinter(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, "zinter", Op::Inter, false, false)
}

fn parse_zdiff(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, "zdiff", Op::Diff, false, false)
}

fn parse_zunionstore(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, "zunionstore", Op::Union, true, false)
}

fn parse_zinterstore(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, "zinterstore", Op::Inter, true, false)
}

fn parse_zdiffstore(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, "zdiffstore", Op::Diff, true, false)
}

fn parse_zintercard(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, "zintercard", Op::Inter, false, true)
}

fn parse_zscan(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let cursor = scan::parse_cursor(&a.bytes()?)?;
    cmd(Cmd::Scan(key, cursor, a.rest()))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("zadd", parse_zadd),
    ("zincrby", parse_zincrby),
    ("zrem", parse_zrem),
    ("zcard", parse_zcard),
    ("zcount", parse_zcount),
    ("zlexcount", parse_zlexcount),
    ("zscore", parse_zscore),
    ("zmscore", parse_zmscore),
    ("zrank", parse_zrank),
    ("zrevrank", parse_zrevrank),
    ("zrange", parse_zrange),
    ("zrangestore", parse_zrangestore),
    ("zrevrange", parse_zrevrange),
    ("zrangebyscore", parse_zrangebyscore),
    ("zrevrangebyscore", parse_zrevrangebyscore),
    ("zrangebylex", parse_zrangebylex),
    ("zrevrangebylex", parse_zrevrangebylex),
    ("zremrangebyrank", parse_zremrangebyrank),
    ("zremrangebyscore", parse_zremrangebyscore),
    ("zremrangebylex", parse_zremrangebylex),
    ("zpopmin", parse_zpopmin),
    ("zpopmax", parse_zpopmax),
    ("bzpopmin", parse_bzpopmin),
    ("bzpopmax", parse_bzpopmax),
    ("zmpop", parse_zmpop),
    ("bzmpop", parse_bzmpop),
    ("zrandmember", parse_zrandmember),
    ("zunion", parse_zunion),
    ("zinter", parse_zinter),
    ("zdiff", parse_zdiff),
    ("zunionstore", parse_zunionstore),
    ("zinterstore", parse_zinterstore),
    ("zdiffstore", parse_zdiffstore),
    ("zintercard", parse_zintercard),
    ("zscan", parse_zscan),
];

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn argv(words: &str) -> Vec<Bytes> {
        words
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn zadd_checks_in_redis_order() {
        let run = |w: &str| parse_zadd(Args::new(&argv(w))).err();
        assert_eq!(run("k NX XX 1 a"), Some(CmdError::ZaddNxXx));
        assert_eq!(run("k GT LT 1 a"), Some(CmdError::ZaddGtLtNx));
        assert_eq!(run("k INCR 1 a 2 b"), Some(CmdError::ZaddIncrPair));
        assert_eq!(run("k 1 a 2"), Some(CmdError::Syntax));
        assert_eq!(run("k x a"), Some(CmdError::NotFloat));
        assert_eq!(run("k CH 1 a"), None);
    }
}
