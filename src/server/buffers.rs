//! Connection buffers lent per worker thread, so an idle client holds none.
//!
//! A connection takes a buffer when its socket has something to read (or it
//! has a reply to write). While it is busy it keeps its buffers between
//! requests: up to [`RETAIN_MAX`] connections per worker thread may
//! ([`try_retain`]), so a request costs no trip through the pool. The
//! server cron asks a connection that keeps buffers and has run no command
//! for 100 ms to give them back (`state::clients::BUFFERS_IDLE_MS`; Redis
//! frees an idle client's query buffer in `clientsCron` after 2 s), and
//! connections beyond the cap give them back each time they go to wait. So 10,000 idle clients hold no buffers at all, and a
//! burst of clients borrows at most `RETAIN_MAX` pairs per thread beyond
//! the pool.

use std::cell::{Cell, RefCell};

use bytes::BytesMut;

/// Capacity of a lent buffer (Redis's `PROTO_IOBUF_LEN`).
pub const CHUNK: usize = 16 * 1024;
/// Buffers kept per thread; more are freed. Few are needed: busy
/// connections keep their own, so the pool serves only those beyond
/// [`RETAIN_MAX`] and those waking after the cron took theirs.
const KEEP: usize = 16;
/// Buffers grown beyond this are freed rather than kept.
const MAX_KEPT_CAPACITY: usize = 64 * 1024;

/// Connections per worker thread that may keep their buffers between
/// requests.
pub const RETAIN_MAX: usize = 64;
/// A read is given at least this much room; below it the buffer is grown
/// (or its consumed front reclaimed) back to [`CHUNK`] of room.
const MIN_ROOM: usize = CHUNK / 4;

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
    static RETAINED: Cell<usize> = const { Cell::new(0) };
}

/// Make sure `buf` has room for a read (at least [`MIN_ROOM`] bytes, and
/// [`CHUNK`] when it has to make room), taking a pooled buffer when it has
/// no storage.
pub fn ensure(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() >= MIN_ROOM {
        return;
    }
    if buf.capacity() == 0 {
        if let Some(pooled) = POOL.with(|p| p.borrow_mut().pop()) {
            *buf = pooled;
        }
    }
    buf.reserve(CHUNK);
}

/// Make room for a read while a large argument arrives, `end` being the
/// buffer length at which it is whole (`Decoder::big_bulk_end`): grow by
/// [`CHUNK`] or by doubling, but never past `end`, into a buffer of
/// exactly that capacity. So a client sending a 1 MB argument holds
/// 1 MB, not whatever a doubling left (Redis sizes its query buffer to
/// the argument too), and nothing is reserved for bytes not yet sent
/// beyond what doubling would have.
pub fn ensure_toward(buf: &mut BytesMut, end: usize) {
    if buf.capacity() - buf.len() >= MIN_ROOM || buf.capacity() >= end {
        return;
    }
    let target = end.min((2 * buf.len()).max(buf.len() + CHUNK));
    let mut grown = BytesMut::with_capacity(target);
    grown.extend_from_slice(buf);
    *buf = grown;
}

/// Is `buf` too large to keep between requests (or in the pool)? Only
/// right after it grew: a drained buffer reports just the room after its
/// consumed front, not its allocation.
pub fn oversized(buf: &BytesMut) -> bool {
    buf.capacity() > MAX_KEPT_CAPACITY
}

/// May one more connection on this thread keep its buffers while it
/// waits? Counts it if so; [`unretain`] gives the place back.
pub fn try_retain() -> bool {
    RETAINED.with(|n| {
        let held = n.get();
        (held < RETAIN_MAX).then(|| n.set(held + 1)).is_some()
    })
}

/// A connection counted by [`try_retain`] no longer keeps its buffers.
pub fn unretain() {
    RETAINED.with(|n| n.set(n.get().saturating_sub(1)));
}

/// Give `buf` storage for replies if it has none (no reserve: a reply that
/// fits the pooled buffer never reallocates, and a large one grows it).
pub fn ensure_some(buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        *buf = POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(|| BytesMut::with_capacity(CHUNK));
    }
}

/// Give an empty buffer's storage back to the pool (or free it).
pub fn release(buf: &mut BytesMut) {
    if buf.capacity() == 0 || !buf.is_empty() {
        return;
    }
    let taken = std::mem::take(buf);
    // A consumed buffer reports less capacity than it has (its front was
    // split off); `ensure`'s reserve reclaims the front when nothing else
    // shares it, so any size up to the cap is worth keeping.
    if oversized(&taken) {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < KEEP {
            p.push(taken);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_buffers_are_reused_and_bounded() {
        let mut a = BytesMut::new();
        ensure(&mut a);
        assert!(a.capacity() >= CHUNK);
        let ptr = a.as_ptr();
        release(&mut a);
        assert_eq!(a.capacity(), 0, "an idle connection holds no buffer");
        // Counted, not inferred from the address: the allocator may hand
        // a freed buffer's address out again.
        assert_eq!(POOL.with(|p| p.borrow().len()), 1, "kept in the pool");
        let mut b = BytesMut::new();
        ensure(&mut b);
        assert_eq!(b.as_ptr(), ptr, "the pooled buffer is lent again");
        b.extend_from_slice(b"x");
        release(&mut b);
        assert_eq!(b.len(), 1, "a buffer with data is kept by its owner");
        let mut huge = BytesMut::with_capacity(MAX_KEPT_CAPACITY * 2);
        release(&mut huge);
        assert_eq!(
            POOL.with(|p| p.borrow().len()),
            0,
            "oversized buffers are freed"
        );
    }

    #[test]
    fn a_read_gets_room_without_regrowing_each_time() {
        let mut a = BytesMut::new();
        ensure(&mut a);
        let start = a.as_ptr();
        a.extend_from_slice(&[b'x'; 100]);
        let _ = a.split_to(100);
        ensure(&mut a);
        assert_eq!(
            a.as_ptr(),
            start.wrapping_add(100),
            "room enough: kept as is"
        );
        a.extend_from_slice(&vec![b'y'; CHUNK - 100 - MIN_ROOM + 1]);
        let _ = a.split();
        ensure(&mut a);
        assert!(
            a.capacity() - a.len() >= CHUNK,
            "too little room: made up to a chunk"
        );
        // Data waiting in the buffer counts against its room, not for it.
        let mut b = BytesMut::with_capacity(CHUNK);
        b.extend_from_slice(&vec![b'z'; CHUNK - MIN_ROOM / 2]);
        ensure(&mut b);
        assert!(
            b.capacity() - b.len() >= CHUNK,
            "a nearly full buffer grows"
        );
    }

    #[test]
    fn the_pool_keeps_at_most_keep_buffers() {
        let mut lent: Vec<BytesMut> = (0..KEEP + 3).map(|_| BytesMut::new()).collect();
        for b in &mut lent {
            ensure(b);
        }
        for b in &mut lent {
            release(b);
        }
        assert_eq!(POOL.with(|p| p.borrow().len()), KEEP);
    }

    #[test]
    fn oversized_means_past_the_cap() {
        assert!(!oversized(&BytesMut::with_capacity(MAX_KEPT_CAPACITY)));
        assert!(oversized(&BytesMut::with_capacity(MAX_KEPT_CAPACITY + 1)));
        assert!(!oversized(&BytesMut::new()));
    }

    #[test]
    fn output_storage_is_given_only_to_a_buffer_without_any() {
        let mut out = BytesMut::new();
        ensure_some(&mut out);
        assert!(out.capacity() >= CHUNK, "an empty buffer gets storage");
        out.extend_from_slice(b"+PONG\r\n");
        let at = out.as_ptr();
        ensure_some(&mut out);
        assert_eq!(&out[..], b"+PONG\r\n", "pending replies are kept");
        assert_eq!(out.as_ptr(), at);
    }

    #[test]
    fn only_so_many_connections_keep_their_buffers() {
        let kept = (0..RETAIN_MAX + 5).filter(|_| try_retain()).count();
        assert_eq!(kept, RETAIN_MAX);
        unretain();
        assert!(try_retain(), "a place given back is taken again");
        assert!(!try_retain());
        for _ in 0..RETAIN_MAX + 10 {
            unretain();
        }
        assert!(try_retain(), "the count never goes below zero");
    }
}
