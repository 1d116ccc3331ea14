//! The shared conformance suite stamped a second time for `EpochStore`,
//! with a tiny map (see `tiny`): its concurrency and linearizability tests
//! then run while multi-chunk, multi-helper migrations happen.
//! `tiny_resizes.rs` shows that they do.
#![cfg(not(loom))]

mod tiny;

store_conformance::conformance_suite!(tiny::TinyEpoch);
