//! Redis Cluster: hash slots, the node's view of the cluster, its file, and
//! the bus protocol's rules. The network side of the bus (listener, links,
//! the 100 ms cron) is in `server::bus`; everything it decides is here, on
//! a [`Topology`] behind one mutex, so it can be tested without sockets.
//!
//! The request path never takes that mutex: it reads the [`Routing`]
//! snapshot, republished after every change.

pub mod conf;
pub mod gossip;
pub mod msg;
pub use crate::util::slots;
pub mod topology;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard, RwLock};
use tokio::sync::mpsc::UnboundedSender;

pub use slots::{key_slot, SLOTS};
pub use topology::{flag, Node, Routing, Topology, NONE};

use crate::config::Config;

/// Milliseconds since the Unix epoch (the bus's clock).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Redis's `CLUSTER_WRITABLE_DELAY`: a master that just started waits this
/// long before declaring the cluster ok, so it hears from the others first.
const WRITABLE_DELAY_MS: u128 = 2000;

/// Redis's `CLUSTER_MIN_REJOIN_DELAY` and `CLUSTER_MAX_REJOIN_DELAY`: a
/// master that was in a minority (or served no slot) waits
/// `cluster-node-timeout`, clamped to these, before saying ok again, so a
/// healed partition hears the cluster's new configuration first.
const REJOIN_DELAY_MS: (u64, u64) = (500, 5000);

/// The epochs that must never go back after a crash: current, last vote,
/// this node's config epoch.
type Epochs = (u64, u64, u64);

/// The cluster side of one server (inert unless `cluster-enabled yes`).
pub struct Cluster {
    /// `cluster-enabled` at start.
    pub enabled: bool,
    topology: Mutex<Topology>,
    routing: ArcSwap<Routing>,
    /// `cluster-config-file` under `dir`.
    path: PathBuf,
    /// The file must be rewritten.
    dirty: AtomicBool,
    /// One save at a time (they share the temporary file); it holds the
    /// epochs last written to disk with an fsync.
    saving: Mutex<Option<Epochs>>,
    /// Requests to the bus (set when the bus starts).
    bus: OnceLock<UnboundedSender<BusRequest>>,
    /// Gates of the slots being moved (see [`Cluster::gate`]).
    gates: Mutex<HashMap<u16, Arc<RwLock<()>>>>,
    started: Instant,
    /// When a state computation last found this node among a minority of
    /// the masters (Redis's `among_minority_time`).
    among_minority: Mutex<Option<Instant>>,
}

/// What commands ask of the bus.
#[derive(Debug)]
pub enum BusRequest {
    /// PUBLISH: deliver to every other node's subscribers too.
    Publish(Bytes, Bytes),
    /// PONG every node now (Redis's `clusterBroadcastPong` after SETSLOT
    /// NODE imports a slot, so the new owner is known at once).
    PongAll,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl Default for Cluster {
    fn default() -> Self {
        let t = Topology::new(String::new(), 0, 0, 0);
        Cluster {
            enabled: false,
            routing: ArcSwap::from_pointee(t.routing()),
            topology: Mutex::new(t),
            path: PathBuf::new(),
            dirty: AtomicBool::new(false),
            saving: Mutex::new(None),
            bus: OnceLock::new(),
            gates: Mutex::default(),
            started: Instant::now(),
            among_minority: Mutex::new(None),
        }
    }
}

impl Cluster {
    /// The cluster state for a server on `port`: loaded from the
    /// configuration file, or a new node with a random name. `Err` when the
    /// file exists but cannot be trusted (the server must not start).
    pub fn open(config: &Config, port: u16) -> Result<Cluster, conf::ConfError> {
        if !config.cluster.enabled {
            return Ok(Cluster::default());
        }
        let path = config.cluster_config_path();
        let cport = config.cluster_bus_port(port);
        let now = now_ms();
        let (mut t, fresh) = match conf::load(&path, now)? {
            Some(t) => (t, false),
            None => (Topology::new(super::random_name(), port, cport, now), true),
        };
        // The addresses this process really listens on win over the file's.
        let me = t.me_mut();
        me.port = port;
        me.cport = cport;
        if !config.cluster.announce_ip.is_empty() {
            me.ip = config.cluster.announce_ip.clone();
        }
        t.ok = false;
        let cluster = Cluster {
            enabled: true,
            routing: ArcSwap::from_pointee(t.routing()),
            topology: Mutex::new(t),
            path,
            dirty: AtomicBool::new(fresh),
            saving: Mutex::new(None),
            bus: OnceLock::new(),
            gates: Mutex::default(),
            started: Instant::now(),
            among_minority: Mutex::new(None),
        };
        cluster.save_if_dirty();
        Ok(cluster)
    }

    /// The routing snapshot (one atomic load).
    pub fn routing(&self) -> arc_swap::Guard<Arc<Routing>> {
        self.routing.load()
    }

    /// Change the topology: `f` runs under the lock; afterwards the state
    /// is recomputed, the snapshot republished and the file marked for
    /// saving when `f` says the change must persist.
    pub fn update<R>(&self, config: &Config, f: impl FnOnce(&mut Topology) -> (R, bool)) -> R {
        let mut t = self.topology.lock();
        let (out, persist) = f(&mut t);
        self.publish(&mut t, config);
        if persist {
            self.dirty.store(true, Ordering::Release);
        }
        out
    }

    /// Read the topology under its lock.
    pub fn view(&self) -> MutexGuard<'_, Topology> {
        self.topology.lock()
    }

    /// Recompute `cluster_state` (Redis's `clusterUpdateState`) and publish
    /// the routing snapshot.
    pub fn publish(&self, t: &mut Topology, config: &Config) {
        // A fresh master leaves its state alone for a moment, so it hears
        // from the others before it says ok (Redis's writable delay).
        let waiting = !t.ok && self.started.elapsed().as_millis() < WRITABLE_DELAY_MS;
        if !waiting {
            let (ok, minority) = t.compute_state(config.cluster.require_full_coverage);
            t.shown_size = t.size();
            let mut among_minority = self.among_minority.lock();
            if minority {
                *among_minority = Some(Instant::now());
            }
            let (least, most) = REJOIN_DELAY_MS;
            let rejoin = Duration::from_millis(config.cluster.node_timeout.clamp(least, most));
            let rejoining = ok
                && !t.ok
                && t.me().is(flag::MASTER)
                && among_minority.is_some_and(|at| at.elapsed() < rejoin);
            if !rejoining {
                t.ok = ok;
            }
        }
        self.routing.store(Arc::new(t.routing()));
    }

    /// Write the configuration file if something changed (Redis saves it
    /// before replying to the command that changed it, and from the cron).
    pub fn save_if_dirty(&self) {
        if !self.enabled || !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut synced = self.saving.lock();
        let t = self.topology.lock().clone();
        // Like Redis, fsync only when an epoch changed (a vote or a config
        // epoch must survive a crash); a slot or flag change is rewritten
        // without one, and gossip repairs it after a restart. A reshard
        // saves several times per slot moved.
        let epochs = (t.current_epoch, t.last_vote_epoch, t.me().config_epoch);
        let fsync = *synced != Some(epochs);
        match conf::save(&self.path, &t, fsync) {
            Ok(()) if fsync => *synced = Some(epochs),
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(cause = %e, path = %self.path.display(), "could not save the cluster config");
                self.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// The gate of a slot that is being moved. A command on a key of such
    /// a slot holds it shared from the moment it looks for its keys (to
    /// decide between serving and ASK) until it has run; MIGRATE holds it
    /// exclusively. So no command can find a key here, then run after
    /// MIGRATE took that key away (and recreate it on the wrong node).
    /// Redis gets this for free from running one command at a time.
    pub fn gate(&self, slot: u16) -> Arc<RwLock<()>> {
        self.gates.lock().entry(slot).or_default().clone()
    }

    /// Drop the gates of slots that are no longer moving.
    pub fn prune_gates(&self) {
        let r = self.routing();
        self.gates.lock().retain(|slot, g| {
            r.migrating.contains_key(slot)
                || r.importing.contains_key(slot)
                || Arc::strong_count(g) > 1
        });
    }

    /// Connect the bus: requests go to `tx` from now on.
    pub fn attach_bus(&self, tx: UnboundedSender<BusRequest>) {
        let _ = self.bus.set(tx);
    }

    /// Ask the bus for something (dropped when there is no bus: a cluster
    /// of one, or an embedded server without it).
    pub fn to_bus(&self, request: BusRequest) {
        if let Some(tx) = self.bus.get() {
            let _ = tx.send(request);
        }
    }

    /// Force a save now (CLUSTER SAVECONFIG).
    pub fn save_now(&self) -> std::io::Result<()> {
        let mut synced = self.saving.lock();
        let t = self.topology.lock().clone();
        conf::save(&self.path, &t, true)?;
        *synced = Some((t.current_epoch, t.last_vote_epoch, t.me().config_epoch));
        Ok(())
    }
}
