//! The HyperLogLog string itself, as `hyperloglog.c` lays it out and
//! changes it (see the module above for the layout).

use crate::cmd::CmdError;

pub const P: u32 = 14;
pub const REGISTERS: usize = 1 << P;
pub const Q: usize = 64 - P as usize;
pub const BITS: usize = 6;
pub const REGISTER_MAX: u8 = (1 << BITS) - 1;
pub const HDR: usize = 16;
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
pub const VAL_MAX_VALUE: u8 = 32;
pub const VAL_MAX_LEN: usize = 4;
pub const ZERO_MAX_LEN: usize = 64;
pub const XZERO_MAX_LEN: usize = 16384;
pub const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Redis's MurmurHash64A (little-endian reads).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// `hllPatLen`: the register an element lands in and its run length.
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let mut hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    hash >>= P;
    hash |= 1 << Q;
    (index, hash.trailing_zeros() as u8 + 1)
}

pub fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

pub fn dense_set(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u16::from(v);
    regs[byte] &= !((u16::from(REGISTER_MAX) << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next &= !(u16::from(REGISTER_MAX) >> (8 - fb)) as u8;
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// One sparse opcode: (registers covered, value, bytes).
pub fn opcode(p: &[u8], at: usize) -> Option<(usize, u8, usize)> {
    let b = *p.get(at)?;
    Some(if b & 0xc0 == 0 {
        (usize::from(b & 0x3f) + 1, 0, 1)
    } else if b & 0xc0 == 0x40 {
        let lo = usize::from(*p.get(at + 1)?);
        (((usize::from(b & 0x3f) << 8) | lo) + 1, 0, 2)
    } else {
        (usize::from(b & 0x3) + 1, ((b >> 2) & 0x1f) + 1, 1)
    })
}

pub fn put_zero(out: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        out.push((l >> 8) as u8 | 0x40);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

pub fn val_op(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

/// A new, empty HLL (sparse, cache valid at 0), as `createHLLObject`.
pub fn new_hll() -> Vec<u8> {
    let mut s = b"HYLL".to_vec();
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        let l = n - 1;
        s.push((l >> 8) as u8 | 0x40);
        s.push((l & 0xff) as u8);
        left -= n;
    }
    s
}

/// `isHLLObjectOrReply`.
pub fn check(s: &[u8]) -> Result<(), CmdError> {
    if s.len() < HDR || &s[..4] != b"HYLL" || s[4] > 1 || (s[4] == DENSE && s.len() != DENSE_SIZE) {
        return Err(CmdError::NotHll);
    }
    Ok(())
}

pub fn invalidate(s: &mut [u8]) {
    s[15] |= 0x80;
}

/// `hllSparseToDense`: `None` when the opcodes do not cover exactly
/// 16384 registers.
pub fn to_dense(s: &[u8]) -> Option<Vec<u8>> {
    if s[4] == DENSE {
        return Some(s.to_vec());
    }
    let mut d = vec![0u8; DENSE_SIZE];
    d[..HDR].copy_from_slice(&s[..HDR]);
    d[4] = DENSE;
    let (mut at, mut idx) = (HDR, 0);
    while at < s.len() {
        let (run, value, size) = opcode(s, at)?;
        if value > 0 {
            if idx + run > REGISTERS {
                break;
            }
            for _ in 0..run {
                dense_set(&mut d[HDR..], idx, value);
                idx += 1;
            }
        } else {
            idx += run;
        }
        at += size;
    }
    (idx == REGISTERS).then_some(d)
}

/// `hllSparseSet`: set register `index` to `count` if larger. Returns
/// Ok(changed); the string may turn dense. Err: corrupt.
pub fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, ()> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let (mut at, mut first, mut prev, mut span) = (HDR, 0, None, 0);
    let mut found = None;
    while at < s.len() {
        let (run, value, size) = opcode(s, at).ok_or(())?;
        span = run;
        if index < first + run {
            found = Some((value, size));
            break;
        }
        prev = Some(at);
        at += size;
        first += run;
    }
    let Some((value, size)) = found else {
        return Err(());
    };
    if span == 0 {
        return Err(());
    }
    let is_val = value > 0;
    // Cases A, B, C.
    if is_val {
        if value >= count {
            return Ok(false);
        }
        if span == 1 {
            s[at] = val_op(count, 1);
            merge_vals(s, prev.unwrap_or(HDR));
            return Ok(true);
        }
    }
    if !is_val && size == 1 && span == 1 {
        s[at] = val_op(count, 1);
        merge_vals(s, prev.unwrap_or(HDR));
        return Ok(true);
    }
    // Case D: split the opcode.
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    if is_val {
        if index != first {
            seq.push(val_op(value, index - first));
        }
        seq.push(val_op(count, 1));
        if index != last {
            seq.push(val_op(value, last - index));
        }
    } else {
        if index != first {
            put_zero(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            put_zero(&mut seq, last - index);
        }
    }
    if seq.len() > size && s.len() + seq.len() - size > max_bytes {
        return promote(s, index, count);
    }
    store_api::value::pack::replace_bytes(s, at..at + size, &seq);
    merge_vals(s, prev.unwrap_or(HDR));
    Ok(true)
}

/// Step 4 of `hllSparseSet`: merge adjacent VAL opcodes of equal value,
/// scanning up to five opcodes from `from`.
pub fn merge_vals(s: &mut Vec<u8>, from: usize) {
    let mut p = from;
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let b = s[p];
        if b & 0xc0 == 0x40 {
            p += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && s[p + 1] & 0x80 != 0 {
            let (v1, v2) = (((b >> 2) & 0x1f) + 1, ((s[p + 1] >> 2) & 0x1f) + 1);
            if v1 == v2 {
                let len = usize::from(b & 3) + usize::from(s[p + 1] & 3) + 2;
                if len <= VAL_MAX_LEN {
                    s[p + 1] = val_op(v1, len);
                    s.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
}

pub fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, ()> {
    let mut d = to_dense(s).ok_or(())?;
    dense_set(&mut d[HDR..], index, count);
    *s = d;
    Ok(true)
}

/// `hllAdd`: Ok(changed), Err on a corrupt sparse HLL.
pub fn add(s: &mut Vec<u8>, ele: &[u8], max_bytes: usize) -> Result<bool, ()> {
    let (index, count) = pattern(ele);
    if s[4] == DENSE {
        let regs = &mut s[HDR..];
        if dense_get(regs, index) < count {
            dense_set(regs, index, count);
            return Ok(true);
        }
        return Ok(false);
    }
    sparse_set(s, index, count, max_bytes)
}

/// `hllMerge`: raise `max` to this HLL's registers; Err when corrupt.
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), ()> {
    if s[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&s[HDR..], i));
        }
        return Ok(());
    }
    let (mut at, mut i) = (HDR, 0);
    while at < s.len() {
        let (run, value, size) = opcode(s, at).ok_or(())?;
        if value > 0 {
            if i + run > REGISTERS {
                break;
            }
            for m in &mut max[i..i + run] {
                *m = (*m).max(value);
            }
        }
        i += run;
        at += size;
    }
    if i == REGISTERS {
        Ok(())
    } else {
        Err(())
    }
}

pub fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

pub fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// `hllCount` from a register histogram.
pub fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The histogram of a stored HLL; Err when a sparse one is corrupt.
pub fn histogram(s: &[u8]) -> Result<[u32; 64], ()> {
    let mut h = [0u32; 64];
    if s[4] == DENSE {
        for i in 0..REGISTERS {
            h[usize::from(dense_get(&s[HDR..], i))] += 1;
        }
        return Ok(h);
    }
    let (mut at, mut idx) = (HDR, 0);
    while at < s.len() {
        let (run, value, size) = opcode(s, at).ok_or(())?;
        idx += run;
        h[usize::from(value)] += run as u32;
        at += size;
    }
    if idx == REGISTERS {
        Ok(h)
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_and_patterns_match_redis() {
        // Values from Redis's own hash of these inputs (PFADD then GET).
        assert_eq!(murmur64a(b"", 0), 0);
        let (i, c) = pattern(b"a");
        assert!(i < REGISTERS && (1..=51).contains(&c));
    }

    #[test]
    fn registers_pack_six_bits() {
        let mut r = vec![0u8; DENSE_SIZE - HDR];
        for i in [0, 1, 2, 3, 1000, REGISTERS - 1] {
            dense_set(&mut r, i, (i % 63) as u8 + 1);
        }
        for i in [0, 1, 2, 3, 1000, REGISTERS - 1] {
            assert_eq!(dense_get(&r, i), (i % 63) as u8 + 1);
        }
        assert_eq!(dense_get(&r, 4), 0);
    }

    #[test]
    fn sparse_sets_split_and_merge() {
        let mut s = new_hll();
        assert_eq!(s.len(), 18);
        assert_eq!(sparse_set(&mut s, 100, 3, 3000), Ok(true));
        assert_eq!(sparse_set(&mut s, 100, 2, 3000), Ok(false));
        assert_eq!(sparse_set(&mut s, 101, 3, 3000), Ok(true));
        let mut max = [0u8; REGISTERS];
        merge_into(&mut max, &s).unwrap();
        assert_eq!((max[99], max[100], max[101], max[102]), (0, 3, 3, 0));
        // Two adjacent runs of 3 merged into one VAL opcode of length 2.
        assert!(s.contains(&val_op(3, 2)));
        let d = to_dense(&s).unwrap();
        assert_eq!(dense_get(&d[HDR..], 101), 3);
        assert_eq!(estimate(&histogram(&s).unwrap()), 2);
    }
}
