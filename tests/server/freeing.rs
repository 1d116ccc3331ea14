//! Memory a server gives back: per-connection buffers and decoder slots,
//! and what UNLINK frees (seen in INFO's `used_memory`, so each test runs
//! its own `flashkv` process, as the eviction tests in `memory.rs` do).

use std::time::Duration;

use flashkv::protocol::{encode_request, Frame};
use store_api::Store;

use crate::backends;
use crate::common::*;
use crate::memory::{settled_used, start};

backends!(
    an_idle_connection_costs_less_than_in_redis,
    idle_clients_give_their_buffers_back,
    a_large_reply_buffer_is_freed_once_sent,
    unlink_gives_a_large_set_s_memory_back,
    a_cached_script_keeps_no_read_buffer,
);

/// Redis's lazyfree unit ("UNLINK can reclaim memory in background"): one
/// SADD of 100,000 members, then UNLINK; used_memory must come back to
/// less than twice what it was before. It stayed 2 MB higher, held by the
/// connection that sent the SADD (the decoder kept its 100,000 argument
/// slots until the connection closed).
fn unlink_gives_a_large_set_s_memory_back<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    let c = &mut p.1;
    let before = settled_used(c);
    let members: String = (0..100_000).map(|i| format!(" {i}")).collect();
    assert_eq!(
        c.cmd(&format!("SADD myset{members}")),
        Frame::Integer(100_000)
    );
    let peak = info_field(c, "used_memory");
    assert!(peak > before + 1_000_000, "{before} -> {peak}");
    assert_eq!(c.cmd("UNLINK myset"), Frame::Integer(1));
    // flurry frees what it removes in batches per thread and shard (seize
    // retires a batch only once it holds more entries than threads ever
    // used the shard), so on a quiet server a removed value waits for
    // more writes: a known shortfall, not checked here.
    if S::NAME == "flurry" {
        return;
    }
    // Within 5 s, as Redis's test waits (`wait_for_condition 50 100`): the
    // epoch backend's frees run on the cron's maintenance, once a second.
    let freed = |used: u64| used < before * 2 && used < before + 500_000;
    let mut after = settled_used(c);
    for _ in 0..45 {
        if freed(after) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        after = info_field(c, "used_memory");
    }
    assert!(
        freed(after),
        "used_memory {before} before, {peak} with the set, {after} after UNLINK"
    );
}

/// A cached script's body and a function library's code are kept as
/// copies: a slice of the request would keep the whole buffer it was read
/// into (here 1 MB, with a large ECHO sent in the same write) for as long
/// as the script stays cached. Fails if either is kept as a slice.
fn a_cached_script_keeps_no_read_buffer<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    let c = &mut p.1;
    let before = settled_used(c);
    let big = "x".repeat(1 << 20);
    let library = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";
    // One write: a large ECHO, a script and a library share a read buffer
    // (ECHO keeps nothing, so the buffer is all a slice would keep).
    let mut out = bytes::BytesMut::new();
    encode_request(&[&b"ECHO"[..], big.as_bytes()], &mut out);
    encode_request(&[&b"SCRIPT"[..], b"LOAD", b"return 1"], &mut out);
    encode_request(&[&b"FUNCTION"[..], b"LOAD", library.as_bytes()], &mut out);
    c.send(&out);
    for _ in 0..3 {
        let reply = c.read_reply().0;
        assert!(!matches!(reply, Frame::Error(_)), "{reply:?}");
    }
    let after = settled_used(c);
    assert!(
        after < before + 256 * 1024,
        "used_memory {before} -> {after} with nothing but a script and a library kept"
    );
}

/// A connection that sent one command and went quiet holds no buffers (they
/// are lent per request) and a small task: about 3.5 KB of `used_memory`,
/// where Redis's idle client costs 9.8 KB of resident memory
/// (`scripts/request-cost`). Fails if anything per connection grows by
/// kilobytes again: a 16 KB array held across an `.await` made every
/// connection's task 18 KB (21.5 KB per client in all).
fn an_idle_connection_costs_less_than_in_redis<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    const CLIENTS: usize = 400;
    let before = settled_used(&mut p.1);
    let mut idle: Vec<RawClient> = (0..CLIENTS).map(|_| RawClient::connect(p.2)).collect();
    for c in &mut idle {
        assert_eq!(c.cmd("PING"), Frame::Simple("PONG".into()));
    }
    let per_client = (settled_used(&mut p.1) as f64 - before as f64) / CLIENTS as f64;
    assert!(
        per_client < 8.0 * 1024.0,
        "an idle client costs {per_client:.0} bytes of used_memory"
    );
}

/// A client keeps its buffers between requests only while it is busy: the
/// cron takes them back one to two periods (100 ms each) after its last
/// request (Redis frees an idle client's query buffer in `clientsCron`).
/// Seen in `mem_clients_normal`, which counts kept buffers as Redis counts
/// a client's. Fails if kept buffers are never given back, or (first
/// assertion) if they are not kept, or not counted, at all.
fn idle_clients_give_their_buffers_back<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    const CLIENTS: usize = 20;
    let mut clients: Vec<RawClient> = (0..CLIENTS).map(|_| RawClient::connect(p.2)).collect();
    // Up to three tries: a loaded machine may stall this thread for a
    // cron period between the commands and the look.
    let busy = (0..3)
        .map(|_| {
            for c in &mut clients {
                assert_eq!(c.cmd("PING"), Frame::Simple("PONG".into()));
            }
            info_field(&mut clients[CLIENTS - 1], "mem_clients_normal")
        })
        .max()
        .unwrap();
    assert!(
        busy >= 16 * 1024,
        "clients that just ran a command keep their buffers: {busy} bytes"
    );
    std::thread::sleep(Duration::from_millis(600));
    let idle = info_field(&mut p.1, "mem_clients_normal");
    assert!(
        idle < 8 * 1024,
        "{CLIENTS} clients idle for 600 ms still hold {idle} bytes of buffers"
    );
}

/// Busy clients keep their buffers, but not one grown for a large reply:
/// it is freed as soon as the reply is sent, not a cron period later (or,
/// through the pool, never). Fails if a 4 MB reply's buffer stays.
fn a_large_reply_buffer_is_freed_once_sent<S: Store>() {
    let (mut p, _) = start::<S>("noeviction", 1 << 30);
    let c = &mut p.1;
    let big = "x".repeat(4 << 20);
    assert_eq!(c.cmd(&format!("SET big {big}")), Frame::Simple("OK".into()));
    let before = info_field(c, "used_memory");
    assert!(matches!(c.cmd("GET big"), Frame::Bulk(b) if b.len() == big.len()));
    let after = info_field(c, "used_memory");
    assert!(
        after < before + (1 << 20),
        "used_memory {before} -> {after} after one 4 MB reply"
    );
}
