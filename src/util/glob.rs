//! Glob-style pattern matching with the exact semantics of Redis 7.0's
//! `stringmatchlen()` (`src/util.c`), as used by `KEYS`, `SCAN ... MATCH`,
//! `PSUBSCRIBE`, `CONFIG GET` and friends.
//!
//! Redis implements matching with a recursive backtracking function
//! (`stringmatchlen_impl`), which is exponential on patterns such as
//! `a*a*a*a*b` without its `skipLongerMatches` shortcut and needs one stack
//! frame per `*`. This module reproduces its results byte for byte but runs
//! iteratively: every pattern element other than `*` consumes exactly one
//! byte, so the classic greedy algorithm that only remembers the most recent
//! `*` is exact, runs in `O(len(pattern) * len(text))` time and uses constant
//! stack.
//!
//! Redis behaviours reproduced here (all checked against the C original):
//!
//! * `*`, `?`, `[...]`, `[^...]`, ranges `a-z` (reversed ranges are swapped),
//!   and `\` escapes both outside and inside brackets.
//! * An empty text only matches the empty pattern (so `*` does not match
//!   the empty string: Redis's main loop never runs when the text is empty).
//! * A `\` as the last pattern byte matches a literal `\`.
//! * An unterminated `[` set extends to the end of the pattern; a bare `[` at
//!   the end never matches and a bare `[^` at the end matches any byte.
//! * `]` right after `[` (or `[^`) closes an empty set; `[a-]` is the range
//!   `a`..`]` (Redis checks for `-` before `]`).
//! * Range bounds and the text byte are compared as C `char`, which is signed
//!   on x86_64, so bytes `0x80..=0xff` sort below `0x00`; with `nocase` they
//!   go through glibc's `tolower`, which maps `-128..=-2` to `128..=254`.
//!   Bounds are lowercased after being ordered, so with `nocase` `[Z-a]`
//!   becomes the empty range `z..=a`.
//! * An escaped byte inside a set is compared case-sensitively even when
//!   `nocase` is set.
//! * The CVE-2024-31228 recursion guard (`nesting > 1000`): once a match
//!   would need to look past the 1001st group of `*`, Redis gives up and
//!   reports no match. The guard is in Redis >= 7.2.6 and in the patched
//!   7.0.15 build (Debian 7.0.15-1~deb12u2 and later) this module was
//!   verified against; an unpatched 7.0.15 recurses without limit instead.

/// Redis's `stringmatchlen_impl` returns "no match" when its recursion depth
/// (one level per group of consecutive `*`) exceeds this value.
const MAX_STAR_NESTING: usize = 1000;

/// glibc `tolower()` in the C locale applied to a C `char` promoted to `int`
/// (signed on x86_64): ASCII upper case is folded and the negative values
/// `-128..=-2` come back as their unsigned byte value.
fn c_tolower(c: i32) -> i32 {
    match c {
        -128..=-2 => c + 256,
        65..=90 => c + 32,
        _ => c,
    }
}

/// The byte as a C `char` on x86_64 (signed), widened to `int`.
fn c_char(b: u8) -> i32 {
    i32::from(b as i8)
}

/// Compares two bytes the way Redis does outside of ranges.
fn same_byte(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        c_tolower(c_char(a)) == c_tolower(c_char(b))
    } else {
        a == b
    }
}

/// Matches the single pattern element starting at `p` (which is not `*`)
/// against the byte `c`. Returns whether it matched and the index of the
/// next pattern element. Mirrors the `?`, `[`, `\` and default branches of
/// `stringmatchlen_impl`; the end of the pattern reads as Redis's NUL
/// terminator.
fn match_element(pattern: &[u8], p: usize, c: u8, nocase: bool) -> (bool, usize) {
    let len = pattern.len();
    match pattern[p] {
        b'?' => (true, p + 1),
        b'[' => {
            let mut i = p + 1;
            let negate = i < len && pattern[i] == b'^';
            if negate {
                i += 1;
            }
            let mut matched = false;
            loop {
                if len - i >= 2 && pattern[i] == b'\\' {
                    // Escaped byte: always compared case-sensitively.
                    i += 1;
                    if pattern[i] == c {
                        matched = true;
                    }
                } else if i == len {
                    // Unterminated set: Redis steps back onto the last byte so
                    // that the common `pattern++` lands exactly on the end.
                    i -= 1;
                    break;
                } else if pattern[i] == b']' {
                    break;
                } else if len - i >= 3 && pattern[i + 1] == b'-' {
                    let mut start = c_char(pattern[i]);
                    let mut end = c_char(pattern[i + 2]);
                    let mut ch = c_char(c);
                    if start > end {
                        std::mem::swap(&mut start, &mut end);
                    }
                    if nocase {
                        start = c_tolower(start);
                        end = c_tolower(end);
                        ch = c_tolower(ch);
                    }
                    i += 2;
                    if ch >= start && ch <= end {
                        matched = true;
                    }
                } else if same_byte(pattern[i], c, nocase) {
                    matched = true;
                }
                i += 1;
            }
            (matched != negate, i + 1)
        }
        b'\\' if len - p >= 2 => (same_byte(pattern[p + 1], c, nocase), p + 2),
        other => (same_byte(other, c, nocase), p + 1),
    }
}

/// Index just past the pattern element starting at `p`, without matching.
fn skip_element(pattern: &[u8], p: usize) -> usize {
    match pattern[p] {
        b'*' => p + 1,
        // The element's extent depends only on the pattern, never on the byte.
        _ => match_element(pattern, p, 0, false).1,
    }
}

/// True when Redis's recursion guard makes every match attempt fail: the
/// pattern has more than [`MAX_STAR_NESTING`] groups of `*` and something
/// other than `*` follows group number `MAX_STAR_NESTING + 1`. Any successful
/// match would have to recurse past that group with text left to consume.
fn exceeds_nesting_limit(pattern: &[u8]) -> bool {
    let mut groups = 0usize;
    let mut p = 0;
    while p < pattern.len() {
        if pattern[p] == b'*' {
            groups += 1;
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if groups > MAX_STAR_NESTING {
                return p < pattern.len();
            }
        } else {
            p = skip_element(pattern, p);
        }
    }
    false
}

/// Returns whether `text` matches the glob `pattern`, exactly like Redis
/// 7.0's `stringmatchlen(pattern, plen, text, tlen, nocase)`.
///
/// `nocase` folds ASCII case as Redis does (for example for `CONFIG GET`).
/// Runs in `O(pattern.len() * text.len())` time and constant stack space
/// for any input.
///
/// Note that `KEYS` and `SCAN ... MATCH` in Redis skip matching entirely
/// when the pattern is exactly `*`, so there the empty key is listed even
/// though `glob_match(b"*", b"", false)` is `false`.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    if exceeds_nesting_limit(pattern) {
        return false;
    }
    let (plen, tlen) = (pattern.len(), text.len());
    let (mut p, mut t) = (0usize, 0usize);
    // Pattern index just after the most recent `*` group, and the text index
    // where the rest of the pattern is currently being tried.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if t == tlen {
            // Text exhausted: trailing `*`s match the empty rest.
            while p < plen && pattern[p] == b'*' {
                p += 1;
            }
            if p == plen {
                return true;
            }
        } else if p < plen && pattern[p] == b'*' {
            while p < plen && pattern[p] == b'*' {
                p += 1;
            }
            if p == plen {
                return true;
            }
            star = Some((p, t));
            continue;
        } else if p < plen {
            let (ok, next) = match_element(pattern, p, text[t], nocase);
            if ok {
                p = next;
                t += 1;
                continue;
            }
        }
        // Mismatch: let the last `*` swallow one more byte. Redis's star
        // loop only retries while at least one byte is left for the rest.
        match star {
            Some((sp, st)) if st + 1 < tlen => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight port of Redis 7.0's recursive `stringmatchlen_impl` (with
    /// `skipLongerMatches` and the nesting guard), used as an oracle for the
    /// iterative matcher on short random inputs.
    fn redis_ref(pat: &[u8], s: &[u8], nocase: bool, skip: &mut bool, nesting: usize) -> bool {
        if nesting > MAX_STAR_NESTING {
            return false;
        }
        let at = |i: usize| pat.get(i).copied().unwrap_or(0);
        let (mut p, mut t) = (0usize, 0usize);
        while p < pat.len() && t < s.len() {
            if pat[p] == b'*' {
                while p < pat.len() && at(p + 1) == b'*' {
                    p += 1;
                }
                if pat.len() - p == 1 {
                    return true;
                }
                while t < s.len() {
                    if redis_ref(&pat[p + 1..], &s[t..], nocase, skip, nesting + 1) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    t += 1;
                }
                *skip = true;
                return false;
            }
            let (ok, next) = match_element(pat, p, s[t], nocase);
            if !ok {
                return false;
            }
            p = next;
            t += 1;
            if t == s.len() {
                while at(p) == b'*' {
                    p += 1;
                }
                break;
            }
        }
        p == pat.len() && t == s.len()
    }

    /// `(pattern, text, nocase, expected)`; every expectation was produced
    /// by Redis's C `stringmatchlen` compiled with gcc on x86_64/glibc.
    const VECTORS: &[(&[u8], &[u8], bool, bool)] = &[
        (b"", b"", false, true),
        (b"*", b"", false, false),
        (b"**", b"", false, false),
        (b"?", b"", false, false),
        (b"[", b"", false, false),
        (b"", b"a", false, false),
        (b"*", b"a", false, true),
        (b"*", b"abc", false, true),
        (b"a*", b"a", false, true),
        (b"a**", b"a", false, true),
        (b"*a", b"a", false, true),
        (b"*a", b"ba", false, true),
        (b"*a", b"ab", false, false),
        (b"a*b", b"ab", false, true),
        (b"a*b", b"axxb", false, true),
        (b"a*b", b"axxbx", false, false),
        (b"a*b*c", b"abbbc", false, true),
        (b"a*b*c", b"acb", false, false),
        (b"*ab*ab", b"abab", false, true),
        (b"*ab*ab", b"ababa", false, false),
        (b"h?llo", b"hello", false, true),
        (b"h?llo", b"hllo", false, false),
        (b"h*llo", b"hllo", false, true),
        (b"h[ae]llo", b"hallo", false, true),
        (b"h[ae]llo", b"hillo", false, false),
        (b"h[^e]llo", b"hallo", false, true),
        (b"h[^e]llo", b"hello", false, false),
        (b"h[a-b]llo", b"hbllo", false, true),
        (b"h[b-a]llo", b"hallo", false, true),
        (b"h[a-b]llo", b"hcllo", false, false),
        (b"[", b"a", false, false),
        (b"[", b"[", false, false),
        (b"[^", b"a", false, true),
        (b"[^", b"^", false, true),
        (b"[^", b"ab", false, false),
        (b"a[", b"a", false, false),
        (b"a[", b"ab", false, false),
        (b"a[^", b"ab", false, true),
        (b"[a", b"a", false, true),
        (b"[a", b"b", false, false),
        (b"[ab", b"b", false, true),
        (b"[]", b"]", false, false),
        (b"[]", b"a", false, false),
        (b"[]]", b"]", false, false),
        (b"[]a]", b"]", false, false),
        (b"[]a]", b"a]", false, false),
        (b"[^]", b"a", false, true),
        (b"[^]a", b"xa", false, true),
        (b"[a-]", b"]", false, true),
        (b"[a-]", b"-", false, false),
        (b"[a-]", b"b", false, false),
        (b"[a-]", b"^", false, true),
        (b"[a-", b"a", false, true),
        (b"[a-", b"-", false, true),
        (b"[-a]", b"-", false, true),
        (b"[-]", b"-", false, true),
        (b"[--]", b"-", false, true),
        (b"[\\]]", b"]", false, true),
        (b"[\\]", b"\\", false, false),
        (b"[\\]", b"]", false, true),
        (b"[\\", b"\\", false, true),
        (b"[\\a-z]", b"-", false, true),
        (b"[\\a-z]", b"b", false, false),
        (b"[a-\\]", b"\\", false, true),
        (b"[a-\\]]", b"^", false, false),
        (b"[a-\\]]", b"^]", false, true),
        (b"[\\^a]", b"^", false, true),
        (b"[^\\]]", b"]", false, false),
        (b"[^\\]]", b"a", false, true),
        (b"[\\-]", b"-", false, true),
        (b"[a\\-z]", b"b", false, false),
        (b"\\", b"\\", false, true),
        (b"\\", b"a", false, false),
        (b"\\*", b"*", false, true),
        (b"\\*", b"a", false, false),
        (b"\\?", b"?", false, true),
        (b"\\?", b"a", false, false),
        (b"\\a", b"a", false, true),
        (b"a\\", b"a\\", false, true),
        (b"\\\\", b"\\", false, true),
        (b"*\\", b"ab\\", false, true),
        (b"\\[a]", b"[a]", false, true),
        (b"\\[a]", b"a", false, false),
        (b"*\\*", b"ab*", false, true),
        (b"*\\*", b"ab", false, false),
        (b"[*]", b"*", false, true),
        (b"[*]", b"a", false, false),
        (b"[?]", b"a", false, false),
        (b"a[*]*", b"a*bc", false, true),
        (b"user:*:name", b"user:1000:name", false, true),
        (b"user:*:name", b"user:1000:age", false, false),
        (b"*:*", b"a:b", false, true),
        (b"*:*", b"ab", false, false),
        (b"[0-9]*", b"123", false, true),
        (b"[0-9]*", b"x12", false, false),
        (b"[^0-9]*", b"x12", false, true),
        (
            b"*a*a*a*a*a*a*a*a*b",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            false,
            false,
        ),
        (
            b"*a*a*a*a*a*a*a*a*b",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
            false,
            true,
        ),
        (b"*?*?*", b"ab", false, true),
        (b"*?*?*", b"a", false, false),
        (b"?*", b"a", false, true),
        (b"*?", b"a", false, true),
        (b"a*?", b"a", false, false),
        (b"a\x00b", b"a\x00b", false, true),
        (b"a?b", b"a\x00b", false, true),
        (b"[\x00]", b"\x00", false, true),
        (b"*\x00", b"ab\x00", false, true),
        (b"[a-z]*", b"Hello", false, false),
        (b"[a-z]*", b"Hello", true, true),
        (b"[A-Z]*", b"hello", true, true),
        (b"HELLO", b"hello", true, true),
        (b"HELLO", b"hello", false, false),
        (b"[H]ello", b"hello", true, true),
        (b"[\\H]ello", b"hello", true, false),
        (b"[\\h]ello", b"Hello", true, false),
        (b"[\\h]ello", b"hello", true, true),
        (b"\\H", b"h", true, true),
        (b"[^A]", b"a", true, false),
        (b"[Z-a]", b"_", false, true),
        (b"[Z-a]", b"_", true, false),
        (b"[Z-a]", b"z", true, false),
        (b"[Z-a]", b"Z", true, false),
        (b"[a-Z]", b"z", true, false),
        (b"[A-c]", b"C", true, true),
        (b"[A-c]", b"D", true, false),
        (b"[A-c]", b"d", true, false),
        (b"[a-\xff]", b"\x80", false, false),
        (b"[a-\xff]", b"\xff", false, true),
        (b"[a-\xff]", b"\x00", false, true),
        (b"[a-\xff]", b"b", false, false),
        (b"[\x80-\xff]", b"\xc0", false, true),
        (b"[\x80-\xff]", b"a", false, false),
        (b"[\x00-\x7f]", b"\x80", false, false),
        (b"[\x00-\x7f]", b"\x7f", false, true),
        (b"[\xfe-a]", b"\xfe", true, false),
        (b"[\xfe-a]", b"\xfe", false, true),
        (b"[\xfe-a]", b"a", true, false),
        (b"[\xff-a]", b"\xff", true, true),
        (b"[\xff-a]", b"\x80", true, false),
        (b"[\x80-\x90]", b"\x85", true, true),
        (b"[\x80-\xff]", b"\xff", true, false),
        (b"[\x80-\xfe]", b"\xff", true, false),
        (b"\xc4", b"\xe4", true, false),
        (b"\xff", b"\xff", true, true),
        (b"\xc4*", b"\xc4x", true, true),
        (b"[\xc4]", b"\xe4", true, false),
    ];

    /// Random cases over small alphabets, expectations from the C original.
    /// Format: `pattern_hex:text_hex:NE` with N = nocase, E = expected.
    const RANDOM: &str = "
5d3f5b2a:7a3f2a2a5d3f5a:00 2a5e61ffff5cfe5d:6142425d:00
2d5a5b3f5d612d2a5e:5d3f5b5b5e7a5a41:10 415b3f61:4161:11 5c615b5a5e81615b5b5e:5b2d625a5d5a:10
2a5b2d5e2d5e2d5c:5b2d5e5e625b5c:11 7f5b5e5a:5a61815a5d815c:10 623f5b5c:5c2d:10
2a5b613f615b:5b:01 5c:5d2d:10 5b5a415e:41:01 3f2a5b5e3f:5e5e2a:11 5b2d7a61:2d:11
615b:8162:00 5c815c5d7f:2d625a2d7f615e5a5a:00 3f5c625b622a62622d:5d622d:01
5b7f815b612d2d7f:5d:11 5b3f5c:5c:01 5b5e5a617a2d7a5a61:5e:01 5b615c2d:61:01
2a5b5e2d5e:612d3f5b625d3f:01 5b412a2a5b2a2a5a:61:11 3f5b2d625b5c2a2a2d:6162:11
41ff425b805e:ff415eff005c612a:00 3f2a5b41418000ff:2a2a61005b802d5e80:01
2a5b5b5e2a:3f7a61412a:11 3f5d5c5d:2a5e2a5c:10 2a5b5e:623fff005b5dffff:11
5d5c7f2d2d:5a615b81627f5c:00 5b615b2d2a5b5a7a5d2a:7a:11 2a5d2d2d5c5e613f3f:622a5e615b2a:00
2a2a5bfe2d62002a:800000:01 2d2d415e5e5e41415b2d5d:5b5b2d:10
625c5d5d3f5b623f2d5e5c:2d615d2a:10 fefe412a5c8062:ff5b:10 3f2a5b5b5e:5a5a41415b:01
2a5b5e:2a3f5b5d2d2d61:01 5b41:41:01 2a5b5efe:420080:11 2a2d5b5b:5b5b6161625e:10
612d5b41615a5e7a5d2d5b:5d41:00 5c5a7f615e5d815a2d5a:625c5a2d815d:10 625b5a61815b:6261:01
5e5b5c5e5d615e5b5b5b61:5c2a5d5e:10 5b5e3f5e2d61:5c:01 2a5b412a7a5a2d5d:3f5b617a5b:01
2a2a5b5c5d5c5e2a5b5e:2a3f5d5b5d5b5b2a:01 5e5b2a625d5d613f62:2a5c2a5d2d2a:00
2a3f5b5e2d615c2a5b:5c625b5e:01 2a5b5e:5c2a5b5e2a5b3f2a2a:11 2a5b4161005c5c2d41:feff00:01
625c3f5d5d2a:622d5c622d5e615c:10 2aff002a3ffe5c:5dff2a62613f3f:10 615b615d2d:62615e5e:00
5c615b625a7f5b815b:6162:01 2d2a7a5e5b612d2d:2d5b5e5a7a7a5e2d:01
622d2d5d5b5b3f5e5e3f:5c2d5c3f5b:00 7f5b5c5d5a:5c:00 5b7a415a5b3f2d7a612d3f:61:01
3f5d5b5d:5b5c5e3f622a5d:00 5a5a81812d7f5b5b815c:7f5c5c5d2d:00
3f5b5c2a2d2a5e2a2a5d2a:3f2d5d2d:11 5b815b7f81615e:61:01 2a5b6162613f615b:613f:01
5d7f5b5c2d:5c5b617f5b:00 2a5b80fe2d5c5e2d0000:622a415e61ff2d00:01
2a5b7a415b5e:415d2d5b5d2d61:11 5b2d7a412d:5d7a:10 2a5b3f2a2a5b5b625d3f:2a2a5b5d:01
2a5b2d5c3f5b:2a623f5b:01 5b3f3f2a62625b61:61:11 7a5a5b2a:2d41:10 5b62:62:11
5b2a61612d5e2a5a2a:5a:01 2a5b625e6262625d2a:3f5d5d5b5e5c5c:01
5c5d6262627f62625a5a:5e5e5d625b5b5b8161:10 2a5b2d5c00:41fe5b00:11
5b2a5b625d5c6162:3f625c2d3f:10 2a5b612d3f5b00425d:00425b61625e625b:11 5c2d:61:00
2d62425e00005b41802a5e:00803f5e5b00:00 5d2d5e5c5d5a5e5d5d5d:7f5d5b5c7f61617f5a:10
7f2d62615a5e5c:7f625c5a5d5e5d:10 5c5a5c:62615e5c:00 2a5b2d3f2a625e:625b5c5b61612d5e:11
5c5d2a2a2d5d5c5c613f:5e:00 3f5b622d2d:625e:01 41ff5c:4200622d002a5dfeff:00
5a5d5b7f5b5a:5c:00 5d612d5c5b615e7f5c5e:2d615b625e617f61:00 5b2d815e5d7f7f617f:5d5d5d5a61:10
5d2d815b:5d:00 2a5b00805c005e2dff:5c:01 5bfeff3f005c3f4200:00:11
7f5e615e5b5e5d:5a7f5a5e5c5c615b5e:10 62625c2d622d:5e5b5c612d817f617f:00
5d5e2d5c5d2a2a625d:2a:10 2a5b2a6162:2d61:01 5b42005c006141:42:11
5b5e5d7f5a5a617f:2d5b2d5d7f81:10 5e615a5a5b7a61:412a5e3f5a5e5a:00 2a5b2a2d61:625c5d5e:01
5b002d5d:5d:01 5b2d2d5e612d5d2d612d:5c:11 5b5b2a5a5e5e5e612a5d2d:612d2d:00
3f2d3f625e5c:5d3f2d5d3f5b5c:10 5b2a5a:5a:11 5a5b5b3f5b61:5b612a3f5e2d:10
5b5c5b5c7f5c81815e5d:5e:01 3f5b3f5c2a:5d3f:11 5e5c:5b2a:00 3f5c3f3f62:5b3f5b5e615c:10
625c5b5a5d7f:6281626162615d:00 5c615d812d:5d5b61:00 5b2a5b7a3f5b5e:5a:11 5b3f5e6262:5e:01
7a5e5b7a615b5b5d3f:617a2d5e415e613f:00 2d5b2a2d5c:2d2a:01
3f623f623f5b3f5d5c2a3f:2a5b5e2a5b:10 2a5b2a61:412a:11 3f5b5e3f:5b5c622d:10 5b5e81622d:5c:11
5c2d5e5c7f2d:62815e:00 805d00002d42806100425c:5e5e:10 5b5c2a615e5c5d2a:5d:11
62005c2a2d:2d5d00:10 5b5e5e2d5b3f5d2a:2d2a623f5c61:01
2a3f5b3f5c612d2a625c5e:5e5b2d3f3f2d5c2d:01 5b3f5e2d5b5b612a:5b5b2d623f5b2a5c:00
3f2a5b5e415a2a:613f7a:01 5b415a3f5d:3f:11 612a5b5c625c5c5c5b5b61:61615b5d3f2a615b5b:01
5e5b2d7f:2d615b5d7f81:00 5d2a5b5d:5a5b:00 2a5b622d5d615b2d2a6162:5e5b2a:01 5b3f61:61:11
5b5e5e62:fe:11 41ff618080425bfe62:00002d2d5e5eff:10 2a5b2d2d5b5d5d2d5b41:3f2a5a3f5d5b3f5b:10
2a5c625b5b5d:5d61625e625b:01 2a5b805e003f5e2afe5e:2d5e00:11 2a5d5c:5c2d:10
2a5b2d3f5e2d2a613f:3f5c2d5d2d:11 5b7a5d:5a:11 ff2a425b5e2a005e6261:61425e00:00
625e2a625b:5d62:10 3f7a3f5b3f7a2a2a:2a2a2a:10 5b62415c5e2a42fe5c42:62:11 5d615c:5c5b5b:00
5e5e5b2d5c2d2d5b5a:5a8162:10 5b5c5c6242615b6280:41:11 5c7f:7f:01
2a5b2d3f3f2d41416161:5d5b3f3f5a2d:01 62815c625a5d5a2d:7f7f615b5c5e5b5e:00
5b5a7f5b:7f5a5d625a2d5c7f:00 7f5b:5b815d5d6262627f:10 41805b5c00ff5d42:5c5e2d5cff3f:10
2a5b2a3f2a7a5e:3f7a612a:11 2a5c2a:615e5e5b622a:01 5b6161815d:5e:00
7a5b3f4141417a3f7a3f:5a:00 5c7f5e817f5b7f2d81:2d5e2d5e5e5d5b7f:10
2a5b62ff2d6200:415b3f615d00:01 2a5b625c5d:2a5d:11 616162fe5c5e412a00:002d625b62fe:10
fe5c5c3f5c61:5eff:00 5b615e:61:11 61615b2a3f:3f7a2a2d2d5e61:00
615e2d2d5b2d5d5b2d62:2d625e5e:10 2a3f5b5b3f412a5b5a2a2d:5b7a5d7a5e2a7a5a7a:11 5b5e5b5d:62:01
8042615c5d5d3f:5c614162fe5c005c5c:10 2a2a5b5e3f5e5a2a:5a5d412d2a5d7a:01
7a5b5a3f3f7a5b:7a5b:11 5b7a2d2a3f5d7a5b:2a2d2d5a2d61:10 5c:5c:01 612a5c:5e:10 5c:5c:01
5c5e5b5e5c623f2d612d62:2d2d5b3f:10 625c:425c:11 817f612d5e5c5b:815a:10
5b005e2a415bfe42005b:5b:01 2a5b5e5a:5e415e5e5a61:01 2a5b5c5b5c5b615e:612d5b2a2a612a615e:01
61fe5b003fff412a42:415e5b:10 2a5b00422a2a:615d0000:11 5b5e:fe:01 2a5b5b5a:7a:11
2a2a5b5a5a61413f5e2d5b:2a5b5b2a5d412a2a5e:11 615d5e5c5b62:7f5d7f617f:10 7f815b6262:7f7f5c:00
2a3f3f5b5a7a:5b413f:10 5d3f5b2d5a:5d2d2d:01 5e6100625b422a62fe005b:ff6242615c:10
5e2a5e5c5d625e5d3f2a2d:5c2d5b:10 5e615b7a5a:5d3f:10 5d7a5b5d:2a2a5e7a5d:10
413f5b5a:415e5b415d2a:10 625c7f61815d2d:625b5b7f2d5d:10
413f5a415a413f7a5b:5e2d61412a415a41:00
";

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn fixed_vectors() {
        for &(pat, text, nocase, want) in VECTORS {
            let got = glob_match(pat, text, nocase);
            assert_eq!(got, want, "pattern {pat:?} text {text:?} nocase {nocase}");
            assert_eq!(redis_ref(pat, text, nocase, &mut false, 0), want);
        }
    }

    #[test]
    fn random_vectors_from_c() {
        let mut n = 0;
        for case in RANDOM.split_whitespace() {
            let mut f = case.split(':');
            let (pat, text) = (unhex(f.next().unwrap()), unhex(f.next().unwrap()));
            let flags = f.next().unwrap().as_bytes();
            let (nocase, want) = (flags[0] == b'1', flags[1] == b'1');
            assert_eq!(glob_match(&pat, &text, nocase), want, "case {case}");
            n += 1;
        }
        assert_eq!(n, 200);
    }

    #[test]
    fn agrees_with_recursive_reference() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabets: [&[u8]; 3] = [b"ab*?[]^-\\", b"aAzZ*?[]^-\\\x80\xfe\xff\x00", b"a*?"];
        for _ in 0..100_000 {
            let alpha = alphabets[(next() % 3) as usize];
            let mut gen = |max: u64| -> Vec<u8> {
                let n = next() % max;
                (0..n)
                    .map(|_| alpha[(next() % alpha.len() as u64) as usize])
                    .collect()
            };
            let (pat, text) = (gen(12), gen(10));
            let nocase = next() % 2 == 0;
            let want = redis_ref(&pat, &text, nocase, &mut false, 0);
            assert_eq!(
                glob_match(&pat, &text, nocase),
                want,
                "{pat:?} {text:?} {nocase}"
            );
        }
    }

    #[test]
    fn nesting_limit_matches_redis() {
        let stars = |n: usize, tail: &str| "*a".repeat(n) + tail;
        let text = "a".repeat(3000);
        // (star groups before the tail, tail, expected) as checked against
        // the C original and a live redis-server 7.0.15.
        for (n, tail, want) in [
            (1000, "a", true),
            (1000, "*", true),
            (1000, "?", true),
            (1000, "*a", false),
            (1001, "a", false),
            (1001, "*", false),
            (999, "*a", true),
        ] {
            let pat = stars(n, tail);
            assert_eq!(
                glob_match(pat.as_bytes(), text.as_bytes(), false),
                want,
                "{n} {tail}"
            );
        }
        assert!(!exceeds_nesting_limit(stars(1000, "*").as_bytes()));
        assert!(exceeds_nesting_limit(stars(1001, "").as_bytes()));
    }

    #[test]
    fn pathological_patterns_finish() {
        let a = vec![b'a'; 20_000];
        assert!(!glob_match(b"a*a*a*a*a*a*a*a*b", &a, false));
        assert!(!glob_match(
            b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
            &a,
            true
        ));
        let many = "*a".repeat(900) + "b";
        assert!(!glob_match(many.as_bytes(), &a[..5_000], false));
        let classes = "*[a-b]".repeat(500) + "[^a]";
        assert!(!glob_match(classes.as_bytes(), &a[..5_000], false));
        let huge = "*".repeat(100_000) + "?";
        assert!(glob_match(huge.as_bytes(), &a, false));
        let deep = "*?".repeat(5_000) + "*";
        assert!(!glob_match(deep.as_bytes(), &a, false));
    }
}
