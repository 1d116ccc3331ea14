//! The Lua auxiliary library's errors and argument checks (`luaL_error`,
//! `luaL_checklstring`, `luaL_checknumber`, `luaL_optinteger`,
//! `luaL_argerror`) for the code written in Rust, with Lua 5.1's coercions
//! and error texts.

use mlua::{Lua, MultiValue, Value};

/// A runtime error placed where `luaL_error` places it (`luaL_where(L,
/// 1)`): at the line of the immediate caller when that is Lua code
/// (`user_script:1: msg`), nowhere when it is a C function (`pcall(f, x)`
/// calls `f` from C: the message comes bare, as in Redis).
pub fn positioned(lua: &Lua, msg: &str) -> mlua::Error {
    if let Some(frame) = lua.inspect_stack(1) {
        let source = frame.source();
        let line = frame.curr_line();
        if source.what != "C" && line > 0 {
            let short = source.short_src.unwrap_or_default();
            return mlua::Error::RuntimeError(format!("{short}:{line}: {msg}"));
        }
    }
    mlua::Error::RuntimeError(msg.to_string())
}

/// `bad argument #n to 'f' (msg)`, placed as [`positioned`]. The name is
/// the one the caller used, as `luaL_argerror` finds it (`?` when a C
/// function such as `pcall` made the call); `f` when no frame tells.
pub fn arg_error(lua: &Lua, n: usize, f: &str, msg: &str) -> mlua::Error {
    let name = match lua.inspect_stack(0) {
        Some(frame) => frame
            .names()
            .name
            .map_or_else(|| "?".to_string(), |n| n.to_string()),
        None => f.to_string(),
    };
    positioned(lua, &format!("bad argument #{n} to '{name}' ({msg})"))
}

/// Lua's name for the type of argument `n` (1-based), "no value" past the
/// last one.
fn type_name(args: &MultiValue, n: usize) -> &'static str {
    match args.get(n - 1) {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `luaL_checklstring`: a string, or a number in its `%.14g` text.
pub fn check_bytes(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> mlua::Result<Vec<u8>> {
    match args.get(n - 1) {
        Some(v @ (Value::String(_) | Value::Integer(_) | Value::Number(_))) => {
            match lua.coerce_string(v.clone())? {
                Some(s) => Ok(s.as_bytes().to_vec()),
                None => Err(arg_error(lua, n, f, "string expected, got nil")),
            }
        }
        _ => Err(arg_error(
            lua,
            n,
            f,
            &format!("string expected, got {}", type_name(args, n)),
        )),
    }
}

/// `luaL_checknumber`: a number, or a string Lua reads as one.
pub fn check_number(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> mlua::Result<f64> {
    let v = args.get(n - 1).cloned().unwrap_or(Value::Nil);
    let number = match v {
        Value::Integer(i) => Some(i as f64),
        Value::Number(x) => Some(x),
        Value::String(_) => lua.coerce_number(v)?,
        _ => None,
    };
    number.ok_or_else(|| {
        arg_error(
            lua,
            n,
            f,
            &format!("number expected, got {}", type_name(args, n)),
        )
    })
}

/// `luaL_optinteger`: `default` when the argument is absent or nil, else
/// the number truncated toward zero (`lua_tointeger` on x86-64).
pub fn opt_integer(
    lua: &Lua,
    args: &MultiValue,
    n: usize,
    f: &str,
    default: i64,
) -> mlua::Result<i64> {
    match args.get(n - 1) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => check_integer(lua, args, n, f),
    }
}

/// `luaL_checkinteger`.
pub fn check_integer(lua: &Lua, args: &MultiValue, n: usize, f: &str) -> mlua::Result<i64> {
    check_number(lua, args, n, f).map(c_truncate)
}

/// C's `(long)d` as x86-64 computes it: toward zero, and the "integer
/// indefinite" value (`i64::MIN`) for NaN and anything out of range.
pub fn c_truncate(d: f64) -> i64 {
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}
