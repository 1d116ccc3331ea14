//! Unit tests of the parent module.

use super::*;

/// What a snapshot writes: (key, value) as the scan and the kept
/// copies hand them over.
fn written(c: &Capture, scan: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in scan {
        c.visit(k.as_bytes().to_vec(), |_| {
            out.push((k.to_string(), v.to_string()))
        });
    }
    c.drain_kept(|k, e| {
        let v = e.value.str_bytes().unwrap().to_vec();
        out.push((
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8(v).unwrap(),
        ));
    });
    out.sort();
    out
}

#[test]
fn a_key_written_during_the_snapshot_goes_out_as_it_was_at_the_start() {
    let c = Capture::default();
    c.before_write(b"a", || panic!("no snapshot: nothing is read"));
    c.start();
    // `a` changes from "old" before the scan meets it, twice: the
    // first writer keeps "old", the second keeps nothing.
    c.before_write(b"a", || Some(Entry::string("old")));
    c.before_write(b"a", || panic!("kept already"));
    // `new` did not exist at the start: kept as absent, never written.
    c.before_write(b"new", || None);
    assert!(c.extra_bytes() > 0);
    let out = written(&c, &[("a", "changed"), ("b", "b0"), ("new", "n")]);
    let want = [("a", "old"), ("b", "b0")].map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(out, want);
    // Visited keys are not kept again.
    c.before_write(b"b", || panic!("visited already"));
    c.stop();
    assert_eq!(c.extra_bytes(), 0);
}

#[test]
fn changes_add_up_across_threads() {
    let changes = Changes::default();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| (0..1000).for_each(|_| changes.add(2)));
        }
    });
    changes.add(1);
    assert_eq!(changes.total(), 8001);
}

fn db() -> Db<crate::backends::RwLockStore> {
    Db::new(
        1,
        crate::db::Clock::manual(1_000),
        crate::db::ExpiryConfig::default(),
    )
}

#[test]
fn a_snapshot_carries_the_function_libraries() {
    let lib = bytes::Bytes::from_static(
        b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)",
    );
    let src = db();
    src.set_function_codes(vec![lib.clone()]);
    let snap = src.begin_snapshot().unwrap();
    let full = snap.to_rdb(false, true, &[]).unwrap();
    let only = snap.to_rdb_without_keys(false, true, &[], true).unwrap();
    drop(snap);
    for file in [full, only] {
        let dst = db();
        dst.load_rdb(&file, &Shapes::default(), true).unwrap();
        assert_eq!(dst.function_codes(), vec![lib.clone()]);
        assert_eq!(dst.take_loaded_functions(), Some(vec![lib.clone()]));
    }
}

#[test]
fn a_library_in_both_refuses_noflush_and_merge_takes_the_file_s() {
    let lib = |body: &str| bytes::Bytes::from(format!("#!lua name=mylib\n{body}"));
    let src = db();
    src.set_function_codes(vec![lib("-- file")]);
    let file = src
        .begin_snapshot()
        .unwrap()
        .to_rdb(false, true, &[])
        .unwrap();
    let db = db();
    db.set_function_codes(vec![lib("-- memory")]);
    let shapes = Shapes::default();
    let refused = db.load_rdb_over(&file, &shapes, true, Existing::Keep);
    assert!(
        matches!(&refused, Err(RdbError::LibraryExists(n)) if n.as_str() == "mylib"),
        "{refused:?}"
    );
    assert_eq!(
        db.function_codes(),
        vec![lib("-- memory")],
        "nothing changes on an error"
    );
    db.load_rdb_over(&file, &shapes, true, Existing::Merge)
        .unwrap();
    assert_eq!(db.function_codes(), vec![lib("-- file")]);
}

#[test]
fn a_kept_copy_is_counted_by_its_size() {
    let c = Capture::default();
    c.start();
    c.before_write(b"gone", || None);
    assert_eq!(c.extra_bytes(), 4 + 64, "an absent key costs its name only");
    c.before_write(b"big", || Some(Entry::string(vec![b'x'; 10_000])));
    assert_eq!(c.extra_bytes(), 4 + 64 + 3 + 64 + 48 + 10_000);
    c.stop();
}

/// Both kinds of file a snapshot writes report their own size (the RDB
/// file's was one byte short, its EOF opcode, until mutation testing's
/// helper noticed).
#[test]
fn a_saved_file_reports_its_own_size() {
    let db = db();
    db.table()[0].update(b"k", 0, |_| (store_api::Op::Put(Entry::string("v")), ()));
    // A function library too: the commands file starts with its FUNCTION
    // LOAD, counted with the rest.
    db.set_function_codes(vec![bytes::Bytes::from_static(
        b"#!lua name=lib\nredis.register_function('f', function() return 1 end)",
    )]);
    let dir = std::env::temp_dir().join(format!("flashkv-snapsize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (aof, rdb) = (dir.join("base.aof"), dir.join("dump.rdb"));
    // A snapshot is written once, and one runs at a time: one for each
    // file, one after the other.
    let commands = db
        .begin_snapshot()
        .unwrap()
        .save_commands(&aof, b"")
        .unwrap();
    let dump = db.begin_snapshot().unwrap().save(&rdb, true, true, &[]);
    let saved = [commands, dump.unwrap()];
    for (path, saved) in [&aof, &rdb].into_iter().zip(saved) {
        assert_eq!(saved.keys, 1, "{path:?}");
        assert_eq!(
            saved.bytes,
            std::fs::metadata(path).unwrap().len(),
            "{path:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// FLUSHDB inside MULTI empties the keyspace in place while a snapshot
/// runs: the snapshot still writes every key as it was at its start, past
/// the first batch of the copy `clear_in_place` makes for it.
#[test]
fn a_flush_in_place_during_a_snapshot_keeps_every_key_in_it() {
    const KEYS: usize = 600;
    let src = db();
    let ks = src.table()[0].clone();
    for i in 0..KEYS {
        let key = format!("k{i}");
        ks.update(key.as_bytes(), 0, |_| {
            (store_api::Op::Put(Entry::string("v")), ())
        });
    }
    let snap = src.begin_snapshot().unwrap();
    ks.clear_in_place();
    assert_eq!(ks.len(), 0);
    let file = snap.to_rdb(false, true, &[]).unwrap();
    drop(snap);
    let dst = db();
    dst.load_rdb(&file, &Shapes::default(), true).unwrap();
    assert_eq!(dst.table()[0].len(), KEYS);
}

/// DEBUG RELOAD NOFLUSH without MERGE: keys in memory and in the file
/// that do not collide load side by side (only a key in both refuses).
#[test]
fn a_noflush_load_without_clashes_keeps_both_sides() {
    let put = |db: &Db<crate::backends::RwLockStore>, k: &[u8]| {
        db.table()[0].update(k, 0, |_| (store_api::Op::Put(Entry::string("v")), ()));
    };
    let src = db();
    put(&src, b"from-file");
    let file = src
        .begin_snapshot()
        .unwrap()
        .to_rdb(false, true, &[])
        .unwrap();
    let dst = db();
    put(&dst, b"in-memory");
    dst.load_rdb_over(&file, &Shapes::default(), true, Existing::Keep)
        .unwrap();
    assert_eq!(dst.table()[0].len(), 2);
}

/// A snapshot counts the copies it keeps of keys written while it runs.
#[test]
fn a_snapshot_counts_what_it_keeps() {
    let src = db();
    let ks = src.table()[0].clone();
    ks.update(b"k", 0, |_| {
        (store_api::Op::Put(Entry::string(vec![b'x'; 10_000])), ())
    });
    let snap = src.begin_snapshot().unwrap();
    assert_eq!(snap.extra_bytes(), 0);
    ks.update(b"k", 0, |_| (store_api::Op::Put(Entry::string("y")), ()));
    assert!(snap.extra_bytes() >= 10_000, "{}", snap.extra_bytes());
}

/// `rdb-key-save-delay` / `key-load-delay`: microseconds, or nanoseconds
/// when negative.
#[test]
fn key_delays_are_micros_or_negative_nanos() {
    use std::time::Duration;
    assert_eq!(key_delay(100), Duration::from_micros(100));
    assert_eq!(key_delay(-5), Duration::from_nanos(5));
    assert_eq!(key_delay(0), Duration::ZERO);
}
