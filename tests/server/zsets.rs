//! Sorted sets, compared with Redis in RESP2 and RESP3.

use flashkv::Store;

use crate::backends;
use crate::common::*;

fn zsets_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "zsets_match_redis",
        "
        ZADD z 1 a 2 b 3 c
        ZADD z 0.1 d 1e300 e -inf f +inf g
        ZADD z 1.5 a
        ZADD z CH 2.5 a 9 h
        ZADD z NX 100 a 7 i
        ZADD z XX 100 a 7 j
        ZADD z GT 1 a
        ZADD z GT CH 50 a
        ZADD z LT CH 60 a
        ZADD z XX GT 70 a
        ZADD z INCR 1 a
        ZADD z INCR 1 a 2 b
        ZADD z NX XX 1 a
        ZADD z GT LT 1 a
        ZADD z NX GT 1 a
        ZADD z GT NX 1 a
        ZADD z 1 a 2
        ZADD z abc a
        ZADD z nan a
        ZADD z 1e400 a
        ZADD z 0x10 hex
        ZADD z
        ZADD z CH
        ZADD z NX INCR 1 a
        ZADD z XX INCR 1 zz
        ZADD nokey XX 1 a
        ZADD nokey XX INCR 1 a
        EXISTS nokey
        ZADD z 3.0 c 0.30000000000000004 p 123456789012345678 q -0 r 1.7976931348623157e308 s 5e-324 t
        ZRANGE z 0 -1 WITHSCORES
        ZINCRBY z 1 a
        ZINCRBY z 0.1 d
        ZINCRBY z -inf g
        ZINCRBY z abc a
        ZINCRBY z 1 a b
        ZINCRBY newz 2.5 m
        ZSCORE z a
        ZSCORE z nope
        ZSCORE nokey a
        ZSCORE z e
        ZSCORE z f
        ZSCORE z t
        ZSCORE z r
        ZMSCORE z a nope b
        ZMSCORE nokey a b
        ZCARD z
        ZCARD nokey
        ZRANK z a
        ZRANK z nope
        ZREVRANK z a
        ZREVRANK nokey a
        ZCOUNT z -inf +inf
        ZCOUNT z (1 3
        ZCOUNT z 3 1
        ZCOUNT z (3 3
        ZCOUNT z a b
        ZCOUNT z inf -inf
        ZRANGE z 0 -1
        ZRANGE z 2 4 WITHSCORES
        ZRANGE z -3 -1 REV WITHSCORES
        ZRANGE z 5 2
        ZRANGE z 100 200
        ZRANGE z -100 1
        ZRANGE z a 1
        ZRANGE z 0 1 LIMIT 0 1
        ZRANGE z (1 +inf BYSCORE
        ZRANGE z (1 +inf BYSCORE LIMIT 1 2 WITHSCORES
        ZRANGE z +inf (1 BYSCORE REV LIMIT 1 2 WITHSCORES
        ZRANGE z -inf +inf BYSCORE LIMIT 0 -1
        ZRANGE z -inf +inf BYSCORE LIMIT -1 5
        ZRANGE z -inf +inf BYSCORE LIMIT 100 5
        ZRANGE z -inf +inf BYSCORE LIMIT 2 0
        ZRANGE z -inf +inf BYSCORE LIMIT 1
        ZRANGE z - + BYLEX WITHSCORES
        ZRANGE z 0 1 BYSCORE BYLEX
        ZRANGE z 0 1 REV REV
        ZRANGE z 0 1 FOO
        ZRANGE z x y BYSCORE
        ZRANGE nokey 0 -1
        ZREVRANGE z 0 2 WITHSCORES
        ZREVRANGE z 0 2 REV
        ZRANGEBYSCORE z 1 3 WITHSCORES
        ZRANGEBYSCORE z 1 3 BYSCORE
        ZRANGEBYSCORE z (0.1 (3 LIMIT 1 1
        ZREVRANGEBYSCORE z 3 1 WITHSCORES
        ZREVRANGEBYSCORE z 1 3
        ZRANGEBYSCORE z -inf -inf WITHSCORES
        ZRANGEBYSCORE z +inf +inf WITHSCORES
        ZADD lex 0 a 0 b 0 c 0 d 0 e 0 ff 0 g
        ZRANGEBYLEX lex - +
        ZRANGEBYLEX lex [b (e
        ZRANGEBYLEX lex (b [e LIMIT 1 2
        ZRANGEBYLEX lex + -
        ZRANGEBYLEX lex [f +
        ZRANGEBYLEX lex b e
        ZRANGEBYLEX lex [b e
        ZREVRANGEBYLEX lex + -
        ZREVRANGEBYLEX lex (e [b
        ZREVRANGEBYLEX lex [e (b LIMIT 0 1
        ZRANGE lex [c + BYLEX REV
        ZRANGE lex + [c BYLEX REV LIMIT 0 2
        ZLEXCOUNT lex - +
        ZLEXCOUNT lex (a [c
        ZLEXCOUNT lex a c
        ZLEXCOUNT nokey - +
        ZRANGESTORE dst z 0 2
        ZRANGE dst 0 -1 WITHSCORES
        ZRANGESTORE dst z (1 5 BYSCORE LIMIT 0 2
        ZRANGE dst 0 -1 WITHSCORES
        ZRANGESTORE dst lex [b [d BYLEX REV
        ZRANGE dst 0 -1
        ZRANGESTORE dst nokey 0 -1
        EXISTS dst
        ZRANGESTORE dst z 0 -1 WITHSCORES
        OBJECT ENCODING z
        ZREM z a nope b
        ZREM nokey a
        ZREMRANGEBYRANK z 0 0
        ZREMRANGEBYRANK z -1 -1
        ZREMRANGEBYRANK z 5 1
        ZREMRANGEBYRANK z a 1
        ZREMRANGEBYSCORE z (0.1 3
        ZREMRANGEBYSCORE z x 3
        ZREMRANGEBYLEX lex [b (d
        ZREMRANGEBYLEX lex b d
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE lex 0 -1
        ZPOPMIN z
        ZPOPMAX z
        ZPOPMIN z 2
        ZPOPMAX z 0
        ZPOPMIN z -1
        ZPOPMIN z abc
        ZPOPMIN z 1 2
        ZPOPMIN nokey
        ZPOPMIN nokey 2
        ZMPOP 1 z MIN
        ZMPOP 2 nokey z MAX COUNT 2
        ZMPOP 1 nokey MIN
        ZMPOP 0 z MIN
        ZMPOP 1 z
        ZMPOP 1 z MIDDLE
        ZMPOP 1 z MIN COUNT 0
        ZMPOP 1 z MIN COUNT 1 COUNT 2
        ZMPOP 5 z MIN
        BZPOPMIN z 0.01
        BZPOPMAX nokey 0.01
        BZPOPMIN z abc
        BZPOPMIN z -1
        BZMPOP 0.01 1 lex MAX COUNT 10
        BZMPOP 0.01 1 nokey MAX
        ZADD r 1 a 2 b 3 c
        ZRANDMEMBER nokey
        ZRANDMEMBER nokey 5
        ZRANDMEMBER r 0
        sort ZRANDMEMBER r 5
        sort ZRANDMEMBER r 10 WITHSCORES
        ZRANDMEMBER r 1 WITHSCORE
        ZRANDMEMBER r 1 WITHSCORES extra
        ZRANDMEMBER r abc
        ZRANDMEMBER r -9223372036854775808
        ZRANDMEMBER r 4611686018427387904 WITHSCORES
        ~ ZRANDMEMBER r
        ~ ZRANDMEMBER r -5 WITHSCORES
        ZSCAN r 0
        ZSCAN r 0 MATCH a*
        ZSCAN nokey 0
        ZSCAN r abc
        CONFIG SET zset-max-listpack-entries 0
        ZADD s1 1.1 a
        ZADD s2 9.8813129168249309e-323 a
        ZADD s3 1e17 a
        ZADD s4 -0 a
        ZADD s5 -inf a
        ZADD s6 123456789.125 a
        OBJECT ENCODING s1
        ZSCAN s1 0
        ZSCAN s2 0
        ZSCAN s3 0
        ZSCAN s4 0
        ZSCAN s5 0
        ZSCAN s6 0
        CONFIG SET zset-max-listpack-entries 128
        ZADD p1 1.1 a
        ZADD p2 1e17 a
        ZSCAN p1 0
        ZSCAN p2 0
        SET str x
        ZADD str 1 a
        ZSCORE str a
        ZRANGE str 0 -1
        ZCARD str
        ZPOPMIN str
        ZMPOP 1 str MIN
        ZRANDMEMBER str
        ZSCAN str 0
        ZRANGESTORE str2 str 0 -1
        TYPE r
        TYPE nokey
        DEL r
        ",
    );
}

fn zset_algebra_matches_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "zset_algebra_matches_redis",
        "
        ZADD a 1 x 2 y 3 z
        ZADD b 10 y 20 z 30 w
        SADD s z w q
        ZUNION 2 a b
        ZUNION 2 a b WITHSCORES
        ZUNION 3 a b s WITHSCORES
        ZUNION 2 a b WEIGHTS 2 0.5 WITHSCORES
        ZUNION 2 a b WEIGHTS 1 WITHSCORES
        ZUNION 2 a b WEIGHTS 1 x
        ZUNION 2 a b AGGREGATE MIN WITHSCORES
        ZUNION 2 a b AGGREGATE MAX WITHSCORES
        ZUNION 2 a b AGGREGATE AVG
        ZUNION 2 a b AGGREGATE
        ZUNION 0 a
        ZUNION -1 a
        ZUNION x a
        ZUNION 3 a b
        ZUNION 2 a nokey WITHSCORES
        ZINTER 2 a b WITHSCORES
        ZINTER 3 a b s WITHSCORES
        ZINTER 2 a nokey
        ZINTER 2 a b WEIGHTS inf 0 WITHSCORES
        ZINTER 2 a b WEIGHTS inf -inf WITHSCORES
        ZINTER 2 a b AGGREGATE MAX WEIGHTS 1 -1 WITHSCORES
        ZDIFF 2 a b WITHSCORES
        ZDIFF 2 b s WITHSCORES
        ZDIFF 1 a
        ZDIFF 2 a b WEIGHTS 1 1
        ZDIFF 2 a b AGGREGATE SUM
        ZDIFF 2 nokey a
        ZUNIONSTORE d 2 a b
        ZRANGE d 0 -1 WITHSCORES
        ZUNIONSTORE d 2 a b WITHSCORES
        ZINTERSTORE d 2 a b WEIGHTS 1 2 AGGREGATE MIN
        ZRANGE d 0 -1 WITHSCORES
        ZINTERSTORE d 2 a nokey
        EXISTS d
        ZDIFFSTORE d 2 a b
        ZRANGE d 0 -1 WITHSCORES
        ZUNIONSTORE a 2 a b
        ZRANGE a 0 -1 WITHSCORES
        OBJECT ENCODING a
        ZINTERCARD 2 a b
        ZINTERCARD 2 a b LIMIT 1
        ZINTERCARD 2 a b LIMIT -1
        ZINTERCARD 2 a b LIMIT x
        ZINTERCARD 0 a
        ZINTERCARD 3 a b
        ZINTERCARD 2 a b WITHSCORES
        SET str v
        ZUNION 2 a str
        ZUNION 2 str a WEIGHTS x y
        ZINTERSTORE d 2 a str
        ZINTERCARD 2 a str
        ZADD big 1e308 m
        ZADD big2 1e308 m
        ZUNION 2 big big2 WITHSCORES
        ZADD ninf -inf m
        ZUNION 2 big ninf WEIGHTS inf 1 WITHSCORES
        ",
    );
}

fn zset_encodings_match_redis<S: Store>() {
    differential::<S>(
        "zset_encodings_match_redis",
        "
        CONFIG SET zset-max-listpack-entries 3
        CONFIG SET zset-max-listpack-value 5
        sort CONFIG GET zset-max-*
        ZADD z 1 a 2 b 3 c
        OBJECT ENCODING z
        ZADD z 4 d
        OBJECT ENCODING z
        ZADD z 0 zero -0 negzero
        ZADD z -0 zero 0 negzero
        ZSCORE z zero
        ZSCORE z negzero
        ZADD small 0 zero -0 negzero
        ZADD small -0 zero 0 negzero
        ZMSCORE small zero negzero
        ZREM z a b c
        OBJECT ENCODING z
        ZADD z2 1 abcdef
        OBJECT ENCODING z2
        ZADD z3 1 a 1 a 1 a 1 a
        OBJECT ENCODING z3
        ZUNIONSTORE z4 1 z
        OBJECT ENCODING z4
        ZRANGESTORE z5 z 0 -1
        OBJECT ENCODING z5
        ZADD z6 1 a 2 b 3 c 4 d 5 e
        ~ ZSCAN z6 0 COUNT 100
        ZADD z7 0.1 a 1e300 b 3 c
        ZSCAN z7 0
        CONFIG SET zset-max-ziplist-entries 128
        CONFIG GET zset-max-listpack-entries
        ZADD z8 0.1 a 1e30 b -2.5 c
        ZSCAN z8 0
        OBJECT ENCODING z8
        DEBUG RELOAD
        ZRANGE z6 0 -1 WITHSCORES
        OBJECT ENCODING z6
        ZRANGE z8 0 -1 WITHSCORES
        SORT z6
        SORT z6 DESC LIMIT 0 2
        SORT z6 BY nosort
        SORT z6 BY nosort LIMIT 1 2
        SORT z2 ALPHA
        ",
    );
}

backends!(
    zsets_match_redis,
    zset_algebra_matches_redis,
    zset_encodings_match_redis
);
