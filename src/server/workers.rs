//! Worker threads: one single-threaded event loop per core.
//!
//! Each worker runs a tokio current-thread runtime; an accepted connection
//! is handed to one worker (round robin) and stays there for life, as a
//! connection stays on Redis's one event loop. Measured against the
//! work-stealing multi-thread runtime (`scripts/request-cost`, GET -P 1):
//! no futex wake-ups between workers, fewer instructions per request, and
//! syscalls per request at Redis's level (read, write and a shared
//! `epoll_wait`). The price is that a worker with unlucky clients cannot
//! hand them to an idle one; with many clients the round robin spreads
//! them evenly.
//!
//! Everything a connection shares with others (databases, the client
//! registry, wakers for kills and shutdown) is thread-safe already, so a
//! connection on one worker can wake a client on another.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The running workers.
pub struct Workers {
    handles: Vec<Handle>,
    stops: Mutex<Vec<oneshot::Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next: AtomicUsize,
}

/// How many workers `configured` asks for (0: one per core).
pub fn count(configured: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

impl Workers {
    /// Start `n` workers (at least one).
    pub fn start(n: usize) -> io::Result<Workers> {
        let (mut handles, mut stops, mut threads) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n.max(1) {
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let (handle_tx, handle_rx) = std::sync::mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("flashkv-worker-{i}"))
                .spawn(move || {
                    let runtime = match Builder::new_current_thread().enable_all().build() {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = handle_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = handle_tx.send(Ok(runtime.handle().clone()));
                    let _ = runtime.block_on(stop_rx);
                })?;
            let handle = handle_rx
                .recv()
                .map_err(|_| io::Error::other("worker thread failed to start"))??;
            handles.push(handle);
            stops.push(stop_tx);
            threads.push(thread);
        }
        Ok(Workers {
            handles,
            stops: Mutex::new(stops),
            threads: Mutex::new(threads),
            next: AtomicUsize::new(0),
        })
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Run `task` on the next worker.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[i].spawn(task);
    }

    /// Stop every worker (after their connections have ended) and wait
    /// for the threads.
    pub async fn stop(&self) {
        for stop in self.stops.lock().drain(..) {
            let _ = stop.send(());
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_every_worker_and_stop_joins_them() {
        let workers = Workers::start(2).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..4 {
            let tx = tx.clone();
            workers.spawn(async move {
                let name = std::thread::current()
                    .name()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(name);
            });
        }
        let mut names = Vec::new();
        for _ in 0..4 {
            names.push(rx.recv().await.unwrap());
        }
        names.sort();
        names.dedup();
        assert_eq!(names, ["flashkv-worker-0", "flashkv-worker-1"]);
        workers.stop().await;
    }
}
