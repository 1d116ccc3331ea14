//! Command names to entries, looked up case-insensitively without copying
//! the name: the lookup every request makes first.
//!
//! A general hash map needs the name lower-cased into a buffer first, then
//! hashes it, probes and compares: about 165 instructions for `GET`
//! (callgrind). Here a name of up to [`PACKED`] bytes is lower-cased
//! straight into three words plus its length, which are hashed and compared
//! as four integers in an open-addressed table built once and never
//! changed. Longer names (only a `rename-command` can make one) are
//! searched one by one.

/// The longest name held packed.
const PACKED: usize = 24;

/// A name of at most [`PACKED`] bytes, lower-cased, eight bytes to a word,
/// then its length.
type Packed = [u64; 4];

fn pack(name: &[u8]) -> Option<Packed> {
    if name.len() > PACKED {
        return None;
    }
    let mut w: Packed = [0, 0, 0, name.len() as u64];
    for (i, &b) in name.iter().enumerate() {
        w[i / 8] |= u64::from(b.to_ascii_lowercase()) << (8 * (i % 8));
    }
    Some(w)
}

fn hash(w: &Packed) -> u64 {
    (w[0] ^ w[1].rotate_left(21) ^ w[2].rotate_left(42) ^ w[3]).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Names (in any case) to `V`.
#[derive(Debug)]
pub(super) struct NameMap<V> {
    entries: Vec<(Packed, V)>,
    /// Indexes into `entries` (`EMPTY` for none); `1 << bits` long, at
    /// most half full, so a probe ends quickly at an empty slot.
    slots: Box<[u32]>,
    bits: u32,
    /// Names longer than [`PACKED`], lower-cased.
    long: Vec<(Box<[u8]>, V)>,
}

const EMPTY: u32 = u32::MAX;

impl<V> NameMap<V> {
    /// A map of `entries`; of two equal names (in any case) the later wins.
    pub(super) fn new(entries: impl IntoIterator<Item = (Box<[u8]>, V)>) -> NameMap<V> {
        let mut packed: Vec<(Packed, V)> = Vec::new();
        let mut long: Vec<(Box<[u8]>, V)> = Vec::new();
        for (mut name, v) in entries {
            name.make_ascii_lowercase();
            match pack(&name) {
                Some(w) => match packed.iter().position(|e| e.0 == w) {
                    Some(i) => packed[i].1 = v,
                    None => packed.push((w, v)),
                },
                None => match long.iter().position(|e| e.0 == name) {
                    Some(i) => long[i].1 = v,
                    None => long.push((name, v)),
                },
            }
        }
        let bits = (packed.len() * 2)
            .next_power_of_two()
            .max(8)
            .trailing_zeros();
        let mask = (1usize << bits) - 1;
        let mut slots = vec![EMPTY; mask + 1].into_boxed_slice();
        for (i, (w, _)) in packed.iter().enumerate() {
            let mut s = (hash(w) >> (64 - bits)) as usize;
            while slots[s] != EMPTY {
                s = (s + 1) & mask;
            }
            slots[s] = u32::try_from(i).expect("fewer than 2^32 names");
        }
        NameMap {
            entries: packed,
            slots,
            bits,
            long,
        }
    }

    /// The entry for `name`, in any case.
    pub(super) fn get(&self, name: &[u8]) -> Option<&V> {
        let Some(w) = pack(name) else {
            let found = self.long.iter().find(|e| e.0.eq_ignore_ascii_case(name));
            return found.map(|e| &e.1);
        };
        let mask = self.slots.len() - 1;
        let mut s = (hash(&w) >> (64 - self.bits)) as usize;
        loop {
            let (stored, v) = self.entries.get(self.slots[s] as usize)?;
            if *stored == w {
                return Some(v);
            }
            s = (s + 1) & mask;
        }
    }

    /// Every (lower-case name, entry).
    pub(super) fn iter(&self) -> impl Iterator<Item = (Vec<u8>, &V)> {
        let packed = self.entries.iter().map(|(w, v)| (unpack(w), v));
        packed.chain(self.long.iter().map(|(n, v)| (n.to_vec(), v)))
    }
}

fn unpack(w: &Packed) -> Vec<u8> {
    (0..w[3] as usize)
        .map(|i| (w[i / 8] >> (8 * (i % 8))) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(names: &[&str]) -> NameMap<usize> {
        NameMap::new(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_bytes().into(), i)),
        )
    }

    #[test]
    fn names_are_found_in_any_case_and_only_whole() {
        let m = map(&["get", "set", "getset", "CLIENT"]);
        assert_eq!(m.get(b"GET"), Some(&0));
        assert_eq!(m.get(b"gEt"), Some(&0));
        assert_eq!(m.get(b"getset"), Some(&2));
        assert_eq!(m.get(b"client"), Some(&3));
        for miss in [&b"ge"[..], b"gett", b"", b"g\xc5t", b"sets"] {
            assert_eq!(m.get(miss), None, "{miss:?}");
        }
        assert_eq!(NameMap::<u8>::new([]).get(b"get"), None);
    }

    #[test]
    fn every_name_of_a_crowded_table_is_found() {
        // Enough names that probes collide and wrap around.
        let names: Vec<String> = (0..1000).map(|i| format!("cmd{i}")).collect();
        let m = map(&names.iter().map(String::as_str).collect::<Vec<_>>());
        for (i, n) in names.iter().enumerate() {
            assert_eq!(m.get(n.to_uppercase().as_bytes()), Some(&i));
        }
        assert_eq!(m.get(b"cmd1000"), None);
        assert_eq!(m.iter().count(), 1000);
    }

    #[test]
    fn names_past_the_packed_length_are_found_too() {
        let long = "a-name-longer-than-twenty-four-bytes";
        let m = map(&["get", long, &long[..PACKED], &long[..PACKED + 1]]);
        assert_eq!(m.get(long.to_uppercase().as_bytes()), Some(&1));
        assert_eq!(m.get(&long.as_bytes()[..PACKED]), Some(&2));
        assert_eq!(m.get(&long.as_bytes()[..PACKED + 1]), Some(&3));
        assert_eq!(m.get(&long.as_bytes()[..PACKED + 2]), None);
        // Trailing NULs are part of the name, not padding.
        assert_eq!(m.get(b"get\0"), None);
        let mut names: Vec<_> = m.iter().map(|(n, _)| n).collect();
        names.sort();
        assert_eq!(names[3], b"get");
        assert_eq!(names[2], long.as_bytes());
    }

    #[test]
    fn a_later_entry_for_the_same_name_wins() {
        let m = map(&["get", "GET"]);
        assert_eq!(m.get(b"get"), Some(&1));
        assert_eq!(m.iter().count(), 1);
    }
}
