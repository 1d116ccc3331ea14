//! LZF, the compression RDB files use for long strings (liblzf's format:
//! literal runs of up to 32 bytes and back references up to 8 KiB back).

/// Longest back reference (2 + 7 + 255).
const MAX_REF: usize = 264;
/// Farthest back reference.
const MAX_OFF: usize = 1 << 13;
const HASH_BITS: u32 = 14;

fn hash(b: &[u8]) -> usize {
    let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// Compress `input` into at most `max` bytes; `None` when it does not fit
/// (Redis then stores the string as it is).
pub fn compress(input: &[u8], max: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max.min(n));
    let mut table = vec![0usize; 1 << HASH_BITS];
    let (mut lit, mut i) = (0, 0);
    let flush = |out: &mut Vec<u8>, from: usize, to: usize| {
        for chunk in input[from..to].chunks(32) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    while i + 2 < n {
        let h = hash(&input[i..]);
        let candidate = table[h];
        table[h] = i + 1;
        if candidate > 0 {
            let r = candidate - 1;
            let off = i - r - 1;
            if off < MAX_OFF && input[r..r + 3] == input[i..i + 3] {
                let most = (n - i).min(MAX_REF);
                let same = input[r + 3..r + most]
                    .iter()
                    .zip(&input[i + 3..i + most])
                    .take_while(|(a, b)| a == b)
                    .count();
                let len = 3 + same;
                flush(&mut out, lit, i);
                let l = len - 2;
                if l < 7 {
                    out.push(((l << 5) | (off >> 8)) as u8);
                } else {
                    out.push(((7 << 5) | (off >> 8)) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                if out.len() > max {
                    return None;
                }
                i += len;
                lit = i;
                continue;
            }
        }
        i += 1;
    }
    flush(&mut out, lit, n);
    (out.len() <= max).then_some(out)
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
    }

    /// What redis-server 7.0.15 wrote for `SET k abab...` (80 bytes):
    /// the compressed part of `DUMP k`.
    #[test]
    fn decompresses_redis_output() {
        let redis = [2, 97, 98, 97, 224, 66, 1, 1, 97, 98];
        assert_eq!(decompress(&redis, 80).unwrap(), b"ab".repeat(40));
        let ours = compress(&b"ab".repeat(40), 76).unwrap();
        assert_eq!(decompress(&ours, 80).unwrap(), b"ab".repeat(40));
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
}
