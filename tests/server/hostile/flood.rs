//! Floods: pipelines, slow and silent clients, connection storms,
//! maxclients, half-closes, unterminated lines, and KEYS over a large
//! keyspace while others are served.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::{Config, Store};

use super::framing::read_until_suffix;
use super::*;

/// Run PING and GET of the sentinel `n` times on a fresh client.
fn served(target: &Target, n: usize) {
    let mut c = target.client();
    for _ in 0..n {
        assert_eq!(c.cmd("PING"), Frame::simple("PONG"));
        assert_eq!(c.cmd(&format!("GET {SENTINEL}")), bulk("intact"));
    }
}

pub fn ten_thousand_pipelined_commands_in_one_write<S: Store>() {
    let _m = light();
    let target = Target::start::<S>();
    let watch = RssWatch::start();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        let cmd = match i % 4 {
            0 => format!("SET p:{i} {i}\r\n"),
            1 => format!(
                "*2\r\n$3\r\nGET\r\n${}\r\np:{}\r\n",
                format!("p:{}", i - 1).len(),
                i - 1
            ),
            2 => "INCR pipeline:counter\r\n".to_string(),
            _ => format!(
                "*2\r\n$3\r\nDEL\r\n${}\r\np:{}\r\n",
                format!("p:{}", i - 3).len(),
                i - 3
            ),
        };
        batch.extend_from_slice(cmd.as_bytes());
    }
    let mut c = target.client();
    let mut writer = c.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || writer.write_all(&batch).expect("one write"));
    let other = std::thread::scope(|s| {
        let h = s.spawn(|| served(&target, 20));
        for i in 0..10_000 {
            let want = match i % 4 {
                0 => ok(),
                1 => bulk(&(i - 1).to_string()),
                2 => int(i / 4 + 1),
                _ => int(1),
            };
            assert_eq!(c.read_reply().0, want, "reply {i}");
        }
        h.join()
    });
    other.expect("other client");
    sender.join().expect("sender");
    watch.assert_growth_below(LIGHT_BOUND, "10k pipeline");
    target.assert_unharmed();
}

/// Three clients dribble requests a byte at a time; everyone else is
/// served meanwhile, and the dribbled command runs once complete.
pub fn slowloris_does_not_hold_up_other_clients<S: Store>() {
    let _m = light();
    let target = Target::start::<S>();
    let watch = RssWatch::start();
    let slow: [&[u8]; 3] = [
        b"*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$5\r\nhello\r\n",
        b"*2000000000\r\n$536870912\r\n",
        b"PIN",
    ];
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let dribblers: Vec<_> = slow
            .iter()
            .map(|bytes| {
                let mut c = target.client();
                s.spawn(move || {
                    for b in bytes.iter() {
                        c.send(&[*b]);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    c
                })
            })
            .collect();
        s.spawn(|| {
            let mut c = target.client();
            let mut n = 0;
            while !done.load(Ordering::Relaxed) && n < 500 {
                assert_eq!(c.cmd(&format!("GET {SENTINEL}")), bulk("intact"));
                n += 1;
            }
        });
        let mut first = dribblers.into_iter().map(|h| h.join().expect("dribbler"));
        let mut setter = first.next().expect("first");
        done.store(true, Ordering::Relaxed);
        assert_eq!(setter.read_reply().0, ok());
        assert_eq!(setter.cmd("GET slow"), bulk("hello"));
    });
    watch.assert_growth_below(LIGHT_BOUND, "slowloris");
    target.assert_unharmed();
}

/// Hundreds of connections that leave in every rude way.
pub fn connection_storm_leaves_nothing_behind<S: Store>() {
    let _m = heavy();
    let target = Target::start::<S>();
    let watch = RssWatch::start();
    let addr = target.addr();
    for wave in 0..6 {
        let threads: Vec<_> = (0..50)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut s = TcpStream::connect(addr).expect("connect");
                    match i % 5 {
                        0 => {}
                        1 => s.write_all(b"*3\r\n$3\r\nSET").unwrap_or(()),
                        2 => s.write_all(b"PING\r\nPING\r\n").unwrap_or(()),
                        3 => {
                            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                            let _ = s.write_all(b"*2\r\n$4\r\nECHO\r\n$100\r\nabc");
                        }
                        _ => {
                            let cmd = format!("SET storm:{wave}:{i} x\r\n");
                            s.write_all(cmd.as_bytes()).expect("write");
                            let mut buf = [0u8; 5];
                            s.read_exact(&mut buf).expect("reply");
                            assert_eq!(&buf, b"+OK\r\n");
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("storm client");
        }
    }
    target.wait_for_clients(0);
    watch.assert_growth_below(64 * MB, "connection storm");
    let mut c = target.client();
    assert_eq!(c.cmd("EXISTS storm:5:49 storm:0:4"), int(2));
    target.assert_unharmed();
}

pub fn maxclients_overflow_is_refused_and_recovers<S: Store>() {
    let _m = light();
    let target = Target::with_config::<S>(Config {
        maxclients: 8,
        ..Config::default()
    });
    target.wait_for_clients(0);
    // Fill every slot (a probe of the wait above may still be leaving).
    let mut held: Vec<RawClient> = Vec::new();
    while held.len() < 8 {
        let mut c = target.client();
        c.send_cmd("PING");
        match c.read_reply().0 {
            Frame::Simple(_) => held.push(c),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let addr = target.addr();
    let refused: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || RawClient::connect(addr).read_to_close()))
        .collect();
    for r in refused {
        assert_eq!(
            r.join().expect("refused client"),
            b"-ERR max number of clients reached\r\n"
        );
    }
    let info = text(&held[0].cmd("INFO stats"));
    assert!(info.contains("rejected_connections:20\r\n"), "{info}");
    held.truncate(4);
    target.wait_for_clients(4);
    target.assert_unharmed();
}

/// A pipeline followed by a half-close still gets every reply, and a
/// trailing partial request is dropped silently.
pub fn half_close_after_a_pipeline_gets_every_reply<S: Store>() {
    let _m = light();
    let target = Target::start::<S>();
    let mut c = target.client();
    let value = "v".repeat(1000);
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend_from_slice(format!("SET h:{i} {value}\r\nGET h:{i}\r\n").as_bytes());
    }
    batch.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nh:");
    let mut writer = c.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        writer.write_all(&batch).expect("write");
        writer.shutdown(Shutdown::Write).expect("half-close");
    });
    let all = c.read_to_close();
    sender.join().expect("sender");
    let mut rest = &all[..];
    for i in 0..4000 {
        let (frame, used) = flashkv::protocol::parse_frame(rest)
            .expect("well-formed")
            .unwrap_or_else(|| panic!("only {i} replies before the close"));
        let want = if i % 2 == 0 { ok() } else { bulk(&value) };
        assert_eq!(frame, want, "reply {i}");
        rest = &rest[used..];
    }
    assert!(rest.is_empty(), "nothing after the last complete reply");
    target.assert_unharmed();
}

/// Clients that pipeline big GETs and never read are held back by TCP:
/// the server's memory stays bounded and everyone else is served.
pub fn clients_that_never_read_stay_bounded<S: Store>() {
    let _m = heavy();
    let target = Target::start::<S>().allowing(384 * MB);
    let mut setup = target.client();
    assert_eq!(
        setup.cmd(&format!("SET big {}", "x".repeat(256 * 1024))),
        ok()
    );
    let watch = RssWatch::start();
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(10_000);
    let floods: Vec<RawClient> = (0..3).map(|_| target.client()).collect();
    std::thread::scope(|s| {
        for f in &floods {
            let mut stream = f.stream.try_clone().expect("clone");
            let request = &request;
            s.spawn(move || {
                stream
                    .set_write_timeout(Some(Duration::from_millis(300)))
                    .expect("timeout");
                // 88 MB: more than the server's input pause plus what the
                // kernel buffers on both sides.
                let mut sent = 0;
                for _ in 0..400 {
                    if stream.write_all(request).is_err() {
                        break;
                    }
                    sent += request.len();
                }
                assert!(sent < 400 * request.len(), "the server kept reading");
            });
        }
        s.spawn(|| served(&target, 20));
    });
    let omem = max_omem(&mut setup);
    assert!(
        omem <= flashkv::server::OUTPUT_PAUSE + 512 * 1024,
        "unsent output grew to {omem}"
    );
    watch.assert_growth_below(384 * MB, "three clients that never read");
    drop(floods);
    target.wait_for_clients(1);
    target.assert_unharmed();
}

/// 100 MB of `a` without a newline: cut off past 64 KiB with Redis's
/// error, without buffering the flood.
pub fn inline_flood_without_newline_is_cut_at_64k<S: Store>() {
    let _m = heavy();
    let target = Target::start::<S>();
    let watch = RssWatch::start();
    let c = target.client();
    let mut writer = c.stream.try_clone().expect("clone");
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..1600 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            counter.fetch_add(chunk.len(), Ordering::Relaxed);
        }
    });
    let mut reader = c.stream;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    flood.join().expect("flood");
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR Protocol error: too big inline request\r\n"
    );
    assert!(
        sent.load(Ordering::Relaxed) < 100 * MB as usize,
        "the server read the whole flood"
    );
    watch.assert_growth_below(64 * MB, "100 MB inline flood");
    target.assert_unharmed();
}

/// KEYS over a large keyspace, and with a pattern that is exponential for
/// a backtracking matcher, while another client keeps being served.
pub fn keys_over_a_large_keyspace_does_not_stall_others<S: Store>() {
    let _m = heavy();
    let target = Target::start::<S>().allowing(768 * MB);
    let watch = RssWatch::start();
    const KEYS: usize = 100_000;
    fill(&target, KEYS);
    let patterns = ["*", "a*a*a*a*a*a*a*a*a*a*a*a*b"];
    for pattern in patterns {
        let mut keys_client = target.client();
        let done = AtomicBool::new(false);
        let (count, served_meanwhile) = std::thread::scope(|s| {
            let pinger = s.spawn(|| {
                let mut c = target.client();
                let mut n = 0;
                while !done.load(Ordering::Relaxed) && n < 100_000 {
                    assert_eq!(c.cmd("PING"), Frame::simple("PONG"));
                    n += 1;
                }
                n
            });
            keys_client.send(format!("KEYS {pattern}\r\nPING\r\n").as_bytes());
            let reply = read_until_suffix(&mut keys_client.stream, b"+PONG\r\n");
            done.store(true, Ordering::Relaxed);
            let Frame::Array(keys) = reply else {
                panic!("KEYS failed: {reply:?}")
            };
            (keys.len(), pinger.join().expect("pinger"))
        });
        let want = if pattern == "*" { KEYS + 1 } else { 0 };
        assert_eq!(count, want, "KEYS {pattern}");
        assert!(
            served_meanwhile > 0,
            "no PING was answered while KEYS {pattern} ran"
        );
    }
    let mut c = target.client();
    assert_eq!(c.cmd("FLUSHDB"), ok());
    watch.assert_growth_below(768 * MB, "KEYS over a large keyspace");
    assert_eq!(c.cmd(&format!("SET {SENTINEL} intact")), ok());
    target.assert_unharmed();
}

/// `n` keys of 60 `a`s plus a number, through pipelined MSETs.
fn fill(target: &Target, n: usize) {
    let mut c = target.client();
    let prefix = "a".repeat(60);
    let mut batch = Vec::new();
    let mut commands = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        batch.extend_from_slice(format!("*{}\r\n$4\r\nMSET\r\n", chunk.len() * 2 + 1).as_bytes());
        for i in chunk {
            let key = format!("{prefix}{i}");
            batch.extend_from_slice(format!("${}\r\n{key}\r\n$1\r\nv\r\n", key.len()).as_bytes());
        }
        commands += 1;
    }
    let mut writer = c.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || writer.write_all(&batch).expect("write"));
    for _ in 0..commands {
        assert_eq!(c.read_reply().0, ok());
    }
    sender.join().expect("sender");
}
