//! Sorted sets: Redis 7.0's two encodings. A [`Pack`] of member, score,
//! member, score... in (score, member) order while small (the listpack
//! encoding: at most `zset-max-listpack-entries` members, none longer than
//! `zset-max-listpack-value`); once larger, an [`Index`]: a member table
//! (member -> score, O(1) ZSCORE, and the SCAN cursor of every large
//! collection here) plus the [`Ranked`] order, each holding its own copy
//! of the member ([`ZMember`]: inline up to 22 bytes, so a short member
//! costs no allocation at all) (O(log n) rank, range and
//! update). OBJECT ENCODING calls the large form "skiplist", as Redis
//! does; the structure is described in [`ranked`]. As in Redis, a sorted
//! set never converts back on its own.
//!
//! Scores in a pack are stored as text: an integral score as its decimal
//! digits (most leaderboards), any other as the shortest text that reads
//! back to the same double. Scores are never NaN (the command layer
//! refuses them).

pub mod member;
pub mod ranked;

use super::pack::Pack;
use super::table::{scan_positions, Keyed, Table};
pub use member::ZMember;
pub use ranked::{cmp, Ranked};

/// The limits that decide a sorted set's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZLimits {
    /// `zset-max-listpack-entries`.
    pub max_entries: usize,
    /// `zset-max-listpack-value`.
    pub max_value: usize,
}

impl Default for ZLimits {
    fn default() -> Self {
        ZLimits {
            max_entries: 128,
            max_value: 64,
        }
    }
}

/// A member and its score, as read from a sorted set.
pub type Scored<'a> = (&'a [u8], f64);

impl Keyed for (ZMember, f64) {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

/// The large encoding.
#[derive(Clone, Debug, Default)]
pub struct Index {
    scores: Table<(ZMember, f64)>,
    order: Ranked,
}

/// A sorted set value.
#[derive(Clone, Debug)]
pub enum ZSet {
    /// Small: member, score text, member, score text... in order.
    Pack(Pack),
    /// Large.
    Skip(Box<Index>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Pack(Pack::new())
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// A score as a pack stores it.
/// (`-0` is stored as `0`, as a listpack stores it: an integer.)
pub fn score_text(score: f64) -> String {
    if score.fract() == 0.0 && score.abs() < 1e17 {
        (score as i64).to_string()
    } else {
        format!("{score:?}")
    }
}

/// A score read back from a pack.
pub fn parse_score(text: &[u8]) -> f64 {
    if let Some(n) = crate::num::string2ll(text) {
        return n as f64;
    }
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

fn pairs(p: &Pack) -> impl DoubleEndedIterator<Item = Scored<'_>> + ExactSizeIterator + '_ {
    let members = p.iter().step_by(2);
    let scores = p.iter().skip(1).step_by(2).map(parse_score);
    members.zip(scores)
}

/// The position and score of `member` in a pack (only the matching
/// score is parsed).
fn pack_find(p: &Pack, member: &[u8]) -> Option<(usize, f64)> {
    let mut it = p.iter();
    let mut i = 0;
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        if m == member {
            return Some((i, parse_score(s)));
        }
        i += 1;
    }
    None
}

impl ZSet {
    /// Heap bytes held: the pack, or the member table plus the ranked
    /// order (each keeps its own copy of a long member).
    pub fn heap_bytes(&self, class: super::SizeClass) -> usize {
        match self {
            ZSet::Pack(p) => p.heap_bytes(class),
            ZSet::Skip(index) => {
                class(std::mem::size_of::<Index>())
                    + index.scores.heap_bytes(class)
                    + index
                        .scores
                        .iter()
                        .map(|(m, _)| m.heap_bytes(class))
                        .sum::<usize>()
                    + index.order.heap_bytes(class)
            }
        }
    }

    /// A new, empty sorted set in the encoding Redis's `zsetTypeCreate`
    /// picks for `size_hint` members, the longest `longest` bytes.
    pub fn with_hint(size_hint: usize, longest: usize, limits: ZLimits) -> ZSet {
        if size_hint <= limits.max_entries && longest <= limits.max_value {
            ZSet::default()
        } else {
            ZSet::Skip(Box::default())
        }
    }

    /// OBJECT ENCODING's name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Skip(_) => "skiplist",
        }
    }

    /// The buckets of its member table (DEBUG HTSTATS-KEY); `None` for a
    /// listpack.
    pub fn buckets(&self) -> Option<usize> {
        match self {
            ZSet::Pack(_) => None,
            ZSet::Skip(ix) => Some(ix.scores.buckets()),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.len() / 2,
            ZSet::Skip(ix) => ix.order.len(),
        }
    }

    /// True when there is no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => pack_find(p, member).map(|(_, s)| s),
            ZSet::Skip(ix) => ix.scores.get(member).map(|&(_, s)| s),
        }
    }

    fn convert(&mut self) {
        if let ZSet::Pack(p) = self {
            let mut ix = Index {
                scores: Table::with_capacity(p.len() / 2 + 1),
                order: Ranked::default(),
            };
            for (m, s) in pairs(p) {
                let m = ZMember::new(m);
                ix.scores.replace((m.clone(), s));
                ix.order.insert(s, m);
            }
            *self = ZSet::Skip(Box::new(ix));
        }
    }

    /// Set `member`'s score; true when the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZLimits) -> bool {
        if let ZSet::Pack(p) = self {
            let fits = p.len() / 2 < limits.max_entries && member.len() <= limits.max_value;
            if let Some(new) = pack_upsert(p, member, score, fits) {
                return new;
            }
            self.convert();
        }
        let ZSet::Skip(ix) = self else {
            unreachable!("converted above")
        };
        let Index { scores, order } = &mut **ix;
        let ((m, old), new) = scores.get_or_insert_with(member, || (ZMember::new(member), score));
        if new {
            order.insert(score, m.clone());
        } else if *old != score {
            let m = m.clone();
            order.remove(*old, &m);
            order.insert(score, m);
            *old = score;
        }
        new
    }

    /// Remove `member`, returning its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => {
                let (i, s) = pack_find(p, member)?;
                p.remove_range(2 * i, 2);
                Some(s)
            }
            ZSet::Skip(ix) => {
                let (_, s) = ix.scores.swap_remove(member)?;
                ix.order.remove(s, member);
                Some(s)
            }
        }
    }

    /// The 0-based rank (ascending) and score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Pack(p) => pack_find(p, member),
            ZSet::Skip(ix) => {
                let &(_, s) = ix.scores.get(member)?;
                ix.order.rank(s, member).map(|r| (r, s))
            }
        }
    }

    /// How many members satisfy `below`, a predicate true for a prefix of
    /// the order and false after it: the rank where a range bound falls.
    pub fn count_while(&self, below: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Pack(p) => pairs(p).take_while(|(m, s)| below(*s, m)).count(),
            ZSet::Skip(ix) => ix.order.count_while(below),
        }
    }

    /// The member at `rank`.
    pub fn get(&self, rank: usize) -> Option<Scored<'_>> {
        match self {
            ZSet::Pack(p) => pairs(p).nth(rank),
            ZSet::Skip(ix) => ix.order.get(rank).map(|(s, m)| (&m[..], *s)),
        }
    }

    /// The members of ranks `start..end` in ascending order (`.rev()` for
    /// descending).
    pub fn range(
        &self,
        start: usize,
        end: usize,
    ) -> Box<dyn DoubleEndedIterator<Item = Scored<'_>> + '_> {
        let end = end.min(self.len());
        let start = start.min(end);
        match self {
            ZSet::Pack(p) => Box::new(pairs(p).skip(start).take(end - start)),
            ZSet::Skip(ix) => Box::new(ix.order.range(start, end).map(|(s, m)| (&m[..], *s))),
        }
    }

    /// Every member in ascending order.
    pub fn iter(&self) -> Box<dyn DoubleEndedIterator<Item = Scored<'_>> + '_> {
        self.range(0, self.len())
    }

    /// Remove the members of ranks `start..end`, returning them in order.
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<(Vec<u8>, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        match self {
            ZSet::Pack(p) => {
                let out = pairs(p)
                    .skip(start)
                    .take(end - start)
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect();
                p.remove_range(2 * start, 2 * (end - start));
                out
            }
            ZSet::Skip(ix) => ix
                .order
                .remove_range(start, end)
                .into_iter()
                .map(|(s, m)| {
                    ix.scores.swap_remove(&m);
                    (m.to_vec(), s)
                })
                .collect(),
        }
    }

    /// One ZSCAN step: a small set whole with cursor 0 (as Redis returns a
    /// listpack), a large one about `count` members at a time with the
    /// guarantee of [`table`](super::table).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<Scored<'_>>, u64) {
        match self {
            ZSet::Pack(p) => (pairs(p).collect(), 0),
            ZSet::Skip(ix) => {
                let (range, next) = scan_positions(cursor, count, ix.scores.len());
                let items = range
                    .rev()
                    .filter_map(|i| ix.scores.get_index(i))
                    .map(|(m, s)| (&m[..], *s))
                    .collect();
                (items, next)
            }
        }
    }

    /// Give back a pack's spare capacity when it is more than an eighth
    /// (called once per writing command: a listpack in Redis is always
    /// exactly its size).
    pub fn trim(&mut self) {
        if let ZSet::Pack(p) = self {
            if p.capacity() > p.bytes() + p.bytes() / 8 + 8 {
                p.shrink();
            }
        }
    }
}

/// Set `member`'s score in a pack in one pass over it (Redis's
/// `zzlDelete` + `zzlInsert`): the pair is rewritten where it stands when
/// its place in the order does not change, moved otherwise. A new member
/// is added only when `may_add`; `None` then means "convert first".
/// Returns whether the member is new.
fn pack_upsert(p: &mut Pack, member: &[u8], score: f64, may_add: bool) -> Option<bool> {
    let (mut found, mut pos) = (None, None);
    {
        let mut it = p.spans();
        while let (Some((start, m, _)), Some((_, s, end))) = (it.next(), it.next()) {
            if m == member {
                found = Some((start, end));
            } else if pos.is_none()
                && cmp(parse_score(s), m, score, member) == std::cmp::Ordering::Greater
            {
                pos = Some(start);
            }
            if found.is_some() && pos.is_some() {
                break;
            }
        }
    }
    if found.is_none() && !may_add {
        return None;
    }
    let pos = pos.unwrap_or(p.bytes());
    let text = score_text(score);
    let pair: [&[u8]; 2] = [member, text.as_bytes()];
    match found {
        None => {
            p.splice_elems(pos..pos, 0, &pair);
            Some(true)
        }
        // Its successor is still the first greater pair: same place.
        Some((start, end)) if pos == end => {
            p.splice_elems(start..end, 2, &pair);
            Some(false)
        }
        Some((start, end)) if pos > end => {
            p.splice_elems(pos..pos, 0, &pair);
            p.splice_elems(start..end, 2, &[]);
            Some(false)
        }
        Some((start, end)) => {
            p.splice_elems(start..end, 2, &[]);
            p.splice_elems(pos..pos, 0, &pair);
            Some(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: ZLimits = ZLimits {
        max_entries: 4,
        max_value: 8,
    };

    fn members(z: &ZSet) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s))
            .collect()
    }

    #[test]
    fn packs_until_a_limit_then_indexes_in_the_same_order() {
        let mut z = ZSet::default();
        assert!(z.insert(b"b", 2.0, SMALL));
        assert!(z.insert(b"a", 2.0, SMALL));
        assert!(z.insert(b"c", 0.5, SMALL));
        assert!(!z.insert(b"c", 3.0, SMALL), "an update is not new");
        assert_eq!(z.encoding(), "listpack");
        let before = members(&z);
        assert_eq!(
            before,
            vec![("a".into(), 2.0), ("b".into(), 2.0), ("c".into(), 3.0)]
        );
        assert!(z.insert(b"d", f64::NEG_INFINITY, SMALL));
        assert!(z.insert(b"e", 1.0, SMALL), "the fifth member converts");
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(members(&z)[0], ("d".into(), f64::NEG_INFINITY));
        assert_eq!(z.rank(b"c"), Some((4, 3.0)));
        assert_eq!(z.remove(b"c"), Some(3.0));
        assert_eq!(z.encoding(), "skiplist", "never converts back");
        let mut long = ZSet::default();
        long.insert(b"123456789", 1.0, SMALL);
        assert_eq!(long.encoding(), "skiplist");
    }

    #[test]
    fn both_encodings_answer_alike() {
        let mut small = ZSet::default();
        let mut big = ZSet::Skip(Box::default());
        for (i, m) in ["x", "y", "z", "w", "v", "u"].iter().enumerate() {
            let s = (i % 3) as f64 * 0.1;
            small.insert(m.as_bytes(), s, ZLimits::default());
            big.insert(m.as_bytes(), s, ZLimits::default());
        }
        assert_eq!(small, big);
        assert_eq!(small.rank(b"w"), big.rank(b"w"));
        assert_eq!(small.get(3), big.get(3));
        let below = |s: f64, _: &[u8]| s < 0.1;
        assert_eq!(small.count_while(below), big.count_while(below));
        let r1: Vec<_> = small.range(1, 4).rev().collect();
        let r2: Vec<_> = big.range(1, 4).rev().collect();
        assert_eq!(r1, r2);
        assert_eq!(small.remove_range(1, 3), big.remove_range(1, 3));
        assert_eq!(small, big);
        assert_eq!(big.scan(0, 100).0.len(), 4);
    }

    #[test]
    fn pack_updates_in_place_or_move_and_keep_the_order() {
        let mut seed = 99u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut z = ZSet::default();
        let mut model: Vec<(f64, String)> = Vec::new();
        for step in 0..3000 {
            let m = format!("m{}", rnd(12));
            let s = rnd(6) as f64 - 2.5;
            let new = !model.iter().any(|(_, x)| *x == m);
            model.retain(|(_, x)| *x != m);
            model.push((s, m.clone()));
            model.sort_by(|a, b| cmp(a.0, a.1.as_bytes(), b.0, b.1.as_bytes()));
            assert_eq!(
                z.insert(m.as_bytes(), s, ZLimits::default()),
                new,
                "step {step}"
            );
            let got: Vec<(f64, String)> = z
                .iter()
                .map(|(m, s)| (s, String::from_utf8_lossy(m).into_owned()))
                .collect();
            assert_eq!(got, model, "step {step}");
        }
        assert_eq!(z.encoding(), "listpack");
    }

    #[test]
    fn score_text_reads_back_exactly() {
        for s in [
            0.0,
            1.0,
            -17.0,
            0.1,
            1e300,
            -2.5e-300,
            f64::INFINITY,
            1e17,
            123456789.125,
        ] {
            let back = parse_score(score_text(s).as_bytes());
            assert_eq!(back.to_bits(), s.to_bits(), "{s}");
        }
        assert_eq!(score_text(42.0), "42");
    }

    #[test]
    fn hint_picks_the_encoding_like_zset_type_create() {
        let l = ZLimits::default();
        assert_eq!(ZSet::with_hint(128, 64, l).encoding(), "listpack");
        assert_eq!(ZSet::with_hint(129, 1, l).encoding(), "skiplist");
        assert_eq!(ZSet::with_hint(1, 65, l).encoding(), "skiplist");
    }
}
