//! Accepting connections: maxclients, protected mode, TCP options, and
//! back-off when accept fails (for example when out of file descriptors).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use store_api::Store;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tracing::{debug, info, warn};

use super::connection;
use super::shutdown::Shutdown;
use super::ServerState;

/// The reply Redis sends a client over `maxclients`.
const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";
/// The reply Redis 7.0 sends a non-loopback client in protected mode.
const DENIED_REPLY: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
/// Longest pause between accept attempts after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// File descriptors Redis keeps for itself (`CONFIG_MIN_RESERVED_FDS`).
const RESERVED_FDS: u64 = 32;

/// Bind a listening socket with the configured backlog.
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// The soft limit on open files, from /proc (None where unknown).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `maxclients`, lowered to what the file-descriptor limit allows, as
/// Redis does at start-up.
pub fn effective_maxclients(configured: usize) -> usize {
    match open_files_limit() {
        Some(limit) if (limit.saturating_sub(RESERVED_FDS) as usize) < configured => {
            let lowered = limit.saturating_sub(RESERVED_FDS).max(1) as usize;
            warn!(
                configured,
                lowered, "maxclients lowered to fit the open-files limit (ulimit -n)"
            );
            lowered
        }
        _ => configured,
    }
}

/// Accept until shutdown, serving each connection on its own task.
pub async fn accept_loop<S: Store>(
    state: Arc<ServerState<S>>,
    listener: TcpListener,
    mut shutdown: Shutdown,
    fd_cap: usize,
) {
    let mut backoff = Duration::from_millis(1);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(1);
                admit(&state, stream, peer, &shutdown, fd_cap);
            }
            Err(e) => {
                warn!(cause = %e, ?backoff, "accept failed; backing off");
                tokio::select! {
                    _ = shutdown.recv() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Refuse the connection with `reply`, best effort and without waiting.
fn refuse(stream: TcpStream, reply: &'static [u8]) {
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(reply)).await;
    });
}

fn admit<S: Store>(
    state: &Arc<ServerState<S>>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: &Shutdown,
    fd_cap: usize,
) {
    let config = state.config();
    if config.protected_mode && config.requirepass.is_empty() && !peer.ip().is_loopback() {
        info!(%peer, "refused by protected mode");
        return refuse(stream, DENIED_REPLY);
    }
    let laddr = stream.local_addr().unwrap_or(peer);
    let fd = raw_fd(&stream);
    let Some(handle) = state
        .clients
        .register(peer, laddr, fd, config.maxclients.min(fd_cap))
    else {
        warn!(%peer, "max number of clients reached");
        return refuse(stream, MAX_CLIENTS_REPLY);
    };
    if let Err(e) = configure(&stream, config.tcp_keepalive) {
        debug!(cause = %e, "could not set socket options");
    }
    debug!(%peer, id = handle.id, "accepted");
    tokio::spawn(connection::serve(
        state.clone(),
        stream,
        handle,
        shutdown.clone(),
    ));
}

#[cfg(unix)]
fn raw_fd(stream: &TcpStream) -> i64 {
    use std::os::fd::AsRawFd;
    i64::from(stream.as_raw_fd())
}

#[cfg(not(unix))]
fn raw_fd(_: &TcpStream) -> i64 {
    -1
}

/// TCP_NODELAY (replies go out at once) and keepalive, as Redis sets them.
fn configure(stream: &TcpStream, keepalive_secs: u64) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    if keepalive_secs > 0 {
        let idle = Duration::from_secs(keepalive_secs);
        let ka = socket2::TcpKeepalive::new().with_time(idle);
        #[cfg(target_os = "linux")]
        let ka = ka
            .with_interval(Duration::from_secs((keepalive_secs / 3).max(1)))
            .with_retries(3);
        socket2::SockRef::from(stream).set_tcp_keepalive(&ka)?;
    }
    Ok(())
}
