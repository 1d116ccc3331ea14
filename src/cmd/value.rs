//! Typed access to stored values, and the helper that lets
//! read-modify-write closures use `?`.
//!
//! Every command that reads a value goes through one accessor per type
//! here, which answers WRONGTYPE for any other type, as Redis's
//! `checkType` does. New value types add their accessor here.

use bytes::Bytes;
use store_api::value::RAW_FROM;
use store_api::value::{Hash, List, Set, Shared};
use store_api::{Coll, Entry, Op, Store, Str, StrRef, Value};

use super::CmdError;
use crate::db::Access;
use crate::protocol::Frame;

/// The string a value holds (either form: see `store_api::Coll::Raw`),
/// or WRONGTYPE.
pub fn as_str(e: &Entry) -> Result<StrRef<'_>, CmdError> {
    // Not `ok_or`: it would build the error, and run its drop glue, on
    // every read that succeeds (the same in `Args`).
    match e.value.str_bytes() {
        Some(s) => Ok(s),
        None => Err(CmdError::WrongType),
    }
}

/// The string under a live entry (`None` when absent), or WRONGTYPE.
pub fn str_of(e: Option<&Entry>) -> Result<Option<StrRef<'_>>, CmdError> {
    e.map(as_str).transpose()
}

/// The list under a live entry (`None` when absent), or WRONGTYPE. Lock
/// it to use it: `.read()` to look, `.write()` (inside
/// `Access::mutate`) to change.
pub fn list_of(e: Option<&Entry>) -> Result<Option<&Shared<List>>, CmdError> {
    match e.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Coll(Coll::List(l))) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The hash under a live entry (`None` when absent), or WRONGTYPE.
pub fn hash_of(e: Option<&Entry>) -> Result<Option<&Shared<Hash>>, CmdError> {
    match e.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Coll(Coll::Hash(h))) => Ok(Some(h)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The set under a live entry (`None` when absent), or WRONGTYPE.
pub fn set_of(e: Option<&Entry>) -> Result<Option<&Shared<Set>>, CmdError> {
    match e.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Coll(Coll::Set(s))) => Ok(Some(s)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// A new entry holding `value`, without TTL.
pub fn fresh(value: Value) -> Entry {
    Entry::new(value, None)
}

/// Adapt a read-modify-write closure written with `?` to what
/// `Keyspace::update` takes: on error the key is kept as it is and the
/// error becomes the command's result.
pub fn rmw<R>(
    mut f: impl FnMut(Option<&Entry>) -> Result<(Op, R), CmdError>,
) -> impl FnMut(Option<&Entry>) -> (Op, Result<R, CmdError>) {
    move |cur| match f(cur) {
        Ok((op, r)) => (op, Ok(r)),
        Err(e) => (Op::Keep, Err(e)),
    }
}

/// Edit the string at `key` (SETBIT, SETRANGE, APPEND, BITFIELD), or
/// WRONGTYPE. `f` gets the string as a growable buffer (empty for a
/// missing key) and whether the key exists, and answers its result and
/// whether it changed the buffer. It must refuse (an error) before it
/// changes anything, and make room with `store_api::value::grow_for` (or
/// `grow_zeroed`).
///
/// A short string is copied, edited and stored anew, in one atomic
/// update (`f` may run again if that update retries); an edit leaving
/// [`RAW_FROM`] bytes or more stores a `Coll::Raw`. A `Coll::Raw` is
/// edited in place under its write lock with the key's stripe held (as a
/// collection is), so an edit costs what it touches, not the string's
/// length.
///
/// The edited string is raw (OBJECT ENCODING, as Redis's
/// `dbUnshareStringValue` leaves it), and so is a string the edit creates
/// unless `created` says otherwise.
pub fn edit_str<S: Store, R>(
    ks: &Access<'_, S>,
    key: &[u8],
    now: u64,
    created: Created,
    mut f: impl FnMut(&mut Vec<u8>, bool) -> Result<(R, bool), CmdError>,
) -> Result<R, CmdError> {
    let first = ks.update(key, now, |cur| {
        if let Some(Value::Coll(Coll::Raw(_))) = cur.map(|e| &e.value) {
            return (Op::Keep, Ok(None));
        }
        match copy_edit(cur, created, &mut f) {
            Ok((op, r)) => (op, Ok(Some(r))),
            Err(e) => (Op::Keep, Err(e)),
        }
    })?;
    if let Some(r) = first {
        return Ok(r);
    }
    // An edited long string: in place.
    ks.mutate(key, now, |slot| {
        if let Some(Value::Coll(Coll::Raw(raw))) = slot.entry().map(|e| &e.value) {
            let raw = raw.clone();
            let (r, changed) = f(&mut raw.write(), true)?;
            if changed {
                slot.changed();
            }
            return Ok(r);
        }
        // Replaced meanwhile by a short string, or deleted.
        let (op, r) = copy_edit(slot.entry(), created, &mut f)?;
        if let Op::Put(entry) = op {
            slot.put(entry);
        }
        Ok(r)
    })
}

/// How [`edit_str`] encodes a string it creates (OBJECT ENCODING).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Created {
    /// A raw buffer, whatever its length or content: SETRANGE, SETBIT,
    /// BITFIELD and PFADD build one (Redis's `createObject`).
    Raw,
    /// As SET stores it (`int`, `embstr` or `raw` by content and length):
    /// APPEND to a missing key stores its argument.
    AsSet,
}

/// [`edit_str`] on a copy of a short string (or none).
fn copy_edit<R>(
    cur: Option<&Entry>,
    created: Created,
    f: &mut impl FnMut(&mut Vec<u8>, bool) -> Result<(R, bool), CmdError>,
) -> Result<(Op, R), CmdError> {
    let s = str_of(cur)?;
    let mut buf = s.as_deref().map_or_else(Vec::new, <[u8]>::to_vec);
    let (r, changed) = f(&mut buf, s.is_some())?;
    if !changed {
        return Ok((Op::Keep, r));
    }
    let value = if buf.len() >= RAW_FROM {
        Value::raw(buf)
    } else if s.is_some() || created == Created::Raw {
        Value::Str(Str::raw(&buf))
    } else {
        Value::Str(Str::new(&buf))
    };
    Ok((
        Op::Put(Entry::new(value, cur.and_then(|e| e.expires_at()))),
        r,
    ))
}

/// Bulk frames for `items`, copied into one buffer and sliced (one
/// allocation for the data instead of one per element: LRANGE 0 99 costs
/// two allocations, not a hundred and one).
pub fn bulks<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<Frame> {
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    for item in items {
        buf.extend_from_slice(item);
        ends.push(buf.len());
    }
    let buf = Bytes::from(buf);
    let mut start = 0;
    ends.into_iter()
        .map(|end| {
            let f = Frame::Bulk(buf.slice(start..end));
            start = end;
            f
        })
        .collect()
}

/// A bulk reply, or null when absent.
pub fn bulk_or_null(b: Option<Bytes>) -> Frame {
    b.map_or(Frame::Null, Frame::Bulk)
}

/// Copy an argument out of the read buffer before storing it as a key, so
/// a stored key never pins the (much larger) buffer it arrived in. Call it
/// where the key is stored, not once outside a closure that clones it: the
/// first clone of a freshly copied `Bytes` allocates a reference-counted
/// header (32 bytes with jemalloc). Values need no such care: a stored
/// string is a [`Str`], always its own copy.
pub fn owned(b: &Bytes) -> Bytes {
    Bytes::copy_from_slice(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::RwLockStore;
    use crate::db::Keyspace;

    #[test]
    fn accessors_answer_wrongtype_for_other_types() {
        let s = Entry::string("v");
        let l = fresh(Value::list(List::default()));
        assert_eq!(
            str_of(Some(&s)).unwrap().map(|b| b.to_vec()),
            Some(b"v".to_vec())
        );
        assert_eq!(str_of(Some(&l)).unwrap_err(), CmdError::WrongType);
        assert_eq!(list_of(Some(&s)).unwrap_err(), CmdError::WrongType);
        assert!(list_of(None).unwrap().is_none());
    }

    /// An APPEND of `bytes` to `k` through [`edit_str`].
    fn append(ks: &Access<'_, RwLockStore>, bytes: &[u8]) -> Result<usize, CmdError> {
        edit_str(ks, b"k", 0, Created::Raw, |buf, existed| {
            store_api::value::grow_for(buf, buf.len() + bytes.len(), existed);
            buf.extend_from_slice(bytes);
            Ok((buf.len(), true))
        })
    }

    /// The address of `k`'s edited-string buffer, if it is one.
    fn raw_at(ks: &Access<'_, RwLockStore>) -> Option<(usize, usize, usize)> {
        ks.peek_raw(b"k", |e| match e.map(|e| &e.value) {
            Some(Value::Coll(Coll::Raw(r))) => {
                let v = r.read();
                Some((r.data_ptr() as usize, v.len(), v.capacity()))
            }
            _ => None,
        })
    }

    #[test]
    fn long_strings_are_edited_in_place() {
        let keyspace = Keyspace::<RwLockStore>::default();
        let ks = Access::new(&keyspace);
        assert_eq!(append(&ks, &[b'a'; 100]), Ok(100));
        assert_eq!(raw_at(&ks), None, "a short string is stored whole");
        assert_eq!(append(&ks, &[b'b'; RAW_FROM - 100]), Ok(RAW_FROM));
        let (at, len, cap) = raw_at(&ks).expect("edited past RAW_FROM: in place from now on");
        assert_eq!((len, cap), (RAW_FROM, 2 * RAW_FROM), "sds's greedy growth");
        for n in 1..=RAW_FROM {
            assert_eq!(append(&ks, b"c"), Ok(RAW_FROM + n));
        }
        let (again, len, cap) = raw_at(&ks).unwrap();
        assert_eq!(
            (again, len, cap),
            (at, 2 * RAW_FROM, 2 * RAW_FROM),
            "the same buffer, no copy"
        );
        let bytes = ks.peek_raw(b"k", |e| as_str(e.unwrap()).unwrap().to_vec());
        assert_eq!(
            bytes,
            [&[b'a'; 100][..], &[b'b'; RAW_FROM - 100], &[b'c'; RAW_FROM]].concat()
        );
        // One more byte outgrows the buffer: doubled, still one handle.
        append(&ks, b"d").unwrap();
        assert_eq!(
            raw_at(&ks).map(|(a, _, c)| (a, c)),
            Some((at, 4 * RAW_FROM + 2))
        );
    }

    #[test]
    fn a_refused_or_empty_edit_changes_nothing() {
        let keyspace = Keyspace::<RwLockStore>::default();
        let ks = Access::new(&keyspace);
        let keep = |ks: &Access<'_, RwLockStore>| {
            edit_str(ks, b"k", 0, Created::Raw, |_, exists| Ok((exists, false)))
        };
        assert_eq!(keep(&ks), Ok(false));
        assert_eq!(keyspace.len(), 0, "an unchanged missing key is not created");
        let refuse = |ks: &Access<'_, RwLockStore>| {
            edit_str(ks, b"k", 0, Created::Raw, |_, _| {
                Err::<((), bool), _>(CmdError::StringTooLong)
            })
        };
        append(&ks, &[b'x'; RAW_FROM]).unwrap();
        assert_eq!(keep(&ks), Ok(true));
        assert_eq!(refuse(&ks), Err(CmdError::StringTooLong));
        assert_eq!(
            ks.peek_raw(b"k", |e| e.unwrap().value.payload_len()),
            RAW_FROM
        );
        ks.mutate(b"k", 0, |slot| {
            slot.put(fresh(Value::list(List::default())))
        });
        assert_eq!(append(&ks, b"x"), Err(CmdError::WrongType));
    }

    #[test]
    fn rmw_keeps_the_key_on_error() {
        let mut f = rmw(|cur| {
            let s = str_of(cur)?;
            Ok((Op::Remove, s.is_some()))
        });
        let l = fresh(Value::list(List::default()));
        assert_eq!(f(Some(&l)), (Op::Keep, Err(CmdError::WrongType)));
        assert_eq!(f(Some(&Entry::string("v"))), (Op::Remove, Ok(true)));
    }
}
