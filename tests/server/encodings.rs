//! OBJECT ENCODING, compared with Redis: which encoding each way of
//! making or changing a value leaves.

use flashkv::Store;

use crate::backends;
use crate::common::*;

/// OBJECT ENCODING of strings: an edit or a built buffer is `raw` at any
/// length; APPEND to a missing key, SET, INCR and RESTORE are not.
fn string_encodings_match_redis<S: Store>() {
    differential::<S>(
        "string_encodings_match_redis",
        "
        SET n 1234
        OBJECT ENCODING n
        SETRANGE n 0 \"\"
        OBJECT ENCODING n
        SETRANGE n 0 2
        OBJECT ENCODING n
        COPY n n2
        OBJECT ENCODING n2
        INCR n
        OBJECT ENCODING n
        SET e hello
        APPEND e !
        OBJECT ENCODING e
        APPEND a1 5
        OBJECT ENCODING a1
        APPEND a2 hello
        OBJECT ENCODING a2
        SETRANGE r 2 x
        OBJECT ENCODING r
        SETBIT b 7 1
        OBJECT ENCODING b
        BITFIELD f SET u8 0 200
        OBJECT ENCODING f
        BITOP OR o b
        OBJECT ENCODING o
        PFADD h x
        OBJECT ENCODING h
        SET m 30-byte-value-still-embedded!
        OBJECT ENCODING m
        SETRANGE m 0 X
        OBJECT ENCODING m
        ",
    );
}

backends!(string_encodings_match_redis);
