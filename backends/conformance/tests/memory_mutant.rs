//! The memory checks must be able to fail. This binary holds a single test
//! (so nothing else allocates while it measures) and installs the counting
//! allocator itself, then runs the memory bodies in-process.

mod common;

use std::alloc::System;
use std::panic::catch_unwind;

use common::{Leaky, MutexStore};
use store_conformance::memory::{self, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn memory_checks_catch_a_leaking_store_and_pass_a_correct_one() {
    let leaky: [(&str, fn()); 3] = [
        (
            "remove",
            memory::memory_is_returned_after_removing_every_key::<Leaky<MutexStore>>,
        ),
        (
            "clear",
            memory::memory_is_returned_after_clear::<Leaky<MutexStore>>,
        ),
        (
            "retain",
            memory::memory_is_returned_after_retain_drops_everything::<Leaky<MutexStore>>,
        ),
    ];
    for (how, check) in leaky {
        assert!(
            catch_unwind(check).is_err(),
            "memory check after {how} missed a leak"
        );
    }
    memory::memory_is_returned_after_removing_every_key::<MutexStore>();
    memory::memory_is_returned_after_clear::<MutexStore>();
    memory::memory_is_returned_after_retain_drops_everything::<MutexStore>();
    memory::memory_is_returned_when_the_store_is_dropped::<MutexStore>();
}
