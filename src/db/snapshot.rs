//! Point-in-time snapshots while writers keep running (BGSAVE, SAVE).
//!
//! Redis forks and lets the kernel copy pages as they are written. FlashKV
//! copies keys instead, one at a time, only when they are written while a
//! snapshot runs:
//!
//! 1. **Start (the instant T).** Every stripe of every database is locked
//!    exclusively for a moment (no write is half done), each keyspace's
//!    [`Capture`] is switched on, and the table of databases is kept.
//! 2. **Writers.** Every change to a key goes through `Keyspace` with the
//!    key's stripe held, and asks the capture first
//!    ([`Capture::before_write`]): if the snapshot has not visited the key
//!    yet and no one kept it already, its current entry (its value at T,
//!    since no one changed it since) is copied aside, `None` if absent.
//! 3. **The snapshot** scans each database. For each key it meets, under
//!    the same per-key capture lock ([`Capture::visit`]): a key someone
//!    kept is skipped (its copy goes out at the end), a key already visited
//!    is skipped (scans may repeat keys), any other key is unchanged since
//!    T and is written from the map and marked visited. Then the kept
//!    copies of keys that existed at T are written (keys deleted or
//!    changed since, including those the scan never met).
//!
//! Each key that existed at T is written exactly once with its value at
//! T: unchanged keys are present for the whole scan, so the scan meets
//! them (the `Store::scan` guarantee); changed or deleted ones were kept
//! by their first writer. Keys created after T were kept as absent and
//! are not written. FLUSHDB, FLUSHALL and SWAPDB install new keyspaces and
//! leave the kept ones alone; FLUSHDB inside a transaction (which clears
//! in place) keeps every unvisited key first.
//!
//! Cost per write while a snapshot runs: one mutex (one of 64 per
//! keyspace) and a hash lookup, plus a copy of the key's value the first
//! time it changes (a whole collection for a collection). Extra memory:
//! a copy of every visited key's name until the snapshot ends, and the
//! kept values; [`Capture::extra_bytes`] tracks both. Outside snapshots a
//! write pays one relaxed atomic load.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use store_api::{Entry, Store};

use super::rdb::{self, LoadSummary, RdbError, RdbWriter, Shapes};
use super::rewrite;
use super::{Db, KeyLocks, Table};

const SHARDS: usize = 64;

#[derive(Default)]
struct Shard {
    visited: HashSet<Box<[u8]>>,
    kept: HashMap<Box<[u8]>, Option<Entry>>,
}

/// One keyspace's side of a running snapshot.
pub struct Capture {
    active: AtomicBool,
    shards: Box<[Mutex<Shard>]>,
    hasher: foldhash::fast::RandomState,
    extra: AtomicUsize,
    /// The planted fault `Faults::snapshot_no_capture`.
    broken: bool,
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new(false)
    }
}

/// What a load does with the keys already in memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Existing {
    /// Drop them: the file is the whole dataset (every load but DEBUG
    /// RELOAD NOFLUSH).
    #[default]
    Flush,
    /// Keep them; a key also in the file fails the load (NOFLUSH).
    Keep,
    /// Keep them; the file's copy of a key in both wins (NOFLUSH MERGE).
    Merge,
}

/// An independent copy of `e` (see `Value::deep_clone`).
pub fn copy_entry(e: &Entry) -> Entry {
    Entry::new(e.value.deep_clone(), e.expires_at())
}

fn weight(e: &Option<Entry>) -> usize {
    e.as_ref().map_or(0, |e| 48 + e.value.payload_len())
}

impl Capture {
    /// A capture; `broken` plants the fault that keeps nothing.
    pub fn new(broken: bool) -> Self {
        Capture {
            active: AtomicBool::new(false),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: foldhash::fast::RandomState::default(),
            extra: AtomicUsize::new(0),
            broken,
        }
    }

    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    /// Is a snapshot running?
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Called with `key`'s stripe held, before changing it: keep its
    /// current entry (`current` reads it) unless the snapshot visited or
    /// kept it already.
    #[inline]
    pub fn before_write(&self, key: &[u8], current: impl FnOnce() -> Option<Entry>) {
        if self.is_active() {
            self.keep(key, current);
        }
    }

    #[cold]
    fn keep(&self, key: &[u8], current: impl FnOnce() -> Option<Entry>) {
        if self.broken {
            return;
        }
        let mut s = self.shard(key).lock();
        if s.visited.contains(key) || s.kept.contains_key(key) {
            return;
        }
        let copy = current();
        self.extra
            .fetch_add(key.len() + 64 + weight(&copy), Ordering::Relaxed);
        s.kept.insert(key.into(), copy);
    }

    /// The snapshot meets `key`: unless it was visited or kept, mark it
    /// visited and run `write` (which reads the key from the map and
    /// writes it out) with no writer able to change it meanwhile.
    pub fn visit(&self, key: Vec<u8>, write: impl FnOnce(&[u8])) {
        let mut s = self.shard(&key).lock();
        if s.visited.contains(&key[..]) || s.kept.contains_key(&key[..]) {
            return;
        }
        self.extra.fetch_add(key.len() + 48, Ordering::Relaxed);
        write(&key);
        // The scan's copy of the name becomes the mark (no second copy).
        s.visited.insert(key.into_boxed_slice());
    }

    /// Hand every kept entry that existed at T to `f` (after the scan),
    /// and mark those keys visited.
    pub fn drain_kept(&self, mut f: impl FnMut(&[u8], &Entry)) {
        for shard in self.shards.iter() {
            let mut s = shard.lock();
            let kept = std::mem::take(&mut s.kept);
            for (k, e) in kept {
                if let Some(e) = &e {
                    f(&k, e);
                }
                s.visited.insert(k);
            }
        }
    }

    /// Switch on, empty (called with every stripe held: T).
    pub fn start(&self) {
        self.clear();
        self.active.store(true, Ordering::Release);
    }

    /// Switch off and free what was kept.
    pub fn stop(&self) {
        self.active.store(false, Ordering::Release);
        self.clear();
    }

    fn clear(&self) {
        for shard in self.shards.iter() {
            *shard.lock() = Shard::default();
        }
        self.extra.store(0, Ordering::Relaxed);
    }

    /// Estimated bytes the running snapshot holds for this keyspace.
    pub fn extra_bytes(&self) -> usize {
        self.extra.load(Ordering::Relaxed)
    }
}

/// Changes to the data since start (Redis's `server.dirty`): a counter
/// striped by thread so that every write can bump it without sharing a
/// cache line with writers on other threads.
pub struct Changes {
    slots: Box<[Slot]>,
}

#[repr(align(64))]
#[derive(Default)]
struct Slot(std::sync::atomic::AtomicU64);

const CHANGE_SLOTS: usize = 16;

thread_local! {
    static THREAD_SLOT: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % CHANGE_SLOTS
    };
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            slots: (0..CHANGE_SLOTS).map(|_| Slot::default()).collect(),
        }
    }
}

impl Changes {
    /// Count `n` changes.
    #[inline]
    pub fn add(&self, n: u64) {
        let i = THREAD_SLOT.with(|s| *s);
        self.slots[i].0.fetch_add(n, Ordering::Relaxed);
    }

    /// Changes counted so far.
    pub fn total(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// A running snapshot: the databases as they were at its start. Only one
/// runs at a time; dropping it switches the captures off.
pub struct Snapshot<S: Store> {
    table: Arc<Table<S>>,
    /// The function libraries at the instant T.
    functions: Vec<bytes::Bytes>,
    db: Db<S>,
    /// Changes counted when it started (what a successful save resets
    /// `rdb_changes_since_last_save` to count from).
    pub changes_at_start: u64,
    /// A pause after each key written (`rdb-key-save-delay`).
    key_delay: std::time::Duration,
}

impl<S: Store> Db<S> {
    /// Start a snapshot (the instant T); `None` when one is running.
    pub fn begin_snapshot(&self) -> Option<Snapshot<S>> {
        if self.shared.snapshotting.swap(true, Ordering::AcqRel) {
            return None;
        }
        self.shared
            .snapshot_cancelled
            .store(false, Ordering::Release);
        let table = loop {
            let generation = self.shared.generation.load(Ordering::Acquire);
            let table = self.table();
            {
                let _all = KeyLocks::lock_every(table.iter().map(|ks| ks.locks()));
                if self.shared.generation.load(Ordering::Acquire) != generation {
                    continue; // FLUSHALL or SWAPDB meanwhile: take the new table
                }
                for ks in table.iter() {
                    ks.capture().start();
                }
            }
            break table;
        };
        Some(Snapshot {
            changes_at_start: self.shared.events.changes().total(),
            functions: self.function_codes(),
            table,
            db: self.clone(),
            key_delay: std::time::Duration::ZERO,
        })
    }

    /// Is a snapshot running?
    pub fn snapshot_running(&self) -> bool {
        self.shared.snapshotting.load(Ordering::Acquire)
    }

    /// Stop the running snapshot, if any (Redis kills its child: CONFIG
    /// SET appendonly no during a rewrite): its writer gives up at the
    /// next key, its save failing with [`cancelled`]. True if one ran.
    pub fn cancel_snapshot(&self) -> bool {
        let running = self.snapshot_running();
        if running {
            self.shared
                .snapshot_cancelled
                .store(true, Ordering::Release);
        }
        running
    }

    /// Replace every database with the keys of an RDB file (at start, and
    /// DEBUG RELOAD): the file is parsed completely before anything is
    /// replaced, so a bad file changes nothing.
    pub fn load_rdb(
        &self,
        file: &[u8],
        shapes: &Shapes,
        checksum: bool,
    ) -> Result<LoadSummary, RdbError> {
        self.load_rdb_over(file, shapes, checksum, Existing::Flush)
    }

    /// [`Db::load_rdb`], keeping the keys in memory as `existing` says
    /// (DEBUG RELOAD NOFLUSH and MERGE). Nothing changes on an error.
    pub fn load_rdb_over(
        &self,
        file: &[u8],
        shapes: &Shapes,
        checksum: bool,
        existing: Existing,
    ) -> Result<LoadSummary, RdbError> {
        let now = self.now_ms();
        // INFO's `loading_rdb_used_mem`: what the file's writer held.
        self.loading()
            .set_rdb_used_mem(rdb::used_mem(file).unwrap_or(0));
        let fresh: Table<S> = self.fresh_databases();
        let duplicate = |key: &[u8], db: usize| {
            RdbError::Duplicate(String::from_utf8_lossy(key).into_owned(), db)
        };
        let summary = rdb::load(file, shapes, now, checksum, |l| {
            let ks = fresh.get(l.db).ok_or(RdbError::Databases(fresh.len()))?;
            if !ks.insert_loaded(l.key.clone(), l.entry) {
                return Err(duplicate(&l.key, l.db));
            }
            self.loading().progress(l.offset);
            if self.loading().cancelled() {
                return Err(RdbError::Cancelled);
            }
            if !shapes.key_delay.is_zero() {
                std::thread::sleep(shapes.key_delay);
            }
            Ok(())
        })?;
        if existing != Existing::Flush {
            // The keys in memory join the file's; on a key in both, MERGE
            // keeps the file's (Redis's RDBFLAGS_ALLOW_DUP), NOFLUSH alone
            // refuses the load (where Redis stops with a panic).
            for (i, (old, new)) in self.table().iter().zip(fresh.iter()).enumerate() {
                let mut clash = None;
                old.for_each_entry_as(false, |k, e| {
                    let kept = new.insert_loaded(bytes::Bytes::copy_from_slice(k), copy_entry(e));
                    if !kept && existing == Existing::Keep && clash.is_none() {
                        clash = Some(k.to_vec());
                    }
                });
                if let Some(k) = clash {
                    return Err(duplicate(&k, i));
                }
            }
        }
        // The function libraries: the file's alone after a flush (Redis's
        // `emptyData` clears them too); kept with NOFLUSH, where a library
        // in both refuses the load, or (MERGE) is the file's.
        let mut codes: Vec<bytes::Bytes> = summary
            .function_codes
            .iter()
            .map(|c| c.clone().into())
            .collect();
        if existing != Existing::Flush {
            let current = self.shared.functions.lock().current.clone();
            let names: Vec<Vec<u8>> = codes
                .iter()
                .filter_map(|c| library_name(c).map(<[u8]>::to_vec))
                .collect();
            for code in current {
                match library_name(&code) {
                    Some(name) if names.iter().any(|n| n == name) => {
                        if existing == Existing::Keep {
                            let name = String::from_utf8_lossy(name).into_owned();
                            return Err(RdbError::LibraryExists(name));
                        }
                    }
                    _ => codes.push(code),
                }
            }
        }
        let old = self.shared.table.swap(Arc::new(fresh));
        {
            // Installed once the scripting layer takes them.
            let mut f = self.shared.functions.lock();
            f.current = codes.clone();
            f.loaded = Some(codes);
        }
        self.changed();
        self.shared.events.flushed();
        let new = self.table();
        for (old, new) in old.iter().zip(new.iter()) {
            old.replaced_by(Some(new), now);
            old.watches().swap(new.watches());
        }
        Ok(summary)
    }
}

/// A library's name, from its code's shebang (`#!lua name=mylib ...`).
fn library_name(code: &[u8]) -> Option<&[u8]> {
    let line = code.split(|&b| b == b'\n').next()?.strip_prefix(b"#!")?;
    line.split(|&b| b == b' ')
        .find_map(|word| word.strip_prefix(b"name="))
}

/// What a save wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct Saved {
    /// Keys written.
    pub keys: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Most extra memory the snapshot held (kept copies and visited
    /// names), estimated.
    pub peak_extra: usize,
}

impl<S: Store> Snapshot<S> {
    /// Estimated extra memory held now.
    pub fn extra_bytes(&self) -> usize {
        self.table.iter().map(|ks| ks.capture().extra_bytes()).sum()
    }

    /// Pause after each key written, as Redis's `rdb-key-save-delay`:
    /// `n` microseconds, or `-n` nanoseconds when negative (a test knob
    /// for a save that takes a while).
    pub fn with_key_delay(mut self, n: i64) -> Self {
        self.key_delay = key_delay(n);
        self
    }

    /// Write the snapshot as an RDB file at `path`: into a temporary file
    /// beside it, synced, then renamed over `path` (so a crash leaves the
    /// old file or the new one, never half of one).
    pub fn save(
        &self,
        path: &Path,
        compress: bool,
        checksum: bool,
        aux: &[(&str, String)],
    ) -> io::Result<Saved> {
        replace_file(path, |temp| self.write_file(temp, compress, checksum, aux))
    }

    /// Write the snapshot as commands (an AOF base with
    /// `aof-use-rdb-preamble no`), replacing `path` as [`save`](Self::save)
    /// does.
    pub fn save_commands(&self, path: &Path, first: &[u8]) -> io::Result<Saved> {
        replace_file(path, |temp| {
            let file = std::fs::File::create(temp)?;
            let mut w = io::BufWriter::with_capacity(1 << 20, file);
            w.write_all(first)?;
            let mut bytes_out = first.len() as u64;
            for code in &self.functions {
                let mut load = Vec::new();
                rewrite::put_function(&mut load, code);
                w.write_all(&load)?;
                bytes_out += load.len() as u64;
            }
            let mut saved = self.write_dbs(rewrite::put_commands, |db, bytes| {
                if let Some(i) = db {
                    let mut select = Vec::new();
                    rewrite::put_select(&mut select, i);
                    w.write_all(&select)?;
                    bytes_out += select.len() as u64;
                }
                bytes_out += bytes.len() as u64;
                w.write_all(bytes)
            })?;
            saved.bytes = bytes_out;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(saved)
        })
    }

    /// Every database's keys, each encoded by `put`, handed to `out` in
    /// batches; a database's first batch comes with its number (for the
    /// format's database header).
    fn write_dbs(
        &self,
        mut put: impl FnMut(&mut Vec<u8>, &[u8], &Entry),
        mut out: impl FnMut(Option<usize>, &[u8]) -> io::Result<()>,
    ) -> io::Result<Saved> {
        let mut saved = Saved::default();
        let delay = self.key_delay;
        let stop = &self.db.shared.snapshot_cancelled;
        let mut put = |buf: &mut Vec<u8>, key: &[u8], e: &Entry| {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            put(buf, key, e);
            if delay.is_zero() {
                return;
            }
            // `rdb-key-save-delay` (up to a few seconds a key in Redis's
            // tests), a cancel ending it early.
            let until = std::time::Instant::now() + delay;
            while !stop.load(Ordering::Relaxed) {
                let left = until.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(std::time::Duration::from_millis(10)));
            }
        };
        for (i, ks) in self.table.iter().enumerate() {
            let mut first = Some(i);
            saved.keys += ks.write_snapshot(&mut put, |bytes| {
                if stop.load(Ordering::Acquire) {
                    return Err(cancelled());
                }
                if bytes.is_empty() {
                    return Ok(());
                }
                saved.peak_extra = saved.peak_extra.max(self.extra_bytes());
                out(first.take(), bytes)
            })?;
        }
        if stop.load(Ordering::Acquire) {
            return Err(cancelled());
        }
        Ok(saved)
    }
}

/// The error of a save whose snapshot was cancelled.
pub fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the snapshot was cancelled")
}

/// Write a file through `write` into a temporary name beside `path`,
/// then rename it over `path` and sync the directory: a crash leaves the
/// old file or the new one, never half of one.
fn replace_file(path: &Path, write: impl FnOnce(&Path) -> io::Result<Saved>) -> io::Result<Saved> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        "temp-{}-{}.rdb",
        std::process::id(),
        TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write(&temp).and_then(|saved| {
        std::fs::rename(&temp, path)?;
        // The rename itself must survive a crash.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(saved)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

impl<S: Store> Snapshot<S> {
    fn write_file(
        &self,
        temp: &Path,
        compress: bool,
        checksum: bool,
        aux: &[(&str, String)],
    ) -> io::Result<Saved> {
        let file = std::fs::File::create(temp)?;
        let out = io::BufWriter::with_capacity(1 << 20, file);
        let (saved, out) = self.write_rdb(out, compress, checksum, aux)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(saved)
    }

    /// The snapshot as an RDB file in memory (what a full sync sends a
    /// replica).
    pub fn to_rdb(
        &self,
        compress: bool,
        checksum: bool,
        aux: &[(&str, String)],
    ) -> io::Result<Vec<u8>> {
        Ok(self.write_rdb(Vec::new(), compress, checksum, aux)?.1)
    }

    /// An RDB file with no keys, and the function libraries only when
    /// `functions` (what a replica asking `rdb-filter-only` gets).
    pub fn to_rdb_without_keys(
        &self,
        compress: bool,
        checksum: bool,
        aux: &[(&str, String)],
        functions: bool,
    ) -> io::Result<Vec<u8>> {
        let mut w = RdbWriter::new(Vec::new(), checksum, aux)?;
        if functions {
            self.put_functions(&mut w, compress)?;
        }
        w.finish()
    }

    fn put_functions<W: Write>(&self, w: &mut RdbWriter<W>, compress: bool) -> io::Result<()> {
        for code in &self.functions {
            let mut buf = vec![rdb::op::FUNCTION2];
            rdb::put_string(&mut buf, code, compress);
            w.put(&buf)?;
        }
        Ok(())
    }

    /// Write the snapshot in RDB format to `out`.
    fn write_rdb<W: Write>(
        &self,
        out: W,
        compress: bool,
        checksum: bool,
        aux: &[(&str, String)],
    ) -> io::Result<(Saved, W)> {
        let mut w = RdbWriter::new(out, checksum, aux)?;
        self.put_functions(&mut w, compress)?;
        let put = |buf: &mut Vec<u8>, k: &[u8], e: &Entry| rdb::put_entry(buf, k, e, compress);
        let mut saved = self.write_dbs(put, |db, bytes| {
            if let Some(i) = db {
                let ks = &self.table[i];
                w.select_db(i, ks.len(), ks.volatile_len())?;
            }
            w.put(bytes)
        })?;
        // What `finish` adds: the EOF opcode and the 8-byte checksum.
        saved.bytes = w.written() + 1 + 8;
        Ok((saved, w.finish()?))
    }
}

/// A per-key pause of `n` microseconds (`rdb-key-save-delay`,
/// `key-load-delay`), or `-n` nanoseconds when negative.
pub fn key_delay(n: i64) -> std::time::Duration {
    if n >= 0 {
        std::time::Duration::from_micros(n.unsigned_abs())
    } else {
        std::time::Duration::from_nanos(n.unsigned_abs())
    }
}

static TEMP: AtomicUsize = AtomicUsize::new(0);

impl<S: Store> Drop for Snapshot<S> {
    fn drop(&mut self) {
        for ks in self.table.iter() {
            ks.capture().stop();
        }
        self.db.shared.snapshotting.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests;
