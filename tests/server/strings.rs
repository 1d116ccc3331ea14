//! String and counter commands, compared with Redis.

use flashkv::Store;

use crate::backends;
use crate::common::*;

fn set_and_get_match_redis<S: Store>() {
    differential::<S>(
        "set_and_get_match_redis",
        r#"
        SET k v
        GET k
        GET nokey
        SET k v2 XX
        SET nokey v XX
        SET k v3 NX
        SET k v4 NX GET
        SET k v5 GET
        SET k v6 GET XX
        GET k
        SET "" empty
        GET ""
        SET bin "a\x00b\r\n"
        GET bin
        SET k v nx xx
        SET k v EX 10 PX 10
        SET k v KEEPTTL EX 10
        SET k v EX
        SET k v FOO
        SET k v EX abc
        SET k v EX 0
        SET k v EX -5
        SET k v PX 0
        SET k v EXAT 0
        SET k v PXAT -1
        SET k v EX 9223372036854775807
        SET k v PX 9223372036854775807
        SET k v EX 9223372036854775
        SET k v EX 100 EX 200
        TTL k
        SET k v KEEPTTL
        TTL k
        SET k v
        TTL k
        SET k v PXAT 1
        EXISTS k
        GET k
        SET k v nx EX abc
        SET
        SET k
        GET
        GET a b
        "#,
    );
}

fn set_variants_match_redis<S: Store>() {
    differential::<S>(
        "set_variants_match_redis",
        "
        SETNX a 1
        SETNX a 2
        GET a
        SETEX b 100 v
        TTL b
        SETEX b 0 v
        SETEX b -1 v
        SETEX b abc v
        PSETEX c 100000 v
        ~ PTTL c
        PSETEX c 0 v
        GETSET a 3
        GETSET nokey 1
        GETSET a
        GETDEL a
        GETDEL a
        GETDEL
        SETNX
        SETEX b 10
        ",
    );
}

fn getex_matches_redis<S: Store>() {
    differential::<S>(
        "getex_matches_redis",
        "
        SET k v
        GETEX k
        GETEX k EX 100
        TTL k
        GETEX k PX 50000
        TTL k
        GETEX k PERSIST
        TTL k
        GETEX k EXAT 99999999999
        EXPIRETIME k
        GETEX k PXAT 99999999999001
        PEXPIRETIME k
        GETEX k EX 0
        GETEX k EX abc
        GETEX nokey EX 0
        GETEX nokey EX abc
        GETEX k PERSIST EX 10
        GETEX k EX 10 PERSIST
        GETEX k NX
        GETEX k KEEPTTL
        GETEX k FOO
        GETEX k PXAT 1
        EXISTS k
        GETEX
        ",
    );
}

fn multi_key_strings_match_redis<S: Store>() {
    differential::<S>(
        "multi_key_strings_match_redis",
        "
        MSET k1 v1 k2 v2
        MGET k1 k2 nokey
        MSET a 1 a 2
        GET a
        MSETNX a 1 b 2
        MSETNX b 1 c 2
        MGET a b c
        MSETNX x 1 x 2
        GET x
        MSET a
        MSET a 1 b
        MSETNX a
        MGET
        SET e 1 EX 100
        MSET e 2
        TTL e
        ",
    );
}

fn append_and_ranges_match_redis<S: Store>() {
    differential::<S>(
        "append_and_ranges_match_redis",
        r#"
        APPEND k v1
        APPEND k xyz
        APPEND k ""
        STRLEN k
        STRLEN nokey
        GETRANGE k 0 -1
        GETRANGE k -3 -1
        GETRANGE k 5 2
        GETRANGE k -100 100
        GETRANGE k 0 -100
        GETRANGE k -1 -5
        GETRANGE k 2 2
        GETRANGE k 9223372036854775807 -9223372036854775808
        GETRANGE nokey 0 -1
        GETRANGE k abc 1
        GETRANGE k 0
        SETRANGE k 10 zz
        GET k
        SETRANGE k 0 AB
        GET k
        SETRANGE k -1 x
        SETRANGE k 536870912 x
        SETRANGE k abc x
        SETRANGE nokey 0 ""
        EXISTS nokey
        SETRANGE nokey 3 ab
        GET nokey
        SETRANGE k 0 ""
        SET t v EX 100
        APPEND t w
        SETRANGE t 0 x
        TTL t
        APPEND
        "#,
    );
}

fn counters_match_redis<S: Store>() {
    differential::<S>(
        "counters_match_redis",
        r#"
        INCR c
        INCRBY c 10
        DECR c
        DECRBY c 5
        INCRBY c -100
        INCR nokey
        DECR nokey2
        INCRBY c abc
        INCRBY c 1.5
        INCRBY c 9223372036854775808
        SET s " 1"
        INCR s
        SET s "1 "
        INCR s
        SET s 01
        INCR s
        SET s -0
        INCR s
        SET s 1.0
        INCR s
        SET s abc
        INCR s
        SET s 123456789012345678901
        INCR s
        SET n 9223372036854775807
        INCR n
        INCRBY n 0
        DECRBY n -9223372036854775808
        DECRBY n 1
        SET m -9223372036854775808
        DECR m
        INCRBY m -1
        DECRBY m 9223372036854775807
        SET t 5 EX 100
        INCR t
        TTL t
        INCR
        INCRBY c
        "#,
    );
}

fn incrbyfloat_matches_redis<S: Store>() {
    differential::<S>(
        "incrbyfloat_matches_redis",
        r#"
        SET k 10.50
        INCRBYFLOAT k 0.1
        INCRBYFLOAT f 1000.1
        INCRBYFLOAT f 3.0e3
        INCRBYFLOAT f 1.23456789012345678
        INCRBYFLOAT g 5.0e3
        INCRBYFLOAT h 0.3
        INCRBYFLOAT h -0.1
        INCRBYFLOAT h abc
        INCRBYFLOAT h inf
        INCRBYFLOAT h -inf
        INCRBYFLOAT h nan
        INCRBYFLOAT h ""
        INCRBYFLOAT h " 1"
        INCRBYFLOAT h "1 "
        SET big 1e308
        INCRBYFLOAT big 1e308
        INCRBYFLOAT newf 1.5e100
        INCRBYFLOAT tiny 1e-20
        INCRBYFLOAT tiny 1e-300
        SET hx 0x10
        INCRBYFLOAT hx 1
        INCRBYFLOAT hx 0x1p-2
        SET z 5
        INCRBYFLOAT z -5
        INCRBYFLOAT z -0.0
        SET q 1.0
        INCRBYFLOAT q 0
        SET sp " 1"
        INCRBYFLOAT sp 1
        SET e 1e
        INCRBYFLOAT e 1
        INCRBYFLOAT neg -.5e-3
        INCRBYFLOAT dot 5.
        INCRBYFLOAT plus +5
        SET t 1 EX 100
        INCRBYFLOAT t 1
        TTL t
        INCRBYFLOAT x
        "#,
    );
}

/// Strings edited past 4 KiB (`store_api::value::RAW_FROM`) are edited in
/// place from then on (`Coll::Raw`); every string command, TTL, COPY,
/// RENAME, BITOP and HyperLogLog reads them as strings, on both sides of
/// the threshold.
fn long_string_edits_match_redis<S: Store>() {
    differential::<S>(
        "long_string_edits_match_redis",
        r#"
        SETRANGE big 4200 tail
        TYPE big
        OBJECT ENCODING big
        STRLEN big
        GETRANGE big 4195 -1
        APPEND big more
        STRLEN big
        GETRANGE big -10 -1
        SETRANGE big 0 head
        GETRANGE big 0 7
        SETRANGE big 2 ""
        SETBIT big 7 1
        SETBIT big 7 1
        GETBIT big 7
        BITCOUNT big
        BITCOUNT big 0 9 BIT
        BITPOS big 1
        BITPOS big 0 4201
        BITFIELD big INCRBY u8 #100 5 GET u8 #100
        BITFIELD_RO big GET u8 #100
        GET big
        SUBSTR big 4196 4300
        INCR big
        INCRBYFLOAT big 1
        LPUSH big x
        PFCOUNT big
        SETRANGE big 536870912 x
        EXPIRE big 1000
        APPEND big x
        SETBIT big 0 1
        TTL big
        GETEX big PERSIST
        TTL big
        COPY big big2
        APPEND big2 copy
        SETBIT big2 1 1
        STRLEN big
        STRLEN big2
        GETRANGE big 0 0
        GETRANGE big2 0 0
        RENAME big2 big3
        STRLEN big3
        OBJECT ENCODING big3
        SETBIT bm 40000 1
        OBJECT ENCODING bm
        STRLEN bm
        SETBIT bm 40000 0
        BITCOUNT bm
        SETBIT bm 100 1
        BITOP OR dst bm big
        STRLEN dst
        BITCOUNT dst
        BITOP NOT dst2 bm
        BITCOUNT dst2
        SETRANGE k4 4095 x
        STRLEN k4
        SETRANGE k5 4094 x
        APPEND k5 y
        MGET k4 k5 nokey
        GETDEL k4
        EXISTS k4
        GETSET k5 v
        GET k5
        SET big short
        OBJECT ENCODING big
        GET big
        CONFIG SET hll-sparse-max-bytes 30
        PFADD hd a b c d e f g h i j k l m n o p q r s t u v w x y z
        STRLEN hd
        PFCOUNT hd
        SETRANGE hd 100 zz
        PFCOUNT hd
        PFADD hd another
        PFCOUNT hd
        GET hd
        SETRANGE hd 0 junk
        PFCOUNT hd
        PFADD hd more
        DEL big big3 bm dst dst2 k5 hd
        "#,
    );
}

fn bitmaps_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "bitmaps_match_redis",
        "
        SETBIT b 7 1
        GET b
        SETBIT b 7 1
        SETBIT b 7 0
        SETBIT b 100 1
        STRLEN b
        GETBIT b 100
        GETBIT b 101
        GETBIT b 100000
        GETBIT nokey 5
        SETBIT b -1 1
        SETBIT b abc 1
        SETBIT b 1 2
        SETBIT b 1 x
        SETBIT b 4294967296 1
        SETBIT b abc x
        GETBIT b -1
        SET s foobar
        BITCOUNT s
        BITCOUNT s 0 0
        BITCOUNT s 1 1
        BITCOUNT s 1 -1
        BITCOUNT s -2 -1
        BITCOUNT s -1 -2
        BITCOUNT s 5 30 BIT
        BITCOUNT s 0 -1 BIT
        BITCOUNT s 3 3 BIT
        BITCOUNT s 1 2 BYTE
        BITCOUNT s 1 2 WORD
        BITCOUNT s 1
        BITCOUNT s a b
        BITCOUNT nokey 1
        BITCOUNT nokey
        BITCOUNT s 100 200
        BITCOUNT s -100 -50
        SET z \"\\x00\\xff\\xf0\"
        BITPOS z 1
        BITPOS z 0
        BITPOS z 1 2
        BITPOS z 0 1
        BITPOS z 1 0 0
        BITPOS z 0 1 1
        BITPOS z 1 7 15 BIT
        BITPOS z 0 8 19 BIT
        BITPOS z 0 8 15 BIT
        BITPOS z 1 20 23 BIT
        BITPOS z 0 -3 -1 BIT
        BITPOS z 1 -1
        BITPOS z 2
        BITPOS z x
        BITPOS nokey 1
        BITPOS nokey 0
        BITPOS z 1 0 1 WORD
        BITPOS z 1 5 1
        SET ones \"\\xff\\xff\"
        BITPOS ones 0
        BITPOS ones 0 0 -1
        BITPOS ones 0 0
        SET k1 foobar
        SET k2 abcdef
        BITOP AND d k1 k2
        GET d
        BITOP OR d k1 k2 nokey
        GET d
        BITOP XOR d k1 k2
        GET d
        BITOP NOT d k1
        GET d
        BITOP NOT d k1 k2
        BITOP NAND d k1
        BITOP AND d nokey
        EXISTS d
        SET short ab
        BITOP AND d k1 short
        GET d
        LPUSH lst a
        BITOP AND d k1 lst
        SETBIT lst 1 1
        GETBIT lst 1
        BITCOUNT lst
        BITPOS lst 1
        BITFIELD bf SET i8 0 100 GET i8 0
        BITFIELD bf INCRBY i8 0 100
        BITFIELD bf OVERFLOW SAT INCRBY i8 0 100 INCRBY i8 0 -500
        BITFIELD bf OVERFLOW FAIL INCRBY i8 0 -200 GET i8 0
        BITFIELD bf OVERFLOW WRAP INCRBY u4 100 15 INCRBY u4 100 1
        BITFIELD bf SET u8 #1 255 GET u8 #1 GET i8 #1 GET u16 4
        BITFIELD bf SET i64 0 -1 GET i64 0 GET u63 1 INCRBY i64 0 1
        BITFIELD bf OVERFLOW SAT SET u8 0 300 SET i8 0 -300 GET i8 0
        BITFIELD bf OVERFLOW WRAP SET u8 0 -1 GET u8 0
        BITFIELD bf SET u8 0 1 OVERFLOW
        BITFIELD bf GET u64 0
        BITFIELD bf GET i65 0
        BITFIELD bf GET x8 0
        BITFIELD bf GET I8 0
        BITFIELD bf GET u8 -1
        BITFIELD bf GET u8 #-1
        BITFIELD bf SET u8 0 x
        BITFIELD bf OVERFLOW MAYBE
        BITFIELD bf BOGUS
        BITFIELD bf GET u8
        BITFIELD bf
        BITFIELD nokey GET u8 0 GET i4 4
        BITFIELD_RO bf GET u8 0 GET i16 3
        BITFIELD_RO bf SET u8 0 1
        BITFIELD_RO nokey GET u8 0
        BITFIELD lst GET u8 0
        BITFIELD newkey OVERFLOW FAIL SET u2 0 9
        GET newkey
        BITFIELD bf2 INCRBY u2 #3 7
        GET bf2
        SET bits abc
        SETRANGE bits 1 \"\\x00\"
        BITCOUNT bits
        APPEND bits \"\\xff\"
        BITCOUNT bits
        GET bits
        ",
    );
}

fn lcs_and_substr_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "lcs_and_substr_match_redis",
        "
        MSET a ohmytext b mynewtext
        LCS a b
        LCS a b LEN
        LCS a b IDX
        LCS a b IDX MINMATCHLEN 4
        LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN
        LCS a b IDX WITHMATCHLEN MINMATCHLEN -5
        LCS a b IDX LEN
        LCS a b LEN IDX
        LCS a b BOGUS
        LCS a b MINMATCHLEN
        LCS a b MINMATCHLEN x
        LCS a nokey
        LCS nokey nokey IDX
        LCS a a IDX WITHMATCHLEN
        RPUSH l x
        LCS a l
        LCS l a
        MSET x 123456789 y 918273645
        LCS x y IDX WITHMATCHLEN
        SET s hello-world
        SUBSTR s 0 4
        SUBSTR s -5 -1
        SUBSTR s 5 2
        SUBSTR s 0 100
        SUBSTR nokey 0 1
        SUBSTR s a 1
        SUBSTR l 0 1
        SUBSTR s 0
        ",
    );
}

/// SETBIT and BITFIELD count as a change (`rdb_changes_since_last_save`)
/// only when they create or lengthen the string or change a bit, as in
/// Redis (its unit/bitops "only increase dirty when the value changed").
fn bit_writes_count_only_real_changes<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let mut step = |cmds: &[&str], expect: u64| {
        let before = info_field(&mut c, "rdb_changes_since_last_save");
        for cmd in cmds {
            c.cmd(cmd);
        }
        let after = info_field(&mut c, "rdb_changes_since_last_save");
        assert_eq!(after - before, expect, "{cmds:?}");
    };
    step(&["SETBIT foo 0 0", "BITFIELD foo2 SET i5 0 0"], 2);
    step(&["SETBIT foo 0 0", "BITFIELD foo2 SET i5 0 0"], 0);
    step(&["BITFIELD foo2 SET i5 0 1", "BITFIELD foo2 SET i5 0 1"], 1);
    step(
        &["BITFIELD foo2 INCRBY i5 0 0", "BITFIELD foo2 GET i5 0"],
        0,
    );
    step(
        &["BITFIELD foo3 INCRBY i5 0 1", "BITFIELD foo3 INCRBY i5 0 1"],
        2,
    );
    step(&["BITFIELD foo2 SET i5 90 0"], 1);
    step(&["BITFIELD foo2 OVERFLOW FAIL INCRBY u2 0 9"], 0);
}

backends!(
    bit_writes_count_only_real_changes,
    set_and_get_match_redis,
    set_variants_match_redis,
    getex_matches_redis,
    multi_key_strings_match_redis,
    append_and_ranges_match_redis,
    counters_match_redis,
    incrbyfloat_matches_redis,
    bitmaps_match_redis,
    long_string_edits_match_redis,
    lcs_and_substr_match_redis,
);
