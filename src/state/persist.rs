//! RDB persistence as a server runs it: SAVE, BGSAVE (now or scheduled),
//! the `save` points checked by the cron, save on shutdown, load at start,
//! and what INFO persistence and LASTSAVE report.
//!
//! A save is a `db::snapshot::Snapshot` written to `dir/dbfilename` (see
//! there for why it is one instant while writers run). BGSAVE starts the
//! snapshot in the command (the instant is the command's, as Redis's fork)
//! and writes it on a thread of its own.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use store_api::Store;

use crate::config::Config;
use crate::db::rdb::{RdbError, Shapes};
use crate::db::snapshot::{Existing, Saved, Snapshot};
use crate::db::Db;

/// Seconds before a failed background save is retried by the `save`
/// points (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_SECS: u64 = 5;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Persistence bookkeeping of one server.
pub struct Persistence {
    last_save: AtomicU64,
    changes_at_save: AtomicU64,
    in_progress: AtomicBool,
    started: Mutex<Option<Instant>>,
    last_ok: AtomicBool,
    last_try: AtomicU64,
    last_secs: AtomicI64,
    saves: AtomicU64,
    scheduled: AtomicBool,
    last_extra: AtomicU64,
    loaded_keys: AtomicU64,
    loaded_expired: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// SHUTDOWN already did what its options asked (the exit path must
    /// not save again).
    shutdown_handled: AtomicBool,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            last_save: AtomicU64::new(unix_now()),
            changes_at_save: AtomicU64::new(0),
            in_progress: AtomicBool::new(false),
            started: Mutex::new(None),
            last_ok: AtomicBool::new(true),
            last_try: AtomicU64::new(0),
            last_secs: AtomicI64::new(-1),
            saves: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            last_extra: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
            thread: Mutex::new(None),
            shutdown_handled: AtomicBool::new(false),
        }
    }
}

/// Why a save did not happen.
#[derive(Debug)]
pub enum SaveError {
    /// Another save is running.
    InProgress,
    /// Writing the file failed.
    Io(std::io::Error),
}

/// The shapes loaded values take under `config`.
pub fn shapes(config: &Config) -> Shapes {
    let e = &config.encodings;
    Shapes {
        list_limit: e.list_max_listpack_size,
        hash: store_api::value::HashLimits {
            max_entries: e.hash_max_listpack_entries,
            max_value: e.hash_max_listpack_value,
        },
        max_intset: e.set_max_intset_entries,
        zset: store_api::value::ZLimits {
            max_entries: e.zset_max_listpack_entries,
            max_value: e.zset_max_listpack_value,
        },
        key_delay: crate::db::snapshot::key_delay(config.key_load_delay),
    }
}

pub(super) fn aux() -> Vec<(&'static str, String)> {
    vec![
        ("redis-ver", "7.0.15".into()),
        ("redis-bits", "64".into()),
        ("ctime", unix_now().to_string()),
        ("used-mem", crate::util::sys::resident_bytes().to_string()),
        ("aof-base", "0".into()),
    ]
}

impl Persistence {
    /// LASTSAVE: Unix time of the last successful save (start time before).
    pub fn last_save(&self) -> u64 {
        self.last_save.load(Ordering::Relaxed)
    }

    /// Changes since the last successful save started.
    pub fn changes_since_save<S: Store>(&self, db: &Db<S>) -> u64 {
        db.changes()
            .saturating_sub(self.changes_at_save.load(Ordering::Relaxed))
    }

    /// Is a background save running?
    pub fn in_progress(&self) -> bool {
        self.in_progress.load(Ordering::Acquire)
    }

    /// Did the last background save succeed?
    pub fn last_ok(&self) -> bool {
        self.last_ok.load(Ordering::Relaxed)
    }

    /// Should writes be refused (MISCONF)?
    pub fn refuses_writes(&self, config: &Config) -> bool {
        config.stop_writes_on_bgsave_error && !config.save.is_empty() && !self.last_ok()
    }

    /// Ask for a BGSAVE as soon as none runs (BGSAVE SCHEDULE).
    pub fn schedule(&self) {
        self.scheduled.store(true, Ordering::Relaxed);
    }

    fn finished(
        &self,
        changes_at_start: u64,
        result: &Result<Saved, std::io::Error>,
        background: bool,
    ) {
        match result {
            Ok(saved) => {
                self.changes_at_save
                    .store(changes_at_start, Ordering::Relaxed);
                self.last_save.store(unix_now(), Ordering::Relaxed);
                self.saves.fetch_add(1, Ordering::Relaxed);
                self.last_extra
                    .store(saved.peak_extra as u64, Ordering::Relaxed);
                if background {
                    self.last_ok.store(true, Ordering::Relaxed);
                }
                tracing::info!(keys = saved.keys, bytes = saved.bytes, "DB saved on disk");
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                // Cancelled (FLUSHALL stopped it): not a failure, as a
                // child Redis kills is not.
                tracing::info!("Background saving terminated by FLUSHALL");
            }
            Err(e) => {
                if background {
                    self.last_ok.store(false, Ordering::Relaxed);
                }
                tracing::warn!(cause = %e, "Failed opening the temp RDB file or writing it");
            }
        }
    }

    /// FLUSHALL: as Redis's `flushAllDataAndResetRDB`, a running BGSAVE
    /// stops and, with save points, the (now empty) dataset is saved at
    /// once, so a restart cannot bring the flushed keys back from the old
    /// file. (While an AOF rewrite holds the snapshot, the save is left
    /// to the schedule.)
    pub fn reset_after_flushall<S: Store>(&self, db: &Db<S>, config: &Config) {
        if self.in_progress.load(Ordering::Acquire) && db.cancel_snapshot() {
            let handle = self.thread.lock().take();
            if let Some(handle) = handle {
                let _ = handle.join();
            }
        }
        if config.save.is_empty() {
            return;
        }
        if let Err(e) = self.save(db, config) {
            tracing::warn!(cause = ?e, "FLUSHALL could not save the empty dataset");
        }
    }

    /// SAVE: write the snapshot now, in this thread.
    pub fn save<S: Store>(&self, db: &Db<S>, config: &Config) -> Result<Saved, SaveError> {
        let snap = db
            .begin_snapshot()
            .ok_or(SaveError::InProgress)?
            .with_key_delay(config.rdb_key_save_delay);
        let result = write(&snap, config);
        self.finished(snap.changes_at_start, &result, false);
        if result.is_ok() {
            // A good SAVE clears a failed BGSAVE's MISCONF, as in Redis.
            self.last_ok.store(true, Ordering::Relaxed);
        }
        result.map_err(SaveError::Io)
    }

    /// BGSAVE: take the snapshot now and write it on its own thread.
    pub fn bgsave<S: Store>(
        self: &Arc<Self>,
        db: &Db<S>,
        config: Arc<Config>,
    ) -> Result<(), SaveError> {
        if self.in_progress.swap(true, Ordering::AcqRel) {
            return Err(SaveError::InProgress);
        }
        let Some(snap) = db.begin_snapshot() else {
            self.in_progress.store(false, Ordering::Release);
            return Err(SaveError::InProgress);
        };
        let snap = snap.with_key_delay(config.rdb_key_save_delay);
        self.scheduled.store(false, Ordering::Relaxed);
        self.last_try.store(unix_now(), Ordering::Relaxed);
        *self.started.lock() = Some(Instant::now());
        tracing::info!("Background saving started");
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("flashkv-bgsave".into())
            .spawn(move || {
                let start = Instant::now();
                let result = write(&snap, &config);
                me.finished(snap.changes_at_start, &result, true);
                drop(snap);
                me.last_secs
                    .store(start.elapsed().as_secs() as i64, Ordering::Relaxed);
                *me.started.lock() = None;
                me.in_progress.store(false, Ordering::Release);
            });
        match spawned {
            Ok(handle) => {
                *self.thread.lock() = Some(handle);
                Ok(())
            }
            Err(e) => {
                self.in_progress.store(false, Ordering::Release);
                *self.started.lock() = None;
                Err(SaveError::Io(e))
            }
        }
    }

    /// SHUTDOWN saved (or was told not to): the exit path leaves it.
    pub fn set_saved_for_shutdown(&self) {
        self.shutdown_handled.store(true, Ordering::Release);
    }

    /// Did SHUTDOWN handle the save?
    pub fn shutdown_handled(&self) -> bool {
        self.shutdown_handled.load(Ordering::Acquire)
    }

    /// The exit path's save (a signal, not SHUTDOWN): Redis's rule, save
    /// when save points are configured, or as the signal's
    /// `shutdown-on-sig*` flags say (SAVE, NOSAVE). Err when that save
    /// failed.
    pub fn save_on_exit<S: Store>(
        &self,
        db: &Db<S>,
        config: &Config,
        flags: u8,
    ) -> Result<(), SaveError> {
        use crate::config::{SHUTDOWN_NOSAVE, SHUTDOWN_SAVE};
        let wanted = flags & SHUTDOWN_SAVE != 0 || !config.save.is_empty();
        if self.shutdown_handled.load(Ordering::Acquire) || flags & SHUTDOWN_NOSAVE != 0 || !wanted
        {
            return Ok(());
        }
        self.wait();
        tracing::info!("Saving the final RDB snapshot before exiting.");
        self.save(db, config).map(|_| ())
    }

    /// Wait for a running background save to end (shutdown).
    pub fn wait(&self) {
        let handle = self.thread.lock().take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// The cron's part (every 100 ms): start a BGSAVE that was scheduled
    /// or that a `save` point calls for.
    pub fn cron<S: Store>(self: &Arc<Self>, db: &Db<S>, config: &Arc<Config>) {
        if self.in_progress() {
            return;
        }
        let now = unix_now();
        let due = self.scheduled.load(Ordering::Relaxed) || {
            let changes = self.changes_since_save(db);
            let since = now.saturating_sub(self.last_save());
            let may_retry = self.last_ok()
                || now.saturating_sub(self.last_try.load(Ordering::Relaxed)) > RETRY_DELAY_SECS;
            may_retry
                && config
                    .save
                    .iter()
                    .any(|&(secs, n)| changes >= n && since >= secs)
        };
        if due {
            let _ = self.bgsave(db, config.clone());
        }
    }

    /// Load `dir/dbfilename` if it exists (at start): `Ok(false)` when
    /// there is no file.
    pub fn load_at_start<S: Store>(&self, db: &Db<S>, config: &Config) -> Result<bool, RdbError> {
        let path = config.rdb_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(RdbError::Io(e)),
        };
        self.load_bytes(db, config, &bytes, Existing::Flush)?;
        Ok(true)
    }

    /// Replace the databases with an RDB file's contents.
    pub fn load_bytes<S: Store>(
        &self,
        db: &Db<S>,
        config: &Config,
        bytes: &[u8],
        existing: Existing,
    ) -> Result<crate::db::rdb::LoadSummary, RdbError> {
        let start = Instant::now();
        let summary = db.load_rdb_over(bytes, &shapes(config), config.rdbchecksum, existing)?;
        if summary.functions > 0 {
            tracing::info!(libraries = summary.functions, "function libraries loaded");
        }
        self.loaded_keys.store(summary.keys, Ordering::Relaxed);
        self.loaded_expired
            .store(summary.expired, Ordering::Relaxed);
        self.changes_at_save.store(db.changes(), Ordering::Relaxed);
        // Redis logs the same: "Loading RDB produced by version", "Done
        // loading RDB, keys loaded: ..., keys expired: ..., empty keys
        // skipped: ...".
        tracing::info!(
            rdb_version = summary.version,
            keys = summary.keys,
            expired = summary.expired,
            empty_keys_skipped = summary.empty,
            "DB loaded from disk: {:.3} seconds",
            start.elapsed().as_secs_f64()
        );
        Ok(summary)
    }

    /// INFO persistence's RDB fields, in Redis's order.
    pub fn info<S: Store>(&self, db: &Db<S>) -> Vec<(&'static str, String)> {
        let running = self.started.lock().map(|s| s.elapsed().as_secs() as i64);
        vec![
            (
                "rdb_changes_since_last_save",
                self.changes_since_save(db).to_string(),
            ),
            (
                "rdb_bgsave_in_progress",
                u8::from(self.in_progress()).to_string(),
            ),
            ("rdb_last_save_time", self.last_save().to_string()),
            (
                "rdb_last_bgsave_status",
                if self.last_ok() { "ok" } else { "err" }.to_string(),
            ),
            (
                "rdb_last_bgsave_time_sec",
                self.last_secs.load(Ordering::Relaxed).to_string(),
            ),
            (
                "rdb_current_bgsave_time_sec",
                running.unwrap_or(-1).to_string(),
            ),
            ("rdb_saves", self.saves.load(Ordering::Relaxed).to_string()),
            (
                "rdb_last_cow_size",
                self.last_extra.load(Ordering::Relaxed).to_string(),
            ),
            (
                "rdb_last_load_keys_expired",
                self.loaded_expired.load(Ordering::Relaxed).to_string(),
            ),
            (
                "rdb_last_load_keys_loaded",
                self.loaded_keys.load(Ordering::Relaxed).to_string(),
            ),
        ]
    }
}

fn write<S: Store>(snap: &Snapshot<S>, config: &Config) -> Result<Saved, std::io::Error> {
    snap.save(
        &config.rdb_path(),
        config.rdbcompression,
        config.rdbchecksum,
        &aux(),
    )
}
