//! The checks behind FlashKV's fuzz targets, as plain functions over bytes.
//!
//! Each module has one `check(data)` entry point that panics when a
//! property fails. The libFuzzer targets in `fuzz_targets/` only call it,
//! and the server's test suite includes this file with `#[path]` and
//! replays every input under `tests/fuzz_regressions/<target>/` through the
//! same function on stable Rust, without libFuzzer. So nothing here may
//! name this crate (`crate::`) or libFuzzer.
//!
//! | module | input | property |
//! |---|---|---|
//! | [`resp_decode`] | bytes, cut where the first bytes say | no panic; bounded decoder state; split-invariant decoding; requests and replies survive encode → parse |
//! | [`command`] | `arbitrary` command sequences | `cmd::dispatch` never panics; every reply encodes to exactly one well-formed frame |
//! | [`store_ops`] | `arbitrary` operation sequences | each backend agrees with a `HashMap` model, SCAN guarantee included |
//! | [`cluster_bus`] | bytes on the cluster bus port | no panic; messages survive encode → decode; the topology stays consistent |

pub mod cluster_bus;
pub mod command;
pub mod resp_decode;
pub mod store_ops;
