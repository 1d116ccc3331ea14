//! Map level: every FlashKV backend, plus papaya and dashmap as outside
//! reference points, under named op mixes.
//!
//! IDs are `<mix>-<keys>/<backend>/<threads>`, e.g. `ReadHeavy-1M/epoch/2`.
//! Throughput is ops/s (criterion `Throughput::Elements`, all threads).
//!
//! # Method (bustle / conc-map-bench, on criterion)
//! - One generic body, [`bench_mix`], instantiated for every store from the
//!   single list in `common` (`for_each_store!`).
//! - Each benchmark gets a fresh, pre-filled map and long-lived worker
//!   threads that park on a barrier between samples. Each thread replays a
//!   pre-generated op stream (fixed seed per mix, key count, thread count
//!   and thread index; the same for every backend). A sample releases the
//!   threads, each runs `iters * BATCH` ops, and the sample's time is the
//!   wall time from release until the last thread is done.
//! - After every sample, outside the timed region, each worker pins and
//!   flushes crossbeam-epoch a few times so that garbage retired in one
//!   sample is freed before the next (RESEARCH.md: otherwise later
//!   repetitions of per-op-pin runs were 2-3x slower).
//! - Keys are Redis-shaped byte strings of 10-40 bytes
//!   (`user:{n}:session`, `session:{hex}`, `cache:page:/products/{n}/reviews`,
//!   `queue:jobs:{n}`); values are 16-100 bytes. Keys handed to `insert` are
//!   `Bytes` over a static arena, so producing one costs nothing (like a
//!   slice of a request buffer); a backend that copies keys pays for it.
//!
//! # Mixes (percentages of ops)
//! | mix | ops | keys |
//! |---|---|---|
//! | ReadHeavy | 98 read / 1 insert / 1 remove | reads hit the pre-filled N; inserts and removes draw from 2N |
//! | Exchange | 10 read / 40 insert / 40 remove / 10 update | same; the map stays near N keys |
//! | RapidGrow | 5 read / 80 insert / 5 remove / 10 update | fresh empty maps each iteration, grown to ~N keys (bustle: prefill 0) |
//! | GetSetTtl | 80 GET / 20 SET | N keys; half carry a TTL; GET reaps expired entries via `compute`, as the server does |
//! | IncrZipf | 100 INCR (`compute`) | N counters, Zipf(0.99) ranks |
//!
//! `read` is `Store::read`; `insert`/`remove` the trait methods; `update`
//! is a `compute` that replaces a present entry. GET/SET/INCR follow the
//! server's paths (`src/db/keyspace.rs`): GET = `read`, then on an expired
//! entry a `compute` that removes it if still expired; SET = `compute`
//! returning `Put` (the backend copies the key on insert); INCR = `compute`
//! that parses, adds one and formats a new value. TTLs run on a synthetic
//! clock (1 ms per 1000 ops across threads), so expiry churn is the same on
//! every machine: TTLs are uniform in 1..=N/100 ms, about the mean time
//! between two SETs of a key, so a steady fraction of reads find an
//! expired entry and remove it.
//!
//! RapidGrow re-grows `max(1, 65536 / N)` fresh maps per iteration (64 for
//! 1k keys, 1 for 1M), 1.25*N ops each split across the threads; maps are
//! created before and dropped after the timed region.
//!
//! # Run time
//! 5 mixes x 6 stores x threads (1..=cores, 2*cores) x key counts (1k, 1M):
//! 180 benchmarks on 2 cores, each ~1 s warm-up + 3 s measurement, plus
//! set-up (pre-filling 1M keys takes seconds on a 2-core VM) and, for
//! RapidGrow-1M, ten fresh 1M-key growths per benchmark (criterion's
//! minimum of 10 flat samples): about 22 minutes on a quiet machine; the
//! `FLASHKV_BENCH_QUICK=1` run took 18 minutes with the load average near 6.
//! See `common::Settings` for the environment variables that shorten it
//! (`FLASHKV_BENCH_QUICK=1`, `FLASHKV_BENCH_KEYS`, `FLASHKV_BENCH_FILTER`, ...).

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{count_label, drain_epoch_garbage, Progress, Rng, Settings, Zipf, VALUE_POOL};
use criterion::{BenchmarkGroup, BenchmarkId, SamplingMode, Throughput};
use store_api::{Entry, Op, Store, Value};

/// Ops each thread runs per criterion iteration (steady mixes).
const BATCH: u64 = 1024;
/// Synthetic clock: ops (summed over threads) per simulated millisecond.
const OPS_PER_MS: u64 = 1000;
/// Synthetic clock origin, in ms since the Unix epoch.
const CLOCK_BASE: u64 = 1_700_000_000_000;
/// Maps key ranks to key indices (a prime, so `rank * P % n` permutes).
const SCATTER: u64 = 1_000_003;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mix {
    ReadHeavy,
    Exchange,
    RapidGrow,
    GetSetTtl,
    IncrZipf,
}

const MIXES: [Mix; 5] = [
    Mix::ReadHeavy,
    Mix::Exchange,
    Mix::RapidGrow,
    Mix::GetSetTtl,
    Mix::IncrZipf,
];

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::ReadHeavy => "ReadHeavy",
            Mix::Exchange => "Exchange",
            Mix::RapidGrow => "RapidGrow",
            Mix::GetSetTtl => "GetSetTtl",
            Mix::IncrZipf => "IncrZipf",
        }
    }

    /// Cumulative percentages of read, insert, remove (update is the rest)
    /// for the bustle mixes.
    fn thresholds(self) -> [u64; 3] {
        match self {
            Mix::ReadHeavy => [98, 99, 100],
            Mix::Exchange => [10, 50, 90],
            _ => [5, 85, 90],
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Read,
    Insert,
    Remove,
    Update,
    Get,
    Set,
    Incr,
}

/// One pre-generated operation. `aux` holds a value index in its low 10
/// bits and, for SET, a TTL in ms above them (0 = no TTL).
#[derive(Clone, Copy, Debug)]
struct Step {
    kind: Kind,
    key: u32,
    aux: u32,
}

fn ttl_max(n: usize) -> u64 {
    (n as u64 / 100).max(10)
}

/// Per-thread stream length for the steady mixes: long enough that a 1M
/// key map's working set is not replayed from cache.
fn stream_len(n: usize) -> usize {
    (2 * n).clamp(1 << 16, 1 << 20)
}

fn seed(mix: Mix, n: usize, threads: usize, t: usize) -> u64 {
    common::mix64(
        (mix as u64) << 56 ^ (n as u64) << 20 ^ (threads as u64) << 8 ^ t as u64 ^ 0xF1A5_4B00,
    )
}

/// Thread `t`'s op stream for one benchmark.
fn stream(mix: Mix, n: usize, threads: usize, t: usize, zipf: Option<&Zipf>) -> Vec<Step> {
    let mut rng = Rng::new(seed(mix, n, threads, t));
    let nn = n as u64;
    let value = |rng: &mut Rng| rng.below(VALUE_POOL as u64) as u32;
    match mix {
        Mix::RapidGrow => grow_stream(n, threads, t, &mut rng),
        Mix::ReadHeavy | Mix::Exchange => (0..stream_len(n))
            .map(|_| {
                let w = rng.below(100);
                let [r, i, d] = mix.thresholds();
                let (kind, span) = match w {
                    w if w < r => (Kind::Read, nn),
                    w if w < i => (Kind::Insert, 2 * nn),
                    w if w < d => (Kind::Remove, 2 * nn),
                    _ => (Kind::Update, nn),
                };
                let key = rng.below(span) as u32;
                Step {
                    kind,
                    key,
                    aux: value(&mut rng),
                }
            })
            .collect(),
        Mix::GetSetTtl => (0..stream_len(n))
            .map(|_| {
                let key = rng.below(nn) as u32;
                if rng.below(100) < 80 {
                    return Step {
                        kind: Kind::Get,
                        key,
                        aux: 0,
                    };
                }
                let ttl = if key % 2 == 0 {
                    1 + rng.below(ttl_max(n))
                } else {
                    0
                };
                let aux = (ttl as u32) << 10 | value(&mut rng);
                Step {
                    kind: Kind::Set,
                    key,
                    aux,
                }
            })
            .collect(),
        Mix::IncrZipf => {
            let zipf = zipf.expect("IncrZipf needs its distribution");
            (0..stream_len(n))
                .map(|_| {
                    let rank = zipf.sample(&mut rng) as u64;
                    let key = (rank * SCATTER % nn) as u32;
                    Step {
                        kind: Kind::Incr,
                        key,
                        aux: 0,
                    }
                })
                .collect()
        }
    }
}

/// RapidGrow: thread `t` inserts its share of a fixed permutation of
/// `0..n`; reads, updates and removes pick keys it already inserted.
fn grow_stream(n: usize, threads: usize, t: usize, rng: &mut Rng) -> Vec<Step> {
    let nn = n as u64;
    let own: Vec<u32> = (t..n)
        .step_by(threads)
        .map(|j| (j as u64 * SCATTER % nn) as u32)
        .collect();
    let len = (n * 5 / 4).div_ceil(threads);
    let (mut next, mut out) = (0usize, Vec::with_capacity(len));
    for _ in 0..len {
        let w = rng.below(100);
        let aux = rng.below(VALUE_POOL as u64) as u32;
        let seen = |rng: &mut Rng| match next {
            0 => own[0],
            k => own[rng.below(k as u64) as usize],
        };
        let step = match w {
            w if w < 5 => Step {
                kind: Kind::Read,
                key: seen(rng),
                aux,
            },
            w if w < 85 => {
                let key = own[next.min(own.len() - 1)];
                next = (next + 1).min(own.len());
                Step {
                    kind: Kind::Insert,
                    key,
                    aux,
                }
            }
            w if w < 90 => Step {
                kind: Kind::Remove,
                key: seen(rng),
                aux,
            },
            _ => Step {
                kind: Kind::Update,
                key: seen(rng),
                aux,
            },
        };
        out.push(step);
    }
    out
}

fn entry(values: &[Bytes], aux: u32, expires_at: Option<u64>) -> Entry {
    Entry::new(
        // Copied, as the server's SET does.
        Value::Str(values[(aux as usize) % VALUE_POOL][..].into()),
        expires_at,
    )
}

/// One operation; returns something derived from the result so the work
/// cannot be optimized away. `clock` is ops run so far (all threads).
#[inline]
fn apply<S: Store>(map: &S, keys: &[Bytes], values: &[Bytes], step: Step, clock: u64) -> usize {
    let key = &keys[step.key as usize];
    match step.kind {
        Kind::Read => map.read(key, |e| e.map_or(0, |e| e.value.payload_len())),
        Kind::Insert => usize::from(
            map.insert(key.clone(), entry(values, step.aux, None))
                .is_some(),
        ),
        Kind::Remove => usize::from(map.remove(key).is_some()),
        Kind::Update => map.compute(key, |cur| match cur {
            Some(_) => (Op::Put(entry(values, step.aux, None)), 1),
            None => (Op::Keep, 0),
        }),
        Kind::Get => get_reaping(map, key, CLOCK_BASE + clock / OPS_PER_MS),
        Kind::Set => {
            let ttl = u64::from(step.aux >> 10);
            let at = (ttl > 0).then(|| CLOCK_BASE + clock / OPS_PER_MS + ttl);
            map.compute(key, |_| (Op::Put(entry(values, step.aux, at)), 1))
        }
        Kind::Incr => incr(map, key),
    }
}

/// GET as `Keyspace::read` does it: a read, and for an expired entry a
/// `compute` that removes it if it is still expired.
fn get_reaping<S: Store>(map: &S, key: &[u8], now: u64) -> usize {
    let (len, expired) = map.read(key, |e| match e {
        Some(e) if e.is_expired(now) => (0, true),
        Some(e) => (e.value.payload_len(), false),
        None => (0, false),
    });
    if expired {
        map.compute(key, |cur| match cur {
            Some(e) if e.is_expired(now) => (Op::Remove, ()),
            _ => (Op::Keep, ()),
        });
    }
    len
}

/// INCR as the server does it: parse, add, format a new value.
fn incr<S: Store>(map: &S, key: &[u8]) -> usize {
    map.compute(key, |cur| {
        let old = cur
            .and_then(|e| match &e.value {
                Value::Str(b) => std::str::from_utf8(b).ok()?.parse::<i64>().ok(),
                _ => None,
            })
            .unwrap_or(0);
        let n = old.wrapping_add(1);
        let text = itoa::Buffer::new().format(n).as_bytes().into();
        let e = Entry::new(Value::Str(text), cur.and_then(|e| e.expires_at()));
        (Op::Put(e), n as usize)
    })
}

/// What the worker threads of one benchmark share.
struct Shared<S> {
    maps: Mutex<Arc<Vec<S>>>,
    streams: Vec<Vec<Step>>,
    keys: &'static [Bytes],
    threads: u64,
    /// RapidGrow: every map is grown from the start of the stream.
    restart: bool,
    /// Ops per thread per map in the next round.
    round_ops: AtomicU64,
    stop: AtomicBool,
    start: Barrier,
    end: Barrier,
}

/// Long-lived workers for one benchmark; dropping stops and joins them.
struct Pool<S: Store> {
    shared: Arc<Shared<S>>,
    workers: Vec<JoinHandle<()>>,
}

impl<S: Store> Pool<S> {
    fn new(mix: Mix, n: usize, threads: usize, keys: &'static [Bytes]) -> Pool<S> {
        let zipf = (mix == Mix::IncrZipf).then(|| Zipf::new(n, 0.99));
        let streams = (0..threads)
            .map(|t| stream(mix, n, threads, t, zipf.as_ref()))
            .collect();
        let maps = if mix == Mix::RapidGrow {
            Vec::new()
        } else {
            vec![prefill::<S>(mix, n, keys)]
        };
        let shared = Arc::new(Shared {
            maps: Mutex::new(Arc::new(maps)),
            streams,
            keys,
            threads: threads as u64,
            restart: mix == Mix::RapidGrow,
            round_ops: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            start: Barrier::new(threads + 1),
            end: Barrier::new(threads + 1),
        });
        let workers = (0..threads)
            .map(|t| {
                let sh = shared.clone();
                std::thread::spawn(move || worker(&sh, t))
            })
            .collect();
        Pool { shared, workers }
    }

    /// Release the workers for one round and time it.
    fn round(&self, ops_per_map: u64) -> Duration {
        self.shared.round_ops.store(ops_per_map, Ordering::Release);
        let t = Instant::now();
        self.shared.start.wait();
        self.shared.end.wait();
        t.elapsed()
    }

    fn run_steady(&self, iters: u64) -> Duration {
        self.round(iters * BATCH)
    }

    fn run_grow(&self, iters: u64, reps: usize) -> Duration {
        let len = self.shared.streams[0].len() as u64;
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let fresh: Vec<S> = (0..reps).map(|_| S::default()).collect();
            *self.shared.maps.lock().unwrap() = Arc::new(fresh);
            total += self.round(len);
            // Dropped here, outside the timed round.
            let grown = std::mem::take(&mut *self.shared.maps.lock().unwrap());
            drop(grown);
        }
        total
    }
}

impl<S: Store> Drop for Pool<S> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.start.wait();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker<S: Store>(sh: &Shared<S>, t: usize) {
    let stream = &sh.streams[t];
    let values = common::values();
    let (mut pos, mut executed, mut acc) = (0usize, 0u64, 0usize);
    loop {
        sh.start.wait();
        if sh.stop.load(Ordering::Acquire) {
            std::hint::black_box(acc);
            return;
        }
        let maps = sh.maps.lock().unwrap().clone();
        let ops = sh.round_ops.load(Ordering::Acquire);
        for map in maps.iter() {
            if sh.restart {
                pos = 0;
            }
            for _ in 0..ops {
                let step = stream[pos];
                acc = acc.wrapping_add(apply(map, sh.keys, values, step, executed * sh.threads));
                pos = if pos + 1 == stream.len() { 0 } else { pos + 1 };
                executed += 1;
            }
        }
        drop(maps);
        sh.end.wait();
        drain_epoch_garbage();
    }
}

/// A map pre-filled with keys `0..n` as the mix expects.
fn prefill<S: Store>(mix: Mix, n: usize, keys: &[Bytes]) -> S {
    let map = S::default();
    let values = common::values();
    let mut rng = Rng::new(seed(mix, n, 0, usize::MAX));
    for (i, key) in keys.iter().take(n).enumerate() {
        let e = match mix {
            Mix::IncrZipf => Entry::string(Bytes::copy_from_slice(
                itoa::Buffer::new().format(i % 1000).as_bytes(),
            )),
            Mix::GetSetTtl if i % 2 == 0 => {
                let at = CLOCK_BASE + 1 + rng.below(ttl_max(n));
                entry(values, i as u32, Some(at))
            }
            _ => entry(values, i as u32, None),
        };
        map.insert(key.clone(), e);
    }
    drain_epoch_garbage();
    map
}

/// The 2N-key universe for a key count, generated once per process.
fn universe(n: usize) -> &'static [Bytes] {
    static CACHE: Mutex<Vec<(usize, &'static [Bytes])>> = Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap();
    if let Some(&(_, keys)) = cache.iter().find(|(k, _)| *k == n) {
        return keys;
    }
    let keys: &'static [Bytes] = Vec::leak(common::static_keys(2 * n));
    cache.push((n, keys));
    keys
}

/// Everything one run needs besides criterion.
struct Run {
    settings: Settings,
    threads: Vec<usize>,
    progress: Progress,
}

fn bench_id(mix: Mix, n: usize, store: &str, threads: usize) -> String {
    format!("{}-{}/{store}/{threads}", mix.name(), count_label(n))
}

/// The generic body: one mix, one key count, one store, every thread count.
fn bench_mix<S: Store>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    mix: Mix,
    n: usize,
    run: &mut Run,
) {
    for &threads in &run.threads.clone() {
        let id = bench_id(mix, n, S::NAME, threads);
        if !run.settings.selects(&id) {
            continue;
        }
        run.progress.next(&id);
        let pool = Pool::<S>::new(mix, n, threads, universe(n));
        let reps = (65_536 / n).max(1);
        let per_iter = match mix {
            Mix::RapidGrow => (reps * pool.shared.streams[0].len() * threads) as u64,
            _ => BATCH * threads as u64,
        };
        group.throughput(Throughput::Elements(per_iter));
        group.bench_function(BenchmarkId::new(S::NAME, threads), |b| {
            b.iter_custom(|iters| match mix {
                Mix::RapidGrow => pool.run_grow(iters, reps),
                _ => pool.run_steady(iters),
            })
        });
    }
}

fn store_names() -> Vec<&'static str> {
    fn push<S: Store>(v: &mut Vec<&'static str>) {
        v.push(S::NAME);
    }
    let mut v = Vec::new();
    for_each_store!(push(&mut v));
    v
}

fn main() {
    let mut settings = Settings::from_env();
    if settings.filter.is_none() {
        settings.filter = common::criterion_filter();
    }
    let threads = common::thread_counts();
    let keys = common::key_counts();
    let names = store_names();
    let planned = keys
        .iter()
        .flat_map(|&n| MIXES.iter().map(move |&m| (n, m)))
        .flat_map(|(n, m)| names.iter().map(move |s| (n, m, *s)))
        .flat_map(|(n, m, s)| threads.iter().map(move |&t| bench_id(m, n, s, t)))
        .filter(|id| settings.selects(id))
        .count();
    eprintln!(
        "store bench: {planned} benchmarks, threads {threads:?}, keys {keys:?}, \
         warm-up {:?} + measurement {:?} each, {} samples; {}",
        settings.warm_up,
        settings.measure,
        settings.samples,
        common::machine_line()
    );
    let mut c = settings.criterion();
    let mut run = Run {
        settings,
        threads,
        progress: Progress::new(planned),
    };
    for &n in &keys {
        for &mix in &MIXES {
            let mut group = c.benchmark_group(format!("{}-{}", mix.name(), count_label(n)));
            if mix == Mix::RapidGrow {
                group.sampling_mode(SamplingMode::Flat);
            }
            for_each_store!(bench_mix(&mut group, mix, n, &mut run));
            group.finish();
        }
    }
    c.final_summary();
}
