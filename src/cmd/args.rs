//! `Args`: a cursor over a command's arguments with typed getters.
//!
//! Parse functions pull arguments in order; optional trailing arguments are
//! read with [`Args::next`] returning `None` at the end. The arity check has
//! already run (in `table`), so the mandatory arguments are there.

use bytes::Bytes;

use super::CmdError;
use crate::util::numbers::string2ll;

/// The arguments after the command name (and subcommand name).
///
/// A cursor over the request's argument vector, which the executor keeps
/// (MONITOR and SLOWLOG show it after the command ran): each argument
/// taken is a clone of the shared buffer's handle (a reference count, no
/// copy), so parsing allocates nothing but what `rest` returns.
#[derive(Debug)]
pub struct Args<'a> {
    argv: &'a [Bytes],
    /// Index of the next argument.
    pos: usize,
    /// Words of the name at the front of `argv`.
    skip: usize,
}

impl<'a> Args<'a> {
    /// A cursor over `argv`.
    pub fn new(argv: &'a [Bytes]) -> Args<'a> {
        Args::after_name(argv, 0)
    }

    /// A cursor over `argv` after its first `skip` words (the name).
    pub fn after_name(argv: &'a [Bytes], skip: usize) -> Args<'a> {
        let skip = skip.min(argv.len());
        Args {
            argv,
            pos: skip,
            skip,
        }
    }

    /// The last word of the command name as typed (the subcommand for
    /// CLIENT KILL, the command otherwise): Redis echoes it in some errors.
    pub fn typed_name(&self) -> Bytes {
        self.skip
            .checked_sub(1)
            .map(|i| self.argv[i].clone())
            .unwrap_or_default()
    }

    /// The next argument, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Bytes> {
        let arg = self.argv.get(self.pos)?;
        self.pos += 1;
        Some(arg.clone())
    }

    /// The next argument; a syntax error when there is none.
    pub fn bytes(&mut self) -> Result<Bytes, CmdError> {
        match self.next() {
            Some(b) => Ok(b),
            None => Err(CmdError::Syntax),
        }
    }

    /// The next argument as a strict 64-bit integer (Redis's `string2ll`).
    pub fn int(&mut self) -> Result<i64, CmdError> {
        parse_int(&self.bytes()?)
    }

    /// Number of arguments left.
    pub fn remaining(&self) -> usize {
        self.argv.len() - self.pos
    }

    /// True when every argument has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Everything left, in order.
    pub fn rest(self) -> Vec<Bytes> {
        self.argv[self.pos..].to_vec()
    }

    /// Fail with a syntax error unless every argument has been read.
    pub fn finish(&self) -> Result<(), CmdError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CmdError::Syntax)
        }
    }
}

/// Parse a strict 64-bit integer argument.
pub fn parse_int(b: &[u8]) -> Result<i64, CmdError> {
    match string2ll(b) {
        Some(n) => Ok(n),
        None => Err(CmdError::NotInteger),
    }
}

/// Parse an argument Redis reads as a C `int` (`getIntFromObjectOrReply`):
/// not an integer and out of the 32-bit range are different errors.
pub fn parse_int32(b: &[u8]) -> Result<i32, CmdError> {
    i32::try_from(parse_int(b)?).map_err(|_| CmdError::IntOutOfRange)
}

/// A blocking command's timeout in seconds (fractions allowed, 0 = wait
/// forever) as Redis's `getTimeoutFromObjectOrReply` reads it: a long
/// double, times 1000, truncated to an integer the way x86 converts (an
/// out-of-range value becomes `i64::MIN`, hence "negative").
pub fn parse_timeout(b: &[u8]) -> Result<u64, CmdError> {
    let secs = crate::util::longdouble::parse(b).ok_or(CmdError::TimeoutNotFloat)?;
    let ms = secs.to_f64() * 1000.0;
    let ms = if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ms) {
        ms as i64
    } else {
        i64::MIN
    };
    u64::try_from(ms).map_err(|_| CmdError::TimeoutNegative)
}

/// Case-insensitive comparison with an ASCII keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn typed_getters_follow_redis_rules() {
        let v = argv(&["12", "-0", "x"]);
        let mut a = Args::new(&v);
        assert_eq!(a.int(), Ok(12));
        assert_eq!(a.int(), Err(CmdError::NotInteger));
        assert_eq!(a.remaining(), 1);
        assert!(a.finish().is_err());
        assert_eq!(a.bytes().as_deref(), Ok(&b"x"[..]));
        assert_eq!(a.bytes(), Err(CmdError::Syntax));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn name_words_are_skipped_and_kept() {
        let v = argv(&["CLIENT", "Kill", "a", "b"]);
        let mut a = Args::after_name(&v, 2);
        assert_eq!(&a.typed_name()[..], b"Kill");
        assert_eq!(a.remaining(), 2);
        assert_eq!(a.bytes().as_deref(), Ok(&b"a"[..]));
        assert_eq!(a.rest(), vec![Bytes::from_static(b"b")]);
    }

    #[test]
    fn timeouts_follow_redis() {
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"0.5"), Ok(500));
        assert_eq!(parse_timeout(b"1.0019"), Ok(1001));
        assert_eq!(parse_timeout(b"0x10"), Ok(16_000));
        assert_eq!(parse_timeout(b"-1"), Err(CmdError::TimeoutNegative));
        assert_eq!(parse_timeout(b"1e400"), Err(CmdError::TimeoutNegative));
        assert_eq!(parse_timeout(b"inf"), Err(CmdError::TimeoutNegative));
        assert_eq!(parse_timeout(b"abc"), Err(CmdError::TimeoutNotFloat));
    }

    #[test]
    fn keywords_match_case_insensitively() {
        assert!(is(b"nX", "NX"));
        assert!(!is(b"nxx", "NX"));
    }
}
