//! Collection values: the cost of one change on a small and on a huge
//! collection. A value changes in place, so HSET into a 1M-field hash and
//! LPUSH onto a 10M-element list cost about what they cost on a small one
//! (no command copies a collection).
//!
//! IDs: `values/<operation>/<size>`. Each benchmark builds its collection
//! once (outside the timing) and times single operations on it.

#[macro_use]
mod common;

use common::Settings;
use criterion::{BatchSize, Criterion};
use store_api::value::{Hash, HashLimits, List, Set};

fn list_of(n: usize) -> List {
    let mut l = List::new(-2);
    for i in 0..n {
        l.push_back(format!("e{:07}", i % 10_000_000).as_bytes());
    }
    l
}

fn hash_of(n: usize) -> Hash {
    let mut h = Hash::default();
    for i in 0..n {
        h.insert(
            format!("f{i:08}").as_bytes(),
            b"value",
            HashLimits::default(),
        );
    }
    h
}

fn set_of(n: usize) -> Set {
    let mut s = Set::default();
    for i in 0..n {
        s.insert(format!("m{i:08}").as_bytes(), 512);
    }
    s
}

fn main() {
    let settings = Settings::from_env();
    let mut c: Criterion = settings.criterion();
    let mut g = c.benchmark_group("values");
    for (label, n) in [("1k", 1_000), ("10M", 10_000_000)] {
        if !settings.selects(&format!("values/lpush/{label}")) {
            continue;
        }
        let mut l = list_of(n);
        g.bench_function(format!("lpush/{label}"), |b| {
            b.iter(|| {
                l.push_front(b"new");
                l.pop_back()
            })
        });
        g.bench_function(format!("lindex-middle/{label}"), |b| {
            b.iter(|| l.get(n / 2).map(<[u8]>::len))
        });
        g.bench_function(format!("lrange-100/{label}"), |b| {
            b.iter(|| l.range(0, 100).count())
        });
    }
    for (label, n) in [("1k", 1_000), ("1M", 1_000_000)] {
        if !settings.selects(&format!("values/hset/{label}")) {
            continue;
        }
        let mut h = hash_of(n);
        let mut i = 0u64;
        g.bench_function(format!("hset/{label}"), |b| {
            b.iter_batched(
                || {
                    i += 1;
                    format!("new{i}")
                },
                |f| {
                    h.insert(f.as_bytes(), b"v", HashLimits::default());
                    h.remove(f.as_bytes())
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("hget/{label}"), |b| {
            b.iter(|| h.get(b"f00000500").map(<[u8]>::len))
        });
        let mut s = set_of(n);
        g.bench_function(format!("sadd/{label}"), |b| {
            b.iter(|| {
                s.insert(b"fresh-member", 512);
                s.remove(b"fresh-member")
            })
        });
    }
    g.finish();
    c.final_summary();
}
