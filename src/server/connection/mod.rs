//! One client connection: read buffer -> requests -> replies -> one write.
//!
//! The loop reads whatever the socket has, decodes every complete request in
//! the buffer, runs each, encodes each reply into one output buffer, and
//! writes that buffer with one syscall per batch (not one per reply). Reads
//! and writes are driven by socket readiness, so a client that pipelines a
//! lot before reading anything still makes progress.
//!
//! Cost per request, measured against Redis (`scripts/request-cost`): the
//! wait is one hand-written future that polls the socket's readiness, the
//! client's event word (kill, shutdown) and, only when one is armed, a
//! timer; nothing is registered or dropped per request. A read that returns
//! less than the buffer's room has drained the socket, so its readiness is
//! cleared on the spot instead of by a second read that would fail with
//! `EAGAIN` (what Redis does too: one read per readable event). Buffers are
//! lent by a per-thread pool while the client is busy ([`super::buffers`]).
//!
//! Memory per client is bounded: commands stop running while more than
//! [`OUTPUT_PAUSE`] bytes of replies are unsent, and reading stops while, in
//! addition, more than [`INPUT_PAUSE`] bytes of requests wait, so a client
//! that sends and never reads is held back by TCP instead of growing the
//! server. `client-query-buffer-limit` and `client-output-buffer-limit`
//! close a client as Redis does.
//!
//! The socket side (reads, writes, keeping or giving back buffers, the
//! close at shutdown) is in `socket`; blocking commands and the timer in
//! `waits`.
//!
//! Failures are sorted by blast radius: a command error is a reply; a
//! protocol error is a reply and then the connection closes; an I/O error
//! closes quietly; a panic ends only this task.

mod fiber;
mod limits;
mod socket;
mod waits;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use store_api::Store;
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tracing::{debug, warn};

use super::buffers;
use super::shutdown::Shutdown;
use crate::cmd::{Blocked, Client, Executor, Reply};
use crate::protocol::{encode, DecodeLimits, Decoder, Frame, Protocol};
use crate::state::{Activity, ClientHandle, Event, Session};
use limits::{Class, Limits};

/// Stop running commands while this many reply bytes are unsent.
pub const OUTPUT_PAUSE: usize = 16 * 1024 * 1024;
/// While commands are paused, stop reading once this much input waits.
pub const INPUT_PAUSE: usize = 16 * 1024 * 1024;
/// Most bytes read in one turn before running commands.
const READ_TURN: usize = 1024 * 1024;
/// The most arguments' room a connection keeps between requests (the rest
/// is freed after a long request).
const ARGV_KEPT: usize = 8;
/// How long shutdown waits for a client to take its last replies.
const FLUSH_ON_SHUTDOWN: Duration = Duration::from_secs(2);

struct Connection<S: Store> {
    exec: Arc<Executor<S>>,
    limits: Limits,
    stream: TcpStream,
    client: Client<S>,
    decoder: Decoder,
    /// The vector requests are decoded into, reused from one to the next
    /// (an allocation and a free fewer per request).
    argv: Vec<Bytes>,
    input: BytesMut,
    output: BytesMut,
    /// Counted by `buffers::try_retain`: keeps its buffers while it waits
    /// until the cron asks for them ([`Event::Trim`]).
    retained: bool,
    /// A buffer grew past `buffers::oversized` since the last wait.
    grown: bool,
    eof: bool,
    last_activity: Instant,
    /// Since when unsent output has been above the soft limit.
    over_soft: Option<Instant>,
    /// The last batch stopped at the output budget, so complete requests
    /// may still wait in `input` with no socket event to announce them.
    backlog: bool,
    /// Armed only while an idle timeout, a soft output limit or a blocking
    /// command's timeout applies.
    timer: Option<Pin<Box<Sleep>>>,
    /// A blocking command waiting to be served, and when it times out.
    blocked: Option<(Blocked, Option<Instant>)>,
    /// Pushes still in the mailbox after the last drain stopped at the
    /// output budget.
    mail_left: usize,
    /// A request CLIENT PAUSE holds back, and until when.
    postponed: Option<(Vec<Bytes>, Instant)>,
}

/// Serve one accepted client until it leaves, is killed, or the server
/// shuts down.
pub async fn serve<S: Store>(
    exec: Arc<Executor<S>>,
    stream: TcpStream,
    handle: Arc<ClientHandle>,
    shutdown: Shutdown,
) {
    let id = handle.id;
    let state = exec.state.clone();
    if shutdown.is_shutdown() {
        state.clients.unregister(id);
        return;
    }
    let mut session = Session::new(handle);
    session.authenticated = state.config().requirepass.is_empty();
    let mut client = exec.client(session);
    let class = Class::of(&client.session);
    let limits = Limits::of(client.config(&state), class);
    let mut conn = Connection {
        exec,
        limits,
        stream,
        client,
        decoder: Decoder::new(),
        argv: Vec::new(),
        input: BytesMut::new(),
        output: BytesMut::new(),
        retained: false,
        grown: false,
        eof: false,
        last_activity: Instant::now(),
        over_soft: None,
        backlog: false,
        timer: None,
        blocked: None,
        mail_left: 0,
        postponed: None,
    };
    if let Err(e) = conn.run().await {
        debug!(client = id, cause = %e, "connection closed");
    }
    // A client that leaves while blocked gives up its wait, so nothing is
    // popped for it from now on.
    conn.unblock(None);
    conn.give_back_buffers();
    drop(shutdown);
    state.clients.unregister(id);
}

/// Why the loop stopped.
enum Stop {
    Done,
    Shutdown,
}

/// What ended a wait.
enum Wake {
    Readable,
    Writable,
    Timer,
    Message,
    /// The cron asks for the buffers kept while idle.
    Trim,
    Killed,
    Shutdown,
}

impl<S: Store> Connection<S> {
    fn handle(&self) -> &Arc<ClientHandle> {
        &self.client.session.handle
    }

    async fn run(&mut self) -> io::Result<()> {
        loop {
            self.refresh_limits();
            self.check_blocked();
            // Pushes queued before this batch's requests arrived go out
            // before its replies (a keyspace event before the reply to a
            // PING sent after the command that caused it).
            self.drain_mailbox();
            let commands = self.process().await;
            if self.others_first(commands) {
                tokio::task::yield_now().await;
            }
            self.settle_journal().await;
            self.drain_mailbox();
            if self.over_hard_output_limit() {
                // Before anything is written, as Redis checks each reply
                // as it is added: a reply past the hard limit closes the
                // client whatever the socket would take at once.
                warn!(
                    client = self.handle().id,
                    "closing client over its output buffer limit"
                );
                return Ok(());
            }
            // What the batch left, its replies included, is published
            // before they go out (Redis counts them then too), so whoever
            // the replies reach next sees it; and again once they are
            // written if that gave buffers back, below.
            self.account_memory(&[]);
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
            if self.keep_or_give_back_buffers() {
                self.account_memory(&[]);
            }
            self.arm_timer();
            match self.wait().await? {
                Wake::Readable => self.read_ready()?,
                Wake::Trim => self.give_back_buffers(),
                Wake::Writable | Wake::Timer | Wake::Message => {}
                Wake::Killed => return Ok(()),
                Wake::Shutdown => {
                    self.unblock(None);
                    return self.flush_before_close().await;
                }
            }
            if self.idle_timed_out() {
                debug!(client = self.handle().id, "closing idle client");
                return Ok(());
            }
        }
    }

    /// Wait for the socket (input when we may read, room when we have
    /// output), for another thread's event, or for the armed timer.
    fn wait(&mut self) -> impl Future<Output = io::Result<Wake>> + '_ {
        let read = self.may_read();
        let write = !self.output.is_empty();
        std::future::poll_fn(move |cx| self.poll_wait(cx, read, write))
    }

    fn poll_wait(
        &mut self,
        cx: &mut Context<'_>,
        read: bool,
        write: bool,
    ) -> Poll<io::Result<Wake>> {
        let handle = &self.client.session.handle;
        handle.register_waker(cx.waker());
        let events = handle.events();
        if let Some(wake) = event_wake(events) {
            return Poll::Ready(Ok(wake));
        }
        if events & Event::Message as u32 != 0 {
            return Poll::Ready(Ok(Wake::Message));
        }
        if events & Event::Trim as u32 != 0 {
            handle.clear(Event::Trim);
            return Poll::Ready(Ok(Wake::Trim));
        }
        if events & Event::Wake as u32 != 0 {
            if self.blocked.is_some() || self.postponed.is_some() {
                return Poll::Ready(Ok(Wake::Timer));
            }
            // A wake-up that arrived after its reply was already taken.
            handle.clear(Event::Wake);
        }
        if write {
            if let Poll::Ready(r) = self.stream.poll_write_ready(cx) {
                return Poll::Ready(r.map(|()| Wake::Writable));
            }
        }
        // With nothing to send and nothing we may read (only while
        // closing), readiness still reports errors and hang-ups.
        if read || !write {
            if let Poll::Ready(r) = self.stream.poll_read_ready(cx) {
                return Poll::Ready(r.map(|()| Wake::Readable));
            }
        }
        if let Some(timer) = self.timer.as_mut() {
            if timer.as_mut().poll(cx).is_ready() {
                self.timer = None;
                return Poll::Ready(Ok(Wake::Timer));
            }
        }
        Poll::Pending
    }

    /// Move waiting pushes (pub/sub messages...) into the output, up to the
    /// output budget; what does not fit waits for the socket to drain.
    fn drain_mailbox(&mut self) {
        let handle = &self.client.session.handle;
        if self.mail_left == 0 && !handle.has(Event::Message) {
            return;
        }
        handle.clear(Event::Message);
        let room = self.output_budget().saturating_sub(self.output.len());
        let resp3 = self.client.session.proto == Protocol::Resp3;
        let mut mailbox = handle.mailbox();
        if room > 0 && !mailbox.is_empty() {
            buffers::ensure_some(&mut self.output);
            let out = &mut self.output;
            mailbox.take(room, |item| item.encode_into(resp3, out));
        }
        self.mail_left = mailbox.len();
    }

    fn may_read(&self) -> bool {
        !self.eof
            && !self.closing()
            && (self.output.len() < OUTPUT_PAUSE || self.input.len() < INPUT_PAUSE)
    }

    fn closing(&self) -> bool {
        self.client.session.close_after_reply || self.client.session.shutdown_requested
    }

    fn should_stop(&mut self) -> Option<Stop> {
        if self.client.session.shutdown_requested {
            // SHUTDOWN: Redis exits without answering it.
            return Some(Stop::Shutdown);
        }
        if self.soft_output_limit_reached() {
            warn!(
                client = self.handle().id,
                "closing client over its output buffer limit"
            );
            return Some(Stop::Done);
        }
        let drained = self.output.is_empty();
        if drained && (self.client.session.close_after_reply || self.eof) {
            return Some(Stop::Done);
        }
        None
    }

    /// Whether the other clients ready on this thread should run their
    /// batches before this one's records are written and its replies sent
    /// (a yielded task resumes after them), as Redis writes the
    /// append-only file and then sends every reply once per event-loop
    /// turn: one `write` carries all their records, and the sends to one
    /// peer come together instead of waking it once per batch (the peer's
    /// wake-up is the dearest part of a send; measured in
    /// reports/2026-12-05-deferred-replies.md). A lone request whose
    /// records are written goes at once: its client waits on the reply,
    /// and the yield would cost more than it saves.
    fn others_first(&self, commands: u64) -> bool {
        if self.exec.state.clients.count() < 2 {
            return false;
        }
        let upto = self.client.session.journaled;
        commands > 1 || (upto > 0 && !self.exec.state.db.journal().written(upto))
    }

    /// Before the batch's replies go out, the append-only file holds its
    /// writes: written (`everysec`, `no`) or on disk (`always`), shared
    /// with every client that arrived meanwhile (see `db::journal`).
    /// With `always`, a write that cannot reach the disk stops the
    /// server, as Redis does: nothing unsaved is ever acknowledged.
    async fn settle_journal(&mut self) {
        let upto = std::mem::take(&mut self.client.session.journaled);
        if upto == 0 {
            return;
        }
        let always = self.client.config(&self.exec.state).aof.fsync == crate::config::Fsync::Always;
        let journal = self.exec.state.db.journal();
        if let Err(e) = journal.flush(upto, false) {
            if always {
                tracing::error!(cause = %e, "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                std::process::exit(1);
            }
        }
        if always && journal.file_on() {
            journal.wait_synced(upto).await;
        }
    }

    /// Run every complete request in the input buffer, as long as the
    /// output stays under [`OUTPUT_PAUSE`]; how many ran.
    async fn process(&mut self) -> u64 {
        crate::state::pubsub::begin_batch();
        crate::state::scripts::begin_batch();
        let mut commands = 0;
        let budget = self.output_budget();
        if !self.input.is_empty() {
            buffers::ensure_some(&mut self.output);
        }
        // A request held back by CLIENT PAUSE goes first (it is asked
        // again whether the pause still holds it).
        let mut retry = self.postponed.take().map(|(argv, _)| {
            self.client.session.handle.set_blocked(false);
            argv
        });
        // A client killed (CLIENT KILL, client eviction) runs nothing
        // more: Redis frees it at once. (Checked per batch; a kill during
        // one stops it where this connection does the killing.)
        let killed = self.handle().is_killed();
        while !killed
            && !self.closing()
            && self.blocked.is_none()
            && self.postponed.is_none()
            && self.output.len() < budget
            && (retry.is_some() || !self.input.is_empty())
        {
            if let Some(mut argv) = retry.take() {
                commands += 1;
                self.run_request(&mut argv).await;
                continue;
            }
            let authenticated = self.client.session.authenticated;
            let config = self.client.config(&self.exec.state);
            let limits = DecodeLimits {
                max_bulk_len: config.proto_max_bulk_len,
                unauthenticated: !authenticated && !config.requirepass.is_empty(),
            };
            let mut argv = std::mem::take(&mut self.argv);
            self.client.session.qbuf = self.input.len();
            match self.decoder.decode_into(&mut self.input, limits, &mut argv) {
                Ok(true) => {}
                Ok(false) => {
                    self.argv = argv;
                    break;
                }
                Err(e) => {
                    debug!(client = self.handle().id, cause = %e, "protocol error");
                    encode(
                        &Frame::Error(e.reply_text().into()),
                        self.client.session.proto,
                        &mut self.output,
                    );
                    self.client.session.close_after_reply = true;
                    break;
                }
            };
            if is_cross_protocol_attack(&argv[0]) {
                let peer = self.handle().addr;
                warn!(%peer, "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection aborted.");
                self.output.clear();
                self.client.session.close_after_reply = true;
                self.eof = true;
                break;
            }
            if self.limits.clients.is_some() {
                // Before the command runs, as Redis's `processCommand`
                // evicts: a client whose request took it over the limit
                // is gone before the request does anything.
                self.account_memory(&argv);
                if self.handle().is_killed() {
                    break;
                }
            }
            commands += 1;
            self.run_request(&mut argv).await;
            // Kept for the next request unless it grew large.
            argv.clear();
            if argv.capacity() <= ARGV_KEPT {
                self.argv = argv;
            }
        }
        self.backlog = self.output.len() >= budget && !self.closing();
        let activity = Activity {
            commands,
            qbuf: self.input.len(),
            omem: self.output.len(),
        };
        self.client
            .session
            .handle
            .publish(&self.client.session, activity);
        crate::state::pubsub::end_batch();
        crate::state::scripts::end_batch();
        commands
    }

    /// Run one request and queue its reply (or start waiting: a blocking
    /// command, a pause).
    async fn run_request(&mut self, argv: &mut Vec<Bytes>) {
        let reply = if fiber::may_run_script(&argv[0]) && crate::util::on_worker() {
            self.dispatch_on_fiber(argv).await
        } else {
            self.exec.dispatch(&mut self.client, argv)
        };
        let frame = match reply {
            Reply::Now(frame) => frame,
            Reply::Later(work) => {
                // Nothing published so far waits for the blocking work, and
                // no batch stays behind on this thread while the task is
                // away (it may resume on another).
                crate::state::pubsub::end_batch();
                crate::state::scripts::end_batch();
                let start = Instant::now();
                let frame = tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
                    warn!(cause = %e, "a blocking command failed");
                    Frame::error("ERR internal error")
                });
                let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.exec
                    .finish_later(&mut self.client, argv, &frame, nanos);
                crate::state::pubsub::begin_batch();
                crate::state::scripts::begin_batch();
                frame
            }
            Reply::Block(blocked) => {
                let deadline = (blocked.timeout_ms > 0)
                    .then(|| Instant::now() + Duration::from_millis(blocked.timeout_ms));
                self.client.session.handle.set_blocked(true);
                self.blocked = Some((blocked, deadline));
                // Served before we even wait? Then reply now.
                self.check_blocked();
                return;
            }
            Reply::Postpone(argv, until) => {
                self.client.session.handle.set_postponed();
                self.postponed = Some((argv, until));
                return;
            }
        };
        if std::mem::take(&mut self.client.session.pushes_first) {
            self.drain_mailbox();
        }
        let dropped = self.client.session.drop_reply();
        if (dropped && !is_subscription(argv, &frame)) || self.client.session.shutdown_requested {
            return;
        }
        let hard = self.limits.output.hard;
        if hard > 0 && (self.output.len() + frame.payload_len()) as u64 > hard {
            // Certain to pass the hard output limit: closed before a byte
            // of the reply is copied, and nothing more is sent (Redis
            // frees such a client without writing what it had pending).
            warn!(
                client = self.handle().id,
                "closing client over its output buffer limit"
            );
            self.output.clear();
            self.handle().kill();
            self.client.session.close_after_reply = true;
            return;
        }
        encode(&frame, self.client.session.proto, &mut self.output);
    }
}

/// Is `frame` the confirmation of a (un)subscription? Redis sends those as
/// pushes, which CLIENT REPLY OFF and SKIP do not silence (its
/// `CLIENT_PUSHING`); an error is an ordinary reply.
fn is_subscription(argv: &[Bytes], frame: &Frame) -> bool {
    const NAMES: [&[u8]; 6] = [
        b"subscribe",
        b"psubscribe",
        b"ssubscribe",
        b"unsubscribe",
        b"punsubscribe",
        b"sunsubscribe",
    ];
    !matches!(frame, Frame::Error(_))
        && argv
            .first()
            .is_some_and(|name| NAMES.iter().any(|n| name.eq_ignore_ascii_case(n)))
}

/// The wake an event word calls for, if any.
fn event_wake(events: u32) -> Option<Wake> {
    if events & Event::Kill as u32 != 0 {
        Some(Wake::Killed)
    } else if events & Event::Shutdown as u32 != 0 {
        Some(Wake::Shutdown)
    } else {
        None
    }
}

/// Redis treats `POST` and `Host:` as commands that mean someone is
/// speaking HTTP to it (cross-protocol scripting) and drops the client.
fn is_cross_protocol_attack(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:")
}
