//! The `bit` library scripts see (LuaBitOp's API, as Redis bundles it).

use mlua::{Lua, Table, Value, Variadic};

/// The `bit` library (LuaBitOp's API): 32-bit operations on numbers.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    fn tobit(v: &Value) -> i32 {
        let n = match v {
            Value::Integer(n) => *n as f64,
            Value::Number(n) => *n,
            Value::String(s) => s
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0.0),
            _ => 0.0,
        };
        // LuaBitOp adds 2^52 + 2^51 and keeps the low 32 bits: rounding to
        // nearest even, then wrapping.
        (n.round_ties_even() as i64) as i32
    }
    let t = lua.create_table()?;
    let unary = |f: fn(i32) -> i32| lua.create_function(move |_, v: Value| Ok(f(tobit(&v)) as f64));
    t.set("tobit", unary(|x| x)?)?;
    t.set("bnot", unary(|x| !x)?)?;
    t.set("bswap", unary(|x| x.swap_bytes())?)?;
    let fold = |f: fn(i32, i32) -> i32| {
        lua.create_function(move |_, args: Variadic<Value>| {
            let mut it = args.iter();
            let first = it.next().map_or(0, tobit);
            Ok(it.fold(first, |acc, v| f(acc, tobit(v))) as f64)
        })
    };
    t.set("band", fold(|a, b| a & b)?)?;
    t.set("bor", fold(|a, b| a | b)?)?;
    t.set("bxor", fold(|a, b| a ^ b)?)?;
    let shift = |f: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (x, n): (Value, Value)| {
            Ok(f(tobit(&x), (tobit(&n) & 31) as u32) as f64)
        })
    };
    t.set("lshift", shift(|x, n| ((x as u32) << n) as i32)?)?;
    t.set("rshift", shift(|x, n| ((x as u32) >> n) as i32)?)?;
    t.set("arshift", shift(|x, n| x >> n)?)?;
    t.set("rol", shift(|x, n| (x as u32).rotate_left(n) as i32)?)?;
    t.set("ror", shift(|x, n| (x as u32).rotate_right(n) as i32)?)?;
    t.set(
        "tohex",
        lua.create_function(|_, (x, n): (Value, Option<Value>)| {
            let x = tobit(&x) as u32;
            let mut n = n.as_ref().map_or(8, tobit);
            let upper = n < 0;
            if upper {
                n = -n;
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
