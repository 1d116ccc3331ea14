//! The concurrent and linearizability tests of the conformance suite, on
//! the tiny map, really run through resizes: they are repeated until the
//! stores they used built at least `MIN_TABLES` tables (one per resize), at
//! most `MAX_ROUNDS` times. Its own test binary, so no other test's stores
//! count.
#![cfg(not(loom))]

mod tiny;

use std::sync::atomic::Ordering;

use store_conformance::{concurrent, lincheck};
use tiny::{TinyEpoch, TABLES_BUILT};

const MIN_TABLES: u64 = 2_000;
const MAX_ROUNDS: usize = 20;

#[test]
fn the_concurrent_suite_runs_through_resizes() {
    let mut rounds = 0;
    while TABLES_BUILT.load(Ordering::Relaxed) < MIN_TABLES && rounds < MAX_ROUNDS {
        concurrent::set_nx_race_has_exactly_one_winner::<TinyEpoch>();
        concurrent::increments_survive_concurrent_resizes::<TinyEpoch>();
        concurrent::increments_and_removals_conserve_the_total::<TinyEpoch>();
        concurrent::disjoint_writers_leave_an_exact_len::<TinyEpoch>();
        concurrent::len_agrees_with_contents_after_concurrent_churn::<TinyEpoch>();
        concurrent::readers_never_see_a_torn_entry::<TinyEpoch>();
        concurrent::retain_during_churn_keeps_every_kept_key::<TinyEpoch>();
        lincheck::multi_key_histories_are_linearizable::<TinyEpoch>();
        rounds += 1;
    }
    let built = TABLES_BUILT.load(Ordering::Relaxed);
    eprintln!("{rounds} rounds built {built} tables");
    assert!(
        built >= MIN_TABLES,
        "{rounds} rounds of the concurrent tests built only {built} tables"
    );
}
