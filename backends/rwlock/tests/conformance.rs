//! The shared conformance suite (backends/conformance) run against RwLockStore.

store_conformance::conformance_suite!(store_rwlock::RwLockStore);
