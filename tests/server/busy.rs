//! Busy scripts: BUSY replies to every other client after
//! `busy-reply-threshold`, SCRIPT KILL and FUNCTION KILL, SHUTDOWN NOSAVE,
//! FUNCTION STATS, on every backend; and the clients that share a busy
//! script's worker thread, which the script's fiber lets in while it runs
//! (Redis's `processEventsWhileBlocked`).

use std::time::{Duration, Instant};

use flashkv::{Clock, Config, Frame, Store};

use crate::backends;
use crate::common::*;
use crate::differential::same_on_both;

backends!(
    a_busy_script_gets_busy_replies_and_is_killed,
    a_busy_script_on_the_only_worker_is_still_killed,
    clients_sharing_a_busy_scripts_worker_get_busy_and_kill_it,
    a_busy_function_in_exec_on_a_shared_worker_is_killed,
    a_busy_script_stepping_aside_keeps_its_journal_and_deliveries,
    busy_scripts_in_function_stats_and_shutdown_nosave_match_redis,
    shutdown_nosave_keeps_a_stopped_script_out_of_the_aof,
    commands_admitted_while_busy_do_not_wait_to_evict,
);

const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// A server with one worker thread (so every client shares the script's)
/// and a 50 ms busy threshold.
fn one_worker<S: Store>() -> TestServer {
    let config = Config {
        busy_reply_threshold: 50,
        worker_threads: 1,
        ..Config::default()
    };
    TestServer::with_config::<S>(config, Clock::System)
}

/// The reply of a script SCRIPT KILL stopped.
fn expect_killed(a: &mut RawClient) {
    match a.read_reply().0 {
        Frame::Error(e) => assert!(
            e.starts_with(b"ERR Script killed by user with SCRIPT KILL..."),
            "{e:?}"
        ),
        other => panic!("killed script replied {other:?}"),
    }
}

/// Kills whatever script still runs when a test fails half way (from a
/// new connection, which a busy worker does not take), so the server can
/// stop and the failure is reported instead of hanging.
struct KillOnFailure(std::net::SocketAddr);

impl Drop for KillOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut c = RawClient::connect(self.0);
            c.cmd("SCRIPT KILL");
            c.cmd("FUNCTION KILL");
        }
    }
}

/// One worker, so every client below shares the thread the script runs
/// on: they connect before it starts. Each still gets BUSY at once, WATCH
/// (allowed while busy) is answered, and SCRIPT KILL from the same thread
/// stops the script. Without the fiber every one of them would wait for
/// the script, for ever.
fn clients_sharing_a_busy_scripts_worker_get_busy_and_kill_it<S: Store>() {
    let server = one_worker::<S>();
    let _guard = KillOnFailure(server.addr);
    let (mut a, mut b, mut c) = (server.client(), server.client(), server.client());
    assert_eq!(b.cmd("SET k 1"), ok());
    a.send_cmd("EVAL \"while true do end\" 1 k");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.cmd("PING"), err(BUSY));
    assert_eq!(b.cmd("GET k"), err(BUSY));
    assert_eq!(b.cmd("EVAL \"return 1\" 0"), err(BUSY));
    assert_eq!(b.cmd("MULTI"), ok());
    assert_eq!(b.cmd("INCR k"), err(BUSY));
    assert_eq!(b.cmd("DISCARD"), ok());
    assert_eq!(c.cmd("WATCH k"), ok());
    assert_eq!(b.cmd("SCRIPT KILL"), ok());
    expect_killed(&mut a);
    assert_eq!(b.cmd("PING"), Frame::Simple("PONG".into()));
    assert_eq!(a.cmd("GET k"), bulk("1"));
    assert_eq!(c.cmd("MULTI"), ok());
    assert_eq!(c.cmd("INCR k"), Frame::Simple("QUEUED".into()));
    assert_eq!(c.cmd("EXEC"), Frame::Array(vec![int(2)]));
}

/// A function that never ends, inside MULTI/EXEC, on a worker it shares:
/// FUNCTION KILL from the same thread ends it, and EXEC answers with the
/// kill in its place.
fn a_busy_function_in_exec_on_a_shared_worker_is_killed<S: Store>() {
    let server = one_worker::<S>();
    let _guard = KillOnFailure(server.addr);
    let (mut a, mut b) = (server.client(), server.client());
    let lib =
        "#!lua name=busy\nredis.register_function('spin', function(k, a) while true do end end)";
    assert_eq!(
        b.cmd_args(&[b"FUNCTION", b"LOAD", lib.as_bytes()]),
        bulk("busy")
    );
    assert_eq!(a.cmd("MULTI"), ok());
    assert_eq!(a.cmd("SET before 1"), Frame::Simple("QUEUED".into()));
    assert_eq!(a.cmd("FCALL spin 0"), Frame::Simple("QUEUED".into()));
    a.send_cmd("EXEC");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.cmd("SCRIPT KILL"), err("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."));
    assert_eq!(b.cmd("FUNCTION KILL"), ok());
    match a.read_reply().0 {
        Frame::Array(items) => {
            assert_eq!(items[0], ok());
            assert!(
                matches!(&items[1], Frame::Error(e) if e.starts_with(b"ERR Script killed")),
                "{items:?}"
            );
        }
        other => panic!("EXEC replied {other:?}"),
    }
    assert_eq!(b.cmd("GET before"), bulk("1"));
}

/// With the AOF on, a script that wrote (so cannot be killed) runs past
/// the threshold on a shared worker: a subscriber there gets what it
/// published while it runs (as Redis writes output while busy), the other
/// client's write gets BUSY and nothing of it reaches the file, and after
/// a restart the script's writes and the later ones are all back.
fn a_busy_script_stepping_aside_keeps_its_journal_and_deliveries<S: Store>() {
    let dir = fresh_dir("busy-shared-aof");
    let mut config = crate::aof::aof_config(&dir, flashkv::config::Fsync::Always);
    config.busy_reply_threshold = 50;
    config.worker_threads = 1;
    let server = TestServer::with_config::<S>(config.clone(), Clock::System);
    let _guard = KillOnFailure(server.addr);
    let (mut a, mut b, mut sub) = (server.client(), server.client(), server.client());
    sub.cmd("SUBSCRIBE ch");
    let start = Instant::now();
    a.send_cmd("EVAL \"redis.call('set', KEYS[1], 1) redis.call('publish', 'ch', 'hi') local t = redis.call('time') while redis.call('time')[1] - t[1] < 2 do end redis.call('incr', KEYS[1]) return 'done'\" 1 w");
    let message = sub.read_reply().0;
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "delivered only after the script"
    );
    assert_eq!(
        message,
        Frame::Array(vec![bulk("message"), bulk("ch"), bulk("hi")])
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(b.cmd("SET lost 1"), err(BUSY));
    assert!(matches!(b.cmd("SCRIPT KILL"), Frame::Error(e) if e.starts_with(b"UNKILLABLE")));
    assert_eq!(a.read_reply().0, bulk("done"));
    assert_eq!(b.cmd("SET after 1"), ok());
    server.stop().expect("stopped");
    let options = flashkv::server::Options {
        load_at_start: true,
        ..Default::default()
    };
    let again = TestServer::with_options::<S>(config, options);
    let mut c = again.client();
    assert_eq!(c.cmd("GET w"), bulk("2"));
    assert_eq!(c.cmd("GET after"), bulk("1"));
    assert_eq!(c.cmd("GET lost"), Frame::Null);
}

/// With one worker thread, a script that never ends holds it; a new
/// connection still gets BUSY and can SCRIPT KILL it (on a rescue worker),
/// and the server is whole again after.
fn a_busy_script_on_the_only_worker_is_still_killed<S: Store>() {
    let server = one_worker::<S>();
    let mut a = server.client();
    a.send_cmd("EVAL \"while true do end\" 0");
    std::thread::sleep(Duration::from_millis(200));
    let mut b = server.client();
    assert_eq!(b.cmd("PING"), err(BUSY));
    assert_eq!(b.cmd("SCRIPT KILL"), ok());
    assert!(matches!(a.read_reply().0, Frame::Error(_)));
    assert_eq!(a.cmd("PING"), Frame::Simple("PONG".into()));
    assert_eq!(server.client().cmd("PING"), Frame::Simple("PONG".into()));
}

fn a_busy_script_gets_busy_replies_and_is_killed<S: Store>() {
    let config = Config {
        busy_reply_threshold: 100,
        ..Config::default()
    };
    let server = TestServer::with_config::<S>(config, Clock::System);
    let (mut a, mut b) = (server.client(), server.client());
    // A loop that even pcall cannot keep alive, on a declared key.
    let looping = "while true do pcall(function() while true do end end) end";
    a.send_cmd(&format!("EVAL \"{looping}\" 1 k"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.cmd("PING"), err(BUSY));
    assert_eq!(b.cmd("GET k"), err(BUSY));
    assert_eq!(b.cmd("EVAL \"return 1\" 0"), err(BUSY));
    assert_eq!(b.cmd("SCRIPT KILL"), ok());
    expect_killed(&mut a);
    assert_eq!(b.cmd("PING"), Frame::Simple("PONG".into()));
    assert_eq!(
        b.cmd("SCRIPT KILL"),
        Frame::error("NOTBUSY No scripts in execution right now.")
    );
    // A script that wrote cannot be killed; it ends on its own here.
    let start = Instant::now();
    a.send_cmd("EVAL \"redis.call('set', 'w', 1) local t = redis.call('time') while redis.call('time')[1] - t[1] < 2 do end return 'done'\" 0");
    std::thread::sleep(Duration::from_millis(300));
    assert!(matches!(b.cmd("SCRIPT KILL"), Frame::Error(e) if e.starts_with(b"UNKILLABLE")));
    assert_eq!(a.read_reply().0, Frame::Bulk("done".into()));
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert_eq!(b.cmd("GET w"), Frame::Bulk("1".into()));
}

/// `duration_ms`'s value (after FUNCTION STATS' key) as 0.
fn without_duration(f: Frame) -> Frame {
    match f {
        Frame::Array(items) => {
            let mut out: Vec<Frame> = Vec::with_capacity(items.len());
            for item in items {
                let after_key =
                    matches!(out.last(), Some(Frame::Bulk(k)) if &k[..] == b"duration_ms");
                out.push(match item {
                    Frame::Integer(_) if after_key => Frame::Integer(0),
                    other => without_duration(other),
                });
            }
            Frame::Array(out)
        }
        other => other,
    }
}

/// FUNCTION STATS names a busy function and the FCALL as it was sent; a
/// busy EVAL script answers it, and a plain SHUTDOWN, with BUSY; SHUTDOWN
/// NOSAVE stops the server in the middle of a script that wrote, with no
/// reply to either client.
fn busy_scripts_in_function_stats_and_shutdown_nosave_match_redis<S: Store>() {
    same_on_both::<S>("busy scripts and shutdown", |addr| {
        let (mut a, mut b) = (RawClient::connect(addr), RawClient::connect(addr));
        let mut out = Vec::new();
        let mut note = |f: Frame| out.push(format!("{:?}", without_duration(f)));
        note(b.cmd("CONFIG SET busy-reply-threshold 100"));
        note(b.cmd("FUNCTION LOAD \"#!lua name=busy\\nredis.register_function('spin', function(k, a) while true do end end)\""));
        note(b.cmd("FUNCTION STATS"));
        a.send_cmd("fcall spin 1 key1 arg1");
        std::thread::sleep(Duration::from_millis(300));
        note(b.cmd("FUNCTION STATS"));
        note(b.cmd("SCRIPT KILL"));
        note(b.cmd("FUNCTION KILL"));
        note(a.read_reply().0);
        note(b.cmd("FUNCTION STATS"));
        a.send_cmd("EVAL \"redis.call('set', 'w', 1) while true do end\" 0");
        std::thread::sleep(Duration::from_millis(300));
        note(b.cmd("FUNCTION STATS"));
        note(b.cmd("SHUTDOWN"));
        note(b.cmd("SCRIPT KILL"));
        b.send_cmd("SHUTDOWN NOSAVE");
        out.push(format!("{:?}", b.read_to_close()));
        out.push(format!("{:?}", a.read_to_close()));
        out
    });
}

/// A script SHUTDOWN NOSAVE stops halfway leaves nothing in the AOF:
/// Redis exits before propagating any of it, so the restart must not
/// replay half a script.
fn shutdown_nosave_keeps_a_stopped_script_out_of_the_aof<S: Store>() {
    let dir = fresh_dir("script-shutdown-aof");
    let mut config = crate::aof::aof_config(&dir, flashkv::config::Fsync::Always);
    config.busy_reply_threshold = 100;
    let server = TestServer::with_config::<S>(config.clone(), Clock::System);
    let (mut a, mut b) = (server.client(), server.client());
    assert_eq!(b.cmd("SET before 1"), ok());
    a.send_cmd("EVAL \"redis.call('set', 'half', 1) while true do end\" 0");
    std::thread::sleep(Duration::from_millis(300));
    b.send_cmd("SHUTDOWN NOSAVE");
    assert!(b.read_to_close().is_empty());
    assert!(a.read_to_close().is_empty());
    server.join().expect("stopped");
    let options = flashkv::server::Options {
        load_at_start: true,
        ..Default::default()
    };
    let restarted = TestServer::with_options::<S>(config, options);
    let mut c = restarted.client();
    assert_eq!(c.cmd("GET before"), Frame::Bulk("1".into()));
    assert_eq!(c.cmd("GET half"), Frame::Null, "half a script replayed");
}

/// A busy script has put memory over `maxmemory` (with the AOF on, so
/// evicting needs the journal's order lock, which the script holds).
/// The commands still admitted (WATCH, SHUTDOWN NOSAVE) from a client on
/// the script's own worker must not try to evict first (Redis skips
/// eviction while a script is busy): waiting for that lock blocked the
/// thread the script would resume on, and the server hung for good.
fn commands_admitted_while_busy_do_not_wait_to_evict<S: Store>() {
    let dir = fresh_dir("busy-maxmemory");
    let mut config = crate::aof::aof_config(&dir, flashkv::config::Fsync::EverySec);
    config.busy_reply_threshold = 50;
    config.worker_threads = 1;
    let server = TestServer::with_config::<S>(config, Clock::System);
    let (mut a, mut b) = (server.client(), server.client());
    assert_eq!(b.cmd("SET small 1"), ok());
    assert_eq!(b.cmd("CONFIG SET maxmemory-policy allkeys-random"), ok());
    let used = info_field(&mut b, "used_memory");
    assert_eq!(
        b.cmd(&format!("CONFIG SET maxmemory {}", used + 512 * 1024)),
        ok()
    );
    a.send_cmd(
        "EVAL \"redis.call('set', 'big', string.rep('x', 2000000)) while true do end\" 1 big",
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.cmd("EXISTS small"), err(BUSY));
    assert_eq!(
        b.cmd("WATCH small"),
        ok(),
        "WATCH while busy and over maxmemory"
    );
    b.send_cmd("SHUTDOWN NOSAVE");
    assert!(b.read_to_close().is_empty());
    assert!(a.read_to_close().is_empty());
    server.join().expect("stopped");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A script past `busy-reply-threshold` is logged as Redis logs it, once,
/// with its SHA1 (Redis's `scriptInterrupt`; its aof unit waits for the
/// line).
#[test]
fn a_slow_script_is_logged_once() {
    let dir = fresh_dir("slow-script-log");
    let log = dir.join("server.log");
    let log_path = log.display().to_string();
    let (mut child, addr) = spawn_serving(&[
        "--busy-reply-threshold",
        "50",
        "--save",
        "",
        "--logfile",
        &log_path,
    ]);
    let mut c = RawClient::connect(addr);
    let script = "local t = redis.call('TIME') local stop = t[1] * 1000000 + t[2] + 300000 \
                  while true do local n = redis.call('TIME') \
                  if n[1] * 1000000 + n[2] > stop then break end end return 1";
    let sha = text(&c.cmd_args(&[b"SCRIPT", b"LOAD", script.as_bytes()]));
    assert_eq!(c.cmd_args(&[b"EVALSHA", sha.as_bytes(), b"0"]), int(1));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Slow script detected"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("still in execution after")
            && lines[0].contains(&format!("SCRIPT KILL command. Script name is: {sha}.")),
        "{}",
        lines[0]
    );
}
