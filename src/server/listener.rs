//! Accepting connections: maxclients, protected mode, TCP options, and
//! back-off when accept fails (for example when out of file descriptors).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use store_api::Store;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use super::connection;
use super::shutdown::Shutdown;
use super::workers::Workers;
use crate::cmd::Executor;

/// The reply Redis sends a client over `maxclients`.
const MAX_CLIENTS_REPLY: &[u8] = b"-ERR max number of clients reached\r\n";
/// The reply Redis 7.0 sends a non-loopback client in protected mode.
const DENIED_REPLY: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
/// Longest pause between accept attempts after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// File descriptors Redis keeps for itself (`CONFIG_MIN_RESERVED_FDS`).
const RESERVED_FDS: u64 = 32;

/// Bind a listening socket with the configured backlog (as CONFIG SET
/// port binds its new ones: `state::listen::bind`).
pub fn bind(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    TcpListener::from_std(crate::state::listen::bind(addr, backlog)?)
}

/// What the open-files limit allows, as Redis's `adjustOpenFilesLimit`
/// decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FdBudget {
    /// The soft limit already covers `maxclients` + reserve.
    Enough,
    /// The soft limit was raised to this many descriptors.
    Raised { from: u64, to: u64 },
    /// Only this many descriptors could be had: `maxclients` must shrink.
    Short { limit: u64 },
}

/// Make room for `wanted` descriptors given limits `(soft, hard)`, using
/// `set(soft, hard)` to change them. Like Redis: ask for exactly what is
/// needed (raising the hard limit too, which only a privileged process
/// may), and failing that, go as far as the hard limit allows.
fn plan_fds(
    (soft, hard): (u64, u64),
    wanted: u64,
    mut set: impl FnMut(u64, u64) -> bool,
) -> FdBudget {
    if soft >= wanted {
        return FdBudget::Enough;
    }
    if set(wanted, hard.max(wanted)) {
        return FdBudget::Raised {
            from: soft,
            to: wanted,
        };
    }
    if hard > soft && set(hard, hard) {
        return FdBudget::Short { limit: hard };
    }
    FdBudget::Short { limit: soft }
}

/// `maxclients`, after trying to raise the open-files limit to fit it, and
/// lowered to what that limit allows (minus descriptors kept for the
/// server itself), as Redis does at start-up.
pub fn effective_maxclients(configured: usize) -> usize {
    use rlimit::{getrlimit, setrlimit, Resource};
    let wanted = (configured as u64).saturating_add(RESERVED_FDS);
    let Ok(limits) = getrlimit(Resource::NOFILE) else {
        // Redis assumes 1024 when it cannot read the limit.
        warn!("unable to obtain the current NOFILE limit, assuming 1024");
        return configured.min((1024 - RESERVED_FDS) as usize);
    };
    let plan = plan_fds(limits, wanted, |soft, hard| {
        setrlimit(Resource::NOFILE, soft, hard).is_ok()
    });
    maxclients_for(configured, plan)
}

fn maxclients_for(configured: usize, plan: FdBudget) -> usize {
    match plan {
        FdBudget::Enough => configured,
        FdBudget::Raised { from, to } => {
            info!(
                "increased maximum number of open files to {to} (it was originally set to {from})"
            );
            configured
        }
        FdBudget::Short { limit } => {
            let lowered = usize::try_from(limit.saturating_sub(RESERVED_FDS))
                .unwrap_or(usize::MAX)
                .clamp(1, configured);
            warn!(
                configured,
                lowered,
                open_files = limit,
                "maxclients has been reduced to compensate for low ulimit; if you need higher maxclients increase 'ulimit -n'"
            );
            lowered
        }
    }
}

/// Is `ip` one that protected mode lets in? Redis 7.0 compares the peer's
/// address text with exactly `127.0.0.1` and `::1` (so 127.0.0.2 is
/// refused); an IPv4 client of a dual-stack IPv6 listener counts as its
/// IPv4 address.
fn is_local(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4 == Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// Accept until shutdown, serving each connection on its own task.
pub async fn accept_loop<S: Store>(
    exec: Arc<Executor<S>>,
    workers: Arc<Workers>,
    listener: TcpListener,
    mut shutdown: Shutdown,
    fd_cap: usize,
) {
    let mut backoff = Duration::from_millis(1);
    // Bound to one address, every accepted socket's local address is the
    // listener's: no getsockname per connection (Redis makes none either).
    // Bound to a wildcard, each connection asks.
    let bound = listener
        .local_addr()
        .ok()
        .filter(|a| !a.ip().is_unspecified());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(1);
                admit(&exec, &workers, stream, peer, bound, &shutdown, fd_cap);
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
    exec: &Arc<Executor<S>>,
    workers: &Workers,
    stream: TcpStream,
    peer: SocketAddr,
    bound: Option<SocketAddr>,
    shutdown: &Shutdown,
    fd_cap: usize,
) {
    let state = &exec.state;
    let config = state.config();
    if config.protected_mode && config.requirepass.is_empty() && !is_local(peer.ip()) {
        info!(%peer, "refused by protected mode");
        return refuse(stream, DENIED_REPLY);
    }
    let laddr = bound.unwrap_or_else(|| stream.local_addr().unwrap_or(peer));
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
    // The socket moves to a worker's event loop: deregistered here,
    // registered there.
    let stream = match stream.into_std() {
        Ok(s) => s,
        Err(e) => {
            debug!(cause = %e, "could not hand the connection to a worker");
            state.clients.unregister(handle.id);
            return;
        }
    };
    let (exec, shutdown) = (exec.clone(), shutdown.clone());
    workers.spawn(async move {
        match TcpStream::from_std(stream) {
            Ok(stream) => connection::serve(exec, stream, handle, shutdown).await,
            Err(e) => {
                debug!(cause = %e, "could not register the connection");
                exec.state.clients.unregister(handle.id);
            }
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `setrlimit`: succeeds when the new hard limit does not exceed
    /// `ceiling` (an unprivileged process's hard limit).
    fn limited(ceiling: u64) -> impl FnMut(u64, u64) -> bool {
        move |soft, hard| soft <= hard && hard <= ceiling
    }

    #[test]
    fn enough_descriptors_change_nothing() {
        assert_eq!(
            plan_fds((20_000, 20_000), 10_032, limited(0)),
            FdBudget::Enough
        );
        assert_eq!(maxclients_for(10_000, FdBudget::Enough), 10_000);
    }

    #[test]
    fn the_soft_limit_is_raised_when_the_hard_limit_allows() {
        let plan = plan_fds((1024, 1_048_576), 10_032, limited(1_048_576));
        assert_eq!(
            plan,
            FdBudget::Raised {
                from: 1024,
                to: 10_032
            }
        );
        assert_eq!(maxclients_for(10_000, plan), 10_000);
        // A privileged process may raise the hard limit too.
        let plan = plan_fds((64, 64), 132, limited(u64::MAX));
        assert_eq!(plan, FdBudget::Raised { from: 64, to: 132 });
    }

    #[test]
    fn maxclients_shrinks_to_the_limit_minus_the_reserve() {
        let plan = plan_fds((64, 64), 10_032, limited(64));
        assert_eq!(plan, FdBudget::Short { limit: 64 });
        assert_eq!(maxclients_for(10_000, plan), 32);
        // Up to the hard limit, then short.
        let plan = plan_fds((1024, 4096), 10_032, limited(4096));
        assert_eq!(plan, FdBudget::Short { limit: 4096 });
        assert_eq!(maxclients_for(10_000, plan), 4064);
        // Nothing can be changed at all.
        let plan = plan_fds((100, 100), 10_032, |_, _| false);
        assert_eq!(maxclients_for(10_000, plan), 68);
        // Never below one client.
        assert_eq!(maxclients_for(10, FdBudget::Short { limit: 8 }), 1);
    }

    #[test]
    fn protected_mode_trusts_exactly_the_loopback_addresses_redis_does() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(is_local(ip("127.0.0.1")));
        assert!(is_local(ip("::1")));
        assert!(is_local(ip("::ffff:127.0.0.1")));
        assert!(!is_local(ip("127.0.0.2")));
        assert!(!is_local(ip("192.0.2.1")));
        assert!(!is_local(ip("::ffff:192.0.2.1")));
    }
}
