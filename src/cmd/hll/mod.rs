//! HyperLogLog: PFADD, PFCOUNT, PFMERGE over Redis 7.0's exact string
//! representation (`hyperloglog.c`), so GET of an HLL key returns the
//! same bytes as Redis and every estimate equals Redis's.
//!
//! Layout: a 16-byte header ("HYLL", encoding 0 dense / 1 sparse, three
//! unused bytes, the cached cardinality as 8 little-endian bytes whose top
//! bit marks it stale), then the registers: 16384 six-bit registers packed
//! little-endian (dense, 12288 bytes), or runs of opcodes (sparse: ZERO
//! `00xxxxxx` 1-64 zero registers, XZERO `01xxxxxx yyyyyyyy` up to 16384,
//! VAL `1vvvvvxx` a value 1-32 repeated 1-4 times). A sparse HLL turns
//! dense when it would outgrow `hll-sparse-max-bytes` or a register
//! exceeds 32. Elements are hashed with MurmurHash64A (seed 0xadc83b19);
//! the estimate is Ertl's improved estimator, as Redis 7.0 computes it.

mod debug;
mod repr;

use bytes::Bytes;
use store_api::{Entry, Store, Str, Value};

use repr::{
    add, check, dense_set, estimate, histogram, invalidate, merge_into, new_hll, sparse_set,
    to_dense, DENSE, HDR, REGISTERS,
};

use super::value::{edit_str, str_of, Created};
use super::{Args, CmdError, Command, Ctx, Reply, Row};
use crate::db::events::class;
use crate::protocol::Frame;

/// HyperLogLog commands.
#[derive(Debug)]
pub enum Cmd {
    /// `PFADD key [element ...]`
    Add(Bytes, Vec<Bytes>),
    /// `PFCOUNT key [key ...]`
    Count(Vec<Bytes>),
    /// `PFMERGE destkey [sourcekey ...]`
    Merge(Bytes, Vec<Bytes>),
    /// `PFDEBUG subcommand key`
    Debug(Bytes, Bytes),
    /// `PFSELFTEST`
    SelfTest,
}

fn parse_pfadd(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Hll(Cmd::Add(key, a.rest())))
}

fn parse_pfcount(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Hll(Cmd::Count(a.rest())))
}

fn parse_pfmerge(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    Ok(Command::Hll(Cmd::Merge(key, a.rest())))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("pfadd", parse_pfadd),
    ("pfcount", parse_pfcount),
    ("pfmerge", parse_pfmerge),
    ("pfdebug", |mut a| {
        let sub = a.bytes()?;
        Ok(Command::Hll(Cmd::Debug(sub, a.bytes()?)))
    }),
    ("pfselftest", |_| Ok(Command::Hll(Cmd::SelfTest))),
];

/// Execute a HyperLogLog command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    let max_bytes = ctx.config.encodings.hll_sparse_max_bytes;
    match cmd {
        // Ten million additions: on a blocking thread, not a worker.
        Cmd::SelfTest => Ok(Reply::Later(Box::new(move || {
            match debug::selftest(max_bytes) {
                Ok(()) => Frame::ok(),
                Err(e) => Frame::Error(format!("ERR {e}").into()),
            }
        }))),
        Cmd::Debug(sub, key) => debug::pfdebug(ctx, &sub, &key).map(Reply::Now),
        cmd => run(cmd, ctx, max_bytes).map(Reply::Now),
    }
}

fn run<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>, max_bytes: usize) -> Result<Frame, CmdError> {
    match cmd {
        Cmd::Add(key, elements) => {
            // A dense HLL (12 KB) is edited in place (see `edit_str`).
            let updated = edit_str(&ctx.ks(), &key, ctx.now, Created::Raw, |s, exists| {
                let mut updated = !exists;
                if exists {
                    check(s)?;
                } else {
                    *s = new_hll();
                }
                for e in &elements {
                    updated |= add(s, e, max_bytes).map_err(|_| CmdError::CorruptHll)?;
                }
                if updated {
                    invalidate(s);
                }
                Ok((updated, updated))
            })?;
            if updated {
                ctx.notify(class::STRING, "pfadd", &key);
            }
            Ok(Frame::Integer(i64::from(updated)))
        }
        Cmd::Count(keys) if keys.len() == 1 => {
            // One key: answer the cached estimate, or compute and cache it
            // (a write, as in Redis).
            edit_str(&ctx.ks(), &keys[0], ctx.now, Created::Raw, |s, exists| {
                if !exists {
                    return Ok((Frame::Integer(0), false));
                }
                check(s)?;
                if s[15] & 0x80 == 0 {
                    let card = u64::from_le_bytes(s[8..16].try_into().unwrap_or_default());
                    return Ok((Frame::Integer(card as i64), false));
                }
                let card = estimate(&histogram(s).map_err(|_| CmdError::CorruptHll)?);
                s[8..16].copy_from_slice(&card.to_le_bytes());
                Ok((Frame::Integer(card as i64), true))
            })
        }
        Cmd::Count(keys) => {
            let max = ctx.ks().read_all(&keys, ctx.now, |entries| {
                let mut max = [0u8; REGISTERS];
                for e in entries {
                    if let Some(s) = str_of(e.as_ref())? {
                        check(&s)?;
                        merge_into(&mut max, &s).map_err(|_| CmdError::CorruptHll)?;
                    }
                }
                Ok::<_, CmdError>(max)
            })?;
            let mut h = [0u32; 64];
            for &r in max.iter() {
                h[usize::from(r)] += 1;
            }
            Ok(Frame::Integer(estimate(&h) as i64))
        }
        Cmd::Merge(dst, sources) => merge(ctx, &dst, &sources, max_bytes),
        Cmd::Debug(..) | Cmd::SelfTest => unreachable!("answered by execute"),
    }
}

/// PFMERGE: the registers' maximum over `dst` and every source, written
/// into `dst` (dense if any input was dense).
fn merge<S: Store>(
    ctx: &mut Ctx<'_, S>,
    dst: &Bytes,
    sources: &[Bytes],
    max_bytes: usize,
) -> Result<Frame, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    let all: Vec<&[u8]> = std::iter::once(&dst[..])
        .chain(sources.iter().map(|k| &k[..]))
        .collect();
    let guard = ks.lock_keys(all.iter().copied());
    let mut max = [0u8; REGISTERS];
    let mut dense = false;
    for k in &all {
        let s = ks.read_locked(&guard, k, now, |e| str_of(e).map(|s| s.map(|s| s.to_str())))?;
        if let Some(s) = s {
            check(&s)?;
            dense |= s[4] == DENSE;
            merge_into(&mut max, &s).map_err(|_| CmdError::CorruptHll)?;
        }
    }
    ks.mutate_locked(&guard, dst, now, |slot| {
        let old = slot
            .entry()
            .and_then(|e| Some((e.value.str_bytes()?.to_vec(), e.expires_at())));
        let (mut s, ttl) = old.unwrap_or_else(|| (new_hll(), None));
        if dense {
            s = to_dense(&s).ok_or(CmdError::CorruptHll)?;
        }
        for (i, &m) in max.iter().enumerate() {
            if m == 0 {
                continue;
            }
            if s[4] == DENSE {
                dense_set(&mut s[HDR..], i, m);
            } else {
                sparse_set(&mut s, i, m, max_bytes).map_err(|_| CmdError::CorruptHll)?;
            }
        }
        invalidate(&mut s);
        slot.put(Entry::new(Value::Str(Str::raw(&s)), ttl));
        Ok::<_, CmdError>(())
    })?;
    drop(guard);
    ctx.notify(class::STRING, "pfadd", dst);
    Ok(Frame::ok())
}
