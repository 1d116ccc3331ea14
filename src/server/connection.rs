//! One client connection: read buffer -> requests -> replies -> one write.
//!
//! The loop reads whatever the socket has, decodes every complete request in
//! the buffer, runs each, encodes each reply into one output buffer, and
//! writes that buffer with one syscall per batch (not one per reply). Reads
//! and writes are driven by socket readiness, so a client that pipelines a
//! lot before reading anything still makes progress.
//!
//! Memory per client is bounded: commands stop running while more than
//! [`OUTPUT_PAUSE`] bytes of replies are unsent, and reading stops while, in
//! addition, more than [`INPUT_PAUSE`] bytes of requests wait, so a client
//! that sends and never reads is held back by TCP instead of growing the
//! server. `client-query-buffer-limit` and `client-output-buffer-limit`
//! close a client as Redis does.
//!
//! Failures are sorted by blast radius: a command error is a reply; a
//! protocol error is a reply and then the connection closes; an I/O error
//! closes quietly; a panic ends only this task.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use store_api::Store;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tracing::{debug, warn};

use super::clients::{Activity, ClientHandle, Session};
use super::shutdown::Shutdown;
use super::ServerState;
use crate::cmd::{dispatch, Reply};
use crate::config::OutputLimit;
use crate::protocol::{encode, DecodeLimits, Decoder, Frame};

/// Stop running commands while this many reply bytes are unsent.
pub const OUTPUT_PAUSE: usize = 16 * 1024 * 1024;
/// While commands are paused, stop reading once this much input waits.
pub const INPUT_PAUSE: usize = 16 * 1024 * 1024;
/// Bytes read per syscall (Redis's `PROTO_IOBUF_LEN`).
const READ_CHUNK: usize = 16 * 1024;
/// Most bytes read in one turn before running commands.
const READ_TURN: usize = 1024 * 1024;
/// Buffers grown beyond this are released once empty.
const KEEP_CAPACITY: usize = 64 * 1024;
/// How long shutdown waits for a client to take its last replies.
const FLUSH_ON_SHUTDOWN: Duration = Duration::from_secs(2);

struct Connection<S: Store> {
    state: Arc<ServerState<S>>,
    stream: TcpStream,
    session: Session,
    decoder: Decoder,
    input: BytesMut,
    output: BytesMut,
    eof: bool,
    last_activity: Instant,
    /// Since when unsent output has been above the soft limit.
    over_soft: Option<Instant>,
    /// The last batch stopped at the output budget, so complete requests
    /// may still wait in `input` with no socket event to announce them.
    backlog: bool,
}

/// Serve one accepted client until it leaves, is killed, or the server
/// shuts down.
pub async fn serve<S: Store>(
    state: Arc<ServerState<S>>,
    stream: TcpStream,
    handle: Arc<ClientHandle>,
    shutdown: Shutdown,
) {
    let id = handle.id;
    let mut session = Session::new(handle);
    session.authenticated = state.config().requirepass.is_empty();
    let mut conn = Connection {
        state: state.clone(),
        stream,
        session,
        decoder: Decoder::new(),
        input: BytesMut::with_capacity(READ_CHUNK),
        output: BytesMut::new(),
        eof: false,
        last_activity: Instant::now(),
        over_soft: None,
        backlog: false,
    };
    if let Err(e) = conn.run(shutdown).await {
        debug!(client = id, cause = %e, "connection closed");
    }
    state.clients.unregister(id);
}

/// Why the loop stopped.
enum Stop {
    Done,
    Shutdown,
}

impl<S: Store> Connection<S> {
    async fn run(&mut self, mut shutdown: Shutdown) -> io::Result<()> {
        let handle = self.session.handle.clone();
        loop {
            self.process().await;
            self.write_ready()?;
            if let Some(stop) = self.should_stop() {
                return match stop {
                    Stop::Done => Ok(()),
                    Stop::Shutdown => Err(io::Error::other("server shutting down")),
                };
            }
            if self.backlog && self.output.len() < self.output_budget() {
                // The socket took the whole batch: run the waiting requests
                // now (after letting other tasks run) instead of waiting for
                // input that has already arrived.
                tokio::task::yield_now().await;
                continue;
            }
            let timeout = self.state.config().timeout;
            let idle_deadline = self.last_activity + Duration::from_secs(timeout);
            // A client parked over the soft output limit sends nothing that
            // would wake us: re-check when its grace period runs out.
            let soft_deadline = self.soft_limit_deadline();
            let interest = self.interest();
            tokio::select! {
                _ = shutdown.recv() => return self.flush_before_close().await,
                _ = handle.killed() => return Ok(()),
                _ = tokio::time::sleep_until(idle_deadline.into()), if timeout > 0 => {
                    debug!(client = handle.id, "closing idle client");
                    return Ok(());
                }
                _ = tokio::time::sleep_until(soft_deadline.unwrap_or(idle_deadline).into()),
                    if soft_deadline.is_some() => {}
                ready = self.stream.ready(interest) => {
                    if ready?.is_readable() {
                        self.read_ready()?;
                    }
                }
            }
        }
    }

    /// What to wait for: input when we may read, output room when we have
    /// something to send.
    fn interest(&self) -> Interest {
        let read = self.may_read();
        match (read, !self.output.is_empty()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            // Nothing to send and nothing we may read: only happens while
            // closing; readiness for errors still wakes us.
            _ => Interest::READABLE,
        }
    }

    fn may_read(&self) -> bool {
        !self.eof
            && !self.closing()
            && (self.output.len() < OUTPUT_PAUSE || self.input.len() < INPUT_PAUSE)
    }

    fn closing(&self) -> bool {
        self.session.close_after_reply || self.session.shutdown_requested
    }

    fn should_stop(&mut self) -> Option<Stop> {
        if self.session.shutdown_requested {
            // SHUTDOWN: Redis exits without answering it.
            return Some(Stop::Shutdown);
        }
        if self.output_limit_reached() {
            warn!(
                client = self.session.handle.id,
                "closing client over its output buffer limit"
            );
            return Some(Stop::Done);
        }
        let drained = self.output.is_empty();
        if drained && (self.session.close_after_reply || self.eof) {
            return Some(Stop::Done);
        }
        None
    }

    /// `client-output-buffer-limit normal <hard> <soft> <seconds>`.
    fn output_limit_reached(&mut self) -> bool {
        let OutputLimit {
            hard,
            soft,
            soft_secs,
        } = self.state.config().output_limits.normal;
        let pending = self.output.len() as u64;
        if hard > 0 && pending > hard {
            return true;
        }
        if soft > 0 && pending > soft {
            let since = *self.over_soft.get_or_insert_with(Instant::now);
            return since.elapsed() > Duration::from_secs(soft_secs);
        }
        self.over_soft = None;
        false
    }

    /// When the soft output limit will have been exceeded for too long.
    fn soft_limit_deadline(&self) -> Option<Instant> {
        let limit = self.state.config().output_limits.normal;
        let since = self.over_soft.filter(|_| limit.soft > 0)?;
        Some(since + Duration::from_secs(limit.soft_secs) + Duration::from_millis(1))
    }

    /// Unsent reply bytes at which commands stop running: [`OUTPUT_PAUSE`],
    /// or the hard output limit when that is lower, so a client cannot
    /// make one batch overshoot its limit by more than one reply.
    fn output_budget(&self) -> usize {
        let hard = self.state.config().output_limits.normal.hard;
        match usize::try_from(hard) {
            Ok(hard) if hard > 0 => hard.saturating_add(1).min(OUTPUT_PAUSE),
            _ => OUTPUT_PAUSE,
        }
    }

    /// Read what the socket has (up to one turn's worth).
    fn read_ready(&mut self) -> io::Result<()> {
        let mut read = 0;
        while read < READ_TURN && self.may_read() {
            self.input.reserve(READ_CHUNK);
            match self.stream.try_read_buf(&mut self.input) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if read > 0 {
            self.last_activity = Instant::now();
        }
        let limit = self.state.config().client_query_buffer_limit;
        if self.input.len() as u64 > limit {
            warn!(
                client = self.session.handle.id,
                bytes = self.input.len(),
                "closing client that reached max query buffer length"
            );
            return Err(io::Error::other("query buffer limit"));
        }
        Ok(())
    }

    /// Write as much pending output as the socket takes now.
    fn write_ready(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            match self.stream.try_write(&self.output) {
                Ok(n) => {
                    self.output.advance(n);
                    self.last_activity = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if self.output.is_empty() && self.output.capacity() > KEEP_CAPACITY {
            self.output = BytesMut::new();
        }
        if self.input.is_empty() && self.input.capacity() > KEEP_CAPACITY {
            self.input = BytesMut::with_capacity(READ_CHUNK);
        }
        Ok(())
    }

    /// Run every complete request in the input buffer, as long as the
    /// output stays under [`OUTPUT_PAUSE`].
    async fn process(&mut self) {
        let mut commands = 0;
        let budget = self.output_budget();
        while !self.closing() && self.output.len() < budget {
            let limits = DecodeLimits {
                max_bulk_len: self.state.config().proto_max_bulk_len,
                unauthenticated: self.state.auth_required(&self.session),
            };
            let argv = match self.decoder.decode(&mut self.input, limits) {
                Ok(Some(argv)) => argv,
                Ok(None) => break,
                Err(e) => {
                    debug!(client = self.session.handle.id, cause = %e, "protocol error");
                    encode(
                        &Frame::Error(e.reply_text().into()),
                        self.session.proto,
                        &mut self.output,
                    );
                    self.session.close_after_reply = true;
                    break;
                }
            };
            if is_cross_protocol_attack(&argv[0]) {
                let peer = self.session.handle.addr;
                warn!(%peer, "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted.");
                self.output.clear();
                self.session.close_after_reply = true;
                self.eof = true;
                break;
            }
            commands += 1;
            let frame = match dispatch(&self.state, &mut self.session, argv) {
                Reply::Now(frame) => frame,
                Reply::Later(work) => tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
                    warn!(cause = %e, "a blocking command failed");
                    Frame::error("ERR internal error")
                }),
            };
            if !self.session.shutdown_requested {
                encode(&frame, self.session.proto, &mut self.output);
            }
        }
        self.backlog = self.output.len() >= budget && !self.closing();
        let activity = Activity {
            commands,
            qbuf: self.input.len(),
            omem: self.output.len(),
        };
        self.session.handle.publish(&self.session, activity);
    }

    /// Shutdown: give the client a bounded time to take pending replies.
    async fn flush_before_close(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + FLUSH_ON_SHUTDOWN;
        while !self.output.is_empty() && Instant::now() < deadline {
            let ready = tokio::time::timeout_at(deadline.into(), self.stream.writable()).await;
            if ready.is_err() {
                break;
            }
            self.write_ready()?;
        }
        Ok(())
    }
}

/// Redis treats `POST` and `Host:` as commands that mean someone is
/// speaking HTTP to it (cross-protocol scripting) and drops the client.
fn is_cross_protocol_attack(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}
