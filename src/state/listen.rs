//! The listening sockets as CONFIG SET sees them: the port they are bound
//! to, and a way to move them to another port while the server runs
//! (Redis's `changeListenPort`).
//!
//! CONFIG SET port binds the new sockets first, on every address the
//! server listens on; if any bind fails, the ones made are closed and the
//! command fails with Redis's error, the old sockets untouched. Otherwise
//! the new sockets go to the server's listener task, which stops accepting
//! on the old ones (closing them) and accepts on the new ones. Connections
//! already open stay as they are.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU16, Ordering};

use parking_lot::Mutex;
use socket2::{Domain, Socket, Type};
use tokio::sync::mpsc::UnboundedSender;

/// Where a listener task takes new sockets from.
pub type Handover = UnboundedSender<Vec<TcpListener>>;

/// See the module documentation.
pub struct Listen {
    port: AtomicU16,
    /// The addresses listened on, and where new sockets go; absent for a
    /// state no listener task serves (tests of the command layer).
    task: Mutex<Option<(Vec<IpAddr>, Handover)>>,
}

impl Listen {
    /// Bound to `port`, not yet served by a listener task.
    pub fn new(port: u16) -> Self {
        Listen {
            port: AtomicU16::new(port),
            task: Mutex::new(None),
        }
    }

    /// The port the server listens on (INFO's `tcp_port`).
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// The listener task serves `ips` and takes new sockets from `to`.
    pub fn serve(&self, ips: Vec<IpAddr>, to: Handover) {
        *self.task.lock() = Some((ips, to));
    }

    /// Listen on `port` instead (0: a free port the system picks) with a
    /// queue of `backlog`: the port now listened on, or why not (the old
    /// sockets then keep serving).
    pub fn move_to(&self, port: u16, backlog: u32) -> io::Result<u16> {
        let task = self.task.lock();
        let Some((ips, to)) = task.as_ref() else {
            return Err(io::Error::other("the server is not listening"));
        };
        let mut bound = Vec::with_capacity(ips.len());
        for &ip in ips {
            // The first socket's port, when the system picked it, for the
            // others too.
            let port = bound
                .first()
                .map_or(Ok(port), |l: &TcpListener| l.local_addr().map(|a| a.port()))?;
            bound.push(bind(SocketAddr::new(ip, port), backlog)?);
        }
        let port = match bound.first() {
            Some(l) => l.local_addr()?.port(),
            None => port,
        };
        to.send(bound)
            .map_err(|_| io::Error::other("the server is shutting down"))?;
        self.port.store(port, Ordering::Relaxed);
        Ok(port)
    }
}

/// A listening socket on `addr` (`SO_REUSEADDR`, a queue of `backlog`),
/// non-blocking, for a listener task to adopt: the one way the server
/// binds, at start (`server::bind`) and on CONFIG SET port.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// An error as C's `strerror` words it (Rust adds " (os error N)").
pub fn strerror(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_binds_every_address_or_none() {
        let listen = Listen::new(0);
        assert!(listen.move_to(0, 16).is_err(), "no listener task yet");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        listen.serve(vec!["127.0.0.1".parse().unwrap()], tx);
        let port = listen.move_to(0, 16).unwrap();
        assert_ne!(port, 0);
        assert_eq!(listen.port(), port);
        let new = rx.try_recv().unwrap();
        assert_eq!(new[0].local_addr().unwrap().port(), port);
        // A port someone else holds: refused, nothing handed over, the
        // port unchanged.
        let e = listen.move_to(port, 16).unwrap_err();
        assert_eq!(strerror(&e), "Address already in use");
        assert!(rx.try_recv().is_err());
        assert_eq!(listen.port(), port);
    }
}
