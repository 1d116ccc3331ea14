//! Connection buffers lent per worker thread, so an idle client holds none.
//!
//! A connection takes a buffer when its socket has something to read (or it
//! has a reply to write) and gives it back when both are drained and it goes
//! back to waiting. Busy clients cycle a handful of buffers through each
//! worker thread's pool, so the pool costs a push and a pop per request
//! instead of an allocation, and 10,000 idle clients hold no buffers at all
//! (Redis frees an idle client's query buffer in `clientsCron`; this does it
//! at once).

use std::cell::RefCell;

use bytes::BytesMut;

/// Capacity of a lent buffer (Redis's `PROTO_IOBUF_LEN`).
pub const CHUNK: usize = 16 * 1024;
/// Buffers kept per thread; more are freed.
const KEEP: usize = 64;
/// Buffers grown beyond this are freed rather than kept.
const MAX_KEPT_CAPACITY: usize = 64 * 1024;

thread_local! {
    static POOL: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// Make sure `buf` has room for a read of [`CHUNK`] bytes, taking a pooled
/// buffer when it has no storage.
pub fn ensure(buf: &mut BytesMut) {
    if buf.capacity() == 0 {
        if let Some(pooled) = POOL.with(|p| p.borrow_mut().pop()) {
            *buf = pooled;
        }
    }
    buf.reserve(CHUNK);
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
    if taken.capacity() > MAX_KEPT_CAPACITY {
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
}
