//! Shutdown fan-out: one signal to every connection, and a way to wait for
//! all of them to finish (mini-redis's `Shutdown` + drop-guard pattern).

use tokio::sync::{mpsc, watch};

/// Sent to every connection task; resolves once shutdown has begun.
#[derive(Clone, Debug)]
pub struct Shutdown {
    signal: watch::Receiver<bool>,
    /// Held only so that the server can tell when every task has ended.
    _alive: mpsc::Sender<()>,
}

impl Shutdown {
    /// Has shutdown begun?
    pub fn is_shutdown(&self) -> bool {
        *self.signal.borrow()
    }

    /// Wait until shutdown begins.
    pub async fn recv(&mut self) {
        // An error means the sender is gone, which also means shut down.
        let _ = self.signal.wait_for(|&s| s).await;
    }
}

/// The server's end: starts the shutdown and waits for the tasks.
#[derive(Debug)]
pub struct Coordinator {
    signal: watch::Sender<bool>,
    alive_tx: Option<mpsc::Sender<()>>,
    alive_rx: mpsc::Receiver<()>,
}

impl Default for Coordinator {
    fn default() -> Self {
        let (signal, _) = watch::channel(false);
        let (alive_tx, alive_rx) = mpsc::channel(1);
        Coordinator {
            signal,
            alive_tx: Some(alive_tx),
            alive_rx,
        }
    }
}

impl Coordinator {
    /// A handle for one more task.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            signal: self.signal.subscribe(),
            _alive: self.alive_tx.clone().expect("subscribe after shutdown"),
        }
    }

    /// Tell every task to finish, then wait until all have.
    pub async fn shutdown(mut self) {
        self.signal.send_replace(true);
        self.alive_tx = None;
        let _ = self.alive_rx.recv().await;
    }
}
