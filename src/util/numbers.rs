//! Number parsing and printing with Redis's exact rules.
//!
//! `string2ll` is Redis's strict integer parser (`util.c`): no sign other
//! than a leading `-`, no leading zeros, no spaces, at most 20 characters.
//! Every integer argument and every stored integer goes through it, so
//! `INCR` on `"-0"`, `" 1"` or `"01"` fails exactly where Redis fails.

/// Redis's strict integer parser (lives with the value types, which need
/// it for integer sets).
pub use store_api::num::string2ll;

/// Parse an unsigned length or count (a `string2ll` that must be >= 0).
pub fn string2ull(s: &[u8]) -> Option<u64> {
    string2ll(s).and_then(|v| u64::try_from(v).ok())
}

/// `v` in decimal, as the bytes Redis stores for an integer.
pub fn i64_bytes(v: i64) -> bytes::Bytes {
    bytes::Bytes::copy_from_slice(itoa::Buffer::new().format(v).as_bytes())
}

/// Redis's `%.17g` formatting of a double, as `addReplyDouble` writes it
/// (`inf`, `-inf`, `nan` spelled as glibc spells them).
pub fn fmt_g17(d: f64) -> String {
    fmt_g(d, 17)
}

/// C's `%.<precision>g` of a double (1 <= precision <= 17), glibc's
/// spelling of `inf` and `nan` (Lua 5.1's `tostring` is `%.14g`).
pub fn fmt_g(d: f64, precision: usize) -> String {
    let precision = precision.clamp(1, 17);
    if d.is_nan() {
        return if d.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if d.fract() == 0.0 && d.abs() < 10f64.powi(precision as i32) {
        // An integer of at most `precision` digits prints as itself.
        return itoa::Buffer::new().format(d as i64).to_string();
    }
    // `precision` significant digits in scientific form: d.ddde±x.
    let sci = format!("{d:.*e}", precision - 1);
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("scientific format has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if (-4..precision as i32).contains(&exp) {
        // Fixed notation, trailing zeros trimmed.
        if exp >= 0 {
            let int_len = exp as usize + 1;
            out.push_str(&digits[..int_len]);
            let frac = digits[int_len..].trim_end_matches('0');
            if !frac.is_empty() {
                out.push('.');
                out.push_str(frac);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(digits.trim_end_matches('0'));
        }
    } else {
        let frac = digits[1..].trim_end_matches('0');
        out.push_str(&digits[..1]);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// C's `strtod` over the whole of `b`: the value, and whether it was out
/// of range (`ERANGE`: overflow to infinity or underflow to zero). `None`
/// when something other than a number is left over. Like `strtod`, leading
/// whitespace is skipped and an empty input reads as 0 (what Redis's
/// range parsers accept); `inf`/`infinity`/`nan` in any case, and `0x` hex.
pub fn strtod(b: &[u8]) -> Option<(f64, bool)> {
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    if b.is_empty() {
        return Some((0.0, false));
    }
    let t = &b[b.iter().take_while(|c| is_space(c)).count()..];
    let unsigned = t
        .strip_prefix(b"-")
        .or_else(|| t.strip_prefix(b"+"))
        .unwrap_or(t);
    if unsigned.len() > 2 && unsigned[0] == b'0' && (unsigned[1] | 0x20) == b'x' {
        let v = crate::util::longdouble::parse(t)?.to_f64();
        return Some((
            v,
            v.is_infinite()
                || v == 0.0
                    && unsigned[2..]
                        .iter()
                        .any(|&c| c.is_ascii_hexdigit() && c != b'0'),
        ));
    }
    let s = std::str::from_utf8(t).ok()?;
    if s.bytes().any(|c| c == b'_') {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    let literal_inf = unsigned.first().is_some_and(|c| c | 0x20 == b'i');
    let mantissa = unsigned
        .split(|&c| c | 0x20 == b'e')
        .next()
        .unwrap_or_default();
    let erange = (v.is_infinite() && !literal_inf)
        || (v == 0.0 && mantissa.iter().any(|c| (b'1'..=b'9').contains(c)));
    Some((v, erange))
}

/// Redis's `getDoubleFromObject` / `string2d`: a whole, finite-or-infinite
/// double with no leading space, not NaN, not out of range.
pub fn string2d(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b[0].is_ascii_whitespace() || b[0] == 0x0b {
        return None;
    }
    match strtod(b)? {
        (v, false) if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// Redis 7.0's `d2string`: integral values within ±2^62 (its
/// `double2ll`: `LLONG_MAX/2` as a double) as integers, others with
/// `%.17g` (what a listpack holds for a sorted-set score).
pub fn d2string(d: f64) -> String {
    const LIMIT: f64 = (i64::MAX / 2) as f64; // 2^62 once rounded
    if d.is_finite() && d != 0.0 && (-LIMIT..=LIMIT).contains(&d) && d == (d as i64) as f64 {
        (d as i64).to_string()
    } else {
        fmt_g17(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d2string_prints_integers_up_to_2_to_the_62() {
        assert_eq!(d2string(1e17), "100000000000000000");
        assert_eq!(d2string(4611686018427387904.0), "4611686018427387904");
        assert_eq!(d2string(-4611686018427387904.0), "-4611686018427387904");
        assert_eq!(d2string(9223372036854775807.0), "9.2233720368547758e+18");
        assert_eq!(d2string(1.5), "1.5");
        assert_eq!(d2string(-0.0), "-0");
    }

    #[test]
    fn string2ll_accepts_what_redis_accepts() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"1234"), Some(1234));
    }

    #[test]
    fn string2ll_rejects_what_redis_rejects() {
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"000000000000000000001",
            b"0x10",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn g17_matches_printf() {
        assert_eq!(fmt_g17(1.5), "1.5");
        assert_eq!(fmt_g17(0.1), "0.10000000000000001");
        assert_eq!(fmt_g17(100.0), "100");
        assert_eq!(fmt_g17(1e17), "1e+17");
        assert_eq!(fmt_g17(1e16), "10000000000000000");
        assert_eq!(fmt_g17(0.0001), "0.0001");
        assert_eq!(fmt_g17(0.00001), "1.0000000000000001e-05");
        assert_eq!(fmt_g17(-2.5e-300), "-2.5e-300");
        assert_eq!(fmt_g17(123456789.123), "123456789.123");
        assert_eq!(fmt_g17(f64::INFINITY), "inf");
        assert_eq!(fmt_g17(-0.0), "-0");
    }

    #[test]
    fn doubles_parse_as_redis_reads_them() {
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(string2d(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(string2d(b"0x10"), Some(16.0));
        assert_eq!(string2d(b"1e400"), None, "overflow");
        assert_eq!(string2d(b"1e-400"), None, "underflow to zero");
        assert!(string2d(b"4e-320").is_some(), "subnormals are kept");
        assert_eq!(string2d(b"nan"), None);
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b""), None);
        assert_eq!(string2d(b"1x"), None);
        assert_eq!(strtod(b""), Some((0.0, false)));
        assert_eq!(strtod(b" 2"), Some((2.0, false)));
        assert_eq!(strtod(b"1e400"), Some((f64::INFINITY, true)));
        assert_eq!(d2string(3.0), "3");
        assert_eq!(d2string(0.1), "0.10000000000000001");
        assert_eq!(d2string(-0.0), "-0");
        assert_eq!(d2string(1e20), "1e+20");
    }
}
