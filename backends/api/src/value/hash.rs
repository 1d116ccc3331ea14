//! Hashes: a [`Pack`] of field, value, field, value... while small (Redis's
//! listpack encoding), a [`table`](super::table) of fields to values once
//! more than `hash-max-listpack-entries` fields or a field or value longer
//! than `hash-max-listpack-value` bytes arrive (the hashtable encoding).
//! As in Redis, a hash never converts back.
//!
//! In the table a field and its value share one allocation ([`FieldValue`]):
//! the field's length, the field, the value. Two boxed slices cost a 40-byte
//! table entry and two allocations per field; one costs 24 bytes and one.

use super::pack::Pack;
use super::table::{scan_positions, Keyed, Table};

/// The limits that decide a hash's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashLimits {
    /// `hash-max-listpack-entries`.
    pub max_entries: usize,
    /// `hash-max-listpack-value`.
    pub max_value: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            max_entries: 512,
            max_value: 64,
        }
    }
}

/// A field and its value.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// A large hash's fields and values, in insertion order.
pub type Fields = Table<FieldValue>;

/// A field and its value in one allocation: the field's length (LEB128),
/// the field, then the value. A [`Table`] finds it by its field.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldValue(Box<[u8]>);

impl FieldValue {
    /// Pack `field` and `value` together.
    pub fn new(field: &[u8], value: &[u8]) -> FieldValue {
        let prefix = (usize::BITS - (field.len() | 1).leading_zeros()).div_ceil(7) as usize;
        let mut bytes = Vec::with_capacity(prefix + field.len() + value.len());
        let mut n = field.len();
        while n >= 0x80 {
            bytes.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        bytes.push(n as u8);
        bytes.extend_from_slice(field);
        bytes.extend_from_slice(value);
        FieldValue(bytes.into_boxed_slice())
    }

    /// The field and the value.
    #[inline]
    pub fn pair(&self) -> Pair<'_> {
        let first = self.0[0];
        if first < 0x80 {
            // Fields under 128 bytes: one length byte.
            return self.0[1..].split_at(usize::from(first));
        }
        let (mut len, mut shift, mut at) = (0usize, 0, 0);
        loop {
            let b = self.0[at];
            at += 1;
            len |= usize::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        self.0[at..].split_at(len)
    }

    /// The field.
    #[inline]
    pub fn field(&self) -> &[u8] {
        self.pair().0
    }

    /// Bytes of the allocation.
    pub fn allocation_len(&self) -> usize {
        self.0.len()
    }
}

impl Keyed for FieldValue {
    fn key(&self) -> &[u8] {
        self.field()
    }
}

impl std::fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (field, value) = self.pair();
        write!(
            f,
            "{:?}: {:?}",
            String::from_utf8_lossy(field),
            String::from_utf8_lossy(value)
        )
    }
}

/// A hash value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hash {
    /// Small: fields and values alternate in one pack, in insertion order.
    Pack(Pack),
    /// Large (boxed, so a small hash's handle stays small).
    Table(Box<Fields>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pack::new())
    }
}

impl Hash {
    /// Heap bytes held: the pack, or the table with each field and value.
    pub fn heap_bytes(&self, class: super::SizeClass) -> usize {
        use super::pack::allocated;
        match self {
            Hash::Pack(p) => p.heap_bytes(class),
            Hash::Table(m) => {
                class(std::mem::size_of_val(&**m))
                    + m.heap_bytes(class)
                    + m.iter()
                        .map(|fv| allocated(fv.allocation_len(), class))
                        .sum::<usize>()
            }
        }
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// The buckets of its hash table (DEBUG HTSTATS-KEY); `None` for a
    /// listpack.
    pub fn buckets(&self) -> Option<usize> {
        match self {
            Hash::Pack(_) => None,
            Hash::Table(t) => Some(t.buckets()),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    /// True when there is no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Position of `field` in a pack (as a field index).
    fn pack_find(p: &Pack, field: &[u8]) -> Option<usize> {
        p.iter().step_by(2).position(|f| f == field)
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => {
                let mut it = p.iter();
                while let Some(f) = it.next() {
                    let v = it.next()?;
                    if f == field {
                        return Some(v);
                    }
                }
                None
            }
            Hash::Table(t) => t.get(field).map(|fv| fv.pair().1),
        }
    }

    /// Does `field` exist?
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    fn convert_to_table(&mut self) {
        if let Hash::Pack(p) = self {
            let mut t = Table::with_capacity(p.len() / 2 + 1);
            let mut it = p.iter();
            while let (Some(f), Some(v)) = (it.next(), it.next()) {
                t.insert(FieldValue::new(f, v));
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// Set `field` to `value`; true when the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if let Hash::Pack(p) = self {
            let too_long = field.len() > limits.max_value || value.len() > limits.max_value;
            match Hash::pack_find(p, field) {
                Some(i) if !too_long => {
                    p.set(2 * i + 1, value);
                    return false;
                }
                None if !too_long && p.len() / 2 < limits.max_entries => {
                    p.push_back(field);
                    p.push_back(value);
                    return true;
                }
                _ => self.convert_to_table(),
            }
        }
        match self {
            Hash::Table(t) => t.replace(FieldValue::new(field, value)).is_none(),
            Hash::Pack(_) => unreachable!("converted above"),
        }
    }

    /// Remove `field`; true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => match Hash::pack_find(p, field) {
                Some(i) => {
                    p.remove_range(2 * i, 2);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// Every (field, value), in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pack(p) => {
                let fields = p.iter().step_by(2);
                let values = p.iter().skip(1).step_by(2);
                Box::new(fields.zip(values))
            }
            Hash::Table(t) => Box::new(t.iter().map(FieldValue::pair)),
        }
    }

    /// The pair at position `i` (for random picks: uniform in `0..len`).
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(p) => Some((p.get(2 * i)?, p.get(2 * i + 1)?)),
            Hash::Table(t) => t.get_index(i).map(FieldValue::pair),
        }
    }

    /// One HSCAN step: a small hash is returned whole with cursor 0 (as
    /// Redis does for listpacks); a large one about `count` pairs at a time
    /// under the guarantee described in [`table`](super::table).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<Pair<'_>>, u64) {
        match self {
            Hash::Pack(_) => (self.iter().collect(), 0),
            Hash::Table(t) => {
                let (range, next) = scan_positions(cursor, count, t.len());
                let items = range
                    .rev()
                    .filter_map(|i| t.get_index(i))
                    .map(FieldValue::pair)
                    .collect();
                (items, next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits under which every hash is a table from its first field.
    const TABLE_AT_ONCE: HashLimits = HashLimits {
        max_entries: 0,
        max_value: 64,
    };

    #[test]
    fn small_hashes_stay_packed_in_insertion_order() {
        let mut h = Hash::default();
        let lim = HashLimits::default();
        assert!(h.insert(b"b", b"1", lim));
        assert!(h.insert(b"a", b"2", lim));
        assert!(!h.insert(b"b", b"3", lim));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            vec![(&b"b"[..], &b"3"[..]), (b"a", b"2")]
        );
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn limits_convert_to_a_table_for_good() {
        let lim = HashLimits {
            max_entries: 2,
            max_value: 4,
        };
        let mut h = Hash::default();
        h.insert(b"a", b"1", lim);
        h.insert(b"b", b"2", lim);
        assert_eq!(h.encoding(), "listpack");
        h.insert(b"c", b"3", lim);
        assert_eq!(h.encoding(), "hashtable");
        h.remove(b"c");
        h.remove(b"b");
        assert_eq!(h.encoding(), "hashtable", "no conversion back");
        let mut h = Hash::default();
        h.insert(b"a", b"12345", lim);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"12345"[..]));
    }

    #[test]
    fn scans_of_tables_come_in_pieces() {
        let lim = HashLimits {
            max_entries: 1,
            max_value: 64,
        };
        let mut h = Hash::default();
        for i in 0..100 {
            h.insert(format!("f{i}").as_bytes(), b"v", lim);
        }
        let (mut cursor, mut seen) = (0, std::collections::HashSet::new());
        // Ten calls of ten; a cursor that never comes back fails here.
        for calls in 1.. {
            assert!(calls <= 10, "the cursor did not come back to 0");
            let (items, next) = h.scan(cursor, 10);
            assert!(items.len() <= 10);
            seen.extend(items.into_iter().map(|(f, _)| f.to_vec()));
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
    }

    #[test]
    fn a_field_and_its_value_share_one_allocation() {
        for (field, value) in [
            (&b""[..], &b""[..]),
            (b"f", b""),
            (b"", b"v"),
            (&[b'x'; 127][..], b"v"),
            (&[b'x'; 128][..], b"value"),
            (&[b'y'; 20_000][..], &[b'z'; 3][..]),
        ] {
            let fv = FieldValue::new(field, value);
            assert_eq!(fv.pair(), (field, value));
            let prefix = if field.len() < 128 {
                1
            } else if field.len() < 1 << 14 {
                2
            } else {
                3
            };
            assert_eq!(fv.allocation_len(), prefix + field.len() + value.len());
        }
    }

    #[test]
    fn table_fields_are_found_by_field_alone_and_keep_their_place() {
        let lim = TABLE_AT_ONCE;
        let mut h = Hash::default();
        assert!(h.insert(b"a", b"1", lim));
        assert!(h.insert(b"ab", b"2", lim));
        assert!(h.insert(b"b", b"", lim));
        assert_eq!(h.encoding(), "hashtable");
        assert!(!h.insert(b"a", b"one", lim), "an existing field is not new");
        assert_eq!(h.get(b"a"), Some(&b"one"[..]));
        assert_eq!(h.get(b"b"), Some(&b""[..]));
        assert_eq!(h.get(b"a1"), None);
        assert_eq!(h.get_index(0), Some((&b"a"[..], &b"one"[..])));
        assert_eq!(h.len(), 3);
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.get(b"a"), None);
        assert_eq!(h.get(b"ab"), Some(&b"2"[..]));
    }

    #[test]
    fn equal_hashes_have_equal_values_too() {
        let lim = TABLE_AT_ONCE;
        let (mut a, mut b) = (Hash::default(), Hash::default());
        a.insert(b"f", b"1", lim);
        a.insert(b"g", b"2", lim);
        b.insert(b"g", b"2", lim);
        b.insert(b"f", b"1", lim);
        assert_eq!(a, b, "order does not matter");
        b.insert(b"f", b"other", lim);
        assert_ne!(a, b, "a value does");
        b.insert(b"f", b"1", lim);
        b.insert(b"h", b"3", lim);
        assert_ne!(a, b, "nor a field more");
    }

    #[test]
    fn values_at_the_length_limit_stay_packed_one_more_converts() {
        let lim = HashLimits {
            max_value: 4,
            ..TABLE_AT_ONCE
        };
        let lim = HashLimits {
            max_entries: 8,
            ..lim
        };
        let mut h = Hash::default();
        assert!(h.is_empty());
        assert!(h.insert(b"abcd", b"wxyz", lim), "both at the limit");
        assert!(h.insert(b"f", b"1", lim));
        assert!(!h.insert(b"f", b"2345", lim), "an update at the limit");
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.is_empty() && h.contains(b"abcd") && !h.contains(b"abc"));
        assert_eq!(h.get_index(0), Some((&b"abcd"[..], &b"wxyz"[..])));
        assert_eq!(h.get_index(1), Some((&b"f"[..], &b"2345"[..])));
        assert_eq!(h.get_index(2), None);
        assert!(!h.insert(b"f", b"23456", lim), "an update past the limit");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"23456"[..]));
        let mut h = Hash::default();
        h.insert(b"abcde", b"1", lim);
        assert_eq!(h.encoding(), "hashtable", "a field past the limit");
    }

    #[test]
    fn heap_bytes_count_the_table_and_every_field() {
        let class = |n: usize| n.next_multiple_of(16);
        let mut h = Hash::default();
        h.insert(b"f", b"v", HashLimits::default());
        let Hash::Pack(p) = &h else { panic!() };
        assert_eq!(h.heap_bytes(class), p.heap_bytes(class));
        let mut t = Hash::default();
        for i in 0..100 {
            t.insert(format!("field-{i}").as_bytes(), &[b'v'; 20], TABLE_AT_ONCE);
        }
        let Hash::Table(m) = &t else { panic!() };
        // Each field and value: 1 + 7 or 8 + 20 bytes, one 32-byte class.
        let fields = 100 * 32;
        let table = class(std::mem::size_of_val(&**m)) + m.heap_bytes(class);
        assert_eq!(t.heap_bytes(class), table + fields);
        assert!(m.heap_bytes(class) >= 100 * std::mem::size_of::<FieldValue>());
    }
}
