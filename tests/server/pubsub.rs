//! Pub/sub: replies and messages byte for byte against Redis (RESP2
//! subscribed mode and RESP3 pushes), delivery from many publishing
//! threads (every message once, in each publisher's order), and the
//! output-buffer limits that keep a slow subscriber from growing the
//! server or slowing its publishers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use flashkv::protocol::Frame;
use flashkv::{Clock, Config, Store};

use crate::backends;
use crate::common::*;

fn pubsub_matches_redis<S: Store>() {
    differential::<S>(
        "pubsub",
        "
        @2 PUBSUB NUMPAT
        SUBSCRIBE c1 c2
        recv
        GET x
        PING
        PING hi
        MULTI
        @2 PUBLISH c1 hello
        recv
        @2 PUBLISH nobody x
        PSUBSCRIBE c* d?
        recv
        @2 PUBLISH c2 m2
        recv
        recv
        @2 PUBSUB NUMSUB c1 c2 zz
        @2 PUBSUB NUMSUB
        @2 PUBSUB NUMPAT
        @2 sort PUBSUB CHANNELS
        @2 PUBSUB CHANNELS c1*
        @2 PUBSUB SHARDCHANNELS
        # CLIENT REPLY OFF silences replies, not (un)subscription pushes.
        @3 noreply CLIENT REPLY OFF
        @3 SUBSCRIBE r1
        @2 PUBLISH r1 x
        @3 recv
        @3 UNSUBSCRIBE r1
        @3 noreply PING
        @3 noreply SUBSCRIBE
        @3 CLIENT REPLY ON
        @4 skip HELLO 3
        @4 noreply CLIENT REPLY OFF
        @4 SUBSCRIBE r2
        @4 PSUBSCRIBE r*
        @2 PUBLISH r2 y
        @4 recv 2
        @4 PUNSUBSCRIBE r*
        @4 noreply PING
        @4 CLIENT REPLY ON
        @4 UNSUBSCRIBE r2
        UNSUBSCRIBE c1
        PUNSUBSCRIBE d?
        PUNSUBSCRIBE
        UNSUBSCRIBE
        UNSUBSCRIBE
        PUNSUBSCRIBE
        SUBSCRIBE c1 c1
        recv
        UNSUBSCRIBE c1 c1
        recv
        SSUBSCRIBE s1
        @2 SPUBLISH s1 sm
        recv
        @2 PUBLISH s1 plain
        @2 PUBSUB SHARDCHANNELS
        @2 PUBSUB SHARDNUMSUB s1 s2
        SUNSUBSCRIBE
        SUNSUBSCRIBE
        GET x
        @2 PUBSUB HELP
        @2 PUBSUB FOO
        @2 SUBSCRIBE
        @2 PUBLISH
        # SUBSCRIBE inside a transaction
        @3 MULTI
        @3 SUBSCRIBE q
        @3 EXEC
        @3 GET x
        @3 RESET
        @3 GET x
        # RESP3: pushes, and every command allowed
        @4 skip HELLO 3
        @4 SUBSCRIBE r3
        @4 GET x
        @4 PING
        @2 PUBLISH r3 m3
        @4 recv
        @4 PSUBSCRIBE r*
        @2 PUBLISH r3 m4
        @4 recv
        @4 recv
        @4 UNSUBSCRIBE
        @4 PUNSUBSCRIBE
        ",
    );
}

/// Read pushed messages until `n` arrived or `limit` passed.
fn read_messages(c: &mut RawClient, n: usize) -> Vec<Vec<String>> {
    (0..n)
        .map(|_| match c.read_reply().0 {
            Frame::Array(v) | Frame::Push(v) => v.iter().map(text).collect(),
            other => panic!("not a message: {other:?}"),
        })
        .collect()
}

/// Publishers on several threads; subscribers by channel (RESP2 and
/// RESP3) and by pattern each get every message exactly once, and each
/// publisher's messages in the order it sent them.
fn messages_arrive_once_in_publisher_order<S: Store>() {
    const PUBLISHERS: usize = 4;
    const EACH: usize = 500;
    let server = TestServer::start::<S>();
    let mut subs: Vec<RawClient> = (0..3).map(|_| server.client()).collect();
    subs[0].cmd("SUBSCRIBE news");
    subs[1].cmd("HELLO 3");
    subs[1].cmd("SUBSCRIBE news");
    subs[2].cmd("PSUBSCRIBE n*s");
    std::thread::scope(|s| {
        for p in 0..PUBLISHERS {
            let addr = server.addr;
            s.spawn(move || {
                let mut c = RawClient::connect(addr);
                for i in 0..EACH {
                    c.send_cmd(&format!("PUBLISH news {p}:{i}"));
                }
                for _ in 0..EACH {
                    assert_eq!(c.read_reply().0, int(3), "three subscribers");
                }
            });
        }
    });
    for (n, sub) in subs.iter_mut().enumerate() {
        let mut next = HashMap::new();
        for m in read_messages(sub, PUBLISHERS * EACH) {
            let payload = m.last().unwrap();
            let (p, i) = payload.split_once(':').unwrap();
            let (p, i): (usize, usize) = (p.parse().unwrap(), i.parse().unwrap());
            let want = next.entry(p).or_insert(0);
            assert_eq!(i, *want, "subscriber {n}: publisher {p} out of order");
            *want += 1;
        }
        assert!(
            next.values().all(|&n| n == EACH),
            "subscriber {n} missed messages: {next:?}"
        );
    }
}

fn client_count(c: &mut RawClient) -> usize {
    text(&c.cmd("CLIENT LIST")).lines().count()
}

/// A subscriber that never reads is closed at the hard pubsub limit; the
/// publisher is never held back, and memory stays bounded.
fn a_subscriber_that_never_reads_is_closed<S: Store>() {
    let server = TestServer::start::<S>();
    let mut admin = server.client();
    assert_eq!(
        admin.cmd("CONFIG SET client-output-buffer-limit \"pubsub 1mb 0 0\""),
        ok()
    );
    let mut sub = server.client();
    sub.cmd("SUBSCRIBE flood");
    assert_eq!(client_count(&mut admin), 2);
    let payload = "x".repeat(4096);
    let mut publisher = server.client();
    // Far more than the socket buffers and the limit: 64 MiB.
    let mut delivered = 0;
    for _ in 0..16 {
        for _ in 0..1024 {
            publisher.send_cmd(&format!("PUBLISH flood {payload}"));
        }
        for _ in 0..1024 {
            if publisher.read_reply().0 == int(1) {
                delivered += 1;
            }
        }
    }
    assert!(delivered < 16 * 1024, "the subscriber was never cut off");
    assert!(
        eventually(Duration::from_secs(5), || client_count(&mut admin) == 2),
        "the slow subscriber is still connected"
    );
    let omem = max_omem(&mut admin);
    assert!(omem < 2 << 20, "a client holds {omem} bytes of output");
}

/// Above the soft limit for longer than its seconds: closed.
fn a_subscriber_over_the_soft_limit_is_closed<S: Store>() {
    let config = Config::default();
    let server = TestServer::with_config::<S>(config, Clock::System);
    let mut admin = server.client();
    assert_eq!(
        admin.cmd("CONFIG SET client-output-buffer-limit \"pubsub 0 256kb 1\""),
        ok()
    );
    let mut sub = server.client();
    sub.cmd("SUBSCRIBE slow");
    let payload = "y".repeat(4096);
    let mut publisher = server.client();
    // Enough to fill the socket buffers and stay above 256 KiB.
    for _ in 0..4096 {
        publisher.send_cmd(&format!("PUBLISH slow {payload}"));
    }
    for _ in 0..4096 {
        publisher.read_reply();
    }
    let start = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || client_count(&mut admin) == 2),
        "still connected {:?} after passing the soft limit",
        start.elapsed()
    );
}

backends!(
    pubsub_matches_redis,
    messages_arrive_once_in_publisher_order,
    a_subscriber_that_never_reads_is_closed,
    a_subscriber_over_the_soft_limit_is_closed
);
