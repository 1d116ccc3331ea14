//! `Pack`: a sequence of byte strings in one flat buffer, Redis's listpack
//! idea. Small hashes and sorted sets, and every node of a list, are one
//! `Pack`: a few bytes of overhead per element and one allocation for all
//! of them.
//!
//! Layout of one element: `len` as LEB128, the bytes, then the element's
//! total size (header + bytes) as a reverse LEB128 that is read from its
//! last byte backwards, so the pack can be walked from either end (Redis's
//! `backlen`). A 5-byte element costs 7 bytes.

/// A flat sequence of byte strings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pack {
    buf: Vec<u8>,
    count: u32,
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|e| String::from_utf8_lossy(e).into_owned()))
            .finish()
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `v` as a reverse LEB128: low group last, every byte but the first
/// flagged with 0x80.
fn put_back(out: &mut Vec<u8>, v: usize) {
    let n = varint_len(v);
    for i in (0..n).rev() {
        let group = ((v >> (7 * i)) & 0x7f) as u8;
        out.push(if i + 1 == n { group } else { group | 0x80 });
    }
}

/// Buffers below this many bytes grow to the allocator's next size class;
/// larger ones double, as a `Vec` does.
const SMALL_BUFFER: usize = 512;

/// Make room for `additional` more bytes. A small buffer takes exactly its
/// next size class, which the allocator hands out anyway: a collection of
/// a few short elements (Redis's listpack territory) holds no doubling
/// slack, and still grows only when it crosses a class.
fn reserve(buf: &mut Vec<u8>, additional: usize) {
    let need = buf.len() + additional;
    if need <= buf.capacity() {
        return;
    }
    if need < SMALL_BUFFER {
        buf.reserve_exact(crate::size_class::jemalloc(need) - buf.len());
    } else {
        buf.reserve(additional);
    }
}

/// Replace `buf[range]` with `with`: one move of the tail and one copy.
///
/// `Vec::splice` fills the gap element by element through an iterator,
/// which for bytes costs several instructions per byte: an LPUSH of a
/// 1 KB value spent ten thousand instructions there, half of what the
/// whole command should cost.
pub fn replace_bytes(buf: &mut Vec<u8>, range: std::ops::Range<usize>, with: &[u8]) {
    let (start, end, old_len) = (range.start, range.end, buf.len());
    assert!(start <= end && end <= old_len, "range out of bounds");
    let removed = end - start;
    if with.len() > removed {
        let grow = with.len() - removed;
        reserve(buf, grow);
        buf.resize(old_len + grow, 0);
        buf.copy_within(end..old_len, end + grow);
    } else if with.len() < removed {
        let shrink = removed - with.len();
        buf.copy_within(end..old_len, end - shrink);
        buf.truncate(old_len - shrink);
    }
    buf[start..start + with.len()].copy_from_slice(with);
}

/// (value, bytes) of the LEB128 at `at`.
fn get_varint(buf: &[u8], at: usize) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0, at);
    loop {
        let b = buf[i];
        v |= usize::from(b & 0x7f) << shift;
        i += 1;
        if b & 0x80 == 0 {
            return (v, i - at);
        }
        shift += 7;
    }
}

/// (value, bytes) of the reverse LEB128 ending just before `end`.
fn get_back(buf: &[u8], end: usize) -> (usize, usize) {
    let (mut v, mut shift, mut i) = (0usize, 0, end);
    loop {
        i -= 1;
        let b = buf[i];
        v |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (v, end - i);
        }
        shift += 7;
    }
}

/// Bytes an element of `len` bytes takes in a pack.
pub fn encoded_len(len: usize) -> usize {
    let body = varint_len(len) + len;
    body + varint_len(body)
}

impl Pack {
    /// Heap bytes held (the buffer's capacity, in the allocator's class).
    pub fn heap_bytes(&self, class: super::SizeClass) -> usize {
        allocated(self.buf.capacity(), class)
    }

    /// An empty pack.
    pub fn new() -> Pack {
        Pack::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes of the flat buffer (what the pack costs beyond its header).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes the buffer has room for.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Give back spare capacity.
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }

    fn encode(e: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(encoded_len(e.len()));
        put_varint(&mut out, e.len());
        out.extend_from_slice(e);
        let body = out.len();
        put_back(&mut out, body);
        out
    }

    /// The element starting at byte `at`, and where the next one starts.
    fn at(&self, at: usize) -> (&[u8], usize) {
        let (len, hdr) = get_varint(&self.buf, at);
        let start = at + hdr;
        let body = hdr + len;
        (&self.buf[start..start + len], at + body + varint_len(body))
    }

    /// Where the element ending at byte `end` starts.
    fn start_before(&self, end: usize) -> usize {
        let (body, back) = get_back(&self.buf, end);
        end - back - body
    }

    /// Append at the end.
    pub fn push_back(&mut self, e: &[u8]) {
        reserve(&mut self.buf, encoded_len(e.len()));
        put_varint(&mut self.buf, e.len());
        self.buf.extend_from_slice(e);
        put_back(&mut self.buf, varint_len(e.len()) + e.len());
        self.count += 1;
    }

    /// Insert at the front (moves the whole buffer, as Redis's listpack).
    pub fn push_front(&mut self, e: &[u8]) {
        replace_bytes(&mut self.buf, 0..0, &Pack::encode(e));
        self.count += 1;
    }

    /// Remove and return the first element.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let (e, next) = self.at(0);
        let e = e.to_vec();
        self.buf.drain(..next);
        self.count -= 1;
        Some(e)
    }

    /// Remove and return the last element.
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        if self.count == 0 {
            return None;
        }
        let start = self.start_before(self.buf.len());
        let e = self.at(start).0.to_vec();
        self.buf.truncate(start);
        self.count -= 1;
        Some(e)
    }

    /// The byte offset of element `i` (walking from the nearer end).
    fn offset(&self, i: usize) -> Option<usize> {
        let n = self.len();
        if i >= n {
            return None;
        }
        if i <= n / 2 {
            let mut at = 0;
            for _ in 0..i {
                at = self.at(at).1;
            }
            Some(at)
        } else {
            let mut end = self.buf.len();
            let mut start = end;
            for _ in 0..n - i {
                start = self.start_before(end);
                end = start;
            }
            Some(start)
        }
    }

    /// Element `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.offset(i).map(|at| self.at(at).0)
    }

    /// Replace element `i`.
    pub fn set(&mut self, i: usize, e: &[u8]) -> bool {
        let Some(at) = self.offset(i) else {
            return false;
        };
        let next = self.at(at).1;
        replace_bytes(&mut self.buf, at..next, &Pack::encode(e));
        true
    }

    /// Insert before element `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, e: &[u8]) {
        if i >= self.len() {
            return self.push_back(e);
        }
        let at = self.offset(i).unwrap_or(self.buf.len());
        replace_bytes(&mut self.buf, at..at, &Pack::encode(e));
        self.count += 1;
    }

    /// Remove `n` elements starting at element `i`.
    pub fn remove_range(&mut self, i: usize, n: usize) {
        let Some(at) = self.offset(i) else {
            return;
        };
        let mut end = at;
        let mut removed = 0;
        while removed < n && end < self.buf.len() {
            end = self.at(end).1;
            removed += 1;
        }
        self.buf.drain(at..end);
        self.count -= removed as u32;
    }

    /// Remove element `i`.
    pub fn remove(&mut self, i: usize) {
        self.remove_range(i, 1);
    }

    /// Each element with where it starts and where the next one starts, in
    /// bytes (for edits in one pass, [`splice_elems`](Self::splice_elems)).
    pub fn spans(&self) -> impl Iterator<Item = (usize, &[u8], usize)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let (e, next) = self.at(at);
            let start = at;
            at = next;
            Some((start, e, next))
        })
    }

    /// Replace the bytes `range` (whole elements, `removed` of them, as
    /// [`spans`](Self::spans) reports them) with `elems`.
    pub fn splice_elems(&mut self, range: std::ops::Range<usize>, removed: usize, elems: &[&[u8]]) {
        let mut enc = Vec::with_capacity(elems.iter().map(|e| encoded_len(e.len())).sum());
        for e in elems {
            put_varint(&mut enc, e.len());
            enc.extend_from_slice(e);
            put_back(&mut enc, varint_len(e.len()) + e.len());
        }
        replace_bytes(&mut self.buf, range, &enc);
        self.count = self.count - removed as u32 + elems.len() as u32;
    }

    /// Keep the elements for which `keep` returns true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let mut out = Pack::new();
        for e in self.iter() {
            if keep(e) {
                out.push_back(e);
            }
        }
        *self = out;
    }

    /// The elements front to back.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            pack: self,
            front: 0,
            back: self.buf.len(),
            left: self.len(),
        }
    }

    /// Split off the elements from `i` on into a new pack.
    pub fn split_off(&mut self, i: usize) -> Pack {
        let Some(at) = self.offset(i) else {
            return Pack::new();
        };
        let tail = self.buf.split_off(at);
        let moved = self.count - i as u32;
        self.count = i as u32;
        Pack {
            buf: tail,
            count: moved,
        }
    }

    /// Append every element of `other`.
    pub fn append(&mut self, other: Pack) {
        reserve(&mut self.buf, other.buf.len());
        self.buf.extend_from_slice(&other.buf);
        self.count += other.count;
    }
}

/// Iterator over a pack's elements (double-ended).
pub struct Iter<'a> {
    pack: &'a Pack,
    front: usize,
    back: usize,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let (e, next) = self.pack.at(self.front);
        self.front = next;
        self.left -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let start = self.pack.start_before(self.back);
        self.back = start;
        self.left -= 1;
        Some(self.pack.at(start).0)
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// What the allocator hands out for a request of `n` bytes (0: none).
pub(crate) fn allocated(n: usize, class: super::SizeClass) -> usize {
    if n == 0 {
        0
    } else {
        class(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_packs_hold_no_doubling_slack() {
        // Ten 2-byte elements one by one (a small hash's fields and
        // values): 40 bytes in the 48-byte class, where doubling gives 64.
        let mut p = Pack::new();
        for i in 0..10u8 {
            p.push_back(&[b'f', b'0' + i]);
        }
        assert_eq!((p.bytes(), p.capacity()), (40, 48));
        let mut q = Pack::new();
        for i in 0..10u8 {
            q.push_front(&[b'v', b'0' + i]);
        }
        assert_eq!((q.bytes(), q.capacity()), (40, 48));
        // Large buffers double: a 1 KiB element at a time, few moves.
        let mut big = Pack::new();
        let mut grew = 0;
        for _ in 0..64 {
            let cap = big.capacity();
            big.push_front(&[7; 1000]);
            grew += usize::from(big.capacity() != cap);
        }
        assert!(grew <= 10, "{grew} reallocations for 64 pushes");
    }

    #[test]
    fn replace_bytes_is_splice() {
        // Every range of a 6-byte buffer, replaced by 0 to 8 bytes.
        let base: Vec<u8> = (1..=6).collect();
        for start in 0..=base.len() {
            for end in start..=base.len() {
                for n in 0..=8u8 {
                    let with: Vec<u8> = (100..100 + n).collect();
                    let mut expected = base.clone();
                    expected.splice(start..end, with.iter().copied());
                    let mut got = base.clone();
                    replace_bytes(&mut got, start..end, &with);
                    assert_eq!(got, expected, "{start}..{end} with {n} bytes");
                }
            }
        }
    }

    fn items(p: &Pack) -> Vec<Vec<u8>> {
        p.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn push_pop_both_ends_and_walk_backwards() {
        let mut p = Pack::new();
        let long = vec![b'x'; 300];
        p.push_back(b"b");
        p.push_front(b"a");
        p.push_back(&long);
        p.push_back(b"");
        assert_eq!(p.len(), 4);
        assert_eq!(
            items(&p),
            vec![b"a".to_vec(), b"b".to_vec(), long.clone(), vec![]]
        );
        let back: Vec<_> = p.iter().rev().map(<[u8]>::to_vec).collect();
        assert_eq!(
            back,
            vec![vec![], long.clone(), b"b".to_vec(), b"a".to_vec()]
        );
        assert_eq!(p.get(2), Some(&long[..]));
        assert_eq!(p.get(3), Some(&b""[..]));
        assert_eq!(p.get(4), None);
        assert_eq!(p.pop_back(), Some(vec![]));
        assert_eq!(p.pop_back(), Some(long));
        assert_eq!(p.pop_front(), Some(b"a".to_vec()));
        assert_eq!(p.pop_front(), Some(b"b".to_vec()));
        assert_eq!(p.pop_front(), None);
        assert!(p.is_empty() && p.bytes() == 0);
    }

    #[test]
    fn small_elements_cost_two_bytes_of_overhead() {
        let mut p = Pack::new();
        p.push_back(b"12345");
        assert_eq!(p.bytes(), 7);
        assert_eq!(encoded_len(5), 7);
        assert_eq!(encoded_len(200), 200 + 2 + 2);
    }

    #[test]
    fn edits_in_the_middle() {
        let mut p = Pack::new();
        for e in ["a", "b", "c", "d", "e"] {
            p.push_back(e.as_bytes());
        }
        p.set(1, b"BBBBBBBB");
        p.insert(3, b"x");
        p.remove(0);
        assert_eq!(
            items(&p),
            ["BBBBBBBB", "c", "x", "d", "e"].map(|s| s.as_bytes().to_vec())
        );
        p.remove_range(1, 2);
        assert_eq!(
            items(&p),
            ["BBBBBBBB", "d", "e"].map(|s| s.as_bytes().to_vec())
        );
        let tail = p.split_off(1);
        assert_eq!(items(&tail), ["d", "e"].map(|s| s.as_bytes().to_vec()));
        p.append(tail);
        p.retain(|e| e != b"d");
        assert_eq!(items(&p), ["BBBBBBBB", "e"].map(|s| s.as_bytes().to_vec()));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn random_edits_match_a_vec() {
        let mut p = Pack::new();
        let mut v: Vec<Vec<u8>> = Vec::new();
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let r = next();
            let e = vec![b'a' + (r % 26) as u8; (r >> 8) as usize % 200];
            match r % 7 {
                0 => {
                    p.push_front(&e);
                    v.insert(0, e);
                }
                1 | 2 => {
                    p.push_back(&e);
                    v.push(e);
                }
                3 => assert_eq!(p.pop_front(), (!v.is_empty()).then(|| v.remove(0))),
                4 => assert_eq!(p.pop_back(), v.pop()),
                5 if !v.is_empty() => {
                    let i = (r >> 20) as usize % v.len();
                    p.set(i, &e);
                    v[i] = e;
                }
                _ => {
                    let i = (r >> 20) as usize % (v.len() + 1);
                    p.insert(i, &e);
                    v.insert(i, e);
                }
            }
            assert_eq!(p.len(), v.len());
        }
        assert_eq!(items(&p), v);
    }
}
