//! DEBUG and the compatibility commands (ROLE, REPLICAOF, MODULE,
//! LOLWUT), against a real Redis with `enable-debug-command yes`. DEBUG
//! DIGEST must give Redis's own digest for the same data: that is what
//! makes it useful for comparing a FlashKV dataset with a Redis one.

use std::time::{Duration, Instant};

use flashkv::{Clock, Frame, Store};

use crate::backends;
use crate::common::*;
use crate::differential::differential_between;

/// Every type in two databases, a key with a TTL, and each encoding
/// (intset and table sets, listpack and table hashes and sorted sets).
const DATA: &str = "
    skip FLUSHALL
    skip SET s hello
    skip SET n 12345
    skip SET big 0123456789012345678901234567890123456789012345678901234567890
    skip SET t v EX 1000
    skip RPUSH l a b c 1 2 3
    skip SADD ints 1 2 3 -5
    skip SADD strs a b c
    skip HSET h f1 v1 f2 v2
    skip ZADD z 0.1 a 1.5 b 3 c -inf d
    skip SELECT 3
    skip SET other db3
    skip SADD strs a b c
    skip SELECT 0
";

/// The script both servers answer byte for byte.
const SCRIPT: &str = "
    DEBUG DIGEST
    DEBUG DIGEST-VALUE s n big t l ints strs h z nosuch
    SELECT 3
    DEBUG DIGEST-VALUE other strs
    SELECT 0
    # A change anywhere changes the digest; undoing it restores it.
    skip SADD strs d
    DEBUG DIGEST
    skip SREM strs d
    DEBUG DIGEST
    skip PERSIST t
    DEBUG DIGEST
    # Hash and set encodings do not change digests.
    skip CONFIG SET hash-max-listpack-entries 1
    skip HSET h f3 v3
    skip HDEL h f3
    DEBUG DIGEST-VALUE h
    ~ DEBUG OBJECT s
    ~ DEBUG OBJECT l
    DEBUG OBJECT nosuch
    DEBUG OBJECT
    DEBUG ERROR
    DEBUG ERROR \"LOADING fake message\"
    DEBUG ERROR \"two\\r\\nlines\"
    DEBUG ERROR a b
    DEBUG SLEEP 0
    DEBUG SLEEP x
    DEBUG SLEEP
    DEBUG LOG hello
    DEBUG PROTOCOL string
    DEBUG PROTOCOL integer
    DEBUG PROTOCOL double
    DEBUG PROTOCOL bignum
    DEBUG PROTOCOL null
    DEBUG PROTOCOL array
    DEBUG PROTOCOL set
    DEBUG PROTOCOL map
    DEBUG PROTOCOL attrib
    DEBUG PROTOCOL push
    DEBUG PROTOCOL verbatim
    DEBUG PROTOCOL true
    DEBUG PROTOCOL false
    DEBUG PROTOCOL nope
    DEBUG PROTOCOL
    DEBUG SET-ACTIVE-EXPIRE 1
    DEBUG AOF-FLUSH-SLEEP 0
    DEBUG CONFIG-REWRITE-FORCE-ALL
    # A payload with a zeroed checksum: refused, then taken while checks
    # are skipped (Redis's test knob).
    RESTORE skipped 0 \"\\x00\\x03abc\\x0a\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\"
    DEBUG SET-SKIP-CHECKSUM-VALIDATION 1
    RESTORE skipped 0 \"\\x00\\x03abc\\x0a\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\"
    GET skipped
    DEBUG SET-SKIP-CHECKSUM-VALIDATION 0
    # Ziplists Redis refuses when it converts them (from its corrupt-dump
    # tests, valid checksums): a wrong count, a wrong previous length.
    RESTORE zl 0 \"\\x0E\\x01\\x13\\x13\\x00\\x00\\x00\\x0E\\x00\\x00\\x00\\x03\\x00\\x00\\x02\\x61\\x00\\x04\\x02\\x62\\x00\\xFF\\x09\\x00\\x4D\\xE2\\x0A\\x2F\\x08\\x25\\xDF\\x91\"
    RESTORE zl 0 \"\\x0E\\x01\\x13\\x13\\x00\\x00\\x00\\x0E\\x00\\x00\\x00\\x02\\x00\\x00\\x02\\x61\\x00\\x0E\\x02\\x62\\x00\\xFF\\x09\\x00\\x49\\x97\\x30\\xB2\\x0D\\xA1\\xED\\xAA\"
    EXISTS zl
    RESTORE ql 0 \"\\x12\\x01\\x01\\x00\\x0a\\x00\\x8f\\xc6\\xc0\\x57\\x1c\\x0a\\xb3\\x3c\"
    EXISTS ql
    DEBUG NOSUCHTHING
    DEBUG
    DEBUG HTSTATS-KEY nokey
    DEBUG HTSTATS-KEY
    skip HSET htsk f v
    DEBUG HTSTATS-KEY htsk
    skip SET htss v
    DEBUG HTSTATS-KEY htss
    ROLE
    REPLICAOF NO ONE
    SLAVEOF no one
    REPLICAOF
    REPLICAOF host notaport
    REPLICAOF host 65536
    MODULE LIST
    MODULE HELP
    MODULE LOAD /nonexistent.so
    MODULE UNLOAD nosuch
    MODULE
    LOLWUT
    LOLWUT VERSION 7
    LOLWUT VERSION x
    COMMAND INFO role replicaof module|list lolwut
    # RELOAD and its options.
    DEBUG RELOAD BOGUS
    DEBUG RELOAD NOSAVE BOGUS
    skip FLUSHALL
    skip SET a 1
    skip SET b 2
    DEBUG RELOAD
    skip SET c 3
    DEBUG RELOAD NOSAVE
    EXISTS a b c
    skip SET c 3
    skip DEL a
    DEBUG RELOAD NOSAVE NOFLUSH MERGE
    MGET a b c
    skip SET b changed
    DEBUG RELOAD nosave noflush merge
    GET b
    DEBUG RELOAD MERGE
    DBSIZE
    DEBUG DIGEST
    # POPULATE.
    skip FLUSHALL
    DEBUG POPULATE 3
    EXISTS key:0 key:1 key:2 key:3
    MGET key:0 key:2
    DEBUG POPULATE 2 p 10
    GET p:1
    DEBUG POPULATE 2 p 3
    GET p:0
    SET key:1 mine
    DEBUG POPULATE 3
    GET key:1
    DEBUG POPULATE -1
    DEBUG POPULATE abc
    DEBUG POPULATE 1 p -5
    DEBUG POPULATE 1 p 1 x
    DEBUG POPULATE 0
    DBSIZE
    DEBUG DIGEST
";

fn debug_and_compatibility_commands_match_redis<S: Store>() {
    let Some(redis) = RedisServer::start_with("debug", &["--enable-debug-command", "yes"]) else {
        return;
    };
    let ours = TestServer::with_debug::<S>();
    let script = format!("{DATA}{SCRIPT}");
    differential_between("debug", &script, ours.addr, redis.addr);
    differential_between(
        "debug (RESP3)",
        &format!("skip HELLO 3\n{script}"),
        ours.addr,
        redis.addr,
    );
    differential_between(
        "debug reload functions",
        RELOAD_FUNCTIONS,
        ours.addr,
        redis.addr,
    );
}

/// DEBUG RELOAD and function libraries: a flush takes them too (the file's
/// come back); NOFLUSH keeps them, and refuses a file that holds one of
/// the same name unless MERGE, where the file's wins.
const RELOAD_FUNCTIONS: &str = r##"
FLUSHALL
FUNCTION FLUSH
FUNCTION LOAD "#!lua name=test\nredis.register_function('test', function() return 1 end)"
DEBUG RELOAD NOFLUSH
DEBUG RELOAD NOFLUSH MERGE
FUNCTION LIST
FUNCTION DELETE test
FUNCTION LOAD "#!lua name=test1\nredis.register_function('test1', function() return 'one' end)"
DEBUG RELOAD
FUNCTION LOAD "#!lua name=test2\nredis.register_function('test2', function() return 'two' end)"
DEBUG RELOAD NOSAVE NOFLUSH MERGE
FCALL test1 0
FCALL test2 0
DEBUG RELOAD NOSAVE
FCALL test2 0
FUNCTION FLUSH
"##;

/// DEBUG RELOAD NOFLUSH without MERGE over a key the file also holds:
/// Redis stops with a panic ("Duplicated key found in RDB file"); FlashKV
/// refuses the load and changes nothing. Without a clash it keeps both.
fn reload_noflush_refuses_a_clash_and_changes_nothing<S: Store>() {
    let server = TestServer::with_debug::<S>();
    let mut c = server.client();
    c.cmd("SET a 1");
    assert_eq!(c.cmd("SAVE"), ok());
    c.cmd("SET a 2");
    c.cmd("SET b 3");
    assert_eq!(
        c.cmd("DEBUG RELOAD NOSAVE NOFLUSH"),
        Frame::Error("ERR Error trying to load the RDB dump".into())
    );
    assert_eq!(c.cmd("MGET a b"), bulks(&["2", "3"]));
    c.cmd("DEL a");
    assert_eq!(c.cmd("DEBUG RELOAD NOSAVE NOFLUSH"), ok());
    assert_eq!(c.cmd("MGET a b"), bulks(&["1", "3"]));
    // A missing file fails the load the same way.
    std::fs::remove_file(server_dir(&mut c).join("dump.rdb")).unwrap();
    assert_eq!(
        c.cmd("DEBUG RELOAD NOSAVE"),
        Frame::Error("ERR Error trying to load the RDB dump".into())
    );
    assert_eq!(c.cmd("DBSIZE"), int(2));
}

fn bulks(values: &[&str]) -> Frame {
    Frame::Array(values.iter().map(|v| bulk(v)).collect())
}

/// DEBUG SET-ACTIVE-EXPIRE 0 stops the sweeper, and only the sweeper:
/// keys that expire stay in the keyspace until read or until active
/// expiry is back. Fails if the switch is ignored (the sweeper deletes
/// them within a few cycles of 100 ms).
fn set_active_expire_stops_and_restarts_the_sweeper<S: Store>() {
    let server = TestServer::with_debug::<S>();
    let mut c = server.client();
    assert_eq!(c.cmd("DEBUG SET-ACTIVE-EXPIRE 0"), ok());
    for i in 0..50 {
        assert_eq!(c.cmd(&format!("SET k{i} v PX 20")), ok());
    }
    std::thread::sleep(Duration::from_millis(600));
    let expired = |c: &mut RawClient| {
        let info = text(&c.cmd("INFO stats"));
        info.lines()
            .find_map(|l| l.strip_prefix("expired_keys:"))
            .expect("expired_keys")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(expired(&mut c), 0, "the sweeper ran while switched off");
    assert_eq!(c.cmd("DEBUG SET-ACTIVE-EXPIRE 1"), ok());
    assert!(
        eventually(Duration::from_secs(5), || expired(&mut c) == 50),
        "the sweeper did not come back"
    );
}

/// DEBUG SLEEP holds the caller's reply back for the time asked, and, as
/// Redis stops the whole server, every other client's too.
fn debug_sleep_delays_the_reply<S: Store>() {
    let server = TestServer::with_debug::<S>();
    let (mut c, mut other) = (server.client(), server.client());
    let start = Instant::now();
    c.send_cmd("DEBUG SLEEP 0.3");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(other.cmd("PING"), Frame::Simple("PONG".into()));
    assert!(
        start.elapsed() >= Duration::from_millis(280),
        "another client was answered during the sleep"
    );
    assert_eq!(c.read_reply().0, ok());
    assert!(start.elapsed() >= Duration::from_millis(300));
}

/// DEBUG stays refused by default, before its arguments are looked at.
fn debug_is_refused_by_default<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let reply = c.cmd("DEBUG DIGEST");
    assert!(
        matches!(&reply, flashkv::protocol::Frame::Error(e) if e.starts_with(b"ERR DEBUG command not allowed")),
        "{reply:?}"
    );
    // Refused on admission, as Redis's protected commands: queued in
    // MULTI it aborts the transaction, and it comes before AUTH.
    differential::<S>(
        "debug-protected",
        "MULTI\nDEBUG SLEEP 0\nEXEC\nMULTI\nMODULE LOAD /nope.so\nEXEC\nMODULE LIST\nDEBUG",
    );
}

/// With `enable-module-command yes` MODULE is admitted and every load
/// fails as a missing module does in Redis (FlashKV loads none).
fn module_commands_allowed_fail_as_redis_does<S: Store>() {
    let Some(redis) = RedisServer::start_with("module", &["--enable-module-command", "yes"]) else {
        return;
    };
    let ours = TestServer::with_config::<S>(
        flashkv::Config {
            enable_module_command: "yes".into(),
            ..flashkv::Config::default()
        },
        Clock::System,
    );
    differential_between(
        "module allowed",
        "MODULE LOAD /nonexistent.so\nMODULE LOADEX /nonexistent.so CONFIG a b\n\
         MODULE UNLOAD nosuch\nMODULE LIST\nCONFIG GET enable-module-command",
        ours.addr,
        redis.addr,
    );
}

backends!(
    module_commands_allowed_fail_as_redis_does,
    debug_and_compatibility_commands_match_redis,
    set_active_expire_stops_and_restarts_the_sweeper,
    debug_sleep_delays_the_reply,
    debug_is_refused_by_default,
    reload_noflush_refuses_a_clash_and_changes_nothing
);
