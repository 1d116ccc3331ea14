//! SORT and SORT_RO over lists and sets, as Redis's `sortCommandGeneric`.
//!
//! Elements sort as numbers (C's `strtod`; a value that is not one fails
//! the command) or, with ALPHA, as bytes; ties between numbers are broken
//! by comparing the elements, so the order is deterministic. `BY pattern`
//! sorts by the string (or, with `->field`, the hash field) found at the
//! key the pattern names with `*` replaced by the element; a pattern
//! without `*` (or `nosort`) keeps the collection's order. `GET pattern`
//! (and `#`, the element) builds the reply. STORE writes a list.
//!
//! Atomicity: a SORT that reads only its key reads it under the usual
//! snapshot; one whose BY or GET patterns read other keys cannot know them
//! in advance, so it locks every stripe of the database for its duration,
//! as Redis runs it alone.

use crate::db::events::class;
use bytes::Bytes;
use store_api::value::List;
use store_api::{Coll, Entry, Store, Value};

use super::error::ClusterError;
use super::value::{fresh, hash_of, str_of};
use super::{is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::db::{Access, KeysGuard};
use crate::protocol::Frame;

/// A parsed SORT.
#[derive(Debug)]
pub struct Sort {
    key: Bytes,
    by: Option<Bytes>,
    limit: Option<(i64, i64)>,
    get: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
    /// The first option cluster mode refuses (BY with a `*` pattern, or
    /// GET), and the error of an option after it: Redis parses in order
    /// and stops at the first refusal, which only cluster mode makes one.
    cluster_denied: Option<(&'static str, Option<CmdError>)>,
}

fn parse(mut a: Args<'_>, read_only: bool) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let mut s = Sort {
        key,
        by: None,
        limit: None,
        get: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
        cluster_denied: None,
    };
    let rest = a.rest();
    let mut i = 0;
    while i < rest.len() {
        if let Err(e) = parse_option(&mut s, &rest, &mut i, read_only) {
            match &mut s.cluster_denied {
                Some((_, late)) => *late = Some(e),
                None => return Err(e),
            }
            break;
        }
        i += 1;
    }
    Ok(Command::Sort(Box::new(s)))
}

/// Parse the option at `rest[*i]` (and its arguments, advancing `*i`).
fn parse_option(
    s: &mut Sort,
    rest: &[Bytes],
    i: &mut usize,
    read_only: bool,
) -> Result<(), CmdError> {
    let opt = &rest[*i];
    let left = rest.len() - *i - 1;
    if is(opt, "ASC") {
        s.desc = false;
    } else if is(opt, "DESC") {
        s.desc = true;
    } else if is(opt, "ALPHA") {
        s.alpha = true;
    } else if is(opt, "LIMIT") && left >= 2 {
        s.limit = Some((parse_int(&rest[*i + 1])?, parse_int(&rest[*i + 2])?));
        *i += 2;
    } else if is(opt, "STORE") && left >= 1 && !read_only {
        s.store = Some(rest[*i + 1].clone());
        *i += 1;
    } else if is(opt, "BY") && left >= 1 {
        let by = rest[*i + 1].clone();
        if by.contains(&b'*') {
            s.cluster_denied.get_or_insert(("BY", None));
        }
        s.by = Some(by);
        *i += 1;
    } else if is(opt, "GET") && left >= 1 {
        s.cluster_denied.get_or_insert(("GET", None));
        s.get.push(rest[*i + 1].clone());
        *i += 1;
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn parse_sort(a: Args<'_>) -> Result<Command, CmdError> {
    parse(a, false)
}

fn parse_sort_ro(a: Args<'_>) -> Result<Command, CmdError> {
    parse(a, true)
}

/// Table rows.
pub const ROWS: &[Row] = &[("sort", parse_sort), ("sort_ro", parse_sort_ro)];

/// Does `pattern` name other keys (so the sort must lock the database)?
fn reads_other_keys(p: &[u8]) -> bool {
    p != b"#" && p.contains(&b'*')
}

/// Execute SORT.
pub fn execute<S: Store>(mut s: Sort, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    match s.cluster_denied.take() {
        Some((opt, _)) if ctx.state.cluster.enabled => {
            return Err(CmdError::Cluster(ClusterError::SortOption(opt)));
        }
        Some((_, Some(late))) => return Err(late),
        _ => {}
    }
    let ks = ctx.ks();
    let now = ctx.now;
    let sorted_by = s.by.as_ref().filter(|b| b.contains(&b'*'));
    let global = sorted_by.is_some() || s.get.iter().any(|g| reads_other_keys(g));
    let guard = if global {
        ks.lock_all()
    } else {
        ks.lock_keys([&s.key[..]].into_iter().chain(s.store.as_deref()))
    };
    let (elements, is_set, found) = ks.read_locked(&guard, &s.key, now, |e| {
        let set = matches!(e.map(|e| &e.value), Some(Value::Coll(Coll::Set(_))));
        elements_of(e).map(|v| (v, set, e.is_some()))
    })?;
    let in_script = ctx.in_script;
    if !found {
        ks.key_miss(&s.key);
    }
    let mut items: Vec<(Vec<u8>, Weight)> =
        elements.into_iter().map(|e| (e, Weight::None)).collect();
    let mut dontsort = s.by.is_some() && sorted_by.is_none();
    let mut alpha = s.alpha;
    if dontsort && is_set && (s.store.is_some() || in_script) {
        // A set has no order of its own: Redis sorts it when the result is
        // stored or goes to a script, so neither depends on the set's
        // layout.
        dontsort = false;
        alpha = true;
    }
    if dontsort && !is_set && s.desc {
        // A list or a sorted set keeps its own order, and DESC walks it
        // from the end (LIMIT counts from there).
        items.reverse();
    }
    if !dontsort {
        for (e, w) in &mut items {
            let by = match sorted_by {
                Some(p) => lookup(ks, &guard, p, e, now),
                None => Some(e.clone()),
            };
            *w = match (by, alpha) {
                (None, _) => Weight::None,
                (Some(v), true) => Weight::Bytes(v),
                (Some(v), false) => Weight::Num(strtod(&v).ok_or(CmdError::NotDouble)?),
            };
        }
        items.sort_by(|a, b| {
            let c = compare(a, b, alpha, sorted_by.is_some());
            if s.desc {
                c.reverse()
            } else {
                c
            }
        });
    }
    let (start, n) = window(items.len(), s.limit);
    let picked = items.into_iter().skip(start).take(n);
    let mut out = Vec::new();
    for (e, _) in picked {
        if s.get.is_empty() {
            out.push(Some(e));
            continue;
        }
        for g in &s.get {
            out.push(if &g[..] == b"#" {
                Some(e.clone())
            } else {
                lookup(ks, &guard, g, &e, now)
            });
        }
    }
    let limit = ctx.config.encodings.list_max_listpack_size;
    let reply = match &s.store {
        None => Frame::Array(
            out.into_iter()
                .map(|v| v.map_or(Frame::Null, |v| Frame::Bulk(Bytes::from(v))))
                .collect(),
        ),
        Some(dst) => {
            let n = out.len();
            let existed = store(ks, &guard, dst, out, now, limit);
            if n > 0 {
                ctx.notify(class::LIST, "sortstore", dst);
            } else if existed {
                ctx.notify(class::GENERIC, "del", dst);
            }
            Frame::Integer(n as i64)
        }
    };
    drop(guard);
    if let Some(dst) = s.store {
        // A list created by STORE serves clients blocked on it.
        ctx.defer_ready(vec![dst]);
    }
    Ok(reply)
}

/// What an element sorts by.
enum Weight {
    None,
    Num(f64),
    Bytes(Vec<u8>),
}

fn compare(
    a: &(Vec<u8>, Weight),
    b: &(Vec<u8>, Weight),
    alpha: bool,
    by: bool,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let num = |w: &Weight| match w {
        Weight::Num(n) => *n,
        _ => 0.0,
    };
    if !alpha {
        return num(&a.1)
            .partial_cmp(&num(&b.1))
            .filter(|o| *o != Ordering::Equal)
            .unwrap_or_else(|| a.0.cmp(&b.0));
    }
    if !by {
        return a.0.cmp(&b.0);
    }
    match (&a.1, &b.1) {
        (Weight::Bytes(x), Weight::Bytes(y)) => x.cmp(y),
        (Weight::None, Weight::None) => Ordering::Equal,
        (Weight::None, _) => Ordering::Less,
        (_, Weight::None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// LIMIT offset count as Redis clamps it: (first index, how many).
fn window(len: usize, limit: Option<(i64, i64)>) -> (usize, usize) {
    let Some((offset, count)) = limit else {
        return (0, len);
    };
    let len = len as i64;
    let mut start = offset.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    if end < start {
        (0, 0)
    } else {
        (start as usize, (end - start + 1) as usize)
    }
}

/// The elements of a list, set or sorted set (in score order; missing key: none; other types:
/// WRONGTYPE).
fn elements_of(e: Option<&Entry>) -> Result<Vec<Vec<u8>>, CmdError> {
    Ok(match e.map(|e| &e.value) {
        None => Vec::new(),
        Some(Value::Coll(Coll::List(l))) => l.read().iter().map(<[u8]>::to_vec).collect(),
        Some(Value::Coll(Coll::Set(s))) => s.read().iter().map(|m| m.to_vec()).collect(),
        Some(Value::Coll(Coll::ZSet(z))) => z.read().iter().map(|(m, _)| m.to_vec()).collect(),
        Some(_) => return Err(CmdError::WrongType),
    })
}

/// Redis's `lookupKeyByPattern`: the first `*` becomes `element`; a `->`
/// after it names a hash field. Only strings (or the hash field) count.
fn lookup<S: Store>(
    ks: Access<'_, S>,
    held: &KeysGuard<'_>,
    pattern: &[u8],
    element: &[u8],
    now: u64,
) -> Option<Vec<u8>> {
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(post);
    let (found, value) = ks.read_locked(held, &key, now, |e| {
        let value = match field {
            None => str_of(e).ok().flatten().map(|v| v.to_vec()),
            Some(f) => hash_of(e)
                .ok()
                .flatten()
                .and_then(|h| h.read().get(f).map(<[u8]>::to_vec)),
        };
        (e.is_some(), value)
    });
    if !found {
        ks.key_miss(&key);
    }
    value
}

/// C's `strtod` as SORT uses it: leading white space allowed, the whole
/// rest must be consumed, no NaN, no overflow or underflow (`ERANGE`).
fn strtod(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    if t.is_empty() || t.starts_with('+') && t[1..].starts_with(['+', '-']) {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let literal_inf = lower.trim_start_matches(['+', '-']).starts_with("inf");
    if v.is_infinite() && !literal_inf {
        return None;
    }
    let nonzero_digits = t
        .bytes()
        .take_while(|c| !matches!(c, b'e' | b'E'))
        .any(|c| (b'1'..=b'9').contains(&c));
    if v == 0.0 && nonzero_digits {
        return None;
    }
    Some(v)
}

/// STORE: the result as a list (nils as empty strings), replacing `dst`.
fn store<S: Store>(
    ks: Access<'_, S>,
    held: &KeysGuard<'_>,
    dst: &[u8],
    out: Vec<Option<Vec<u8>>>,
    now: u64,
    limit: i64,
) -> bool {
    ks.mutate_locked(held, dst, now, |slot| {
        let existed = slot.entry().is_some();
        if out.is_empty() {
            slot.remove();
            return existed;
        }
        let mut l = List::new(limit);
        for v in &out {
            l.push_back(v.as_deref().unwrap_or_default());
        }
        slot.put(fresh(Value::list(l)));
        existed
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::{strtod, window};

    #[test]
    fn limits_clamp_like_redis() {
        assert_eq!(window(4, Some((1, 2))), (1, 2));
        assert_eq!(window(4, Some((-1, 2))), (0, 2));
        assert_eq!(window(4, Some((1, -1))), (1, 3));
        assert_eq!(window(4, Some((2, 10))), (2, 2), "no more than there is");
        assert_eq!(window(4, Some((10, 2))), (0, 0));
        assert_eq!(window(0, Some((0, 5))), (0, 0));
    }

    #[test]
    fn strtod_rules() {
        assert_eq!(strtod(b" 3.5"), Some(3.5));
        assert_eq!(strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod(b"1e400"), None);
        assert_eq!(strtod(b"1e-400"), None);
        assert_eq!(strtod(b"0e5"), Some(0.0));
        assert_eq!(strtod(b"nan"), None);
        assert_eq!(strtod(b"3x"), None);
    }

    #[test]
    fn sort_numbers_alpha_by_get_store() {
        let mut t = TestDb::new();
        t.run(&["RPUSH", "l", "3", "1", "2", "10"]);
        assert_eq!(
            t.run(&["SORT", "l"]),
            arr(vec![bulk("1"), bulk("2"), bulk("3"), bulk("10")])
        );
        assert_eq!(
            t.run(&["SORT", "l", "ALPHA", "DESC", "LIMIT", "0", "2"]),
            arr(vec![bulk("3"), bulk("2")])
        );
        t.run(&["MSET", "w_3", "1", "w_1", "3", "w_2", "2", "w_10", "0"]);
        assert_eq!(
            t.run(&["SORT", "l", "BY", "w_*"]),
            arr(vec![bulk("10"), bulk("3"), bulk("2"), bulk("1")])
        );
        t.run(&["HSET", "h_1", "f", "x"]);
        assert_eq!(
            t.run(&["SORT", "l", "BY", "nosort", "GET", "#", "GET", "h_*->f"]),
            arr(vec![
                bulk("3"),
                crate::protocol::Frame::Null,
                bulk("1"),
                bulk("x"),
                bulk("2"),
                crate::protocol::Frame::Null,
                bulk("10"),
                crate::protocol::Frame::Null
            ])
        );
        assert_eq!(t.run(&["SORT", "l", "STORE", "dst"]), int(4));
        assert_eq!(t.run(&["LRANGE", "dst", "0", "0"]), arr(vec![bulk("1")]));
        assert_eq!(
            t.run(&["SORT_RO", "l", "STORE", "dst"]),
            err("ERR syntax error")
        );
        t.run(&["RPUSH", "m", "a"]);
        assert_eq!(
            t.run(&["SORT", "m"]),
            err("ERR One or more scores can't be converted into double")
        );
    }
}
