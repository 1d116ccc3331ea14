//! The `flashkv` binary as users start it: flags, config files, errors and
//! exit codes, signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flashkv::Frame;

use crate::common::*;

/// A started server, killed on drop so a failing assertion never leaves it
/// running.
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Start the binary and wait until it serves on `port`.
fn spawn(args: &[&str], port: u16, password: Option<&str>) -> Server {
    let mut server = Server(
        bin_command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = wait_serving(&mut server.0, addr, password, Duration::from_secs(10));
    assert!(up, "server did not start with {args:?}");
    server
}

fn wait_exit(child: &mut Child) -> Option<i32> {
    for _ in 0..500 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("the server did not exit");
}

#[test]
fn flags_configure_the_server_and_sigterm_stops_it_with_exit_0() {
    let port = free_port();
    let p = port.to_string();
    let mut child = spawn(
        &[
            "--port",
            &p,
            "--bind",
            "127.0.0.1",
            "--backend",
            "rwlock",
            "--databases",
            "4",
            "--maxclients",
            "100",
        ],
        port,
        None,
    );
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("CONFIG GET databases"), config_pair("databases", "4"));
    assert_eq!(
        c.cmd("CONFIG GET maxclients"),
        config_pair("maxclients", "100")
    );
    assert_eq!(c.cmd("SELECT 4"), err("ERR DB index is out of range"));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(wait_exit(&mut child), Some(0));
}

#[test]
fn sigint_and_shutdown_exit_0() {
    let port = free_port();
    let mut child = spawn(&["--port", &port.to_string()], port, None);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(wait_exit(&mut child), Some(0));
    let port = free_port();
    let mut child = spawn(&["--port", &port.to_string()], port, None);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    c.send_cmd("SHUTDOWN");
    assert!(c.closed_within(Duration::from_secs(5)));
    assert_eq!(wait_exit(&mut child), Some(0));
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let port = free_port();
    let mut child = Server(
        bin_command()
            .args(["--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_serving(
        &mut child.0,
        addr,
        None,
        Duration::from_secs(10)
    ));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(wait_exit(&mut child), Some(0));
    let mut log = String::new();
    for pipe in [
        child
            .0
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read>),
        child
            .0
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut r = BufReader::new(pipe);
        while let Ok(n @ 1..) = r.read_line(&mut log) {
            let _ = n;
        }
    }
    assert!(log.contains("Ready to accept connections"), "{log}");
    assert!(
        log.contains(&format!(" PID: {}", child.0.id())),
        "no Redis-style PID line: {log}"
    );
    assert!(
        !log.contains('\x1b'),
        "escape sequences in a piped log: {log:?}"
    );
}

#[test]
fn a_config_file_is_read_and_flags_override_it() {
    let dir = std::env::temp_dir().join(format!("flashkv-proc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("redis.conf");
    let port = free_port();
    std::fs::write(&conf, "# a Redis-style config\nport 1\nbind 127.0.0.1\ntimeout 30\nsave \"\"\nrequirepass \"pw with space\"\n").unwrap();
    let mut child = spawn(
        &[conf.to_str().unwrap(), "--port", &port.to_string()],
        port,
        Some("pw with space"),
    );
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("GET k"), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd("AUTH \"pw with space\""), ok());
    assert_eq!(c.cmd("CONFIG GET timeout"), config_pair("timeout", "30"));
    c.send_cmd("SHUTDOWN");
    assert_eq!(wait_exit(&mut child), Some(0));
    std::fs::remove_dir_all(dir).unwrap();
}

/// `pidfile`: the process id is there once the server answers, and the
/// file is gone after SHUTDOWN (as Redis's `createPidFile` and shutdown).
#[test]
fn the_pidfile_holds_the_pid_while_the_server_runs() {
    let dir = fresh_dir("pidfile");
    let pidfile = dir.join("flashkv.pid");
    let (mut child, port) = spawn_in(&dir, None, &["--pidfile", pidfile.to_str().unwrap()]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("PING"), Frame::Simple("PONG".into()));
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", child.id())
    );
    c.send_cmd("SHUTDOWN NOSAVE");
    assert_eq!(wait_exit(&mut child), Some(0));
    assert!(!pidfile.exists(), "the pid file outlived the server");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn invalid_options_exit_1_with_a_clear_error() {
    for args in [
        &["--nosuch", "1"][..],
        &["--port", "notaport"],
        &["--port"],
        &["--backend", "btree"],
        &["--appendonly", "maybe"],
        &["/nonexistent/redis.conf"],
    ] {
        let out = output_within(bin_command().args(args), None, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("FATAL CONFIG FILE ERROR") || stderr.contains("can't open"),
            "{args:?}: {stderr}"
        );
    }
    let version = bin_command().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("FlashKV v="));
    let help = bin_command().arg("--help").output().unwrap();
    assert!(
        help.status.success() && String::from_utf8_lossy(&help.stdout).contains("Usage: flashkv")
    );
}

#[test]
fn binding_a_port_in_use_fails_with_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut child = bin_command()
        .args(["--port", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = wait_exit(&mut child);
    let mut msg = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        msg.push_str(&line.unwrap());
    }
    assert_eq!(code, Some(1), "{msg}");
    assert!(msg.contains("could not bind"), "{msg}");
    assert!(
        msg.contains(&format!("Failed listening on port {port} (tcp), aborting")),
        "not Redis's words: {msg}"
    );
}

/// `shutdown-on-sigterm` and `-sigint` choose what a signal's shutdown
/// does, as SHUTDOWN's options: `nosave` skips the save the save points
/// would make, `save` saves without any.
#[test]
fn shutdown_on_signals_saves_as_configured() {
    let signal = |child: &Server, name: &str| {
        Command::new("kill")
            .args([name, &child.id().to_string()])
            .status()
            .unwrap();
    };
    let dir = fresh_dir("shutdown-on-sig");
    let (mut child, port) = spawn_in(&dir, None, &["--shutdown-on-sigterm", "nosave now"]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("SET k v"), ok());
    assert_eq!(
        c.cmd("CONFIG GET shutdown-on-sigterm"),
        config_pair("shutdown-on-sigterm", "nosave now")
    );
    signal(&child, "-TERM");
    assert_eq!(wait_exit(&mut child), Some(0));
    assert!(!dir.join("dump.rdb").exists(), "nosave saved");
    let (mut child, port) = spawn_in(&dir, None, &["--save", "", "--shutdown-on-sigint", "save"]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("SET k v"), ok());
    signal(&child, "-INT");
    assert_eq!(wait_exit(&mut child), Some(0));
    assert!(dir.join("dump.rdb").exists(), "save did not save");
    let _ = std::fs::remove_dir_all(dir);
}

/// Start the binary in `dir` (which holds its dump.rdb) on a free port,
/// with the config file `conf` if given.
fn spawn_in(dir: &std::path::Path, conf: Option<&str>, extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let mut args: Vec<String> = conf.map(str::to_string).into_iter().collect();
    args.extend(["--port".to_string(), port.to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_flashkv"))
            .args(&args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_serving(
        &mut server.0,
        addr,
        None,
        Duration::from_secs(10)
    ));
    (server, port)
}

/// Redis's rules: with save points (the default), SIGTERM and SHUTDOWN
/// save and the next start loads; SHUTDOWN NOSAVE does not save.
#[test]
fn shutdown_saves_and_the_next_start_loads() {
    let dir = fresh_dir("shutdown-save");
    let (mut child, port) = spawn_in(&dir, None, &[]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("SET k v"), ok());
    assert_eq!(c.cmd("RPUSH l a b c"), int(3));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(wait_exit(&mut child), Some(0));
    assert!(dir.join("dump.rdb").exists());
    let (mut child, port) = spawn_in(&dir, None, &[]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("GET k"), Frame::Bulk("v".into()));
    assert_eq!(c.cmd("LLEN l"), int(3));
    assert_eq!(c.cmd("SET k2 v2"), ok());
    c.send_cmd("SHUTDOWN NOSAVE");
    assert!(c.closed_within(Duration::from_secs(5)));
    assert_eq!(wait_exit(&mut child), Some(0));
    let (mut child, port) = spawn_in(&dir, None, &[]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("EXISTS k2"), int(0), "NOSAVE saved");
    assert_eq!(c.cmd("SET k3 v3"), ok());
    c.send_cmd("SHUTDOWN");
    assert!(c.closed_within(Duration::from_secs(5)));
    assert_eq!(wait_exit(&mut child), Some(0));
    let (_child, port) = spawn_in(&dir, None, &["--save", ""]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("GET k3"), Frame::Bulk("v3".into()));
    let _ = std::fs::remove_dir_all(dir);
}

/// A damaged dump.rdb stops the server with exit code 1 and a clear
/// error: never a panic, never an empty start.
#[test]
fn damaged_rdb_files_are_refused() {
    let dir = fresh_dir("bad-rdb");
    let (mut child, port) = spawn_in(&dir, None, &[]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    for i in 0..200 {
        c.cmd(&format!("SET key{i} value-{i}"));
    }
    c.cmd("SADD set a b c");
    assert_eq!(c.cmd("SAVE"), ok());
    c.send_cmd("SHUTDOWN NOSAVE");
    assert_eq!(wait_exit(&mut child), Some(0));
    let good = std::fs::read(dir.join("dump.rdb")).unwrap();
    let mut huge = b"REDIS0010".to_vec();
    huge.extend_from_slice(&[0, 1, b'k', 0x80, 0xff, 0xff, 0xff, 0xf0]);
    let mut newer = good.clone();
    newer[5..9].copy_from_slice(b"0099");
    // A bit of a value's text: only the checksum can tell.
    let at = good.windows(9).position(|w| w == b"value-100").unwrap();
    let mut flipped = good.clone();
    flipped[at + 2] ^= 0x01;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "Short read"),
        ("bit flip", flipped, "checksum"),
        ("newer version", newer, "Can't handle RDB format version 99"),
        ("huge length", huge, "Short read"),
        (
            "not rdb",
            b"hello world, not a database".to_vec(),
            "Wrong signature",
        ),
    ];
    for (what, bytes, expect) in cases {
        std::fs::write(dir.join("dump.rdb"), &bytes).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_flashkv"))
            .args(["--port", &free_port().to_string()])
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let code = wait_exit(&mut child);
        let mut log = String::new();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            for line in BufReader::new(stream).lines() {
                log.push_str(&line.unwrap());
                log.push('\n');
            }
        }
        assert_eq!(code, Some(1), "{what}: {log}");
        assert!(log.contains(expect), "{what}: expected {expect:?} in {log}");
        assert!(!log.contains("panicked"), "{what}: {log}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// CONFIG REWRITE keeps the file's comments and order, rewrites the
/// directives it names in place, appends changed ones, and the next start
/// reads it back; without a config file it is Redis's error.
#[test]
fn config_rewrite_updates_the_file_in_place() {
    let dir = fresh_dir("rewrite");
    let conf = dir.join("flashkv.conf");
    std::fs::write(
        &conf,
        "# my settings\ntimeout 5\n\n# keep me\nsave 900 1\nsave 300 10\n",
    )
    .unwrap();
    let conf_s = conf.display().to_string();
    let (mut child, port) = spawn_in(&dir, None, &[]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(
        c.cmd("CONFIG REWRITE"),
        err("ERR The server is running without a config file")
    );
    c.send_cmd("SHUTDOWN NOSAVE");
    assert_eq!(wait_exit(&mut child), Some(0));
    let (mut child, port) = spawn_in(&dir, Some(&conf_s), &[]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = RawClient::connect(addr);
    assert_eq!(c.cmd("CONFIG SET timeout 30"), ok());
    assert_eq!(c.cmd("CONFIG SET save \"\""), ok());
    assert_eq!(c.cmd("CONFIG SET hz 20"), ok());
    assert_eq!(c.cmd("CONFIG REWRITE"), ok());
    let text = std::fs::read_to_string(&conf).unwrap();
    let port_line = format!("port {port}");
    assert_eq!(
        text,
        format!("# my settings\ntimeout 30\n\n# keep me\nsave \"\"\n# Generated by CONFIG REWRITE\n{port_line}\nhz 20\n"),
    );
    c.send_cmd("SHUTDOWN NOSAVE");
    assert_eq!(wait_exit(&mut child), Some(0));
    let (_child, port) = spawn_in(&dir, Some(&conf_s), &[]);
    let mut c = RawClient::connect(format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(c.cmd("CONFIG GET timeout"), config_pair("timeout", "30"));
    assert_eq!(c.cmd("CONFIG GET save"), config_pair("save", ""));
    assert_eq!(c.cmd("CONFIG GET hz"), config_pair("hz", "20"));
    let _ = std::fs::remove_dir_all(dir);
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD decides which list elements DUMP
/// writes as PLAIN nodes, byte for byte as Redis. (A process of its own:
/// the threshold is one per process, as in Redis, and the in-process test
/// servers share theirs.)
#[test]
fn the_packed_threshold_shapes_dumped_lists_as_in_redis() {
    let Some(redis) = RedisServer::start_with(
        "the_packed_threshold_shapes_dumped_lists_as_in_redis",
        &["--enable-debug-command", "yes"],
    ) else {
        return;
    };
    let port = free_port();
    let p = port.to_string();
    let _ours = spawn(
        &[
            "--port",
            &p,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--enable-debug-command",
            "yes",
        ],
        port,
        None,
    );
    let ours: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    differential_between(
        "the_packed_threshold_shapes_dumped_lists_as_in_redis",
        "
        DEBUG QUICKLIST-PACKED-THRESHOLD 3b
        RPUSH l aa bbb c dddd e
        DUMP l
        DEBUG QUICKLIST-PACKED-THRESHOLD 0
        RPUSH m aa bbb c dddd e
        DUMP m
        DEBUG QUICKLIST-PACKED-THRESHOLD 5gb
        DEBUG QUICKLIST-PACKED-THRESHOLD abc
        DEBUG QUICKLIST-PACKED-THRESHOLD
        ",
        ours,
        redis.addr,
    );
}
