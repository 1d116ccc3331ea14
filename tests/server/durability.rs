//! The `flashkv` binary with `appendonly yes` under crashes and bad
//! files: SIGKILL at a random moment loses no acknowledged write (with
//! `always` and `everysec` alike: a reply is sent only after its write
//! reached the file), a torn or damaged AOF is cut back or refused as
//! Redis does, and a full disk (a file-size limit) refuses writes with
//! MISCONF until space returns, losing nothing acknowledged.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashkv::Frame;

use crate::common::*;

const BACKENDS: [&str; 4] = ["rwlock", "epoch", "scc", "flurry"];

/// A server process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn args_for(dir: &Path, port: u16, backend: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--dir",
        &dir.display().to_string(),
        "--save",
        "",
        "--appendonly",
        "yes",
        "--backend",
        backend,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn start(mut cmd: Command, port: u16) -> Proc {
    let mut child = Proc(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn flashkv"),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        wait_serving(&mut child.0, addr, None, Duration::from_secs(20)),
        "the server did not start"
    );
    child
}

fn flashkv(args: &[String]) -> Command {
    let mut c = bin_command();
    c.args(args);
    c
}

/// One writer: INCR its own counter until the connection dies, keeping
/// the last value the server acknowledged.
fn writer(addr: SocketAddr, key: String, acked: Arc<AtomicU64>) {
    let Ok(stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut out = stream.try_clone().unwrap();
    let mut input = BufReader::new(stream);
    let mut line = String::new();
    loop {
        if out.write_all(format!("INCR {key}\r\n").as_bytes()).is_err() {
            return;
        }
        line.clear();
        match input.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
        match line
            .trim_end()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
        {
            Some(n) => acked.store(n, Ordering::Release),
            None => return,
        }
    }
}

#[test]
fn sigkill_loses_no_acknowledged_write() {
    let mut round = 0usize;
    for fsync in ["always", "everysec"] {
        for _ in 0..3 {
            let backend = BACKENDS[round % BACKENDS.len()];
            round += 1;
            let dir = fresh_dir("crash");
            let port = free_port();
            let args = args_for(&dir, port, backend, &["--appendfsync", fsync]);
            let server = start(flashkv(&args), port);
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let acked: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::default()).collect();
            let threads: Vec<_> = acked
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let a = a.clone();
                    std::thread::spawn(move || writer(addr, format!("w{i}"), a))
                })
                .collect();
            // A moment that depends on the clock: somewhere in 150-650 ms.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            std::thread::sleep(Duration::from_millis(150 + u64::from(nanos % 500)));
            drop(server); // SIGKILL
            for t in threads {
                t.join().unwrap();
            }
            let total: u64 = acked.iter().map(|a| a.load(Ordering::Acquire)).sum();
            assert!(total > 0, "{backend} {fsync}: no write was acknowledged");
            let server = start(flashkv(&args), port);
            let mut c = RawClient::connect(addr);
            for (i, a) in acked.iter().enumerate() {
                let acked = a.load(Ordering::Acquire);
                let found = match c.cmd(&format!("GET w{i}")) {
                    Frame::Bulk(b) => String::from_utf8_lossy(&b).parse::<u64>().unwrap(),
                    Frame::Null => 0,
                    other => panic!("{other:?}"),
                };
                assert!(
                    found >= acked && found <= acked + 1,
                    "{backend} {fsync}: w{i} acknowledged {acked}, reloaded {found}"
                );
            }
            drop(c);
            drop(server);
            crate::aof::check_aof(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Write a little through the binary and stop it cleanly; the AOF
/// directory's last increment path.
fn written_aof(dir: &Path) -> std::path::PathBuf {
    let port = free_port();
    let args = args_for(dir, port, "rwlock", &[]);
    let server = start(flashkv(&args), port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = RawClient::connect(addr);
    assert_eq!(c.cmd("SET a 1"), ok());
    assert_eq!(c.cmd("SET b 2"), ok());
    c.send_cmd("SHUTDOWN");
    c.read_to_close();
    drop(server);
    dir.join("appendonlydir").join("appendonly.aof.1.incr.aof")
}

fn exit_code(args: &[String]) -> Option<i32> {
    let mut child = flashkv(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A way to damage an AOF, named; given the last increment's path.
type Damage = (&'static str, fn(&Path));

#[test]
fn damaged_aof_files_are_cut_back_or_refused() {
    // A torn last command: dropped (the file cut back) by default...
    let dir = fresh_dir("aof-torn");
    let incr = written_aof(&dir);
    let good = std::fs::metadata(&incr).unwrap().len();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .unwrap();
    f.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1").unwrap();
    drop(f);
    let port = free_port();
    // ...refused with aof-load-truncated no...
    let strict = args_for(&dir, port, "rwlock", &["--aof-load-truncated", "no"]);
    assert_eq!(
        exit_code(&strict),
        Some(1),
        "a torn AOF with aof-load-truncated no"
    );
    let server = start(flashkv(&args_for(&dir, port, "rwlock", &[])), port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = RawClient::connect(addr);
    assert_eq!(
        c.cmd("MGET a b c"),
        Frame::Array(vec![bulk("1"), bulk("2"), Frame::Null])
    );
    assert_eq!(
        std::fs::metadata(&incr).unwrap().len(),
        good,
        "cut back to its last whole command"
    );
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);

    // Garbage, a missing file, a bad manifest, a bad base: exit 1, never
    // an empty start.
    let damages: [Damage; 4] = [
        ("garbage", |incr| {
            let mut f = std::fs::OpenOptions::new().append(true).open(incr).unwrap();
            f.write_all(b"SET x y\r\n*1\r\n$4\r\nPING\r\n").unwrap();
        }),
        ("missing", |incr| std::fs::remove_file(incr).unwrap()),
        ("manifest", |incr| {
            std::fs::write(
                incr.with_file_name("appendonly.aof.manifest"),
                "file x seq z type b\n",
            )
            .unwrap()
        }),
        ("base", |incr| {
            let base = incr.with_file_name("appendonly.aof.1.base.rdb");
            let mut bytes = std::fs::read(&base).unwrap();
            let n = bytes.len();
            bytes[n - 3] ^= 0xff; // the checksum no longer matches
            std::fs::write(base, bytes).unwrap();
        }),
    ];
    for (what, damage) in damages {
        let dir = fresh_dir("aof-damaged");
        let incr = written_aof(&dir);
        damage(&incr);
        let args = args_for(&dir, free_port(), "rwlock", &[]);
        assert_eq!(exit_code(&args), Some(1), "{what}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The AOF hits a file-size limit (as a full disk): writes get Redis's
/// MISCONF error, reads go on; when the limit is lifted the pending data
/// is written and writes work again, and every acknowledged write is in
/// the file.
#[test]
fn a_full_disk_refuses_writes_until_space_returns() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("SKIPPED: prlimit is not installed");
        return;
    }
    let dir = fresh_dir("aof-full");
    let port = free_port();
    let log = dir.join("server.log").display().to_string();
    let args = args_for(
        &dir,
        port,
        "rwlock",
        &["--appendfsync", "everysec", "--logfile", &log],
    );
    let mut cmd = Command::new("prlimit");
    cmd.arg("--fsize=65536:")
        .arg(env!("CARGO_BIN_EXE_flashkv"))
        .args(&args)
        .current_dir(&dir);
    let server = start(cmd, port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = RawClient::connect(addr);
    let value = "v".repeat(1000);
    let mut acknowledged = 0;
    let mut refused = None;
    for i in 0..200 {
        match c.cmd_args(&[b"SET", format!("k{i}").as_bytes(), value.as_bytes()]) {
            Frame::Simple(_) => acknowledged = i + 1,
            Frame::Error(e) => {
                refused = Some(String::from_utf8_lossy(&e).into_owned());
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        refused.as_deref(),
        Some("MISCONF Errors writing to the AOF file: File too large"),
        "after {acknowledged} writes"
    );
    assert_eq!(
        c.cmd("PING"),
        Frame::Error("MISCONF Errors writing to the AOF file: File too large".into())
    );
    assert!(matches!(c.cmd("GET k0"), Frame::Bulk(_)), "reads go on");
    let info = text(&c.cmd("INFO persistence"));
    assert!(info.contains("aof_last_write_status:err"), "{info}");
    // What could not be written waits in the buffer, as in Redis.
    let buffered: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("aof_buffer_length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{info}"));
    assert!(buffered > 0, "{info}");
    // Space returns.
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &server.0.id().to_string(),
            "--fsize=unlimited:unlimited",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        eventually(Duration::from_secs(10), || matches!(
            c.cmd("SET again 1"),
            Frame::Simple(_)
        )),
        "writes did not resume"
    );
    c.send_cmd("SHUTDOWN");
    c.read_to_close();
    drop(server);
    // Redis's log lines: the failure once (not once per retry), then the
    // recovery.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        logged.matches("Error writing to the AOF file").count(),
        1,
        "{logged}"
    );
    assert!(logged.contains("AOF write error looks solved"), "{logged}");
    crate::aof::check_aof(&dir);
    let server = start(flashkv(&args), port);
    let mut c = RawClient::connect(addr);
    for i in 0..acknowledged {
        assert!(
            matches!(c.cmd(&format!("EXISTS k{i}")), Frame::Integer(1)),
            "acknowledged k{i} lost"
        );
    }
    assert_eq!(c.cmd("EXISTS again"), int(1));
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
