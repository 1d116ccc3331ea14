//! Shared by the bench targets: the one backend list, run settings from the
//! environment, Redis-shaped keys and values, a seeded PRNG, a Zipf sampler,
//! progress lines, and bench-only adapters for papaya and dashmap.
//!
//! Every bench target compiles this module but uses a subset of it, hence
//! the `dead_code` and `unused_macros` allowance below (it is not a licence for unused code in
//! the targets themselves).
#![allow(dead_code, unused_macros)]

pub mod adapters;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;

/// Call `$f::<Backend>($args)` once per FlashKV backend, in the order of
/// the one list (`flashkv::for_each_backend!`).
macro_rules! for_each_backend {
    ($f:ident $args:tt) => {{
        flashkv::for_each_backend!(call_each, [$f, $args]);
    }};
}

/// `for_each_backend!`'s callback: `$f::<Store>$args` for every backend.
macro_rules! call_each {
    ([$f:ident, $args:tt]; $($name:ident $variant:ident $doc:literal $store:ty),* $(,)?) => {
        $($f::<$store> $args;)*
    };
}

/// [`for_each_backend!`] plus the outside reference points (papaya and
/// dashmap behind the tiny adapters in `adapters.rs`); map-level benches
/// only, since the server is built for FlashKV backends.
macro_rules! for_each_store {
    ($f:ident ( $($arg:expr),* )) => {{
        for_each_backend!($f($($arg),*));
        $f::<$crate::common::adapters::PapayaStore>($($arg),*);
        $f::<$crate::common::adapters::DashStore>($($arg),*);
    }};
}

/// Run settings, from the environment so `scripts/bench-all` (and a person)
/// can bound a run without editing code. Defaults give a full run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Criterion warm-up per benchmark (`FLASHKV_BENCH_WARMUP_MS`).
    pub warm_up: Duration,
    /// Criterion measurement time per benchmark (`FLASHKV_BENCH_MEASURE_MS`).
    pub measure: Duration,
    /// Samples per benchmark, at least 10 (`FLASHKV_BENCH_SAMPLES`).
    pub samples: usize,
    /// Only benchmark IDs containing this substring (`FLASHKV_BENCH_FILTER`);
    /// unlike criterion's own filter it also skips set-up and keeps the
    /// progress count right.
    pub filter: Option<String>,
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Settings {
    /// Read the environment; `FLASHKV_BENCH_QUICK=1` switches the defaults
    /// to a smoke run (200 ms warm-up, 500 ms measurement).
    pub fn from_env() -> Settings {
        let quick = std::env::var("FLASHKV_BENCH_QUICK").is_ok_and(|v| v == "1");
        let (warm, measure) = if quick { (200, 500) } else { (1000, 3000) };
        Settings {
            warm_up: Duration::from_millis(env_u64("FLASHKV_BENCH_WARMUP_MS").unwrap_or(warm)),
            measure: Duration::from_millis(env_u64("FLASHKV_BENCH_MEASURE_MS").unwrap_or(measure)),
            samples: env_u64("FLASHKV_BENCH_SAMPLES").map_or(10, |n| n.max(10) as usize),
            filter: std::env::var("FLASHKV_BENCH_FILTER")
                .ok()
                .filter(|f| !f.is_empty()),
        }
    }

    /// A criterion configured from these settings (command-line flags such
    /// as `--measurement-time` still override them).
    pub fn criterion(&self) -> Criterion {
        Criterion::default()
            .warm_up_time(self.warm_up)
            .measurement_time(self.measure)
            .sample_size(self.samples)
            .configure_from_args()
    }

    /// Does benchmark `id` pass the substring filter?
    pub fn selects(&self, id: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| id.contains(f))
    }
}

/// Thread counts: 1..=available_parallelism plus one oversubscribed point
/// (2x cores); `FLASHKV_BENCH_THREADS=1,2,4` overrides.
pub fn thread_counts() -> Vec<usize> {
    if let Ok(list) = std::env::var("FLASHKV_BENCH_THREADS") {
        let v: Vec<usize> = list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .filter(|&n| n > 0)
            .collect();
        if !v.is_empty() {
            return v;
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut v: Vec<usize> = (1..=cores).collect();
    v.push(2 * cores);
    v
}

/// Key counts: `FLASHKV_BENCH_KEYS=1k,1M` (the default) or any of them.
pub fn key_counts() -> Vec<usize> {
    let spec = std::env::var("FLASHKV_BENCH_KEYS").unwrap_or_else(|_| "1k,1M".into());
    spec.split(',')
        .filter_map(|s| parse_count(s.trim()))
        .collect()
}

/// `1k` -> 1000, `1M` -> 1_000_000, `5000` -> 5000.
pub fn parse_count(s: &str) -> Option<usize> {
    let (num, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1_000),
        b'M' | b'm' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    num.parse::<usize>().ok().map(|n| n * mul)
}

/// `1000` -> `1k`, `1000000` -> `1M` (the spelling used in benchmark IDs).
pub fn count_label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Progress lines on stderr: `[ 12/180  3m05s] ReadHeavy-1M/epoch/2`.
pub struct Progress {
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    /// A progress counter over `total` planned benchmarks.
    pub fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Announce the next benchmark.
    pub fn next(&mut self, id: &str) {
        self.done += 1;
        let s = self.started.elapsed().as_secs();
        let width = 24;
        let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
        eprintln!(
            "[{}{}] {:>3}/{} {:>3}m{:02}s  {id}",
            "#".repeat(filled.min(width)),
            ".".repeat(width - filled.min(width)),
            self.done,
            self.total,
            s / 60,
            s % 60
        );
    }
}

/// SplitMix64: tiny, seedable, good enough to draw op streams.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a fixed seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (n > 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The SplitMix64 finalizer: a bijection on u64, so distinct inputs give
/// distinct outputs (used to make unique hex key parts).
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Zipf over ranks `0..n` with exponent `theta` (YCSB uses 0.99), sampled
/// by binary search over the cumulative distribution (built once, O(n)).
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks.
    pub fn new(n: usize, theta: f64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|r| {
                acc += 1.0 / (r as f64).powf(theta);
                acc
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= acc);
        Zipf { cdf }
    }

    /// A rank; 0 is the hottest.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

/// The Redis-shaped key for index `i`: 10 to 40 bytes, unique per index,
/// in four families (`user:{i}:session`, `session:{hex}`,
/// `cache:page:/products/{i}/reviews`, `queue:jobs:{i}`).
pub fn key_for(i: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    let _ = match i % 4 {
        0 => write!(out, "user:{i}:session"),
        1 => write!(out, "session:{:016x}", mix64(i as u64)),
        2 => write!(out, "cache:page:/products/{i}/reviews"),
        _ => write!(out, "queue:jobs:{i}"),
    };
}

/// `count` keys (indices `0..count`) as `Bytes` over one leaked arena, so
/// cloning a key is a plain copy (no reference count touched, no
/// allocation) like handing the store a slice of a request buffer.
pub fn static_keys(count: usize) -> Vec<Bytes> {
    let mut arena = Vec::with_capacity(count * 24);
    let mut ends = Vec::with_capacity(count);
    let mut k = Vec::with_capacity(48);
    for i in 0..count {
        key_for(i, &mut k);
        arena.extend_from_slice(&k);
        ends.push(arena.len());
    }
    let arena: &'static [u8] = Box::leak(arena.into_boxed_slice());
    let mut start = 0;
    ends.into_iter()
        .map(|end| {
            let b = Bytes::from_static(&arena[start..end]);
            start = end;
            b
        })
        .collect()
}

/// Number of distinct values in [`values`].
pub const VALUE_POOL: usize = 1024;

/// A pool of [`VALUE_POOL`] static values, 16 to 100 bytes each (seeded).
pub fn values() -> &'static [Bytes] {
    static POOL: OnceLock<Vec<Bytes>> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut rng = Rng::new(0x5EED_7A1E);
        (0..VALUE_POOL)
            .map(|_| {
                let len = 16 + rng.below(85) as usize;
                let v: Vec<u8> = (0..len).map(|_| b'a' + rng.below(26) as u8).collect();
                Bytes::from_static(Box::leak(v.into_boxed_slice()))
            })
            .collect()
    })
}

/// Machine facts for progress headers: CPU model, cores, load average.
pub fn machine_line() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, load average {load}")
}

/// Let crossbeam-epoch free what the measured code retired: a few pins and
/// flushes from this (idle) thread advance the global epoch. Called outside
/// timed regions so later samples do not pay for earlier garbage.
pub fn drain_epoch_garbage() {
    for _ in 0..4 {
        crossbeam_epoch::pin().flush();
    }
}

/// Criterion's positional filter, if one was given (`cargo bench --bench
/// store -- ReadHeavy-1M`), so set-up can be skipped for benchmarks it
/// excludes. Treated as a substring (a plain name is one).
pub fn criterion_filter() -> Option<String> {
    const TAKES_VALUE: &[&str] = &[
        "-c",
        "--color",
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--plotting-backend",
        "--output-format",
        "--format",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if TAKES_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}
