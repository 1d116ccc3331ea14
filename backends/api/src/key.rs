//! [`InlineBytes`]: short byte strings kept inline, longer ones in one
//! exact-size allocation; [`Key`] is the one for stored keys (inline up to
//! 22 bytes), `value::zset::ZMember` the one for sorted-set members (22).
//!
//! A `Bytes` key costs 32 bytes of handle plus its own allocation (16 bytes
//! for a 14-byte key with jemalloc, and a 32-byte shared header once it has
//! been cloned). Most Redis keys are short (`user:1000:session`), so a
//! backend that stores a `Key` instead keeps them inside 24 bytes, less
//! than the handle took, with no allocation; longer keys take one
//! allocation of exactly their length. Why 22 and not 30: a 24-byte key
//! and a 40-byte entry make a 64-byte node (a jemalloc size class), where
//! 32 + 48 made 80 (see `reports/2026-12-04-entry-64.md`). A `Key` hashes, compares and borrows as `[u8]`, so
//! a map keyed by it is looked up with `&[u8]`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// Longest key kept inline.
pub const INLINE_KEY: usize = 22;

/// A key as a backend stores it (see the module documentation): 24 bytes.
pub type Key = InlineBytes<INLINE_KEY>;

/// Up to `N` bytes (at most 255) inline, more in one allocation; `N + 2`
/// bytes rounded up to 8, at least 24.
#[derive(Clone)]
pub struct InlineBytes<const N: usize>(Repr<N>);

#[derive(Clone)]
enum Repr<const N: usize> {
    Inline { len: u8, bytes: [u8; N] },
    Heap(Box<[u8]>),
}

impl<const N: usize> InlineBytes<N> {
    /// A copy of `b`.
    pub fn new(b: &[u8]) -> Self {
        if b.len() <= N {
            let mut bytes = [0; N];
            bytes[..b.len()].copy_from_slice(b);
            InlineBytes(Repr::Inline {
                len: b.len() as u8,
                bytes,
            })
        } else {
            InlineBytes(Repr::Heap(b.into()))
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }

    /// A `Bytes` copy, for callers that take keys as `Bytes`.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }

    /// Heap bytes owned beyond the inline size (0 when inline).
    pub fn heap_len(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }

    /// Heap bytes held, in the allocator's size classes (MEMORY USAGE).
    pub fn heap_bytes(&self, class: crate::value::SizeClass) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => crate::value::pack::allocated(b.len(), class),
        }
    }
}

impl<const N: usize> std::ops::Deref for InlineBytes<N> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> AsRef<[u8]> for InlineBytes<N> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// `Borrow` requires that the type and its `[u8]` hash and compare alike:
/// both `Hash` and `Eq` below go through `as_bytes`, so a table keyed by it
/// is searched with a plain byte slice.
impl<const N: usize> Borrow<[u8]> for InlineBytes<N> {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> Hash for InlineBytes<N> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl<const N: usize> PartialEq for InlineBytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl<const N: usize> Eq for InlineBytes<N> {}

/// Ordered as its bytes (flurry's tree bins need `Ord`).
impl<const N: usize> Ord for InlineBytes<N> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl<const N: usize> PartialOrd for InlineBytes<N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<const N: usize> std::fmt::Debug for InlineBytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl<const N: usize> From<&[u8]> for InlineBytes<N> {
    fn from(b: &[u8]) -> Self {
        Self::new(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_key_is_smaller_than_a_bytes_handle() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }

    #[test]
    fn keys_round_trip_on_both_sides_of_the_inline_limit() {
        for len in [
            0,
            1,
            14,
            INLINE_KEY - 1,
            INLINE_KEY,
            INLINE_KEY + 1,
            100,
            5000,
        ] {
            let raw: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let k = Key::new(&raw);
            assert_eq!(k.as_bytes(), &raw[..], "len {len}");
            assert_eq!(k.to_bytes(), Bytes::from(raw.clone()));
            assert_eq!(k.heap_len(), if len > INLINE_KEY { len } else { 0 });
            assert_eq!(k.clone(), k);
        }
    }

    #[test]
    fn a_key_hashes_and_compares_like_its_bytes() {
        let state = std::collections::hash_map::RandomState::new();
        for raw in [&b""[..], b"a", b"key:0000000001", &[0xff; 31], &[b'x'; 300]] {
            let k = Key::new(raw);
            assert_eq!(state.hash_one(&k), state.hash_one(raw));
        }
        // Keys that share a prefix, or differ only in length, differ.
        assert_ne!(Key::new(b"ab"), Key::new(b"abc"));
        assert_ne!(Key::new(b"ab\0"), Key::new(b"ab"));
        let mut m = std::collections::HashMap::new();
        m.insert(Key::new(b"k1"), 1);
        m.insert(Key::new(&[b'k'; 40]), 2);
        assert_eq!(m.get(&b"k1"[..]), Some(&1));
        assert_eq!(m.get(&[b'k'; 40][..]), Some(&2));
        assert_eq!(m.get(&b"k"[..]), None);
    }
}
