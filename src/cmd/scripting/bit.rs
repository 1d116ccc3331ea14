//! The `bit` library scripts see (LuaBitOp 1.0.2's API, as Redis bundles
//! it): 32-bit operations on numbers. Arguments go through
//! `luaL_checknumber` (a number, or a string Lua reads as one; anything
//! else is LuaBitOp's argument error).

use mlua::{Lua, MultiValue, Table};

use super::luaargs::check_number;

/// LuaBitOp's `barg`: add 2^52 + 2^51 and keep the low 32 bits of the
/// double (rounding to nearest even, then wrapping), exactly.
fn barg(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> mlua::Result<i32> {
    let x = check_number(lua, args, n, f)?;
    Ok((x + 6_755_399_441_055_744.0).to_bits() as u32 as i32)
}

/// The `bit` library.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary = |name: &'static str, f: fn(i32) -> i32| {
        lua.create_function(move |lua, args: MultiValue| Ok(f(barg(lua, &args, 1, name)?) as f64))
    };
    t.set("tobit", unary("tobit", |x| x)?)?;
    t.set("bnot", unary("bnot", |x| !x)?)?;
    t.set("bswap", unary("bswap", |x| x.swap_bytes())?)?;
    let fold = |name: &'static str, f: fn(i32, i32) -> i32| {
        lua.create_function(move |lua, args: MultiValue| {
            let mut acc = barg(lua, &args, 1, name)?;
            for i in 2..=args.len() {
                acc = f(acc, barg(lua, &args, i, name)?);
            }
            Ok(acc as f64)
        })
    };
    t.set("band", fold("band", |a, b| a & b)?)?;
    t.set("bor", fold("bor", |a, b| a | b)?)?;
    t.set("bxor", fold("bxor", |a, b| a ^ b)?)?;
    let shift = |name: &'static str, f: fn(i32, u32) -> i32| {
        lua.create_function(move |lua, args: MultiValue| {
            let x = barg(lua, &args, 1, name)?;
            let n = barg(lua, &args, 2, name)?;
            Ok(f(x, (n & 31) as u32) as f64)
        })
    };
    t.set("lshift", shift("lshift", |x, n| ((x as u32) << n) as i32)?)?;
    t.set("rshift", shift("rshift", |x, n| ((x as u32) >> n) as i32)?)?;
    t.set("arshift", shift("arshift", |x, n| x >> n)?)?;
    t.set(
        "rol",
        shift("rol", |x, n| (x as u32).rotate_left(n) as i32)?,
    )?;
    t.set(
        "ror",
        shift("ror", |x, n| (x as u32).rotate_right(n) as i32)?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let x = barg(lua, &args, 1, "tohex")? as u32;
            // `lua_isnone`: only a missing argument takes the default.
            let mut n = if args.len() < 2 {
                8
            } else {
                barg(lua, &args, 2, "tohex")?
            };
            let upper = n < 0;
            if upper {
                n = n.wrapping_neg();
            }
            let n = n.clamp(0, 8) as usize;
            let digits = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(digits[8 - n..].to_string())
        })?,
    )?;
    Ok(t)
}
