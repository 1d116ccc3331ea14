//! Connected clients: the registry behind CLIENT LIST / KILL / INFO and
//! `connected_clients`, and the per-connection [`Session`].
//!
//! The registry lock is taken when a client connects or leaves and by the
//! CLIENT commands, never per command. What CLIENT LIST reports about a
//! client (last command, idle time, buffer sizes) lives in atomics on its
//! [`ClientHandle`] that only its own connection writes, once per batch of
//! pipelined commands, so the hot path touches no shared cache line.
//!
//! Other threads reach a connection through its handle's event word and
//! waker ([`ClientHandle::signal`]): CLIENT KILL, server shutdown, and (as
//! features arrive) messages and unblocking. The connection task registers
//! its waker while it waits for its socket, so a signal costs the
//! signalling thread one atomic OR and a wake, and costs the connection
//! nothing per command.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Arc;
use std::time::Instant;

use atomic_waker::AtomicWaker;
use bytes::Bytes;
use parking_lot::Mutex;

mod eviction;
mod session;

pub use eviction::Memory;
pub use session::{ClientFlag, ReplyMode, Session};

use super::pubsub::Mailbox;

/// What other connections may see of, or do to, one client.
#[derive(Debug)]
pub struct ClientHandle {
    /// Unique, increasing client id (CLIENT ID).
    pub id: u64,
    /// The peer's address.
    pub addr: SocketAddr,
    /// Our address the peer connected to.
    pub laddr: SocketAddr,
    /// The socket's file descriptor (CLIENT LIST `fd=`).
    pub fd: i64,
    created: Instant,
    name: Mutex<Option<Bytes>>,
    db: AtomicUsize,
    resp: AtomicU8,
    /// Index of the last command's name in the command table's name list.
    last_cmd: AtomicUsize,
    last_interaction: AtomicU64,
    commands: AtomicU64,
    qbuf: AtomicUsize,
    omem: AtomicUsize,
    /// Commands queued in an open MULTI, or -1.
    multi: AtomicI64,
    /// Pending [`Event`] bits, taken by the connection.
    events: AtomicU32,
    /// Waiting in a blocking command (BLPOP...).
    blocked: AtomicBool,
    /// Held by CLIENT PAUSE (blocked too, but CLIENT UNBLOCK leaves it).
    postponed: AtomicBool,
    /// CLIENT UNBLOCK's request: 0 none, 1 as a timeout, 2 with an error.
    unblock: AtomicU8,
    /// The connection task's waker, registered while it waits.
    waker: AtomicWaker,
    /// Bytes of buffers the connection keeps while it waits (0: none;
    /// INFO's `mem_clients_normal`, and what the cron trims).
    buffer_bytes: AtomicUsize,
    /// Of those, the query buffer's (CLIENT LIST's `qbuf` + `qbuf-free`).
    input_bytes: AtomicUsize,
    /// Pub/sub messages and other pushes waiting to be sent.
    pub(super) mailbox: Mutex<Mailbox>,
    /// Subscription counts as of the last batch (CLIENT LIST).
    subs: [AtomicUsize; 3],
    /// [`ClientFlag`] bits as of the last batch.
    flags: AtomicU32,
    /// The tracking redirect (-1: not tracking), as of the last batch.
    redirect: AtomicI64,
    /// What the client holds, as of the last batch (CLIENT LIST's
    /// `argv-mem`, `multi-mem`, `tot-mem`; see [`Memory`]).
    argv_mem: AtomicUsize,
    multi_mem: AtomicUsize,
    tot_mem: AtomicUsize,
}

/// A connection that keeps its buffers between requests gives them back
/// after this long without a command (Redis frees an idle client's query
/// buffer after 2 s). The 100 ms server cron checks, so it happens
/// 100-200 ms after the last command.
pub const BUFFERS_IDLE_MS: u64 = 100;

/// Something another thread tells a connection; bits of the event word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Event {
    /// CLIENT KILL: close now.
    Kill = 1,
    /// The server is shutting down: finish the current batch and close.
    Shutdown = 2,
    /// Something for a blocked client: it was served, or CLIENT UNBLOCK.
    Wake = 4,
    /// Pushes (pub/sub messages...) wait in the mailbox.
    Message = 8,
    /// The connection has kept its buffers through a cron period without
    /// a request: give them back.
    Trim = 16,
}

/// A snapshot of per-batch statistics a connection publishes.
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    /// Commands run in this batch.
    pub commands: u64,
    /// Unparsed input buffered.
    pub qbuf: usize,
    /// Unsent output buffered.
    pub omem: usize,
}

impl ClientHandle {
    /// Seconds since the client connected.
    pub fn age_secs(&self) -> u64 {
        self.created.elapsed().as_secs()
    }

    /// Seconds since the client last sent or received anything.
    pub fn idle_secs(&self, now_ms: u64) -> u64 {
        self.idle_ms(now_ms) / 1000
    }

    /// Milliseconds since the client's last command (since it connected
    /// if it has run none), by the command clock `now_ms` comes from.
    fn idle_ms(&self, now_ms: u64) -> u64 {
        match self.last_interaction.load(Ordering::Relaxed) {
            0 => self.created.elapsed().as_millis() as u64,
            at => now_ms.saturating_sub(at),
        }
    }

    /// The name set with CLIENT SETNAME.
    pub fn name(&self) -> Option<Bytes> {
        self.name.lock().clone()
    }

    /// Set or clear the name.
    pub fn set_name(&self, name: Option<Bytes>) {
        *self.name.lock() = name;
    }

    /// Selected database.
    pub fn db(&self) -> usize {
        self.db.load(Ordering::Relaxed)
    }

    /// Negotiated protocol version (2 or 3).
    pub fn resp(&self) -> u8 {
        self.resp.load(Ordering::Relaxed)
    }

    /// Index of the last command run (see `CommandTable::names`).
    pub fn last_cmd(&self) -> usize {
        self.last_cmd.load(Ordering::Relaxed)
    }

    /// Unparsed input bytes at the last batch.
    pub fn qbuf(&self) -> usize {
        self.qbuf.load(Ordering::Relaxed)
    }

    /// Unsent output bytes at the last batch.
    pub fn omem(&self) -> usize {
        self.omem.load(Ordering::Relaxed)
    }

    /// Unsent output as Redis reports it (CLIENT LIST `omem`, INFO's
    /// `client_recent_max_output_buffer`): beyond the 16 KiB every client
    /// has as its fixed reply buffer.
    pub fn omem_reported(&self) -> usize {
        self.omem().saturating_sub(16 * 1024)
    }

    /// Commands queued in an open transaction, or -1 (CLIENT LIST).
    pub fn multi(&self) -> i64 {
        self.multi.load(Ordering::Relaxed)
    }

    /// Channels, patterns and shard channels subscribed, as of the last
    /// batch (CLIENT LIST's `sub=`, `psub=`, `ssub=`).
    pub fn subscriptions(&self) -> [usize; 3] {
        self.subs.each_ref().map(|n| n.load(Ordering::Relaxed))
    }

    /// [`ClientFlag`] bits as of the last batch.
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// The tracking redirect (-1: not tracking), as of the last batch.
    pub fn redirect(&self) -> i64 {
        self.redirect.load(Ordering::Relaxed)
    }

    /// Commands this client has run.
    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    /// Publish a batch's activity (called by the client's own connection).
    pub fn publish(&self, session: &Session, activity: Activity) {
        self.db.store(session.db, Ordering::Relaxed);
        self.multi.store(session.multi, Ordering::Relaxed);
        self.flags.store(session.flags(false), Ordering::Relaxed);
        let redirect = session.tracking.as_ref().map_or(-1, |m| m.redirect as i64);
        self.redirect.store(redirect, Ordering::Relaxed);
        let s = &session.subs;
        for (slot, n) in self
            .subs
            .iter()
            .zip([s.channels.len(), s.patterns.len(), s.shard.len()])
        {
            slot.store(n, Ordering::Relaxed);
        }
        self.resp
            .store(session.proto.version() as u8, Ordering::Relaxed);
        self.last_cmd.store(session.last_cmd, Ordering::Relaxed);
        self.last_interaction
            .store(session.last_command_ms, Ordering::Relaxed);
        if activity.commands > 0 {
            // Only this client's connection adds (a plain load and store,
            // no locked instruction); CONFIG RESETSTAT's racing reset may
            // be lost, which Redis's own counters allow too.
            let total = self.commands.load(Ordering::Relaxed) + activity.commands;
            self.commands.store(total, Ordering::Relaxed);
        }
        self.qbuf.store(activity.qbuf, Ordering::Relaxed);
        self.omem.store(activity.omem, Ordering::Relaxed);
    }

    /// Ask the client's connection to close (CLIENT KILL).
    pub fn kill(&self) {
        self.signal(Event::Kill);
    }

    /// Has the client been killed?
    pub fn is_killed(&self) -> bool {
        self.has(Event::Kill)
    }

    /// Raise `event` and wake the connection.
    pub fn signal(&self, event: Event) {
        self.events.fetch_or(event as u32, Ordering::Release);
        self.waker.wake();
    }

    /// Mark the client blocked or not (its connection does).
    pub fn set_blocked(&self, blocked: bool) {
        self.unblock.store(0, Ordering::Relaxed);
        self.postponed.store(false, Ordering::Relaxed);
        self.blocked.store(blocked, Ordering::Release);
    }

    /// Mark the client held by CLIENT PAUSE (its connection does): blocked
    /// for CLIENT LIST and INFO, but not something CLIENT UNBLOCK ends, as
    /// in Redis.
    pub fn set_postponed(&self) {
        self.set_blocked(true);
        self.postponed.store(true, Ordering::Release);
    }

    /// Is the client waiting in a blocking command?
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    /// CLIENT UNBLOCK: ask a blocked client to stop waiting, as if it
    /// timed out or (`error`) with the UNBLOCKED error. False when it is
    /// not blocked.
    pub fn unblock(&self, error: bool) -> bool {
        if !self.is_blocked() || self.postponed.load(Ordering::Acquire) {
            return false;
        }
        self.unblock
            .store(if error { 2 } else { 1 }, Ordering::Release);
        self.signal(Event::Wake);
        true
    }

    /// The pending CLIENT UNBLOCK request: `Some(error?)`.
    pub fn unblock_request(&self) -> Option<bool> {
        match self.unblock.load(Ordering::Acquire) {
            0 => None,
            m => Some(m == 2),
        }
    }

    /// Lower `event` (the connection took it).
    pub fn clear(&self, event: Event) {
        self.events.fetch_and(!(event as u32), Ordering::AcqRel);
    }

    /// Is `event` raised?
    pub fn has(&self, event: Event) -> bool {
        self.events.load(Ordering::Acquire) & event as u32 != 0
    }

    /// The raised events, as bits (for the connection's wait loop).
    pub fn events(&self) -> u32 {
        self.events.load(Ordering::Acquire)
    }

    /// The connection keeps buffers of `input` and `output` bytes while it
    /// waits, or (0, 0) has given them back.
    pub fn keeps_buffers(&self, input: usize, output: usize) {
        self.input_bytes.store(input, Ordering::Relaxed);
        self.buffer_bytes.store(input + output, Ordering::Relaxed);
    }

    /// The room of the query buffer the connection keeps (0: none).
    pub fn query_buffer(&self) -> usize {
        self.input_bytes.load(Ordering::Relaxed)
    }

    /// Client memory as Redis's `mem_clients_normal` counts it: the
    /// buffers it keeps, or (when it gives them back between requests)
    /// what they held at the last batch.
    pub fn memory(&self) -> usize {
        let held = self.buffer_bytes.load(Ordering::Relaxed);
        held.max(self.qbuf() + self.omem())
    }

    /// Register the connection task's waker, to be woken by [`signal`].
    /// Check [`events`](Self::events) again after registering.
    ///
    /// [`signal`]: Self::signal
    pub fn register_waker(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }
}

/// Every connected client.
#[derive(Debug, Default)]
pub struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
    /// Connections accepted since start.
    pub connections_received: AtomicU64,
    /// Connections refused (maxclients).
    pub rejected: AtomicU64,
    /// Commands run by clients that have disconnected.
    commands_of_departed: AtomicU64,
    /// Connected clients, readable without the lock.
    count: AtomicUsize,
    /// The sum of every ordinary and pub/sub client's `tot-mem` as last
    /// published (what `maxmemory-clients` limits).
    memory: AtomicUsize,
    /// Clients disconnected by client eviction (INFO `evicted_clients`).
    pub evicted: AtomicU64,
    /// DEBUG REPLYBUFFER RESIZING 0: the cron leaves idle clients'
    /// buffers alone.
    keep_idle_buffers: AtomicBool,
    /// The second client eviction last warned it could not get under
    /// the limit.
    over_warned: AtomicU64,
}

impl Registry {
    /// Register a new client if fewer than `max` are connected.
    pub fn register(
        &self,
        addr: SocketAddr,
        laddr: SocketAddr,
        fd: i64,
        max: usize,
    ) -> Option<Arc<ClientHandle>> {
        let mut clients = self.clients.lock();
        if clients.len() >= max {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.connections_received.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            name: Mutex::new(None),
            db: AtomicUsize::new(0),
            resp: AtomicU8::new(2),
            last_cmd: AtomicUsize::new(0),
            last_interaction: AtomicU64::new(0),
            commands: AtomicU64::new(0),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            mailbox: Mutex::new(Mailbox::default()),
            subs: Default::default(),
            flags: AtomicU32::new(0),
            redirect: AtomicI64::new(-1),
            argv_mem: AtomicUsize::new(0),
            multi_mem: AtomicUsize::new(0),
            tot_mem: AtomicUsize::new(0),
            events: AtomicU32::new(0),
            buffer_bytes: AtomicUsize::new(0),
            input_bytes: AtomicUsize::new(0),
            blocked: AtomicBool::new(false),
            postponed: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
            waker: AtomicWaker::new(),
        });
        clients.insert(id, handle.clone());
        self.count.store(clients.len(), Ordering::Relaxed);
        Some(handle)
    }

    /// Remove a client that has disconnected.
    pub fn unregister(&self, id: u64) {
        let mut clients = self.clients.lock();
        if let Some(h) = clients.remove(&id) {
            self.commands_of_departed
                .fetch_add(h.commands(), Ordering::Relaxed);
            self.memory
                .fetch_sub(h.tot_mem.swap(0, Ordering::Relaxed), Ordering::Relaxed);
        }
        self.count.store(clients.len(), Ordering::Relaxed);
    }

    /// Number of connected clients, without taking the registry's lock
    /// (may lag a concurrent connect or disconnect).
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every connected client, by id; not those killed (CLIENT KILL,
    /// client eviction) whose connection has yet to close, which Redis
    /// frees at once.
    pub fn snapshot(&self) -> Vec<Arc<ClientHandle>> {
        let clients = self.clients.lock();
        clients
            .values()
            .filter(|c| !c.is_killed())
            .cloned()
            .collect()
    }

    /// The client with `id`.
    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
    }

    /// Clients waiting in a blocking command (INFO `blocked_clients`).
    pub fn blocked_count(&self) -> usize {
        self.clients
            .lock()
            .values()
            .filter(|c| c.is_blocked())
            .count()
    }

    /// Raise `event` on every connected client.
    pub fn signal_all(&self, event: Event) {
        for c in self.clients.lock().values() {
            c.signal(event);
        }
    }

    /// Ask every connection that keeps buffers and has run no command for
    /// [`BUFFERS_IDLE_MS`] to give them back ([`Event::Trim`]); `now_ms`
    /// is the command clock's.
    pub fn trim_idle_buffers(&self, now_ms: u64) {
        if self.keep_idle_buffers.load(Ordering::Relaxed) {
            return;
        }
        for c in self.clients.lock().values() {
            let keeps = c.buffer_bytes.load(Ordering::Relaxed) > 0;
            if keeps && c.idle_ms(now_ms) >= BUFFERS_IDLE_MS && !c.has(Event::Trim) {
                c.signal(Event::Trim);
            }
        }
    }

    /// Whether the cron gives back idle clients' buffers (DEBUG
    /// REPLYBUFFER RESIZING; on by default).
    pub fn set_idle_trim(&self, on: bool) {
        self.keep_idle_buffers.store(!on, Ordering::Relaxed);
    }

    /// Commands processed by all clients, past and present.
    pub fn total_commands(&self) -> u64 {
        let live: u64 = self.clients.lock().values().map(|c| c.commands()).sum();
        live + self.commands_of_departed.load(Ordering::Relaxed)
    }

    /// Reset the counters CONFIG RESETSTAT resets.
    pub fn reset_stats(&self) {
        self.connections_received.store(0, Ordering::Relaxed);
        self.rejected.store(0, Ordering::Relaxed);
        self.evicted.store(0, Ordering::Relaxed);
        self.commands_of_departed.store(0, Ordering::Relaxed);
        for c in self.clients.lock().values() {
            c.commands.store(0, Ordering::Relaxed);
        }
    }
}
