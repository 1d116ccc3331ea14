//! FLUSHALL and the RDB file, as Redis's `flushAllDataAndResetRDB`: with
//! save points the emptied dataset is saved at once (a restart must not
//! bring flushed keys back from the old dump.rdb), and a BGSAVE running
//! meanwhile stops.

use std::time::{Duration, Instant};

use flashkv::{Clock, Config, Frame, Store};

use crate::backends;
use crate::common::*;

backends!(
    flushall_saves_the_empty_dataset_so_a_restart_keeps_it_empty,
    flushall_stops_a_running_bgsave
);

fn saving_config(dir: &std::path::Path) -> Config {
    Config {
        dir: dir.display().to_string(),
        save: vec![(3600, 1)],
        ..Config::default()
    }
}

fn flushall_saves_the_empty_dataset_so_a_restart_keeps_it_empty<S: Store>() {
    let dir = fresh_dir("flushall-resets-rdb");
    let config = saving_config(&dir);
    let server = TestServer::with_config::<S>(config.clone(), Clock::System);
    let mut c = server.client();
    assert_eq!(c.cmd("SET k v"), Frame::ok());
    assert_eq!(c.cmd("SAVE"), Frame::ok());
    assert_eq!(c.cmd("SET k2 v"), Frame::ok());
    assert_eq!(c.cmd("FLUSHALL"), Frame::ok());
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), 0);
    c.send_cmd("SHUTDOWN NOSAVE");
    assert!(c.read_to_close().is_empty());
    server.join().expect("stopped");
    let options = flashkv::server::Options {
        load_at_start: true,
        ..Default::default()
    };
    let restarted = TestServer::with_options::<S>(config, options);
    assert_eq!(
        restarted.client().cmd("DBSIZE"),
        Frame::Integer(0),
        "flushed keys came back"
    );
    drop(restarted);
    let _ = std::fs::remove_dir_all(dir);
}

fn flushall_stops_a_running_bgsave<S: Store>() {
    let dir = fresh_dir("flushall-stops-bgsave");
    let server = TestServer::with_config::<S>(saving_config(&dir), Clock::System);
    let mut c = server.client();
    assert_eq!(c.cmd("SET a 1"), Frame::ok());
    assert_eq!(c.cmd("SET b 2"), Frame::ok());
    // 10 s a key: a BGSAVE that would run for 20 s.
    assert_eq!(c.cmd("CONFIG SET rdb-key-save-delay 10000000"), Frame::ok());
    assert_eq!(
        c.cmd("BGSAVE"),
        Frame::Simple("Background saving started".into())
    );
    let start = Instant::now();
    assert_eq!(c.cmd("FLUSHALL"), Frame::ok());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "FLUSHALL waited for the BGSAVE"
    );
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), 0);
    let status = text(&c.cmd("INFO persistence"));
    assert!(status.contains("rdb_last_bgsave_status:ok"), "{status}");
    assert_eq!(info_field(&mut c, "rdb_changes_since_last_save"), 0);
    assert_eq!(c.cmd("CONFIG SET rdb-key-save-delay 0"), Frame::ok());
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
