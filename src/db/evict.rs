//! maxmemory: the access clock every key carries, and eviction (Redis's
//! `evict.c`).
//!
//! # The access clock
//! Every entry carries 32 bits ([`store_api::Access`]) that mean what
//! Redis's 24 `lru` bits of an object mean: under an LRU (or any non-LFU)
//! policy, the LRU clock (seconds, 24 bits, wrapping) of its last access;
//! under an LFU policy, the minute of its last decrement (16 bits) above a
//! logarithmic access counter (8 bits, starting at 5). A lookup that is
//! not `NOTOUCH` updates it through the shared reference the map hands
//! out: one relaxed load, and a store only when the value changes (once a
//! second per key under LRU, rarely under LFU), so a hot key read by every
//! thread does not bounce its cache line.
//!
//! # Eviction (`performEvictions`)
//! Before a command runs, and in the background every sweeper cycle, the
//! memory in use ([`used_memory`]: the allocator's exact count) is
//! compared with `maxmemory`. While over it, a victim is chosen and
//! deleted: for the LRU, LFU and TTL policies, `maxmemory-samples` keys of
//! every database (all keys, or only those with a TTL for `volatile-*`)
//! are scored (idle time, 255 minus the decayed counter, or how soon the
//! key expires) into a pool of the 16 best candidates that persists
//! between calls, and the best candidate still present is evicted; the
//! random policies take a random key. After 16 victims the loop checks
//! its time budget (`maxmemory-eviction-tenacity`) and, if spent, lets
//! the command run and leaves the rest to the background.
//!
//! # Concurrency
//! One evictor at a time: the pool's mutex. A writer that finds memory
//! over the limit waits for it, then evicts itself until memory is under
//! the limit or its time budget is spent; then it goes ahead, as Redis
//! lets a command through while eviction is still in progress
//! (`EVICT_RUNNING`). Only a command that finds memory over the limit
//! with nothing left to evict is refused. No other lock is taken: a victim is deleted through
//! [`Keyspace::evict`], under its key's stripe like any write, so a
//! command in the middle of changing that key finishes first, and no other
//! key is touched.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use store_api::{Access, Entry, Store};

use super::Db;
use crate::util::{rand, sys};

/// `LRU_CLOCK_MAX`: the LRU clock has 24 bits.
const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// `LFU_INIT_VAL`: a new key's counter, so it is not evicted at once.
const LFU_INIT_VAL: u32 = 5;
/// `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Refuse writes over the limit.
    #[default]
    NoEviction,
    /// Least recently used, any key.
    AllKeysLru,
    /// Least frequently used, any key.
    AllKeysLfu,
    /// Any key at random.
    AllKeysRandom,
    /// Least recently used among keys with a TTL.
    VolatileLru,
    /// Least frequently used among keys with a TTL.
    VolatileLfu,
    /// A key with a TTL at random.
    VolatileRandom,
    /// The key with the nearest deadline.
    VolatileTtl,
}

impl EvictionPolicy {
    /// Every policy with Redis's name.
    pub const ALL: [(&'static str, EvictionPolicy); 8] = [
        ("volatile-lru", EvictionPolicy::VolatileLru),
        ("volatile-lfu", EvictionPolicy::VolatileLfu),
        ("volatile-random", EvictionPolicy::VolatileRandom),
        ("volatile-ttl", EvictionPolicy::VolatileTtl),
        ("allkeys-lru", EvictionPolicy::AllKeysLru),
        ("allkeys-lfu", EvictionPolicy::AllKeysLfu),
        ("allkeys-random", EvictionPolicy::AllKeysRandom),
        ("noeviction", EvictionPolicy::NoEviction),
    ];

    /// Redis's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("noeviction", |(n, _)| n)
    }

    /// The policy named `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<EvictionPolicy> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, p)| *p)
    }

    /// Does the access clock count frequency (`MAXMEMORY_FLAG_LFU`)?
    pub fn is_lfu(self) -> bool {
        matches!(self, Self::AllKeysLfu | Self::VolatileLfu)
    }

    fn volatile_only(self) -> bool {
        matches!(
            self,
            Self::VolatileLru | Self::VolatileLfu | Self::VolatileRandom | Self::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, Self::AllKeysRandom | Self::VolatileRandom)
    }
}

/// `maxmemory` and the directives of eviction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Bytes; 0: no limit.
    pub maxmemory: u64,
    /// `maxmemory-policy`.
    pub policy: EvictionPolicy,
    /// `maxmemory-samples` (1..=64).
    pub samples: usize,
    /// `maxmemory-eviction-tenacity` (0..=100).
    pub tenacity: u32,
    /// `lfu-log-factor`.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`, minutes.
    pub lfu_decay_time: u32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            maxmemory: 0,
            policy: EvictionPolicy::NoEviction,
            samples: 5,
            tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }
}

impl MemoryConfig {
    /// `evictionTimeLimitUs`: how long one call may evict.
    pub fn time_limit(&self) -> Duration {
        let us = match self.tenacity {
            t @ 0..=10 => 50 * u64::from(t),
            t @ 11..=99 => (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
            _ => u64::MAX,
        };
        Duration::from_micros(us)
    }
}

/// Memory in use, as INFO's `used_memory` and maxmemory see it: the
/// allocator's exact count, or the resident set where no counting
/// allocator is installed (fuzz builds).
pub fn used_memory() -> u64 {
    if flashkv_alloc::active() {
        flashkv_alloc::used()
    } else {
        sys::resident_bytes()
    }
}

/// How lookups update the access clock (shared by every database of a
/// server; follows `maxmemory-policy` and the LFU directives).
#[derive(Default)]
pub struct ClockPolicy {
    lfu: AtomicBool,
    log_factor: AtomicU32,
    decay_minutes: AtomicU32,
}

fn lru_clock(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32 & LRU_CLOCK_MAX
}

fn lfu_minutes(now_ms: u64) -> u32 {
    (now_ms / 60_000) as u32 & 0xffff
}

impl ClockPolicy {
    pub(super) fn set(&self, cfg: &MemoryConfig) {
        self.lfu.store(cfg.policy.is_lfu(), Ordering::Relaxed);
        self.log_factor.store(cfg.lfu_log_factor, Ordering::Relaxed);
        self.decay_minutes
            .store(cfg.lfu_decay_time, Ordering::Relaxed);
    }

    /// Is the clock an LFU counter?
    pub fn is_lfu(&self) -> bool {
        self.lfu.load(Ordering::Relaxed)
    }

    /// The clock of a key created at `now_ms` (`createObject`).
    pub fn fresh(&self, now_ms: u64) -> u32 {
        if self.is_lfu() {
            (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
        } else {
            lru_clock(now_ms)
        }
    }

    /// The clock after an access at `now_ms` to a key whose clock was
    /// `old` (`updateLFU`, or the LRU clock).
    pub fn accessed(&self, old: u32, now_ms: u64) -> u32 {
        if !self.is_lfu() {
            return lru_clock(now_ms);
        }
        let counter = self.decayed(old, now_ms);
        (lfu_minutes(now_ms) << 8) | log_incr(counter, self.log_factor.load(Ordering::Relaxed))
    }

    /// Record an access (`lookupKey` without `LOOKUP_NOTOUCH`).
    pub fn touch(&self, access: &Access, now_ms: u64) {
        let old = access.get();
        let new = self.accessed(old, now_ms);
        if new != old {
            access.set(new);
        }
    }

    /// The LFU counter after decay (`LFUDecrAndReturn`): OBJECT FREQ.
    pub fn decayed(&self, clock: u32, now_ms: u64) -> u32 {
        let (ldt, counter) = (clock >> 8 & 0xffff, clock & 0xff);
        let now = lfu_minutes(now_ms);
        let elapsed = if now >= ldt {
            now - ldt
        } else {
            0xffff - ldt + now
        };
        let periods = elapsed
            .checked_div(self.decay_minutes.load(Ordering::Relaxed))
            .unwrap_or(0);
        counter.saturating_sub(periods)
    }
}

/// `LFULogIncr`: count an access with probability 1 / ((c - 5) * factor + 1).
fn log_incr(counter: u32, factor: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(factor) + 1.0);
    let r = (rand::next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// The access clock RESTORE gives a key (`objectSetLRUOrLFU`): under an
/// LFU policy the counter `freq` (with the current minute), otherwise the
/// LRU clock `idle` seconds ago; `None` (the usual fresh clock) when the
/// option for the policy in force was not given.
pub fn restored_clock(lfu: bool, freq: Option<u8>, idle: Option<u64>, now_ms: u64) -> Option<u32> {
    if lfu {
        return freq.map(|f| (lfu_minutes(now_ms) << 8) | u32::from(f));
    }
    let idle = idle?;
    let now = i64::from(lru_clock(now_ms));
    let mut at = now - (idle.min(i64::MAX as u64) as i64);
    if at < 0 {
        // The clock wraps: an idle time from before the wrap.
        at = at.rem_euclid(i64::from(LRU_CLOCK_MAX));
    }
    Some(at as u32)
}

/// Idle time in milliseconds for an LRU clock (`estimateObjectIdleTime`).
pub fn idle_ms(clock: u32, now_ms: u64) -> u64 {
    let now = lru_clock(now_ms);
    let ticks = if now >= clock {
        now - clock
    } else {
        now + (LRU_CLOCK_MAX - clock)
    };
    u64::from(ticks) * 1000
}

/// What a command may do after [`Db::perform_evictions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Under the limit (or no limit).
    Ok,
    /// Over the limit, but eviction is under way (here or elsewhere).
    Running,
    /// Over the limit with nothing (more) to evict: deny-oom commands are
    /// refused.
    Fail,
}

struct Candidate {
    idle: u64,
    db: usize,
    key: Bytes,
}

/// Eviction's state in a server.
#[derive(Default)]
pub struct Evictor {
    config: Mutex<MemoryConfig>,
    maxmemory: AtomicU64,
    pool: Mutex<Vec<Candidate>>,
    next_db: AtomicUsize,
    evicted: AtomicU64,
}

impl Evictor {
    /// Apply new settings.
    fn set_config(&self, cfg: MemoryConfig) {
        self.maxmemory.store(cfg.maxmemory, Ordering::Relaxed);
        *self.config.lock() = cfg;
    }

    /// The current settings.
    pub fn config(&self) -> MemoryConfig {
        *self.config.lock()
    }

    /// Keys evicted since the server started (INFO's `evicted_keys`).
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

impl<S: Store> Db<S> {
    /// Evict until memory is under `maxmemory` or `limit` has passed
    /// (`performEvictions`; see the module docs).
    pub fn perform_evictions(&self, limit: Option<Duration>) -> Eviction {
        let ev = &self.shared.evictor;
        let max = ev.maxmemory.load(Ordering::Relaxed);
        if max == 0 || used_memory() <= max {
            return Eviction::Ok;
        }
        let cfg = ev.config();
        if cfg.policy == EvictionPolicy::NoEviction {
            return Eviction::Fail;
        }
        // Writers over the limit queue here: each goes on once memory is
        // under the limit again or its own time budget ran out, so writes
        // cannot outrun eviction on another thread.
        let mut pool = ev.pool.lock();
        let (start, limit) = (Instant::now(), limit.unwrap_or_else(|| cfg.time_limit()));
        let outcome = self.evict_until_under(&mut pool, &cfg, max, start, limit);
        // Redis's LATENCY event for the whole eviction pass.
        self.latency_sample("eviction-cycle", start.elapsed().as_millis() as u64);
        outcome
    }

    /// Evict until memory is under `max`, or no key can go (`Fail`), or
    /// `limit` has passed since `start` (`Running`).
    fn evict_until_under(
        &self,
        pool: &mut Vec<Candidate>,
        cfg: &MemoryConfig,
        max: u64,
        start: Instant,
        limit: Duration,
    ) -> Eviction {
        let ev = &self.shared.evictor;
        let mut victims = 0u64;
        let mut dbs = Vec::new();
        while used_memory() > max {
            let now = self.now_ms();
            if victims % 64 == 0 {
                // Which databases hold keys the policy may take (counting
                // is the costly part of a step, so it is redone rarely).
                dbs = self.evictable_dbs(cfg);
            }
            let Some((db, key)) = self.pick(pool, cfg, &dbs, now) else {
                return Eviction::Fail;
            };
            if let Some(ks) = self.table().get(db) {
                if ks.evict(&key, now) {
                    ev.evicted.fetch_add(1, Ordering::Relaxed);
                    victims += 1;
                }
            }
            if victims % 16 == 0 && start.elapsed() > limit {
                return Eviction::Running;
            }
        }
        Eviction::Ok
    }

    /// The next victim, or `None` when no database has a key the policy
    /// may evict.
    fn pick(
        &self,
        pool: &mut Vec<Candidate>,
        cfg: &MemoryConfig,
        dbs: &[usize],
        now: u64,
    ) -> Option<(usize, Bytes)> {
        let table = self.table();
        let volatile = cfg.policy.volatile_only();
        if dbs.is_empty() {
            return None;
        }
        if cfg.policy.random() {
            let ev = &self.shared.evictor;
            for _ in 0..dbs.len() {
                let db = dbs[ev.next_db.fetch_add(1, Ordering::Relaxed) % dbs.len()];
                if db >= table.len() {
                    continue;
                }
                for _ in 0..8 {
                    if let Some((key, _)) = table[db].sample_key(volatile, rand::next_u64()) {
                        return Some((db, key));
                    }
                }
            }
            return None;
        }
        for _attempt in 0..4 {
            let mut any = false;
            for &db in dbs {
                let Some(ks) = table.get(db) else {
                    continue;
                };
                any = true;
                for _ in 0..cfg.samples.max(1) {
                    let Some((key, e)) = ks.sample_key(volatile, rand::next_u64()) else {
                        continue;
                    };
                    let idle = self.score(&e, cfg, now);
                    offer(pool, Candidate { idle, db, key });
                }
            }
            if !any {
                return None;
            }
            while let Some(c) = pool.pop() {
                let present = table
                    .get(c.db)
                    .is_some_and(|ks| ks.holds_evictable(&c.key, volatile));
                if present {
                    return Some((c.db, c.key));
                }
            }
        }
        None
    }

    /// The databases that hold keys `cfg`'s policy may evict.
    fn evictable_dbs(&self, cfg: &MemoryConfig) -> Vec<usize> {
        let volatile = cfg.policy.volatile_only();
        self.table()
            .iter()
            .enumerate()
            .filter(|(_, ks)| {
                if volatile {
                    ks.has_volatile_keys()
                } else {
                    !ks.is_empty()
                }
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Higher is a better victim (`evictionPoolPopulate`'s `idle`).
    fn score(&self, e: &Entry, cfg: &MemoryConfig, now: u64) -> u64 {
        if e.is_expired(now) {
            return u64::MAX;
        }
        let clock = e.access().get();
        match cfg.policy {
            EvictionPolicy::VolatileTtl => u64::MAX - e.expires_at().unwrap_or(u64::MAX),
            p if p.is_lfu() => {
                let counter = self.shared.events.access_clock().decayed(clock, now);
                255 - u64::from(counter)
            }
            _ => idle_ms(clock, now),
        }
    }

    /// Eviction's state (settings, counters).
    pub fn evictor(&self) -> &Evictor {
        &self.shared.evictor
    }

    /// Apply `maxmemory` and the eviction directives.
    pub fn set_memory_config(&self, cfg: MemoryConfig) {
        self.shared.events.access_clock().set(&cfg);
        self.shared.evictor.set_config(cfg);
    }
}

/// Put `c` into the pool (kept sorted by ascending score, at most
/// [`POOL_SIZE`]) unless it scores below every candidate of a full pool.
fn offer(pool: &mut Vec<Candidate>, c: Candidate) {
    if pool.iter().any(|p| p.db == c.db && p.key == c.key) {
        return;
    }
    let at = pool.partition_point(|p| p.idle < c.idle);
    if pool.len() >= POOL_SIZE {
        if at == 0 {
            return;
        }
        pool.remove(0);
        pool.insert(at - 1, c);
    } else {
        pool.insert(at, c);
    }
}

#[cfg(test)]
mod tests;
