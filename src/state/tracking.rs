//! Client-side caching (CLIENT TRACKING): remember which clients read
//! which keys, and tell them when a key changes.
//!
//! Two modes, as in Redis's `tracking.c`:
//!
//! - default: after a read-only command, its keys are remembered for the
//!   client (OPTIN: only after CLIENT CACHING yes; OPTOUT: unless CLIENT
//!   CACHING no); the first change to such a key sends each remembering
//!   client one invalidation and forgets them;
//! - BCAST: the client names key prefixes; every change to a matching key
//!   is sent, batched per command.
//!
//! Invalidations go to the client itself as a RESP3 push, or to the
//! client named by REDIRECT (as a push in RESP3, as a message on
//! `__redis__:invalidate` to a RESP2 subscriber). A redirect target that
//! is gone earns the tracking client a `tracking-redir-broken` push.
//! FLUSHDB and FLUSHALL send every tracking client a null invalidation.
//!
//! The keyspace calls [`Tracking::modified`] for every change (the same
//! place WATCH hears of it); when no client tracks anything that costs one
//! atomic load.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::{Mutex, RwLock};

use super::clients::{ClientHandle, Registry};
use super::pubsub::{send, Outbound};

/// The channel RESP2 redirect targets subscribe to.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// Bytes one BCAST prefix costs its client beyond the prefix itself (the
/// session's handle and the prefix table's entry), as client eviction
/// counts it.
pub const PREFIX_BYTES: usize = 2 * std::mem::size_of::<Bytes>() + std::mem::size_of::<u64>();

/// How one client tracks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mode {
    /// Send invalidations to this client id instead (0: to itself).
    pub redirect: u64,
    /// BCAST with these prefixes (empty prefix: every key).
    pub bcast: bool,
    /// BCAST prefixes.
    pub prefixes: Vec<Bytes>,
    /// OPTIN.
    pub optin: bool,
    /// OPTOUT.
    pub optout: bool,
    /// NOLOOP: not about keys this client changed itself.
    pub noloop: bool,
}

struct Tracker {
    handle: Arc<ClientHandle>,
    mode: Mode,
    broken: AtomicBool,
}

const SHARDS: usize = 16;
type Table = HashMap<Bytes, Vec<u64>, foldhash::fast::RandomState>;

/// Every tracking client and what it may have cached.
#[derive(Default)]
pub struct Tracking {
    clients: RwLock<HashMap<u64, Arc<Tracker>>>,
    active: AtomicBool,
    table: [Mutex<Table>; SHARDS],
    hasher: foldhash::fast::RandomState,
    keys: AtomicUsize,
    items: AtomicUsize,
    prefixes: RwLock<Vec<(Bytes, u64)>>,
}

thread_local! {
    /// The client whose command is running on this thread (NOLOOP).
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// BCAST invalidations of the running command: (target, its prefix
    /// the key matched, key).
    static PENDING: RefCell<Vec<(Arc<Tracker>, Bytes, Bytes)>> = const { RefCell::new(Vec::new()) };
}

/// `*2 $10 invalidate <keys>`: the RESP2 array (a push in RESP3) and the
/// RESP3 encoding, which differs for the null of a flush.
fn invalidation(keys: Option<&[Bytes]>) -> Outbound {
    let mut body = BytesMut::new();
    match keys {
        Some(keys) => {
            body.put_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys {
                body.put_slice(format!("${}\r\n", k.len()).as_bytes());
                body.put_slice(k);
                body.put_slice(b"\r\n");
            }
        }
        None => body.put_slice(b"$-1\r\n"),
    }
    let head = b"*2\r\n$10\r\ninvalidate\r\n";
    let mut resp2 = BytesMut::from(&head[..]);
    resp2.put_slice(&body);
    let resp3 = keys.is_none().then(|| {
        let mut r = BytesMut::from(&b">2\r\n$10\r\ninvalidate\r\n"[..]);
        r.put_slice(b"_\r\n");
        r.freeze()
    });
    Outbound {
        bytes: resp2.freeze(),
        push: true,
        resp3,
    }
}

/// The same invalidation as a pub/sub message on [`CHANNEL`] (RESP2
/// redirect targets).
fn as_message(keys: Option<&[Bytes]>) -> Outbound {
    let inner = invalidation(keys);
    // Skip `*2\r\n$10\r\ninvalidate\r\n`: keep the keys (or the null).
    let body = &inner.bytes[b"*2\r\n$10\r\ninvalidate\r\n".len()..];
    let mut m = BytesMut::from(&b"*3\r\n$7\r\nmessage\r\n$20\r\n"[..]);
    m.put_slice(CHANNEL);
    m.put_slice(b"\r\n");
    m.put_slice(body);
    Outbound {
        bytes: m.freeze(),
        push: true,
        resp3: None,
    }
}

impl Tracking {
    /// Is any client tracking? (One load.)
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// `client` tracks in `mode` (replacing an earlier mode).
    pub fn enable(&self, client: &Arc<ClientHandle>, mode: Mode) {
        self.disable(client.id);
        {
            let mut p = self.prefixes.write();
            for prefix in &mode.prefixes {
                p.push((prefix.clone(), client.id));
            }
            if mode.bcast && mode.prefixes.is_empty() {
                p.push((Bytes::new(), client.id));
            }
        }
        let tracker = Arc::new(Tracker {
            handle: client.clone(),
            mode,
            broken: AtomicBool::new(false),
        });
        let mut clients = self.clients.write();
        clients.insert(client.id, tracker);
        self.active.store(true, Ordering::Relaxed);
    }

    /// Client `id` stops tracking (CLIENT TRACKING off, RESET, leaving).
    pub fn disable(&self, id: u64) {
        // Lock order, always: `prefixes`, then `clients` (as `modified`,
        // which every write runs; the other way round a write and a
        // client leaving could each hold what the other wanted).
        let mut prefixes = self.prefixes.write();
        let mut clients = self.clients.write();
        if clients.remove(&id).is_some() {
            prefixes.retain(|(_, c)| *c != id);
        }
        self.active.store(!clients.is_empty(), Ordering::Relaxed);
    }

    /// Has client `id`'s redirect target gone?
    pub fn is_broken(&self, id: u64) -> bool {
        self.clients
            .read()
            .get(&id)
            .is_some_and(|t| t.broken.load(Ordering::Relaxed))
    }

    /// Clients tracking (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.clients.read().len()
    }

    /// (keys tracked, key-client pairs, BCAST prefixes) for INFO.
    pub fn totals(&self) -> (usize, usize, usize) {
        (
            self.keys.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
            self.prefixes.read().len(),
        )
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Table> {
        &self.table[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Client `id` read `keys` (default mode); forget the oldest keys
    /// beyond `max_keys` (0: no limit), invalidating them.
    pub fn remember(&self, id: u64, keys: &[&[u8]], max_keys: usize, registry: &Registry) {
        for key in keys {
            let mut shard = self.shard(key).lock();
            let ids = shard.entry(Bytes::copy_from_slice(key)).or_insert_with(|| {
                self.keys.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            });
            if !ids.contains(&id) {
                ids.push(id);
                self.items.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.limit(max_keys, registry);
    }

    /// Drop keys (invalidating them for their readers) until the table
    /// holds at most `max_keys` (0: no limit), Redis's
    /// `trackingLimitUsedSlots`: after each tracked read and from the cron,
    /// so a lowered `tracking-table-max-keys` takes effect without one.
    pub fn limit(&self, max_keys: usize, registry: &Registry) {
        while max_keys > 0 && self.keys.load(Ordering::Relaxed) > max_keys {
            let victim = self
                .table
                .iter()
                .find_map(|s| s.lock().keys().next().cloned());
            match victim {
                Some(k) => self.invalidate_key(&k, registry, false),
                None => break,
            }
        }
    }

    /// `key` changed: tell everyone who may have cached it.
    pub fn modified(&self, key: &[u8], registry: &Registry) {
        if !self.active() {
            return;
        }
        self.invalidate_key(key, registry, true);
        let prefixes = self.prefixes.read();
        if prefixes.is_empty() {
            return;
        }
        let clients = self.clients.read();
        let me = CURRENT.with(Cell::get);
        for (prefix, id) in prefixes.iter() {
            if !key.starts_with(prefix) {
                continue;
            }
            let Some(t) = clients.get(id) else { continue };
            if t.mode.noloop && *id == me {
                continue;
            }
            PENDING.with(|p| {
                p.borrow_mut()
                    .push((t.clone(), prefix.clone(), Bytes::copy_from_slice(key)))
            });
        }
        drop(clients);
        drop(prefixes);
        if me == 0 {
            // No command to send them after (the expiry sweeper, a change
            // by the server): now.
            self.flush_pending(registry);
        }
    }

    /// `key` changed by the server itself (it expired): no client made
    /// the change, so NOLOOP hides it from nobody.
    pub fn modified_by_server(&self, key: &[u8], registry: &Registry) {
        as_client(0, || self.modified(key, registry));
    }

    /// Forget `key` and invalidate it for the clients that read it.
    fn invalidate_key(&self, key: &[u8], registry: &Registry, honour_noloop: bool) {
        let ids = {
            let mut shard = self.shard(key).lock();
            match shard.remove(key) {
                Some(ids) => ids,
                None => return,
            }
        };
        self.keys.fetch_sub(1, Ordering::Relaxed);
        self.items.fetch_sub(ids.len(), Ordering::Relaxed);
        let me = CURRENT.with(Cell::get);
        let clients = self.clients.read();
        let keys = [Bytes::copy_from_slice(key)];
        for id in ids {
            let Some(t) = clients.get(&id) else { continue };
            if t.mode.bcast || (honour_noloop && t.mode.noloop && id == me) {
                continue;
            }
            self.send(t, Some(&keys), registry);
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking client drops everything.
    pub fn flushed(&self, registry: &Registry) {
        // The table empties even when nobody tracks any more (its keys
        // were read while someone did).
        if self.keys.load(Ordering::Relaxed) > 0 {
            for shard in &self.table {
                shard.lock().clear();
            }
            self.keys.store(0, Ordering::Relaxed);
            self.items.store(0, Ordering::Relaxed);
        }
        if !self.active() {
            return;
        }
        let clients: Vec<Arc<Tracker>> = self.clients.read().values().cloned().collect();
        for t in clients {
            self.send(&t, None, registry);
        }
    }

    /// Send the BCAST invalidations the command on this thread caused: as
    /// Redis, one message per prefix and client (prefixes in order), its
    /// keys sorted and each once.
    pub fn flush_pending(&self, registry: &Registry) {
        let pending = PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
        if pending.is_empty() {
            return;
        }
        let mut groups: Vec<(Arc<Tracker>, Bytes, Vec<Bytes>)> = Vec::new();
        for (t, prefix, key) in pending {
            match groups
                .iter_mut()
                .find(|(c, p, _)| Arc::ptr_eq(c, &t) && *p == prefix)
            {
                Some((_, _, keys)) => keys.push(key),
                None => groups.push((t, prefix, vec![key])),
            }
        }
        groups.sort_by(|a, b| a.1.cmp(&b.1));
        for (t, _, mut keys) in groups {
            keys.sort_unstable();
            keys.dedup();
            self.send(&t, Some(&keys), registry);
        }
    }

    /// Deliver one invalidation for `t` (to itself or its redirect).
    fn send(&self, t: &Tracker, keys: Option<&[Bytes]>, registry: &Registry) {
        if t.mode.redirect == 0 {
            if t.handle.resp() == 3 {
                send(&t.handle, invalidation(keys), 0);
            }
            return;
        }
        match registry.get(t.mode.redirect) {
            Some(target) if target.resp() == 3 => {
                send(&target, invalidation(keys), 0);
            }
            Some(target) => {
                if target.subscriptions().iter().any(|&n| n > 0) {
                    send(&target, as_message(keys), 0);
                }
            }
            None => {
                if !t.broken.swap(true, Ordering::Relaxed) && t.handle.resp() == 3 {
                    let id = t.mode.redirect.to_string();
                    let mut b = BytesMut::from(&b"*2\r\n$21\r\ntracking-redir-broken\r\n:"[..]);
                    b.put_slice(id.as_bytes());
                    b.put_slice(b"\r\n");
                    let item = Outbound {
                        bytes: b.freeze(),
                        push: true,
                        resp3: None,
                    };
                    send(&t.handle, item, 0);
                }
            }
        }
    }
}

/// Invalidations this thread's running command has not sent yet, taken
/// away while its script steps aside (`scripts::step_aside`).
pub fn stash_pending() -> Stashed {
    Stashed(PENDING.with(|p| std::mem::take(&mut *p.borrow_mut())))
}

/// What [`stash_pending`] took.
pub struct Stashed(Vec<(Arc<Tracker>, Bytes, Bytes)>);

/// Put back what [`stash_pending`] took (before anything pending since).
pub fn restore_pending(Stashed(mut stashed): Stashed) {
    if stashed.is_empty() {
        return;
    }
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        stashed.append(&mut p);
        *p = stashed;
    });
}

/// Run `f` as client `id`'s command (NOLOOP needs to know who changed a
/// key).
pub fn as_client<R>(id: u64, f: impl FnOnce() -> R) -> R {
    let before = CURRENT.with(|c| c.replace(id));
    let r = f();
    CURRENT.with(|c| c.set(before));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes telling BCAST trackers about keys while clients start and
    /// stop tracking: `modified` and `disable` take the prefix list and
    /// the client table, so in one order (the other way round they
    /// deadlocked). Bounded: 20,000 rounds, and a failure after 30 s
    /// instead of a hang.
    #[test]
    fn writes_and_clients_leaving_never_deadlock() {
        let tracking = Arc::new(Tracking::default());
        let registry = Arc::new(Registry::default());
        let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        let client = move |r: &Registry| r.register(addr, addr, -1, 100).unwrap();
        let bcast = Mode {
            bcast: true,
            ..Mode::default()
        };
        tracking.enable(&client(&registry), bcast.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let (done, finished) = std::sync::mpsc::channel();
        let writer = {
            let (t, r, stop, done) = (
                tracking.clone(),
                registry.clone(),
                stop.clone(),
                done.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    t.modified(b"k", &r);
                }
                done.send(()).unwrap();
            })
        };
        let toggler = {
            let (t, r) = (tracking.clone(), registry.clone());
            std::thread::spawn(move || {
                let other = client(&r);
                for _ in 0..20_000 {
                    t.enable(&other, bcast.clone());
                    t.disable(other.id);
                }
                stop.store(true, Ordering::Relaxed);
                done.send(()).unwrap();
            })
        };
        for _ in 0..2 {
            finished
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("a write and a client leaving deadlocked");
        }
        writer.join().unwrap();
        toggler.join().unwrap();
    }

    #[test]
    fn invalidations_encode_like_redis() {
        let k = [Bytes::from_static(b"k")];
        let one = invalidation(Some(&k));
        assert_eq!(
            &one.bytes[..],
            b"*2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        let mut out = BytesMut::new();
        invalidation(None).encode_into(true, &mut out);
        assert_eq!(&out[..], b">2\r\n$10\r\ninvalidate\r\n_\r\n");
        let m = as_message(None);
        assert_eq!(
            &m.bytes[..],
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
        );
    }
}
