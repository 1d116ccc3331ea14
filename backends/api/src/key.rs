//! [`Key`]: a stored key, inline up to 30 bytes.
//!
//! A `Bytes` key costs 32 bytes of handle plus its own allocation (16 bytes
//! for a 14-byte key with jemalloc, and a 32-byte shared header once it has
//! been cloned). Most Redis keys are short (`user:1000:session`), so a
//! backend that stores a `Key` instead keeps them inside the 32 bytes the
//! handle took, with no allocation; longer keys take one allocation of
//! exactly their length. A `Key` hashes, compares and borrows as `[u8]`, so
//! a map keyed by it is looked up with `&[u8]`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// Longest key kept inline.
pub const INLINE_KEY: usize = 30;

/// A key as a backend stores it (see the module documentation).
#[derive(Clone)]
pub struct Key(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl Key {
    /// A key holding a copy of `key`.
    pub fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(key);
            Key(Repr::Inline {
                len: key.len() as u8,
                bytes,
            })
        } else {
            Key(Repr::Heap(key.into()))
        }
    }

    /// The key's bytes.
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

    /// Heap bytes this key owns beyond its 32 (0 when inline).
    pub fn heap_len(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// `Borrow` requires that a `Key` and its `[u8]` hash and compare alike:
/// both `Hash` and `Eq` below go through `as_bytes`.
impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

/// Ordered as its bytes (flurry's tree bins need `Ord`).
impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({:?})", Bytes::copy_from_slice(self.as_bytes()))
    }
}

impl From<&[u8]> for Key {
    fn from(key: &[u8]) -> Key {
        Key::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_key_is_as_big_as_a_bytes_handle() {
        assert_eq!(std::mem::size_of::<Key>(), 32);
        assert_eq!(std::mem::size_of::<Key>(), std::mem::size_of::<Bytes>());
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
