//! `Ranked`: the ordered index of a large sorted set, a sequence of
//! (score, member) kept sorted in chunks of at most [`CHUNK`] elements,
//! with a Fenwick tree over the chunk lengths.
//!
//! Why not Redis's skiplist: a skiplist node costs a pointer per level
//! plus a span per level plus a backward pointer (about 50 bytes per
//! element with its allocation); a chunk costs the 32-byte element (score
//! and a member, inline when short) and nothing else, and walking a range
//! is a walk along contiguous memory.
//! Costs (n elements, B = [`CHUNK`]):
//! - find the chunk: binary search over the chunks' last elements,
//!   O(log n); inside the chunk: binary search, O(log B);
//! - rank of a position: Fenwick prefix sum over the chunks, O(log n);
//!   element at a rank: Fenwick descent, O(log n);
//! - insert or delete: O(B) to shift inside one chunk plus O(log n) to
//!   update the tree; a chunk that fills up splits in two (and one that
//!   empties or shrinks below B/4 merges with its neighbour), which moves
//!   the chunk list and rebuilds the tree in O(n/B), at most once per B/2
//!   changes: amortized O(n/B²), a few operations even at 10M elements.

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::member::ZMember;

/// Elements per chunk before it splits.
pub const CHUNK: usize = 256;

/// One element: its score and its member.
pub type Elem = (f64, ZMember);

/// Redis's order: by score, then by member bytes. Scores are never NaN.
pub fn cmp(a_score: f64, a: &[u8], b_score: f64, b: &[u8]) -> Ordering {
    a_score
        .partial_cmp(&b_score)
        .unwrap_or(Ordering::Equal)
        .then_with(|| a.cmp(b))
}

/// The ordered index.
#[derive(Clone, Debug, Default)]
pub struct Ranked {
    /// Ring buffers, so popping the lowest element (ZPOPMIN) moves
    /// nothing.
    chunks: Vec<VecDeque<Elem>>,
    /// Fenwick tree (1-based) over `chunks[i].len()`.
    tree: Vec<usize>,
    len: usize,
}

impl Ranked {
    /// Heap bytes held: the chunk list, each chunk, the tree, and long
    /// members' own allocations.
    pub fn heap_bytes(&self, class: crate::value::SizeClass) -> usize {
        use crate::value::pack::allocated;
        allocated(
            self.chunks.capacity() * std::mem::size_of::<VecDeque<Elem>>(),
            class,
        ) + self
            .chunks
            .iter()
            .map(|c| {
                allocated(c.capacity() * std::mem::size_of::<Elem>(), class)
                    + c.iter().map(|(_, m)| m.heap_bytes(class)).sum::<usize>()
            })
            .sum::<usize>()
            + allocated(self.tree.capacity() * std::mem::size_of::<usize>(), class)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn rebuild(&mut self) {
        let n = self.chunks.len();
        self.tree.clear();
        self.tree.resize(n + 1, 0);
        for i in 1..=n {
            self.tree[i] += self.chunks[i - 1].len();
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.tree[parent] += self.tree[i];
            }
        }
    }

    fn add(&mut self, chunk: usize, delta: isize) {
        let mut i = chunk + 1;
        while i < self.tree.len() {
            self.tree[i] = self.tree[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    /// Elements in the chunks before `chunk`.
    fn before(&self, chunk: usize) -> usize {
        let (mut i, mut sum) = (chunk, 0);
        while i > 0 {
            sum += self.tree[i];
            i -= i & i.wrapping_neg();
        }
        sum
    }

    /// The chunk and offset of rank `rank` (`rank < len`).
    fn seek(&self, rank: usize) -> (usize, usize) {
        let n = self.chunks.len();
        let (mut pos, mut rest) = (0, rank);
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.tree[next] <= rest {
                pos = next;
                rest -= self.tree[next];
            }
            step /= 2;
        }
        (pos, rest)
    }

    /// The chunk that holds (or would hold) `(score, member)` and the
    /// position in it.
    fn locate(&self, score: f64, member: &[u8]) -> (usize, Result<usize, usize>) {
        if self.chunks.is_empty() {
            return (0, Err(0));
        }
        let ci = self
            .chunks
            .partition_point(|c| {
                c.back()
                    .is_some_and(|(s, m)| cmp(*s, m, score, member) == Ordering::Less)
            })
            .min(self.chunks.len() - 1);
        let pos = self.chunks[ci].binary_search_by(|(s, m)| cmp(*s, m, score, member));
        (ci, pos)
    }

    /// Add an element that is not present.
    pub fn insert(&mut self, score: f64, member: ZMember) {
        let (ci, pos) = self.locate(score, &member);
        let at = pos.unwrap_or_else(|p| p);
        if self.chunks.is_empty() {
            self.chunks.push(VecDeque::with_capacity(4));
            self.tree = vec![0, 0];
        }
        self.chunks[ci].insert(at, (score, member));
        self.len += 1;
        if self.chunks[ci].len() > CHUNK {
            let tail = self.chunks[ci].split_off(CHUNK / 2);
            self.chunks.insert(ci + 1, tail);
            self.rebuild();
        } else {
            self.add(ci, 1);
        }
    }

    /// Remove an element; true when it was there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        let (ci, Ok(pos)) = self.locate(score, member) else {
            return false;
        };
        self.chunks[ci].remove(pos);
        self.len -= 1;
        if !self.mend(ci) {
            self.add(ci, -1);
        }
        true
    }

    /// Drop an empty chunk or merge a small one into a neighbour; true
    /// when the chunk list changed (and the tree was rebuilt).
    fn mend(&mut self, ci: usize) -> bool {
        if self.chunks[ci].is_empty() {
            self.chunks.remove(ci);
        } else if !self.merge_small(ci) {
            return false;
        }
        self.rebuild();
        true
    }

    /// The 0-based rank of a present element.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let (ci, pos) = self.locate(score, member);
        pos.ok().map(|p| self.before(ci) + p)
    }

    /// How many elements satisfy `below`, a predicate true for a prefix of
    /// the order and false after it (a range bound).
    pub fn count_while(&self, below: impl Fn(f64, &[u8]) -> bool) -> usize {
        let ci = self
            .chunks
            .partition_point(|c| c.back().is_some_and(|(s, m)| below(*s, m)));
        match self.chunks.get(ci) {
            None => self.len,
            Some(c) => self.before(ci) + c.partition_point(|(s, m)| below(*s, m)),
        }
    }

    /// The element at `rank`.
    pub fn get(&self, rank: usize) -> Option<&Elem> {
        if rank >= self.len {
            return None;
        }
        let (ci, pos) = self.seek(rank);
        self.chunks[ci].get(pos)
    }

    /// The elements of ranks `start..end`, in order (reverse it for the
    /// REV forms).
    pub fn range(&self, start: usize, end: usize) -> Range<'_> {
        let end = end.min(self.len);
        let start = start.min(end);
        let (front, back) = if start < end {
            let (bc, bp) = self.seek(end - 1);
            (self.seek(start), (bc, bp + 1))
        } else {
            ((0, 0), (0, 0))
        };
        Range {
            chunks: &self.chunks,
            front,
            back,
            left: end - start,
        }
    }

    /// Remove the elements of ranks `start..end` and return them. Only a
    /// chunk that empties or shrinks below B/4 changes the chunk list (and
    /// costs a tree rebuild); ZPOPMIN on a huge set stays O(log n).
    pub fn remove_range(&mut self, start: usize, end: usize) -> Vec<Elem> {
        let end = end.min(self.len);
        if start >= end {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(end - start);
        let (mut ci, pos) = self.seek(start);
        let mut left = end - start;
        let mut from = pos;
        let mut restructured = false;
        while left > 0 {
            let take = (self.chunks[ci].len() - from).min(left);
            out.extend(self.chunks[ci].drain(from..from + take));
            left -= take;
            if self.chunks[ci].is_empty() {
                self.chunks.remove(ci);
                restructured = true;
            } else {
                if !restructured {
                    self.add(ci, -(take as isize));
                }
                ci += 1;
            }
            from = 0;
        }
        self.len -= out.len();
        // The chunk where the run ended (or the one before) may be small.
        let edge = ci.min(self.chunks.len().saturating_sub(1));
        if restructured {
            if !self.chunks.is_empty() {
                self.merge_small(edge);
            }
            self.rebuild();
        } else if self.merge_small(edge) {
            self.rebuild();
        }
        out
    }

    /// Merge chunk `ci` into a neighbour when it is below B/4 and they fit
    /// in one chunk; true when merged (the caller rebuilds the tree).
    fn merge_small(&mut self, ci: usize) -> bool {
        let len = self.chunks[ci].len();
        if len >= CHUNK / 4 {
            return false;
        }
        if ci + 1 < self.chunks.len() && len + self.chunks[ci + 1].len() <= CHUNK {
            let next = self.chunks.remove(ci + 1);
            self.chunks[ci].extend(next);
            true
        } else if ci > 0 && len + self.chunks[ci - 1].len() <= CHUNK {
            let this = self.chunks.remove(ci);
            self.chunks[ci - 1].extend(this);
            true
        } else {
            false
        }
    }

    /// Every element in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Elem> + '_ {
        self.chunks.iter().flatten()
    }
}

/// A run of ranks, walkable from both ends.
pub struct Range<'a> {
    chunks: &'a [VecDeque<Elem>],
    /// Next element from the front: (chunk, position).
    front: (usize, usize),
    /// One past the next element from the back.
    back: (usize, usize),
    left: usize,
}

impl<'a> Iterator for Range<'a> {
    type Item = &'a Elem;

    fn next(&mut self) -> Option<&'a Elem> {
        if self.left == 0 {
            return None;
        }
        let (c, p) = self.front;
        let e = &self.chunks[c][p];
        self.front = if p + 1 < self.chunks[c].len() {
            (c, p + 1)
        } else {
            (c + 1, 0)
        };
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<'a> DoubleEndedIterator for Range<'a> {
    fn next_back(&mut self) -> Option<&'a Elem> {
        if self.left == 0 {
            return None;
        }
        let (mut c, mut p) = self.back;
        if p == 0 {
            c -= 1;
            p = self.chunks[c].len();
        }
        p -= 1;
        self.back = (c, p);
        self.left -= 1;
        Some(&self.chunks[c][p])
    }
}

impl ExactSizeIterator for Range<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn arc(s: &str) -> ZMember {
        ZMember::new(s.as_bytes())
    }

    /// A naive model: a sorted Vec.
    #[test]
    fn matches_a_sorted_vec_through_random_changes() {
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut r = Ranked::default();
        let mut model: Vec<(f64, String)> = Vec::new();
        for step in 0..20_000 {
            let m = format!("m{}", rnd(3000));
            let score = rnd(50) as f64;
            let found = model.iter().position(|(_, x)| *x == m);
            match (rnd(10), found) {
                (0..=5, None) => {
                    r.insert(score, arc(&m));
                    model.push((score, m));
                    model.sort_by(|a, b| cmp(a.0, a.1.as_bytes(), b.0, b.1.as_bytes()));
                }
                (0..=7, Some(i)) => {
                    let (s, m) = model.remove(i);
                    assert!(r.remove(s, m.as_bytes()));
                }
                (8, _) if !model.is_empty() => {
                    let a = rnd(model.len() as u64) as usize;
                    let b = (a + rnd(600) as usize).min(model.len());
                    let got: Vec<_> = r.remove_range(a, b).into_iter().map(|e| e.0).collect();
                    let want: Vec<_> = model.drain(a..b).map(|e| e.0).collect();
                    assert_eq!(got, want);
                }
                _ => {}
            }
            assert_eq!(r.len(), model.len(), "step {step}");
            if step % 97 == 0 {
                let flat: Vec<(f64, &[u8])> = r.iter().map(|(s, m)| (*s, &m[..])).collect();
                let want: Vec<(f64, &[u8])> =
                    model.iter().map(|(s, m)| (*s, m.as_bytes())).collect();
                assert_eq!(flat, want);
                for (i, (s, m)) in model.iter().enumerate().step_by(37) {
                    assert_eq!(r.rank(*s, m.as_bytes()), Some(i));
                    assert_eq!(r.get(i).map(|e| &e.1[..]), Some(m.as_bytes()));
                }
                let cut = rnd(50) as f64;
                let want = model.iter().filter(|(s, _)| *s < cut).count();
                assert_eq!(r.count_while(|s, _| s < cut), want);
                if !model.is_empty() {
                    let a = rnd(model.len() as u64) as usize;
                    let b = (a + rnd(300) as usize).min(model.len());
                    let fwd: Vec<f64> = r.range(a, b).map(|e| e.0).collect();
                    let back: Vec<f64> = r.range(a, b).rev().map(|e| e.0).collect();
                    let want: Vec<f64> = model[a..b].iter().map(|e| e.0).collect();
                    assert_eq!(fwd, want);
                    assert_eq!(back, want.iter().rev().copied().collect::<Vec<_>>());
                }
            }
        }
    }

    #[test]
    fn empty_ranges_and_missing_elements() {
        let mut r = Ranked::default();
        assert_eq!(r.range(0, 10).count(), 0);
        assert!(!r.remove(1.0, b"x"));
        assert_eq!(r.get(0), None);
        r.insert(1.0, arc("a"));
        assert_eq!(r.rank(1.0, b"b"), None);
        assert_eq!(r.range(1, 1).count(), 0);
        assert_eq!(r.count_while(|_, _| true), 1);
    }
}
