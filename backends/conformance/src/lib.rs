//! Generic tests every FlashKV backend must pass.
//!
//! Each module holds test bodies, plain `pub fn name<S: Store>()` functions
//! that panic on failure, for one feature area of the [`Store`] contract:
//!
//! | module | checks |
//! |---|---|
//! | [`basic`] | get, read, insert, remove, len, is_empty; binary-safe keys |
//! | [`compute`] | Keep / Put / Remove on absent and present keys, results |
//! | [`expiry_fields`] | `expires_at` is data: stored, replaced, cleared, never acted on |
//! | [`iteration`] | retain, clear, scan (incl. the SCAN guarantee under churn), random_entry |
//! | [`memory`] | memory comes back after mass deletes, clear and drop (counting allocator) |
//! | [`model`] | proptest: random op sequences against a `std::collections::HashMap` model |
//! | [`concurrent`] | SET NX single winner, exact INCR sums, APPEND keeps every byte, no torn entries |
//! | [`lincheck`] | recorded concurrent histories checked for linearizability |
//!
//! A backend gets all of it with one line in `tests/conformance.rs`:
//!
//! ```ignore
//! store_conformance::conformance_suite!(store_rwlock::RwLockStore);
//! ```
//!
//! The macro stamps every body into a `#[test]` named after the behaviour it
//! checks, grouped by area (`compute::compute_put_on_absent_key_inserts`), so
//! `cargo test -p store-flurry concurrent::` runs one area and a failure names
//! the test. Heavy stress variants are `#[ignore]`d; run them with
//! `cargo test -p store-X -- --ignored`.
//!
//! The macro also installs a counting global allocator (the `stats_alloc`
//! crate, which owns the `unsafe`) in the calling test binary, so invoke it
//! once per test binary. Only the [`memory`] bodies read the counters, and
//! each of them re-runs itself alone in a child process so other tests running
//! in parallel cannot disturb the measurement.
//!
//! # Environment
//! - `FLASHKV_PROPTEST_CASES`: proptest cases per model test (default
//!   [`model::DEFAULT_CASES`], fixed so CI time is predictable).
//!   `PROPTEST_RNG_SEED` fixes proptest's seed to replay a run.
//! - `FLASHKV_LINCHECK_HISTORIES`: recorded histories per lincheck test
//!   (default [`lincheck::DEFAULT_HISTORIES`]).
//!
//! # Testing the tests
//! This crate's own tests keep the suite honest:
//! - `tests/reference.rs` runs the whole suite on a `Mutex<HashMap>` store
//!   that is correct by inspection (no false alarms);
//! - `tests/mutants.rs` runs the concurrency checks against stores broken in
//!   exactly the way the check's doc says it catches (check-then-act compute,
//!   a result from a discarded attempt, torn writes, a drifting counter, a
//!   snapshot retain, a positional scan cursor) and requires it to fail,
//!   including the linearizability checker on a check-then-act SET NX;
//! - `tests/memory_mutant.rs` shows the memory checks catch a leaking store.
//!
//! A new concurrency check gets a mutant too. Loops are bounded in
//! iterations and in wall time; nothing asserts on timing.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod basic;
pub mod compute;
pub mod concurrent;
pub mod expiry_fields;
pub mod iteration;
pub mod lincheck;
pub mod memory;
pub mod model;
pub mod support;

#[doc(no_inline)]
pub use store_api::Store;

/// Stamp the whole conformance suite into `#[test]` functions for one store.
///
/// ```ignore
/// store_conformance::conformance_suite!(store_scc::SccStore);
/// ```
///
/// `$store` must implement [`Store`] (which implies `Default`). The expansion
/// defines a type alias `ConformanceStore`, one module per area (`basic`,
/// `compute`, `expiry_fields`, `iteration`, `memory`, `model`, `concurrent`,
/// `lincheck`) and a `#[global_allocator]`, so call it once per test binary.
#[macro_export]
macro_rules! conformance_suite {
    ($store:ty) => {
        /// The store every stamped test runs against.
        type ConformanceStore = $store;

        /// Counts allocations for the `memory` tests (see `store_conformance::memory`).
        #[global_allocator]
        static CONFORMANCE_ALLOCATOR: &$crate::memory::StatsAlloc<::std::alloc::System> =
            &$crate::memory::INSTRUMENTED_SYSTEM;

        $crate::__stamp_tests! { basic:
            default_store_is_empty,
            get_on_absent_key_returns_none,
            read_on_absent_key_sees_none,
            insert_then_get_returns_the_entry,
            read_sees_the_stored_entry,
            read_calls_its_closure_exactly_once,
            insert_on_absent_key_returns_none,
            insert_on_present_key_returns_the_previous_entry,
            get_returns_a_copy_unaffected_by_later_writes,
            remove_returns_the_entry_and_deletes_the_key,
            remove_on_absent_key_returns_none,
            len_counts_distinct_keys,
            is_empty_follows_len,
            keys_are_binary_safe,
            keys_that_share_a_prefix_are_distinct,
            many_keys_survive_growth_and_shrinking,
            name_is_a_short_lowercase_word,
        }
        $crate::__stamp_tests! { compute:
            compute_keep_on_absent_key_leaves_it_absent,
            compute_put_on_absent_key_inserts,
            compute_remove_on_absent_key_is_a_no_op,
            compute_keep_on_present_key_leaves_the_entry,
            compute_put_on_present_key_replaces_the_entry,
            compute_remove_on_present_key_deletes_it,
            compute_sees_the_current_entry,
            compute_passes_the_closure_result_through,
            compute_can_swap_and_return_the_old_entry,
            compute_touches_no_other_key,
            compute_after_remove_sees_an_absent_key,
            compute_without_contention_calls_the_closure_once,
            sequential_increments_accumulate,
            compute_put_copies_the_key,
        }
        $crate::__stamp_tests! { expiry_fields:
            insert_stores_the_deadline,
            insert_without_deadline_clears_the_old_one,
            compute_put_can_set_a_deadline,
            compute_put_can_clear_a_deadline,
            compute_keep_preserves_the_deadline,
            store_never_expires_entries_by_itself,
            extreme_deadlines_round_trip,
            retain_can_drop_expired_entries,
            is_expired_is_strictly_after_the_deadline,
        }
        $crate::__stamp_tests! { iteration:
            retain_keeps_only_matching_entries,
            retain_sees_every_entry,
            retain_rejecting_everything_empties_the_store,
            clear_removes_every_key,
            store_is_usable_after_clear,
            scan_of_empty_store_ends_at_once,
            scan_to_completion_visits_every_key_with_its_entry,
            scan_with_count_zero_still_makes_progress,
            scan_calls_visit_about_count_entries,
            random_entry_spreads_over_the_store,
            scan_cursors_are_independent,
            scan_visits_every_stable_key_while_others_churn,
            random_entry_of_empty_store_is_none,
            random_entry_returns_a_stored_key_with_its_entry,
            random_entry_with_one_key_always_returns_it,
            random_entry_reaches_every_key,
            random_entry_after_clear_is_none;
            ignored: stress_scan_guarantee_under_heavy_churn,
        }
        $crate::__stamp_memory_tests! {
            memory_is_returned_after_removing_every_key,
            memory_is_returned_after_clear,
            memory_is_returned_after_retain_drops_everything,
            memory_is_returned_when_the_store_is_dropped,
            a_large_value_removed_is_freed_without_further_writes,
        }
        $crate::__stamp_tests! { model:
            random_op_sequences_match_a_hashmap_model,
        }
        $crate::__stamp_tests! { concurrent:
            set_nx_race_has_exactly_one_winner,
            concurrent_increments_sum_exactly,
            increments_survive_concurrent_resizes,
            concurrent_appends_lose_no_bytes,
            readers_never_see_a_torn_entry,
            increments_and_removals_conserve_the_total,
            disjoint_writers_leave_an_exact_len,
            len_agrees_with_contents_after_concurrent_churn,
            retain_during_churn_keeps_every_kept_key;
            ignored:
            stress_set_nx_many_rounds,
            stress_increments_with_resizes,
            stress_mixed_ops_stay_consistent,
        }
        $crate::__stamp_tests! { lincheck:
            single_key_histories_are_linearizable,
            multi_key_histories_are_linearizable,
            set_nx_and_incr_histories_are_linearizable;
            ignored: stress_many_histories_are_linearizable,
        }
    };
}

/// Implementation detail of [`conformance_suite!`]: one module of plain tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __stamp_tests {
    ($area:ident: $($name:ident),* $(,)? $(; ignored: $($slow:ident),* $(,)?)?) => {
        mod $area {
            $(
                #[test]
                fn $name() {
                    $crate::$area::$name::<super::ConformanceStore>();
                }
            )*
            $($(
                #[test]
                #[ignore = "stress test: run with --ignored"]
                fn $slow() {
                    $crate::$area::$slow::<super::ConformanceStore>();
                }
            )*)?
        }
    };
}

/// Implementation detail of [`conformance_suite!`]: memory tests, each re-run
/// alone in a child process (see [`memory::isolated`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __stamp_memory_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[test]
                fn $name() {
                    $crate::memory::isolated(
                        concat!(module_path!(), "::", stringify!($name)),
                        $crate::memory::$name::<super::ConformanceStore>,
                    );
                }
            )*
        }
    };
}
