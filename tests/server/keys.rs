//! Keyspace, TTL and database commands, compared with Redis; expiry over
//! TCP with an injected clock.

use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

fn keyspace_commands_match_redis<S: Store>() {
    differential::<S>(
        "keyspace_commands_match_redis",
        r#"
        MSET a 1 b 2 c 3 hello 1 hallo 2 hxllo 3 "h*llo" 4
        DEL a b nokey
        DEL a
        UNLINK c nokey
        EXISTS hello hello nokey hallo
        TOUCH hello nokey hello
        TYPE hello
        TYPE nokey
        sort KEYS *
        sort KEYS h?llo
        sort KEYS h[ae]llo
        sort KEYS h[^e]llo
        sort KEYS h[a-f]llo
        sort KEYS h\*llo
        sort KEYS nomatch*
        KEYS
        scanall MATCH h*
        scanall COUNT 1
        scanall TYPE string
        scanall TYPE list
        SCAN abc
        SCAN " 1"
        SCAN 18446744073709551616
        SCAN 0 COUNT 0
        SCAN 0 COUNT -1
        SCAN 0 COUNT abc
        SCAN 0 MATCH
        SCAN 0 FOO bar
        SCAN 0 MATCH * COUNT
        DEL
        EXISTS
        TYPE
        "#,
    );
}

fn randomkey_matches_redis<S: Store>() {
    differential::<S>(
        "randomkey_matches_redis",
        "
        RANDOMKEY
        SET only 1
        RANDOMKEY
        RANDOMKEY x
        ",
    );
}

fn rename_copy_move_match_redis<S: Store>() {
    differential::<S>(
        "rename_copy_move_match_redis",
        "
        RENAME nokey k2
        SET x 1 EX 100
        RENAME x x
        RENAMENX x x
        RENAME x y
        TTL y
        EXISTS x
        SET z 2
        RENAMENX y z
        RENAMENX y w
        GET w
        RENAME w z
        GET z
        TTL z
        RENAMENX nokey a
        COPY z z
        COPY z c
        COPY z c
        COPY z c REPLACE
        COPY z c DB 1
        COPY z c DB 1
        COPY z c DB 16
        COPY z c DB -1
        COPY z c DB abc
        COPY z c FOO
        COPY z c DB
        COPY nokey c
        COPY z z DB 1 REPLACE
        MOVE z 0
        MOVE nokey 1
        MOVE z 1
        MOVE c 1
        MOVE c 2
        EXISTS c
        MOVE z abc
        MOVE z 16
        MOVE z 4294967296
        SELECT 2
        GET c
        SELECT 1
        sort KEYS *
        RENAME a
        COPY a
        ",
    );
}

fn expire_family_matches_redis<S: Store>() {
    differential::<S>(
        "expire_family_matches_redis",
        "
        SET a 1
        EXPIRE a 100
        TTL a
        EXPIRE nokey 100
        TTL nokey
        PTTL nokey
        SET b 1
        TTL b
        PTTL b
        EXPIRETIME b
        PEXPIRETIME b
        EXPIRETIME nokey
        PERSIST a
        PERSIST a
        PERSIST nokey
        EXPIRE a 100 nx
        EXPIRE a 100 nx
        EXPIRE a 100 xx
        EXPIRE b 100 xx
        EXPIRE b 100 gt
        EXPIRE a 50 gt
        EXPIRE a 50 lt
        EXPIRE a 200 gt
        TTL a
        EXPIRE a 10 foo
        EXPIRE a 10 nx xx
        EXPIRE a 10 nx gt
        EXPIRE a 10 gt lt
        EXPIRE a abc
        EXPIRE a 1.5
        EXPIRE a 9223372036854775807
        PEXPIRE a 9223372036854775807
        EXPIREAT a 9223372036854775807
        PEXPIREAT a 9223372036854775807
        EXPIRETIME a
        PEXPIRETIME a
        PEXPIREAT a 9223372036854775308
        EXPIRETIME a
        EXPIRE a -9223372036854775808
        EXPIREAT a 99999999999
        EXPIRETIME a
        PEXPIREAT a 99999999999123
        PEXPIRETIME a
        EXPIRETIME a
        EXPIRE a -1
        EXISTS a
        SET a 1
        PEXPIREAT a 1
        EXISTS a
        SET a 1
        EXPIREAT a 0
        DBSIZE
        EXPIRE
        TTL
        PERSIST
        ",
    );
}

fn databases_match_redis<S: Store>() {
    differential::<S>(
        "databases_match_redis",
        "
        SET a 0
        SELECT 1
        GET a
        SET b 1
        SELECT 16
        SELECT -1
        SELECT abc
        SELECT 4294967296
        SWAPDB 0 1
        GET a
        GET b
        SWAPDB abc 1
        SWAPDB 0 abc
        SWAPDB 0 16
        SWAPDB 1 1
        DBSIZE
        SELECT 0
        DBSIZE
        FLUSHDB foo
        FLUSHDB async sync
        FLUSHDB ASYNC
        DBSIZE
        SELECT 1
        DBSIZE
        FLUSHALL SYNC
        DBSIZE
        SET x 1
        FLUSHALL
        DBSIZE
        DBSIZE x
        SELECT
        SET t1 1 EX 1000
        SET t2 1 PX 1000000
        SET t3 1
        ~ INFO keyspace
        FLUSHDB
        SET t4 1
        INFO keyspace
        SET t5 1 EX 1000
        FLUSHALL
        SET t6 1
        INFO keyspace
        SET t7 1 EX 1000
        MULTI
        FLUSHDB
        EXEC
        SET t8 1
        INFO keyspace
        SET t9 1 EX 1000
        MULTI
        FLUSHALL
        EXEC
        SET t10 1
        INFO keyspace
        ",
    );
}

fn keys_expire_lazily_with_an_injected_clock<S: Store>() {
    let mut config = flashkv::Config::default();
    config.expiry.hz = 0; // no sweeper: only lazy expiry can remove keys
    let server = TestServer::with_config::<S>(config, flashkv::Clock::manual(1_700_000_000_000));
    let mut c = server.client();
    assert_eq!(c.cmd("SET k v PX 1000"), ok());
    assert_eq!(c.cmd("SET p v"), ok());
    server.clock.advance(1000);
    assert_eq!(
        c.cmd("GET k"),
        bulk("v"),
        "a key lives through its deadline"
    );
    assert_eq!(c.cmd("PTTL k"), int(0));
    server.clock.advance(1);
    assert_eq!(c.cmd("DBSIZE"), int(2), "nothing removed it yet");
    assert_eq!(c.cmd("GET k"), Frame::Null);
    assert_eq!(c.cmd("DBSIZE"), int(1), "the read deleted it");
}

fn the_sweeper_deletes_expired_keys_nobody_reads<S: Store>() {
    let server = TestServer::with_manual_clock::<S>();
    let mut c = server.client();
    for i in 0..200 {
        c.cmd(&format!("SET temp:{i} v PX 100"));
    }
    c.cmd("SET keep v");
    c.cmd("SET later v EX 1000");
    assert_eq!(c.cmd("DBSIZE"), int(202));
    server.clock.advance(101);
    let swept = eventually(Duration::from_secs(10), || c.cmd("DBSIZE") == int(2));
    assert!(
        swept,
        "expired keys were never swept: DBSIZE {:?}",
        c.cmd("DBSIZE")
    );
    assert_eq!(c.cmd("GET keep"), bulk("v"));
    assert_eq!(c.cmd("TTL later"), int(1000));
    let info = text(&c.cmd("INFO stats"));
    assert!(info.contains("expired_keys:200"), "{info}");
}

backends!(
    keyspace_commands_match_redis,
    randomkey_matches_redis,
    rename_copy_move_match_redis,
    expire_family_matches_redis,
    databases_match_redis,
    keys_expire_lazily_with_an_injected_clock,
    the_sweeper_deletes_expired_keys_nobody_reads,
);
