//! Test support: an in-process server per test, a raw RESP client, a real
//! `redis-server` for differential tests, and the macro that stamps every
//! test once per backend.

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
    pub fn with_options<S: Store>(mut config: Config, options: Options) -> TestServer {
        let clock = options.clock.clone();
        config.port = 0;
        if config.dir.is_empty() {
            // A SAVE in a test writes here, never into the repository.
            config.dir = fresh_dir("server").display().to_string();
        }
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
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
        match self.thread.take() {
            Some(t) => t.join().expect("server thread panicked"),
            None => Ok(()),
        }
    }

    /// Wait until the server has stopped on its own (SHUTDOWN).
    pub fn join(mut self) -> std::io::Result<()> {
        self.stop.take();
        self.thread
            .take()
            .map_or(Ok(()), |t| t.join().expect("server thread panicked"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
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

/// A loopback port that was free a moment ago; see [`wait_serving`].
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
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
/// `addr`; false when it exited or `limit` passed. `addr` came from
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
    encode_request(&[&b"INFO"[..], b"server"], &mut probe);
    if stream.write_all(&probe).is_err() {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        seen.extend_from_slice(&chunk[..n]);
        if seen.windows(want.len()).any(|w| w == want.as_bytes()) {
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
                Some((head, n))
                    if head == "recv"
                        || (head.starts_with('@')
                            && head.split_once(' ').map(|h| h.1) == Some("recv")) =>
                {
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
