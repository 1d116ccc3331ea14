//! LCS: the longest common subsequence of two strings, as Redis 7.0's
//! `lcsCommand` computes it (the full dynamic-programming table, bounded
//! by `proto-max-bulk-len`, and the same walk back through it, so IDX
//! reports the same ranges in the same order).

use bytes::Bytes;
use store_api::Store;

use super::value::str_of;
use super::{is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`
#[derive(Debug)]
pub struct Lcs {
    a: Bytes,
    b: Bytes,
    opts: Vec<Bytes>,
}

fn parse_lcs(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Lcs(Lcs {
        a: a.bytes()?,
        b: a.bytes()?,
        opts: a.rest(),
    }))
}

/// Table rows.
pub const ROWS: &[Row] = &[("lcs", parse_lcs)];

/// Execute LCS.
pub fn execute<S: Store>(l: Lcs, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let read = |k: &[u8]| {
        ctx.ks()
            .read(k, ctx.now, |e| str_of(e).map(|s| s.map(|s| s.to_str())))
            .map_err(|_| CmdError::LcsNotStrings)
    };
    let (a, b) = (read(&l.a), read(&l.b));
    let (a, b) = (a?.unwrap_or_default(), b?.unwrap_or_default());
    let (mut idx, mut len, mut withlen, mut minlen) = (false, false, false, 0i64);
    let mut j = 0;
    while j < l.opts.len() {
        let o = &l.opts[j];
        if is(o, "IDX") {
            idx = true;
        } else if is(o, "LEN") {
            len = true;
        } else if is(o, "WITHMATCHLEN") {
            withlen = true;
        } else if is(o, "MINMATCHLEN") && j + 1 < l.opts.len() {
            minlen = parse_int(&l.opts[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if idx && len {
        return Err(CmdError::LcsIdxAndLen);
    }
    let (alen, blen) = (a.len(), b.len());
    if alen as u64 >= u64::from(u32::MAX) - 1 || blen as u64 >= u64::from(u32::MAX) - 1 {
        return Err(CmdError::LcsTooLong);
    }
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > ctx.config.proto_max_bulk_len {
        return Err(CmdError::LcsMemory);
    }
    let w = blen + 1;
    let mut t = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[alen * w + blen];
    if len && !idx {
        return Ok(Frame::Integer(i64::from(total)));
    }
    // Walk back from the end, as Redis does, collecting the string and
    // the matching ranges.
    let mut result = vec![0u8; total as usize];
    let mut n = total as usize;
    let mut ranges = Vec::new();
    let (mut i, mut j) = (alen, blen);
    // `alen` as a start means "no range open".
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[n - 1] = a[i - 1];
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            n -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            // A range is open whenever one is emitted.
            let match_len = (a_end - a_start + 1) as i64;
            if minlen == 0 || match_len >= minlen {
                let pair = |x: usize, y: usize| {
                    Frame::Array(vec![Frame::Integer(x as i64), Frame::Integer(y as i64)])
                };
                let mut r = vec![pair(a_start, a_end), pair(b_start, b_end)];
                if withlen {
                    r.push(Frame::Integer(match_len));
                }
                ranges.push(Frame::Array(r));
            }
            a_start = alen;
        }
    }
    if idx {
        return Ok(Frame::Map(vec![
            (Frame::bulk("matches"), Frame::Array(ranges)),
            (Frame::bulk("len"), Frame::Integer(i64::from(total))),
        ]));
    }
    Ok(Frame::Bulk(Bytes::from(result)))
}
