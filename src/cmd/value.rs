//! Typed access to stored values, and the helper that lets
//! read-modify-write closures use `?`.
//!
//! Every command that reads a value goes through one accessor per type
//! here, which answers WRONGTYPE for any other type, as Redis's
//! `checkType` does. New value types add their accessor here.

use bytes::Bytes;
use store_api::value::{Hash, List, Set, Shared};
use store_api::{Coll, Entry, Op, Str, Value};

use super::CmdError;
use crate::protocol::Frame;

/// The string a value holds, or WRONGTYPE.
pub fn as_str(e: &Entry) -> Result<&Str, CmdError> {
    match &e.value {
        Value::Str(b) => Ok(b),
        _ => Err(CmdError::WrongType),
    }
}

/// The string under a live entry (`None` when absent), or WRONGTYPE.
pub fn str_of(e: Option<&Entry>) -> Result<Option<&Str>, CmdError> {
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

    #[test]
    fn accessors_answer_wrongtype_for_other_types() {
        let s = Entry::string("v");
        let l = fresh(Value::list(List::default()));
        assert_eq!(str_of(Some(&s)).unwrap().map(|b| &b[..]), Some(&b"v"[..]));
        assert_eq!(str_of(Some(&l)), Err(CmdError::WrongType));
        assert_eq!(list_of(Some(&s)).unwrap_err(), CmdError::WrongType);
        assert!(list_of(None).unwrap().is_none());
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
