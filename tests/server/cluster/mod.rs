//! Cluster mode: one node compared with a redis-server cluster node, three
//! FlashKV nodes joined and resharded by `redis-cli --cluster`, a cluster
//! mixing FlashKV and redis-server nodes on one bus, failure and restart,
//! real cluster clients, and twemproxy in front of independent nodes.

mod clients;
mod nodes;
mod single;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::state::cluster::key_slot;
use flashkv::{Config, Store};

use crate::common::*;
use clients::*;
use nodes::*;
use single::*;

crate::backends!(
    single_node_matches_redis,
    the_bus_shrugs_off_garbage,
    migrate_matches_redis,
    migrate_keeps_its_connection,
    serve_redirect_and_agree,
    reshard_loses_no_acknowledged_write,
    a_migrate_without_key_locks_is_caught,
    a_stopped_node_fails_its_slots,
    topology_survives_a_restart,
    a_blocked_client_follows_its_slot,
    redis_py_follows_a_reshard,
    the_redis_crate_routes_by_slot,
    shares_a_bus_with_redis_server,
    serves_behind_twemproxy,
);

/// A node's configuration: cluster mode, its own directory and bus port,
/// a node timeout long enough for a loaded CI machine (the failure test
/// shortens it).
pub fn node_config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.cluster.enabled = true;
    config.cluster.port = free_port();
    config.cluster.node_timeout = 5000;
    config.dir = dir.display().to_string();
    config
}

/// A FlashKV cluster node (no slots yet) and its directory.
pub fn start_node<S: Store>() -> (TestServer, Config) {
    let config = node_config(&fresh_dir("cluster-node"));
    (
        TestServer::with_config::<S>(config.clone(), flashkv::Clock::System),
        config,
    )
}

/// A redis-server cluster node.
pub fn redis_node(test: &str) -> Option<RedisServer> {
    let cport = free_port().to_string();
    RedisServer::start_with(
        test,
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &cport,
            "--cluster-node-timeout",
            "5000",
        ],
    )
}

/// Run redis-cli with `args`, for at most two minutes (`--cluster create`
/// waits without end for a cluster that never agrees).
pub fn redis_cli(args: &[&str]) -> Output {
    output_within(
        Command::new("redis-cli").args(args),
        None,
        Duration::from_secs(120),
    )
}

/// `redis-cli --cluster create` over `addrs` (masters only); panics with
/// its output unless every slot ends up covered.
pub fn create_cluster(addrs: &[SocketAddr]) {
    let mut args = vec!["--cluster".to_string(), "create".to_string()];
    args.extend(addrs.iter().map(|a| a.to_string()));
    args.push("--cluster-yes".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = redis_cli(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("[OK] All 16384 slots covered."),
        "redis-cli --cluster create failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_ok(addrs);
}

/// Wait until every node says `cluster_state:ok`.
pub fn wait_ok(addrs: &[SocketAddr]) {
    for &addr in addrs {
        let ok = eventually(Duration::from_secs(15), || {
            cluster_info(addr).contains("cluster_state:ok")
        });
        assert!(
            ok,
            "{addr} never reached cluster_state:ok:\n{}",
            cluster_info(addr)
        );
    }
}

/// DBSIZE of `addr`.
pub fn dbsize(addr: SocketAddr) -> i64 {
    match RawClient::connect(addr).cmd("DBSIZE") {
        Frame::Integer(n) => n,
        f => panic!("DBSIZE: {f:?}"),
    }
}

/// CLUSTER INFO of `addr`.
pub fn cluster_info(addr: SocketAddr) -> String {
    text(&RawClient::connect(addr).cmd("CLUSTER INFO"))
}

/// A minimal cluster client: sends each command to the node it believes
/// serves the key's slot and follows MOVED (remembered), ASK (once, with
/// ASKING) and TRYAGAIN (after a pause), as cluster clients do.
pub struct Router {
    seed: SocketAddr,
    slots: HashMap<u16, SocketAddr>,
    conns: HashMap<SocketAddr, RawClient>,
}

impl Router {
    pub fn new(seed: SocketAddr) -> Router {
        Router {
            seed,
            slots: HashMap::new(),
            conns: HashMap::new(),
        }
    }

    fn conn(&mut self, addr: SocketAddr) -> &mut RawClient {
        self.conns
            .entry(addr)
            .or_insert_with(|| RawClient::connect(addr))
    }

    /// Run a command whose key is `args[1]`.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Frame {
        let slot = key_slot(args[1]);
        let mut addr = *self.slots.get(&slot).unwrap_or(&self.seed);
        let mut asking = false;
        for _ in 0..50 {
            let conn = self.conn(addr);
            if std::mem::take(&mut asking) {
                conn.cmd("ASKING");
            }
            let reply = conn.cmd_args(args);
            let Frame::Error(e) = &reply else {
                return reply;
            };
            let e = String::from_utf8_lossy(e).to_string();
            let mut words = e.split(' ');
            match (words.next(), words.nth(1)) {
                (Some("MOVED"), Some(to)) => {
                    addr = to.parse().expect("MOVED address");
                    self.slots.insert(slot, addr);
                }
                (Some("ASK"), Some(to)) => {
                    addr = to.parse().expect("ASK address");
                    asking = true;
                }
                (Some("TRYAGAIN"), _) => std::thread::sleep(Duration::from_millis(5)),
                _ => return reply,
            }
        }
        panic!(
            "{:?}: redirected 50 times",
            String::from_utf8_lossy(args[1])
        );
    }
}

/// Keys (`prefix` + a number) whose slots are all in `range`.
pub fn keys_in_slots(prefix: &str, range: std::ops::Range<u16>, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| range.contains(&key_slot(k.as_bytes())))
        .take(n)
        .collect()
}
