//! Nothing in the suite may wait forever: ports that cannot collide with
//! another test's, child programs with a time limit, a server stop with a
//! time limit, and a watchdog that ends the run, naming the stuck test,
//! when one test runs far longer than any should.
//!
//! (A CI run once hit its 90-minute limit with no failure printed: a wait
//! without a bound hides which test is stuck. These bounds turn any such
//! hang into a failure that names it.)

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// How long a FlashKV test server may take to stop.
pub const SERVER_STOP_LIMIT: Duration = Duration::from_secs(60);

/// How long one test may run before the watchdog ends the process
/// (`FLASHKV_TEST_HANG_SECS` overrides). The slowest test takes about a
/// minute in a debug build on 2 loaded cores.
const TEST_HANG_LIMIT: Duration = Duration::from_secs(600);

/// A loopback port for a server started by number (a child process, a
/// cluster bus port). The kernel hands out port-0 listeners and the local
/// ports of outgoing connections from its ephemeral range (32768-60999 by
/// default), so a port picked there and released can be taken by another
/// test before the server binds it: a cluster node then fails to start and
/// `redis-cli --cluster create` meets a different server on its port. These
/// come from a counter below that range instead, with room for
/// `port + 10000` (a default cluster bus port) below it too; each is
/// checked free at the moment it is handed out.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let (first, span) = port_span();
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id() % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let port = (first + NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {first}..{}", first + span);
}

/// The ports [`free_port`] draws from: from a third of the ephemeral
/// range's start up to 10000 below it.
fn port_span() -> (u32, u32) {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    let first = (low / 3).max(1024);
    let end = low.saturating_sub(10_000);
    assert!(
        end > first + 1000,
        "the ephemeral port range starts at {low}: too low to keep test ports out of it"
    );
    (first, end - first)
}

/// Run `cmd` (stdin `input`, or nothing) and collect its output; a program
/// still running after `limit` is killed and the test fails with what it
/// printed so far.
pub fn output_within(cmd: &mut Command, input: Option<&[u8]>, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    if let (Some(input), Some(mut pipe)) = (input, child.stdin.take()) {
        let _ = pipe.write_all(input);
    }
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = stdout.join().unwrap_or_default();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "{cmd:?} was still running after {limit:?}; it printed:\n{}{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// The stamped tests running now, and since when.
static RUNNING: Mutex<Vec<(&'static str, Instant)>> = Mutex::new(Vec::new());

/// Held by a stamped test while it runs (see `backend_module!`): the
/// watchdog names it if it runs too long.
pub struct Running(&'static str);

impl Running {
    pub fn new(name: &'static str) -> Running {
        start_watchdog();
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((name, Instant::now()));
        Running(name)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = running.iter().position(|(n, _)| *n == self.0) {
            running.swap_remove(i);
        }
    }
}

/// Once per process: every 30 s, look for a test running longer than the
/// limit; if there is one, print every running test with its age (to the
/// real stderr: the harness captures only `eprintln!`) and abort, so the
/// run fails naming it instead of waiting forever.
fn start_watchdog() {
    static START: Once = Once::new();
    START.call_once(|| {
        let limit = std::env::var("FLASHKV_TEST_HANG_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(TEST_HANG_LIMIT, Duration::from_secs);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(30));
            let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if running.iter().all(|(_, since)| since.elapsed() < limit) {
                continue;
            }
            let mut report = format!("\nwatchdog: a test has run over {limit:?}; running now:\n");
            for (name, since) in running {
                report.push_str(&format!("  {name}: {} s\n", since.elapsed().as_secs()));
            }
            let _ = std::io::stderr().write_all(report.as_bytes());
            std::process::abort();
        });
    });
}
