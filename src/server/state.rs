//! `ServerState`: what every connection of one server shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, Guard};
use store_api::Store;
use tokio::sync::Notify;

use super::clients::{Registry, Session};
use crate::cmd::{meta::COMMANDS, CommandTable, ROWS};
use crate::config::Config;
use crate::db::Db;

/// Shared state of one running server.
pub struct ServerState<S: Store> {
    /// The databases.
    pub db: Db<S>,
    config: ArcSwap<Config>,
    /// Command lookup (with `rename-command` applied).
    pub commands: CommandTable,
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
    shutdown_requested: AtomicBool,
    shutdown: Notify,
}

impl<S: Store> ServerState<S> {
    /// State for a server with `config` over `db`, bound to `tcp_port`.
    pub fn new(config: Config, db: Db<S>, tcp_port: u16) -> Self {
        let commands = CommandTable::new(COMMANDS, &ROWS, &config.rename_commands);
        ServerState {
            db,
            config: ArcSwap::from_pointee(config),
            commands,
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
    pub fn config(&self) -> Guard<Arc<Config>> {
        self.config.load()
    }

    /// Install a new configuration (CONFIG SET) and apply its side effects.
    pub fn set_config(&self, config: Config) {
        self.db.set_expiry_config(config.expiry);
        self.config.store(Arc::new(config));
    }

    /// Does this session still have to authenticate?
    pub fn auth_required(&self, session: &Session) -> bool {
        !session.authenticated && !self.config.load().requirepass.is_empty()
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
