//! Lists: Redis 7.0's quicklist, a deque of [`Pack`] nodes.
//!
//! Pushes and pops touch one end node (O(1) amortized, plus a move of at
//! most one node's bytes when pushing at the front); index access walks
//! nodes by their counts, then inside one node. Nodes are limited by
//! `list-max-listpack-size` (negative: -1..-5 for 4..64 KiB per node;
//! positive: that many elements per node), as in Redis, so a 10-million
//! element list of small strings costs a few bytes per element and no
//! command copies the whole list.

use std::collections::VecDeque;

use super::pack::{encoded_len, Pack};

/// Which end of a list an operation works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The head (LPUSH, LPOP, LEFT).
    Left,
    /// The tail (RPUSH, RPOP, RIGHT).
    Right,
}

/// Redis's default `list-max-listpack-size` (-2: 8 KiB per node).
pub const DEFAULT_NODE_LIMIT: i64 = -2;

/// A list value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List {
    nodes: VecDeque<Pack>,
    len: usize,
    /// `list-max-listpack-size` when the list last grew a node.
    limit: i64,
}

/// Bytes per node for a negative `list-max-listpack-size`.
fn max_bytes(limit: i64) -> usize {
    match limit {
        -1 => 4096,
        -2 => 8192,
        -3 => 16384,
        -4 => 32768,
        _ => 65536,
    }
}

/// Would a node of `bytes` and `count` elements exceed `limit` with one
/// more element of `add` bytes? (Redis's `_quicklistNodeAllowInsert`.)
fn full(limit: i64, count: usize, bytes: usize, add: usize) -> bool {
    if limit >= 0 {
        count >= limit.max(1) as usize
    } else {
        bytes + encoded_len(add) > max_bytes(limit)
    }
}

/// Is a node of `count` elements and `bytes` over `limit`?
fn over(limit: i64, count: usize, bytes: usize) -> bool {
    if limit >= 0 {
        count > limit.max(1) as usize
    } else {
        bytes > max_bytes(limit)
    }
}

impl List {
    /// Heap bytes held: the node ring and every node's buffer.
    pub fn heap_bytes(&self, class: super::SizeClass) -> usize {
        let ring = self.nodes.capacity() * std::mem::size_of::<Pack>();
        super::pack::allocated(ring, class)
            + self
                .nodes
                .iter()
                .map(|n| n.heap_bytes(class))
                .sum::<usize>()
    }

    /// An empty list whose nodes follow `limit` (`list-max-listpack-size`).
    pub fn new(limit: i64) -> List {
        List {
            nodes: VecDeque::new(),
            len: 0,
            limit,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of nodes (OBJECT ENCODING is `quicklist` whatever this is).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes of elements held by the nodes, as encoded (DEBUG OBJECT).
    pub fn packed_bytes(&self) -> usize {
        self.nodes.iter().map(Pack::bytes).sum()
    }

    /// Use `limit` for nodes created from now on.
    pub fn set_limit(&mut self, limit: i64) {
        self.limit = limit;
    }

    /// Push at the head.
    pub fn push_front(&mut self, e: &[u8]) {
        let room = self
            .nodes
            .front()
            .is_some_and(|n| !full(self.limit, n.len(), n.bytes(), e.len()));
        if !room {
            self.nodes.push_front(Pack::new());
        }
        if let Some(n) = self.nodes.front_mut() {
            n.push_front(e);
        }
        self.len += 1;
    }

    /// Push at the tail.
    pub fn push_back(&mut self, e: &[u8]) {
        let room = self
            .nodes
            .back()
            .is_some_and(|n| !full(self.limit, n.len(), n.bytes(), e.len()));
        if !room {
            self.nodes.push_back(Pack::new());
        }
        if let Some(n) = self.nodes.back_mut() {
            n.push_back(e);
        }
        self.len += 1;
    }

    /// Push at `end`.
    pub fn push(&mut self, end: End, e: &[u8]) {
        match end {
            End::Left => self.push_front(e),
            End::Right => self.push_back(e),
        }
    }

    /// Pop from `end`.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        match end {
            End::Left => self.pop_front(),
            End::Right => self.pop_back(),
        }
    }

    /// Pop the head.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.front_mut()?;
        let e = node.pop_front();
        if node.is_empty() {
            self.nodes.pop_front();
        }
        self.len -= 1;
        e
    }

    /// Pop the tail.
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let node = self.nodes.back_mut()?;
        let e = node.pop_back();
        if node.is_empty() {
            self.nodes.pop_back();
        }
        self.len -= 1;
        e
    }

    /// (node, index in node) of element `i`.
    fn locate(&self, i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        if i < self.len / 2 {
            let mut i = i;
            for (n, node) in self.nodes.iter().enumerate() {
                if i < node.len() {
                    return Some((n, i));
                }
                i -= node.len();
            }
        } else {
            let mut from_end = self.len - 1 - i;
            for (n, node) in self.nodes.iter().enumerate().rev() {
                if from_end < node.len() {
                    return Some((n, node.len() - 1 - from_end));
                }
                from_end -= node.len();
            }
        }
        None
    }

    /// Element `i` (0-based from the head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (n, j) = self.locate(i)?;
        self.nodes[n].get(j)
    }

    /// Replace element `i`; false when out of range.
    pub fn set(&mut self, i: usize, e: &[u8]) -> bool {
        match self.locate(i) {
            Some((n, j)) => self.nodes[n].set(j, e),
            None => false,
        }
    }

    /// Insert before element `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, e: &[u8]) {
        if i == 0 {
            return self.push_front(e);
        }
        if i >= self.len {
            return self.push_back(e);
        }
        let Some((n, j)) = self.locate(i) else {
            return;
        };
        let limit = self.limit;
        let node = &mut self.nodes[n];
        node.insert(j, e);
        self.len += 1;
        if over(limit, node.len(), node.bytes()) && node.len() > 1 {
            let half = node.len() / 2;
            let tail = node.split_off(half);
            self.nodes.insert(n + 1, tail);
        }
    }

    /// Remove element `i`.
    pub fn remove(&mut self, i: usize) -> bool {
        let Some((n, j)) = self.locate(i) else {
            return false;
        };
        self.nodes[n].remove(j);
        if self.nodes[n].is_empty() {
            self.nodes.remove(n);
        }
        self.len -= 1;
        true
    }

    /// Keep only elements `start..=stop` (LTRIM, indices already clamped
    /// by the caller; an empty range empties the list).
    pub fn trim(&mut self, start: usize, stop: usize) {
        if start > stop || start >= self.len {
            *self = List::new(self.limit);
            return;
        }
        let keep = stop.min(self.len - 1) - start + 1;
        self.drop_front(start);
        let extra = self.len - keep;
        self.drop_back(extra);
    }

    fn drop_front(&mut self, mut n: usize) {
        while n > 0 {
            let Some(node) = self.nodes.front_mut() else {
                return;
            };
            if node.len() <= n {
                n -= node.len();
                self.len -= node.len();
                self.nodes.pop_front();
            } else {
                node.remove_range(0, n);
                self.len -= n;
                return;
            }
        }
    }

    fn drop_back(&mut self, mut n: usize) {
        while n > 0 {
            let Some(node) = self.nodes.back_mut() else {
                return;
            };
            if node.len() <= n {
                n -= node.len();
                self.len -= node.len();
                self.nodes.pop_back();
            } else {
                let keep = node.len() - n;
                node.remove_range(keep, n);
                self.len -= n;
                return;
            }
        }
    }

    /// Keep the elements for which `keep` is true (LREM's rewrite), in
    /// order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let mut out = List::new(self.limit);
        for e in self.iter() {
            if keep(e) {
                out.push_back(e);
            }
        }
        *self = out;
    }

    /// The elements head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(Pack::iter)
    }

    /// Elements `start..start + n`, walking only the nodes they are in.
    pub fn range(&self, start: usize, n: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (first, skip) = self.locate(start).unwrap_or((self.nodes.len(), 0));
        self.nodes
            .range(first..)
            .flat_map(Pack::iter)
            .skip(skip)
            .take(n)
    }
}

impl FromIterator<Vec<u8>> for List {
    fn from_iter<I: IntoIterator<Item = Vec<u8>>>(iter: I) -> List {
        let mut l = List::new(DEFAULT_NODE_LIMIT);
        for e in iter {
            l.push_back(&e);
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn nodes_split_by_size_and_count() {
        let mut l = List::new(4);
        for i in 0..10u8 {
            l.push_back(&[i]);
        }
        assert_eq!(l.node_count(), 3);
        let mut l = List::new(-1);
        for _ in 0..1000 {
            l.push_front(&[7u8; 40]);
        }
        assert!(l.node_count() >= 1000 * 42 / 4096);
        assert_eq!(l.len(), 1000);
        assert_eq!(l.get(999), Some(&[7u8; 40][..]));
    }

    #[test]
    fn random_operations_match_a_deque() {
        let mut l = List::new(3);
        let mut v: VecDeque<Vec<u8>> = VecDeque::new();
        let mut seed = 0x2545f4914f6cdd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..5000 {
            let r = next();
            let e = format!("e{step}").into_bytes();
            let at = |len: usize| {
                if len == 0 {
                    0
                } else {
                    (r >> 24) as usize % len
                }
            };
            match r % 9 {
                0 | 1 => {
                    l.push_front(&e);
                    v.push_front(e);
                }
                2 | 3 => {
                    l.push_back(&e);
                    v.push_back(e);
                }
                4 => assert_eq!(l.pop_front(), v.pop_front()),
                5 => assert_eq!(l.pop_back(), v.pop_back()),
                6 => {
                    let i = at(v.len() + 1);
                    l.insert(i, &e);
                    v.insert(i, e);
                }
                7 if !v.is_empty() => {
                    let i = at(v.len());
                    assert!(l.remove(i));
                    v.remove(i);
                }
                _ if !v.is_empty() => {
                    let i = at(v.len());
                    assert_eq!(l.get(i), Some(&v[i][..]));
                    l.set(i, b"set");
                    v[i] = b"set".to_vec();
                }
                _ => {}
            }
            assert_eq!(l.len(), v.len());
        }
        assert_eq!(items(&l), v.iter().cloned().collect::<Vec<_>>());
        let mid: Vec<_> = l.range(5, 7).map(<[u8]>::to_vec).collect();
        assert_eq!(mid, v.iter().skip(5).take(7).cloned().collect::<Vec<_>>());
        let rev: Vec<_> = l.iter().rev().map(<[u8]>::to_vec).collect();
        assert_eq!(rev, v.iter().rev().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn trim_and_retain() {
        let mut l: List = (0..20u8).map(|i| vec![i]).collect();
        l.set_limit(3);
        l.trim(2, 9);
        assert_eq!(items(&l), (2..10u8).map(|i| vec![i]).collect::<Vec<_>>());
        l.retain(|e| e[0] % 2 == 0);
        assert_eq!(items(&l), [2u8, 4, 6, 8].map(|i| vec![i]));
        l.trim(5, 3);
        assert!(l.is_empty());
    }
}
