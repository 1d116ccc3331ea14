//! BITFIELD and BITFIELD_RO: typed integers at bit offsets with Redis's
//! overflow rules (`bitfieldGeneric` and the `check*BitfieldOverflow`
//! functions of `bitops.c`).

use bytes::Bytes;
use store_api::num::string2ll;
use store_api::value::grow_zeroed;
use store_api::Store;

use super::{bit_offset, get_bit};
use crate::cmd::value::{edit_str, str_of, Created};
use crate::cmd::{is, parse_int, CmdError, Ctx};
use crate::db::events::class;
use crate::protocol::Frame;

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

/// The operations of a BITFIELD (offsets are checked against the live
/// `proto-max-bulk-len` in execute).
pub fn field_ops(args: &[Bytes]) -> Result<Vec<FieldOp>, CmdError> {
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

pub fn set_unsigned(p: &mut [u8], offset: u64, bits: u32, value: u64) {
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

/// Run one SET or INCRBY on `p` (long enough): its reply, and whether the
/// field's bits changed.
fn write_field(p: &mut [u8], op: &FieldOp) -> (Frame, bool) {
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
            return (Frame::Null, false);
        }
        set_unsigned(p, op.offset, op.bits, new as u64);
        (Frame::Integer(reply), new != old)
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
            return (Frame::Null, false);
        }
        set_unsigned(p, op.offset, op.bits, new);
        (Frame::Integer(reply as i64), new != old)
    }
}

fn read_field(p: &[u8], op: &FieldOp) -> Frame {
    if op.signed {
        Frame::Integer(get_signed(p, op.offset, op.bits))
    } else {
        Frame::Integer(get_unsigned(p, op.offset, op.bits) as i64)
    }
}

/// BITFIELD and BITFIELD_RO.
pub fn bitfield<S: Store>(
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
        return ctx.ks().read(key, ctx.now, |e| {
            let s = str_of(e)?;
            let s = s.as_deref().unwrap_or_default();
            Ok(Frame::Array(ops.iter().map(|o| read_field(s, o)).collect()))
        });
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
    // A created or lengthened string counts as changed, else only a write
    // that changed a field's bits does (as SETBIT; Redis's `changes`).
    let (replies, changed) = edit_str(&ctx.ks(), key, ctx.now, Created::Raw, |buf, exists| {
        let need = (highest >> 3) as usize + 1;
        let mut changed = !exists || buf.len() < need;
        grow_zeroed(buf, need, exists);
        let replies: Vec<Frame> = ops
            .iter()
            .map(|o| match o.kind {
                FieldKind::Get => read_field(buf, o),
                _ => {
                    let (reply, moved) = write_field(buf, o);
                    changed |= moved;
                    reply
                }
            })
            .collect();
        Ok(((replies, changed), changed))
    })?;
    if changed {
        ctx.notify(class::STRING, "setbit", key);
    }
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
    }
}
