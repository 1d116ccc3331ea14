//! Pub/sub: who listens to which channel, and delivery to every thread.
//!
//! [`PubSub`] maps channels (and, separately, shard channels) to their
//! subscribers' [`ClientHandle`]s in hash shards, and keeps the pattern
//! subscriptions in one list, as Redis does. PUBLISH encodes a message once
//! (as a RESP2 array; a RESP3 connection swaps the first byte for `>`) and
//! appends the shared bytes to each subscriber's [`Mailbox`], then wakes
//! its connection, which copies them into its output between commands. A
//! publisher therefore never waits for a subscriber and sends to each
//! subscriber in its own order, so messages from one publisher arrive in
//! order.
//!
//! A connection running a batch of requests collects what its commands
//! publish ([`begin_batch`]) and hands it over at the end of the batch, one
//! mailbox lock and one wake per subscriber instead of one per message:
//! pipelined publishers to a busy subscriber no longer bounce its
//! mailbox's cache line between cores on every message. Anywhere else (the
//! expiry sweeper's keyspace events, in-process runs) delivery is
//! immediate.
//!
//! A subscriber that does not read cannot grow the server without bound:
//! when its mailbox plus its unsent output passes the hard
//! `client-output-buffer-limit pubsub`, the publisher drops the message
//! and kills the client (the connection enforces the soft limit).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::RwLock;

use super::clients::{ClientHandle, Event};
use crate::util::glob::glob_match;

/// Out-of-band data waiting for one connection: encoded pushes.
#[derive(Debug, Default)]
pub struct Mailbox {
    queue: VecDeque<Outbound>,
    bytes: usize,
    /// Over the hard limit: the client is being closed, take nothing more.
    closed: bool,
}

/// One queued out-of-band item.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The RESP2 encoding.
    pub bytes: Bytes,
    /// A push: RESP3 connections send it with `>` instead of `*`.
    pub push: bool,
    /// The whole RESP3 encoding, where it differs by more than the first
    /// byte (a null inside).
    pub resp3: Option<Bytes>,
}

impl Outbound {
    /// Append this item to `out` for a connection speaking `resp3` or not.
    pub fn encode_into(&self, resp3: bool, out: &mut BytesMut) {
        if let (true, Some(b)) = (resp3, &self.resp3) {
            out.extend_from_slice(b);
        } else if self.push && resp3 {
            out.put_u8(b'>');
            out.extend_from_slice(&self.bytes[1..]);
        } else {
            out.extend_from_slice(&self.bytes);
        }
    }
}

impl Mailbox {
    /// Take up to `max` bytes' worth of items (at least one if any).
    pub fn take(&mut self, max: usize, mut f: impl FnMut(&Outbound)) {
        let mut taken = 0;
        while let Some(item) = self.queue.front() {
            if taken > 0 && taken + item.bytes.len() > max {
                break;
            }
            taken += item.bytes.len();
            self.bytes -= item.bytes.len();
            f(item);
            self.queue.pop_front();
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.bytes
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// Deliveries a connection's batch has collected: (to, what, hard limit).
type Pending = Vec<(Arc<ClientHandle>, Outbound, u64)>;

thread_local! {
    /// Is a connection running a batch on this thread?
    static BATCHING: Cell<bool> = const { Cell::new(false) };
    /// The running batch's deliveries.
    static BATCH: RefCell<Pending> = const { RefCell::new(Vec::new()) };
}

/// Collect deliveries made on this thread until [`end_batch`].
pub fn begin_batch() {
    BATCHING.set(true);
}

/// Hand over what was collected, and keep collecting.
fn flush_batch() {
    let pending = BATCH.with(|b| {
        let mut b = b.borrow_mut();
        (!b.is_empty()).then(|| std::mem::take(&mut *b))
    });
    let Some(mut pending) = pending else {
        return;
    };
    // One lock per subscriber; each subscriber's messages keep their order
    // (a stable sort).
    pending.sort_by_key(|(c, _, _)| c.id);
    let mut i = 0;
    while i < pending.len() {
        let id = pending[i].0.id;
        let j = pending[i..]
            .iter()
            .position(|(c, _, _)| c.id != id)
            .map_or(pending.len(), |n| i + n);
        let (client, hard) = (pending[i].0.clone(), pending[i].2);
        client.deliver_all(pending[i..j].iter().map(|(_, item, _)| item.clone()), hard);
        i = j;
    }
}

/// Hand over what was collected and stop collecting.
pub fn end_batch() {
    // First, so that a delivery made while handing over goes at once.
    BATCHING.set(false);
    flush_batch();
}

/// Hand over now what the running batch collected for client `id`; true
/// if there was any. For what happens before a command executes (an
/// eviction's invalidations), which Redis writes to the client's buffer
/// ahead of the command's reply.
pub fn flush_for(id: u64) -> bool {
    BATCH.with(|b| {
        let mut b = b.borrow_mut();
        if !b.iter().any(|(c, _, _)| c.id == id) {
            return false;
        }
        let all = std::mem::take(&mut *b);
        for (c, item, hard) in all {
            if c.id == id {
                c.deliver(item, hard);
            } else {
                b.push((c, item, hard));
            }
        }
        true
    })
}

/// End the batch for a while (a script stepping aside): what it collected
/// goes now; whether it was batching.
pub fn pause_batch() -> bool {
    let was = BATCHING.get();
    end_batch();
    was
}

/// Batch again if [`pause_batch`] found a batch running.
pub fn resume_batch(was: bool) {
    BATCHING.set(was);
}

/// Deliver `item` to `client`: at the end of the batch when a connection
/// is batching on this thread, at once otherwise.
pub fn send(client: &Arc<ClientHandle>, item: Outbound, hard: u64) {
    if BATCHING.get() {
        BATCH.with(|b| b.borrow_mut().push((client.clone(), item, hard)));
    } else {
        client.deliver(item, hard);
    }
}

impl ClientHandle {
    /// Queue `item` for this client's connection and wake it, unless its
    /// mailbox plus unsent output would pass `hard` bytes (0: no limit):
    /// then the client is killed instead. False when it was not queued.
    pub fn deliver(&self, item: Outbound, hard: u64) -> bool {
        self.deliver_all(std::iter::once(item), hard)
    }

    /// [`deliver`](Self::deliver) for several items, with one lock and one
    /// wake. False when they could not all be queued.
    pub fn deliver_all(&self, items: impl Iterator<Item = Outbound>, hard: u64) -> bool {
        let mut mb = self.mailbox.lock();
        if mb.closed {
            return false;
        }
        let omem = self.omem();
        for item in items {
            let pending = (mb.bytes + item.bytes.len() + omem) as u64;
            if hard > 0 && pending > hard {
                mb.closed = true;
                mb.queue.clear();
                mb.bytes = 0;
                drop(mb);
                tracing::warn!(
                    client = self.id,
                    "client scheduled to be closed ASAP for overcoming of output buffer limits"
                );
                self.kill();
                return false;
            }
            mb.bytes += item.bytes.len();
            mb.queue.push_back(item);
        }
        drop(mb);
        self.signal(Event::Message);
        true
    }

    /// The client's mailbox (its connection drains it).
    pub fn mailbox(&self) -> parking_lot::MutexGuard<'_, Mailbox> {
        self.mailbox.lock()
    }
}

/// A client's subscriptions (kept in its session).
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// SUBSCRIBE channels.
    pub channels: HashSet<Bytes>,
    /// PSUBSCRIBE patterns.
    pub patterns: HashSet<Bytes>,
    /// SSUBSCRIBE shard channels.
    pub shard: HashSet<Bytes>,
}

impl Subscriptions {
    /// Channels plus patterns (the count SUBSCRIBE and friends reply).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Subscribed to anything at all (RESP2's subscribed mode)?
    pub fn any(&self) -> bool {
        self.count() + self.shard.len() > 0
    }

    /// Bytes these subscriptions hold, as client eviction counts them:
    /// each one's entry here and in the server's subscriber table (the
    /// names are shared with that table, and left out as Redis leaves
    /// them out).
    pub fn memory(&self) -> usize {
        /// A set entry (the handle and its control byte) plus the
        /// subscriber table's handle to this client.
        const ENTRY: usize = std::mem::size_of::<Bytes>() + 1 + std::mem::size_of::<usize>();
        (self.count() + self.shard.len()) * ENTRY
    }
}

type Subscribers = HashMap<Bytes, Vec<Arc<ClientHandle>>, foldhash::fast::RandomState>;

const SHARDS: usize = 16;

/// One namespace of channels (plain or shard), split in lock shards.
struct Channels {
    shards: [RwLock<Subscribers>; SHARDS],
    hasher: foldhash::fast::RandomState,
    count: AtomicUsize,
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            shards: Default::default(),
            hasher: Default::default(),
            count: AtomicUsize::new(0),
        }
    }
}

impl Channels {
    fn shard(&self, channel: &[u8]) -> &RwLock<Subscribers> {
        &self.shards[(self.hasher.hash_one(channel) as usize) % SHARDS]
    }

    fn add(&self, channel: &Bytes, client: &Arc<ClientHandle>) {
        let mut shard = self.shard(channel).write();
        let subs = shard.entry(channel.clone()).or_insert_with(|| {
            self.count.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        });
        subs.push(client.clone());
    }

    fn remove(&self, channel: &[u8], client: &ClientHandle) {
        let mut shard = self.shard(channel).write();
        if let Some(subs) = shard.get_mut(channel) {
            subs.retain(|c| c.id != client.id);
            if subs.is_empty() {
                shard.remove(channel);
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Deliver to every subscriber of `channel`; how many there were.
    fn send(&self, channel: &[u8], item: impl Fn() -> Outbound, hard: u64) -> usize {
        let shard = self.shard(channel).read();
        let Some(subs) = shard.get(channel) else {
            return 0;
        };
        let item = item();
        for c in subs {
            send(c, item.clone(), hard);
        }
        subs.len()
    }

    fn subscribers(&self, channel: &[u8]) -> usize {
        self.shard(channel).read().get(channel).map_or(0, Vec::len)
    }

    fn names(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(
                shard
                    .read()
                    .keys()
                    .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
                    .cloned(),
            );
        }
        out
    }
}

/// Every subscription of one server.
#[derive(Default)]
pub struct PubSub {
    channels: Channels,
    shard_channels: Channels,
    patterns: RwLock<Vec<(Bytes, Arc<ClientHandle>)>>,
    pattern_count: AtomicUsize,
    /// `client-output-buffer-limit pubsub` hard limit, in bytes (0: none).
    hard_limit: AtomicU64,
}

/// Which namespace a subscription is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

impl Kind {
    /// The set of `subs` this kind lives in.
    pub fn set(self, subs: &mut Subscriptions) -> &mut HashSet<Bytes> {
        match self {
            Kind::Channel => &mut subs.channels,
            Kind::Pattern => &mut subs.patterns,
            Kind::Shard => &mut subs.shard,
        }
    }
}

/// The sink of keyspace events: publish `event` on `key` to
/// `__keyspace@<db>__:<key>` (with `K`) and `key` to
/// `__keyevent@<db>__:<event>` (with `E`), as Redis's
/// `notifyKeyspaceEvent` does.
pub fn keyspace_sink(pubsub: Arc<PubSub>) -> crate::db::events::Sink {
    use crate::db::events::class;
    Box::new(move |flags, event, db, key| {
        // Both messages of one event reach a subscriber together, even
        // from a thread that is not running a batch (the expiry sweeper):
        // a client cannot see one without the other, as with Redis's one
        // thread.
        let own_batch =
            !BATCHING.get() && flags & class::KEYSPACE != 0 && flags & class::KEYEVENT != 0;
        if own_batch {
            begin_batch();
        }
        if flags & class::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            pubsub.publish(&channel, event.as_bytes());
        }
        if flags & class::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            pubsub.publish(channel.as_bytes(), key);
        }
        if own_batch {
            end_batch();
        }
    })
}

/// `*n` and each part as a bulk string: one RESP2 array.
pub fn encode_array(parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len() + 16).sum();
    let mut out = BytesMut::with_capacity(len + 16);
    out.put_u8(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(parts.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for p in parts {
        out.put_u8(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(p.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(p);
        out.extend_from_slice(b"\r\n");
    }
    out.freeze()
}

impl PubSub {
    /// Set the hard output limit for subscribers (from the configuration).
    pub fn set_hard_limit(&self, bytes: u64) {
        self.hard_limit.store(bytes, Ordering::Relaxed);
    }

    /// Subscribe `client` to `name` of `kind`; false if it already was.
    pub fn subscribe(
        &self,
        subs: &mut Subscriptions,
        client: &Arc<ClientHandle>,
        kind: Kind,
        name: &Bytes,
    ) -> bool {
        if !kind.set(subs).insert(name.clone()) {
            return false;
        }
        match kind {
            Kind::Channel => self.channels.add(name, client),
            Kind::Shard => self.shard_channels.add(name, client),
            Kind::Pattern => {
                let mut patterns = self.patterns.write();
                if !patterns.iter().any(|(p, _)| p == name) {
                    self.pattern_count.fetch_add(1, Ordering::Relaxed);
                }
                patterns.push((name.clone(), client.clone()));
            }
        }
        true
    }

    /// Unsubscribe `client` from `name`; false if it was not subscribed.
    pub fn unsubscribe(
        &self,
        subs: &mut Subscriptions,
        client: &ClientHandle,
        kind: Kind,
        name: &[u8],
    ) -> bool {
        if !kind.set(subs).remove(name) {
            return false;
        }
        match kind {
            Kind::Channel => self.channels.remove(name, client),
            Kind::Shard => self.shard_channels.remove(name, client),
            Kind::Pattern => {
                let mut patterns = self.patterns.write();
                patterns.retain(|(p, c)| !(c.id == client.id && p == name));
                if !patterns.iter().any(|(p, _)| p == name) {
                    self.pattern_count.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        true
    }

    /// Drop every subscription of a client (RESET, disconnection).
    pub fn unsubscribe_all(&self, subs: &mut Subscriptions, client: &ClientHandle) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let names: Vec<Bytes> = kind.set(subs).iter().cloned().collect();
            for name in names {
                self.unsubscribe(subs, client, kind, &name);
            }
        }
    }

    /// PUBLISH: deliver to the channel's subscribers, then to every
    /// matching pattern's; the number of deliveries.
    pub fn publish(&self, channel: &[u8], message: &[u8]) -> usize {
        let hard = self.hard_limit.load(Ordering::Relaxed);
        let mut n = self.channels.send(
            channel,
            || Outbound {
                bytes: encode_array(&[b"message", channel, message]),
                push: true,
                resp3: None,
            },
            hard,
        );
        if self.pattern_count.load(Ordering::Relaxed) > 0 {
            for (pattern, client) in self.patterns.read().iter() {
                if glob_match(pattern, channel, false) {
                    let bytes = encode_array(&[b"pmessage", pattern, channel, message]);
                    let item = Outbound {
                        bytes,
                        push: true,
                        resp3: None,
                    };
                    send(client, item, hard);
                    n += 1;
                }
            }
        }
        n
    }

    /// SPUBLISH: deliver to the shard channel's subscribers.
    pub fn spublish(&self, channel: &[u8], message: &[u8]) -> usize {
        let hard = self.hard_limit.load(Ordering::Relaxed);
        self.shard_channels.send(
            channel,
            || Outbound {
                bytes: encode_array(&[b"smessage", channel, message]),
                push: true,
                resp3: None,
            },
            hard,
        )
    }

    /// Channels with at least one subscriber (matching `pattern`).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        match kind {
            Kind::Shard => self.shard_channels.names(pattern),
            _ => self.channels.names(pattern),
        }
    }

    /// Subscribers of `channel` (PUBSUB NUMSUB / SHARDNUMSUB).
    pub fn subscribers(&self, kind: Kind, channel: &[u8]) -> usize {
        match kind {
            Kind::Shard => self.shard_channels.subscribers(channel),
            _ => self.channels.subscribers(channel),
        }
    }

    /// Channels with subscribers (INFO `pubsub_channels`).
    pub fn channel_count(&self) -> usize {
        self.channels.count.load(Ordering::Relaxed)
    }

    /// Shard channels with subscribers (INFO `pubsubshard_channels`).
    pub fn shard_channel_count(&self) -> usize {
        self.shard_channels.count.load(Ordering::Relaxed)
    }

    /// Distinct patterns subscribed (PUBSUB NUMPAT, INFO).
    pub fn pattern_count(&self) -> usize {
        self.pattern_count.load(Ordering::Relaxed)
    }
}
