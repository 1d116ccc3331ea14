//! Score, lex and rank ranges, parsed as Redis's `zslParseRange`,
//! `zslParseLexRange` and the rank arithmetic of `zrangeGenericCommand`,
//! and turned into runs of ranks (`start..end`) over a sorted set.

use std::ops::Range;

use store_api::value::ZSet;

use crate::cmd::CmdError;
use crate::util::numbers::strtod;

/// A bound on scores: `(x` is exclusive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    /// The score.
    pub value: f64,
    /// `(` given.
    pub exclusive: bool,
}

/// A bound on members: `-`, `+`, `[x`, `(x`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below everything.
    Min,
    /// `+`: above everything.
    Max,
    /// `[x` / `(x`.
    At(Vec<u8>, bool),
}

/// Which elements a range command selects.
#[derive(Clone, Debug, PartialEq)]
pub enum Span {
    /// Ranks, negative from the end.
    Rank(i64, i64),
    /// Scores from `min` to `max`.
    Score(ScoreBound, ScoreBound),
    /// Members from `min` to `max` (all scores equal).
    Lex(LexBound, LexBound),
}

fn score_bound(b: &[u8]) -> Option<ScoreBound> {
    let (text, exclusive) = match b.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (b, false),
    };
    match strtod(text) {
        Some((v, _)) if !v.is_nan() => Some(ScoreBound {
            value: v,
            exclusive,
        }),
        _ => None,
    }
}

/// `min max` of a score range, or "min or max is not a float".
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<Span, CmdError> {
    match (score_bound(min), score_bound(max)) {
        (Some(a), Some(b)) => Ok(Span::Score(a, b)),
        _ => Err(CmdError::MinMaxNotFloat),
    }
}

fn lex_bound(b: &[u8]) -> Option<LexBound> {
    match b {
        b"+" => Some(LexBound::Max),
        b"-" => Some(LexBound::Min),
        [b'(', rest @ ..] => Some(LexBound::At(rest.to_vec(), true)),
        [b'[', rest @ ..] => Some(LexBound::At(rest.to_vec(), false)),
        _ => None,
    }
}

/// `min max` of a lex range, or "min or max not valid string range item".
pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<Span, CmdError> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(a), Some(b)) => Ok(Span::Lex(a, b)),
        _ => Err(CmdError::MinMaxNotLex),
    }
}

/// Is `m` below the lower bound `min`?
fn lex_below(m: &[u8], min: &LexBound) -> bool {
    match min {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::At(x, excl) => {
            if *excl {
                m <= &x[..]
            } else {
                m < &x[..]
            }
        }
    }
}

/// Is `m` at or below the upper bound `max`?
fn lex_within(m: &[u8], max: &LexBound) -> bool {
    match max {
        LexBound::Min => false,
        LexBound::Max => true,
        LexBound::At(x, excl) => {
            if *excl {
                m < &x[..]
            } else {
                m <= &x[..]
            }
        }
    }
}

/// The ranks a score or lex span covers in `z` (ascending), O(log n).
pub fn ranks(z: &ZSet, span: &Span) -> Range<usize> {
    let (lo, hi) = match span {
        Span::Rank(start, end) => return rank_range(z.len(), *start, *end),
        Span::Score(min, max) => {
            if min.value > max.value || (min.value == max.value && (min.exclusive || max.exclusive))
            {
                return 0..0;
            }
            let lo = z.count_while(|s, _| {
                if min.exclusive {
                    s <= min.value
                } else {
                    s < min.value
                }
            });
            let hi = z.count_while(|s, _| {
                if max.exclusive {
                    s < max.value
                } else {
                    s <= max.value
                }
            });
            (lo, hi)
        }
        Span::Lex(min, max) => {
            let lo = z.count_while(|_, m| lex_below(m, min));
            let hi = z.count_while(|_, m| lex_within(m, max));
            (lo, hi)
        }
    };
    lo..hi.max(lo)
}

/// Redis's rank arithmetic: negative indexes count from the end, then
/// clamp; an empty run when start > end or start is past the end.
pub fn rank_range(len: usize, start: i64, end: i64) -> Range<usize> {
    let len = len as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end };
    if start > end || start >= len {
        return 0..0;
    }
    start as usize..(end.min(len - 1) + 1) as usize
}

/// The ranks of a LIMIT window over `run` (`offset < 0` selects nothing,
/// `count < 0` everything after the offset), from the top when `rev`.
pub fn window(run: Range<usize>, offset: i64, count: i64, rev: bool) -> Range<usize> {
    let n = run.len();
    if offset < 0 {
        return 0..0;
    }
    let skip = usize::try_from(offset).unwrap_or(usize::MAX).min(n);
    let take = if count < 0 {
        n - skip
    } else {
        usize::try_from(count).unwrap_or(usize::MAX).min(n - skip)
    };
    if rev {
        run.end - skip - take..run.end - skip
    } else {
        run.start + skip..run.start + skip + take
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_api::value::ZLimits;

    fn zset(items: &[(f64, &str)]) -> ZSet {
        let mut z = ZSet::default();
        for (s, m) in items {
            z.insert(m.as_bytes(), *s, ZLimits::default());
        }
        z
    }

    #[test]
    fn score_and_lex_spans_map_to_ranks() {
        let z = zset(&[(1.0, "a"), (2.0, "b"), (2.0, "c"), (3.0, "d")]);
        let span = parse_score_range(b"(1", b"2").unwrap();
        assert_eq!(ranks(&z, &span), 1..3);
        let span = parse_score_range(b"-inf", b"(2").unwrap();
        assert_eq!(ranks(&z, &span), 0..1);
        let span = parse_score_range(b"3", b"1").unwrap();
        assert_eq!(ranks(&z, &span), 0..0);
        assert_eq!(parse_score_range(b"x", b"1"), Err(CmdError::MinMaxNotFloat));
        assert_eq!(
            parse_score_range(b"nan", b"1"),
            Err(CmdError::MinMaxNotFloat)
        );
        let flat = zset(&[(0.0, "a"), (0.0, "b"), (0.0, "c")]);
        let span = parse_lex_range(b"(a", b"+").unwrap();
        assert_eq!(ranks(&flat, &span), 1..3);
        let span = parse_lex_range(b"-", b"[b").unwrap();
        assert_eq!(ranks(&flat, &span), 0..2);
        assert_eq!(parse_lex_range(b"a", b"+"), Err(CmdError::MinMaxNotLex));
    }

    #[test]
    fn rank_arithmetic_and_limit_windows() {
        assert_eq!(rank_range(5, 0, -1), 0..5);
        assert_eq!(rank_range(5, -2, 100), 3..5);
        assert_eq!(rank_range(5, 3, 1), 0..0);
        assert_eq!(rank_range(5, 5, 9), 0..0);
        assert_eq!(rank_range(0, 0, -1), 0..0);
        assert_eq!(window(2..10, 1, 3, false), 3..6);
        assert_eq!(window(2..10, 1, 3, true), 6..9);
        assert_eq!(window(2..10, 0, -1, false), 2..10);
        assert_eq!(window(2..10, -1, 3, false), 0..0);
        assert_eq!(window(2..10, 20, 3, true).len(), 0);
    }
}
