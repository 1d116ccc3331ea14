//! The database layer: numbered keyspaces over a `Store`, with Redis's TTL
//! rules, multi-key atomicity and whole-database operations.
//!
//! [`Db`] is a cheap handle shared by every connection. It holds the table
//! of numbered [`Keyspace`]s behind one atomically swapped pointer: a
//! command loads the table once and uses what it loaded, FLUSHDB and
//! FLUSHALL install fresh empty keyspaces, and SWAPDB installs a table with
//! two entries exchanged. Each of those is one pointer swap, so no client
//! ever sees half of one, and no command takes a lock to find its database.
//! A command still running on a keyspace that was just replaced finishes on
//! it and is ordered before the swap. The memory of a flushed keyspace is
//! freed when its last user lets go (on a background thread for ASYNC).
//!
//! [`DbGuard`] owns the active-expiry sweeper (see [`expiry`]); dropping it
//! stops the sweeper.

mod access;
pub mod blocking;
mod clock;
pub mod events;
pub mod evict;
pub mod expiry;
pub mod journal;
mod keyspace;
pub mod latency;
pub mod loading;
mod locks;
pub mod rdb;
mod rewrite;
mod slotkeys;
pub mod snapshot;
pub mod ttl;
mod volatile;
pub mod watch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use store_api::Store;

pub use access::{Access, Lookups};
pub use clock::{Clock, Tick};
pub use events::KeyEvents;
pub use evict::{Eviction, EvictionPolicy, MemoryConfig};
pub use expiry::ExpiryConfig;
pub use keyspace::{Keyspace, Slot, Swept, Touch};
pub use locks::{ExclusiveGuard, KeyLocks, KeysGuard, ScriptGuard, LONG_WAIT, STRIPES};

/// The numbered databases at one instant.
pub type Table<S> = Vec<Arc<Keyspace<S>>>;

/// Faults a test can plant in the databases to prove its checks bite. None
/// is on unless an embedding program (a test) asks through
/// `server::Options`; the configuration cannot turn them on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every read-modify-write runs as a separate read and write (a yield
    /// between them), and changes in place take the key's stripe shared
    /// instead of exclusively: check-then-act, which race tests must catch.
    pub split_updates: bool,
    /// EXEC runs its commands without locking their stripes, so other
    /// clients can see (and interleave with) half a transaction.
    pub unlocked_exec: bool,
    /// Scripts lock nothing: other clients can see (and interleave with)
    /// half a script.
    pub unlocked_script: bool,
    /// EXEC checks its WATCHes, yields, then locks (check-then-act): a
    /// write in between goes unnoticed.
    pub watch_before_lock: bool,
    /// Writers do not keep what a running snapshot has not visited yet,
    /// so a snapshot mixes instants.
    pub snapshot_no_capture: bool,
    /// The journal takes its order lock only to append, after a command
    /// ran: concurrent writers can be logged in another order than they
    /// were applied, which the append-only file's replay tests must catch.
    pub journal_unordered: bool,
    /// MIGRATE reads its keys without holding their stripes and deletes
    /// them a moment later: a write in between is lost with the key.
    pub unlocked_migrate: bool,
    /// A full sync takes its snapshot, yields, then attaches the replica's
    /// stream: a write in between reaches the replica in neither.
    pub replica_gap: bool,
}

struct Shared<S> {
    table: ArcSwap<Table<S>>,
    faults: Faults,
    events: Arc<KeyEvents>,
    /// Bumped after every change of `table`, so a connection can keep the
    /// table it last loaded and check it with one load ([`TableCache`]).
    generation: AtomicU64,
    clock: Clock,
    /// Read by the sweeper at the start of every cycle.
    expiry: Mutex<ExpiryConfig>,
    /// DEBUG SET-ACTIVE-EXPIRE: false stops the sweeper's expiry cycles.
    active_expire: std::sync::atomic::AtomicBool,
    /// DEBUG PAUSE-CRON: the periodic chores (expiry cycles included) stop.
    cron_paused: std::sync::atomic::AtomicBool,
    /// A snapshot is running (one at a time).
    snapshotting: std::sync::atomic::AtomicBool,
    /// The running snapshot is to stop (Redis kills its child): its
    /// writer gives up at the next key (`snapshot::cancelled`).
    snapshot_cancelled: std::sync::atomic::AtomicBool,
    /// An append-only file is being replayed: time stands still at 0, so
    /// nothing expires before its logged `DEL` (Redis expires nothing
    /// while loading).
    replaying: std::sync::atomic::AtomicBool,
    /// The load at start, while it runs.
    loading: loading::Loading,
    /// maxmemory and eviction.
    evictor: evict::Evictor,
    /// Function libraries' code: what the scripting layer has loaded
    /// (snapshots write it), and what an RDB file brought that scripting
    /// has not taken yet.
    functions: Mutex<Functions>,
    /// Database 0 keeps the keys of each hash slot (cluster mode).
    slot_index: std::sync::atomic::AtomicBool,
    /// LATENCY's events: the server's and those of the chores here.
    latency: latency::LatencyMonitor,
    /// `latency-monitor-threshold`, ms (0: off).
    latency_threshold: AtomicU64,
}

/// Function library code as the dataset carries it.
#[derive(Default)]
struct Functions {
    current: Vec<bytes::Bytes>,
    loaded: Option<Vec<bytes::Bytes>>,
}

/// A handle to every database of one server.
pub struct Db<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for Db<S> {
    fn clone(&self) -> Self {
        Db {
            shared: self.shared.clone(),
        }
    }
}

fn fresh_table<S: Store>(n: usize, faults: Faults, events: &Arc<KeyEvents>) -> Table<S> {
    (0..n)
        .map(|i| Arc::new(Keyspace::new(faults, events.clone(), i)))
        .collect()
}

impl<S: Store> Db<S> {
    /// An empty database number `index`, with this server's settings.
    fn fresh_keyspace(&self, index: usize) -> Arc<Keyspace<S>> {
        let ks = Keyspace::new(self.shared.faults, self.shared.events.clone(), index);
        // Cluster mode uses database 0 only (SELECT and SWAPDB are
        // refused), so only it keeps the keys of each hash slot.
        let by_slot = index == 0 && self.shared.slot_index.load(Ordering::Relaxed);
        Arc::new(if by_slot { ks.with_slot_index() } else { ks })
    }

    fn fresh_databases(&self) -> Table<S> {
        (0..self.count()).map(|i| self.fresh_keyspace(i)).collect()
    }

    /// Keep the keys of each hash slot from now on (cluster mode), for
    /// CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT. Called at start, before
    /// anything is loaded: the databases are replaced by empty ones.
    pub fn index_slots(&self) {
        self.shared.slot_index.store(true, Ordering::Relaxed);
        debug_assert!(self.shared.table.load().iter().all(|ks| ks.is_empty()));
        self.shared.table.store(Arc::new(self.fresh_databases()));
        self.changed();
    }
}

impl<S: Store> Db<S> {
    /// `databases` empty databases reading time from `clock`.
    pub fn new(databases: usize, clock: Clock, expiry: ExpiryConfig) -> Self {
        Self::with_faults(databases, clock, expiry, Faults::default())
    }

    /// [`new`](Self::new) with planted `faults` (tests only).
    pub fn with_faults(
        databases: usize,
        clock: Clock,
        expiry: ExpiryConfig,
        faults: Faults,
    ) -> Self {
        let events = Arc::new(KeyEvents::default());
        events.journal().set_unordered(faults.journal_unordered);
        Db {
            shared: Arc::new(Shared {
                table: ArcSwap::from_pointee(fresh_table(databases.max(1), faults, &events)),
                faults,
                events,
                generation: AtomicU64::new(0),
                clock,
                expiry: Mutex::new(expiry),
                active_expire: std::sync::atomic::AtomicBool::new(true),
                cron_paused: std::sync::atomic::AtomicBool::new(false),
                snapshotting: std::sync::atomic::AtomicBool::new(false),
                snapshot_cancelled: std::sync::atomic::AtomicBool::new(false),
                replaying: std::sync::atomic::AtomicBool::new(false),
                loading: loading::Loading::default(),
                evictor: evict::Evictor::default(),
                latency: latency::LatencyMonitor::default(),
                latency_threshold: AtomicU64::new(0),
                functions: Mutex::default(),
                slot_index: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// Active-expiry settings.
    pub fn expiry_config(&self) -> ExpiryConfig {
        *self.shared.expiry.lock()
    }

    /// Turn active expiry off or on (DEBUG SET-ACTIVE-EXPIRE; Redis's
    /// tests use it to watch lazy expiry alone). Eviction goes on.
    pub fn set_active_expire(&self, on: bool) {
        self.shared.active_expire.store(on, Ordering::Relaxed);
    }

    /// Does the sweeper expire keys?
    pub fn active_expire(&self) -> bool {
        self.shared.active_expire.load(Ordering::Relaxed) && !self.cron_paused()
    }

    /// DEBUG PAUSE-CRON: stop the periodic chores (Redis's `serverCron`,
    /// whose expiry cycles stop with it) or let them go on.
    pub fn set_cron_paused(&self, paused: bool) {
        self.shared.cron_paused.store(paused, Ordering::Relaxed);
    }

    /// Are the periodic chores stopped (DEBUG PAUSE-CRON)?
    pub fn cron_paused(&self) -> bool {
        self.shared.cron_paused.load(Ordering::Relaxed)
    }

    /// Hold expiry back (CLIENT PAUSE), the sweeper's and the deletions
    /// of keys reads find expired, or let it go on.
    pub fn set_paused(&self, paused: bool) {
        self.shared.events.set_expiry_paused(paused);
    }

    /// Is active expiry held back?
    pub fn is_paused(&self) -> bool {
        self.shared.events.expiry_paused()
    }

    /// The latency monitor (LATENCY LATEST, HISTORY...).
    pub fn latency(&self) -> &latency::LatencyMonitor {
        &self.shared.latency
    }

    /// Set `latency-monitor-threshold` (ms; 0 turns the monitor off).
    pub fn set_latency_threshold(&self, ms: u64) {
        self.shared.latency_threshold.store(ms, Ordering::Relaxed);
    }

    /// Record that `event` took `ms`, if the monitor is on and that is at
    /// least its threshold (Redis's `latencyAddSampleIfNeeded`).
    pub fn latency_sample(&self, event: &'static str, ms: u64) {
        let threshold = self.shared.latency_threshold.load(Ordering::Relaxed);
        if threshold > 0 && ms >= threshold {
            self.shared.latency.add(event, crate::util::unix_secs(), ms);
        }
    }

    /// Change the active-expiry settings from the next cycle on.
    pub fn set_expiry_config(&self, cfg: ExpiryConfig) {
        *self.shared.expiry.lock() = cfg;
    }

    /// Keys deleted because they expired (lazily or actively), summed over
    /// the current databases.
    pub fn expired_keys(&self) -> u64 {
        self.table().iter().map(|ks| ks.expired_count()).sum()
    }

    /// Where keyspace events go (`notify-keyspace-events`).
    pub fn events(&self) -> &Arc<KeyEvents> {
        &self.shared.events
    }

    /// The clock TTLs are measured against.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Milliseconds since the Unix epoch, now.
    pub fn now_ms(&self) -> u64 {
        if self.shared.replaying.load(Ordering::Relaxed) {
            return 0;
        }
        self.shared.clock.now_ms()
    }

    /// [`now_ms`](Self::now_ms) at `at`, a monotonic reading taken moments
    /// ago (see [`Clock::ms_at`]).
    pub fn ms_at(&self, at: Tick) -> u64 {
        if self.shared.replaying.load(Ordering::Relaxed) {
            return 0;
        }
        self.shared.clock.ms_at(at)
    }

    /// Replaying an append-only file (see `now_ms`), or done.
    pub fn set_replaying(&self, on: bool) {
        self.shared.replaying.store(on, Ordering::Release);
    }

    /// The faults planted in this server (tests only; none otherwise).
    pub fn faults(&self) -> Faults {
        self.shared.faults
    }

    /// The load at start (`-LOADING`, INFO's `loading_*` fields).
    pub fn loading(&self) -> &loading::Loading {
        &self.shared.loading
    }

    /// The write journal (the append-only file's order).
    pub fn journal(&self) -> &journal::Journal {
        self.shared.events.journal()
    }

    /// Number of databases.
    pub fn count(&self) -> usize {
        self.table().len()
    }

    /// The table of databases as of now; hold it for one command.
    pub fn table(&self) -> Arc<Table<S>> {
        self.shared.table.load_full()
    }

    /// The table as of now, in a cache its holder refreshes with one load.
    pub fn table_cache(&self) -> TableCache<S> {
        TableCache {
            generation: self.shared.generation.load(Ordering::Acquire),
            table: self.table(),
        }
    }

    fn changed(&self) {
        self.shared.generation.fetch_add(1, Ordering::Release);
    }

    /// Changes to the data since start (every key written, deleted or
    /// expired; a flush counts the keys it removed).
    pub fn changes(&self) -> u64 {
        self.shared.events.changes().total()
    }

    /// Replace database `index` with an empty one; returns the old one so
    /// the caller decides where its memory is freed. Its watchers hear
    /// about every key it held, and move to the new one (watches belong
    /// to the database number).
    pub fn flush(&self, index: usize) -> Option<Arc<Keyspace<S>>> {
        let fresh = self.fresh_keyspace(index);
        let mut old = None;
        self.shared.table.rcu(|t| {
            let mut t = Table::clone(t);
            old = t
                .get_mut(index)
                .map(|slot| std::mem::replace(slot, fresh.clone()));
            t
        });
        self.changed();
        self.shared.events.flushed();
        if let Some(old) = &old {
            self.shared.events.whole_db_changed(old.len() as u64);
            old.replaced_by(None, 0);
            old.watches().swap(fresh.watches());
        }
        old
    }

    /// Replace every database with an empty one; returns the old table.
    pub fn flush_all(&self) -> Arc<Table<S>> {
        let fresh = Arc::new(self.fresh_databases());
        let old = self.shared.table.swap(fresh.clone());
        self.changed();
        self.shared.events.flushed();
        for (old, new) in old.iter().zip(fresh.iter()) {
            self.shared.events.whole_db_changed(old.len() as u64);
            old.replaced_by(None, 0);
            old.watches().swap(new.watches());
        }
        old
    }

    /// Exchange databases `a` and `b` (both must exist), under every
    /// stripe of both so that no write lands between the watchers hearing
    /// of it and the exchange.
    pub fn swap(&self, a: usize, b: usize, now: u64) {
        let t = self.table();
        let (x, y) = (&t[a], &t[b]);
        let _held = KeyLocks::lock_every([x.locks(), y.locks()]);
        self.swap_held(a, b, now);
    }

    /// [`swap`](Self::swap) for a transaction that holds every stripe.
    pub fn swap_held(&self, a: usize, b: usize, now: u64) {
        let mut pair = None;
        self.shared.table.rcu(|t| {
            let mut t = Table::clone(t);
            t.swap(a, b);
            pair = Some((t[a].clone(), t[b].clone()));
            t
        });
        self.changed();
        self.shared.events.whole_db_changed(0);
        if let Some((new_a, new_b)) = pair {
            new_a.set_index(a);
            new_b.set_index(b);
            // `new_b` was database `a`: its watchers see `new_a`'s keys.
            new_b.replaced_by(Some(&new_a), now);
            new_a.replaced_by(Some(&new_b), now);
            new_a.watches().swap(new_b.watches());
            // Blocked clients stay with their database number too (the
            // caller serves those whose keys now exist).
            new_a.blocked().swap(new_b.blocked());
        }
    }
}

/// A connection's copy of the table of databases, refreshed with one
/// atomic load per command instead of an `ArcSwap` load. A command that
/// starts before a FLUSHDB or SWAPDB finishes on the table it loaded and
/// is ordered before the swap, as with a direct load.
pub struct TableCache<S> {
    generation: u64,
    table: Arc<Table<S>>,
}

impl<S: Store> TableCache<S> {
    /// The current table, refreshed if it changed.
    #[inline]
    pub fn get(&mut self, db: &Db<S>) -> &Arc<Table<S>> {
        let now = db.shared.generation.load(Ordering::Acquire);
        if now != self.generation {
            self.generation = now;
            self.table = db.table();
        }
        &self.table
    }
}

/// Drop `garbage` on a background thread (FLUSHDB ASYNC, FLUSHALL ASYNC).
pub fn drop_in_background<T: Send + 'static>(garbage: T) {
    let spawned = std::thread::Builder::new()
        .name("flashkv-lazyfree".into())
        .spawn(move || drop(garbage));
    if let Err(e) = spawned {
        tracing::warn!(cause = %e, "could not start a thread to free memory; freeing inline");
    }
}

/// Owns the [`Db`] for a server and its expiry sweeper; dropping it stops
/// the sweeper (and waits for its current cycle).
pub struct DbGuard<S: Store> {
    db: Db<S>,
    sweeper: Option<expiry::Sweeper>,
}

impl<S: Store> DbGuard<S> {
    /// Create the databases and start the sweeper (unless `expiry.hz` is 0,
    /// which tests use to run expiry cycles by hand).
    pub fn new(databases: usize, clock: Clock, expiry: ExpiryConfig, faults: Faults) -> Self {
        let db = Db::with_faults(databases, clock, expiry, faults);
        let sweeper = (expiry.hz > 0)
            .then(|| expiry::Sweeper::start(db.clone()))
            .flatten();
        DbGuard { db, sweeper }
    }

    /// The shared handle.
    pub fn db(&self) -> &Db<S> {
        &self.db
    }
}

impl<S: Store> Drop for DbGuard<S> {
    fn drop(&mut self) {
        if let Some(s) = self.sweeper.take() {
            s.stop();
        }
    }
}

impl<S> Db<S> {
    /// The libraries the scripting layer now has (written into snapshots).
    pub fn set_function_codes(&self, codes: Vec<bytes::Bytes>) {
        self.shared.functions.lock().current = codes;
    }

    /// The libraries' code as of now.
    pub fn function_codes(&self) -> Vec<bytes::Bytes> {
        self.shared.functions.lock().current.clone()
    }

    /// Libraries an RDB load brought, for the scripting layer to install
    /// (once).
    pub fn take_loaded_functions(&self) -> Option<Vec<bytes::Bytes>> {
        self.shared.functions.lock().loaded.take()
    }
}

#[cfg(test)]
mod tests;
