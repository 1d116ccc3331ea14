//! Blocking list and sorted-set pops over TCP: wake-ups, FIFO among blocked clients,
//! timeouts, CLIENT UNBLOCK, disconnects, and exactly-once delivery under
//! concurrent producers and consumers.

use std::time::{Duration, Instant};

use flashkv::{Frame, Store};

use crate::backends;
use crate::common::*;

/// Wait until the server reports `n` blocked clients.
fn wait_blocked(c: &mut RawClient, n: usize) {
    let ok = eventually(Duration::from_secs(5), || {
        text(&c.cmd("INFO clients")).contains(&format!("blocked_clients:{n}\r\n"))
    });
    assert!(ok, "expected {n} blocked clients");
}

fn a_push_wakes_a_blocked_client<S: Store>() {
    let server = TestServer::start::<S>();
    let mut waiter = server.client();
    let mut pusher = server.client();
    waiter.send_cmd("BLPOP q 0");
    wait_blocked(&mut pusher, 1);
    assert!(text(&pusher.cmd("CLIENT LIST")).contains("flags=b"));
    assert_eq!(pusher.cmd("RPUSH q hello"), int(1));
    assert_eq!(
        waiter.read_reply().0,
        Frame::Array(vec![bulk("q"), bulk("hello")])
    );
    assert_eq!(
        pusher.cmd("EXISTS q"),
        int(0),
        "served before anyone saw it"
    );
    wait_blocked(&mut pusher, 0);
}

fn blocked_clients_are_served_in_order<S: Store>() {
    let server = TestServer::start::<S>();
    let mut control = server.client();
    let mut waiters: Vec<RawClient> = (0..3).map(|_| server.client()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send_cmd("BRPOP q 0");
        wait_blocked(&mut control, i + 1);
    }
    assert_eq!(control.cmd("LPUSH q a b c d"), int(4));
    // BRPOP takes from the tail: the first blocked client gets "a".
    for (w, want) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(w.read_reply().0, Frame::Array(vec![bulk("q"), bulk(want)]));
    }
    assert_eq!(control.cmd("LRANGE q 0 -1"), Frame::Array(vec![bulk("d")]));
}

fn timeouts_unblock_and_disconnects<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let start = Instant::now();
    assert_eq!(c.cmd("BLPOP q 0.2"), Frame::NullArray);
    assert!(start.elapsed() >= Duration::from_millis(190));
    assert_eq!(c.cmd("BLMOVE q d LEFT LEFT 0.05"), Frame::NullArray);
    // CLIENT UNBLOCK, both ways.
    let mut blocked = server.client();
    let id = match blocked.cmd("CLIENT ID") {
        Frame::Integer(id) => id,
        other => panic!("{other:?}"),
    };
    blocked.send_cmd("BLPOP q 0");
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd(&format!("CLIENT UNBLOCK {id}")), int(1));
    assert_eq!(blocked.read_reply().0, Frame::NullArray);
    blocked.send_cmd("BLPOP q 0");
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd(&format!("CLIENT UNBLOCK {id} ERROR")), int(1));
    assert_eq!(
        blocked.read_reply().0,
        err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    assert_eq!(c.cmd(&format!("CLIENT UNBLOCK {id}")), int(0));
    // A blocked client that goes away takes nothing with it.
    let mut gone = server.client();
    gone.send_cmd("BLPOP q 0");
    wait_blocked(&mut c, 1);
    drop(gone);
    wait_blocked(&mut c, 0);
    assert_eq!(c.cmd("RPUSH q kept"), int(1));
    assert_eq!(c.cmd("LRANGE q 0 -1"), Frame::Array(vec![bulk("kept")]));
}

fn blmove_is_served_into_its_destination<S: Store>() {
    let server = TestServer::start::<S>();
    let mut waiter = server.client();
    let mut c = server.client();
    waiter.send_cmd("BLMOVE src dst RIGHT LEFT 0");
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd("RPUSH src x y"), int(2));
    assert_eq!(waiter.read_reply().0, bulk("y"));
    assert_eq!(c.cmd("LRANGE src 0 -1"), Frame::Array(vec![bulk("x")]));
    assert_eq!(c.cmd("LRANGE dst 0 -1"), Frame::Array(vec![bulk("y")]));
    // BLMPOP with COUNT.
    waiter.send_cmd("BLMPOP 0 2 a b LEFT COUNT 2");
    wait_blocked(&mut c, 1);
    c.cmd("RPUSH b 1 2 3");
    assert_eq!(
        waiter.read_reply().0,
        Frame::Array(vec![bulk("b"), Frame::Array(vec![bulk("1"), bulk("2")])])
    );
}

/// Producers add distinct elements to `q1`/`q2` with `add` (`{q}`, `{e}`
/// replaced) while consumers run `pop` until it times out; what is left is
/// read with `rest` (`{q}` replaced). Every element arrives exactly once.
fn delivered_exactly_once<S: Store>(pop: &'static str, add: &'static str, rest: &'static str) {
    const PRODUCERS: usize = 3;
    const PER_PRODUCER: usize = 300;
    const CONSUMERS: usize = 4;
    let server = TestServer::start::<S>();
    let addr = server.addr;
    let element = |f: &Frame| match f {
        Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("{other:?}"),
    };
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = RawClient::connect(addr);
                let mut got = Vec::new();
                loop {
                    match c.cmd(pop) {
                        // [key, element] or [key, member, score].
                        Frame::Array(kv) => got.push(element(&kv[1])),
                        Frame::NullArray => return got,
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = RawClient::connect(addr);
                for i in 0..PER_PRODUCER {
                    let q = if i % 2 == 0 { "q1" } else { "q2" };
                    c.cmd(&add.replace("{q}", q).replace("{e}", &format!("p{p}-{i}")));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<String> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    // A consumer may give up while elements remain (a slow machine): those
    // are still in the keys, not lost.
    let mut c = server.client();
    for q in ["q1", "q2"] {
        if let Frame::Array(left) = c.cmd(&rest.replace("{q}", q)) {
            all.extend(left.iter().map(element));
        }
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "an element was delivered twice");
    assert_eq!(n, PRODUCERS * PER_PRODUCER, "an element was lost");
}

fn every_element_is_delivered_exactly_once<S: Store>() {
    delivered_exactly_once::<S>("BLPOP q1 q2 0.5", "RPUSH {q} {e}", "LRANGE {q} 0 -1");
}

fn every_member_is_popped_exactly_once<S: Store>() {
    delivered_exactly_once::<S>("BZPOPMIN q1 q2 0.5", "ZADD {q} 1 {e}", "ZRANGE {q} 0 -1");
}

/// BZPOPMIN/BZPOPMAX/BZMPOP: served by the ZADD that creates the key,
/// oldest waiter first, before anyone else sees the members; a list push
/// does not serve them.
fn sorted_set_pops_block_and_are_served_in_order<S: Store>() {
    let server = TestServer::start::<S>();
    let mut control = server.client();
    let mut waiters: Vec<RawClient> = (0..3).map(|_| server.client()).collect();
    waiters[0].send_cmd("BZPOPMIN z 0");
    wait_blocked(&mut control, 1);
    waiters[1].send_cmd("BZPOPMAX z other 0");
    wait_blocked(&mut control, 2);
    waiters[2].send_cmd("BZMPOP 0 1 z MIN COUNT 5");
    wait_blocked(&mut control, 3);
    assert_eq!(
        control.cmd("LPUSH z x"),
        int(1),
        "a list does not serve them"
    );
    assert_eq!(control.cmd("DEL z"), int(1));
    assert_eq!(control.cmd("ZADD z 1 a 2 b 3 c 4 d"), int(4));
    let got: Vec<Frame> = waiters.iter_mut().map(|w| w.read_reply().0).collect();
    assert_eq!(got[0], Frame::Array(vec![bulk("z"), bulk("a"), bulk("1")]));
    assert_eq!(got[1], Frame::Array(vec![bulk("z"), bulk("d"), bulk("4")]));
    let pair = |m: &str, s: &str| Frame::Array(vec![bulk(m), bulk(s)]);
    assert_eq!(
        got[2],
        Frame::Array(vec![
            bulk("z"),
            Frame::Array(vec![pair("b", "2"), pair("c", "3")])
        ])
    );
    assert_eq!(
        control.cmd("EXISTS z"),
        int(0),
        "served before anyone saw it"
    );
    // A timeout answers a null array.
    let start = Instant::now();
    assert_eq!(waiters[0].cmd("BZPOPMIN nokey 0.1"), Frame::NullArray);
    assert!(start.elapsed() >= Duration::from_millis(100));
}

/// Inside MULTI/EXEC nobody is served until EXEC ends, and then from what
/// the key holds at the end: a push the same transaction undoes wakes
/// nobody, and three pushes serve the last one pushed first (Redis's
/// unit/type/list "should not awake" and "is isolated" tests).
fn a_transaction_serves_blocked_clients_when_it_ends<S: Store>() {
    let server = TestServer::start::<S>();
    let mut waiter = server.client();
    let mut c = server.client();
    for (pop, undo) in [
        ("BLPOP list 0", "DEL list"),
        ("BLMPOP 0 1 list LEFT", "SET list x"),
    ] {
        waiter.send_cmd(pop);
        wait_blocked(&mut c, 1);
        assert_eq!(c.cmd("MULTI"), ok());
        c.cmd("LPUSH list a");
        c.cmd(undo);
        c.cmd("EXEC");
        c.cmd("DEL list");
        assert_eq!(c.cmd("LPUSH list b"), int(1));
        let got = waiter.read_reply().0;
        assert!(format!("{got:?}").contains("\"b\""), "{pop}: {got:?}");
    }
    waiter.send_cmd("BLPOP list 0");
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd("MULTI"), ok());
    for e in ["a", "b", "c"] {
        c.cmd(&format!("LPUSH list {e}"));
    }
    c.cmd("EXEC");
    assert_eq!(
        waiter.read_reply().0,
        Frame::Array(vec![bulk("list"), bulk("c")])
    );
}

/// SWAPDB serves a client blocked in one of the databases on a key the
/// other database held (Redis's "SWAPDB awakes blocked client").
fn swapdb_serves_blocked_clients<S: Store>() {
    let server = TestServer::start::<S>();
    let mut waiter = server.client();
    let mut c = server.client();
    assert_eq!(waiter.cmd("SELECT 9"), ok());
    waiter.send_cmd("BRPOP k 5");
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd("SELECT 1"), ok());
    assert_eq!(c.cmd("RPUSH k hello"), int(1));
    assert_eq!(c.cmd("SWAPDB 1 9"), ok());
    assert_eq!(
        waiter.read_reply().0,
        Frame::Array(vec![bulk("k"), bulk("hello")])
    );
    assert_eq!(c.cmd("DBSIZE"), int(0));
    assert_eq!(waiter.cmd("DBSIZE"), int(0));
    wait_blocked(&mut c, 0);
    // The same inside a transaction, served when EXEC ends.
    waiter.send_cmd("BRPOP k 5");
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd("RPUSH k again"), int(1));
    assert_eq!(c.cmd("MULTI"), ok());
    c.cmd("SWAPDB 1 9");
    c.cmd("EXEC");
    assert_eq!(
        waiter.read_reply().0,
        Frame::Array(vec![bulk("k"), bulk("again")])
    );
}

backends!(
    a_transaction_serves_blocked_clients_when_it_ends,
    swapdb_serves_blocked_clients,
    sorted_set_pops_block_and_are_served_in_order,
    every_member_is_popped_exactly_once,
    a_push_wakes_a_blocked_client,
    blocked_clients_are_served_in_order,
    timeouts_unblock_and_disconnects,
    blmove_is_served_into_its_destination,
    every_element_is_delivered_exactly_once
);
