use super::super::testing::*;
use crate::protocol::Frame;

fn dbl(d: f64) -> Frame {
    Frame::Double(d)
}

#[test]
fn add_score_rank_range() {
    let mut t = TestDb::new();
    assert_eq!(t.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]), int(3));
    assert_eq!(t.run(&["ZADD", "z", "CH", "5", "a", "4", "d"]), int(2));
    assert_eq!(t.run(&["ZSCORE", "z", "a"]), dbl(5.0));
    assert_eq!(t.run(&["ZRANK", "z", "a"]), int(3));
    assert_eq!(t.run(&["ZREVRANK", "z", "a"]), int(0));
    assert_eq!(
        t.run(&["ZRANGE", "z", "0", "1"]),
        arr(vec![bulk("b"), bulk("c")])
    );
    assert_eq!(
        t.run(&["ZRANGE", "z", "(2", "+inf", "BYSCORE", "LIMIT", "1", "1"]),
        arr(vec![bulk("d")])
    );
    assert_eq!(
        t.run(&["ZRANGE", "z", "+inf", "4", "BYSCORE", "REV", "WITHSCORES"]),
        Frame::Pairs(vec![(bulk("a"), dbl(5.0)), (bulk("d"), dbl(4.0))])
    );
    assert_eq!(t.run(&["ZCOUNT", "z", "2", "(4"]), int(2));
    assert_eq!(
        t.run(&["ZINCRBY", "z", "-inf", "a"]),
        dbl(f64::NEG_INFINITY)
    );
    assert_eq!(
        t.run(&["ZINCRBY", "z", "+inf", "a"]),
        err("ERR resulting score is not a number (NaN)")
    );
    assert_eq!(t.run(&["ZADD", "z", "GT", "1", "b"]), int(0));
    assert_eq!(t.run(&["ZSCORE", "z", "b"]), dbl(2.0));
    assert_eq!(
        t.run(&["ZADD", "z", "XX", "INCR", "1", "nope"]),
        Frame::Null
    );
    assert_eq!(t.run(&["ZREMRANGEBYSCORE", "z", "-inf", "2"]), int(2));
    assert_eq!(t.run(&["ZCARD", "z"]), int(2));
    assert_eq!(
        t.run(&["ZPOPMIN", "z", "5"]),
        Frame::Pairs(vec![(bulk("c"), dbl(3.0)), (bulk("d"), dbl(4.0)),])
    );
    assert_eq!(t.run(&["EXISTS", "z"]), int(0));
}

#[test]
fn algebra_weights_and_aggregates() {
    let mut t = TestDb::new();
    t.run(&["ZADD", "a", "1", "x", "2", "y"]);
    t.run(&["ZADD", "b", "10", "y", "20", "z"]);
    t.run(&["SADD", "s", "y", "q"]);
    assert_eq!(
        t.run(&["ZINTER", "3", "a", "b", "s", "WITHSCORES"]),
        Frame::Pairs(vec![(bulk("y"), dbl(13.0))])
    );
    assert_eq!(
        t.run(&[
            "ZUNION",
            "2",
            "a",
            "b",
            "WEIGHTS",
            "2",
            "1",
            "AGGREGATE",
            "MAX"
        ]),
        arr(vec![bulk("x"), bulk("y"), bulk("z")])
    );
    assert_eq!(t.run(&["ZDIFFSTORE", "d", "2", "a", "b"]), int(1));
    assert_eq!(t.run(&["ZRANGE", "d", "0", "-1"]), arr(vec![bulk("x")]));
    assert_eq!(t.run(&["ZINTERCARD", "2", "a", "b", "LIMIT", "0"]), int(1));
    t.run(&["SET", "str", "v"]);
    assert_eq!(
        t.run(&["ZUNION", "2", "a", "str", "BAD"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value"),
        "types are checked before options"
    );
    assert_eq!(
        t.run(&["ZUNION", "0", "a"]),
        err("ERR at least 1 input key is needed for 'zunion' command")
    );
}

#[test]
fn large_sets_switch_encoding_and_keep_order() {
    let mut t = TestDb::new();
    for i in 0..300 {
        let score = (i * 7 % 300).to_string();
        t.run(&["ZADD", "big", &score, &format!("m{i}")]);
    }
    assert_eq!(t.run(&["OBJECT", "ENCODING", "big"]), bulk("skiplist"));
    assert_eq!(t.run(&["ZCARD", "big"]), int(300));
    assert_eq!(t.run(&["ZRANGE", "big", "0", "0"]), arr(vec![bulk("m0")]));
    assert_eq!(t.run(&["ZRANK", "big", "m1"]), int(7));
    assert_eq!(t.run(&["ZREMRANGEBYRANK", "big", "0", "99"]), int(100));
    assert_eq!(t.run(&["ZCOUNT", "big", "-inf", "+inf"]), int(200));
}
