//! Where commands run: the [`Executor`] (server state plus the command
//! table), one [`Client`] per connection, and the [`Ctx`] a command sees.
//!
//! The server layer builds the command table and hands it, with the shared
//! [`ServerState`], to [`Executor::new`]; nothing below imports the server.
//! A [`Client`] keeps its own copies of the configuration and the table of
//! databases and refreshes each with one atomic load per request, so the
//! request path touches no shared `ArcSwap`.

use std::sync::Arc;

mod admit;

use bytes::Bytes;
use store_api::Store;

use super::multi::{self, TxState};
use super::table::{self, CommandTable, InMulti, Kind, Spec};
use super::{execute, CmdError, Command, Reply};
use crate::config::Config;
use crate::db::{journal, Access, Keyspace, Lookups, Table, TableCache, Tick};
use crate::protocol::Frame;
use crate::state::stats::Counter;
use crate::state::tracking;
use crate::state::{ConfigCache, ServerState, Session};

/// The command layer of one server: shared state and the command table.
pub struct Executor<S: Store> {
    /// The server's shared state.
    pub state: Arc<ServerState<S>>,
    /// Command lookup (with `rename-command` applied).
    pub commands: CommandTable,
}

impl<S: Store> Executor<S> {
    /// An executor over `state` with `commands`.
    pub fn new(state: Arc<ServerState<S>>, commands: CommandTable) -> Self {
        Executor { state, commands }
    }

    /// An executor with every implemented command, renamed as the
    /// configuration says.
    pub fn with_all_commands(state: Arc<ServerState<S>>) -> Self {
        let commands = CommandTable::new(
            &super::meta::COMMANDS,
            &super::ROWS,
            &state.config().rename_commands,
        );
        Executor::new(state, commands)
    }

    /// A client for `session`, with fresh caches.
    pub fn client(&self, session: Session) -> Client<S> {
        Client {
            session,
            tables: self.state.db.table_cache(),
            config: self.state.config_cache(),
            tx: TxState::default(),
            gate: None,
            counts: self.state.stats.counter(),
            later: None,
            state: self.state.clone(),
        }
    }

    /// Run one request (`argv[0]` is the command name) for `client`, as
    /// Redis's `processCommand` and `call` do: look it up, admit it (or
    /// reject it, counting the rejection), queue it inside MULTI, or run
    /// it; then account for it (INFO commandstats and errorstats, SLOWLOG,
    /// LATENCY, MONITOR). A request kept for later (queued in MULTI,
    /// postponed by CLIENT PAUSE) is taken out of `argv`; otherwise the
    /// caller clears it and may reuse it, allocation and all.
    pub fn dispatch(&self, client: &mut Client<S>, argv: &mut Vec<Bytes>) -> Reply {
        self.dispatch_as(client, argv, true)
    }

    /// [`dispatch`](Self::dispatch), ignoring CLIENT PAUSE when `pausable`
    /// is false (in-process runs, which have nobody to wait for).
    fn dispatch_as(&self, client: &mut Client<S>, argv: &mut Vec<Bytes>, pausable: bool) -> Reply {
        // ASKING lasts for one command (the whole transaction inside
        // MULTI), as Redis's `resetClient` says.
        let asked = client.session.asking && !argv[0].eq_ignore_ascii_case(b"asking");
        let reply = self.dispatch_looked_up(client, argv, pausable);
        client.gate = None;
        if asked && !client.tx.in_multi() {
            client.session.asking = false;
        }
        reply
    }

    fn dispatch_looked_up(
        &self,
        client: &mut Client<S>,
        argv: &mut Vec<Bytes>,
        pausable: bool,
    ) -> Reply {
        let spec = match self.commands.lookup(argv) {
            Ok(spec) => spec,
            Err(e) => {
                // An arity error is a rejected call of a known command.
                let id = match &e {
                    CmdError::WrongArity(name) => self.commands.id_of(name),
                    _ => None,
                };
                return self.reject(client, id, e);
            }
        };
        client.session.last_cmd = spec.id;
        if let Err(e) = self.admit(client, spec, argv) {
            return self.reject(client, Some(spec.id), e);
        }
        if pausable && !client.session.monitor && !client.session.replica {
            let write = spec.flags.write || (spec.flags.kind == Kind::Exec && client.tx.writes());
            if let Some(until) = self.state.paused_until(write) {
                // Under PAUSE WRITE, scripts that declare `no-writes` (in a
                // transaction too) are reads after all.
                let reads_after_all = write
                    && self.state.paused_until(false).is_none()
                    && self.declared_read_only(client, spec, argv);
                if !reads_after_all {
                    return Reply::Postpone(std::mem::take(argv), until);
                }
            }
        }
        match spec.in_multi {
            InMulti::Queued if client.tx.in_multi() => {
                let queued = client.tx.queue(*spec, std::mem::take(argv));
                client.session.multi = client.tx.queued();
                return queued.into();
            }
            InMulti::Reset => {
                client.tx.clear(client.tables.get(&self.state.db));
                client.session.multi = -1;
                let s = &mut client.session;
                self.state.pubsub.unsubscribe_all(&mut s.subs, &s.handle);
                if std::mem::take(&mut s.monitor) {
                    self.state.monitors.remove(s.handle.id);
                }
            }
            _ => {}
        }
        if spec.flags.skip_monitor {
            self.script_starts(client, spec, argv);
        }
        let start = Tick::now();
        let id = client.session.handle.id;
        let reply = tracking::as_client(id, || match self.call(client, spec, argv, start) {
            Ok(reply) => reply,
            Err(e) => Reply::Now(e.to_frame()),
        });
        let nanos = start.elapsed_nanos();
        if self.state.tracking.active() {
            self.track_reads(&client.session, spec, argv);
            self.state.tracking.flush_pending(&self.state.clients);
        }
        if !client.tx.in_multi() && spec.flags.kind != Kind::ClientCaching {
            client.session.caching = None;
        }
        if let Reply::Later(_) = reply {
            // Counted, logged as slow or not, once the work is done.
            client.later = Some(nanos);
            return reply;
        }
        let frame = match &reply {
            Reply::Now(frame) => Some(frame),
            _ => None,
        };
        self.account_for(client, spec, argv, nanos, frame);
        reply
    }

    /// Reply with a rejection: counted for command `id` (if it was found)
    /// and in errorstats, and the open transaction is doomed.
    fn reject(&self, client: &mut Client<S>, id: Option<usize>, e: CmdError) -> Reply {
        client.tx.doom();
        if let Some(id) = id {
            client.counts.reject(id);
        }
        let frame = e.to_frame();
        if let Frame::Error(text) = &frame {
            self.state.stats.error(&client.counts, text);
        }
        Reply::Now(frame)
    }

    /// Parse and execute; a command that may write runs in the write
    /// journal's order (see `db::journal`) when the append-only file is on.
    /// `start` is when the command began (its time, unless it waited for
    /// the journal's order).
    fn call(
        &self,
        client: &mut Client<S>,
        spec: &Spec,
        argv: &[Bytes],
        start: Tick,
    ) -> Result<Reply, CmdError> {
        let journal = self.state.db.journal();
        // Scripts that may write are logged as one section too: their
        // commands' records, wrapped in MULTI/EXEC, as Redis propagates a
        // script's effects.
        if spec.flags.writes || matches!(spec.flags.kind, Kind::Exec | Kind::Script) {
            // Lock order: the journal's order lock before the VM, so a VM
            // kept for the batch goes back before that wait (`on_wait`).
            let (reply, end) = journal.ordered(|| {
                // After a wait for the order lock, the time is read anew.
                let at = if journal.enabled() {
                    Tick::now()
                } else {
                    start
                };
                self.call_now(client, spec, argv, at)
            });
            client.session.journaled = client.session.journaled.max(end);
            return reply;
        }
        self.call_now(client, spec, argv, start)
    }

    fn call_now(
        &self,
        client: &mut Client<S>,
        spec: &Spec,
        argv: &[Bytes],
        at: Tick,
    ) -> Result<Reply, CmdError> {
        let cmd = match table::parse(spec, argv)? {
            Command::Multi(c) => return multi::execute(c, self, client),
            cmd => cmd,
        };
        let config = client.config.current();
        let now = self.state.db.ms_at(at);
        client.session.last_command_ms = now;
        let mut ctx = Ctx {
            state: &self.state,
            commands: &self.commands,
            session: &mut client.session,
            config,
            now,
            table: client.tables.get(&self.state.db),
            in_transaction: false,
            in_script: false,
            ready: Ready::default(),
            swapped: None,
            lookups: Lookups::default(),
            counts: &client.counts,
        };
        let (mark, db) = (journal::mark(), ctx.session.db);
        let reply = execute(cmd, &mut ctx);
        journal::command_done(mark, db, argv);
        // Pops for the clients a push served are logged after the push.
        ctx.serve_ready();
        let (hits, misses) = ctx.lookups.take();
        client.counts.lookups(hits, misses);
        reply
    }
}

/// One connection's state as the command layer sees it.
pub struct Client<S: Store> {
    /// The session commands read and change.
    pub session: Session,
    pub(super) tables: TableCache<S>,
    pub(super) config: ConfigCache,
    /// MULTI queue and WATCHed keys.
    pub(super) tx: TxState,
    /// Cluster: the gate of the moving slot the running command uses.
    pub(super) gate: Option<super::cluster::route::SlotGate>,
    /// Where this client's commands are counted (INFO commandstats...).
    pub(super) counts: Counter,
    /// A command whose work runs later ([`Reply::Later`]: DEBUG SLEEP,
    /// KEYS...) is accounted for when that work is done
    /// ([`Executor::finish_later`]): the time it took so far.
    pub(super) later: Option<u64>,
    state: Arc<ServerState<S>>,
}

/// A client that goes away forgets its watches, subscriptions and
/// tracking.
impl<S: Store> Drop for Client<S> {
    fn drop(&mut self) {
        self.tx.clear(&self.state.db.table());
        let s = &mut self.session;
        self.state.pubsub.unsubscribe_all(&mut s.subs, &s.handle);
        if s.monitor {
            self.state.monitors.remove(s.handle.id);
        }
        if s.tracking.is_some() {
            self.state.tracking_off(s.handle.id);
        }
        if s.replica {
            // Its stream stops here, even if its sync is still starting.
            s.handle.kill();
            self.state.replicas.remove(&self.state.db, s.handle.id);
        }
    }
}

impl<S: Store> Client<S> {
    /// Bytes held for MULTI and WATCH (CLIENT LIST's `multi-mem`).
    pub fn tx_memory(&self) -> usize {
        self.tx.memory()
    }

    /// Did the command reply `frame` (None: not a reply yet) fail? Its
    /// error counts in errorstats here, unless a script counted it where
    /// it happened (`Session::error_counted`).
    pub(super) fn counts_failure(&mut self, frame: Option<&Frame>) -> bool {
        let counted = std::mem::take(&mut self.session.error_counted);
        let Some(Frame::Error(text)) = frame else {
            return false;
        };
        if !counted {
            self.state.stats.error(&self.counts, text);
        }
        true
    }

    /// Count network traffic: bytes in and out, reads and writes made.
    pub fn count_net(&mut self, input: u64, output: u64, reads: u64, writes: u64) {
        self.counts.net(input, output, reads, writes);
    }

    /// The configuration as of now (refreshed with one load).
    pub fn config(&mut self, state: &ServerState<S>) -> &Arc<Config> {
        self.config.get(state)
    }
}

/// What a command executes against.
pub struct Ctx<'a, S: Store> {
    /// The server.
    pub state: &'a Arc<ServerState<S>>,
    /// The command table (COMMAND, CLIENT LIST's `cmd=`).
    pub commands: &'a CommandTable,
    /// The client's connection state.
    pub session: &'a mut Session,
    /// The configuration as of this command.
    pub config: &'a Arc<Config>,
    /// Time of this command (Redis caches one timestamp per command).
    pub now: u64,
    pub(super) table: &'a Arc<Table<S>>,
    /// Inside EXEC: every stripe the commands touch is already held.
    pub(super) in_transaction: bool,
    /// Called by a script (`redis.call`): Redis's `CLIENT_SCRIPT`.
    pub(super) in_script: bool,
    /// Lists whose blocked clients could not all be served under the
    /// command's locks: (database, key), finished after the command.
    pub(super) ready: Ready,
    /// A SWAPDB inside a transaction exchanged these databases: the
    /// transaction's own table must follow.
    pub(super) swapped: Option<(usize, usize)>,
    /// Reads that found their key, and that did not (keyspace_hits and
    /// keyspace_misses).
    pub(super) lookups: Lookups,
    /// Where the client's commands are counted (a script's calls too).
    pub(super) counts: &'a Counter,
}

impl<S: Store> Ctx<'_, S> {
    /// The selected database, as this command may touch it.
    pub fn ks(&self) -> Access<'_, S> {
        self.access(&self.table[self.session.db])
    }

    /// `ks` as this command may touch it (inside a transaction, without
    /// taking locks); its reads are counted as this command's lookups.
    pub fn access<'k>(&'k self, ks: &'k Keyspace<S>) -> Access<'k, S> {
        let access = if self.in_transaction {
            Access::held(ks)
        } else {
            Access::new(ks)
        };
        access.counting(&self.lookups)
    }

    /// The selected database, owned (for work moved to another thread).
    pub fn ks_arc(&self) -> Arc<Keyspace<S>> {
        self.table[self.session.db].clone()
    }

    /// Database `index` as Redis's `selectDb` validates it.
    pub fn ks_at(&self, index: i64) -> Result<&Arc<Keyspace<S>>, CmdError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.table.get(i))
            .ok_or(CmdError::DbIndexOutOfRange)
    }

    /// Every database as of this command.
    pub fn databases(&self) -> &Arc<Table<S>> {
        self.table
    }

    /// Report keyspace event `event` of `class` on `key` of the selected
    /// database (`notify-keyspace-events`; one load when disabled).
    #[inline]
    pub fn notify(&self, class: u32, event: &'static str, key: &[u8]) {
        self.notify_in(self.session.db, class, event, key);
    }

    /// [`notify`](Self::notify) for database `db`.
    #[inline]
    pub fn notify_in(&self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        self.state.db.events().emit(class, event, db, key);
    }

    /// A lookup that Redis does with `lookupKeyRead` found nothing, in a
    /// command that does not read through [`Access::read`].
    pub fn key_miss(&self, key: &[u8]) {
        self.ks().missed(key);
    }

    /// Whether a `yes` / `local` / `no` setting (`enable-debug-command`,
    /// `enable-protected-configs`) lets this client through: `local` only
    /// from a loopback address.
    pub fn allows(&self, setting: &str) -> bool {
        admit::allowed(setting, self.session)
    }

    /// Is this command running inside EXEC?
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Number of databases.
    pub fn db_count(&self) -> usize {
        self.table.len()
    }

    /// Lists of the selected database whose blocked clients still need
    /// serving once this command's locks are released.
    pub fn defer_ready(&mut self, keys: Vec<Bytes>) {
        let db = self.session.db;
        self.defer_ready_in(db, keys);
    }

    /// [`defer_ready`](Self::defer_ready) for database `db`.
    pub fn defer_ready_in(&mut self, db: usize, keys: Vec<Bytes>) {
        if keys.is_empty() {
            return;
        }
        let ready = self.ready.0.get_or_insert_with(Vec::new);
        ready.extend(keys.into_iter().map(|k| (db, k)));
    }

    /// Serve the deferred blocked clients (outside any transaction).
    fn serve_ready(&mut self) {
        if self.in_transaction || self.ready.0.is_none() {
            return;
        }
        let limit = self.config.encodings.list_max_listpack_size;
        let now = self.now.max(self.state.db.now_ms());
        for (db, key) in self.ready.take() {
            if let Some(ks) = self.table.get(db) {
                super::serve_ready(ks, &key, now, limit);
            }
        }
    }
}

/// Lists whose blocked clients a command left to serve once its locks are
/// released, by database. Nearly every command leaves none: then nothing
/// is allocated, and dropping it is one test (an empty `Vec`'s drop glue
/// was a call of ~24 instructions on every request).
#[derive(Default)]
pub struct Ready(Option<Vec<(usize, Bytes)>>);

impl Ready {
    /// Everything deferred, leaving none.
    pub fn take(&mut self) -> Vec<(usize, Bytes)> {
        self.0.take().unwrap_or_default()
    }
}

/// Run a request to completion in-process (tests, fuzzing): work a command
/// hands back as [`Reply::Later`] runs inline, and a command that would
/// block times out at once.
pub fn run_inline<S: Store>(
    exec: &Executor<S>,
    client: &mut Client<S>,
    mut argv: Vec<Bytes>,
) -> Frame {
    let frame = match exec.dispatch_as(client, &mut argv, false) {
        Reply::Now(f) => f,
        Reply::Later(work) => {
            let start = Tick::now();
            let frame = work();
            exec.finish_later(client, &argv, &frame, start.elapsed_nanos());
            frame
        }
        Reply::Block(b) => (b.cancel)().unwrap_or(b.on_timeout),
        Reply::Postpone(..) => unreachable!("in-process runs are not paused"),
    };
    frame
}
