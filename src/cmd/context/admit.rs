//! Admission: the checks between a command's lookup and its execution,
//! in Redis's `processCommand` order (protected commands, AUTH, MULTI
//! rules, cluster routing, BUSY, maxmemory, the tracking table's limit,
//! MISCONF, NOREPLICAS, subscribed and replica contexts).

use bytes::Bytes;
use store_api::Store;

use super::{Client, Executor};
use crate::cmd::cluster::route;
use crate::cmd::table::{Kind, Spec};
use crate::cmd::CmdError;
use crate::db::Eviction;
use crate::protocol::Protocol;
use crate::state::scripts::Busy;
use crate::state::Session;

impl<S: Store> Executor<S> {
    /// The checks between lookup and execution, in `processCommand`'s
    /// order.
    pub(super) fn admit(
        &self,
        client: &mut Client<S>,
        spec: &Spec,
        argv: &[Bytes],
    ) -> Result<(), CmdError> {
        let config = client.config.get(&self.state);
        let session = &client.session;
        // Redis's CMD_PROTECTED check comes first (before AUTH; a refused
        // command queued in MULTI aborts the transaction).
        match spec.flags.kind {
            Kind::Debug if !allowed(&config.enable_debug_command, session) => {
                return Err(CmdError::DebugNotAllowed)
            }
            Kind::ModuleLoad if !allowed(&config.enable_module_command, session) => {
                return Err(CmdError::ModuleNotAllowed)
            }
            _ => {}
        }
        if !spec.no_auth && self.state.auth_required(session, config) {
            return Err(CmdError::NoAuth);
        }
        if spec.flags.no_multi && client.tx.in_multi() {
            return Err(CmdError::NotInMulti);
        }
        if self.state.cluster.enabled && !client.session.must_obey {
            self.route(client, spec, argv)?;
        }
        let config = client.config.current();
        // The dataset loading (at start, DEBUG LOADAOF): only `loading`
        // commands (and an EXEC of nothing else) run; the loader's own
        // client obeys. Redis checks it before BUSY (a script the loader
        // replays may be busy).
        let loading_refuses = |client: &Client<S>| {
            self.state.db.loading().active()
                && !client.session.must_obey
                && (!spec.flags.loading
                    || (spec.flags.kind == Kind::Exec && client.tx.denies_loading()))
        };
        if !spec.flags.allow_busy {
            if let Some(Busy::Script(function)) =
                self.state.scripts.busy(config.busy_reply_threshold)
            {
                if loading_refuses(client) {
                    return Err(CmdError::Loading);
                }
                return Err(CmdError::Busy(function));
            }
        }
        // Invalidations this command's admission causes for its own client
        // (evicted keys, the tracking table's limit) go out before its
        // reply, as Redis sends them before the command executes. Only a
        // tracking server makes any.
        let tracking = self.state.tracking.active();
        let pushes_first = |session: &mut Session| {
            if tracking && crate::state::pubsub::flush_for(session.handle.id) {
                session.pushes_first = true;
            }
        };
        // Not while loading (Redis's `isSafeToPerformEvictions`), nor while
        // a script is busy (Redis's `isInsideYieldingLongCommand`):
        // the commands still admitted then (SCRIPT KILL, SHUTDOWN NOSAVE...)
        // must not wait for the journal's order lock or the key stripes
        // the script holds, to evict.
        if config.memory.maxmemory > 0
            && !self.state.db.loading().active()
            && self
                .state
                .scripts
                .busy(config.busy_reply_threshold)
                .is_none()
        {
            // Redis's `processCommand`: evict first (every command, reads
            // too); refuse a deny-oom command (or anything queued in
            // MULTI) if memory is still over. (A script's declared flags
            // are checked where the script starts, which knows them.)
            let name = spec.meta.name;
            let queued =
                client.tx.in_multi() && !matches!(name, "exec" | "discard" | "quit" | "reset");
            let deny = spec.flags.deny_oom
                || queued
                || (spec.flags.kind == Kind::Exec && client.tx.denies_oom());
            let outcome = self.state.db.perform_evictions(None);
            if deny && outcome == Eviction::Fail {
                pushes_first(&mut client.session);
                return Err(CmdError::Oom);
            }
        }
        // Redis's `processCommand` keeps the tracking table under its
        // limit before every command too.
        if tracking {
            let limit = config.tracking_table_max_keys;
            self.state.tracking.limit(limit, &self.state.clients);
            pushes_first(&mut client.session);
        }
        // `write` commands only (not `may_replicate` ones), as Redis's
        // MISCONF rule.
        if spec.flags.writes || spec.flags.kind == Kind::Ping {
            if self.state.persist.refuses_writes(config) {
                return Err(CmdError::Misconf);
            }
            if let Some(e) = self.state.db.journal().failure() {
                return Err(CmdError::AofMisconf(e));
            }
        }
        // Redis's `checkGoodReplicasStatus` for a write or an EXEC of
        // writes (a script that declares writes: where it starts).
        if config.min_replicas_to_write > 0 && !client.session.must_obey {
            let writes = spec.flags.writes || (spec.flags.kind == Kind::Exec && client.tx.writes());
            if writes && self.state.replicas.too_few(config) {
                return Err(CmdError::NoReplicas);
            }
        }
        let session = &client.session;
        if !spec.when_subscribed && session.proto == Protocol::Resp2 && session.subs.any() {
            return Err(CmdError::SubscribedContext(spec.meta.name));
        }
        if loading_refuses(client) {
            return Err(CmdError::Loading);
        }
        if (session.monitor || session.replica) && spec.flags.keyspace() {
            return Err(CmdError::ReplicaKeyspace);
        }
        Ok(())
    }

    /// Is this write (or every write this EXEC runs) an EVAL, EVALSHA or
    /// FCALL whose script declares `no-writes` (Redis's dynamic command
    /// flags, `evalGetCommandFlags`)?
    pub(super) fn declared_read_only(
        &self,
        client: &Client<S>,
        spec: &Spec,
        argv: &[Bytes],
    ) -> bool {
        let no_writes = |spec: &Spec, argv: &[Bytes]| {
            spec.flags.kind == Kind::Script
                && crate::cmd::scripting::declares_no_writes(&self.state, spec.meta.name, argv)
        };
        if spec.flags.kind == Kind::Exec {
            client
                .tx
                .commands()
                .iter()
                .filter(|(s, _)| s.flags.write)
                .all(|(s, a)| no_writes(s, a))
        } else {
            no_writes(spec, argv)
        }
    }

    /// Cluster mode: is the command's slot served here? A refused EXEC
    /// discards the transaction, as Redis does.
    fn route(&self, client: &mut Client<S>, spec: &Spec, argv: &[Bytes]) -> Result<(), CmdError> {
        let is_exec = spec.flags.kind == Kind::Exec;
        if is_exec && !client.tx.in_multi() {
            return Ok(());
        }
        let table = client.tables.get(&self.state.db).clone();
        let sender = route::Sender {
            asking: client.session.asking,
            queued: is_exec.then(|| client.tx.commands()),
            queued_writes: is_exec && client.tx.writes(),
        };
        let now = self.state.db.now_ms();
        let config = client.config.current();
        match route::admit(&self.state, &table, config, spec, argv, sender, now) {
            Ok(gate) => {
                client.gate = gate;
                Ok(())
            }
            Err(e) => {
                if is_exec {
                    client.tx.clear(&table);
                    client.session.multi = -1;
                }
                Err(CmdError::Cluster(e))
            }
        }
    }
}

/// A protected action's setting (`enable-debug-command`...): `yes`, or
/// `local` from a loopback address.
pub(super) fn allowed(setting: &str, session: &Session) -> bool {
    match setting {
        "yes" => true,
        "local" => session.handle.addr.ip().is_loopback(),
        _ => false,
    }
}
