//! The dataset loading at start, as Redis serves it: clients connected
//! meanwhile get `-LOADING` for every command not flagged `loading`
//! (compared reply by reply with a redis-server loading the same file),
//! INFO shows the progress, and a shutdown asked for during the load
//! (SHUTDOWN or SIGTERM, with save points configured) never saves the
//! half-loaded dataset over the file.
//!
//! Loads are slowed with `key-load-delay` (microseconds per key), so the
//! window is seconds wide; every wait is bounded.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flashkv::config::Config;
use flashkv::db::Clock;
use flashkv::protocol::Frame;

use crate::common::*;

/// Keys in the file; at 1 ms each the load takes about this many ms.
const KEYS: usize = 3000;

/// A child process killed (if still running) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory holding a `dump.rdb` of `KEYS` keys.
fn dump_dir() -> PathBuf {
    let dir = fresh_dir("loading");
    let config = Config {
        dir: dir.display().to_string(),
        enable_debug_command: "yes".into(),
        ..Config::default()
    };
    let server = TestServer::with_config::<flashkv::backends::RwLockStore>(config, Clock::System);
    let mut c = server.client();
    assert_eq!(c.cmd(&format!("DEBUG POPULATE {KEYS}")), ok());
    assert_eq!(c.cmd("SAVE"), ok());
    server.stop().unwrap();
    dir
}

/// The `flashkv` binary loading `dir`'s dump slowly, accepting clients.
fn flashkv_loading(dir: &Path, extra: &[&str]) -> (Proc, SocketAddr) {
    let port = free_port();
    let p = port.to_string();
    let d = dir.display().to_string();
    let mut args = vec![
        "--port",
        &p,
        "--bind",
        "127.0.0.1",
        "--dir",
        &d,
        "--key-load-delay",
        "1000",
    ];
    args.extend(extra);
    let child = bin_command()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn flashkv");
    (Proc(child), wait_loading(port))
}

/// Wait until the server on `port` accepts a client and says it loads.
fn wait_loading(port: u16) -> SocketAddr {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let accepts = eventually(Duration::from_secs(20), || TcpStream::connect(addr).is_ok());
    assert!(accepts, "nothing accepts on {addr}");
    let mut c = RawClient::connect(addr);
    assert_eq!(
        loading_flag(&mut c),
        "1",
        "the load ended before the test looked"
    );
    addr
}

fn loading_flag(c: &mut RawClient) -> String {
    let info = text(&c.cmd("INFO persistence"));
    let line = info.lines().find(|l| l.starts_with("loading:"));
    line.expect("a loading field")[8..].to_string()
}

/// What the clients connected during the load send; the replies must be
/// Redis's.
const DURING_LOAD: &[&str] = &[
    "PING",
    "GET key:1",
    "SET a b",
    "DBSIZE",
    "ECHO x",
    "KEYS *",
    "FLUSHALL",
    "SELECT 1",
    "CLIENT SETNAME during-load",
    "CLIENT GETNAME",
    "CONFIG GET maxmemory",
    "CONFIG SET appendonly no",
    "CONFIG SET dir /nonexistent",
    "CONFIG SET maxmemory-samples 6",
    "EVAL \"return 1\" 0",
    "FUNCTION LIST",
    "AUTH nopass",
    "MULTI",
    "GET key:1",
    "PING",
    "EXEC",
    "MULTI",
    "CONFIG GET maxmemory",
    "EXEC",
];

fn replies(addr: SocketAddr) -> Vec<Frame> {
    let mut c = RawClient::connect(addr);
    DURING_LOAD.iter().map(|line| c.cmd(line)).collect()
}

/// INFO persistence's field names from `loading:` on (the progress block
/// only exists while loading).
fn loading_fields(addr: SocketAddr) -> Vec<String> {
    let info = text(&RawClient::connect(addr).cmd("INFO persistence"));
    info.lines()
        .filter(|l| l.starts_with("loading"))
        .map(|l| l.split(':').next().unwrap_or_default().to_string())
        .collect()
}

/// `KEYS` keys written with SET, pipelined.
fn set_keys(c: &mut RawClient) {
    for i in 0..KEYS {
        c.send_cmd(&format!("SET key:{i} {i}"));
    }
    for _ in 0..KEYS {
        assert_eq!(c.read_reply().0, ok());
    }
}

fn wait_loaded(addr: SocketAddr) {
    let mut c = RawClient::connect(addr);
    let done = eventually(Duration::from_secs(60), || loading_flag(&mut c) == "0");
    assert!(done, "the load did not end");
    assert_eq!(c.cmd("DBSIZE"), int(KEYS as i64));
}

#[test]
fn clients_during_the_load_get_redis_replies() {
    if !redis_server_available("loading") {
        return;
    }
    let dir = dump_dir();
    let redis_dir = fresh_dir("loading-redis");
    std::fs::copy(dir.join("dump.rdb"), redis_dir.join("dump.rdb")).unwrap();
    let port = free_port();
    let redis = Proc(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--dir", &redis_dir.display().to_string(), "--save", ""])
            .args(["--key-load-delay", "1000"])
            // Redis answers clients between chunks of this many bytes.
            .args(["--loading-process-events-interval-bytes", "1024"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server"),
    );
    let redis_addr = wait_loading(port);
    let (flashkv, addr) = flashkv_loading(&dir, &["--save", ""]);
    let (want, got) = (replies(redis_addr), replies(addr));
    for ((line, w), g) in DURING_LOAD.iter().zip(&want).zip(&got) {
        assert_eq!(g, w, "{line}: FlashKV {g:?}, Redis {w:?}");
    }
    assert_eq!(loading_fields(addr), loading_fields(redis_addr));
    assert!(
        got.contains(&err("LOADING Redis is loading the dataset in memory")),
        "the load ended before the script ran: {got:?}"
    );
    wait_loaded(addr);
    wait_loaded(redis_addr);
    drop((flashkv, redis));
}

#[test]
fn info_shows_the_progress_of_the_load() {
    let dir = dump_dir();
    let size = std::fs::metadata(dir.join("dump.rdb")).unwrap().len();
    let (_flashkv, addr) = flashkv_loading(&dir, &["--save", ""]);
    let mut c = RawClient::connect(addr);
    assert_eq!(info_field(&mut c, "loading_total_bytes"), size);
    // The file's `used-mem` field (the saving server's memory), once the
    // loader has read the file's head.
    let used_mem = eventually(Duration::from_secs(20), || {
        info_field(&mut c, "loading_rdb_used_mem") > 0
    });
    assert!(used_mem, "loading_rdb_used_mem stayed 0");
    let first = info_field(&mut c, "loading_loaded_bytes");
    assert!(first < size, "{first} of {size} bytes loaded at the start");
    let moved = eventually(Duration::from_secs(20), || {
        loading_flag(&mut c) == "0" || info_field(&mut c, "loading_loaded_bytes") > first
    });
    assert!(moved, "loading_loaded_bytes never moved");
    wait_loaded(addr);
    let info = text(&c.cmd("INFO persistence"));
    assert!(!info.contains("loading_total_bytes"), "{info}");
}

/// With save points configured, a SHUTDOWN or SIGTERM during the load
/// exits without saving: the file keeps every key.
#[test]
fn a_shutdown_during_the_load_keeps_the_file() {
    let dir = dump_dir();
    let file = dir.join("dump.rdb");
    let before = std::fs::read(&file).unwrap();
    for how in ["SHUTDOWN", "SIGTERM"] {
        let (mut flashkv, addr) = flashkv_loading(&dir, &["--save", "900 1"]);
        if how == "SHUTDOWN" {
            let mut c = RawClient::connect(addr);
            c.send_cmd("SHUTDOWN");
            assert!(
                c.closed_within(Duration::from_secs(20)),
                "SHUTDOWN did not end it"
            );
        } else {
            let pid = flashkv.0.id().to_string();
            let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(status.success());
        }
        let exited = eventually(Duration::from_secs(20), || {
            matches!(flashkv.0.try_wait(), Ok(Some(_)))
        });
        assert!(exited, "{how} during the load: still running");
        let code = flashkv.0.wait().unwrap().code();
        assert_eq!(code, Some(0), "{how} during the load");
        let after = std::fs::read(&file).unwrap();
        assert!(after == before, "{how} during the load rewrote the file");
    }
}

/// The append-only file loads the same way: `-LOADING` meanwhile, its
/// files' total size in INFO, then every key.
#[test]
fn an_append_only_file_loads_while_clients_wait() {
    let dir = fresh_dir("loading-aof");
    let mut config = Config {
        dir: dir.display().to_string(),
        ..Config::default()
    };
    config.aof.enabled = true;
    let server = TestServer::with_config::<flashkv::backends::RwLockStore>(config, Clock::System);
    set_keys(&mut server.client());
    server.stop().unwrap();
    let aof_dir = dir.join("appendonlydir");
    let total: u64 = std::fs::read_dir(&aof_dir)
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(".manifest"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let (_flashkv, addr) = flashkv_loading(&dir, &["--save", "", "--appendonly", "yes"]);
    let mut c = RawClient::connect(addr);
    assert_eq!(
        c.cmd("GET key:1"),
        err("LOADING Redis is loading the dataset in memory")
    );
    assert_eq!(info_field(&mut c, "loading_total_bytes"), total);
    wait_loaded(addr);
    assert_eq!(c.cmd("GET key:7"), bulk("7"));
}

/// DEBUG LOADAOF fills the keyspace command by command: the other clients
/// get `-LOADING` meanwhile, never a partial dataset.
#[test]
fn other_clients_wait_out_debug_loadaof() {
    let dir = fresh_dir("loading-loadaof");
    let mut config = Config {
        dir: dir.display().to_string(),
        enable_debug_command: "yes".into(),
        ..Config::default()
    };
    config.aof.enabled = true;
    let server = TestServer::with_config::<flashkv::backends::RwLockStore>(config, Clock::System);
    let mut c = server.client();
    // Logged commands (DEBUG POPULATE is not journaled, as in Redis).
    set_keys(&mut c);
    assert_eq!(c.cmd("CONFIG SET key-load-delay 1000"), ok());
    c.send_cmd("DEBUG LOADAOF");
    let mut other = server.client();
    let refused = eventually(Duration::from_secs(20), || {
        other.cmd("DBSIZE") == err("LOADING Redis is loading the dataset in memory")
    });
    assert!(refused, "DBSIZE was answered throughout DEBUG LOADAOF");
    assert_eq!(c.read_reply().0, ok());
    assert_eq!(other.cmd("DBSIZE"), int(KEYS as i64));
}
