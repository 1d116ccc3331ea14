//! HyperLogLog compared with Redis byte for byte: the estimates, and the
//! stored strings themselves (GET) through the sparse encoding, its
//! promotion to dense, merges and the cached cardinality; malformed HLL
//! strings get Redis's errors.

use flashkv::Store;

use crate::backends;
use crate::common::*;

/// `n` elements `prefix0 .. prefix<n-1>` added `per` at a time.
fn adds(key: &str, prefix: &str, n: usize, per: usize) -> String {
    let mut out = String::new();
    for start in (0..n).step_by(per) {
        out.push_str(&format!("PFADD {key}"));
        for i in start..(start + per).min(n) {
            out.push_str(&format!(" {prefix}{i}"));
        }
        out.push('\n');
    }
    out
}

fn hyperloglogs_match_redis<S: Store>() {
    let mut script = String::from(
        "
        PFADD h a b c
        GET h
        PFADD h a
        PFADD h
        PFADD new
        GET new
        PFCOUNT new
        GET new
        PFCOUNT h
        GET h
        PFCOUNT h nokey
        PFCOUNT nokey
        PFADD h d e f g
        GET h
        PFCOUNT h
        ",
    );
    // Sparse growth, promotion to dense past hll-sparse-max-bytes, then a
    // dense HLL taking more elements.
    script.push_str(&adds("big", "e", 3000, 100));
    script.push_str(
        "
        PFCOUNT big
        GET big
        STRLEN big
        ",
    );
    script.push_str(&adds("big", "x", 20000, 500));
    script.push_str(
        "
        PFCOUNT big
        GET big
        PFMERGE m h big
        PFCOUNT m
        GET m
        PFMERGE m2 h
        GET m2
        PFCOUNT h big m2
        PFMERGE h
        GET h
        PFMERGE empty
        GET empty
        PFMERGE h nokey
        PFCOUNT h
        SET s hello
        PFADD s a
        PFCOUNT s
        PFCOUNT h s
        PFMERGE s h
        PFMERGE h s
        SET fake HYLL
        PFCOUNT fake
        LPUSH l a
        PFADD l a
        PFCOUNT l
        PFCOUNT h l
        PFMERGE l h
        PFADD p a b c d
        PFDEBUG ENCODING p
        PFDEBUG DECODE p
        PFDEBUG GETREG nokey
        PFDEBUG GETREG l
        PFDEBUG GETREG s
        PFDEBUG NOSUCH p
        PFDEBUG ENCODING p extra
        PFDEBUG TODENSE p
        PFDEBUG TODENSE p
        PFDEBUG ENCODING p
        PFDEBUG DECODE p
        GET p
        PFCOUNT p
        PFADD p2 x y
        PFDEBUG GETREG p2
        GET p2
        ",
    );
    for (n, smax) in [(10, "50"), (300, "3000")] {
        script.push_str(&format!("CONFIG SET hll-sparse-max-bytes {smax}\n"));
        script.push_str(&adds(&format!("t{n}"), "y", n, 7));
        script.push_str(&format!("GET t{n}\nPFCOUNT t{n}\n"));
    }
    differential_resp2_and_3::<S>("hyperloglogs_match_redis", &script);
}

/// Damaged HLL strings: a dense one of the wrong length, a sparse one
/// whose opcodes cover too few registers, a bad encoding byte.
fn malformed_hyperloglogs_match_redis<S: Store>() {
    differential::<S>(
        "malformed_hyperloglogs_match_redis",
        "
        SET d1 \"HYLL\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x00\"
        PFCOUNT d1
        PFADD d1 a
        SET s1 \"HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f\\xff\"
        PFCOUNT s1
        PFADD s1 a
        PFCOUNT s1 nokey
        PFMERGE out s1
        SET s2 \"HYLL\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x80\"
        PFCOUNT s2
        SET e1 \"HYLL\\x02\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x80\\x7f\\xff\"
        PFCOUNT e1
        PFADD e1 x
        SET c1 \"HYLL\\x01\\x00\\x00\\x00\\x07\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x7f\\xff\"
        PFCOUNT c1
        PFADD c1 zz
        PFCOUNT c1
        PFDEBUG TODENSE s1
        PFDEBUG GETREG s1
        PFDEBUG DECODE s1
        PFDEBUG ENCODING d1
        ",
    );
}

backends!(hyperloglogs_match_redis, malformed_hyperloglogs_match_redis);
