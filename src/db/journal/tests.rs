use super::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// `path` opened for appending (created if missing).
fn appending(path: &std::path::Path) -> File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn journal_in(dir: &std::path::Path) -> (Journal, std::path::PathBuf) {
    let path = dir.join("j.aof");
    let j = Journal::default();
    j.enable(appending(&path), 0, || ());
    (j, path)
}

/// `SET a 1` run in the journal's order, changing the data; its end.
fn set_a(j: &Journal) -> u64 {
    j.ordered(|| {
        let m = mark();
        dirty();
        command_done(m, 0, &[b("set"), b("a"), b("1")]);
    })
    .1
}

#[test]
fn records_are_selected_wrapped_and_written_in_order() {
    let dir = tempdir();
    let (j, path) = journal_in(&dir);
    let end1 = set_a(&j);
    let (inside, _) = j.ordered(in_section);
    assert!(inside, "an ordered section of a journal that is on");
    let (_, none) = j.ordered(|| {
        let m = mark();
        command_done(m, 0, &[b("set"), b("a"), b("1"), b("NX")]);
    });
    assert_eq!(none, 0, "a command that changed nothing is not logged");
    let (_, end2) = j.ordered(|| {
        let m = mark();
        record(3, vec![b("DEL"), b("k")]);
        dirty();
        rewrite(|| vec![words(&[b"SET", b"k", b"v", b"PXAT", b"5"])]);
        command_done(m, 3, &[b("setex"), b("k"), b("1"), b("v")]);
    });
    assert!(end2 > end1 && end1 > 0);
    j.flush(end2, true).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n\
         *2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n\
         *5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$4\r\nPXAT\r\n$1\r\n5\r\n*1\r\n$4\r\nEXEC\r\n"
    );
    assert_eq!(j.file_size(), text.len() as u64);
    assert!(!in_section());
}

#[test]
fn a_script_is_logged_as_the_commands_it_ran() {
    let dir = tempdir();
    let (j, path) = journal_in(&dir);
    let (_, end) = j.ordered(|| {
        let m = mark();
        record(0, vec![b("SET"), b("k"), b("v")]);
        dirty();
        logged_inside();
        command_done(m, 0, &[b("EVAL"), b("s"), b("0")]);
    });
    j.flush(end, false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("SET"), "{text:?}");
    assert!(
        !text.contains("EVAL"),
        "the script itself is not logged: {text:?}"
    );
}

#[test]
fn appendfsync_always_waits_for_the_sync() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    let end = set_a(&j);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let waited = std::time::Duration::from_millis(50);
    let early = rt.block_on(async { tokio::time::timeout(waited, j.wait_synced(end)).await });
    assert!(early.is_err(), "returned before anything was synced");
    // Both sides bounded (10 s), so a sync that never covers `end` fails
    // the test instead of hanging it.
    let synced = std::thread::scope(|s| {
        s.spawn(|| {
            if (0..200).any(|_| j.sync_requested(waited)) {
                j.sync_pending().unwrap();
                j.synced_now();
            }
        });
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), j.wait_synced(end)).await
        })
    });
    assert!(synced.is_ok(), "the sync never covered the record");
    assert!(j.all_synced());
}

#[test]
fn nothing_is_recorded_with_the_journal_off_or_outside_a_section() {
    let j = Journal::default();
    let (_, end) = j.ordered(|| {
        assert!(!in_section());
        record(0, vec![b("DEL"), b("k")]);
    });
    assert_eq!(end, 0);
    record(0, vec![b("DEL"), b("k")]);
    assert!(!in_section());
}

#[test]
fn a_panicking_section_leaves_the_thread_clean() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        j.ordered(|| panic!("boom"));
    }));
    assert!(r.is_err());
    assert!(!in_section());
    let (_, end) = j.ordered(|| record(0, vec![b("DEL"), b("x")]));
    assert!(end > 0, "the order lock was released");
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "flashkv-journal-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn rotate_and_disable_write_what_was_appended() {
    let dir = tempdir();
    let (j, old) = journal_in(&dir);
    set_a(&j); // appended, not flushed
    let new = dir.join("k.aof");
    j.rotate(appending(&new), || ()).unwrap();
    assert!(
        std::fs::read_to_string(&old).unwrap().contains("set"),
        "rotate left records behind"
    );
    assert_eq!(std::fs::read_to_string(&new).unwrap(), "");
    set_a(&j);
    j.disable().unwrap();
    assert!(
        std::fs::read_to_string(&new).unwrap().contains("set"),
        "disable dropped the tail"
    );
}

#[test]
fn pending_counts_the_bytes_not_yet_written() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    assert_eq!(j.pending(), 0);
    let end = set_a(&j);
    assert!(end > 1);
    assert_eq!(j.pending(), end, "every appended byte is pending");
    j.flush(end, false).unwrap();
    assert_eq!(j.pending(), 0);
}

/// A replica feed collecting what it is sent; `alive` false drops it.
fn collecting(alive: std::sync::Arc<AtomicBool>) -> (FeedSink, std::sync::Arc<Mutex<Vec<u8>>>) {
    let got = std::sync::Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let sink = Box::new(move |b: &[u8]| {
        g.lock().extend_from_slice(b);
        alive.load(Ordering::Relaxed)
    });
    (sink, got)
}

#[test]
fn a_replica_feed_orders_writes_without_a_file_and_leaves_when_gone() {
    let j = Journal::default();
    let alive = std::sync::Arc::new(AtomicBool::new(true));
    let (sink, got) = collecting(alive.clone());
    assert!(!j.enabled());
    let at = j.attach(7, sink, || Some("snapshot"));
    assert_eq!(at, Some("snapshot"));
    assert!(
        j.enabled() && !j.file_on(),
        "ordered for the replica, no file"
    );
    assert_eq!(j.replicas(), 1);
    assert_eq!(set_a(&j), 0, "nothing for a file to wait for");
    let first = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n";
    assert_eq!(&got.lock()[..], first);
    assert_eq!(j.repl_offset(), first.len() as u64);
    j.feed_now(&[b"PING"]);
    assert!(got.lock().ends_with(b"*1\r\n$4\r\nPING\r\n"));
    alive.store(false, Ordering::Relaxed);
    set_a(&j);
    assert_eq!(j.replicas(), 0, "a sink that answers false is dropped");
    assert!(!j.enabled(), "and with it the ordering");
    let len = got.lock().len();
    set_a(&j);
    assert_eq!(got.lock().len(), len, "nothing more reaches it");
}

#[test]
fn a_new_replica_starts_with_a_select_and_a_refused_attach_adds_nothing() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    set_a(&j);
    assert_eq!(
        j.attach(1, collecting(Default::default()).0, || None::<()>),
        None
    );
    assert_eq!(j.replicas(), 0, "no snapshot, no replica");
    let (sink, got) = collecting(std::sync::Arc::new(AtomicBool::new(true)));
    j.attach(2, sink, || Some(()));
    set_a(&j);
    assert!(
        got.lock().starts_with(b"*2\r\n$6\r\nSELECT"),
        "the stream selects first"
    );
    j.detach(2);
    assert_eq!(j.replicas(), 0);
    assert!(j.enabled() && j.file_on(), "the file keeps the order on");
    j.disable().unwrap();
    assert!(!j.enabled());
}

/// `flush` writes only what is missing, and syncs when asked even for
/// bytes already written.
#[test]
fn a_flush_writes_and_syncs_only_what_is_missing() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    let end1 = set_a(&j);
    j.flush(end1, false).unwrap();
    let size = j.file_size();
    let end2 = set_a(&j);
    j.flush(end1, false).unwrap();
    assert_eq!(j.file_size(), size, "wrote past what was asked");
    assert_eq!(j.pending(), end2 - end1);
    // Written but not synced: asked to sync, it writes the rest and syncs.
    j.flush(end1, true).unwrap();
    assert!(j.all_synced(), "a sync was asked for");
}

/// The syncer's wait answers false when nobody asked (it would spin and,
/// on a write error, exit as `always` does).
#[test]
fn nobody_asking_for_a_sync_is_no_request() {
    let j = Journal::default();
    assert!(!j.sync_requested(std::time::Duration::from_millis(1)));
}

#[test]
fn written_says_whether_a_position_reached_the_file() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    assert!(j.written(0), "nothing asked, nothing missing");
    let end = set_a(&j);
    assert!(!j.written(end), "appended, not written yet");
    j.flush(end, false).unwrap();
    assert!(j.written(end));
}

/// A connection flushing its records while a rewrite switches files (and
/// while the file is turned off and on), and a section asking for the
/// file's size (INFO inside MULTI or a script): all of them take the
/// journal's two locks, so in one order. In the other order a rewrite
/// and one flush each held the lock the other wanted, and every write
/// after them waited for ever (a SET got no reply during an automatic
/// rewrite). Bounded: the switches stop after 2,000 rounds and the test
/// fails after 30 s instead of hanging.
#[test]
fn switching_files_while_connections_flush_never_deadlocks() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    let j = std::sync::Arc::new(j);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let (done, finished) = std::sync::mpsc::channel();
    let flusher = {
        let (j, stop, done) = (j.clone(), stop.clone(), done.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let end = set_a(&j);
                j.flush(end, false).unwrap();
            }
            done.send(()).unwrap();
        })
    };
    let asker = {
        let (j, stop, done) = (j.clone(), stop.clone(), done.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let (_, end) = j.ordered(|| {
                    let m = mark();
                    dirty();
                    std::hint::black_box(j.file_size());
                    command_done(m, 0, &[b("set"), b("b"), b("1")]);
                });
                j.flush(end, false).unwrap();
            }
            done.send(()).unwrap();
        })
    };
    let switcher = {
        let (j, dir) = (j.clone(), dir.clone());
        std::thread::spawn(move || {
            for round in 0..2_000 {
                let file = appending(&dir.join(format!("{}.aof", round % 2)));
                if round % 10 == 9 {
                    j.disable().unwrap();
                    j.enable(file, 0, || ());
                } else {
                    j.rotate(file, || ()).unwrap();
                }
            }
            stop.store(true, Ordering::Relaxed);
            done.send(()).unwrap();
        })
    };
    for _ in 0..3 {
        finished
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a flush and a file switch deadlocked");
    }
    for t in [flusher, asker, switcher] {
        t.join().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client served by a push gets its reply while the pusher's section
/// still runs; the position its reply waits for must cover the pop the
/// section appends when it ends (under `appendfsync always` the reply
/// went out before the pop was on disk).
#[test]
fn the_position_after_running_sections_covers_a_section_in_progress() {
    let dir = tempdir();
    let (j, _) = journal_in(&dir);
    let (served, reply_taken) = std::sync::mpsc::channel();
    let (pusher_end, seen) = std::thread::scope(|s| {
        let pusher = s.spawn(|| {
            j.ordered(|| {
                let m = mark();
                dirty();
                served.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
                command_done(m, 0, &[b("lpush"), b("l"), b("x")]);
            })
            .1
        });
        reply_taken.recv().unwrap();
        let seen = j.appended_after_running();
        (pusher.join().unwrap(), seen)
    });
    assert!(
        seen >= pusher_end,
        "{seen} < {pusher_end}: the reply would not wait for the pop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Turning the journal on waits for the writes that began while it was
/// off: they are not in the file, so the switch (a rewrite's snapshot is
/// taken there) must come after them.
#[test]
fn enabling_waits_for_writes_that_began_unjournaled() {
    let dir = tempdir();
    let j = Journal::default();
    let finished = AtomicBool::new(false);
    let (started, write_running) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            j.ordered(|| {
                started.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(100));
                finished.store(true, Ordering::SeqCst);
            });
        });
        write_running.recv().unwrap();
        let seen = j.enable(appending(&dir.join("j.aof")), 0, || {
            finished.load(Ordering::SeqCst)
        });
        assert!(seen, "switched on while an unjournaled write still ran");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write the file refuses is reported (INFO's aof_last_write_status,
/// MISCONF for writers) with the system's text.
#[test]
fn a_refused_write_is_reported() {
    let dir = tempdir();
    let path = dir.join("j.aof");
    std::fs::write(&path, b"").unwrap();
    let j = Journal::default();
    assert_eq!(j.failure(), None);
    j.enable(File::open(&path).unwrap(), 0, || ()); // read-only
    let end = set_a(&j);
    assert!(j.flush(end, false).is_err());
    assert_eq!(j.failure().as_deref(), Some("Bad file descriptor"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write that began with the journal off counts as in flight until its
/// guard ends (turning the journal on waits for such writes: a guard that
/// never ended would make it wait for good).
#[test]
fn an_unjournaled_write_ends_with_its_guard() {
    assert!(!in_write());
    {
        let _write = Unjournaled::enter();
        assert!(in_write());
    }
    assert!(!in_write(), "the write's end was not seen");
}

/// `aof-timestamp-enabled`: one `#TS:` annotation per second, not one per
/// write (three writes in a row see at most one second change).
#[test]
fn timestamps_are_written_once_a_second() {
    let dir = tempdir();
    let (j, path) = journal_in(&dir);
    j.set_timestamps(true);
    let end = (0..3).map(|_| set_a(&j)).last().unwrap();
    j.flush(end, false).unwrap();
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    let stamps = text.matches("#TS:").count();
    assert!((1..=2).contains(&stamps), "{stamps} annotations: {text:?}");
}
