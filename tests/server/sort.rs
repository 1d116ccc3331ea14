//! SORT and SORT_RO, and OBJECT, compared with Redis.

use flashkv::Store;

use crate::backends;
use crate::common::*;

fn sort_matches_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "sort_matches_redis",
        "
        RPUSH l 3 1 2 10 -1.5 2e1
        SORT l
        SORT l DESC
        SORT l ALPHA
        SORT l ALPHA DESC
        SORT l LIMIT 1 2
        SORT l LIMIT -1 2
        SORT l LIMIT 1 -1
        SORT l LIMIT 10 2
        SORT l LIMIT 0 0
        SORT l LIMIT a b
        SORT l LIMIT 1
        SORT l FOO
        SORT l STORE
        MSET w_3 1 w_1 3 w_2 2 w_10 0 w_-1.5 -9 w_2e1 100
        SORT l BY w_*
        SORT l BY w_* DESC
        HSET h_1 f 9
        HSET h_3 f 8
        SORT l BY h_*->f
        SORT l BY h_*->
        SORT l BY nosort
        SORT l BY w
        SORT l GET # GET w_* GET h_*->f
        SORT l BY w_* GET nokey_*
        SORT l GET w
        SORT l BY w_* LIMIT 1 3 GET #
        SORT l STORE dst
        LRANGE dst 0 -1
        SORT l BY w_* GET h_*->f STORE dst2
        LRANGE dst2 0 -1
        SORT nokey STORE dst
        EXISTS dst
        SORT_RO l
        SORT_RO l STORE dst
        SORT_RO l BY w_* ALPHA
        RPUSH m a b 1
        SORT m
        SORT m ALPHA
        SADD s 5 3 9
        SORT s
        SORT s DESC LIMIT 0 2
        SADD t c a b
        SORT t ALPHA
        SORT t BY nosort ALPHA STORE tl
        LRANGE tl 0 -1
        SET str x
        SORT str
        SORT nokey
        RPUSH big 1e400 5
        SORT big
        SORT l BY nosort DESC
        SORT l BY nosort DESC LIMIT 1 2
        SORT l BY nosort LIMIT 1 2
        ZADD z 1 a 5 b 2 c 10 d 3 e
        SORT z BY nosort
        SORT z BY nosort DESC
        SORT z BY nosort DESC LIMIT 0 2
        SORT z BY nosort LIMIT 5 10
        SORT z BY nosort LIMIT -10 100
        SORT z BY nosort DESC STORE zl
        LRANGE zl 0 -1
        SADD nums 30 4 100 2 17 9 1000 55 3 8
        EVAL \"return redis.call('sort', KEYS[1], 'by', 'nosort')\" 1 nums
        EVAL \"return redis.call('sort', KEYS[1], 'by', 'nosort', 'desc')\" 1 nums
        EVAL \"return redis.call('sort', KEYS[1], 'by', 'nosort', 'desc')\" 1 z
        ",
    );
}

fn object_matches_redis<S: Store>() {
    differential::<S>(
        "object_matches_redis",
        "
        SET i 123
        SET n -5
        SET big 12345678901234567890
        SET e abc
        SET r 01234567890123456789012345678901234567890123456789
        RPUSH l a
        HSET h f v
        SADD s 1
        SADD s2 a
        OBJECT ENCODING i
        OBJECT ENCODING n
        OBJECT ENCODING big
        OBJECT ENCODING e
        OBJECT ENCODING r
        OBJECT ENCODING l
        OBJECT ENCODING h
        OBJECT ENCODING s
        OBJECT ENCODING s2
        OBJECT ENCODING nokey
        OBJECT REFCOUNT i
        OBJECT REFCOUNT n
        OBJECT REFCOUNT e
        OBJECT REFCOUNT nokey
        OBJECT FREQ i
        OBJECT FREQ nokey
        OBJECT IDLETIME nokey
        OBJECT ENCODING
        OBJECT FOO i
        OBJECT HELP
        OBJECT
        TYPE l
        TYPE h
        TYPE s
        sort SCAN 0 TYPE hash
        scanall TYPE set
        scanall TYPE list
        COPY h h2
        HSET h2 f other
        HGET h f
        RENAME s s3
        SMEMBERS s3
        MOVE l 1
        EXISTS l
        EXPIRE h 100
        TTL h
        PERSIST h
        TTL h
        DEL h2 s3 s2
        ",
    );
}

backends!(sort_matches_redis, object_matches_redis);
