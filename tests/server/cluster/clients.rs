//! Clients and tools that were not written here: redis-py's RedisCluster,
//! the `redis` crate's cluster client, twemproxy (nutcracker) in front of
//! independent nodes, and redis-server nodes sharing one cluster bus with
//! a FlashKV node.

use flashkv::Store;

use super::*;
use crate::differential::differential_between;

fn three_nodes<S: Store>() -> Vec<TestServer> {
    let nodes: Vec<TestServer> = (0..3).map(|_| start_node::<S>().0).collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|s| s.addr).collect();
    create_cluster(&addrs);
    nodes
}

fn redis_py_available() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .status();
    if probe.is_ok_and(|s| s.success()) {
        return true;
    }
    assert!(
        std::env::var("FLASHKV_REQUIRE_REDIS").as_deref() != Ok("1"),
        "redis-py is required but missing"
    );
    eprintln!("SKIPPED: redis-py is not installed (pip install redis)");
    false
}

/// Run `redis_py_cluster.py` against the cluster `port` belongs to.
fn redis_py(port: u16) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/server/cluster/redis_py_cluster.py"
    );
    let out = output_within(
        Command::new("python3").args([script, &port.to_string()]),
        None,
        Duration::from_secs(240),
    );
    assert!(
        out.status.success(),
        "redis-py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes, a reshard behind the clients' backs, and reads that must
/// follow MOVED (the script checks that their slot maps were stale).
pub(super) fn redis_py_follows_a_reshard<S: Store>() {
    if !redis_server_available("redis_py_follows_a_reshard") || !redis_py_available() {
        return;
    }
    let nodes = three_nodes::<S>();
    redis_py(nodes[0].addr.port());
}

/// Move `slots` slots from `from` to `to` with redis-cli.
fn reshard(from: SocketAddr, to: SocketAddr, slots: usize) {
    let id = |a: SocketAddr| text(&RawClient::connect(a).cmd("CLUSTER MYID"));
    let out = redis_cli(&[
        "--cluster",
        "reshard",
        &from.to_string(),
        "--cluster-from",
        &id(from),
        "--cluster-to",
        &id(to),
        "--cluster-slots",
        &slots.to_string(),
        "--cluster-yes",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The `redis` crate's cluster client routes by slot (keys on every node,
/// a pipeline across slots), then follows MOVED after a reshard.
pub(super) fn the_redis_crate_routes_by_slot<S: Store>() {
    if !redis_server_available("the_redis_crate_routes_by_slot") {
        return;
    }
    let nodes = three_nodes::<S>();
    let urls: Vec<String> = nodes
        .iter()
        .map(|s| format!("redis://{}", s.addr))
        .collect();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut con = client.get_connection().unwrap();
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("item:{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let mut pipe = redis::cluster::cluster_pipe();
    for i in 0..300 {
        pipe.cmd("GET").arg(format!("item:{i}"));
    }
    let got: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(got, (0..300).collect::<Vec<i64>>());
    let sizes: Vec<i64> = nodes.iter().map(|s| dbsize(s.addr)).collect();
    assert!(sizes.iter().all(|&n| n > 50), "{sizes:?}");
    // Slots move behind the connection's back: the same connection reads
    // every key by following MOVED, then pipelines across slots again.
    // (The crate's synchronous cluster pipeline returns a MOVED error
    // instead of following it, with Redis clusters too: redis-rs issue
    // 1814. A single command follows it and refreshes the slot map.)
    reshard(nodes[2].addr, nodes[0].addr, 2000);
    let sizes_after: Vec<i64> = nodes.iter().map(|s| dbsize(s.addr)).collect();
    assert!(
        sizes_after[2] < sizes[2],
        "nothing moved: {sizes:?} {sizes_after:?}"
    );
    for i in 0..300 {
        let v: i64 = redis::cmd("GET")
            .arg(format!("item:{i}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(v, i);
    }
    let got: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(got, (0..300).collect::<Vec<i64>>());
}

/// One FlashKV node and two redis-server nodes joined by redis-cli: the
/// bus speaks Redis's own format both ways. The FlashKV node and a Redis
/// node then answer the same redirections byte for byte.
pub(super) fn shares_a_bus_with_redis_server<S: Store>() {
    let test = "shares_a_bus_with_redis_server";
    let (Some(r1), Some(r2)) = (redis_node(test), redis_node(test)) else {
        return;
    };
    let (ours, _) = start_node::<S>();
    let addrs = [ours.addr, r1.addr, r2.addr];
    create_cluster(&addrs);
    let out = redis_cli(&["--cluster", "check", &r2.addr.to_string()]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("[OK] All nodes agree about slots configuration."),
        "{shown}"
    );
    let mut router = Router::new(r1.addr);
    for i in 0..200 {
        let k = format!("mixed:{i}");
        assert_eq!(router.cmd(&[b"SET", k.as_bytes(), k.as_bytes()]), ok());
    }
    let mut reader = Router::new(ours.addr);
    for i in 0..200 {
        let k = format!("mixed:{i}");
        assert_eq!(reader.cmd(&[b"GET", k.as_bytes()]), bulk(&k));
    }
    // foo (12182) is the third node's: both others redirect alike.
    let script = "GET foo\nMSET foo 1 {t}a 2\nMULTI\nSET foo 1\nEXEC\n\
         EVAL \"return redis.call('get','foo')\" 0\nCLUSTER KEYSLOT foo\n\
         CLUSTER COUNTKEYSINSLOT 12182\nsort CLUSTER SLOTS\n";
    differential_between(test, script, ours.addr, r1.addr);
}

/// twemproxy (nutcracker) in front of three independent FlashKV servers:
/// keys spread by consistent hashing, multi-key commands split by the
/// proxy, and a stopped server ejected while the others keep serving.
pub(super) fn serves_behind_twemproxy<S: Store>() {
    // Debian installs it in /usr/sbin, which a user's PATH may lack.
    let bin = ["nutcracker", "/usr/sbin/nutcracker"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok());
    let Some(bin) = bin else {
        assert!(
            std::env::var("FLASHKV_REQUIRE_REDIS").as_deref() != Ok("1"),
            "nutcracker is required but missing (apt-get install nutcracker)"
        );
        eprintln!("SKIPPED: nutcracker is not installed");
        return;
    };
    let mut servers: Vec<TestServer> = (0..3).map(|_| TestServer::start::<S>()).collect();
    let dir = fresh_dir("twemproxy");
    let port = free_port();
    let pool: String = servers
        .iter()
        .map(|s| format!("    - {}:1\n", s.addr))
        .collect();
    let conf = format!(
        "flashkv:\n  listen: 127.0.0.1:{port}\n  hash: md5\n  distribution: ketama\n  \
         redis: true\n  auto_eject_hosts: true\n  server_retry_timeout: 30000\n  \
         server_failure_limit: 1\n  timeout: 400\n  servers:\n{pool}"
    );
    std::fs::write(dir.join("nutcracker.yml"), conf).unwrap();
    let proxy = Command::new(bin)
        .args([
            "-c",
            &dir.join("nutcracker.yml").display().to_string(),
            "-s",
            &free_port().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _proxy = Killed(proxy);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = eventually(Duration::from_secs(5), || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    assert!(up, "nutcracker did not start");
    let mut c = RawClient::connect(addr);
    for i in 0..300 {
        assert_eq!(c.cmd(&format!("SET tw:{i} {i}")), ok());
    }
    let mget: Vec<String> = (0..50).map(|i| format!("tw:{i}")).collect();
    let want = Frame::Array((0..50).map(|i| bulk(&i.to_string())).collect());
    assert_eq!(c.cmd(&format!("MGET {}", mget.join(" "))), want);
    assert_eq!(c.cmd(&format!("DEL {}", mget.join(" "))), int(50));
    let sizes: Vec<i64> = servers.iter().map(|s| dbsize(s.addr)).collect();
    assert_eq!(sizes.iter().sum::<i64>(), 250);
    assert!(
        sizes.iter().all(|&n| n > 30),
        "consistent hashing spreads keys: {sizes:?}"
    );
    // One server goes away: after its first failure it is ejected, and
    // every key is served by the two left.
    servers.pop().unwrap().stop().unwrap();
    let served = eventually(Duration::from_secs(10), || {
        let mut c = RawClient::connect(addr);
        (0..100).all(|i| c.cmd(&format!("SET after:{i} {i}")) == ok())
    });
    assert!(served, "the proxy never ejected the stopped server");
    let mut c = RawClient::connect(addr);
    for i in 0..100 {
        assert_eq!(c.cmd(&format!("GET after:{i}")), bulk(&i.to_string()));
    }
}

/// A child process killed (by its own handle) when the test ends, even
/// by a panic.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
