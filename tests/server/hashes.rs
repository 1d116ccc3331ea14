//! Hashes and sets, compared with Redis in RESP2 and RESP3.

use flashkv::Store;

use crate::backends;
use crate::common::*;

fn hashes_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "hashes_match_redis",
        "
        HSET h a 1 b 2 c 3
        HSET h a 10 d 4
        HSET h a
        HSET h
        HMSET h e 5 f 6
        HMSET h e
        HSETNX h a 100
        HSETNX h g 7
        HSETNX nokey f v
        HGET h a
        HGET h zz
        HGET nokey a
        HMGET h a zz b
        HMGET nokey a
        HLEN h
        HLEN nokey
        HSTRLEN h a
        HSTRLEN h zz
        HEXISTS h a
        HEXISTS h zz
        HKEYS h
        HVALS h
        HGETALL h
        HGETALL nokey
        HKEYS nokey
        HDEL h a zz
        HDEL nokey a
        HINCRBY h n 5
        HINCRBY h n -10
        HINCRBY h n abc
        HINCRBY h n 9223372036854775807
        HINCRBY h b 1
        HSET h s abc f1 1.5
        HINCRBY h s 1
        HINCRBYFLOAT h f1 0.25
        HINCRBYFLOAT h f1 1e400
        HINCRBYFLOAT h f1 inf
        HINCRBYFLOAT h f1 abc
        HINCRBYFLOAT h s 1
        HINCRBYFLOAT h new 10.5
        HINCRBYFLOAT h new -5e-1
        sort HGETALL h
        sort HKEYS h
        sort HVALS h
        HRANDFIELD nokey
        HRANDFIELD nokey 3
        HRANDFIELD h 0
        HRANDFIELD h 1 WITHVALUE
        HRANDFIELD h 1 WITHVALUES extra
        HRANDFIELD h abc
        HRANDFIELD h -9223372036854775808
        HRANDFIELD h -4611686018427387904 WITHVALUES
        HRANDFIELD h 4611686018427387904 WITHVALUES
        sort HRANDFIELD h 100
        sort HRANDFIELD h 100 WITHVALUES
        ~ HRANDFIELD h
        ~ HRANDFIELD h -5
        ~ HSCAN h 0
        ~ HSCAN h 0 MATCH s*
        HSCAN h 0 COUNT 0
        HSCAN h 0 NOVALUES
        HSCAN h abc
        HSCAN nokey 0 COUNT 0
        HSCAN h 0 TYPE string
        OBJECT ENCODING h
        SET str x
        HSET str a 1
        HGET str a
        HGETALL str
        HSCAN str 0
        DEL h
        HSET h a 1
        HDEL h a
        EXISTS h
        TYPE nokey
        ",
    );
}

fn hash_encodings_match_redis<S: Store>() {
    differential::<S>(
        "hash_encodings_match_redis",
        "
        CONFIG SET hash-max-listpack-entries 3
        CONFIG SET hash-max-listpack-value 5
        sort CONFIG GET hash-max-*
        HSET h a 1 b 2 c 3
        OBJECT ENCODING h
        HSET h d 4
        OBJECT ENCODING h
        HDEL h a b c
        OBJECT ENCODING h
        HSET h2 a 123456
        OBJECT ENCODING h2
        HSET h3 abcdef 1
        OBJECT ENCODING h3
        CONFIG SET hash-max-ziplist-entries 512
        CONFIG GET hash-max-listpack-entries
        HSET h4 a 1
        HINCRBYFLOAT h4 a 0.000001
        OBJECT ENCODING h4
        sort HGETALL h
        ",
    );
}

fn sets_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "sets_match_redis",
        "
        SADD s 3 1 2 2
        SMEMBERS s
        OBJECT ENCODING s
        SADD s x
        OBJECT ENCODING s
        sort SMEMBERS s
        SADD s
        SREM s 1 zz
        SREM nokey a
        SISMEMBER s x
        SISMEMBER s zz
        SISMEMBER nokey a
        SMISMEMBER s x zz 2
        SMISMEMBER nokey a
        SMISMEMBER s
        SCARD s
        SCARD nokey
        SADD a 1 2 3 4
        SADD b 3 4 5
        SADD c 4 x
        SINTER a b
        sort SUNION a b c
        SDIFF a b c
        SINTER a nokey
        SUNION nokey nokey2
        SDIFF nokey a
        SINTERSTORE d a b
        SMEMBERS d
        OBJECT ENCODING d
        sort SUNIONSTORE d a c
        OBJECT ENCODING d
        SDIFFSTORE d a b c
        SMEMBERS d
        SINTERSTORE d a nokey
        EXISTS d
        SINTERCARD 2 a b
        SINTERCARD 2 a b LIMIT 1
        SINTERCARD 2 a b LIMIT 0
        SINTERCARD 2 a b LIMIT -1
        SINTERCARD 2 a b LIMIT abc
        SINTERCARD 3 a b
        SINTERCARD 0 a
        SINTERCARD abc a
        SINTERCARD 1 a FOO 1
        SINTERCARD 1 a LIMIT 1 LIMIT 3
        SINTERCARD 2 a nokey
        SMOVE a b 1
        SMOVE a b zz
        SMOVE nokey b 1
        SMOVE a a 2
        SMOVE a a zz
        SMOVE a newset 2
        SMEMBERS newset
        SET str x
        SMOVE a str 3
        SMOVE str a 3
        SINTER a str
        SINTER nokey str
        SUNIONSTORE d a str
        SINTERCARD 2 a str
        SPOP nokey
        SPOP nokey 3
        SPOP a -1
        SPOP a 1 2
        SPOP a abc
        SPOP a 0
        sort SPOP a 100
        EXISTS a
        SRANDMEMBER nokey
        SRANDMEMBER nokey 3
        SRANDMEMBER b 0
        SRANDMEMBER b -9223372036854775808
        SRANDMEMBER b 1 2
        sort SRANDMEMBER b 100
        ~ SRANDMEMBER b -5
        ~ SRANDMEMBER b
        SSCAN b 0
        SSCAN b 0 MATCH 3*
        SSCAN b abc
        SSCAN b 0 COUNT 0
        SSCAN nokey 0 COUNT 0
        SSCAN str 0
        SADD str a
        SMEMBERS str
        SCARD str
        ",
    );
}

fn set_encodings_match_redis<S: Store>() {
    differential::<S>(
        "set_encodings_match_redis",
        "
        CONFIG SET set-max-intset-entries 3
        SADD s 1 2 3
        OBJECT ENCODING s
        SADD s 4
        OBJECT ENCODING s
        SADD t -9223372036854775808 9223372036854775807 0
        SMEMBERS t
        OBJECT ENCODING t
        SADD u 01
        OBJECT ENCODING u
        SADD v 65536 -40000 7
        SMEMBERS v
        CONFIG SET set-max-intset-entries 0
        SADD w 1
        OBJECT ENCODING w
        ",
    );
}

backends!(
    hashes_match_redis,
    hash_encodings_match_redis,
    sets_match_redis,
    set_encodings_match_redis
);
