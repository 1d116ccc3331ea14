//! MIGRATE: move keys to another server with DUMP payloads and RESTORE
//! (RESTORE-ASKING in cluster mode), as Redis's `migrateCommand` does.
//!
//! The keys' stripes stay locked from the first read to the last delete,
//! so no write to a migrating key can land between its DUMP and its local
//! deletion (Redis gets the same from being single-threaded). The target
//! is spoken to synchronously, within `timeout` for each step.

use std::io::{BufRead, BufReader, Write};
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

/// Send `request` to `host:port` and read `replies` reply lines.
fn exchange(
    host: &str,
    port: u16,
    timeout: Duration,
    request: &[u8],
    replies: usize,
) -> Result<Vec<String>, Io> {
    let addr = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(Io::Connect)?;
    // Redis connects without blocking and finds a refused connection when
    // it writes: only a timeout is a connect error.
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            Io::Connect
        } else {
            Io::Write
        }
    })?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|_| Io::Write)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|_| Io::Read)?;
    stream.write_all(request).map_err(|_| Io::Write)?;
    let mut reader = BufReader::new(stream);
    let mut lines = Vec::with_capacity(replies);
    for _ in 0..replies {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(n) if n > 0 => lines.push(line.trim_end_matches(['\r', '\n']).to_string()),
            _ => return Err(Io::Read),
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
    let mut request = Vec::new();
    let mut replies = found.len();
    match &m.auth {
        Some((Some(user), pass)) => encode_request::<&[u8]>(&[b"AUTH", user, pass], &mut request),
        Some((None, pass)) => encode_request::<&[u8]>(&[b"AUTH", pass], &mut request),
        None => {}
    }
    replies += usize::from(m.auth.is_some());
    let db_text = db.to_string();
    encode_request::<&[u8]>(&[b"SELECT", db_text.as_bytes()], &mut request);
    replies += 1;
    let restore: &[u8] = if ctx.state.cluster.enabled {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    for (key, ttl, payload) in &found {
        let ttl = ttl.to_string();
        let mut args: Vec<&[u8]> = vec![restore, key, ttl.as_bytes(), payload];
        if m.replace {
            args.push(b"REPLACE");
        }
        encode_request::<&[u8]>(&args, &mut request);
    }
    let host = String::from_utf8_lossy(&m.host).into_owned();
    let port = parse_int(&m.port)
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or(CmdError::Cluster(ClusterError::MigrateConnect))?;
    let lines = crate::util::blocking_section(|| exchange(&host, port, timeout, &request, replies))
        .map_err(Io::error)?;
    if unlocked {
        std::thread::sleep(Duration::from_millis(2));
        guard = ks.lock_keys(found.iter().map(|(k, _, _)| &k[..]));
    }
    // AUTH and SELECT first: an error there means nothing was restored.
    let preamble = replies - found.len();
    if let Some(line) = lines[..preamble].iter().find(|l| l.starts_with('-')) {
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
    match error {
        Some(e) => Err(CmdError::Cluster(ClusterError::MigrateTarget(e))),
        None => Ok(Frame::ok().into()),
    }
}
