//! The cursor and options of SCAN, HSCAN, SSCAN and ZSCAN, parsed the way
//! Redis's `scanGenericCommand` parses them.
//!
//! The cursor is read when the command is parsed; the options only after
//! the key was found (a missing key answers an empty scan whatever the
//! options say, as in Redis), so the collection scans keep them raw.

use bytes::Bytes;

use super::{is, parse_int, CmdError};
use crate::protocol::Frame;
use crate::util::glob::glob_match;

/// COUNT when none is given.
pub const DEFAULT_COUNT: usize = 10;

/// Redis reads the cursor with `strtoull`: an optional sign (a minus
/// wraps), decimal digits, nothing else; an empty string is 0.
pub fn parse_cursor(b: &[u8]) -> Result<u64, CmdError> {
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, b),
    };
    if b.first().is_some_and(|c| c.is_ascii_whitespace()) || !digits.iter().all(u8::is_ascii_digit)
    {
        return Err(CmdError::InvalidCursor);
    }
    let mut v: u64 = 0;
    for d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(CmdError::InvalidCursor)?;
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

/// MATCH, COUNT and (SCAN only) TYPE.
#[derive(Debug, Default)]
pub struct ScanOpts {
    /// MATCH pattern (`*` is dropped: it matches everything).
    pub pattern: Option<Bytes>,
    /// COUNT hint.
    pub count: usize,
    /// TYPE filter (SCAN only).
    pub type_name: Option<Bytes>,
}

impl ScanOpts {
    /// Parse `opts`; `allow_type` for the keyspace SCAN.
    pub fn parse(opts: &[Bytes], allow_type: bool) -> Result<ScanOpts, CmdError> {
        let mut out = ScanOpts {
            count: DEFAULT_COUNT,
            ..ScanOpts::default()
        };
        let mut it = opts.iter();
        while let Some(opt) = it.next() {
            let Some(value) = it.next() else {
                return Err(CmdError::Syntax);
            };
            if is(opt, "COUNT") {
                let n = parse_int(value)?;
                out.count = usize::try_from(n)
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or(CmdError::Syntax)?;
            } else if is(opt, "MATCH") {
                out.pattern = Some(value.clone()).filter(|p| &p[..] != b"*");
            } else if allow_type && is(opt, "TYPE") {
                out.type_name = Some(value.clone());
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(out)
    }

    /// Does `item` pass MATCH?
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|p| glob_match(p, item, false))
    }
}

/// A scan reply: `[cursor, [items...]]`.
pub fn reply(next: u64, items: Vec<Frame>) -> Frame {
    let cursor = Bytes::copy_from_slice(itoa::Buffer::new().format(next).as_bytes());
    Frame::Array(vec![Frame::Bulk(cursor), Frame::Array(items)])
}
