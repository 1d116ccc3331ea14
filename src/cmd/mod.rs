//! Commands: parse once into a typed [`Command`], then execute.
//!
//! [`dispatch`] is the whole path for one request: look the name up in the
//! [`CommandTable`] (existence, then arity), check authentication, parse the
//! arguments into the family's typed command, and execute it against the
//! databases. Each family file (named after Redis's command groups) holds
//! its command structs, its parse functions and rows for the table, its
//! execute function, and its unit tests.
//!
//! Values are typed from the start (`store_api::Value`); every command that
//! reads a value checks its type first and answers WRONGTYPE as Redis does.

mod args;
mod connection;
mod counters;
mod databases;
mod error;
mod expire;
mod info;
mod introspect;
mod keys;
mod lists;
pub mod meta;
mod server;
mod strings;
pub mod table;

use std::sync::{Arc, LazyLock};

use arc_swap::Guard;
use bytes::Bytes;
use store_api::{Entry, Store, Value};

pub use args::{is, parse_int, parse_int32, Args};
pub use error::CmdError;
pub use table::{CommandTable, Row, Spec};

use crate::db::{Keyspace, Table};
use crate::protocol::Frame;
use crate::server::{ServerState, Session};

/// A parsed command, ready to execute.
#[derive(Debug)]
pub enum Command {
    /// GET, SET and friends.
    Strings(strings::Cmd),
    /// INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.
    Counters(counters::Cmd),
    /// LPUSH, RPUSH, LPOP, RPOP, LLEN, LRANGE, LINDEX.
    Lists(lists::Cmd),
    /// DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE...
    Keys(keys::Cmd),
    /// EXPIRE, TTL, PERSIST and friends.
    Expire(expire::Cmd),
    /// SELECT, SWAPDB, DBSIZE, FLUSHDB, FLUSHALL.
    Databases(databases::Cmd),
    /// PING, ECHO, QUIT, RESET, HELLO, AUTH, CLIENT.
    Connection(connection::Cmd),
    /// INFO, TIME, CONFIG, FUNCTION FLUSH, SHUTDOWN.
    Server(server::Cmd),
    /// COMMAND and its subcommands.
    Introspect(introspect::Cmd),
}

/// Every implemented command's table row.
pub static ROWS: LazyLock<Vec<Row>> = LazyLock::new(|| {
    [
        strings::ROWS,
        counters::ROWS,
        lists::ROWS,
        keys::ROWS,
        expire::ROWS,
        databases::ROWS,
        connection::ROWS,
        server::ROWS,
        introspect::ROWS,
    ]
    .concat()
});

/// A command's reply: ready now, or work to run off the async workers
/// (KEYS over a large keyspace, freeing a flushed database).
pub enum Reply {
    /// The reply frame.
    Now(Frame),
    /// Run this on a blocking thread; its result is the reply.
    Later(Box<dyn FnOnce() -> Frame + Send>),
}

impl From<Frame> for Reply {
    fn from(f: Frame) -> Reply {
        Reply::Now(f)
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Now(frame) => f.debug_tuple("Now").field(frame).finish(),
            Reply::Later(_) => f.write_str("Later(..)"),
        }
    }
}

/// What a command executes against.
pub struct Ctx<'a, S: Store> {
    /// The server.
    pub state: &'a Arc<ServerState<S>>,
    /// The client's connection state.
    pub session: &'a mut Session,
    /// Time of this command (Redis caches one timestamp per command).
    pub now: u64,
    table: Guard<Arc<Table<S>>>,
}

impl<S: Store> Ctx<'_, S> {
    /// The selected database.
    pub fn ks(&self) -> &Keyspace<S> {
        &self.table[self.session.db]
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

    /// Number of databases.
    pub fn db_count(&self) -> usize {
        self.table.len()
    }
}

/// Run one request (`argv[0]` is the command name) for `session`.
pub fn dispatch<S: Store>(
    state: &Arc<ServerState<S>>,
    session: &mut Session,
    argv: Vec<Bytes>,
) -> Reply {
    match run(state, session, argv) {
        Ok(reply) => reply,
        Err(e) => Reply::Now(e.to_frame()),
    }
}

fn run<S: Store>(
    state: &Arc<ServerState<S>>,
    session: &mut Session,
    argv: Vec<Bytes>,
) -> Result<Reply, CmdError> {
    let spec = state.commands.lookup(&argv)?;
    session.last_cmd = spec.id;
    if !spec.no_auth && state.auth_required(session) {
        return Err(CmdError::NoAuth);
    }
    let cmd = table::parse(spec, argv)?;
    let mut ctx = Ctx {
        state,
        session,
        now: state.db.now_ms(),
        table: state.db.table(),
    };
    execute(cmd, &mut ctx)
}

/// Execute a parsed command.
pub fn execute<S: Store>(cmd: Command, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    match cmd {
        Command::Strings(c) => strings::execute(c, ctx).map(Reply::Now),
        Command::Counters(c) => counters::execute(c, ctx).map(Reply::Now),
        Command::Lists(c) => lists::execute(c, ctx).map(Reply::Now),
        Command::Keys(c) => keys::execute(c, ctx),
        Command::Expire(c) => expire::execute(c, ctx).map(Reply::Now),
        Command::Databases(c) => databases::execute(c, ctx),
        Command::Connection(c) => connection::execute(c, ctx).map(Reply::Now),
        Command::Server(c) => server::execute(c, ctx).map(Reply::Now),
        Command::Introspect(c) => introspect::execute(c, ctx).map(Reply::Now),
    }
}

/// The string a value holds, or WRONGTYPE.
fn as_str(e: &Entry) -> Result<&Bytes, CmdError> {
    match &e.value {
        Value::Str(b) => Ok(b),
        _ => Err(CmdError::WrongType),
    }
}

/// The string under a live entry (`None` when absent), or WRONGTYPE.
fn str_of(e: Option<&Entry>) -> Result<Option<&Bytes>, CmdError> {
    e.map(as_str).transpose()
}

/// A bulk reply, or null when absent.
fn bulk_or_null(b: Option<Bytes>) -> Frame {
    b.map_or(Frame::Null, Frame::Bulk)
}

/// A HELP reply: one status line per line of text, as Redis's
/// `addReplyHelp` sends it.
fn help_reply(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect())
}

/// Copy an argument out of the read buffer before storing it, so a stored
/// value never pins the (much larger) buffer it arrived in.
fn owned(b: &Bytes) -> Bytes {
    Bytes::copy_from_slice(b)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Run commands in-process, without sockets (dragonfly's family-test
    //! style): `let t = TestDb::new(); t.run(&["SET", "k", "v"])`.

    use std::net::SocketAddr;
    use std::sync::Arc;

    use store_rwlock::RwLockStore;

    use super::*;
    use crate::config::Config;
    use crate::db::{Clock, Db};
    use crate::protocol::Frame;
    use crate::server::ServerState;

    /// One server and one client session over the rwlock backend, with a
    /// manual clock.
    pub struct TestDb {
        pub state: Arc<ServerState<RwLockStore>>,
        pub session: Session,
        pub clock: Clock,
    }

    impl TestDb {
        pub fn new() -> TestDb {
            let clock = Clock::manual(1_700_000_000_000);
            let config = Config::default();
            let db = Db::new(config.databases, clock.clone(), config.expiry);
            let state = Arc::new(ServerState::new(config, db, 6379));
            let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
            let handle = state.clients.register(addr, addr, -1, usize::MAX).unwrap();
            let mut session = Session::new(handle);
            session.authenticated = true;
            TestDb {
                state,
                session,
                clock,
            }
        }

        /// Run a command and return its reply frame.
        pub fn run(&mut self, argv: &[&str]) -> Frame {
            let argv = argv
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect();
            match dispatch(&self.state, &mut self.session, argv) {
                Reply::Now(f) => f,
                Reply::Later(work) => work(),
            }
        }

        /// Move the clock forward.
        pub fn advance(&self, ms: u64) {
            self.clock.advance(ms);
        }
    }

    /// Shorthands for expected frames.
    pub fn ok() -> Frame {
        Frame::ok()
    }
    pub fn int(n: i64) -> Frame {
        Frame::Integer(n)
    }
    pub fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }
    pub fn err(s: &str) -> Frame {
        Frame::error(s)
    }
    pub fn arr(v: Vec<Frame>) -> Frame {
        Frame::Array(v)
    }
}
