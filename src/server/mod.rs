//! The network front end: listener, connections, shutdown.
//!
//! [`run`] binds nothing itself: it takes listeners the caller bound (so
//! tests bind port 0), serves them until the `shutdown` future resolves or a
//! client sends SHUTDOWN, then stops accepting, lets every connection finish
//! its current batch and flush its replies, stops the expiry sweeper, and
//! returns.

mod buffers;
mod bus;
mod connection;
mod listener;
mod replay;
mod shutdown;
mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use store_api::Store;
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use connection::{INPUT_PAUSE, OUTPUT_PAUSE};
pub use listener::{bind, effective_maxclients};
pub use shutdown::{Coordinator, Shutdown};

use crate::cmd::Executor;
use crate::config::Config;
use crate::db::{Clock, DbGuard};
use crate::state::aof::Files;
use crate::state::ServerState;

/// Options beyond the configuration: what embedding programs and tests
/// inject.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The clock TTLs are measured against.
    pub clock: Clock,
    /// Path of the config file, for INFO.
    pub config_file: String,
    /// Planted faults, for tests that must show their checks catch them.
    pub faults: crate::db::Faults,
    /// Load `dir/dbfilename` at start, as redis-server does (the binary
    /// sets this; embedding programs and tests opt in).
    pub load_at_start: bool,
    /// Told when the server is ready (the dataset loaded: "Ready to accept
    /// connections"), for programs that must not talk to it before.
    pub ready: Option<std::sync::mpsc::SyncSender<()>>,
}

/// Serve `listeners` with `config` on backend `S` until `shutdown`
/// resolves or a client asks for it.
pub async fn run<S: Store>(
    listeners: Vec<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run_with::<S>(listeners, config, Options::default(), shutdown).await
}

/// The signal that asked for the shutdown (none yet, SIGINT, SIGTERM):
/// the binary notes it ([`note_signal`]) before its shutdown future
/// resolves, so `shutdown-on-sigint` or `-sigterm` applies.
static SIGNAL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
const SIGINT: u8 = 1;
const SIGTERM: u8 = 2;

/// Note that SIGTERM (`true`) or SIGINT asked for the shutdown.
pub fn note_signal(sigterm: bool) {
    SIGNAL.store(if sigterm { SIGTERM } else { SIGINT }, Ordering::Relaxed);
}

/// [`run`] with injected [`Options`].
pub async fn run_with<S: Store>(
    listeners: Vec<TcpListener>,
    config: Config,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let port = listeners
        .first()
        .map(TcpListener::local_addr)
        .transpose()?
        .map_or(config.port, |a| a.port());
    let fd_cap = effective_maxclients(config.maxclients);
    // Like Redis, report the lowered value (CONFIG GET maxclients).
    let mut config = config;
    config.maxclients = config.maxclients.min(fd_cap);
    // CONFIG GET port tells the port actually bound (asked for as 0).
    config.port = port;
    let guard = DbGuard::<S>::new(
        config.databases,
        options.clock,
        config.expiry,
        options.faults,
    );
    let bus_addr = listeners.first().map(TcpListener::local_addr).transpose()?;
    let mut state = ServerState::new(config, guard.db().clone(), port);
    state.config_file = options.config_file;
    // Cluster mode: the node's view of the cluster from its file, and the
    // bus port bound before any client is served.
    // (Errors returned here are logged once, by the caller.)
    state.cluster = crate::state::cluster::Cluster::open(&state.config(), port)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if state.cluster.enabled {
        // Before anything is loaded: database 0 keeps its keys by slot.
        guard.db().index_slots();
    }
    let bus_listener = match (state.cluster.enabled, bus_addr) {
        (true, Some(addr)) => {
            let config = state.config();
            let addr = SocketAddr::new(addr.ip(), config.cluster_bus_port(port));
            Some(listener::bind(addr, config.tcp_backlog).map_err(|e| {
                std::io::Error::other(format!("could not bind the cluster bus port {addr}: {e}"))
            })?)
        }
        _ => None,
    };
    let aof_files = if state.config().aof.enabled {
        // With the AOF on, it alone is loaded (as in Redis).
        let config = state.config();
        Some(
            state
                .aof
                .files_at_start(&config)
                .map_err(std::io::Error::other)?,
        )
    } else {
        None
    };
    // What the start loads (Redis's `loadDataFromDisk`): the AOF alone
    // when it is on, else the RDB file if there is one.
    let rdb_path = state.config().rdb_path();
    let rdb_len = match (&aof_files, options.load_at_start) {
        (None, true) => match std::fs::metadata(&rdb_path) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                info!(path = %rdb_path.display(), "no RDB file to load");
                None
            }
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "could not load {}: {e}",
                    rdb_path.display()
                )));
            }
        },
        _ => None,
    };
    let exec = Arc::new(Executor::with_all_commands(Arc::new(state)));
    let state = exec.state.clone();
    let weak = Arc::downgrade(&exec);
    state.set_aof_loader(Box::new(move || match weak.upgrade() {
        Some(exec) => replay::reload(&exec),
        None => Err("the server is gone".into()),
    }));
    let total = match &aof_files {
        Some(files) => files.total_bytes(),
        None => rdb_len,
    };
    if let (Some(Files::Fresh), None) = (&aof_files, total) {
        // No AOF yet: nothing to load, the first one is created now.
        state.aof.open_at_start(&state.db, &state.config())?;
    }
    if let Some(total) = total {
        // Clients are served while it loads: `-LOADING` to all but the
        // commands flagged `loading` (INFO, CONFIG, SHUTDOWN...).
        state.db.loading().start(total);
    }
    let pidfile = state.config().pidfile.clone();
    if !pidfile.is_empty() {
        // Best effort, as Redis's `createPidFile`.
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            tracing::warn!(path = %pidfile, cause = %e, "could not write the pid file");
        }
    }
    let coordinator = Coordinator::new(state.clone());
    let workers = Arc::new(workers::Workers::start(workers::count(
        state.config().worker_threads,
    ))?);
    // Accept on the listeners until CONFIG SET port hands over new ones
    // (`state::listen`): then on those, and the old ones close.
    let (to_listen, mut new_listeners) = tokio::sync::mpsc::unbounded_channel();
    let ips = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.ip());
    state.listen.serve(ips.collect(), to_listen);
    let mut stop = coordinator.subscribe();
    let workers_n = workers.len();
    let first: Vec<_> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let accept = {
        let (exec, workers, stop) = (exec.clone(), workers.clone(), stop.clone());
        move |l: TcpListener| {
            tokio::spawn(listener::accept_loop(
                exec.clone(),
                workers.clone(),
                l,
                stop.clone(),
                fd_cap,
            ))
        }
    };
    let mut accepting: Vec<_> = listeners.into_iter().map(&accept).collect();
    tokio::spawn(async move {
        loop {
            // Ends at shutdown, with the handle it holds (the server
            // waits for every handle to go).
            let next = tokio::select! {
                _ = stop.recv() => return,
                next = new_listeners.recv() => next,
            };
            let Some(next) = next else { return };
            for task in accepting.drain(..) {
                task.abort();
            }
            for l in next {
                match TcpListener::from_std(l) {
                    Ok(l) => {
                        if let Ok(addr) = l.local_addr() {
                            log_ready::<S>(addr, workers_n);
                        }
                        accepting.push(accept(l));
                    }
                    Err(e) => tracing::warn!(cause = %e, "could not listen on the new port"),
                }
            }
        }
    });
    // The load, on a thread of its own while the workers answer.
    tokio::pin!(shutdown);
    let mut by_signal = None;
    if total.is_some() {
        let loader = tokio::task::spawn_blocking({
            let exec = exec.clone();
            move || load_dataset(&exec, aof_files)
        });
        tokio::pin!(loader);
        let loaded = tokio::select! {
            r = &mut loader => r,
            _ = &mut shutdown => {
                warn!("Received shutdown signal during loading, scheduling shutdown.");
                by_signal = Some(true);
                state.db.loading().cancel();
                loader.await
            }
            _ = state.shutdown_requested() => {
                by_signal = Some(false);
                state.db.loading().cancel();
                loader.await
            }
        };
        state.db.loading().finish();
        let failed = match loaded {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(e) => Some(format!("the loader failed: {e}")),
        };
        if let Some(e) = failed.filter(|_| by_signal.is_none()) {
            stop_serving(&state, coordinator, &workers).await;
            return Err(std::io::Error::other(e));
        }
    }
    if by_signal.is_some() {
        // Nothing half-loaded is ever saved (Redis exits without saving
        // when asked to during a load).
        stop_serving(&state, coordinator, &workers).await;
        drop(guard);
        remove_pidfile(&pidfile);
        return Ok(());
    }
    for &addr in &first {
        log_ready::<S>(addr, workers_n);
    }
    if let Some(ready) = options.ready {
        let _ = ready.try_send(());
    }
    let bus = bus_listener.map(|l| tokio::spawn(bus::run(exec.clone(), l)));
    let cron = tokio::spawn({
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
            loop {
                tick.tick().await;
                state.cron();
            }
        }
    });
    let by_signal = tokio::select! {
        _ = &mut shutdown => {
            info!("shutdown signal received");
            true
        }
        _ = state.shutdown_requested() => {
            info!("SHUTDOWN requested by a client");
            false
        }
    };
    // A signal: save as Redis does before exiting, as `shutdown-on-sigint`
    // / `-sigterm` say (SAVE, NOSAVE, FORCE). If that fails, Redis
    // refuses to exit (acknowledged writes would be lost) unless FORCE:
    // keep serving until a client's SHUTDOWN (NOSAVE, or a save that
    // works) ends it.
    loop {
        let config = state.config();
        let flags = match (by_signal, SIGNAL.load(Ordering::Relaxed)) {
            (true, SIGINT) => config.shutdown_on_sigint,
            (true, SIGTERM) => config.shutdown_on_sigterm,
            _ => 0,
        };
        let saved = state.persist.save_on_exit(&state.db, &config, flags);
        match saved {
            Ok(()) => break,
            Err(e) if flags & crate::config::SHUTDOWN_FORCE != 0 => {
                tracing::error!(cause = ?e, "Error trying to save the DB, exiting anyway (FORCE).");
                break;
            }
            Err(e) => {
                tracing::error!(cause = ?e, "Error trying to save the DB, can't exit.");
                state.shutdown_requested().await;
                if state.persist.shutdown_handled() {
                    break;
                }
            }
        }
    }
    cron.abort();
    if let Some(bus) = bus {
        bus.abort();
    }
    state.cluster.save_if_dirty();
    stop_serving(&state, coordinator, &workers).await;
    drop(guard);
    remove_pidfile(&pidfile);
    Ok(())
}

/// Load the dataset at start: the append-only file's `files` when the AOF
/// is on (then open it for writing), else the RDB file.
fn load_dataset<S: Store>(exec: &Executor<S>, aof_files: Option<Files>) -> Result<(), String> {
    let state = &exec.state;
    let config = state.config();
    let Some(files) = aof_files else {
        let path = config.rdb_path();
        // (A missing file was logged and skipped before the load began.)
        return match state.persist.load_at_start(&state.db, &config) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("could not load {}: {e}", path.display())),
        };
    };
    replay::load(exec, files)?;
    state
        .aof
        .open_at_start(&state.db, &config)
        .map_err(|e| e.to_string())
}

/// Stop accepting, end every connection, bring what the AOF holds to
/// the disk, and let the worker threads go (every way the server ends).
async fn stop_serving<S: Store>(
    state: &ServerState<S>,
    coordinator: Coordinator<S>,
    workers: &workers::Workers,
) {
    coordinator.shutdown().await;
    state.aof.wait();
    state.aof.stop_syncer();
    if state.db.journal().file_on() {
        if let Err(e) = state.db.journal().disable() {
            tracing::error!(cause = %e, "Error writing the append only file at shutdown");
        }
    }
    // Every connection has ended.
    workers.stop().await;
}

fn log_ready<S: Store>(addr: SocketAddr, workers: usize) {
    info!(%addr, backend = S::NAME, workers, "Ready to accept connections");
}

fn remove_pidfile(pidfile: &str) {
    if !pidfile.is_empty() {
        info!("Removing the pid file.");
        let _ = std::fs::remove_file(pidfile);
    }
    info!("FlashKV is now ready to exit, bye bye...");
}
