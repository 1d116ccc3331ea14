//! Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO, transliterated from Redis 7.0's `bitops.c`
//! (bit 0 is the most significant bit of the first byte; a missing key is
//! an endless run of zero bits; offsets stop at `proto-max-bulk-len`).
//!
//! A bitmap is an ordinary string value, so GET, SETRANGE and APPEND see
//! the same bytes. A write builds the new string and replaces the old one
//! under the key's stripe (strings are immutable in the map), so SETBIT
//! costs O(length of the string).

use bytes::Bytes;
use store_api::{Entry, Op, Store, Value};

use super::value::{rmw, str_of};
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
    Field(Bytes, Vec<FieldOp>, bool),
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

/// How BITFIELD treats an overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wrap around (the default).
    Wrap,
    /// Saturate at the type's bounds.
    Sat,
    /// Do nothing and answer null.
    Fail,
}

/// One BITFIELD operation.
#[derive(Debug, Clone)]
pub struct FieldOp {
    kind: FieldKind,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Get,
    Set,
    IncrBy,
}

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Bits(c))
}

/// `getBitOffsetFromArgument`: a bit offset (`#n` means n * `bits` when
/// `hash`), below `proto-max-bulk-len` bytes.
fn bit_offset(b: &[u8], hash: bool, bits: u32, max_bytes: u64) -> Result<u64, CmdError> {
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

/// `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`.
fn field_type(b: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match b.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(CmdError::BitfieldType),
    };
    match string2ll(&b[1..]) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(CmdError::BitfieldType),
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

/// The operations of a BITFIELD (offsets are checked against the live
/// `proto-max-bulk-len` in execute).
fn field_ops(args: &[Bytes]) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while j < args.len() {
        let left = args.len() - j - 1;
        let w = &args[j];
        let kind = if is(w, "GET") && left >= 2 {
            FieldKind::Get
        } else if is(w, "SET") && left >= 3 {
            FieldKind::Set
        } else if is(w, "INCRBY") && left >= 3 {
            FieldKind::IncrBy
        } else if is(w, "OVERFLOW") && left >= 1 {
            let t = &args[j + 1];
            overflow = if is(t, "WRAP") {
                Overflow::Wrap
            } else if is(t, "SAT") {
                Overflow::Sat
            } else if is(t, "FAIL") {
                Overflow::Fail
            } else {
                return Err(CmdError::OverflowType);
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], true, bits, u64::MAX)?;
        let value = if kind == FieldKind::Get {
            0
        } else {
            parse_int(&args[j + 3])?
        };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == FieldKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

fn parse_bitfield(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let ops = field_ops(&a.rest())?;
    cmd(Cmd::Field(key, ops, false))
}

fn parse_bitfield_ro(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let ops = field_ops(&a.rest())?;
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

fn get_bit(s: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    s.get(byte)
        .is_some_and(|b| b >> (7 - (offset & 7)) & 1 == 1)
}

fn get_unsigned(p: &[u8], mut offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for _ in 0..bits {
        v = (v << 1) | u64::from(get_bit(p, offset));
        offset += 1;
    }
    v
}

fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(p, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..bits {
        let on = value & (1u64 << (bits - 1 - j)) != 0;
        let at = offset + u64::from(j);
        let byte = (at >> 3) as usize;
        let bit = 7 - (at & 7);
        if on {
            p[byte] |= 1 << bit;
        } else {
            p[byte] &= !(1 << bit);
        }
    }
}

/// `checkUnsignedBitfieldOverflow`: 0, or ±1 with the value to store
/// (wrapped or saturated) in `limit`.
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if incr < 0 && incr < minincr {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            _ => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

/// `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => max,
            Overflow::Fail => 0,
        };
        (1, limit)
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        let limit = match ow {
            Overflow::Wrap => wrap(),
            Overflow::Sat => min,
            Overflow::Fail => 0,
        };
        (-1, limit)
    } else {
        (0, 0)
    }
}

/// Run one SET or INCRBY on `p` (long enough): its reply.
fn write_field(p: &mut [u8], op: &FieldOp) -> Frame {
    if op.signed {
        let old = get_signed(p, op.offset, op.bits);
        let (overflow, new, reply) = if op.kind == FieldKind::IncrBy {
            let (o, w) = signed_overflow(old, op.value, op.bits, op.overflow);
            let new = if o != 0 {
                w
            } else {
                old.wrapping_add(op.value)
            };
            (o, new, new)
        } else {
            let (o, w) = signed_overflow(op.value, 0, op.bits, op.overflow);
            (o, if o != 0 { w } else { op.value }, old)
        };
        if overflow != 0 && op.overflow == Overflow::Fail {
            return Frame::Null;
        }
        set_unsigned(p, op.offset, op.bits, new as u64);
        Frame::Integer(reply)
    } else {
        let old = get_unsigned(p, op.offset, op.bits);
        let (overflow, new, reply) = if op.kind == FieldKind::IncrBy {
            let (o, w) = unsigned_overflow(old, op.value, op.bits, op.overflow);
            let new = if o != 0 {
                w
            } else {
                old.wrapping_add(op.value as u64)
            };
            (o, new, new)
        } else {
            let v = op.value as u64;
            let (o, w) = unsigned_overflow(v, 0, op.bits, op.overflow);
            (o, if o != 0 { w } else { v }, old)
        };
        if overflow != 0 && op.overflow == Overflow::Fail {
            return Frame::Null;
        }
        set_unsigned(p, op.offset, op.bits, new);
        Frame::Integer(reply as i64)
    }
}

fn read_field(p: &[u8], op: &FieldOp) -> Frame {
    if op.signed {
        Frame::Integer(get_signed(p, op.offset, op.bits))
    } else {
        Frame::Integer(get_unsigned(p, op.offset, op.bits) as i64)
    }
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
            let (old, changed) = ctx.ks().update(
                &key,
                ctx.now,
                rmw(|cur| {
                    let s = str_of(cur)?;
                    let byte = (offset >> 3) as usize;
                    let old = s.is_some_and(|s| get_bit(s, offset));
                    let grows = s.is_none_or(|s| s.len() <= byte);
                    if !grows && old == on {
                        return Ok((Op::Keep, (old, false)));
                    }
                    let mut buf = s.map_or_else(Vec::new, |s| s.to_vec());
                    if buf.len() <= byte {
                        buf.resize(byte + 1, 0);
                    }
                    set_unsigned(&mut buf, offset, 1, u64::from(on));
                    let entry = Entry {
                        value: Value::Str(buf.into()),
                        expires_at: cur.and_then(|e| e.expires_at),
                    };
                    Ok((Op::Put(entry), (old, true)))
                }),
            )?;
            if changed {
                ctx.notify(class::STRING, "setbit", &key);
            }
            Ok(Frame::Integer(i64::from(old)))
        }
        Cmd::GetBit(key, offset) => {
            let offset = bit_offset(&offset, false, 0, max_bytes)?;
            ctx.ks().read(&key, ctx.now, |e| {
                Ok(Frame::Integer(i64::from(
                    str_of(e)?.is_some_and(|s| get_bit(s, offset)),
                )))
            })
        }
        Cmd::Count(key, args) => {
            let s = ctx
                .ks()
                .read(&key, ctx.now, |e| str_of(e).map(|s| s.cloned()))?;
            let Some(s) = s else {
                return Ok(Frame::Integer(0));
            };
            bitcount(&s, &args)
        }
        Cmd::Pos(key, bit, args) => {
            let s = ctx
                .ks()
                .read(&key, ctx.now, |e| str_of(e).map(|s| s.cloned()))?;
            let Some(s) = s else {
                return Ok(Frame::Integer(if bit { -1 } else { 0 }));
            };
            bitpos(&s, bit, &args)
        }
        Cmd::Op(op, dst, keys) => bitop(ctx, op, &dst, &keys),
        Cmd::Field(key, ops, read_only) => bitfield(ctx, &key, &ops, read_only),
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
        srcs.push(ks.read_locked(&guard, k, now, |e| str_of(e).map(|s| s.cloned()))?);
    }
    let maxlen = srcs.iter().flatten().map(Bytes::len).max().unwrap_or(0);
    let byte =
        |s: &Option<Bytes>, j: usize| s.as_ref().and_then(|s| s.get(j).copied()).unwrap_or(0);
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
        let entry = Entry {
            value: Value::Str(out.into()),
            expires_at: None,
        };
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

/// BITFIELD and BITFIELD_RO.
fn bitfield<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: &[u8],
    ops: &[FieldOp],
    read_only: bool,
) -> Result<Frame, CmdError> {
    let max_bytes = ctx.config.proto_max_bulk_len;
    if ops.iter().any(|o| (o.offset >> 3) >= max_bytes) {
        return Err(CmdError::BitOffset);
    }
    let writes = ops.iter().any(|o| o.kind != FieldKind::Get);
    if !writes {
        let s = ctx
            .ks()
            .read(key, ctx.now, |e| str_of(e).map(|s| s.cloned()))?;
        let s = s.unwrap_or_default();
        return Ok(Frame::Array(
            ops.iter().map(|o| read_field(&s, o)).collect(),
        ));
    }
    if read_only {
        return Err(CmdError::BitfieldRoWrite);
    }
    let highest = ops
        .iter()
        .filter(|o| o.kind != FieldKind::Get)
        .map(|o| o.offset + u64::from(o.bits) - 1)
        .max()
        .unwrap_or(0);
    let replies = ctx.ks().update(
        key,
        ctx.now,
        rmw(|cur| {
            let s = str_of(cur)?;
            let mut buf = s.map_or_else(Vec::new, |s| s.to_vec());
            let need = (highest >> 3) as usize + 1;
            if buf.len() < need {
                buf.resize(need, 0);
            }
            let replies: Vec<Frame> = ops
                .iter()
                .map(|o| match o.kind {
                    FieldKind::Get => read_field(&buf, o),
                    _ => write_field(&mut buf, o),
                })
                .collect();
            let entry = Entry {
                value: Value::Str(buf.into()),
                expires_at: cur.and_then(|e| e.expires_at),
            };
            Ok((Op::Put(entry), replies))
        }),
    )?;
    ctx.notify(class::STRING, "setbit", key);
    Ok(Frame::Array(replies))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_rules_follow_redis() {
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Wrap), (1, 0));
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Sat), (1, 255));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Sat), (-1, 0));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Wrap), (-1, 255));
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), (1, -128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), (-1, -128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            (1, i64::MIN)
        );
        assert_eq!(signed_overflow(5, 3, 8, Overflow::Fail), (0, 0));
    }

    #[test]
    fn fields_read_and_write_msb_first() {
        let mut p = vec![0u8; 3];
        set_unsigned(&mut p, 4, 8, 0xab);
        assert_eq!(p, vec![0x0a, 0xb0, 0]);
        assert_eq!(get_unsigned(&p, 4, 8), 0xab);
        assert_eq!(get_signed(&p, 4, 8), 0xab_u8 as i8 as i64);
        assert_eq!(first_bit(&[0, 0x10], true), 11);
        assert_eq!(first_bit(&[0xff], false), 8);
    }
}
