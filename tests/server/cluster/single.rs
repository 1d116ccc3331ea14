//! One FlashKV node against one redis-server node, both in cluster mode:
//! every CLUSTER subcommand's replies and errors, the redirection errors a
//! node can give alone, transactions and scripts confined to one slot.

use std::time::Duration;

use flashkv::Store;

use super::*;
use crate::differential::differential_between;

/// Before any slot is assigned: arguments, errors, an unserved cluster.
const ALONE: &str = r##"
CLUSTER KEYSLOT foo
CLUSTER KEYSLOT {user}a
CLUSTER KEYSLOT a{b}c{d}
CLUSTER KEYSLOT {}x
CLUSTER KEYSLOT ""
CLUSTER COUNTKEYSINSLOT 16384
CLUSTER COUNTKEYSINSLOT -1
CLUSTER COUNTKEYSINSLOT x
CLUSTER COUNTKEYSINSLOT 5
CLUSTER GETKEYSINSLOT 1 -1
CLUSTER GETKEYSINSLOT 16384 1
CLUSTER GETKEYSINSLOT x 1
CLUSTER GETKEYSINSLOT 1 x
CLUSTER GETKEYSINSLOT 5 10
CLUSTER INFO
~ CLUSTER MYID
~ CLUSTER NODES
CLUSTER SLOTS
~ CLUSTER SHARDS
CLUSTER LINKS
CLUSTER HELP
CLUSTER NOSUCH
CLUSTER
CLUSTER ADDSLOTS
CLUSTER ADDSLOTS 16384
CLUSTER ADDSLOTS x
CLUSTER ADDSLOTS -1
CLUSTER ADDSLOTS 1 2 1
CLUSTER ADDSLOTSRANGE 1 2 3
CLUSTER ADDSLOTSRANGE 5 1
CLUSTER ADDSLOTSRANGE 1 3 2 4
CLUSTER ADDSLOTSRANGE 1 99999
CLUSTER DELSLOTS 7
CLUSTER DELSLOTSRANGE 1 5
CLUSTER SETSLOT 1 FOO
CLUSTER SETSLOT 1 MIGRATING abc
CLUSTER SETSLOT 1 IMPORTING abc
CLUSTER SETSLOT 1 NODE abc
CLUSTER SETSLOT 1 STABLE
CLUSTER SETSLOT 1 STABLE extra
CLUSTER SETSLOT 99999 STABLE
CLUSTER SETSLOT x STABLE
CLUSTER MEET 1.2.3 5
CLUSTER MEET 127.0.0.1 x
CLUSTER MEET 127.0.0.1 1 x
CLUSTER MEET 127.0.0.1 70000
CLUSTER MEET 127.0.0.1 0
CLUSTER MEET 127.0.0.1 1 2 3
CLUSTER FORGET abc
CLUSTER COUNT-FAILURE-REPORTS abc
CLUSTER REPLICAS abc
CLUSTER SLAVES abc
CLUSTER REPLICATE abc
CLUSTER FAILOVER
CLUSTER FAILOVER FORCE
CLUSTER FAILOVER bogus
CLUSTER FAILOVER FORCE extra
CLUSTER RESET bogus
CLUSTER SET-CONFIG-EPOCH -1
CLUSTER SET-CONFIG-EPOCH x
CLUSTER BUMPEPOCH
CLUSTER BUMPEPOCH
CLUSTER SET-CONFIG-EPOCH 5
CLUSTER SAVECONFIG
READONLY
READWRITE
ASKING
SELECT 1
SELECT 0
SELECT x
SWAPDB 0 1
SET foo bar
GET foo
MSET a 1 b 2
MSET {t}a 1 b 2
EXISTS foo
PING
DBSIZE
KEYS *
CLUSTER ADDSLOTSRANGE 0 16383
CLUSTER ADDSLOTS 0
CLUSTER DELSLOTS 0 0
"##;

/// Once the node serves every slot.
const SERVING: &str = r##"
SET foo bar
GET foo
MSET a 1 b 2
MSET {t}a 1 {t}b 2
MGET {t}a {t}b
MGET {t}a foo
CLUSTER KEYSLOT {t}
CLUSTER COUNTKEYSINSLOT 15891
sort CLUSTER GETKEYSINSLOT 15891 10
~ CLUSTER GETKEYSINSLOT 15891 1
CLUSTER GETKEYSINSLOT 15891 0
CLUSTER INFO
COPY {t}a {t}c DB 1
COPY {t}a {t}c DB 0
COPY {t}a foo
MOVE {t}a 1
RENAME {t}a foo
RENAME {t}a {t}z
RPUSH {t}l 3 1 2
SORT {t}l
SORT {t}l BY nosort
SORT {t}l BY w_*
SORT {t}l GET #
SORT {t}l LIMIT 0 1 GET # BY w_*
SORT {t}l BY w_* LIMIT x 1
SORT {t}l LIMIT x 1 BY w_*
SORT {t}l GET # bogus
SORT_RO {t}l BY w_*
SORT_RO {t}l STORE {t}d GET #
MULTI
SET {t}a 2
SET foo 3
EXEC
EXEC
MULTI
GET foo
INCR {t}n
EXEC
EVAL "return redis.call('get', KEYS[1])" 1 foo
EVAL "return 1" 2 foo {t}a
EVAL "return redis.call('get','foo')..redis.call('get','{t}c')" 0
EVAL "#!lua\nreturn redis.call('get','foo')..redis.call('get','{t}c')" 0
EVAL "#!lua flags=allow-cross-slot-keys\nreturn redis.call('get','foo')..redis.call('get','{t}c')" 0
EVAL "#!lua\nreturn redis.call('get','{t}c')" 1 foo
EVAL "#!lua flags=no-cluster\nreturn 1" 0
EVAL "#!lua\nreturn redis.pcall('get','foo')" 1 {t}c
FUNCTION LOAD "#!lua name=lib\nredis.register_function{function_name='f', callback=function(k) return redis.call('get', k[1]) end, flags={'no-writes','allow-cross-slot-keys','allow-stale','no-cluster','allow-oom'}}"
FUNCTION LIST
FCALL f 1 foo
FUNCTION FLUSH
CLUSTER FLUSHSLOTS
CLUSTER RESET
PUBLISH ch hello
SPUBLISH ch hello
FLUSHALL
DBSIZE
CLUSTER RESET
CLUSTER INFO
SET foo bar
"##;

pub(super) fn single_node_matches_redis<S: Store>() {
    let test = "single_node_matches_redis";
    let Some(redis) = redis_node(test) else {
        return;
    };
    let (ours, _) = start_node::<S>();
    differential_between(test, ALONE, ours.addr, redis.addr);
    // A master that just got its slots says ok once its 2 s delay passed.
    wait_ok(&[ours.addr, redis.addr]);
    differential_between(test, SERVING, ours.addr, redis.addr);
    // SERVING ends with a reset: a node that serves no slot is a minority
    // of one, so when it gets slots back it waits `cluster-node-timeout`
    // (5 s here, clamped to 0.5-5 s) before it says ok, as Redis does.
    differential_between(test, REJOIN, ours.addr, redis.addr);
    wait_ok(&[ours.addr, redis.addr]);
}

const REJOIN: &str = r##"
CLUSTER ADDSLOTSRANGE 0 16383
CLUSTER INFO
SET foo bar
"##;

/// The bus port is a network port too: garbage closes the link, a length
/// that never arrives costs nothing, a PING from a stranger gets a PONG
/// and changes nothing, and clients are served throughout.
pub(super) fn the_bus_shrugs_off_garbage<S: Store>() {
    use std::io::{Read, Write};

    use flashkv::state::cluster::msg::{kind, Body, Header, Message, HEADER_LEN};
    use flashkv::state::cluster::topology::SlotSet;

    let (ours, config) = start_node::<S>();
    // Answering clients means the bus port is bound too.
    assert_eq!(ours.client().cmd("PING"), Frame::Simple("PONG".into()));
    let bus: SocketAddr = format!("127.0.0.1:{}", config.cluster.port)
        .parse()
        .unwrap();
    let closes = |bytes: &[u8]| {
        let mut s = std::net::TcpStream::connect(bus).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bytes).unwrap();
        let mut buf = [0u8; 64];
        matches!(s.read(&mut buf), Ok(0) | Err(_))
    };
    assert!(
        closes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "bad signature"
    );
    let mut huge = b"RCmb".to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(closes(&huge), "announced length over the limit");
    // Announce a megabyte and never send it, many times over.
    let mut pending = Vec::new();
    for _ in 0..200 {
        let mut s = std::net::TcpStream::connect(bus).unwrap();
        let mut head = b"RCmb".to_vec();
        head.extend_from_slice(&(1u32 << 20).to_be_bytes());
        s.write_all(&head).unwrap();
        pending.push(s);
    }
    let stranger = Message {
        header: Header {
            port: 1,
            kind: kind::PING,
            count: 0,
            current_epoch: 99,
            config_epoch: 99,
            sender: "f".repeat(40),
            slots: SlotSet::default(),
            slaveof: String::new(),
            ip: String::new(),
            cport: 2,
            flags: 1,
            state: 0,
        },
        body: Body::Gossip(Vec::new()),
    };
    let mut s = std::net::TcpStream::connect(bus).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A message of the wrong length for its type is ignored, not fatal.
    let mut bad = stranger.encode();
    bad.extend_from_slice(&[0; 7]);
    let len = bad.len() as u32;
    bad[4..8].copy_from_slice(&len.to_be_bytes());
    s.write_all(&bad).unwrap();
    s.write_all(&stranger.encode()).unwrap();
    let mut pong = vec![0u8; HEADER_LEN];
    s.read_exact(&mut pong).unwrap();
    let pong = Message::decode(&pong).unwrap();
    assert_eq!(pong.header.kind, kind::PONG);
    assert_eq!(
        pong.header.port,
        ours.addr.port(),
        "the PONG names this node's client port"
    );
    let info = cluster_info(ours.addr);
    assert!(
        info.contains("cluster_known_nodes:1") && info.contains("cluster_current_epoch:0"),
        "{info}"
    );
    assert_eq!(ours.client().cmd("PING"), Frame::Simple("PONG".into()));
    drop(pending);
}

/// MIGRATE between two plain servers, every option, beside the same
/// story between two redis-servers: replies (and the target's errors, as
/// relayed) byte for byte.
pub(super) fn migrate_matches_redis<S: Store>() {
    let test = "migrate_matches_redis";
    let (Some(r_src), Some(r_dst)) = (
        RedisServer::start(test),
        RedisServer::start_with(test, &["--requirepass", "pw"]),
    ) else {
        return;
    };
    let f_src = TestServer::start::<S>();
    let config = flashkv::Config {
        requirepass: "pw".into(),
        ..Default::default()
    };
    let f_dst = TestServer::with_config::<S>(config, flashkv::Clock::System);
    let story = |src: SocketAddr, dst: SocketAddr| -> Vec<String> {
        let (host, port) = (dst.ip().to_string(), dst.port().to_string());
        let mut s = RawClient::connect(src);
        let mut d = RawClient::connect(dst);
        let (mut out, mut kept_sockets) = (Vec::new(), Vec::new());
        let mut say = |c: &mut RawClient, line: &str| {
            let args: Vec<String> = line.split(' ').map(str::to_string).collect();
            let args: Vec<Vec<u8>> = args
                .iter()
                .map(|a| {
                    a.replace("{host}", &host)
                        .replace("{port}", &port)
                        .replace("''", "")
                        .into_bytes()
                })
                .collect();
            let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            out.push(format!("{line} -> {:?}", c.cmd_args(&refs)));
        };
        say(&mut d, "AUTH pw");
        say(&mut s, "SET k v");
        say(&mut s, "RPUSH list a b c");
        say(&mut s, "SET t x PX 500000");
        say(&mut s, "MIGRATE {host} {port} k 0 5000");
        say(&mut s, "MIGRATE {host} {port} k 0 5000 AUTH wrong");
        say(&mut s, "MIGRATE {host} {port} k 0 5000 AUTH pw");
        say(&mut s, "EXISTS k");
        say(&mut d, "GET k");
        // The kept connection is the authenticated one: no AUTH needed.
        say(&mut s, "SET k3 v");
        say(&mut s, "MIGRATE {host} {port} k3 0 5000");
        let info = text(&s.cmd("INFO stats"));
        let kept = info
            .lines()
            .find(|l| l.starts_with("migrate_cached_sockets:"));
        kept_sockets.push(format!("{kept:?}"));
        say(&mut s, "MIGRATE {host} {port} k 0 5000 AUTH pw");
        say(&mut s, "SET k v2");
        say(&mut s, "MIGRATE {host} {port} k 0 5000 AUTH pw");
        say(
            &mut s,
            "MIGRATE {host} {port} k 0 5000 COPY REPLACE AUTH2 default pw",
        );
        say(&mut s, "GET k");
        say(&mut d, "GET k");
        say(
            &mut s,
            "MIGRATE {host} {port} '' 3 5000 AUTH pw KEYS list t nosuch",
        );
        say(&mut d, "SELECT 3");
        say(&mut d, "LRANGE list 0 -1");
        say(&mut d, "PTTL t");
        say(&mut s, "MIGRATE {host} {port} k 0 5000 KEYS list");
        say(&mut s, "MIGRATE {host} {port} k 0 5000 AUTH");
        say(&mut s, "MIGRATE {host} {port} k 0 5000 BOGUS");
        say(&mut s, "MIGRATE {host} {port} k x 5000");
        say(&mut s, "MIGRATE {host} {port} k 0 x");
        say(&mut s, "MIGRATE {host} 1 k 0 200");
        say(&mut s, "MIGRATE {host} {port} nosuch 0 5000");
        out.extend(kept_sockets);
        out
    };
    let ours = story(f_src.addr, f_dst.addr);
    let theirs = story(r_src.addr, r_dst.addr);
    for (a, b) in ours.iter().zip(&theirs) {
        // The target's remaining TTL differs by the time elapsed.
        if a.starts_with("PTTL") {
            // (500000 itself when less than a millisecond went by.)
            let ttl = |s: &str| -> i64 {
                let n = s.split("Integer(").nth(1).and_then(|r| r.split(')').next());
                n.and_then(|n| n.parse().ok()).unwrap_or(-1)
            };
            let fresh = |n: i64| (490_000..=500_000).contains(&n);
            assert!(fresh(ttl(a)) && fresh(ttl(b)), "{a} / {b}");
            continue;
        }
        assert_eq!(a, b, "{test} (left flashkv, right redis)");
    }
    assert_eq!(ours.len(), theirs.len());
}

/// MIGRATE keeps its connection to a target (Redis's cached sockets): the
/// next MIGRATE there reuses it and sends SELECT only for another
/// database; when the target closed it meanwhile, MIGRATE starts over on
/// a new one and the key still moves.
pub(super) fn migrate_keeps_its_connection<S: Store>() {
    let (src, dst) = (TestServer::start::<S>(), TestServer::start::<S>());
    let (mut s, mut d) = (src.client(), dst.client());
    let migrate = |s: &mut RawClient, key: &str, db: u32| {
        let line = format!(
            "MIGRATE {} {} {key} {db} 5000",
            dst.addr.ip(),
            dst.addr.port()
        );
        s.cmd(&line)
    };
    let calls = |d: &mut RawClient, name: &str| -> u64 {
        let stats = text(&d.cmd("INFO commandstats"));
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")));
        let calls = line.and_then(|l| l.split("calls=").nth(1)?.split(',').next()?.parse().ok());
        calls.unwrap_or(0)
    };
    for k in ["a", "b", "c", "d"] {
        assert_eq!(s.cmd(&format!("SET {k} v")), ok());
    }
    assert_eq!(migrate(&mut s, "a", 0), ok());
    assert_eq!(migrate(&mut s, "b", 0), ok());
    assert_eq!(info_field(&mut s, "migrate_cached_sockets"), 1);
    assert_eq!(
        info_field(&mut d, "total_connections_received"),
        2,
        "one kept"
    );
    assert_eq!(
        calls(&mut d, "select"),
        1,
        "no SELECT for the same database"
    );
    assert_eq!(migrate(&mut s, "c", 1), ok());
    assert_eq!(calls(&mut d, "select"), 2);
    // The target drops the kept connection: the next MIGRATE gets a broken
    // one, and retries on a new one.
    assert_eq!(d.cmd("CLIENT KILL TYPE normal SKIPME yes"), int(1));
    assert_eq!(migrate(&mut s, "d", 1), ok());
    assert_eq!(s.cmd("EXISTS d"), int(0));
    assert_eq!(d.cmd("SELECT 1"), ok());
    assert_eq!(d.cmd("GET d"), bulk("v"));
    assert_eq!(info_field(&mut d, "total_connections_received"), 3);
}
