//! Hostile input: limits, resource safety and access control under attack.
//!
//! Every case writes a sentinel key first, attacks, and then checks that a
//! new client is served and the sentinel is intact. Memory is read from
//! this process's own resident set (`/proc/self/status`; the server runs
//! in-process) by a sampler thread, and its peak growth over the case is
//! bounded. Cases that move tens of megabytes, or whose bound is tight,
//! take a write lock and run alone; the others share a read lock and a
//! generous bound. Loops
//! are bounded in count; waits are generous bounded waits, never timing
//! assertions. Where Redis's behaviour is the specification, the same
//! bytes go to a real `redis-server` and the answers are compared.
//!
//! The cases live in submodules by theme; `backends!` stamps each once per
//! backend (`hostile::scc::giant_key_and_value_stay_bounded`).

mod access;
mod flood;
mod framing;
mod limits;

/// The fuzz targets' checks, compiled here too to replay
/// `tests/fuzz_regressions/` on stable.
#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_checks;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::{Clock, Config, Store};

use crate::backends;
use crate::common::*;

use access::*;
use flood::*;
use framing::*;
use limits::*;

/// The key every case writes before its attack.
const SENTINEL: &str = "hostile:sentinel";
const MB: u64 = 1024 * 1024;
/// Growth allowed to cases that share the process with other light cases:
/// generous, but far below what buffering any of the floods would take.
const LIGHT_BOUND: u64 = 256 * MB;

/// Taken shared by ordinary cases and exclusively by the heavy ones.
static MEMORY: RwLock<()> = RwLock::new(());

fn light() -> RwLockReadGuard<'static, ()> {
    MEMORY.read().unwrap_or_else(PoisonError::into_inner)
}

fn heavy() -> RwLockWriteGuard<'static, ()> {
    MEMORY.write().unwrap_or_else(PoisonError::into_inner)
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

/// Samples the resident set every few milliseconds and keeps the peak.
struct RssWatch {
    base: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssWatch {
    fn start() -> RssWatch {
        let base = rss();
        let peak = Arc::new(AtomicU64::new(base));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        RssWatch {
            base,
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop sampling; assert the peak stayed less than `limit` above the
    /// start.
    fn assert_growth_below(mut self, limit: u64, what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("sampler");
        }
        let peak = self.peak.load(Ordering::Relaxed).max(rss());
        let growth = peak.saturating_sub(self.base);
        assert!(
            growth < limit,
            "{what}: resident memory grew by {} MiB (bound {} MiB)",
            growth / MB,
            limit / MB
        );
    }
}

/// A server under attack, with its sentinel written and the resident set
/// watched from its start until [`Target::assert_unharmed`].
struct Target {
    server: TestServer,
    password: String,
    watch: Mutex<Option<RssWatch>>,
    bound: u64,
}

impl Target {
    fn start<S: Store>() -> Target {
        Self::with_config::<S>(Config::default())
    }

    fn with_config<S: Store>(config: Config) -> Target {
        let password = config.requirepass.clone();
        let watch = Mutex::new(Some(RssWatch::start()));
        let server = TestServer::with_config::<S>(config, Clock::System);
        let t = Target {
            server,
            password,
            watch,
            bound: LIGHT_BOUND,
        };
        let mut c = t.client();
        assert_eq!(c.cmd(&format!("SET {SENTINEL} intact")), ok());
        t
    }

    /// Allow the whole case this much growth instead of [`LIGHT_BOUND`].
    fn allowing(mut self, bound: u64) -> Target {
        self.bound = bound;
        self
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// A client, authenticated when the server has a password.
    fn client(&self) -> RawClient {
        let mut c = self.server.client();
        if !self.password.is_empty() {
            assert_eq!(c.cmd_args(&[b"AUTH", self.password.as_bytes()]), ok());
        }
        c
    }

    /// After the attack: a new client is served, the sentinel is intact,
    /// and memory stayed within the case's bound.
    fn assert_unharmed(&self) {
        let mut c = self.client();
        assert_eq!(
            c.cmd("PING"),
            Frame::simple("PONG"),
            "server stopped answering"
        );
        assert_eq!(
            c.cmd(&format!("GET {SENTINEL}")),
            bulk("intact"),
            "sentinel changed"
        );
        let watch = self
            .watch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(watch) = watch {
            watch.assert_growth_below(self.bound, "the whole case");
        }
    }

    /// A field of INFO, as text.
    fn info_field(&self, name: &str) -> String {
        let info = text(&self.client().cmd("INFO"));
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("INFO has no {name}"))
            .trim()
            .to_string()
    }

    /// Wait until only `n` clients are connected (besides the asking one,
    /// which may be refused while the server is full).
    fn wait_for_clients(&self, n: usize) {
        let want = format!("connected_clients:{}\r\n", n + 1);
        let ok = eventually(Duration::from_secs(10), || {
            let mut c = self.server.client();
            if !self.password.is_empty() {
                c.send_cmd(&format!("AUTH {}", self.password));
                c.read_reply();
            }
            c.send_cmd("INFO clients");
            matches!(c.read_reply().0, Frame::Bulk(b) if String::from_utf8_lossy(&b).contains(&want))
        });
        assert!(
            ok,
            "clients did not go away: {}",
            self.info_field("connected_clients")
        );
    }
}

/// Send each case on its own connection to both servers, all at once, and
/// require the same answer (and the same closing) from both.
fn raw_cases_match(ours: std::net::SocketAddr, redis: std::net::SocketAddr, cases: &[Vec<u8>]) {
    let quiet = Duration::from_millis(250);
    let threads: Vec<_> = cases
        .iter()
        .map(|case| {
            let case = case.clone();
            std::thread::spawn(move || {
                let mine = raw_exchange(ours, &case, quiet);
                let theirs = raw_exchange(redis, &case, quiet);
                (case, mine, theirs)
            })
        })
        .collect();
    for t in threads {
        let (case, mine, theirs) = t.join().expect("exchange");
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&theirs),
            "raw input {:?}",
            String::from_utf8_lossy(&case[..case.len().min(200)])
        );
    }
}

/// Warnings the server logs while the tests run (None when another
/// subscriber was installed first).
fn captured_logs() -> Option<Arc<Mutex<Vec<u8>>>> {
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut buf = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if buf.len() > 4 * MB as usize {
                let half = buf.len() / 2;
                buf.drain(..half);
            }
            buf.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LOGS: OnceLock<Option<Arc<Mutex<Vec<u8>>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .ok()
            .map(|()| buf)
    })
    .clone()
}

backends!(
    hostile_framing_matches_redis,
    nested_arrays_get_redis_error_and_close,
    binary_and_empty_keys_match_redis,
    giant_key_and_value_stay_bounded,
    two_million_arguments_in_one_command,
    ten_thousand_pipelined_commands_in_one_write,
    slowloris_does_not_hold_up_other_clients,
    connection_storm_leaves_nothing_behind,
    maxclients_overflow_is_refused_and_recovers,
    half_close_after_a_pipeline_gets_every_reply,
    clients_that_never_read_stay_bounded,
    inline_flood_without_newline_is_cut_at_64k,
    http_post_and_host_close_at_once_and_are_logged,
    keys_over_a_large_keyspace_does_not_stall_others,
    maxclients_follows_the_file_descriptor_limit,
    timeout_closes_idle_and_half_sent_clients,
    tcp_keepalive_is_set_like_redis,
    output_buffer_limits_close_the_client,
    output_buffer_limit_directive_matches_redis,
    auth_errors_match_redis,
    protected_mode_denies_non_loopback_clients_like_redis,
    rename_command_matches_redis,
    fuzz_regressions_replay,
);
