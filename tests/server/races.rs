//! Concurrent clients racing on one key (or a few) over TCP: every
//! read-modify-write command must behave as if the clients ran one at a
//! time. Each check runs against the real server, where it must hold, and
//! against a server with a planted fault (`Faults::split_updates`: every
//! update is a separate read and write, collections change on a private
//! copy, multi-key commands lock nothing), where it must be seen to fail,
//! so a check that cannot fail does not pass for a proof.

use std::collections::HashSet;

use flashkv::db::Faults;
use flashkv::{Clock, Config, Frame, Store};

use crate::backends;
use crate::common::*;

fn num(f: &Frame) -> i64 {
    match f {
        Frame::Integer(n) => *n,
        Frame::Bulk(b) => std::str::from_utf8(b).unwrap().parse::<f64>().unwrap() as i64,
        other => panic!("not a number: {other:?}"),
    }
}

fn strings(f: Frame) -> Vec<String> {
    match f {
        Frame::Array(v) | Frame::Set(v) => v
            .into_iter()
            .map(|f| match f {
                Frame::Bulk(b) => String::from_utf8(b.to_vec()).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect(),
        Frame::NullArray | Frame::Null => vec![],
        other => panic!("{other:?}"),
    }
}

fn expect(cond: bool, what: impl FnOnce() -> String) -> Verdict {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// SET NX: one winner per round.
fn set_nx(s: &TestServer) -> Verdict {
    for round in 0..20 {
        let key = format!("nx{round}");
        let wins = std::sync::atomic::AtomicUsize::new(0);
        all_at_once(s, &|c, t| {
            if c.cmd(&format!("SET {key} {t} NX")) == ok() {
                wins.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let w = wins.into_inner();
        expect(w == 1, || format!("{w} clients won SET NX"))?;
    }
    Ok(())
}

/// Counters: INCR, INCRBY, DECRBY, INCRBYFLOAT, HINCRBY sum exactly.
fn counters(s: &TestServer) -> Verdict {
    const N: i64 = 100;
    all_at_once(s, &|c, t| {
        for _ in 0..N {
            match t % 3 {
                0 => c.cmd("INCR n"),
                1 => c.cmd("INCRBY n 2"),
                _ => c.cmd("DECRBY n -3"),
            };
            c.cmd("INCRBYFLOAT f 1");
            c.cmd("HINCRBY h field 1");
        }
    });
    let mut c = s.client();
    let want: i64 = (0..CLIENTS as i64)
        .map(|t| N * [1, 2, 3][t as usize % 3])
        .sum();
    let n = num(&c.cmd("GET n"));
    expect(n == want, || format!("INCR family: {n}, want {want}"))?;
    let f = num(&c.cmd("GET f"));
    expect(f == N * CLIENTS as i64, || format!("INCRBYFLOAT: {f}"))?;
    let h = num(&c.cmd("HGET h field"));
    expect(h == N * CLIENTS as i64, || format!("HINCRBY: {h}"))
}

/// APPEND and SETRANGE keep every client's bytes.
fn append_and_setrange(s: &TestServer) -> Verdict {
    const N: usize = 100;
    all_at_once(s, &|c, t| {
        for i in 0..N {
            c.cmd("APPEND a x");
            c.cmd(&format!("SETRANGE r {} y", t * N + i));
        }
    });
    let mut c = s.client();
    let a = num(&c.cmd("STRLEN a")) as usize;
    expect(a == N * CLIENTS, || {
        format!("APPEND kept {a} of {} bytes", N * CLIENTS)
    })?;
    let Frame::Bulk(r) = c.cmd("GET r") else {
        return Err("SETRANGE left no string".into());
    };
    let set = r.iter().filter(|&&b| b == b'y').count();
    expect(set == N * CLIENTS, || {
        format!("SETRANGE kept {set} of {} bytes", N * CLIENTS)
    })
}

/// The same edits on strings past `store_api::value::RAW_FROM` bytes
/// (4 KiB), which are edited in place under their lock: APPEND, SETRANGE,
/// SETBIT and BITFIELD INCRBY keep every client's change.
fn long_string_edits(s: &TestServer) -> Verdict {
    const N: usize = 60;
    const BASE: usize = 5000;
    let mut c = s.client();
    for key in ["la", "lr", "lb", "lf"] {
        c.cmd(&format!("SETRANGE {key} {} z", BASE - 1));
    }
    all_at_once(s, &|c, t| {
        for i in 0..N {
            let slot = t * N + i;
            c.cmd("APPEND la x");
            c.cmd(&format!("SETRANGE lr {} y", BASE + slot));
            c.cmd(&format!("SETBIT lb {} 1", slot * 8 + 3));
            c.cmd("BITFIELD lf INCRBY u32 #1 1");
        }
    });
    let a = num(&c.cmd("STRLEN la")) as usize;
    expect(a == BASE + N * CLIENTS, || {
        format!("APPEND kept {} of {} bytes", a - BASE, N * CLIENTS)
    })?;
    let Frame::Bulk(r) = c.cmd("GET lr") else {
        return Err("SETRANGE left no string".into());
    };
    let set = r.iter().filter(|&&b| b == b'y').count();
    expect(set == N * CLIENTS, || {
        format!("SETRANGE kept {set} of {} bytes", N * CLIENTS)
    })?;
    // (The bytes before the seed's last one.)
    let bits = num(&c.cmd(&format!("BITCOUNT lb 0 {}", BASE - 2))) as usize;
    expect(bits == N * CLIENTS, || {
        format!("SETBIT kept {bits} of {} bits", N * CLIENTS)
    })?;
    let Frame::Array(f) = c.cmd("BITFIELD lf GET u32 #1") else {
        return Err("BITFIELD replied no array".into());
    };
    let n = num(&f[0]) as usize;
    expect(n == N * CLIENTS, || {
        format!("BITFIELD INCRBY kept {n} of {}", N * CLIENTS)
    })
}

/// SET ... GET and GETSET hand each old value to exactly one client;
/// GETDEL hands a value to exactly one client; GETEX never undoes a
/// concurrent INCR.
fn value_handover(s: &TestServer) -> Verdict {
    const N: usize = 100;
    let seen = std::sync::Mutex::new(Vec::new());
    all_at_once(s, &|c, t| {
        let mut mine = Vec::new();
        for i in 0..N {
            let cmd = if i % 2 == 0 {
                format!("SET chain v{t}-{i} GET")
            } else {
                format!("GETSET chain v{t}-{i}")
            };
            if let Frame::Bulk(b) = c.cmd(&cmd) {
                mine.push(String::from_utf8(b.to_vec()).unwrap());
            }
            if t % 2 == 0 {
                c.cmd("INCR counted");
            } else {
                c.cmd("GETEX counted PX 100000");
            }
        }
        seen.lock().unwrap().extend(mine);
    });
    let mut all = seen.into_inner().unwrap();
    let n = all.len();
    all.sort();
    all.dedup();
    expect(all.len() == n, || {
        format!("{} old values handed out twice", n - all.len())
    })?;
    let mut c = s.client();
    let counted = num(&c.cmd("GET counted"));
    let want = (N * CLIENTS.div_ceil(2)) as i64;
    expect(counted == want, || {
        format!("GETEX undid INCRs: {counted} of {want}")
    })?;
    for round in 0..20 {
        c.cmd(&format!("SET gd{round} only"));
        let got = std::sync::atomic::AtomicUsize::new(0);
        all_at_once(s, &|c, _| {
            if c.cmd(&format!("GETDEL gd{round}")) != Frame::Null {
                got.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let g = got.into_inner();
        expect(g == 1, || {
            format!("{g} clients got the value of one GETDEL key")
        })?;
    }
    Ok(())
}

/// Pushes and pops on one list: nothing lost, nothing popped twice; SADD
/// and SPOP likewise on one set.
fn collections(s: &TestServer) -> Verdict {
    const N: usize = 60;
    all_at_once(s, &|c, t| {
        for i in 0..N {
            let side = if i % 2 == 0 { "LPUSH" } else { "RPUSH" };
            c.cmd(&format!("{side} l {t}-{i}"));
            c.cmd(&format!("SADD s {t}-{i}"));
            c.cmd(&format!("HSET hh {t}-{i} v"));
        }
    });
    let mut c = s.client();
    let total = (N * CLIENTS) as i64;
    for (cmd, what) in [
        ("LLEN l", "LPUSH/RPUSH"),
        ("SCARD s", "SADD"),
        ("HLEN hh", "HSET"),
    ] {
        let n = num(&c.cmd(cmd));
        expect(n == total, || format!("{what} kept {n} of {total}"))?;
    }
    let popped = std::sync::Mutex::new(Vec::new());
    all_at_once(s, &|c, t| {
        let mut mine = Vec::new();
        loop {
            let cmd = match t % 3 {
                0 => "LPOP l 3",
                1 => "RPOP l 2",
                _ => "SPOP s 2",
            };
            let got = strings(c.cmd(cmd));
            if got.is_empty() {
                let more = strings(c.cmd("SPOP s 5"));
                if more.is_empty() && strings(c.cmd("LPOP l 5")).is_empty() {
                    break;
                }
                mine.extend(more.into_iter().map(|m| format!("s:{m}")));
                continue;
            }
            let tag = if cmd.starts_with('S') { "s" } else { "l" };
            mine.extend(got.into_iter().map(|m| format!("{tag}:{m}")));
        }
        popped.lock().unwrap().extend(mine);
    });
    let all = popped.into_inner().unwrap();
    let unique: HashSet<&String> = all.iter().collect();
    expect(unique.len() == all.len(), || {
        format!("{} elements popped twice", all.len() - unique.len())
    })
}

/// SMOVE and LMOVE/RPOPLPUSH shuffle elements between two keys: every
/// element stays in exactly one of them.
fn moves(s: &TestServer) -> Verdict {
    const M: usize = 40;
    let mut c = s.client();
    for i in 0..M {
        c.cmd(&format!("SADD a m{i}"));
        c.cmd(&format!("RPUSH la m{i}"));
    }
    all_at_once(s, &|c, t| {
        for i in 0..150 {
            let m = format!("m{}", (t * 7 + i) % M);
            if t % 2 == 0 {
                c.cmd(&format!("SMOVE a b {m}"));
                c.cmd("RPOPLPUSH la lb");
            } else {
                c.cmd(&format!("SMOVE b a {m}"));
                c.cmd("LMOVE lb la LEFT RIGHT");
            }
        }
    });
    let (a, b) = (strings(c.cmd("SMEMBERS a")), strings(c.cmd("SMEMBERS b")));
    let both: HashSet<&String> = a.iter().chain(&b).collect();
    expect(a.len() + b.len() == M && both.len() == M, || {
        format!(
            "SMOVE: {} + {} members, {} distinct of {M}",
            a.len(),
            b.len(),
            both.len()
        )
    })?;
    let (la, lb) = (
        strings(c.cmd("LRANGE la 0 -1")),
        strings(c.cmd("LRANGE lb 0 -1")),
    );
    let both: HashSet<&String> = la.iter().chain(&lb).collect();
    expect(la.len() + lb.len() == M && both.len() == M, || {
        format!(
            "LMOVE: {} + {} elements, {} distinct of {M}",
            la.len(),
            lb.len(),
            both.len()
        )
    })
}

/// While one member hops between two sets, SUNIONSTORE of the pair always
/// holds it and SINTERSTORE never does (each reads one snapshot).
fn set_algebra_snapshots(s: &TestServer) -> Verdict {
    let mut c = s.client();
    c.cmd("SADD x hop base");
    c.cmd("SADD y base other");
    let bad = std::sync::atomic::AtomicUsize::new(0);
    all_at_once(s, &|c, t| {
        for _ in 0..150 {
            if t < 2 {
                c.cmd("SMOVE x y hop");
                c.cmd("SMOVE y x hop");
            } else {
                let n = num(&c.cmd(&format!("SUNIONSTORE u{t} x y")));
                let i = num(&c.cmd(&format!("SINTERSTORE i{t} x y")));
                if n != 3 || i != 1 {
                    bad.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    let b = bad.into_inner();
    expect(b == 0, || format!("{b} torn set-algebra snapshots"))
}

/// A hot leaderboard: ZINCRBY on a few members of one key, ZADD INCR,
/// and ZPOPMIN of distinct members: no increment lost, nothing popped
/// twice.
fn leaderboard(s: &TestServer) -> Verdict {
    const N: usize = 80;
    all_at_once(s, &|c, t| {
        for i in 0..N {
            c.cmd(&format!("ZINCRBY lb 1 m{}", i % 3));
            c.cmd(&format!("ZADD lb2 INCR 2 m{}", (i + t) % 2));
            c.cmd(&format!("ZADD q {i} {t}-{i}"));
        }
    });
    let mut c = s.client();
    let total = (N * CLIENTS) as i64;
    let sum = |c: &mut RawClient, key: &str| -> i64 {
        match c.cmd(&format!("ZRANGE {key} 0 -1 WITHSCORES")) {
            Frame::Array(v) => v.chunks(2).map(|p| num(&p[1])).sum(),
            other => panic!("{other:?}"),
        }
    };
    let (a, b) = (sum(&mut c, "lb"), sum(&mut c, "lb2"));
    expect(a == total, || {
        format!("ZINCRBY kept {a} of {total} increments")
    })?;
    expect(b == 2 * total, || {
        format!("ZADD INCR kept {b} of {}", 2 * total)
    })?;
    let n = num(&c.cmd("ZCARD q"));
    expect(n == total, || format!("ZADD kept {n} of {total} members"))?;
    let popped = std::sync::Mutex::new(Vec::new());
    all_at_once(s, &|c, t| {
        let mut mine = Vec::new();
        loop {
            let got = match c.cmd(if t % 2 == 0 {
                "ZPOPMIN q 3"
            } else {
                "ZPOPMAX q 2"
            }) {
                Frame::Array(v) => v,
                other => panic!("{other:?}"),
            };
            if got.is_empty() {
                break;
            }
            mine.extend(got.chunks(2).map(|p| format!("{:?}", p[0])));
        }
        popped.lock().unwrap().extend(mine);
    });
    let all = popped.into_inner().unwrap();
    let unique: HashSet<&String> = all.iter().collect();
    expect(unique.len() == all.len(), || {
        format!("{} members popped twice", all.len() - unique.len())
    })
}

/// While a member hops between two sorted sets in transactions,
/// ZUNIONSTORE of the pair always holds it and ZINTERSTORE never does,
/// and ZRANGESTORE copies one whole set (each reads one snapshot).
fn zset_algebra_snapshots(s: &TestServer) -> Verdict {
    let mut c = s.client();
    c.cmd("ZADD x 1 hop 2 base");
    c.cmd("ZADD y 2 base 3 other");
    let bad = std::sync::atomic::AtomicUsize::new(0);
    all_at_once(s, &|c, t| {
        for _ in 0..100 {
            if t < 2 {
                for (from, to) in [("x", "y"), ("y", "x")] {
                    c.cmd("MULTI");
                    c.cmd(&format!("ZREM {from} hop"));
                    c.cmd(&format!("ZADD {to} 1 hop"));
                    c.cmd("EXEC");
                }
            } else {
                let n = num(&c.cmd(&format!("ZUNIONSTORE u{t} 2 x y")));
                let i = num(&c.cmd(&format!("ZINTERSTORE i{t} 2 x y")));
                if n != 3 || i != 1 {
                    bad.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    let b = bad.into_inner();
    expect(b == 0, || format!("{b} torn sorted-set algebra snapshots"))
}

/// Transactions flip two keys between complementary states while readers
/// combine them: BITOP over two bitmaps, PFMERGE over two HyperLogLogs,
/// GEOSEARCHSTORE over a set whose members swap. Each combination reads
/// one snapshot, so its result never mixes the two states.
fn combined_snapshots(s: &TestServer) -> Verdict {
    let mut c = s.client();
    c.cmd("PFADD ha a b c");
    c.cmd("PFADD hb d e f g h");
    let hll = |c: &mut RawClient, k: &str| match c.cmd(&format!("GET {k}")) {
        Frame::Bulk(b) => b,
        other => panic!("{other:?}"),
    };
    let (ha, hb) = (hll(&mut c, "ha"), hll(&mut c, "hb"));
    c.cmd("SET x \"\\xf0\"");
    c.cmd("SET y \"\\x0f\"");
    c.cmd("GEOADD g 13.36 38.11 p1");
    let bad = std::sync::atomic::AtomicUsize::new(0);
    let flip = |c: &mut RawClient, round: usize| {
        let (x, y) = if round % 2 == 0 {
            ("\\x0f", "\\xf0")
        } else {
            ("\\xf0", "\\x0f")
        };
        let (h1, h2) = if round % 2 == 0 {
            (&hb, &ha)
        } else {
            (&ha, &hb)
        };
        let (add, rem) = if round % 2 == 0 {
            ("p2", "p1")
        } else {
            ("p1", "p2")
        };
        c.cmd("MULTI");
        c.cmd(&format!("SET x \"{x}\""));
        c.cmd(&format!("SET y \"{y}\""));
        c.cmd_args(&[b"SET", b"h1", h1]);
        c.cmd_args(&[b"SET", b"h2", h2]);
        c.cmd(&format!("GEOADD g 13.36 38.11 {add}"));
        c.cmd(&format!("ZREM g {rem}"));
        c.cmd("EXEC");
    };
    flip(&mut c, 1);
    all_at_once(s, &|c, t| {
        for round in 0..80 {
            if t < 2 {
                flip(c, round + t);
                continue;
            }
            c.cmd(&format!("BITOP AND and{t} x y"));
            c.cmd(&format!("BITOP OR or{t} x y"));
            let and_ok =
                c.cmd(&format!("GET and{t}")) == Frame::Bulk(bytes::Bytes::from_static(b"\x00"));
            let or_ok =
                c.cmd(&format!("GET or{t}")) == Frame::Bulk(bytes::Bytes::from_static(b"\xff"));
            c.cmd(&format!("DEL m{t}"));
            c.cmd(&format!("PFMERGE m{t} h1 h2"));
            let pf_ok = num(&c.cmd(&format!("PFCOUNT m{t}"))) == 8;
            let found = num(&c.cmd(&format!(
                "GEOSEARCHSTORE gs{t} g FROMLONLAT 13.36 38.11 BYRADIUS 1 km"
            )));
            if !(and_ok && or_ok && pf_ok && found == 1) {
                bad.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    });
    let b = bad.into_inner();
    expect(b == 0, || {
        format!("{b} torn BITOP/PFMERGE/GEOSEARCHSTORE snapshots")
    })
}

/// Run `check` on the real server (it must hold) and on a server with the
/// planted fault (it must be caught within `TRIES` runs).
fn proves<S: Store>(name: &str, check: fn(&TestServer) -> Verdict) {
    let server = TestServer::start::<S>();
    if let Err(e) = check(&server) {
        panic!("{name}: {e}");
    }
    let broken = Faults {
        split_updates: true,
        ..Faults::default()
    };
    for _ in 0..TRIES {
        let server = TestServer::with_faults::<S>(Config::default(), Clock::System, broken);
        if check(&server).is_err() {
            return;
        }
    }
    panic!("{name}: never caught the planted check-then-act fault in {TRIES} runs");
}

fn set_nx_has_one_winner<S: Store>() {
    proves::<S>("set_nx", set_nx);
}

fn counters_sum_exactly<S: Store>() {
    proves::<S>("counters", counters);
}

fn appends_and_setranges_keep_every_byte<S: Store>() {
    proves::<S>("append_and_setrange", append_and_setrange);
}

fn long_string_edits_keep_every_change<S: Store>() {
    proves::<S>("long_string_edits", long_string_edits);
}

fn values_are_handed_over_once<S: Store>() {
    proves::<S>("value_handover", value_handover);
}

fn collection_updates_lose_and_duplicate_nothing<S: Store>() {
    proves::<S>("collections", collections);
}

fn moves_keep_every_element_in_one_place<S: Store>() {
    proves::<S>("moves", moves);
}

fn set_algebra_reads_one_snapshot<S: Store>() {
    proves::<S>("set_algebra_snapshots", set_algebra_snapshots);
}

fn leaderboard_loses_no_increment<S: Store>() {
    proves::<S>("leaderboard", leaderboard);
}

fn zset_algebra_reads_one_snapshot<S: Store>() {
    proves::<S>("zset_algebra_snapshots", zset_algebra_snapshots);
}

fn bitop_pfmerge_geosearchstore_read_one_snapshot<S: Store>() {
    proves::<S>("combined_snapshots", combined_snapshots);
}

backends!(
    bitop_pfmerge_geosearchstore_read_one_snapshot,
    leaderboard_loses_no_increment,
    zset_algebra_reads_one_snapshot,
    set_nx_has_one_winner,
    counters_sum_exactly,
    appends_and_setranges_keep_every_byte,
    long_string_edits_keep_every_change,
    values_are_handed_over_once,
    collection_updates_lose_and_duplicate_nothing,
    moves_keep_every_element_in_one_place,
    set_algebra_reads_one_snapshot
);
