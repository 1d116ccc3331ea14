//! maxmemory, eviction, INFO memory, MEMORY and OBJECT IDLETIME/FREQ.
//!
//! Eviction reads the process's allocator count, so the eviction tests run
//! the `flashkv` binary (one process per test), not an in-process server
//! whose neighbours' allocations would count too.

use std::process::Child;
use std::time::Duration;

use flashkv::protocol::Frame;
use store_api::Store;

use crate::backends;
use crate::common::*;
use crate::differential::{differential, same_on_both};

backends!(
    oom_errors_memory_and_object_rules_match_redis,
    info_memory_names_the_fields_redis_names,
    allkeys_lru_keeps_memory_under_the_limit_and_keeps_recent_keys,
    volatile_policies_never_evict_keys_without_ttl,
    a_read_over_the_limit_evicts_and_invalidates_before_its_reply,
    eviction_under_concurrent_writers_loses_no_surviving_write,
    lru_evicts_the_keys_idle_longest,
    lookups_that_do_not_touch_match_redis,
    memory_usage_is_within_a_fifth_of_the_real_cost,
    reads_do_not_grow_memory,
    short_values_are_kept_inside_the_entry,
    strings_commands_create_cost_what_they_cost_in_redis,
);

pub(crate) struct Proc(pub Child, pub RawClient, pub std::net::SocketAddr);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The binary with backend `S`, maxmemory `over` bytes above what it uses
/// idle, and `policy`.
pub(crate) fn start<S: Store>(policy: &str, over: u64) -> (Proc, u64) {
    let (child, addr) = spawn_serving(&["--backend", S::NAME, "--save", ""]);
    let mut c = RawClient::connect(addr);
    let limit = info_field(&mut c, "used_memory") + over;
    assert_eq!(
        c.cmd(&format!("CONFIG SET maxmemory-policy {policy}")),
        ok()
    );
    assert_eq!(c.cmd(&format!("CONFIG SET maxmemory {limit}")), ok());
    (Proc(child, c, addr), limit)
}

/// Over `maxmemory`, a read evicts before it runs, as every command does
/// in Redis's `processCommand`: a tracking client learns of the evicted
/// key before the read's reply (Redis's suite, "Tracking invalidation
/// message of eviction keys should be before response").
fn a_read_over_the_limit_evicts_and_invalidates_before_its_reply<S: Store>() {
    let (mut p, _) = start::<S>("volatile-random", 1 << 20);
    let c = &mut p.1;
    c.cmd("HELLO 3");
    assert_eq!(c.cmd("CLIENT TRACKING on"), ok());
    assert_eq!(c.cmd("SETEX volatile-key 10000 x"), ok());
    assert_eq!(c.cmd("GET volatile-key"), bulk("x"));
    // 2 MB: over the limit once set (SETBIT itself ran under it).
    assert_eq!(c.cmd("SETBIT big-key 16000000 0"), int(0));
    let invalidate = Frame::Push(vec![
        bulk("invalidate"),
        Frame::Array(vec![bulk("volatile-key")]),
    ]);
    assert_eq!(c.cmd("GETBIT big-key 0"), invalidate);
    assert_eq!(c.read_reply().0, int(0));
    assert_eq!(c.cmd("EXISTS volatile-key"), int(0));
}

/// SET `n` keys `prefix:i` with 100-byte values (and `extra` options),
/// pipelined; returns how many replies were errors.
fn load(c: &mut RawClient, prefix: &str, n: usize, extra: &str) -> usize {
    let value = "x".repeat(100);
    pipelined(c, n, |i| format!("SET {prefix}:{i} {value} {extra}"))
}

/// Send `command(i)` for `i` in `0..n`, a thousand per write; returns how
/// many replies were errors.
fn pipelined(c: &mut RawClient, n: usize, command: impl Fn(usize) -> String) -> usize {
    let mut errors = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let out: String = chunk.iter().map(|&i| command(i) + "\r\n").collect();
        c.send(out.as_bytes());
        for _ in chunk {
            if matches!(c.read_reply().0, Frame::Error(_)) {
                errors += 1;
            }
        }
    }
    errors
}

fn oom_errors_memory_and_object_rules_match_redis<S: Store>() {
    differential::<S>(
        "oom_errors_memory_and_object_rules_match_redis",
        "SET k v
         CONFIG SET maxmemory-policy noeviction
         CONFIG SET maxmemory 1
         SET k2 v
         INCR n
         GET k
         MULTI
         GET k
         EXEC
         DEL k
         CONFIG SET maxmemory 0
         SET k2 v
         OBJECT FREQ k2
         OBJECT FREQ nokey
         ~ OBJECT IDLETIME k2
         CONFIG SET maxmemory-policy allkeys-lfu
         SET k3 v
         OBJECT FREQ k3
         GET k3
         OBJECT FREQ k3
         OBJECT IDLETIME k3
         CONFIG SET maxmemory-policy allkeys-lru
         SET k4 v
         ~ OBJECT IDLETIME k4
         MEMORY USAGE
         MEMORY USAGE k4 SAMPLES
         MEMORY USAGE k4 SAMPLES x
         MEMORY USAGE k4 SAMPLES -1
         MEMORY USAGE k4 FOO 1
         MEMORY USAGE nokey
         ~ MEMORY USAGE k4 SAMPLES 0
         MEMORY FOO
         MEMORY STATS x
         MEMORY PURGE
         MEMORY HELP
         CONFIG GET maxmemory-samples
         CONFIG SET maxmemory-samples 0
         CONFIG SET maxmemory-samples 65
         CONFIG SET maxmemory-policy bogus
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory-policy volatile-lru
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory-policy volatile-lfu
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory-policy volatile-random
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory-policy allkeys-random
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory-policy volatile-ttl
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory-policy noeviction
         CONFIG GET maxmemory-policy
         CONFIG SET maxmemory-eviction-tenacity 101
         CONFIG SET lfu-log-factor -1
         CONFIG GET lfu-decay-time
         CONFIG GET maxmemory-eviction-tenacity
         CONFIG SET maxmemory 10gb
         CONFIG GET maxmemory
         CONFIG SET maxmemory 0",
    );
}

fn info_memory_names_the_fields_redis_names<S: Store>() {
    same_on_both::<S>("info_memory_names_the_fields_redis_names", |addr| {
        let mut c = RawClient::connect(addr);
        let info = text(&c.cmd("INFO memory"));
        let mut names: Vec<String> = info
            .lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .collect();
        names.sort();
        let stats = match c.cmd("MEMORY STATS") {
            Frame::Array(items) => items.iter().step_by(2).map(text).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        names.extend(stats);
        names
    });
}

fn allkeys_lru_keeps_memory_under_the_limit_and_keeps_recent_keys<S: Store>() {
    let (mut p, limit) = start::<S>("allkeys-lru", 8 << 20);
    let c = &mut p.1;
    assert_eq!(
        load(c, "k", 100_000, ""),
        0,
        "allkeys-lru never refuses a SET"
    );
    let used = info_field(c, "used_memory");
    let evicted = info_field(c, "evicted_keys");
    let keys = match c.cmd("DBSIZE") {
        Frame::Integer(n) => n as u64,
        f => panic!("{f:?}"),
    };
    assert!(
        evicted > 0 && keys + evicted == 100_000,
        "{keys} + {evicted}"
    );
    // Within one thread's unflushed allocator delta and a victim's size.
    assert!(used <= limit + (1 << 20), "used {used} over limit {limit}");
    // Which keys LRU keeps is not asserted: the clock ticks in seconds,
    // so keys loaded within one second tie (a test with touched old keys
    // is still to be written).
}

fn volatile_policies_never_evict_keys_without_ttl<S: Store>() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (mut p, _) = start::<S>(policy, 4 << 20);
        let c = &mut p.1;
        assert_eq!(load(c, "p", 5_000, ""), 0);
        // Volatile keys are evicted to make room for volatile keys.
        let refused = load(c, "v", 60_000, "EX 1000");
        // flurry frees removed entries in batches (seize), so its count
        // can lag the evictor and a SET may meet OOM; a known shortfall.
        assert!(
            refused == 0 || S::NAME == "flurry",
            "{policy}: {refused} refused"
        );
        assert!(info_field(c, "evicted_keys") > 0, "{policy}");
        for i in 0..5_000 {
            assert_eq!(
                c.cmd(&format!("EXISTS p:{i}")),
                int(1),
                "{policy}: p:{i} evicted"
            );
        }
        assert_eq!(c.cmd("GET p:1"), bulk(&"x".repeat(100)));
        assert_eq!(c.cmd("DEL p:1"), int(1));
    }
}

/// Writers increment their own counters while eviction deletes other
/// keys: every counter that survives holds exactly what its writer was
/// told. A victim is deleted under its stripe like any write, so an
/// acknowledged INCR is never rolled back by an eviction of another key.
fn eviction_under_concurrent_writers_loses_no_surviving_write<S: Store>() {
    let (mut p, _) = start::<S>("allkeys-random", 4 << 20);
    let addr = p.2;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut c = RawClient::connect(addr);
            load(&mut c, "filler", 80_000, "");
        });
        for w in 0..2 {
            s.spawn(move || {
                let mut c = RawClient::connect(addr);
                let mut told = vec![0i64; 50];
                for round in 0..40 {
                    for (i, t) in told.iter_mut().enumerate() {
                        if let Frame::Integer(n) = c.cmd(&format!("INCR w{w}:{i}")) {
                            assert!(n == *t + 1 || n == 1, "w{w}:{i} went from {t} to {n}");
                            *t = n;
                        }
                    }
                    let _ = round;
                }
                for (i, t) in told.iter().enumerate() {
                    match c.cmd(&format!("GET w{w}:{i}")) {
                        Frame::Null => {}
                        f => assert_eq!(f, bulk(&t.to_string()), "w{w}:{i}"),
                    }
                }
            });
        }
    });
    assert!(info_field(&mut p.1, "evicted_keys") > 0);
}

/// Keys idle two seconds longer than the rest go first under allkeys-lru,
/// and not under allkeys-random (the check tells the two apart): load A,
/// wait, load B, wait, read A, then push maxmemory down to what is used
/// and write C, a third as many keys as B.
fn lru_evicts_the_keys_idle_longest<S: Store>() {
    let lost = |policy: &str| {
        let (mut p, _) = start::<S>(policy, 256 << 20);
        let c = &mut p.1;
        const N: usize = 3_000;
        assert_eq!(load(c, "a", N, ""), 0);
        std::thread::sleep(Duration::from_millis(2_100));
        assert_eq!(load(c, "b", N, ""), 0);
        std::thread::sleep(Duration::from_millis(2_100));
        let gets: String = (0..N).map(|i| format!("GET a:{i}\r\n")).collect();
        c.send(gets.as_bytes());
        for _ in 0..N {
            c.read_reply();
        }
        let used = info_field(c, "used_memory");
        assert_eq!(c.cmd(&format!("CONFIG SET maxmemory {used}")), ok());
        assert_eq!(load(c, "c", N / 3, ""), 0);
        let survivors = |c: &mut RawClient, prefix: &str| {
            let all: String = (0..N).map(|i| format!("EXISTS {prefix}:{i}\r\n")).collect();
            c.send(all.as_bytes());
            (0..N).filter(|_| c.read_reply().0 == int(1)).count()
        };
        let (a, b) = (N - survivors(c, "a"), N - survivors(c, "b"));
        assert!(a + b > 0, "{policy}: nothing evicted");
        (a, b)
    };
    let (a, b) = lost("allkeys-lru");
    // flurry frees removed entries in batches (seize), so used_memory lags
    // the evictor, which then evicts far more than C needs and reaches the
    // recently read keys too (seen in a loaded debug run): a known
    // shortfall of issue 16, not checked here.
    assert!(
        a * 10 <= b || S::NAME == "flurry",
        "allkeys-lru evicted {a} recently read keys against {b} idle ones"
    );
    let (a, b) = lost("allkeys-random");
    assert!(
        a * 10 > b,
        "allkeys-random ({a} against {b}) passes the check meant for LRU"
    );
}

/// TYPE, EXISTS and the TTL family read a key without counting an access
/// (Redis's LOOKUP_NOTOUCH); GET, STRLEN, DUMP and TOUCH count one. Seen
/// through OBJECT IDLETIME after a pause.
fn lookups_that_do_not_touch_match_redis<S: Store>() {
    same_on_both::<S>("lookups_that_do_not_touch_match_redis", |addr| {
        const CMDS: [&str; 12] = [
            "TYPE",
            "EXISTS",
            "TTL",
            "PTTL",
            "EXPIRETIME",
            "PEXPIRETIME",
            "OBJECT ENCODING",
            "MEMORY USAGE",
            "GET",
            "STRLEN",
            "DUMP",
            "TOUCH",
        ];
        let mut c = RawClient::connect(addr);
        for i in 0..CMDS.len() {
            c.cmd(&format!("SET k{i} v"));
        }
        // Idle time counts whole seconds of a clock either side may cross
        // between the touch and the read: untouched keys are at least 2 s
        // idle after this pause, touched ones at most 1.
        std::thread::sleep(Duration::from_millis(2_100));
        CMDS.iter()
            .enumerate()
            .map(|(i, cmd)| {
                c.cmd(&format!("{cmd} k{i}"));
                let idle = match c.cmd(&format!("OBJECT IDLETIME k{i}")) {
                    Frame::Integer(n) => n,
                    f => panic!("{f:?}"),
                };
                format!("{cmd}: touched {}", idle <= 1)
            })
            .collect()
    });
}

/// MEMORY USAGE of collections against what they really cost: the growth
/// of used_memory per key over 300 keys of one shape, within 20%.
fn memory_usage_is_within_a_fifth_of_the_real_cost<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    let c = &mut p.1;
    let fields = |n: usize| -> String { (0..n).map(|j| format!(" f{j} v{j}")).collect() };
    let members = |n: usize| -> String { (0..n).map(|j| format!(" member-{j}")).collect() };
    let scored = |n: usize| -> String { (0..n).map(|j| format!(" {j} m{j}")).collect() };
    let shapes: [(&str, String); 5] = [
        ("HSET hl", fields(100)),
        ("HSET ht", fields(1000)),
        ("RPUSH l", members(100)),
        ("SADD s", members(100)),
        ("ZADD z", scored(200)),
    ];
    const KEYS: usize = 300;
    // The map's first growth steps happen here, before anything is
    // measured (scc's are large and freed late). With 3,000 filler keys,
    // scc's RPUSH shape once measured 0.79 in a full run on a busy
    // machine, most likely a growth step inside its window; the 1,500
    // measured keys are now a small share of the map.
    assert_eq!(load(c, "filler", 10_000, ""), 0);
    // And the pipeline's buffers go back before the first measure.
    for _ in 0..3 {
        c.cmd("PING");
    }
    for (command, args) in shapes {
        let before = info_field(c, "used_memory");
        // One at a time: a pipeline would grow the connection's buffers,
        // which used_memory counts too.
        for i in 0..KEYS {
            let reply = c.cmd(&format!("{command}:{i}{args}"));
            assert!(matches!(reply, Frame::Integer(_)), "{command}");
        }
        let real = (info_field(c, "used_memory") - before) as f64 / KEYS as f64;
        let key = command.split(' ').nth(1).unwrap();
        let usage = (0..KEYS)
            .step_by(30)
            .map(|i| match c.cmd(&format!("MEMORY USAGE {key}:{i}")) {
                Frame::Integer(n) => n as f64,
                f => panic!("{f:?}"),
            })
            .sum::<f64>()
            / 10.0;
        let ratio = usage / real;
        assert!(
            (0.8..=1.2).contains(&ratio),
            "{command}: MEMORY USAGE {usage:.0} against {real:.0} really used per key"
        );
    }
}

/// Reading a string must not cost memory. Values were once `Bytes`, and
/// sharing one with the reply (`Bytes::clone`) gave every value that was
/// read a 32-byte reference-counted header for life, a 16-byte value then
/// costing 48. The margin: 100,000 reads that grew each value by 32 bytes
/// grow used_memory by 3.2 MB; the allocator count's per-thread slack is
/// a few hundred KB.
fn reads_do_not_grow_memory<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    let c = &mut p.1;
    const KEYS: usize = 100_000;
    let batches: Vec<Vec<usize>> = (0..KEYS)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(<[usize]>::to_vec)
        .collect();
    assert_eq!(
        pipelined(c, KEYS, |i| format!("SET r:{i} value-of-16bytes")),
        0
    );
    let before = settled_used(c);
    for (n, chunk) in batches.iter().enumerate() {
        // GET and MGET both: every read path that replies with a value.
        let out: String = if n % 2 == 0 {
            chunk.iter().map(|i| format!("GET r:{i}\r\n")).collect()
        } else {
            let keys: String = chunk.iter().map(|i| format!(" r:{i}")).collect();
            format!("MGET{keys}\r\n")
        };
        c.send(out.as_bytes());
        for _ in 0..if n % 2 == 0 { chunk.len() } else { 1 } {
            assert!(!matches!(c.read_reply().0, Frame::Error(_)));
        }
    }
    let grown = settled_used(c) as i64 - before as i64;
    assert!(
        grown < (KEYS * 10) as i64,
        "{} reads grew used_memory by {grown} bytes",
        KEYS
    );
}

/// used_memory once the server is idle: a few round trips, and time for
/// the sweeper to collect what a backend frees late (retired nodes).
pub(crate) fn settled_used(c: &mut RawClient) -> u64 {
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..3 {
        c.cmd("PING");
    }
    info_field(c, "used_memory")
}

/// A string of up to 22 bytes is kept inside its entry (`store_api::Str`),
/// with no allocation of its own: rewriting 1-byte values as 22-byte ones
/// costs nothing, and as 23-byte ones (the first length kept apart) costs
/// each its allocation (8 bytes of count + 23, a 32-byte class). The first
/// half fails if short values go back to an allocation of their own (a
/// 22-byte value in the 32-byte class against 16 for one byte), the second
/// if the measurement could not see it.
fn short_values_are_kept_inside_the_entry<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    let c = &mut p.1;
    const KEYS: usize = 50_000;
    let set_all = |c: &mut RawClient, len: usize| {
        let value = "v".repeat(len);
        assert_eq!(pipelined(c, KEYS, |i| format!("SET k:{i:06} {value}")), 0);
        settled_used(c) as f64
    };
    let one = set_all(c, 1);
    let longest = set_all(c, store_api::value::string::INLINE_STR);
    let apart = set_all(c, store_api::value::string::INLINE_STR + 1);
    let per_key = |from: f64, to: f64| (to - from) / KEYS as f64;
    let (inline, apart) = (per_key(one, longest), per_key(longest, apart));
    assert_eq!(store_api::value::string::INLINE_STR, 22);
    // A value back in its own allocation would add 16 B per key (8 bytes
    // of count + 22 in the 32-byte class, against 8 + 1 in the 16-byte
    // one). flurry frees replaced nodes late, which moved its figure by
    // 8 B in one debug run: on flurry this half is a weaker check.
    assert!(
        inline.abs() < 12.0,
        "1-byte values rewritten as 22-byte ones: {inline:.1} bytes more per key"
    );
    assert!(
        apart > 24.0,
        "22-byte values rewritten as 23-byte ones: {apart:.1} bytes more per key"
    );
}

/// A string SETRANGE, SETBIT, BITFIELD or APPEND creates is sized
/// exactly, as Redis creates it; growing an existing one is greedy in
/// both. Created with double the room (as growth is), Redis's own
/// maxmemory unit evicted 7 of 50 keys of 100 KB under an 11 MB limit.
/// MEMORY USAGE on both servers, within a quarter.
fn strings_commands_create_cost_what_they_cost_in_redis<S: Store>() {
    let Some(redis) = RedisServer::start("created-strings") else {
        return;
    };
    let ours = TestServer::start::<S>();
    let (mut a, mut b) = (ours.client(), RawClient::connect(redis.addr));
    let big = "x".repeat(20_000);
    for (key, command) in [
        ("r", "SETRANGE r 100000 x".to_string()),
        ("b", "SETBIT b 800000 1".to_string()),
        ("f", "BITFIELD f SET u8 800000 1".to_string()),
        ("a", format!("APPEND a {big}")),
        // Grown: greedy in both.
        ("g", format!("APPEND g {big}")),
        ("g", format!("APPEND g {big}")),
    ] {
        assert_eq!(a.cmd(&command), b.cmd(&command), "{command}");
        let usage = |c: &mut RawClient| match c.cmd(&format!("MEMORY USAGE {key}")) {
            Frame::Integer(n) => n as f64,
            f => panic!("{f:?}"),
        };
        let ratio = usage(&mut a) / usage(&mut b);
        assert!(
            (0.75..=1.25).contains(&ratio),
            "{command}: MEMORY USAGE {ratio:.2}x Redis's"
        );
    }
}
