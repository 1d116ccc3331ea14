//! Replication, master side: the stream a SYNC client reads (compared with
//! redis-server's, command by command), and a real redis-server replica
//! of FlashKV that must end with FlashKV's data while writers run through
//! its synchronisation.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

/// A replication stream read as a replica reads it.
struct Stream {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl Stream {
    /// Send `hello` (SYNC, or PSYNC after REPLCONFs) and read up to the end
    /// of the image; returns the stream and the image.
    fn attach(addr: SocketAddr, hello: &str) -> (Stream, Vec<u8>) {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut s = Stream {
            sock,
            buf: Vec::new(),
        };
        s.sock.write_all(hello.as_bytes()).unwrap();
        let mut head = s.line();
        while head.is_empty() || head.starts_with('+') {
            head = s.line(); // keep-alive newlines, +FULLRESYNC, +OK
        }
        let image = if let Some(mark) = head.strip_prefix("$EOF:") {
            let mark = mark.as_bytes().to_vec();
            while !s.buf.windows(mark.len()).any(|w| w == mark) {
                s.fill();
            }
            let end = s.buf.windows(mark.len()).position(|w| w == mark).unwrap();
            let image: Vec<u8> = s.buf.drain(..end + mark.len()).collect();
            image[..end].to_vec()
        } else {
            let len: usize = head[1..].parse().expect("$<length>");
            s.take(len)
        };
        (s, image)
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = self.sock.read(&mut chunk).expect("read the stream");
        assert!(n > 0, "the master closed the stream");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8_lossy(&line).trim_end().to_string();
            }
            self.fill();
        }
    }

    /// The next command of the stream, its name lower-cased.
    fn command(&mut self) -> Vec<String> {
        let head = self.line();
        let n: usize = head
            .strip_prefix('*')
            .unwrap_or_else(|| panic!("a command, not {head:?}"))
            .parse()
            .unwrap();
        let mut argv = Vec::with_capacity(n);
        for i in 0..n {
            let len: usize = self.line()[1..].parse().unwrap();
            let arg = self.take(len + 2);
            let mut arg = String::from_utf8_lossy(&arg[..len]).into_owned();
            if i == 0 {
                arg = arg.to_lowercase();
            }
            argv.push(arg);
        }
        argv
    }

    /// Every command up to and including `SET __end__ 1`, with absolute
    /// times (which differ between any two runs) replaced by `T`.
    fn until_end(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let mut argv = self.command();
            let timed = ["pexpireat", "expireat"].contains(&argv[0].as_str());
            for i in 1..argv.len() {
                let after_at = ["PXAT", "EXAT"].contains(&argv[i - 1].to_uppercase().as_str());
                if after_at || (timed && i == 2) {
                    argv[i] = "T".into();
                }
            }
            let line = argv.join(" ");
            out.push(line.clone());
            if line == "set __end__ 1" {
                return out;
            }
        }
    }
}

/// What a script of writes propagates, on one server.
fn propagated(addr: SocketAddr, script: &[&str]) -> Vec<String> {
    let mut c = RawClient::connect(addr);
    assert_eq!(c.cmd("CONFIG SET repl-ping-replica-period 3600"), ok());
    let (mut stream, image) = Stream::attach(addr, "SYNC\r\n");
    assert!(image.starts_with(b"REDIS"), "an RDB image first");
    // `&CMD` blocks on a second connection (its reply is read at the end).
    let mut blocked = RawClient::connect(addr);
    let mut waiting = 0;
    for line in script {
        if let Some(cmd) = line.strip_prefix('&') {
            blocked.send_cmd(cmd);
            waiting += 1;
            let blocked_now = eventually(Duration::from_secs(5), || {
                info_field(&mut c, "blocked_clients") == 1
            });
            assert!(blocked_now, "{cmd} blocks");
        } else {
            c.cmd(line);
        }
    }
    for _ in 0..waiting {
        blocked.read_reply();
    }
    c.cmd("SET __end__ 1");
    stream.until_end()
}

/// Writes of every kind, as Redis 7.0 propagates them: relative times as
/// absolute ones, SPOP as SREM, a served BLPOP as a pop after the push
/// (after the whole transaction, outside its MULTI/EXEC), INCRBYFLOAT as
/// SET KEEPTTL, transactions and scripts inside MULTI/EXEC, SELECT where
/// the database changes (before MULTI when the first command needs it),
/// nothing for a write that changed nothing. `&` blocks a second client.
const WRITES: &[&str] = &[
    "SET s 1",
    "SET s 2 EX 100",
    "SETEX t 100 v",
    "SET s 5 NX",
    "INCR s",
    "INCRBYFLOAT f 1.5",
    "APPEND s x",
    "GETSET s y",
    "GETDEL s",
    "GETEX t EX 200",
    "GETEX t PERSIST",
    "GETEX t PERSIST",
    "EXPIRE t 100",
    "EXPIRE t 300",
    "PERSIST t",
    "DEL t nosuch",
    "DEL nosuch",
    "RPUSH l a b c",
    "LPOP l",
    "BLPOP l 0",
    "LMOVE l l2 RIGHT LEFT",
    "HSET h f 1 g 2",
    "HINCRBYFLOAT h f 0.5",
    "HDEL h g",
    "SADD st a",
    "SPOP st",
    "ZADD z 1 a 2 b",
    "ZINCRBY z 1 a",
    "ZPOPMIN z",
    "ZADD z2 1 a 2 b 3 c",
    "ZMPOP 1 z2 MAX COUNT 2",
    "BZMPOP 0 1 z2 MIN COUNT 9",
    "&BZMPOP 0 1 z3 MAX COUNT 10",
    "ZADD z3 1 a 2 b",
    "SETBIT bm 7 1",
    "PFADD hll a b c",
    "MULTI",
    "SET m1 1",
    "INCR m1",
    "EXEC",
    "EVAL \"redis.call('set',KEYS[1],'v') redis.call('incr','cnt') return 1\" 1 ek",
    "&BLPOP bl 0",
    "RPUSH bl x y",
    "&BLMPOP 0 1 bl4 RIGHT COUNT 10",
    "RPUSH bl4 a b",
    "RPUSH bl5 a b c",
    "LMPOP 2 nosuch bl5 LEFT COUNT 2",
    "BLMPOP 0 1 bl5 RIGHT COUNT 9",
    "&BLMOVE bl2 bl3 LEFT RIGHT 0",
    "MULTI",
    "RPUSH bl2 a",
    "SET after-push 1",
    "EXEC",
    "SELECT 5",
    "MULTI",
    "SET in5 1",
    "SELECT 6",
    "SET in6 1",
    "EXEC",
    "SELECT 3",
    "SET in3 x",
    "SELECT 0",
    "MSET a 1 b 2",
    "RENAME a a2",
    "COPY b b2",
    "SET p v PX 1",
    "DEBUG SLEEP 0.01",
    "GET p",
    "FLUSHDB",
];

fn stream_carries_what_redis_propagates<S: Store>() {
    let Some(redis) =
        RedisServer::start_with("replication_stream", &["--enable-debug-command", "yes"])
    else {
        return;
    };
    let server = TestServer::with_debug::<S>();
    let theirs = propagated(redis.addr, WRITES);
    let ours = propagated(server.addr, WRITES);
    assert_eq!(ours, theirs, "the replication stream, ours then Redis's");
}

/// A push in a transaction serves blocked clients when it ends, at that
/// time: a key that expired meanwhile serves nobody, and its DEL follows
/// the transaction in the stream, outside its MULTI/EXEC.
fn a_key_expired_by_the_end_of_a_transaction_serves_nobody<S: Store>() {
    let server = TestServer::with_debug::<S>();
    let mut c = server.client();
    assert_eq!(c.cmd("DEBUG SET-ACTIVE-EXPIRE 0"), ok());
    c.cmd("CONFIG SET repl-ping-replica-period 3600");
    let (mut stream, _) = Stream::attach(server.addr, "SYNC\r\n");
    let mut waiter = server.client();
    waiter.send_cmd("BRPOP k 0");
    assert!(eventually(Duration::from_secs(5), || info_field(
        &mut c,
        "blocked_clients"
    ) == 1));
    for line in ["MULTI", "RPUSH k hello", "PEXPIRE k 50", "DEBUG SLEEP 0.1"] {
        c.cmd(line);
    }
    assert!(matches!(c.cmd("EXEC"), Frame::Array(_)));
    assert_eq!(info_field(&mut c, "blocked_clients"), 1, "still blocked");
    c.cmd("SET __end__ 1");
    let got = stream.until_end();
    let want = [
        "select 0",
        "multi",
        "rpush k hello",
        "pexpireat k T",
        "exec",
        "del k",
        "set __end__ 1",
    ];
    assert_eq!(got, want);
}

/// SYNC's answer and the replica's place in INFO, CLIENT LIST and ROLE.
fn a_sync_client_is_a_replica<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.cmd("SET k v");
    let hello = "REPLCONF listening-port 7777\r\nREPLCONF capa eof capa psync2\r\nPSYNC ? -1\r\n";
    let (mut stream, image) = Stream::attach(server.addr, hello);
    assert!(image.starts_with(b"REDIS0010"), "an RDB version 10 image");
    assert!(image.windows(1).count() > 20);
    let info = text(&c.cmd("INFO replication"));
    assert!(info.contains("connected_slaves:1"), "{info}");
    assert!(
        info.contains("state=send_bulk"),
        "until it acknowledges: {info}"
    );
    // After an image ended by a mark, the stream starts at the first ACK.
    stream.sock.write_all(b"REPLCONF ACK 0\r\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || text(&c.cmd("INFO replication"))
            .contains(
                "slave0:ip=127.0.0.1,port=7777,state=online,offset=0,lag="
            )),
        "{}",
        text(&c.cmd("INFO replication"))
    );
    let list = text(&c.cmd("CLIENT LIST TYPE replica"));
    assert!(list.contains("flags=S"), "{list}");
    c.cmd("SET k w");
    assert_eq!(stream.command(), ["select", "0"]);
    assert_eq!(stream.command(), ["set", "k", "w"]);
    stream.sock.write_all(b"REPLCONF ACK 42\r\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || {
        let role = c.cmd("ROLE");
        matches!(&role, Frame::Array(r) if r[2] == Frame::Array(vec![Frame::Array(vec![
            bulk("127.0.0.1"), bulk("7777"), bulk("42")])]))
    }));
    assert_eq!(
        c.cmd("REPLCONF nosuch 1"),
        err("ERR Unrecognized REPLCONF option: nosuch")
    );
    assert_eq!(c.cmd("REPLCONF listening-port"), err("ERR syntax error"));
    assert_eq!(
        c.cmd("REPLCONF rdb-only 2"),
        err("ERR value is out of range, value must between 0 and 1")
    );
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(
        c.cmd("SYNC"),
        err("ERR Command not allowed inside a transaction")
    );
    c.cmd("DISCARD");
    drop(stream);
    assert!(
        eventually(Duration::from_secs(5), || text(&c.cmd("INFO replication"))
            .contains("connected_slaves:0")),
        "a replica that leaves is forgotten"
    );
}

/// `redis-cli --rdb` fetches an image redis-check-rdb accepts, with the keys.
fn redis_cli_fetches_an_rdb<S: Store>() {
    if !redis_server_available("redis_cli_fetches_an_rdb") {
        return;
    }
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.cmd("SET a 1");
    c.cmd("RPUSH l x y");
    let dir = fresh_dir("repl-rdb");
    let file = dir.join("fetched.rdb");
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &server.addr.port().to_string(), "--rdb"])
        .arg(&file)
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = std::process::Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("redis-check-rdb");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && report.contains("2 keys read"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys written by the check's writers.
const KEYS: usize = 50;

/// A real redis-server becomes a replica of FlashKV while writers run;
/// once they stop and the replica has caught up, it holds exactly
/// FlashKV's data. A write missing from both the image and the stream,
/// or in both, or a stream out of apply order, makes them differ.
fn replica_converges(server: &TestServer) -> Verdict {
    let Some(redis) = RedisServer::start("replica_converges") else {
        return Ok(());
    };
    let stop = AtomicBool::new(false);
    let mut r = RawClient::connect(redis.addr);
    let mut c = server.client();
    let result = std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let (stop, addr) = (&stop, server.addr);
            s.spawn(move || {
                let mut w = RawClient::connect(addr);
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    w.cmd(&format!("INCRBY k{} {}", i % KEYS, t + 1));
                    if i % 7 == 0 {
                        w.cmd(&format!("RPUSH list{} {i}", t));
                    }
                    i += CLIENTS;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        r.cmd(&format!("REPLICAOF 127.0.0.1 {}", server.addr.port()));
        let up = eventually(Duration::from_secs(20), || {
            text(&r.cmd("INFO replication")).contains("master_link_status:up")
        });
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        up
    });
    if !result {
        return Err("the replica never came up".into());
    }
    c.cmd("SET __end__ 1");
    let caught_up = eventually(Duration::from_secs(10), || {
        r.cmd("GET __end__") == bulk("1")
    });
    if !caught_up {
        return Err("the replica never saw the last write".into());
    }
    let names: Vec<String> = (0..KEYS)
        .map(|i| format!("k{i}"))
        .chain((0..CLIENTS).map(|t| format!("list{t}")))
        .collect();
    for name in names {
        let cmd = if name.starts_with("list") {
            format!("LRANGE {name} 0 -1")
        } else {
            format!("GET {name}")
        };
        let (ours, theirs) = (c.cmd(&cmd), r.cmd(&cmd));
        if ours != theirs {
            return Err(format!("{name}: master {ours:?}, replica {theirs:?}"));
        }
    }
    Ok(())
}

fn a_redis_replica_converges<S: Store>() {
    if !redis_server_available("a_redis_replica_converges") {
        return;
    }
    let started = Instant::now();
    proves::<S>(
        "a_redis_replica_converges",
        replica_converges,
        flashkv::db::Faults {
            replica_gap: true,
            ..Default::default()
        },
    );
    eprintln!("a_redis_replica_converges: {:?}", started.elapsed());
}

/// `min-replicas-to-write` without replicas: writes (a transaction's at
/// queue time, a script's that declares flags before it runs, a shebang-less
/// script's at its write) get NOREPLICAS as in Redis; reads do not.
fn min_replicas_refuse_writes_as_redis<S: Store>() {
    differential::<S>(
        "min-replicas",
        r##"
        SET x before
        CONFIG SET min-replicas-to-write 1
        CONFIG GET min-slaves-to-write
        SET x 1
        GET x
        PUBLISH ch hi
        EVAL "return redis.call('get','x')" 1 x
        EVAL "#!lua flags=no-writes\nreturn redis.call('get','x')" 1 x
        EVAL "#!lua\nreturn redis.call('get','x')" 1 x
        EVAL "return redis.call('set','x',1)" 1 x
        MULTI
        SET x 2
        EXEC
        CONFIG SET min-replicas-max-lag 0
        SET x 3
        CONFIG SET min-slaves-max-lag 10
        SET x 4
        CONFIG SET min-replicas-to-write 0
        SET x 5
        "##,
    );
}

/// With a real redis-server replica online (it acknowledges every
/// second), `min-replicas-to-write 1` lets writes through; once it is
/// gone, writes get NOREPLICAS again.
fn a_good_replica_lets_writes_through<S: Store>() {
    let Some(redis) = RedisServer::start("good_replica") else {
        return;
    };
    let server = TestServer::start::<S>();
    let mut c = server.client();
    assert_eq!(c.cmd("CONFIG SET min-replicas-to-write 1"), ok());
    assert_eq!(
        c.cmd("SET k 1"),
        err("NOREPLICAS Not enough good replicas to write.")
    );
    let mut r = RawClient::connect(redis.addr);
    r.cmd(&format!("REPLICAOF 127.0.0.1 {}", server.addr.port()));
    assert!(eventually(Duration::from_secs(20), || c.cmd("SET k 2") == ok()));
    assert!(text(&c.cmd("INFO replication")).contains("min_slaves_good_slaves:1"));
    assert!(eventually(Duration::from_secs(10), || r.cmd("GET k") == bulk("2")));
    r.cmd("REPLICAOF NO ONE");
    assert!(eventually(Duration::from_secs(10), || {
        c.cmd("SET k 3") == err("NOREPLICAS Not enough good replicas to write.")
    }));
}

backends!(
    min_replicas_refuse_writes_as_redis,
    a_good_replica_lets_writes_through,
    stream_carries_what_redis_propagates,
    a_key_expired_by_the_end_of_a_transaction_serves_nobody,
    a_sync_client_is_a_replica,
    redis_cli_fetches_an_rdb,
    a_redis_replica_converges
);
