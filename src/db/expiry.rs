//! Active expiry: a background sweeper that deletes expired keys nobody
//! reads, with Redis 7's adaptive algorithm (`activeExpireCycle`, slow
//! cycle).
//!
//! Each cycle visits up to 16 databases round-robin. In each it samples
//! `20 + 5 * (effort - 1)` keys from the volatile index (only keys that
//! have a TTL, resuming a per-database cursor, so the keyspace is never
//! scanned as a whole), deletes those past their deadline, and repeats while
//! more than `10 - (effort - 1)` percent of the sample was expired. A cycle
//! stops when it has used `25 + 2 * (effort - 1)` percent of its `1/hz`
//! period. Stale index entries (a key that lost its TTL) count as expired
//! for that decision, since cleaning them is also work to be done.
//!
//! The sweeper is its own OS thread, not a runtime task: it may wait briefly
//! on a key's stripe lock while a multi-key command runs, and that must
//! never stall a Tokio worker. TTL decisions use the injected [`Clock`]
//! (`Db::now_ms`); only the CPU budget uses the real monotonic clock.
//!
//! [`Clock`]: super::Clock

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use store_api::Store;

use super::{Db, Swept};

/// Most databases one cycle visits (Redis's `CRON_DBS_PER_CALL`).
const DBS_PER_CYCLE: usize = 16;
/// Keys sampled per loop at effort 1 (`ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const KEYS_PER_LOOP: usize = 20;
/// Share of each period a cycle may use at effort 1, in percent.
const SLOW_TIME_PERC: u32 = 25;
/// Percentage of expired keys in a sample below which a database is left
/// alone until the next cycle, at effort 1.
const ACCEPTABLE_STALE: usize = 10;

/// `hz` and `active-expire-effort`, Redis's knobs for active expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryConfig {
    /// Cycles per second (1..=500); 0 disables the sweeper (tests).
    pub hz: u32,
    /// 1..=10: more effort samples more and may use more CPU.
    pub effort: u32,
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig { hz: 10, effort: 1 }
    }
}

impl ExpiryConfig {
    fn scaled_effort(self) -> usize {
        self.effort.clamp(1, 10) as usize - 1
    }

    /// Keys sampled per loop.
    pub fn keys_per_loop(self) -> usize {
        KEYS_PER_LOOP + KEYS_PER_LOOP / 4 * self.scaled_effort()
    }

    /// CPU time one cycle may use.
    pub fn budget(self) -> Duration {
        let perc = SLOW_TIME_PERC + 2 * self.scaled_effort() as u32;
        Duration::from_micros(u64::from(perc) * 1_000_000 / u64::from(self.hz.max(1)) / 100)
    }

    fn acceptable_stale(self) -> usize {
        ACCEPTABLE_STALE - self.scaled_effort()
    }

    fn period(self) -> Duration {
        Duration::from_micros(1_000_000 / u64::from(self.hz.clamp(1, 500)))
    }
}

/// Where the next cycle resumes.
#[derive(Debug, Default)]
pub struct CycleState {
    cursors: Vec<u64>,
    next_db: usize,
}

/// What one cycle did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// Index entries looked at.
    pub sampled: usize,
    /// Keys deleted because they had expired.
    pub expired: usize,
    /// Index entries dropped because their key had no TTL any more.
    pub stale: usize,
    /// The cycle stopped because it used up its time budget.
    pub timed_out: bool,
}

/// One active-expiry cycle over `db`.
pub fn run_cycle<S: Store>(db: &Db<S>, state: &mut CycleState, cfg: ExpiryConfig) -> CycleStats {
    let start = Instant::now();
    let budget = cfg.budget();
    let table = db.table();
    state.cursors.resize(table.len(), 0);
    let mut stats = CycleStats::default();
    for _ in 0..DBS_PER_CYCLE.min(table.len()) {
        let i = state.next_db % table.len();
        state.next_db = state.next_db.wrapping_add(1);
        let ks = &table[i];
        loop {
            if ks.volatile_len() == 0 {
                break;
            }
            let (keys, next) = ks.sample_volatile(state.cursors[i], cfg.keys_per_loop());
            state.cursors[i] = next;
            let now = db.now_ms();
            let (mut reclaimed, mut ttl_sum, mut ttl_samples) = (0, 0u64, 0u64);
            for k in &keys {
                match ks.sweep_key(k, now) {
                    Swept::Expired => stats.expired += 1,
                    Swept::Stale => stats.stale += 1,
                    Swept::Live(ttl) => {
                        ttl_sum += ttl;
                        ttl_samples += 1;
                        continue;
                    }
                }
                reclaimed += 1;
            }
            if ttl_samples > 0 {
                ks.note_ttl_sample(ttl_sum / ttl_samples);
            }
            stats.sampled += keys.len();
            if start.elapsed() > budget {
                stats.timed_out = true;
                return stats;
            }
            let sampled = keys.len();
            let repeat = (sampled == 0 && next != 0)
                || (sampled > 0 && reclaimed * 100 / sampled > cfg.acceptable_stale());
            if !repeat {
                break;
            }
        }
    }
    stats
}

/// The running sweeper thread.
pub struct Sweeper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Sweeper {
    /// Start sweeping `db`, with the settings `db` holds at each cycle.
    pub fn start<S: Store>(db: Db<S>) -> Option<Sweeper> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("flashkv-expiry".into())
            .spawn(move || {
                let mut state = CycleState::default();
                while !stopped.load(Ordering::Acquire) {
                    let cfg = db.expiry_config();
                    let stats = run_cycle(&db, &mut state, cfg);
                    if stats.expired > 0 {
                        tracing::trace!(?stats, "active expiry cycle");
                    }
                    std::thread::park_timeout(cfg.period());
                }
            })
            .map_err(|e| tracing::error!(cause = %e, "could not start the expiry sweeper; keys expire lazily only"))
            .ok()?;
        Some(Sweeper { stop, thread })
    }

    /// Stop and wait for the current cycle to end.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.thread().unpark();
        if self.thread.join().is_err() {
            tracing::error!("the expiry sweeper panicked");
        }
    }
}
