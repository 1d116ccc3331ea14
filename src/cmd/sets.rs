//! Set commands: SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SPOP,
//! SRANDMEMBER, SMOVE, SINTER, SINTERCARD, SINTERSTORE, SUNION,
//! SUNIONSTORE, SDIFF, SDIFFSTORE, SSCAN.
//!
//! A set (`store_api::value::Set`) is an intset while it holds few enough
//! integers, a table otherwise, changed in place under its key's stripe.
//! Reads of several sets (SINTER...) compute under one snapshot of all of
//! them (`Access::read_all`); the STORE forms lock every key they name.

use crate::db::events::class;
use crate::db::journal;
use bytes::Bytes;
use store_api::value::{shared, Member, Set};
use store_api::{Coll, Entry, Store, Value};

use super::hashes::{random_positions, MAX_RANDOM_REPLY};
use super::scan::{self, ScanOpts};
use super::value::{fresh, set_of};
use super::{is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::util::rand;

/// Set commands.
#[derive(Debug)]
pub enum Cmd {
    /// `SADD key member [member ...]`
    Add(Bytes, Vec<Bytes>),
    /// `SREM key member [member ...]`
    Rem(Bytes, Vec<Bytes>),
    /// `SMEMBERS key`
    Members(Bytes),
    /// `SISMEMBER key member`
    IsMember(Bytes, Bytes),
    /// `SMISMEMBER key member [member ...]`
    MIsMember(Bytes, Vec<Bytes>),
    /// `SCARD key`
    Card(Bytes),
    /// `SPOP key [count]`
    Pop(Bytes, Option<usize>),
    /// `SRANDMEMBER key [count]`
    RandMember(Bytes, Option<i64>),
    /// `SMOVE source destination member`
    Move(Bytes, Bytes, Bytes),
    /// SINTER, SUNION, SDIFF and their STORE forms.
    Algebra(Op, Vec<Bytes>, Option<Bytes>),
    /// `SINTERCARD numkeys key [key ...] [LIMIT limit]`
    InterCard(Vec<Bytes>, usize),
    /// `SSCAN key cursor [MATCH pattern] [COUNT count]`
    Scan(Bytes, u64, Vec<Bytes>),
}

/// Which set operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Members of every set.
    Inter,
    /// Members of any set.
    Union,
    /// Members of the first set and of no other.
    Diff,
}

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Sets(c))
}

fn key_rest(mut a: Args<'_>) -> Result<(Bytes, Vec<Bytes>), CmdError> {
    let key = a.bytes()?;
    Ok((key, a.rest()))
}

fn parse_sadd(a: Args<'_>) -> Result<Command, CmdError> {
    let (k, m) = key_rest(a)?;
    cmd(Cmd::Add(k, m))
}

fn parse_srem(a: Args<'_>) -> Result<Command, CmdError> {
    let (k, m) = key_rest(a)?;
    cmd(Cmd::Rem(k, m))
}

fn parse_smembers(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Members(a.bytes()?))
}

fn parse_sismember(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::IsMember(a.bytes()?, a.bytes()?))
}

fn parse_smismember(a: Args<'_>) -> Result<Command, CmdError> {
    let (k, m) = key_rest(a)?;
    cmd(Cmd::MIsMember(k, m))
}

fn parse_scard(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Card(a.bytes()?))
}

fn parse_spop(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let count = match a.rest().as_slice() {
        [] => None,
        [n] => Some(
            parse_int(n)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(CmdError::NotPositive)?,
        ),
        _ => return Err(CmdError::Syntax),
    };
    cmd(Cmd::Pop(key, count))
}

fn parse_srandmember(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let count = match a.rest().as_slice() {
        [] => None,
        [n] => {
            let n = parse_int(n)?;
            if n == i64::MIN {
                return Err(CmdError::LongOutOfRange);
            }
            if n < 0 && n.unsigned_abs() > MAX_RANDOM_REPLY {
                return Err(CmdError::ValueOutOfRange);
            }
            Some(n)
        }
        _ => return Err(CmdError::Syntax),
    };
    cmd(Cmd::RandMember(key, count))
}

fn parse_smove(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Move(a.bytes()?, a.bytes()?, a.bytes()?))
}

fn algebra(a: Args<'_>, op: Op) -> Result<Command, CmdError> {
    cmd(Cmd::Algebra(op, a.rest(), None))
}

fn algebra_store(a: Args<'_>, op: Op) -> Result<Command, CmdError> {
    let (dst, keys) = key_rest(a)?;
    cmd(Cmd::Algebra(op, keys, Some(dst)))
}

fn parse_sinter(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, Op::Inter)
}

fn parse_sunion(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, Op::Union)
}

fn parse_sdiff(a: Args<'_>) -> Result<Command, CmdError> {
    algebra(a, Op::Diff)
}

fn parse_sinterstore(a: Args<'_>) -> Result<Command, CmdError> {
    algebra_store(a, Op::Inter)
}

fn parse_sunionstore(a: Args<'_>) -> Result<Command, CmdError> {
    algebra_store(a, Op::Union)
}

fn parse_sdiffstore(a: Args<'_>) -> Result<Command, CmdError> {
    algebra_store(a, Op::Diff)
}

/// `numkeys key [key ...] [LIMIT limit]`, as `sinterCardCommand` reads it.
fn parse_sintercard(mut a: Args<'_>) -> Result<Command, CmdError> {
    let numkeys = parse_int(&a.bytes()?)
        .ok()
        .filter(|&n| n > 0)
        .ok_or(CmdError::NumkeysNotPositive)? as usize;
    let rest = a.rest();
    if numkeys > rest.len() {
        return Err(CmdError::TooManyKeys);
    }
    let mut limit = 0;
    let mut opts = rest[numkeys..].iter();
    while let Some(opt) = opts.next() {
        match opts.next() {
            Some(v) if is(opt, "LIMIT") => {
                limit = parse_int(v)
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or(CmdError::LimitNegative)?;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    cmd(Cmd::InterCard(rest[..numkeys].to_vec(), limit))
}

fn parse_sscan(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let cursor = scan::parse_cursor(&a.bytes()?)?;
    cmd(Cmd::Scan(key, cursor, a.rest()))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("sadd", parse_sadd),
    ("srem", parse_srem),
    ("smembers", parse_smembers),
    ("sismember", parse_sismember),
    ("smismember", parse_smismember),
    ("scard", parse_scard),
    ("spop", parse_spop),
    ("srandmember", parse_srandmember),
    ("smove", parse_smove),
    ("sinter", parse_sinter),
    ("sunion", parse_sunion),
    ("sdiff", parse_sdiff),
    ("sinterstore", parse_sinterstore),
    ("sunionstore", parse_sunionstore),
    ("sdiffstore", parse_sdiffstore),
    ("sintercard", parse_sintercard),
    ("sscan", parse_sscan),
];

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

fn member(m: Member<'_>) -> Frame {
    Frame::Bulk(Bytes::from(m.to_vec()))
}

/// Change the set at `key` in place, creating it (suited to `first`) when
/// asked; a set left empty is deleted.
fn with_set<S: Store, R>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    create: Option<&[u8]>,
    event: &'static str,
    f: impl FnOnce(&mut Set) -> (R, bool),
) -> Result<Option<R>, CmdError> {
    let max_intset = ctx.config.encodings.set_max_intset_entries;
    let (mut changed, mut emptied) = (false, false);
    let r = ctx.ks().mutate(key, ctx.now, |slot| {
        let (set, created) = match (set_of(slot.entry())?, create) {
            (Some(s), _) => (s.clone(), false),
            (None, Some(first)) => (shared(Set::for_member(first, max_intset)), true),
            (None, None) => return Ok(None),
        };
        let mut s = set.write();
        let r;
        (r, changed) = f(&mut s);
        if changed {
            slot.changed();
        }
        if created && !s.is_empty() {
            slot.put(fresh(Value::Coll(Coll::Set(set.clone()))));
        } else if !created && s.is_empty() {
            slot.remove();
            emptied = true;
        }
        Ok(Some(r))
    })?;
    if changed {
        ctx.notify(class::SET, event, key);
    }
    if emptied {
        ctx.notify(class::GENERIC, "del", key);
    }
    Ok(r)
}

/// Read the set at `key` (`None` when absent).
fn read_set<S: Store, R>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    mut f: impl FnMut(Option<&Set>) -> R,
) -> Result<R, CmdError> {
    ctx.ks().read(key, ctx.now, |e| {
        Ok(match set_of(e)? {
            Some(s) => f(Some(&s.read())),
            None => f(None),
        })
    })
}

/// Execute a set command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let max_intset = ctx.config.encodings.set_max_intset_entries;
    match cmd {
        Cmd::Add(key, members) => {
            let n = with_set(ctx, &key, Some(&members[0]), "sadd", |s| {
                let n = members.iter().filter(|m| s.insert(m, max_intset)).count();
                (n, n > 0)
            })?;
            Ok(Frame::Integer(n.unwrap_or(0) as i64))
        }
        Cmd::Rem(key, members) => {
            let n = with_set(ctx, &key, None, "srem", |s| {
                let n = members.iter().filter(|m| s.remove(m)).count();
                (n, n > 0)
            })?;
            Ok(Frame::Integer(n.unwrap_or(0) as i64))
        }
        Cmd::Members(key) => read_set(ctx, &key, |s| {
            Frame::Set(
                s.map(|s| s.iter().map(member).collect())
                    .unwrap_or_default(),
            )
        }),
        Cmd::IsMember(key, m) => read_set(ctx, &key, |s| {
            Frame::Integer(i64::from(s.is_some_and(|s| s.contains(&m))))
        }),
        Cmd::MIsMember(key, ms) => read_set(ctx, &key, |s| {
            Frame::Array(
                ms.iter()
                    .map(|m| Frame::Integer(i64::from(s.is_some_and(|s| s.contains(m)))))
                    .collect(),
            )
        }),
        Cmd::Card(key) => read_set(ctx, &key, |s| Frame::Integer(s.map_or(0, Set::len) as i64)),
        Cmd::Pop(key, count) => pop(ctx, &key, count),
        Cmd::RandMember(key, count) => rand_member(ctx, &key, count),
        Cmd::Move(src, dst, m) => smove(ctx, &src, &dst, &m),
        Cmd::Algebra(op, keys, None) => {
            let members = ctx
                .ks()
                .read_all(&keys, ctx.now, |entries| compute(op, entries))?;
            Ok(Frame::Set(
                members
                    .into_iter()
                    .map(|m| Frame::Bulk(Bytes::from(m)))
                    .collect(),
            ))
        }
        Cmd::Algebra(op, keys, Some(dst)) => store(ctx, op, &keys, &dst),
        Cmd::InterCard(keys, limit) => {
            let n = ctx.ks().read_all(&keys, ctx.now, |entries| {
                let members = compute(Op::Inter, entries)?;
                Ok::<_, CmdError>(if limit == 0 {
                    members.len()
                } else {
                    members.len().min(limit)
                })
            })?;
            Ok(Frame::Integer(n as i64))
        }
        Cmd::Scan(key, cursor, opts) => sscan(ctx, &key, cursor, &opts),
    }
}

/// SPOP.
fn pop<S: Store>(ctx: &Ctx<'_, S>, key: &[u8], count: Option<usize>) -> Result<Frame, CmdError> {
    let popped = with_set(ctx, key, None, "spop", |s| match count {
        None => (
            Frame::Bulk(Bytes::from(
                s.take_index(rand::below(s.len())).unwrap_or_default(),
            )),
            true,
        ),
        Some(0) => (Frame::Set(vec![]), false),
        Some(n) if n >= s.len() => {
            let all = s.iter().map(member).collect();
            *s = Set::default();
            (Frame::Set(all), true)
        }
        Some(n) => {
            let items = (0..n)
                .filter_map(|_| s.take_index(rand::below(s.len())))
                .map(|m| Frame::Bulk(Bytes::from(m)))
                .collect();
            (Frame::Set(items), true)
        }
    })?;
    if let Some(frame) = &popped {
        // Logged as the members it took (SPOP is random; SREM is not).
        journal::rewrite(|| {
            let items = match frame {
                Frame::Set(items) => &items[..],
                one => std::slice::from_ref(one),
            };
            let mut argv = journal::words(&[b"SREM", key]);
            argv.extend(items.iter().filter_map(|f| match f {
                Frame::Bulk(m) => Some(m.clone()),
                _ => None,
            }));
            if argv.len() > 2 {
                vec![argv]
            } else {
                vec![]
            }
        });
    }
    Ok(popped.unwrap_or(match count {
        None => Frame::Null,
        Some(_) => Frame::Set(vec![]),
    }))
}

/// SRANDMEMBER, with Redis's cases (see HRANDFIELD).
fn rand_member<S: Store>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    count: Option<i64>,
) -> Result<Frame, CmdError> {
    read_set(ctx, key, |s| {
        let Some(count) = count else {
            return s
                .filter(|s| !s.is_empty())
                .and_then(|s| s.get_index(rand::below(s.len())))
                .map_or(Frame::Null, member);
        };
        let Some(s) = s else {
            return Frame::Array(vec![]);
        };
        let pick = |i: usize| s.get_index(i).map_or(Frame::Null, member);
        Frame::Array(
            random_positions(s.len(), count)
                .into_iter()
                .map(pick)
                .collect(),
        )
    })
}

/// SMOVE (Redis's `smoveCommand` order of checks).
fn smove<S: Store>(ctx: &Ctx<'_, S>, src: &[u8], dst: &[u8], m: &[u8]) -> Result<Frame, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    let max_intset = ctx.config.encodings.set_max_intset_entries;
    let guard = ks.lock_keys([src, dst]);
    let from = ks.read_locked(&guard, src, now, |e| set_of(e).map(|s| s.cloned()))?;
    ks.read_locked(&guard, dst, now, |e| set_of(e).map(|_| ()))?;
    let Some(from) = from else {
        return Ok(Frame::Integer(0));
    };
    if src == dst {
        return Ok(Frame::Integer(i64::from(from.read().contains(m))));
    }
    let moved = ks.mutate_locked(&guard, src, now, |slot| {
        let mut s = from.write();
        if !s.remove(m) {
            return None;
        }
        slot.changed();
        let emptied = s.is_empty();
        if emptied {
            slot.remove();
        }
        Some(emptied)
    });
    let Some(emptied) = moved else {
        return Ok(Frame::Integer(0));
    };
    ctx.notify(class::SET, "srem", src);
    if emptied {
        ctx.notify(class::GENERIC, "del", src);
    }
    let added = ks.mutate_locked(&guard, dst, now, |slot| match set_of(slot.entry()) {
        Ok(Some(s)) => {
            let added = s.write().insert(m, max_intset);
            if added {
                slot.changed();
            }
            added
        }
        _ => {
            let mut s = Set::for_member(m, max_intset);
            s.insert(m, max_intset);
            slot.put(fresh(Value::set(s)));
            true
        }
    });
    if added {
        ctx.notify(class::SET, "sadd", dst);
    }
    Ok(Frame::Integer(1))
}

/// The members of `op` over `entries` (every key type-checked first, as
/// Redis does; a missing key is an empty set).
fn compute(op: Op, entries: &[Option<Entry>]) -> Result<Vec<Vec<u8>>, CmdError> {
    let sets = entries
        .iter()
        .map(|e| set_of(e.as_ref()).map(|s| s.cloned()))
        .collect::<Result<Vec<_>, _>>()?;
    // `read_recursive`: SINTER a a locks one set twice, and a plain `read`
    // would wait behind a queued writer while holding the first.
    let guards: Vec<_> = sets
        .iter()
        .map(|s| s.as_ref().map(|s| s.read_recursive()))
        .collect();
    let present: Vec<&Set> = guards.iter().flatten().map(|g| &**g).collect();
    Ok(match op {
        Op::Inter => {
            if present.len() < guards.len() {
                return Ok(Vec::new());
            }
            let Some(smallest) = present.iter().min_by_key(|s| s.len()) else {
                return Ok(Vec::new());
            };
            smallest
                .iter()
                .map(|m| m.to_vec())
                .filter(|m| present.iter().all(|s| s.contains(m)))
                .collect()
        }
        Op::Union => {
            let mut seen = std::collections::HashSet::new();
            present
                .iter()
                .flat_map(|s| s.iter())
                .map(|m| m.to_vec())
                .filter(|m| seen.insert(m.clone()))
                .collect()
        }
        Op::Diff => match &guards[0] {
            None => Vec::new(),
            Some(first) => first
                .iter()
                .map(|m| m.to_vec())
                .filter(|m| !guards[1..].iter().flatten().any(|s| s.contains(m)))
                .collect(),
        },
    })
}

/// SINTERSTORE, SUNIONSTORE, SDIFFSTORE: every key locked, the result
/// replaces `dst` (deleted when empty).
fn store<S: Store>(
    ctx: &Ctx<'_, S>,
    op: Op,
    keys: &[Bytes],
    dst: &[u8],
) -> Result<Frame, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    let max_intset = ctx.config.encodings.set_max_intset_entries;
    let guard = ks.lock_keys(keys.iter().map(|k| &k[..]).chain([dst]));
    let entries: Vec<Option<Entry>> = keys
        .iter()
        .map(|k| ks.read_locked(&guard, k, now, |e| e.cloned()))
        .collect();
    for (k, _) in keys.iter().zip(&entries).filter(|(_, e)| e.is_none()) {
        // The stripes are held: no writer of these keys is in flight.
        ks.keyspace().key_miss(k);
    }
    let members = compute(op, &entries)?;
    let n = members.len();
    let existed = ks.mutate_locked(&guard, dst, now, |slot| {
        let existed = slot.entry().is_some();
        if members.is_empty() {
            slot.remove();
            return existed;
        }
        let mut s = Set::default();
        for m in &members {
            s.insert(m, max_intset);
        }
        slot.put(fresh(Value::set(s)));
        existed
    });
    match (n, op) {
        (0, _) if existed => ctx.notify(class::GENERIC, "del", dst),
        (0, _) => {}
        (_, Op::Inter) => ctx.notify(class::SET, "sinterstore", dst),
        (_, Op::Union) => ctx.notify(class::SET, "sunionstore", dst),
        (_, Op::Diff) => ctx.notify(class::SET, "sdiffstore", dst),
    }
    Ok(Frame::Integer(n as i64))
}

fn sscan<S: Store>(
    ctx: &Ctx<'_, S>,
    key: &[u8],
    cursor: u64,
    opts: &[Bytes],
) -> Result<Frame, CmdError> {
    let found = ctx
        .ks()
        .read(key, ctx.now, |e| set_of(e).map(|s| s.cloned()))?;
    let Some(set) = found else {
        return Ok(scan::reply(0, vec![]));
    };
    let opts = ScanOpts::parse(opts, false)?;
    let s = set.read();
    let (members, next) = s.scan(cursor, opts.count);
    let items = members
        .into_iter()
        .map(|m| m.to_vec())
        .filter(|m| opts.matches(m))
        .map(|m| bulk(&m))
        .collect();
    Ok(scan::reply(next, items))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    fn sorted(f: Frame) -> Vec<Frame> {
        let (Frame::Set(mut v) | Frame::Array(mut v)) = f else {
            panic!("not a collection: {f:?}")
        };
        v.sort_by_key(|f| format!("{f:?}"));
        v
    }

    #[test]
    fn add_remove_members() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["SADD", "s", "1", "2", "2", "3"]), int(3));
        assert_eq!(t.run(&["OBJECT", "ENCODING", "s"]), bulk("intset"));
        assert_eq!(
            t.run(&["SMEMBERS", "s"]),
            Frame::Set(vec![bulk("1"), bulk("2"), bulk("3")])
        );
        assert_eq!(t.run(&["SADD", "s", "x"]), int(1));
        assert_eq!(t.run(&["OBJECT", "ENCODING", "s"]), bulk("hashtable"));
        assert_eq!(t.run(&["SISMEMBER", "s", "x"]), int(1));
        assert_eq!(
            t.run(&["SMISMEMBER", "s", "x", "y"]),
            arr(vec![int(1), int(0)])
        );
        assert_eq!(t.run(&["SCARD", "s"]), int(4));
        assert_eq!(t.run(&["SREM", "s", "1", "2", "3", "x", "y"]), int(4));
        assert_eq!(t.run(&["EXISTS", "s"]), int(0));
    }

    #[test]
    fn algebra_and_store() {
        let mut t = TestDb::new();
        t.run(&["SADD", "a", "1", "2", "3"]);
        t.run(&["SADD", "b", "2", "3", "4"]);
        assert_eq!(
            sorted(t.run(&["SINTER", "a", "b"])),
            vec![bulk("2"), bulk("3")]
        );
        assert_eq!(sorted(t.run(&["SUNION", "a", "b"])).len(), 4);
        assert_eq!(sorted(t.run(&["SDIFF", "a", "b"])), vec![bulk("1")]);
        assert_eq!(t.run(&["SINTER", "a", "nokey"]), Frame::Set(vec![]));
        assert_eq!(t.run(&["SINTERSTORE", "d", "a", "b"]), int(2));
        assert_eq!(t.run(&["OBJECT", "ENCODING", "d"]), bulk("intset"));
        assert_eq!(t.run(&["SINTERSTORE", "d", "a", "nokey"]), int(0));
        assert_eq!(t.run(&["EXISTS", "d"]), int(0));
        assert_eq!(t.run(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
        assert_eq!(
            t.run(&["SINTERCARD", "3", "a", "b"]),
            err("ERR Number of keys can't be greater than number of args")
        );
        t.run(&["SET", "str", "x"]);
        assert_eq!(
            t.run(&["SINTER", "nokey", "str"]),
            err("WRONGTYPE Operation against a key holding the wrong kind of value")
        );
    }

    #[test]
    fn pop_random_move() {
        let mut t = TestDb::new();
        t.run(&["SADD", "s", "a", "b", "c"]);
        assert_eq!(sorted(t.run(&["SRANDMEMBER", "s", "5"])).len(), 3);
        let Frame::Array(v) = t.run(&["SRANDMEMBER", "s", "-7"]) else {
            panic!()
        };
        assert_eq!(v.len(), 7);
        assert_eq!(t.run(&["SMOVE", "s", "t", "a"]), int(1));
        assert_eq!(t.run(&["SMOVE", "s", "t", "a"]), int(0));
        assert_eq!(
            sorted(t.run(&["SPOP", "s", "10"])),
            vec![bulk("b"), bulk("c")]
        );
        assert_eq!(t.run(&["EXISTS", "s"]), int(0));
        assert_eq!(t.run(&["SPOP", "t"]), bulk("a"));
        assert_eq!(t.run(&["SPOP", "t"]), Frame::Null);
        assert_eq!(
            t.run(&["SPOP", "t", "-1"]),
            err("ERR value is out of range, must be positive")
        );
    }
}
