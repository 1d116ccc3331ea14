//! The `flashkv` binary as users start it: flags, config files, errors and
//! exit codes, signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_flashkv");

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
        Command::new(BIN)
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
        Command::new(BIN)
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
    assert!(log.contains("ready to accept connections"), "{log}");
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

#[test]
fn invalid_options_exit_1_with_a_clear_error() {
    for args in [
        &["--nosuch", "1"][..],
        &["--port", "notaport"],
        &["--port"],
        &["--backend", "btree"],
        &["--appendonly", "yes"],
        &["/nonexistent/redis.conf"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("FATAL CONFIG FILE ERROR") || stderr.contains("can't open"),
            "{args:?}: {stderr}"
        );
    }
    let version = Command::new(BIN).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("FlashKV v="));
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(
        help.status.success() && String::from_utf8_lossy(&help.stdout).contains("Usage: flashkv")
    );
}

#[test]
fn binding_a_port_in_use_fails_with_exit_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut child = Command::new(BIN)
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
}
