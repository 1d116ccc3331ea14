//! Replica feeds: the replication stream is the journal's records, handed
//! to every attached replica in the journal's order (`state::replicas`
//! runs the full synchronisation around it).

use std::sync::atomic::Ordering;

use super::{encode_section, wait_unjournaled, Journal, Record, Tail};
use crate::protocol::encode_request;

/// Where a replica's stream goes: called, in the journal's order and with
/// its order lock held, with the bytes of each section (so it must not
/// wait for anything); false when the replica is gone.
pub type FeedSink = Box<dyn FnMut(&[u8]) -> bool + Send>;

/// A replica's stream, by client id.
pub(super) struct Feed {
    pub(super) id: u64,
    pub(super) sink: FeedSink,
}

impl Tail {
    /// Hand `bytes` to every replica; forget the ones that are gone.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        self.feeds.retain_mut(|f| (f.sink)(bytes));
    }
}

impl Journal {
    /// Replicas fed now.
    pub fn replicas(&self) -> usize {
        self.feeds.load(Ordering::Relaxed)
    }

    /// Bytes of replication stream produced so far.
    pub fn repl_offset(&self) -> u64 {
        self.repl_offset.load(Ordering::Acquire)
    }

    /// Start feeding replica `id` through `sink` from the instant at which
    /// `at_switch` runs, with no write running (a full sync takes its
    /// snapshot there). `at_switch` answering `None` (no snapshot could
    /// start) attaches nothing. The stream's first record starts with a
    /// SELECT.
    pub fn attach<R>(
        &self,
        id: u64,
        sink: FeedSink,
        at_switch: impl FnOnce() -> Option<R>,
    ) -> Option<R> {
        let mut tail = self.lock_order();
        self.enabled.store(true, Ordering::SeqCst);
        wait_unjournaled();
        let r = at_switch();
        if r.is_some() {
            tail.feeds.push(Feed { id, sink });
            tail.feed_selected = None;
        }
        self.feeds.store(tail.feeds.len(), Ordering::Relaxed);
        self.settle(&tail);
        r
    }

    /// Stop feeding replica `id` (it disconnected).
    pub fn detach(&self, id: u64) {
        let mut tail = self.lock_order();
        tail.feeds.retain(|f| f.id != id);
        self.feeds.store(tail.feeds.len(), Ordering::Relaxed);
        self.settle(&tail);
    }

    /// Send every replica `argv` (the keep-alive PING), in the order.
    pub fn feed_now(&self, argv: &[&[u8]]) {
        let mut tail = self.lock_order();
        if tail.feeds.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut tail.feed_buf);
        buf.clear();
        encode_request(argv, &mut buf);
        self.repl_offset
            .fetch_add(buf.len() as u64, Ordering::AcqRel);
        tail.feed(&buf);
        tail.feed_buf = buf;
        self.feeds.store(tail.feeds.len(), Ordering::Relaxed);
        self.settle(&tail);
    }

    /// With the order lock held: writes stay ordered only while the file
    /// or a replica needs them to.
    pub(super) fn settle(&self, tail: &Tail) {
        let on = self.file_on() || !tail.feeds.is_empty();
        self.enabled.store(on, Ordering::SeqCst);
    }

    /// Hand one section's records to every replica.
    pub(super) fn feed_section(&self, tail: &mut Tail, records: &[Record], served: &[Record]) {
        let mut buf = std::mem::take(&mut tail.feed_buf);
        buf.clear();
        let mut selected = tail.feed_selected;
        encode_section(records, served, &mut buf, &mut selected);
        tail.feed_selected = selected;
        self.repl_offset
            .fetch_add(buf.len() as u64, Ordering::AcqRel);
        tail.feed(&buf);
        tail.feed_buf = buf;
        self.feeds.store(tail.feeds.len(), Ordering::Relaxed);
        self.settle(tail);
    }
}
