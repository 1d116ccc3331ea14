//! Server and introspection commands: INFO, CONFIG, COMMAND, TIME,
//! FUNCTION FLUSH, SHUTDOWN.

use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

fn config_commands_match_redis<S: Store>() {
    differential::<S>(
        "config_commands_match_redis",
        r#"
        CONFIG GET maxclients
        CONFIG GET save
        CONFIG GET appendonly
        CONFIG GET timeout
        CONFIG GET tcp-keepalive
        CONFIG GET proto-max-bulk-len
        CONFIG GET client-query-buffer-limit
        CONFIG GET requirepass
        CONFIG GET protected-mode
        CONFIG GET databases
        CONFIG GET tcp-backlog
        CONFIG GET hz
        CONFIG GET nonexist
        CONFIG GET MAXCLIENTS
        CONFIG GET
        CONFIG SET timeout 5 hz 20
        CONFIG GET timeout
        CONFIG SET timeout 5 timeout 6
        CONFIG SET maxclients abc
        CONFIG SET timeout -1
        CONFIG SET foo bar
        CONFIG SET databases 4
        CONFIG SET timeout
        CONFIG SET save ""
        CONFIG SET appendonly no
        CONFIG SET maxclients 5000
        CONFIG GET maxclients
        CONFIG SET proto-max-bulk-len 100mb
        CONFIG GET proto-max-bulk-len
        CONFIG SET repl-ping-replica-period 3600 repl-backlog-size 2mb
        CONFIG GET repl-ping-slave-period
        CONFIG GET repl-backlog-size
        CONFIG SET slave-read-only maybe
        CONFIG SET repl-timeout 0
        CONFIG SET repl-timeout x
        CONFIG SET acl-pubsub-default nope
        CONFIG SET acl-pubsub-default ALLCHANNELS
        CONFIG GET acl-pubsub-default
        CONFIG SET oom-score-adj-values "1 2 3"
        CONFIG GET oom-score-adj-values
        CONFIG SET oom-score-adj-values "1 2"
        CONFIG SET oom-score-adj-values "1 2 5000"
        CONFIG SET io-threads 2
        CONFIG SET stream-node-max-bytes 8kb
        CONFIG GET stream-node-max-bytes
        CONFIG GET rdb-key-save-delay
        CONFIG GET rdb-key*
        CONFIG GET key-load-delay
        CONFIG SET key-load-delay x
        CONFIG SET maxmemory-clients 200%
        CONFIG SET maxmemory-clients abc
        CONFIG SET maxmemory-clients -5%
        CONFIG SET maxmemory 10000001 maxmemory-clients 200%
        CONFIG GET maxmemory
        CONFIG RESETSTAT
        CONFIG RESETSTAT foo
        CONFIG FOO
        CONFIG
        "#,
    );
}

/// Every parameter Redis 7.0 reports, FlashKV reports with the same
/// default, the Redis parameters it only accepts (`src/config/inert.rs`)
/// included; the only ones missing are the cluster bus tunings and
/// `replicaof`. (Set on one of the parameters: see
/// `config_commands_match_redis`.)
fn every_redis_parameter_reads_as_in_redis<S: Store>() {
    let test = "every_redis_parameter_reads_as_in_redis";
    let Some(redis) = RedisServer::start(test) else {
        return;
    };
    let server = TestServer::start::<S>();
    let all = |c: &mut RawClient| -> std::collections::BTreeMap<String, String> {
        match c.cmd("CONFIG GET *") {
            Frame::Array(items) => items
                .chunks(2)
                .map(|p| (text(&p[0]), text(&p[1])))
                .collect(),
            other => panic!("CONFIG GET *: {other:?}"),
        }
    };
    let theirs = all(&mut RawClient::connect(redis.addr));
    let ours = all(&mut server.client());
    let missing: Vec<&String> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        missing
            .iter()
            .all(|k| k.starts_with("cluster-") || *k == "replicaof" || *k == "slaveof"),
        "not reported: {missing:?}"
    );
    // What each test server's command line sets, and FlashKV's choices
    // for a test server (no disk writes, one port each).
    let own = [
        "port",
        "bind",
        "dir",
        "save",
        "appendonly",
        "dbfilename",
        "enable-debug-command",
    ];
    let differ: Vec<String> = theirs
        .iter()
        .filter(|(k, v)| !own.contains(&k.as_str()) && ours.get(*k).is_some_and(|o| o != *v))
        .map(|(k, v)| format!("{k}: redis {v:?}, flashkv {:?}", ours[k]))
        .collect();
    assert!(differ.is_empty(), "{differ:#?}");
}

fn command_introspection_matches_redis<S: Store>() {
    differential::<S>(
        "command_introspection_matches_redis",
        "
        COMMAND INFO get set mset del keys scan copy nosuch
        COMMAND INFO expire getex incrbyfloat rename hello auth quit ping
        COMMAND INFO GET
        COMMAND DOCS get set
        COMMAND DOCS nosuch
        COMMAND GETKEYS get
        COMMAND GETKEYS nosuch a
        COMMAND GETKEYS get a b
        COMMAND GETKEYS ping x
        COMMAND GETKEYS set k v
        COMMAND GETKEYS lmpop 0 a left
        COMMAND GETKEYS lmpop 2 a b left
        COMMAND GETKEYS sort a by w get x store d
        COMMAND GETKEYS sort a limit 0 1 store d store e
        COMMAND GETKEYS sort_ro a
        COMMAND GETKEYS blpop a b 0
        COMMAND GETKEYS sintercard 5 a
        COMMAND GETKEYS lmove a b left right
        COMMAND GETKEYS blmpop 0 2 a b left
        COMMAND GETKEYS smove a b m
        COMMAND GETKEYS sinterstore d a b
        COMMAND GETKEYS mset a 1 b 2
        COMMAND GETKEYS mset a b c d
        COMMAND GETKEYS copy a b
        COMMAND GETKEYS rename a b
        COMMAND GETKEYS expire k 10 nx
        COMMAND GETKEYS del a b c
        COMMAND LIST FILTERBY foo x
        COMMAND LIST FILTERBY
        COMMAND FOO
        ",
    );
}

fn command_info_agrees_with_redis_for_every_command<S: Store>() {
    let Some(redis) = RedisServer::start("command_info_for_every_command") else {
        return;
    };
    let ours = TestServer::start::<S>();
    let mut a = ours.client();
    let mut b = RawClient::connect(redis.addr);
    let Frame::Array(all) = a.cmd("COMMAND") else {
        panic!()
    };
    assert!(all.len() >= 55, "only {} commands", all.len());
    for info in all {
        let Frame::Array(fields) = &info else {
            panic!()
        };
        let Frame::Bulk(name) = &fields[0] else {
            panic!()
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let Frame::Array(theirs) = b.cmd(&format!("COMMAND INFO {name}")) else {
            panic!()
        };
        let Frame::Array(theirs) = &theirs[0] else {
            panic!("redis has no {name}")
        };
        // Name, arity, flags, key positions, ACL categories, tips, key specs
        // must match; the subcommand list only has what FlashKV implements.
        assert_eq!(&fields[..9], &theirs[..9], "COMMAND INFO {name}");
        let Frame::Array(subs) = &fields[9] else {
            panic!()
        };
        let Frame::Array(their_subs) = &theirs[9] else {
            panic!()
        };
        for sub in subs {
            assert!(
                their_subs.contains(sub),
                "{name}: subcommand {sub:?} differs from Redis"
            );
        }
    }
}

fn client_commands_match_redis<S: Store>() {
    differential::<S>(
        "client_commands_match_redis",
        r#"
        ~ CLIENT ID
        CLIENT GETNAME
        CLIENT SETNAME "a b"
        CLIENT SETNAME "a\nb"
        CLIENT SETNAME ab
        CLIENT GETNAME
        CLIENT SETNAME ""
        CLIENT GETNAME
        CLIENT ID foo
        CLIENT LIST TYPE foo
        CLIENT LIST TYPE pubsub
        CLIENT LIST ID abc
        CLIENT LIST ID 99999
        CLIENT LIST foo
        CLIENT KILL 1.2.3.4:5
        CLIENT KILL ID 99999
        CLIENT KILL ID 0
        CLIENT KILL ID abc
        CLIENT KILL USER bob
        CLIENT KILL SKIPME maybe
        CLIENT KILL LADDR 1:2 SKIPME no
        CLIENT KILL ADDR 1.2.3.4:5 TYPE normal
        CLIENT KILL foo bar
        CLIENT KILL
        CLIENT NO-SUCH
        CLIENT
        ~ CLIENT INFO
        ~ CLIENT LIST
        "#,
    );
}

fn connection_commands_match_redis<S: Store>() {
    differential::<S>(
        "connection_commands_match_redis",
        r#"
        PING
        PING hi
        PING a b
        ECHO hello
        ECHO
        ECHO a b
        ~ HELLO
        ~ HELLO 2
        HELLO 4
        HELLO abc
        HELLO 2 foo
        HELLO 3 SETNAME "a b"
        HELLO 2 AUTH default
        AUTH foo
        AUTH a b
        AUTH a b c
        AUTH default anything
        ~ HELLO 2 AUTH default anything SETNAME me
        CLIENT GETNAME
        ~ TIME
        TIME foo
        FUNCTION FLUSH
        FUNCTION FLUSH ASYNC
        FUNCTION FLUSH SYNC
        FUNCTION FLUSH foo
        FUNCTION FLUSH sync extra
        FUNCTION
        SHUTDOWN ABORT
        SHUTDOWN NOSAVE SAVE
        SHUTDOWN ABORT NOW
        SHUTDOWN foo
        SELECT 3
        CLIENT SETNAME x
        RESET
        CLIENT GETNAME
        GET a
        QUIT
        "#,
    );
}

fn info_reports_redis_fields<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.cmd("SET a 1");
    c.cmd("SET b 2 EX 100");
    c.cmd("SELECT 3");
    c.cmd("SET c 3");
    let all = text(&c.cmd("INFO"));
    for needle in [
        "# Server\r\nredis_version:7.0.15\r\n",
        "\r\n# Clients\r\nconnected_clients:1\r\n",
        "used_memory:",
        "total_commands_processed:",
        "\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=",
        "\r\ndb3:keys=1,expires=0,avg_ttl=",
    ] {
        assert!(all.contains(needle), "INFO lacks {needle:?}:\n{all}");
    }
    let ks = text(&c.cmd("INFO keyspace"));
    assert!(
        ks.starts_with("# Keyspace\r\n") && !ks.contains("# Server"),
        "{ks}"
    );
}

fn shutdown_command_stops_the_server<S: Store>() {
    let server = TestServer::start::<S>();
    let mut other = server.client();
    other.cmd("SET k v");
    let mut c = server.client();
    c.send_cmd("SHUTDOWN NOSAVE");
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "SHUTDOWN's connection closes without a reply"
    );
    server.join().expect("server stopped cleanly");
}

/// CONFIG SET port listens on the new port and stops listening on the old
/// one, keeping the connections open; a port it cannot bind fails the whole
/// CONFIG SET with Redis's error and changes nothing.
fn config_set_port_moves_the_listener<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    assert_eq!(c.cmd(&format!("CONFIG SET port {port}")), ok());
    let moved = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(
        RawClient::connect(moved).cmd("PING"),
        Frame::Simple("PONG".into())
    );
    assert!(text(&c.cmd("INFO server")).contains(&format!("tcp_port:{port}\r\n")));
    assert_eq!(
        c.cmd("CONFIG GET port"),
        Frame::Array(vec![Frame::bulk("port"), Frame::bulk(port.to_string())])
    );
    let old_closed = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        std::net::TcpStream::connect(server.addr).is_err()
    });
    assert!(old_closed, "still listening on {}", server.addr);
    assert_eq!(c.cmd("PING"), Frame::Simple("PONG".into()), "kept open");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = held.local_addr().unwrap().port();
    assert_eq!(
        c.cmd(&format!("CONFIG SET maxmemory 10000001 port {taken}")),
        Frame::Error("ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port: Address already in use".into())
    );
    assert_eq!(
        c.cmd("CONFIG GET maxmemory"),
        Frame::Array(vec![Frame::bulk("maxmemory"), Frame::bulk("0")])
    );
    assert_eq!(
        RawClient::connect(moved).cmd("PING"),
        Frame::Simple("PONG".into())
    );
}

backends!(
    config_set_port_moves_the_listener,
    config_commands_match_redis,
    every_redis_parameter_reads_as_in_redis,
    command_introspection_matches_redis,
    command_info_agrees_with_redis_for_every_command,
    client_commands_match_redis,
    connection_commands_match_redis,
    info_reports_redis_fields,
    shutdown_command_stops_the_server,
);
