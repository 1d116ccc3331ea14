//! What every connection of one server shares, below the command layer.
//!
//! [`ServerState`] holds the databases, the configuration, the client
//! registry and the server's identity. It knows nothing of commands: the
//! command table is built by the server layer and handed to
//! `cmd::Executor` together with this state, so `cmd` depends on `state`
//! and never the other way round (see the dependency rule in `lib.rs`).

pub mod aof;
mod clients;
pub mod cluster;
pub mod listen;
pub mod migrate;
pub use crate::db::latency;
pub mod monitor;
pub mod persist;
pub mod pubsub;
pub mod rates;
pub mod replicas;
pub mod scripts;
pub mod slowlog;
pub mod stats;
pub mod tracking;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use store_api::Store;
use tokio::sync::Notify;

pub use clients::{
    Activity, ClientFlag, ClientHandle, Event, Memory, Registry, ReplyMode, Session,
};
pub use pubsub::PubSub;
pub use tracking::Tracking;

/// What CLIENT PAUSE holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Write commands (and those that may replicate, like PUBLISH).
    Write,
    /// Every command.
    All,
}

use crate::config::Config;
use crate::db::Db;

/// What changes the log level at runtime ([`on_log_level_change`]).
type LogLevelHook = Box<dyn Fn(crate::config::LogLevel) + Send + Sync>;
static LOG_LEVEL_HOOK: std::sync::OnceLock<LogLevelHook> = std::sync::OnceLock::new();

/// Change how much is logged when CONFIG SET changes `loglevel` (the
/// binary installs this once it has set its logger up; a server embedded
/// without one keeps its level).
pub fn on_log_level_change(hook: impl Fn(crate::config::LogLevel) + Send + Sync + 'static) {
    let _ = LOG_LEVEL_HOOK.set(Box::new(hook));
}

/// Shared state of one running server.
pub struct ServerState<S: Store> {
    /// The databases.
    pub db: Db<S>,
    config: ArcSwap<Config>,
    /// Bumped after every configuration change, so a connection can keep
    /// its own copy of the configuration and check it with one load.
    config_generation: AtomicU64,
    /// Connected clients.
    pub clients: Arc<Registry>,
    /// When the server started.
    pub started: Instant,
    /// Unix time (seconds) the server started.
    pub started_unix: u64,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE takes payloads without
    /// checking their CRC64 (Redis's test knob).
    pub skip_checksum: AtomicBool,
    /// Random 40-hex-digit id of this run (INFO run_id).
    pub run_id: String,
    /// The listening sockets: the port actually bound (differs from the
    /// config when it was 0), and CONFIG SET port.
    pub listen: listen::Listen,
    /// Path of the config file, if one was given (INFO config_file).
    pub config_file: String,
    /// Channels, patterns and their subscribers.
    pub pubsub: Arc<PubSub>,
    /// Command, error and keyspace statistics.
    pub stats: stats::Stats,
    /// SLOWLOG.
    pub slowlog: slowlog::SlowLog,
    /// MONITOR clients.
    pub monitors: monitor::Monitors,
    /// Replicas fed the replication stream.
    pub replicas: Arc<replicas::Replicas>,
    /// INFO's instantaneous rates.
    pub rates: rates::Rates,
    /// Client-side caching.
    pub tracking: Arc<Tracking>,
    /// CLIENT PAUSE.
    pause: Mutex<Option<(PauseMode, Instant)>>,
    /// A pause is (or may still be) on: the one load every command pays.
    paused: AtomicBool,
    /// RDB saves and loads.
    pub persist: Arc<persist::Persistence>,
    /// The append-only file.
    pub aof: Arc<aof::Aof>,
    /// The Lua VM, the script cache, and the running script.
    pub scripts: scripts::Scripts,
    /// Redis Cluster: slots, the other nodes, the bus's rules (inert
    /// unless `cluster-enabled yes`).
    pub cluster: cluster::Cluster,
    /// MIGRATE's kept connections to its targets.
    pub migrate: migrate::MigrateSockets,
    /// The largest memory figure INFO has seen (used_memory_peak).
    pub memory_peak: AtomicU64,
    /// Memory in use when the server started (used_memory_startup).
    pub memory_at_start: u64,
    shutdown_requested: AtomicBool,
    shutdown: Notify,
    /// DEBUG LOADAOF: the server layer's loader (it runs commands, which
    /// this layer cannot).
    aof_loader: std::sync::OnceLock<AofLoader>,
}

/// Replaces the data with what the append-only file holds.
pub type AofLoader = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

impl<S: Store> ServerState<S> {
    /// State for a server with `config` over `db`, bound to `tcp_port`.
    pub fn new(config: Config, db: Db<S>, tcp_port: u16) -> Self {
        // A thread about to wait for a journal lock gives back the VM it
        // keeps for its batch: the lock's holder may be a script waiting
        // for that VM.
        crate::db::journal::on_wait(scripts::release_kept);
        db.journal().set_timestamps(config.aof.timestamps);
        let pubsub = Arc::new(PubSub::default());
        let clients = Arc::new(Registry::default());
        let tracking = Arc::new(Tracking::default());
        {
            let (t, c) = (tracking.clone(), clients.clone());
            let (t1, c1) = (tracking.clone(), clients.clone());
            let (t2, c2) = (tracking.clone(), clients.clone());
            db.events().set_hooks(
                Box::new(move |key| t.modified(key, &c)),
                Box::new(move |key| t1.modified_by_server(key, &c1)),
                Box::new(move || t2.flushed(&c2)),
            );
        }
        pubsub.set_hard_limit(config.output_limits.pubsub.hard);
        db.events().set_classes(config.notify_keyspace_events);
        db.set_memory_config(config.memory);
        db.set_latency_threshold(config.latency_monitor_threshold);
        db.events().set_sink(pubsub::keyspace_sink(pubsub.clone()));
        ServerState {
            pubsub,
            stats: stats::Stats::default(),
            slowlog: slowlog::SlowLog::default(),
            monitors: monitor::Monitors::default(),
            replicas: Arc::default(),
            rates: rates::Rates::default(),
            tracking,
            pause: Mutex::new(None),
            paused: AtomicBool::new(false),
            persist: Arc::default(),
            aof: Arc::default(),
            scripts: scripts::Scripts::default(),
            cluster: cluster::Cluster::default(),
            migrate: migrate::MigrateSockets::default(),
            memory_peak: AtomicU64::new(0),
            memory_at_start: crate::db::evict::used_memory(),
            db,
            config: ArcSwap::from_pointee(config),
            config_generation: AtomicU64::new(0),
            clients,
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            skip_checksum: AtomicBool::new(false),
            run_id: random_name(),
            listen: listen::Listen::new(tcp_port),
            config_file: String::new(),
            shutdown_requested: AtomicBool::new(false),
            shutdown: Notify::new(),
            aof_loader: std::sync::OnceLock::new(),
        }
    }

    /// Install DEBUG LOADAOF's loader (the server does, once).
    pub fn set_aof_loader(&self, loader: AofLoader) {
        let _ = self.aof_loader.set(loader);
    }

    /// DEBUG LOADAOF: replace the data with what the append-only file
    /// holds (Err when it cannot be read, or no server installed a loader).
    pub fn load_aof(&self) -> Result<(), String> {
        match self.aof_loader.get() {
            Some(load) => load(),
            None => Err("no append only file loader".into()),
        }
    }

    /// The configuration as of now.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// A snapshot of the configuration that the caller refreshes cheaply
    /// with [`ConfigCache::get`].
    pub fn config_cache(&self) -> ConfigCache {
        let generation = self.config_generation.load(Ordering::Acquire);
        ConfigCache {
            generation,
            config: self.config(),
        }
    }

    /// Install a new configuration (CONFIG SET) and apply its side effects.
    pub fn set_config(&self, config: Config) {
        let before = self.config();
        if before.loglevel != config.loglevel {
            if let Some(hook) = LOG_LEVEL_HOOK.get() {
                hook(config.loglevel);
            }
        }
        self.db.set_expiry_config(config.expiry);
        self.db.set_memory_config(config.memory);
        self.db
            .set_latency_threshold(config.latency_monitor_threshold);
        self.aof.set_fsync(config.aof.fsync);
        self.db.journal().set_timestamps(config.aof.timestamps);
        let (was, is) = (before.aof.enabled, config.aof.enabled);
        self.pubsub.set_hard_limit(config.output_limits.pubsub.hard);
        self.db.events().set_classes(config.notify_keyspace_events);
        self.config.store(Arc::new(config));
        self.config_generation.fetch_add(1, Ordering::Release);
        // Redis's `startAppendOnly` / `stopAppendOnly`.
        let result = match (was, is) {
            (false, true) => self.aof.turn_on(&self.db, self.config()),
            (true, false) => self.aof.turn_off(&self.db),
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(cause = %e, "could not switch the append only file");
        }
    }

    /// The server's periodic chores (every 100 ms): renew the command
    /// clock's wall offset, sample the rates, take back idle clients'
    /// buffers, keep the tracking table under its limit.
    pub fn cron(&self) {
        crate::db::Clock::resync();
        if self.db.cron_paused() {
            return;
        }
        self.clients.trim_idle_buffers(self.db.now_ms());
        // A pause that ran out ends here even if no command arrives to
        // notice (Redis's cron checks it too): expiry resumes.
        let _ = self.paused_until(true);
        if self.db.loading().active() {
            // Nothing is saved, rewritten or sent to replicas from a
            // half-loaded dataset (Redis runs only `whileBlockedCron`).
            return;
        }
        let config = self.config();
        self.persist.cron(&self.db, &config);
        self.aof.cron(&self.db, &config);
        self.replicas.cron(&self.db, &config);
        self.tracking
            .limit(config.tracking_table_max_keys, &self.clients);
        self.migrate.close_idle(crate::util::unix_secs());
        let [input, output, _, _] = self.stats.net();
        self.rates
            .sample([self.clients.total_commands(), input, output]);
    }

    /// CLIENT PAUSE: hold back clients' commands (all, or writes) for
    /// `how_long`; a longer or stronger pause wins over the current one.
    pub fn pause(&self, mode: PauseMode, how_long: Duration) {
        let until = Instant::now() + how_long;
        let mut p = self.pause.lock();
        *p = Some(match *p {
            Some((m, u)) => (m.max(mode), u.max(until)),
            None => (mode, until),
        });
        self.paused.store(true, Ordering::Release);
        self.db.set_paused(true);
    }

    /// CLIENT UNPAUSE (or the pause ran out): release everyone waiting.
    pub fn unpause(&self) {
        *self.pause.lock() = None;
        self.paused.store(false, Ordering::Release);
        self.db.set_paused(false);
        self.clients.signal_all(Event::Wake);
    }

    /// Must a command (a write, or not) wait for a pause? Until when.
    /// (Inlined: every request asks, and the answer is almost always one
    /// load.)
    #[inline]
    pub fn paused_until(&self, write: bool) -> Option<Instant> {
        if !self.paused.load(Ordering::Acquire) {
            return None;
        }
        self.pause_in_force(write)
    }

    fn pause_in_force(&self, write: bool) -> Option<Instant> {
        let p = *self.pause.lock();
        match p {
            Some((_, until)) if until <= Instant::now() => {
                self.unpause();
                None
            }
            Some((PauseMode::All, until)) => Some(until),
            Some((PauseMode::Write, until)) if write => Some(until),
            _ => None,
        }
    }

    /// `client` tracks keys in `mode` (CLIENT TRACKING on).
    pub fn tracking_on(&self, client: &Arc<ClientHandle>, mode: tracking::Mode) {
        self.tracking.enable(client, mode);
        self.db.events().set_tracking(self.tracking.active());
    }

    /// Client `id` stops tracking.
    pub fn tracking_off(&self, id: u64) {
        self.tracking.disable(id);
        self.db.events().set_tracking(self.tracking.active());
    }

    /// Does this session still have to authenticate?
    pub fn auth_required(&self, session: &Session, config: &Config) -> bool {
        !session.authenticated && !config.requirepass.is_empty()
    }

    /// Ask the server to shut down (SHUTDOWN). Returns false if a shutdown
    /// was already requested.
    pub fn request_shutdown(&self) -> bool {
        let first = !self.shutdown_requested.swap(true, Ordering::AcqRel);
        self.shutdown.notify_one();
        first
    }

    /// Resolves once [`request_shutdown`](Self::request_shutdown) was called.
    pub async fn shutdown_requested(&self) {
        while !self.shutdown_requested.load(Ordering::Acquire) {
            self.shutdown.notified().await;
        }
    }
}

/// A connection's own copy of the configuration: one atomic load per use
/// to see whether CONFIG SET changed it (instead of an `ArcSwap` load, which
/// costs about a hundred instructions).
#[derive(Debug)]
pub struct ConfigCache {
    generation: u64,
    config: Arc<Config>,
}

impl ConfigCache {
    /// The current configuration, refreshed if it changed.
    #[inline]
    pub fn get<S: Store>(&mut self, state: &ServerState<S>) -> &Arc<Config> {
        let now = state.config_generation.load(Ordering::Acquire);
        if now != self.generation {
            self.generation = now;
            self.config = state.config();
        }
        &self.config
    }

    /// The copy as last refreshed.
    pub fn current(&self) -> &Arc<Config> {
        &self.config
    }
}

/// 40 hex digits from the process's randomly seeded hasher and the clock:
/// run ids and cluster node names.
pub(crate) fn random_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(40);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for i in 0..3u64 {
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(i);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}
