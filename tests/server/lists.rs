//! Lists, and WRONGTYPE for every command that reads a value, compared
//! with Redis.

use flashkv::Store;

use crate::backends;
use crate::common::*;

fn lists_match_redis<S: Store>() {
    differential::<S>(
        "lists_match_redis",
        "
        LPUSH l a b c
        RPUSH l d e
        LRANGE l 0 -1
        LRANGE l 1 2
        LRANGE l -2 -1
        LRANGE l -100 100
        LRANGE l 3 1
        LRANGE l 5 10
        LRANGE l 0 abc
        LRANGE nokey 0 -1
        LINDEX l 0
        LINDEX l -1
        LINDEX l 100
        LINDEX l abc
        LINDEX nokey 0
        LLEN l
        LLEN nokey
        LPOP l
        RPOP l
        LPOP l 2
        RPOP l 0
        LPOP l -1
        LPOP l abc
        LPOP l 1 2
        RPOP l 10
        EXISTS l
        LPOP l
        LPOP l 2
        RPOP nokey 0
        RPUSH t x
        EXPIRE t 100
        LPUSH t y
        TTL t
        TYPE t
        sort KEYS *
        scanall TYPE list
        scanall TYPE string
        LPUSH
        LPUSH l
        ",
    );
}

fn wrong_type_errors_match_redis<S: Store>() {
    differential::<S>(
        "wrong_type_errors_match_redis",
        "
        RPUSH l a b
        SET s 10
        GET l
        GETEX l EX 10
        GETDEL l
        GETSET l v
        SET l v GET
        SET l v NX GET
        SETNX l v
        SETRANGE l 0 x
        GETRANGE l 0 -1
        APPEND l x
        STRLEN l
        INCR l
        INCRBY l 5
        DECR l
        DECRBY l 5
        INCRBYFLOAT l 1.5
        MGET l s nokey
        MSETNX l x
        LPUSH s x
        RPUSH s x
        LPOP s
        RPOP s 2
        LLEN s
        LRANGE s 0 -1
        LINDEX s 0
        TYPE l
        TYPE s
        EXISTS l s
        EXPIRE l 100
        TTL l
        PERSIST l
        COPY l l2
        LRANGE l2 0 -1
        RENAME l l3
        LRANGE l3 0 -1
        SET l3 plain
        GET l3
        DEL l3 s l2
        DBSIZE
        ",
    );
}

backends!(lists_match_redis, wrong_type_errors_match_redis);
