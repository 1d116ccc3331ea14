//! Focused unit tests of the map (the conformance suite covers the contract).

use super::*;

fn tiny() -> Config {
    sized(4, 4, 2)
}

/// A table of `initial` slots that shrinks to no fewer than `min`, migrated
/// in chunks of `chunk` slots.
fn sized(initial: usize, min: usize, chunk: usize) -> Config {
    Config {
        initial_capacity: initial,
        min_capacity: min,
        chunk_size: chunk,
        probe_limit: None,
        seed: Some(1),
    }
}

/// How many times one SCAN pass (COUNT 10) visited each key.
fn visits<R: Reclaim>(s: &EpochStore<R>) -> std::collections::HashMap<Bytes, usize> {
    let mut seen = std::collections::HashMap::new();
    scan_pass(
        s,
        10,
        |k, _| *seen.entry(k.clone()).or_insert(0) += 1,
        |_| {},
    );
    seen
}

fn key(i: usize) -> Bytes {
    Bytes::from(format!("key:{i}"))
}

/// One whole SCAN pass, `each` run after every call; the number of calls.
/// Every call advances the cursor by at least one bucket, so a pass that
/// takes more calls than the table has buckets (four times over, for
/// resizes) never ends: fail instead of hanging.
fn scan_pass<R: Reclaim>(
    s: &EpochStore<R>,
    count: usize,
    mut f: impl FnMut(&Bytes, &Entry),
    mut each: impl FnMut(usize),
) -> usize {
    let bound = 4 * s.capacity().max(1024);
    let mut cursor = 0;
    for calls in 1..=bound {
        let mut n = 0;
        cursor = s.scan(cursor, count, |k, e| {
            n += 1;
            f(k, e)
        });
        each(n);
        if cursor == 0 {
            return calls;
        }
    }
    panic!("a SCAN pass did not end within {bound} calls");
}

#[test]
fn insert_get_remove() {
    let s = EpochStore::new();
    assert_eq!(s.insert(key(1), Entry::string("a")), None);
    assert_eq!(s.get(b"key:1"), Some(Entry::string("a")));
    assert_eq!(
        s.insert(key(1), Entry::string("b")),
        Some(Entry::string("a"))
    );
    assert_eq!(s.len(), 1);
    assert_eq!(s.remove(b"key:1"), Some(Entry::string("b")));
    assert_eq!(s.remove(b"key:1"), None);
    assert_eq!(s.get(b"key:1"), None);
    assert!(s.is_empty());
}

#[test]
fn grows_and_shrinks_through_many_resizes() {
    let s = EpochStore::<EpochReclaim>::with_config(tiny());
    for i in 0..2000 {
        s.insert(key(i), Entry::string(format!("v{i}")));
    }
    assert_eq!(s.len(), 2000);
    assert!(s.capacity() >= 2048);
    for i in 0..2000 {
        assert_eq!(s.get(&key(i)), Some(Entry::string(format!("v{i}"))), "{i}");
    }
    for i in 0..1990 {
        assert!(s.remove(&key(i)).is_some());
    }
    assert!(s.capacity() <= 1024, "capacity {}", s.capacity());
    for i in 1990..2000 {
        assert!(s.get(&key(i)).is_some());
    }
    for i in 1990..2000 {
        assert!(s.remove(&key(i)).is_some());
    }
    // Emptying a stripe always checks: an empty map is back to small.
    assert!(s.capacity() <= 16, "capacity {}", s.capacity());
    for i in 0..100 {
        s.insert(key(i), Entry::string("v"));
    }
    s.clear();
    assert!(s.is_empty());
    assert!(s.capacity() <= 16, "capacity {}", s.capacity());
}

#[test]
fn tombstones_are_cleaned_by_same_size_copies() {
    let s = EpochStore::<EpochReclaim>::with_config(Config {
        initial_capacity: 64,
        ..tiny()
    });
    // Churn through fresh keys with ~8 live: tombstones pile up, and the
    // table must stay small instead of doubling each time it clogs.
    for i in 0..5000 {
        s.insert(key(i), Entry::string("v"));
        if i >= 8 {
            s.remove(&key(i - 8));
        }
    }
    assert_eq!(s.len(), 8);
    assert!(s.capacity() <= 64, "capacity {}", s.capacity());
}

#[test]
fn compute_paths() {
    let s = EpochStore::new();
    let incr = |s: &EpochStore| {
        s.compute(b"n", |cur| {
            let n: i64 = cur.map_or(0, |e| match &e.value {
                store_api::Value::Str(b) => std::str::from_utf8(b).unwrap().parse().unwrap(),
                other => panic!("not a string: {other:?}"),
            });
            (Op::Put(Entry::string((n + 1).to_string())), n + 1)
        })
    };
    assert_eq!(incr(&s), 1);
    assert_eq!(incr(&s), 2);
    // NX on an existing key keeps it.
    let won = s.compute(b"n", |cur| match cur {
        None => (Op::Put(Entry::string("x")), true),
        Some(_) => (Op::Keep, false),
    });
    assert!(!won);
    // Expiry deletion.
    let mut e = Entry::string("old");
    e.set_expires_at(Some(10));
    s.insert(key(7), e);
    let removed = s.compute(&key(7), |cur| match cur {
        Some(e) if e.is_expired(11) => (Op::Remove, true),
        _ => (Op::Keep, false),
    });
    assert!(removed);
    assert_eq!(s.get(&key(7)), None);
    // Remove of an absent key is a no-op.
    assert!(!s.compute(b"absent", |_| (Op::Remove, false)));
    assert_eq!(s.len(), 1);
}

#[test]
fn scan_visits_every_key_once_without_resizes() {
    let s = EpochStore::new();
    for i in 0..500 {
        s.insert(key(i), Entry::string("v"));
    }
    let seen = visits(&s);
    assert_eq!(seen.len(), 500);
    assert!(seen.values().all(|&n| n == 1));
}

#[test]
fn scan_survives_resizes_between_calls() {
    let s = EpochStore::<EpochReclaim>::with_config(tiny());
    for i in 0..100 {
        s.insert(key(i), Entry::string("v"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0;
    for step in 0..10_000 {
        cursor = s.scan(cursor, 3, |k, _| {
            seen.insert(k.clone());
        });
        // Grow, then shrink, while iterating.
        if step < 30 {
            s.insert(key(1000 + step * 100), Entry::string("grow"));
            for j in 0..40 {
                s.insert(key(10_000 + step * 100 + j), Entry::string("x"));
            }
        } else {
            for j in 0..40 {
                s.remove(&key(10_000 + (step - 30) * 100 + j));
            }
        }
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(cursor, 0, "the pass never ended");
    for i in 0..100 {
        assert!(seen.contains(&key(i)), "key {i} missed");
    }
}

#[test]
fn retain_and_random_entry() {
    let s = EpochStore::<EpochReclaim>::with_config(tiny());
    assert_eq!(s.random_entry(1), None);
    for i in 0..300 {
        s.insert(key(i), Entry::string("v"));
    }
    s.retain(|k, _| k.ends_with(b"0"));
    assert_eq!(s.len(), 30);
    for seed in 0..50 {
        let (k, _) = s.random_entry(seed).unwrap();
        assert!(k.ends_with(b"0"));
    }
}

#[test]
fn mock_reclaimer_frees_everything() {
    let s = EpochStore::<MockReclaim>::with_config(tiny());
    for i in 0..200 {
        s.insert(key(i), Entry::string("v"));
        s.insert(key(i), Entry::string("w"));
    }
    for i in 0..200 {
        s.remove(&key(i));
    }
}

#[test]
fn default_probe_limit_reaches_a_high_load() {
    // Fill tables with distinct keys and no growth beyond one doubling; the
    // first resize must come at a decent load factor.
    for cap in [1usize << 10, 1 << 14, 1 << 17] {
        let s = EpochStore::<EpochReclaim>::with_config(Config {
            initial_capacity: cap,
            min_capacity: cap,
            ..Config::default()
        });
        let mut n = 0;
        while s.capacity() == cap {
            s.insert(key(n), Entry::string(""));
            n += 1;
        }
        let load = (n - 1) as f64 / cap as f64;
        eprintln!("cap {cap}: first resize at load {load:.2}");
        assert!(load > 0.6, "cap {cap}: resized at load {load:.2}");
    }
}

/// A shrink sizes its table from the live count. Keys inserted after that
/// count must still fit in the new table: the old protocol counted first and
/// published the resize later, so a writer inserting in between overflowed
/// the new table (a panic in the migration, and every other writer spinning
/// on a migration that never completes). A failpoint holds the shrinking
/// thread right after it sized the table while another thread inserts 300
/// keys.
#[test]
fn keys_inserted_while_a_shrink_is_sized_still_fit() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let s = Arc::new(EpochStore::<EpochReclaim>::with_config(sized(1024, 4, 16)));
    s.insert(key(0), Entry::string("v"));
    let writer = s.clone();
    let inserter = Arc::new(std::sync::Mutex::new(None));
    let handle = inserter.clone();
    *s.map.shrink_pause.lock().unwrap() = Some(Box::new(move || {
        let t = std::thread::spawn(move || {
            for i in 1..=300 {
                writer.insert(key(i), Entry::string("v"));
            }
        });
        // The inserter either finishes (nothing stops it from writing into
        // the table being shrunk) or waits for the resize to be installed.
        let deadline = Instant::now() + Duration::from_millis(300);
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        *handle.lock().unwrap() = Some(t);
    }));
    // Removing the only key empties its counter stripe: the remove checks
    // the table, finds it sparse (0 keys in 1024 slots) and shrinks it.
    s.remove(&key(0));
    let t = inserter.lock().unwrap().take().expect("the shrink ran");
    t.join().unwrap();
    assert_eq!(s.len(), 300);
    for i in 1..=300 {
        assert!(s.get(&key(i)).is_some(), "key {i} lost");
    }
}

#[test]
fn a_new_store_has_built_one_table_and_a_grow_one_more() {
    let s = EpochStore::<EpochReclaim>::with_config(tiny());
    assert_eq!(s.tables_built(), 1);
    let cap = s.capacity();
    let mut i = 0;
    while s.capacity() == cap {
        s.insert(key(i), Entry::string("v"));
        i += 1;
    }
    assert_eq!(s.tables_built(), 2);
}

#[test]
fn hash_of_is_the_hash_the_map_uses() {
    let s = EpochStore::<EpochReclaim>::new();
    let hashes: std::collections::HashSet<u64> = (0..1000).map(|i| s.hash_of(&key(i))).collect();
    assert_eq!(hashes.len(), 1000, "distinct keys, distinct hashes");
    assert_eq!(s.hash_of(b"k"), s.map.hash(b"k"));
}

/// Like Redis's `dictScan`, one call stops once it has visited COUNT
/// entries, or after 10 x COUNT buckets however empty: on a sparse table a
/// pass takes about capacity / (10 x COUNT) calls, on a dense one each call
/// returns about COUNT entries (the last bucket class may add a few).
#[test]
fn scan_calls_visit_about_count_entries_or_ten_times_count_buckets() {
    let sparse = EpochStore::<EpochReclaim>::with_config(sized(4096, 4096, 2));
    sparse.insert(key(1), Entry::string("v"));
    let calls = scan_pass(&sparse, 10, |_, _| {}, |_| {});
    assert_eq!(calls, sparse.capacity().div_ceil(100), "calls for one pass");

    let dense = EpochStore::<EpochReclaim>::new();
    for i in 0..2000 {
        dense.insert(key(i), Entry::string("v"));
    }
    let each = |n| assert!(n <= 20, "one call with COUNT 10 visited {n} entries");
    scan_pass(&dense, 10, |_, _| {}, each);
}

/// SCAN halfway through a shrink: part of every probe run has moved into
/// the smaller table, which a scan class reaches through `MOVED` slots
/// (`visit_class` with a table smaller than the cursor's mask). A failpoint
/// runs a whole SCAN pass after the first chunk of the first shrink was
/// copied; every key present then must come back.
#[test]
fn scan_sees_every_key_halfway_through_a_shrink() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    let s = Arc::new(EpochStore::<EpochReclaim>::with_config(sized(1024, 4, 16)));
    for i in 0..600 {
        s.insert(key(i), Entry::string("v"));
    }
    let outcome = Arc::new(Mutex::new(None));
    let (weak, out) = (Arc::downgrade(&s), outcome.clone());
    *s.map.chunk_copied.lock().unwrap() = Some(Box::new(move |from, to| {
        if to >= from {
            return false; // a grow or a same-size copy: wait for a shrink
        }
        let s = weak.upgrade().unwrap();
        let present: HashSet<Bytes> = (0..600).map(key).filter(|k| s.get(k).is_some()).collect();
        let mut seen = HashSet::new();
        scan_pass(
            &s,
            7,
            |k, _| {
                seen.insert(k.clone());
            },
            |_| {},
        );
        *out.lock().unwrap() = Some((present.len(), present.difference(&seen).count()));
        true
    }));
    for i in 0..600 {
        s.remove(&key(i));
        if outcome.lock().unwrap().is_some() {
            break;
        }
    }
    let (present, missed) = outcome.lock().unwrap().take().expect("a shrink ran");
    assert!(present > 0);
    assert_eq!(missed, 0, "SCAN missed {missed} of {present} keys");
}

#[test]
fn stores_without_a_seed_hash_differently() {
    // A fixed hash seed would let a client pick keys that all collide.
    let (a, b) = (
        EpochStore::<EpochReclaim>::new(),
        EpochStore::<EpochReclaim>::new(),
    );
    assert_ne!(a.hash_of(b"k"), b.hash_of(b"k"));
}

/// On a sparse table the 32 random probes usually miss, and the sweep from
/// a random start must still reach every slot.
#[test]
fn random_entry_finds_the_only_key_of_a_sparse_table() {
    let s = EpochStore::<EpochReclaim>::with_config(sized(4096, 4096, 2));
    s.insert(key(7), Entry::string("v"));
    for seed in 0..200 {
        let (k, _) = s.random_entry(seed).expect("the store holds a key");
        assert_eq!(k, key(7));
    }
}

/// Halfway through a migration some keys are only in the next table, and
/// after its last chunk all of them are: `random_entry` follows `MOVED`.
#[test]
fn random_entry_finds_keys_in_every_phase_of_a_migration() {
    use std::sync::{Arc, Mutex};
    let s = Arc::new(EpochStore::<EpochReclaim>::with_config(sized(64, 4, 4)));
    let misses = Arc::new(Mutex::new((0, 0)));
    let (weak, out) = (Arc::downgrade(&s), misses.clone());
    *s.map.chunk_copied.lock().unwrap() = Some(Box::new(move |_, _| {
        let s = weak.upgrade().unwrap();
        let mut out = out.lock().unwrap();
        out.0 += 1;
        out.1 += (0..8)
            .filter(|&seed| s.random_entry(seed).is_none())
            .count();
        false
    }));
    for i in 0..200 {
        s.insert(key(i), Entry::string("v"));
    }
    let (chunks, misses) = *misses.lock().unwrap();
    assert!(chunks >= 16, "only {chunks} chunks copied");
    assert_eq!(misses, 0, "random_entry found nothing {misses} times");
}

/// A key lives in one slot, whatever tombstones its probe run crosses.
/// Six keys share a home slot; the first three are removed (tombstones at
/// the head of the run) and all six written again, last first. A writer
/// that stopped at the first tombstone instead of searching the rest of
/// the run would store the last three twice.
#[test]
fn a_key_reinserted_past_tombstones_lives_in_one_slot() {
    let s = EpochStore::<EpochReclaim>::with_config(sized(64, 64, 2));
    let home = |k: &[u8]| s.hash_of(k) & 63;
    let run: Vec<Bytes> = (0..)
        .map(key)
        .filter(|k| home(k) == home(&key(0)))
        .take(6)
        .collect();
    for k in &run {
        s.insert(k.clone(), Entry::string("old"));
    }
    for k in &run[..3] {
        s.remove(k);
    }
    // The last three first, while the tombstones are still there.
    for k in run.iter().rev() {
        s.insert(k.clone(), Entry::string("new"));
    }
    assert_eq!(s.capacity(), 64, "no resize cleaned the tombstones");
    assert_eq!(s.len(), 6);
    let seen = visits(&s);
    for k in &run {
        assert_eq!(
            seen.get(k),
            Some(&1),
            "{k:?} in {:?} live slots",
            seen.get(k)
        );
        assert_eq!(s.get(k).map(|e| e.value), Some(Entry::string("new").value));
    }
}
