//! Load for pub/sub and transactions against any Redis-protocol server
//! (not a criterion suite: `scripts/bench-messaging` runs it against
//! redis-server and FlashKV side by side and writes the report).
//!
//! ```text
//! cargo bench --bench messaging -- publish ADDR SUBSCRIBERS MESSAGES [PUBLISHERS]
//! cargo bench --bench messaging -- multi ADDR CONNECTIONS TRANSACTIONS
//! cargo bench --bench messaging -- sets ADDR CONNECTIONS ROUNDS
//! ```
//!
//! `publish`: SUBSCRIBERS connections subscribe to one channel; PUBLISHERS
//! connections (default 4) share MESSAGES publishes of a 16-byte payload,
//! pipelined 32 deep. The clock runs from the first publish until every
//! subscriber has read every message, so a server that takes PUBLISH fast
//! but delivers late gains nothing. Prints publishes/s and messages
//! delivered/s.
//!
//! `multi`: CONNECTIONS connections each run TRANSACTIONS/CONNECTIONS
//! transactions `MULTI; SET a v; SET b v; SET c v; EXEC` on keys drawn from
//! 100,000, one transaction in flight per connection (every EXEC reply is
//! checked). `sets`: the same three SETs without MULTI/EXEC, as a
//! baseline. Prints transactions (or rounds) per second.
//!
//! Every run is bounded: a run that has not finished in 120 s fails.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CHANNEL: &str = "bench:channel";
const PAYLOAD: &str = "0123456789abcdef";
const DEPTH: usize = 32;
const LIMIT: Duration = Duration::from_secs(120);

fn request(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Read until `n` complete RESP replies arrived; returns the bytes read.
/// Only the reply shapes these loads produce are parsed (simple, error,
/// integer, bulk, flat arrays of those).
async fn read_replies(s: &mut TcpStream, buf: &mut Vec<u8>, mut n: usize) -> Vec<Vec<u8>> {
    let mut replies = Vec::new();
    loop {
        while n > 0 {
            match one_reply(buf) {
                Some(len) => {
                    replies.push(buf.drain(..len).collect());
                    n -= 1;
                }
                None => break,
            }
        }
        if n == 0 {
            return replies;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        let got = s.read(&mut chunk).await.expect("read");
        assert!(got > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..got]);
    }
}

/// Length of the first complete reply in `b`, if there is one.
fn one_reply(b: &[u8]) -> Option<usize> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&b[1..line_end]).ok()?;
    let after = line_end + 2;
    match b.first()? {
        b'+' | b'-' | b':' => Some(after),
        b'$' => {
            let len: i64 = head.parse().ok()?;
            if len < 0 {
                return Some(after);
            }
            let end = after + len as usize + 2;
            (b.len() >= end).then_some(end)
        }
        b'*' => {
            let n: i64 = head.parse().ok()?;
            let mut at = after;
            for _ in 0..n.max(0) {
                at += one_reply(&b[at..])?;
            }
            Some(at)
        }
        other => panic!("unexpected reply type {}", *other as char),
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

async fn publish(addr: SocketAddr, subscribers: usize, messages: usize, publishers: usize) {
    let message = request(&["message", CHANNEL, PAYLOAD]);
    // What one subscriber reads per message (a RESP2 `message` array).
    let per_message = message.len() as u64;
    let mut subs = Vec::new();
    let ready = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    for _ in 0..subscribers {
        let mut s = connect(addr).await;
        s.write_all(&request(&["SUBSCRIBE", CHANNEL]))
            .await
            .unwrap();
        let mut buf = Vec::new();
        read_replies(&mut s, &mut buf, 1).await;
        ready.fetch_add(1, Ordering::Relaxed);
        let want = per_message * messages as u64;
        let done = done.clone();
        subs.push(tokio::spawn(async move {
            let mut got = buf.len() as u64;
            let mut chunk = vec![0u8; 256 * 1024];
            while got < want {
                let n = s.read(&mut chunk).await.expect("subscriber read");
                assert!(n > 0, "the server closed a subscriber");
                got += n as u64;
            }
            done.fetch_add(1, Ordering::Relaxed);
        }));
    }
    let start = Instant::now();
    let mut pubs = Vec::new();
    for p in 0..publishers {
        let share = messages / publishers + usize::from(p < messages % publishers);
        pubs.push(tokio::spawn(async move {
            let mut s = connect(addr).await;
            let one = request(&["PUBLISH", CHANNEL, PAYLOAD]);
            let mut buf = Vec::new();
            let mut left = share;
            while left > 0 {
                let n = left.min(DEPTH);
                s.write_all(&one.repeat(n)).await.unwrap();
                for r in read_replies(&mut s, &mut buf, n).await {
                    assert_eq!(
                        r[0],
                        b':',
                        "PUBLISH failed: {}",
                        String::from_utf8_lossy(&r)
                    );
                }
                left -= n;
            }
        }));
    }
    for p in pubs {
        p.await.unwrap();
    }
    let published = start.elapsed();
    for s in subs {
        s.await.unwrap();
    }
    let delivered = start.elapsed();
    let secs = delivered.as_secs_f64();
    println!(
        "{{\"load\":\"publish\",\"subscribers\":{subscribers},\"publishers\":{publishers},\"messages\":{messages},\
         \"publish_secs\":{:.4},\"secs\":{secs:.4},\"publishes_per_sec\":{:.0},\"deliveries_per_sec\":{:.0}}}",
        published.as_secs_f64(),
        messages as f64 / secs,
        (messages * subscribers) as f64 / secs,
    );
}

async fn transactions(addr: SocketAddr, connections: usize, total: usize, multi: bool) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let share = total / connections;
        tasks.push(tokio::spawn(async move {
            let mut s = connect(addr).await;
            let mut buf = Vec::new();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ c as u64;
            for _ in 0..share {
                let mut key = || {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    format!("key:{:06}", (seed >> 33) % 100_000)
                };
                let (a, b, k3) = (key(), key(), key());
                let mut batch = Vec::new();
                if multi {
                    batch.extend(request(&["MULTI"]));
                }
                for k in [&a, &b, &k3] {
                    batch.extend(request(&["SET", k, PAYLOAD]));
                }
                if multi {
                    batch.extend(request(&["EXEC"]));
                }
                s.write_all(&batch).await.unwrap();
                let replies = read_replies(&mut s, &mut buf, if multi { 5 } else { 3 }).await;
                let last = replies.last().unwrap();
                if multi {
                    assert!(
                        last.starts_with(b"*3\r\n"),
                        "EXEC: {}",
                        String::from_utf8_lossy(last)
                    );
                } else {
                    assert_eq!(&last[..], b"+OK\r\n");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let n = total / connections * connections;
    println!(
        "{{\"load\":\"{}\",\"connections\":{connections},\"count\":{n},\"secs\":{secs:.4},\"per_sec\":{:.0}}}",
        if multi { "multi" } else { "sets" },
        n as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(load) = args.first() else {
        eprintln!("usage: see the top of benches/messaging.rs");
        return;
    };
    let num = |i: usize, default: usize| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    let addr: SocketAddr = args
        .get(1)
        .expect("an address")
        .parse()
        .expect("ADDR as ip:port");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let run = async {
            match load.as_str() {
                "publish" => publish(addr, num(2, 1), num(3, 100_000), num(4, 4)).await,
                "multi" => transactions(addr, num(2, 50), num(3, 100_000), true).await,
                "sets" => transactions(addr, num(2, 50), num(3, 100_000), false).await,
                other => panic!("unknown load {other}"),
            }
        };
        tokio::time::timeout(LIMIT, run)
            .await
            .expect("the load did not finish in time");
    });
}
