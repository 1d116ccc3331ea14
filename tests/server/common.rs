//! Test support: an in-process server per test, a raw RESP client, a real
//! `redis-server` for differential tests (the harness is in
//! `differential.rs`, re-exported here), concurrent clients for race
//! checks, and the macro that stamps every test once per backend.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use flashkv::protocol::{encode_request, parse_frame, split_inline, Frame};
use flashkv::server::{self, Options};
use flashkv::{Clock, Config, Store};

/// How long any single read may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Stamp test bodies once per backend: `backends!(case_a, case_b)` makes a
/// module per backend (`rwlock::case_a`, `epoch::case_a`, ...), each test
/// calling `case_a::<ThatStore>()`, so `cargo test epoch::` runs one
/// backend and a failure names it.
#[macro_export]
macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        flashkv::for_each_backend!($crate::backend_modules, [[$($case),*]]);
    };
}

/// One module of stamped tests per backend of the list (used by
/// `backends!`).
#[macro_export]
macro_rules! backend_modules {
    ([$cases:tt]; $($name:ident $variant:ident $doc:literal $store:ty),* $(,)?) => {
        $($crate::backend_module!($name, $store, $cases);)*
    };
}

/// One backend's module of stamped tests.
#[macro_export]
macro_rules! backend_module {
    ($name:ident, $store:ty, [$($case:ident),*]) => {
        mod $name {
            $(
                #[test]
                fn $case() {
                    let name = concat!(module_path!(), "::", stringify!($case));
                    let _running = $crate::common::Running::new(name);
                    super::$case::<$store>()
                }
            )*
        }
    };
}

/// A FlashKV server on a free loopback port, stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub clock: Clock,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Default configuration, real clock.
    pub fn start<S: Store>() -> TestServer {
        Self::with_config::<S>(Config::default(), Clock::System)
    }

    /// DEBUG allowed (`enable-debug-command yes`), real clock.
    pub fn with_debug<S: Store>() -> TestServer {
        let config = Config {
            enable_debug_command: "yes".into(),
            ..Config::default()
        };
        Self::with_config::<S>(config, Clock::System)
    }

    /// A manual clock starting at a fixed time, for TTL tests.
    pub fn with_manual_clock<S: Store>() -> TestServer {
        Self::with_config::<S>(Config::default(), Clock::manual(1_700_000_000_000))
    }

    pub fn with_config<S: Store>(config: Config, clock: Clock) -> TestServer {
        Self::with_faults::<S>(config, clock, flashkv::db::Faults::default())
    }

    /// A server with planted `faults`, for tests that show their checks
    /// catch what they are meant to catch.
    pub fn with_faults<S: Store>(
        config: Config,
        clock: Clock,
        faults: flashkv::db::Faults,
    ) -> TestServer {
        let options = Options {
            clock,
            faults,
            ..Options::default()
        };
        Self::with_options::<S>(config, options)
    }

    /// A server with any [`Options`] (loading the RDB file at start...).
    pub fn with_options<S: Store>(config: Config, options: Options) -> TestServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::on_listener::<S>(std_listener, config, options)
    }

    /// A server on `addr` (a restart on the same port).
    pub fn at<S: Store>(addr: SocketAddr, config: Config, options: Options) -> TestServer {
        let std_listener = std::net::TcpListener::bind(addr).expect("bind");
        Self::on_listener::<S>(std_listener, config, options)
    }

    fn on_listener<S: Store>(
        std_listener: std::net::TcpListener,
        mut config: Config,
        mut options: Options,
    ) -> TestServer {
        // Tests talk to it once it is ready (its dataset loaded).
        let (ready, is_ready) = std::sync::mpsc::sync_channel(1);
        options.ready = Some(ready);
        let clock = options.clock.clone();
        config.port = 0;
        if config.dir.is_empty() {
            // A SAVE in a test writes here, never into the repository.
            config.dir = fresh_dir("server").display().to_string();
        }
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr = std_listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener)?;
                server::run_with::<S>(vec![listener], config, options, async {
                    let _ = stopped.await;
                })
                .await
            })
        });
        // Err: it failed to start (the thread's result says why).
        let _ = is_ready.recv_timeout(Duration::from_secs(60));
        TestServer {
            addr,
            clock,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.addr)
    }

    /// Stop and wait for the server to return.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.wait_stopped()
    }

    /// Wait until the server has stopped on its own (SHUTDOWN).
    pub fn join(mut self) -> std::io::Result<()> {
        self.stop.take();
        self.wait_stopped()
    }

    /// The server thread's result, or a `TimedOut` error (the thread left
    /// running) if it has not ended within [`SERVER_STOP_LIMIT`].
    fn wait_stopped(&mut self) -> std::io::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + SERVER_STOP_LIMIT;
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the server on {} had not stopped after {SERVER_STOP_LIMIT:?}",
                        self.addr
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().expect("server thread panicked")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A server that fails to stop fails the test (unless it is already
        // failing); its other errors were the test's to check.
        if let Err(e) = self.shutdown() {
            if e.kind() == std::io::ErrorKind::TimedOut && !std::thread::panicking() {
                panic!("{e}");
            }
        }
    }
}

/// A blocking client that speaks raw RESP, for byte-exact checks.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Send a command given as an inline-style line (quotes allowed).
    pub fn send_cmd(&mut self, line: &str) {
        let args = split_inline(line.as_bytes()).expect("balanced quotes");
        let mut out = BytesMut::new();
        encode_request(&args, &mut out);
        self.send(&out);
    }

    /// Read one reply: the parsed frame and its exact bytes.
    pub fn read_reply(&mut self) -> (Frame, Vec<u8>) {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf).expect("well-formed reply") {
                let raw: Vec<u8> = self.buf.drain(..used).collect();
                return (frame, raw);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).expect("read reply");
            assert!(
                n > 0,
                "connection closed while waiting for a reply; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Run one command and return its reply frame.
    pub fn cmd(&mut self, line: &str) -> Frame {
        self.send_cmd(line);
        self.read_reply().0
    }

    /// Run one command given as raw arguments.
    pub fn cmd_args(&mut self, args: &[&[u8]]) -> Frame {
        let mut out = BytesMut::new();
        encode_request(args, &mut out);
        self.send(&out);
        self.read_reply().0
    }

    /// Read everything until the server closes the connection.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        let _ = self.stream.read_to_end(&mut out);
        out
    }

    /// Has the server closed the connection (within `wait`)?
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut b = [0u8; 1];
        let closed = matches!(self.stream.read(&mut b), Ok(0));
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .expect("timeout");
        closed
    }
}

/// Send `bytes` raw and collect everything the server answers until it
/// closes the connection or stays quiet for `quiet`; `<open>` is appended
/// when the connection is still open.
pub fn raw_exchange(addr: SocketAddr, bytes: &[u8], quiet: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(bytes).expect("write");
    s.set_read_timeout(Some(quiet)).expect("timeout");
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(_) => {
                out.extend_from_slice(b"<open>");
                return out;
            }
        }
    }
}

/// The text of a bulk or verbatim reply (INFO, CLIENT LIST).
pub fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The largest unsent output (`omem` in CLIENT LIST) of any client.
pub fn max_omem(c: &mut RawClient) -> usize {
    text(&c.cmd("CLIENT LIST"))
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("omem=")))
        .filter_map(|n| n.parse().ok())
        .max()
        .unwrap_or(0)
}

/// CONFIG GET's RESP2 reply for one parameter.
pub fn config_pair(name: &str, value: &str) -> Frame {
    Frame::Array(vec![bulk(name), bulk(value)])
}

/// Shorthands for expected frames.
pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

pub fn ok() -> Frame {
    Frame::ok()
}

pub fn int(n: i64) -> Frame {
    Frame::Integer(n)
}

pub fn err(s: &str) -> Frame {
    Frame::error(s)
}

/// Poll `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// A real `redis-server` on a free loopback port, for differential tests.
/// Killed (by its own pid) on drop.
pub struct RedisServer {
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

/// Is a real Redis available? When `FLASHKV_REQUIRE_REDIS=1` (CI), its
/// absence fails the test instead of skipping it.
pub fn redis_server_available(test: &str) -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("FLASHKV_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("{test}: redis-server is required (FLASHKV_REQUIRE_REDIS=1) but not installed");
        }
        eprintln!("{test}: SKIPPED: redis-server is not installed (apt-get install redis-server)");
    }
    found
}

/// A fresh empty directory under the system temp directory.
pub fn fresh_dir(what: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "flashkv-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The `flashkv` binary, run in a fresh directory of its own: it loads
/// and saves `dump.rdb` in its working directory, as redis-server does,
/// and must never touch the repository's.
pub fn bin_command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_flashkv"));
    c.current_dir(fresh_dir("bin"));
    c
}

/// The `flashkv` binary with `args` on a free loopback port, serving (its
/// output dropped); panics if it does not start within 20 s.
pub fn spawn_serving(args: &[&str]) -> (std::process::Child, SocketAddr) {
    let port = free_port();
    let mut child = bin_command()
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn flashkv");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = wait_serving(&mut child, addr, None, Duration::from_secs(20));
    assert!(up, "flashkv did not start with {args:?}");
    (child, addr)
}

impl RedisServer {
    /// Start one; `None` (after printing why) when redis-server is missing.
    pub fn start(test: &str) -> Option<RedisServer> {
        Self::start_with(test, &[])
    }

    pub fn start_with(test: &str, extra: &[&str]) -> Option<RedisServer> {
        if !redis_server_available(test) {
            return None;
        }
        for _ in 0..5 {
            let port = free_port();
            let dir =
                std::env::temp_dir().join(format!("flashkv-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let mut args: Vec<String> = [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            args.extend(["--dir".to_string(), dir.display().to_string()]);
            args.extend(extra.iter().map(|s| s.to_string()));
            let child = Command::new("redis-server")
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut server = RedisServer { addr, child, dir };
            let password = extra
                .windows(2)
                .find(|w| w[0] == "--requirepass")
                .map(|w| w[1]);
            let ready = wait_serving(&mut server.child, addr, password, Duration::from_secs(5));
            if ready {
                return Some(server);
            }
            let _ = server.child.kill();
        }
        panic!("{test}: redis-server did not start");
    }
}

/// Wait until `child` (a redis-server or a `flashkv` binary) serves on
/// `addr`, its dataset loaded; false when it exited or `limit` passed. `addr` came from
/// [`free_port`], so until the child binds it another test's server (or a
/// TCP self-connect) may answer there: only the child's own `process_id`
/// in `INFO server` proves the probe reached it.
pub fn wait_serving(
    child: &mut Child,
    addr: SocketAddr,
    password: Option<&str>,
    limit: Duration,
) -> bool {
    let pid = child.id();
    let mut exited = false;
    let serving = eventually(limit, || {
        exited = exited || !matches!(child.try_wait(), Ok(None));
        exited || serves_pid(addr, pid, password)
    });
    serving && !exited
}

fn serves_pid(addr: SocketAddr, pid: u32, password: Option<&str>) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut probe = BytesMut::new();
    if let Some(pw) = password {
        encode_request(&[&b"AUTH"[..], pw.as_bytes()], &mut probe);
    }
    encode_request(&[&b"INFO"[..], b"server", b"persistence"], &mut probe);
    if stream.write_all(&probe).is_err() {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let has = |seen: &[u8], want: &[u8]| seen.windows(want.len()).any(|w| w == want);
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        seen.extend_from_slice(&chunk[..n]);
        if has(&seen, want.as_bytes()) && has(&seen, b"loading:1\r\n") {
            return false;
        }
        if has(&seen, want.as_bytes()) && has(&seen, b"loading:0\r\n") {
            return true;
        }
    }
    false
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub use crate::bounded::{free_port, output_within, Running, SERVER_STOP_LIMIT};
pub use crate::differential::{
    differential, differential_between, differential_resp2_and_3, same_on_both, shown,
};

/// Concurrent clients a race check runs.
pub const CLIENTS: usize = 6;
/// Runs with a planted fault before a race check counts as blind.
pub const TRIES: usize = 20;

/// What a race check reports: `Err` describes a violated invariant.
pub type Verdict = Result<(), String>;

/// A race check that must hold on the real server and must be caught on
/// servers with `fault` planted (within `TRIES` runs): a check that could
/// not fail would fail here.
pub fn proves<S: Store>(name: &str, check: fn(&TestServer) -> Verdict, fault: flashkv::db::Faults) {
    let server = TestServer::start::<S>();
    if let Err(e) = check(&server) {
        panic!("{name}: {e}");
    }
    for _ in 0..TRIES {
        let server = TestServer::with_faults::<S>(Config::default(), Clock::System, fault);
        if check(&server).is_err() {
            return;
        }
    }
    panic!("{name}: never caught the planted fault in {TRIES} runs");
}

/// Run `each(client, thread)` on `CLIENTS` connections at once.
pub fn all_at_once(server: &TestServer, each: &(dyn Fn(&mut RawClient, usize) + Sync)) {
    let barrier = std::sync::Barrier::new(CLIENTS);
    std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let (barrier, addr) = (&barrier, server.addr);
            s.spawn(move || {
                let mut c = RawClient::connect(addr);
                barrier.wait();
                each(&mut c, t);
            });
        }
    });
}

/// A numeric field of INFO's default sections.
pub fn info_field(c: &mut RawClient, name: &str) -> u64 {
    let info = text(&c.cmd("INFO"));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The server's `dir` (CONFIG GET dir).
pub fn server_dir(c: &mut RawClient) -> std::path::PathBuf {
    match c.cmd("CONFIG GET dir") {
        Frame::Array(kv) if kv.len() == 2 => text(&kv[1]).into(),
        other => panic!("CONFIG GET dir: {other:?}"),
    }
}
