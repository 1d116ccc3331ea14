//! MIGRATE: move keys to another server with DUMP payloads and RESTORE
//! (RESTORE-ASKING in cluster mode), as Redis's `migrateCommand` does.
//!
//! The keys' stripes stay locked from the first read to the last delete,
//! so no write to a migrating key can land between its DUMP and its local
//! deletion (Redis gets the same from being single-threaded). The target
//! is spoken to synchronously, within `timeout` for each step.

use std::io::{BufRead, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use store_api::Store;

use super::error::ClusterError;
use super::{is, parse_int, Args, CmdError, Command, Ctx, Reply, Row};
use crate::db::events::class;
use crate::db::{journal, rdb};
use crate::protocol::{encode_request, Frame};
use crate::state::cluster::key_slot;
use crate::state::migrate::Target;

/// `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
/// [AUTH2 user pw] [KEYS key...]`
#[derive(Debug)]
pub struct Migrate {
    host: Bytes,
    port: Bytes,
    db: Bytes,
    timeout: Bytes,
    copy: bool,
    replace: bool,
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
}

fn parse_migrate(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    let mut m = Migrate {
        host: rest[0].clone(),
        port: rest[1].clone(),
        db: rest[3].clone(),
        timeout: rest[4].clone(),
        copy: false,
        replace: false,
        auth: None,
        keys: vec![rest[2].clone()],
    };
    let mut j = 5;
    while j < rest.len() {
        let more = rest.len() - 1 - j;
        let opt = &rest[j];
        if is(opt, "COPY") {
            m.copy = true;
        } else if is(opt, "REPLACE") {
            m.replace = true;
        } else if is(opt, "AUTH") && more >= 1 {
            m.auth = Some((None, rest[j + 1].clone()));
            j += 1;
        } else if is(opt, "AUTH2") && more >= 2 {
            m.auth = Some((Some(rest[j + 1].clone()), rest[j + 2].clone()));
            j += 2;
        } else if is(opt, "KEYS") {
            if !rest[2].is_empty() {
                return Err(CmdError::Cluster(ClusterError::MigrateKeyNotEmpty));
            }
            m.keys = rest[j + 1..].to_vec();
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(Command::Migrate(Box::new(m)))
}

/// Table rows.
pub const ROWS: &[Row] = &[("migrate", parse_migrate)];

/// Why talking to the target failed.
enum Io {
    Connect,
    Write,
    Read,
}

impl Io {
    fn error(self) -> CmdError {
        CmdError::Cluster(match self {
            Io::Connect => ClusterError::MigrateConnect,
            Io::Write => ClusterError::MigrateWrite,
            Io::Read => ClusterError::MigrateRead,
        })
    }
}

/// Connect to `host:port` within `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<Target, Io> {
    let addr = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(Io::Connect)?;
    // Redis connects without blocking and finds a refused connection when
    // it writes: only a timeout is a connect error.
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            Io::Connect
        } else {
            Io::Write
        }
    })?;
    let _ = stream.set_nodelay(true);
    Ok(Target::new(stream))
}

/// An exchange that broke off: how, and the reply lines read before.
struct Broken {
    io: Io,
    timed_out: bool,
    lines: Vec<String>,
}

/// Send `request` on `target` and read `replies` reply lines, each step
/// within `timeout`.
fn exchange(
    target: &mut Target,
    timeout: Duration,
    request: &[u8],
    replies: usize,
) -> Result<Vec<String>, Broken> {
    let timed_out = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        )
    };
    let broken = |io, timed_out, lines| Broken {
        io,
        timed_out,
        lines,
    };
    let stream = target.conn.get_mut();
    let timeouts = stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)));
    if let Err(e) = timeouts.and_then(|()| stream.write_all(request)) {
        return Err(broken(Io::Write, timed_out(&e), Vec::new()));
    }
    let mut lines = Vec::with_capacity(replies);
    for _ in 0..replies {
        let mut line = String::new();
        match target.conn.read_line(&mut line) {
            Ok(n) if n > 0 && line.ends_with('\n') => {
                lines.push(line.trim_end_matches(['\r', '\n']).to_string())
            }
            Ok(_) => return Err(broken(Io::Read, false, lines)),
            Err(e) => return Err(broken(Io::Read, timed_out(&e), lines)),
        }
    }
    Ok(lines)
}

/// Run MIGRATE.
pub fn execute<S: Store>(m: Migrate, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    let timeout = parse_int(&m.timeout)?;
    let db = parse_int(&m.db)?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    let now = ctx.now;
    let compress = ctx.config.rdbcompression;
    let unlocked = ctx.ks().keyspace().faults().unlocked_migrate;
    // In a cluster, commands on the slot wait while its keys move: the
    // gate is held exclusively from MIGRATE's admission (before the
    // journal's order lock), or taken here inside EXEC or a script.
    let gate = match m.keys.first() {
        Some(k)
            if ctx.state.cluster.enabled && !unlocked && (ctx.in_transaction || ctx.in_script) =>
        {
            Some(ctx.state.cluster.gate(key_slot(k)))
        }
        _ => None,
    };
    let _moving = gate
        .as_ref()
        .map(|g| crate::util::blocking_section(|| g.write()));
    let ks = ctx.ks();
    let mut guard = ks.lock_keys(m.keys.iter().map(|k| &k[..]));
    if unlocked {
        // The planted fault: read now, lock only to delete, later.
        guard = crate::db::KeysGuard::Held;
    }
    // (key, ttl ms or 0, payload) of the keys that exist.
    let found: Vec<(Bytes, u64, Vec<u8>)> = m
        .keys
        .iter()
        .filter_map(|k| {
            ks.read_locked(&guard, k, now, |e| {
                e.map(|e| {
                    let ttl = e.expires_at().map_or(0, |at| at.saturating_sub(now).max(1));
                    (k.clone(), ttl, rdb::dump_payload(&e.value, compress))
                })
            })
        })
        .collect();
    if found.is_empty() {
        return Ok(Frame::simple("NOKEY").into());
    }
    let host = String::from_utf8_lossy(&m.host).into_owned();
    let port = parse_int(&m.port)
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or(CmdError::Cluster(ClusterError::MigrateConnect))?;
    // The kept connection to the target, or a new one (Redis's
    // `migrateGetSocket`, named by the arguments as given).
    let name = format!("{host}:{}", String::from_utf8_lossy(&m.port));
    let sockets = &ctx.state.migrate;
    let mut may_retry = true;
    let (mut target, preamble, lines, broken) = loop {
        let mut target = match sockets.take(&name) {
            Some(t) => t,
            None => crate::util::blocking_section(|| connect(&host, port, timeout))
                .map_err(Io::error)?,
        };
        let (request, preamble) = request(&m, db, &target, &found, ctx.state.cluster.enabled);
        let replies = preamble + found.len();
        match crate::util::blocking_section(|| exchange(&mut target, timeout, &request, replies)) {
            Ok(lines) => break (target, preamble, lines, None),
            // A kept connection the target closed meanwhile is common:
            // once, when nothing was restored and it was no timeout, start
            // over on a new one (Redis's `may_retry`).
            Err(b) if may_retry && !b.timed_out && b.lines.len() <= preamble => {
                may_retry = false;
            }
            Err(b) => break (target, preamble, b.lines, Some(b.io)),
        }
    };
    if unlocked {
        std::thread::sleep(Duration::from_millis(2));
        guard = ks.lock_keys(found.iter().map(|(k, _, _)| &k[..]));
    }
    if lines.len() < preamble {
        // Broken before AUTH and SELECT answered: nothing was restored.
        return Err(broken.unwrap_or(Io::Read).error());
    }
    // AUTH and SELECT first: an error there means nothing was restored
    // (the connection is kept, to SELECT anew next time).
    if let Some(line) = lines[..preamble].iter().find(|l| l.starts_with('-')) {
        target.last_db = -1;
        if broken.is_none() {
            sockets.put(name, target, crate::util::unix_secs());
        }
        return Err(CmdError::Cluster(ClusterError::MigrateTarget(
            line[1..].to_string(),
        )));
    }
    let mut error = None;
    let mut deleted = Vec::new();
    for ((key, _, _), line) in found.iter().zip(&lines[preamble..]) {
        if let Some(e) = line.strip_prefix('-') {
            error.get_or_insert_with(|| e.to_string());
            continue;
        }
        if !m.copy {
            let gone = ks.mutate_locked(&guard, key, now, |slot| {
                let was = slot.entry().is_some();
                slot.remove();
                was
            });
            if gone {
                deleted.push(key.clone());
            }
        }
    }
    drop(guard);
    // A broken connection is dropped; a whole exchange keeps it, knowing
    // the database selected when every key went through.
    if broken.is_none() {
        target.last_db = if error.is_none() { db } else { -1 };
        sockets.put(name, target, crate::util::unix_secs());
    }
    if !deleted.is_empty() {
        journal::rewrite(|| {
            let mut argv = vec![Bytes::from_static(b"DEL")];
            argv.extend(deleted.iter().cloned());
            vec![argv]
        });
        for key in &deleted {
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    match (error, broken) {
        (Some(e), _) => Err(CmdError::Cluster(ClusterError::MigrateTarget(e))),
        (None, Some(io)) => Err(io.error()),
        (None, None) => Ok(Frame::ok().into()),
    }
}

/// The bytes MIGRATE sends: AUTH when asked, SELECT unless `target`
/// selected `db` last, one RESTORE (RESTORE-ASKING in a cluster) per key;
/// and how many replies come before the RESTOREs'.
fn request(
    m: &Migrate,
    db: i64,
    target: &Target,
    found: &[(Bytes, u64, Vec<u8>)],
    cluster: bool,
) -> (Vec<u8>, usize) {
    let mut request = Vec::new();
    let mut preamble = 0;
    match &m.auth {
        Some((Some(user), pass)) => encode_request::<&[u8]>(&[b"AUTH", user, pass], &mut request),
        Some((None, pass)) => encode_request::<&[u8]>(&[b"AUTH", pass], &mut request),
        None => {}
    }
    preamble += usize::from(m.auth.is_some());
    if target.last_db != db {
        let db_text = db.to_string();
        encode_request::<&[u8]>(&[b"SELECT", db_text.as_bytes()], &mut request);
        preamble += 1;
    }
    let restore: &[u8] = if cluster {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    for (key, ttl, payload) in found {
        let ttl = ttl.to_string();
        let mut args: Vec<&[u8]> = vec![restore, key, ttl.as_bytes(), payload];
        if m.replace {
            args.push(b"REPLACE");
        }
        encode_request::<&[u8]>(&args, &mut request);
    }
    (request, preamble)
}
