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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// The running workers.
pub struct Workers {
    handles: Vec<Handle>,
    /// Each worker's "running a script" flag (see [`Workers::spawn`]).
    busy: Vec<Arc<AtomicBool>>,
    /// A worker started when every other one was running a script.
    rescue: Mutex<Option<Handle>>,
    stops: Mutex<Vec<oneshot::Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    next: AtomicUsize,
}

/// Start one worker thread (`name`); its runtime's handle, the sender
/// that stops it, the thread.
fn start_one(
    name: String,
    busy: Arc<AtomicBool>,
) -> io::Result<(Handle, oneshot::Sender<()>, JoinHandle<()>)> {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name(name).spawn(move || {
        crate::util::register_worker(busy);
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
    Ok((handle, stop_tx, thread))
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
        let (mut handles, mut busy, mut stops, mut threads) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..n.max(1) {
            let flag = Arc::new(AtomicBool::new(false));
            let (handle, stop, thread) = start_one(format!("flashkv-worker-{i}"), flag.clone())?;
            handles.push(handle);
            busy.push(flag);
            stops.push(stop);
            threads.push(thread);
        }
        Ok(Workers {
            handles,
            busy,
            rescue: Mutex::new(None),
            stops: Mutex::new(stops),
            threads: Mutex::new(threads),
            next: AtomicUsize::new(0),
        })
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Run `task` (a new connection) on the next worker that is not
    /// running a script. A script holds its worker's thread until it ends
    /// (as Redis's one thread), so the connections already there wait for
    /// it; a new one goes elsewhere and gets BUSY, SCRIPT KILL, SHUTDOWN
    /// NOSAVE. When every worker runs one (a single worker, say), a rescue
    /// worker is started (once) for the new connections.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let n = self.handles.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            let i = (first + k) % n;
            if !self.busy[i].load(Ordering::Acquire) {
                self.handles[i].spawn(task);
                return;
            }
        }
        let mut rescue = self.rescue.lock();
        if rescue.is_none() {
            let flag = Arc::new(AtomicBool::new(false));
            match start_one("flashkv-worker-rescue".into(), flag) {
                Ok((handle, stop, thread)) => {
                    self.stops.lock().push(stop);
                    self.threads.lock().push(thread);
                    *rescue = Some(handle);
                }
                Err(e) => tracing::warn!(cause = %e, "could not start a rescue worker"),
            }
        }
        match rescue.as_ref() {
            Some(h) => h.spawn(task),
            None => self.handles[first % n].spawn(task),
        };
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
