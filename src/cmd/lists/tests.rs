use super::super::testing::*;
use crate::protocol::Frame;

#[test]
fn push_pop_range() {
    let mut t = TestDb::new();
    assert_eq!(t.run(&["LPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(t.run(&["RPUSH", "l", "d"]), int(4));
    assert_eq!(
        t.run(&["LRANGE", "l", "0", "-1"]),
        arr(vec![bulk("c"), bulk("b"), bulk("a"), bulk("d")])
    );
    assert_eq!(t.run(&["LINDEX", "l", "-1"]), bulk("d"));
    assert_eq!(t.run(&["LPOP", "l"]), bulk("c"));
    assert_eq!(t.run(&["RPOP", "l", "2"]), arr(vec![bulk("d"), bulk("a")]));
    assert_eq!(t.run(&["LLEN", "l"]), int(1));
    assert_eq!(t.run(&["LPOP", "l", "5"]), arr(vec![bulk("b")]));
    assert_eq!(
        t.run(&["EXISTS", "l"]),
        int(0),
        "an emptied list is deleted"
    );
    assert_eq!(t.run(&["LPOP", "l", "1"]), Frame::NullArray);
    assert_eq!(t.run(&["LPOP", "l"]), Frame::Null);
}

#[test]
fn edits_in_the_middle() {
    let mut t = TestDb::new();
    t.run(&["RPUSH", "l", "a", "b", "c", "b"]);
    assert_eq!(t.run(&["LINSERT", "l", "BEFORE", "b", "x"]), int(5));
    assert_eq!(t.run(&["LINSERT", "l", "after", "zz", "x"]), int(-1));
    assert_eq!(t.run(&["LINSERT", "nokey", "AFTER", "a", "x"]), int(0));
    assert_eq!(t.run(&["LSET", "l", "-1", "B"]), ok());
    assert_eq!(
        t.run(&["LSET", "l", "9", "B"]),
        err("ERR index out of range")
    );
    assert_eq!(t.run(&["LSET", "nokey", "0", "B"]), err("ERR no such key"));
    assert_eq!(t.run(&["LREM", "l", "-1", "b"]), int(1));
    assert_eq!(
        t.run(&["LRANGE", "l", "0", "-1"]),
        arr(vec![bulk("a"), bulk("x"), bulk("c"), bulk("B")])
    );
    assert_eq!(t.run(&["LTRIM", "l", "1", "-2"]), ok());
    assert_eq!(
        t.run(&["LRANGE", "l", "0", "-1"]),
        arr(vec![bulk("x"), bulk("c")])
    );
    assert_eq!(t.run(&["LTRIM", "l", "5", "1"]), ok());
    assert_eq!(t.run(&["EXISTS", "l"]), int(0));
}

#[test]
fn lpos_ranks_counts_and_maxlen() {
    let mut t = TestDb::new();
    t.run(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(t.run(&["LPOS", "l", "a"]), int(0));
    assert_eq!(t.run(&["LPOS", "l", "a", "RANK", "2"]), int(2));
    assert_eq!(t.run(&["LPOS", "l", "a", "RANK", "-1"]), int(4));
    assert_eq!(
        t.run(&["LPOS", "l", "a", "RANK", "-9223372036854775808"]),
        int(4)
    );
    assert_eq!(
        t.run(&["LPOS", "l", "a", "COUNT", "0"]),
        arr(vec![int(0), int(2), int(4)])
    );
    assert_eq!(
        t.run(&["LPOS", "l", "a", "COUNT", "2", "MAXLEN", "2"]),
        arr(vec![int(0)])
    );
    assert_eq!(t.run(&["LPOS", "l", "z"]), Frame::Null);
    assert_eq!(t.run(&["LPOS", "nokey", "z", "COUNT", "1"]), arr(vec![]));
}

#[test]
fn moves_between_lists() {
    let mut t = TestDb::new();
    t.run(&["RPUSH", "a", "1", "2", "3"]);
    assert_eq!(t.run(&["RPOPLPUSH", "a", "b"]), bulk("3"));
    assert_eq!(t.run(&["LMOVE", "a", "b", "LEFT", "RIGHT"]), bulk("1"));
    assert_eq!(
        t.run(&["LRANGE", "b", "0", "-1"]),
        arr(vec![bulk("3"), bulk("1")])
    );
    assert_eq!(t.run(&["LMOVE", "b", "b", "LEFT", "RIGHT"]), bulk("3"));
    assert_eq!(
        t.run(&["LRANGE", "b", "0", "-1"]),
        arr(vec![bulk("1"), bulk("3")])
    );
    assert_eq!(t.run(&["LMOVE", "a", "b", "LEFT", "LEFT"]), bulk("2"));
    assert_eq!(
        t.run(&["EXISTS", "a"]),
        int(0),
        "the emptied source is deleted"
    );
    assert_eq!(t.run(&["LMOVE", "a", "b", "LEFT", "LEFT"]), Frame::Null);
    t.run(&["SET", "s", "x"]);
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(t.run(&["LMOVE", "b", "s", "LEFT", "LEFT"]), wrongtype);
    assert_eq!(
        t.run(&["LLEN", "b"]),
        int(3),
        "nothing popped on a wrong destination"
    );
}

#[test]
fn lmpop_pops_from_the_first_non_empty_key() {
    let mut t = TestDb::new();
    t.run(&["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(
        t.run(&["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "2"]),
        arr(vec![bulk("b"), arr(vec![bulk("3"), bulk("2")])])
    );
    assert_eq!(t.run(&["LMPOP", "1", "a", "LEFT"]), Frame::NullArray);
    assert_eq!(
        t.run(&["LMPOP", "0", "a", "LEFT"]),
        err("ERR numkeys should be greater than 0")
    );
    assert_eq!(t.run(&["LMPOP", "3", "a", "LEFT"]), err("ERR syntax error"));
}

#[test]
fn blocking_pops_answer_at_once_when_they_can() {
    let mut t = TestDb::new();
    t.run(&["RPUSH", "b", "x"]);
    assert_eq!(
        t.run(&["BLPOP", "a", "b", "0"]),
        arr(vec![bulk("b"), bulk("x")])
    );
    assert_eq!(
        t.run(&["BLPOP", "a", "b", "-1"]),
        err("ERR timeout is negative")
    );
    assert_eq!(
        t.run(&["BLPOP", "a", "x1"]),
        err("ERR timeout is not a float or out of range")
    );
    // The in-process runner times a blocked client out at once.
    assert_eq!(t.run(&["BRPOP", "a", "0.01"]), Frame::NullArray);
    assert_eq!(
        t.run(&["BLMOVE", "a", "c", "LEFT", "LEFT", "0.01"]),
        Frame::NullArray
    );
}

#[test]
fn lists_answer_wrongtype() {
    let mut t = TestDb::new();
    t.run(&["LPUSH", "l", "a"]);
    t.run(&["SET", "s", "1"]);
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for cmd in [
        &["GET", "l"][..],
        &["INCR", "l"],
        &["APPEND", "l", "x"],
        &["SET", "l", "v", "GET"],
        &["STRLEN", "l"],
        &["LPUSH", "s", "x"],
        &["LRANGE", "s", "0", "1"],
        &["LPUSHX", "s", "x"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["BLPOP", "s", "0"],
    ] {
        assert_eq!(t.run(cmd), wrongtype, "{cmd:?}");
    }
    assert_eq!(t.run(&["TYPE", "l"]), Frame::simple("list"));
    assert_eq!(
        t.run(&["MGET", "l", "s"]),
        arr(vec![Frame::Null, bulk("1")])
    );
    assert_eq!(
        t.run(&["SET", "l", "v"]),
        ok(),
        "plain SET replaces any type"
    );
}
