use super::super::testing::*;
use crate::protocol::Frame;

#[test]
fn set_and_get_round_trip() {
    let mut t = TestDb::new();
    assert_eq!(t.run(&["SET", "k", "v"]), ok());
    assert_eq!(t.run(&["GET", "k"]), bulk("v"));
    assert_eq!(t.run(&["GET", "missing"]), Frame::Null);
}

#[test]
fn set_nx_on_existing_key_returns_nil() {
    let mut t = TestDb::new();
    assert_eq!(t.run(&["SET", "k", "v", "NX"]), ok());
    assert_eq!(t.run(&["SET", "k", "w", "NX"]), Frame::Null);
    assert_eq!(t.run(&["SET", "k", "w", "XX"]), ok());
    assert_eq!(t.run(&["SET", "nokey", "w", "XX"]), Frame::Null);
    assert_eq!(t.run(&["SET", "k", "x", "NX", "GET"]), bulk("w"));
    assert_eq!(t.run(&["GET", "k"]), bulk("w"));
}

#[test]
fn set_options_conflict_like_redis() {
    let mut t = TestDb::new();
    for bad in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10", "PX", "10"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "FOO"],
    ] {
        assert_eq!(t.run(bad), err("ERR syntax error"), "{bad:?}");
    }
    assert_eq!(t.run(&["SET", "k", "v", "EX", "10", "EX", "20"]), ok());
    assert_eq!(t.run(&["TTL", "k"]), int(20));
    assert_eq!(
        t.run(&["SET", "k", "v", "EX", "abc"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        t.run(&["SET", "k", "v", "EX", "0"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        t.run(&["SET", "k", "v", "PX", "9223372036854775807"]),
        err("ERR invalid expire time in 'set' command")
    );
    assert_eq!(
        t.run(&["SETEX", "k", "-1", "v"]),
        err("ERR invalid expire time in 'setex' command")
    );
}

#[test]
fn set_clears_ttl_unless_keepttl() {
    let mut t = TestDb::new();
    t.run(&["SET", "k", "v", "EX", "100"]);
    t.run(&["SET", "k", "v2", "KEEPTTL"]);
    assert_eq!(t.run(&["TTL", "k"]), int(100));
    t.run(&["SET", "k", "v3"]);
    assert_eq!(t.run(&["TTL", "k"]), int(-1));
}

#[test]
fn keys_expire_lazily_on_access() {
    let mut t = TestDb::new();
    t.run(&["SET", "k", "v", "PX", "100"]);
    t.advance(100);
    assert_eq!(t.run(&["GET", "k"]), bulk("v"), "alive at its deadline");
    t.advance(1);
    assert_eq!(t.run(&["GET", "k"]), Frame::Null);
    assert_eq!(t.run(&["DBSIZE"]), int(0), "lazily deleted");
}

#[test]
fn setnx_getset_and_getdel() {
    let mut t = TestDb::new();
    assert_eq!(t.run(&["SETNX", "k", "1"]), int(1));
    assert_eq!(t.run(&["SETNX", "k", "2"]), int(0));
    assert_eq!(t.run(&["GETSET", "k", "3"]), bulk("1"));
    assert_eq!(t.run(&["GETDEL", "k"]), bulk("3"));
    assert_eq!(t.run(&["GETDEL", "k"]), Frame::Null);
}

#[test]
fn getex_changes_or_removes_ttl() {
    let mut t = TestDb::new();
    t.run(&["SET", "k", "v"]);
    assert_eq!(t.run(&["GETEX", "k", "EX", "50"]), bulk("v"));
    assert_eq!(t.run(&["TTL", "k"]), int(50));
    assert_eq!(t.run(&["GETEX", "k", "PERSIST"]), bulk("v"));
    assert_eq!(t.run(&["TTL", "k"]), int(-1));
    assert_eq!(
        t.run(&["GETEX", "k", "EX", "0"]),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(t.run(&["GETEX", "nokey", "EX", "0"]), Frame::Null);
    assert_eq!(
        t.run(&["GETEX", "nokey", "EX", "abc"]),
        Frame::Null,
        "Redis parses the TTL after the lookup"
    );
    assert_eq!(t.run(&["GETEX", "k", "PXAT", "1"]), bulk("v"));
    assert_eq!(t.run(&["EXISTS", "k"]), int(0));
    assert_eq!(
        t.run(&["GETEX", "k", "PERSIST", "EX", "1"]),
        err("ERR syntax error")
    );
}

#[test]
fn mset_msetnx_mget() {
    let mut t = TestDb::new();
    assert_eq!(t.run(&["MSET", "a", "1", "b", "2", "a", "3"]), ok());
    assert_eq!(
        t.run(&["MGET", "a", "b", "c"]),
        arr(vec![bulk("3"), bulk("2"), Frame::Null])
    );
    assert_eq!(t.run(&["MSETNX", "c", "1", "a", "1"]), int(0));
    assert_eq!(t.run(&["MSETNX", "c", "1", "d", "1"]), int(1));
    assert_eq!(
        t.run(&["MSET", "a"]),
        err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(
        t.run(&["MSET", "a", "1", "b"]),
        err("ERR wrong number of arguments for 'mset' command")
    );
}

#[test]
fn append_strlen_getrange_setrange() {
    let mut t = TestDb::new();
    assert_eq!(t.run(&["APPEND", "k", "v1"]), int(2));
    assert_eq!(t.run(&["APPEND", "k", "xyz"]), int(5));
    assert_eq!(t.run(&["STRLEN", "k"]), int(5));
    assert_eq!(t.run(&["STRLEN", "nokey"]), int(0));
    assert_eq!(t.run(&["GETRANGE", "k", "0", "-1"]), bulk("v1xyz"));
    assert_eq!(t.run(&["GETRANGE", "k", "-3", "-1"]), bulk("xyz"));
    assert_eq!(t.run(&["GETRANGE", "k", "5", "2"]), bulk(""));
    assert_eq!(
        t.run(&["GETRANGE", "k", "0", "-100"]),
        bulk("v"),
        "Redis clamps a far negative end to 0"
    );
    assert_eq!(t.run(&["GETRANGE", "nokey", "0", "-1"]), bulk(""));
    assert_eq!(t.run(&["SETRANGE", "k", "10", "zz"]), int(12));
    assert_eq!(
        t.run(&["GET", "k"]),
        Frame::Bulk(bytes::Bytes::from_static(b"v1xyz\0\0\0\0\0zz"))
    );
    assert_eq!(
        t.run(&["SETRANGE", "k", "-1", "x"]),
        err("ERR offset is out of range")
    );
    assert_eq!(
        t.run(&["SETRANGE", "k", "536870912", "x"]),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    assert_eq!(t.run(&["SETRANGE", "nokey", "0", ""]), int(0));
    assert_eq!(t.run(&["EXISTS", "nokey"]), int(0));
}

#[test]
fn append_keeps_the_ttl() {
    let mut t = TestDb::new();
    t.run(&["SET", "k", "v", "EX", "100"]);
    t.run(&["APPEND", "k", "w"]);
    assert_eq!(t.run(&["TTL", "k"]), int(100));
}
