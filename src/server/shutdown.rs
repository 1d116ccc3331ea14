//! Shutdown fan-out: one signal to every listener and connection, and a
//! way to wait for all of them to finish (mini-redis's `Shutdown` +
//! drop-guard pattern).
//!
//! Listeners wait on a watch channel. Connections are told through their
//! client handle's event word ([`Event::Shutdown`]), which their wait loop
//! already watches, so waiting for shutdown costs a connection nothing per
//! request. A connection registered while shutdown begins either is in the
//! registry when it is signalled or sees [`Shutdown::is_shutdown`] when it
//! starts.

use std::sync::Arc;

use store_api::Store;
use tokio::sync::{mpsc, watch};

use crate::state::{Event, ServerState};

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
pub struct Coordinator<S: Store> {
    state: Arc<ServerState<S>>,
    signal: watch::Sender<bool>,
    alive_tx: Option<mpsc::Sender<()>>,
    alive_rx: mpsc::Receiver<()>,
}

impl<S: Store> Coordinator<S> {
    /// A coordinator for the clients of `state`.
    pub fn new(state: Arc<ServerState<S>>) -> Self {
        let (signal, _) = watch::channel(false);
        let (alive_tx, alive_rx) = mpsc::channel(1);
        Coordinator {
            state,
            signal,
            alive_tx: Some(alive_tx),
            alive_rx,
        }
    }

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
        self.state.clients.signal_all(Event::Shutdown);
        self.alive_tx = None;
        let _ = self.alive_rx.recv().await;
    }
}
