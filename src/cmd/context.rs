//! Where commands run: the [`Executor`] (server state plus the command
//! table), one [`Client`] per connection, and the [`Ctx`] a command sees.
//!
//! The server layer builds the command table and hands it, with the shared
//! [`ServerState`], to [`Executor::new`]; nothing below imports the server.
//! A [`Client`] keeps its own copies of the configuration and the table of
//! databases and refreshes each with one atomic load per request, so the
//! request path touches no shared `ArcSwap`.

use std::sync::Arc;

use bytes::Bytes;
use store_api::Store;

use super::multi::{self, TxState};
use super::table::{self, CommandTable, InMulti};
use super::{execute, lists, CmdError, Command, Reply};
use crate::config::Config;
use crate::db::{Access, Keyspace, Table, TableCache};
use crate::protocol::{Frame, Protocol};
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
            super::meta::COMMANDS,
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
            state: self.state.clone(),
        }
    }

    /// Run one request (`argv[0]` is the command name) for `client`.
    pub fn dispatch(&self, client: &mut Client<S>, argv: Vec<Bytes>) -> Reply {
        match self.run(client, argv) {
            Ok(reply) => reply,
            Err(e) => Reply::Now(e.to_frame()),
        }
    }

    fn run(&self, client: &mut Client<S>, argv: Vec<Bytes>) -> Result<Reply, CmdError> {
        let spec = match self.commands.lookup(&argv) {
            Ok(spec) => spec,
            Err(e) => {
                client.tx.doom();
                return Err(e);
            }
        };
        let config = client.config.get(&self.state);
        client.session.last_cmd = spec.id;
        if !spec.no_auth && self.state.auth_required(&client.session, config) {
            client.tx.doom();
            return Err(CmdError::NoAuth);
        }
        if !spec.when_subscribed
            && client.session.proto == Protocol::Resp2
            && client.session.subs.any()
        {
            client.tx.doom();
            return Err(CmdError::SubscribedContext(spec.meta.name));
        }
        match spec.in_multi {
            InMulti::Queued if client.tx.in_multi() => {
                let queued = client.tx.queue(*spec, argv);
                client.session.multi = client.tx.queued();
                return Ok(queued.into());
            }
            InMulti::Reset => {
                client.tx.clear(client.tables.get(&self.state.db));
                client.session.multi = -1;
                let s = &mut client.session;
                self.state.pubsub.unsubscribe_all(&mut s.subs, &s.handle);
            }
            _ => {}
        }
        let cmd = table::parse(spec, argv)?;
        let cmd = match cmd {
            Command::Multi(c) => return multi::execute(c, self, client),
            cmd => cmd,
        };
        let config = client.config.current();
        let now = self.state.db.now_ms();
        client.session.last_command_ms = now;
        let mut ctx = Ctx {
            state: &self.state,
            commands: &self.commands,
            session: &mut client.session,
            config,
            now,
            table: client.tables.get(&self.state.db),
            in_transaction: false,
            ready: Vec::new(),
            swapped: None,
        };
        let reply = execute(cmd, &mut ctx);
        ctx.serve_ready();
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
    state: Arc<ServerState<S>>,
}

/// A client that goes away forgets its watches and subscriptions.
impl<S: Store> Drop for Client<S> {
    fn drop(&mut self) {
        self.tx.clear(&self.state.db.table());
        let s = &mut self.session;
        self.state.pubsub.unsubscribe_all(&mut s.subs, &s.handle);
    }
}

impl<S: Store> Client<S> {
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
    /// Lists whose blocked clients could not all be served under the
    /// command's locks: (database, key), finished after the command.
    pub(super) ready: Vec<(usize, Bytes)>,
    /// A SWAPDB inside a transaction exchanged these databases: the
    /// transaction's own table must follow.
    pub(super) swapped: Option<(usize, usize)>,
}

impl<S: Store> Ctx<'_, S> {
    /// The selected database, as this command may touch it.
    pub fn ks(&self) -> Access<'_, S> {
        self.access(&self.table[self.session.db])
    }

    /// `ks` as this command may touch it (inside a transaction, without
    /// taking locks).
    pub fn access<'k>(&self, ks: &'k Keyspace<S>) -> Access<'k, S> {
        if self.in_transaction {
            Access::held(ks)
        } else {
            Access::new(ks)
        }
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
        self.notify(crate::db::events::class::KEY_MISS, "keymiss", key);
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
        self.ready.extend(keys.into_iter().map(|k| (db, k)));
    }

    /// Serve the deferred blocked clients (outside any transaction).
    fn serve_ready(&mut self) {
        if self.in_transaction {
            return;
        }
        let limit = self.config.encodings.list_max_listpack_size;
        for (db, key) in std::mem::take(&mut self.ready) {
            if let Some(ks) = self.table.get(db) {
                lists::serve_ready(ks, &key, self.now, limit);
            }
        }
    }
}

/// Run a request to completion in-process (tests, fuzzing): work a command
/// hands back as [`Reply::Later`] runs inline, and a command that would
/// block times out at once.
pub fn run_inline<S: Store>(exec: &Executor<S>, client: &mut Client<S>, argv: Vec<Bytes>) -> Frame {
    match exec.dispatch(client, argv) {
        Reply::Now(f) => f,
        Reply::Later(work) => work(),
        Reply::Block(b) => (b.cancel)().unwrap_or(b.on_timeout),
    }
}
