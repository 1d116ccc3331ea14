//! The write journal: every change in one order, as Redis's AOF records it.
//!
//! While the append-only file is on, every change to the data is recorded
//! as the command that replays it (Redis's propagation: `SET k v PXAT t`
//! for `SET k v EX 10`, `SREM` for `SPOP`, `DEL` for a key found expired,
//! `LPOP` for a served `BLPOP`...). The file must replay to the state
//! clients saw, so two writers to one key must be logged in the order
//! their effects were applied. FlashKV gets that order the simple way:
//!
//! - **One order lock.** A command that may write runs inside
//!   [`Journal::ordered`]: it takes the journal's order lock, runs, and
//!   appends what it recorded to the journal's tail before letting go.
//!   The log order is therefore exactly the apply order. Reads, which
//!   write nothing, never take it; with the journal off nobody does (one
//!   relaxed load per write command).
//! - **Records** are gathered per thread while a section runs
//!   ([`record`], [`command_done`]): the keyspace records `DEL` for an
//!   expired key it deletes, commands record themselves (or the rewrite
//!   they ask for), and a push that serves blocked clients records their
//!   pops after the section. A section with more than one record of its
//!   own is wrapped in MULTI/EXEC, as Redis 7.0 wraps them, so a torn tail
//!   never replays half of it; the served pops follow, each on its own (as
//!   Redis serves blocked clients after the command has propagated).
//! - **Expired keys are deleted only inside a section** (or by the
//!   sweeper, which opens one), so each deletion has its place in the
//!   order; a reader that meets an expired key outside a section leaves it
//!   to them (it is invisible either way).
//! - **Durability** ([`Journal::flush`]): a connection, before it sends a
//!   batch's replies, makes sure its last record reached the file
//!   (`everysec`, `no`) or the disk (`always`). Whoever comes first writes
//!   (and syncs) everything appended so far while the others wait on the
//!   file lock and then find their records already done: group commit,
//!   one write and one fsync for every client that arrived meanwhile.
//! - **Lock order, always: the file lock (`sink`), then the order lock.**
//!   A flush holds the file lock and takes the order lock briefly to take
//!   the tail; switching files (`enable`, `disable`, `rotate`) takes both
//!   the same way round. (In the other order a rewrite and a flush each
//!   held what the other wanted, and every write after them hung.) So a
//!   section, which holds the order lock, never takes the file lock: the
//!   file's size (INFO in MULTI or a script) is an atomic.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::protocol::encode_request;

/// What this thread gives back before it waits for one of the journal's
/// locks (set once by the layer above: a Lua VM kept for a pipelined
/// batch, which a script holding the order lock may be waiting for).
static BEFORE_WAIT: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Set what a thread gives back before it waits for a journal lock (the
/// first call wins; every server in the process sets the same).
pub fn on_wait(f: fn()) {
    let _ = BEFORE_WAIT.set(f);
}

fn before_waiting() {
    if let Some(f) = BEFORE_WAIT.get() {
        f();
    }
}

/// One record: the database it applies to and the command that replays it.
pub type Record = (usize, Vec<Bytes>);

mod feeds;
mod section;

use feeds::Feed;
pub use feeds::FeedSink;
pub use section::{
    command_done, dirty, discard, in_section, logged_inside, mark, record, record_served,
    restore_section, rewrite, serving, stash_section, words, Mark, Stashed,
};
use section::{Section, SectionGuard, SECTION};

/// How many unjournaled writes each thread is running (see
/// [`Journal::enable`]); each thread writes only its own counter.
static UNJOURNALED: Mutex<Vec<std::sync::Arc<AtomicU64>>> = Mutex::new(Vec::new());

thread_local! {
    static MINE: std::sync::Arc<AtomicU64> = {
        let c = std::sync::Arc::new(AtomicU64::new(0));
        UNJOURNALED.lock().push(c.clone());
        c
    };
}

/// A write running while the journal is off.
struct Unjournaled;

impl Unjournaled {
    fn enter() -> Self {
        MINE.with(|c| c.store(c.load(Ordering::Relaxed) + 1, Ordering::SeqCst));
        Unjournaled
    }
}

impl Drop for Unjournaled {
    fn drop(&mut self) {
        MINE.with(|c| c.store(c.load(Ordering::Relaxed) - 1, Ordering::Release));
    }
}

/// Is this thread inside a write: a section, or one that began with the
/// journal off (whose end a journal being turned on waits for)?
#[inline]
pub fn in_write() -> bool {
    in_section() || MINE.with(|c| c.load(Ordering::Relaxed)) > 0
}

/// Wait until no thread runs a write that began with the journal off.
fn wait_unjournaled() {
    let all = UNJOURNALED.lock().clone();
    let me = MINE.with(|c| c.clone());
    for c in all {
        // The caller may itself be inside one (CONFIG SET in EXEC).
        while !std::sync::Arc::ptr_eq(&c, &me) && c.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    }
}

/// Records appended and not yet written, and the replicas fed.
#[derive(Default)]
struct Tail {
    buf: Vec<u8>,
    /// The database the last SELECT in the file chose.
    selected: Option<usize>,
    feeds: Vec<Feed>,
    /// The database the last SELECT in the replication stream chose (one
    /// stream for every replica, as Redis's backlog; a new replica resets
    /// it, so the next record starts with a SELECT for everyone).
    feed_selected: Option<usize>,
    /// Scratch for one section's replication bytes.
    feed_buf: Vec<u8>,
    /// The second of the last `#TS:` annotation written to the file.
    stamped: u64,
}

/// The file the journal is written to.
#[derive(Default)]
struct Sink {
    file: Option<File>,
    /// The buffer last written, cleared, to become the next tail.
    spare: Vec<u8>,
}

/// Put bytes that could not be written back ahead of what came since.
fn put_back(tail: &mut Tail, buf: Vec<u8>) {
    let newer = std::mem::replace(&mut tail.buf, buf);
    tail.buf.extend_from_slice(&newer);
}

/// The server's write journal (see the module documentation).
#[derive(Default)]
pub struct Journal {
    /// Writes run in the order (the file or a replica stream is on).
    enabled: AtomicBool,
    /// The append-only file is on.
    file_on: AtomicBool,
    /// Replicas fed.
    feeds: std::sync::atomic::AtomicUsize,
    /// Bytes of replication stream produced (Redis's
    /// `master_repl_offset`).
    repl_offset: AtomicU64,
    order: Mutex<Tail>,
    sink: Mutex<Sink>,
    /// Bytes in the current file: changed only with the file lock held,
    /// read without it (INFO asks from inside MULTI or a script, with
    /// the order lock held, and the file lock comes before that).
    file_bytes: AtomicU64,
    /// Journal bytes appended, written to the file, made durable (counted
    /// from the journal's creation, across files).
    appended: AtomicU64,
    written: AtomicU64,
    synced: AtomicU64,
    /// The last write failed with this error (cleared by a good write).
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    /// The planted fault `Faults::journal_unordered`.
    unordered: AtomicBool,
    /// DEBUG AOF-FLUSH-SLEEP: microseconds each write to the file waits
    /// first (Redis's test knob for a slow disk).
    flush_sleep: AtomicU64,
    /// `aof-timestamp-enabled`: a `#TS:<unix seconds>` line before the
    /// first record of each new second, as Redis annotates its AOF.
    timestamps: AtomicBool,
    /// `always`: connections waiting for a sync ask the syncer thread...
    sync_wanted: Mutex<bool>,
    sync_ask: parking_lot::Condvar,
    /// ...and hear here when `synced` moved.
    sync_done: tokio::sync::Notify,
}

fn select(out: &mut Vec<u8>, db: usize) {
    let n = itoa::Buffer::new().format(db).to_owned();
    encode_request(&[b"SELECT".as_slice(), n.as_bytes()], out);
}

/// One section's records as commands: a SELECT where the database changes
/// (`selected` is the stream's last), MULTI/EXEC around more than one
/// (MULTI in the first record's database, as Redis 7.0's
/// `propagatePendingCommands` puts it); then the pops of the blocked
/// clients it served, each on its own.
fn encode_section(
    records: &[Record],
    served: &[Record],
    out: &mut Vec<u8>,
    selected: &mut Option<usize>,
) {
    fn put<A: AsRef<[u8]>>(out: &mut Vec<u8>, selected: &mut Option<usize>, db: usize, argv: &[A]) {
        if *selected != Some(db) {
            select(out, db);
            *selected = Some(db);
        }
        encode_request(argv, out);
    }
    let wrap = records.len() > 1;
    if wrap {
        put(out, selected, records[0].0, &[b"MULTI"]);
    }
    for (db, argv) in records {
        put(out, selected, *db, argv);
    }
    if wrap {
        encode_request(&[b"EXEC".as_slice()], out);
    }
    for (db, argv) in served {
        put(out, selected, *db, argv);
    }
}

impl Journal {
    /// `aof-timestamp-enabled`.
    pub fn set_timestamps(&self, on: bool) {
        self.timestamps.store(on, Ordering::Relaxed);
    }

    /// DEBUG AOF-FLUSH-SLEEP: wait `micros` before each write to the file.
    pub fn set_flush_sleep(&self, micros: u64) {
        self.flush_sleep.store(micros, Ordering::Relaxed);
    }

    /// Plant (or remove) the fault `Faults::journal_unordered`.
    pub fn set_unordered(&self, on: bool) {
        self.unordered.store(on, Ordering::Relaxed);
    }

    /// Do writes run in the journal's order (the append-only file or a
    /// replica stream is on)?
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    /// Is the append-only file on?
    #[inline]
    pub fn file_on(&self) -> bool {
        self.file_on.load(Ordering::Acquire)
    }

    /// Start journaling into `file` (which holds `size` bytes already);
    /// `at_switch` runs at the instant from which every write is
    /// journaled, with no write running (a rewrite takes its snapshot
    /// there). Writes that began unjournaled are waited for first.
    pub fn enable<R>(&self, file: File, size: u64, at_switch: impl FnOnce() -> R) -> R {
        let mut sink = self.lock_sink();
        let mut tail = self.lock_order();
        // From here every new write queues on the order lock...
        self.enabled.store(true, Ordering::SeqCst);
        // ...and those that started before it was on end first.
        wait_unjournaled();
        self.file_on.store(true, Ordering::Release);
        sink.file = Some(file);
        self.file_bytes.store(size, Ordering::Release);
        tail.selected = None;
        at_switch()
    }

    /// Stop journaling: what is appended is written and synced first.
    pub fn disable(&self) -> io::Result<()> {
        let mut sink = self.lock_sink();
        let mut tail = self.lock_order();
        self.file_on.store(false, Ordering::Release);
        self.settle(&tail);
        let r = self.write_tail(&mut tail, &mut sink, true);
        sink.file = None;
        tail.buf.clear();
        // Nobody waits for a sync that will not come.
        self.synced.store(self.appended(), Ordering::Release);
        self.synced_now();
        r
    }

    /// The order lock. A script holds it while it runs, so a long wait is
    /// a blocking section (which moves other work elsewhere only on a
    /// multi-threaded runtime: see `db::locks`), and before any wait the
    /// thread gives back what a lock holder may wait for ([`on_wait`]).
    fn lock_order(&self) -> parking_lot::MutexGuard<'_, Tail> {
        if let Some(tail) = self.order.try_lock() {
            return tail;
        }
        before_waiting();
        if let Some(tail) = self.order.try_lock_for(crate::db::LONG_WAIT) {
            return tail;
        }
        crate::util::blocking_section(|| self.order.lock())
    }

    /// The file lock (see [`Journal::lock_order`]; it comes first).
    fn lock_sink(&self) -> parking_lot::MutexGuard<'_, Sink> {
        if let Some(sink) = self.sink.try_lock() {
            return sink;
        }
        before_waiting();
        self.sink.lock()
    }

    /// Run `f` (a command that may write) in the journal's order; returns
    /// its result and the journal position its records end at (0 when it
    /// recorded nothing or the journal is off). Before it waits for the
    /// order lock, the thread gives back what a holder of that lock may be
    /// waiting for ([`on_wait`]).
    pub fn ordered<R>(&self, f: impl FnOnce() -> R) -> (R, u64) {
        if in_write() {
            // Inside a section (or an unjournaled write) already.
            return (f(), 0);
        }
        {
            // Dekker with `enable`: announce the write, then look.
            let _busy = Unjournaled::enter();
            if !self.enabled.load(Ordering::SeqCst) {
                return (f(), 0);
            }
        }
        let unordered = self.unordered.load(Ordering::Relaxed);
        let mut tail = (!unordered).then(|| self.lock_order());
        if !self.enabled() {
            drop(tail);
            return (f(), 0);
        }
        SECTION.with(|s| *s.borrow_mut() = Some(Section::default()));
        let guard = SectionGuard;
        let r = f();
        if unordered {
            // The planted fault: the command ran unlocked; append now.
            std::thread::yield_now();
            tail = Some(self.lock_order());
        }
        let Some(mut tail) = tail else {
            unreachable!("the tail is locked by now")
        };
        let (records, served) = SECTION
            .with(|s| s.borrow_mut().take())
            .map(|s| (s.records, s.served))
            .unwrap_or_default();
        drop(guard);
        if records.is_empty() && served.is_empty() {
            return (r, 0);
        }
        if !tail.feeds.is_empty() {
            self.feed_section(&mut tail, &records, &served);
        }
        if !self.file_on() {
            return (r, 0);
        }
        let tail = &mut *tail;
        let before = tail.buf.len();
        if self.timestamps.load(Ordering::Relaxed) {
            let now = crate::util::unix_secs();
            if now > tail.stamped {
                tail.buf
                    .extend_from_slice(format!("#TS:{now}\r\n").as_bytes());
                tail.stamped = now;
            }
        }
        encode_section(&records, &served, &mut tail.buf, &mut tail.selected);
        let added = (tail.buf.len() - before) as u64;
        let end = self.appended.fetch_add(added, Ordering::AcqRel) + added;
        (r, end)
    }

    /// Is everything up to journal position `upto` written to the file?
    pub fn written(&self, upto: u64) -> bool {
        self.written.load(Ordering::Acquire) >= upto
    }

    /// Journal position of everything appended so far.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// [`appended`](Self::appended), after the section running now (if
    /// any) has appended its records: a blocked client served by a push
    /// gets its reply while the pusher's section still runs, and the pop
    /// it records must be counted before that reply is sent.
    pub fn appended_after_running(&self) -> u64 {
        if self.enabled() {
            drop(self.lock_order());
        }
        self.appended()
    }

    /// Make sure everything up to `upto` is written to the file, and with
    /// `sync` also on disk (group commit: see the module documentation).
    pub fn flush(&self, upto: u64, sync: bool) -> io::Result<()> {
        let done = |j: &Self| {
            j.written.load(Ordering::Acquire) >= upto
                && (!sync || j.synced.load(Ordering::Acquire) >= upto)
        };
        if done(self) {
            return Ok(());
        }
        let mut sink = self.lock_sink();
        if done(self) {
            return Ok(());
        }
        // The tail is taken out, so writers go on appending meanwhile.
        let (buf, end) = self.take_tail(&mut self.lock_order(), &mut sink);
        if let Err(e) = self.write_buf(&mut sink, &buf) {
            put_back(&mut self.lock_order(), buf);
            return Err(e);
        }
        self.written_up_to(&mut sink, buf, end, sync)
    }

    /// The tail's bytes (a spare buffer takes their place, so the tail
    /// keeps its capacity) and the journal position they end at.
    fn take_tail(&self, tail: &mut Tail, sink: &mut Sink) -> (Vec<u8>, u64) {
        let buf = std::mem::replace(&mut tail.buf, std::mem::take(&mut sink.spare));
        (buf, self.appended.load(Ordering::Acquire))
    }

    /// `buf` (now written) reached journal position `end`; sync if asked.
    fn written_up_to(
        &self,
        sink: &mut Sink,
        mut buf: Vec<u8>,
        end: u64,
        sync: bool,
    ) -> io::Result<()> {
        buf.clear();
        sink.spare = buf;
        self.written.store(end, Ordering::Release);
        if sync {
            if let Some(f) = &sink.file {
                f.sync_data()?;
            }
            self.synced.store(end, Ordering::Release);
        }
        Ok(())
    }

    /// Write `buf` at the end of the file; a partial write is cut off
    /// again (as Redis does), so the file never ends in half a command
    /// that a later good write would follow.
    fn write_buf(&self, sink: &mut Sink, buf: &[u8]) -> io::Result<()> {
        let Some(file) = sink.file.as_mut() else {
            return Ok(());
        };
        if buf.is_empty() {
            return Ok(());
        }
        let sleep = self.flush_sleep.load(Ordering::Relaxed);
        if sleep > 0 {
            std::thread::sleep(std::time::Duration::from_micros(sleep));
        }
        match file.write_all(buf) {
            Ok(()) => {
                self.file_bytes
                    .fetch_add(buf.len() as u64, Ordering::AcqRel);
                if self.failed.swap(false, Ordering::AcqRel) {
                    tracing::warn!("AOF write error looks solved, Redis can write again.");
                    *self.failure.lock() = None;
                }
                Ok(())
            }
            Err(e) => {
                // Cut the partial write off and write next at the cut.
                let size = self.file_bytes.load(Ordering::Acquire);
                let _ = file.set_len(size);
                let _ = file.seek(io::SeekFrom::Start(size));
                if !self.failed.swap(true, Ordering::AcqRel) {
                    tracing::warn!(cause = %e, "Error writing to the AOF file");
                }
                // The system's text, as Redis's strerror() shows it.
                let text = e.to_string();
                let text = text.split(" (os error").next().unwrap_or(&text).to_string();
                *self.failure.lock() = Some(text);
                Err(e)
            }
        }
    }

    /// [`flush`](Self::flush) with the tail's lock held (switching files).
    fn write_tail(&self, tail: &mut Tail, sink: &mut Sink, sync: bool) -> io::Result<()> {
        let (buf, end) = self.take_tail(tail, sink);
        if let Err(e) = self.write_buf(sink, &buf) {
            put_back(tail, buf);
            return Err(e);
        }
        self.written_up_to(sink, buf, end, sync)
    }

    /// `appendfsync always`: wait (without holding a thread) until
    /// everything up to `upto` is on disk. The syncer thread syncs for
    /// every connection that asked meanwhile: while one fsync runs, the
    /// workers go on serving and the next fsync covers all they wrote.
    pub async fn wait_synced(&self, upto: u64) {
        loop {
            let notified = self.sync_done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.synced.load(Ordering::Acquire) >= upto {
                return;
            }
            *self.sync_wanted.lock() = true;
            self.sync_ask.notify_one();
            notified.await;
        }
    }

    /// The syncer thread's wait: true when a connection asked for a sync
    /// (within `timeout`).
    pub fn sync_requested(&self, timeout: std::time::Duration) -> bool {
        let mut wanted = self.sync_wanted.lock();
        if !*wanted {
            self.sync_ask.wait_for(&mut wanted, timeout);
        }
        std::mem::take(&mut *wanted)
    }

    /// Wake every connection waiting in [`wait_synced`](Self::wait_synced)
    /// (after a sync, or when syncing failed for good).
    pub fn synced_now(&self) {
        self.sync_done.notify_waiters();
    }

    /// Is everything appended so far on disk?
    pub fn all_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire) >= self.appended()
    }

    /// `appendfsync everysec`: write what is pending, then sync the file
    /// without holding the file lock while the disk works.
    pub fn sync_pending(&self) -> io::Result<()> {
        let end = self.appended();
        self.flush(end, false)?;
        if self.synced.load(Ordering::Acquire) >= end {
            return Ok(());
        }
        let file = {
            let sink = self.lock_sink();
            match &sink.file {
                Some(f) => f.try_clone()?,
                None => return Ok(()),
            }
        };
        file.sync_data()?;
        self.synced.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    /// Switch to a new file at one instant of the order: what is appended
    /// so far goes to the old file (synced), later records to `file`, and
    /// `at_switch` runs while no write can happen (a rewrite starts its
    /// snapshot there).
    pub fn rotate<R>(&self, file: File, at_switch: impl FnOnce() -> R) -> io::Result<R> {
        let mut sink = self.lock_sink();
        let mut tail = self.lock_order();
        self.write_tail(&mut tail, &mut sink, true)?;
        sink.file = Some(file);
        self.file_bytes.store(0, Ordering::Release);
        tail.selected = None;
        Ok(at_switch())
    }

    /// Bytes in the current file.
    pub fn file_size(&self) -> u64 {
        self.file_bytes.load(Ordering::Acquire)
    }

    /// Bytes appended and not yet written.
    pub fn pending(&self) -> u64 {
        self.appended()
            .saturating_sub(self.written.load(Ordering::Acquire))
    }

    /// The last write's error, if it failed. Every write's admission asks
    /// (MISCONF): one load, inlined, when nothing failed.
    #[inline]
    pub fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure_text()
    }

    #[cold]
    fn failure_text(&self) -> Option<String> {
        self.failure.lock().clone()
    }
}

#[cfg(test)]
mod tests;
