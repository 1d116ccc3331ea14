//! The checks must be able to fail: each test runs one conformance check
//! against a store broken in exactly the way that check exists to catch, and
//! requires the check to fail within a bounded number of attempts.

mod common;

use std::panic::catch_unwind;
use std::time::Duration;

use common::{
    CheckThenAct, DriftingLen, MutexStore, PositionCursor, SnapshotRetain, StaleResult, Torn,
};
use store_conformance::lincheck::{self, LinOp};
use store_conformance::{concurrent, iteration};

/// `check` must panic in at least one of `attempts` runs.
fn must_fail(check: &str, attempts: usize, f: fn()) {
    for _ in 0..attempts {
        if catch_unwind(f).is_err() {
            return;
        }
    }
    panic!("{check} did not catch the broken store in {attempts} attempts");
}

#[test]
fn set_nx_race_catches_check_then_act() {
    must_fail(
        "set_nx_race_has_exactly_one_winner",
        3,
        concurrent::set_nx_race_has_exactly_one_winner::<CheckThenAct<MutexStore>>,
    );
}

#[test]
fn increment_sum_catches_check_then_act() {
    must_fail(
        "concurrent_increments_sum_exactly",
        3,
        concurrent::concurrent_increments_sum_exactly::<CheckThenAct<MutexStore>>,
    );
}

#[test]
fn increment_results_catch_a_result_from_a_discarded_attempt() {
    must_fail(
        "concurrent_increments_sum_exactly",
        3,
        concurrent::concurrent_increments_sum_exactly::<StaleResult<MutexStore>>,
    );
}

#[test]
fn append_check_catches_check_then_act() {
    must_fail(
        "concurrent_appends_lose_no_bytes",
        3,
        concurrent::concurrent_appends_lose_no_bytes::<CheckThenAct<MutexStore>>,
    );
}

#[test]
fn conservation_check_catches_check_then_act() {
    must_fail(
        "increments_and_removals_conserve_the_total",
        3,
        concurrent::increments_and_removals_conserve_the_total::<CheckThenAct<MutexStore>>,
    );
}

#[test]
fn torn_entries_are_caught() {
    must_fail(
        "readers_never_see_a_torn_entry",
        3,
        concurrent::readers_never_see_a_torn_entry::<Torn<MutexStore>>,
    );
}

#[test]
fn len_check_catches_a_drifting_counter() {
    must_fail(
        "len_agrees_with_contents_after_concurrent_churn",
        3,
        concurrent::len_agrees_with_contents_after_concurrent_churn::<DriftingLen<MutexStore>>,
    );
}

#[test]
fn retain_check_catches_a_snapshot_retain() {
    must_fail(
        "retain_during_churn_keeps_every_kept_key",
        3,
        concurrent::retain_during_churn_keeps_every_kept_key::<SnapshotRetain<MutexStore>>,
    );
}

#[test]
fn scan_check_catches_a_positional_cursor() {
    // The same check with fewer keys: every call of this cursor is O(position).
    must_fail("scan_guarantee_under_churn", 3, || {
        iteration::scan_guarantee_under_churn::<PositionCursor>(iteration::ScanChurn {
            stable: 300,
            churn_batch: 1_000,
            churners: 2,
            iterations: 8,
            budget: Duration::from_secs(3),
        })
    });
}

#[test]
fn lincheck_finds_the_check_then_act_set_nx_race() {
    let cfg = lincheck::Config {
        threads: 3,
        ops_per_thread: 2,
        keys: 1,
        mix: vec![LinOp::SetNx(b'1'), LinOp::SetNx(b'2'), LinOp::GetDel],
        histories: 5_000,
        min_overlapping: 0,
        budget: Duration::from_secs(60),
        seed: 7,
    };
    let violation = lincheck::find_violation::<CheckThenAct<MutexStore>>(&cfg)
        .expect("the checker must find the SET NX race within 5,000 histories");
    eprintln!("{violation}");
}
