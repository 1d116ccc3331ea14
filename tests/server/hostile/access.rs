//! Access control: requirepass/AUTH/HELLO AUTH, protected mode,
//! rename-command; each compared with a real Redis.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use flashkv::{Clock, Config, Store};

use super::*;

const PASSWORD: &str = "s3cret";

pub fn auth_errors_match_redis<S: Store>() {
    let _m = light();
    let Some(redis) = RedisServer::start_with("auth_errors", &["--requirepass", PASSWORD]) else {
        return;
    };
    let target = Target::with_config::<S>(Config {
        requirepass: PASSWORD.into(),
        ..Config::default()
    });
    differential_between(
        "auth_errors_match_redis",
        "
        GET k
        CLIENT SETNAME x
        CLIENT ID
        SELECT 1
        AUTH
        AUTH a b c
        AUTH default
        AUTH nouser s3cret
        AUTH default wrong
        HELLO 3 AUTH default wrong
        HELLO 3 AUTH nouser s3cret
        HELLO 3 AUTH default
        HELLO 2 AUTH default wrong SETNAME x
        HELLO 4 AUTH default s3cret
        GET k
        ~ HELLO 2 AUTH default s3cret
        GET k
        AUTH wrong
        GET k
        AUTH default s3cret
        RESET
        GET k
        ",
        target.addr(),
        redis.addr,
    );
    // Before AUTH: at most 10 arguments and 16 KiB bulks; after it, none.
    let cases: Vec<Vec<u8>> = [
        &b"*11\r\n"[..],
        b"*10\r\n$4\r\nPING\r\n",
        b"*2\r\n$4\r\nAUTH\r\n$16385\r\n",
        b"*2\r\n$4\r\nAUTH\r\n$16384\r\n",
        b"AUTH s3cret\r\n*11\r\n$4\r\nPING\r\n",
        b"AUTH s3cret\r\n*2\r\n$4\r\nECHO\r\n$16385\r\n",
        b"AUTH wrong\r\n*11\r\n",
        b"PING a b c d e f g h i j k l\r\n",
    ]
    .iter()
    .map(|c| c.to_vec())
    .collect();
    raw_cases_match(target.addr(), redis.addr, &cases);
    target.assert_unharmed();
    // Without a password, AUTH is an error, HELLO AUTH is not.
    differential::<S>(
        "auth_without_a_password_matches_redis",
        "
        AUTH x
        AUTH default x
        AUTH nouser x
        ~ HELLO 2 AUTH default x
        HELLO 2 AUTH nouser x
        ",
    );
}

/// A connection from source address `from` to `to`.
fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::new(from, 0).into())?;
    s.connect(&to.into())?;
    Ok(s.into())
}

/// Send `bytes` from `from`, and gather the answer until close (or
/// `<open>` after a quiet spell).
fn exchange_from(from: IpAddr, to: SocketAddr, bytes: &[u8]) -> String {
    let mut s = connect_from(from, to).expect("connect");
    s.write_all(bytes).expect("write");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            // Closed with our request unread: Linux resets the connection.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(_) => {
                out.extend_from_slice(b"<open>");
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Protected mode (on by default) with no password: Redis 7.0 serves only
/// peers whose address is exactly 127.0.0.1 or ::1, so a client from
/// 127.0.0.2 is the non-loopback client here, without leaving the
/// machine. It gets Redis's `-DENIED` text and is disconnected.
pub fn protected_mode_denies_non_loopback_clients_like_redis<S: Store>() {
    let _m = light();
    let other: IpAddr = "127.0.0.2".parse().expect("ip");
    let Some(redis) = RedisServer::start_with("protected_mode", &["--protected-mode", "yes"])
    else {
        return;
    };
    let target = Target::start::<S>();
    if let Err(e) = connect_from(other, target.addr()) {
        eprintln!("protected_mode: SKIPPED: cannot connect from {other}: {e}");
        return;
    }
    let both = |bytes: &[u8]| {
        let mine = exchange_from(other, target.addr(), bytes);
        let theirs = exchange_from(other, redis.addr, bytes);
        assert_eq!(
            mine,
            theirs,
            "from {other}: {:?}",
            String::from_utf8_lossy(bytes)
        );
        mine
    };
    let denied = both(b"PING\r\n");
    assert!(
        denied.starts_with("-DENIED Redis is running in protected mode"),
        "{denied}"
    );
    assert!(
        !denied.ends_with("<open>"),
        "a denied client must be disconnected"
    );
    let mut ours = target.client();
    let mut theirs = RawClient::connect(redis.addr);
    let both_admin = |ours: &mut RawClient, theirs: &mut RawClient, cmd: &str| {
        assert_eq!(ours.cmd(cmd), ok());
        assert_eq!(theirs.cmd(cmd), ok());
    };
    // With a password, protected mode steps aside and AUTH decides.
    both_admin(&mut ours, &mut theirs, "CONFIG SET requirepass pw");
    let authed = both(b"PING\r\nAUTH pw\r\nPING\r\n");
    assert!(authed.starts_with("-NOAUTH"), "{authed}");
    assert_eq!(ours.cmd("AUTH pw"), ok());
    assert_eq!(theirs.cmd("AUTH pw"), ok());
    both_admin(&mut ours, &mut theirs, "CONFIG SET requirepass \"\"");
    both_admin(&mut ours, &mut theirs, "CONFIG SET protected-mode no");
    assert_eq!(both(b"PING\r\n"), "+PONG\r\n<open>");
    target.assert_unharmed();
}

/// `rename-command` in the config file: a disabled command and renamed
/// ones are unknown under their old names and work under the new ones;
/// COMMAND answers as Redis does.
pub fn rename_command_matches_redis<S: Store>() {
    let _m = light();
    let renames = [("flushall", ""), ("config", "myconfig"), ("keys", "k3ys")];
    let mut redis_args = Vec::new();
    let mut conf = String::from("# a config file\n");
    for (old, new) in renames {
        redis_args.extend(["--rename-command", old, new]);
        conf.push_str(&format!("rename-command {old} \"{new}\"\n"));
    }
    let Some(redis) = RedisServer::start_with("rename_command", &redis_args) else {
        return;
    };
    let mut config = Config::default();
    config.apply_text(&conf).expect("config file");
    let ours = TestServer::with_config::<S>(config, Clock::System);
    differential_between(
        "rename_command_matches_redis",
        "
        SET a 1
        FLUSHALL
        flushall async
        CONFIG GET maxclients
        MYCONFIG GET maxclients
        myconfig set timeout 5
        myconfig get timeout
        KEYS *
        sort K3YS *
        COMMAND INFO flushall
        COMMAND INFO config
        COMMAND GETKEYS myconfig get x
        COMMAND GETKEYS k3ys *
        GET a
        ",
        ours.addr,
        redis.addr,
    );
}
