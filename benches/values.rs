//! Collection values: the cost of one change on a small and on a huge
//! collection. A value changes in place, so HSET into a 1M-field hash and
//! LPUSH onto a 10M-element list cost about what they cost on a small one
//! (no command copies a collection). Sorted-set operations are O(log n):
//! the 1k and 1M groups show it.
//!
//! IDs: `values/<operation>/<size>`. Each benchmark builds its collection
//! once (outside the timing) and times single operations on it.

#[macro_use]
mod common;

use common::Settings;
use criterion::{BatchSize, Criterion};
use store_api::value::{Hash, HashLimits, List, Set, ZLimits, ZSet};

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

fn zset_of(n: usize) -> ZSet {
    let mut z = ZSet::with_hint(n, 10, ZLimits::default());
    for i in 0..n {
        // Scores spread and repeated, members unique.
        let score = (i.wrapping_mul(2_654_435_761) % 100_000) as f64;
        z.insert(format!("m{i:08}").as_bytes(), score, ZLimits::default());
    }
    z
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
    // Sorted sets: every operation is O(log n) (binary search over the
    // chunks, Fenwick tree for ranks), so 1k and 1M cost about the same.
    for (label, n) in [("1k", 1_000), ("1M", 1_000_000)] {
        if !settings.selects(&format!("values/zadd/{label}")) {
            continue;
        }
        let mut z = zset_of(n);
        let mut i = 0u64;
        g.bench_function(format!("zadd/{label}"), |b| {
            b.iter(|| {
                i += 1;
                z.insert(b"fresh-member", (i % 100_000) as f64, ZLimits::default());
                z.remove(b"fresh-member")
            })
        });
        g.bench_function(format!("zincrby/{label}"), |b| {
            b.iter(|| {
                let s = z.score(b"m00000500").unwrap_or(0.0);
                z.insert(b"m00000500", s + 1.0, ZLimits::default())
            })
        });
        g.bench_function(format!("zrange-0-99/{label}"), |b| {
            b.iter(|| z.range(0, 100).map(|(m, _)| m.len()).sum::<usize>())
        });
        g.bench_function(format!("zrangebyscore-limit-10/{label}"), |b| {
            b.iter(|| {
                let start = z.count_while(|s, _| s < 50_000.0);
                z.range(start + 5, start + 15).count()
            })
        });
        g.bench_function(format!("zrank/{label}"), |b| {
            b.iter(|| z.rank(b"m00000700").map(|r| r.0))
        });
    }
    g.finish();
    c.final_summary();
}
