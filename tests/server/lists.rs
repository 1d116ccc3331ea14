//! Lists, and WRONGTYPE for every command that reads a value, compared
//! with Redis.

use flashkv::Store;

use crate::backends;
use crate::common::*;

fn lists_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
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

fn list_edits_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "list_edits_match_redis",
        "
        RPUSH l a b c a d a
        LPUSHX l z
        RPUSHX l y
        LPUSHX nokey z
        RPUSHX nokey z
        EXISTS nokey
        LINSERT l BEFORE a x
        LINSERT l AFTER a x
        LINSERT l AFTER nope x
        LINSERT l MIDDLE a x
        LINSERT nokey BEFORE a x
        LRANGE l 0 -1
        LSET l 0 first
        LSET l -1 last
        LSET l 100 x
        LSET l abc x
        LSET nokey 0 x
        LREM l 1 a
        LREM l -1 a
        LREM l 0 x
        LREM l abc x
        LRANGE l 0 -1
        LPOS l a
        LPOS l a RANK -1
        LPOS l a RANK 2
        LPOS l a RANK 0
        LPOS l a COUNT 0
        LPOS l a COUNT -1
        LPOS l a MAXLEN -1
        LPOS l a MAXLEN 2
        LPOS l a RANK 1 COUNT 0 MAXLEN 0
        LPOS l a RANK -9223372036854775808
        LPOS l a RANK 3
        LPOS l zz
        LPOS l zz COUNT 3
        LPOS nokey a
        LPOS nokey a COUNT 1
        LPOS l a FOO 1
        LTRIM l 1 -2
        LRANGE l 0 -1
        LTRIM l abc 1
        LTRIM l 5 1
        EXISTS l
        LTRIM nokey 0 1
        RPUSH src 1 2 3
        RPOPLPUSH src dst
        LMOVE src dst LEFT RIGHT
        LMOVE src dst RIGHT LEFT
        LMOVE src dst UP LEFT
        EXISTS src
        LMOVE src dst LEFT LEFT
        RPOPLPUSH nokey dst
        LRANGE dst 0 -1
        LMOVE dst dst LEFT RIGHT
        LRANGE dst 0 -1
        SET str x
        LMOVE dst str LEFT LEFT
        LMOVE str dst LEFT LEFT
        RPOPLPUSH dst str
        LRANGE dst 0 -1
        LMPOP 2 nokey dst LEFT COUNT 2
        LMPOP 1 nokey RIGHT
        LMPOP 0 dst LEFT
        LMPOP -1 dst LEFT
        LMPOP abc dst LEFT
        LMPOP 5 dst LEFT
        LMPOP 1 dst MIDDLE
        LMPOP 1 dst LEFT COUNT 0
        LMPOP 1 dst LEFT COUNT -1
        LMPOP 1 dst LEFT COUNT 1 COUNT 2
        LMPOP 1 dst LEFT FOO 1
        LMPOP 2 str dst LEFT
        LMPOP 1 dst RIGHT COUNT 100
        EXISTS dst
        RPUSH b1 x y
        BLPOP nokey b1 0
        BRPOP b1 0
        BLPOP b1 0.01
        BLPOP b1 -1
        BLPOP b1 abc
        BLPOP b1 1e400
        BLPOP str 0
        RPUSH b2 1 2 3
        BLMOVE b2 b3 LEFT RIGHT 0
        BRPOPLPUSH b2 b3 0
        BLMPOP 0 2 nokey b2 LEFT COUNT 5
        BLMPOP 0.01 1 nokey LEFT
        BLMPOP abc 1 nokey LEFT
        BLMPOP 0 0 nokey LEFT
        BLMOVE nokey b3 LEFT LEFT 0.01
        BRPOPLPUSH nokey b3 0.01
        LRANGE b3 0 -1
        LPUSHX
        LINSERT l
        LPOS l
        LMPOP 1
        BLPOP b1
        OBJECT ENCODING b3
        TYPE b3
        ",
    );
}

fn list_encoding_limits_match_redis<S: Store>() {
    differential::<S>(
        "list_encoding_limits_match_redis",
        "
        CONFIG SET list-max-listpack-size 3
        CONFIG GET list-max-ziplist-size
        RPUSH l 1 2 3 4 5 6 7 8 9 10
        LINDEX l 5
        LINSERT l BEFORE 5 x
        LRANGE l 2 7
        LREM l 0 x
        LTRIM l 2 8
        LRANGE l 0 -1
        OBJECT ENCODING l
        CONFIG SET list-max-ziplist-size -5
        CONFIG GET list-max-listpack-size
        CONFIG SET list-compress-depth 1
        CONFIG GET list-compress-depth
        ",
    );
}

backends!(
    lists_match_redis,
    list_edits_match_redis,
    list_encoding_limits_match_redis,
    wrong_type_errors_match_redis
);
