//! The `cmsgpack` library scripts see: lua-cmsgpack 0.4.0 as Redis 7.0
//! bundles it (`pack`, `unpack`, `unpack_one`, `unpack_limit`), with its
//! encodings, its limits and its error texts.
//!
//! Encoding follows the library's choices, which are not always the
//! smallest MessagePack: integral numbers (exact in an `int64_t`) become
//! the shortest integer form, other numbers a float when a `float` holds
//! them exactly and a double otherwise; strings use the raw forms (`d9`,
//! `da`, `db`); a table whose keys are exactly 1..n is an array, any other
//! a map in `next` order; tables nested 16 deep become nil (so a table
//! that contains itself still packs); other types are nil.
//!
//! Decoding returns every number as a Lua number, an unsigned 64-bit value
//! through `int64_t` as the C does (so `0xffffffffffffffff` is -1), and
//! refuses what the library does not know (bin, ext) as "Bad data format
//! in input.". The Lua stack bounds what one call returns and how deep
//! decoding goes (8,000 slots, as `luaL_checkstack` in Lua 5.1); that is
//! counted here and decoding uses no recursion, so no input reaches the
//! native stack's limit.

use mlua::{Lua, MultiValue, Table, Value};

use super::luaargs::{arg_error, check_bytes, check_integer, opt_integer, positioned};

/// Tables nested deeper than this pack as nil.
const MAX_NESTING: usize = 16;

/// Lua 5.1's `LUAI_MAXCSTACK`: stack slots one C function may hold.
const MAX_STACK: usize = 8000;

/// The longest string `pack` makes (the longest bulk reply Redis allows by
/// default). A table that holds itself many times over reaches any size
/// within its 16 levels, and this buffer is outside the VM's memory limit:
/// Redis would grow without end here, FlashKV stops with an error.
const MAX_PACKED: usize = 512 << 20;

/// The library table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return Err(arg_error(lua, 0, "pack", "MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, 0, &mut out, MAX_PACKED).map_err(|e| match e {
                    TooLarge::Lua(e) => e,
                    TooLarge::Packed => {
                        positioned(lua, "MessagePack pack output is larger than 512 MB")
                    }
                })?;
            }
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| unpack(lua, &args, "unpack", 0, 0))?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            let offset = opt_integer(lua, &args, 2, "unpack_one", 0)?;
            unpack(lua, &args, "unpack_one", 1, offset)
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            let limit = check_integer(lua, &args, 2, "unpack_limit")?;
            let offset = opt_integer(lua, &args, 3, "unpack_limit", 0)?;
            unpack(lua, &args, "unpack_limit", limit, offset)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ------------------------------------------------------------- encoding --

/// Why packing stopped.
enum TooLarge {
    Packed,
    Lua(mlua::Error),
}

impl From<mlua::Error> for TooLarge {
    fn from(e: mlua::Error) -> TooLarge {
        TooLarge::Lua(e)
    }
}

/// Append `v`'s encoding to `out`, stopping once `out` is over `limit`.
fn encode(v: &Value, level: usize, out: &mut Vec<u8>, limit: usize) -> Result<(), TooLarge> {
    if out.len() > limit {
        return Err(TooLarge::Packed);
    }
    match v {
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(*i, out),
        Value::Number(n) => encode_number(*n, out),
        Value::Table(t) if level < MAX_NESTING => encode_table(t, level, out, limit)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// A number exact in an `int64_t` is an integer; any other a float or a
/// double.
fn encode_number(n: f64, out: &mut Vec<u8>) {
    let in_range = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n);
    if in_range && n.trunc() == n {
        encode_int(n as i64, out);
        return;
    }
    let f = n as f32;
    if f as f64 == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    match n {
        0..=127 => out.push(n as u8),
        128..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        0x1_0000_0000.. => {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        -32..=-1 => out.push(n as i8 as u8),
        -128..=-33 => out.extend_from_slice(&[0xd0, n as u8]),
        -32768..=-129 => {
            out.push(0xd1);
            out.extend_from_slice(&(n as i16).to_be_bytes());
        }
        -2_147_483_648..=-32769 => {
            out.push(0xd2);
            out.extend_from_slice(&(n as i32).to_be_bytes());
        }
        _ => {
            out.push(0xd3);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn encode_table(t: &Table, level: usize, out: &mut Vec<u8>, limit: usize) -> Result<(), TooLarge> {
    if is_array(t)? {
        let len = t.raw_len();
        encode_header(len as u64, [0x90, 0xdc, 0xdd], out);
        for j in 1..=len {
            encode(&t.get::<Value>(j)?, level + 1, out, limit)?;
        }
    } else {
        // Counted in one pass, encoded in a second (as the library does):
        // holding every pair at once would hold a reference per key and
        // value, and Lua 5.1 allows a C function 8,000.
        let mut n = 0u64;
        for pair in t.clone().pairs::<Value, Value>() {
            pair?;
            n += 1;
        }
        encode_header(n, [0x80, 0xde, 0xdf], out);
        for pair in t.clone().pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(&k, level + 1, out, limit)?;
            encode(&v, level + 1, out, limit)?;
        }
    }
    Ok(())
}

/// An array or map header: the fix form up to 15, then 16 and 32 bits.
fn encode_header(n: u64, [fix, b16, b32]: [u8; 3], out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Keys exactly 1..n (numbers that are positive C `int`s, as many as the
/// largest): the library's test for packing a table as an array.
fn is_array(t: &Table) -> mlua::Result<bool> {
    let (mut count, mut max) = (0i64, 0i64);
    for pair in t.clone().pairs::<Value, Value>() {
        let n = match pair?.0 {
            Value::Integer(i) if i > 0 && i <= i32::MAX as i64 => i,
            Value::Number(x) if x > 0.0 && x <= i32::MAX as f64 && x.trunc() == x => x as i64,
            _ => return Ok(false),
        };
        max = max.max(n);
        count += 1;
    }
    Ok(max == count)
}

// ------------------------------------------------------------- decoding --

/// `unpack` (limit and offset 0: every value), `unpack_one` (limit 1) and
/// `unpack_limit`: the values, preceded by the next offset (-1 at the end)
/// unless every value was asked for.
fn unpack(
    lua: &Lua,
    args: &MultiValue,
    f: &str,
    limit: i64,
    offset: i64,
) -> mlua::Result<MultiValue> {
    let data = check_bytes(lua, args, 1, f)?;
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(positioned(
            lua,
            &format!(
                "Invalid request to unpack with offset of {} and limit of {}.",
                offset as i32,
                data.len() as i32
            ),
        ));
    }
    if offset as u64 > data.len() as u64 {
        return Err(positioned(
            lua,
            &format!(
                "Start offset {} greater than input length {}.",
                offset as i32,
                data.len() as i32
            ),
        ));
    }
    let limit = if decode_all { i32::MAX as i64 } else { limit };
    let mut d = Decoder {
        lua,
        data: &data,
        at: offset as usize,
        // The input string holds one slot.
        slots: 1,
    };
    let mut values = Vec::new();
    while d.at < data.len() && (values.len() as i64) < limit {
        match d.value() {
            Ok(v) => values.push(v),
            Err(Fail::Lua(e)) => return Err(e),
            Err(Fail::Eof) => return Err(positioned(lua, "Missing bytes in input.")),
            Err(Fail::BadFormat) => return Err(positioned(lua, "Bad data format in input.")),
            Err(Fail::Stack(what)) => {
                return Err(positioned(lua, &format!("stack overflow ({what})")))
            }
        }
    }
    let mut out = MultiValue::new();
    if !decode_all {
        let next = if d.at == data.len() { -1 } else { d.at as i64 };
        out.push_back(Value::Number(next as f64));
    }
    out.extend(values);
    Ok(out)
}

enum Fail {
    Eof,
    BadFormat,
    Stack(&'static str),
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Lua(e)
    }
}

/// A container being filled.
enum Open {
    Array {
        t: Table,
        next: i64,
        left: u64,
    },
    Map {
        t: Table,
        left: u64,
        key: Option<Value>,
    },
}

struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    at: usize,
    /// Lua stack slots the C would hold now.
    slots: usize,
}

const TOO_MANY: &str = "too many return values at once; use unpack_one or unpack_limit instead.";

impl Decoder<'_> {
    fn need(&self, n: usize) -> Result<(), Fail> {
        if self.data.len() - self.at < n {
            Err(Fail::Eof)
        } else {
            Ok(())
        }
    }

    fn room(&self, what: &'static str) -> Result<(), Fail> {
        if self.slots + 1 > MAX_STACK {
            Err(Fail::Stack(what))
        } else {
            Ok(())
        }
    }

    /// `n` bytes after the first, consumed with it.
    fn take(&mut self, n: usize) -> Result<&[u8], Fail> {
        self.need(1 + n)?;
        let bytes = &self.data[self.at + 1..self.at + 1 + n];
        self.at += 1 + n;
        Ok(bytes)
    }

    /// A big-endian length of `n` bytes after the first.
    fn length(&mut self, n: usize) -> Result<u64, Fail> {
        Ok(self.take(n)?.iter().fold(0u64, |a, b| a << 8 | *b as u64))
    }

    /// A container's element count: in the fix form's low four bits, or
    /// in the 16- or 32-bit length after `b16`/`b32`.
    fn count(&mut self, b: u8, [b16, b32]: [u8; 2]) -> Result<u64, Fail> {
        match b {
            _ if b == b16 => self.length(2),
            _ if b == b32 => self.length(4),
            _ => Ok(self.length(0)? | (b & 0x0f) as u64),
        }
    }

    /// A string of `len` bytes at the cursor.
    fn string(&mut self, len: u64) -> Result<Value, Fail> {
        let len = usize::try_from(len).map_err(|_| Fail::Eof)?;
        self.need(len)?;
        let s = self.lua.create_string(&self.data[self.at..self.at + len])?;
        self.at += len;
        Ok(Value::String(s))
    }

    /// One whole value (containers included), without recursion.
    fn value(&mut self) -> Result<Value, Fail> {
        let mut open: Vec<Open> = Vec::new();
        'next: loop {
            self.need(1)?;
            self.room(TOO_MANY)?;
            let b = self.data[self.at];
            let mut done = match b {
                0x90..=0x9f | 0xdc | 0xdd => {
                    let n = self.count(b, [0xdc, 0xdd])?;
                    let t = self.lua.create_table()?;
                    self.slots += 1;
                    self.room("in function mp_decode_to_lua_array")?;
                    if n > 0 {
                        // The index of the first element.
                        self.slots += 1;
                        open.push(Open::Array {
                            t,
                            next: 1,
                            left: n,
                        });
                        continue 'next;
                    }
                    Value::Table(t)
                }
                0x80..=0x8f | 0xde | 0xdf => {
                    let n = self.count(b, [0xde, 0xdf])?;
                    let t = self.lua.create_table()?;
                    self.slots += 1;
                    if n > 0 {
                        open.push(Open::Map {
                            t,
                            left: n,
                            key: None,
                        });
                        continue 'next;
                    }
                    Value::Table(t)
                }
                _ => {
                    let v = self.scalar(b)?;
                    self.slots += 1;
                    v
                }
            };
            // Hand finished values to the containers they complete.
            loop {
                match open.last_mut() {
                    None => return Ok(done),
                    Some(Open::Array { t, next, left }) => {
                        t.set(*next, done)?;
                        self.slots -= 2;
                        *next += 1;
                        *left -= 1;
                        if *left > 0 {
                            self.slots += 1;
                            continue 'next;
                        }
                    }
                    Some(Open::Map { t, left, key }) => match key.take() {
                        None => {
                            *key = Some(done);
                            continue 'next;
                        }
                        Some(k) => {
                            t.set(k, done)?;
                            self.slots -= 2;
                            *left -= 1;
                            if *left > 0 {
                                continue 'next;
                            }
                        }
                    },
                }
                done = match open.pop() {
                    Some(Open::Array { t, .. } | Open::Map { t, .. }) => Value::Table(t),
                    None => unreachable!("a container was open"),
                };
            }
        }
    }

    /// Anything but a container, by its first byte `b`.
    fn scalar(&mut self, b: u8) -> Result<Value, Fail> {
        let number = |x: f64| Ok(Value::Number(x));
        match b {
            0x00..=0x7f => {
                self.at += 1;
                number(b as f64)
            }
            0xe0..=0xff => {
                self.at += 1;
                number(b as i8 as f64)
            }
            0xa0..=0xbf => {
                self.at += 1;
                self.string((b & 0x1f) as u64)
            }
            0xc0 => {
                self.at += 1;
                Ok(Value::Nil)
            }
            0xc2 | 0xc3 => {
                self.at += 1;
                Ok(Value::Boolean(b == 0xc3))
            }
            0xcc => number(self.take(1)?[0] as f64),
            0xcd => number(u16::from_be_bytes(self.array::<2>()?) as f64),
            0xce => number(u32::from_be_bytes(self.array::<4>()?) as f64),
            // Through int64_t, as lua_pushinteger takes it.
            0xcf => number(u64::from_be_bytes(self.array::<8>()?) as i64 as f64),
            0xd0 => number(self.take(1)?[0] as i8 as f64),
            0xd1 => number(i16::from_be_bytes(self.array::<2>()?) as f64),
            0xd2 => number(i32::from_be_bytes(self.array::<4>()?) as f64),
            0xd3 => number(i64::from_be_bytes(self.array::<8>()?) as f64),
            0xca => number(f32::from_be_bytes(self.array::<4>()?) as f64),
            0xcb => number(f64::from_be_bytes(self.array::<8>()?)),
            0xd9 => {
                let len = self.length(1)?;
                self.string(len)
            }
            0xda => {
                let len = self.length(2)?;
                self.string(len)
            }
            0xdb => {
                let len = self.length(4)?;
                self.string(len)
            }
            _ => Err(Fail::BadFormat),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fail> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table holding itself 64 times packs to 64^16 elements: packing
    /// stops at the limit instead of growing without end.
    #[test]
    fn packing_stops_at_the_limit() {
        let lua = Lua::new();
        let t = lua.create_table().unwrap();
        for i in 1..=64 {
            t.set(i, t.clone()).unwrap();
        }
        let mut out = Vec::new();
        let stopped = encode(&Value::Table(t), 0, &mut out, 4096);
        assert!(matches!(stopped, Err(TooLarge::Packed)));
        assert!(out.len() <= 4096 + 16, "{}", out.len());
    }

    /// Random bytes never panic the decoder: each input decodes or fails
    /// with one of the library's errors (or Lua's, for a nil map key).
    #[test]
    fn random_input_decodes_or_fails_cleanly() {
        let lua = Lua::new();
        // As the server's VM: with a memory limit, mlua sets table fields
        // in protected calls, so a nil or NaN key is a Lua error (without
        // one, `raw_set` is unprotected and Lua's panic exits).
        lua.set_memory_limit(64 << 20).unwrap();
        let next = crate::util::rand::next_u64;
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            // Bias toward the interesting first bytes.
            let data: Vec<u8> = (0..len)
                .map(|_| match next() % 4 {
                    0 => 0x80 | (next() % 0x60) as u8,
                    1 => 0xc0 | (next() % 0x20) as u8,
                    _ => next() as u8,
                })
                .collect();
            let decode = std::panic::AssertUnwindSafe(|| {
                let mut d = Decoder {
                    lua: &lua,
                    data: &data,
                    at: 0,
                    slots: 1,
                };
                // Until the end, or an error (a nil or NaN map key is
                // Lua's own, as in Redis).
                while d.at < data.len() && d.value().is_ok() {}
            });
            // The inputs are random each run: name the one that failed.
            if std::panic::catch_unwind(decode).is_err() {
                panic!("decoding {data:02x?} panicked");
            }
        }
    }

    /// Every container form decodes, and nesting far past the stack's
    /// bound fails with Lua's error instead of exhausting the native stack.
    #[test]
    fn decoding_is_bounded_without_recursion() {
        let lua = Lua::new();
        let deep = vec![0x91u8; 1_000_000];
        let mut d = Decoder {
            lua: &lua,
            data: &deep,
            at: 0,
            slots: 1,
        };
        assert!(matches!(d.value(), Err(Fail::Stack(_))));
        let mixed = [0x82, 0xa1, b'a', 0x92, 1, 2, 0xa1, b'b', 0x80];
        let mut d = Decoder {
            lua: &lua,
            data: &mixed,
            at: 0,
            slots: 1,
        };
        let Ok(Value::Table(t)) = d.value() else {
            panic!("a map")
        };
        let a: Table = t.get("a").unwrap();
        assert_eq!((a.get::<i64>(1).unwrap(), a.get::<i64>(2).unwrap()), (1, 2));
        let b: Table = t.get("b").unwrap();
        assert_eq!(b.raw_len(), 0);
        assert_eq!((d.at, d.slots), (mixed.len(), 2));
    }
}
