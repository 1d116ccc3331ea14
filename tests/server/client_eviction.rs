//! Client eviction (`maxmemory-clients`): clients past the limit are
//! disconnected, largest first and only until the rest fit, before a
//! request that took them over runs; CLIENT NO-EVICT clients stay; what
//! a client holds (query buffer, a large argument from its header on, its
//! MULTI queue, watches, subscriptions) shows in CLIENT LIST's `tot-mem`.
//! The parameter's forms and errors are compared with Redis's.
//!
//! Redis's own `unit/client-eviction` (17 tests) runs against the binary
//! too (`scripts/redis-tcl-suite`); these are the cases a change here
//! must not break, bounded and quick.

use std::time::Duration;

use flashkv::protocol::Frame;
use store_api::Store;

use crate::backends;
use crate::common::*;
use crate::differential::differential_between;

backends!(
    the_parameter_and_its_errors_match_redis,
    a_request_past_the_limit_never_runs,
    the_largest_go_first_and_only_until_the_rest_fit,
    no_evict_clients_stay_but_count,
    queues_watches_and_subscriptions_count,
    a_reply_past_the_hard_output_limit_is_never_sent,
);

/// `id=`, `tot-mem=`... of the client named `name` in CLIENT LIST.
fn field(c: &mut RawClient, name: &str, f: &str) -> Option<u64> {
    let list = text(&c.cmd("CLIENT LIST"));
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))?;
    let value = line.split(&format!(" {f}=")).nth(1)?;
    value.split(' ').next()?.parse().ok()
}

/// A client named `name` that has sent the header and `sent` bytes of an
/// argument of `len` bytes (the request never completes).
fn holding(server: &TestServer, name: &str, len: usize, sent: usize) -> RawClient {
    let mut c = server.client();
    assert_eq!(c.cmd(&format!("CLIENT SETNAME {name}")), ok());
    let mut bytes = format!("*2\r\n$3\r\nSET\r\n${len}\r\n").into_bytes();
    bytes.resize(bytes.len() + sent, b'v');
    c.send(&bytes);
    c
}

/// Send `bytes` on a new connection and read until the server closes it:
/// what it answered. A server that closes mid-write resets the socket, so
/// write and read errors end the exchange rather than fail the test.
fn exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(bytes);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn evicted(c: &mut RawClient) -> u64 {
    info_field(c, "evicted_clients")
}

fn the_parameter_and_its_errors_match_redis<S: Store>() {
    let Some(redis) =
        RedisServer::start_with("maxmemory-clients", &["--enable-debug-command", "yes"])
    else {
        return;
    };
    let ours = TestServer::with_debug::<S>();
    let script = "
        CONFIG SET maxmemory-clients 7%
        CONFIG GET maxmemory-clients
        CONFIG SET maxmemory-clients 3mb
        CONFIG GET maxmemory-clients
        CONFIG SET maxmemory-clients 101%
        CONFIG SET maxmemory-clients abc
        CONFIG SET maxmemory-clients -1
        CONFIG SET maxmemory-clients %
        CONFIG SET maxmemory-clients 0%
        CONFIG GET maxmemory-clients
        CONFIG SET maxmemory-clients 0
        CONFIG GET maxmemory-clients
        CLIENT NO-EVICT on
        CLIENT NO-EVICT off
        CLIENT NO-EVICT maybe
        DEBUG REPLYBUFFER RESIZING 0
        DEBUG REPLYBUFFER RESIZING 1
        DEBUG REPLYBUFFER PEAK-RESET-TIME never
        DEBUG REPLYBUFFER PEAK-RESET-TIME reset
        DEBUG REPLYBUFFER PEAK-RESET-TIME 100
        DEBUG REPLYBUFFER PEAK-RESET-TIME soon
        DEBUG REPLYBUFFER SIZE 1
    ";
    differential_between("maxmemory-clients", script, ours.addr, redis.addr);
}

/// A request whose argument takes the client over the limit: the client
/// is gone before it runs, however the bytes arrive (the argument counts
/// from its header on, as Redis sizes its buffer to it then), and others
/// carry on.
fn a_request_past_the_limit_never_runs<S: Store>() {
    let server = TestServer::start::<S>();
    let mut control = server.client();
    assert_eq!(control.cmd("CLIENT NO-EVICT on"), ok());
    assert_eq!(control.cmd("CONFIG SET maxmemory-clients 1mb"), ok());
    // Only the header and a little of a 2 MB value.
    let mut partial = holding(&server, "partial", 2 << 20, 1000);
    assert!(partial.closed_within(Duration::from_secs(10)), "evicted");
    // The whole request in one write: evicted before it runs.
    let value = vec![b'v'; 2 << 20];
    let got = exchange(server.addr, &request(&[b"SET", b"k", &value]));
    assert!(
        got.is_empty(),
        "evicted, not {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(control.cmd("EXISTS k"), int(0), "the SET never ran");
    assert_eq!(evicted(&mut control), 2);
    // Under the limit a large request is fine.
    let mut fine = server.client();
    let value = "v".repeat(500 << 10);
    assert_eq!(fine.cmd(&format!("SET k {value}")), ok());
    assert_eq!(control.cmd("STRLEN k"), int(500 << 10));
    assert_eq!(evicted(&mut control), 2);
}

fn the_largest_go_first_and_only_until_the_rest_fit<S: Store>() {
    let server = TestServer::start::<S>();
    let mut control = server.client();
    assert_eq!(control.cmd("CLIENT SETNAME control"), ok());
    assert_eq!(control.cmd("CLIENT NO-EVICT on"), ok());
    let sizes = [
        ("small", 200 << 10),
        ("medium", 400 << 10),
        ("large", 800 << 10),
    ];
    let mut clients: Vec<RawClient> = sizes
        .iter()
        .map(|&(name, len)| holding(&server, name, len, 100))
        .collect();
    let mut held = 0;
    for &(name, len) in &sizes {
        let ok = eventually(Duration::from_secs(10), || {
            field(&mut control, name, "tot-mem").is_some_and(|m| m >= len as u64)
        });
        assert!(ok, "{name} counts its whole argument");
        held += field(&mut control, name, "tot-mem").unwrap();
    }
    // The control's own buffers come and go between requests (a pooled
    // 16 KB each way): the limits below leave it this much slack. (The
    // edge, a sum exactly at the limit, is a unit test's.)
    const SLACK: u64 = 64 << 10;
    let control_mem = field(&mut control, "control", "tot-mem").unwrap();
    // Room for all but the largest.
    let large = field(&mut control, "large", "tot-mem").unwrap();
    let limit = held - large + control_mem + SLACK;
    assert_eq!(
        control.cmd(&format!("CONFIG SET maxmemory-clients {limit}")),
        ok()
    );
    assert!(clients[2].closed_within(Duration::from_secs(10)));
    assert!(
        field(&mut control, "large", "tot-mem").is_none(),
        "gone from CLIENT LIST"
    );
    assert!(field(&mut control, "medium", "tot-mem").is_some());
    assert!(field(&mut control, "small", "tot-mem").is_some());
    assert_eq!(evicted(&mut control), 1);
    // Room for the small one and the control: the medium one goes.
    let small = field(&mut control, "small", "tot-mem").unwrap();
    let control_mem = field(&mut control, "control", "tot-mem").unwrap();
    let limit = small + control_mem + SLACK;
    assert_eq!(
        control.cmd(&format!("CONFIG SET maxmemory-clients {limit}")),
        ok()
    );
    assert!(clients[1].closed_within(Duration::from_secs(10)));
    assert!(field(&mut control, "small", "tot-mem").is_some());
    assert_eq!(evicted(&mut control), 2);
    clients.clear();
}

/// CLIENT NO-EVICT: the client stays whatever it holds, but what it holds
/// counts, so others go (Redis then logs that it is still over).
fn no_evict_clients_stay_but_count<S: Store>() {
    let server = TestServer::start::<S>();
    let mut control = server.client();
    assert_eq!(control.cmd("CLIENT NO-EVICT on"), ok());
    let mut big = server.client();
    assert_eq!(big.cmd("CLIENT SETNAME big"), ok());
    assert_eq!(big.cmd("CLIENT NO-EVICT on"), ok());
    let mut small = server.client();
    assert_eq!(small.cmd("CLIENT SETNAME small"), ok());
    assert_eq!(small.cmd("PING"), Frame::Simple("PONG".into()));
    big.send(b"*2\r\n$3\r\nSET\r\n$2000000\r\nvvvv");
    assert!(eventually(Duration::from_secs(10), || {
        field(&mut control, "big", "tot-mem").is_some_and(|m| m >= 2_000_000)
    }));
    assert_eq!(control.cmd("CONFIG SET maxmemory-clients 1mb"), ok());
    assert!(
        small.closed_within(Duration::from_secs(10)),
        "the evictable one goes"
    );
    assert!(
        field(&mut control, "big", "tot-mem").is_some(),
        "no-evict stays"
    );
    assert_eq!(evicted(&mut control), 1);
}

/// A MULTI queue, watched keys and subscriptions are memory the client
/// holds: they show in `multi-mem` / `tot-mem`, and a client that piles
/// them up past the limit is evicted.
fn queues_watches_and_subscriptions_count<S: Store>() {
    let server = TestServer::start::<S>();
    let mut control = server.client();
    assert_eq!(control.cmd("CLIENT NO-EVICT on"), ok());
    let mut c = server.client();
    assert_eq!(c.cmd("CLIENT SETNAME tx"), ok());
    let before = field(&mut control, "tx", "tot-mem").unwrap();
    assert_eq!(c.cmd("WATCH a b c"), ok());
    assert_eq!(c.cmd("MULTI"), ok());
    let value = "v".repeat(10_000);
    for _ in 0..5 {
        assert_eq!(
            c.cmd(&format!("SET k {value}")),
            Frame::Simple("QUEUED".into())
        );
    }
    let multi = field(&mut control, "tx", "multi-mem").unwrap();
    assert!(multi >= 50_000, "multi-mem={multi}");
    let total = field(&mut control, "tx", "tot-mem").unwrap();
    assert!(
        total > before && total >= multi,
        "tot-mem {before} -> {total}"
    );
    assert_eq!(c.cmd("DISCARD"), ok());
    assert_eq!(c.cmd("PING"), Frame::Simple("PONG".into()));
    assert!(field(&mut control, "tx", "multi-mem").unwrap() < 1000);

    // Subscriptions, pipelined until the client passes 128 KB (the least
    // limit Redis allows).
    assert_eq!(control.cmd("CONFIG SET maxmemory-clients 1"), ok());
    let mut batch = String::new();
    for i in 0..20_000 {
        batch.push_str(&format!("SUBSCRIBE channel:{i}\r\n"));
    }
    let replies = exchange(server.addr, batch.as_bytes());
    assert!(
        replies.len() < 20_000 * 30,
        "evicted before its 20,000 subscriptions: {} bytes of replies",
        replies.len()
    );
    assert!(evicted(&mut control) >= 1);
}

/// A reply past `client-output-buffer-limit`'s hard limit closes the
/// client before any of it is written, as in Redis (which checks each
/// reply as it is added), however much the socket would have taken.
fn a_reply_past_the_hard_output_limit_is_never_sent<S: Store>() {
    let Some(redis) = RedisServer::start("obuf-hard-limit") else {
        return;
    };
    let ours = TestServer::start::<S>();
    for addr in [ours.addr, redis.addr] {
        let mut c = RawClient::connect(addr);
        assert_eq!(c.cmd("SETRANGE k 200000 v"), int(200_001));
        assert_eq!(
            c.cmd("CONFIG SET client-output-buffer-limit \"normal 100kb 0 0\""),
            ok()
        );
        c.send_cmd("GET k");
        let got = c.read_to_close();
        assert!(
            got.is_empty(),
            "{addr}: {} bytes of the reply sent",
            got.len()
        );
    }
}
