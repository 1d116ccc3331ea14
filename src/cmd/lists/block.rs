//! Moves between lists, multi-key pops, the blocking forms, and serving
//! blocked clients (`db::blocking` states the rules).
//!
//! A blocking command locks every key it names, pops at once if it can,
//! and otherwise registers its waiter under those same locks and returns
//! [`Reply::Block`]; the connection then waits for the waiter to be served,
//! to time out, or to be unblocked. A push that creates a list serves the
//! waiters on it, oldest first, while it still holds the list's stripe
//! ([`serve_created`]). A BLMOVE waiter also needs its destination's
//! stripe: the pusher takes it if it is free at once; otherwise (or inside
//! a transaction) serving that key is finished right after the command,
//! under ordinary locks ([`serve_ready`]).

use std::sync::Arc;

use bytes::Bytes;
use store_api::value::list::End;
use store_api::value::{shared, List};
use store_api::{Coll, Store, Value};

use super::{MPop, Move};
use crate::cmd::value::{fresh, list_of};
use crate::cmd::{Blocked, CmdError, Ctx, Reply};
use crate::db::blocking::{BlockOp, Waiter};
use crate::db::events::class;
use crate::db::journal;
use crate::db::{Access, KeysGuard, Keyspace};
use crate::protocol::Frame;
use crate::state::Event;

fn bulk(e: Vec<u8>) -> Frame {
    Frame::Bulk(Bytes::from(e))
}

/// The keyspace event of a pop from `end`.
pub fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// The keyspace event of a push onto `end`.
pub fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// What a command that serves blocked clients leaves for after its own
/// work: lists whose waiters still need serving, and the keyspace events
/// of what it did for them (reported after the command's own, as Redis
/// serves blocked clients after the command).
#[derive(Default)]
pub struct Aftermath {
    /// Lists to finish serving once the command's locks are released.
    pub ready: Vec<Bytes>,
    /// Keyspace events, in order: (class, event, key).
    pub events: Vec<(u32, &'static str, Bytes)>,
}

impl Aftermath {
    fn event(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.events
            .push((class, event, Bytes::copy_from_slice(key)));
    }

    /// Report the events and queue the ready lists of database `ks`.
    pub fn finish<S: Store>(self, ctx: &mut Ctx<'_, S>) {
        for (class, event, key) in &self.events {
            ctx.notify(*class, event, key);
        }
        ctx.defer_ready(self.ready);
    }
}

fn key_frame(k: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(k))
}

/// Pop from `key`'s list `from` one end and push onto `dst`'s `to` end,
/// with both stripes held. `Ok(None)` when `key` has no list. A `dst`
/// created by the push serves its own blocked clients.
fn move_held<S: Store>(
    ks: Access<'_, S>,
    held: &KeysGuard<'_>,
    (key, dst): (&[u8], &[u8]),
    (from, to): (End, End),
    now: u64,
    limit: i64,
    after: &mut Aftermath,
) -> Result<Option<Vec<u8>>, CmdError> {
    if ks.read_locked(held, key, now, |e| list_of(e).map(|l| l.is_none()))? {
        return Ok(None);
    }
    ks.read_locked(held, dst, now, |e| list_of(e).map(|_| ()))?;
    let popped = ks.mutate_locked(held, key, now, |slot| {
        let list = list_of(slot.entry()).ok().flatten()?.clone();
        let mut l = list.write();
        let elem = l.pop(from)?;
        slot.changed();
        // Moving onto the same list: it is never left empty.
        let emptied = l.is_empty() && key != dst;
        if emptied {
            slot.remove();
        }
        Some((elem, emptied))
    });
    let Some((elem, emptied)) = popped else {
        return Ok(None);
    };
    push_into(ks, held, dst, to, &elem, now, limit, after);
    // Redis's order: the push, then the pop, then the deletion.
    after.event(class::LIST, push_event(to), dst);
    after.event(class::LIST, pop_event(from), key);
    if emptied {
        after.event(class::GENERIC, "del", key);
    }
    Ok(Some(elem))
}

/// Push `elem` onto `key` (stripe held), creating the list and serving its
/// blocked clients as needed. The caller checked the type.
#[allow(clippy::too_many_arguments)]
fn push_into<S: Store>(
    ks: Access<'_, S>,
    held: &KeysGuard<'_>,
    key: &[u8],
    to: End,
    elem: &[u8],
    now: u64,
    limit: i64,
    after: &mut Aftermath,
) {
    ks.mutate_locked(held, key, now, |slot| {
        let (list, created) = match list_of(slot.entry()) {
            Ok(Some(l)) => (l.clone(), false),
            _ => (shared(List::new(limit)), true),
        };
        let mut l = list.write();
        l.push(to, elem);
        slot.changed();
        if created {
            // Redis reports `new` with the push (after the command's own
            // events when this push serves a blocked client).
            slot.put_new_later(fresh(Value::Coll(Coll::List(list.clone()))));
            after.event(class::NEW, "new", key);
            serve_created(ks, key, &mut l, (now, limit), after);
            if l.is_empty() {
                slot.remove();
                after.event(class::GENERIC, "del", key);
            }
        }
    });
}

/// Serve the clients blocked on `key`, whose list was just created (its
/// stripe is held and `list` is locked for writing), oldest first, while
/// elements last. A BLMOVE waiter whose destination stripe is busy (or
/// inside a transaction) stops the round: `key` goes to `after.ready`, to
/// be finished after the command.
pub fn serve_created<S: Store>(
    ks: Access<'_, S>,
    key: &[u8],
    list: &mut List,
    (now, limit): (u64, i64),
    after: &mut Aftermath,
) {
    if ks.in_transaction() && ks.blocked().has_waiters(key) {
        // Inside EXEC or a script nobody is served until it ends, and then
        // from what the key holds at the end (Redis's
        // `handleClientsBlockedOnKeys` after the call): a push that a later
        // command of the same transaction undoes wakes nobody.
        after.ready.push(Bytes::copy_from_slice(key));
        return;
    }
    for w in ks.blocked().waiters(key) {
        if list.is_empty() {
            return;
        }
        match &w.op {
            BlockOp::ZPop { .. } => continue,
            BlockOp::Pop { end, count } => {
                // Logged with the count popped, as Redis propagates it.
                let n = count.map(|c| c.min(list.len()));
                if w.serve(|| Some(pop_reply(key, list, *end, *count))) {
                    journal::record_served(ks.index(), pop_record(key, *end, n));
                    after.event(class::LIST, pop_event(*end), key);
                }
            }
            BlockOp::Move { dst, from, to } => {
                if dst[..] == *key {
                    let served = w.serve(|| {
                        let e = list.pop(*from)?;
                        list.push(*to, &e);
                        journal::record_served(ks.index(), move_record(key, dst, *from, *to));
                        Some(bulk(e))
                    });
                    if served {
                        after.event(class::LIST, push_event(*to), key);
                        after.event(class::LIST, pop_event(*from), key);
                    }
                } else if ks.in_transaction() {
                    after.ready.push(Bytes::copy_from_slice(key));
                    return;
                } else {
                    let guard = if ks.locks().same_stripe(key, dst) {
                        Some(KeysGuard::Held)
                    } else {
                        ks.locks().try_lock_one(dst).map(KeysGuard::Own)
                    };
                    let Some(guard) = guard else {
                        after.ready.push(Bytes::copy_from_slice(key));
                        return;
                    };
                    w.serve(|| {
                        serve_move(
                            ks,
                            &guard,
                            list,
                            (key, dst),
                            (*from, *to),
                            now,
                            limit,
                            after,
                        )
                    });
                }
            }
        }
        ks.blocked().remove(&w);
    }
}

/// A BLMOVE waiter's move out of `list` (locked) into `dst` (stripe held):
/// its reply, or WRONGTYPE (without popping) when `dst` holds another type.
#[allow(clippy::too_many_arguments)]
fn serve_move<S: Store>(
    ks: Access<'_, S>,
    held: &KeysGuard<'_>,
    list: &mut List,
    (key, dst): (&[u8], &[u8]),
    (from, to): (End, End),
    now: u64,
    limit: i64,
    after: &mut Aftermath,
) -> Option<Frame> {
    debug_assert!(
        ks.locks().is_exclusive(dst),
        "a served move holds its destination's stripe"
    );
    if let Err(e) = ks.read_locked(held, dst, now, |e| list_of(e).map(|_| ())) {
        return Some(e.to_frame());
    }
    let e = list.pop(from)?;
    journal::record_served(ks.index(), move_record(key, dst, from, to));
    push_into(ks, held, dst, to, &e, now, limit, after);
    after.event(class::LIST, push_event(to), dst);
    after.event(class::LIST, pop_event(from), key);
    Some(bulk(e))
}

/// How the append-only file records a pop (a served or immediate BLPOP,
/// BRPOP or BLMPOP), as Redis propagates it.
fn pop_record(key: &[u8], end: End, count: Option<usize>) -> Vec<Bytes> {
    let name: &'static [u8] = match end {
        End::Left => b"LPOP",
        End::Right => b"RPOP",
    };
    let mut argv = vec![Bytes::from_static(name), Bytes::copy_from_slice(key)];
    if let Some(n) = count {
        argv.push(Bytes::from(n.to_string()));
    }
    argv
}

/// How the append-only file records a move (LMOVE and its blocking and
/// RPOPLPUSH spellings).
fn move_record(src: &[u8], dst: &[u8], from: End, to: End) -> Vec<Bytes> {
    // In lower case, as Redis's `shared.left` and `shared.right`.
    let word = |e: End| -> Bytes {
        Bytes::from_static(match e {
            End::Left => b"left",
            End::Right => b"right",
        })
    };
    vec![
        Bytes::from_static(b"LMOVE"),
        Bytes::copy_from_slice(src),
        Bytes::copy_from_slice(dst),
        word(from),
        word(to),
    ]
}

/// What BLPOP (`count: None`) or BLMPOP (`Some`) answers after popping.
fn pop_reply(key: &[u8], list: &mut List, end: End, count: Option<usize>) -> Frame {
    match count {
        None => {
            let e = list.pop(end).unwrap_or_default();
            Frame::Array(vec![key_frame(key), bulk(e)])
        }
        Some(n) => {
            let n = n.min(list.len());
            let items = (0..n).filter_map(|_| list.pop(end)).map(bulk).collect();
            Frame::Array(vec![key_frame(key), Frame::Array(items)])
        }
    }
}

/// Finish serving `key` after a command, under ordinary locks: the key and
/// the destinations of its BLMOVE waiters.
pub fn serve_ready<S: Store>(ks: &Keyspace<S>, key: &[u8], now: u64, limit: i64) {
    // Each round either serves every waiter it sees or finds a new one
    // whose destination it did not lock; a few rounds settle it.
    for _ in 0..8 {
        let waiters = ks.blocked().waiters(key);
        if waiters.is_empty() {
            return;
        }
        let mut keys: Vec<&[u8]> = vec![key];
        let dsts: Vec<Bytes> = waiters
            .iter()
            .filter_map(|w| match &w.op {
                BlockOp::Move { dst, .. } => Some(dst.clone()),
                BlockOp::Pop { .. } | BlockOp::ZPop { .. } => None,
            })
            .collect();
        keys.extend(dsts.iter().map(|d| &d[..]));
        let access = Access::new(ks);
        let guard = access.lock_keys(keys.iter().copied());
        let mut after = Aftermath::default();
        let settled = access.mutate_locked(&guard, key, now, |slot| {
            let Ok(Some(list)) = list_of(slot.entry()).map(|l| l.cloned()) else {
                return true;
            };
            let mut l = list.write();
            for w in ks.blocked().waiters(key) {
                if l.is_empty() {
                    break;
                }
                match &w.op {
                    BlockOp::ZPop { .. } => continue,
                    BlockOp::Pop { end, count } => {
                        let n = count.map(|c| c.min(l.len()));
                        if w.serve(|| Some(pop_reply(key, &mut l, *end, *count))) {
                            journal::record_served(ks.index(), pop_record(key, *end, n));
                            after.event(class::LIST, pop_event(*end), key);
                        }
                    }
                    BlockOp::Move { dst, from, to } if dst[..] == *key => {
                        let served = w.serve(|| {
                            let e = l.pop(*from)?;
                            l.push(*to, &e);
                            journal::record_served(ks.index(), move_record(key, dst, *from, *to));
                            Some(bulk(e))
                        });
                        if served {
                            after.event(class::LIST, push_event(*to), key);
                            after.event(class::LIST, pop_event(*from), key);
                        }
                    }
                    BlockOp::Move { dst, from, to } if dsts.contains(dst) => {
                        w.serve(|| {
                            serve_move(
                                access,
                                &guard,
                                &mut l,
                                (key, dst),
                                (*from, *to),
                                now,
                                limit,
                                &mut after,
                            )
                        });
                    }
                    BlockOp::Move { .. } => return false,
                }
                ks.blocked().remove(&w);
            }
            slot.changed();
            if l.is_empty() {
                slot.remove();
                after.event(class::GENERIC, "del", key);
            }
            true
        });
        drop(guard);
        for (class, event, k) in &after.events {
            ks.emit(*class, event, k);
        }
        for k in after.ready {
            serve_ready(ks, &k, now, limit);
        }
        if settled {
            return;
        }
    }
}

/// LMOVE, RPOPLPUSH, BLMOVE, BRPOPLPUSH.
pub fn lmove<S: Store>(ctx: &mut Ctx<'_, S>, m: Move) -> Result<Reply, CmdError> {
    let limit = ctx.config.encodings.list_max_listpack_size;
    let (ks, now) = (ctx.ks(), ctx.now);
    let mut after = Aftermath::default();
    let guard = ks.lock_keys([&m.src[..], &m.dst[..]]);
    if m.block.is_some() {
        // BLMOVE checks only the source's type before blocking.
        ks.read_locked(&guard, &m.src, now, |e| list_of(e).map(|_| ()))?;
    }
    let moved = move_held(
        ks,
        &guard,
        (&m.src, &m.dst),
        (m.from, m.to),
        now,
        limit,
        &mut after,
    )?;
    if moved.is_some() && m.block.is_some() {
        journal::rewrite(|| vec![move_record(&m.src, &m.dst, m.from, m.to)]);
    }
    let reply = match (moved, m.block) {
        (Some(e), _) => Reply::Now(bulk(e)),
        (None, None) => Reply::Now(Frame::Null),
        (None, Some(_)) if ks.in_transaction() => Reply::Now(Frame::Null),
        (None, Some(timeout)) => {
            let op = BlockOp::Move {
                dst: m.dst.clone(),
                from: m.from,
                to: m.to,
            };
            block_on(ctx, vec![m.src.clone()], op, timeout)
        }
    };
    drop(guard);
    after.finish(ctx);
    Ok(reply)
}

/// LMPOP and BLMPOP: pop from the first non-empty list of `keys`.
pub fn mpop<S: Store>(ctx: &mut Ctx<'_, S>, m: MPop) -> Result<Reply, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    let guard = ks.lock_keys(m.keys.iter().map(|k| &k[..]));
    for key in &m.keys {
        let popped = ks.mutate_locked(&guard, key, now, |slot| {
            let Some(list) = list_of(slot.entry())?.cloned() else {
                return Ok(None);
            };
            let mut l = list.write();
            let n = m.count.min(l.len());
            let reply = pop_reply(key, &mut l, m.end, Some(m.count));
            slot.changed();
            let emptied = l.is_empty();
            if emptied {
                slot.remove();
            }
            Ok::<_, CmdError>(Some((reply, emptied, n)))
        })?;
        if let Some((reply, emptied, n)) = popped {
            drop(guard);
            // Logged as LPOP/RPOP with the count popped, as Redis 7.0
            // propagates LMPOP and BLMPOP.
            journal::rewrite(|| vec![pop_record(key, m.end, Some(n))]);
            popped_events(ctx, key, m.end, emptied);
            return Ok(Reply::Now(reply));
        }
    }
    Ok(match m.block {
        Some(timeout) if !ks.in_transaction() => {
            let op = BlockOp::Pop {
                end: m.end,
                count: Some(m.count),
            };
            block_on(ctx, m.keys, op, timeout)
        }
        _ => Reply::Now(Frame::NullArray),
    })
}

/// BLPOP and BRPOP.
pub fn bpop<S: Store>(
    ctx: &mut Ctx<'_, S>,
    keys: Vec<Bytes>,
    end: End,
    timeout: u64,
) -> Result<Reply, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    let guard = ks.lock_keys(keys.iter().map(|k| &k[..]));
    for key in &keys {
        let popped = ks.mutate_locked(&guard, key, now, |slot| {
            let Some(list) = list_of(slot.entry())?.cloned() else {
                return Ok(None);
            };
            let mut l = list.write();
            let reply = pop_reply(key, &mut l, end, None);
            slot.changed();
            let emptied = l.is_empty();
            if emptied {
                slot.remove();
            }
            Ok::<_, CmdError>(Some((reply, emptied)))
        })?;
        if let Some((reply, emptied)) = popped {
            drop(guard);
            journal::rewrite(|| vec![pop_record(key, end, None)]);
            popped_events(ctx, key, end, emptied);
            return Ok(Reply::Now(reply));
        }
    }
    if ks.in_transaction() {
        return Ok(Reply::Now(Frame::NullArray));
    }
    Ok(block_on(
        ctx,
        keys,
        BlockOp::Pop { end, count: None },
        timeout,
    ))
}

/// The events of a pop from `key`'s `end` that may have emptied it.
pub fn popped_events<S: Store>(ctx: &Ctx<'_, S>, key: &[u8], end: End, emptied: bool) {
    ctx.notify(class::LIST, pop_event(end), key);
    if emptied {
        ctx.notify(class::GENERIC, "del", key);
    }
}

/// Register a waiter for this client on `keys` (their stripes are held by
/// the caller) and hand the connection a [`Reply::Block`].
pub fn block_on<S: Store>(ctx: &Ctx<'_, S>, keys: Vec<Bytes>, op: BlockOp, timeout: u64) -> Reply {
    let handle = ctx.session.handle.clone();
    let waiter = Waiter::new(keys, op, Box::new(move || handle.signal(Event::Wake)));
    let ks = ctx.ks_arc();
    ks.blocked().register(&waiter);
    let registered: Arc<Waiter> = waiter.clone();
    Reply::Block(Blocked {
        waiter,
        timeout_ms: timeout,
        on_timeout: Frame::NullArray,
        cancel: Box::new(move || {
            let reply = registered.give_up();
            ks.blocked().remove(&registered);
            reply
        }),
    })
}
