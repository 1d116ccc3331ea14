//! The differential harness: run one command script against FlashKV and a
//! real redis-server and compare every reply byte for byte (or after the
//! masking a step asks for).

use std::net::SocketAddr;
use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::common::*;

/// How a differential step compares the two replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Byte for byte.
    Exact,
    /// Same reply type only (nondeterministic values: ids, times).
    Kind,
    /// Same multiset of array elements (order is Redis's hash order).
    Sorted,
    /// Not compared (the step only sets state up).
    Skip,
    /// A SCAN command run to completion on each side; the sets of keys
    /// returned are compared (cursors differ between implementations).
    ScanAll,
    /// Exactly, after masking what differs between any two runs: MONITOR
    /// timestamps and addresses, commandstats times ([`mask`]).
    Masked,
    /// As [`Check::Masked`], with the lines of each text sorted (INFO
    /// commandstats lists commands in hash order).
    MaskedLines,
    /// Sent, and no reply read (CLIENT REPLY OFF and SKIP answer nothing).
    NoReply,
}

/// [`mask`], then the lines of every text sorted.
fn mask_lines(f: &Frame) -> Frame {
    let sort = |b: &bytes::Bytes| {
        let s = String::from_utf8_lossy(b);
        let mut lines: Vec<&str> = s.lines().collect();
        lines.sort_unstable();
        bytes::Bytes::from(lines.join("\n"))
    };
    match mask(f) {
        Frame::Bulk(s) => Frame::Bulk(sort(&s)),
        Frame::Verbatim(k, s) => Frame::Verbatim(k, sort(&s)),
        other => other,
    }
}

/// `f` with run-dependent text replaced: a MONITOR line's
/// `+<secs>.<micros> [<db> <addr>]` becomes `+T [<db> A]`, and the values
/// of `usec=`, `usec_per_call=` and INFO's `client_recent_max_*` (Redis
/// samples them in its cron) become `X`.
pub fn mask(f: &Frame) -> Frame {
    fn text(s: &str) -> String {
        let mut out = Vec::new();
        for line in s.split_inclusive('\n') {
            let mut line = line.to_string();
            let stamp = line.strip_prefix('+').unwrap_or(&line);
            if stamp.starts_with(|c: char| c.is_ascii_digit()) && line.contains(" [") {
                let open = line.find(" [").unwrap();
                let db_end = line[open + 2..].find(' ').map(|i| open + 2 + i);
                let close = line.find(']');
                if let (Some(db_end), Some(close)) = (db_end, close) {
                    line = format!("T [{} A]{}", &line[open + 2..db_end], &line[close + 1..]);
                }
            }
            for key in [
                "usec_per_call=",
                "usec=",
                "client_recent_max_input_buffer:",
                "client_recent_max_output_buffer:",
            ] {
                let mut from = 0;
                while let Some(i) = line[from..].find(key) {
                    let start = from + i + key.len();
                    let end = line[start..]
                        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .map_or(line.len(), |e| start + e);
                    line.replace_range(start..end, "X");
                    from = start + 1;
                }
            }
            out.push(line);
        }
        out.concat()
    }
    let t = |b: &bytes::Bytes| bytes::Bytes::from(text(&String::from_utf8_lossy(b)));
    match f {
        Frame::Simple(s) => Frame::Simple(t(s)),
        Frame::Bulk(s) => Frame::Bulk(t(s)),
        Frame::Verbatim(k, s) => Frame::Verbatim(k, t(s)),
        Frame::Array(v) => Frame::Array(v.iter().map(mask).collect()),
        Frame::Push(v) => Frame::Push(v.iter().map(mask).collect()),
        other => other.clone(),
    }
}

/// Run `script` against FlashKV (backend `S`) and a real Redis, comparing
/// every reply. Each line is a command in inline syntax, optionally
/// prefixed with `~ ` (compare reply type only), `sort ` (compare array
/// elements as a multiset), `mask ` (compare after [`mask`]),
/// `masklines ` (and sort lines), `skip ` (do not compare) or `noreply `
/// (send and read nothing); `#` starts a
/// comment. `@N ` before all that sends on connection N (1 to 4; 1 is the
/// default), so scripts can play several clients; `recv` in place of a
/// command reads the next reply (a pushed message) without sending
/// (`recv N`: the next N), and
/// `sleep <ms>` pauses both sides. Returns false when Redis is
/// unavailable (test skipped).
pub fn differential<S: Store>(test: &str, script: &str) -> bool {
    let Some(redis) = RedisServer::start(test) else {
        return false;
    };
    let ours = TestServer::start::<S>();
    differential_between(test, script, ours.addr, redis.addr);
    true
}

/// Run `scenario` against FlashKV (backend `S`) and a real Redis; the
/// transcripts it returns must be equal. For stories a script cannot
/// tell (client ids that differ between servers, timing).
pub fn same_on_both<S: Store>(test: &str, scenario: fn(SocketAddr) -> Vec<String>) -> bool {
    let Some(redis) = RedisServer::start(test) else {
        return false;
    };
    let ours = TestServer::start::<S>();
    let (a, b) = (scenario(ours.addr), scenario(redis.addr));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "{test}: step {i} differs (left flashkv, right redis)");
    }
    assert_eq!(a.len(), b.len(), "{test}: transcripts differ in length");
    true
}

/// A reply as a transcript line: its RESP bytes, escaped.
pub fn shown(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).escape_debug().to_string()
}

/// [`differential`] twice: in RESP2, then after `HELLO 3` (every reply
/// in its RESP3 shape).
pub fn differential_resp2_and_3<S: Store>(test: &str, script: &str) -> bool {
    if !differential::<S>(test, script) {
        return false;
    }
    differential::<S>(
        &format!("{test} (RESP3)"),
        &format!("skip HELLO 3\n{script}"),
    )
}

/// The comparison loop, between any two servers.
pub fn differential_between(test: &str, script: &str, ours: SocketAddr, theirs: SocketAddr) {
    let mut conns: Vec<Option<(RawClient, RawClient)>> = (0..4).map(|_| None).collect();
    // `recv N` reads N pushed messages.
    let lines: Vec<String> = script
        .lines()
        .flat_map(|l| {
            let l = l.trim();
            match l.rsplit_once(' ') {
                // `recv N` at the end of a line (after `@N`, `mask`...).
                Some((head, n)) if head == "recv" || head.ends_with(" recv") => {
                    vec![head.to_string(); n.parse().expect("recv N")]
                }
                _ => vec![l.to_string()],
            }
        })
        .collect();
    for (n, line) in lines.iter().enumerate() {
        let line = line.as_str();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().expect("sleep <ms>")));
            continue;
        }
        let (conn, line) = match line.strip_prefix('@') {
            Some(rest) => {
                let (n, rest) = rest.split_once(' ').expect("@N command");
                (n.parse::<usize>().expect("@N") - 1, rest)
            }
            None => (0, line),
        };
        let (a, b) = conns[conn]
            .get_or_insert_with(|| (RawClient::connect(ours), RawClient::connect(theirs)));
        let (check, cmd) = match line.split_once(' ') {
            Some(("~", rest)) => (Check::Kind, rest),
            Some(("sort", rest)) => (Check::Sorted, rest),
            Some(("skip", rest)) => (Check::Skip, rest),
            Some(("scanall", rest)) => (Check::ScanAll, rest),
            Some(("mask", rest)) => (Check::Masked, rest),
            Some(("masklines", rest)) => (Check::MaskedLines, rest),
            Some(("noreply", rest)) => (Check::NoReply, rest),
            _ => (Check::Exact, line),
        };
        if check == Check::ScanAll {
            let (ka, kb) = (scan_all(a, cmd), scan_all(b, cmd));
            assert_eq!(
                ka,
                kb,
                "{test}: line {}: `{cmd}` visited different keys",
                n + 1
            );
            continue;
        }
        if cmd != "recv" {
            a.send_cmd(cmd);
            b.send_cmd(cmd);
        }
        if check == Check::NoReply {
            continue;
        }
        let (fa, ra) = a.read_reply();
        let (fb, rb) = b.read_reply();
        let same = match check {
            Check::Exact => ra == rb,
            Check::Kind => ra.first() == rb.first(),
            Check::Sorted => sorted(&fa) == sorted(&fb),
            Check::Masked => mask(&fa) == mask(&fb),
            Check::MaskedLines => mask_lines(&fa) == mask_lines(&fb),
            Check::Skip | Check::ScanAll | Check::NoReply => true,
        };
        assert!(
            same,
            "{test}: line {}: `{cmd}`\n  flashkv: {}\n  redis:   {}",
            n + 1,
            String::from_utf8_lossy(&ra).escape_debug(),
            String::from_utf8_lossy(&rb).escape_debug()
        );
    }
}

/// Run `SCAN 0 <options>` until the cursor returns to 0; the sorted keys.
fn scan_all(c: &mut RawClient, options: &str) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    for _ in 0..100_000 {
        let Frame::Array(reply) = c.cmd(&format!("SCAN {cursor} {options}")) else {
            panic!("SCAN failed")
        };
        let (Frame::Bulk(next), Frame::Array(batch)) = (&reply[0], &reply[1]) else {
            panic!("bad SCAN reply")
        };
        keys.extend(batch.iter().map(|k| format!("{k:?}")));
        cursor = String::from_utf8(next.to_vec()).expect("cursor");
        if cursor == "0" {
            keys.sort();
            keys.dedup();
            return keys;
        }
    }
    panic!("SCAN did not finish");
}

fn sorted(f: &Frame) -> Vec<String> {
    let mut v: Vec<String> = match f {
        Frame::Array(items) | Frame::Set(items) => items.iter().map(|i| format!("{i:?}")).collect(),
        Frame::Map(pairs) | Frame::Pairs(pairs) => pairs.iter().map(|p| format!("{p:?}")).collect(),
        other => vec![format!("{other:?}")],
    };
    v.sort();
    v
}
