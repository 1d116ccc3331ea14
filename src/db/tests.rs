//! Unit tests of the database table (`Db`).

use super::*;
use crate::backends::RwLockStore;
use store_api::{Entry, Op};

fn db(n: usize) -> Db<RwLockStore> {
    Db::new(n, Clock::manual(1_000), ExpiryConfig { hz: 0, effort: 1 })
}

#[test]
fn expired_keys_add_up_over_every_database() {
    let db = db(2);
    let volatile = || Entry::new(store_api::Value::Str("v".into()), Some(10));
    for (i, key) in [(0, "a"), (1, "b"), (1, "c")] {
        let ks = &db.table()[i];
        ks.update(key.as_bytes(), 0, |_| (Op::Put(volatile()), ()));
        // Found expired by a later write: reaped and counted.
        ks.update(key.as_bytes(), 100, |_| (Op::Keep, ()));
    }
    assert_eq!(db.expired_keys(), 3);
}

/// A database made fresh by a flush (one, or all) keeps its number and
/// reports its changes to the server's events (INFO, the save schedule,
/// WATCH and client-side caching all listen there), as the one it
/// replaced did; and `events()` is that one object.
#[test]
fn a_flushed_database_keeps_its_number_and_the_servers_events() {
    let db = db(3);
    let changes = || db.events().changes().total();
    let write_each = |expected: &[usize]| {
        let before = changes();
        for (i, ks) in db.table().iter().enumerate() {
            assert_eq!(ks.index(), expected[i]);
            ks.update(b"k", 0, |_| (Op::Put(Entry::string("v")), ()));
        }
        assert_eq!(changes(), before + 3, "every database's write counted");
    };
    db.flush(2);
    write_each(&[0, 1, 2]);
    db.flush_all();
    write_each(&[0, 1, 2]);
    db.events().set_classes(events::class::ALL);
    assert_eq!(db.events().classes(), events::class::ALL);
}

#[test]
fn flushall_keeps_the_number_of_databases() {
    let db = db(4);
    assert_eq!(db.count(), 4);
    db.table()[3].update(b"k", 0, |_| (Op::Put(Entry::string("v")), ()));
    let old = db.flush_all();
    assert_eq!(old.len(), 4);
    assert_eq!(db.table().len(), 4, "as many fresh databases as before");
    assert!(db.table()[3].is_empty());
}

#[test]
fn client_pause_holds_active_expiry_until_lifted() {
    let db = db(1);
    assert!(!db.is_paused());
    db.set_paused(true);
    assert!(db.is_paused());
    db.set_paused(false);
    assert!(!db.is_paused());
}

#[test]
fn active_expire_is_on_unless_switched_off_or_cron_paused() {
    let db = db(1);
    assert!(db.active_expire(), "on by default");
    db.set_cron_paused(true);
    assert!(!db.active_expire(), "DEBUG PAUSE-CRON stops expiry cycles");
    db.set_cron_paused(false);
    assert!(db.active_expire());
    db.set_active_expire(false);
    assert!(!db.active_expire(), "DEBUG SET-ACTIVE-EXPIRE 0");
}

#[test]
fn time_stands_still_at_zero_while_replaying() {
    let db = db(1);
    assert_eq!(db.now_ms(), 1_000);
    db.set_replaying(true);
    assert_eq!(db.now_ms(), 0);
    assert_eq!(db.ms_at(Tick::now()), 0);
    db.set_replaying(false);
    assert_eq!(db.now_ms(), 1_000);
}

#[test]
fn drop_in_background_frees_on_another_thread() {
    struct Probe(std::sync::mpsc::Sender<std::thread::ThreadId>);
    impl Drop for Probe {
        fn drop(&mut self) {
            let _ = self.0.send(std::thread::current().id());
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    drop_in_background(Probe(tx));
    let freed_on = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the garbage was never dropped");
    assert_ne!(freed_on, std::thread::current().id(), "freed inline");
}

#[test]
fn a_latency_sample_is_kept_only_at_or_past_the_threshold() {
    let db = db(1);
    db.latency_sample("expire-cycle", 50);
    assert!(db.latency().all().is_empty(), "the monitor is off at 0");
    db.set_latency_threshold(10);
    db.latency_sample("expire-cycle", 9);
    assert!(db.latency().all().is_empty(), "under the threshold");
    db.latency_sample("expire-cycle", 10);
    let all = db.latency().all();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].0, all[0].1.max), ("expire-cycle", 10));
}

/// Only database 0 of a cluster node keeps the keys of each hash slot
/// (CLUSTER COUNTKEYSINSLOT); a standalone server keeps none (it would
/// pay for an index nobody can ask).
#[test]
fn only_a_cluster_node_s_database_0_indexes_slots() {
    let slot = usize::from(crate::util::slots::key_slot(b"k"));
    let put = |db: &Db<RwLockStore>, i: usize| {
        db.table()[i].update(b"k", 0, |_| (Op::Put(Entry::string("v")), ()));
        db.table()[i].count_in_slot(slot)
    };
    let standalone = db(2);
    assert_eq!(put(&standalone, 0), 0, "a standalone server indexed slots");
    let node = db(2);
    node.index_slots();
    assert_eq!(put(&node, 0), 1);
    assert_eq!(
        put(&node, 1),
        0,
        "database 1 of a cluster node indexed slots"
    );
}

/// TTLs are measured against the clock the databases were made with (a
/// manual one in tests, the server's own in DEBUG and cluster code).
#[test]
fn the_clock_is_the_one_given() {
    let db = db(1);
    assert_eq!(db.clock().now_ms(), 1_000);
    assert_eq!(db.now_ms(), 1_000);
}
