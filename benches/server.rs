//! End to end over loopback: an in-process FlashKV server per backend (port
//! 0, its own multi-threaded Tokio runtime with one worker per core) and one
//! blocking client on the bench thread sending GET or SET, one request at a
//! time (`P1`) or pipelined sixteen deep (`P16`).
//!
//! IDs are `server-<CMD>/<backend>/P<depth>`; throughput is requests/s
//! (`Throughput::Elements`). Each iteration writes one batch of `depth`
//! requests with one `write` and reads until all `depth` replies have been
//! parsed. Keys are drawn (seeded) from 10,000 pre-filled Redis-shaped
//! keys; SET values are 16 bytes. Client and server share the machine's
//! cores, as redis-benchmark and the server do in `scripts/bench-vs-redis`.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use bytes::BytesMut;
use common::{Rng, Settings};
use criterion::{BenchmarkId, Criterion, Throughput};
use flashkv::protocol::{encode_request, parse_frame};
use flashkv::{server, Config, Store};

const KEYS: usize = 10_000;
const DEPTHS: [usize; 2] = [1, 16];
const COMMANDS: [&str; 2] = ["GET", "SET"];
/// Distinct pre-encoded batches cycled through per (command, depth).
const BATCHES: usize = 512;

/// A blocking RESP client over one connection.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the bench server");
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Send one batch and wait for `replies` complete replies.
    fn round_trip(&mut self, batch: &[u8], replies: usize) {
        self.stream.write_all(batch).unwrap();
        let mut got = 0;
        let mut start = 0;
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        while got < replies {
            while let Some((frame, used)) = parse_frame(&self.buf[start..]).unwrap() {
                assert!(!matches!(frame, flashkv::Frame::Error(_)), "{frame:?}");
                start += used;
                got += 1;
                if got == replies {
                    return;
                }
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// `BATCHES` pre-encoded batches of `depth` commands over random keys.
fn batches(cmd: &str, depth: usize, keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(0xBA7C_0000 ^ depth as u64 ^ u64::from(cmd == "SET") << 32);
    (0..BATCHES)
        .map(|_| {
            let mut out = BytesMut::new();
            for _ in 0..depth {
                let k = &keys[rng.below(keys.len() as u64) as usize][..];
                match cmd {
                    "GET" => encode_request(&[&b"GET"[..], k], &mut out),
                    _ => encode_request(&[&b"SET"[..], k, b"0123456789abcdef"], &mut out),
                }
            }
            out.to_vec()
        })
        .collect()
}

fn prefill(client: &mut Client, keys: &[Vec<u8>]) {
    for chunk in keys.chunks(500) {
        let mut out = BytesMut::new();
        for k in chunk {
            encode_request(&[&b"SET"[..], &k[..], b"0123456789abcdef"], &mut out);
        }
        client.round_trip(&out, chunk.len());
    }
}

/// Start a server for backend `S`, run every (command, depth) against it,
/// stop it.
fn bench_backend<S: Store>(
    c: &mut Criterion,
    settings: &Settings,
    progress: &mut common::Progress,
) {
    let ids: Vec<(&str, usize, String)> = COMMANDS
        .iter()
        .flat_map(|&cmd| DEPTHS.iter().map(move |&d| (cmd, d)))
        .map(|(cmd, d)| (cmd, d, format!("server-{cmd}/{}/P{d}", S::NAME)))
        .filter(|(_, _, id)| settings.selects(id))
        .collect();
    if ids.is_empty() {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = {
        let _ctx = rt.enter();
        server::bind("127.0.0.1:0".parse().unwrap(), 511).expect("bind 127.0.0.1:0")
    };
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = rt.spawn(server::run::<S>(vec![listener], Config::default(), async {
        let _ = stopped.await;
    }));
    let keys: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| {
            let mut k = Vec::new();
            common::key_for(i, &mut k);
            k
        })
        .collect();
    let mut client = Client::connect(addr);
    prefill(&mut client, &keys);
    for (cmd, depth, id) in ids {
        progress.next(&id);
        let work = batches(cmd, depth, &keys);
        let mut group = c.benchmark_group(format!("server-{cmd}"));
        group.throughput(Throughput::Elements(depth as u64));
        let mut next = 0;
        group.bench_function(BenchmarkId::new(S::NAME, format!("P{depth}")), |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    client.round_trip(&work[next], depth);
                    next = (next + 1) % BATCHES;
                }
                t.elapsed()
            })
        });
        group.finish();
    }
    drop(client);
    let _ = stop.send(());
    rt.block_on(handle).unwrap().unwrap();
}

fn name_of<S: Store>(names: &mut Vec<&'static str>) {
    names.push(S::NAME);
}

fn main() {
    let mut settings = Settings::from_env();
    if settings.filter.is_none() {
        settings.filter = common::criterion_filter();
    }
    let mut names = Vec::new();
    for_each_backend!(name_of(&mut names));
    let planned = names.len() * COMMANDS.len() * DEPTHS.len();
    eprintln!(
        "server bench: up to {planned} benchmarks, warm-up {:?} + measurement {:?} each, \
         {} samples; {}",
        settings.warm_up,
        settings.measure,
        settings.samples,
        common::machine_line()
    );
    let mut c = settings.criterion();
    let mut progress = common::Progress::new(planned);
    for_each_backend!(bench_backend(&mut c, &settings, &mut progress));
    c.final_summary();
}
