//! Commands: parse once into a typed [`Command`], then execute.
//!
//! [`Executor::dispatch`] is the whole path for one request: look the name
//! up in the [`CommandTable`] (existence, then arity), check
//! authentication, parse the arguments into the family's typed command, and
//! execute it against the databases. Each family file (named after Redis's command groups) holds
//! its command structs, its parse functions and rows for the table, its
//! execute function, and its unit tests.
//!
//! Values are typed from the start (`store_api::Value`); every command that
//! reads a value checks its type first and answers WRONGTYPE as Redis does.

mod args;
mod bits;
mod client;
mod cluster;
mod connection;
mod context;
mod counters;
mod databases;
mod debug;
mod error;
mod expire;
mod geo;
mod hashes;
mod hll;
mod info;
mod introspect;
mod keys;
mod lcs;
mod lists;
mod memory;
pub mod meta;
mod migrate;
mod monitoring;
mod multi;
mod object;
mod observe;
mod persist;
mod pubsub;
mod replication;
mod scan;
mod scripting;
mod server;
mod sets;
mod sort;
mod strings;
pub mod table;
mod value;
mod zsets;

use std::sync::LazyLock;

use bytes::Bytes;
use store_api::Store;

pub use args::{is, parse_int, parse_int32, Args};
pub use context::{run_inline, Client, Ctx, Executor};

/// Cluster: the redirect that ends a blocked client's wait, if any.
pub fn blocked_redirect(r: &crate::state::cluster::Routing, keys: &[Bytes]) -> Option<CmdError> {
    cluster::route::blocked_redirect(r, keys).map(CmdError::Cluster)
}
pub use error::CmdError;
pub use table::{CommandTable, Row, Spec};
use value::{as_str, bulk_or_null, edit_str, owned, rmw, str_of, Created};

use crate::protocol::Frame;

/// The most bytes a [`Command`] may take. A parsed command is moved about
/// three times between its parse and its execution (out of the parse's
/// `Result`, into `execute`); up to 128 bytes, with the `Result` around it,
/// such a move is a few register moves, past it a call to `memcpy` each
/// (about 30 instructions apiece, 3% of a pipelined GET: callgrind,
/// `reports/2026-12-06-request-path.md`). So rare commands with large
/// arguments (SORT, MIGRATE, RESTORE, ZRANGE's and the ZUNION family's
/// options, GEODIST) are boxed: one allocation for them, none for the rest.
pub const COMMAND_SIZE: usize = 120;

/// A parsed command, ready to execute.
#[derive(Debug)]
pub enum Command {
    /// GET, SET and friends.
    Strings(strings::Cmd),
    /// Bitmap commands.
    Bits(bits::Cmd),
    /// LCS.
    Lcs(lcs::Lcs),
    /// HyperLogLog commands.
    Hll(hll::Cmd),
    /// Geo commands.
    Geo(geo::Cmd),
    /// INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT.
    Counters(counters::Cmd),
    /// The list family, blocking pops included.
    Lists(lists::Cmd),
    /// The hash family.
    Hashes(hashes::Cmd),
    /// The set family.
    Sets(sets::Cmd),
    /// Sorted-set commands.
    ZSets(zsets::Cmd),
    /// OBJECT and its subcommands.
    Object(object::Cmd),
    /// MEMORY subcommands.
    Memory(memory::Cmd),
    /// SORT, SORT_RO (boxed, as the other rare large ones: see
    /// `COMMAND_SIZE`).
    Sort(Box<sort::Sort>),
    /// DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE...
    Keys(keys::Cmd),
    /// EXPIRE, TTL, PERSIST and friends.
    Expire(expire::Cmd),
    /// SELECT, SWAPDB, DBSIZE, FLUSHDB, FLUSHALL.
    Databases(databases::Cmd),
    /// PING, ECHO, QUIT, RESET, HELLO, AUTH.
    Connection(connection::Cmd),
    /// CLIENT and its subcommands.
    Client(client::Cmd),
    /// INFO, TIME, CONFIG, FUNCTION FLUSH, SHUTDOWN.
    Server(server::Cmd),
    /// COMMAND and its subcommands.
    Introspect(introspect::Cmd),
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH: run by the executor itself,
    /// since they work on the client rather than on the databases.
    Multi(multi::Cmd),
    /// SUBSCRIBE, PUBLISH, PUBSUB and friends.
    PubSub(pubsub::Cmd),
    /// MONITOR, SLOWLOG, LATENCY.
    Monitoring(monitoring::Cmd),
    /// SAVE, BGSAVE, LASTSAVE, DUMP, RESTORE.
    Persist(persist::Cmd),
    /// DEBUG, ROLE, REPLICAOF, MODULE, LOLWUT.
    Debug(debug::Cmd),
    /// SYNC, PSYNC, REPLCONF, ROLE, REPLICAOF.
    Replication(replication::Cmd),
    /// EVAL, EVALSHA, SCRIPT.
    Scripting(scripting::Cmd),
    /// CLUSTER, READONLY, READWRITE, ASKING.
    Cluster(cluster::Cmd),
    /// MIGRATE.
    Migrate(Box<migrate::Migrate>),
}

/// Every implemented command's table row.
pub static ROWS: LazyLock<Vec<Row>> = LazyLock::new(|| {
    [
        strings::ROWS,
        bits::ROWS,
        lcs::ROWS,
        hll::ROWS,
        geo::ROWS,
        counters::ROWS,
        lists::ROWS,
        hashes::ROWS,
        sets::ROWS,
        zsets::ROWS,
        object::ROWS,
        memory::ROWS,
        sort::ROWS,
        keys::ROWS,
        expire::ROWS,
        databases::ROWS,
        connection::ROWS,
        client::ROWS,
        server::ROWS,
        introspect::ROWS,
        multi::ROWS,
        pubsub::ROWS,
        monitoring::ROWS,
        persist::ROWS,
        debug::ROWS,
        replication::ROWS,
        scripting::ROWS,
        cluster::ROWS,
        migrate::ROWS,
    ]
    .concat()
});

/// A command's reply: ready now, work to run off the async workers (KEYS
/// over a large keyspace, freeing a flushed database), or a blocked client.
pub enum Reply {
    /// The reply frame.
    Now(Frame),
    /// Run this on a blocking thread; its result is the reply.
    Later(Box<dyn FnOnce() -> Frame + Send>),
    /// The client waits (BLPOP and friends); see [`Blocked`].
    Block(Blocked),
    /// CLIENT PAUSE holds this request back until the instant (or an
    /// earlier UNPAUSE): the connection runs it again then.
    Postpone(Vec<Bytes>, std::time::Instant),
}

/// A client blocked on keys, as the connection holds it while it waits.
///
/// The waiter is served by another client's push (its connection is woken
/// with `Event::Wake` and takes the reply from the waiter), or the
/// connection gives up: on timeout, CLIENT UNBLOCK or disconnect it calls
/// `cancel`, which unregisters the waiter and returns the reply if the
/// waiter was served meanwhile (that reply must then be sent).
pub struct Blocked {
    /// The registered waiter.
    pub waiter: std::sync::Arc<crate::db::blocking::Waiter>,
    /// Milliseconds to wait; 0 waits forever.
    pub timeout_ms: u64,
    /// The reply on timeout (`*-1`, or `_` in RESP3).
    pub on_timeout: Frame,
    /// Give up: unregister, and return the reply if served meanwhile.
    pub cancel: Box<dyn FnOnce() -> Option<Frame> + Send>,
}

impl From<Frame> for Reply {
    fn from(f: Frame) -> Reply {
        Reply::Now(f)
    }
}

impl Reply {
    /// The frame of a command run where nothing may wait (inside EXEC or
    /// a script): work meant for a blocking thread runs here, a blocking
    /// command times out at once, and CLIENT PAUSE (which holds back only
    /// whole requests) answers nil.
    pub(crate) fn settle(reply: Result<Reply, CmdError>) -> Frame {
        match reply {
            Ok(Reply::Now(f)) => f,
            Ok(Reply::Later(work)) => work(),
            Ok(Reply::Block(b)) => (b.cancel)().unwrap_or(b.on_timeout),
            Ok(Reply::Postpone(..)) => Frame::Null,
            Err(e) => e.to_frame(),
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Now(frame) => f.debug_tuple("Now").field(frame).finish(),
            Reply::Later(_) => f.write_str("Later(..)"),
            Reply::Block(b) => f.debug_tuple("Block").field(&b.waiter).finish(),
            Reply::Postpone(argv, until) => {
                f.debug_tuple("Postpone").field(argv).field(until).finish()
            }
        }
    }
}

/// Execute a parsed command.
pub fn execute<S: Store>(cmd: Command, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    match cmd {
        Command::Strings(c) => strings::execute(c, ctx).map(Reply::Now),
        Command::Bits(c) => bits::execute(c, ctx).map(Reply::Now),
        Command::Lcs(c) => lcs::execute(c, ctx).map(Reply::Now),
        Command::Hll(c) => hll::execute(c, ctx),
        Command::Geo(c) => geo::execute(c, ctx),
        Command::Counters(c) => counters::execute(c, ctx).map(Reply::Now),
        Command::Lists(c) => lists::execute(c, ctx),
        Command::Hashes(c) => hashes::execute(c, ctx).map(Reply::Now),
        Command::Sets(c) => sets::execute(c, ctx).map(Reply::Now),
        Command::ZSets(c) => zsets::execute(c, ctx),
        Command::Object(c) => object::execute(c, ctx).map(Reply::Now),
        Command::Memory(c) => memory::execute(c, ctx).map(Reply::Now),
        Command::Sort(c) => sort::execute(*c, ctx).map(Reply::Now),
        Command::Keys(c) => keys::execute(c, ctx),
        Command::Expire(c) => expire::execute(c, ctx).map(Reply::Now),
        Command::Databases(c) => databases::execute(c, ctx),
        Command::Connection(c) => connection::execute(c, ctx).map(Reply::Now),
        Command::Client(c) => client::execute(ctx, c).map(Reply::Now),
        Command::Server(c) => server::execute(c, ctx).map(Reply::Now),
        Command::Introspect(c) => introspect::execute(c, ctx).map(Reply::Now),
        Command::PubSub(c) => pubsub::execute(c, ctx).map(Reply::Now),
        Command::Monitoring(c) => monitoring::execute(c, ctx).map(Reply::Now),
        Command::Persist(c) => persist::execute(c, ctx),
        Command::Debug(c) => debug::execute(c, ctx),
        Command::Replication(c) => replication::execute(c, ctx),
        Command::Scripting(c) => scripting::execute(c, ctx).map(Reply::Now),
        Command::Cluster(c) => cluster::execute(c, ctx),
        Command::Migrate(m) => migrate::execute(*m, ctx),
        // Transaction commands run in the executor; one that gets here
        // (it cannot be queued) is a nested MULTI.
        Command::Multi(_) => Err(CmdError::NestedMulti),
    }
}

/// A HELP reply: one status line per line of text, as Redis's
/// `addReplyHelp` sends it.
/// Serve the clients blocked on `key` of `ks` that a command made ready
/// (a list or a sorted set created by a store, a rename, a transaction).
/// Logged after what made them ready, outside its MULTI/EXEC.
/// Callers pass the time of serving, not of the command (Redis updates its
/// cached time there): a key that expired while a transaction ran serves
/// nobody.
pub fn serve_ready<S: Store>(ks: &crate::db::Keyspace<S>, key: &[u8], now: u64, limit: i64) {
    crate::db::journal::serving(|| {
        lists::serve_ready(ks, key, now, limit);
        zsets::serve_ready(ks, key, now);
    });
}

fn help_reply(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Run commands in-process, without sockets (dragonfly's family-test
    //! style): `let t = TestDb::new(); t.run(&["SET", "k", "v"])`.

    use std::net::SocketAddr;
    use std::sync::Arc;

    use bytes::Bytes;
    use store_rwlock::RwLockStore;

    use super::*;
    use crate::config::Config;
    use crate::db::{Clock, Db};
    use crate::protocol::Frame;
    use crate::state::{ServerState, Session};

    /// One server and one client session over the rwlock backend, with a
    /// manual clock.
    pub struct TestDb {
        pub exec: Executor<RwLockStore>,
        pub client: Client<RwLockStore>,
        pub clock: Clock,
    }

    impl TestDb {
        pub fn new() -> TestDb {
            TestDb::with_config(|_| {})
        }

        /// A `TestDb` whose configuration `set` changed from the default.
        pub fn with_config(set: impl FnOnce(&mut Config)) -> TestDb {
            let clock = Clock::manual(1_700_000_000_000);
            let mut config = Config::default();
            set(&mut config);
            let db = Db::new(config.databases, clock.clone(), config.expiry);
            let state = Arc::new(ServerState::new(config, db, 6379));
            let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
            let handle = state.clients.register(addr, addr, -1, usize::MAX).unwrap();
            let mut session = Session::new(handle);
            session.authenticated = true;
            let exec = Executor::with_all_commands(state);
            let client = exec.client(session);
            TestDb {
                exec,
                client,
                clock,
            }
        }

        /// Run a command and return its reply frame.
        pub fn run(&mut self, argv: &[&str]) -> Frame {
            let argv = argv
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect();
            run_inline(&self.exec, &mut self.client, argv)
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_parsed_command_stays_small_enough_to_move_without_memcpy() {
        use std::mem::size_of;
        let (command, result) = (
            size_of::<super::Command>(),
            size_of::<Result<super::Command, super::CmdError>>(),
        );
        assert!(
            command <= super::COMMAND_SIZE,
            "Command takes {command} bytes"
        );
        assert!(
            result <= 128,
            "Result<Command, CmdError> takes {result} bytes"
        );
    }
}
