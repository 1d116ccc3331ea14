//! Which node serves a request (Redis's `getNodeByQuery`): every key of a
//! command (or of every command queued for EXEC) must hash to one slot;
//! that slot must be served here, or the client is redirected with MOVED
//! or, while the slot moves, ASK; keys split between two nodes mid-move get
//! TRYAGAIN; an unserved slot or a cluster that is down gets CLUSTERDOWN.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use store_api::Store;

use super::super::error::ClusterError;
use super::super::Spec;
use crate::config::Config;
use crate::db::{Access, Keyspace, Table, LONG_WAIT};
use crate::state::cluster::{key_slot, Routing, NONE};
use crate::state::ServerState;

/// What the request is, for the rules that depend on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query {
    /// The client sent ASKING (or the command is RESTORE-ASKING).
    pub asking: bool,
    /// The request writes (for reads-when-down).
    pub write: bool,
    /// MIGRATE: always served where it is sent while its slot is open.
    pub migrate: bool,
    /// A sharded pub/sub command: channels, not keys.
    pub shard_channel: bool,
    /// `cluster-allow-reads-when-down`.
    pub reads_when_down: bool,
}

/// Decide for `commands` (their key lists) on node `r`; `exists` tells
/// whether a key is in database 0. `Ok(None)`: no key at all.
pub fn decide<'k>(
    r: &Routing,
    keys: impl IntoIterator<Item = &'k [u8]>,
    q: Query,
    exists: impl Fn(&[u8]) -> bool,
) -> Result<Option<u16>, ClusterError> {
    let mut first: Option<(&[u8], u16)> = None;
    let (mut migrating, mut importing, mut multiple) = (false, false, false);
    let (mut missing, mut existing) = (0, 0);
    for key in keys {
        let slot = key_slot(key);
        match first {
            None => {
                let owner = r.owners[usize::from(slot)];
                if owner == NONE {
                    return Err(ClusterError::Unbound);
                }
                if owner == r.myself && r.migrating.contains_key(&slot) {
                    migrating = true;
                } else if r.importing.contains_key(&slot) {
                    importing = true;
                }
                first = Some((key, slot));
            }
            Some((k, s)) if k != key => {
                if s != slot {
                    return Err(ClusterError::CrossSlot);
                }
                multiple = true;
            }
            Some(_) => {}
        }
        if (migrating || importing) && !q.shard_channel {
            if exists(key) {
                existing += 1;
            } else {
                missing += 1;
            }
        }
    }
    let Some((_, slot)) = first else {
        return Ok(None);
    };
    if !r.ok {
        if q.shard_channel {
            // cluster-allow-pubsubshard-when-down defaults to yes.
        } else if !q.reads_when_down {
            return Err(ClusterError::Down);
        } else if q.write {
            return Err(ClusterError::DownReadOnly);
        }
    }
    if (migrating || importing) && q.migrate {
        return Ok(Some(slot));
    }
    if migrating && missing > 0 {
        if existing > 0 {
            return Err(ClusterError::TryAgain);
        }
        let to = r.migrating[&slot];
        return Err(ClusterError::Ask(slot, r.addrs[to as usize].clone()));
    }
    if importing && q.asking {
        if multiple && missing > 0 {
            return Err(ClusterError::TryAgain);
        }
        return Ok(Some(slot));
    }
    let owner = r.owners[usize::from(slot)];
    if owner != r.myself {
        return Err(ClusterError::Moved(slot, r.addrs[owner as usize].clone()));
    }
    Ok(Some(slot))
}

/// A hold on a slot's gate (`state::cluster::Cluster::gate`), until the
/// command has run: shared for a command on a moving slot, exclusive for
/// MIGRATE. Taken on admission, so before the journal's order lock (the
/// lock order every command keeps: gate, then order lock).
pub enum SlotGate {
    /// A command on a key of a moving slot.
    Shared {
        _held: parking_lot::ArcRwLockReadGuard<parking_lot::RawRwLock, ()>,
    },
    /// MIGRATE, while it moves the slot's keys.
    Exclusive {
        _held: parking_lot::ArcRwLockWriteGuard<parking_lot::RawRwLock, ()>,
    },
}

/// Take `gate` shared; a long wait leaves the runtime's thread to others.
fn hold_shared(gate: &Arc<RwLock<()>>) -> SlotGate {
    let held = match gate.try_read_arc_for(LONG_WAIT) {
        Some(g) => g,
        None => crate::util::blocking_section(|| gate.read_arc()),
    };
    SlotGate::Shared { _held: held }
}

/// Take `gate` exclusively (MIGRATE).
fn hold_exclusive(gate: &Arc<RwLock<()>>) -> SlotGate {
    let held = match gate.try_write_arc_for(LONG_WAIT) {
        Some(g) => g,
        None => crate::util::blocking_section(|| gate.write_arc()),
    };
    SlotGate::Exclusive { _held: held }
}

/// A client blocked on `keys` (BLPOP...) must stop waiting when the
/// cluster is down or a key's slot is served elsewhere and not being
/// imported here: the error it gets (Redis's
/// `clusterRedirectBlockedClientIfNeeded`).
pub fn blocked_redirect(r: &Routing, keys: &[Bytes]) -> Option<ClusterError> {
    if !r.ok {
        return Some(ClusterError::Down);
    }
    keys.iter().find_map(|k| {
        let slot = key_slot(k);
        let owner = r.owners[usize::from(slot)];
        if owner == r.myself || r.importing.contains_key(&slot) {
            return None;
        }
        Some(if owner == NONE {
            ClusterError::Unbound
        } else {
            ClusterError::Moved(slot, r.addrs[owner as usize].clone())
        })
    })
}

/// Is `key` a live key of `ks` (no touch, no expiry event)?
pub fn key_exists<S: Store>(ks: &Keyspace<S>, key: &[u8], now: u64) -> bool {
    Access::new(ks).peek_untouched(key, now, |e| e.is_some())
}

/// What the client sending a command brings to the check.
pub struct Sender<'a> {
    /// It sent ASKING.
    pub asking: bool,
    /// The commands it queued, when the command is EXEC in MULTI.
    pub queued: Option<&'a [(Spec, Vec<Bytes>)]>,
    /// Those queued commands write.
    pub queued_writes: bool,
}

/// The check `processCommand` makes before a keyed command runs or is
/// queued (the caller exempts the AOF loader and discards a refused
/// EXEC's transaction). On success, the gate of the command's slot when
/// that slot is moving, to hold until the command has run.
pub fn admit<S: Store>(
    state: &ServerState<S>,
    table: &Table<S>,
    config: &Config,
    spec: &Spec,
    argv: &[Bytes],
    sender: Sender<'_>,
    now: u64,
) -> Result<Option<SlotGate>, ClusterError> {
    let meta = spec.meta;
    let is_exec = meta.name == "exec";
    if !is_exec && meta.key_specs.is_empty() && !meta.has_flag("movablekeys") {
        return Ok(None);
    }
    let q = Query {
        asking: sender.asking || meta.has_flag("asking"),
        write: spec.flags.writes || sender.queued_writes,
        migrate: meta.name == "migrate",
        shard_channel: matches!(meta.name, "ssubscribe" | "sunsubscribe" | "spublish"),
        reads_when_down: config.cluster.allow_reads_when_down,
    };
    let keys: Vec<&[u8]> = match sender.queued {
        Some(queued) => queued
            .iter()
            .flat_map(|(s, a)| s.meta.all_keys(a).unwrap_or_default())
            .map(|k| &k[..])
            .collect(),
        None => {
            let keys = meta.all_keys(argv).unwrap_or_default();
            keys.into_iter().map(|k| &k[..]).collect()
        }
    };
    let routing = state.cluster.routing();
    let mut gate = None;
    if let Some(first) = keys.first() {
        let slot = key_slot(first);
        let moving = routing.migrating.contains_key(&slot) || routing.importing.contains_key(&slot);
        if q.migrate && sender.queued.is_none() && !table[0].faults().unlocked_migrate {
            // MIGRATE holds its slot exclusively while its keys move
            // (inside EXEC or a script it takes the gate itself).
            gate = Some(hold_exclusive(&state.cluster.gate(slot)));
        } else if moving && !q.migrate {
            // Held until the command has run (see `Cluster::gate`).
            gate = Some(hold_shared(&state.cluster.gate(slot)));
        }
    }
    decide(&routing, keys, q, |k| key_exists(&table[0], k, now))?;
    Ok(gate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::cluster::{Node, Topology, SLOTS};

    fn routing(setup: impl FnOnce(&mut Topology)) -> Routing {
        let mut t = Topology::new("a".repeat(40), 7000, 17000, 0);
        let b = t.add(Node::new(
            "b".repeat(40),
            "10.0.0.2".into(),
            7001,
            17001,
            1,
            0,
        ));
        for s in 0..SLOTS {
            t.assign(s, if s < 8192 { 0 } else { b });
        }
        t.ok = true;
        setup(&mut t);
        t.routing()
    }

    fn run(
        r: &Routing,
        keys: &[&str],
        q: Query,
        present: &[&str],
    ) -> Result<Option<u16>, ClusterError> {
        decide(r, keys.iter().map(|k| k.as_bytes()), q, |k| {
            present.iter().any(|p| p.as_bytes() == k)
        })
    }

    #[test]
    fn redirects_as_redis() {
        let r = routing(|_| {});
        // foo is slot 12182 (node b), {user} 5474 (here).
        assert_eq!(
            run(&r, &["{user}a", "{user}b"], Query::default(), &[]),
            Ok(Some(5474))
        );
        assert_eq!(
            run(&r, &["foo"], Query::default(), &[]),
            Err(ClusterError::Moved(12182, "10.0.0.2:7001".into()))
        );
        assert_eq!(
            run(&r, &["{user}a", "foo"], Query::default(), &[]),
            Err(ClusterError::CrossSlot)
        );
        assert_eq!(run(&r, &[], Query::default(), &[]), Ok(None));
        let down = routing(|t| t.ok = false);
        assert_eq!(
            run(&down, &["{user}a"], Query::default(), &[]),
            Err(ClusterError::Down)
        );
        let reads = Query {
            reads_when_down: true,
            ..Query::default()
        };
        assert_eq!(run(&down, &["{user}a"], reads, &[]), Ok(Some(5474)));
        let write = Query {
            write: true,
            ..reads
        };
        assert_eq!(
            run(&down, &["{user}a"], write, &[]),
            Err(ClusterError::DownReadOnly)
        );
        let unbound = routing(|t| t.unassign(5474));
        assert_eq!(
            run(&unbound, &["{user}a"], Query::default(), &[]),
            Err(ClusterError::Unbound)
        );
    }

    #[test]
    fn moving_slots_ask_and_try_again() {
        let r = routing(|t| {
            t.migrating.insert(5474, 1);
        });
        let q = Query::default();
        assert_eq!(
            run(&r, &["{user}a"], q, &["{user}a"]),
            Ok(Some(5474)),
            "still here"
        );
        assert_eq!(
            run(&r, &["{user}a"], q, &[]),
            Err(ClusterError::Ask(5474, "10.0.0.2:7001".into()))
        );
        assert_eq!(
            run(&r, &["{user}a", "{user}b"], q, &["{user}a"]),
            Err(ClusterError::TryAgain)
        );
        let migrate = Query { migrate: true, ..q };
        assert_eq!(run(&r, &["{user}a"], migrate, &[]), Ok(Some(5474)));

        let r = routing(|t| {
            t.importing.insert(12182, 1);
        });
        assert!(
            matches!(run(&r, &["foo"], q, &[]), Err(ClusterError::Moved(..))),
            "no ASKING"
        );
        let asking = Query { asking: true, ..q };
        assert_eq!(run(&r, &["foo"], asking, &[]), Ok(Some(12182)));
        // "{foo}x" shares foo's slot.
        assert_eq!(
            run(&r, &["foo", "{foo}x"], asking, &["foo"]),
            Err(ClusterError::TryAgain)
        );
        assert_eq!(
            run(&r, &["foo", "{foo}x"], asking, &["foo", "{foo}x"]),
            Ok(Some(12182))
        );
    }
}
