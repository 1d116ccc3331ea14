//! FlashKV: a Redis-compatible in-memory key-value server with
//! interchangeable concurrent map backends.
//!
//! # Module map
//! - [`config`]: every directive, from a config file, the command line and
//!   CONFIG SET, through one table.
//! - [`protocol`]: RESP frames, the pure incremental request decoder, the
//!   encoder, and a reply parser for clients and tests.
//! - [`db`]: numbered keyspaces over a [`Store`]: TTL rules, lazy and active
//!   expiry, key locks for multi-key atomicity, FLUSHDB/SWAPDB by pointer
//!   swap.
//! - [`state`]: what connections share: [`state::ServerState`] (databases,
//!   configuration, client registry) and each client's
//!   [`state::Session`].
//! - [`cmd`]: the command table (metadata generated from Redis), typed
//!   commands per Redis command group, and the [`cmd::Executor`] that runs
//!   them.
//! - [`server`]: listener, connections, graceful shutdown.
//! - [`util`]: Redis-exact number parsing, x87 long double arithmetic for
//!   INCRBYFLOAT, glob matching.
//! - [`backends`]: the one list of backends
//!   ([`for_each_backend!`](crate::for_each_backend)) and their `Store`
//!   types. The [`Store`] trait and the backends live in their own crates
//!   under `backends/`.
//!
//! # The dependency rule
//! Layers import downward only: `util` < `backends` < `protocol` < `db` <
//! `config` < `state` < `cmd` < `server`. In particular `protocol`, `db`,
//! `state` and `cmd` never import `server`, and the command table is built
//! by the server layer and passed down into the [`cmd::Executor`]. A test
//! (`tests/server/layers.rs`) checks the rule on the source.
//!
//! # The request path
//! `server::connection` reads into a `BytesMut` → `protocol::Decoder`
//! yields every complete request in the buffer (zero-copy `Bytes` slices) →
//! [`cmd::Executor::dispatch`] looks the name up in the `CommandTable`
//! (existence, then arity, then authentication) and parses the arguments
//! into a typed `Command` → the family's `execute` calls `db::Keyspace`,
//! which applies Redis's expiry rules around one `Store` call (`compute`
//! for every read-modify-write) → a `Frame` comes back →
//! `protocol::encode` appends it to the output buffer → after the batch of
//! pipelined requests, one write.
//!
//! # Embedding
//! ```no_run
//! use flashkv::{backends::EpochStore, server, Config};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let listener = server::bind("127.0.0.1:0".parse().unwrap(), 511)?;
//! let addr = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(server::run::<EpochStore>(vec![listener], Config::default(), async {
//!     let _ = stopped.await;
//! }));
//! // ... talk to `addr` with any Redis client ...
//! let _ = stop.send(());
//! server.await.unwrap()?;
//! # Ok(()) }
//! ```

pub mod cmd;
pub mod config;
pub mod db;
pub mod protocol;
pub mod server;
pub mod state;
pub mod util;

pub use config::{BackendKind, Config};
pub use db::{Clock, Db, ExpiryConfig};
pub use protocol::Frame;
pub use server::{run, run_with, Options};
pub use store_api::{Entry, Op, Store, Value};

/// The Redis version whose behaviour FlashKV reproduces (INFO and HELLO
/// report it so clients enable the right features).
pub const REDIS_VERSION: &str = "7.0.15";

/// The backends, for programs that embed the server, and the one list
/// every per-backend choice derives from.
#[macro_use]
pub mod backends;
