//! LZF, the compression RDB files use for long strings (liblzf's format:
//! literal runs of up to 32 bytes and back references up to 8 KiB back).
//!
//! The compressor is liblzf's as Redis builds it (`HLOG` 16, `VERY_FAST`),
//! step for step: the same hash, the same match rules (no reference to
//! the first byte, matches extended 16 bytes at a time before the length
//! limit is checked), the same two positions hashed after a match and the
//! same output-space checks. So a string compresses to the bytes Redis
//! writes, and `DUMP` and RDB files match Redis's byte for byte.

/// Longest back reference (2 + 7 + 255).
const MAX_REF: usize = 264;
/// Farthest back reference.
const MAX_OFF: usize = 1 << 13;
/// Longest literal run.
const MAX_LIT: usize = 32;
const HLOG: u32 = 16;

/// liblzf's `IDX` (the `VERY_FAST` variant) of its rolling value.
fn idx(h: u32) -> usize {
    ((h >> (24 - HLOG)).wrapping_sub(h.wrapping_mul(5)) & ((1 << HLOG) - 1)) as usize
}

/// liblzf's `FRST` and `NEXT`: the rolling value over the bytes at `i`.
fn first(input: &[u8], i: usize) -> u32 {
    (u32::from(input[i]) << 8) | u32::from(input[i + 1])
}

fn next(h: u32, input: &[u8], i: usize) -> u32 {
    (h << 8) | u32::from(input[i + 2])
}

/// Compress `input` into at most `max` bytes; `None` when it does not fit
/// (Redis then stores the string as it is).
pub fn compress(input: &[u8], max: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n == 0 || max == 0 {
        return None;
    }
    TABLE.with(|t| match t.try_borrow_mut() {
        Ok(mut t) => compress_with(input, max, &mut t),
        Err(_) => compress_with(input, max, &mut Table::default()),
    })
}

/// liblzf's hash table: the last position seen per hash. Redis keeps it
/// on the stack, uninitialised (no match can come of what is left there);
/// here one table per thread, reused: an entry counts only if it was
/// written by the current call (its generation), so no call clears 64K
/// entries to compress a 30-byte string.
struct Table {
    entries: Vec<u64>,
    generation: u32,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            entries: vec![0; 1 << HLOG],
            generation: 0,
        }
    }
}

impl Table {
    fn start(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.entries.fill(0);
            self.generation = 1;
        }
    }

    /// The position stored at `slot` by this call, plus one (0: none),
    /// replaced by `pos`.
    fn swap(&mut self, slot: usize, pos: usize) -> usize {
        let old = std::mem::replace(
            &mut self.entries[slot],
            (u64::from(self.generation) << 32) | (pos as u64 + 1),
        );
        if (old >> 32) as u32 == self.generation {
            (old & 0xffff_ffff) as usize
        } else {
            0
        }
    }
}

thread_local! {
    static TABLE: std::cell::RefCell<Table> = std::cell::RefCell::new(Table::default());
}

fn compress_with(input: &[u8], max: usize, table: &mut Table) -> Option<Vec<u8>> {
    let n = input.len();
    table.start();
    let mut out = Output::new(max.min(n) + 1);
    let mut i = 0usize;
    let mut h = if n >= 2 { first(input, 0) } else { 0 };
    while n >= 3 && i < n - 2 {
        h = next(h, input, i);
        // A stored position r (as r + 1), never the first byte, in reach
        // and starting the same three bytes.
        let matched = table
            .swap(idx(h), i)
            .checked_sub(1)
            .filter(|&r| r > 0 && i - r - 1 < MAX_OFF && input[r..r + 3] == input[i..i + 3]);
        if let Some(r) = matched {
            let off = i - r - 1;
            let maxlen = (n - i - 2).min(MAX_REF);
            let len = out.bytes.len();
            if len + 4 >= max && len - usize::from(out.lit == 0) + 4 >= max {
                return None;
            }
            out.close_run();
            let mut len = 2;
            let mut unrolled_all = false;
            if maxlen > 16 {
                unrolled_all = true;
                for _ in 0..16 {
                    len += 1;
                    if input[r + len] != input[i + len] {
                        unrolled_all = false;
                        break;
                    }
                }
            }
            if maxlen <= 16 || unrolled_all {
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[i + len]) {
                        break;
                    }
                }
            }
            let l = len - 2;
            if l < 7 {
                out.bytes.push(((off >> 8) + (l << 5)) as u8);
            } else {
                out.bytes.push(((off >> 8) + (7 << 5)) as u8);
                out.bytes.push((l - 7) as u8);
            }
            out.bytes.push(off as u8);
            out.open_run();
            i += len;
            if i >= n - 2 {
                break;
            }
            // Hash the match's last two positions (VERY_FAST).
            i -= 2;
            h = first(input, i);
            for _ in 0..2 {
                h = next(h, input, i);
                table.swap(idx(h), i);
                i += 1;
            }
        } else {
            if out.bytes.len() >= max {
                return None;
            }
            out.literal(input[i]);
            i += 1;
        }
    }
    if out.bytes.len() + 3 > max {
        return None;
    }
    for &b in &input[i..] {
        out.literal(b);
    }
    out.close_run();
    (out.bytes.len() <= max).then_some(out.bytes)
}

/// Compressed output: literal runs are written as liblzf writes them, a
/// header byte reserved when the run opens and filled in when it closes.
struct Output {
    bytes: Vec<u8>,
    /// Bytes in the open run.
    lit: usize,
    /// Where the open run's header goes.
    head: usize,
}

impl Output {
    fn new(capacity: usize) -> Output {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.push(0);
        Output {
            bytes,
            lit: 0,
            head: 0,
        }
    }

    fn open_run(&mut self) {
        self.lit = 0;
        self.head = self.bytes.len();
        self.bytes.push(0);
    }

    /// Fill in the open run's header, or take its reserved byte back if
    /// the run is empty.
    fn close_run(&mut self) {
        if self.lit == 0 {
            self.bytes.truncate(self.head);
        } else {
            self.bytes[self.head] = (self.lit - 1) as u8;
        }
    }

    fn literal(&mut self, b: u8) {
        self.lit += 1;
        self.bytes.push(b);
        if self.lit == MAX_LIT {
            self.close_run();
            self.open_run();
        }
    }
}

/// Decompress `input`, which must expand to exactly `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let run = input.get(i..i + ctrl + 1)?;
            if out.len() + run.len() > len {
                return None;
            }
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            let mut l = ctrl >> 5;
            if l == 7 {
                l += usize::from(*input.get(i)?);
                i += 1;
            }
            let off = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            let l = l + 2;
            if off > out.len() || out.len() + l > len {
                return None;
            }
            let start = out.len() - off;
            for k in 0..l {
                out.push(out[start + k]);
            }
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_compresses_repetition() {
        let inputs: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            (0..5000u32).flat_map(|i| (i % 251).to_le_bytes()).collect(),
            b"hello hello hello world world world hello world!".repeat(40),
            (0..3000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
                .collect(),
        ];
        for input in inputs {
            match compress(&input, input.len() - 4) {
                Some(c) => assert_eq!(decompress(&c, input.len()).unwrap(), input),
                None => assert!(input.len() == 3000, "repetitive input must compress"),
            }
        }
        let c = compress(&[b'x'; 1000], 996).unwrap();
        assert!(c.len() < 30, "{} bytes", c.len());
        // Too short to hold a match: literals only.
        for input in [&b"a"[..], b"ab", b"abc"] {
            let c = compress(input, 10).unwrap();
            assert_eq!(c, [&[input.len() as u8 - 1][..], input].concat());
            assert_eq!(decompress(&c, input.len()).unwrap(), input);
        }
    }

    /// An offset has 13 bits: a repeat 8,193 bytes back is out of reach,
    /// one 8,192 back is the farthest taken. (The repeated bytes start at
    /// 1: liblzf never refers back to the first byte.)
    #[test]
    fn matches_reach_back_exactly_8192_bytes() {
        let sizes: Vec<usize> = [MAX_OFF, MAX_OFF + 1]
            .map(|far| {
                // Noise (xorshift) with one 8-byte stretch repeated `far` on.
                let mut x = 0x2545_f491_4f6c_dd1du64;
                let mut input: Vec<u8> = (0..9000)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 56) as u8
                    })
                    .collect();
                input.copy_within(1..9, 1 + far);
                // And a compressible tail, so that the whole fits.
                input.resize(12_000, 0);
                let c = compress(&input, input.len() + 100).unwrap();
                assert_eq!(decompress(&c, input.len()).unwrap(), input, "{far}");
                c.len()
            })
            .into();
        assert!(sizes[0] < sizes[1], "8,192 back is a reference: {sizes:?}");
    }

    /// liblzf's compressor always ends on literals, but a stream that ends
    /// on a back-reference is valid LZF (other compressors write them).
    #[test]
    fn a_stream_may_end_on_a_back_reference() {
        // "ab", then 3 bytes from 2 back.
        assert_eq!(decompress(&[1, b'a', b'b', 32, 1], 5).unwrap(), b"ababa");
        assert_eq!(decompress(&[1, b'a', b'b', 32, 1], 4), None, "too long");
    }

    /// What redis-server 7.0.15 wrote for `SET k abab...` (80 bytes):
    /// the compressed part of `DUMP k`.
    #[test]
    fn decompresses_redis_output() {
        let redis = [2, 97, 98, 97, 224, 66, 1, 1, 97, 98];
        assert_eq!(decompress(&redis, 80).unwrap(), b"ab".repeat(40));
        assert_eq!(compress(&b"ab".repeat(40), 76).unwrap(), redis);
    }

    /// What redis-server 7.0.15 wrote for a 377-byte text (the
    /// compressed part of `DUMP k`): our compressor is Redis's (liblzf's
    /// hash, table size and match rules), so its output is the same bytes.
    #[test]
    fn compresses_text_to_the_bytes_redis_writes() {
        let words = [
            "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
            "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon",
        ];
        let text = (0..60)
            .map(|i| format!("{}{}", words[(i * 7) % 20], i % 5))
            .collect::<Vec<_>>()
            .join(" ");
        let redis: [u8; 125] = [
            23, 97, 108, 112, 104, 97, 48, 32, 116, 104, 101, 116, 97, 49, 32, 111, 109, 105, 99,
            114, 111, 110, 50, 32, 98, 32, 14, 15, 51, 32, 105, 111, 116, 97, 52, 32, 112, 105, 48,
            32, 103, 97, 109, 109, 32, 31, 14, 107, 97, 112, 112, 97, 50, 32, 114, 104, 111, 51,
            32, 100, 101, 108, 64, 29, 4, 108, 97, 109, 98, 100, 32, 65, 2, 115, 105, 103, 64, 33,
            4, 101, 112, 115, 105, 108, 64, 65, 9, 109, 117, 51, 32, 116, 97, 117, 52, 32, 122, 32,
            74, 6, 48, 32, 110, 117, 49, 32, 117, 192, 27, 32, 17, 6, 51, 32, 120, 105, 52, 32, 97,
            224, 239, 125, 1, 105, 52,
        ];
        assert_eq!(text.len(), 377);
        assert_eq!(decompress(&redis, 377).unwrap(), text.as_bytes());
        assert_eq!(compress(text.as_bytes(), 373).unwrap(), redis);
    }

    /// liblzf's hash as Redis builds it: `((h >> 8) - h * 5) & 0xffff`
    /// over the rolling value `(p[0] << 16) | (p[1] << 8) | p[2]` (plus older
    /// bytes above bit 24, which the mask drops). Collisions are rare in
    /// short strings, so the byte-for-byte tests alone would not notice
    /// another hash.
    #[test]
    fn hashes_positions_as_liblzf_does() {
        let text = b"Redis!";
        let mut h = first(text, 0);
        for i in 0..4 {
            h = next(h, text, i);
            let v =
                (i64::from(text[i]) << 16) | (i64::from(text[i + 1]) << 8) | i64::from(text[i + 2]);
            let expected = ((v >> 8) - v * 5).rem_euclid(1 << 16) as usize;
            assert_eq!(idx(h), expected, "position {i}");
        }
    }

    #[test]
    fn a_reused_table_remembers_nothing_of_the_last_string() {
        let inputs: Vec<Vec<u8>> = (0..20u8)
            .map(|i| {
                (0..500u32)
                    .map(|j| (j % (3 + u32::from(i))) as u8 + i)
                    .collect()
            })
            .collect();
        for input in inputs.iter().chain(inputs.iter().rev()) {
            let fresh = compress_with(input, input.len() - 4, &mut Table::default());
            assert_eq!(compress(input, input.len() - 4), fresh);
        }
        let mut old = Table {
            generation: u32::MAX,
            ..Table::default()
        };
        let input = b"abcabcabcabcabcabcabcabc".repeat(3);
        assert_eq!(compress_with(&input, 68, &mut old), compress(&input, 68));
        assert_eq!(old.generation, 1, "the generation wraps to 1, not 0");
    }

    #[test]
    fn nothing_longer_than_the_limit_comes_out() {
        // Bytes without repetition (an xorshift stream) do not compress.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert_eq!(compress(&noise, 996), None);
        let text = b"abcabcabd".repeat(100);
        for max in [10, 40, 100] {
            if let Some(c) = compress(&text, max) {
                assert!(c.len() <= max, "{} > {max}", c.len());
                assert_eq!(decompress(&c, text.len()).unwrap(), text);
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        assert!(decompress(&[0x05, 1, 2], 6).is_none());
        assert!(decompress(&[0x20, 0x05], 2).is_none());
        assert!(decompress(&[0x00, b'a', 0xe0, 0xff, 0x00], 10).is_none());
        assert!(decompress(&[0x00, b'a'], 2).is_none());
    }

    #[test]
    fn nothing_to_compress_is_no_output() {
        assert_eq!(
            compress(b"", 10),
            None,
            "liblzf returns 0 for an empty input"
        );
        assert_eq!(compress(b"abc", 0), None);
    }

    /// A match found with almost no room left gives up as liblzf does
    /// (`op - !lit + 3 + 1 >= out_end`): x, a literal, then "aaa" again
    /// at position 2 with 3 output bytes used and a limit of 7.
    #[test]
    fn a_match_without_room_for_its_reference_gives_up() {
        assert_eq!(compress(b"xaaaaaaa", 7), None);
        assert_eq!(compress(b"xaaaaaaa", 4), None);
    }
}
