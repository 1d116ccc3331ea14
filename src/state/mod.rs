//! What every connection of one server shares, below the command layer.
//!
//! [`ServerState`] holds the databases, the configuration, the client
//! registry and the server's identity. It knows nothing of commands: the
//! command table is built by the server layer and handed to
//! `cmd::Executor` together with this state, so `cmd` depends on `state`
//! and never the other way round (see the dependency rule in `lib.rs`).

mod clients;
pub mod pubsub;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use store_api::Store;
use tokio::sync::Notify;

pub use clients::{Activity, ClientHandle, Event, Registry, Session};
pub use pubsub::PubSub;

use crate::config::Config;
use crate::db::Db;

/// Shared state of one running server.
pub struct ServerState<S: Store> {
    /// The databases.
    pub db: Db<S>,
    config: ArcSwap<Config>,
    /// Bumped after every configuration change, so a connection can keep
    /// its own copy of the configuration and check it with one load.
    config_generation: AtomicU64,
    /// Connected clients.
    pub clients: Registry,
    /// When the server started.
    pub started: Instant,
    /// Unix time (seconds) the server started.
    pub started_unix: u64,
    /// Random 40-hex-digit id of this run (INFO run_id).
    pub run_id: String,
    /// The port actually bound (differs from the config when it was 0).
    pub tcp_port: u16,
    /// Path of the config file, if one was given (INFO config_file).
    pub config_file: String,
    /// Channels, patterns and their subscribers.
    pub pubsub: Arc<PubSub>,
    shutdown_requested: AtomicBool,
    shutdown: Notify,
}

impl<S: Store> ServerState<S> {
    /// State for a server with `config` over `db`, bound to `tcp_port`.
    pub fn new(config: Config, db: Db<S>, tcp_port: u16) -> Self {
        let pubsub = Arc::new(PubSub::default());
        pubsub.set_hard_limit(config.output_limits.pubsub.hard);
        db.events().set_classes(config.notify_keyspace_events);
        db.events().set_sink(pubsub::keyspace_sink(pubsub.clone()));
        ServerState {
            pubsub,
            db,
            config: ArcSwap::from_pointee(config),
            config_generation: AtomicU64::new(0),
            clients: Registry::default(),
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            run_id: random_run_id(),
            tcp_port,
            config_file: String::new(),
            shutdown_requested: AtomicBool::new(false),
            shutdown: Notify::new(),
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
        self.db.set_expiry_config(config.expiry);
        self.pubsub.set_hard_limit(config.output_limits.pubsub.hard);
        self.db.events().set_classes(config.notify_keyspace_events);
        self.config.store(Arc::new(config));
        self.config_generation.fetch_add(1, Ordering::Release);
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

/// 40 hex digits from the process's randomly seeded hasher and the clock.
fn random_run_id() -> String {
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
