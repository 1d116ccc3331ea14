//! Connection lifecycle: QUIT, CLIENT KILL, idle timeout, maxclients,
//! requirepass, and bounded memory for clients that never read.

use std::io::Read;
use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::{Clock, Config, Store};

use crate::backends;
use crate::common::*;

fn quit_replies_then_closes<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.send(b"PING\r\nQUIT\r\nPING\r\n");
    assert_eq!(c.read_to_close(), b"+PONG\r\n+OK\r\n");
}

fn client_kill_closes_the_other_connection<S: Store>() {
    let server = TestServer::start::<S>();
    let mut victim = server.client();
    let Frame::Integer(id) = victim.cmd("CLIENT ID") else {
        panic!()
    };
    let mut killer = server.client();
    assert_eq!(killer.cmd(&format!("CLIENT KILL ID {id}")), int(1));
    assert!(victim.closed_within(Duration::from_secs(5)));
    assert!(eventually(Duration::from_secs(5), || !text(
        &killer.cmd("CLIENT LIST")
    )
    .contains(&format!("id={id} "))));
    // The old form kills by address and answers OK; SKIPME NO kills oneself
    // after the reply.
    let mut third = server.client();
    // Make sure the server has accepted (and registered) it first.
    assert_eq!(third.cmd("PING"), Frame::simple("PONG"));
    let addr = third.stream.local_addr().unwrap().to_string();
    assert_eq!(killer.cmd(&format!("CLIENT KILL {addr}")), ok());
    assert!(third.closed_within(Duration::from_secs(5)));
    let Frame::Integer(me) = killer.cmd("CLIENT ID") else {
        panic!()
    };
    killer.send_cmd(&format!("CLIENT KILL ID {me} SKIPME no"));
    assert_eq!(killer.read_to_close(), b":1\r\n");
}

fn idle_clients_are_closed_after_timeout<S: Store>() {
    let config = Config {
        timeout: 1,
        ..Config::default()
    };
    let server = TestServer::with_config::<S>(config, Clock::System);
    let mut idle = server.client();
    idle.cmd("PING");
    assert!(
        idle.closed_within(Duration::from_secs(5)),
        "idle client kept open"
    );
}

fn maxclients_refuses_with_redis_error<S: Store>() {
    let config = Config {
        maxclients: 2,
        ..Config::default()
    };
    let server = TestServer::with_config::<S>(config, Clock::System);
    let mut a = server.client();
    let mut b = server.client();
    a.cmd("PING");
    b.cmd("PING");
    let mut c = server.client();
    assert_eq!(c.read_to_close(), b"-ERR max number of clients reached\r\n");
    drop(a);
    assert!(eventually(Duration::from_secs(5), || {
        let mut d = server.client();
        d.send_cmd("PING");
        let mut buf = [0u8; 64];
        matches!(d.stream.read(&mut buf), Ok(n) if &buf[..n] == b"+PONG\r\n")
    }));
    assert_eq!(b.cmd("CONFIG SET maxclients 10"), ok());
}

fn requirepass_limits_unauthenticated_clients<S: Store>() {
    let config = Config {
        requirepass: "s3cret".into(),
        ..Config::default()
    };
    let server = TestServer::with_config::<S>(config, Clock::System);
    let mut c = server.client();
    assert_eq!(c.cmd("GET k"), err("NOAUTH Authentication required."));
    assert_eq!(
        c.cmd("AUTH nope"),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd("AUTH s3cret"), ok());
    assert_eq!(c.cmd("SET k v"), ok());
    let mut h = server.client();
    assert_eq!(h.cmd("HELLO 3"), err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    let Frame::Map(_) = h.cmd("HELLO 3 AUTH default s3cret") else {
        panic!("HELLO AUTH failed")
    };
    assert_eq!(h.cmd("GET k"), bulk("v"));
    // Before AUTH, at most 10 arguments and 16 KiB bulks.
    let mut big = server.client();
    big.send(b"*11\r\n");
    assert_eq!(
        big.read_to_close(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    let mut bulky = server.client();
    bulky.send(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n");
    assert_eq!(
        bulky.read_to_close(),
        b"-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    // CONFIG SET takes effect at once.
    assert_eq!(c.cmd("CONFIG SET requirepass other"), ok());
    let mut late = server.client();
    assert_eq!(late.cmd("PING"), err("NOAUTH Authentication required."));
    assert_eq!(late.cmd("AUTH other"), ok());
}

fn auth_matches_redis_with_requirepass<S: Store>() {
    let Some(redis) =
        RedisServer::start_with("auth_with_requirepass", &["--requirepass", "s3cret"])
    else {
        return;
    };
    let config = Config {
        requirepass: "s3cret".into(),
        ..Config::default()
    };
    let ours = TestServer::with_config::<S>(config, Clock::System);
    differential_between(
        "auth_matches_redis_with_requirepass",
        "
        GET k
        NOSUCH cmd
        GET
        PING
        ECHO x
        HELLO 3
        HELLO 2 AUTH default wrong
        AUTH wrong
        AUTH bob s3cret
        AUTH default s3cret
        AUTH s3cret
        GET k
        RESET
        GET k
        QUIT
        ",
        ours.addr,
        redis.addr,
    );
}

fn a_client_that_never_reads_is_held_back<S: Store>() {
    let server = TestServer::start::<S>();
    let mut setup = server.client();
    let value = "x".repeat(64 * 1024);
    setup.cmd(&format!("SET big {value}"));
    // Pipeline GETs of a 64 KiB value and never read the replies: the
    // server must stop reading this client instead of buffering ~6 GiB.
    let flood = server.client();
    let mut stream = flood.stream.try_clone().unwrap();
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(40_000);
    let mut sent = 0usize;
    for _ in 0..100 {
        match std::io::Write::write(&mut stream, &request) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(
        sent < request.len() * 100,
        "the server kept reading a client that never reads"
    );
    assert_eq!(
        setup.cmd("GET small"),
        Frame::Null,
        "others are still served"
    );
    let omem = max_omem(&mut setup);
    assert!(
        omem <= flashkv::server::OUTPUT_PAUSE + 64 * 1024 + 1024,
        "unsent output grew to {omem}"
    );
}

fn shutdown_flushes_pending_replies_as_whole_frames<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    c.cmd("SET k v");
    // A deep pipeline, unread, while the server is asked to stop.
    let pipeline = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".repeat(50_000);
    c.send(&pipeline);
    std::thread::sleep(Duration::from_millis(50));
    let stopping = std::thread::spawn(move || server.stop());
    let all = c.read_to_close();
    drop(c);
    stopping.join().unwrap().expect("server stopped cleanly");
    // Whatever was answered arrives whole: a run of complete replies, never
    // a frame cut in half by the shutdown.
    let reply = b"$1\r\nv\r\n";
    assert!(!all.is_empty(), "no reply flushed before closing");
    assert_eq!(
        all.len() % reply.len(),
        0,
        "a reply was cut: {} bytes",
        all.len()
    );
    assert!(all.chunks(reply.len()).all(|r| r == reply));
}

backends!(
    shutdown_flushes_pending_replies_as_whole_frames,
    quit_replies_then_closes,
    client_kill_closes_the_other_connection,
    idle_clients_are_closed_after_timeout,
    maxclients_refuses_with_redis_error,
    requirepass_limits_unauthenticated_clients,
    auth_matches_redis_with_requirepass,
    a_client_that_never_reads_is_held_back,
);
