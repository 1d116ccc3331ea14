//! `aof-timestamp-enabled`: `#TS:<unix seconds>` annotations in the AOF
//! as Redis writes them (before the first record of each second, and at
//! the start of a base written as commands), and a file holding them
//! loads back.

use std::path::Path;

use flashkv::config::Fsync;
use flashkv::{Clock, Frame, Store};

use crate::aof::aof_config;
use crate::backends;
use crate::common::*;

backends!(timestamps_annotate_the_aof_and_load_back);

/// The files the manifest lists, by type (`b` base, `i` increment).
fn listed(dir: &Path, kind: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .expect("manifest");
    manifest
        .lines()
        .filter(|l| l.ends_with(&format!("type {kind}")))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

fn first_line(dir: &Path, name: &str) -> String {
    let text = std::fs::read(dir.join("appendonlydir").join(name)).unwrap();
    String::from_utf8_lossy(&text)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

fn timestamps_annotate_the_aof_and_load_back<S: Store>() {
    let dir = fresh_dir("aof-timestamps");
    let mut config = aof_config(&dir, Fsync::Always);
    config.aof.use_rdb_preamble = false;
    config.enable_debug_command = "yes".into();
    let server = TestServer::with_config::<S>(config, Clock::System);
    let mut c = server.client();
    assert_eq!(c.cmd("CONFIG SET aof-timestamp-enabled yes"), Frame::ok());
    assert_eq!(c.cmd("SET foo bar"), Frame::ok());
    let incr = listed(&dir, "i").pop().expect("an increment");
    assert!(first_line(&dir, &incr).starts_with("#TS:"), "{incr}");
    c.cmd("BGREWRITEAOF");
    assert!(eventually(std::time::Duration::from_secs(10), || {
        info_field(&mut c, "aof_rewrite_in_progress") == 0
            && listed(&dir, "b").iter().any(|b| b.ends_with(".base.aof"))
    }));
    let base = listed(&dir, "b").pop().unwrap();
    assert!(first_line(&dir, &base).starts_with("#TS:"), "{base}");
    assert_eq!(c.cmd("SET after rewrite"), Frame::ok());
    assert_eq!(c.cmd("DEBUG LOADAOF"), Frame::ok());
    assert_eq!(
        c.cmd("MGET foo after"),
        Frame::Array(vec![bulk("bar"), bulk("rewrite")])
    );
    drop(server);
    let _ = std::fs::remove_dir_all(dir);
}
