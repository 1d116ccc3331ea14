//! ZPOPMIN, ZPOPMAX, ZMPOP and the blocking BZPOPMIN, BZPOPMAX, BZMPOP.
//!
//! Blocking follows the list rules (`db::blocking`): the command checks
//! its keys and registers its waiter under their stripes; a command that
//! creates a sorted set on a key with waiters serves them, oldest first,
//! before it releases the stripe ([`serve_waiters`]), or right after a
//! transaction or a store/rename ([`serve_ready`]). Waiters of list pops
//! on the same key are left alone (Redis serves a client only from the
//! type it blocked for).

use bytes::Bytes;
use store_api::value::ZSet;
use store_api::Store;

use super::{bulk, scored, zset_of};
use crate::cmd::lists::block_on;
use crate::cmd::{CmdError, Ctx, Reply};
use crate::db::blocking::BlockOp;
use crate::db::events::class;
use crate::db::journal;
use crate::db::{Access, Keyspace};
use crate::protocol::Frame;

/// A parsed pop.
#[derive(Debug)]
pub struct Pop {
    /// Keys, tried in order.
    pub keys: Vec<Bytes>,
    /// From the top (ZPOPMAX) instead of the bottom.
    pub max: bool,
    /// How the reply is shaped.
    pub shape: Shape,
    /// How many to pop.
    pub count: usize,
    /// Blocking timeout in milliseconds (0: forever).
    pub block: Option<u64>,
}

/// The reply shapes of the pop commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// ZPOPMIN key: `[member, score]`.
    One,
    /// ZPOPMIN key count: pairs (nested in RESP3).
    Counted,
    /// ZMPOP / BZMPOP: `[key, [[member, score], ...]]`.
    Multi,
    /// BZPOPMIN: `[key, member, score]`.
    Keyed,
}

fn event(max: bool) -> &'static str {
    if max {
        "zpopmax"
    } else {
        "zpopmin"
    }
}

/// Pop up to `count` members from one end.
fn take(z: &mut ZSet, max: bool, count: usize) -> Vec<(Vec<u8>, f64)> {
    let n = count.min(z.len());
    if max {
        let len = z.len();
        let mut out = z.remove_range(len - n, len);
        out.reverse();
        out
    } else {
        z.remove_range(0, n)
    }
}

fn reply(key: &[u8], items: &[(Vec<u8>, f64)], shape: Shape) -> Frame {
    let flat = || {
        items
            .iter()
            .flat_map(|(m, s)| [bulk(m), Frame::Double(*s)])
            .collect::<Vec<_>>()
    };
    match shape {
        Shape::One => Frame::Array(flat()),
        Shape::Counted => Frame::Pairs(items.iter().map(|(m, s)| scored(m, *s)).collect()),
        Shape::Multi => Frame::Array(vec![
            bulk(key),
            Frame::Array(
                items
                    .iter()
                    .map(|(m, s)| Frame::Array(vec![bulk(m), Frame::Double(*s)]))
                    .collect(),
            ),
        ]),
        Shape::Keyed => {
            let mut v = vec![bulk(key)];
            v.extend(flat());
            Frame::Array(v)
        }
    }
}

/// How the append-only file records a pop (Redis propagates the blocking
/// and multi-key forms as ZPOPMIN/ZPOPMAX).
fn record(key: &[u8], max: bool, count: Option<usize>) -> Vec<Bytes> {
    let name: &'static [u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
    let mut argv = vec![Bytes::from_static(name), Bytes::copy_from_slice(key)];
    if let Some(n) = count {
        argv.push(Bytes::from(n.to_string()));
    }
    argv
}

/// Run a pop command.
pub fn execute<S: Store>(ctx: &mut Ctx<'_, S>, p: Pop) -> Result<Reply, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    if p.count == 0 {
        // ZPOPMIN key 0 still checks the type.
        ks.read(&p.keys[0], now, |e| zset_of(e).map(|_| ()))?;
        return Ok(Reply::Now(Frame::Array(vec![])));
    }
    let guard = ks.lock_keys(p.keys.iter().map(|k| &k[..]));
    for key in &p.keys {
        let popped = ks.mutate_locked(&guard, key, now, |slot| {
            let Some(z) = zset_of(slot.entry())?.cloned() else {
                return Ok(None);
            };
            let mut z = z.write();
            let items = take(&mut z, p.max, p.count);
            slot.changed();
            let emptied = z.is_empty();
            if emptied {
                slot.remove();
            }
            Ok::<_, CmdError>(Some((items, emptied)))
        })?;
        if let Some((items, emptied)) = popped {
            drop(guard);
            if p.block.is_some() || p.shape == Shape::Multi {
                // With the count popped, as Redis propagates it.
                let count = (p.shape != Shape::Keyed).then_some(items.len());
                journal::rewrite(|| vec![record(key, p.max, count)]);
            }
            ctx.notify(class::ZSET, event(p.max), key);
            if emptied {
                ctx.notify(class::GENERIC, "del", key);
            }
            return Ok(Reply::Now(reply(key, &items, p.shape)));
        }
    }
    Ok(match p.block {
        Some(timeout) if !ks.in_transaction() => {
            let count = (p.shape == Shape::Multi).then_some(p.count);
            let op = BlockOp::ZPop { max: p.max, count };
            block_on(ctx, p.keys, op, timeout)
        }
        _ if p.block.is_some() || p.shape == Shape::Multi => Reply::Now(Frame::NullArray),
        _ => Reply::Now(Frame::Array(vec![])),
    })
}

/// Serve the sorted-set waiters on `key`, whose set `z` was just created
/// (its stripe held, `z` locked), oldest first while members last. Events
/// go to `events` in order.
pub fn serve_waiters<S: Store>(
    ks: Access<'_, S>,
    key: &[u8],
    z: &mut ZSet,
    events: &mut Vec<(u32, &'static str, Bytes)>,
) {
    for w in ks.blocked().waiters(key) {
        if z.is_empty() {
            return;
        }
        let BlockOp::ZPop { max, count } = w.op else {
            continue;
        };
        let mut popped = 0;
        let served = w.serve(|| {
            let items = take(z, max, count.unwrap_or(1));
            popped = items.len();
            let shape = if count.is_some() {
                Shape::Multi
            } else {
                Shape::Keyed
            };
            Some(reply(key, &items, shape))
        });
        if served {
            journal::record_served(ks.index(), record(key, max, count.map(|_| popped)));
            events.push((class::ZSET, event(max), Bytes::copy_from_slice(key)));
            if z.is_empty() {
                events.push((class::GENERIC, "del", Bytes::copy_from_slice(key)));
            }
        }
        ks.blocked().remove(&w);
    }
}

/// Serve the sorted-set waiters on `key` after a command (a transaction,
/// a store, a rename), under ordinary locks.
pub fn serve_ready<S: Store>(ks: &Keyspace<S>, key: &[u8], now: u64) {
    if !ks.blocked().has_waiters(key) {
        return;
    }
    let access = Access::new(ks);
    let guard = access.lock_keys([key]);
    let mut events = Vec::new();
    access.mutate_locked(&guard, key, now, |slot| {
        let Ok(Some(z)) = zset_of(slot.entry()).map(|z| z.cloned()) else {
            return;
        };
        let mut z = z.write();
        serve_waiters(access, key, &mut z, &mut events);
        slot.changed();
        if z.is_empty() {
            slot.remove();
        }
    });
    drop(guard);
    for (class, event, k) in &events {
        ks.emit(*class, event, k);
    }
}
