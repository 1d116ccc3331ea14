//! List commands: LPUSH, RPUSH, LPOP, RPOP, LLEN, LRANGE, LINDEX.
//!
//! A list is a persistent vector (`store_api::List`), so each update in a
//! `compute` closure builds the new list from the old one in O(log n)
//! without copying it. A list emptied by a pop is deleted, as in Redis.

use bytes::Bytes;
use store_api::{Entry, List, Op, Store, Value};

use super::{list_of, owned, parse_int, rmw, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;

/// Which end of a list a command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (LPUSH, LPOP).
    Left,
    /// The tail (RPUSH, RPOP).
    Right,
}

/// List commands.
#[derive(Debug)]
pub enum Cmd {
    /// `LPUSH key element [element ...]` / `RPUSH`.
    Push(Bytes, Vec<Bytes>, End),
    /// `LPOP key [count]` / `RPOP`.
    Pop(Bytes, Option<usize>, End),
    /// `LLEN key`
    Len(Bytes),
    /// `LRANGE key start stop`
    Range(Bytes, i64, i64),
    /// `LINDEX key index`
    Index(Bytes, i64),
}

fn push(mut a: Args, end: End) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Lists(Cmd::Push(key, a.rest(), end)))
}

fn parse_lpush(a: Args) -> Result<Command, CmdError> {
    push(a, End::Left)
}

fn parse_rpush(a: Args) -> Result<Command, CmdError> {
    push(a, End::Right)
}

fn pop(mut a: Args, end: End) -> Result<Command, CmdError> {
    let name = match end {
        End::Left => "lpop",
        End::Right => "rpop",
    };
    let key = a.bytes()?;
    let count = match a.rest().as_slice() {
        [] => None,
        // `getPositiveLongFromObjectOrReply`: one message for both a
        // non-integer and a negative count.
        [n] => Some(
            parse_int(n)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(CmdError::NotPositive)?,
        ),
        _ => return Err(CmdError::WrongArity(name)),
    };
    Ok(Command::Lists(Cmd::Pop(key, count, end)))
}

fn parse_lpop(a: Args) -> Result<Command, CmdError> {
    pop(a, End::Left)
}

fn parse_rpop(a: Args) -> Result<Command, CmdError> {
    pop(a, End::Right)
}

fn parse_llen(mut a: Args) -> Result<Command, CmdError> {
    Ok(Command::Lists(Cmd::Len(a.bytes()?)))
}

fn parse_lrange(mut a: Args) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let (start, stop) = (a.int()?, a.int()?);
    Ok(Command::Lists(Cmd::Range(key, start, stop)))
}

fn parse_lindex(mut a: Args) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Lists(Cmd::Index(key, a.int()?)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("lpush", parse_lpush),
    ("rpush", parse_rpush),
    ("lpop", parse_lpop),
    ("rpop", parse_rpop),
    ("llen", parse_llen),
    ("lrange", parse_lrange),
    ("lindex", parse_lindex),
];

/// Execute a list command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let now = ctx.now;
    match cmd {
        Cmd::Push(key, elements, end) => {
            let elements: Vec<Bytes> = elements.iter().map(owned).collect();
            let len = ctx.ks().update(
                &key,
                now,
                rmw(|cur| {
                    let mut list = list_of(cur)?.cloned().unwrap_or_default();
                    for e in &elements {
                        match end {
                            End::Left => list.push_front(e.clone()),
                            End::Right => list.push_back(e.clone()),
                        }
                    }
                    let n = list.len() as i64;
                    let entry = Entry {
                        value: Value::List(Box::new(list)),
                        expires_at: cur.and_then(|e| e.expires_at),
                    };
                    Ok((Op::Put(entry), n))
                }),
            )?;
            Ok(Frame::Integer(len))
        }
        Cmd::Pop(key, count, end) => {
            ctx.ks()
                .update(&key, now, rmw(|cur| pop_from(cur, count, end)))
        }
        Cmd::Len(key) => Ok(Frame::Integer(
            ctx.ks()
                .read(&key, now, |e| list_of(e).map(|l| l.map_or(0, |l| l.len())))?
                as i64,
        )),
        Cmd::Range(key, start, stop) => {
            let items = ctx.ks().read(&key, now, |e| {
                list_of(e).map(|l| l.map(|l| range(l, start, stop)).unwrap_or_default())
            })?;
            Ok(Frame::Array(items))
        }
        Cmd::Index(key, index) => {
            let item = ctx.ks().read(&key, now, |e| {
                list_of(e).map(|l| {
                    let l = l?;
                    let i = if index < 0 {
                        index + l.len() as i64
                    } else {
                        index
                    };
                    usize::try_from(i).ok().and_then(|i| l.get(i)).cloned()
                })
            })?;
            Ok(item.map_or(Frame::Null, Frame::Bulk))
        }
    }
}

/// One LPOP/RPOP decision: the new state and the reply.
fn pop_from(cur: Option<&Entry>, count: Option<usize>, end: End) -> Result<(Op, Frame), CmdError> {
    let Some(list) = list_of(cur)? else {
        let none = if count.is_some() {
            Frame::NullArray
        } else {
            Frame::Null
        };
        return Ok((Op::Keep, none));
    };
    if count == Some(0) {
        return Ok((Op::Keep, Frame::Array(vec![])));
    }
    let mut list = list.clone();
    let take = count.unwrap_or(1).min(list.len());
    let mut popped = Vec::with_capacity(take);
    for _ in 0..take {
        let item = match end {
            End::Left => list.pop_front(),
            End::Right => list.pop_back(),
        };
        popped.extend(item.map(Frame::Bulk));
    }
    let reply = match count {
        Some(_) => Frame::Array(popped),
        None => popped.pop().unwrap_or(Frame::Null),
    };
    let op = if list.is_empty() {
        Op::Remove
    } else {
        Op::Put(Entry {
            value: Value::List(Box::new(list)),
            expires_at: cur.and_then(|e| e.expires_at),
        })
    };
    Ok((op, reply))
}

/// LRANGE's index arithmetic (`listTypeGetRange` in Redis).
fn range(l: &List, mut start: i64, mut stop: i64) -> Vec<Frame> {
    let len = l.len() as i64;
    if start < 0 {
        start += len;
    }
    if stop < 0 {
        stop += len;
    }
    start = start.max(0);
    if start > stop || start >= len {
        return vec![];
    }
    stop = stop.min(len - 1);
    l.skip(start as usize)
        .take((stop - start + 1) as usize)
        .into_iter()
        .map(Frame::Bulk)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    #[test]
    fn push_pop_range() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["LPUSH", "l", "a", "b", "c"]), int(3));
        assert_eq!(t.run(&["RPUSH", "l", "d"]), int(4));
        assert_eq!(
            t.run(&["LRANGE", "l", "0", "-1"]),
            arr(vec![bulk("c"), bulk("b"), bulk("a"), bulk("d")])
        );
        assert_eq!(t.run(&["LINDEX", "l", "-1"]), bulk("d"));
        assert_eq!(t.run(&["LPOP", "l"]), bulk("c"));
        assert_eq!(t.run(&["RPOP", "l", "2"]), arr(vec![bulk("d"), bulk("a")]));
        assert_eq!(t.run(&["LLEN", "l"]), int(1));
        assert_eq!(t.run(&["LPOP", "l", "5"]), arr(vec![bulk("b")]));
        assert_eq!(
            t.run(&["EXISTS", "l"]),
            int(0),
            "an emptied list is deleted"
        );
        assert_eq!(t.run(&["LPOP", "l", "1"]), Frame::NullArray);
        assert_eq!(t.run(&["LPOP", "l"]), Frame::Null);
    }

    #[test]
    fn strings_and_lists_answer_wrongtype() {
        let mut t = TestDb::new();
        t.run(&["LPUSH", "l", "a"]);
        t.run(&["SET", "s", "1"]);
        let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        for cmd in [
            &["GET", "l"][..],
            &["INCR", "l"],
            &["APPEND", "l", "x"],
            &["SET", "l", "v", "GET"],
            &["STRLEN", "l"],
            &["LPUSH", "s", "x"],
            &["LRANGE", "s", "0", "1"],
        ] {
            assert_eq!(t.run(cmd), wrongtype, "{cmd:?}");
        }
        assert_eq!(t.run(&["TYPE", "l"]), Frame::simple("list"));
        assert_eq!(
            t.run(&["MGET", "l", "s"]),
            arr(vec![Frame::Null, bulk("1")])
        );
        assert_eq!(
            t.run(&["SET", "l", "v"]),
            ok(),
            "plain SET replaces any type"
        );
    }
}
