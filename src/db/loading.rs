//! The dataset being loaded at start (Redis's `server.loading`): while it
//! is, the server already accepts clients and refuses every command not
//! flagged `loading` with `-LOADING`, and INFO shows the progress.
//!
//! The loaders (RDB and append-only file) report how far into their bytes
//! they are; anything may read the status. A shutdown asked for while
//! loading cancels the load: the loaders stop at their next key or
//! command, and nothing half-loaded is ever saved.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Progress of the load at start.
#[derive(Debug, Default)]
pub struct Loading {
    active: AtomicBool,
    cancelled: AtomicBool,
    /// Unix seconds when the load began.
    start_time: AtomicU64,
    total_bytes: AtomicU64,
    /// Bytes of the files read before the one being read.
    done_bytes: AtomicU64,
    /// Bytes read of the current file.
    file_bytes: AtomicU64,
    /// The `used-mem` the RDB file says its writer had (0: not known).
    rdb_used_mem: AtomicU64,
}

impl Loading {
    /// A load of `total_bytes` begins.
    pub fn start(&self, total_bytes: u64) {
        self.start_time
            .store(crate::util::unix_secs(), Ordering::Relaxed);
        self.total_bytes.store(total_bytes, Ordering::Relaxed);
        self.done_bytes.store(0, Ordering::Relaxed);
        self.file_bytes.store(0, Ordering::Relaxed);
        self.rdb_used_mem.store(0, Ordering::Relaxed);
        self.cancelled.store(false, Ordering::Relaxed);
        self.active.store(true, Ordering::Release);
    }

    /// Is a load running (commands without the `loading` flag refused)?
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// `pos` bytes of the current file are loaded.
    #[inline]
    pub fn progress(&self, pos: usize) {
        self.file_bytes.store(pos as u64, Ordering::Relaxed);
    }

    /// The current file is done (`len` bytes); the next one starts.
    pub fn next_file(&self, len: usize) {
        self.done_bytes.fetch_add(len as u64, Ordering::Relaxed);
        self.file_bytes.store(0, Ordering::Relaxed);
    }

    /// The RDB file says its writer used `bytes` of memory.
    pub fn set_rdb_used_mem(&self, bytes: u64) {
        self.rdb_used_mem.store(bytes, Ordering::Relaxed);
    }

    /// The load ended (done, failed or cancelled).
    pub fn finish(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Stop the running load at its next key or command (a shutdown).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Was the running load asked to stop?
    #[inline]
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// INFO persistence's `loading_*` fields, shown while a load runs, in
    /// Redis's order and with its arithmetic (an ETA of 1 s until a
    /// second has passed).
    pub fn info(&self, now_secs: u64) -> Vec<(&'static str, String)> {
        let total = self.total_bytes.load(Ordering::Relaxed);
        let loaded =
            self.done_bytes.load(Ordering::Relaxed) + self.file_bytes.load(Ordering::Relaxed);
        let loaded = loaded.min(total);
        let (perc, remaining) = match total {
            0 => (0.0, 1),
            t => (loaded as f64 / t as f64 * 100.0, t - loaded),
        };
        let start = self.start_time.load(Ordering::Relaxed);
        let eta = match now_secs.saturating_sub(start) {
            0 => 1,
            elapsed => elapsed.saturating_mul(remaining) / (loaded + 1),
        };
        vec![
            ("loading_start_time", start.to_string()),
            ("loading_total_bytes", total.to_string()),
            (
                "loading_rdb_used_mem",
                self.rdb_used_mem.load(Ordering::Relaxed).to_string(),
            ),
            ("loading_loaded_bytes", loaded.to_string()),
            ("loading_loaded_perc", format!("{perc:.2}")),
            ("loading_eta_seconds", eta.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(info: &[(&str, String)], name: &str) -> String {
        info.iter().find(|(n, _)| *n == name).unwrap().1.clone()
    }

    #[test]
    fn progress_adds_up_over_files_and_gives_redis_eta() {
        let l = Loading::default();
        assert!(!l.active());
        l.start(1000);
        assert!(l.active());
        l.progress(100);
        l.next_file(300);
        l.progress(200);
        let start = l.start_time.load(Ordering::Relaxed);
        let info = l.info(start);
        assert_eq!(field(&info, "loading_loaded_bytes"), "500");
        assert_eq!(field(&info, "loading_loaded_perc"), "50.00");
        assert_eq!(field(&info, "loading_eta_seconds"), "1", "no second passed");
        // 10 s for 500 bytes: 500 more take 500 * 10 / 501 = 9 s.
        assert_eq!(field(&(l.info(start + 10)), "loading_eta_seconds"), "9");
        l.finish();
        assert!(!l.active());
    }

    #[test]
    fn a_new_load_forgets_the_cancelled_one() {
        let l = Loading::default();
        l.start(10);
        l.cancel();
        assert!(l.cancelled());
        l.finish();
        l.start(10);
        assert!(!l.cancelled());
        assert_eq!(field(&l.info(0), "loading_loaded_bytes"), "0");
    }
}
