//! Counter commands: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.
//!
//! Each is one atomic `update`: the closure parses the current value,
//! checks for overflow with Redis's exact rules, and writes the new value
//! (keeping the TTL, as Redis's `dbOverwrite` does). INCRBYFLOAT computes in
//! x87 80-bit extended precision, like Redis's `long double` on x86-64, so
//! `INCRBYFLOAT k 0.1` after `SET k 10.5` answers `10.6` byte for byte.

use crate::db::events::class;
use crate::db::journal;
use bytes::Bytes;
use store_api::{Entry, Op, Store, Str, Value};

use super::{rmw, str_of, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::util::longdouble;
use crate::util::numbers::string2ll;

/// Counter commands.
#[derive(Debug)]
pub enum Cmd {
    /// INCR, DECR, INCRBY, DECRBY: add this to the integer under the key.
    IncrBy(Bytes, i64),
    /// `INCRBYFLOAT key increment` (the increment as sent; Redis parses it
    /// after checking the key).
    IncrByFloat(Bytes, Bytes),
}

fn parse_incr(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Counters(Cmd::IncrBy(a.bytes()?, 1)))
}

fn parse_decr(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Counters(Cmd::IncrBy(a.bytes()?, -1)))
}

fn parse_incrby(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Counters(Cmd::IncrBy(key, a.int()?)))
}

fn parse_decrby(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let by = a.int()?;
    // The one decrement that cannot be negated has its own message.
    let by = by.checked_neg().ok_or(CmdError::DecrementOverflow)?;
    Ok(Command::Counters(Cmd::IncrBy(key, by)))
}

fn parse_incrbyfloat(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Counters(Cmd::IncrByFloat(key, a.bytes()?)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("incr", parse_incr),
    ("decr", parse_decr),
    ("incrby", parse_incrby),
    ("decrby", parse_decrby),
    ("incrbyfloat", parse_incrbyfloat),
];

/// Execute a counter command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    match cmd {
        Cmd::IncrBy(key, by) => {
            let n = ctx.ks().update(&key, ctx.now, rmw(|cur| incr(cur, by)))?;
            ctx.notify(class::STRING, "incrby", &key);
            Ok(Frame::Integer(n))
        }
        Cmd::IncrByFloat(key, by) => {
            let text = ctx
                .ks()
                .update(&key, ctx.now, rmw(|cur| incr_float(cur, &by)))?;
            // Logged as the value it made, so replay cannot round apart.
            journal::rewrite(|| vec![journal::words(&[b"SET", &key, &text, b"KEEPTTL"])]);
            ctx.notify(class::STRING, "incrbyfloat", &key);
            Ok(Frame::Bulk(text))
        }
    }
}

fn incr(cur: Option<&Entry>, by: i64) -> Result<(Op, i64), CmdError> {
    let old = match str_of(cur)? {
        Some(v) => string2ll(&v).ok_or(CmdError::NotInteger)?,
        None => 0,
    };
    let n = old.checked_add(by).ok_or(CmdError::Overflow)?;
    // Formatted straight into the entry: an inline counter allocates nothing.
    let text = itoa::Buffer::new().format(n).as_bytes().into();
    let entry = Entry::new(Value::Str(text), cur.and_then(|e| e.expires_at()));
    Ok((Op::Put(entry), n))
}

fn incr_float(cur: Option<&Entry>, by: &[u8]) -> Result<(Op, Bytes), CmdError> {
    let old = match str_of(cur)? {
        Some(v) => longdouble::parse(&v).ok_or(CmdError::NotFloat)?,
        None => longdouble::F80::ZERO,
    };
    let by = longdouble::parse(by).ok_or(CmdError::NotFloat)?;
    let sum = longdouble::add(old, by);
    if !sum.is_finite() {
        return Err(CmdError::NanOrInfinity);
    }
    let text = Bytes::from(longdouble::format_human(sum));
    let entry = Entry::new(
        Value::Str(Str::new(&text)),
        cur.and_then(|e| e.expires_at()),
    );
    Ok((Op::Put(entry), text))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn incr_family_counts() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["INCR", "c"]), int(1));
        assert_eq!(t.run(&["INCRBY", "c", "10"]), int(11));
        assert_eq!(t.run(&["DECR", "c"]), int(10));
        assert_eq!(t.run(&["DECRBY", "c", "5"]), int(5));
        assert_eq!(t.run(&["GET", "c"]), bulk("5"));
    }

    #[test]
    fn incr_rejects_non_integers_and_overflow() {
        let mut t = TestDb::new();
        t.run(&["SET", "s", " 1"]);
        assert_eq!(
            t.run(&["INCR", "s"]),
            err("ERR value is not an integer or out of range")
        );
        t.run(&["SET", "q", "1.0"]);
        assert_eq!(
            t.run(&["INCR", "q"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            t.run(&["INCRBY", "c", "abc"]),
            err("ERR value is not an integer or out of range")
        );
        t.run(&["SET", "n", "9223372036854775807"]);
        assert_eq!(
            t.run(&["INCR", "n"]),
            err("ERR increment or decrement would overflow")
        );
        assert_eq!(
            t.run(&["DECRBY", "n", "-9223372036854775808"]),
            err("ERR decrement would overflow")
        );
        assert_eq!(t.run(&["DECRBY", "n", "1"]), int(9223372036854775806));
        t.run(&["SET", "m", "-9223372036854775808"]);
        assert_eq!(
            t.run(&["DECR", "m"]),
            err("ERR increment or decrement would overflow")
        );
    }

    #[test]
    fn incr_keeps_the_ttl() {
        let mut t = TestDb::new();
        t.run(&["SET", "c", "1", "EX", "100"]);
        t.run(&["INCR", "c"]);
        assert_eq!(t.run(&["TTL", "c"]), int(100));
    }

    #[test]
    fn incrbyfloat_uses_long_double_precision() {
        let mut t = TestDb::new();
        t.run(&["SET", "k", "10.50"]);
        assert_eq!(t.run(&["INCRBYFLOAT", "k", "0.1"]), bulk("10.6"));
        assert_eq!(
            t.run(&["INCRBYFLOAT", "f", "1000.1"]),
            bulk("1000.09999999999999998")
        );
        assert_eq!(
            t.run(&["INCRBYFLOAT", "f", "abc"]),
            err("ERR value is not a valid float")
        );
        assert_eq!(
            t.run(&["INCRBYFLOAT", "f", "inf"]),
            err("ERR increment would produce NaN or Infinity")
        );
        t.run(&["SET", "hx", "0x10"]);
        assert_eq!(t.run(&["INCRBYFLOAT", "hx", "1"]), bulk("17"));
        t.run(&["SET", "z", "5"]);
        assert_eq!(t.run(&["INCRBYFLOAT", "z", "-5"]), bulk("0"));
    }
}
