//! `ZMember`: a sorted-set member stored inline when it is short (no
//! allocation at all: most leaderboard members are ids of a few bytes),
//! on the heap otherwise. 24 bytes either way.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Members up to this many bytes are stored inline.
pub const INLINE: usize = 22;

/// A member's bytes.
#[derive(Clone)]
pub enum ZMember {
    /// Length, then the bytes (the rest zero).
    Inline(u8, [u8; INLINE]),
    /// A longer member.
    Heap(Box<[u8]>),
}

impl ZMember {
    /// Heap bytes held (none when the member is inline).
    pub fn heap_bytes(&self, class: crate::value::SizeClass) -> usize {
        match self {
            ZMember::Inline(..) => 0,
            ZMember::Heap(b) => crate::value::pack::allocated(b.len(), class),
        }
    }

    /// Copy `b` into a member.
    pub fn new(b: &[u8]) -> ZMember {
        if b.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..b.len()].copy_from_slice(b);
            ZMember::Inline(b.len() as u8, buf)
        } else {
            ZMember::Heap(b.into())
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ZMember::Inline(n, buf) => &buf[..usize::from(*n)],
            ZMember::Heap(b) => b,
        }
    }
}

impl std::ops::Deref for ZMember {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for ZMember {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

// Hash and Eq agree with `[u8]`'s, so a table keyed by members can be
// searched with a plain byte slice.
impl Hash for ZMember {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialEq for ZMember {
    fn eq(&self, other: &ZMember) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ZMember {}

impl std::fmt::Debug for ZMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_members_are_inline_and_long_ones_on_the_heap() {
        assert_eq!(std::mem::size_of::<ZMember>(), 24);
        let s = ZMember::new(b"player:42");
        assert!(matches!(s, ZMember::Inline(9, _)));
        assert_eq!(&*s, b"player:42");
        let l = ZMember::new(&[7u8; 23]);
        assert!(matches!(l, ZMember::Heap(_)));
        assert_eq!(l.as_bytes(), &[7u8; 23][..]);
        assert_eq!(ZMember::new(b""), ZMember::new(b""));
    }
}
