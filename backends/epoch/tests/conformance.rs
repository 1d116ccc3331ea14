//! The shared conformance suite (see `store_conformance`), stamped for
//! `EpochStore` with crossbeam-epoch reclamation.
#![cfg(not(loom))]

store_conformance::conformance_suite!(store_epoch::EpochStore);
