//! Multi-key atomicity as clients see it: no client ever observes half of
//! an MSET, MSETNX, multi-key DEL, RENAME, COPY, MOVE, SWAPDB or FLUSHDB.
//!
//! Each test runs writers and readers on separate connections for a
//! bounded number of rounds and checks an invariant on every read. A
//! non-atomic implementation (e.g. MSET as a loop of SETs) fails these
//! within a few hundred rounds; see `db::locks` for the design.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

const ROUNDS: usize = 1_000;

/// Run `write` on one connection `ROUNDS` times while `check` runs on
/// another until the writer is done; `check` returns an error text.
fn race(
    server: &TestServer,
    mut write: impl FnMut(&mut RawClient, usize) + Send,
    mut check: impl FnMut(&mut RawClient) -> Result<(), String> + Send,
) {
    let done = Arc::new(AtomicBool::new(false));
    thread::scope(|s| {
        let mut w = server.client();
        let d = done.clone();
        s.spawn(move || {
            for i in 0..ROUNDS {
                write(&mut w, i);
            }
            d.store(true, Ordering::Release);
        });
        let mut r = server.client();
        let mut reads = 0;
        while !done.load(Ordering::Acquire) || reads < 10 {
            if let Err(e) = check(&mut r) {
                panic!("read {reads}: {e}");
            }
            reads += 1;
        }
    });
}

fn pair(f: Frame) -> (Frame, Frame) {
    match f {
        Frame::Array(mut v) if v.len() == 2 => {
            let b = v.pop().unwrap();
            (v.pop().unwrap(), b)
        }
        other => panic!("expected a pair, got {other:?}"),
    }
}

fn mget_never_sees_half_an_mset<S: Store>() {
    let server = TestServer::start::<S>();
    server.client().cmd("MSET a 0 b 0");
    race(
        &server,
        |w, i| assert_eq!(w.cmd(&format!("MSET a {i} b {i}")), ok()),
        |r| {
            let (a, b) = pair(r.cmd("MGET a b"));
            if a == b {
                Ok(())
            } else {
                Err(format!("MGET saw a={a:?} b={b:?}"))
            }
        },
    );
}

fn exists_never_sees_a_rename_half_done<S: Store>() {
    let server = TestServer::start::<S>();
    server.client().cmd("SET x v");
    race(
        &server,
        |w, i| {
            let (from, to) = if i % 2 == 0 { ("x", "y") } else { ("y", "x") };
            assert_eq!(w.cmd(&format!("RENAME {from} {to}")), ok());
        },
        |r| match r.cmd("EXISTS x y") {
            Frame::Integer(1) => Ok(()),
            other => Err(format!("EXISTS x y = {other:?} during RENAME")),
        },
    );
}

fn multi_key_del_is_all_or_nothing<S: Store>() {
    let server = TestServer::start::<S>();
    race(
        &server,
        |w, i| {
            if i % 2 == 0 {
                w.cmd("MSET p 1 q 1");
            } else {
                assert_eq!(w.cmd("DEL p q"), int(2));
            }
        },
        |r| match r.cmd("EXISTS p q") {
            Frame::Integer(0 | 2) => Ok(()),
            other => Err(format!("EXISTS p q = {other:?} between MSET and DEL")),
        },
    );
}

fn racing_msetnx_has_one_winner<S: Store>() {
    let server = TestServer::start::<S>();
    for round in 0..200 {
        let winners: Vec<i64> = thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let mut c = server.client();
                    s.spawn(move || {
                        match c.cmd(&format!(
                            "MSETNX r{round}:a {t} r{round}:b {t} r{round}:c {t}"
                        )) {
                            Frame::Integer(n) => n,
                            other => panic!("{other:?}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(winners.iter().sum::<i64>(), 1, "round {round}: {winners:?}");
        let mut c = server.client();
        let Frame::Array(v) = c.cmd(&format!("MGET r{round}:a r{round}:b r{round}:c")) else {
            panic!()
        };
        assert!(
            v.windows(2).all(|w| w[0] == w[1]),
            "round {round}: mixed winners {v:?}"
        );
    }
}

fn copy_and_move_are_atomic<S: Store>() {
    let server = TestServer::start::<S>();
    server.client().cmd("SET m v");
    race(
        &server,
        |w, i| {
            // Move m to db 1 and back, checking each move succeeded.
            let db = if i % 2 == 0 { 1 } else { 0 };
            if db == 0 {
                w.cmd("SELECT 1");
            }
            assert_eq!(w.cmd(&format!("MOVE m {db}")), int(1), "round {i}");
            w.cmd("SELECT 0");
            // COPY within db 0 onto one target: the target always holds a
            // whole value.
            w.cmd(&format!("SET src {i}:{i}"));
            w.cmd("COPY src dst REPLACE");
        },
        |r| match r.cmd("GET dst") {
            Frame::Null => Ok(()),
            Frame::Bulk(b) => {
                let s = String::from_utf8_lossy(&b).into_owned();
                let (x, y) = s.split_once(':').ok_or(format!("torn value {s}"))?;
                if x == y {
                    Ok(())
                } else {
                    Err(format!("torn value {s}"))
                }
            }
            other => Err(format!("{other:?}")),
        },
    );
}

fn swapdb_and_flushdb_are_atomic<S: Store>() {
    let server = TestServer::start::<S>();
    let mut setup = server.client();
    setup.cmd("MSET a 0 b 0");
    setup.cmd("SELECT 1");
    setup.cmd("MSET a 1 b 1");
    race(
        &server,
        |w, i| {
            if i % 10 == 9 {
                // Refill, then flush: readers see both keys or none.
                w.cmd("FLUSHDB");
                w.cmd(&format!("MSET a {i} b {i}"));
            } else {
                assert_eq!(w.cmd("SWAPDB 0 1"), ok());
            }
        },
        |r| {
            let (a, b) = pair(r.cmd("MGET a b"));
            if a == b {
                Ok(())
            } else {
                Err(format!("MGET saw a={a:?} b={b:?} across SWAPDB/FLUSHDB"))
            }
        },
    );
}

backends!(
    mget_never_sees_half_an_mset,
    exists_never_sees_a_rename_half_done,
    multi_key_del_is_all_or_nothing,
    racing_msetnx_has_one_winner,
    copy_and_move_are_atomic,
    swapdb_and_flushdb_are_atomic,
);
