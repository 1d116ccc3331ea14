//! Redis's packed blobs as they appear inside RDB values: listpack (what
//! Redis 7.0 writes for small hashes, sorted sets and list nodes), and for
//! loading older files ziplist, intset and zipmap. Decoders check every
//! length against the blob, so a corrupt blob is an error, never a panic
//! or an allocation larger than the blob.

/// An element of a packed blob.
pub type Elem = Vec<u8>;

/// Parse `s` as Redis's `string2ll` does: a canonical 64-bit integer (no
/// sign but `-`, no leading zeros, no spaces, at most 20 bytes).
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    if digits.is_empty()
        || (digits[0] == b'0' && s.len() > 1)
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

// ------------------------------------------------------------ listpack

/// Encode `elems` as a listpack (integers stored as integers, as Redis's
/// `lpAppend` does).
pub fn listpack<'a>(elems: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    let mut count = 0usize;
    for e in elems {
        count += 1;
        let start = out.len();
        match canonical_int(e) {
            Some(v @ 0..=127) => out.push(v as u8),
            Some(v @ -4096..=4095) => {
                let u = (v as u64) & 0x1fff;
                out.push(0xc0 | (u >> 8) as u8);
                out.push(u as u8);
            }
            Some(v @ -32768..=32767) => {
                out.push(0xf1);
                out.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v @ -8_388_608..=8_388_607) => {
                out.push(0xf2);
                out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v @ -2_147_483_648..=2_147_483_647) => {
                out.push(0xf3);
                out.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                out.push(0xf4);
                out.extend_from_slice(&v.to_le_bytes());
            }
            None if e.len() < 64 => {
                out.push(0x80 | e.len() as u8);
                out.extend_from_slice(e);
            }
            None if e.len() < 4096 => {
                out.push(0xe0 | (e.len() >> 8) as u8);
                out.push(e.len() as u8);
                out.extend_from_slice(e);
            }
            None => {
                out.push(0xf0);
                out.extend_from_slice(&(e.len() as u32).to_le_bytes());
                out.extend_from_slice(e);
            }
        }
        let size = out.len() - start;
        push_backlen(&mut out, size);
    }
    out.push(0xff);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    let n = u16::try_from(count).unwrap_or(u16::MAX);
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

fn push_backlen(out: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    if l <= 127 {
        out.push(l as u8);
    } else if l < 16383 {
        out.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
    } else if l < 2_097_151 {
        out.extend_from_slice(&[
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else if l < 268_435_455 {
        out.extend_from_slice(&[
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else {
        out.extend_from_slice(&[
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

fn int_elem(v: i64) -> Elem {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

fn signed(u: u64, bits: u32) -> i64 {
    if u >= 1 << (bits - 1) {
        (u as i64) - (1i64 << bits)
    } else {
        u as i64
    }
}

/// The entry length a listpack back-length ending just before `end`
/// records (read backwards, as Redis's `lpDecodeBacklen`).
fn read_backlen(b: &[u8], end: usize) -> Option<usize> {
    let mut len = 0usize;
    for (k, at) in (end.saturating_sub(5)..end).rev().enumerate() {
        let byte = *b.get(at)?;
        len |= usize::from(byte & 127) << (7 * k);
        if byte & 128 == 0 {
            return Some(len);
        }
    }
    None
}

/// Decode a listpack into its elements, checked as Redis's deep
/// `lpValidateIntegrity`: the total size, every entry inside it with the
/// back-length its size needs, the count in the header (unless 65535,
/// "too many to count") and the end byte.
pub fn read_listpack(b: &[u8]) -> Option<Vec<Elem>> {
    if b.len() < 7 || u32::from_le_bytes(b[..4].try_into().ok()?) as usize != b.len() {
        return None;
    }
    let count = u16::from_le_bytes([b[4], b[5]]);
    let mut out = Vec::new();
    let mut i = 6;
    loop {
        let first = *b.get(i)?;
        if first == 0xff {
            let counted = count == u16::MAX || usize::from(count) == out.len();
            return (i + 1 == b.len() && counted).then_some(out);
        }
        let take = |from: usize, n: usize| b.get(from..from.checked_add(n)?);
        let (elem, size) = match first {
            0x00..=0x7f => (int_elem(i64::from(first)), 1),
            0x80..=0xbf => {
                let n = usize::from(first & 0x3f);
                (take(i + 1, n)?.to_vec(), 1 + n)
            }
            0xc0..=0xdf => {
                let u = (u64::from(first & 0x1f) << 8) | u64::from(*b.get(i + 1)?);
                (int_elem(signed(u, 13)), 2)
            }
            0xe0..=0xef => {
                let n = (usize::from(first & 0x0f) << 8) | usize::from(*b.get(i + 1)?);
                (take(i + 2, n)?.to_vec(), 2 + n)
            }
            0xf0 => {
                let n = u32::from_le_bytes(take(i + 1, 4)?.try_into().ok()?) as usize;
                (take(i + 5, n)?.to_vec(), 5 + n)
            }
            0xf1 => (
                int_elem(i64::from(i16::from_le_bytes(
                    take(i + 1, 2)?.try_into().ok()?,
                ))),
                3,
            ),
            0xf2 => {
                let t = take(i + 1, 3)?;
                let u = u64::from(t[0]) | u64::from(t[1]) << 8 | u64::from(t[2]) << 16;
                (int_elem(signed(u, 24)), 4)
            }
            0xf3 => (
                int_elem(i64::from(i32::from_le_bytes(
                    take(i + 1, 4)?.try_into().ok()?,
                ))),
                5,
            ),
            0xf4 => (
                int_elem(i64::from_le_bytes(take(i + 1, 8)?.try_into().ok()?)),
                9,
            ),
            _ => return None,
        };
        let end = i.checked_add(size + backlen_size(size))?;
        if end >= b.len() || read_backlen(b, end)? != size {
            return None;
        }
        i = end;
        out.push(elem);
    }
}

// ------------------------------------------------------------ ziplist

/// Decode a ziplist (RDB files before Redis 7.0) into its elements,
/// checked as Redis checks one it converts (deep `ziplistValidateIntegrity`,
/// whatever `sanitize-dump-payload` says): the total size, each entry's
/// record of the previous entry's length, the tail offset, the count in
/// the header (unless 65535) and the end byte.
pub fn read_ziplist(b: &[u8]) -> Option<Vec<Elem>> {
    if b.len() < 11 || u32::from_le_bytes(b[..4].try_into().ok()?) as usize != b.len() {
        return None;
    }
    let tail = u32::from_le_bytes(b[4..8].try_into().ok()?) as usize;
    let count = u16::from_le_bytes([b[8], b[9]]);
    let mut out = Vec::new();
    let mut i = 10;
    // (start, length) of the previous entry.
    let mut prev: Option<(usize, usize)> = None;
    // Every entry takes at least two bytes: a walk that has not reached
    // the end after `len` entries is lost (this bounds the loop).
    for _ in 0..b.len() {
        let first = *b.get(i)?;
        if first == 0xff {
            let counted = count == u16::MAX || usize::from(count) == out.len();
            let tail_ok = prev.is_none_or(|(start, _)| start == tail);
            return (i + 1 == b.len() && counted && tail_ok).then_some(out);
        }
        let start = i;
        // The previous entry's length: 1 byte, or 0xfe and 4 more.
        let prevlen = if first == 0xfe {
            u32::from_le_bytes(b.get(i + 1..i + 5)?.try_into().ok()?) as usize
        } else {
            usize::from(first)
        };
        if prevlen != prev.map_or(0, |(_, len)| len) {
            return None;
        }
        i += if first == 0xfe { 5 } else { 1 };
        let enc = *b.get(i)?;
        let take = |from: usize, n: usize| b.get(from..from.checked_add(n)?);
        let (elem, size) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                (take(i + 1, n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = (usize::from(enc & 0x3f) << 8) | usize::from(*b.get(i + 1)?);
                (take(i + 2, n)?.to_vec(), 2 + n)
            }
            2 => {
                let n = u32::from_be_bytes(take(i + 1, 4)?.try_into().ok()?) as usize;
                (take(i + 5, n)?.to_vec(), 5 + n)
            }
            _ => match enc {
                0xc0 => (
                    int_elem(i64::from(i16::from_le_bytes(
                        take(i + 1, 2)?.try_into().ok()?,
                    ))),
                    3,
                ),
                0xd0 => (
                    int_elem(i64::from(i32::from_le_bytes(
                        take(i + 1, 4)?.try_into().ok()?,
                    ))),
                    5,
                ),
                0xe0 => (
                    int_elem(i64::from_le_bytes(take(i + 1, 8)?.try_into().ok()?)),
                    9,
                ),
                0xf0 => {
                    let t = take(i + 1, 3)?;
                    let u = u64::from(t[0]) | u64::from(t[1]) << 8 | u64::from(t[2]) << 16;
                    (int_elem(signed(u, 24)), 4)
                }
                0xfe => (int_elem(i64::from(*b.get(i + 1)? as i8)), 2),
                0xf1..=0xfd => (int_elem(i64::from(enc & 0x0f) - 1), 1),
                _ => return None,
            },
        };
        i = i.checked_add(size)?;
        prev = Some((start, i - start));
        out.push(elem);
    }
    None
}

// ------------------------------------------------------------ intset

/// Encode sorted integers as an intset with the narrowest width.
pub fn intset(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|v| i16::try_from(*v).is_ok()) {
        2
    } else if values.iter().all(|v| i32::try_from(*v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// Decode an intset.
pub fn read_intset(b: &[u8]) -> Option<Vec<i64>> {
    let width = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
    let n = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8) || b.len() != 8 + n.checked_mul(width)? {
        return None;
    }
    Some(
        b[8..]
            .chunks_exact(width)
            .map(|c| match width {
                2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
                4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                _ => i64::from_le_bytes(c.try_into().unwrap_or_default()),
            })
            .collect(),
    )
}

// ------------------------------------------------------------ zipmap

/// Decode a zipmap (hashes in RDB files before Redis 2.6) into
/// field, value, field, value...
pub fn read_zipmap(b: &[u8]) -> Option<Vec<Elem>> {
    let mut out = Vec::new();
    let mut i = 1;
    let len_at = |i: usize| -> Option<(usize, usize)> {
        match *b.get(i)? {
            n @ 0..=253 => Some((usize::from(n), 1)),
            254 => Some((
                u32::from_le_bytes(b.get(i + 1..i + 5)?.try_into().ok()?) as usize,
                5,
            )),
            _ => None,
        }
    };
    loop {
        if *b.get(i)? == 0xff {
            return (i + 1 == b.len() && out.len() % 2 == 0).then_some(out);
        }
        let (n, w) = len_at(i)?;
        i += w;
        out.push(b.get(i..i.checked_add(n)?)?.to_vec());
        i += n;
        let (n, w) = len_at(i)?;
        i += w;
        let free = usize::from(*b.get(i)?);
        i += 1;
        out.push(b.get(i..i.checked_add(n)?)?.to_vec());
        i = i.checked_add(n + free)?;
    }
}

#[cfg(test)]
mod tests;
