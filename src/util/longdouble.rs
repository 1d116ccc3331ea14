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

    /// Exact conversion of a double, like C's `(long double)d`.
    pub fn from_f64(d: f64) -> F80 {
        let neg = d.is_sign_negative();
        if d.is_nan() {
            return F80::NAN;
        }
        if d.is_infinite() {
            return [F80::INFINITY, F80::NEG_INFINITY][usize::from(neg)];
        }
        if d == 0.0 {
            return [F80::ZERO, F80::NEG_ZERO][usize::from(neg)];
        }
        let bits = d.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1 << 52) - 1);
        // value = m * 2^e with m an integer.
        let (m, e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1 << 52), exp - 1075)
        };
        let shift = m.leading_zeros();
        pack(neg, m << shift, e - i64::from(shift))
    }

    /// The nearest `f64` (infinities and NaN kept; out-of-range values
    /// become infinities or zero).
    pub fn to_f64(self) -> f64 {
        let neg = if self.is_sign_negative() { -1.0 } else { 1.0 };
        match self.class() {
            Class::Nan => f64::NAN,
            Class::Inf(_) => neg * f64::INFINITY,
            Class::Zero(_) => neg * 0.0,
            Class::Finite(_, m, e) => {
                // m * 2^e with m < 2^64: scale in two steps so neither
                // overflows before the result does.
                let e = e.clamp(-2200, 2200) as i32;
                neg * (m as f64) * 2f64.powi(e / 2) * 2f64.powi(e - e / 2)
            }
        }
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
mod tests;
