//! The whole suite against the reference `Mutex<HashMap>` store: proves the
//! checks pass on an implementation that is correct by inspection (no false
//! alarms, and the concurrency checks really observe overlapping operations).

mod common;

store_conformance::conformance_suite!(common::MutexStore);
