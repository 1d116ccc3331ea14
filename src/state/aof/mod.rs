//! The append-only file as a server runs it: Redis 7's multi-part AOF.
//!
//! `dir/appenddirname` holds a base (an RDB file, `aof-use-rdb-preamble
//! yes`) and incremental files of commands, listed in order by the
//! manifest (`appendonly.aof.manifest`, Redis's format:
//! `file appendonly.aof.1.base.rdb seq 1 type b`). The write journal
//! (`db::journal`) appends to the last incremental file.
//!
//! A rewrite (BGREWRITEAOF, `auto-aof-rewrite-*`, turning the AOF on)
//! never stops writers: at one instant of the journal's order it switches
//! the journal to a new incremental file and starts a snapshot
//! (`db::snapshot`); the manifest lists the new file at once, so a crash
//! meanwhile loses nothing (old base + old increments + new increment is
//! the whole history). A thread writes the snapshot as the new base, then
//! the manifest is replaced by new base + new increment and the old files
//! are deleted. Everything the new base lacks is in the new increment,
//! because both start at the same instant.

mod manifest;
mod upgrade;

pub use manifest::{Manifest, Part};

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use store_api::Store;

use crate::config::{Config, Fsync};
use crate::db::snapshot::Snapshot;
use crate::db::{Db, KeyEvents};

/// What is on disk to load at start.
pub enum Files {
    /// No AOF yet: start empty and create one.
    Fresh,
    /// The base (if any) and the increments to replay, in order.
    Load {
        /// The base file's path.
        base: Option<PathBuf>,
        /// The incremental files' paths.
        incrs: Vec<PathBuf>,
    },
}

impl Files {
    /// The bytes to load (INFO's `loading_total_bytes`); `None` when there
    /// is nothing to load.
    pub fn total_bytes(&self) -> Option<u64> {
        let Files::Load { base, incrs } = self else {
            return None;
        };
        let size = |p: &PathBuf| fs::metadata(p).map_or(0, |m| m.len());
        Some(base.iter().chain(incrs).map(size).sum())
    }
}

/// Why a rewrite did not start.
#[derive(Debug)]
pub enum RewriteError {
    /// One is running already.
    InProgress,
    /// Creating its files failed.
    Io(io::Error),
}

/// What BGREWRITEAOF did.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// Started now.
    Started,
    /// A background save runs: started when it ends.
    Scheduled,
}

fn fsync_code(f: Fsync) -> u8 {
    match f {
        Fsync::Always => 0,
        Fsync::EverySec => 1,
        Fsync::No => 2,
    }
}

/// The AOF state of one server.
#[derive(Default)]
pub struct Aof {
    manifest: Mutex<Manifest>,
    /// Turning the AOF on or off, one at a time; `wanted` is the last
    /// CONFIG SET's word (a turn-on thread that comes late obeys it).
    switching: Mutex<()>,
    wanted: AtomicBool,
    /// Bytes in the closed files the manifest lists (base and increments
    /// before the journal's current one).
    closed_size: AtomicU64,
    /// The AOF's size when the last rewrite ended (the growth baseline).
    base_size: AtomicU64,
    rewriting: AtomicBool,
    scheduled: AtomicBool,
    started: Mutex<Option<Instant>>,
    /// Seconds the last rewrite took, plus one (0: none yet).
    last_secs: AtomicI64,
    last_failed: AtomicBool,
    last_try: AtomicU64,
    rewrites: AtomicU64,
    failures: AtomicU64,
    fsync: AtomicU8,
    syncer: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn size_of(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

fn manifest_path(config: &Config) -> PathBuf {
    config
        .aof_dir()
        .join(format!("{}.manifest", config.aof.filename))
}

impl Aof {
    /// Is a rewrite running?
    pub fn rewriting(&self) -> bool {
        self.rewriting.load(Ordering::Acquire)
    }

    /// Run a rewrite as soon as it can start (BGREWRITEAOF in EXEC).
    pub fn schedule(&self) {
        self.scheduled.store(true, Ordering::Relaxed);
    }

    /// Apply `appendfsync` (and remember it for the syncer).
    pub fn set_fsync(&self, f: Fsync) {
        self.fsync.store(fsync_code(f), Ordering::Relaxed);
    }

    /// What to load at start (`appendonly yes`). An old single-file AOF
    /// (`dir/appendfilename`) is moved into the directory as its base, as
    /// Redis 7 upgrades one.
    pub fn files_at_start(&self, config: &Config) -> Result<Files, String> {
        let dir = config.aof_dir();
        let path = manifest_path(config);
        let mut m = match fs::read_to_string(&path) {
            Ok(text) => Manifest::parse(&text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Manifest::default(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        upgrade::old_single_file(config, &dir, &path, &mut m)?;
        if m.base.is_none() && m.incrs.is_empty() {
            return Ok(Files::Fresh);
        }
        let base = m.base.as_ref().map(|b| dir.join(&b.name));
        let incrs = m.incrs.iter().map(|p| dir.join(&p.name)).collect();
        *self.manifest.lock() = m;
        Ok(Files::Load { base, incrs })
    }

    /// After loading at start: journal into the last increment (a new
    /// one if the manifest lists none), or create the AOF from the data
    /// loaded so far (none) when there was no AOF.
    pub fn open_at_start<S: Store>(
        self: &Arc<Self>,
        db: &Db<S>,
        config: &Config,
    ) -> io::Result<()> {
        self.set_fsync(config.aof.fsync);
        let dir = config.aof_dir();
        fs::create_dir_all(&dir)?;
        let mut m = self.manifest.lock().clone();
        if m.base.is_none() && m.incrs.is_empty() {
            // A new AOF: base 1 from the (empty) data, increment 1.
            let seq = 1;
            let incr = new_incr(&dir, config, seq)?;
            let snap = db.journal().enable(incr.1, 0, || db.begin_snapshot());
            let snap = snap.ok_or_else(|| io::Error::other("a snapshot is running"))?;
            let base = write_base(&snap, &dir, config, seq)?;
            m = Manifest {
                base: Some(base),
                incrs: vec![incr.0],
            };
            m.store(&manifest_path(config))?;
        } else {
            let last = match m.incrs.last() {
                Some(p) => p.clone(),
                None => {
                    let (p, f) = new_incr(&dir, config, m.next_incr_seq())?;
                    drop(f);
                    m.incrs.push(p.clone());
                    m.store(&manifest_path(config))?;
                    p
                }
            };
            let path = dir.join(&last.name);
            let file = OpenOptions::new().append(true).create(true).open(&path)?;
            let size = file.metadata()?.len();
            db.journal().enable(file, size, || ());
        }
        self.closed_size
            .store(self.listed_size(&m, &dir), Ordering::Relaxed);
        let total = self.closed_size.load(Ordering::Relaxed) + db.journal().file_size();
        self.base_size.store(total, Ordering::Relaxed);
        *self.manifest.lock() = m;
        self.start_syncer(db.events().clone());
        Ok(())
    }

    /// Bytes of every file `m` lists but the last increment.
    fn listed_size(&self, m: &Manifest, dir: &Path) -> u64 {
        let base = m.base.as_ref().map_or(0, |b| size_of(&dir.join(&b.name)));
        let n = m.incrs.len().saturating_sub(1);
        base + m.incrs[..n]
            .iter()
            .map(|p| size_of(&dir.join(&p.name)))
            .sum::<u64>()
    }

    fn start_syncer(self: &Arc<Self>, events: Arc<KeyEvents>) {
        let mut slot = self.syncer.lock();
        if slot.is_some() {
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let me = self.clone();
        let flag = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("flashkv-aof-sync".into())
            .spawn(move || {
                let mut last_sync = Instant::now();
                while !flag.load(Ordering::Acquire) {
                    let journal = events.journal();
                    let asked = journal.sync_requested(Duration::from_millis(100));
                    if !journal.file_on() {
                        journal.synced_now();
                        continue;
                    }
                    let policy = me.fsync.load(Ordering::Relaxed);
                    if asked || (policy == 0 && !journal.all_synced()) {
                        // `always`: one fsync for every connection waiting.
                        if let Err(e) = journal.sync_pending() {
                            tracing::error!(cause = %e, "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
                            std::process::exit(1);
                        }
                        journal.synced_now();
                    } else if policy == 1 && last_sync.elapsed() >= Duration::from_secs(1) {
                        last_sync = Instant::now();
                        let _ = journal.sync_pending();
                    } else if journal.failure().is_some() {
                        // Writes that failed (a full disk) are retried here.
                        let _ = journal.flush(journal.appended(), false);
                    }
                }
            });
        if let Ok(handle) = spawned {
            *slot = Some((stop, handle));
        }
    }

    /// Stop the background syncer (shutdown, `appendonly no`).
    pub fn stop_syncer(&self) {
        if let Some((stop, handle)) = self.syncer.lock().take() {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
    }

    /// CONFIG SET appendonly yes: start journaling now; the AOF on disk
    /// becomes valid (its manifest written) when the first rewrite ends.
    /// It runs on a thread of its own: the CONFIG SET may run inside EXEC,
    /// which holds stripes the switch needs.
    pub fn turn_on<S: Store>(self: &Arc<Self>, db: &Db<S>, config: Arc<Config>) -> io::Result<()> {
        self.wanted.store(true, Ordering::Release);
        let (me, db) = (self.clone(), db.clone());
        std::thread::Builder::new()
            .name("flashkv-aof-on".into())
            .spawn(move || {
                if let Err(e) = me.switch_on(&db, config) {
                    tracing::warn!(cause = %e, "could not turn the append only file on");
                }
            })?;
        Ok(())
    }

    fn switch_on<S: Store>(self: &Arc<Self>, db: &Db<S>, config: Arc<Config>) -> io::Result<()> {
        let _one_at_a_time = self.switching.lock();
        if !self.wanted.load(Ordering::Acquire) || db.journal().file_on() {
            return Ok(()); // turned off again meanwhile, or on already
        }
        self.set_fsync(config.aof.fsync);
        if let Ok(Files::Load { .. }) = self.files_at_start(&config) {
            // An older AOF: its files go once the new base is written.
        } else {
            *self.manifest.lock() = Manifest::default();
        }
        while db.snapshot_running() || self.rewriting.swap(true, Ordering::AcqRel) {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.start_syncer(db.events().clone());
        self.begin_rewrite(db, config, true)
    }

    /// CONFIG SET appendonly no: what is journaled is written and synced,
    /// and journaling stops.
    pub fn turn_off<S: Store>(self: &Arc<Self>, db: &Db<S>) -> io::Result<()> {
        self.wanted.store(false, Ordering::Release);
        if crate::db::journal::in_write() {
            // Inside EXEC, which holds the journal's order (or, begun with
            // the journal off, is what a switch on waits for while it
            // holds `switching`): after it.
            let (me, db) = (self.clone(), db.clone());
            std::thread::Builder::new()
                .name("flashkv-aof-off".into())
                .spawn(move || me.switch_off(&db))?;
            return Ok(());
        }
        self.switch_off(db)
    }

    fn switch_off<S: Store>(&self, db: &Db<S>) -> io::Result<()> {
        let _one_at_a_time = self.switching.lock();
        if self.wanted.load(Ordering::Acquire) {
            return Ok(()); // turned on again meanwhile
        }
        // A rewrite running now stops (Redis kills its child: the file it
        // writes is for an AOF that is going away).
        if self.rewriting.load(Ordering::Acquire) && db.cancel_snapshot() {
            tracing::warn!("Killing running AOF rewrite child (a thread here)");
        }
        self.stop_syncer();
        db.journal().disable()
    }

    /// BGREWRITEAOF.
    pub fn rewrite<S: Store>(
        self: &Arc<Self>,
        db: &Db<S>,
        config: Arc<Config>,
    ) -> Result<Rewrite, RewriteError> {
        if db.snapshot_running() {
            self.scheduled.store(true, Ordering::Relaxed);
            return Ok(Rewrite::Scheduled);
        }
        if self.rewriting.swap(true, Ordering::AcqRel) {
            return Err(RewriteError::InProgress);
        }
        self.begin_rewrite(db, config, false)
            .map(|()| Rewrite::Started)
            .map_err(RewriteError::Io)
    }

    /// Start a rewrite (`rewriting` is set): switch the journal to a new
    /// increment at the snapshot's instant, then write the base on a
    /// thread of its own.
    fn begin_rewrite<S: Store>(
        self: &Arc<Self>,
        db: &Db<S>,
        config: Arc<Config>,
        turning_on: bool,
    ) -> io::Result<()> {
        let fail = |e: io::Error| {
            self.rewriting.store(false, Ordering::Release);
            self.last_failed.store(true, Ordering::Relaxed);
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(cause = %e, "Background AOF rewrite could not start");
            e
        };
        self.scheduled.store(false, Ordering::Relaxed);
        self.last_try.store(unix_now(), Ordering::Relaxed);
        let dir = config.aof_dir();
        fs::create_dir_all(&dir).map_err(fail)?;
        let journal = db.journal();
        let mut m = self.manifest.lock();
        let (seq, incr_seq) = (m.next_base_seq(), m.next_incr_seq());
        let snap = if journal.file_on() && !turning_on {
            let (incr, file) = new_incr(&dir, &config, incr_seq).map_err(fail)?;
            let mut listed = m.clone();
            listed.incrs.push(incr);
            listed.store(&manifest_path(&config)).map_err(fail)?;
            *m = listed;
            self.closed_size
                .store(self.listed_size(&m, &dir), Ordering::Relaxed);
            journal.rotate(file, || db.begin_snapshot()).map_err(fail)?
        } else if turning_on {
            let (_, file) = new_incr(&dir, &config, incr_seq).map_err(fail)?;
            journal.enable(file, 0, || db.begin_snapshot())
        } else {
            // The AOF is off: a base alone.
            db.begin_snapshot()
        };
        drop(m);
        let Some(snap) = snap else {
            self.scheduled.store(true, Ordering::Relaxed);
            return Err(fail(io::Error::other("a background save is running")));
        };
        let snap = snap.with_key_delay(config.rdb_key_save_delay);
        *self.started.lock() = Some(Instant::now());
        tracing::info!("Background append only file rewriting started");
        let me = self.clone();
        let on = journal.file_on();
        let events = db.events().clone();
        let spawned = std::thread::Builder::new()
            .name("flashkv-aof-rewrite".into())
            .spawn(move || {
                let start = Instant::now();
                let result = write_base(&snap, &dir, &config, seq);
                drop(snap);
                me.finish(
                    result,
                    &dir,
                    &config,
                    incr_seq,
                    on,
                    events.journal().file_size(),
                );
                me.last_secs
                    .store(start.elapsed().as_secs() as i64 + 1, Ordering::Relaxed);
                *me.started.lock() = None;
                me.rewriting.store(false, Ordering::Release);
            });
        match spawned {
            Ok(h) => {
                *self.thread.lock() = Some(h);
                Ok(())
            }
            Err(e) => Err(fail(e)),
        }
    }

    /// The base is written (or not): install the new manifest and delete
    /// what it no longer lists.
    fn finish(
        &self,
        result: io::Result<Part>,
        dir: &Path,
        config: &Config,
        incr_seq: u64,
        on: bool,
        incr_size: u64,
    ) {
        let base = match result {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                // Cancelled (the AOF was turned off): not a failure.
                tracing::info!("Background AOF rewrite cancelled");
                return;
            }
            Err(e) => {
                self.last_failed.store(true, Ordering::Relaxed);
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(cause = %e, "Background AOF rewrite failed");
                return;
            }
        };
        let mut m = self.manifest.lock();
        let old = m.clone();
        let mut next = Manifest {
            base: Some(base),
            incrs: if on {
                vec![Part {
                    name: incr_name(config, incr_seq),
                    seq: incr_seq,
                }]
            } else {
                Vec::new()
            },
        };
        if let Err(e) = next.store(&manifest_path(config)) {
            self.last_failed.store(true, Ordering::Relaxed);
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(cause = %e, "Background AOF rewrite failed writing the manifest");
            return;
        }
        let keep: Vec<&str> = next
            .base
            .iter()
            .chain(&next.incrs)
            .map(|p| p.name.as_str())
            .collect();
        for p in old.base.iter().chain(&old.incrs) {
            if !keep.contains(&p.name.as_str()) {
                let _ = fs::remove_file(dir.join(&p.name));
            }
        }
        std::mem::swap(&mut *m, &mut next);
        let closed = self.listed_size(&m, dir);
        self.closed_size.store(closed, Ordering::Relaxed);
        self.base_size.store(closed + incr_size, Ordering::Relaxed);
        self.last_failed.store(false, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        self.rewrites.fetch_add(1, Ordering::Relaxed);
        tracing::info!("Background AOF rewrite finished successfully");
    }

    /// Wait for a running rewrite (shutdown, tests).
    pub fn wait(&self) {
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Bytes of the whole AOF now.
    pub fn current_size<S: Store>(&self, db: &Db<S>) -> u64 {
        self.closed_size.load(Ordering::Relaxed) + db.journal().file_size()
    }

    /// The cron's part: a scheduled rewrite, or one the growth calls for.
    pub fn cron<S: Store>(self: &Arc<Self>, db: &Db<S>, config: &Arc<Config>) {
        if self.rewriting() || db.snapshot_running() {
            return;
        }
        let failed_recently = self.last_failed.load(Ordering::Relaxed)
            && unix_now().saturating_sub(self.last_try.load(Ordering::Relaxed)) < 5;
        let due = self.scheduled.load(Ordering::Relaxed) || {
            let a = &config.aof;
            let size = self.current_size(db);
            let base = self.base_size.load(Ordering::Relaxed).max(1);
            db.journal().file_on()
                && a.auto_percentage > 0
                && size > a.auto_min_size
                && (size * 100 / base).saturating_sub(100) >= a.auto_percentage
        };
        if due && !failed_recently {
            let _ = self.rewrite(db, config.clone());
        }
    }

    /// INFO persistence's AOF fields, in Redis's order.
    pub fn info<S: Store>(&self, db: &Db<S>, config: &Config) -> Vec<(&'static str, String)> {
        let journal = db.journal();
        let running = self.started.lock().map(|s| s.elapsed().as_secs() as i64);
        let mut out = vec![
            ("aof_enabled", u8::from(config.aof.enabled).to_string()),
            (
                "aof_rewrite_in_progress",
                u8::from(self.rewriting()).to_string(),
            ),
            (
                "aof_rewrite_scheduled",
                u8::from(self.scheduled.load(Ordering::Relaxed)).to_string(),
            ),
            (
                "aof_last_rewrite_time_sec",
                (self.last_secs.load(Ordering::Relaxed) - 1).to_string(),
            ),
            (
                "aof_current_rewrite_time_sec",
                running.unwrap_or(-1).to_string(),
            ),
            (
                "aof_last_bgrewrite_status",
                if self.last_failed.load(Ordering::Relaxed) {
                    "err"
                } else {
                    "ok"
                }
                .into(),
            ),
            (
                "aof_rewrites",
                self.rewrites.load(Ordering::Relaxed).to_string(),
            ),
            (
                "aof_rewrites_consecutive_failures",
                self.failures.load(Ordering::Relaxed).to_string(),
            ),
            (
                "aof_last_write_status",
                if journal.failure().is_some() {
                    "err"
                } else {
                    "ok"
                }
                .into(),
            ),
            ("aof_last_cow_size", "0".into()),
            ("module_fork_in_progress", "0".into()),
            ("module_fork_last_cow_size", "0".into()),
        ];
        if config.aof.enabled {
            out.extend([
                ("aof_current_size", self.current_size(db).to_string()),
                (
                    "aof_base_size",
                    self.base_size.load(Ordering::Relaxed).to_string(),
                ),
                ("aof_pending_rewrite", "0".into()),
                ("aof_buffer_length", journal.pending().to_string()),
                ("aof_pending_bio_fsync", "0".into()),
                ("aof_delayed_fsync", "0".into()),
            ]);
        }
        out
    }
}

fn incr_name(config: &Config, seq: u64) -> String {
    format!("{}.{seq}.incr.aof", config.aof.filename)
}

/// Create increment `seq` (empty) for appending.
fn new_incr(dir: &Path, config: &Config, seq: u64) -> io::Result<(Part, File)> {
    let name = incr_name(config, seq);
    let path = dir.join(&name);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    // A leftover of a rewrite that never finished is not history.
    file.set_len(0)?;
    Ok((Part { name, seq }, file))
}

/// Write `snap` as base `seq` (an RDB file marked `aof-base`).
fn write_base<S: Store>(
    snap: &Snapshot<S>,
    dir: &Path,
    config: &Config,
    seq: u64,
) -> io::Result<Part> {
    if !config.aof.use_rdb_preamble {
        let name = format!("{}.{seq}.base.aof", config.aof.filename);
        // `aof-timestamp-enabled`: the base starts with the time it was
        // taken, as Redis's rewrite writes it.
        let stamp = if config.aof.timestamps {
            format!("#TS:{}\r\n", crate::util::unix_secs())
        } else {
            String::new()
        };
        snap.save_commands(&dir.join(&name), stamp.as_bytes())?;
        return Ok(Part { name, seq });
    }
    let name = format!("{}.{seq}.base.rdb", config.aof.filename);
    let mut aux = super::persist::aux();
    for (k, v) in aux.iter_mut() {
        if *k == "aof-base" {
            *v = "1".into();
        }
    }
    snap.save(
        &dir.join(&name),
        config.rdbcompression,
        config.rdbchecksum,
        &aux,
    )?;
    Ok(Part { name, seq })
}
