//! Bytes per key at the map level, one fresh process per measurement.
//!
//! `cargo bench --bench memory` (a `harness = false` target) runs, for every
//! store in the one backend list (FlashKV backends plus papaya and dashmap)
//! and for "no TTL" and "TTL on every key", a child process (this same
//! binary with `FLASHKV_MEM_CHILD=<store>,<ttl>,<keys>`) and writes what the
//! children print to `reports/data/memory.csv` (or `$FLASHKV_REPORT_DATA`).
//!
//! # What is counted
//! The child creates the empty store, reads resident memory (`statm` field
//! 2 x page size), then stores `FLASHKV_MEM_KEYS` keys (default 1,000,000)
//! the way the server's SET does: `compute(key, |_| Put(entry))` with the
//! key borrowed from a reused buffer (so the store makes its own copy) and
//! the value a freshly allocated 16-byte `Bytes` (the server copies values
//! out of the request buffer too); with TTLs, `expires_at` is set. Then it
//! pins and flushes crossbeam-epoch so retired tables are freed, and reads
//! resident memory again. Bytes per key = growth / keys: the table or
//! buckets at whatever load factor the map grew to, per-entry nodes, the
//! key copy, the value allocation, and malloc's headers and rounding. Not
//! counted: anything allocated before the first reading (binary, empty
//! store, thread-local state). Keys are the Redis-shaped keys of the map
//! benchmarks (`common::key_for`, 10-40 bytes, mean printed in the CSV).
//!
//! # Machine probe
//! Before the children, the parent times a dependent-load chain (a random
//! cyclic permutation, Sattolo's algorithm) over 1, 16, 64 and 256 MiB and
//! writes `latency.csv`: nanoseconds per load, i.e. what one cache miss
//! (plus its TLB miss) costs on this machine. Map throughput at 1M keys is
//! bounded by it, so the map report quotes it.

#[macro_use]
mod common;

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use store_api::{Entry, Op, Store, Value};

const DEFAULT_KEYS: usize = 1_000_000;
const VALUE_LEN: usize = 16;
const HEADER: &str = "store,ttl,keys,rss_before,rss_after,bytes_per_key,\
                      key_bytes_mean,value_bytes,len_after,load_ms";

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("resident pages in statm");
    pages * page_size()
}

fn page_size() -> u64 {
    // The kernel page size; 4 KiB on every machine this runs on, checked
    // against /proc/self/smaps when it is readable.
    std::fs::read_to_string("/proc/self/smaps")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("KernelPageSize:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(4096, |kb| kb * 1024)
}

/// The child's measurement for store `S`.
fn measure<S: Store>(wanted: &str, ttl: bool, keys: usize) {
    if S::NAME != wanted {
        return;
    }
    let map = S::default();
    let mut key = Vec::with_capacity(48);
    let mut key_bytes = 0usize;
    let value = [b'v'; VALUE_LEN];
    let before = rss_bytes();
    let t = Instant::now();
    for i in 0..keys {
        common::key_for(i, &mut key);
        key_bytes += key.len();
        let entry = Entry::new(
            Value::Str(value[..].into()),
            ttl.then_some(4_102_444_800_000 + i as u64),
        );
        map.compute(&key, |_| (Op::Put(entry.clone()), ()));
    }
    common::drain_epoch_garbage();
    let load_ms = t.elapsed().as_millis();
    let after = rss_bytes();
    let per_key = (after.saturating_sub(before)) as f64 / keys as f64;
    println!(
        "{},{},{keys},{before},{after},{per_key:.1},{:.1},{VALUE_LEN},{},{load_ms}",
        S::NAME,
        if ttl { "yes" } else { "no" },
        key_bytes as f64 / keys as f64,
        map.len(),
    );
    let _ = std::io::stdout().flush();
    // Skip freeing a million entries: the process ends here.
    std::process::exit(0);
}

fn child(spec: &str) {
    let parts: Vec<&str> = spec.split(',').collect();
    let [store, ttl, keys] = parts[..] else {
        panic!("FLASHKV_MEM_CHILD must be <store>,<yes|no>,<keys>");
    };
    let ttl = ttl == "yes";
    let keys: usize = keys.parse().expect("key count");
    for_each_store!(measure(store, ttl, keys));
    panic!("unknown store {store}");
}

/// Nanoseconds per dependent load over a `mib`-MiB random cycle.
fn load_latency(mib: usize) -> f64 {
    let n = mib * 1024 * 1024 / 8;
    let mut next: Vec<usize> = (0..n).collect();
    let mut rng = common::Rng::new(0x01A7_E1C7);
    for i in (1..n).rev() {
        let j = rng.below(i as u64) as usize;
        next.swap(i, j);
    }
    let (mut p, steps) = (0usize, 2_000_000u32);
    for _ in 0..100_000 {
        p = next[p];
    }
    let t = Instant::now();
    for _ in 0..steps {
        p = next[p];
    }
    std::hint::black_box(p);
    t.elapsed().as_nanos() as f64 / f64::from(steps)
}

fn latency_probe(dir: &str) {
    let mut csv = String::from("mib,ns_per_load\n");
    for mib in [1, 16, 64, 256] {
        let ns = load_latency(mib);
        eprintln!("  dependent load over {mib:>3} MiB: {ns:.1} ns");
        csv.push_str(&format!("{mib},{ns:.1}\n"));
    }
    std::fs::write(format!("{dir}/latency.csv"), csv).expect("write latency.csv");
}

fn names() -> Vec<&'static str> {
    fn push<S: Store>(v: &mut Vec<&'static str>) {
        v.push(S::NAME);
    }
    let mut v = Vec::new();
    for_each_store!(push(&mut v));
    v
}

fn main() {
    if let Ok(spec) = std::env::var("FLASHKV_MEM_CHILD") {
        return child(&spec);
    }
    let keys = std::env::var("FLASHKV_MEM_KEYS")
        .ok()
        .and_then(|s| common::parse_count(&s))
        .unwrap_or(DEFAULT_KEYS);
    let settings = common::Settings::from_env();
    let exe = std::env::current_exe().expect("own path");
    let dir = std::env::var("FLASHKV_REPORT_DATA")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/reports/data").into());
    std::fs::create_dir_all(&dir).expect("create the report data directory");
    let runs: Vec<(&str, &str)> = names()
        .into_iter()
        .flat_map(|s| [(s, "no"), (s, "yes")])
        .filter(|(s, t)| settings.selects(&format!("memory/{s}/ttl-{t}")))
        .collect();
    eprintln!(
        "memory: {} fresh processes x {keys} keys; {}",
        runs.len(),
        common::machine_line()
    );
    if settings.selects("memory/latency") {
        latency_probe(&dir);
    }
    let mut progress = common::Progress::new(runs.len());
    let mut csv = String::from(HEADER);
    csv.push('\n');
    for (store, ttl) in runs {
        progress.next(&format!("memory/{store}/ttl-{ttl}"));
        let out = Command::new(&exe)
            .env("FLASHKV_MEM_CHILD", format!("{store},{ttl},{keys}"))
            .output()
            .expect("run a measurement child");
        let line = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || line.trim().is_empty() {
            eprintln!(
                "  {store} ttl={ttl} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        eprintln!("  {}", line.trim());
        csv.push_str(line.trim());
        csv.push('\n');
    }
    let path = format!("{dir}/memory.csv");
    std::fs::write(&path, csv).expect("write memory.csv");
    eprintln!("wrote {path}");
}
