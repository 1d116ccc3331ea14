//! A connection's socket side: reading into and writing from its buffers,
//! keeping those buffers between requests or giving them back
//! ([`super::buffers`]), and the bounded flush and gentle close at
//! shutdown.

use std::io;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use store_api::Store;
use tokio::io::Interest;
use tracing::warn;

use super::{buffers, Connection, FLUSH_ON_SHUTDOWN, READ_TURN};

impl<S: Store> Connection<S> {
    /// Before a wait: keep the buffers for the next request if this thread
    /// has room for one more connection that does (see [`buffers`]), else
    /// give them back now. True when that changed what the connection
    /// holds.
    pub(super) fn keep_or_give_back_buffers(&mut self) -> bool {
        let mut changed = false;
        // A buffer that grew past what is worth keeping (a large pipeline
        // or reply) is freed as soon as it is drained; one holding data
        // stays with its owner either way.
        if std::mem::take(&mut self.grown) {
            changed = true;
            for buf in [&mut self.input, &mut self.output] {
                if buf.is_empty() {
                    *buf = BytesMut::new();
                }
            }
            self.grown = !self.input.is_empty() || !self.output.is_empty();
            // What this connection keeps changed: count it afresh below
            // (a kept count would report the freed buffers until the
            // cron takes the place back).
            if self.retained {
                self.retained = false;
                buffers::unretain();
                self.handle().keeps_buffers(0, 0);
            }
        }
        let spare = |b: &BytesMut| b.capacity() > 0 && b.is_empty();
        if self.retained || (!spare(&self.input) && !spare(&self.output)) {
            return changed;
        }
        if buffers::try_retain() {
            self.retained = true;
            if self.input.capacity() > 0 && self.input.is_empty() {
                // Take back the front that consumed requests split off (no
                // copy, no allocation while nothing else shares it): the
                // whole buffer is kept, and reported (CLIENT LIST qbuf-free).
                self.input.reserve(buffers::CHUNK);
            }
            let (input, output) = (self.input.capacity(), self.output.capacity());
            self.handle().keeps_buffers(input, output);
        } else {
            buffers::release(&mut self.input);
            buffers::release(&mut self.output);
        }
        true
    }

    /// Give the empty buffers back to the thread's pool, and with them the
    /// place among the connections that keep theirs.
    pub(super) fn give_back_buffers(&mut self) {
        buffers::release(&mut self.input);
        buffers::release(&mut self.output);
        if self.retained {
            self.retained = false;
            buffers::unretain();
            self.handle().keeps_buffers(0, 0);
        }
    }

    /// Read what the socket has (up to one turn's worth).
    pub(super) fn read_ready(&mut self) -> io::Result<()> {
        let mut read = 0;
        while read < READ_TURN && self.may_read() {
            match self.decoder.big_bulk_end() {
                // A large argument has arrived whole: run its request
                // before reading more into its buffer.
                Some(end) if self.input.len() >= end => break,
                Some(end) => buffers::ensure_toward(&mut self.input, end),
                None => buffers::ensure(&mut self.input),
            }
            let room = self.input.capacity() - self.input.len();
            let Connection { stream, input, .. } = self;
            let mut got = 0;
            // A short read drained the socket: answer `WouldBlock` so tokio
            // clears the readiness now (unless an event arrived meanwhile)
            // rather than after one more read that would fail.
            let r = stream.try_io(Interest::READABLE, || {
                got = stream.try_read_buf(input)?;
                if got > 0 && got < room {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(got)
                }
            });
            match r {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    read += got;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if read > 0 {
            self.client.count_net(read as u64, 0, 1, 0);
        }
        self.grown |= buffers::oversized(&self.input);
        if read > 0 && self.limits.timeout > 0 {
            // The idle timeout's clock, read only when one is configured
            // (CLIENT LIST's idle time comes from the command clock).
            self.last_activity = Instant::now();
        }
        if self.input.len() as u64 > self.limits.query_buffer {
            warn!(
                client = self.handle().id,
                bytes = self.input.len(),
                "closing client that reached max query buffer length"
            );
            return Err(io::Error::other("query buffer limit"));
        }
        Ok(())
    }

    /// Write as much pending output as the socket takes now.
    pub(super) fn write_ready(&mut self) -> io::Result<()> {
        self.grown |= buffers::oversized(&self.output);
        while !self.output.is_empty() {
            let Connection { stream, output, .. } = self;
            let mut wrote = 0;
            // A short write means the socket is full: clear its readiness
            // at once instead of by a write that would fail.
            let r = stream.try_io(Interest::WRITABLE, || {
                wrote = stream.try_write(output)?;
                if wrote < output.len() {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(wrote)
                }
            });
            if wrote > 0 {
                self.output.advance(wrote);
                self.client.count_net(0, wrote as u64, 0, 1);
                if self.limits.timeout > 0 {
                    // Writing counts as interaction (Redis's
                    // `lastinteraction`); the clock is read only when an
                    // idle timeout is configured.
                    self.last_activity = Instant::now();
                }
            }
            match r {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Shutdown: give the client a bounded time to take pending replies.
    pub(super) async fn flush_before_close(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + FLUSH_ON_SHUTDOWN;
        while !self.output.is_empty() && Instant::now() < deadline {
            let ready = tokio::time::timeout_at(deadline.into(), self.stream.writable()).await;
            if ready.is_err() {
                break;
            }
            self.write_ready()?;
        }
        if self.output.is_empty() {
            self.close_gently(deadline).await;
        }
        Ok(())
    }

    /// Send FIN after the last reply, then read and drop whatever the
    /// client still sends until it closes (or `deadline`). Closing a socket
    /// whose receive queue holds unread requests makes the kernel answer
    /// with RST and throw away replies still in flight, which would cut the
    /// client's last reply in half.
    pub(super) async fn close_gently(&mut self, deadline: Instant) {
        use tokio::io::AsyncWriteExt;
        if self.stream.shutdown().await.is_err() {
            return;
        }
        // On the heap, and only now: an array here would live in every
        // connection's task for its whole life (the future is as large as
        // its largest state), 16 KB per idle client.
        let mut scratch = vec![0u8; 4 * 1024];
        loop {
            let ready = tokio::time::timeout_at(deadline.into(), self.stream.readable()).await;
            if !matches!(ready, Ok(Ok(()))) {
                return;
            }
            match self.stream.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}
