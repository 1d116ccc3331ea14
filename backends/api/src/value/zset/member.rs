//! `ZMember`: a sorted-set member stored inline when it is short (no
//! allocation at all: most leaderboard members are ids of a few bytes),
//! on the heap otherwise. 24 bytes either way. The same type as the stored
//! keys (`crate::InlineBytes`), with a shorter inline part.

/// Members up to this many bytes are stored inline.
pub const INLINE: usize = 22;

/// A member's bytes.
pub type ZMember = crate::key::InlineBytes<INLINE>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_members_are_inline_and_long_ones_on_the_heap() {
        assert_eq!(std::mem::size_of::<ZMember>(), 24);
        let s = ZMember::new(b"player:42");
        assert_eq!(s.heap_len(), 0);
        assert_eq!(&*s, b"player:42");
        let l = ZMember::new(&[7u8; 23]);
        assert_eq!(l.heap_len(), 23);
        assert_eq!(l.as_bytes(), &[7u8; 23][..]);
        assert_eq!(ZMember::new(b""), ZMember::new(b""));
    }
}
