//! Stress tests: many threads, tiny tables (so resizes, same-size cleanups
//! and shrinks happen constantly), every result checked against a model.
//!
//! Loops stop after a fixed number of operations or a wall-clock budget,
//! whichever comes first; nothing asserts on timing. The light variants run
//! by default; the heavy ones are `#[ignore]`d:
//!
//! ```text
//! cargo test -p store-epoch --release --test stress -- --ignored
//! ```
//!
//! Under AddressSanitizer / LeakSanitizer (use-after-free, double free and
//! leaks in the map, the reclaimer hand-off and the drop path):
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target-asan \
//!     cargo test -p store-epoch --target x86_64-unknown-linux-gnu
//! ```
#![cfg(not(loom))]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use store_api::{Bytes, Entry, Op, Store, Value};
use store_conformance::support::scan_call_bound;
use store_epoch::{Config, EpochReclaim, EpochStore, MockReclaim, Reclaim};

struct Budget {
    ops: usize,
    time: Duration,
}

const LIGHT: Budget = Budget {
    ops: 200_000,
    time: Duration::from_secs(2),
};
const HEAVY: Budget = Budget {
    ops: 2_000_000,
    time: Duration::from_secs(30),
};

fn tiny() -> Config {
    Config {
        initial_capacity: 4,
        min_capacity: 4,
        chunk_size: 2,
        probe_limit: None,
        seed: None,
    }
}

/// xorshift64*: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(thread: usize, i: u64) -> Bytes {
    Bytes::from(format!("t{thread}:k{i}"))
}

/// A value that names its key, so a reader can tell a torn or misplaced
/// entry from a legitimate one.
fn value_for(key: &[u8], version: u64) -> Entry {
    let mut v = key.to_vec();
    v.extend_from_slice(format!("#{version}").as_bytes());
    Entry::string(v)
}

fn value_names_key(key: &[u8], e: &Entry) -> bool {
    let Value::Str(v) = &e.value else {
        return false;
    };
    v.len() > key.len() && v.starts_with(key) && v[key.len()] == b'#'
}

fn parse_counter(e: Option<&Entry>) -> u64 {
    e.map_or(0, |e| {
        let Value::Str(v) = &e.value else {
            panic!("counter is not a string: {e:?}");
        };
        std::str::from_utf8(v).unwrap().parse().unwrap()
    })
}

/// Writers own disjoint key ranges and check every result against a private
/// model; all threads also INCR shared counters; a reader thread checks that
/// whatever it sees is well-formed. At the end, the map equals the union of
/// the models and the counters equal the number of increments.
fn mixed_ops_match_models<R: Reclaim>(budget: Budget, writers: usize, keys_per_writer: u64) {
    let store = Arc::new(EpochStore::<R>::with_config(tiny()));
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(writers + 1));
    let deadline = Instant::now() + budget.time;
    let per_thread_ops = budget.ops / writers;

    let reader = {
        let (store, stop, barrier) = (store.clone(), stop.clone(), barrier.clone());
        std::thread::spawn(move || {
            barrier.wait();
            let mut rng = Rng(0x9e37_79b9);
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) && reads < 50 * budget.ops as u64 {
                let k = key(
                    rng.below(writers as u64) as usize,
                    rng.below(keys_per_writer),
                );
                store.read(&k, |e| {
                    if let Some(e) = e {
                        assert!(value_names_key(&k, e), "torn entry under {k:?}");
                    }
                });
                reads += 1;
                if reads.is_multiple_of(4096) {
                    let mut cursor = 0;
                    for _ in 0..4 {
                        cursor = store.scan(cursor, 16, |k, e| {
                            assert!(
                                k.starts_with(b"ctr")
                                    || k.starts_with(b"tmp")
                                    || value_names_key(k, e)
                            );
                        });
                    }
                    let _ = store.random_entry(reads);
                    let _ = store.len();
                    // retain racing the writers and their resizes: drops
                    // only this thread's scratch keys, keeps everything else.
                    for i in 0..32 {
                        store.insert(Bytes::from(format!("tmp{i}")), Entry::string("t"));
                    }
                    store.retain(|k, _| !k.starts_with(b"tmp"));
                    for i in 0..32 {
                        assert_eq!(store.get(format!("tmp{i}").as_bytes()), None);
                    }
                }
            }
        })
    };

    let handles: Vec<_> = (0..writers)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut rng = Rng(t as u64 * 7919 + 1);
                let mut model: HashMap<Bytes, Entry> = HashMap::new();
                let mut incrs = [0u64; 4];
                for op in 0..per_thread_ops {
                    if op.is_multiple_of(256) && Instant::now() > deadline {
                        break;
                    }
                    let k = key(t, rng.below(keys_per_writer));
                    let version = op as u64;
                    match rng.below(100) {
                        0..=29 => {
                            let e = value_for(&k, version);
                            assert_eq!(store.insert(k.clone(), e.clone()), model.insert(k, e));
                        }
                        30..=54 => assert_eq!(store.remove(&k), model.remove(&k)),
                        55..=69 => assert_eq!(store.get(&k).as_ref(), model.get(&k)),
                        70..=84 => {
                            // SET NX
                            let e = value_for(&k, version);
                            let won = store.compute(&k, |cur| match cur {
                                None => (Op::Put(e.clone()), true),
                                Some(_) => (Op::Keep, false),
                            });
                            assert_eq!(won, !model.contains_key(&k));
                            model.entry(k).or_insert(e);
                        }
                        85..=89 => {
                            // lazy expiry of our own key
                            let now = version;
                            let gone = store.compute(&k, |cur| match cur {
                                Some(e) if e.is_expired(now) => (Op::Remove, true),
                                _ => (Op::Keep, false),
                            });
                            let expected = model.get(&k).is_some_and(|e| e.is_expired(now));
                            assert_eq!(gone, expected);
                            if gone {
                                model.remove(&k);
                            }
                        }
                        90..=94 => {
                            let mut e = value_for(&k, version);
                            e.set_expires_at(Some(version + rng.below(1000)));
                            assert_eq!(store.insert(k.clone(), e.clone()), model.insert(k, e));
                        }
                        _ => {
                            let c = rng.below(4) as usize;
                            incrs[c] += 1;
                            store.compute(format!("ctr{c}").as_bytes(), |cur| {
                                let n = parse_counter(cur) + 1;
                                (Op::Put(Entry::string(n.to_string())), ())
                            });
                        }
                    }
                }
                (model, incrs)
            })
        })
        .collect();

    let mut union = HashMap::new();
    let mut incrs = [0u64; 4];
    for h in handles {
        let (model, counts) = h.join().unwrap();
        union.extend(model);
        for (total, c) in incrs.iter_mut().zip(counts) {
            *total += c;
        }
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();

    let counters = incrs.iter().filter(|&&n| n > 0).count();
    assert_eq!(store.len(), union.len() + counters);
    for (k, e) in &union {
        assert_eq!(store.get(k).as_ref(), Some(e));
    }
    for (c, n) in incrs.iter().enumerate() {
        let got = parse_counter(store.get(format!("ctr{c}").as_bytes()).as_ref());
        assert_eq!(got, *n, "lost increments on ctr{c}");
    }
    store.clear();
    assert!(store.is_empty());
}

#[test]
fn mixed_ops_match_models_light() {
    mixed_ops_match_models::<EpochReclaim>(LIGHT, 3, 200);
}

#[test]
fn mixed_ops_match_models_with_mock_reclaimer_light() {
    mixed_ops_match_models::<MockReclaim>(LIGHT, 3, 200);
}

#[test]
#[ignore = "heavy: run with --ignored (release recommended)"]
fn mixed_ops_match_models_heavy() {
    mixed_ops_match_models::<EpochReclaim>(HEAVY, 4, 5_000);
}

/// Redis's SCAN guarantee while other threads force grows and shrinks: keys
/// present for a whole iteration are reported in it.
fn scan_sees_stable_keys_under_churn(budget: Budget, stable: usize) {
    let store = Arc::new(EpochStore::<EpochReclaim>::with_config(tiny()));
    let stable_keys: Vec<Bytes> = (0..stable)
        .map(|i| Bytes::from(format!("stable:{i}")))
        .collect();
    for k in &stable_keys {
        store.insert(k.clone(), Entry::string("s"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + budget.time;
    let churners: Vec<_> = (0..2)
        .map(|t| {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(t + 11);
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) && round < budget.ops / 1000 {
                    // Grow by a burst of keys, then delete them all (shrink).
                    let n = 1 + rng.below(800);
                    for i in 0..n {
                        store.insert(key(t as usize, i), Entry::string("c"));
                    }
                    for i in 0..n {
                        store.remove(&key(t as usize, i));
                    }
                    round += 1;
                }
            })
        })
        .collect();
    let mut iterations = 0;
    while iterations < 200 && Instant::now() < deadline {
        let mut seen = HashSet::new();
        let mut cursor = 0;
        // Churners add up to 800 keys each: a pass that takes more calls
        // than that allows never ends (fail, do not hang).
        let bound = scan_call_bound(stable + 2 * 800);
        for calls in 1.. {
            cursor = store.scan(cursor, 8, |k, _| {
                if k.starts_with(b"stable:") {
                    seen.insert(k.clone());
                }
            });
            if cursor == 0 {
                break;
            }
            if calls >= bound {
                stop.store(true, Ordering::Relaxed);
                panic!("scan iteration {iterations} did not end within {bound} calls");
            }
        }
        for k in &stable_keys {
            assert!(seen.contains(k), "scan iteration {iterations} missed {k:?}");
        }
        iterations += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for c in churners {
        c.join().unwrap();
    }
    assert_eq!(store.len(), stable);
}

#[test]
fn scan_sees_stable_keys_under_churn_light() {
    scan_sees_stable_keys_under_churn(LIGHT, 100);
}

#[test]
#[ignore = "heavy: run with --ignored (release recommended)"]
fn scan_sees_stable_keys_under_churn_heavy() {
    scan_sees_stable_keys_under_churn(HEAVY, 1000);
}

/// Drop a populated store while garbage is still queued in the collector,
/// many times: the drop path frees live nodes, the collector the retired
/// ones (ASan/LSan report any double free or leak).
#[test]
fn drop_with_pending_garbage() {
    for round in 0..50u64 {
        let store = EpochStore::<EpochReclaim>::with_config(tiny());
        for i in 0..200 {
            store.insert(key(0, i), value_for(b"x", round));
            if i.is_multiple_of(3) {
                store.remove(&key(0, i / 2));
            }
        }
        drop(store);
    }
}
