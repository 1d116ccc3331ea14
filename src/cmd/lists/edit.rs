//! The non-blocking list commands, each one `Access::mutate` (writes) or
//! `Access::read` (reads) on one key. Index arithmetic follows Redis's
//! `t_list.c` function by function.

use bytes::Bytes;
use store_api::value::list::End;
use store_api::value::{shared, List};
use store_api::{Coll, Store, Value};

use super::block::{popped_events, push_event, serve_created, Aftermath};
use super::{Create, Pos, Side};
use crate::cmd::value::{bulks, fresh, list_of};
use crate::cmd::{CmdError, Ctx, Reply};
use crate::db::events::class;
use crate::protocol::Frame;

fn bulk(e: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(e))
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX. A push that creates the list serves the
/// clients blocked on it before anyone else can see the elements.
pub fn push<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    elements: &[Bytes],
    end: End,
    create: Create,
) -> Result<Reply, CmdError> {
    let limit = ctx.config.encodings.list_max_listpack_size;
    let ks = ctx.ks();
    let now = ctx.now;
    let mut after = Aftermath::default();
    let mut consumed = false;
    let len = ks.mutate(key, now, |slot| {
        let (list, created) = match list_of(slot.entry())? {
            Some(l) => (l.clone(), false),
            None if create == Create::IfExists => return Ok(0),
            None => (shared(List::new(limit)), true),
        };
        let mut l = list.write();
        for e in elements {
            l.push(end, e);
        }
        slot.changed();
        let n = l.len() as i64;
        if created {
            slot.put(fresh(Value::Coll(Coll::List(list.clone()))));
            serve_created(ks, key, &mut l, (now, limit), &mut after);
            if l.is_empty() {
                slot.remove();
                consumed = true;
            }
        }
        Ok(n)
    })?;
    if len > 0 {
        if consumed {
            // Created and emptied by blocked clients at once: the keyspace
            // never stored it, but Redis did.
            ctx.notify(class::NEW, "new", key);
        }
        ctx.notify(class::LIST, push_event(end), key);
        if consumed {
            after
                .events
                .push((class::GENERIC, "del", Bytes::copy_from_slice(key)));
        }
    }
    after.finish(ctx);
    Ok(Frame::Integer(len).into())
}

/// LPOP, RPOP.
pub fn pop<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    count: Option<usize>,
    end: End,
) -> Result<Reply, CmdError> {
    let (mut popped, mut emptied) = (false, false);
    let reply = ctx.ks().mutate(key, ctx.now, |slot| {
        let Some(list) = list_of(slot.entry())?.cloned() else {
            return Ok(match count {
                Some(_) => Frame::NullArray,
                None => Frame::Null,
            });
        };
        let mut l = list.write();
        if count != Some(0) {
            slot.changed();
            popped = true;
        }
        let reply = match count {
            None => l.pop(end).map_or(Frame::Null, |e| Frame::Bulk(e.into())),
            Some(n) => {
                let n = n.min(l.len());
                Frame::Array(
                    (0..n)
                        .filter_map(|_| l.pop(end))
                        .map(|e| Frame::Bulk(e.into()))
                        .collect(),
                )
            }
        };
        if l.is_empty() {
            slot.remove();
            emptied = true;
        }
        Ok(reply)
    })?;
    if popped {
        popped_events(ctx, key, end, emptied);
    }
    Ok(reply.into())
}

/// LLEN.
pub fn len<S: Store>(ctx: &mut Ctx<'_, S>, key: &[u8]) -> Result<Reply, CmdError> {
    let n = ctx.ks().read(key, ctx.now, |e| {
        list_of(e).map(|l| l.map_or(0, |l| l.read().len()))
    })?;
    Ok(Frame::Integer(n as i64).into())
}

/// Redis's index normalisation for LRANGE: `(start, count)` or nothing.
fn span(len: usize, mut start: i64, mut stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 {
        start += len;
    }
    if stop < 0 {
        stop += len;
    }
    start = start.max(0);
    if start > stop || start >= len {
        return None;
    }
    stop = stop.min(len - 1);
    Some((start as usize, (stop - start + 1) as usize))
}

/// LRANGE.
pub fn range<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    start: i64,
    stop: i64,
) -> Result<Reply, CmdError> {
    let items = ctx.ks().read(key, ctx.now, |e| {
        let Some(list) = list_of(e)? else {
            return Ok(Vec::new());
        };
        let l = list.read();
        Ok(span(l.len(), start, stop)
            .map(|(from, n)| bulks(l.range(from, n)))
            .unwrap_or_default())
    })?;
    Ok(Frame::Array(items).into())
}

/// An index from the head or (negative) from the tail.
fn position(len: usize, index: i64) -> Option<usize> {
    let i = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    usize::try_from(i).ok().filter(|&i| i < len)
}

/// LINDEX.
pub fn index<S: Store>(ctx: &mut Ctx<'_, S>, key: &[u8], index: i64) -> Result<Reply, CmdError> {
    let item = ctx.ks().read(key, ctx.now, |e| {
        let Some(list) = list_of(e)? else {
            return Ok(None);
        };
        let l = list.read();
        Ok(position(l.len(), index).and_then(|i| l.get(i)).map(bulk))
    })?;
    Ok(item.unwrap_or(Frame::Null).into())
}

/// LINSERT.
pub fn insert<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    side: Side,
    pivot: &[u8],
    element: &[u8],
) -> Result<Reply, CmdError> {
    let n = ctx.ks().mutate(key, ctx.now, |slot| {
        let len = {
            let Some(list) = list_of(slot.entry())? else {
                return Ok(0);
            };
            let mut l = list.write();
            let Some(at) = l.iter().position(|e| e == pivot) else {
                return Ok(-1);
            };
            let at = match side {
                Side::Before => at,
                Side::After => at + 1,
            };
            l.insert(at, element);
            l.len() as i64
        };
        slot.changed();
        Ok(len)
    })?;
    if n > 0 {
        ctx.notify(class::LIST, "linsert", key);
    }
    Ok(Frame::Integer(n).into())
}

/// LSET.
pub fn set<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    index: i64,
    element: &[u8],
) -> Result<Reply, CmdError> {
    ctx.ks().mutate(key, ctx.now, |slot| {
        {
            let list = list_of(slot.entry())?.ok_or(CmdError::NoSuchKey)?;
            let mut l = list.write();
            let i = position(l.len(), index).ok_or(CmdError::IndexOutOfRange)?;
            l.set(i, element);
        }
        slot.changed();
        Ok(())
    })?;
    ctx.notify(class::LIST, "lset", key);
    Ok(Frame::ok().into())
}

/// LREM: `count` > 0 removes from the head, < 0 from the tail, 0 all.
pub fn rem<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    count: i64,
    element: &[u8],
) -> Result<Reply, CmdError> {
    let (removed, emptied) = ctx.ks().mutate(key, ctx.now, |slot| {
        let Some(list) = list_of(slot.entry())?.cloned() else {
            return Ok((0, false));
        };
        let mut l = list.write();
        let limit = count.unsigned_abs();
        let mut removed = 0u64;
        if count >= 0 {
            l.retain(|e| {
                let drop = e == element && (limit == 0 || removed < limit);
                removed += u64::from(drop);
                !drop
            });
        } else {
            // From the tail: find the positions first, then remove them.
            let all: Vec<usize> = l
                .iter()
                .enumerate()
                .filter(|(_, e)| *e == element)
                .map(|(i, _)| i)
                .collect();
            let hits: Vec<usize> = all.into_iter().rev().take(limit as usize).collect();
            for &i in &hits {
                l.remove(i);
            }
            removed = hits.len() as u64;
        }
        if removed > 0 {
            slot.changed();
        }
        let emptied = l.is_empty();
        if emptied {
            slot.remove();
        }
        Ok((removed as i64, emptied))
    })?;
    if removed > 0 {
        ctx.notify(class::LIST, "lrem", key);
    }
    if emptied {
        ctx.notify(class::GENERIC, "del", key);
    }
    Ok(Frame::Integer(removed).into())
}

/// LTRIM (Redis's `ltrimCommand` arithmetic).
pub fn trim<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    start: i64,
    stop: i64,
) -> Result<Reply, CmdError> {
    let trimmed = ctx.ks().mutate(key, ctx.now, |slot| {
        let Some(list) = list_of(slot.entry())?.cloned() else {
            return Ok(None);
        };
        let mut l = list.write();
        match span(l.len(), start, stop) {
            Some((from, n)) => l.trim(from, from + n - 1),
            None => l.trim(1, 0),
        }
        slot.changed();
        let emptied = l.is_empty();
        if emptied {
            slot.remove();
        }
        Ok::<_, CmdError>(Some(emptied))
    })?;
    if let Some(emptied) = trimmed {
        ctx.notify(class::LIST, "ltrim", key);
        if emptied {
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Ok(Frame::ok().into())
}

/// LPOS, as Redis's `lposCommand` counts (including its treatment of
/// `RANK -9223372036854775808`, which negates to itself and so matches the
/// first hit from the tail).
pub fn pos<S: Store>(ctx: &mut Ctx<'_, S>, p: Pos) -> Result<Reply, CmdError> {
    let reply = ctx.ks().read(&p.key, ctx.now, |e| {
        let Some(list) = list_of(e)? else {
            return Ok(match p.count {
                Some(_) => Frame::Array(vec![]),
                None => Frame::Null,
            });
        };
        let l = list.read();
        let len = l.len();
        let from_tail = p.rank < 0;
        let rank = if from_tail {
            p.rank.wrapping_neg()
        } else {
            p.rank
        };
        let want = p.count.map_or(1, |c| if c == 0 { usize::MAX } else { c });
        let mut found = Vec::new();
        let mut matches: i64 = 0;
        let mut scan = |i: usize, e: &[u8]| {
            if e == &p.element[..] {
                matches += 1;
                if matches >= rank {
                    found.push(Frame::Integer(i as i64));
                }
            }
            found.len() < want
        };
        let limit = if p.maxlen == 0 {
            len
        } else {
            p.maxlen.min(len)
        };
        if from_tail {
            for (k, e) in l.iter().rev().take(limit).enumerate() {
                if !scan(len - 1 - k, e) {
                    break;
                }
            }
        } else {
            for (i, e) in l.iter().take(limit).enumerate() {
                if !scan(i, e) {
                    break;
                }
            }
        }
        Ok(match p.count {
            Some(_) => Frame::Array(found),
            None => found.pop().unwrap_or(Frame::Null),
        })
    })?;
    Ok(reply.into())
}
