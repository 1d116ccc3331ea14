//! List commands: the whole family of Redis 7.0, blocking pops included.
//!
//! A list is a quicklist (`store_api::value::List`) changed in place under
//! its key's stripe (`Access::mutate`): a push or pop never copies the list.
//! A list emptied by a pop, LREM, LTRIM or a move is deleted, as in Redis.
//! Every push serves the clients blocked on the key first ([`block`]).
//!
//! Files: this one parses; `edit.rs` runs the non-blocking commands;
//! `block.rs` runs the blocking ones and serves blocked clients.

mod block;
mod edit;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use store_api::value::list::End;
use store_api::Store;

use super::args::parse_timeout;
use super::{is, parse_int, Args, CmdError, Command, Ctx, Reply, Row};

pub use block::{block_on, serve_ready};

/// Which keys a push may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// LPUSH, RPUSH: create the list.
    Always,
    /// LPUSHX, RPUSHX: only push onto an existing list.
    IfExists,
}

/// LINSERT's position relative to the pivot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// BEFORE.
    Before,
    /// AFTER.
    After,
}

/// List commands.
#[derive(Debug)]
pub enum Cmd {
    /// `LPUSH|RPUSH|LPUSHX|RPUSHX key element [element ...]`
    Push(Bytes, Vec<Bytes>, End, Create),
    /// `LPOP|RPOP key [count]`
    Pop(Bytes, Option<usize>, End),
    /// `LLEN key`
    Len(Bytes),
    /// `LRANGE key start stop`
    Range(Bytes, i64, i64),
    /// `LINDEX key index`
    Index(Bytes, i64),
    /// `LINSERT key BEFORE|AFTER pivot element`
    Insert(Bytes, Side, Bytes, Bytes),
    /// `LSET key index element`
    Set(Bytes, i64, Bytes),
    /// `LREM key count element`
    Rem(Bytes, i64, Bytes),
    /// `LTRIM key start stop`
    Trim(Bytes, i64, i64),
    /// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`
    Pos(Pos),
    /// `LMOVE src dst LEFT|RIGHT LEFT|RIGHT`, `RPOPLPUSH src dst`, and the
    /// blocking BLMOVE / BRPOPLPUSH (with a timeout in ms, 0 = forever).
    Move(Move),
    /// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]` and BLMPOP.
    MPop(MPop),
    /// `BLPOP|BRPOP key [key ...] timeout`
    BPop(Vec<Bytes>, End, u64),
}

/// LPOS's arguments.
#[derive(Debug)]
pub struct Pos {
    key: Bytes,
    element: Bytes,
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

/// A move between lists.
#[derive(Debug)]
pub struct Move {
    src: Bytes,
    dst: Bytes,
    from: End,
    to: End,
    /// `Some(timeout ms)` for the blocking forms.
    block: Option<u64>,
}

/// LMPOP / BLMPOP.
#[derive(Debug)]
pub struct MPop {
    keys: Vec<Bytes>,
    end: End,
    count: usize,
    block: Option<u64>,
}

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Lists(c))
}

fn push(mut a: Args<'_>, end: End, create: Create) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::Push(key, a.rest(), end, create))
}

fn parse_lpush(a: Args<'_>) -> Result<Command, CmdError> {
    push(a, End::Left, Create::Always)
}

fn parse_rpush(a: Args<'_>) -> Result<Command, CmdError> {
    push(a, End::Right, Create::Always)
}

fn parse_lpushx(a: Args<'_>) -> Result<Command, CmdError> {
    push(a, End::Left, Create::IfExists)
}

fn parse_rpushx(a: Args<'_>) -> Result<Command, CmdError> {
    push(a, End::Right, Create::IfExists)
}

fn pop(mut a: Args<'_>, end: End) -> Result<Command, CmdError> {
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
    cmd(Cmd::Pop(key, count, end))
}

fn parse_lpop(a: Args<'_>) -> Result<Command, CmdError> {
    pop(a, End::Left)
}

fn parse_rpop(a: Args<'_>) -> Result<Command, CmdError> {
    pop(a, End::Right)
}

fn parse_llen(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Len(a.bytes()?))
}

fn parse_lrange(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let (start, stop) = (a.int()?, a.int()?);
    cmd(Cmd::Range(key, start, stop))
}

fn parse_lindex(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::Index(key, a.int()?))
}

fn parse_linsert(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let where_ = a.bytes()?;
    let side = if is(&where_, "BEFORE") {
        Side::Before
    } else if is(&where_, "AFTER") {
        Side::After
    } else {
        return Err(CmdError::Syntax);
    };
    let pivot = a.bytes()?;
    cmd(Cmd::Insert(key, side, pivot, a.bytes()?))
}

fn parse_lset(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let index = a.int()?;
    cmd(Cmd::Set(key, index, a.bytes()?))
}

fn parse_lrem(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let count = a.int()?;
    cmd(Cmd::Rem(key, count, a.bytes()?))
}

fn parse_ltrim(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let (start, stop) = (a.int()?, a.int()?);
    cmd(Cmd::Trim(key, start, stop))
}

fn parse_lpos(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let element = a.bytes()?;
    let (mut rank, mut count, mut maxlen) = (1, None, 0);
    while let Some(opt) = a.next() {
        let value = a.next();
        match value {
            Some(v) if is(&opt, "RANK") => {
                rank = parse_int(&v)?;
                if rank == 0 {
                    return Err(CmdError::RankZero);
                }
            }
            Some(v) if is(&opt, "COUNT") => {
                let n = parse_int(&v)?;
                count = Some(usize::try_from(n).map_err(|_| CmdError::CountNegative)?);
            }
            Some(v) if is(&opt, "MAXLEN") => {
                let n = parse_int(&v)?;
                maxlen = usize::try_from(n).map_err(|_| CmdError::MaxlenNegative)?;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    cmd(Cmd::Pos(Pos {
        key,
        element,
        rank,
        count,
        maxlen,
    }))
}

fn end_arg(b: &[u8]) -> Result<End, CmdError> {
    if is(b, "LEFT") {
        Ok(End::Left)
    } else if is(b, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(CmdError::Syntax)
    }
}

fn parse_rpoplpush(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (src, dst) = (a.bytes()?, a.bytes()?);
    cmd(Cmd::Move(Move {
        src,
        dst,
        from: End::Right,
        to: End::Left,
        block: None,
    }))
}

fn parse_lmove(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (src, dst) = (a.bytes()?, a.bytes()?);
    let from = end_arg(&a.bytes()?)?;
    let to = end_arg(&a.bytes()?)?;
    cmd(Cmd::Move(Move {
        src,
        dst,
        from,
        to,
        block: None,
    }))
}

fn parse_brpoplpush(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (src, dst) = (a.bytes()?, a.bytes()?);
    let timeout = parse_timeout(&a.bytes()?)?;
    cmd(Cmd::Move(Move {
        src,
        dst,
        from: End::Right,
        to: End::Left,
        block: Some(timeout),
    }))
}

fn parse_blmove(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (src, dst) = (a.bytes()?, a.bytes()?);
    let from = end_arg(&a.bytes()?)?;
    let to = end_arg(&a.bytes()?)?;
    let timeout = parse_timeout(&a.bytes()?)?;
    cmd(Cmd::Move(Move {
        src,
        dst,
        from,
        to,
        block: Some(timeout),
    }))
}

/// `numkeys key [key ...] LEFT|RIGHT [COUNT count]`, as Redis's
/// `lmpopGenericCommand` reads it.
/// `numkeys key [key ...] <side> [COUNT count]` of LMPOP and ZMPOP (and
/// their blocking forms), checked in Redis's order; `side` reads the
/// LEFT|RIGHT or MIN|MAX word.
pub fn mpop_args<T>(
    mut a: Args<'_>,
    side: fn(&[u8]) -> Result<T, CmdError>,
) -> Result<(Vec<Bytes>, T, usize), CmdError> {
    let numkeys = parse_int(&a.bytes()?)
        .ok()
        .filter(|&n| n > 0)
        .ok_or(CmdError::NumkeysNotPositive)? as usize;
    let rest = a.rest();
    if numkeys >= rest.len() {
        return Err(CmdError::Syntax);
    }
    let end = side(&rest[numkeys])?;
    let mut count = None;
    let mut opts = rest[numkeys + 1..].iter();
    while let Some(opt) = opts.next() {
        match opts.next() {
            Some(v) if count.is_none() && is(opt, "COUNT") => {
                let n = parse_int(v)
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(CmdError::CountNotPositive)?;
                count = Some(n as usize);
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok((rest[..numkeys].to_vec(), end, count.unwrap_or(1)))
}

fn parse_lmpop(a: Args<'_>) -> Result<Command, CmdError> {
    let (keys, end, count) = mpop_args(a, end_arg)?;
    cmd(Cmd::MPop(MPop {
        keys,
        end,
        count,
        block: None,
    }))
}

fn parse_blmpop(mut a: Args<'_>) -> Result<Command, CmdError> {
    // Redis parses the timeout after the rest (`blockingPopGenericCommand`),
    // so a bad numkeys is reported first.
    let timeout = a.bytes()?;
    let (keys, end, count) = mpop_args(a, end_arg)?;
    let timeout = parse_timeout(&timeout)?;
    cmd(Cmd::MPop(MPop {
        keys,
        end,
        count,
        block: Some(timeout),
    }))
}

fn bpop(a: Args<'_>, end: End) -> Result<Command, CmdError> {
    let mut keys = a.rest();
    let timeout = keys.pop().ok_or(CmdError::Syntax)?;
    let timeout = parse_timeout(&timeout)?;
    cmd(Cmd::BPop(keys, end, timeout))
}

fn parse_blpop(a: Args<'_>) -> Result<Command, CmdError> {
    bpop(a, End::Left)
}

fn parse_brpop(a: Args<'_>) -> Result<Command, CmdError> {
    bpop(a, End::Right)
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("lpush", parse_lpush),
    ("rpush", parse_rpush),
    ("lpushx", parse_lpushx),
    ("rpushx", parse_rpushx),
    ("lpop", parse_lpop),
    ("rpop", parse_rpop),
    ("llen", parse_llen),
    ("lrange", parse_lrange),
    ("lindex", parse_lindex),
    ("linsert", parse_linsert),
    ("lset", parse_lset),
    ("lrem", parse_lrem),
    ("ltrim", parse_ltrim),
    ("lpos", parse_lpos),
    ("rpoplpush", parse_rpoplpush),
    ("lmove", parse_lmove),
    ("brpoplpush", parse_brpoplpush),
    ("blmove", parse_blmove),
    ("lmpop", parse_lmpop),
    ("blmpop", parse_blmpop),
    ("blpop", parse_blpop),
    ("brpop", parse_brpop),
];

/// Execute a list command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    match cmd {
        Cmd::Push(key, elements, end, create) => edit::push(ctx, &key, &elements, end, create),
        Cmd::Pop(key, count, end) => edit::pop(ctx, &key, count, end),
        Cmd::Len(key) => edit::len(ctx, &key),
        Cmd::Range(key, start, stop) => edit::range(ctx, &key, start, stop),
        Cmd::Index(key, index) => edit::index(ctx, &key, index),
        Cmd::Insert(key, side, pivot, element) => edit::insert(ctx, &key, side, &pivot, &element),
        Cmd::Set(key, index, element) => edit::set(ctx, &key, index, &element),
        Cmd::Rem(key, count, element) => edit::rem(ctx, &key, count, &element),
        Cmd::Trim(key, start, stop) => edit::trim(ctx, &key, start, stop),
        Cmd::Pos(p) => edit::pos(ctx, p),
        Cmd::Move(m) => block::lmove(ctx, m),
        Cmd::MPop(m) => block::mpop(ctx, m),
        Cmd::BPop(keys, end, timeout) => block::bpop(ctx, keys, end, timeout),
    }
}
