//! Splitting an inline request line into arguments, as Redis's
//! `sdssplitargs` does.
//!
//! Blanks separate arguments. `"..."` quotes understand `\xHH`, `\n`, `\r`,
//! `\t`, `\b`, `\a` and `\<any>`; `'...'` quotes understand only `\'`. A
//! closing quote must be followed by a blank or the end of the line, and an
//! unterminated quote is an error. Quotes may start in the middle of an
//! argument (`a"b c"` is one argument, `ab c`).

use bytes::Bytes;

/// `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Split `line` into arguments; `None` on unbalanced quotes.
///
/// The line holds no NUL (the decoder never completes such a line), so the
/// C code's end-of-string checks become end-of-slice checks here.
pub fn split_inline(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p == line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let next = read_token(line, p, &mut current)?;
        // Every argument takes at least one byte; a token reader that
        // stops advancing would fill memory with empty arguments.
        debug_assert!(next > p, "read_token did not advance");
        p = next;
        args.push(Bytes::from(current));
        // And so no line has more arguments than bytes: a position that
        // steps back (mutation sample, shard 1/3: the blank-skipping
        // `p += 1` made `-= 1`) re-reads a byte as a new argument forever,
        // and in a test without a watchdog only the run's timeout caught it.
        debug_assert!(args.len() <= line.len(), "more arguments than bytes");
    }
}

/// Read one argument starting at `p` into `out`; returns the position after
/// it.
fn read_token(line: &[u8], mut p: usize, out: &mut Vec<u8>) -> Option<usize> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Double,
        Single,
    }
    let at = |i: usize| line.get(i).copied();
    let mut quote = Quote::None;
    loop {
        let c = at(p);
        match quote {
            Quote::Double => match c {
                None => return None,
                Some(b'\\') if at(p + 1) == Some(b'x') => {
                    match (at(p + 2).and_then(hex_value), at(p + 3).and_then(hex_value)) {
                        (Some(h), Some(l)) => {
                            out.push(h * 16 + l);
                            p += 3;
                        }
                        _ => {
                            // `\x` without two hex digits: the generic escape.
                            out.push(b'x');
                            p += 1;
                        }
                    }
                }
                Some(b'\\') if at(p + 1).is_some() => {
                    p += 1;
                    out.push(match line[p] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                }
                Some(b'"') => return close_quote(line, p),
                Some(other) => out.push(other),
            },
            Quote::Single => match c {
                None => return None,
                Some(b'\\') if at(p + 1) == Some(b'\'') => {
                    p += 1;
                    out.push(b'\'');
                }
                Some(b'\'') => return close_quote(line, p),
                Some(other) => out.push(other),
            },
            Quote::None => match c {
                None | Some(b' ' | b'\n' | b'\r' | b'\t') => return Some(p),
                Some(b'"') => quote = Quote::Double,
                Some(b'\'') => quote = Quote::Single,
                Some(other) => out.push(other),
            },
        }
        // A token is never longer than its line: a reader that stops
        // advancing fails here (debug builds) instead of filling memory.
        debug_assert!(out.len() <= line.len(), "a token longer than its line");
        p += 1;
    }
}

/// A closing quote at `p` must be followed by a blank or the end.
fn close_quote(line: &[u8], p: usize) -> Option<usize> {
    match line.get(p + 1) {
        Some(&b) if !is_space(b) => None,
        Some(_) => Some(p + 1),
        None => Some(p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `split_inline` under the watchdog: a splitter that loops (a
    /// mutant that never advances) aborts the tests instead of hanging them.
    fn split(s: &[u8]) -> Option<Vec<Vec<u8>>> {
        let s = s.to_vec();
        super::super::watchdog::watched(move || {
            split_inline(&s).map(|v| v.into_iter().map(|b| b.to_vec()).collect())
        })
    }

    #[test]
    fn blanks_separate_arguments() {
        assert_eq!(
            split(b"  set  a\tb "),
            Some(vec![b"set".to_vec(), b"a".to_vec(), b"b".to_vec()])
        );
        assert_eq!(split(b""), Some(vec![]));
        assert_eq!(split(b" \t "), Some(vec![]));
    }

    #[test]
    fn double_quotes_unescape() {
        assert_eq!(
            split(br#"echo "\x41\n""#),
            Some(vec![b"echo".to_vec(), b"A\n".to_vec()])
        );
        assert_eq!(split(br#""a\r\x4g""#), Some(vec![b"a\rx4g".to_vec()]));
        assert_eq!(split(br#""""#), Some(vec![b"".to_vec()]));
        assert_eq!(split(br#"a"b c""#), Some(vec![b"ab c".to_vec()]));
    }

    #[test]
    fn single_quotes_only_escape_quotes() {
        assert_eq!(split(br"'\x41'"), Some(vec![br"\x41".to_vec()]));
        assert_eq!(split(br"'a\'b'"), Some(vec![b"a'b".to_vec()]));
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        assert_eq!(split(br#""abc"#), None);
        assert_eq!(split(br#""a"b"#), None);
        assert_eq!(split(br"'a'b"), None);
        assert_eq!(split(br#""a\"#), None);
    }
}
