//! Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO, transliterated from Redis 7.0's `bitops.c`
//! (bit 0 is the most significant bit of the first byte; a missing key is
//! an endless run of zero bits; offsets stop at `proto-max-bulk-len`).
//!
//! A bitmap is an ordinary string value, so GET, SETRANGE and APPEND see
//! the same bytes. Writes go through `value::edit_str`: a bitmap of 4 KiB
//! or more is edited in place under its lock, so SETBIT costs O(1) as in
//! Redis; a shorter one is copied and replaced.

mod field;

use bytes::Bytes;
use store_api::value::grow_zeroed;
use store_api::{Entry, Store, Str, Value};

use super::value::{edit_str, str_of, Created};
use super::{is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::db::events::class;
use crate::protocol::Frame;
use store_api::num::string2ll;

/// Bitmap commands.
#[derive(Debug)]
pub enum Cmd {
    /// `SETBIT key offset value` (checked in execute, against the live
    /// `proto-max-bulk-len`, offset first).
    SetBit(Bytes, Bytes, Bytes),
    /// `GETBIT key offset`
    GetBit(Bytes, Bytes),
    /// `BITCOUNT key [start end [BYTE|BIT]]` (arguments checked after the
    /// key's lookup, as Redis does).
    Count(Bytes, Vec<Bytes>),
    /// `BITPOS key bit [start [end [BYTE|BIT]]]`
    Pos(Bytes, bool, Vec<Bytes>),
    /// `BITOP op dest key [key ...]`
    Op(BitOp, Bytes, Vec<Bytes>),
    /// `BITFIELD key ...` / `BITFIELD_RO key GET ...`.
    Field(Bytes, Vec<field::FieldOp>, bool),
}

/// BITOP's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    /// AND
    And,
    /// OR
    Or,
    /// XOR
    Xor,
    /// NOT
    Not,
}

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Bits(c))
}

/// `getBitOffsetFromArgument`: a bit offset (`#n` means n * `bits` when
/// `hash`), below `proto-max-bulk-len` bytes.
pub(super) fn bit_offset(b: &[u8], hash: bool, bits: u32, max_bytes: u64) -> Result<u64, CmdError> {
    let (digits, scaled) = match b.strip_prefix(b"#") {
        Some(rest) if hash => (rest, true),
        _ => (b, false),
    };
    let mut n = string2ll(digits).ok_or(CmdError::BitOffset)?;
    if scaled {
        n = n.wrapping_mul(i64::from(bits));
    }
    match u64::try_from(n) {
        Ok(n) if (n >> 3) < max_bytes => Ok(n),
        _ => Err(CmdError::BitOffset),
    }
}

fn parse_setbit(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::SetBit(a.bytes()?, a.bytes()?, a.bytes()?))
}

fn parse_getbit(mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::GetBit(a.bytes()?, a.bytes()?))
}

fn parse_bitcount(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    cmd(Cmd::Count(key, a.rest()))
}

fn parse_bitpos(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let bit = match parse_int(&a.bytes()?)? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::BitArgument),
    };
    cmd(Cmd::Pos(key, bit, a.rest()))
}

fn parse_bitop(mut a: Args<'_>) -> Result<Command, CmdError> {
    let name = a.bytes()?;
    let op = if is(&name, "AND") {
        BitOp::And
    } else if is(&name, "OR") {
        BitOp::Or
    } else if is(&name, "XOR") {
        BitOp::Xor
    } else if is(&name, "NOT") {
        BitOp::Not
    } else {
        return Err(CmdError::Syntax);
    };
    let dst = a.bytes()?;
    let keys = a.rest();
    if op == BitOp::Not && keys.len() != 1 {
        return Err(CmdError::BitopNot);
    }
    cmd(Cmd::Op(op, dst, keys))
}

fn parse_bitfield(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let ops = field::field_ops(&a.rest())?;
    cmd(Cmd::Field(key, ops, false))
}

fn parse_bitfield_ro(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let ops = field::field_ops(&a.rest())?;
    cmd(Cmd::Field(key, ops, true))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("setbit", parse_setbit),
    ("getbit", parse_getbit),
    ("bitcount", parse_bitcount),
    ("bitpos", parse_bitpos),
    ("bitop", parse_bitop),
    ("bitfield", parse_bitfield),
    ("bitfield_ro", parse_bitfield_ro),
];

pub(super) fn get_bit(s: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    s.get(byte)
        .is_some_and(|b| b >> (7 - (offset & 7)) & 1 == 1)
}

/// Execute a bitmap command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let max_bytes = ctx.config.proto_max_bulk_len;
    match cmd {
        Cmd::SetBit(key, offset, value) => {
            let offset = bit_offset(&offset, false, 0, max_bytes)?;
            let on = match parse_int(&value) {
                Ok(0) => false,
                Ok(1) => true,
                _ => return Err(CmdError::BitValue),
            };
            let (old, changed) =
                edit_str(&ctx.ks(), &key, ctx.now, Created::Raw, |buf, exists| {
                    let byte = (offset >> 3) as usize;
                    let old = get_bit(buf, offset);
                    let grows = !exists || buf.len() <= byte;
                    if !grows && old == on {
                        return Ok(((old, false), false));
                    }
                    grow_zeroed(buf, byte + 1, exists);
                    field::set_unsigned(buf, offset, 1, u64::from(on));
                    Ok(((old, true), true))
                })?;
            if changed {
                ctx.notify(class::STRING, "setbit", &key);
            }
            Ok(Frame::Integer(i64::from(old)))
        }
        Cmd::GetBit(key, offset) => {
            let offset = bit_offset(&offset, false, 0, max_bytes)?;
            ctx.ks().read(&key, ctx.now, |e| {
                Ok(Frame::Integer(i64::from(
                    str_of(e)?.is_some_and(|s| get_bit(&s, offset)),
                )))
            })
        }
        // Counted and searched under the read (an edited bitmap is not
        // copied out first: BITCOUNT of a small range costs the range).
        Cmd::Count(key, args) => ctx.ks().read(&key, ctx.now, |e| match str_of(e)? {
            None => Ok(Frame::Integer(0)),
            Some(s) => bitcount(&s, &args),
        }),
        Cmd::Pos(key, bit, args) => ctx.ks().read(&key, ctx.now, |e| match str_of(e)? {
            None => Ok(Frame::Integer(if bit { -1 } else { 0 })),
            Some(s) => bitpos(&s, bit, &args),
        }),
        Cmd::Op(op, dst, keys) => bitop(ctx, op, &dst, &keys),
        Cmd::Field(key, ops, read_only) => field::bitfield(ctx, &key, &ops, read_only),
    }
}

/// Popcount of `s[start..=end]` with the edge masks of a BIT range.
fn bitcount(s: &[u8], args: &[Bytes]) -> Result<Frame, CmdError> {
    let (mut start, mut end) = match args.len() {
        0 => (0, s.len() as i64 - 1),
        2 | 3 => (parse_int(&args[0])?, parse_int(&args[1])?),
        _ => return Err(CmdError::Syntax),
    };
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if !args.is_empty() {
        if start < 0 && end < 0 && start > end {
            return Ok(Frame::Integer(0));
        }
        let isbit = match args.get(2) {
            None => false,
            Some(u) if is(u, "BIT") => true,
            Some(u) if is(u, "BYTE") => false,
            Some(_) => return Err(CmdError::Syntax),
        };
        (start, end, first_mask, last_mask) = clamp(s.len() as i64, start, end, isbit);
    }
    if start > end {
        return Ok(Frame::Integer(0));
    }
    let bytes = &s[start as usize..=end as usize];
    let mut count: i64 = bytes.iter().map(|b| i64::from(b.count_ones())).sum();
    count -= i64::from((bytes[0] & first_mask).count_ones());
    count -= i64::from((bytes[bytes.len() - 1] & last_mask).count_ones());
    Ok(Frame::Integer(count))
}

/// Redis's index arithmetic for BITCOUNT and BITPOS ranges: byte indexes
/// and the masks of bits outside a BIT range in the first and last byte.
fn clamp(len: i64, mut start: i64, mut end: i64, isbit: bool) -> (i64, i64, u8, u8) {
    let total = if isbit { len << 3 } else { len };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    let (mut fm, mut lm) = (0u8, 0u8);
    if isbit && start <= end {
        fm = !((1u16 << (8 - (start & 7))) - 1) as u8;
        lm = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    (start, end, fm, lm)
}

/// `redisBitpos`: the first `bit` in `bytes`; not found: -1 for a one,
/// the bit just past the end for a zero.
fn first_bit(bytes: &[u8], bit: bool) -> i64 {
    for (i, &b) in bytes.iter().enumerate() {
        let v = if bit { b } else { !b };
        if v != 0 {
            return i as i64 * 8 + i64::from(v.leading_zeros());
        }
    }
    if bit {
        -1
    } else {
        bytes.len() as i64 * 8
    }
}

/// BITPOS, as `bitposCommand` (its edge cases included).
fn bitpos(s: &[u8], bit: bool, args: &[Bytes]) -> Result<Frame, CmdError> {
    let len = s.len() as i64;
    let (mut start, mut end);
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    let end_given = args.len() >= 2;
    match args.len() {
        0 => {
            start = 0;
            end = len - 1;
        }
        1..=3 => {
            start = parse_int(&args[0])?;
            let isbit = match args.get(2) {
                None => false,
                Some(u) if is(u, "BIT") => true,
                Some(u) if is(u, "BYTE") => false,
                Some(_) => return Err(CmdError::Syntax),
            };
            end = match args.get(1) {
                Some(e) => parse_int(e)?,
                None => len - 1,
            };
            (start, end, first_mask, last_mask) = clamp(len, start, end, isbit);
        }
        _ => return Err(CmdError::Syntax),
    }
    if start > end {
        return Ok(Frame::Integer(-1));
    }
    let mut bytes = end - start + 1;
    let pick = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let pos = 'found: {
        if first_mask != 0 {
            let mut c = pick(s[start as usize], first_mask);
            if last_mask != 0 && bytes == 1 {
                c = pick(c, last_mask);
            }
            let pos = first_bit(&[c], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'found pos;
            }
            start += 1;
            bytes -= 1;
        }
        let cur = bytes - i64::from(last_mask != 0);
        if cur > 0 {
            let pos = first_bit(&s[start as usize..(start + cur) as usize], bit);
            if bytes == cur || (pos != -1 && pos != cur << 3) {
                break 'found pos;
            }
            start += cur;
            bytes -= cur;
        }
        first_bit(&[pick(s[end as usize], last_mask)], bit)
    };
    if end_given && !bit && pos == bytes << 3 {
        return Ok(Frame::Integer(-1));
    }
    Ok(Frame::Integer(if pos != -1 {
        pos + (start << 3)
    } else {
        pos
    }))
}

/// BITOP: the result replaces `dst` (without TTL), or deletes it when
/// every source is empty.
fn bitop<S: Store>(
    ctx: &mut Ctx<'_, S>,
    op: BitOp,
    dst: &[u8],
    keys: &[Bytes],
) -> Result<Frame, CmdError> {
    let (ks, now) = (ctx.ks(), ctx.now);
    let guard = ks.lock_keys(keys.iter().map(|k| &k[..]).chain([dst]));
    let mut srcs = Vec::with_capacity(keys.len());
    for k in keys {
        srcs.push(ks.read_locked(&guard, k, now, |e| str_of(e).map(|s| s.map(|s| s.to_str())))?);
    }
    let maxlen = srcs.iter().flatten().map(|s| s.len()).max().unwrap_or(0);
    let byte = |s: &Option<Str>, j: usize| s.as_ref().and_then(|s| s.get(j).copied()).unwrap_or(0);
    let existed = if maxlen > 0 {
        let mut out = vec![0u8; maxlen];
        for (j, o) in out.iter_mut().enumerate() {
            let mut v = byte(&srcs[0], j);
            if op == BitOp::Not {
                v = !v;
            }
            for s in &srcs[1..] {
                let b = byte(s, j);
                match op {
                    BitOp::And => v &= b,
                    BitOp::Or => v |= b,
                    BitOp::Xor => v ^= b,
                    BitOp::Not => {}
                }
            }
            *o = v;
        }
        let entry = Entry::new(Value::Str(Str::raw(&out)), None);
        ks.mutate_locked(&guard, dst, now, |slot| {
            slot.put(entry);
            true
        })
    } else {
        ks.mutate_locked(&guard, dst, now, |slot| {
            let existed = slot.entry().is_some();
            slot.remove();
            existed
        })
    };
    drop(guard);
    if maxlen > 0 {
        ctx.notify(class::STRING, "set", dst);
    } else if existed {
        ctx.notify(class::GENERIC, "del", dst);
    }
    Ok(Frame::Integer(maxlen as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bits_follow_redis_bitpos() {
        assert_eq!(first_bit(&[0, 0x10], true), 11);
        assert_eq!(first_bit(&[0xff], false), 8);
        assert_eq!(first_bit(&[0xff], true), 0);
        assert_eq!(first_bit(&[0, 0], true), -1);
    }

    fn count(s: &[u8], args: &[&str]) -> Result<Frame, CmdError> {
        let args: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        bitcount(s, &args)
    }

    /// BITCOUNT over "foobar" as Redis 7.0.15 answers it.
    #[test]
    fn bitcount_ranges_follow_redis() {
        let s = b"foobar";
        assert_eq!(count(s, &[]), Ok(Frame::Integer(26)));
        assert_eq!(count(s, &["0", "0"]), Ok(Frame::Integer(4)));
        assert_eq!(count(s, &["1", "1"]), Ok(Frame::Integer(6)));
        assert_eq!(count(s, &["1", "1", "BYTE"]), Ok(Frame::Integer(6)));
        assert_eq!(count(s, &["5", "30", "BIT"]), Ok(Frame::Integer(17)));
        assert_eq!(count(s, &["-2", "-1", "BIT"]), Ok(Frame::Integer(1)));
        assert_eq!(count(s, &["-1", "-2"]), Ok(Frame::Integer(0)));
        assert_eq!(count(s, &["0"]), Err(CmdError::Syntax));
        assert_eq!(count(s, &["0", "1", "BITS"]), Err(CmdError::Syntax));
    }

    #[test]
    fn bit_ranges_clamp_and_mask_as_redis_does() {
        // Bits 5..=30 of 6 bytes: bytes 0..=3, the first five bits of
        // byte 0 and the last bit of byte 3 masked out.
        assert_eq!(clamp(6, 5, 30, true), (0, 3, 0b1111_1000, 0b0000_0001));
        assert_eq!(clamp(6, -100, 100, false), (0, 5, 0, 0));
        assert_eq!(clamp(6, 40, 47, true), (5, 5, 0, 0));
    }
}
