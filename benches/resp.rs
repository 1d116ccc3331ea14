//! RESP codec throughput: the request decoder and the reply/request
//! encoders, for small commands, deep pipelines and large bulk strings.
//!
//! IDs are `resp-decode/<case>`, `resp-encode/<case>` and
//! `request-path/<backend>/<case>`; the last runs a request the whole way a
//! connection runs it, without sockets: decode, dispatch (lookup, parse,
//! execute on the backend), encode. Command-shaped
//! cases report `Throughput::Elements` (commands or frames per second);
//! bulk cases report `Throughput::Bytes`. Decoding inputs are copied into a
//! fresh `BytesMut` in criterion's untimed batch set-up, except the
//! `chunked` case, which times a connection's loop: append one 16 KiB read
//! to the buffer, try to decode, repeat (so the copy is part of it).

#[macro_use]
mod common;

use bytes::{Bytes, BytesMut};
use common::Settings;
use criterion::{BatchSize, BenchmarkGroup, Criterion, Throughput};
use flashkv::cmd::{run_inline, Executor};
use flashkv::protocol::{encode, encode_request, DecodeLimits, Decoder, Protocol};
use flashkv::state::{ServerState, Session};
use flashkv::{Clock, Config, Db, Frame, Store};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// A pipeline of `n` requests alternating GET and SET (16-byte values).
fn pipeline(n: usize) -> Bytes {
    let mut out = BytesMut::new();
    for i in 0..n {
        let key = format!("user:{i}:session");
        if i % 2 == 0 {
            encode_request(&[&b"GET"[..], key.as_bytes()], &mut out);
        } else {
            encode_request(
                &[&b"SET"[..], key.as_bytes(), b"0123456789abcdef"],
                &mut out,
            );
        }
    }
    out.freeze()
}

fn big_set(len: usize) -> Bytes {
    let value = vec![b'x'; len];
    let mut out = BytesMut::new();
    encode_request(&[&b"SET"[..], b"blob:1", &value], &mut out);
    out.freeze()
}

/// Decode every request in a copy of `input`; returns the request count.
fn decode_all(mut buf: BytesMut) -> usize {
    let mut dec = Decoder::new();
    let mut n = 0;
    while let Some(args) = dec.decode(&mut buf, DecodeLimits::default()).unwrap() {
        n += args.len();
    }
    n
}

fn decode_case(g: &mut Group<'_>, s: &Settings, name: &str, input: Bytes, t: Throughput) {
    if !s.selects(&format!("resp-decode/{name}")) {
        return;
    }
    g.throughput(t);
    g.bench_function(name, |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            decode_all,
            BatchSize::LargeInput,
        )
    });
}

fn decode(c: &mut Criterion, s: &Settings) {
    let mut g = c.benchmark_group("resp-decode");
    let get = pipeline(1);
    decode_case(&mut g, s, "get-1", get, Throughput::Elements(1));
    decode_case(
        &mut g,
        s,
        "pipeline-16",
        pipeline(16),
        Throughput::Elements(16),
    );
    decode_case(
        &mut g,
        s,
        "pipeline-1000",
        pipeline(1000),
        Throughput::Elements(1000),
    );
    let big = big_set(1 << 20);
    let bytes = big.len() as u64;
    decode_case(&mut g, s, "set-1MiB", big.clone(), Throughput::Bytes(bytes));
    if s.selects("resp-decode/set-1MiB-chunked") {
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function("set-1MiB-chunked", |b| {
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(16 * 1024);
                let mut dec = Decoder::new();
                let mut got = 0;
                for chunk in big.chunks(16 * 1024) {
                    buf.extend_from_slice(chunk);
                    if let Some(args) = dec.decode(&mut buf, DecodeLimits::default()).unwrap() {
                        got += args.len();
                    }
                }
                assert_eq!(got, 3);
            })
        });
    }
    g.finish();
}

fn encode_case(g: &mut Group<'_>, s: &Settings, name: &str, frame: Frame, t: Throughput) {
    if !s.selects(&format!("resp-encode/{name}")) {
        return;
    }
    g.throughput(t);
    let mut out = BytesMut::new();
    g.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            encode(std::hint::black_box(&frame), Protocol::Resp2, &mut out);
            out.len()
        })
    });
}

fn encode_all(c: &mut Criterion, s: &Settings) {
    let mut g = c.benchmark_group("resp-encode");
    encode_case(&mut g, s, "ok", Frame::ok(), Throughput::Elements(1));
    let v100 = Frame::bulk(Bytes::from(vec![b'v'; 100]));
    encode_case(&mut g, s, "bulk-100B", v100, Throughput::Elements(1));
    let items = (0..1000)
        .map(|i| Frame::bulk(Bytes::from(format!("value-{i:026}"))))
        .collect();
    encode_case(
        &mut g,
        s,
        "array-1000",
        Frame::Array(items),
        Throughput::Elements(1000),
    );
    let big = Frame::bulk(Bytes::from(vec![b'x'; 1 << 20]));
    encode_case(&mut g, s, "bulk-1MiB", big, Throughput::Bytes(1 << 20));
    if s.selects("resp-encode/request-pipeline-16") {
        g.throughput(Throughput::Elements(16));
        let mut out = BytesMut::new();
        let keys: Vec<String> = (0..16).map(|i| format!("user:{i}:session")).collect();
        g.bench_function("request-pipeline-16", |b| {
            b.iter(|| {
                out.clear();
                for k in &keys {
                    encode_request(&[&b"SET"[..], k.as_bytes(), b"0123456789abcdef"], &mut out);
                }
                out.len()
            })
        });
    }
    g.finish();
}

/// Decode every request of `input`, run each through the dispatcher and
/// encode each reply, as a connection's batch does.
fn request_path<S: Store>(c: &mut Criterion, s: &Settings) {
    let mut g = c.benchmark_group("request-path");
    let config = Config::default();
    let db = Db::<S>::new(
        config.databases,
        Clock::manual(1_700_000_000_000),
        config.expiry,
    );
    let state = std::sync::Arc::new(ServerState::new(config, db, 6379));
    let addr = "127.0.0.1:1".parse().unwrap();
    let handle = state.clients.register(addr, addr, -1, usize::MAX).unwrap();
    let mut session = Session::new(handle);
    session.authenticated = true;
    let exec = Executor::with_all_commands(state);
    let mut client = exec.client(session);
    // Every key the cases read exists, as in a warmed-up server.
    let mut fill = BytesMut::from(&pipeline(16)[..]);
    let mut dec = Decoder::new();
    while let Some(argv) = dec.decode(&mut fill, DecodeLimits::default()).unwrap() {
        let mut argv = argv;
        argv[0] = Bytes::from_static(b"SET");
        argv.truncate(2);
        argv.push(Bytes::from_static(b"0123456789abcdef"));
        run_inline(&exec, &mut client, argv);
    }
    for (case, input, n) in [
        ("get-1", pipeline(1), 1),
        ("set-1", pipeline(2).slice(pipeline(1).len()..), 1),
        ("pipeline-16", pipeline(16), 16),
    ] {
        let id = format!("{}/{case}", S::NAME);
        if !s.selects(&format!("request-path/{id}")) {
            continue;
        }
        g.throughput(Throughput::Elements(n));
        let mut out = BytesMut::with_capacity(16 * 1024);
        g.bench_function(id, |b| {
            b.iter_batched(
                || BytesMut::from(&input[..]),
                |mut buf| {
                    out.clear();
                    let mut dec = Decoder::new();
                    while let Some(argv) = dec.decode(&mut buf, DecodeLimits::default()).unwrap() {
                        let reply = run_inline(&exec, &mut client, argv);
                        encode(&reply, Protocol::Resp2, &mut out);
                    }
                    out.len()
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn main() {
    let mut settings = Settings::from_env();
    if settings.filter.is_none() {
        settings.filter = common::criterion_filter();
    }
    eprintln!(
        "resp bench: warm-up {:?} + measurement {:?} each, {} samples; {}",
        settings.warm_up,
        settings.measure,
        settings.samples,
        common::machine_line()
    );
    let mut c = settings.criterion();
    decode(&mut c, &settings);
    encode_all(&mut c, &settings);
    for_each_backend!(request_path(&mut c, &settings));
    c.final_summary();
}
