//! Server statistics behind INFO's commandstats, errorstats, latencystats
//! and stats sections.
//!
//! Counting must not make commands on different threads share a cache
//! line, and must cost little per command: each thread counts into its own
//! [`Shard`] of the server's statistics (relaxed atomic adds on lines no
//! other thread writes, latency histograms included; no lock), through the
//! [`Counter`] its clients hold, and readers add the shards up. A count is visible
//! to INFO as soon as the command that made it returns, as in Redis. (Each
//! connection used to count into its own buffer and add it to shared
//! counters after every batch of requests: about 200 instructions per
//! batch, a twentieth of a GET at one request per batch.)

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::util::histogram::{AtomicHistogram, Histogram};

/// Most command ids the table hands out (ids index the shards' arrays).
pub const MAX_COMMANDS: usize = 512;

/// Redis stops tracking new error codes after this many (and counts them
/// nowhere), so that a client cannot grow the table.
const MAX_ERROR_CODES: usize = 128;

/// One command's counters (INFO commandstats), as added up over threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandCounts {
    /// Times it ran.
    pub calls: u64,
    /// Nanoseconds spent running it.
    pub nanos: u64,
    /// Rejected before running (arity, authentication, subscribed mode...).
    pub rejected: u64,
    /// Ran and replied with an error.
    pub failed: u64,
}

/// One thread's counts.
struct Shard {
    /// Per command: calls, nanoseconds, rejected, failed.
    commands: Box<[[AtomicU64; 4]]>,
    /// Per command latency, in nanoseconds (INFO latencystats), made when
    /// the command first runs on this thread.
    latency: Box<[OnceLock<AtomicHistogram>]>,
    /// Hits, misses, bytes in, bytes out, reads, writes, error replies.
    counters: [AtomicU64; 7],
    /// Error replies by code (those the server-wide table admitted), as
    /// counted on this thread. The lock is this thread's own but for
    /// INFO's reads, so it costs no contention.
    errors: Mutex<Vec<(Box<[u8]>, u64)>>,
}

const HITS: usize = 0;
const NET: usize = 2;
const ERRORS: usize = 6;

impl Default for Shard {
    fn default() -> Self {
        Shard {
            commands: (0..MAX_COMMANDS).map(|_| Default::default()).collect(),
            latency: (0..MAX_COMMANDS).map(|_| OnceLock::new()).collect(),
            counters: Default::default(),
            errors: Mutex::new(Vec::new()),
        }
    }
}

/// The counters of one server.
pub struct Stats {
    /// Tells this server's shards from other servers' in the same process
    /// (tests run many).
    id: u64,
    shards: Mutex<Vec<Arc<Shard>>>,
    /// The error codes counted so far, at most [`MAX_ERROR_CODES`]: a
    /// shard asks here only for a code it has not counted yet.
    codes: Mutex<Vec<Box<[u8]>>>,
}

thread_local! {
    /// This thread's shard of each server it counted for (in a server, one).
    static SHARDS: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

impl Default for Stats {
    fn default() -> Self {
        static IDS: AtomicU64 = AtomicU64::new(0);
        Stats {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            shards: Mutex::new(Vec::new()),
            codes: Mutex::new(Vec::new()),
        }
    }
}

fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    /// A handle on this thread's shard (made on first use), for a client
    /// to count into: every count goes through one.
    pub fn counter(&self) -> Counter {
        SHARDS.with(|shards| {
            let mut shards = shards.borrow_mut();
            if let Some((_, shard)) = shards.iter().find(|(id, _)| *id == self.id) {
                return Counter(shard.clone());
            }
            // Forget the shards of servers that are gone.
            shards.retain(|(_, shard)| Arc::strong_count(shard) > 1);
            let shard = Arc::new(Shard::default());
            self.shards.lock().push(shard.clone());
            shards.push((self.id, shard.clone()));
            Counter(shard)
        })
    }

    fn each_shard(&self, mut f: impl FnMut(&Shard)) {
        for shard in self.shards.lock().iter() {
            f(shard);
        }
    }

    /// An error reply was sent by a client counting into `counter`;
    /// `text` starts with its code.
    pub fn error(&self, counter: &Counter, text: &[u8]) {
        let code = text.split(|&b| b == b' ').next().unwrap_or_default();
        let shard = &counter.0;
        add(&shard.counters[ERRORS], 1);
        let mut errors = shard.errors.lock();
        if let Some((_, n)) = errors.iter_mut().find(|(c, _)| **c == *code) {
            *n += 1;
            return;
        }
        // New to this thread: admitted if the server already counts it
        // or has room for one more code.
        let mut codes = self.codes.lock();
        if !codes.iter().any(|c| **c == *code) {
            if codes.len() >= MAX_ERROR_CODES {
                return;
            }
            codes.push(code.into());
        }
        errors.push((code.into(), 1));
    }

    /// Command `id`'s counters (None past the table's ids).
    pub fn command(&self, id: usize) -> Option<CommandCounts> {
        if id >= MAX_COMMANDS {
            return None;
        }
        let mut sum = [0; 4];
        self.each_shard(|s| {
            for (t, c) in sum.iter_mut().zip(&s.commands[id]) {
                *t += c.load(Ordering::Relaxed);
            }
        });
        let [calls, nanos, rejected, failed] = sum;
        Some(CommandCounts {
            calls,
            nanos,
            rejected,
            failed,
        })
    }

    /// Command `id`'s latency histogram over every thread (None if it
    /// has not run since the start or the last reset).
    fn latency(&self, id: usize) -> Option<Histogram> {
        let mut sum = Histogram::default();
        self.each_shard(|s| {
            if let Some(h) = s.latency.get(id).and_then(OnceLock::get) {
                h.add_to(&mut sum);
            }
        });
        (sum.count() > 0).then_some(sum)
    }

    /// Command `id`'s latency at each of `percentiles`, in µs.
    pub fn percentiles(&self, id: usize, percentiles: &[f64]) -> Option<Vec<f64>> {
        let h = self.latency(id)?;
        Some(percentiles.iter().map(|&p| h.percentile(p)).collect())
    }

    /// Command `id`'s latency histogram: (calls, [(bucket upper bound, count)]).
    pub fn histogram(&self, id: usize) -> Option<(u64, Vec<(u64, u64)>)> {
        let h = self.latency(id)?;
        Some((h.count(), h.power_of_two_buckets()))
    }

    /// Error replies by code, in code order (INFO errorstats).
    pub fn errors(&self) -> Vec<(String, u64)> {
        let mut sum: BTreeMap<String, u64> = BTreeMap::new();
        self.each_shard(|s| {
            for (code, n) in s.errors.lock().iter() {
                *sum.entry(String::from_utf8_lossy(code).into_owned())
                    .or_default() += n;
            }
        });
        sum.into_iter().collect()
    }

    /// Every error reply sent.
    pub fn total_errors(&self) -> u64 {
        let [n] = self.sum(ERRORS);
        n
    }

    fn sum<const N: usize>(&self, from: usize) -> [u64; N] {
        let mut sum = [0; N];
        self.each_shard(|s| {
            for (t, c) in sum.iter_mut().zip(&s.counters[from..]) {
                *t += c.load(Ordering::Relaxed);
            }
        });
        sum
    }

    /// Reads that found their key, and that did not.
    pub fn lookups(&self) -> (u64, u64) {
        let [hits, misses] = self.sum(HITS);
        (hits, misses)
    }

    /// Bytes in, bytes out, reads, writes.
    pub fn net(&self) -> [u64; 4] {
        self.sum(NET)
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        self.each_shard(|s| {
            let commands = s.commands.iter().flatten();
            for a in commands.chain(s.counters.iter()) {
                a.store(0, Ordering::Relaxed);
            }
            for h in s.latency.iter().filter_map(OnceLock::get) {
                h.clear();
            }
            s.errors.lock().clear();
        });
        self.codes.lock().clear();
    }
}

/// What a connection counts into: one thread's shard of a server's
/// statistics (any thread may write to any shard; a connection stays on
/// the thread that made its counter, so its counts stay on lines that
/// thread owns).
#[derive(Clone)]
pub struct Counter(Arc<Shard>);

impl Counter {
    /// Command `id` ran for `nanos` nanoseconds; `failed` if it replied
    /// with an error.
    pub fn call(&self, id: usize, nanos: u64, failed: bool) {
        let Some(c) = self.0.commands.get(id) else {
            return;
        };
        add(&c[0], 1);
        add(&c[1], nanos);
        if failed {
            add(&c[3], 1);
        }
        self.0.latency[id]
            .get_or_init(AtomicHistogram::default)
            .record(nanos);
    }

    /// Command `id` was rejected before it ran.
    pub fn reject(&self, id: usize) {
        if let Some(c) = self.0.commands.get(id) {
            add(&c[2], 1);
        }
    }

    /// Key lookups by reads: found their key, and did not.
    pub fn lookups(&self, hits: u64, misses: u64) {
        if hits + misses > 0 {
            add(&self.0.counters[HITS], hits);
            add(&self.0.counters[HITS + 1], misses);
        }
    }

    /// Network traffic: bytes in and out, reads and writes made.
    pub fn net(&self, input: u64, output: u64, reads: u64, writes: u64) {
        let counters = &self.0.counters[NET..];
        for (c, n) in counters.iter().zip([input, output, reads, writes]) {
            add(c, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_every_thread_add_up() {
        let stats = Arc::new(Stats::default());
        stats.counter().call(3, 10_000, false);
        stats.counter().reject(3);
        stats.error(&stats.counter(), b"ERR bad thing");
        stats.error(&stats.counter(), b"ERR again, same thread");
        stats.counter().lookups(2, 1);
        stats.counter().net(10, 20, 1, 2);
        let other = stats.clone();
        std::thread::spawn(move || {
            other.counter().call(3, 5_000, true);
            other.error(&other.counter(), b"WRONGTYPE Operation");
            other.error(&other.counter(), b"ERR other");
            other.counter().net(1, 2, 3, 4);
        })
        .join()
        .unwrap();
        let c = stats.command(3).unwrap();
        assert_eq!(
            c,
            CommandCounts {
                calls: 2,
                nanos: 15_000,
                rejected: 1,
                failed: 1
            }
        );
        assert_eq!(stats.histogram(3).unwrap().0, 2, "both threads' latencies");
        assert_eq!(stats.histogram(4), None);
        assert_eq!(stats.command(MAX_COMMANDS), None);
        assert_eq!(
            stats.errors(),
            vec![("ERR".into(), 3), ("WRONGTYPE".into(), 1)]
        );
        assert_eq!(stats.total_errors(), 4);
        assert_eq!(stats.lookups(), (2, 1));
        assert_eq!(stats.net(), [11, 22, 4, 6]);
        stats.reset();
        assert_eq!(stats.total_errors(), 0);
        assert_eq!(stats.command(3).unwrap(), CommandCounts::default());
        assert_eq!(stats.net(), [0; 4]);
        assert_eq!(stats.histogram(3), None);
    }

    #[test]
    fn two_servers_on_one_thread_count_apart() {
        let (a, b) = (Stats::default(), Stats::default());
        a.counter().call(1, 1, false);
        b.counter().call(1, 1, false);
        b.counter().call(1, 1, false);
        assert_eq!(a.command(1).unwrap().calls, 1);
        assert_eq!(b.command(1).unwrap().calls, 2);
        drop(a);
        // The gone server's shard is forgotten when a new one is made.
        let c = Stats::default();
        c.counter().call(1, 1, false);
        SHARDS.with(|s| assert_eq!(s.borrow().len(), 2));
    }

    #[test]
    fn error_codes_past_the_limit_are_counted_only_in_the_total() {
        let stats = Arc::new(Stats::default());
        // Half the codes from another thread: the limit is the server's.
        let other = stats.clone();
        std::thread::spawn(move || {
            for i in 0..MAX_ERROR_CODES / 2 {
                other.error(&other.counter(), format!("E{i} x").as_bytes());
            }
        })
        .join()
        .unwrap();
        for i in 0..MAX_ERROR_CODES + 5 {
            stats.error(&stats.counter(), format!("E{i} x").as_bytes());
        }
        assert_eq!(stats.errors().len(), MAX_ERROR_CODES);
        assert!(
            stats.errors().iter().take(3).all(|(_, n)| *n == 2),
            "{:?}",
            stats.errors()
        );
        assert_eq!(stats.total_errors(), MAX_ERROR_CODES as u64 * 3 / 2 + 5);
        stats.reset();
        assert_eq!(stats.errors(), vec![]);
        stats.error(&stats.counter(), b"ENEW x");
        assert_eq!(
            stats.errors(),
            vec![("ENEW".into(), 1)],
            "reset frees the table"
        );
    }
}
