//! OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ | HELP.
//!
//! ENCODING answers Redis 7.0's names from the same rules: a string is
//! `int` when it reads as a 64-bit integer (`string2ll`, at most 20
//! characters), `embstr` up to 44 bytes, `raw` beyond, and `raw` at any
//! length once APPEND, SETRANGE, SETBIT or BITFIELD edited it or BITOP or
//! an HLL command built it (a mark the string carries, see `Str::raw`);
//! lists are `quicklist`; hashes `listpack` or `hashtable`; sets `intset`
//! or `hashtable`, by the `*-max-*` thresholds.

use bytes::Bytes;
use store_api::{Coll, Entry, Store, Value};

use super::{help_reply, Args, CmdError, Command, Ctx, Row};
use crate::db::evict;
use crate::protocol::Frame;
use crate::util::numbers::string2ll;

/// OBJECT subcommands.
#[derive(Debug)]
pub enum Cmd {
    /// `OBJECT ENCODING key`
    Encoding(Bytes),
    /// `OBJECT REFCOUNT key`
    RefCount(Bytes),
    /// `OBJECT IDLETIME key`
    IdleTime(Bytes),
    /// `OBJECT FREQ key`
    Freq(Bytes),
    /// `OBJECT HELP`
    Help,
}

fn parse_encoding(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Object(Cmd::Encoding(a.bytes()?)))
}

fn parse_refcount(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Object(Cmd::RefCount(a.bytes()?)))
}

fn parse_idletime(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Object(Cmd::IdleTime(a.bytes()?)))
}

fn parse_freq(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Object(Cmd::Freq(a.bytes()?)))
}

fn parse_help(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Object(Cmd::Help))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("object|encoding", parse_encoding),
    ("object|refcount", parse_refcount),
    ("object|idletime", parse_idletime),
    ("object|freq", parse_freq),
    ("object|help", parse_help),
];

/// Redis shares the integers 0..9999 between keys (`OBJ_SHARED_INTEGERS`),
/// so their refcount is `OBJ_SHARED_REFCOUNT`.
const SHARED_INTEGERS: i64 = 10_000;
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// OBJECT ENCODING's name for a value.
pub fn encoding(v: &Value) -> &'static str {
    match v {
        Value::Str(b) if b.is_raw() => "raw",
        Value::Str(b) if b.len() <= 20 && string2ll(b).is_some() => "int",
        Value::Str(b) if b.len() <= 44 => "embstr",
        Value::Str(_) | Value::Coll(Coll::Raw(_)) => "raw",
        Value::Coll(Coll::List(_)) => "quicklist",
        Value::Coll(Coll::Hash(h)) => h.read().encoding(),
        Value::Coll(Coll::Set(s)) => s.read().encoding(),
        Value::Coll(Coll::ZSet(z)) => z.read().encoding(),
    }
}

fn refcount(e: &Entry) -> i64 {
    match &e.value {
        Value::Str(b) if string2ll(b).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n)) => {
            SHARED_REFCOUNT
        }
        _ => 1,
    }
}

/// Execute an OBJECT subcommand.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    Ok(match cmd {
        Cmd::Encoding(key) => ks.peek_untouched(&key, now, |e| {
            e.map_or(Frame::Null, |e| {
                Frame::Bulk(Bytes::from_static(encoding(&e.value).as_bytes()))
            })
        }),
        Cmd::RefCount(key) => ks.peek_untouched(&key, now, |e| {
            e.map_or(Frame::Null, |e| Frame::Integer(refcount(e)))
        }),
        Cmd::IdleTime(key) => {
            let Some(clock) = ks.peek_untouched(&key, now, |e| e.map(|e| e.access().get())) else {
                return Ok(Frame::Null);
            };
            if ctx.config.memory.policy.is_lfu() {
                return Err(CmdError::LfuSelected);
            }
            Frame::Integer((evict::idle_ms(clock, now) / 1000) as i64)
        }
        Cmd::Freq(key) => {
            let Some(clock) = ks.peek_untouched(&key, now, |e| e.map(|e| e.access().get())) else {
                return Ok(Frame::Null);
            };
            if !ctx.config.memory.policy.is_lfu() {
                return Err(CmdError::LfuNotSelected);
            }
            let counter = ctx.state.db.events().access_clock().decayed(clock, now);
            Frame::Integer(i64::from(counter))
        }
        Cmd::Help => help_reply(HELP),
    })
}

const HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    #[test]
    fn string_encodings_and_refcounts() {
        let mut t = TestDb::new();
        for (v, enc) in [
            ("-5", "int"),
            ("12345678901234567890", "embstr"),
            ("0012", "embstr"),
            (&"x".repeat(44), "embstr"),
            (&"x".repeat(45), "raw"),
        ] {
            t.run(&["SET", "k", v]);
            assert_eq!(t.run(&["OBJECT", "ENCODING", "k"]), bulk(enc), "{v}");
        }
        t.run(&["SET", "k", "9999"]);
        assert_eq!(t.run(&["OBJECT", "REFCOUNT", "k"]), int(2147483647));
        t.run(&["SET", "k", "10000"]);
        assert_eq!(t.run(&["OBJECT", "REFCOUNT", "k"]), int(1));
        assert_eq!(t.run(&["OBJECT", "ENCODING", "nokey"]), Frame::Null);
        assert_eq!(t.run(&["OBJECT", "FREQ", "nokey"]), Frame::Null);
        assert!(matches!(t.run(&["OBJECT", "FREQ", "k"]), Frame::Error(_)));
        t.run(&["RPUSH", "l", "a"]);
        assert_eq!(t.run(&["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
    }
}
