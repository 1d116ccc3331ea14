//! Server-level tests: the real server over TCP loopback, each test stamped
//! once per backend (`cargo test rwlock::` runs one backend).
//!
//! One test binary on purpose: the server is generic over its backend, so
//! every test binary compiles it once per backend; one binary keeps that
//! cost paid once.
//!
//! Differential tests run the same command script against FlashKV and a
//! real `redis-server` (spawned on a free loopback port) and compare the
//! replies byte for byte. Without redis-server they print SKIPPED; with
//! `FLASHKV_REQUIRE_REDIS=1` (set by `.ci/run`) its absence is a failure.

mod bounded;
mod common;

mod aof;
mod aof_timestamps;
mod atomicity;
mod blocking;
mod busy;
mod client_eviction;
mod clients;
mod cluster;
mod connection;
mod debug;
mod differential;
mod durability;
mod encodings;
mod flushall;
mod freeing;
mod geo;
mod hashes;
mod hll;
mod hostile;
mod introspection;
mod keys;
mod latency;
mod layers;
mod lists;
mod loading;
mod lualibs;
mod memory;
mod model;
mod notifications;
mod persistence;
mod process;
mod protocol;
mod pubsub;
mod races;
mod replication;
mod script_limits;
mod scripting;
mod server;
mod smodel;
mod sort;
mod strings;
mod tracking;
mod transactions;
mod zmodel;
mod zsets;
