//! The `struct` library scripts see: Roberto Ierusalimschy's struct 1.4
//! as Redis 7.0 bundles it (`pack`, `unpack`, `size`), with Redis's fixes
//! (format numbers checked for overflow, unpack offsets checked against the
//! data) and the library's error texts.
//!
//! Formats: `>` `<` endianness (native, little, by default), `![n]`
//! alignment, `x` a zero byte, `b`/`B` `h`/`H` `l`/`L` `T` `i[n]`/`I[n]`
//! signed/unsigned integers of 1, 2, 8, 8 and n (default 4, at most 32)
//! bytes, `f` `d` float and double, `c[n]` n chars (`c0`: the whole string
//! when packing, the previous number as the length when unpacking), `s` a
//! zero-terminated string, ` ` ignored. Integers go through a C `long`
//! and numbers come back as Lua numbers, as in the C.

use mlua::{Lua, MultiValue, Table, Value};

use super::luaargs::{arg_error, c_truncate, check_bytes, check_number, opt_integer, positioned};

/// Integers wider than this are refused.
const MAX_INT_SIZE: usize = 32;

/// The strictest alignment `!` asks for by default (a double's on x86-64).
const MAX_ALIGN: usize = 8;

/// Lua 5.1's `LUAI_MAXCSTACK`: stack slots one C function may hold.
const MAX_STACK: usize = 8000;

/// The library table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| pack(lua, &args))?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| unpack(lua, &args))?,
    )?;
    t.set(
        "size",
        lua.create_function(|lua, args: MultiValue| size(lua, &args))?,
    )?;
    Ok(t)
}

/// The state a format carries: byte order and maximum alignment.
struct Header {
    big: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            big: false,
            align: 1,
        }
    }
}

/// A format being read, one option at a time.
struct Format<'a> {
    lua: &'a Lua,
    f: &'static str,
    fmt: &'a [u8],
    at: usize,
}

impl<'a> Format<'a> {
    fn new(lua: &'a Lua, f: &'static str, fmt: &'a [u8]) -> Format<'a> {
        Format { lua, f, fmt, at: 0 }
    }

    fn next_option(&mut self) -> Option<u8> {
        let opt = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(opt)
    }

    /// The number after an option, or `default`; past `INT_MAX` is an
    /// error, found digit by digit as the C does.
    fn num(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while let Some(&d) = self.fmt.get(self.at).filter(|d| d.is_ascii_digit()) {
            let digit = (d - b'0') as i32;
            if a > i32::MAX / 10 || a * 10 > i32::MAX - digit {
                return Err(positioned(self.lua, "integral size overflow"));
            }
            a = a * 10 + digit;
            self.at += 1;
        }
        Ok(a as usize)
    }

    /// How many bytes option `opt` takes (0 for the control options).
    fn size(&mut self, opt: u8) -> mlua::Result<usize> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.num(1)?,
            b'i' | b'I' => {
                let size = self.num(4)?;
                if size > MAX_INT_SIZE {
                    return Err(positioned(
                        self.lua,
                        &format!("integral size {size} is larger than limit of {MAX_INT_SIZE}"),
                    ));
                }
                size
            }
            _ => 0,
        })
    }

    /// The options that change the header (and the error for any other).
    fn control(&mut self, opt: u8, h: &mut Header) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => h.big = true,
            b'<' => h.big = false,
            b'!' => {
                let a = self.num(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(positioned(
                        self.lua,
                        &format!("alignment {a} is not a power of 2"),
                    ));
                }
                h.align = a;
            }
            _ => {
                let msg = format!("invalid format option '{}'", opt as char);
                return Err(arg_error(self.lua, 1, self.f, &msg));
            }
        }
        Ok(())
    }
}

/// Padding before an item of `size` at offset `len`.
fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// C's `(unsigned long)d` as gcc compiles it for x86-64.
fn c_to_unsigned(d: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if d.is_nan() {
        1 << 63
    } else if d < TWO_63 {
        c_truncate(d) as u64
    } else {
        // Subtract 2^63, convert, flip the top bit back: anything at or
        // past 2^64 ends as 0.
        (c_truncate(d - TWO_63) as u64) ^ (1 << 63)
    }
}

fn pack(lua: &Lua, args: &MultiValue) -> mlua::Result<mlua::String> {
    let fmt = check_bytes(lua, args, 1, "pack")?;
    // The C pushes a nil after the arguments (a mark before its buffer),
    // so the first missing argument is "nil" in errors, not "no value".
    let mut args = args.clone();
    args.push_back(Value::Nil);
    let args = &args;
    let mut format = Format::new(lua, "pack", &fmt);
    let mut h = Header::default();
    let mut arg = 2;
    let mut out = Vec::new();
    while let Some(opt) = format.next_option() {
        let mut size = format.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = check_number(lua, args, arg, "pack")?;
                arg += 1;
                let mut value = if n < 0.0 {
                    c_truncate(n) as u64
                } else {
                    c_to_unsigned(n)
                };
                let mut bytes = vec![0u8; size];
                for b in bytes.iter_mut() {
                    *b = value as u8;
                    value >>= 8;
                }
                if h.big {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(lua, args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.big {
                    f.to_be_bytes()
                } else {
                    f.to_le_bytes()
                });
            }
            b'd' => {
                let d = check_number(lua, args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.big {
                    d.to_be_bytes()
                } else {
                    d.to_le_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_bytes(lua, args, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The C names the argument after this one.
                    return Err(arg_error(lua, arg, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => format.control(opt, &mut h)?,
        }
    }
    lua.create_string(&out)
}

fn unpack(lua: &Lua, args: &MultiValue) -> mlua::Result<MultiValue> {
    let fmt = check_bytes(lua, args, 1, "unpack")?;
    let data = check_bytes(lua, args, 2, "unpack")?;
    let ld = data.len();
    // A size_t in the C: a negative offset wraps and fails the length
    // check below, only 0 is refused here.
    let mut pos = opt_integer(lua, args, 3, "unpack", 1)? as usize;
    if pos == 0 {
        return Err(arg_error(lua, 3, "unpack", "offset must be 1 or greater"));
    }
    pos -= 1;
    let mut format = Format::new(lua, "unpack", &fmt);
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let too_short = || arg_error(lua, 2, "unpack", "data string too short");
    let fits = |pos: usize, size: usize| size <= ld && pos <= ld - size;
    while let Some(opt) = format.next_option() {
        let mut size = format.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if !fits(pos, size) {
            return Err(too_short());
        }
        if args.len() + out.len() + 2 > MAX_STACK {
            return Err(positioned(lua, "stack overflow (too many results)"));
        }
        let bytes = |size: usize| {
            let mut b = data[pos..pos + size].to_vec();
            if h.big {
                b.reverse();
            }
            b
        };
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                // Little-endian from here; the high bytes of wide integers
                // shift out of a C long.
                let le = bytes(size);
                let l = le
                    .iter()
                    .rev()
                    .fold(0u64, |l, b| l.wrapping_shl(8) | *b as u64);
                let n = if opt.is_ascii_lowercase() {
                    let mask = u64::MAX.wrapping_shl(((size * 8) as u32).wrapping_sub(1));
                    let l = if l & mask != 0 { l | mask } else { l };
                    l as i64 as f64
                } else {
                    l as f64
                };
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = bytes(4).try_into().expect("4 bytes");
                out.push(Value::Number(f32::from_le_bytes(b) as f64));
            }
            b'd' => {
                let b: [u8; 8] = bytes(8).try_into().expect("8 bytes");
                out.push(Value::Number(f64::from_le_bytes(b)));
            }
            b'c' => {
                if size == 0 {
                    let previous = match out.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(v @ Value::String(_)) => lua.coerce_number(v.clone())?,
                        _ => None,
                    };
                    let Some(n) = previous else {
                        return Err(positioned(lua, "format 'c0' needs a previous size"));
                    };
                    out.pop();
                    size = c_to_unsigned(n) as usize;
                    if !fits(pos, size) {
                        return Err(too_short());
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(positioned(lua, "unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[pos..pos + end])?));
                size = end + 1;
            }
            _ => format.control(opt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    out.push(Value::Number(pos.wrapping_add(1) as f64));
    Ok(out.into_iter().collect())
}

fn size(lua: &Lua, args: &MultiValue) -> mlua::Result<f64> {
    let fmt = check_bytes(lua, args, 1, "size")?;
    let mut format = Format::new(lua, "size", &fmt);
    let mut h = Header::default();
    let mut pos = 0usize;
    while let Some(opt) = format.next_option() {
        let size = format.size(opt)?;
        pos = pos.wrapping_add(to_align(pos, &h, opt, size));
        if opt == b's' {
            return Err(arg_error(lua, 1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(arg_error(lua, 1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            format.control(opt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random formats and data: every call returns or fails with a Lua
    /// error, none panics (offsets, sizes and alignment stay in bounds).
    #[test]
    fn random_formats_never_panic() {
        let lua = Lua::new();
        lua.set_memory_limit(64 << 20).unwrap();
        let lib = library(&lua).unwrap();
        let (pack, unpack, size): (mlua::Function, mlua::Function, mlua::Function) = (
            lib.get("pack").unwrap(),
            lib.get("unpack").unwrap(),
            lib.get("size").unwrap(),
        );
        const OPTIONS: &[u8] = b"<>!xbBhHlLTiIfdcs 0123456789z%";
        let next = crate::util::rand::next_u64;
        for _ in 0..5_000 {
            let fmt: Vec<u8> = (0..next() % 8)
                .map(|_| OPTIONS[(next() % OPTIONS.len() as u64) as usize])
                .collect();
            let data: Vec<u8> = (0..next() % 40).map(|_| next() as u8).collect();
            let offset = (next() % 50) as i64 - 5;
            let n = (next() % 1000) as f64 - 500.0;
            let run = std::panic::AssertUnwindSafe(|| {
                let f = lua.create_string(&fmt).unwrap();
                let d = lua.create_string(&data).unwrap();
                let _ = unpack.call::<MultiValue>((f.clone(), d.clone(), offset));
                let _ = size.call::<MultiValue>(f.clone());
                let _ = pack.call::<MultiValue>((f, n, d, n * 1e15, "abc"));
            });
            // The inputs are random each run: name the ones that failed.
            if std::panic::catch_unwind(run).is_err() {
                let fmt = String::from_utf8_lossy(&fmt);
                panic!("format {fmt:?}, data {data:02x?}, offset {offset}, n {n} panicked");
            }
        }
    }
}
