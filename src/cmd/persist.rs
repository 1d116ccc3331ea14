//! Persistence commands: SAVE, BGSAVE, LASTSAVE, DUMP, RESTORE, and DEBUG
//! RELOAD's work (DEBUG itself is parsed in `debug`). The work is in
//! `state::persist` (saves and loads) and `db::rdb` (the format).

use bytes::Bytes;
use store_api::{Entry, Store};

use super::{is, parse_int, Args, CmdError, Command, Ctx, Reply, Row};
use crate::db::events::class;
use crate::db::rdb::RdbError;
use crate::db::snapshot::Existing;
use crate::db::{evict, journal, rdb};
use crate::protocol::Frame;
use crate::state::aof::{Rewrite, RewriteError};
use crate::state::persist::{shapes, SaveError};

/// Persistence commands.
#[derive(Debug)]
pub enum Cmd {
    /// `SAVE`
    Save,
    /// `BGSAVE [SCHEDULE]`
    BgSave { schedule: bool },
    /// `LASTSAVE`
    LastSave,
    /// `DUMP key`
    Dump(Bytes),
    /// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`
    Restore(Box<Restore>),
    /// `BGREWRITEAOF`
    BgRewriteAof,
}

/// RESTORE's arguments.
#[derive(Debug)]
pub struct Restore {
    key: Bytes,
    ttl: Bytes,
    payload: Bytes,
    replace: bool,
    absttl: bool,
    /// IDLETIME seconds (the LRU clock, under an LRU policy).
    idletime: Option<u64>,
    /// FREQ (the LFU counter, under an LFU policy).
    freq: Option<u8>,
}

fn parse_save(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Persist(Cmd::Save))
}

fn parse_bgsave(a: Args<'_>) -> Result<Command, CmdError> {
    let schedule = match a.rest().as_slice() {
        [] => false,
        [s] if is(s, "SCHEDULE") => true,
        _ => return Err(CmdError::Syntax),
    };
    Ok(Command::Persist(Cmd::BgSave { schedule }))
}

fn parse_bgrewriteaof(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Persist(Cmd::BgRewriteAof))
}

fn parse_lastsave(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Persist(Cmd::LastSave))
}

fn parse_dump(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Persist(Cmd::Dump(a.rest().swap_remove(0))))
}

fn parse_restore(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    let (key, ttl, payload) = (rest[0].clone(), rest[1].clone(), rest[2].clone());
    let (mut replace, mut absttl) = (false, false);
    let (mut idletime, mut freq) = (None, None);
    let mut i = 3;
    while i < rest.len() {
        let opt = &rest[i];
        let more = i + 1 < rest.len();
        if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "ABSTTL") {
            absttl = true;
        } else if is(opt, "IDLETIME") && more {
            i += 1;
            let secs = parse_int(&rest[i])?;
            if secs < 0 {
                return Err(CmdError::InvalidIdletime);
            }
            idletime = Some(secs as u64);
        } else if is(opt, "FREQ") && more {
            i += 1;
            let f = parse_int(&rest[i])?;
            if !(0..=255).contains(&f) {
                return Err(CmdError::InvalidFreq);
            }
            freq = Some(f as u8);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(Command::Persist(Cmd::Restore(Box::new(Restore {
        key,
        ttl,
        payload,
        replace,
        absttl,
        idletime,
        freq,
    }))))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("save", parse_save),
    ("bgsave", parse_bgsave),
    ("lastsave", parse_lastsave),
    ("dump", parse_dump),
    ("restore", parse_restore),
    ("restore-asking", parse_restore),
    ("bgrewriteaof", parse_bgrewriteaof),
];

/// Execute a persistence command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    let state = ctx.state;
    match cmd {
        Cmd::Save => match state.persist.save(&state.db, ctx.config) {
            Ok(_) => Ok(Frame::ok().into()),
            Err(SaveError::InProgress) => Err(CmdError::SaveInProgress),
            Err(SaveError::Io(_)) => Err(CmdError::SaveFailed),
        },
        Cmd::BgSave { schedule } => {
            if state.persist.in_progress() {
                return Err(CmdError::SaveInProgress);
            }
            if state.aof.rewriting() {
                if !schedule {
                    return Err(CmdError::ChildActive);
                }
                state.persist.schedule();
                return Ok(Frame::simple("Background saving scheduled").into());
            }
            if ctx.in_transaction() {
                // EXEC holds stripes a snapshot's start needs: run it after.
                state.persist.schedule();
                return Ok(Frame::simple("Background saving scheduled").into());
            }
            let _ = schedule;
            match state.persist.bgsave(&state.db, ctx.config.clone()) {
                Ok(()) => Ok(Frame::simple("Background saving started").into()),
                Err(SaveError::InProgress) => Err(CmdError::SaveInProgress),
                Err(SaveError::Io(_)) => Err(CmdError::SaveFailed),
            }
        }
        Cmd::BgRewriteAof => {
            if state.aof.rewriting() {
                return Err(CmdError::RewriteInProgress);
            }
            if ctx.in_transaction() {
                // EXEC holds what the rewrite's start needs: run it after.
                state.aof.schedule();
                return Ok(Frame::simple("Background append only file rewriting scheduled").into());
            }
            match state.aof.rewrite(&state.db, ctx.config.clone()) {
                Ok(Rewrite::Started) => {
                    Ok(Frame::simple("Background append only file rewriting started").into())
                }
                Ok(Rewrite::Scheduled) => {
                    Ok(Frame::simple("Background append only file rewriting scheduled").into())
                }
                Err(RewriteError::InProgress) => Err(CmdError::RewriteInProgress),
                Err(RewriteError::Io(_)) => Err(CmdError::RewriteFailedToStart),
            }
        }
        Cmd::LastSave => Ok(Frame::Integer(state.persist.last_save() as i64).into()),
        Cmd::Dump(key) => {
            let compress = ctx.config.rdbcompression;
            let payload = ctx.ks().read(&key, ctx.now, |e| {
                e.map(|e| rdb::dump_payload(&e.value, compress))
            });
            Ok(match payload {
                Some(p) => Frame::Bulk(Bytes::from(p)),
                // The read reported the miss.
                None => Frame::Null,
            }
            .into())
        }
        Cmd::Restore(r) => restore(*r, ctx).map(Reply::Now),
    }
}

/// DEBUG RELOAD: save, then replace the databases with what was saved.
pub(super) fn debug_reload<S: Store>(
    ctx: &mut Ctx<'_, S>,
    options: &[Bytes],
) -> Result<Frame, CmdError> {
    let (mut save, mut flush, mut merge) = (true, true, false);
    for o in options {
        match () {
            _ if o.eq_ignore_ascii_case(b"MERGE") => merge = true,
            _ if o.eq_ignore_ascii_case(b"NOFLUSH") => flush = false,
            _ if o.eq_ignore_ascii_case(b"NOSAVE") => save = false,
            _ => return Err(CmdError::ReloadOptions),
        }
    }
    if ctx.in_transaction() {
        return Err(CmdError::NotInMulti);
    }
    let state = ctx.state;
    let config = ctx.config.clone();
    if save {
        match state.persist.save(&state.db, &config) {
            Ok(_) => {}
            Err(SaveError::InProgress) => return Err(CmdError::SaveInProgress),
            Err(SaveError::Io(_)) => return Err(CmdError::SaveFailed),
        }
    }
    // MERGE matters only with NOFLUSH: without it nothing is left to
    // merge with.
    let existing = match (flush, merge) {
        (true, _) => Existing::Flush,
        (false, false) => Existing::Keep,
        (false, true) => Existing::Merge,
    };
    let loaded = std::fs::read(config.rdb_path())
        .map_err(RdbError::from)
        .and_then(|bytes| {
            state
                .persist
                .load_bytes(&state.db, &config, &bytes, existing)
        });
    if let Err(e) = loaded {
        tracing::warn!(cause = %e, "DEBUG RELOAD could not load the RDB file");
        return Err(CmdError::ReloadFailed);
    }
    tracing::warn!("DB reloaded by DEBUG RELOAD");
    Ok(Frame::ok())
}

fn restore<S: Store>(r: Restore, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    // Redis looks for the key before it looks at the payload.
    if !r.replace && ctx.ks().read(&r.key, ctx.now, |e| e.is_some()) {
        return Err(CmdError::BusyKey);
    }
    let ttl = parse_int(&r.ttl)?;
    if ttl < 0 {
        return Err(CmdError::InvalidTtl);
    }
    let verify = !ctx
        .state
        .skip_checksum
        .load(std::sync::atomic::Ordering::Relaxed);
    let value = match rdb::restore_payload(&r.payload, &shapes(ctx.config), verify) {
        None => return Err(CmdError::BadPayload),
        Some(Err(_)) | Some(Ok(None)) => {
            // Redis's `rdbReportCorruptRDB` line (its tests look for it).
            tracing::warn!("RESTORE payload refused: integrity check failed (Bad data format)");
            return Err(CmdError::BadDataFormat);
        }
        Some(Ok(Some(v))) => v,
    };
    let expires_at = match (ttl, r.absttl) {
        (0, _) => None,
        (t, true) => Some(t as u64),
        (t, false) => Some(ctx.now.saturating_add(t as u64)),
    };
    let expired = expires_at.is_some_and(|at| at <= ctx.now);
    let lfu = ctx.config.memory.policy.is_lfu();
    // A new object: a fresh clock unless an option sets it (even over a
    // replaced key, whose history it does not inherit).
    let clock = evict::restored_clock(lfu, r.freq, r.idletime, ctx.now)
        .unwrap_or_else(|| ctx.state.db.events().access_clock().fresh(ctx.now));
    let outcome = ctx.ks().mutate(&r.key, ctx.now, |slot| {
        let exists = slot.entry().is_some();
        if exists && !r.replace {
            return Err(CmdError::BusyKey);
        }
        if expired {
            // Already expired: the key is gone (if REPLACE found one).
            slot.remove();
            return Ok(exists);
        }
        slot.put_with_clock(Entry::new(value, expires_at), Some(clock));
        Ok(false)
    })?;
    if expired {
        if outcome {
            journal::rewrite(|| vec![journal::words(&[b"DEL", &r.key])]);
            ctx.notify(class::GENERIC, "del", &r.key);
        }
    } else {
        if let (Some(at), false) = (expires_at, r.absttl) {
            // Logged with an absolute TTL, as Redis propagates it.
            journal::rewrite(|| {
                let at = at.to_string();
                let mut argv = journal::words(&[b"RESTORE", &r.key, at.as_bytes(), &r.payload]);
                if r.replace {
                    argv.push(Bytes::from_static(b"REPLACE"));
                }
                argv.push(Bytes::from_static(b"ABSTTL"));
                vec![argv]
            });
        }
        ctx.notify(class::GENERIC, "restore", &r.key);
    }
    Ok(Frame::ok())
}
