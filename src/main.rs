//! The `flashkv` binary: parse the configuration, set up logging, bind,
//! pick the backend once, run until SIGINT, SIGTERM or SHUTDOWN.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use flashkv::config::{usage, Invocation};
use flashkv::server::{self, Options};
use flashkv::Config;
use tokio::net::TcpListener;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match Config::from_args(&args, read_stdin) {
        Ok(Invocation::Run(config)) => *config,
        Ok(Invocation::Help) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            println!(
                "FlashKV v={} (Redis {} compatible)",
                env!("CARGO_PKG_VERSION"),
                flashkv::REDIS_VERSION
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let config_file = args
        .first()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .unwrap_or_default();
    if let Err(e) = init_logging(&config) {
        eprintln!("{e:#}");
        return ExitCode::from(1);
    }
    tracing::info!("oO0OoO0OoO0Oo FlashKV is starting oO0OoO0OoO0Oo");
    match serve(config, config_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("{e:#}");
            ExitCode::from(1)
        }
    }
}

fn read_stdin() -> std::io::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s)
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.loglevel.filter()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // CONFIG SET loglevel changes the filter from then on.
    if config.logfile.is_empty() {
        // Colour only on a terminal: `flashkv > log` writes plain text.
        use std::io::IsTerminal;
        let builder = builder
            .with_ansi(std::io::stdout().is_terminal())
            .with_filter_reloading();
        let handle = builder.reload_handle();
        flashkv::state::on_log_level_change(move |level| {
            let _ = handle.reload(EnvFilter::new(level.filter()));
        });
        builder.init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.logfile)
            .with_context(|| format!("can't open the log file {}", config.logfile))?;
        let builder = builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .with_filter_reloading();
        let handle = builder.reload_handle();
        flashkv::state::on_log_level_change(move |level| {
            let _ = handle.reload(EnvFilter::new(level.filter()));
        });
        builder.init();
    }
    Ok(())
}

fn serve(config: Config, config_file: String) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listeners = bind_all(&config)?;
        // Redis's logo line, printed as Redis prints it: once the port
        // is bound (before the data is loaded). Tools that start a server
        // and then connect (Redis's own test harness among them) wait for
        // "PID: <pid>".
        let port = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map_or(config.port, |a| a.port());
        tracing::info!(
            "FlashKV {} (Redis {} compatible), {} bit, backend {}, Port: {port}, PID: {}",
            env!("CARGO_PKG_VERSION"),
            flashkv::REDIS_VERSION,
            usize::BITS,
            config.backend.name(),
            std::process::id()
        );
        let options = Options {
            config_file,
            load_at_start: true,
            ..Options::default()
        };
        let shutdown = shutdown_signal();
        // The one runtime choice of backend: every layer below is
        // monomorphized for it.
        flashkv::with_backend!(config.backend, S => run::<S>(listeners, config, options, shutdown).await)
    })
}

async fn run<S: flashkv::Store>(
    listeners: Vec<TcpListener>,
    config: Config,
    options: Options,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    server::run_with::<S>(listeners, config, options, shutdown).await?;
    Ok(())
}

fn bind_all(config: &Config) -> anyhow::Result<Vec<TcpListener>> {
    config
        .bind
        .iter()
        .map(|host| {
            let ip: IpAddr = host
                .parse()
                .with_context(|| format!("invalid bind address {host:?}"))?;
            let addr = SocketAddr::new(ip, config.port);
            // Redis's words, which scripts that retry on a busy port read.
            server::bind(addr, config.tcp_backlog).with_context(|| {
                format!(
                    "Failed listening on port {} (tcp), aborting: could not bind {addr}",
                    config.port
                )
            })
        })
        .collect()
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(cause = %e, "no SIGTERM handler; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        // A write past the file-size limit (RLIMIT_FSIZE) must fail with
        // EFBIG, which the append-only file handles like a full disk,
        // instead of killing the process: SIGXFSZ is caught and ignored.
        let _file_size_limit = signal(SignalKind::from_raw(25));
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                tracing::warn!("received SIGINT, scheduling shutdown...");
                server::note_signal(false);
            }
            _ = term.recv() => {
                tracing::warn!("received SIGTERM, scheduling shutdown...");
                server::note_signal(true);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
