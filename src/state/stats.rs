//! Server statistics behind INFO's commandstats, errorstats, latencystats
//! and stats sections.
//!
//! Counting must not make commands on different threads share a cache
//! line, so a connection counts into its own [`Pending`] (plain integers)
//! and adds it to the shared [`Stats`] once per batch of requests (one
//! atomic add per counter that moved), the way it publishes its other
//! activity. INFO therefore sees every command of every finished batch.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::util::histogram::Histogram;

/// Most command ids the table hands out (ids index [`Stats`]' arrays).
pub const MAX_COMMANDS: usize = 512;

/// Redis stops tracking new error codes after this many (and counts them
/// nowhere), so that a client cannot grow the table.
const MAX_ERROR_CODES: usize = 128;

/// One command's counters (INFO commandstats).
#[derive(Default)]
pub struct CommandCounters {
    /// Times it ran.
    pub calls: AtomicU64,
    /// Nanoseconds spent running it.
    pub nanos: AtomicU64,
    /// Rejected before running (arity, authentication, subscribed mode...).
    pub rejected: AtomicU64,
    /// Ran and replied with an error.
    pub failed: AtomicU64,
}

/// The counters of one server.
pub struct Stats {
    commands: Box<[CommandCounters]>,
    /// Per-command latency, in microseconds (INFO latencystats).
    latency: Box<[Mutex<Option<Histogram>>]>,
    errors: Mutex<BTreeMap<String, u64>>,
    total_errors: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    net_input: AtomicU64,
    net_output: AtomicU64,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            commands: (0..MAX_COMMANDS)
                .map(|_| CommandCounters::default())
                .collect(),
            latency: (0..MAX_COMMANDS).map(|_| Mutex::new(None)).collect(),
            errors: Mutex::new(BTreeMap::new()),
            total_errors: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            net_input: AtomicU64::new(0),
            net_output: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }
}

/// What a connection counted since it last flushed.
#[derive(Default, Debug)]
pub struct Pending {
    /// (command id, calls, nanoseconds, rejected, failed).
    calls: Vec<(usize, [u64; 4])>,
    /// (command id, latency in ns) samples for latencystats.
    samples: Vec<(usize, u64)>,
    errors: Vec<(String, u64)>,
    hits: u64,
    misses: u64,
    /// Bytes read and written, reads and writes.
    net: [u64; 4],
}

impl Pending {
    fn slot(&mut self, id: usize) -> &mut [u64; 4] {
        let i = match self.calls.iter().position(|(c, _)| *c == id) {
            Some(i) => i,
            None => {
                self.calls.push((id, [0; 4]));
                self.calls.len() - 1
            }
        };
        &mut self.calls[i].1
    }

    /// Command `id` ran for `nanos` nanoseconds; `failed` if it replied
    /// with an error.
    pub fn call(&mut self, id: usize, nanos: u64, failed: bool) {
        let s = self.slot(id);
        s[0] += 1;
        s[1] += nanos;
        s[3] += u64::from(failed);
        if self.samples.len() < 4096 {
            self.samples.push((id, nanos));
        }
    }

    /// Command `id` was rejected before it ran.
    pub fn reject(&mut self, id: usize) {
        self.slot(id)[2] += 1;
    }

    /// An error reply was sent; `text` starts with its code.
    pub fn error(&mut self, text: &[u8]) {
        let code = text.split(|&b| b == b' ').next().unwrap_or_default();
        let code = String::from_utf8_lossy(code);
        match self.errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((code.into_owned(), 1)),
        }
    }

    /// A key lookup by a read found its key, or not.
    pub fn lookups(&mut self, hits: u64, misses: u64) {
        self.hits += hits;
        self.misses += misses;
    }

    /// Network traffic: bytes in and out, reads and writes made.
    pub fn net(&mut self, input: u64, output: u64, reads: u64, writes: u64) {
        for (slot, n) in self.net.iter_mut().zip([input, output, reads, writes]) {
            *slot += n;
        }
    }

    /// Nothing counted since the last flush?
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.errors.is_empty()
            && self.hits + self.misses == 0
            && self.net == [0; 4]
    }
}

fn add(a: &AtomicU64, n: u64) {
    if n > 0 {
        a.fetch_add(n, Ordering::Relaxed);
    }
}

impl Stats {
    /// Add what `p` counted and clear it.
    pub fn flush(&self, p: &mut Pending) {
        if p.is_empty() {
            return;
        }
        for (id, [calls, nanos, rejected, failed]) in p.calls.drain(..) {
            if let Some(c) = self.commands.get(id) {
                add(&c.calls, calls);
                add(&c.nanos, nanos);
                add(&c.rejected, rejected);
                add(&c.failed, failed);
            }
        }
        p.samples.sort_unstable_by_key(|(id, _)| *id);
        for chunk in p.samples.chunk_by(|a, b| a.0 == b.0) {
            if let Some(h) = self.latency.get(chunk[0].0) {
                let mut h = h.lock();
                let h = h.get_or_insert_with(Histogram::default);
                chunk.iter().for_each(|(_, ns)| h.record(*ns));
            }
        }
        p.samples.clear();
        if !p.errors.is_empty() {
            let mut errors = self.errors.lock();
            for (code, n) in p.errors.drain(..) {
                add(&self.total_errors, n);
                let known = errors.len();
                match errors.get_mut(&code) {
                    Some(count) => *count += n,
                    None if known < MAX_ERROR_CODES => {
                        errors.insert(code, n);
                    }
                    None => {}
                }
            }
        }
        add(&self.hits, std::mem::take(&mut p.hits));
        add(&self.misses, std::mem::take(&mut p.misses));
        let [input, output, reads, writes] = std::mem::take(&mut p.net);
        add(&self.net_input, input);
        add(&self.net_output, output);
        add(&self.reads, reads);
        add(&self.writes, writes);
    }

    /// Command `id`'s counters.
    pub fn command(&self, id: usize) -> Option<&CommandCounters> {
        self.commands.get(id)
    }

    /// Command `id`'s latency at each of `percentiles`, in µs.
    pub fn percentiles(&self, id: usize, percentiles: &[f64]) -> Option<Vec<f64>> {
        let h = self.latency.get(id)?.lock();
        let h = h.as_ref()?;
        Some(percentiles.iter().map(|&p| h.percentile(p)).collect())
    }

    /// Command `id`'s latency histogram: (calls, [(bucket upper bound, count)]).
    pub fn histogram(&self, id: usize) -> Option<(u64, Vec<(u64, u64)>)> {
        let h = self.latency.get(id)?.lock();
        let h = h.as_ref()?;
        Some((h.count(), h.power_of_two_buckets()))
    }

    /// Error replies by code (INFO errorstats).
    pub fn errors(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Every error reply sent.
    pub fn total_errors(&self) -> u64 {
        self.total_errors.load(Ordering::Relaxed)
    }

    /// Reads that found their key, and that did not.
    pub fn lookups(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes in, bytes out, reads, writes.
    pub fn net(&self) -> [u64; 4] {
        [&self.net_input, &self.net_output, &self.reads, &self.writes]
            .map(|a| a.load(Ordering::Relaxed))
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for c in self.commands.iter() {
            for a in [&c.calls, &c.nanos, &c.rejected, &c.failed] {
                a.store(0, Ordering::Relaxed);
            }
        }
        for h in self.latency.iter() {
            *h.lock() = None;
        }
        self.errors.lock().clear();
        for a in [
            &self.total_errors,
            &self.hits,
            &self.misses,
            &self.net_input,
            &self.net_output,
            &self.reads,
            &self.writes,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_add_up_once_flushed() {
        let stats = Stats::default();
        let mut p = Pending::default();
        p.call(3, 10_000, false);
        p.call(3, 5_000, true);
        p.reject(3);
        p.error(b"ERR bad thing");
        p.error(b"WRONGTYPE Operation");
        p.error(b"ERR other");
        p.lookups(2, 1);
        stats.flush(&mut p);
        assert!(p.is_empty());
        let c = stats.command(3).unwrap();
        assert_eq!(c.calls.load(Ordering::Relaxed), 2);
        assert_eq!(c.nanos.load(Ordering::Relaxed), 15_000);
        assert_eq!(c.rejected.load(Ordering::Relaxed), 1);
        assert_eq!(c.failed.load(Ordering::Relaxed), 1);
        assert_eq!(
            stats.errors(),
            vec![("ERR".into(), 2), ("WRONGTYPE".into(), 1)]
        );
        assert_eq!(stats.total_errors(), 3);
        assert_eq!(stats.lookups(), (2, 1));
        stats.reset();
        assert_eq!(stats.total_errors(), 0);
    }
}
