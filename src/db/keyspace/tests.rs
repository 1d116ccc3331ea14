//! The slot index under racing writers: whatever creates and deletes keys
//! concurrently, every key in the map is in its slot's index, and the
//! counts match the map exactly.

use std::collections::BTreeSet;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use super::Keyspace;
use crate::util::slots::key_slot;
use crate::BackendKind;

/// Keys sharing one hash tag, so they race in one slot's set.
fn keys() -> Vec<Bytes> {
    (0..6)
        .map(|i| Bytes::from(format!("{{race}}{i}")))
        .collect()
}

fn race<S: Store>() {
    let ks = Keyspace::<S>::default().with_slot_index();
    let keys = keys();
    let slot = usize::from(key_slot(&keys[0]));
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (ks, keys) = (&ks, &keys);
            s.spawn(move || {
                let mut rng = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for _ in 0..20_000 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let key = &keys[(rng % keys.len() as u64) as usize];
                    match (rng >> 8) % 4 {
                        0 => ks.update(key, 0, |_| (Op::Put(Entry::string("v")), ())),
                        1 => ks.update(key, 0, |_| (Op::Remove, ())),
                        2 => ks.mutate(key, 0, |slot| slot.put(Entry::string("w"))),
                        _ => ks.mutate(key, 0, |slot| slot.remove()),
                    }
                }
            });
        }
    });
    let present: BTreeSet<Bytes> = keys
        .iter()
        .filter(|k| ks.read(k, 0, |e| e.is_some()))
        .cloned()
        .collect();
    let indexed: BTreeSet<Bytes> = ks.keys_in_slot(slot, usize::MAX).into_iter().collect();
    assert_eq!(indexed, present, "{}: index and map disagree", S::NAME);
    assert_eq!(ks.count_in_slot(slot), present.len());
    ks.clear_in_place();
    assert_eq!(ks.count_in_slot(slot), 0);
}

/// Rounds of one deleter against one re-creator of a present key, checked
/// after each: the interleaving the index's re-check exists for (the key
/// re-created between the deleter's map removal and its index removal).
fn delete_against_create<S: Store>() {
    use std::sync::Barrier;
    let ks = Keyspace::<S>::default().with_slot_index();
    let key = Bytes::from_static(b"{race}k");
    let slot = usize::from(key_slot(&key));
    let (start, done) = (Barrier::new(3), Barrier::new(3));
    const ROUNDS: usize = 3_000;
    let mut wrong = 0;
    std::thread::scope(|s| {
        let (ks, key, start, done) = (&ks, &key, &start, &done);
        s.spawn(move || {
            for _ in 0..ROUNDS {
                start.wait();
                ks.update(key, 0, |_| (Op::Remove, ()));
                done.wait();
            }
        });
        s.spawn(move || {
            for _ in 0..ROUNDS {
                start.wait();
                ks.update(key, 0, |_| (Op::Put(Entry::string("v")), ()));
                done.wait();
            }
        });
        // Disagreements are counted, not asserted here: a panic would leave
        // the other two threads waiting at the barrier.
        for _ in 0..ROUNDS {
            ks.update(key, 0, |_| (Op::Put(Entry::string("v")), ()));
            start.wait();
            done.wait();
            let present = ks.read(key, 0, |e| e.is_some());
            if ks.count_in_slot(slot) != usize::from(present) {
                wrong += 1;
            }
        }
    });
    assert_eq!(wrong, 0, "{}: index and map disagreed", S::NAME);
}

#[test]
fn slot_index_follows_racing_writers_on_every_backend() {
    for &kind in BackendKind::ALL {
        crate::with_backend!(kind, S => {
            race::<S>();
            delete_against_create::<S>();
        });
    }
}

#[test]
fn a_database_without_the_index_keeps_nothing_by_slot() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    ks.update(b"k", 0, |_| (Op::Put(Entry::string("v")), ()));
    let slot = usize::from(key_slot(b"k"));
    assert_eq!(ks.count_in_slot(slot), 0);
    assert!(ks.keys_in_slot(slot, 1).is_empty());
}

#[test]
fn a_deleted_key_leaves_the_slot_index_at_once() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default().with_slot_index();
    let slot = usize::from(key_slot(b"k"));
    let held = |ks: &Keyspace<_>| ks.slots.as_ref().unwrap().held(slot);
    ks.update(b"k", 0, |_| (Op::Put(Entry::string("v")), ()));
    assert_eq!(held(&ks), 1);
    ks.update(b"k", 0, |_| (Op::Remove, ()));
    assert_eq!(held(&ks), 0, "update's delete");
    ks.mutate(b"k", 0, |slot| slot.put(Entry::string("w")));
    ks.mutate(b"k", 0, |slot| slot.remove());
    assert_eq!(held(&ks), 0, "mutate's delete");
}

#[test]
fn a_swapped_database_takes_its_new_number() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    ks.set_index(5);
    assert_eq!(ks.index(), 5);
}

fn string_at(ks: &Keyspace<crate::backends::RwLockStore>, key: &str, ttl: Option<u64>) {
    let e = Entry::new(store_api::Value::Str(key.into()), ttl);
    ks.update(key.as_bytes(), 0, |_| (Op::Put(e.clone()), ()));
}

#[test]
fn keys_finds_every_key_past_one_scan_batch() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    for i in 0..3_000 {
        string_at(&ks, &format!("k{i}"), None);
    }
    let mut keys = ks.keys_as(false, 0, |k| k.ends_with(b"7"));
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 300);
}

#[test]
fn a_snapshot_writes_every_key_once_and_counts_them() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    for k in ["a", "b", "c"] {
        string_at(&ks, k, None);
    }
    ks.mutate(b"l", 0, |slot| {
        slot.put(Entry::new(store_api::Value::list(Default::default()), None))
    });
    ks.capture().start();
    let (seen, n) = snapshot_keys(&ks);
    assert_eq!(seen, [&b"a"[..], b"b", b"c", b"l"]);
    assert_eq!(n, 4);
}

#[test]
fn eviction_takes_only_what_its_policy_allows() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    string_at(&ks, "plain", None);
    string_at(&ks, "ttl", Some(u64::MAX / 2));
    assert!(ks.holds_evictable(b"plain", false));
    assert!(ks.holds_evictable(b"ttl", false));
    assert!(ks.holds_evictable(b"ttl", true));
    assert!(
        !ks.holds_evictable(b"plain", true),
        "volatile-* keeps keys without a TTL"
    );
    assert!(!ks.holds_evictable(b"gone", false));
}

#[test]
fn a_collection_changed_in_place_raises_its_watchers() {
    use crate::db::watch::WatchFlag;
    use std::sync::Arc;
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    ks.update(b"l", 0, |_| (Op::Put(Entry::string("v")), ()));
    let (changed, untouched) = (
        Arc::new(WatchFlag::default()),
        Arc::new(WatchFlag::default()),
    );
    ks.watches().add(b"l", &changed, false);
    ks.mutate(b"l", 0, |_slot| {});
    assert!(!changed.is_dirty(), "a look that changed nothing");
    ks.mutate(b"l", 0, |slot| slot.changed());
    assert!(changed.is_dirty(), "an edit in place (LPUSH on a list)");
    ks.watches().add(b"l", &untouched, false);
    ks.mutate(b"other", 0, |slot| slot.changed());
    assert!(!untouched.is_dirty());
}

#[test]
fn every_entry_is_visited_expired_ones_too() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    for i in 0..3_000 {
        let entry = Entry::new(
            store_api::value::Value::Str("v".into()),
            (i % 3 == 0).then_some(5),
        );
        ks.update(format!("k{i}").as_bytes(), 0, |_| {
            (Op::Put(entry.clone()), ())
        });
    }
    for held in [false, true] {
        let mut seen = BTreeSet::new();
        ks.for_each_entry_as(held, |k, _| {
            seen.insert(k.to_vec());
        });
        assert_eq!(seen.len(), 3_000, "held: {held}");
    }
}

#[test]
fn with_the_journal_on_expired_keys_are_deleted_only_inside_a_section() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    let dir = std::env::temp_dir().join(format!("flashkv-reap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join("j.aof")).unwrap();
    let journal = ks.events.journal();
    journal.enable(file, 0, || ());
    string_at(&ks, "k", Some(5)); // deadline 5 ms
    {
        let held = ks.lock_keys([b"k".as_slice()]);
        let gone = ks.read_locked(&held, b"k", 10, |e: Option<&Entry>| e.is_none());
        assert!(gone, "invisible once expired");
    }
    assert_eq!(
        ks.len(),
        1,
        "a read holding stripes leaves it (the order lock comes first)"
    );
    let before = journal.appended();
    assert!(ks.read(b"k", 10, |e| e.is_none()));
    assert_eq!(ks.len(), 0, "a read holding nothing opens a section for it");
    assert!(journal.appended() > before, "and its DEL is journaled");
    string_at(&ks, "k", Some(5));
    let (_, end) = journal.ordered(|| {
        let held = ks.lock_keys([b"k".as_slice()]);
        ks.read_locked(&held, b"k", 10, |_| ())
    });
    assert_eq!(ks.len(), 0, "inside a section it is deleted");
    assert!(end > 0, "and its DEL is journaled");
    ks.events.journal().disable().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// The sweeper's TTL estimate: the first sample as is, then each new one
/// weighted a fiftieth (Redis's `activeExpireCycle`).
#[test]
fn the_ttl_estimate_starts_at_the_first_sample_then_moves_a_fiftieth() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    assert_eq!(ks.avg_ttl(), 0);
    ks.note_ttl_sample(10_000);
    assert_eq!(ks.avg_ttl(), 10_000);
    ks.note_ttl_sample(5_000);
    assert_eq!(ks.avg_ttl(), 9_900);
}

/// A key found expired is announced to the keyspace-event sink.
#[test]
fn an_expired_key_is_announced() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let h = heard.clone();
    ks.events.set_sink(Box::new(move |_, ev, db, k| {
        h.lock().unwrap().push((ev, db, k.to_vec()))
    }));
    ks.events
        .set_classes(crate::db::events::class::KEYEVENT | crate::db::events::class::EXPIRED);
    string_at(&ks, "k", Some(5));
    ks.read(b"k", 10, |_| ());
    assert_eq!(*heard.lock().unwrap(), [("expired", 0, b"k".to_vec())]);
}

/// A write stamps the key's access clock with the time it ran.
#[test]
fn a_write_stamps_the_access_clock() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    ks.update(b"k", 7_000, |_| (Op::Put(Entry::string("v")), ()));
    let clock = ks.map.read(b"k", |e| e.map(|e| e.access().get()));
    assert_eq!(clock, Some(7));
}

/// RANDOMKEY answers a live key, and nothing when only expired ones are
/// left.
#[test]
fn a_random_key_is_a_live_one() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    string_at(&ks, "live", None);
    assert_eq!(ks.random_key(42, 10, 5).as_deref(), Some(&b"live"[..]));
    // The way commands ask (mutation sample, `src/db` shard 11/16:
    // `Access::random_key` answering nothing survived the unit tests).
    let access = crate::db::Access::new(&ks);
    assert_eq!(access.random_key(42, 10, 5).as_deref(), Some(&b"live"[..]));
    let gone = Keyspace::<crate::backends::RwLockStore>::default();
    string_at(&gone, "gone", Some(5));
    assert_eq!(gone.random_key(42, 10, 5), None);
}

#[test]
fn has_volatile_keys_follows_the_ttl_index() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    assert!(!ks.has_volatile_keys());
    string_at(&ks, "plain", None);
    assert!(!ks.has_volatile_keys(), "a key without TTL is not volatile");
    string_at(&ks, "ttl", Some(u64::MAX / 2));
    assert!(ks.has_volatile_keys());
    ks.update(b"ttl", 0, |_| (Op::Remove, ()));
    assert!(!ks.has_volatile_keys());
}

#[test]
fn a_swap_bringing_an_already_expired_key_raises_no_watcher() {
    use crate::db::watch::WatchFlag;
    use std::sync::Arc;
    let watched = Keyspace::<crate::backends::RwLockStore>::default();
    let other = Keyspace::<crate::backends::RwLockStore>::default();
    string_at(&other, "k", Some(5)); // deadline 5 ms
    let flag = Arc::new(WatchFlag::default());
    watched.watches().add(b"k", &flag, false);
    watched.replaced_by(Some(&other), 10);
    assert!(!flag.is_dirty(), "an expired key counts as absent");
    let live = Keyspace::<crate::backends::RwLockStore>::default();
    string_at(&live, "k", None);
    watched.replaced_by(Some(&live), 10);
    assert!(flag.is_dirty(), "a live one is a change");
}

#[test]
fn keys_changed_during_a_snapshot_are_written_and_counted_from_their_kept_copies() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    for k in ["a", "b"] {
        string_at(&ks, k, None);
    }
    ks.capture().start();
    string_at(&ks, "a", None); // changed after T
    ks.update(b"b", 0, |_| (Op::Remove, ())); // deleted after T
    let (seen, n) = snapshot_keys(&ks);
    assert_eq!(seen, [&b"a"[..], b"b"]);
    assert_eq!(n, 2);
}

#[test]
fn rewriting_volatile_keys_keeps_their_place_in_the_ttl_index() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    for i in 0..100 {
        string_at(&ks, &format!("k{i}"), Some(u64::MAX / 2));
    }
    let (before, next) = ks.sample_volatile(0, 1_000);
    assert_eq!((before.len(), next), (100, 0));
    for k in &before {
        let e = Entry::new(store_api::Value::Str("w".into()), Some(u64::MAX / 2));
        ks.update(k, 0, |_| (Op::Put(e.clone()), ()));
    }
    let (after, _) = ks.sample_volatile(0, 1_000);
    assert_eq!(
        after, before,
        "moved keys could be skipped by a sweeper pass in progress"
    );
}

/// The keys a snapshot started on `ks` writes (sorted), and its count;
/// the capture stops after.
fn snapshot_keys(ks: &Keyspace<crate::backends::RwLockStore>) -> (Vec<Vec<u8>>, u64) {
    let mut seen = Vec::new();
    let n = ks
        .write_snapshot(|_, k, _| seen.push(k.to_vec()), |_| Ok(()))
        .unwrap();
    ks.capture().stop();
    seen.sort();
    (seen, n)
}

/// The planted check-then-act fault (`Faults::split_updates`) breaks only
/// atomicity: a lone update still sees live keys as present and expired
/// ones as absent, as the real path does. Otherwise the race tests that
/// must catch it would be catching a different bug.
#[test]
fn the_split_update_fault_sees_what_a_real_update_sees() {
    let faults = super::Faults {
        split_updates: true,
        ..super::Faults::default()
    };
    let ks = Keyspace::<crate::backends::RwLockStore>::new(faults, Default::default(), 0);
    let live = Entry::new(store_api::Value::Str("v".into()), Some(1_000));
    ks.update(b"live", 0, |_| (Op::Put(live.clone()), ()));
    let gone = Entry::new(store_api::Value::Str("v".into()), Some(10));
    ks.update(b"gone", 0, |_| (Op::Put(gone.clone()), ()));
    let seen = |key: &[u8]| ks.update(key, 100, |cur| (Op::Keep, cur.is_some()));
    assert!(seen(b"live"), "a live key is present");
    assert!(!seen(b"gone"), "an expired key is absent");
    assert!(!seen(b"never"));
}

/// A reader that misses a key another thread is reaping reports `keymiss`
/// only after the reaper's `expired` (Redis's order). The reaper's event
/// sink stalls inside the update, so the reader surely looks in between.
#[test]
fn a_miss_waits_for_the_reaper_of_its_key() {
    use crate::db::events::class;
    use std::sync::{mpsc, Arc, Mutex};
    let ks = Arc::new(Keyspace::<crate::backends::RwLockStore>::default());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let (removed, removal_seen) = mpsc::channel();
    let (h, removed) = (heard.clone(), Mutex::new(removed));
    ks.events.set_sink(Box::new(move |_, ev, _, _| {
        if ev == "expired" {
            removed.lock().unwrap().send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        h.lock().unwrap().push(ev);
    }));
    ks.events
        .set_classes(class::KEYEVENT | class::EXPIRED | class::KEY_MISS);
    string_at(&ks, "k", Some(5));
    let reaper = {
        let ks = ks.clone();
        std::thread::spawn(move || ks.update(b"k", 10, |_| (Op::Keep, ())))
    };
    let heard_removal = removal_seen.recv_timeout(std::time::Duration::from_secs(10));
    heard_removal.expect("no 'expired' from the reaper");
    let found = crate::db::Access::new(&ks).read(b"k", 10, |e| e.is_some());
    reaper.join().unwrap();
    assert!(!found);
    assert_eq!(*heard.lock().unwrap(), ["expired", "keymiss"]);
}

/// FLUSHDB inside a transaction empties the keyspace in place: the TTL
/// index forgets its keys too.
#[test]
fn a_flush_in_place_empties_the_ttl_index() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    string_at(&ks, "ttl", Some(u64::MAX / 2));
    assert!(ks.has_volatile_keys());
    ks.clear_in_place();
    assert!(!ks.has_volatile_keys());
}

/// A key loaded from a file goes in once: a second one of the same name
/// is refused (an RDB file with a key twice is corrupt) and the first
/// stays.
#[test]
fn a_loaded_key_goes_in_once() {
    let ks = Keyspace::<crate::backends::RwLockStore>::default();
    assert!(ks.insert_loaded(Bytes::from_static(b"k"), Entry::string("first")));
    assert!(!ks.insert_loaded(Bytes::from_static(b"k"), Entry::string("second")));
    let value = ks.read(b"k", 0, |e| e.map(|e| format!("{:?}", e.value)));
    assert!(
        value.as_ref().is_some_and(|v| v.contains("first")),
        "{value:?}"
    );
}
