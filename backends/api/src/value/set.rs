//! Sets: Redis 7.0's two encodings. An [`IntSet`] (sorted integers in
//! the narrowest of 16, 32 or 64 bits) while every member is an integer
//! and there are at most `set-max-intset-entries` of them; a
//! [`table`](super::table) of members otherwise. As in Redis, a set never
//! converts back.

use super::table::{scan_positions, Table};
use crate::num::string2ll;

/// Sorted integers stored at the narrowest width that fits them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntSet {
    /// Every member fits 16 bits.
    I16(Vec<i16>),
    /// ... 32 bits.
    I32(Vec<i32>),
    /// ... 64 bits.
    I64(Vec<i64>),
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet::I16(Vec::new())
    }
}

macro_rules! each_width {
    ($set:expr, $v:ident => $body:expr) => {
        match $set {
            IntSet::I16($v) => $body,
            IntSet::I32($v) => $body,
            IntSet::I64($v) => $body,
        }
    };
}

impl IntSet {
    /// Number of members.
    pub fn len(&self) -> usize {
        each_width!(self, v => v.len())
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Member `i` in ascending order.
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            IntSet::I16(v) => v.get(i).map(|&x| i64::from(x)),
            IntSet::I32(v) => v.get(i).map(|&x| i64::from(x)),
            IntSet::I64(v) => v.get(i).copied(),
        }
    }

    /// Position of `x`, or where it would go.
    fn search(&self, x: i64) -> Result<usize, usize> {
        match self {
            IntSet::I16(v) => {
                i16::try_from(x).map_or_else(|_| Err(edge(x, v.len())), |x| v.binary_search(&x))
            }
            IntSet::I32(v) => {
                i32::try_from(x).map_or_else(|_| Err(edge(x, v.len())), |x| v.binary_search(&x))
            }
            IntSet::I64(v) => v.binary_search(&x),
        }
    }

    /// Is `x` a member?
    pub fn contains(&self, x: i64) -> bool {
        self.search(x).is_ok()
    }

    /// Widen so `x` fits.
    fn widen_for(&mut self, x: i64) {
        let fits16 = i16::try_from(x).is_ok();
        let fits32 = i32::try_from(x).is_ok();
        match self {
            IntSet::I16(v) if !fits16 => {
                *self = if fits32 {
                    IntSet::I32(v.iter().map(|&y| i32::from(y)).collect())
                } else {
                    IntSet::I64(v.iter().map(|&y| i64::from(y)).collect())
                }
            }
            IntSet::I32(v) if !fits32 => {
                *self = IntSet::I64(v.iter().map(|&y| i64::from(y)).collect())
            }
            _ => {}
        }
    }

    /// Add `x`; true when new.
    pub fn insert(&mut self, x: i64) -> bool {
        self.widen_for(x);
        match self.search(x) {
            Ok(_) => false,
            Err(at) => {
                match self {
                    IntSet::I16(v) => v.insert(at, x as i16),
                    IntSet::I32(v) => v.insert(at, x as i32),
                    IntSet::I64(v) => v.insert(at, x),
                }
                true
            }
        }
    }

    /// Remove `x`; true when it was there.
    pub fn remove(&mut self, x: i64) -> bool {
        match self.search(x) {
            Ok(at) => {
                each_width!(self, v => { v.remove(at); });
                true
            }
            Err(_) => false,
        }
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Where an out-of-range `x` goes in a narrower set: before everything or
/// after everything.
fn edge(x: i64, len: usize) -> usize {
    if x < 0 {
        0
    } else {
        len
    }
}

/// A set value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Set {
    /// Integers only, few enough.
    Ints(IntSet),
    /// Anything (boxed, so a small set's handle stays small).
    Table(Box<Table<Box<[u8]>>>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(IntSet::default())
    }
}

/// A member as bytes, however it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    /// An integer from an intset.
    Int(i64),
    /// Bytes from a table.
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member's bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Member::Int(i) => i.to_string().into_bytes(),
            Member::Bytes(b) => b.to_vec(),
        }
    }
}

impl Set {
    /// Heap bytes held: the integer vector, or the table with each member.
    pub fn heap_bytes(&self, class: super::SizeClass) -> usize {
        use super::pack::allocated;
        match self {
            Set::Ints(IntSet::I16(v)) => allocated(v.capacity() * 2, class),
            Set::Ints(IntSet::I32(v)) => allocated(v.capacity() * 4, class),
            Set::Ints(IntSet::I64(v)) => allocated(v.capacity() * 8, class),
            Set::Table(s) => {
                class(std::mem::size_of_val(&**s))
                    + s.heap_bytes(class)
                    + s.iter().map(|m| allocated(m.len(), class)).sum::<usize>()
            }
        }
    }

    /// An empty set suited to its first member: an intset for an integer.
    pub fn for_member(first: &[u8], max_intset: usize) -> Set {
        if string2ll(first).is_some() && max_intset > 0 {
            Set::Ints(IntSet::default())
        } else {
            Set::Table(Box::default())
        }
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    /// The buckets of its hash table (DEBUG HTSTATS-KEY); `None` for an
    /// intset.
    pub fn buckets(&self) -> Option<usize> {
        match self {
            Set::Ints(_) => None,
            Set::Table(t) => Some(t.buckets()),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Table(t) => t.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Is `m` a member?
    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => string2ll(m).is_some_and(|x| s.contains(x)),
            Set::Table(t) => t.contains(m),
        }
    }

    fn convert_to_table(&mut self) {
        if let Set::Ints(s) = self {
            let mut t = Table::with_capacity(s.len() + 1);
            for x in s.iter() {
                t.insert(x.to_string().into_bytes().into_boxed_slice());
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// Add `m`; true when new. `max_intset` is `set-max-intset-entries`.
    pub fn insert(&mut self, m: &[u8], max_intset: usize) -> bool {
        if let Set::Ints(s) = self {
            match string2ll(m) {
                Some(x) if s.contains(x) => return false,
                Some(x) if s.len() < max_intset => return s.insert(x),
                _ => self.convert_to_table(),
            }
        }
        match self {
            Set::Table(t) => t.insert_with(m, || m.into()),
            Set::Ints(_) => unreachable!("converted above"),
        }
    }

    /// Remove `m`; true when it was a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => string2ll(m).is_some_and(|x| s.remove(x)),
            Set::Table(t) => t.swap_remove(m).is_some(),
        }
    }

    /// Member at position `i` (uniform random picks use `0..len`).
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Ints(s) => s.get(i).map(Member::Int),
            Set::Table(t) => t.get_index(i).map(|m| Member::Bytes(m)),
        }
    }

    /// Remove and return the member at position `i`.
    pub fn take_index(&mut self, i: usize) -> Option<Vec<u8>> {
        match self {
            Set::Ints(s) => {
                let x = s.get(i)?;
                s.remove(x);
                Some(x.to_string().into_bytes())
            }
            Set::Table(t) => t.swap_remove_index(i).map(Vec::from),
        }
    }

    /// Every member, in the encoding's order (ascending for an intset).
    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self {
            Set::Ints(s) => Box::new(s.iter().map(Member::Int)),
            Set::Table(t) => Box::new(t.iter().map(|m| Member::Bytes(m))),
        }
    }

    /// One SSCAN step: an intset whole with cursor 0 (as Redis), a table
    /// about `count` members at a time (see [`table`](super::table)).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<Member<'_>>, u64) {
        match self {
            Set::Ints(_) => (self.iter().collect(), 0),
            Set::Table(t) => {
                let (range, next) = scan_positions(cursor, count, t.len());
                let items = range
                    .rev()
                    .filter_map(|i| t.get_index(i).map(|m| Member::Bytes(m)))
                    .collect();
                (items, next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intsets_widen_and_stay_sorted() {
        let mut s = IntSet::default();
        for x in [5, -3, 40000, 1, 5, i64::MIN, 7] {
            s.insert(x);
        }
        assert!(matches!(s, IntSet::I64(_)));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            vec![i64::MIN, -3, 1, 5, 7, 40000]
        );
        assert!(s.remove(40000) && !s.remove(40000));
        assert!(s.contains(-3) && !s.contains(4));
        let mut narrow = IntSet::default();
        narrow.insert(3);
        assert!(!narrow.contains(100_000) && !narrow.contains(-100_000));
        assert!(!narrow.remove(1 << 40));
    }

    #[test]
    fn sets_convert_on_a_non_integer_or_too_many_members() {
        let mut s = Set::for_member(b"1", 3);
        assert_eq!(s.encoding(), "intset");
        for m in ["1", "2", "3"] {
            s.insert(m.as_bytes(), 3);
        }
        assert_eq!(s.encoding(), "intset");
        assert!(!s.insert(b"3", 3));
        assert!(s.insert(b"4", 3));
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::for_member(b"1", 512);
        s.insert(b"1", 512);
        s.insert(b"01", 512);
        assert_eq!(s.encoding(), "hashtable", "01 is not an integer to Redis");
        assert!(s.contains(b"1") && s.contains(b"01"));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn take_index_pops_members() {
        let mut s = Set::for_member(b"10", 512);
        s.insert(b"10", 512);
        s.insert(b"20", 512);
        assert_eq!(s.take_index(1), Some(b"20".to_vec()));
        assert_eq!(s.take_index(0), Some(b"10".to_vec()));
        assert!(s.is_empty());
    }
}
