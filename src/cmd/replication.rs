//! Replication commands, master side: SYNC, PSYNC, REPLCONF, ROLE, and
//! REPLICAOF (which accepts only NO ONE: FlashKV never replicates from
//! another server). The synchronisation itself is `state::replicas`.

use bytes::Bytes;
use store_api::Store;

use super::{is, parse_int, Args, CmdError, Command, Ctx, Reply, Row};
use crate::protocol::Frame;
use crate::state::replicas::Stage;

/// Replication commands.
#[derive(Debug)]
pub enum Cmd {
    /// `SYNC`, or `PSYNC replid offset` (`true`).
    Sync(bool),
    /// `REPLCONF option value [option value ...]`
    Replconf(Vec<Bytes>),
    /// `ROLE`
    Role,
    /// `REPLICAOF NO ONE` (`true`) or `REPLICAOF host port`.
    ReplicaOf(bool),
}

fn replication(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Replication(c))
}

fn parse_psync(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    // Redis checks the offset only (a replica that does not know its
    // master sends `? -1`); every PSYNC gets a full resync here.
    parse_int(&rest[1])?;
    replication(Cmd::Sync(true))
}

fn parse_replconf(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    if rest.len() % 2 == 1 {
        return Err(CmdError::Syntax);
    }
    replication(Cmd::Replconf(rest))
}

fn parse_replicaof(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    let no_one = is(&rest[0], "NO") && is(&rest[1], "ONE");
    if !no_one && !parse_int(&rest[1]).is_ok_and(|p| (0..=65535).contains(&p)) {
        return Err(CmdError::InvalidMasterPort);
    }
    replication(Cmd::ReplicaOf(no_one))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("sync", |_| replication(Cmd::Sync(false))),
    ("psync", parse_psync),
    ("replconf", parse_replconf),
    ("role", |_| replication(Cmd::Role)),
    ("replicaof", parse_replicaof),
    ("slaveof", parse_replicaof),
];

/// No reply at all (REPLCONF ACK, a second SYNC; SYNC's own answer goes
/// through the mailbox, in order with the image).
fn silence() -> Reply {
    Reply::Now(Frame::Seq(vec![]))
}

/// Execute a replication command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    Ok(match cmd {
        Cmd::Sync(psync) => {
            if ctx.session.replica {
                return Ok(silence());
            }
            let conf = ctx.session.repl_conf.clone();
            if conf.filter.is_some() && !conf.eof {
                return Err(reply("ERR Filtered replica requires EOF capability"));
            }
            ctx.session.replica = true;
            let state = ctx.state;
            state.replicas.sync(
                &state.db,
                ctx.config.clone(),
                ctx.session.handle.clone(),
                conf,
                psync,
                state.run_id.clone(),
            );
            silence()
        }
        Cmd::Replconf(pairs) => return replconf(ctx, &pairs),
        Cmd::Role => {
            let replicas = ctx
                .state
                .replicas
                .list()
                .into_iter()
                .filter(|r| r.stage() == Stage::Online)
                .map(|r| {
                    Frame::Array(vec![
                        Frame::bulk(r.ip.clone()),
                        Frame::bulk(r.port.to_string()),
                        Frame::bulk(r.ack().to_string()),
                    ])
                })
                .collect();
            Reply::Now(Frame::Array(vec![
                Frame::bulk("master"),
                Frame::Integer(ctx.state.db.journal().repl_offset() as i64),
                Frame::Array(replicas),
            ]))
        }
        Cmd::ReplicaOf(true) => Reply::Now(Frame::ok()),
        Cmd::ReplicaOf(false) => return Err(CmdError::NoReplication),
    })
}

fn reply(text: &str) -> CmdError {
    CmdError::Reply(Bytes::copy_from_slice(text.as_bytes()))
}

/// Redis's `replconfCommand`: options are applied in order, and the first
/// bad one answers its error (those before it stay applied).
fn replconf<S: Store>(ctx: &mut Ctx<'_, S>, pairs: &[Bytes]) -> Result<Reply, CmdError> {
    for pair in pairs.chunks(2) {
        let (opt, value) = (&pair[0], &pair[1]);
        let conf = &mut ctx.session.repl_conf;
        if is(opt, "listening-port") {
            conf.port = parse_int(value)?;
        } else if is(opt, "ip-address") {
            if value.len() >= 46 {
                return Err(reply(&format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                )));
            }
            conf.ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(opt, "capa") {
            conf.eof |= is(value, "eof");
        } else if is(opt, "ack") {
            // From a replica only, and never answered.
            if ctx.session.replica {
                if let Ok(offset) = parse_int(value) {
                    let id = ctx.session.handle.id;
                    ctx.state.replicas.ack(id, offset.max(0) as u64);
                }
            }
            return Ok(silence());
        } else if is(opt, "getack") {
            // Asked of replicas; FlashKV is never one.
            return Ok(silence());
        } else if is(opt, "rdb-only") {
            match parse_int(value)? {
                0 => conf.rdb_only = false,
                1 => conf.rdb_only = true,
                _ => {
                    return Err(reply(
                        "ERR value is out of range, value must between 0 and 1",
                    ))
                }
            }
        } else if is(opt, "rdb-filter-only") {
            let mut functions = false;
            for word in value
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
            {
                if is(word, "functions") {
                    functions = true;
                } else {
                    return Err(reply(&format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(word)
                    )));
                }
            }
            conf.filter = Some(functions);
        } else {
            return Err(reply(&format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    Ok(Reply::Now(Frame::ok()))
}

/// INFO's replication section: the master's view.
pub fn info_fields<S: Store>(ctx: &Ctx<'_, S>) -> Vec<(String, String)> {
    let state = ctx.state;
    let replicas = state.replicas.list();
    let mut out = vec![
        ("role".to_string(), "master".to_string()),
        ("connected_slaves".to_string(), replicas.len().to_string()),
    ];
    let config = ctx.config;
    if config.min_replicas_to_write > 0 && config.min_replicas_max_lag > 0 {
        let good = state.replicas.good(config.min_replicas_max_lag);
        out.push(("min_slaves_good_slaves".to_string(), good.to_string()));
    }
    for (i, r) in replicas.iter().enumerate() {
        out.push((
            format!("slave{i}"),
            format!(
                "ip={},port={},state={},offset={},lag={}",
                r.ip,
                r.port,
                r.stage().name(),
                r.ack(),
                r.lag()
            ),
        ));
    }
    out
}
