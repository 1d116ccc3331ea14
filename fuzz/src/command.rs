//! Command sequences through the real dispatcher, without sockets.
//!
//! The input is decoded with `arbitrary` into steps: a command (its name
//! drawn from the command table's metadata, container commands with one of
//! their subcommands, or raw bytes) with arguments drawn from keys,
//! integers, option words and raw bytes; or a move of the manual clock so
//! keys expire; or a transaction (MULTI, commands, EXEC or DISCARD); or
//! a stretch in subscribed mode (SUBSCRIBE, commands, PUBLISH). Each
//! command runs through `flashkv::cmd::dispatch` on one
//! in-memory `ServerState` and `Session`, as a connection would run it;
//! work handed back as `Reply::Later` (KEYS, FLUSHALL) is run inline.
//!
//! Properties: nothing panics; every reply, in the protocol the session
//! speaks at that moment, encodes to bytes that `parse_frame` reads as
//! exactly one well-formed frame; every error reply starts with an
//! upper-case error code, as clients expect (`ERR`, `WRONGTYPE`, ...);
//! every message pushed to the client (pub/sub, keyspace events) is one
//! well-formed frame too.
//!
//! Inputs that start with [`TRAFFIC`] are captured client traffic instead:
//! the rest is decoded as RESP requests, one step each. The committed seed
//! corpus is such traffic (redis-cli, redis-benchmark, the differential
//! test scripts), and the fuzzer mutates it from there.
//!
//! `proto-max-bulk-len` is held at its minimum (1 MiB) so SETRANGE and
//! APPEND cannot make each run allocate hundreds of megabytes: large
//! values are Redis's documented behaviour, not a finding, and would only
//! slow the fuzzer down.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use flashkv::cmd::{meta::COMMANDS, run_inline, Client, Executor};
use flashkv::protocol::{encode, parse_frame, DecodeLimits, Decoder, Frame};
use flashkv::state::{ServerState, Session};
use flashkv::{Clock, Config, Db, Store};

/// The prefix of an input that holds captured RESP traffic.
pub const TRAFFIC: &[u8] = b"RESP";

/// Most steps run per input (keeps each run short).
const MAX_STEPS: usize = 64;
/// Most requests taken from captured traffic.
const MAX_REQUESTS: usize = 256;
/// `proto-max-bulk-len` for fuzzing: Redis's minimum.
const MAX_BULK: u64 = 1024 * 1024;

/// One step of a session.
#[derive(Arbitrary, Debug)]
enum Step {
    /// A command from the table, with generated arguments.
    Known(u16, Vec<Arg>),
    /// MULTI, these commands, then EXEC (or DISCARD when the flag says).
    Transaction(Vec<(u16, Vec<Arg>)>, bool),
    /// SUBSCRIBE (or PSUBSCRIBE) to channels, then these commands in
    /// subscribed mode, then PUBLISH to one of the channels.
    Subscribed(Vec<Arg>, bool, Vec<(u16, Vec<Arg>)>),
    /// A name and arguments of raw bytes.
    Raw(Vec<Vec<u8>>),
    /// Move the clock forward by this many milliseconds (times 16).
    Advance(u16),
}

/// One argument.
#[derive(Arbitrary, Debug)]
enum Arg {
    /// One of a few keys, so commands meet each other's data.
    Key(u8),
    /// Any integer.
    Int(i64),
    /// A small integer (counts, offsets, TTLs, database numbers).
    Small(i8),
    /// An option word or a tricky literal.
    Word(u8),
    /// A float, written the way a client might.
    Float(f64),
    /// Anything.
    Bytes(Vec<u8>),
}

/// Option words and literals commands react to.
const WORDS: &[&str] = &[
    "NX",
    "XX",
    "GT",
    "LT",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "PERSIST",
    "MATCH",
    "COUNT",
    "TYPE",
    "string",
    "list",
    "ASYNC",
    "SYNC",
    "NOSAVE",
    "SAVE",
    "ABORT",
    "NOW",
    "FORCE",
    "REPLACE",
    "DB",
    "ID",
    "ADDR",
    "LADDR",
    "USER",
    "SKIPME",
    "yes",
    "no",
    "MAXAGE",
    "NORMAL",
    "AUTH",
    "SETNAME",
    "default",
    "FILTERBY",
    "ACLCAT",
    "PATTERN",
    "MODULE",
    "BEFORE",
    "AFTER",
    "LEFT",
    "RIGHT",
    "RANK",
    "MAXLEN",
    "LIMIT",
    "WITHVALUES",
    "ALPHA",
    "DESC",
    "ASC",
    "BY",
    "STORE",
    "nosort",
    // Sorted sets, bitmaps, HyperLogLog, geo, LCS.
    "CH",
    "INCR",
    "BYSCORE",
    "BYLEX",
    "REV",
    "WITHSCORES",
    "WEIGHTS",
    "AGGREGATE",
    "MIN",
    "MAX",
    "SUM",
    "(1",
    "[a",
    "-",
    "+",
    "+inf",
    "zset",
    "BIT",
    "BYTE",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "SET",
    "INCRBY",
    "OVERFLOW",
    "WRAP",
    "SAT",
    "FAIL",
    "i8",
    "u4",
    "i64",
    "#3",
    "HYLL",
    "FROMMEMBER",
    "FROMLONLAT",
    "BYRADIUS",
    "BYBOX",
    "km",
    "WITHDIST",
    "WITHCOORD",
    "WITHHASH",
    "ANY",
    "STOREDIST",
    "13.36",
    "38.11",
    "IDX",
    "LEN",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "w_*",
    "h_*->f",
    "#",
    "ENCODING",
    "REFCOUNT",
    "TIMEOUT",
    "ERROR",
    "0.01",
    "hash",
    "set",
    "*",
    "?",
    "[a-",
    "\\",
    "*a*a*a*a*a*b",
    "maxclients",
    "timeout",
    "hz",
    "requirepass",
    "proto-max-bulk-len",
    "client-output-buffer-limit",
    "normal 1mb 1kb 1",
    "save",
    "databases",
    "2",
    "3",
    "4",
    "0",
    "-1",
    "+1",
    "01",
    " 1",
    "1.5",
    "inf",
    "-inf",
    "nan",
    "1e308",
    "-0",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551615",
    "",
    "\r\n",
    "\0",
    "all",
    "everything",
    "server",
    "keyspace",
    "clients",
    "stats",
    "default",
    "LIBRARYNAME",
    "ch",
    "c*",
    "__keyspace@0__:*",
    "KEA",
    "notify-keyspace-events",
    "CHANNELS",
    "NUMSUB",
    "NUMPAT",
];

/// Every command name, and every `container subcommand` pair.
fn names() -> &'static [Vec<&'static str>] {
    static NAMES: OnceLock<Vec<Vec<&'static str>>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v = Vec::new();
        for m in COMMANDS.iter() {
            v.push(vec![m.name]);
            for sub in m.subcommands {
                let short = sub.name.split_once('|').map_or(sub.name, |(_, s)| s);
                v.push(vec![m.name, short]);
            }
        }
        v
    })
}

fn arg_bytes(a: &Arg) -> Bytes {
    match a {
        Arg::Key(k) => Bytes::from(format!("k{}", k % 6)),
        Arg::Int(n) => Bytes::from(n.to_string()),
        Arg::Small(n) => Bytes::from(n.to_string()),
        Arg::Word(w) => Bytes::from_static(WORDS[usize::from(*w) % WORDS.len()].as_bytes()),
        Arg::Float(f) => Bytes::from(f.to_string()),
        Arg::Bytes(b) => Bytes::copy_from_slice(b),
    }
}

fn known(i: u16, args: &[Arg]) -> Vec<Bytes> {
    let all = names();
    let name = &all[usize::from(i) % all.len()];
    let mut v: Vec<Bytes> = name
        .iter()
        .map(|s| Bytes::from_static(s.as_bytes()))
        .collect();
    v.extend(args.iter().map(arg_bytes));
    v
}

fn words(w: &[&'static str]) -> Vec<Bytes> {
    w.iter().map(|s| Bytes::from_static(s.as_bytes())).collect()
}

/// The requests of one step.
fn requests_of(step: &Step) -> Vec<Vec<Bytes>> {
    match step {
        Step::Known(i, args) => vec![known(*i, args)],
        Step::Transaction(cmds, discard) => {
            let mut out = vec![words(&["MULTI"])];
            out.extend(cmds.iter().take(8).map(|(i, a)| known(*i, a)));
            out.push(words(&[if *discard { "DISCARD" } else { "EXEC" }]));
            out
        }
        Step::Subscribed(channels, pattern, cmds) => {
            let mut sub = words(&[if *pattern { "PSUBSCRIBE" } else { "SUBSCRIBE" }]);
            sub.extend(channels.iter().take(4).map(arg_bytes));
            if sub.len() == 1 {
                sub.push(Bytes::from_static(b"ch"));
            }
            let channel = sub[1].clone();
            let mut out = vec![sub];
            out.extend(cmds.iter().take(8).map(|(i, a)| known(*i, a)));
            let mut publish = words(&["PUBLISH"]);
            publish.extend([channel, Bytes::from_static(b"hello")]);
            out.push(publish);
            out
        }
        Step::Raw(raw) if !raw.is_empty() => {
            vec![raw.iter().map(|b| Bytes::copy_from_slice(b)).collect()]
        }
        Step::Raw(_) | Step::Advance(_) => vec![],
    }
}

/// A server and one authenticated client over backend `S`, on a manual
/// clock; no sockets, no background tasks.
fn setup<S: Store>() -> (Executor<S>, Client<S>, Clock) {
    let clock = Clock::manual(1_700_000_000_000);
    // Two databases keep SELECT, MOVE and SWAPDB meaningful; sixteen would
    // make building the state dominate each run.
    let config = Config {
        proto_max_bulk_len: MAX_BULK,
        databases: 2,
        // SAVE and BGSAVE write here, never into the working directory.
        dir: std::env::temp_dir().display().to_string(),
        dbfilename: format!("flashkv-fuzz-{}.rdb", std::process::id()),
        ..Config::default()
    };
    let mut config = config;
    // BGREWRITEAOF writes a base here.
    config.aof.dirname = format!("flashkv-fuzz-aof-{}", std::process::id());
    let db = Db::new(config.databases, clock.clone(), config.expiry);
    let state = Arc::new(ServerState::new(config, db, 6379));
    let addr: SocketAddr = "127.0.0.1:1".parse().expect("address");
    let handle = state
        .clients
        .register(addr, addr, -1, usize::MAX)
        .expect("register");
    let mut session = Session::new(handle);
    session.authenticated = true;
    let exec = Executor::with_all_commands(state);
    let client = exec.client(session);
    (exec, client, clock)
}

/// Every complete request in captured traffic (up to [`MAX_REQUESTS`]).
pub fn requests(traffic: &[u8]) -> Vec<Vec<Bytes>> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(traffic);
    let mut out = Vec::new();
    while out.len() < MAX_REQUESTS {
        match decoder.decode(&mut buf, DecodeLimits::default()) {
            Ok(Some(argv)) => out.push(argv),
            _ => break,
        }
    }
    out
}

/// Run one fuzz input against backend `S`.
pub fn check<S: Store>(data: &[u8]) {
    let (exec, mut client, clock) = setup::<S>();
    if let Some(traffic) = data.strip_prefix(TRAFFIC) {
        for argv in requests(traffic) {
            run(&exec, &mut client, argv);
        }
        return;
    }
    let Ok(steps) = Vec::<Step>::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    for step in steps.iter().take(MAX_STEPS) {
        if let Step::Advance(ms) = step {
            clock.advance(u64::from(*ms) * 16);
        }
        for argv in requests_of(step) {
            run(&exec, &mut client, argv);
        }
    }
}

/// One request, as a connection runs it, and the checks on its reply.
fn run<S: Store>(exec: &Executor<S>, client: &mut Client<S>, argv: Vec<Bytes>) {
    if turns_aof_on(&argv) {
        // Each would start the AOF's threads and files for a server that
        // lives one input; the AOF has its own tests.
        return;
    }
    let shown = format!("{argv:?}");
    let frame = run_inline(exec, client, argv);
    let session = &mut client.session;
    // A connection sends nothing after SHUTDOWN and closes after QUIT;
    // this session carries on, so undo both.
    if !std::mem::take(&mut session.shutdown_requested) {
        check_reply(&frame, session, &shown);
    }
    check_pushes(session, &shown);
    session.close_after_reply = false;
    keep_bulk_limit(&exec.state);
}

/// Messages published to this client (it may subscribe to what it
/// publishes, or to keyspace events) must each be one well-formed frame.
fn check_pushes(session: &Session, argv: &str) {
    let resp3 = session.proto == flashkv::protocol::Protocol::Resp3;
    session.handle.mailbox().take(usize::MAX, |item| {
        let mut out = BytesMut::new();
        item.encode_into(resp3, &mut out);
        match parse_frame(&out) {
            Ok(Some((_, used))) if used == out.len() => {}
            other => panic!("{argv}: pushed {out:?}, which parses as {other:?}"),
        }
    });
}

fn check_reply(frame: &Frame, session: &Session, argv: &str) {
    if let Frame::Seq(replies) = frame {
        // Several replies in a row (SUBSCRIBE): each must stand alone.
        return replies.iter().for_each(|r| check_reply(r, session, argv));
    }
    if let Frame::Array(items) = frame {
        if items.iter().any(|i| matches!(i, Frame::Seq(_))) {
            // EXEC of a (P|S)SUBSCRIBE of several channels: Redis 7.0
            // counts one reply per queued command but sends one per
            // channel, and so does FlashKV (byte for byte); each reply
            // still stands alone.
            return items.iter().for_each(|r| check_reply(r, session, argv));
        }
    }
    let mut out = BytesMut::new();
    encode(frame, session.proto, &mut out);
    match parse_frame(&out) {
        Ok(Some((_, used))) if used == out.len() => {}
        other => panic!("{argv}: reply {frame:?} encodes as {out:?}, which parses as {other:?}"),
    }
    // A script's errors are whatever the script says (Redis sends them
    // as they are).
    let scripted = ["\"EVAL", "\"FCALL", "\"EXEC"]
        .iter()
        .any(|p| argv.to_ascii_uppercase().contains(p));
    if !scripted {
        check_error_codes(frame, argv);
    }
}

/// Error replies start with an upper-case code word.
fn check_error_codes(frame: &Frame, argv: &str) {
    match frame {
        Frame::Error(text) => {
            let code = text.split(|&b| b == b' ').next().unwrap_or_default();
            assert!(
                !code.is_empty() && code.iter().all(|b| b.is_ascii_uppercase()),
                "{argv}: error without a code: {text:?}"
            );
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) | Frame::Seq(items) => {
            items.iter().for_each(|f| check_error_codes(f, argv));
        }
        Frame::Map(pairs) | Frame::Pairs(pairs) => pairs.iter().for_each(|(k, v)| {
            check_error_codes(k, argv);
            check_error_codes(v, argv);
        }),
        _ => {}
    }
}

/// CONFIG SET appendonly (any value: a config line may repeat it).
fn turns_aof_on(argv: &[Bytes]) -> bool {
    argv.first()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"config"))
        && argv.iter().any(|a| a.eq_ignore_ascii_case(b"appendonly"))
}

/// CONFIG SET may have raised `proto-max-bulk-len`; put it back.
fn keep_bulk_limit<S: Store>(state: &ServerState<S>) {
    let config = state.config();
    if config.proto_max_bulk_len > MAX_BULK {
        let mut next = Config::clone(&config);
        next.proto_max_bulk_len = MAX_BULK;
        drop(config);
        state.set_config(next);
    }
}
