//! What bounds scripts: the EVAL cache, the Lua stack and heap over many
//! calls, and scripts that allocate without end, on every backend.

use flashkv::{Frame, Store};

use crate::backends;
use crate::common::*;

backends!(
    the_eval_cache_is_bounded,
    many_calls_leak_nothing,
    the_vm_heap_stays_near_its_live_size,
    runaway_scripts_fail_cleanly,
);

fn the_eval_cache_is_bounded<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let loaded = c.cmd("SCRIPT LOAD \"return 'kept'\"");
    for i in 0..600 {
        assert_eq!(c.cmd(&format!("EVAL \"return {i}\" 0")), Frame::Integer(i));
    }
    let cached = info_field(&mut c, "number_of_cached_scripts");
    assert_eq!(cached, 501, "500 EVAL scripts and the loaded one");
    let Frame::Bulk(sha) = loaded else { panic!() };
    let sha = String::from_utf8_lossy(&sha).to_string();
    assert_eq!(
        c.cmd(&format!("EVALSHA {sha} 0")),
        Frame::Bulk("kept".into())
    );
    // The oldest EVAL scripts went first, the newest stayed.
    let first = c.cmd_args(&[
        b"SCRIPT",
        b"EXISTS",
        sha1(b"return 0").as_bytes(),
        sha1(b"return 599").as_bytes(),
    ]);
    assert_eq!(
        first,
        Frame::Array(vec![Frame::Integer(0), Frame::Integer(1)])
    );
    assert!(info_field(&mut c, "used_memory_scripts") > 0);
}

/// Tens of thousands of calls on one server: anything a call leaves on
/// the Lua stack would exhaust it (LUAI_MAXCSTACK is 8000 slots).
fn many_calls_leak_nothing<S: Store>() {
    const CALLS: usize = 12_000;
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let lib = "#!lua name=count\nredis.register_function('bump', function(k, a) return redis.call('incr', k[1]) end)";
    assert!(matches!(
        c.cmd_args(&[&b"FUNCTION"[..], b"LOAD", lib.as_bytes()]),
        Frame::Bulk(_)
    ));
    let script = "return redis.call('incr', KEYS[1])";
    for i in 0..CALLS {
        if i % 2 == 0 {
            c.send_cmd(&format!("EVAL \"{script}\" 1 n"));
        } else {
            c.send_cmd("FCALL bump 1 n");
        }
    }
    for i in 0..CALLS {
        assert_eq!(c.read_reply().0, Frame::Integer(i as i64 + 1), "call {i}");
    }
    let err = "return redis.call('nosuch')";
    for _ in 0..CALLS / 2 {
        c.send_cmd(&format!("EVAL \"{err}\" 0"));
    }
    for _ in 0..CALLS / 2 {
        assert!(matches!(c.read_reply().0, Frame::Error(_)));
    }
    assert_eq!(c.cmd("EVAL \"return 1\" 0"), Frame::Integer(1));
}

/// Redis's suite ("EVAL does not leak in the Lua stack") checks that
/// after 10,000 small EVALs on a fresh VM `used_memory_lua` is under
/// 100 KB. Each call leaves garbage (its KEYS and ARGV tables), which Lua's
/// own collector would let pile up to four times the live heap (about
/// 190 KB here) before collecting, so where the reading lands depends on
/// when it is taken: it is taken after every 250 calls, and the highest
/// must stay under the bound.
fn the_vm_heap_stays_near_its_live_size<S: Store>() {
    const ROUNDS: i64 = 40;
    const CALLS: i64 = 250;
    let server = TestServer::start::<S>();
    let mut c = server.client();
    assert_eq!(c.cmd("SCRIPT FLUSH"), Frame::ok());
    let script = "return redis.call('incr', KEYS[1])";
    let mut highest = 0;
    for round in 0..ROUNDS {
        for _ in 0..CALLS {
            c.send_cmd(&format!("EVAL \"{script}\" 1 x"));
        }
        for i in 1..=CALLS {
            assert_eq!(c.read_reply().0, Frame::Integer(round * CALLS + i));
        }
        highest = highest.max(info_field(&mut c, "used_memory_lua"));
    }
    assert!(highest < 100 * 1024, "used_memory_lua reached {highest}");
}

fn runaway_scripts_fail_cleanly<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let hog = "local s = 'x' while true do s = s .. s end";
    match c.cmd_args(&[b"EVAL", hog.as_bytes(), b"0"]) {
        Frame::Error(e) => assert!(
            String::from_utf8_lossy(&e).contains("not enough memory"),
            "{e:?}"
        ),
        other => panic!("an unbounded script replied {other:?}"),
    }
    // The VM recovers its memory and keeps working.
    assert_eq!(c.cmd("EVAL \"return 1\" 0"), Frame::Integer(1));
    let big = "local t = {} for i = 1, 200000 do t[i] = i end return t";
    match c.cmd_args(&[b"EVAL", big.as_bytes(), b"0"]) {
        Frame::Array(v) => assert_eq!(v.len(), 200_000),
        other => panic!("{other:?}"),
    }
    let binary: &[u8] = b"return ARGV[1]";
    assert_eq!(
        c.cmd_args(&[b"EVAL", binary, b"0", b"a\0b\r\n\xff"]),
        Frame::Bulk(bytes::Bytes::from_static(b"a\0b\r\n\xff"))
    );
    assert_eq!(c.cmd("PING"), Frame::Simple("PONG".into()));
}

fn sha1(body: &[u8]) -> String {
    String::from_utf8(flashkv::util::sha1_hex(body).to_vec()).unwrap()
}
