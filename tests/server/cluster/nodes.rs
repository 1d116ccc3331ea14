//! Three FlashKV nodes: joined by `redis-cli --cluster create`, resharded
//! by `redis-cli --cluster reshard` while clients write, a node stopped,
//! a node restarted from its nodes.conf.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flashkv::db::Faults;
use flashkv::Store;

use super::*;

/// Three nodes serving every slot (the first 0-5460, the second
/// 5461-10922, the third the rest).
fn three<S: Store>(faults: Faults) -> Vec<(TestServer, Config)> {
    three_timing_out::<S>(faults, 5000, false)
}

/// [`three`] with `cluster-node-timeout` `timeout` ms, and the AOF on if
/// `aof`.
fn three_timing_out<S: Store>(
    faults: Faults,
    timeout: u64,
    aof: bool,
) -> Vec<(TestServer, Config)> {
    let nodes: Vec<(TestServer, Config)> = (0..3)
        .map(|_| {
            let mut config = node_config(&fresh_dir("cluster-node"));
            config.cluster.node_timeout = timeout;
            config.aof.enabled = aof;
            let server =
                TestServer::with_faults::<S>(config.clone(), flashkv::Clock::System, faults);
            (server, config)
        })
        .collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|(s, _)| s.addr).collect();
    create_cluster(&addrs);
    nodes
}

fn myid(addr: SocketAddr) -> String {
    text(&RawClient::connect(addr).cmd("CLUSTER MYID"))
}

pub(super) fn serve_redirect_and_agree<S: Store>() {
    let nodes = three::<S>(Faults::default());
    let addrs: Vec<SocketAddr> = nodes.iter().map(|(s, _)| s.addr).collect();
    let mut router = Router::new(addrs[0]);
    for i in 0..300 {
        let (k, v) = (format!("k{i}"), i.to_string());
        assert_eq!(router.cmd(&[b"SET", k.as_bytes(), v.as_bytes()]), ok());
    }
    let mut other = Router::new(addrs[2]);
    for i in 0..300 {
        let k = format!("k{i}");
        assert_eq!(other.cmd(&[b"GET", k.as_bytes()]), bulk(&i.to_string()));
    }
    let sizes: Vec<i64> = addrs.iter().map(|&a| dbsize(a)).collect();
    assert_eq!(sizes.iter().sum::<i64>(), 300);
    assert!(
        sizes.iter().all(|&n| n > 50),
        "keys spread over every node: {sizes:?}"
    );

    // foo is slot 12182: the third node's.
    let mut first = RawClient::connect(addrs[0]);
    let moved = format!("MOVED 12182 {}", addrs[2]);
    assert_eq!(first.cmd("GET foo"), err(&moved));
    assert_eq!(first.cmd("MULTI"), ok());
    assert_eq!(first.cmd("SET foo 1"), err(&moved));
    assert_eq!(
        first.cmd("EXEC"),
        err("EXECABORT Transaction discarded because of previous errors.")
    );
    // A script may only touch keys served here.
    let script = "EVAL \"return redis.call('get','foo')\" 0";
    let Frame::Error(e) = first.cmd(script) else {
        panic!("a script read a remote key")
    };
    let e = String::from_utf8_lossy(&e);
    assert!(
        e.starts_with("ERR Script attempted to access a non local key in a cluster node script: "),
        "{e}"
    );
    // PUBLISH reaches subscribers on every node.
    let mut sub = RawClient::connect(addrs[2]);
    sub.cmd("SUBSCRIBE news");
    assert_eq!(
        RawClient::connect(addrs[0]).cmd("PUBLISH news hello"),
        int(0)
    );
    let (pushed, _) = sub.read_reply();
    assert_eq!(
        pushed,
        Frame::Array(vec![bulk("message"), bulk("news"), bulk("hello")])
    );
    let counted = eventually(Duration::from_secs(5), || {
        cluster_info(addrs[0]).contains("cluster_stats_messages_publish_sent:2\r\n")
    });
    assert!(
        counted,
        "one PUBLISH per other node: {}",
        cluster_info(addrs[0])
    );
    assert!(cluster_info(addrs[2]).contains("cluster_stats_messages_publish_received:1\r\n"));
    // Every node knows every slot's owner.
    let slots = |a: SocketAddr| RawClient::connect(a).cmd("CLUSTER SLOTS");
    let mut views: Vec<String> = addrs
        .iter()
        .map(|&a| format!("{:?}", sort_slots(slots(a))))
        .collect();
    views.dedup();
    assert_eq!(views.len(), 1, "nodes disagree: {views:?}");
    let out = redis_cli(&["--cluster", "check", &addrs[1].to_string()]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("[OK] All nodes agree about slots configuration."),
        "{shown}"
    );
    assert!(shown.contains("[OK] All 16384 slots covered."), "{shown}");
}

fn sort_slots(f: Frame) -> Vec<String> {
    let Frame::Array(items) = f else {
        panic!("{f:?}")
    };
    let mut v: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    v.sort();
    v
}

/// Move slots 0-299 from the first node to the second with `redis-cli
/// --cluster reshard` while writers INCR counters living in those slots;
/// afterwards every counter must equal the number of INCRs acknowledged
/// for it, and every key written before must read back. With `aof`,
/// every node journals its writes: MIGRATE and the INCRs then take the
/// journal's order lock too (after the slot's gate, in that order; the
/// other way round the reshard hung).
fn reshard_under_load<S: Store>(faults: Faults, aof: bool) -> Verdict {
    const COUNTERS: usize = 24;
    let nodes = three_timing_out::<S>(faults, 5000, aof);
    let addrs: Vec<SocketAddr> = nodes.iter().map(|(s, _)| s.addr).collect();
    let counters = keys_in_slots("counter:", 0..300, COUNTERS);
    let before = keys_in_slots("still:", 0..300, 200);
    let mut router = Router::new(addrs[0]);
    for k in &before {
        assert_eq!(router.cmd(&[b"SET", k.as_bytes(), k.as_bytes()]), ok());
    }
    let acked: Vec<AtomicU64> = (0..COUNTERS).map(|_| AtomicU64::new(0)).collect();
    let stop = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        for w in 0..4 {
            let (acked, stop, counters, seed) = (&acked, &stop, &counters, addrs[w % 3]);
            s.spawn(move || {
                let mut router = Router::new(seed);
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    i = (i + 7) % COUNTERS;
                    if let Frame::Integer(_) = router.cmd(&[b"INCR", counters[i].as_bytes()]) {
                        acked[i].fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let (from, to) = (myid(addrs[0]), myid(addrs[1]));
        let out = redis_cli(&[
            "--cluster",
            "reshard",
            &addrs[0].to_string(),
            "--cluster-from",
            &from,
            "--cluster-to",
            &to,
            "--cluster-slots",
            "300",
            "--cluster-yes",
        ]);
        stop.store(true, Ordering::Relaxed);
        out
    });
    if !out.status.success() {
        // A key both here and there (a write that recreated a moved key)
        // stops redis-cli with BUSYKEY.
        return Err(format!(
            "reshard failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    // The move is known to the node that took no part in it.
    let slots = text(&RawClient::connect(addrs[2]).cmd("CLUSTER NODES"));
    let owner = slots
        .lines()
        .find(|l| l.contains(&addrs[1].to_string()))
        .unwrap_or_default()
        .to_string();
    let spread = eventually(Duration::from_secs(5), || {
        text(&RawClient::connect(addrs[2]).cmd("CLUSTER NODES"))
            .lines()
            .any(|l| l.contains(&addrs[1].to_string()) && l.contains(" 0-299"))
    });
    assert!(spread, "the third node never learnt the move: {owner}");
    let mut reader = Router::new(addrs[2]);
    for k in &before {
        if reader.cmd(&[b"GET", k.as_bytes()]) != bulk(k) {
            return Err(format!("{k} lost in the move"));
        }
    }
    for (i, k) in counters.iter().enumerate() {
        let want = acked[i].load(Ordering::Relaxed) as i64;
        let got = match reader.cmd(&[b"GET", k.as_bytes()]) {
            Frame::Bulk(b) => String::from_utf8_lossy(&b).parse().unwrap_or(-1),
            _ => 0,
        };
        if got != want {
            return Err(format!("{k}: {want} INCRs acknowledged, {got} kept"));
        }
    }
    let total: u64 = acked.iter().map(|a| a.load(Ordering::Relaxed)).sum();
    assert!(total > 100, "the writers barely ran ({total} INCRs)");
    Ok(())
}

pub(super) fn reshard_loses_no_acknowledged_write<S: Store>() {
    if let Err(e) = reshard_under_load::<S>(Faults::default(), true) {
        panic!("{e}");
    }
}

pub(super) fn a_migrate_without_key_locks_is_caught<S: Store>() {
    let faults = Faults {
        unlocked_migrate: true,
        ..Faults::default()
    };
    for _ in 0..TRIES {
        if let Err(e) = reshard_under_load::<S>(faults, false) {
            eprintln!("caught: {}", e.lines().next().unwrap_or_default());
            return;
        }
    }
    panic!("never caught MIGRATE losing a write in {TRIES} runs");
}

pub(super) fn a_stopped_node_fails_its_slots<S: Store>() {
    let mut nodes = three_timing_out::<S>(Faults::default(), 2000, false);
    let addrs: Vec<SocketAddr> = nodes.iter().map(|(s, _)| s.addr).collect();
    let gone = myid(addrs[2]);
    let (third, _) = nodes.pop().unwrap();
    third.stop().unwrap();
    for &a in &addrs[..2] {
        let failed = eventually(Duration::from_secs(15), || {
            let info = cluster_info(a);
            info.contains("cluster_state:fail") && info.contains("cluster_slots_fail:5461")
        });
        assert!(
            failed,
            "{a} never failed the stopped node:\n{}",
            cluster_info(a)
        );
        let line = text(&RawClient::connect(a).cmd("CLUSTER NODES"));
        assert!(
            line.lines()
                .any(|l| l.starts_with(&gone) && l.contains("master,fail")),
            "{line}"
        );
    }
    // Nothing is served from a cluster that is down, even local slots.
    let mut c = RawClient::connect(addrs[0]);
    assert_eq!(c.cmd("GET k0"), err("CLUSTERDOWN The cluster is down"));
    assert_eq!(c.cmd("CLUSTER KEYSLOT k0"), int(8579));
}

pub(super) fn topology_survives_a_restart<S: Store>() {
    let mut nodes = three::<S>(Faults::default());
    let addrs: Vec<SocketAddr> = nodes.iter().map(|(s, _)| s.addr).collect();
    let (first, config) = nodes.remove(0);
    let id = myid(addrs[0]);
    first.stop().unwrap();
    let conf = std::fs::read_to_string(Path::new(&config.dir).join("nodes.conf")).unwrap();
    assert!(
        conf.contains(&format!("{id} 127.0.0.1:{}@", addrs[0].port())),
        "{conf}"
    );
    assert!(
        conf.contains("myself,master") && conf.contains("vars currentEpoch 3"),
        "{conf}"
    );
    let again = TestServer::at::<S>(addrs[0], config, Default::default());
    assert_eq!(myid(again.addr), id);
    wait_ok(&addrs);
    let nodes_text = text(&RawClient::connect(again.addr).cmd("CLUSTER NODES"));
    assert_eq!(nodes_text.lines().count(), 3, "{nodes_text}");
    assert!(
        nodes_text.contains("myself,master - 0 0 1 connected 0-5460"),
        "{nodes_text}"
    );
    let mut router = Router::new(addrs[1]);
    assert_eq!(router.cmd(&[b"SET", b"k0", b"back"]), ok());
}

#[test]
fn a_damaged_nodes_conf_stops_the_start() {
    let dir = fresh_dir("cluster-damaged");
    std::fs::write(dir.join("nodes.conf"), "not a cluster file\n").unwrap();
    let config = node_config(&dir);
    let mut c = bin_command();
    let out = output_within(
        c.args([
            "--port",
            &free_port().to_string(),
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &config.cluster.port.to_string(),
            "--dir",
            &config.dir,
            "--save",
            "",
        ]),
        None,
        Duration::from_secs(30),
    );
    assert!(!out.status.success());
    let shown =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(shown.contains("corrupted cluster config file"), "{shown}");
}

pub(super) fn a_blocked_client_follows_its_slot<S: Store>() {
    let nodes = three::<S>(Faults::default());
    let addrs: Vec<SocketAddr> = nodes.iter().map(|(s, _)| s.addr).collect();
    // A list key in the first node's slots, waited on forever.
    let key = keys_in_slots("queue:", 0..5461, 1).remove(0);
    let slot = key_slot(key.as_bytes());
    let mut waiting = RawClient::connect(addrs[0]);
    waiting.send_cmd(&format!("BLPOP {key} 0"));
    std::thread::sleep(Duration::from_millis(200));
    // The (empty) slot is handed to the second node.
    let to = myid(addrs[1]);
    let mut admin = RawClient::connect(addrs[0]);
    assert_eq!(
        admin.cmd(&format!("CLUSTER SETSLOT {slot} NODE {to}")),
        ok()
    );
    let (reply, _) = waiting.read_reply();
    assert_eq!(reply, err(&format!("MOVED {slot} {}", addrs[1])));
}
