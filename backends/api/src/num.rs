//! Redis's strict integer parsing, shared by the value types (an integer
//! set holds exactly the members this accepts) and the server.

/// Parse `s` as a signed 64-bit integer the way Redis's `string2ll` does:
/// no sign other than a leading `-`, no leading zeros, no spaces, at most
/// 20 characters.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21: longer strings are rejected outright.
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `v` in decimal.
pub fn ll2string(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}
