//! Keyspace commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, KEYS, SCAN,
//! RANDOMKEY, RENAME, RENAMENX, COPY, MOVE.
//!
//! Commands that touch several keys lock those keys' stripes (see
//! `db::locks`), so RENAME, COPY, MOVE and multi-key DEL are atomic to every
//! other client. KEYS walks the whole database on a blocking thread, never
//! on an async worker, and lists only live keys.

use crate::db::events::class;
use std::sync::Arc;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use super::error::ClusterError;
use super::scan::{self, ScanOpts};
use super::{is, parse_int32, Args, CmdError, Command, Ctx, Reply, Row};
use crate::db::{Access, KeyLocks, KeysGuard, Keyspace, Touch};
use crate::protocol::Frame;
use crate::util::glob::glob_match;
use crate::util::rand;

/// RENAME replaces the destination; RENAMENX leaves an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameMode {
    /// RENAME.
    Replace,
    /// RENAMENX.
    IfAbsent,
}

/// Keyspace commands.
#[derive(Debug)]
pub enum Cmd {
    /// `DEL key [key ...]` (UNLINK too: memory is freed when the last
    /// reader lets go either way).
    Del(Vec<Bytes>),
    /// `EXISTS key [key ...]`
    Exists(Vec<Bytes>),
    /// `TOUCH key [key ...]`
    Touch(Vec<Bytes>),
    /// `TYPE key`
    Type(Bytes),
    /// `KEYS pattern`
    Keys(Bytes),
    /// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`
    Scan(Scan),
    /// `RANDOMKEY`
    RandomKey,
    /// `RENAME key newkey` and `RENAMENX`.
    Rename(Bytes, Bytes, RenameMode),
    /// `COPY source destination [DB n] [REPLACE]`
    Copy(Copy),
    /// `MOVE key db`
    Move(Bytes, Bytes),
}

/// SCAN's arguments.
#[derive(Debug)]
pub struct Scan {
    cursor: u64,
    opts: ScanOpts,
}

/// COPY's arguments.
#[derive(Debug)]
pub struct Copy {
    src: Bytes,
    dst: Bytes,
    db: Option<Bytes>,
    replace: bool,
}

/// Draws RANDOMKEY makes before answering nil on a keyspace of expired keys.
const RANDOMKEY_TRIES: usize = 100;

fn parse_del(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Del(a.rest())))
}

fn parse_exists(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Exists(a.rest())))
}

fn parse_touch(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Touch(a.rest())))
}

fn parse_type(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Type(a.bytes()?)))
}

fn parse_keys(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Keys(a.bytes()?)))
}

fn parse_scan(mut a: Args<'_>) -> Result<Command, CmdError> {
    let cursor = scan::parse_cursor(&a.bytes()?)?;
    let opts = ScanOpts::parse(&a.rest(), true)?;
    Ok(Command::Keys(Cmd::Scan(Scan { cursor, opts })))
}

fn parse_randomkey(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::RandomKey))
}

fn parse_rename(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Rename(
        a.bytes()?,
        a.bytes()?,
        RenameMode::Replace,
    )))
}

fn parse_renamenx(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Rename(
        a.bytes()?,
        a.bytes()?,
        RenameMode::IfAbsent,
    )))
}

fn parse_copy(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (src, dst) = (a.bytes()?, a.bytes()?);
    let mut copy = Copy {
        src,
        dst,
        db: None,
        replace: false,
    };
    while let Some(opt) = a.next() {
        if is(&opt, "REPLACE") {
            copy.replace = true;
        } else if is(&opt, "DB") && !a.is_empty() {
            copy.db = Some(a.bytes()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(Command::Keys(Cmd::Copy(copy)))
}

fn parse_move(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Keys(Cmd::Move(a.bytes()?, a.bytes()?)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("del", parse_del),
    ("unlink", parse_del),
    ("exists", parse_exists),
    ("touch", parse_touch),
    ("type", parse_type),
    ("keys", parse_keys),
    ("scan", parse_scan),
    ("randomkey", parse_randomkey),
    ("rename", parse_rename),
    ("renamenx", parse_renamenx),
    ("copy", parse_copy),
    ("move", parse_move),
];

/// Execute a keyspace command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    let now = ctx.now;
    Ok(match cmd {
        Cmd::Del(keys) => {
            let deleted = del(ctx.ks(), &keys, now);
            for k in keys
                .iter()
                .zip(&deleted)
                .filter(|(_, d)| **d)
                .map(|(k, _)| k)
            {
                ctx.notify(class::GENERIC, "del", k);
            }
            Frame::Integer(deleted.iter().filter(|&&d| d).count() as i64).into()
        }
        Cmd::Exists(keys) => {
            // EXISTS does not count as an access (Redis's LOOKUP_NOTOUCH);
            // TOUCH is the command that does.
            let found = ctx
                .ks()
                .read_many(&keys, now, Touch::NoTouch, |e| e.is_some());
            Frame::Integer(found.into_iter().filter(|&f| f).count() as i64).into()
        }
        Cmd::Touch(keys) => {
            let found = ctx
                .ks()
                .read_many(&keys, now, Touch::Access, |e| e.is_some());
            Frame::Integer(found.into_iter().filter(|&f| f).count() as i64).into()
        }
        Cmd::Type(key) => {
            let t = ctx
                .ks()
                .read_notouch(&key, now, |e| e.map_or("none", |e| e.value.type_name()));
            Frame::simple(t).into()
        }
        // A transaction holds the whole database: list it inline.
        Cmd::Keys(pattern) if ctx.in_transaction() => keys(ctx.ks(), &pattern, now).into(),
        Cmd::Keys(pattern) => {
            let ks = ctx.ks_arc();
            Reply::Later(Box::new(move || keys(Access::new(&ks), &pattern, now)))
        }
        Cmd::Scan(scan) => scan_keys(ctx.ks(), scan, now).into(),
        Cmd::RandomKey => {
            let key = ctx.ks().random_key(rand::next_u64(), now, RANDOMKEY_TRIES);
            key.map_or(Frame::Null, Frame::Bulk).into()
        }
        Cmd::Rename(src, dst, mode) => {
            let (reply, done) = rename(ctx.ks(), &src, &dst, mode, now)?;
            if done {
                ctx.notify(class::GENERIC, "rename_from", &src);
                ctx.notify(class::GENERIC, "rename_to", &dst);
            }
            // A list that arrives under a key serves clients blocked on it.
            ctx.defer_ready(vec![dst]);
            reply.into()
        }
        Cmd::Copy(c) => {
            let db = match &c.db {
                Some(db) => usize::try_from(parse_int32(db)?).unwrap_or(usize::MAX),
                None => ctx.session.db,
            };
            if ctx.state.cluster.enabled && (db != 0 || ctx.session.db != 0) {
                return Err(CmdError::Cluster(ClusterError::CopyDb));
            }
            let dst = c.dst.clone();
            let copied = copy(ctx, c)?;
            if copied {
                ctx.notify_in(db, class::GENERIC, "copy_to", &dst);
            }
            ctx.defer_ready_in(db, vec![dst]);
            Frame::Integer(i64::from(copied)).into()
        }
        Cmd::Move(..) if ctx.state.cluster.enabled => {
            return Err(CmdError::Cluster(ClusterError::NotAllowed("MOVE")));
        }
        Cmd::Move(key, db) => {
            let index = usize::try_from(parse_int32(&db)?).unwrap_or(usize::MAX);
            let moved = move_key(ctx, key.clone(), &db)?;
            if moved {
                ctx.notify(class::GENERIC, "move_from", &key);
                ctx.notify_in(index, class::GENERIC, "move_to", &key);
            }
            ctx.defer_ready_in(index, vec![key]);
            Frame::Integer(i64::from(moved)).into()
        }
    })
}

/// Delete `keys`; which of them existed.
fn del<S: Store>(ks: Access<'_, S>, keys: &[Bytes], now: u64) -> Vec<bool> {
    let remove = |cur: Option<&Entry>| (Op::Remove, cur.is_some());
    if let [key] = keys {
        return vec![ks.update(key, now, remove)];
    }
    let guard = ks.lock_keys(keys.iter().map(|k| &k[..]));
    keys.iter()
        .map(|k| ks.update_locked(&guard, k, now, remove))
        .collect()
}

fn keys<S: Store>(ks: Access<'_, S>, pattern: &[u8], now: u64) -> Frame {
    let all = pattern == b"*";
    let found = ks.keys(now, |k| all || glob_match(pattern, k, false));
    Frame::Array(found.into_iter().map(Frame::Bulk).collect())
}

fn scan_keys<S: Store>(ks: Access<'_, S>, scan: Scan, now: u64) -> Frame {
    let opts = &scan.opts;
    let (next, batch) = ks.scan(scan.cursor, opts.count, now);
    let keys = batch
        .into_iter()
        .filter(|(k, type_name)| {
            let type_ok = opts
                .type_name
                .as_ref()
                .is_none_or(|t| t.eq_ignore_ascii_case(type_name.as_bytes()));
            type_ok && opts.matches(k)
        })
        .map(|(k, _)| Frame::Bulk(k))
        .collect();
    scan::reply(next, keys)
}

fn rename<S: Store>(
    ks: Access<'_, S>,
    src: &Bytes,
    dst: &Bytes,
    mode: RenameMode,
    now: u64,
) -> Result<(Frame, bool), CmdError> {
    let nx = mode == RenameMode::IfAbsent;
    let guard = ks.lock_keys([&src[..], &dst[..]]);
    let entry = ks
        .read_locked(&guard, src, now, |e| e.cloned())
        .ok_or(CmdError::NoSuchKey)?;
    let done = |ok: bool| {
        let reply = if nx {
            Frame::Integer(i64::from(ok))
        } else {
            Frame::ok()
        };
        (reply, ok)
    };
    if src == dst {
        return Ok(done(false));
    }
    if nx && ks.read_locked(&guard, dst, now, |e| e.is_some()) {
        return Ok(done(false));
    }
    // Redis deletes the destination and adds the key anew: a `new` event
    // even when the destination existed.
    if ks
        .insert_locked(&guard, Bytes::copy_from_slice(dst), entry, now)
        .is_some()
    {
        ks.emit(class::NEW, "new", dst);
    }
    ks.update_locked(&guard, src, now, |_| (Op::Remove, ()));
    Ok(done(true))
}

/// Resolve a DB argument the way Redis's `getIntFromObjectOrReply` then
/// `selectDb` do.
fn db_arg<'a, S: Store>(ctx: &'a Ctx<'_, S>, arg: &[u8]) -> Result<&'a Arc<Keyspace<S>>, CmdError> {
    ctx.ks_at(i64::from(parse_int32(arg)?))
}

/// Move or copy `key` from `src` to `dst` under both keys' stripe locks.
/// `Ok(false)` when the source is missing or the destination is taken. A
/// copy is deep: the two keys never share a collection.
fn transfer<S: Store>(
    src: Access<'_, S>,
    skey: &Bytes,
    dst: Access<'_, S>,
    dkey: &Bytes,
    replace: bool,
    remove: bool,
    now: u64,
) -> bool {
    let guard = if src.in_transaction() {
        KeysGuard::Held
    } else {
        let (s, d) = (src.keyspace(), dst.keyspace());
        let s_stripes = s.locks().stripes_of([&skey[..]]);
        let d_stripes = d.locks().stripes_of([&dkey[..]]);
        KeysGuard::Own(KeyLocks::lock_pair(
            (s.locks(), &s_stripes),
            (d.locks(), &d_stripes),
        ))
    };
    let Some(mut entry) = src.read_locked(&guard, skey, now, |e| e.cloned()) else {
        return false;
    };
    if !remove {
        entry.value = entry.value.deep_clone();
    }
    if !replace && dst.read_locked(&guard, dkey, now, |e| e.is_some()) {
        return false;
    }
    if dst
        .insert_locked(&guard, Bytes::copy_from_slice(dkey), entry, now)
        .is_some()
    {
        dst.emit(class::NEW, "new", dkey);
    }
    if remove {
        src.update_locked(&guard, skey, now, |_| (Op::Remove, ()));
    }
    true
}

fn copy<S: Store>(ctx: &mut Ctx<'_, S>, c: Copy) -> Result<bool, CmdError> {
    let src = ctx.ks();
    let dst = match &c.db {
        Some(db) => ctx.access(db_arg(ctx, db)?),
        None => ctx.ks(),
    };
    if std::ptr::eq(src.keyspace(), dst.keyspace()) && c.src == c.dst {
        return Err(CmdError::SameObject);
    }
    Ok(transfer(
        src, &c.src, dst, &c.dst, c.replace, false, ctx.now,
    ))
}

fn move_key<S: Store>(ctx: &mut Ctx<'_, S>, key: Bytes, db: &[u8]) -> Result<bool, CmdError> {
    let dst = ctx.access(db_arg(ctx, db)?);
    let src = ctx.ks();
    if std::ptr::eq(src.keyspace(), dst.keyspace()) {
        return Err(CmdError::SameObject);
    }
    Ok(transfer(src, &key, dst, &key, false, true, ctx.now))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::scan::parse_cursor;
    use crate::protocol::Frame;

    fn sorted_keys(f: Frame) -> Vec<Frame> {
        let Frame::Array(mut v) = f else {
            panic!("{f:?}")
        };
        v.sort_by_key(|f| format!("{f:?}"));
        v
    }

    #[test]
    fn del_exists_touch_type() {
        let mut t = TestDb::new();
        t.run(&["MSET", "a", "1", "b", "2"]);
        assert_eq!(t.run(&["EXISTS", "a", "a", "x"]), int(2));
        assert_eq!(t.run(&["TOUCH", "a", "x"]), int(1));
        assert_eq!(t.run(&["TYPE", "a"]), Frame::simple("string"));
        assert_eq!(t.run(&["TYPE", "x"]), Frame::simple("none"));
        assert_eq!(t.run(&["DEL", "a", "b", "x"]), int(2));
        assert_eq!(t.run(&["UNLINK", "a"]), int(0));
    }

    #[test]
    fn keys_matches_globs_and_skips_expired() {
        let mut t = TestDb::new();
        t.run(&["MSET", "hello", "1", "hallo", "2", "world", "3"]);
        t.run(&["SET", "hxllo", "4", "PX", "5"]);
        t.advance(10);
        assert_eq!(
            sorted_keys(t.run(&["KEYS", "h?llo"])),
            vec![bulk("hallo"), bulk("hello")]
        );
        assert_eq!(sorted_keys(t.run(&["KEYS", "*"])).len(), 3);
        assert_eq!(t.run(&["KEYS", "h[^e]llo"]), arr(vec![bulk("hallo")]));
    }

    #[test]
    fn scan_visits_every_key_once_the_cursor_returns_to_zero() {
        let mut t = TestDb::new();
        for i in 0..500 {
            t.run(&["SET", &format!("key:{i}"), "v"]);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        // 500 keys, 7 or more per call: far fewer calls than this bound
        // (a cursor that never returns to 0 fails here instead of hanging).
        for calls in 0.. {
            assert!(calls < 10_000, "SCAN's cursor never came back to 0");
            let Frame::Array(reply) = t.run(&["SCAN", &cursor, "COUNT", "7", "MATCH", "key:*"])
            else {
                panic!()
            };
            let (Frame::Bulk(next), Frame::Array(keys)) = (&reply[0], &reply[1]) else {
                panic!()
            };
            seen.extend(keys.iter().map(|k| format!("{k:?}")));
            cursor = String::from_utf8(next.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 500);
    }

    #[test]
    fn scan_arguments_follow_redis() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["SCAN", "abc"]), err("ERR invalid cursor"));
        assert_eq!(t.run(&["SCAN", " 1"]), err("ERR invalid cursor"));
        assert_eq!(t.run(&["SCAN", "0", "COUNT", "0"]), err("ERR syntax error"));
        assert_eq!(
            t.run(&["SCAN", "0", "COUNT", "abc"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(t.run(&["SCAN", "0", "MATCH"]), err("ERR syntax error"));
        assert_eq!(t.run(&["SCAN", "0", "FOO", "x"]), err("ERR syntax error"));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"+5"), Ok(5));
        assert!(parse_cursor(b"18446744073709551616").is_err());
    }

    #[test]
    fn rename_and_renamenx() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["RENAME", "x", "y"]), err("ERR no such key"));
        t.run(&["SET", "x", "1", "EX", "100"]);
        assert_eq!(t.run(&["RENAME", "x", "x"]), ok());
        assert_eq!(t.run(&["RENAME", "x", "y"]), ok());
        assert_eq!(t.run(&["TTL", "y"]), int(100), "the TTL moves with the key");
        t.run(&["SET", "z", "2"]);
        assert_eq!(t.run(&["RENAMENX", "y", "z"]), int(0));
        assert_eq!(t.run(&["RENAMENX", "y", "w"]), int(1));
        assert_eq!(
            t.run(&["MGET", "x", "y", "w"]),
            arr(vec![Frame::Null, Frame::Null, bulk("1")])
        );
    }

    #[test]
    fn copy_and_move_between_databases() {
        let mut t = TestDb::new();
        t.run(&["SET", "z", "3"]);
        assert_eq!(
            t.run(&["COPY", "z", "z"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(t.run(&["COPY", "z", "w"]), int(1));
        assert_eq!(t.run(&["COPY", "z", "w"]), int(0));
        assert_eq!(t.run(&["COPY", "z", "w", "REPLACE"]), int(1));
        assert_eq!(t.run(&["COPY", "z", "w", "DB", "1"]), int(1));
        assert_eq!(
            t.run(&["COPY", "z", "w", "DB", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            t.run(&["COPY", "z", "w", "DB", "abc"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(t.run(&["COPY", "z", "w", "FOO"]), err("ERR syntax error"));
        assert_eq!(
            t.run(&["MOVE", "w", "0"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(t.run(&["MOVE", "w", "1"]), int(0), "taken in db 1");
        assert_eq!(t.run(&["MOVE", "z", "2"]), int(1));
        assert_eq!(t.run(&["EXISTS", "z"]), int(0));
        t.run(&["SELECT", "2"]);
        assert_eq!(t.run(&["GET", "z"]), bulk("3"));
    }
}
