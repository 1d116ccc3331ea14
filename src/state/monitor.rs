//! MONITOR: clients that see every command the server runs, as one line
//! each in Redis's format: `+<unix>.<micros> [<db> <addr>] "arg" ...`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::RwLock;

use super::clients::ClientHandle;
use super::pubsub::Outbound;

/// The clients in MONITOR mode.
#[derive(Default)]
pub struct Monitors {
    clients: RwLock<Vec<Arc<ClientHandle>>>,
    count: AtomicUsize,
}

/// `arg` quoted as Redis's `sdscatrepr` does.
pub fn repr(out: &mut BytesMut, arg: &[u8]) {
    out.put_u8(b'"');
    for &c in arg {
        match c {
            b'\\' => out.put_slice(b"\\\\"),
            b'"' => out.put_slice(b"\\\""),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            b'\t' => out.put_slice(b"\\t"),
            7 => out.put_slice(b"\\a"),
            8 => out.put_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.put_u8(c),
            c => out.put_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.put_u8(b'"');
}

impl Monitors {
    /// Is anyone monitoring? (One load; checked before formatting.)
    #[inline]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// `client` starts monitoring.
    pub fn add(&self, client: &Arc<ClientHandle>) {
        let mut clients = self.clients.write();
        if !clients.iter().any(|c| c.id == client.id) {
            clients.push(client.clone());
            self.count.store(clients.len(), Ordering::Relaxed);
        }
    }

    /// `id` stops monitoring (RESET, disconnection).
    pub fn remove(&self, id: u64) {
        let mut clients = self.clients.write();
        clients.retain(|c| c.id != id);
        self.count.store(clients.len(), Ordering::Relaxed);
    }

    /// Send every monitor the line for `argv`, run by `addr` in `db` at
    /// `micros` since the epoch. `hard` is the output limit for monitors.
    pub fn feed(&self, micros: u64, db: usize, addr: &str, argv: &[Bytes], hard: u64) {
        let mut line =
            BytesMut::with_capacity(64 + argv.iter().map(|a| a.len() + 3).sum::<usize>());
        line.put_slice(
            format!(
                "+{}.{:06} [{db} {addr}]",
                micros / 1_000_000,
                micros % 1_000_000
            )
            .as_bytes(),
        );
        for a in argv {
            line.put_u8(b' ');
            repr(&mut line, a);
        }
        line.put_slice(b"\r\n");
        let item = Outbound {
            bytes: line.freeze(),
            push: false,
            resp3: None,
        };
        for c in self.clients.read().iter() {
            c.deliver(item.clone(), hard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_like_sdscatrepr() {
        let mut out = BytesMut::new();
        repr(&mut out, b"a b\n\x01\"\\");
        assert_eq!(&out[..], b"\"a b\\n\\x01\\\"\\\\\"");
    }
}
