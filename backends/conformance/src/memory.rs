//! Memory is given back: after inserting many keys and deleting all of them
//! (one by one, by `clear`, by `retain`), and when the store is dropped.
//!
//! # How it is measured
//! [`conformance_suite!`](crate::conformance_suite) installs
//! [`INSTRUMENTED_SYSTEM`] (from `stats_alloc`, which owns the `unsafe`
//! `GlobalAlloc` impl) as the test binary's global allocator, so "live bytes"
//! is simply bytes allocated minus bytes freed, process-wide. Process-wide
//! counters would also see every other test running in parallel, so each
//! memory test re-runs itself in a child process with only that one test
//! selected ([`isolated`]). The child is the only place a body runs.
//!
//! # What passes
//! The store is filled with [`KEYS`] entries of [`VALUE_LEN`]-byte values
//! (several MiB, so entries dominate fixed table overhead), emptied, and then
//! must hold at most 1/8 of what filling it allocated. The slack is for
//! tables that do not shrink (flurry's never do) and for deferred
//! reclamation: epoch and batch reclaimers free garbage only when later
//! operations come along, so before giving up the check performs a bounded
//! amount of further activity on scratch keys ([`SETTLE_ROUNDS`] rounds).
//! A store that keeps removed entries reachable (tombstones with values,
//! garbage that is never collected, a leaking `Drop`) fails.

use std::process::Command;

use bytes::Bytes;
use store_api::Store;

use crate::support::{key, string};

pub use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

/// Keys inserted by each memory test.
pub const KEYS: usize = 20_000;
/// Bytes in each value.
pub const VALUE_LEN: usize = 256;
/// Rounds of scratch activity a lazy reclaimer gets before the check fails.
pub const SETTLE_ROUNDS: usize = 16;

const CHILD_ENV: &str = "FLASHKV_MEMORY_TEST";

/// Run `body` alone in a child process (the current test binary, filtered to
/// exactly this test) so the process-wide allocation counters see only it.
///
/// `path` is the test's `module_path!()::name`; its first segment (the test
/// crate) is dropped to get the name the test harness knows.
pub fn isolated(path: &str, body: fn()) {
    let name = path.split_once("::").map_or(path, |(_, rest)| rest);
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("path of the test binary");
    let out = Command::new(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_ENV, name)
        .output()
        .expect("spawn the test binary for an isolated memory test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "memory test {name} failed in its child process ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    for line in stderr.lines().filter(|l| l.starts_with("memory:")) {
        eprintln!("{line}");
    }
}

/// Bytes currently allocated through the counting allocator.
pub fn live_bytes() -> i128 {
    let s = INSTRUMENTED_SYSTEM.stats();
    s.bytes_allocated as i128 - s.bytes_deallocated as i128
}

/// Panic unless [`INSTRUMENTED_SYSTEM`] is the global allocator (otherwise
/// every measurement would read zero and pass vacuously).
pub fn assert_counting_allocator() {
    let before = INSTRUMENTED_SYSTEM.stats().bytes_allocated;
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(1 << 16));
    drop(v);
    assert!(
        INSTRUMENTED_SYSTEM.stats().bytes_allocated >= before + (1 << 16),
        "store_conformance::memory::INSTRUMENTED_SYSTEM is not the global allocator; \
         use conformance_suite! or install it with #[global_allocator]"
    );
}

fn fill<S: Store>(s: &S) {
    for i in 0..KEYS {
        let value = Bytes::from(vec![i as u8; VALUE_LEN]);
        s.insert(key("mem", i), string(value));
    }
}

/// Bounded further use of the store so deferred reclamation can run; stops
/// as soon as the residual is within `allowed`. Returns the residual.
fn settle<S: Store>(s: &S, base: i128, allowed: i128) -> i128 {
    for _ in 0..SETTLE_ROUNDS {
        if live_bytes() - base <= allowed {
            break;
        }
        scratch_round(s);
    }
    live_bytes() - base
}

/// Insert and remove a few thousand small scratch keys, and read a few.
fn scratch_round<S: Store>(s: &S) {
    for i in 0..4_096 {
        s.insert(key("settle", i), string("s"));
    }
    for i in 0..4_096 {
        s.remove(&key("settle", i));
        s.get(&key("mem", i));
    }
}

fn returned_after<S: Store>(how: &str, empty: impl Fn(&S)) {
    assert_counting_allocator();
    let s = S::default();
    let base = live_bytes();
    fill(&s);
    let growth = live_bytes() - base;
    assert!(
        growth >= (KEYS * VALUE_LEN) as i128,
        "only {growth} B counted for {KEYS} values of {VALUE_LEN} B"
    );
    empty(&s);
    assert!(s.is_empty(), "{how} left keys behind");
    let allowed = growth / 8;
    let residual = settle(&s, base, allowed);
    eprintln!(
        "memory: {} after {how}: filling took {growth} B, {residual} B still held ({:.1}%)",
        S::NAME,
        residual as f64 * 100.0 / growth as f64
    );
    assert!(
        residual <= allowed,
        "{}: after {how}, {residual} B of the {growth} B allocated by filling are still held \
         (allowed {allowed} B)",
        S::NAME
    );
}

/// Removing every key one by one gives the memory back.
pub fn memory_is_returned_after_removing_every_key<S: Store>() {
    returned_after::<S>("removing every key", |s| {
        for i in 0..KEYS {
            assert!(s.remove(&key("mem", i)).is_some());
        }
    });
}

/// `clear` gives the memory back.
pub fn memory_is_returned_after_clear<S: Store>() {
    returned_after::<S>("clear", |s| s.clear());
}

/// `retain` rejecting everything gives the memory back.
pub fn memory_is_returned_after_retain_drops_everything<S: Store>() {
    returned_after::<S>("retain", |s| s.retain(|_, _| false));
}

/// Dropping a full store frees (nearly) everything it allocated.
pub fn memory_is_returned_when_the_store_is_dropped<S: Store>() {
    assert_counting_allocator();
    let before = live_bytes();
    let s = S::default();
    fill(&s);
    let growth = live_bytes() - before;
    drop(s);
    let allowed = growth / 32;
    // Thread-local reclaimers may still hold retired tables of the dropped
    // store; a few short-lived scratch stores drive them forward.
    for _ in 0..SETTLE_ROUNDS {
        if live_bytes() - before <= allowed {
            break;
        }
        let scratch = S::default();
        scratch_round(&scratch);
        drop(scratch);
    }
    let residual = live_bytes() - before;
    eprintln!(
        "memory: {} after drop: filling took {growth} B, {residual} B still held",
        S::NAME
    );
    assert!(
        residual <= allowed,
        "{}: {residual} B of {growth} B still held after the store was dropped (allowed {allowed} B)",
        S::NAME
    );
}

/// A large value that one thread removes, after which that thread goes
/// quiet, is freed by [`Store::maintain`] (the server's cron) with no
/// further writes. Deferred reclaimers collect per thread: epoch's
/// crossbeam bag kept it until the remover had retired 64 more objects,
/// which on a quiet server is never (Redis's lazyfree unit: an UNLINKed
/// set of 100,000 members kept its memory). flurry's seize batches have
/// the same shortfall and no way to hand one object over early: not
/// checked there.
pub fn a_large_value_removed_is_freed_without_further_writes<S: Store>() {
    assert_counting_allocator();
    const LEN: usize = 4 << 20;
    let s = S::default();
    s.insert(key("big", 0), string(Bytes::from(vec![7u8; LEN])));
    let base = live_bytes();
    let (removed_tx, removed_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let freed = std::thread::scope(|scope| {
        let s = &s;
        scope.spawn(move || {
            assert!(s.remove(&key("big", 0)).is_some());
            removed_tx.send(()).unwrap();
            // Alive and idle while the other thread looks (a thread that
            // exits hands its garbage over on the way out).
            let _ = release_rx.recv();
        });
        removed_rx.recv().unwrap();
        for _ in 0..SETTLE_ROUNDS {
            if base - live_bytes() >= LEN as i128 / 2 {
                break;
            }
            s.maintain();
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let freed = base - live_bytes();
        release_tx.send(()).unwrap();
        freed
    });
    // Half the value is the bar: the collector's own bookkeeping (a new
    // bag) is allocated meanwhile, and nothing at all is freed when the
    // value is left behind.
    eprintln!(
        "memory: {}: {freed} B of a {LEN} B value freed after its removal",
        S::NAME
    );
    assert!(
        freed >= LEN as i128 / 2 || S::NAME == "flurry",
        "{}: {freed} B freed after removing a {LEN} B value and maintaining",
        S::NAME
    );
}
