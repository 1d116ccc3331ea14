//! Small helpers shared by the test bodies: keys, values, entries, a seeded
//! generator and a bound on how long a loop may run.
//!
//! Public so backend crates can reuse them in their own extra tests.

use std::time::{Duration, Instant};

use bytes::Bytes;
use store_api::{Entry, Store, Value};

/// Key `"{prefix}:{i}"`.
pub fn key(prefix: &str, i: usize) -> Bytes {
    Bytes::from(format!("{prefix}:{i}"))
}

/// A string entry without a deadline.
pub fn string(bytes: impl AsRef<[u8]>) -> Entry {
    Entry::string(bytes)
}

/// A string entry with a deadline.
pub fn string_expiring(bytes: impl AsRef<[u8]>, at: u64) -> Entry {
    Entry::new(Value::Str(bytes.as_ref().into()), Some(at))
}

/// The payload of a string entry (the suite stores only strings).
pub fn payload(entry: &Entry) -> &[u8] {
    match &entry.value {
        Value::Str(b) => b,
        other => panic!("the conformance suite stores strings, found {other:?}"),
    }
}

/// Parse a payload as a decimal `i64`, as INCR does.
pub fn as_int(entry: Option<&Entry>) -> Option<i64> {
    match entry {
        None => Some(0),
        Some(e) => std::str::from_utf8(payload(e)).ok()?.parse().ok(),
    }
}

/// splitmix64: a tiny, well-mixed generator for seeds and choices.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// A wall-clock budget for a stress loop. Loops stop at whichever comes
/// first, their iteration bound or the budget; no test asserts on time.
#[derive(Clone, Copy, Debug)]
pub struct Budget(Instant);

impl Budget {
    /// A budget that runs out `d` from now.
    pub fn new(d: Duration) -> Self {
        Budget(Instant::now() + d)
    }

    /// Has the budget run out?
    pub fn spent(&self) -> bool {
        Instant::now() >= self.0
    }
}

/// The most calls a SCAN pass over a store of `len` keys may take before a
/// test calls it endless. Tight enough that a cursor that never comes back
/// to 0 fails in milliseconds, not after a minute (the mutation study
/// counted those as survivors: a test that catches a bug by hanging is
/// not a test), and loose enough for every backend: a call may visit no
/// entry (an epoch table's empty buckets: at most capacity / (10 x COUNT)
/// such calls, and the table is at most a few times `len`; rwlock's 64
/// shards), and resizes between calls.
pub fn scan_call_bound(len: usize) -> usize {
    16 * len + 10_000
}

/// Every (key, entry) pair a full scan visits, from cursor 0 until 0 comes
/// back, failing after [`scan_call_bound`] calls.
pub fn scan_all<S: Store>(store: &S, count: usize) -> Vec<(Bytes, Entry)> {
    let max_calls = scan_call_bound(store.len());
    let mut out = Vec::new();
    let mut cursor = 0;
    for _ in 0..max_calls {
        cursor = store.scan(cursor, count, |k, e| out.push((k.clone(), e.clone())));
        if cursor == 0 {
            return out;
        }
    }
    panic!(
        "{}: scan did not return cursor 0 within {max_calls} calls",
        S::NAME
    );
}

/// Number of threads the concurrent checks use: more than the cores of a
/// small CI machine, so threads are preempted in the middle of operations.
pub const THREADS: usize = 4;

/// Sets a stop flag when dropped, including during a panic, so helper
/// threads in a `thread::scope` stop instead of running out their bounds
/// while the failing thread's scope waits for them.
#[derive(Debug)]
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A reusable start line for `threads` threads: `wait` returns once all of
/// them have called it for the same round. Waiters spin briefly before
/// yielding, so the threads that are on a CPU leave together (a
/// `std::sync::Barrier` wakes them one by one, microseconds apart, which
/// hides races that last nanoseconds).
#[derive(Debug)]
pub struct SpinBarrier {
    arrived: std::sync::atomic::AtomicUsize,
    threads: usize,
}

impl SpinBarrier {
    /// A start line for `threads` threads.
    pub fn new(threads: usize) -> Self {
        SpinBarrier {
            arrived: std::sync::atomic::AtomicUsize::new(0),
            threads,
        }
    }

    /// Wait for round `round` (0, 1, 2, ... in order on every thread).
    pub fn wait(&self, round: usize) {
        use std::sync::atomic::Ordering;
        self.arrived.fetch_add(1, Ordering::AcqRel);
        let target = self.threads * (round + 1);
        let mut spins = 0u32;
        while self.arrived.load(Ordering::Acquire) < target {
            spins += 1;
            if spins < 200 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}
