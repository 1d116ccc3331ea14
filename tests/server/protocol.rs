//! RESP framing over real sockets: pipelines, split frames, inline
//! requests, protocol errors (reply, then close), limits, RESP3.

use std::io::Write;
use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

/// Raw byte sequences whose complete answer (including whether the
/// connection is closed) must equal Redis's.
const RAW_CASES: &[&[u8]] = &[
    b"*1\r\n$4\r\nPING\r\n",
    b"*1\r\nPING\r\n",
    b"*1\r\n$4\r\nPINGXX",
    b"*1\r\n$4\r\nPING\r\n*-10\r\n*0\r\nPING\r\n\r\n",
    b"*2147483648\r\n",
    b"*2147483647\r\n",
    b"$5\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$536870913\r\n",
    b"*1\r\n$536870912\r\n",
    b"*1\r\n\x01\r\n",
    b"*1\r\n\n\r\n",
    b"ECHO \"abc\r\n",
    b"ECHO \"a\"b\r\n",
    b"ECHO \"\\x41\\n\"\r\n",
    b"ECHO 'a\\'b' \"\"\r\n",
    b"*+1\r\n$4\r\nPING\r\n",
    b"*01\r\n$4\r\nPING\r\n",
    b"*1\r\n$04\r\nPING\r\n",
    b"*1 \r\n$4\r\nPING\r\n",
    b"PING\n",
    b"ping\r\nping\r\n",
    b"  \r\n",
    b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI",
    b"FOO bar baz\r\n",
    b"*3\r\n$3\r\nfoo\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"echo \"a\\r\\x4g\"\r\n",
    b"echo a\tb\r\n",
    b"*1\r\n$4\r\nPING\n\n",
    b"*1\n$4\nPING\n",
    b"*1\r$4\rPING\r\n",
    b"*1\r\n$\r\n",
    b"*\r\n",
    b"*1\r\n$4x\r\n",
    b"*2\r\n$4\r\necho\r\n$3\r\n\x00\x01\x02\r\n",
    b"\x00PING\r\n",
    b"\"PING\"\r\n",
    b"PING \"\" \r\n",
    b"*1\r\n*1\r\n$4\r\nPING\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
];

fn raw_bytes_match_redis<S: Store>() {
    let Some(redis) = RedisServer::start("raw_bytes_match_redis") else {
        return;
    };
    let ours = TestServer::start::<S>();
    for case in RAW_CASES {
        let quiet = Duration::from_millis(150);
        let theirs = raw_exchange(redis.addr, case, quiet);
        let mine = raw_exchange(ours.addr, case, quiet);
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&theirs),
            "raw input {:?}",
            String::from_utf8_lossy(case)
        );
    }
}

fn oversized_lines_are_cut_off_like_redis<S: Store>() {
    let Some(redis) = RedisServer::start("oversized_lines") else {
        return;
    };
    let ours = TestServer::start::<S>();
    let mut inline = vec![b'a'; 70 * 1024];
    let mut mbulk = b"*".to_vec();
    mbulk.extend(vec![b'1'; 70 * 1024]);
    let mut bulk = b"*1\r\n$".to_vec();
    bulk.extend(vec![b'1'; 70 * 1024]);
    for case in [inline.as_slice(), &mbulk, &bulk] {
        let quiet = Duration::from_millis(300);
        assert_eq!(
            raw_exchange(ours.addr, case, quiet),
            raw_exchange(redis.addr, case, quiet)
        );
    }
    inline.truncate(10);
}

fn pipelined_commands_reply_in_order<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$5\r\nk{i:04}\r\n$1\r\nv\r\n*2\r\n$4\r\nECHO\r\n$4\r\n{i:04}\r\n").as_bytes());
    }
    c.send(&batch);
    for i in 0..10_000 {
        assert_eq!(c.read_reply().0, ok());
        assert_eq!(c.read_reply().0, bulk(&format!("{i:04}")));
    }
    assert_eq!(c.cmd("DBSIZE"), int(10_000));
}

fn a_frame_split_at_every_byte_still_parses<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let frame = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$11\r\nhello world\r\n";
    for &b in frame.iter() {
        c.send(&[b]);
        c.stream.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(c.read_reply().0, ok());
    assert_eq!(c.cmd("GET key"), bulk("hello world"));
}

fn protocol_errors_reply_then_close<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.send(b"*1\r\n$4\r\nPING\r\n*1\r\nPING\r\n*1\r\n$4\r\nPING\r\n");
    let all = c.read_to_close();
    assert_eq!(
        all,
        b"+PONG\r\n-ERR Protocol error: expected '$', got 'P'\r\n"
    );
}

fn large_values_round_trip<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let value = vec![b'x'; 20 * 1024 * 1024];
    let key = vec![b'k'; 512 * 1024];
    assert_eq!(c.cmd_args(&[b"SET", &key, &value]), ok());
    assert_eq!(c.cmd_args(&[b"STRLEN", &key]), int(value.len() as i64));
    let Frame::Bulk(back) = c.cmd_args(&[b"GET", &key]) else {
        panic!()
    };
    assert!(back == value);
}

fn half_closed_pipeline_still_gets_its_replies<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.send(b"PING\r\nECHO hi\r\n");
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.read_to_close(), b"+PONG\r\n$2\r\nhi\r\n");
}

fn resp3_after_hello_3<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.cmd("HELLO 3");
    c.send_cmd("GET missing");
    assert_eq!(c.read_reply().1, b"_\r\n");
    c.send_cmd("CONFIG GET maxclients");
    assert_eq!(
        c.read_reply().1,
        b"%1\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n"
    );
    c.cmd("HELLO 2");
    c.send_cmd("GET missing");
    assert_eq!(c.read_reply().1, b"$-1\r\n");
}

fn resp3_replies_match_redis<S: Store>() {
    differential::<S>(
        "resp3_replies_match_redis",
        "~ HELLO 3
        SET k v
        GET k
        GET nokey
        MGET k nokey
        CONFIG GET maxclients
        COMMAND INFO get
        COMMAND DOCS get
        TTL k
        CLIENT GETNAME
        ~ CLIENT INFO
        INCRBYFLOAT f 1.5
        ~ HELLO 2
        GET nokey",
    );
}

backends!(
    raw_bytes_match_redis,
    oversized_lines_are_cut_off_like_redis,
    pipelined_commands_reply_in_order,
    a_frame_split_at_every_byte_still_parses,
    protocol_errors_reply_then_close,
    large_values_round_trip,
    half_closed_pipeline_still_gets_its_replies,
    resp3_after_hello_3,
    resp3_replies_match_redis,
);
