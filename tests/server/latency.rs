//! LATENCY: the events the server's chores report, and LATENCY
//! HISTOGRAM of a container command (the replies' format beside Redis's is
//! in `introspection.rs`).

use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

backends!(
    chores_report_their_latency,
    latency_histogram_of_a_container_lists_its_subcommands,
);

/// A slow active-expiry cycle and a slow eviction pass are LATENCY events
/// ("expire-cycle", "eviction-cycle"), as in Redis (its unit/latency-monitor
/// checks the first with a 20 ms threshold and a million-member set whose
/// freeing stalls the cycle; on the lock-free backends that freeing is
/// deferred to another thread, so here the cycles are slowed by 50,000
/// keys expiring, or evicted, at once, with a 1 ms threshold).
fn chores_report_their_latency<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let fill = |c: &mut RawClient, ttl: &[u8]| {
        let script = "for i = 1, 50000 do redis.call('set', 'k' .. i, 'v', unpack(ARGV)) end";
        let mut argv: Vec<&[u8]> = vec![b"EVAL", script.as_bytes(), b"0"];
        if !ttl.is_empty() {
            argv.extend([&b"PX"[..], ttl]);
        }
        c.cmd_args(&argv);
    };
    let events = |c: &mut RawClient| -> Vec<String> {
        let Frame::Array(rows) = c.cmd("LATENCY LATEST") else {
            panic!("LATENCY LATEST")
        };
        rows.iter()
            .map(|r| match r {
                Frame::Array(fields) => text(&fields[0]),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    assert_eq!(c.cmd("CONFIG SET latency-monitor-threshold 1"), Frame::ok());
    fill(&mut c, b"100");
    c.cmd("LATENCY RESET");
    // DBSIZE counts the keys until the sweeper deletes them.
    assert!(eventually(Duration::from_secs(20), || {
        c.cmd("DBSIZE") == int(0)
    }));
    let names = events(&mut c);
    assert!(names.contains(&"expire-cycle".to_string()), "{names:?}");

    fill(&mut c, b"");
    c.cmd("LATENCY RESET");
    assert_eq!(
        c.cmd("CONFIG SET maxmemory-policy allkeys-random"),
        Frame::ok()
    );
    // No time limit on an eviction pass (Redis's tenacity 100).
    assert_eq!(
        c.cmd("CONFIG SET maxmemory-eviction-tenacity 100"),
        Frame::ok()
    );
    assert_eq!(c.cmd("CONFIG SET maxmemory 1"), Frame::ok());
    // The next command evicts every key first.
    c.cmd("PING");
    assert_eq!(c.cmd("CONFIG SET maxmemory 0"), Frame::ok());
    assert_eq!(c.cmd("DBSIZE"), int(0));
    let names = events(&mut c);
    assert!(names.contains(&"eviction-cycle".to_string()), "{names:?}");
}

/// LATENCY HISTOGRAM of a container command answers for each of its
/// subcommands that ran (Redis's unit/latency-monitor "sub commands").
fn latency_histogram_of_a_container_lists_its_subcommands<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.cmd("CONFIG RESETSTAT");
    c.cmd("CLIENT ID");
    c.cmd("CLIENT LIST");
    let Frame::Array(flat) = c.cmd("LATENCY HISTOGRAM client") else {
        panic!("LATENCY HISTOGRAM")
    };
    let names: Vec<String> = flat.iter().step_by(2).map(text).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"client|id".to_string()), "{names:?}");
    assert!(names.contains(&"client|list".to_string()), "{names:?}");
    let Frame::Array(one) = c.cmd("LATENCY HISTOGRAM client|id") else {
        panic!("LATENCY HISTOGRAM client|id")
    };
    assert_eq!(text(&one[0]), "client|id");
    assert_eq!(one.len(), 2);
}
