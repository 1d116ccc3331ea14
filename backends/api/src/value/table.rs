//! What large hashes and sets are built on: an insertion-indexed hash table
//! (`indexmap`), chosen for three properties Redis's commands need.
//!
//! - O(1) insert, lookup and delete (delete moves the last element into the
//!   hole: `swap_remove`).
//! - A uniformly random element in O(1) (pick an index), for HRANDFIELD,
//!   SRANDMEMBER and SPOP.
//! - A cursor that keeps Redis's SCAN guarantee across any writes between
//!   calls ([`scan_positions`]): positions are visited from the last to the
//!   first. A delete moves the last element into the hole; since the last
//!   element is always at or above the cursor, an element not yet visited
//!   only ever moves to another unvisited position, and an element already
//!   visited may move down and be seen again (which SCAN allows). Inserts
//!   append above the cursor and may be missed (also allowed).

/// Hash state for tables: randomly seeded per process.
pub type Hasher = foldhash::fast::RandomState;

/// The positions one scan call visits: from `cursor` (0 starts at the end)
/// down, about `count` of them, in a table of `len` elements. Returns the
/// positions and the next cursor (0 when done).
pub fn scan_positions(cursor: u64, count: usize, len: usize) -> (std::ops::Range<usize>, u64) {
    let top = match cursor {
        0 => len,
        c => usize::try_from(c).unwrap_or(usize::MAX).min(len),
    };
    let bottom = top.saturating_sub(count.max(1));
    let next = if bottom == 0 { 0 } else { bottom as u64 };
    (bottom..top, next)
}

/// Heap bytes of an `IndexMap`/`IndexSet` with room for `capacity`
/// entries of `T` (without what the entries point to): the entry vector
/// (hash, then the entry) and the index table (hashbrown: a `usize` and a
/// control byte per bucket, plus one group of control bytes).
pub fn heap_bytes<T>(capacity: usize, class: super::SizeClass) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    let entry = std::mem::size_of::<usize>() + std::mem::size_of::<T>();
    class(capacity * entry) + class(buckets * (std::mem::size_of::<usize>() + 1) + 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexSet;

    #[test]
    fn cursors_walk_down_and_end_at_zero() {
        assert_eq!(scan_positions(0, 3, 7), (4..7, 4));
        assert_eq!(scan_positions(4, 3, 7), (1..4, 1));
        assert_eq!(scan_positions(1, 3, 7), (0..1, 0));
        assert_eq!(scan_positions(0, 10, 7), (0..7, 0));
        assert_eq!(
            scan_positions(99, 3, 7),
            (4..7, 4),
            "a stale cursor is clamped"
        );
        assert_eq!(scan_positions(0, 3, 0), (0..0, 0));
    }

    #[test]
    fn elements_present_throughout_are_seen_whatever_is_deleted() {
        let mut seed = 12345u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n.max(1)
        };
        for round in 0..50 {
            let mut set: IndexSet<u32> = (0..200).collect();
            let stable: Vec<u32> = (0..200).filter(|i| i % 3 == 0).collect();
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            let mut fresh = 1000 + round * 1000;
            loop {
                let (range, next_cursor) = scan_positions(cursor, 7, set.len());
                for i in range {
                    seen.insert(*set.get_index(i).unwrap());
                }
                cursor = next_cursor;
                if cursor == 0 {
                    break;
                }
                // Writes between calls: delete unstable elements, add new ones.
                for _ in 0..5 {
                    let i = next(set.len());
                    let v = *set.get_index(i).unwrap();
                    if !v.is_multiple_of(3) || v >= 1000 {
                        set.swap_remove_index(i);
                    }
                    set.insert(fresh);
                    fresh += 1;
                }
            }
            for s in &stable {
                assert!(
                    seen.contains(s),
                    "round {round}: {s} was present throughout but not seen"
                );
            }
        }
    }
}
