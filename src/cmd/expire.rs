//! TTL commands: EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX, XX, GT,
//! LT), TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST.
//!
//! A TTL is an absolute deadline in milliseconds stored in the entry. The
//! arithmetic follows Redis's `expireGenericCommand` and `ttlGenericCommand`
//! exactly, overflow checks included, and TTL rounds to the nearest second
//! (`EXPIRE k 10` then `TTL k` answers 10).

use crate::db::events::class;
use crate::db::journal;
use bytes::Bytes;
use store_api::{Entry, Op, Store};

use super::{is, Args, CmdError, Command, Ctx, Row};
use crate::db::ttl::{self, Base, Unit};
use crate::protocol::Frame;

/// TTL commands.
#[derive(Debug)]
pub enum Cmd {
    /// The EXPIRE family.
    Expire(Expire),
    /// TTL, PTTL, EXPIRETIME, PEXPIRETIME.
    Ttl(Bytes, Unit, Base),
    /// `PERSIST key`
    Persist(Bytes),
}

/// `EXPIRE key n [NX|XX|GT|LT]` and its millisecond / absolute variants.
#[derive(Debug)]
pub struct Expire {
    key: Bytes,
    n: Bytes,
    unit: Unit,
    base: Base,
    cond: Cond,
    name: &'static str,
}

#[derive(Debug, Default, Clone, Copy)]
struct Cond {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_generic(
    mut a: Args<'_>,
    unit: Unit,
    base: Base,
    name: &'static str,
) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let n = a.bytes()?;
    let mut cond = Cond::default();
    while let Some(opt) = a.next() {
        if is(&opt, "NX") {
            cond.nx = true;
        } else if is(&opt, "XX") {
            cond.xx = true;
        } else if is(&opt, "GT") {
            cond.gt = true;
        } else if is(&opt, "LT") {
            cond.lt = true;
        } else {
            return Err(CmdError::UnsupportedOption(opt));
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Err(CmdError::ExpireNxConflict);
    }
    if cond.gt && cond.lt {
        return Err(CmdError::ExpireGtLtConflict);
    }
    Ok(Command::Expire(Cmd::Expire(Expire {
        key,
        n,
        unit,
        base,
        cond,
        name,
    })))
}

fn parse_expire(a: Args<'_>) -> Result<Command, CmdError> {
    parse_expire_generic(a, Unit::Seconds, Base::Relative, "expire")
}

fn parse_pexpire(a: Args<'_>) -> Result<Command, CmdError> {
    parse_expire_generic(a, Unit::Millis, Base::Relative, "pexpire")
}

fn parse_expireat(a: Args<'_>) -> Result<Command, CmdError> {
    parse_expire_generic(a, Unit::Seconds, Base::Absolute, "expireat")
}

fn parse_pexpireat(a: Args<'_>) -> Result<Command, CmdError> {
    parse_expire_generic(a, Unit::Millis, Base::Absolute, "pexpireat")
}

fn ttl_query(mut a: Args<'_>, unit: Unit, base: Base) -> Result<Command, CmdError> {
    Ok(Command::Expire(Cmd::Ttl(a.bytes()?, unit, base)))
}

fn parse_ttl(a: Args<'_>) -> Result<Command, CmdError> {
    ttl_query(a, Unit::Seconds, Base::Relative)
}

fn parse_pttl(a: Args<'_>) -> Result<Command, CmdError> {
    ttl_query(a, Unit::Millis, Base::Relative)
}

fn parse_expiretime(a: Args<'_>) -> Result<Command, CmdError> {
    ttl_query(a, Unit::Seconds, Base::Absolute)
}

fn parse_pexpiretime(a: Args<'_>) -> Result<Command, CmdError> {
    ttl_query(a, Unit::Millis, Base::Absolute)
}

fn parse_persist(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Expire(Cmd::Persist(a.bytes()?)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("expire", parse_expire),
    ("pexpire", parse_pexpire),
    ("expireat", parse_expireat),
    ("pexpireat", parse_pexpireat),
    ("ttl", parse_ttl),
    ("pttl", parse_pttl),
    ("expiretime", parse_expiretime),
    ("pexpiretime", parse_pexpiretime),
    ("persist", parse_persist),
];

/// Execute a TTL command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    match cmd {
        Cmd::Expire(e) => expire(ctx, e),
        Cmd::Ttl(key, unit, base) => {
            let now = ctx.now;
            let reply = ctx.ks().read_notouch(&key, now, |e| {
                e.map_or(-2, |e| ttl::report(e.expires_at(), now, unit, base))
            });
            Ok(Frame::Integer(reply))
        }
        Cmd::Persist(key) => {
            let removed = ctx.ks().update(&key, ctx.now, |cur| match cur {
                Some(e) if e.expires_at().is_some() => {
                    (Op::Put(Entry::new(e.value.clone(), None)), 1)
                }
                _ => (Op::Keep, 0),
            });
            if removed == 1 {
                ctx.notify(class::GENERIC, "persist", &key);
            }
            Ok(Frame::Integer(removed))
        }
    }
}

/// The absolute deadline `e.n` asks for, with Redis's overflow checks.
fn deadline(e: &Expire, now: u64) -> Result<i64, CmdError> {
    let n = super::parse_int(&e.n)?;
    ttl::expire_deadline(n, e.unit, e.base, now).ok_or(CmdError::InvalidExpire(e.name))
}

fn expire<S: Store>(ctx: &mut Ctx<'_, S>, e: Expire) -> Result<Frame, CmdError> {
    let when = deadline(&e, ctx.now)?;
    let now = ctx.now as i64;
    let c = e.cond;
    let event = ctx.ks().update(&e.key, ctx.now, |cur| {
        let Some(cur) = cur else {
            return (Op::Keep, None);
        };
        let current = cur.expires_at().map(|at| at as i64);
        let refused = (c.nx && current.is_some())
            || (c.xx && current.is_none())
            || (c.gt && current.is_none_or(|at| when <= at))
            || (c.lt && current.is_some_and(|at| when >= at));
        if refused {
            (Op::Keep, None)
        } else if when <= now {
            (Op::Remove, Some("del"))
        } else {
            (
                Op::Put(Entry::new(cur.value.clone(), Some(when as u64))),
                Some("expire"),
            )
        }
    });
    if let Some(event) = event {
        // Logged as Redis propagates it: an absolute deadline, or the DEL.
        journal::rewrite(|| {
            vec![if event == "del" {
                journal::words(&[b"DEL", &e.key])
            } else {
                journal::words(&[b"PEXPIREAT", &e.key, when.to_string().as_bytes()])
            }]
        });
        ctx.notify(class::GENERIC, event, &e.key);
    }
    Ok(Frame::Integer(i64::from(event.is_some())))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn expire_then_ttl_rounds_like_redis() {
        let mut t = TestDb::new();
        t.run(&["SET", "k", "v"]);
        assert_eq!(t.run(&["EXPIRE", "k", "10"]), int(1));
        assert_eq!(t.run(&["TTL", "k"]), int(10));
        t.advance(400);
        assert_eq!(t.run(&["TTL", "k"]), int(10), "9.6 s rounds to 10");
        t.advance(200);
        assert_eq!(t.run(&["TTL", "k"]), int(9));
        assert_eq!(t.run(&["PTTL", "k"]), int(9400));
        assert_eq!(t.run(&["TTL", "nokey"]), int(-2));
        t.run(&["SET", "p", "v"]);
        assert_eq!(t.run(&["TTL", "p"]), int(-1));
        assert_eq!(t.run(&["EXPIRE", "nokey", "10"]), int(0));
    }

    #[test]
    fn expire_conditions() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "1"]);
        assert_eq!(t.run(&["EXPIRE", "a", "100", "XX"]), int(0));
        assert_eq!(
            t.run(&["EXPIRE", "a", "100", "GT"]),
            int(0),
            "no TTL counts as infinite"
        );
        assert_eq!(t.run(&["EXPIRE", "a", "100", "NX"]), int(1));
        assert_eq!(t.run(&["EXPIRE", "a", "100", "NX"]), int(0));
        assert_eq!(t.run(&["EXPIRE", "a", "50", "GT"]), int(0));
        assert_eq!(t.run(&["EXPIRE", "a", "50", "LT"]), int(1));
        assert_eq!(t.run(&["EXPIRE", "a", "200", "gt"]), int(1));
        assert_eq!(t.run(&["TTL", "a"]), int(200));
        assert_eq!(
            t.run(&["EXPIRE", "a", "10", "foo"]),
            err("ERR Unsupported option foo")
        );
        assert_eq!(
            t.run(&["EXPIRE", "a", "10", "nx", "xx"]),
            err("ERR NX and XX, GT or LT options at the same time are not compatible")
        );
        assert_eq!(
            t.run(&["EXPIRE", "a", "10", "gt", "lt"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
    }

    #[test]
    fn expire_in_the_past_deletes() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "1"]);
        assert_eq!(t.run(&["EXPIRE", "a", "-1"]), int(1));
        assert_eq!(t.run(&["EXISTS", "a"]), int(0));
        t.run(&["SET", "a", "1"]);
        assert_eq!(t.run(&["PEXPIREAT", "a", "1"]), int(1));
        assert_eq!(t.run(&["DBSIZE"]), int(0));
    }

    #[test]
    fn expire_overflow_is_an_error() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "1"]);
        for cmd in ["EXPIRE", "PEXPIRE", "EXPIREAT"] {
            let name = cmd.to_lowercase();
            assert_eq!(
                t.run(&[cmd, "a", "9223372036854775807"]),
                err(&format!("ERR invalid expire time in '{name}' command"))
            );
        }
        assert_eq!(
            t.run(&["EXPIRE", "a", "abc"]),
            err("ERR value is not an integer or out of range")
        );
    }

    #[test]
    fn expiretime_and_persist() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "1"]);
        assert_eq!(t.run(&["EXPIRETIME", "a"]), int(-1));
        t.run(&["PEXPIREAT", "a", "99999999999000"]);
        assert_eq!(t.run(&["PEXPIRETIME", "a"]), int(99999999999000));
        assert_eq!(t.run(&["EXPIRETIME", "a"]), int(99999999999));
        assert_eq!(t.run(&["PERSIST", "a"]), int(1));
        assert_eq!(t.run(&["PERSIST", "a"]), int(0));
        assert_eq!(t.run(&["PERSIST", "nokey"]), int(0));
    }
}
