//! Real clients, unchanged: the `redis` crate (sync and async, pipelined),
//! redis-cli, redis-benchmark, redis-py, and the embedding example.

use std::process::{Command, Stdio};
use std::time::Duration;

use flashkv::Store;

use crate::backends;
use crate::common::*;

#[path = "../../examples/embedded.rs"]
mod embedded;

fn redis_crate_sync_and_pipelined<S: Store>() {
    let server = TestServer::start::<S>();
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    let () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("INCR").arg("counter").ignore();
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    pipe.cmd("GET").arg("counter");
    let (counter,): (i64,) = pipe.query(&mut con).unwrap();
    assert_eq!(counter, 100);
    let missing: Option<String> = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
    assert_eq!(missing, None);
    let e = redis::cmd("INCR")
        .arg("k")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("not an integer"), "{e}");
}

fn redis_crate_async_and_resp3<S: Store>() {
    let server = TestServer::start::<S>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for protocol in ["", "?protocol=resp3"] {
            let client =
                redis::Client::open(format!("redis://{}/{protocol}", server.addr)).unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let () = redis::cmd("SET")
                .arg("a")
                .arg("1")
                .query_async(&mut con)
                .await
                .unwrap();
            let (a, n): (String, i64) = redis::pipe()
                .cmd("GET")
                .arg("a")
                .cmd("INCRBY")
                .arg("n")
                .arg(5)
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(a, "1");
            assert!(n >= 5);
            let none: Option<String> = redis::cmd("GET")
                .arg("missing")
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(none, None);
        }
    });
}

/// Run an external client; `None` when it is not installed (and not
/// required).
fn run_tool(tool: &str, args: &[&str], stdin: Option<&[u8]>) -> Option<String> {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("FLASHKV_REQUIRE_REDIS").as_deref() != Ok("1"),
            "{tool} is required but missing"
        );
        eprintln!("SKIPPED: {tool} is not installed");
        return None;
    }
    let out = output_within(
        Command::new(tool).args(args),
        Some(stdin.unwrap_or_default()),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn redis_cli_works<S: Store>() {
    let server = TestServer::start::<S>();
    let port = server.addr.port().to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["-h", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        run_tool("redis-cli", &all, None)
    };
    let Some(out) = cli(&["SET", "greeting", "hello world"]) else {
        return;
    };
    assert_eq!(out, "OK\n");
    assert_eq!(cli(&["GET", "greeting"]).unwrap(), "hello world\n");
    assert_eq!(cli(&["INCRBYFLOAT", "f", "10.5"]).unwrap(), "10.5\n");
    assert_eq!(cli(&["--no-raw", "GET", "nokey"]).unwrap(), "(nil)\n");
    assert_eq!(cli(&["-3", "--no-raw", "GET", "nokey"]).unwrap(), "(nil)\n");
    // Mass insertion with --pipe, then --scan.
    let mut proto = Vec::new();
    for i in 0..1000 {
        proto.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\nkey:{i}\r\n$1\r\nv\r\n",
                format!("key:{i}").len()
            )
            .as_bytes(),
        );
    }
    let piped = run_tool("redis-cli", &["-p", &port, "--pipe"], Some(&proto)).unwrap();
    assert!(piped.contains("errors: 0, replies: 1000"), "{piped}");
    let scanned = cli(&["--scan", "--pattern", "key:*"]).unwrap();
    assert_eq!(scanned.lines().count(), 1000);
    assert_eq!(cli(&["DBSIZE"]).unwrap(), "1002\n");
}

fn redis_benchmark_works<S: Store>() {
    let server = TestServer::start::<S>();
    let port = server.addr.port().to_string();
    for pipeline in ["1", "16"] {
        let args = [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "set,get,incr,mset,lpush,rpush,lpop,rpop,lrange_100",
            "-n",
            "2000",
            "-c",
            "4",
            "-P",
            pipeline,
            "-q",
        ];
        let Some(out) = run_tool("redis-benchmark", &args, None) else {
            return;
        };
        for test in [
            "SET",
            "GET",
            "INCR",
            "MSET",
            "LPUSH",
            "RPUSH",
            "LPOP",
            "RPOP",
            "LRANGE_100",
        ] {
            assert!(
                out.lines()
                    .any(|l| l.contains(test) && l.contains("requests per second")),
                "{test} missing in {out}"
            );
        }
        assert!(!out.contains("ERR"), "{out}");
    }
}

fn redis_py_works<S: Store>() {
    let probe = Command::new("python3")
        .args(["-c", "import redis"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var("FLASHKV_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-py is required but missing"
        );
        eprintln!("SKIPPED: redis-py is not installed (pip install redis)");
        return;
    }
    let server = TestServer::start::<S>();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/server/redis_py_check.py"
    );
    let out = output_within(
        Command::new("python3")
            .arg(script)
            .arg(server.addr.port().to_string()),
        None,
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "redis-py check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn embedding_example_runs<S: Store>() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let greeting = rt.block_on(embedded::demo::<S>()).unwrap();
    assert_eq!(greeting, "hello from FlashKV");
}

/// CLIENT INFO's `laddr` is the address the client connected to (taken
/// from the listener when it is bound to one address, without a syscall).
fn client_info_shows_the_local_address<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let info = text(&c.cmd("CLIENT INFO"));
    assert!(info.contains(&format!(" laddr={} ", server.addr)), "{info}");
}

/// CLIENT LIST's `qbuf-free`: the room of the query buffer a client keeps
/// between requests (Redis's 16 KB `PROTO_IOBUF_LEN`), 0 once the cron took
/// it back from the idle client (Redis's query buffer resize).
fn client_list_shows_the_kept_query_buffer<S: Store>() {
    let server = TestServer::start::<S>();
    let (mut c, mut other) = (server.client(), server.client());
    let room = |c: &mut RawClient| {
        let list = text(&c.cmd("CLIENT LIST"));
        let line = list
            .lines()
            .find(|l| l.contains(" name=other "))
            .unwrap()
            .to_string();
        let field = |f: &str| -> usize {
            let at = line.find(&format!(" {f}=")).unwrap() + f.len() + 2;
            line[at..].split(' ').next().unwrap().parse().unwrap()
        };
        field("qbuf") + field("qbuf-free")
    };
    // Up to three tries: a stalled test thread may miss the busy moment.
    let busy = (0..3)
        .map(|_| {
            assert_eq!(other.cmd("CLIENT SETNAME other"), ok());
            room(&mut c)
        })
        .max()
        .unwrap();
    assert!((16384..32768).contains(&busy), "kept query buffer {busy}");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(room(&mut c), 0, "an idle client keeps no query buffer");
}

backends!(
    client_list_shows_the_kept_query_buffer,
    client_info_shows_the_local_address,
    redis_crate_sync_and_pipelined,
    redis_crate_async_and_resp3,
    redis_cli_works,
    redis_benchmark_works,
    redis_py_works,
    embedding_example_runs,
);
