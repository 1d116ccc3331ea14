//! MEMORY USAGE | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP (Redis's
//! `memoryCommand` in `object.c`).
//!
//! MEMORY USAGE estimates what a key costs: the map's own cost per key
//! (`Store::KEY_OVERHEAD`, measured per backend), the key's and value's
//! allocations in jemalloc size classes, and for collections their
//! payload plus a per-element cost that depends on the encoding (a few
//! bytes in a listpack or intset, a table slot and headers in a hash
//! table or skiplist). Collections are measured whole, not sampled:
//! `SAMPLES` is checked as Redis checks it and otherwise does not change
//! the answer.

use bytes::Bytes;
use store_api::{Entry, Store, Value};

use super::info::{percent, ratio, MemoryFigures};
use super::object::encoding;
use super::{help_reply, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::util::numbers::fmt_g17;

/// MEMORY subcommands.
#[derive(Debug)]
pub enum Cmd {
    /// `MEMORY USAGE key [SAMPLES n]`
    Usage(Bytes),
    /// `MEMORY STATS`
    Stats,
    /// `MEMORY DOCTOR`
    Doctor,
    /// `MEMORY MALLOC-STATS`
    MallocStats,
    /// `MEMORY PURGE`
    Purge,
    /// `MEMORY HELP`
    Help,
}

fn parse_usage(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    while let Some(opt) = a.next() {
        if !opt.eq_ignore_ascii_case(b"samples") || a.is_empty() {
            return Err(CmdError::Syntax);
        }
        if a.int()? < 0 {
            return Err(CmdError::Syntax);
        }
    }
    Ok(Command::Memory(Cmd::Usage(key)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("memory|usage", parse_usage),
    ("memory|stats", |_| Ok(Command::Memory(Cmd::Stats))),
    ("memory|doctor", |_| Ok(Command::Memory(Cmd::Doctor))),
    ("memory|malloc-stats", |_| {
        Ok(Command::Memory(Cmd::MallocStats))
    }),
    ("memory|purge", |_| Ok(Command::Memory(Cmd::Purge))),
    ("memory|help", |_| Ok(Command::Memory(Cmd::Help))),
];

/// What `key` with `entry` costs in a `S` map, in bytes.
pub fn usage<S: Store>(key: &[u8], entry: &Entry) -> u64 {
    let class = flashkv_alloc::size_class;
    let value = match &entry.value {
        Value::Str(b) if b.len() <= 20 && encoding(&entry.value) == "int" => 0,
        // Measured from the structures' real capacities (the whole
        // collection: SAMPLES only bounds Redis's own estimate).
        v => v.heap_bytes(class),
    };
    (S::KEY_OVERHEAD + class(key.len()) + value) as u64
}

/// Execute a MEMORY subcommand.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    Ok(match cmd {
        Cmd::Usage(key) => {
            let now = ctx.now;
            ctx.ks().peek_untouched(&key, now, |e| {
                e.map_or(Frame::Null, |e| Frame::Integer(usage::<S>(&key, e) as i64))
            })
        }
        Cmd::Stats => stats(ctx),
        Cmd::Doctor => Frame::Verbatim("txt", Bytes::from(doctor(ctx))),
        Cmd::MallocStats => Frame::Verbatim("txt", Bytes::from(flashkv_alloc::malloc_stats())),
        Cmd::Purge => {
            flashkv_alloc::purge();
            Frame::ok()
        }
        Cmd::Help => help_reply(HELP),
    })
}

fn stats<S: Store>(ctx: &Ctx<'_, S>) -> Frame {
    let m = MemoryFigures::now(ctx);
    let peak = m.peak;
    let mut out: Vec<(Frame, Frame)> = Vec::new();
    let mut int = |k: &'static str, v: i64| out.push((Frame::bulk(k), Frame::Integer(v)));
    int("peak.allocated", peak as i64);
    int("total.allocated", m.used as i64);
    int("startup.allocated", m.startup as i64);
    for k in ["replication.backlog", "clients.slaves"] {
        int(k, 0);
    }
    int("clients.normal", m.clients as i64);
    for k in [
        "cluster.links",
        "aof.buffer",
        "lua.caches",
        "functions.caches",
    ] {
        int(k, 0);
    }
    let table = ctx.state.db.table();
    let mut keys = 0u64;
    for (i, ks) in table.iter().enumerate() {
        let n = ks.len() as u64;
        if n == 0 {
            continue;
        }
        keys += n;
        let db = vec![
            (
                Frame::bulk("overhead.hashtable.main"),
                Frame::Integer((n * S::KEY_OVERHEAD as u64) as i64),
            ),
            (
                Frame::bulk("overhead.hashtable.expires"),
                Frame::Integer(ks.volatile_len() as i64 * 32),
            ),
            (
                Frame::bulk("overhead.hashtable.slot-to-keys"),
                Frame::Integer(0),
            ),
        ];
        out.push((Frame::Bulk(Bytes::from(format!("db.{i}"))), Frame::Map(db)));
    }
    let dataset = m.dataset();
    let net = m.used.saturating_sub(m.startup);
    let a = m.allocator;
    let pct = percent;
    let double = |d: f64| Frame::DoubleText(Bytes::from(fmt_g17(f64::from(d as f32))));
    let int = |v: i64| Frame::Integer(v);
    let rows: Vec<(&str, Frame)> = vec![
        ("overhead.total", int(m.overhead as i64)),
        ("keys.count", int(keys as i64)),
        (
            "keys.bytes-per-key",
            int(net.checked_div(keys).unwrap_or(0) as i64),
        ),
        ("dataset.bytes", int(dataset as i64)),
        ("dataset.percentage", double(pct(dataset, net))),
        ("peak.percentage", double(pct(m.used, peak))),
        ("allocator.allocated", int(a.allocated as i64)),
        ("allocator.active", int(a.active as i64)),
        ("allocator.resident", int(a.resident as i64)),
        (
            "allocator-fragmentation.ratio",
            double(ratio(a.active, a.allocated)),
        ),
        (
            "allocator-fragmentation.bytes",
            int(a.active as i64 - a.allocated as i64),
        ),
        ("allocator-rss.ratio", double(ratio(a.resident, a.active))),
        (
            "allocator-rss.bytes",
            int(a.resident as i64 - a.active as i64),
        ),
        ("rss-overhead.ratio", double(ratio(m.rss, a.resident))),
        ("rss-overhead.bytes", int(m.rss as i64 - a.resident as i64)),
        ("fragmentation", double(ratio(m.rss, m.used))),
        ("fragmentation.bytes", int(m.rss as i64 - m.used as i64)),
    ];
    out.extend(rows.into_iter().map(|(k, v)| (Frame::bulk(k), v)));
    Frame::Map(out)
}

/// `getMemoryDoctorReport`, with the checks that apply to FlashKV (no
/// replicas, no scripts yet).
fn doctor<S: Store>(ctx: &Ctx<'_, S>) -> String {
    let m = MemoryFigures::now(ctx);
    if m.used < 5 << 20 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let peak = m.peak;
    let a = m.allocator;
    let over =
        |x: u64, y: u64, r: f64| y > 0 && x as f64 / y as f64 > r && x.saturating_sub(y) > 10 << 20;
    let clients = ctx.state.clients.snapshot().len().max(1) as u64;
    let mut s = String::new();
    if peak as f64 / m.used as f64 > 1.5 {
        s.push_str(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    if over(m.rss, m.used, 1.4) {
        s.push_str(&format!(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"{}\".\n\n", m.allocator_name));
    }
    if over(a.active, a.allocated, 1.1) {
        s.push_str(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n");
    }
    if over(a.resident, a.active, 1.1) {
        s.push_str(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n");
    }
    if over(m.rss, a.resident, 1.1) {
        s.push_str(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n");
    }
    if m.clients / clients > 200 * 1024 {
        s.push_str(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n");
    }
    if s.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    format!("Sam, I detected a few issues in this Redis instance memory implants:\n\n{s}I'm here to keep you safe, Sam. I want to help you.\n")
}

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];
