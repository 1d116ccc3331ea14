//! Bit-exact emulation of the x87 80-bit `long double` arithmetic that Redis
//! 7.0 uses for `INCRBYFLOAT` and `HINCRBYFLOAT` on x86_64 Linux.
//!
//! Redis (`t_string.c` `incrbyfloatCommand`, `t_hash.c`
//! `hincrbyfloatCommand`) parses both operands with `string2ld()` (glibc
//! `strtold` plus Redis's acceptance checks), adds them in `long double`, and
//! formats the sum with `ld2string(..., LD_STR_HUMAN)`: `"%.17Lf"` with
//! trailing zeros and a trailing `.` removed and `"-0"` turned into `"0"`.
//! `long double` there is the x87 extended format (64-bit significand with an
//! explicit integer bit, 15-bit exponent), so replies such as
//! `1000.09999999999999998` can only be reproduced by emulating that format.
//!
//! Everything is done with integer arithmetic (`u64`/`u128` plus a small
//! internal bignum), so parsing and printing are exact and correctly rounded
//! (round-half-even) like glibc, and [`add`] rounds like the x87 FPU in its
//! default round-to-nearest-even, 64-bit precision mode, including
//! subnormals and overflow to infinity.
//!
//! Quirks reproduced: `string2ld` accepts `inf`/`infinity` (the sum is then
//! rejected as "increment would produce NaN or Infinity") and subnormals, but
//! rejects NaN and anything that overflows or underflows to zero; glibc's
//! `strtold` drops the round bit when rounding a subnormal result, so e.g.
//! `0x1.0000000000000001p-16446` parses to zero (and is rejected) instead of
//! the smallest subnormal.

use std::cmp::Ordering;

/// `string2ld()` rejects inputs of this many bytes or more
/// (`MAX_LONG_DOUBLE_CHARS` in Redis).
pub const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// Significand bit with weight 1 in normal numbers (the explicit integer bit).
const INT_BIT: u64 = 1 << 63;
/// Biased exponent of infinities and NaNs.
const EXP_MAX: i64 = 0x7fff;
/// Binary exponent of the lowest significand bit of subnormals (and of the
/// smallest normal binade): `1 - 16383 - 63`.
const MIN_LSB: i64 = -16445;
/// Biased exponent minus this value is the exponent of the significand's
/// lowest bit.
const LSB_BIAS: i64 = 16383 + 63;
const POW10_17: u128 = 100_000_000_000_000_000;
/// Integer bit plus the "quiet" bit of a NaN significand.
const QNAN_BITS: u64 = 0xc000_0000_0000_0000;

/// An x87 80-bit extended precision value, stored as its sign/exponent word
/// and 64-bit significand (the in-memory layout of a C `long double`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct F80 {
    se: u16,
    mant: u64,
}

/// Decoded value: `(-1)^neg * m * 2^e` for finite numbers.
enum Class {
    Nan,
    Inf(bool),
    Zero(bool),
    Finite(bool, u64, i64),
}

impl F80 {
    /// Positive zero.
    pub const ZERO: F80 = F80::raw(0, 0);
    /// Negative zero.
    pub const NEG_ZERO: F80 = F80::raw(0x8000, 0);
    /// Positive infinity.
    pub const INFINITY: F80 = F80::raw(0x7fff, INT_BIT);
    /// Negative infinity.
    pub const NEG_INFINITY: F80 = F80::raw(0xffff, INT_BIT);
    /// The x87 default NaN ("real indefinite"), produced by `inf - inf`.
    pub const NAN: F80 = F80::raw(0xffff, QNAN_BITS);

    const fn raw(se: u16, mant: u64) -> F80 {
        F80 { se, mant }
    }

    /// Builds a value from the low 80 bits of `bits`: bits 0..64 are the
    /// significand, bits 64..80 the sign and biased exponent.
    pub const fn from_bits(bits: u128) -> F80 {
        F80::raw((bits >> 64) as u16, bits as u64)
    }

    /// The 80-bit encoding, laid out as in [`F80::from_bits`].
    pub const fn to_bits(self) -> u128 {
        ((self.se as u128) << 64) | self.mant as u128
    }

    /// Exact conversion of an integer, like C's `(long double)ll`.
    pub fn from_i64(v: i64) -> F80 {
        let m = v.unsigned_abs();
        if m == 0 {
            return F80::ZERO;
        }
        let shift = m.leading_zeros();
        pack(v < 0, m << shift, -i64::from(shift))
    }

    /// True for negative values, including `-0` and `-inf`.
    pub fn is_sign_negative(self) -> bool {
        self.se & 0x8000 != 0
    }

    /// True for NaNs (and for the invalid non-canonical encodings that the
    /// x87 treats as NaN operands).
    pub fn is_nan(self) -> bool {
        matches!(self.class(), Class::Nan)
    }

    /// True for `+inf` and `-inf`.
    pub fn is_infinite(self) -> bool {
        matches!(self.class(), Class::Inf(_))
    }

    /// True unless the value is infinite or NaN.
    pub fn is_finite(self) -> bool {
        matches!(self.class(), Class::Zero(_) | Class::Finite(..))
    }

    fn class(self) -> Class {
        let neg = self.is_sign_negative();
        let exp = i64::from(self.se & 0x7fff);
        match (exp, self.mant) {
            (EXP_MAX, INT_BIT) => Class::Inf(neg),
            (EXP_MAX, _) => Class::Nan,
            (0, 0) => Class::Zero(neg),
            // Subnormals (and pseudo-subnormals, which the x87 reads the same).
            (0, m) => Class::Finite(neg, m, MIN_LSB),
            (_, m) if m & INT_BIT == 0 => Class::Nan, // unnormal: invalid operand
            (_, m) => Class::Finite(neg, m, exp - LSB_BIAS),
        }
    }
}

/// Encodes `(-1)^neg * q * 2^lsb`, where `q < 2^64` and either `q` has its top
/// bit set or `lsb == MIN_LSB` (subnormal or zero). Overflows to infinity.
fn pack(neg: bool, q: u64, lsb: i64) -> F80 {
    let sign = if neg { 0x8000 } else { 0 };
    match lsb + LSB_BIAS {
        _ if q & INT_BIT == 0 => F80::raw(sign, q),
        exp if exp >= EXP_MAX => F80::raw(sign | 0x7fff, INT_BIT),
        exp => F80::raw(sign | exp as u16, q),
    }
}

/// Rounds `q + tail` to nearest-even, where `tail` says how the discarded
/// remainder compares with one half unit, then packs it.
fn round_pack(neg: bool, q: u64, lsb: i64, tail: Ordering) -> F80 {
    let up = tail == Ordering::Greater || (tail == Ordering::Equal && q & 1 == 1);
    match (q, up) {
        (u64::MAX, true) => pack(neg, INT_BIT, lsb + 1),
        (q, up) => pack(neg, q + u64::from(up), lsb),
    }
}

/// Correctly rounds `(-1)^neg * s * 2^unit` for [`add`], where `0 < s < 2^127`
/// and `unit >= MIN_LSB - 62`, so at most 63 bits are rounded off. A sticky
/// bit jammed into bit 0 of `s` is harmless: it sits at least two bits below
/// the rounding point.
fn round_u128(neg: bool, s: u128, unit: i64) -> F80 {
    let bits = 128 - i64::from(s.leading_zeros());
    let lsb = (unit + bits - 64).max(MIN_LSB);
    let shift = lsb - unit;
    if shift <= 0 {
        return pack(neg, (s << -shift) as u64, lsb);
    }
    let (q, rem, half) = (s >> shift, s & ((1 << shift) - 1), 1 << (shift - 1));
    round_pack(neg, q as u64, lsb, rem.cmp(&half))
}

/// A NaN operand comes back quieted, as the x87 does; invalid encodings
/// become the default NaN.
fn quiet(x: F80) -> F80 {
    if x.se & 0x7fff == 0x7fff {
        F80::raw(x.se, x.mant | QNAN_BITS)
    } else {
        F80::NAN
    }
}

/// The sum `a + b` rounded exactly like the x87 `fadd` instruction in its
/// default mode (round to nearest even, 64-bit significand): exact
/// cancellation gives `+0`, `-0 + -0` is `-0`, subnormal results are
/// correctly rounded, overflow gives infinity and `inf + -inf` gives NaN.
pub fn add(a: F80, b: F80) -> F80 {
    let (x, y) = match (a.class(), b.class()) {
        (Class::Nan, _) => return quiet(a),
        (_, Class::Nan) => return quiet(b),
        (Class::Inf(p), Class::Inf(q)) if p != q => return F80::NAN,
        (Class::Inf(_), _) => return a,
        (_, Class::Inf(_)) => return b,
        (Class::Zero(p), Class::Zero(q)) => return if p && q { a } else { F80::ZERO },
        (Class::Zero(_), _) => return b,
        (_, Class::Zero(_)) => return a,
        (Class::Finite(na, ma, ea), Class::Finite(nb, mb, eb)) => ((na, ma, ea), (nb, mb, eb)),
    };
    // Order so that `a` has the larger exponent, then line both up in units
    // of 2^(ea - 62), keeping 62 guard bits below `a`'s significand.
    let ((na, ma, ea), (nb, mb, eb)) = if x.2 >= y.2 { (x, y) } else { (y, x) };
    let big = u128::from(ma) << 62;
    let d = ea - eb;
    let small = if d <= 62 {
        u128::from(mb) << (62 - d)
    } else {
        // `a` is normal here, so the sum keeps > 120 bits and the jammed
        // sticky bit sits far below the rounding point.
        let sh = d - 62;
        let kept = if sh >= 64 { 0 } else { mb >> sh };
        let lost = sh >= 64 || mb & ((1u64 << sh) - 1) != 0;
        u128::from(kept | u64::from(lost))
    };
    let unit = ea - 62;
    if na == nb {
        round_u128(na, big + small, unit)
    } else {
        match big.cmp(&small) {
            Ordering::Equal => F80::ZERO,
            Ordering::Greater => round_u128(na, big - small, unit),
            Ordering::Less => round_u128(nb, small - big, unit),
        }
    }
}

/// Free-function form of [`F80::is_finite`]: Redis replies "increment would
/// produce NaN or Infinity" when the sum is not finite.
pub fn is_finite(x: F80) -> bool {
    x.is_finite()
}

/// Minimal unsigned bignum (little-endian `u64` limbs, no trailing zeros).
#[derive(Clone, Debug)]
struct Big(Vec<u64>);

impl Big {
    fn bit_len(&self) -> i64 {
        self.0.last().map_or(0, |top| {
            64 * self.0.len() as i64 - i64::from(top.leading_zeros())
        })
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// `self = self * m + a`.
    fn mul_add(&mut self, m: u64, a: u64) {
        let mut carry = u128::from(a);
        for limb in &mut self.0 {
            let v = u128::from(*limb) * u128::from(m) + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            self.0.push(carry as u64);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, mut n: u64) {
        while n > 0 {
            let k = n.min(19);
            self.mul_add(10u64.pow(k as u32), 0);
            n -= k;
        }
    }

    fn shl(&mut self, bits: i64) {
        let (words, bits) = ((bits / 64) as usize, (bits % 64) as u32);
        if bits > 0 {
            let mut carry = 0;
            for limb in &mut self.0 {
                let v = *limb;
                *limb = (v << bits) | carry;
                carry = v >> (64 - bits);
            }
            if carry != 0 {
                self.0.push(carry);
            }
        }
        if !self.0.is_empty() {
            self.0.splice(0..0, std::iter::repeat_n(0, words));
        }
    }

    fn shr1(&mut self) {
        let mut carry = 0;
        for limb in self.0.iter_mut().rev() {
            let v = *limb;
            *limb = (v >> 1) | carry;
            carry = v << 63;
        }
        self.trim();
    }

    fn cmp_big(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other`; requires `self >= other`.
    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = false;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let o = other.0.get(i).copied().unwrap_or(0);
            let (v, b1) = limb.overflowing_sub(o);
            let (v, b2) = v.overflowing_sub(u64::from(borrow));
            *limb = v;
            borrow = b1 || b2;
        }
        self.trim();
    }

    /// Divides in place by `d`, returning the remainder.
    fn divrem_small(&mut self, d: u64) -> u64 {
        let mut rem = 0u128;
        for limb in self.0.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*limb);
            *limb = (cur / u128::from(d)) as u64;
            rem = cur % u128::from(d);
        }
        self.trim();
        rem as u64
    }
}

/// Correctly rounds the positive rational `(-1)^neg * a / b * 2^e2` to F80,
/// the way glibc's `strtold` does. Returns zero on underflow to zero and
/// infinity on overflow (both set `ERANGE` in C).
fn round_ratio(neg: bool, mut a: Big, mut b: Big, e2: i64) -> F80 {
    let (la, lb) = (a.bit_len(), b.bit_len());
    // floor(log2(a / b)) is la - lb or la - lb - 1.
    let ge = if la >= lb {
        let mut t = b.clone();
        t.shl(la - lb);
        a.cmp_big(&t) != Ordering::Less
    } else {
        let mut t = a.clone();
        t.shl(lb - la);
        t.cmp_big(&b) != Ordering::Less
    };
    let p = la - lb - i64::from(!ge) + e2;
    if p > 16383 {
        return pack(neg, INT_BIT, 16384 - 63); // infinity
    }
    if p < MIN_LSB - 1 {
        return pack(neg, 0, MIN_LSB); // below half the smallest subnormal
    }
    // glibc first truncates to a full 64-bit significand M followed by a
    // round bit R and a sticky bit S, even for subnormal results.
    let lsb = p - 63;
    let sh = e2 - lsb;
    if sh >= 0 {
        a.shl(sh);
    } else {
        b.shl(-sh);
    }
    // The quotient is known to fit in 64 bits.
    let (m, tail, rem_zero) = if let [d] = b.0[..] {
        let rem = a.divrem_small(d);
        let m = a.0.first().copied().unwrap_or(0);
        (m, (u128::from(rem) * 2).cmp(&u128::from(d)), rem == 0)
    } else {
        // Restoring division by a multi-limb divisor.
        let mut bs = b.clone();
        bs.shl(63);
        let mut m = 0u64;
        for i in 0..64 {
            m <<= 1;
            if a.cmp_big(&bs) != Ordering::Less {
                a.sub_assign(&bs);
                m |= 1;
            }
            if i < 63 {
                bs.shr1();
            }
        }
        let rem_zero = a.0.is_empty();
        a.shl(1); // compare the remainder with half of the divisor
        (m, a.cmp_big(&b), rem_zero)
    };
    if lsb >= MIN_LSB {
        return round_pack(neg, m, lsb, tail);
    }
    // Subnormal: glibc's round_and_return() shifts M right and rounds on the
    // bits shifted out plus S, but drops R. So a value just above a halfway
    // point by exactly R rounds to even (e.g. 0x10000000000000003p-16447).
    let shift = MIN_LSB - lsb; // 1..=64
    let sticky = tail == Ordering::Greater || (tail == Ordering::Less && !rem_zero);
    let round_bit = (m >> (shift - 1)) & 1 == 1;
    let below = m & ((1u64 << (shift - 1)) - 1) != 0;
    let tail = match (round_bit, below || sticky) {
        (false, _) => Ordering::Less,
        (true, false) => Ordering::Equal,
        (true, true) => Ordering::Greater,
    };
    round_pack(neg, m.checked_shr(shift as u32).unwrap_or(0), MIN_LSB, tail)
}

/// Bignum from digit values, most significant first.
fn big_from_digits(digits: &[u8], radix: u64) -> Big {
    let mut big = Big(Vec::new());
    for chunk in digits.chunks(if radix == 10 { 19 } else { 15 }) {
        let v = chunk.iter().fold(0, |acc, &d| acc * radix + u64::from(d));
        big.mul_add(radix.pow(chunk.len() as u32), v);
    }
    big
}

/// Parses `s` exactly like Redis's `string2ld()`: glibc `strtold` syntax
/// (decimal or `0x` hex with optional exponent, `inf`/`infinity`, optional
/// sign) that must span the whole input, no leading whitespace, no NUL, fewer
/// than [`MAX_LONG_DOUBLE_CHARS`] bytes, and no NaN, overflow or underflow to
/// zero. Subnormal results and explicit infinities are accepted, as in Redis.
pub fn parse(s: &[u8]) -> Option<F80> {
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS || is_space(s[0]) {
        return None;
    }
    let (neg, rest) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some([F80::INFINITY, F80::NEG_INFINITY][usize::from(neg)]);
    }
    let hex = rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x';
    let (body, radix) = if hex { (&rest[2..], 16) } else { (rest, 10) };
    // Significant digits (leading zeros dropped) and the count of digits
    // after the point.
    let (mut digits, mut i, mut seen, mut frac, mut dot) = (Vec::new(), 0, false, 0i64, false);
    while i < body.len() {
        match (body[i] as char).to_digit(radix) {
            Some(d) => {
                if d != 0 || !digits.is_empty() {
                    digits.push(d as u8);
                }
                seen = true;
                frac += i64::from(dot);
            }
            None if body[i] == b'.' && !dot => dot = true,
            None => break,
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    let mut exp = 0i64;
    if i < body.len() {
        if (body[i] | 0x20) != if hex { b'p' } else { b'e' } {
            return None;
        }
        i += 1;
        let eneg = body.get(i) == Some(&b'-');
        i += usize::from(matches!(body.get(i), Some(b'-' | b'+')));
        let tail = &body[i..];
        if tail.is_empty() || !tail.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for &c in tail {
            exp = (exp * 10 + i64::from(c - b'0')).min(1 << 40);
        }
        if eneg {
            exp = -exp;
        }
    }
    if digits.is_empty() {
        return Some([F80::ZERO, F80::NEG_ZERO][usize::from(neg)]);
    }
    // Trailing zeros only scale the exponent.
    let zeros = digits.iter().rev().take_while(|&&d| d == 0).count();
    digits.truncate(digits.len() - zeros);
    let (zeros, nd) = (zeros as i64, digits.len() as i64);
    let big = big_from_digits(&digits, u64::from(radix));
    let value = if hex {
        round_ratio(neg, big, Big(vec![1]), exp + 4 * (zeros - frac))
    } else {
        let e10 = exp + zeros - frac;
        if nd - 1 + e10 > 4940 {
            return None; // far above the largest finite value
        }
        if nd + e10 < -4960 {
            return None; // far below half the smallest subnormal
        }
        let (mut a, mut b) = (big, Big(vec![1]));
        if e10 >= 0 {
            a.mul_pow10(e10 as u64);
        } else {
            b.mul_pow10(e10.unsigned_abs());
        }
        round_ratio(neg, a, b, 0)
    };
    match value.class() {
        Class::Finite(..) => Some(value),
        _ => None, // ERANGE with +-HUGE_VALL or 0
    }
}

/// Decimal digits of a bignum.
fn big_to_decimal(mut big: Big) -> String {
    let mut chunks = Vec::new();
    while !big.0.is_empty() {
        chunks.push(big.divrem_small(10_000_000_000_000_000_000));
    }
    let mut out = chunks.pop().unwrap_or(0).to_string();
    for c in chunks.iter().rev() {
        out.push_str(&format!("{c:019}"));
    }
    out
}

/// Formats like Redis's `ld2string(buf, len, x, LD_STR_HUMAN)`: glibc
/// `"%.17Lf"` (exact, round-half-even on the 17th decimal), then trailing
/// zeros and a trailing `.` are removed, and `"-0"` becomes `"0"`.
/// Infinities give `"inf"`/`"-inf"` and NaN gives `"nan"`.
pub fn format_human(x: F80) -> String {
    let (neg, m, e) = match x.class() {
        Class::Nan => return "nan".to_string(),
        Class::Inf(neg) => return if neg { "-inf" } else { "inf" }.to_string(),
        Class::Zero(_) => return "0".to_string(),
        Class::Finite(neg, m, e) => (neg, m, e),
    };
    let mut out = if e >= 0 {
        let mut big = Big(vec![m]);
        big.shl(e);
        big_to_decimal(big)
    } else {
        // value * 10^17 = m * 10^17 / 2^k, rounded half-even to an integer.
        let k = -e;
        let n = u128::from(m) * POW10_17; // < 2^121
        let q = if k >= 122 {
            0
        } else {
            let (q, rem, half) = (n >> k, n & ((1 << k) - 1), 1u128 << (k - 1));
            q + u128::from(rem > half || (rem == half && q & 1 == 1))
        };
        let (int, frac) = (q / POW10_17, q % POW10_17);
        let mut s = int.to_string();
        if frac != 0 {
            s.push('.');
            s.push_str(format!("{frac:017}").trim_end_matches('0'));
        }
        s
    };
    if neg && out != "0" {
        out.insert(0, '-');
    }
    out
}
#[cfg(test)]
mod tests {
    use super::*;

    // All expectations below come from a C harness on x86_64 glibc 2.36
    // (real `strtold`, x87 `long double` addition, `snprintf("%.17Lf")` and
    // Redis's string2ld/ld2string code); the INCRBYFLOAT cases were also
    // checked against redis-server 7.0.15.

    /// `input=bits` (bits as 20 hex digits, sign/exponent first), or
    /// `input=E` when `string2ld` rejects the input.
    const PARSE: &str = "
0.1=3ffbcccccccccccccccd 10.5=4002a800000000000000 1000.1=4008fa06666666666666 1e30=4062c9f2c9cd04674edf -1e30=c062c9f2c9cd04674edf
1e308=43fe8e679c2f5e44ff8f 1e-308=3bffe61acf033d1a45df 0=00000000000000000000 -0=80000000000000000000 +0=00000000000000000000
00012.5000=4002c800000000000000 .5=3ffe8000000000000000 5.=4001a000000000000000 +5=4001a000000000000000 -.5e-3=bff483126e978d4fdf3b 1e=E 1e+=E e5=E
.=E -=E +=E 0x1p3=40028000000000000000 0X1P-2=3ffd8000000000000000 0x1.8=3fffc000000000000000 0x.8p1=3fff8000000000000000
0xAbC.dEp-4=4006abcde00000000000 0x=E 0x.=E 0xg=E 0x1p=E 1e5.5=E 1..2=E --1=E +-1=E 1_0=E 1,5=E abc=E inf=7fff8000000000000000
INF=7fff8000000000000000 -Inf=ffff8000000000000000 infinity=7fff8000000000000000 -INFINITY=ffff8000000000000000 infinit=E infinityy=E nan=E NAN=E
-nan=E nan(123)=E in=E 1e-5000=E 1e5000=E 0e99999=00000000000000000000 -0e-99999=80000000000000000000 0x0p99999=00000000000000000000
1e4932=7ffed72cb2a95c7ef6cd 1.18973149535723176502e4932=7ffeffffffffffffffff 1.18973149535723176508e4932=E 1.2e4932=E
3.64519953188247460253e-4951=00000000000000000001 1.82259976594123730126e-4951=E 1.8225997659412373013e-4951=00000000000000000001 1e-4951=E
2e-4951=00000000000000000001 1e-4940=00000000000663278e62 4e-4951=00000000000000000001 0x1p-16445=00000000000000000001 0x1p-16446=E
0x1.0000000000000001p-16446=E 0x1.000000000000001p-16446=00000000000000000001 0x10000000000000003p-16447=00004000000000000000
0x10000000000000007p-16447=00004000000000000002 0x1p16383=7ffe8000000000000000 0x1p16384=E 0x1.fffffffffffffffep16383=7ffeffffffffffffffff
0x1.ffffffffffffffffp16383=E 0x1.fffffffffffffffe8p16383=7ffeffffffffffffffff 0x1.fffffffffffffffe7fp16383=7ffeffffffffffffffff
9223372036854775807=403dfffffffffffffffe -9223372036854775808=c03e8000000000000000 18446744073709551615=403effffffffffffffff
18446744073709551616=403f8000000000000000 18446744073709551617=403f8000000000000000 36893488147419103231=40408000000000000000
0.30000000000000000001=3ffd999999999999999a 17.99999999999999999=40038ffffffffffffffa 123456789012345678901234567890=405fc77487fb61b9f077
1e-20=3fbcbce5086492111aeb -1e-18=bfc39392ee8e921d5d07 0.000000000000000005=3fc5b877aa3236a4b449
1.0000000000000000000542101086242752217003726400434970855712890625=3fff8000000000000000
1.00000000000000000005421010862427522170037264004349708557128906250000000001=3fff8000000000000001
1.0000000000000000001626303258728256651011179201304912567138671875=3fff8000000000000002
1.0000000000000000001626303258728256651011179201304912567138671874=3fff8000000000000001
10000000000000000000000000000000000000000e-40=3fff8000000000000000
0.0000000000000000000000000000000000000000000000000000000000001e61=3fff8000000000000000 1e-4951=E 7e-4951=00000000000000000002
5.5e-4951=00000000000000000002 +4.10965717e3454=6cd2fc3da47bad9096d7 0xABE=400aabe0000000000000 +503.7916276438231719=4007fbe5540dfc6a3f66
2.785494133998329093249088381e2220=5ccf8ed83fbf5c200f5a 184857.40045=4010b48659a0f9096bba +7.4e3818=718d80ccdcfdfb56a652 -Inf=ffff8000000000000000
-144145974401433600.0078125=c0388007000000000000 86373.6343657632e-18=3fd3c27f029f75cbef68 infinity=7fff8000000000000000
7.84386959e2577=6172bf6041433dd723e0 +8018.88007676645530968570620=400bfa970a65b00f28ee -0xEc97DP+480=c1f2ec97d00000000000
+7.217601992347100e879=4b69e2f6987db8808148 1e5000=E 1_000=E abc=E .=E";

    /// `a+b=sum`, all as 80-bit encodings.
    const ADD: &str = "
3fff8000000000000000+bfff8000000000000000=00000000000000000000 80000000000000000000+80000000000000000000=80000000000000000000
80000000000000000000+00000000000000000000=00000000000000000000 7ffeffffffffffffffff+7ffeffffffffffffffff=7fff8000000000000000
7fff8000000000000000+ffff8000000000000000=ffffc000000000000000 00000000000000000001+80000000000000000001=00000000000000000000
00007fffffffffffffff+00000000000000000001=00018000000000000000 3fff8000000000000000+3fbf8000000000000000=3fff8000000000000000
3fff8000000000000000+3fbf8000000000000001=3fff8000000000000001 3fff8000000000000001+3fbf8000000000000000=3fff8000000000000002
3fff8000000000000000+bfbf8000000000000000=3ffeffffffffffffffff 3fff8000000000000000+bfbe8000000000000000=3fff8000000000000000
3fff8000000000000000+bfbd8000000000000000=3fff8000000000000000 800000000000065a650e+800000000000fc7aafae=80000000000102d514bc
80000000000005d57806+ffff8000000000000000=ffff8000000000000000 00000000000000000f36+80018000000000000000=80007ffffffffffff0ca
8000000000002579ea9b+c02a8000000000060000=c02a8000000000060000 0000000385719e0f614e+8001a39f8ed0200c664c=8001a39c095e81fd04fe
800000000000000034c4+00000000000000000000=800000000000000034c4 7fff8000000000000000+00000000240910254beb=7fff8000000000000000
7fff8000000000000000+ffff8000000000000000=ffffc000000000000000 ffff8000000000000000+58ffffffffffffffffc0=ffff8000000000000000
ffff8000000000000000+fffed1aa2ed3a47d0c9c=ffff8000000000000000 ffff8000000000000000+80000000000000000000=ffff8000000000000000
00018000003000000000+8000000854d79758398c=00007ff7ab5868a7c674 7ffe980d63a2a796d41c+8000035458079efc0d7b=7ffe980d63a2a796d41c
80418b791ee6cdb488e5+00002000000000000000=80418b791ee6cdb488e5 4003ef75463a2c71f642+ffff8000000000000000=ffff8000000000000000
7ffcffffffffffffffe8+ffff8000000000000000=ffff8000000000000000 802a8000000000000001+002a8000000000040000=000007fffe0000000000
7ffdcdc99baa04cb027e+7ffef3b6978c05fcf5e7=7fff8000000000000000 fffd80000000000348c7+3d4a8000000020000000=fffd80000000000348c7
400480e4f90e75e75822+c003ffffffffffffffff=3ffce4f90e75e7582280 fffc8000000000000001+7ffc8000000000000001=00000000000000000000
a5268000000000000000+80000000000000000000=a5268000000000000000 800197bb37a09b382407+00000000000000000000=800197bb37a09b382407
80000000000000000000+800000000ddb7a696f13=800000000ddb7a696f13 80000000000000000000+ffff8000000000000000=ffff8000000000000000
80000000000000000000+5b2ce6033691c70f9b8a=5b2ce6033691c70f9b8a 80000000000000000000+8001ad75866473831324=8001ad75866473831324
00000000000000000000+80000000000000000000=00000000000000000000";

    /// `bits=ld2string(LD_STR_HUMAN) output`.
    const FORMAT: &str = "
3fff8000000000000000=1 bfff8000000000000000=-1 00000000000000000000=0 80000000000000000000=0 7fff8000000000000000=inf ffff8000000000000000=-inf
3fed8000000000000000=0.00000381469726562 bfed8000000000000000=-0.00000381469726562 3fc38000000000000000=0 bfc38000000000000000=0
3fc48000000000000000=0 3fffffffffffffffffff=2 403effffffffffffffff=18446744073709551615 3ffbcccccccccccccccd=0.1
4008fa06666666666666=1000.09999999999999998 00000000000000000001=0 3fc5a000000000000000=0 3fc5e000000000000000=0.00000000000000001
3fc6f000000000000000=0.00000000000000001 403a80000000002bf5c2=576460752303603548.125 c0378000000000140000=-72057594037938176
40019832e00000000000=4.7562103271484375 bffbd6988525375c51e7=-0.10478309650254239 bf8b800ff5175390aa21=0 32bc8000000500000000=0 36fdffffffffffffffff=0
bff18000000000000000=-0.00006103515625 3ff9800000036edf2744=0.01562500002497904 c001cef4a00000000000=-6.4673614501953125 c00b8058000000000000=-4107
3ae5800000001c000000=0 3fde800000907ef3b4c5=0.00000000011641533 bff68000050000000000=-0.00195312616415322 01c1e83a6d0482ea8d67=0
bffdb6ca200000000000=-0.35701084136962891 3f9d8000000000000000=0 b0b48009000000000000=0 402182f516c3c0656000=17576801822.0123748779296875
400fe21f216cc0000000=115774.26113128662109375 bf7ddd073b970c8f9843=0 3ffe800000000cbea7ed=0.50000000001159128 865dadc925c717438596=0
bff2ac62407d883726c0=-0.00016439799932937 4022df7265e9ba6f1900=59981061787.65212345123291016 c01f97f8db3098ef0800=-5099337313.19479465484619141
3fee800005cb246dcd5c=0.00000762939980043 403efc7391f5321c22f1=18191043802173285105 07ac8000000000000018=0 3f98c56329d0c8282e8d=0";

    /// `current|increment|reply` for INCRBYFLOAT, where `!val` stands for
    /// "value is not a valid float" and `!nan` for "increment would produce
    /// NaN or Infinity".
    const INCRBYFLOAT: &str = "
10|5|15; 10.5|0.1|10.6; 1000|0.1|1000.09999999999999998; 0|1e30|1000000000000000000024696061952; 3.0e3|200|3200; 5.0e3|2.0e2|5200; 0|0.1|0.1; -0|-0|0
1|-1|0; 0|-1e-18|0; 0|-1e-17|-0.00000000000000001; 1.5|0x1p-1|2; 0|inf|!nan; inf|-inf|!nan; 1e4932|1e4932|!nan; -1e4932|-1e4932|!nan; abc|1|!val
1| 1|!val; 1|1 |!val; 1||!val; |1|!val; nan|1|!val; 0|17.99999999999999999|17.99999999999999999; 0|9223372036854775807|9223372036854775807
-9223372036854775808|-1|-9223372036854775809; 0|0.000003814697265625|0.00000381469726562; 0|0.000011444091796875|0.00001144409179688
0|0.0000019073486328125|0.00000190734863281; 1e-4951|0|!val; 0.1|0.2|0.3; 1.1|2.2|3.3; -5.5|5.5|0; 1e18|0.1|1000000000000000000.125
1e17|0.01|100000000000000000.0078125; 12345678901234567890|0.5|12345678901234567890; 0x1p63|0x1p63|18446744073709551616
3.14159265358979323846|2.71828182845904523536|5.85987448204883847";

    fn bits(hex: &str) -> F80 {
        F80::from_bits(u128::from_str_radix(hex, 16).unwrap())
    }

    fn incrbyfloat(current: &str, incr: &str) -> String {
        match (parse(current.as_bytes()), parse(incr.as_bytes())) {
            (Some(a), Some(b)) if is_finite(add(a, b)) => format_human(add(a, b)),
            (Some(_), Some(_)) => "!nan".to_string(),
            _ => "!val".to_string(),
        }
    }

    #[test]
    fn parse_vectors() {
        for case in PARSE.split_whitespace() {
            let (input, want) = case.rsplit_once('=').unwrap();
            let got = parse(input.as_bytes())
                .map_or("E".to_string(), |x| format!("{:020x}", x.to_bits()));
            assert_eq!(got, want, "parse({input:?})");
        }
    }

    #[test]
    fn parse_rejects_what_string2ld_rejects() {
        for bad in [
            "", " 1", "\t1", "\n1", "\x0b1", "\x0c1", "\r1", "1 ", "1\0", "1\x002",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        let mut long = b"1.".to_vec();
        long.resize(MAX_LONG_DOUBLE_CHARS - 1, b'0');
        assert_eq!(parse(&long), parse(b"1"));
        long.push(b'0');
        assert_eq!(parse(&long), None);
        // 5000+ significant digits still round correctly (just above 1 + 2^-64).
        let mut digits =
            b"1.0000000000000000000542101086242752217003726400434970855712890625".to_vec();
        digits.resize(5000, b'0');
        assert_eq!(parse(&digits), parse(b"1"));
        digits.push(b'1');
        assert_eq!(
            parse(&digits),
            Some(F80::from_bits(0x3fff_8000_0000_0000_0001))
        );
    }

    #[test]
    fn add_vectors() {
        for case in ADD.split_whitespace() {
            let (ab, want) = case.split_once('=').unwrap();
            let (a, b) = ab.split_once('+').unwrap();
            assert_eq!(add(bits(a), bits(b)), bits(want), "{a} + {b}");
            assert_eq!(add(bits(b), bits(a)), bits(want), "{b} + {a}");
        }
        assert!(add(F80::INFINITY, F80::NEG_INFINITY).is_nan());
        assert_eq!(add(F80::NEG_ZERO, F80::NEG_ZERO), F80::NEG_ZERO);
        assert_eq!(add(F80::NEG_ZERO, F80::ZERO), F80::ZERO);
    }

    #[test]
    fn format_vectors() {
        for case in FORMAT.split_whitespace() {
            let (b, want) = case.split_once('=').unwrap();
            assert_eq!(format_human(bits(b)), want, "format({b})");
        }
        let max = format_human(F80::from_bits(0x7ffe_ffff_ffff_ffff_ffff));
        assert_eq!(max.len(), 4933);
        assert!(max.starts_with("118973149535723176502126385303"));
        assert!(max.ends_with("19552086811989770240"));
        assert_eq!(format_human(F80::NAN), "nan");
        assert_eq!(format_human(F80::NEG_INFINITY), "-inf");
    }

    #[test]
    fn incrbyfloat_end_to_end() {
        for case in INCRBYFLOAT
            .lines()
            .flat_map(|l| l.split("; "))
            .filter(|c| !c.is_empty())
        {
            let mut f = case.split('|');
            let (cur, incr, want) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            assert_eq!(incrbyfloat(cur, incr), want, "{cur:?} + {incr:?}");
        }
        let e308 = incrbyfloat("1e308", "1e308");
        assert_eq!(e308.len(), 309);
        assert!(e308.starts_with("19999999999999999999337175931169129132112"));
    }

    #[test]
    fn integers_convert_exactly() {
        for v in [0, 1, -1, 15, i64::MAX, i64::MIN, 1 << 53, -999_999_999_999] {
            let x = F80::from_i64(v);
            assert_eq!(Some(x), parse(v.to_string().as_bytes()), "{v}");
            assert_eq!(format_human(x), v.to_string());
        }
    }
}
