//! The latency monitor: for each event kind, the latest samples of at
//! least `latency-monitor-threshold` milliseconds, one per second (the
//! worst), as Redis's `latency.c` keeps them. Commands report "command"
//! and "fast-command" (the command layer); the chores of this layer report
//! "expire-cycle" (a sweeper cycle) and "eviction-cycle" (an eviction
//! pass), through [`Db::latency_sample`](super::Db::latency_sample). It
//! lives here, below the server state, so those chores can reach it.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const HISTORY: usize = 160;

/// One second's worst latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Unix time, seconds.
    pub time: u64,
    /// Milliseconds.
    pub ms: u64,
}

/// One event's history.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Oldest first.
    pub samples: Vec<Sample>,
    /// The worst latency ever seen.
    pub max: u64,
}

/// Every event's history.
#[derive(Default)]
pub struct LatencyMonitor {
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    /// Record `ms` for `event` at `time` (the caller checked the
    /// threshold).
    pub fn add(&self, event: &'static str, time: u64, ms: u64) {
        let mut events = self.events.lock();
        let s = events.entry(event).or_default();
        s.max = s.max.max(ms);
        match s.samples.last_mut() {
            Some(last) if last.time == time => last.ms = last.ms.max(ms),
            _ => {
                s.samples.push(Sample { time, ms });
                if s.samples.len() > HISTORY {
                    s.samples.remove(0);
                }
            }
        }
    }

    /// Every event with its history.
    pub fn all(&self) -> Vec<(&'static str, Series)> {
        self.events
            .lock()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// One event's history.
    pub fn series(&self, event: &[u8]) -> Option<Series> {
        let events = self.events.lock();
        events
            .iter()
            .find(|(k, _)| k.as_bytes() == event)
            .map(|(_, v)| v.clone())
    }

    /// Forget `events` (all when empty); how many were forgotten.
    pub fn reset(&self, events: &[&[u8]]) -> usize {
        let mut all = self.events.lock();
        if events.is_empty() {
            let n = all.len();
            all.clear();
            return n;
        }
        let before = all.len();
        all.retain(|k, _| !events.contains(&k.as_bytes()));
        before - all.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeping_the_worst() {
        let m = LatencyMonitor::default();
        m.add("command", 10, 5);
        m.add("command", 10, 3);
        m.add("command", 11, 7);
        let s = m.series(b"command").unwrap();
        assert_eq!(
            s.samples,
            [Sample { time: 10, ms: 5 }, Sample { time: 11, ms: 7 }]
        );
        assert_eq!(s.max, 7);
        assert_eq!(m.reset(&[b"nope"]), 0);
        assert_eq!(m.reset(&[]), 1);
    }
}
