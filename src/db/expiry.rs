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
//! The same thread evicts in the background when memory is over
//! `maxmemory` (see `evict`).
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

    /// Sample again after `reclaimed` of `sampled` keys were expired or
    /// stale? (More than the acceptable share, in percent, as Redis's
    /// `activeExpireCycle`; an empty sample repeats too.)
    fn repeat(self, sampled: usize, reclaimed: usize) -> bool {
        sampled == 0 || reclaimed * 100 / sampled > self.acceptable_stale()
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
    /// When the backends' housekeeping last ran ([`MAINTAIN_EVERY`]).
    maintained: Option<Instant>,
}

/// How often a cycle runs the backends' housekeeping (`Store::maintain`:
/// the epoch map frees retired memory that no request's pin would free
/// once the load stops). Every cycle (10 a second, over 16 databases) it
/// ran crossbeam's global collection 256 times a second under full load,
/// where requests' own pins already collect: about 80 instructions a write
/// (callgrind, `reports/2026-12-06-request-path.md`). Once a second is
/// enough to give memory back after the load stops.
const MAINTAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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
    if state
        .maintained
        .is_none_or(|t| start.duration_since(t) >= MAINTAIN_EVERY)
    {
        state.maintained = Some(start);
        for ks in table.iter() {
            ks.maintain();
        }
    }
    let mut stats = CycleStats::default();
    for _ in 0..DBS_PER_CYCLE.min(table.len()) {
        let i = state.next_db % table.len();
        state.next_db = state.next_db.wrapping_add(1);
        let ks = &table[i];
        loop {
            if !ks.has_volatile_keys() {
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
            if let Some(mean) = ttl_sum.checked_div(ttl_samples) {
                ks.note_ttl_sample(mean);
            }
            stats.sampled += keys.len();
            if start.elapsed() > budget {
                stats.timed_out = true;
                return stats;
            }
            // An empty sample with keys still indexed means the pass ended on
            // empty shards: go round again (the time budget bounds this).
            if !cfg.repeat(keys.len(), reclaimed) {
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
                    // CLIENT PAUSE holds expiry back too (Redis keeps the
                    // dataset static while paused).
                    let mut period = cfg.period();
                    if !db.is_paused() {
                        if db.active_expire() {
                            let start = Instant::now();
                            let stats = run_cycle(&db, &mut state, cfg);
                            // Redis's LATENCY event for a slow cycle.
                            let ms = start.elapsed().as_millis() as u64;
                            db.latency_sample("expire-cycle", ms);
                            if stats.expired > 0 {
                                tracing::trace!(?stats, "active expiry cycle");
                            }
                        }
                        // Memory over maxmemory when the load stops is
                        // brought down here (Redis's `evictionTimeProc`):
                        // a quarter of each period, until done.
                        if db.perform_evictions(Some(period / 4)) == super::Eviction::Running {
                            period = Duration::from_millis(1);
                        }
                    }
                    std::thread::park_timeout(period);
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use store_api::{Entry, Op, Value};
    use store_rwlock::RwLockStore;

    use super::*;
    use crate::db::Clock;

    const T0: u64 = 1_000_000;

    fn db_with(volatile: usize, expired_share: f64, persistent: usize) -> Db<RwLockStore> {
        let db = Db::new(1, Clock::manual(T0), ExpiryConfig { hz: 10, effort: 1 });
        let table = db.table();
        let ks = &table[0];
        for i in 0..volatile {
            let deadline = if (i as f64) < volatile as f64 * expired_share {
                T0 - 1
            } else {
                T0 + 60_000
            };
            let e = Entry::new(Value::Str("v".into()), Some(deadline));
            ks.update(format!("v{i}").as_bytes(), 0, |_| (Op::Put(e.clone()), ()));
        }
        for i in 0..persistent {
            ks.update(format!("p{i}").as_bytes(), 0, |_| {
                (Op::Put(Entry::string("v")), ())
            });
        }
        db
    }

    #[test]
    fn effort_scales_the_cycle_as_redis_does() {
        let at = |effort| ExpiryConfig { hz: 10, effort };
        // ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP (20) + 20/4 per effort step,
        // SLOW_TIME_PERC (25%) + 2% per step of 1/hz, acceptable stale
        // 10% - 1% per step.
        assert_eq!((at(1).keys_per_loop(), at(10).keys_per_loop()), (20, 65));
        assert_eq!(at(1).budget(), Duration::from_millis(25));
        assert_eq!(at(10).budget(), Duration::from_millis(43));
        assert_eq!(
            (at(1).acceptable_stale(), at(10).acceptable_stale()),
            (10, 1)
        );
        assert_eq!(at(0).keys_per_loop(), 20, "effort is clamped to 1..=10");
        assert_eq!(at(99).keys_per_loop(), 65);
        // 3 of 20 is 15%: again; 2 of 20 is 10%: not more than acceptable.
        assert!(at(1).repeat(20, 3));
        assert!(!at(1).repeat(20, 2));
        assert!(at(10).repeat(20, 1), "5% > 1%");
        assert!(!at(10).repeat(200, 1), "0% (integer percent) is not");
        assert!(at(1).repeat(0, 0), "an empty sample goes round again");
    }

    /// The sweeper thread starts, reaps expired keys nobody reads (active
    /// expiry) and stops when asked.
    #[test]
    fn the_sweeper_reaps_expired_keys_nobody_reads() {
        let db = db_with(50, 1.0, 10);
        let sweeper = Sweeper::start(db.clone()).expect("the sweeper starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db.expired_keys() < 50 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        sweeper.stop();
        assert_eq!(db.expired_keys(), 50);
        assert_eq!(db.table()[0].len(), 10, "only the persistent keys are left");
    }

    #[test]
    fn a_cycle_keeps_going_while_many_sampled_keys_are_expired() {
        let db = db_with(2_000, 1.0, 100);
        let stats = run_cycle(
            &db,
            &mut CycleState::default(),
            ExpiryConfig { hz: 10, effort: 1 },
        );
        // Every sample was 100% expired, so the cycle repeats until the
        // index is empty (or the time budget runs out on a slow machine).
        assert!(stats.expired > 20, "{stats:?}");
        if !stats.timed_out {
            assert_eq!(stats.expired, 2_000);
            assert_eq!(db.table()[0].len(), 100, "persistent keys untouched");
        }
    }

    #[test]
    fn the_sweeper_reads_the_settings_last_set() {
        // CONFIG SET hz / active-expire-effort reach the next cycle.
        let db = db_with(0, 0.0, 0);
        assert_eq!(db.expiry_config(), ExpiryConfig { hz: 10, effort: 1 });
        let set = ExpiryConfig { hz: 250, effort: 7 };
        db.set_expiry_config(set);
        assert_eq!(db.expiry_config(), set);
    }

    #[test]
    fn a_cycle_stops_when_its_time_is_up() {
        // At hz 500 a cycle may take 0.5 ms: far less than expiring 50,000
        // keys takes, so it must stop with most of them still there.
        let db = db_with(50_000, 1.0, 0);
        let cfg = ExpiryConfig { hz: 500, effort: 1 };
        assert_eq!(cfg.budget(), Duration::from_micros(500));
        let stats = run_cycle(&db, &mut CycleState::default(), cfg);
        assert!(stats.timed_out, "{stats:?}");
        assert!(stats.expired < 50_000, "{stats:?}");
    }

    #[test]
    fn a_cycle_stops_early_when_few_keys_are_expired() {
        let db = db_with(5_000, 0.0, 0);
        let stats = run_cycle(
            &db,
            &mut CycleState::default(),
            ExpiryConfig { hz: 10, effort: 1 },
        );
        assert_eq!(stats.expired, 0);
        // One sample per database with nothing to reclaim: no full scan of
        // the 5000 volatile keys.
        assert!(stats.sampled < 5_000, "{stats:?}");
        assert_eq!(db.table()[0].len(), 5_000);
    }

    #[test]
    fn repeated_cycles_expire_everything_due_and_nothing_else() {
        let db = db_with(3_000, 0.1, 50);
        let mut state = CycleState::default();
        for _ in 0..200 {
            run_cycle(&db, &mut state, ExpiryConfig { hz: 10, effort: 10 });
        }
        let ks = &db.table()[0];
        assert_eq!(ks.len(), 2_700 + 50);
        assert_eq!(ks.expired_count(), 300);
        assert!(
            ks.avg_ttl() > 0 && ks.avg_ttl() <= 60_000,
            "avg_ttl {}",
            ks.avg_ttl()
        );
    }

    #[test]
    fn stale_index_entries_are_dropped() {
        let db = db_with(100, 0.0, 0);
        let ks = &db.table()[0];
        // Take the TTL away from half the keys behind the index's back, the
        // way PERSIST does, then let the sweeper find out.
        for i in 0..50 {
            ks.update(format!("v{i}").as_bytes(), T0, |cur| {
                (Op::Put(Entry::new(cur.unwrap().value.clone(), None)), ())
            });
        }
        assert_eq!(ks.volatile_len(), 50, "unindexed by the writer itself");
        let key = Bytes::from_static(b"v70");
        assert_eq!(ks.sweep_key(&key, T0), Swept::Live(60_000));
        assert_eq!(ks.sweep_key(b"nokey", T0), Swept::Stale);
    }

    #[test]
    fn a_cycle_over_a_database_without_ttls_ends_at_once() {
        let db = db_with(0, 0.0, 100);
        let stats = run_cycle(
            &db,
            &mut CycleState::default(),
            ExpiryConfig { hz: 10, effort: 1 },
        );
        assert_eq!(
            stats,
            CycleStats::default(),
            "nothing sampled, not timed out"
        );
    }

    #[test]
    fn the_sweeper_runs_hz_times_a_second() {
        let period = |hz| ExpiryConfig { hz, effort: 1 }.period();
        assert_eq!(period(10), Duration::from_millis(100));
        assert_eq!(period(500), Duration::from_millis(2));
        assert_eq!(
            period(0),
            Duration::from_secs(1),
            "hz is clamped to 1..=500"
        );
    }

    #[test]
    fn a_cycle_counts_every_index_entry_it_looked_at() {
        let db = db_with(100, 1.0, 0);
        let stats = run_cycle(
            &db,
            &mut CycleState::default(),
            ExpiryConfig { hz: 10, effort: 1 },
        );
        assert!(stats.expired > 0, "{stats:?}");
        assert!(stats.sampled >= stats.expired + stats.stale, "{stats:?}");
    }
}
