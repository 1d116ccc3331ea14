//! DEBUG and the commands a Redis client or test suite expects of any
//! server even though FlashKV has nothing behind them: MODULE (no
//! modules), LOLWUT.
//!
//! DEBUG offers what clients' and Redis's own test suites use: RELOAD
//! (in `persist`), ERROR, SLEEP, SET-ACTIVE-EXPIRE, PAUSE-CRON,
//! SET-DISABLE-DENY-SCRIPTS, LOG, PROTOCOL, DIGEST,
//! DIGEST-VALUE and OBJECT. DIGEST is Redis's own algorithm (SHA1 mixed per
//! key, `debug.c`), so the same data gives the same digest in both servers
//! and a digest compares a FlashKV dataset with a Redis one.

use std::time::Duration;

use bytes::Bytes;
use store_api::{Coll, Entry, Store, Value};

use super::{help_reply, is, object, parse_int, persist, Args, CmdError, Command, Ctx, Reply, Row};
use crate::config::parse_memory;
use crate::db::Access;
use crate::db::{evict, rdb};
use crate::protocol::{Frame, Protocol};
use crate::util::numbers::{fmt_g17, strtod};
use crate::util::{hex20, sha1};

/// Debugging and compatibility commands.
#[derive(Debug)]
pub enum Cmd {
    /// `DEBUG subcommand ...`
    Debug(Vec<Bytes>),
    /// `LOLWUT [VERSION v]`
    Lolwut,
    /// `MODULE LIST`
    ModuleList,
    /// `MODULE HELP`
    ModuleHelp,
    /// `MODULE LOAD | LOADEX path`
    ModuleLoad(Bytes),
    /// `MODULE UNLOAD name`
    ModuleUnload,
}

fn parse_debug(a: Args<'_>) -> Result<Command, CmdError> {
    // Subcommands are read when it runs (`enable-debug-command` is checked
    // on admission, before anything else).
    Ok(Command::Debug(Cmd::Debug(a.rest())))
}

fn parse_lolwut(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    // Redis draws art for versions 5 and 6 only when asked for them; the
    // version itself must be an integer.
    if rest.len() >= 2 && is(&rest[0], "VERSION") {
        parse_int(&rest[1])?;
    }
    Ok(Command::Debug(Cmd::Lolwut))
}

fn parse_module_load(a: Args<'_>) -> Result<Command, CmdError> {
    let path = a.rest().first().cloned().unwrap_or_default();
    Ok(Command::Debug(Cmd::ModuleLoad(path)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("debug", parse_debug),
    ("lolwut", parse_lolwut),
    ("module|list", |_| Ok(Command::Debug(Cmd::ModuleList))),
    ("module|help", |_| Ok(Command::Debug(Cmd::ModuleHelp))),
    ("module|load", parse_module_load),
    ("module|loadex", parse_module_load),
    ("module|unload", |_| Ok(Command::Debug(Cmd::ModuleUnload))),
];

const MODULE_HELP: &[&str] = &[
    "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
    "HELP",
    "    Prints this help.",
];

/// Redis's help lines for the subcommands FlashKV offers.
const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "HTSTATS-KEY <key>",
    "    Show the hash table of a hash, set or sorted set held in one.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will fail the load (Redis stops the server).",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Accepted for Redis's tests; FlashKV's reply buffers keep no peak to reset.",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable giving back idle clients' buffers (Redis: the reply buffer",
    "    resize cron job).",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "HELP",
    "    Prints this help.",
];

/// DEBUG POPULATE: string keys `prefix:N` holding `value:N` (cut or
/// padded with zero bytes to `size` when it is not 0); keys that exist are
/// left alone. Not journaled, as in Redis.
fn populate<S: Store>(ctx: &Ctx<'_, S>, prefix: &[u8], count: u64, size: usize) -> Frame {
    let ks = ctx.ks();
    // In the journal's order: an expired key found on the way is logged
    // as deleted (the keys made are not, as in Redis).
    let journal = ctx.state.db.journal();
    journal.ordered(|| populate_keys(&ks, prefix, count, size, ctx.now));
    Frame::ok()
}

fn populate_keys<S: Store>(ks: &Access<'_, S>, prefix: &[u8], count: u64, size: usize, now: u64) {
    for n in 0..count {
        let mut key = prefix.to_vec();
        key.push(b':');
        key.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        key.truncate(127); // Redis formats into a 128-byte buffer
        let mut value = format!("value:{n}").into_bytes();
        if size > 0 {
            value.resize(size, 0);
        }
        ks.mutate(&key, now, |slot| {
            if slot.entry().is_none() {
                slot.put(Entry::string(&value));
            }
        });
    }
}

/// Execute a debugging or compatibility command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    Ok(match cmd {
        Cmd::Debug(args) => return debug(args, ctx),
        Cmd::Lolwut => Reply::Now(Frame::Verbatim(
            "txt",
            format!("Redis ver. {}\n", crate::REDIS_VERSION).into(),
        )),
        Cmd::ModuleList => Reply::Now(Frame::Array(vec![])),
        Cmd::ModuleHelp => Reply::Now(help_reply(MODULE_HELP)),
        // Reached only when `enable-module-command` allows it (checked on
        // admission): FlashKV has no module API, so every load fails.
        Cmd::ModuleLoad(path) => {
            tracing::warn!(
                "Module {} failed to load: FlashKV does not load modules",
                String::from_utf8_lossy(&path)
            );
            return Err(CmdError::ModuleLoadFailed);
        }
        Cmd::ModuleUnload => return Err(CmdError::NoSuchModule),
    })
}

fn debug<S: Store>(args: Vec<Bytes>, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    // `enable-debug-command` was checked on admission (Redis's
    // CMD_PROTECTED).
    let Some(sub) = args.first() else {
        return Err(CmdError::WrongArity("debug"));
    };
    let now = Reply::Now;
    let sub_is = |name: &str, n: usize| is(sub, name) && args.len() == n;
    // The dataset loading at start: no second load over it.
    if (is(sub, "RELOAD") || is(sub, "LOADAOF")) && ctx.state.db.loading().active() {
        return Err(CmdError::Loading);
    }
    Ok(match () {
        _ if sub_is("HELP", 1) => now(help_reply(DEBUG_HELP)),
        _ if is(sub, "RELOAD") => now(persist::debug_reload(ctx, &args[1..])?),
        _ if sub_is("LOADAOF", 1) => {
            // Its section takes the order lock, which comes before the
            // stripes a transaction holds.
            if ctx.in_transaction() {
                return Err(CmdError::NotInMulti);
            }
            if let Err(e) = ctx.state.load_aof() {
                tracing::warn!(cause = %e, "DEBUG LOADAOF failed");
                return Err(CmdError::Reply(format!("ERR {e}").into()));
            }
            now(Frame::ok())
        }
        _ if sub_is("ERROR", 2) => {
            // Sent as given: no code added, line breaks made spaces.
            let text: Vec<u8> = args[1]
                .iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect();
            now(Frame::Error(text.into()))
        }
        _ if sub_is("SLEEP", 2) => {
            // Redis stops the whole server: every other client waits as
            // under CLIENT PAUSE ALL (tests use it to make a server that
            // does not answer), and this client's reply comes after the
            // sleep (on a blocking thread, or inline in a transaction).
            let secs = strtod(&args[1]).map_or(0.0, |(d, _)| d);
            let pause = Duration::try_from_secs_f64(secs).unwrap_or_default();
            if !pause.is_zero() {
                ctx.state.pause(crate::state::PauseMode::All, pause);
            }
            Reply::Later(Box::new(move || {
                std::thread::sleep(pause);
                Frame::ok()
            }))
        }
        _ if args[0].eq_ignore_ascii_case(b"POPULATE") && (2..=4).contains(&args.len()) => {
            let count = parse_int(&args[1]).map_err(|_| CmdError::NotPositive)?;
            let size = match args.get(3) {
                Some(s) => parse_int(s).map_err(|_| CmdError::NotPositive)?,
                None => 0,
            };
            if count < 0 || size < 0 {
                return Err(CmdError::NotPositive);
            }
            let prefix = args.get(2).map_or(&b"key"[..], |p| &p[..]);
            now(populate(ctx, prefix, count as u64, size as usize))
        }
        _ if sub_is("QUICKLIST-PACKED-THRESHOLD", 2) => {
            // FlashKV's lists hold elements of any size alike; the
            // threshold decides how DUMP and RDB files write them (a PLAIN
            // node per large element, as Redis's quicklist).
            let size = std::str::from_utf8(&args[1]).ok().map(parse_memory);
            now(match size {
                Some(Ok(n)) if rdb::set_packed_threshold(n) => Frame::ok(),
                _ => Frame::error(
                    "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
                ),
            })
        }
        _ if sub_is("SET-ACTIVE-EXPIRE", 2) => {
            ctx.state.db.set_active_expire(atoi(&args[1]) != 0);
            now(Frame::ok())
        }
        _ if sub_is("SET-DISABLE-DENY-SCRIPTS", 2) => {
            ctx.state.scripts.set_deny_disabled(atoi(&args[1]) != 0);
            now(Frame::ok())
        }
        _ if sub_is("SET-SKIP-CHECKSUM-VALIDATION", 2) => {
            let skip = atoi(&args[1]) != 0;
            ctx.state
                .skip_checksum
                .store(skip, std::sync::atomic::Ordering::Relaxed);
            now(Frame::ok())
        }
        _ if sub_is("CONFIG-REWRITE-FORCE-ALL", 1) => {
            // Redis answers with strerror() (no config file: its fopen of
            // a NULL path, "Bad address").
            let failed = if ctx.state.config_file.is_empty() {
                Some("Bad address".to_string())
            } else {
                crate::cmd::server::rewrite_config(ctx.state, true)
                    .err()
                    .map(|e| crate::state::listen::strerror(&e))
            };
            now(match failed {
                None => Frame::ok(),
                Some(why) => Frame::error(format!("ERR CONFIG-REWRITE-FORCE-ALL failed: {why}")),
            })
        }
        _ if sub_is("AOF-FLUSH-SLEEP", 2) => {
            let micros = u64::try_from(atoi(&args[1])).unwrap_or(0);
            ctx.state.db.journal().set_flush_sleep(micros);
            now(Frame::ok())
        }
        _ if sub_is("REPLYBUFFER", 3) => {
            let value = &args[2];
            if is(&args[1], "RESIZING") {
                // FlashKV's analogue of Redis's reply buffer resizing:
                // the cron taking back an idle connection's buffers.
                ctx.state.clients.set_idle_trim(atoi(value) != 0);
            } else if is(&args[1], "PEAK-RESET-TIME") {
                // Checked as Redis checks it; FlashKV keeps no reply
                // buffer peak to reset.
                if !is(value, "NEVER") && !is(value, "RESET") {
                    parse_int(value)?;
                }
            } else {
                return Err(CmdError::SubcommandSyntax(
                    sub.clone(),
                    Bytes::from_static(b"DEBUG"),
                ));
            }
            now(Frame::ok())
        }
        _ if sub_is("PAUSE-CRON", 2) => {
            ctx.state.db.set_cron_paused(atoi(&args[1]) != 0);
            now(Frame::ok())
        }
        _ if sub_is("LOG", 2) => {
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&args[1]));
            now(Frame::ok())
        }
        _ if sub_is("PROTOCOL", 2) => now(protocol(&args[1], ctx.session.proto)?),
        _ if sub_is("DIGEST", 1) => now(hex_status(dataset_digest(ctx))),
        _ if is(sub, "DIGEST-VALUE") => {
            let ks = ctx.ks();
            let digests = args[1..]
                .iter()
                .map(|key| {
                    // A logically expired key counts, as in Redis.
                    let d = ks.peek_raw(key, |e| e.map(value_digest));
                    hex_status(d.unwrap_or([0; 20]))
                })
                .collect();
            now(Frame::Array(digests))
        }
        _ if sub_is("OBJECT", 2) => now(debug_object(&args[1], ctx)?),
        _ if sub_is("HTSTATS-KEY", 2) => now(htstats_key(&args[1], ctx)?),
        _ => {
            return Err(CmdError::SubcommandSyntax(
                sub.clone(),
                Bytes::from_static(b"DEBUG"),
            ))
        }
    })
}

/// C's `atoi`: optional sign and leading digits, 0 when there are none.
fn atoi(b: &[u8]) -> i64 {
    let s = std::str::from_utf8(b).unwrap_or("").trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n = digits[..end].parse::<i64>().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

/// DEBUG PROTOCOL's sample replies, as Redis sends them.
fn protocol(name: &[u8], proto: Protocol) -> Result<Frame, CmdError> {
    let ints = || (0..3).map(Frame::Integer).collect::<Vec<_>>();
    Ok(match () {
        _ if is(name, "string") => Frame::bulk("Hello World"),
        _ if is(name, "integer") => Frame::Integer(12345),
        _ if is(name, "double") => Frame::DoubleText(Bytes::from_static(b"3.141")),
        _ if is(name, "bignum") => {
            Frame::BigNumber(Bytes::from_static(b"1234567999999999999999999999999999999"))
        }
        _ if is(name, "null") => Frame::Null,
        _ if is(name, "array") => Frame::Array(ints()),
        _ if is(name, "set") => Frame::Set(ints()),
        _ if is(name, "map") => Frame::Map(
            (0..3)
                .map(|i| (Frame::Integer(i), Frame::Boolean(i == 1)))
                .collect(),
        ),
        _ if is(name, "attrib") => Frame::Seq(vec![
            Frame::Attribute(vec![(
                Frame::bulk("key-popularity"),
                Frame::Array(vec![Frame::bulk("key:123"), Frame::Integer(90)]),
            )]),
            Frame::bulk("Some real reply following the attribute"),
        ]),
        _ if is(name, "push") => {
            if proto != Protocol::Resp3 {
                return Err(CmdError::Resp2Unsupported);
            }
            Frame::Seq(vec![
                Frame::Push(vec![Frame::bulk("server-cpu-usage"), Frame::Integer(42)]),
                Frame::bulk("Some real reply following the push reply"),
            ])
        }
        _ if is(name, "verbatim") => {
            Frame::Verbatim("txt", Bytes::from_static(b"This is a verbatim\nstring"))
        }
        _ if is(name, "true") => Frame::Boolean(true),
        _ if is(name, "false") => Frame::Boolean(false),
        _ => return Err(CmdError::WrongProtocolType),
    })
}

fn hex_status(digest: [u8; 20]) -> Frame {
    Frame::Simple(Bytes::copy_from_slice(&hex20(&digest)))
}

/// `xorDigest`: XOR the SHA1 of `data` into `digest`.
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    for (d, h) in digest.iter_mut().zip(sha1(data)) {
        *d ^= h;
    }
}

/// `mixDigest`: XOR the SHA1 of `data` in, then hash the result, so the
/// order of mixed-in items matters.
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1(&digest[..]);
}

/// DEBUG DIGEST-VALUE's digest of one entry.
fn value_digest(e: &Entry) -> [u8; 20] {
    let mut digest = [0u8; 20];
    object_digest(&mut digest, e);
    digest
}

/// Redis's `xorObjectDigest`: mix into `digest` the entry's type, then its
/// elements (order-sensitive for strings and lists, order-free for sets,
/// hashes and sorted sets), then a mark if the key has a TTL.
fn object_digest(digest: &mut [u8; 20], e: &Entry) {
    // OBJ_STRING 0, OBJ_LIST 1, OBJ_SET 2, OBJ_ZSET 3, OBJ_HASH 4.
    let obj_type: u32 = match &e.value {
        Value::Str(_) | Value::Coll(Coll::Raw(_)) => 0,
        Value::Coll(Coll::List(_)) => 1,
        Value::Coll(Coll::Set(_)) => 2,
        Value::Coll(Coll::ZSet(_)) => 3,
        Value::Coll(Coll::Hash(_)) => 4,
    };
    mix_digest(digest, &obj_type.to_be_bytes());
    let pair = |digest: &mut [u8; 20], a: &[u8], b: &[u8]| {
        let mut ele = [0u8; 20];
        mix_digest(&mut ele, a);
        mix_digest(&mut ele, b);
        xor_digest(digest, &ele);
    };
    match &e.value {
        Value::Str(s) => mix_digest(digest, s.as_bytes()),
        Value::Coll(Coll::Raw(r)) => mix_digest(digest, &r.read()),
        Value::Coll(Coll::List(l)) => l.read().iter().for_each(|x| mix_digest(digest, x)),
        Value::Coll(Coll::Set(s)) => {
            for m in s.read().iter() {
                xor_digest(digest, &m.to_vec());
            }
        }
        Value::Coll(Coll::ZSet(z)) => {
            for (member, score) in z.read().iter() {
                pair(digest, member, fmt_g17(score).as_bytes());
            }
        }
        Value::Coll(Coll::Hash(h)) => {
            for (field, value) in h.read().iter() {
                pair(digest, field, value);
            }
        }
    }
    if e.expires_at().is_some() {
        xor_digest(digest, b"!!expire!!");
    }
}

/// Redis's `computeDatasetDigest`: every database that holds keys mixes in
/// its index, then XORs in each key's digest (the key mixed in, then the
/// value as `object_digest` mixes it).
fn dataset_digest<S: Store>(ctx: &Ctx<'_, S>) -> [u8; 20] {
    let mut digest = [0u8; 20];
    for (index, ks) in ctx.databases().iter().enumerate() {
        let access = ctx.access(ks);
        if access.is_empty() {
            continue;
        }
        mix_digest(&mut digest, &(index as u32).to_be_bytes());
        access.for_each_entry(|key, e| {
            let mut one = [0u8; 20];
            mix_digest(&mut one, key);
            object_digest(&mut one, e);
            xor_digest(&mut digest, &one);
        });
    }
    digest
}

/// DEBUG OBJECT: Redis's line, with the entry's real encoding, its RDB
/// length and its access clock. There is no object address to show.
fn debug_object<S: Store>(key: &[u8], ctx: &Ctx<'_, S>) -> Result<Frame, CmdError> {
    let (compress, now) = (ctx.config.rdbcompression, ctx.now);
    let list_max = ctx.config.encodings.list_max_listpack_size;
    let line = ctx.ks().peek_raw(key, |e| {
        e.map(|e| {
            // The payload is type, value, RDB version (2) and CRC (8).
            let serialized = rdb::dump_payload(&e.value, compress).len() - 11;
            let clock = e.access().get();
            let mut line = format!(
                "Value at:0x0 refcount:1 encoding:{} serializedlength:{serialized} lru:{clock} lru_seconds_idle:{}",
                object::encoding(&e.value),
                evict::idle_ms(clock, now) / 1000
            );
            if let Value::Coll(Coll::List(l)) = &e.value {
                let l = l.read();
                let nodes = l.node_count();
                line += &format!(
                    " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{list_max} ql_compressed:0 ql_uncompressed_size:{}",
                    l.len() as f64 / nodes.max(1) as f64,
                    // Each node's elements plus a listpack's 7 bytes of
                    // header and end mark.
                    l.packed_bytes() + 7 * nodes
                );
            }
            line
        })
    });
    line.map(|l| Frame::Simple(l.into()))
        .ok_or(CmdError::NoSuchKey)
}

/// DEBUG HTSTATS-KEY: Redis's `dictGetStats` text for the hash table of
/// a hash, set or sorted set that has one. FlashKV's tables are open
/// addressing (`store_api::value::table`): every element has a bucket of
/// its own, so "chains" are all of length 1, and none is ever rehashing
/// (a table grows in one step).
fn htstats_key<S: Store>(key: &[u8], ctx: &Ctx<'_, S>) -> Result<Frame, CmdError> {
    let found = ctx.ks().peek_raw(key, |e| {
        e.map(|e| match &e.value {
            Value::Coll(Coll::Hash(h)) => {
                let h = h.read();
                h.buckets().map(|b| (b, h.len()))
            }
            Value::Coll(Coll::Set(s)) => {
                let s = s.read();
                s.buckets().map(|b| (b, s.len()))
            }
            Value::Coll(Coll::ZSet(z)) => {
                let z = z.read();
                z.buckets().map(|b| (b, z.len()))
            }
            _ => None,
        })
    });
    let (buckets, len) =
        found
            .ok_or(CmdError::NoSuchKey)?
            .ok_or(CmdError::Reply(Bytes::from_static(
                b"ERR The value stored at the specified key is not represented using an hash table",
            )))?;
    Ok(Frame::Verbatim("txt", dict_stats(buckets, len).into()))
}

/// `_dictGetStatsHt` for table 0 of `buckets` buckets holding `len`
/// elements, one per bucket.
fn dict_stats(buckets: usize, len: usize) -> String {
    if len == 0 {
        return "No stats available for empty dictionaries\n".into();
    }
    let pct = |n: usize| n as f32 / buckets as f32 * 100.0;
    let mut s = format!(
        "Hash table 0 stats (main hash table):\n table size: {buckets}\n number of elements: {len}\n different slots: {len}\n max chain length: 1\n avg chain length (counted): 1.00\n avg chain length (computed): 1.00\n Chain length distribution:\n"
    );
    if buckets > len {
        s += &format!("   0: {} ({:.2}%)\n", buckets - len, pct(buckets - len));
    }
    s += &format!("   1: {len} ({:.2}%)\n", pct(len));
    s
}

#[cfg(test)]
mod tests;
