//! Hash commands: HSET, HSETNX, HMSET, HGET, HMGET, HDEL, HLEN, HSTRLEN,
//! HEXISTS, HKEYS, HVALS, HGETALL, HINCRBY, HINCRBYFLOAT, HRANDFIELD, HSCAN.
//!
//! A hash (`store_api::value::Hash`) is a pack while small and a table once
//! `hash-max-listpack-*` is exceeded, changed in place under its key's
//! stripe. A hash whose last field is deleted is deleted.

use crate::db::events::class;
use crate::db::journal;
use bytes::Bytes;
use store_api::value::{shared, Hash};
use store_api::{Coll, Store, Value};

use super::scan::{self, ScanOpts};
use super::value::{fresh, hash_of};
use super::{is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::util::longdouble;
use crate::util::numbers::string2ll;
use crate::util::rand;

/// Hash commands.
#[derive(Debug)]
pub enum Cmd {
    /// `HSET key field value [field value ...]` (and HMSET, which answers OK).
    Set(Bytes, Vec<(Bytes, Bytes)>, SetReply),
    /// `HSETNX key field value`
    SetNx(Bytes, Bytes, Bytes),
    /// `HGET key field`
    Get(Bytes, Bytes),
    /// `HMGET key field [field ...]`
    MGet(Bytes, Vec<Bytes>),
    /// `HDEL key field [field ...]`
    Del(Bytes, Vec<Bytes>),
    /// `HLEN key`
    Len(Bytes),
    /// `HSTRLEN key field`
    StrLen(Bytes, Bytes),
    /// `HEXISTS key field`
    Exists(Bytes, Bytes),
    /// `HKEYS`, `HVALS`, `HGETALL`
    All(Bytes, Part),
    /// `HINCRBY key field increment`
    IncrBy(Bytes, Bytes, i64),
    /// `HINCRBYFLOAT key field increment`
    IncrByFloat(Bytes, Bytes, Bytes),
    /// `HRANDFIELD key [count [WITHVALUES]]`
    RandField(Bytes, Option<(i64, bool)>),
    /// `HSCAN key cursor [MATCH pattern] [COUNT count]`
    Scan(Bytes, u64, Vec<Bytes>),
}

/// What HSET answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetReply {
    /// HSET: the number of new fields.
    Added,
    /// HMSET: OK.
    Ok,
}

/// Which half of each pair HKEYS/HVALS/HGETALL return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// HKEYS.
    Fields,
    /// HVALS.
    Values,
    /// HGETALL (a map in RESP3).
    Both,
}

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Hashes(c))
}

fn pairs(rest: Vec<Bytes>, name: &'static str) -> Result<Vec<(Bytes, Bytes)>, CmdError> {
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(CmdError::WrongArity(name));
    }
    Ok(rest
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect())
}

fn parse_hset(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::Set(key, pairs(a.rest(), "hset")?, SetReply::Added))
}

fn parse_hmset(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::Set(key, pairs(a.rest(), "hmset")?, SetReply::Ok))
}

fn parse_hsetnx(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::SetNx(a.bytes()?, a.bytes()?, a.bytes()?))
}

fn parse_hget(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Get(a.bytes()?, a.bytes()?))
}

fn parse_hmget(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::MGet(key, a.rest()))
}

fn parse_hdel(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::Del(key, a.rest()))
}

fn parse_hlen(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Len(a.bytes()?))
}

fn parse_hstrlen(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::StrLen(a.bytes()?, a.bytes()?))
}

fn parse_hexists(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Exists(a.bytes()?, a.bytes()?))
}

fn parse_hkeys(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::All(a.bytes()?, Part::Fields))
}

fn parse_hvals(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::All(a.bytes()?, Part::Values))
}

fn parse_hgetall(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::All(a.bytes()?, Part::Both))
}

fn parse_hincrby(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (key, field) = (a.bytes()?, a.bytes()?);
    cmd(Cmd::IncrBy(key, field, a.int()?))
}

fn parse_hincrbyfloat(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::IncrByFloat(a.bytes()?, a.bytes()?, a.bytes()?))
}

/// Redis's `hrandfieldCommand` argument checks, in its order.
fn parse_hrandfield(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let Some(count) = a.next() else {
        return cmd(Cmd::RandField(key, None));
    };
    let count = parse_int(&count)?;
    if count == i64::MIN {
        return Err(CmdError::LongOutOfRange);
    }
    let withvalues = match a.rest().as_slice() {
        [] => false,
        [w] if is(w, "WITHVALUES") => true,
        _ => return Err(CmdError::Syntax),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::ValueOutOfRange);
    }
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_REPLY {
        return Err(CmdError::ValueOutOfRange);
    }
    cmd(Cmd::RandField(key, Some((count, withvalues))))
}

fn parse_hscan(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let cursor = scan::parse_cursor(&a.bytes()?)?;
    cmd(Cmd::Scan(key, cursor, a.rest()))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("hset", parse_hset),
    ("hmset", parse_hmset),
    ("hsetnx", parse_hsetnx),
    ("hget", parse_hget),
    ("hmget", parse_hmget),
    ("hdel", parse_hdel),
    ("hlen", parse_hlen),
    ("hstrlen", parse_hstrlen),
    ("hexists", parse_hexists),
    ("hkeys", parse_hkeys),
    ("hvals", parse_hvals),
    ("hgetall", parse_hgetall),
    ("hincrby", parse_hincrby),
    ("hincrbyfloat", parse_hincrbyfloat),
    ("hrandfield", parse_hrandfield),
    ("hscan", parse_hscan),
];

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

/// Change the hash at `key` in place, creating it when `create`; `f` sees
/// the hash locked for writing and says whether it changed it. A hash left
/// empty is deleted.
fn with_hash<S: Store, R>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    create: bool,
    event: &'static str,
    f: impl FnOnce(&mut Hash) -> Result<(R, bool), CmdError>,
) -> Result<Option<R>, CmdError> {
    let (mut changed, mut emptied) = (false, false);
    let r = ctx.ks().mutate(key, ctx.now, |slot| {
        let (hash, created) = match hash_of(slot.entry())? {
            Some(h) => (h.clone(), false),
            None if create => (shared(Hash::default()), true),
            None => return Ok(None),
        };
        let mut h = hash.write();
        let r;
        (r, changed) = f(&mut h)?;
        if changed {
            slot.changed();
        }
        if created && !h.is_empty() {
            slot.put(fresh(Value::Coll(Coll::Hash(hash.clone()))));
        } else if !created && h.is_empty() {
            slot.remove();
            emptied = true;
        }
        Ok(Some(r))
    })?;
    if changed {
        ctx.notify(class::HASH, event, key);
    }
    if emptied {
        ctx.notify(class::GENERIC, "del", key);
    }
    Ok(r)
}

/// Read the hash at `key` (`None` when absent).
fn read_hash<S: Store, R>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    mut f: impl FnMut(Option<&Hash>) -> R,
) -> Result<R, CmdError> {
    ctx.ks().read(key, ctx.now, |e| {
        Ok(match hash_of(e)? {
            Some(h) => f(Some(&h.read())),
            None => f(None),
        })
    })
}

/// Execute a hash command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let limits = ctx.config.encodings.hash();
    match cmd {
        Cmd::Set(key, pairs, reply) => {
            let added = with_hash(ctx, &key, true, "hset", |h| {
                Ok((
                    pairs.iter().filter(|(f, v)| h.insert(f, v, limits)).count(),
                    true,
                ))
            })?;
            Ok(match reply {
                SetReply::Added => Frame::Integer(added.unwrap_or(0) as i64),
                SetReply::Ok => Frame::ok(),
            })
        }
        Cmd::SetNx(key, field, value) => {
            let set = with_hash(ctx, &key, true, "hset", |h| {
                let set = !h.contains(&field) && h.insert(&field, &value, limits);
                Ok((set, set))
            })?;
            Ok(Frame::Integer(i64::from(set == Some(true))))
        }
        Cmd::Get(key, field) => read_hash(ctx, &key, |h| {
            h.and_then(|h| h.get(&field)).map_or(Frame::Null, bulk)
        }),
        Cmd::MGet(key, fields) => read_hash(ctx, &key, |h| {
            Frame::Array(
                fields
                    .iter()
                    .map(|f| h.and_then(|h| h.get(f)).map_or(Frame::Null, bulk))
                    .collect(),
            )
        }),
        Cmd::Del(key, fields) => {
            let n = with_hash(ctx, &key, false, "hdel", |h| {
                let n = fields.iter().filter(|f| h.remove(f)).count();
                Ok((n, n > 0))
            })?;
            Ok(Frame::Integer(n.unwrap_or(0) as i64))
        }
        Cmd::Len(key) => read_hash(ctx, &key, |h| Frame::Integer(h.map_or(0, Hash::len) as i64)),
        Cmd::StrLen(key, field) => read_hash(ctx, &key, |h| {
            Frame::Integer(h.and_then(|h| h.get(&field)).map_or(0, <[u8]>::len) as i64)
        }),
        Cmd::Exists(key, field) => read_hash(ctx, &key, |h| {
            Frame::Integer(i64::from(h.is_some_and(|h| h.contains(&field))))
        }),
        Cmd::All(key, part) => read_hash(ctx, &key, |h| all(h, part)),
        Cmd::IncrBy(key, field, by) => {
            let n = with_hash(ctx, &key, true, "hincrby", |h| {
                let old = match h.get(&field) {
                    Some(v) => string2ll(v).ok_or(CmdError::HashNotInteger)?,
                    None => 0,
                };
                let n = old.checked_add(by).ok_or(CmdError::Overflow)?;
                h.insert(&field, itoa::Buffer::new().format(n).as_bytes(), limits);
                Ok((n, true))
            })?;
            Ok(Frame::Integer(n.unwrap_or(0)))
        }
        Cmd::IncrByFloat(key, field, by) => {
            let by = longdouble::parse(&by).ok_or(CmdError::NotFloat)?;
            if !by.is_finite() {
                return Err(CmdError::IncrNanOrInfinity);
            }
            let text = with_hash(ctx, &key, true, "hincrbyfloat", |h| {
                let old = match h.get(&field) {
                    Some(v) => longdouble::parse(v).ok_or(CmdError::HashNotFloat)?,
                    None => longdouble::F80::ZERO,
                };
                let sum = longdouble::add(old, by);
                if !sum.is_finite() {
                    return Err(CmdError::NanOrInfinity);
                }
                let text = longdouble::format_human(sum);
                h.insert(&field, text.as_bytes(), limits);
                Ok((text, true))
            })?;
            if let Some(text) = &text {
                journal::rewrite(|| {
                    vec![journal::words(&[b"HSET", &key, &field, text.as_bytes()])]
                });
            }
            Ok(Frame::Bulk(Bytes::from(text.unwrap_or_default())))
        }
        Cmd::RandField(key, count) => rand_field(ctx, &key, count),
        Cmd::Scan(key, cursor, opts) => hscan(ctx, &key, cursor, &opts),
    }
}

fn all(h: Option<&Hash>, part: Part) -> Frame {
    let Some(h) = h else {
        return match part {
            Part::Both => Frame::Map(vec![]),
            _ => Frame::Array(vec![]),
        };
    };
    match part {
        Part::Fields => Frame::Array(h.iter().map(|(f, _)| bulk(f)).collect()),
        Part::Values => Frame::Array(h.iter().map(|(_, v)| bulk(v)).collect()),
        Part::Both => Frame::Map(h.iter().map(|(f, v)| (bulk(f), bulk(v))).collect()),
    }
}

/// Most elements a negative-count HRANDFIELD, SRANDMEMBER or ZRANDMEMBER
/// may ask for. Redis 7.0 tries to build any such reply and dies for counts
/// near `-LONG_MAX`; FlashKV answers `ERR value is out of range` beyond
/// this, so memory stays bounded.
pub const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// The positions HRANDFIELD, SRANDMEMBER and ZRANDMEMBER pick from a
/// collection of `len` for `count`: a negative count, that many uniform
/// picks with repeats; a count covering the collection, all of it in
/// order; a smaller one, that many distinct positions.
pub fn random_positions(len: usize, count: i64) -> Vec<usize> {
    if count < 0 {
        (0..count.unsigned_abs())
            .map(|_| rand::below(len))
            .collect()
    } else if count as usize >= len {
        (0..len).collect()
    } else {
        distinct(len, count as usize)
    }
}

/// HRANDFIELD, with Redis's cases: no count (one field or null), a
/// negative count (repeats allowed), a count covering the hash (all of
/// it), and a smaller count (distinct fields).
fn rand_field<S: Store>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    count: Option<(i64, bool)>,
) -> Result<Frame, CmdError> {
    read_hash(ctx, key, |h| {
        let Some((count, withvalues)) = count else {
            return h
                .filter(|h| !h.is_empty())
                .and_then(|h| h.get_index(rand::below(h.len())))
                .map_or(Frame::Null, |(f, _)| bulk(f));
        };
        let Some(h) = h else {
            return Frame::Array(vec![]);
        };
        let picked: Vec<(&[u8], &[u8])> = random_positions(h.len(), count)
            .into_iter()
            .map(|i| h.get_index(i).unwrap_or_default())
            .collect();
        pairs_reply(picked, withvalues)
    })
}

/// `n` distinct positions in `0..len` (`n < len`), in random order.
pub fn distinct(len: usize, n: usize) -> Vec<usize> {
    let mut chosen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let i = rand::below(len);
        if chosen.insert(i) {
            out.push(i);
        }
    }
    out
}

/// Fields (and values: pairs in RESP3, flat in RESP2) as HRANDFIELD sends
/// them.
fn pairs_reply(picked: Vec<(&[u8], &[u8])>, withvalues: bool) -> Frame {
    if !withvalues {
        return Frame::Array(picked.into_iter().map(|(f, _)| bulk(f)).collect());
    }
    Frame::Pairs(
        picked
            .into_iter()
            .map(|(f, v)| (bulk(f), bulk(v)))
            .collect(),
    )
}

fn hscan<S: Store>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    cursor: u64,
    opts: &[Bytes],
) -> Result<Frame, CmdError> {
    let found = ctx
        .ks()
        .read(key, ctx.now, |e| hash_of(e).map(|h| h.cloned()))?;
    let Some(hash) = found else {
        return Ok(scan::reply(0, vec![]));
    };
    let opts = ScanOpts::parse(opts, false)?;
    let h = hash.read();
    let (pairs, next) = h.scan(cursor, opts.count);
    let mut items = Vec::with_capacity(pairs.len() * 2);
    for (f, v) in pairs {
        if opts.matches(f) {
            items.push(bulk(f));
            items.push(bulk(v));
        }
    }
    Ok(scan::reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    #[test]
    fn set_get_delete() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["HSET", "h", "a", "1", "b", "2"]), int(2));
        assert_eq!(t.run(&["HSET", "h", "a", "3", "c", "4"]), int(1));
        assert_eq!(t.run(&["HMSET", "h", "d", "5"]), ok());
        assert_eq!(t.run(&["HSETNX", "h", "d", "6"]), int(0));
        assert_eq!(t.run(&["HGET", "h", "a"]), bulk("3"));
        assert_eq!(
            t.run(&["HMGET", "h", "a", "zz"]),
            arr(vec![bulk("3"), Frame::Null])
        );
        assert_eq!(t.run(&["HLEN", "h"]), int(4));
        assert_eq!(t.run(&["HSTRLEN", "h", "d"]), int(1));
        assert_eq!(
            t.run(&["HGETALL", "h"]),
            Frame::Map(vec![
                (bulk("a"), bulk("3")),
                (bulk("b"), bulk("2")),
                (bulk("c"), bulk("4")),
                (bulk("d"), bulk("5"))
            ])
        );
        assert_eq!(t.run(&["HDEL", "h", "a", "b", "c", "d", "zz"]), int(4));
        assert_eq!(
            t.run(&["EXISTS", "h"]),
            int(0),
            "an emptied hash is deleted"
        );
        assert_eq!(
            t.run(&["HSET", "h", "a"]),
            err("ERR wrong number of arguments for 'hset' command")
        );
    }

    #[test]
    fn increments() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["HINCRBY", "h", "n", "5"]), int(5));
        assert_eq!(
            t.run(&["HINCRBY", "h", "n", "9223372036854775807"]),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(t.run(&["HINCRBYFLOAT", "h", "f", "10.5"]), bulk("10.5"));
        assert_eq!(t.run(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("10.6"));
        assert_eq!(
            t.run(&["HINCRBY", "h", "f", "1"]),
            err("ERR hash value is not an integer")
        );
        t.run(&["HSET", "h", "s", "abc"]);
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "s", "1"]),
            err("ERR hash value is not a float")
        );
        assert_eq!(
            t.run(&["HINCRBYFLOAT", "h", "s", "x"]),
            err("ERR value is not a valid float")
        );
    }

    #[test]
    fn encodings_follow_the_thresholds() {
        let mut t = TestDb::new();
        t.run(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]);
        t.run(&["HSET", "h", "a", "1", "b", "2"]);
        assert_eq!(t.run(&["OBJECT", "ENCODING", "h"]), bulk("listpack"));
        t.run(&["HSET", "h", "c", "3"]);
        assert_eq!(t.run(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
    }

    #[test]
    fn random_fields_and_scans() {
        let mut t = TestDb::new();
        t.run(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        let Frame::Array(v) = t.run(&["HRANDFIELD", "h", "-5"]) else {
            panic!()
        };
        assert_eq!(v.len(), 5);
        let Frame::Array(v) = t.run(&["HRANDFIELD", "h", "2"]) else {
            panic!()
        };
        assert_eq!(v.len(), 2);
        assert_ne!(v[0], v[1]);
        assert_eq!(t.run(&["HRANDFIELD", "h", "0"]), arr(vec![]));
        assert_eq!(t.run(&["HRANDFIELD", "nokey"]), Frame::Null);
        assert_eq!(
            t.run(&["HRANDFIELD", "h", "1", "WITHVALUE"]),
            err("ERR syntax error")
        );
        let Frame::Array(scan) = t.run(&["HSCAN", "h", "0", "MATCH", "a"]) else {
            panic!()
        };
        assert_eq!(scan, vec![bulk("0"), arr(vec![bulk("a"), bulk("1")])]);
        assert_eq!(
            t.run(&["HSCAN", "nokey", "0", "COUNT", "0"]),
            arr(vec![bulk("0"), arr(vec![])])
        );
        assert_eq!(
            t.run(&["HSCAN", "h", "0", "COUNT", "0"]),
            err("ERR syntax error")
        );
    }
}
