//! [`Str`]: a stored string value. Up to 22 bytes live inside the value's
//! 24 bytes, with no allocation; longer ones in one reference-counted
//! allocation with a single word of header.
//!
//! Most Redis values are short (counters, flags, session ids, small JSON),
//! and a `Bytes` handle is itself 32 bytes: a 16-byte value stored as
//! `Bytes` cost its handle plus a 16-byte allocation, and a second
//! allocation on every SET. Kept inline it costs neither, and INCR on an
//! inline counter allocates nothing.
//!
//! Why 22 and not 30 (the limit until 2026-12-04): a 24-byte value makes a
//! 40-byte `Entry`, and with a 24-byte `Key` a 64-byte node, a jemalloc
//! size class, where 32-byte ones made 80. That saves 16 bytes on every
//! key; strings of 23 to 30 bytes pay a 32-byte allocation instead.
//!
//! A long string is shared, not copied, when an entry is cloned (a backend
//! returning the replaced entry, a snapshot, a large GET reply), so reads
//! stay copy-free. `triomphe::Arc` has no weak count: 8 bytes of header
//! where `std::sync::Arc` has 16, which keeps a 100-byte value in the
//! 112-byte size class (jemalloc) instead of 128.

use bytes::Bytes;

/// Longest string kept inline.
pub const INLINE_STR: usize = 22;

/// A stored string (see the module documentation): 24 bytes, and a
/// [`Value`](super::Value) holding it is 24 bytes too (the collection
/// variant lives in the unused values of the inline length).
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: Len,
        bytes: [u8; INLINE_STR],
    },
    Heap {
        bytes: triomphe::Arc<[u8]>,
        raw: bool,
    },
}

/// An inline length, 0 to 22, and whether the string is raw (`R`: its
/// length plus [`RAW_LEN`]): an enum rather than a `u8` so that the
/// compiler knows the other values are free and tags `Repr` and `Value`
/// with them (a `u8` length would make each 8 bytes bigger).
#[rustfmt::skip]
#[derive(Clone, Copy)]
#[repr(u8)]
enum Len {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15,
    L16, L17, L18, L19, L20, L21, L22,
    R0 = RAW_LEN, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13, R14,
    R15, R16, R17, R18, R19, R20, R21, R22,
}

/// The bit of an inline [`Len`] that marks a raw string.
const RAW_LEN: u8 = 32;

#[rustfmt::skip]
const LENS: [[Len; INLINE_STR + 1]; 2] = {
    use Len::*;
    [
        [
            L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14,
            L15, L16, L17, L18, L19, L20, L21, L22,
        ],
        [
            R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13, R14,
            R15, R16, R17, R18, R19, R20, R21, R22,
        ],
    ]
};

impl Len {
    #[inline]
    fn get(self) -> usize {
        usize::from(self as u8 & (RAW_LEN - 1))
    }
}

impl Str {
    /// A copy of `b`.
    pub fn new(b: &[u8]) -> Str {
        Str::with_encoding(b, false)
    }

    /// A copy of `b` marked raw: a string Redis would hold in its `raw`
    /// encoding whatever its length, because a command edited it in
    /// place (SETRANGE, SETBIT, APPEND, BITFIELD) or built it as a buffer
    /// (BITOP, an HLL). OBJECT ENCODING answers `raw` for it; the bytes,
    /// equality and cost are those of [`Str::new`].
    pub fn raw(b: &[u8]) -> Str {
        Str::with_encoding(b, true)
    }

    fn with_encoding(b: &[u8], raw: bool) -> Str {
        if b.len() <= INLINE_STR {
            let mut bytes = [0; INLINE_STR];
            bytes[..b.len()].copy_from_slice(b);
            Str(Repr::Inline {
                len: LENS[usize::from(raw)][b.len()],
                bytes,
            })
        } else {
            Str(Repr::Heap {
                bytes: triomphe::Arc::from(b),
                raw,
            })
        }
    }

    /// Whether both hold the same heap allocation (a clone of one string
    /// in two entries); false for inline strings, which hold none.
    pub fn shares_heap(&self, other: &Str) -> bool {
        match (&self.0, &other.0) {
            (Repr::Heap { bytes: a, .. }, Repr::Heap { bytes: b, .. }) => {
                triomphe::Arc::ptr_eq(a, b)
            }
            _ => false,
        }
    }

    /// Whether the string was made raw ([`Str::raw`]).
    pub fn is_raw(&self) -> bool {
        match &self.0 {
            Repr::Inline { len, .. } => *len as u8 & RAW_LEN != 0,
            Repr::Heap { raw, .. } => *raw,
        }
    }

    /// The concatenation of `parts`, copied once (APPEND).
    pub fn concat(parts: &[&[u8]]) -> Str {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= INLINE_STR {
            let mut bytes = [0; INLINE_STR];
            let mut at = 0;
            for p in parts {
                bytes[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            Str(Repr::Inline {
                len: LENS[0][len],
                bytes,
            })
        } else {
            // Two copies (memcpy), still faster than filling the shared
            // allocation a byte at a time through an iterator.
            Str::new(&parts.concat())
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..len.get()],
            Repr::Heap { bytes, .. } => bytes,
        }
    }

    /// The string as `Bytes` for a reply: copied when short, shared when
    /// long (the copy would then cost more than the handle; sharing never
    /// changes what the stored string costs).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            Repr::Heap { bytes, .. } if bytes.len() > SHARE_FROM => {
                Bytes::from_owner(Owner(bytes.clone()))
            }
            _ => Bytes::copy_from_slice(self.as_bytes()),
        }
    }

    /// Heap bytes owned beyond the inline size (0 when inline): the
    /// string and its count.
    pub fn heap_len(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap { bytes, .. } => HEADER + bytes.len(),
        }
    }

    /// Heap bytes held, in the allocator's size classes (MEMORY USAGE).
    pub fn heap_bytes(&self, class: super::SizeClass) -> usize {
        match self.heap_len() {
            0 => 0,
            n => class(n),
        }
    }
}

/// The bytes of a string value in either form (see
/// [`Value::str_bytes`](super::Value::str_bytes)): a stored [`Str`], or a
/// [`Coll::Raw`](super::Coll::Raw) buffer read-locked while this lives.
pub enum StrRef<'a> {
    /// An immutable string.
    Str(&'a Str),
    /// An edited long string, locked for reading.
    Raw(parking_lot::RwLockReadGuard<'a, Vec<u8>>),
}

impl StrRef<'_> {
    /// The string for a reply: as [`Str::to_bytes`], or a copy of an
    /// edited string (which may change after the lock is released).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            StrRef::Str(s) => s.to_bytes(),
            StrRef::Raw(r) => Bytes::copy_from_slice(r),
        }
    }

    /// An immutable copy (a handle, for a [`Str`]).
    pub fn to_str(&self) -> Str {
        match self {
            StrRef::Str(s) => (*s).clone(),
            StrRef::Raw(r) => Str::new(r),
        }
    }
}

impl std::ops::Deref for StrRef<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            StrRef::Str(s) => s.as_bytes(),
            StrRef::Raw(r) => r,
        }
    }
}

impl std::fmt::Debug for StrRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", Bytes::copy_from_slice(self))
    }
}

/// A string edited to at least this many bytes is kept as a
/// [`Coll::Raw`](super::Coll::Raw) and edited in place from then on.
/// Below it, copying the string on each edit costs about what the lock
/// would, and reads stay lock-free.
pub const RAW_FROM: usize = 4096;

/// Make room in `buf` for `needed` bytes, as Redis's `sdsMakeRoomFor`
/// (greedy): double up to 1 MB, then 1 MB more at a time, so edits that
/// grow a string cost amortised O(1) and the spare room stays within
/// 1 MB beyond 1 MB. Below [`RAW_FROM`] the buffer is a copy that is
/// stored exactly, so it gets no spare room; and a string the command
/// creates (`existed` false) is sized exactly, as Redis creates one
/// (`sdsnewlen` in SETRANGE, SETBIT, BITFIELD; the argument in APPEND):
/// a 100 KB SETRANGE on a new key costs 100 KB, not 200.
pub fn grow_for(buf: &mut Vec<u8>, needed: usize, existed: bool) {
    const MAX_PREALLOC: usize = 1 << 20;
    if needed <= buf.capacity() {
        return;
    }
    let target = if needed < RAW_FROM || !existed {
        needed
    } else if needed < MAX_PREALLOC {
        needed * 2
    } else {
        needed + MAX_PREALLOC
    };
    buf.reserve_exact(target - buf.len());
}

/// Lengthen `buf` to `len` bytes with zeros, making room by
/// [`grow_for`] (Redis's `sdsgrowzero`: SETBIT, SETRANGE, BITFIELD).
pub fn grow_zeroed(buf: &mut Vec<u8>, len: usize, existed: bool) {
    if buf.len() < len {
        grow_for(buf, len, existed);
        buf.resize(len, 0);
    }
}

/// `triomphe::Arc`'s header: one count.
const HEADER: usize = std::mem::size_of::<usize>();

/// Strings longer than this are shared into replies instead of copied.
pub const SHARE_FROM: usize = 256;

/// The allocation of a shared reply, kept alive by the `Bytes` made from it.
struct Owner(triomphe::Arc<[u8]>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The empty string.
impl Default for Str {
    fn default() -> Str {
        Str::new(&[])
    }
}

impl std::ops::Deref for Str {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Str {}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", Bytes::copy_from_slice(self.as_bytes()))
    }
}

impl From<&[u8]> for Str {
    fn from(b: &[u8]) -> Str {
        Str::new(b)
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Str {
        Str::new(s.as_bytes())
    }
}

impl From<Vec<u8>> for Str {
    fn from(v: Vec<u8>) -> Str {
        Str::new(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[test]
    fn room_is_made_as_sds_makes_it() {
        let room = |len: usize, needed: usize| {
            let mut buf = vec![0u8; len];
            buf.shrink_to_fit();
            grow_for(&mut buf, needed, true);
            buf.capacity()
        };
        assert_eq!(room(10, 100), 100, "a short copy gets no spare room");
        let mut created = Vec::new();
        grow_for(&mut created, 5_000, false);
        assert_eq!(created.capacity(), 5_000, "a created string: exact");
        assert_eq!(room(10, RAW_FROM), 2 * RAW_FROM);
        assert_eq!(room(10, 5_000), 10_000);
        assert_eq!(room(10, 3 << 20), 4 << 20, "1 MB more past 1 MB");
        assert_eq!(room(100, 50), 100, "room enough: unchanged");
        let mut buf = b"ab".to_vec();
        grow_zeroed(&mut buf, 5, true);
        assert_eq!(buf, b"ab\0\0\0");
        grow_zeroed(&mut buf, 3, true);
        assert_eq!(buf.len(), 5, "never shortens");
    }

    #[test]
    fn a_string_and_a_value_holding_it_take_24_bytes() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        assert_eq!(std::mem::size_of::<super::super::Value>(), 24);
    }

    #[test]
    fn strings_round_trip_on_both_sides_of_the_inline_limit() {
        for len in [
            0,
            1,
            16,
            INLINE_STR - 1,
            INLINE_STR,
            INLINE_STR + 1,
            100,
            5000,
        ] {
            let raw = raw(len);
            let s = Str::new(&raw);
            assert_eq!(s.as_bytes(), &raw[..], "len {len}");
            assert_eq!(&s.to_bytes()[..], &raw[..]);
            let inline = len <= INLINE_STR;
            assert_eq!(
                s.heap_len(),
                if inline { 0 } else { HEADER + len },
                "len {len}"
            );
            assert_eq!(s.clone(), s);
            assert_eq!(format!("{s:?}"), format!("{:?}", Bytes::from(raw.clone())));
        }
        assert_ne!(Str::new(b"ab"), Str::new(b"ab\0"));
    }

    #[test]
    fn a_raw_string_keeps_its_mark_and_its_bytes_at_every_length() {
        for len in [0, 1, INLINE_STR - 1, INLINE_STR, INLINE_STR + 1, 44, 100] {
            let bytes = raw(len);
            let (plain, marked) = (Str::new(&bytes), Str::raw(&bytes));
            assert!(!plain.is_raw() && marked.is_raw(), "len {len}");
            assert!(marked.clone().is_raw(), "a clone stays raw");
            assert_eq!(marked.as_bytes(), &bytes[..], "len {len}");
            assert_eq!(marked.heap_len(), plain.heap_len(), "len {len}");
            assert_eq!(marked, plain, "the mark is not part of the value");
        }
        assert!(!Str::concat(&[b"a", b"b"]).is_raw());
    }

    #[test]
    fn concat_equals_the_joined_parts() {
        for (a, b) in [
            (0, 0),
            (3, 4),
            (15, 15),
            (15, 16),
            (22, 1),
            (11, 11),
            (30, 1),
            (100, 300),
        ] {
            let (a, b) = (raw(a), raw(b + 1)[1..].to_vec());
            let joined = [a.clone(), b.clone()].concat();
            assert_eq!(Str::concat(&[&a, &b]).as_bytes(), &joined[..]);
            assert_eq!(
                Str::concat(&[&a, &b]).heap_len(),
                Str::new(&joined).heap_len()
            );
        }
    }

    #[test]
    fn long_replies_share_the_stored_string_and_short_ones_copy_it() {
        let long = Str::new(&raw(SHARE_FROM + 1));
        let Repr::Heap { bytes: stored, .. } = &long.0 else {
            panic!("inline")
        };
        let reply = long.to_bytes();
        assert_eq!(
            reply.as_ptr(),
            stored[..].as_ptr(),
            "a long reply is shared"
        );
        assert!(!stored.is_unique());
        drop(reply);
        assert!(stored.is_unique(), "the reply released its share");
        let medium = Str::new(&raw(SHARE_FROM));
        let Repr::Heap { bytes: stored, .. } = &medium.0 else {
            panic!("inline")
        };
        assert_ne!(medium.to_bytes().as_ptr(), stored[..].as_ptr(), "copied");
    }
}
