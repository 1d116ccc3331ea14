//! Configured limits: maxclients against the file-descriptor limit,
//! `timeout`, `tcp-keepalive`, `client-output-buffer-limit`.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flashkv::protocol::Frame;
use flashkv::{Config, Store};

use super::*;

/// The `flashkv` binary under `sh -c '<prelude>; exec ...'`, killed (by
/// its own pid) on drop.
struct Limited {
    child: Child,
    addr: SocketAddr,
}

impl Limited {
    fn start(prelude: &str, args: &[&str]) -> Option<Limited> {
        let port = free_port();
        let script = format!("{prelude} && exec \"$@\"");
        let child = Command::new("sh")
            .args(["-c", &script, "sh"])
            .args(prelude_exec(prelude))
            .arg(env!("CARGO_BIN_EXE_flashkv"))
            .args(args)
            .current_dir(fresh_dir("limits"))
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut l = Limited { child, addr };
        let up = wait_serving(&mut l.child, addr, None, Duration::from_secs(10));
        up.then_some(l)
    }

    /// Open clients until one is refused; the number served.
    fn clients_until_refused(&self, at_most: usize) -> (Vec<RawClient>, usize) {
        // `start`'s readiness probe has closed its connection, but the
        // server may not have seen the close yet: until it has, the probe
        // still counts against maxclients. The first client waits for it.
        let mut first = RawClient::connect(self.addr);
        let alone = eventually(Duration::from_secs(10), || {
            match first.cmd("INFO clients") {
                Frame::Bulk(b) => String::from_utf8_lossy(&b).contains("connected_clients:1\r\n"),
                _ => false,
            }
        });
        assert!(alone, "the readiness probe's connection never went away");
        let mut held = vec![first];
        for _ in 1..at_most {
            let mut c = RawClient::connect(self.addr);
            c.send(b"PING\r\n");
            let mut buf = [0u8; 7];
            c.stream.read_exact(&mut buf).expect("first bytes");
            if &buf != b"+PONG\r\n" {
                let mut rest = buf.to_vec();
                rest.extend(c.read_to_close());
                assert_eq!(rest, b"-ERR max number of clients reached\r\n");
                let n = held.len();
                return (held, n);
            }
            held.push(c);
        }
        let n = held.len();
        (held, n)
    }

    fn open_files_soft_limit(&self) -> u64 {
        let limits =
            std::fs::read_to_string(format!("/proc/{}/limits", self.child.id())).expect("limits");
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("open files line");
        line.split_whitespace()
            .nth(3)
            .expect("soft")
            .parse()
            .expect("number")
    }
}

/// Extra words before the binary: drop CAP_SYS_RESOURCE when asked, so
/// even root cannot raise its hard limit.
fn prelude_exec(prelude: &str) -> Vec<&'static str> {
    if prelude.contains("-Hn") {
        vec!["setpriv", "--bounding-set", "-sys_resource"]
    } else {
        vec![]
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Like Redis: the soft open-files limit is raised to fit `maxclients` +
/// 32 when the hard limit allows, and `maxclients` is lowered to the limit
/// − 32 when it does not. The config file also renames commands.
pub fn maxclients_follows_the_file_descriptor_limit<S: Store>() {
    let _m = light();
    let dir = std::env::temp_dir().join(format!("flashkv-fd-{}-{}", std::process::id(), S::NAME));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let conf = dir.join("flashkv.conf");
    let text = "maxclients 100\nrename-command flushall \"\"\nrename-command config flashconfig\n";
    std::fs::write(&conf, text).expect("config file");
    let conf = conf.to_str().expect("path");
    let args = [conf, "--backend", S::NAME];
    // Soft limit 64, hard limit high: raised to 132, all 100 served.
    let raised = Limited::start("ulimit -Sn 64", &args).expect("server under ulimit -Sn 64");
    assert_eq!(raised.open_files_soft_limit(), 132);
    let (mut held, served) = raised.clients_until_refused(101);
    assert_eq!(served, 100);
    let c = &mut held[0];
    let unknown = "ERR unknown command 'FLUSHALL', with args beginning with: ";
    assert_eq!(c.cmd("FLUSHALL"), err(unknown));
    assert_eq!(
        c.cmd("FLASHCONFIG GET timeout"),
        config_pair("timeout", "0")
    );
    drop(held);
    drop(raised);
    // Soft and hard limit 64, and no privilege to raise them: 32 clients.
    if !have("setpriv") {
        eprintln!(
            "maxclients_follows_the_file_descriptor_limit: lowering case SKIPPED: no setpriv"
        );
    } else {
        let low = Limited::start("ulimit -Sn 64 && ulimit -Hn 64", &args)
            .expect("server under ulimit -n 64");
        assert_eq!(low.open_files_soft_limit(), 64);
        let (_held, served) = low.clients_until_refused(40);
        assert_eq!(served, 32, "maxclients should be 64 - 32");
    }
    let _ = std::fs::remove_dir_all(dir);
}

pub fn timeout_closes_idle_and_half_sent_clients<S: Store>() {
    let _m = light();
    let target = Target::with_config::<S>(Config {
        timeout: 1,
        ..Config::default()
    });
    let mut idle = target.client();
    let mut half = target.client();
    half.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk");
    std::thread::scope(|s| {
        let active = s.spawn(|| {
            let mut c = target.client();
            for _ in 0..6 {
                assert_eq!(
                    c.cmd("PING"),
                    Frame::simple("PONG"),
                    "an active client was closed"
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        assert!(
            idle.closed_within(Duration::from_secs(6)),
            "idle client kept open"
        );
        assert!(
            half.closed_within(Duration::from_secs(6)),
            "half-sent client kept open"
        );
        active.join().expect("active client");
    });
    assert_eq!(target.client().cmd("EXISTS k"), int(0));
    target.assert_unharmed();
}

/// The server side of the connection `server_port` <- `client_port` in
/// /proc/net/tcp: (timer kind, ticks until it fires). Kind 2 with no
/// retransmission pending is the keepalive timer.
fn server_socket_timer(server_port: u16, client_port: u16) -> (u8, u64) {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port_of =
        |field: &str| u16::from_str_radix(field.rsplit(':').next().unwrap_or(""), 16).ok();
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if port_of(f[1]) == Some(server_port) && port_of(f[2]) == Some(client_port) {
            let (kind, when) = f[5].split_once(':').expect("tr:when");
            return (
                u8::from_str_radix(kind, 16).expect("kind"),
                u64::from_str_radix(when, 16).expect("when"),
            );
        }
    }
    panic!("no socket {server_port} <- {client_port} in /proc/net/tcp");
}

/// The keepalive timer of the server's socket for a fresh, idle client.
fn keepalive_of(addr: SocketAddr) -> (u8, u64) {
    let mut c = RawClient::connect(addr);
    assert_eq!(c.cmd("PING"), Frame::simple("PONG"));
    let port = c.stream.local_addr().expect("addr").port();
    server_socket_timer(addr.port(), port)
}

/// `tcp-keepalive 300` (the default) arms a 300 s keepalive timer on every
/// client socket, as Redis does; 0 turns it off for new clients.
pub fn tcp_keepalive_is_set_like_redis<S: Store>() {
    let _m = light();
    let target = Target::start::<S>();
    // Ticks are USER_HZ (100 per second).
    let (kind, when) = keepalive_of(target.addr());
    assert_eq!(kind, 2, "no keepalive timer on the server's socket");
    assert!(
        (25_000..=30_000).contains(&when),
        "keepalive fires in {when} ticks, not ~300 s"
    );
    if let Some(redis) = RedisServer::start("tcp_keepalive") {
        let (rkind, rwhen) = keepalive_of(redis.addr);
        assert_eq!(rkind, kind);
        assert!((25_000..=30_000).contains(&rwhen), "redis: {rwhen}");
    }
    assert_eq!(target.client().cmd("CONFIG SET tcp-keepalive 0"), ok());
    assert_eq!(keepalive_of(target.addr()).0, 0, "keepalive still on");
    target.assert_unharmed();
}

/// Pipeline GETs of a 64 KiB value without reading; the server must close
/// the client (within a bounded wait) and not buffer the replies.
fn flood_until_closed(target: &Target, what: &str) {
    let c = target.client();
    let mut writer = c.stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let _ = writer.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = writer.write_all(&b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(2000));
    });
    // Let the output pile up before reading anything.
    std::thread::sleep(Duration::from_millis(1500));
    let mut reader = c.stream;
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let start = Instant::now();
    let mut received = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    let closed = loop {
        match reader.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
        if start.elapsed() > Duration::from_secs(20) {
            break false;
        }
    };
    sender.join().expect("sender");
    assert!(closed, "{what}: the client was not closed");
    assert!(
        received < 2000 * 64 * 1024,
        "{what}: every reply was delivered"
    );
}

pub fn output_buffer_limits_close_the_client<S: Store>() {
    let _m = light();
    let target = Target::start::<S>();
    let mut admin = target.client();
    assert_eq!(
        admin.cmd(&format!("SET big {}", "x".repeat(64 * 1024))),
        ok()
    );
    let watch = RssWatch::start();
    let set = "CONFIG SET client-output-buffer-limit";
    assert_eq!(admin.cmd(&format!("{set} \"normal 1mb 0 0\"")), ok());
    flood_until_closed(&target, "hard limit 1mb");
    assert_eq!(admin.cmd(&format!("{set} \"normal 0 256kb 1\"")), ok());
    flood_until_closed(&target, "soft limit 256kb for 1 s");
    watch.assert_growth_below(LIGHT_BOUND, "output limits");
    assert_eq!(admin.cmd(&format!("{set} \"normal 0 0 0\"")), ok());
    target.assert_unharmed();
}

pub fn output_buffer_limit_directive_matches_redis<S: Store>() {
    let _m = light();
    differential::<S>(
        "output_buffer_limit_directive_matches_redis",
        r#"
        CONFIG GET client-output-buffer-limit
        CONFIG SET client-output-buffer-limit "normal 1mb 0 0"
        CONFIG GET client-output-buffer-limit
        CONFIG SET client-output-buffer-limit "normal 0 0 0 replica 256mb 64mb 60 pubsub 32mb 8mb 60"
        CONFIG GET client-output-buffer-limit
        CONFIG SET client-output-buffer-limit "slave 1gb 512mb 30"
        CONFIG GET client-output-buffer-limit
        CONFIG SET client-output-buffer-limit "NORMAL 2KB 1k 5"
        CONFIG GET client-output-buffer-limit
        CONFIG SET client-output-buffer-limit "normal 1mb"
        CONFIG SET client-output-buffer-limit "foo 1 2 3"
        CONFIG SET client-output-buffer-limit "normal 1x 0 0"
        CONFIG SET client-output-buffer-limit "normal 0 0 -1"
        CONFIG GET client-output-buffer-limit
        "#,
    );
    // The config-file form, one class per line, as redis.conf writes it.
    let mut c = Config::default();
    c.apply_text(
        "client-output-buffer-limit normal 0 0 0\n\
         client-output-buffer-limit replica 256mb 64mb 60\n\
         client-output-buffer-limit pubsub 32mb 8mb 60\n\
         client-output-buffer-limit normal 4mb 2mb 10\n",
    )
    .expect("Redis's syntax parses");
    assert_eq!(
        (
            c.output_limits.normal.hard,
            c.output_limits.normal.soft,
            c.output_limits.normal.soft_secs
        ),
        (4 * MB, 2 * MB, 10)
    );
}
