//! The `cjson` library scripts see, as Redis bundles it (lua-cjson 2.1.0):
//! `cjson.encode`, `cjson.decode`, `cjson.null`, and the settings
//! functions, which change this VM's library until it is reset (as
//! lua-cjson keeps them per loaded module): `encode_max_depth`,
//! `decode_max_depth`, `encode_number_precision`, `encode_sparse_array`,
//! `encode_invalid_numbers` act as lua-cjson's; `encode_keep_buffer` (a
//! buffer-reuse switch) and `decode_invalid_numbers` are kept and
//! answered, and change nothing here.
//!
//! Encoding: numbers as `%.14g` (NaN and infinities refused), strings with
//! `"`, `\`, `/`, control characters and DEL escaped, a table whose keys
//! are all positive integers as an array (missing elements `null`; an
//! excessively sparse one refused), any other table as an object (string
//! or number keys), an empty table as `{}`, nesting deeper than 1000 (by
//! default) refused. Decoding: standard JSON, `null` as `cjson.null`, `\u` escapes
//! (surrogate pairs too) as UTF-8, lua-cjson's error texts.

use mlua::{LightUserData, Lua, Table, Value, Variadic};

use super::vm::positioned;
use crate::util::numbers::fmt_g;

mod decode;
mod settings;

use decode::Parser;
use settings::{settings, Settings, Shared};

/// `cjson.null`: a light userdata holding NULL, as lua-cjson's.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let shared = Shared::default();
    let cfg = shared.clone();
    t.set(
        "encode",
        lua.create_function(move |lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(positioned(
                    lua,
                    "bad argument #1 to 'encode' (expected 1 argument)",
                ));
            }
            let mut out = Vec::new();
            let settings = *cfg.lock();
            encode(&args[0], 0, &settings, &mut out).map_err(|e| positioned(lua, &e))?;
            lua.create_string(&out)
        })?,
    )?;
    let cfg = shared.clone();
    t.set(
        "decode",
        lua.create_function(move |lua, args: Variadic<Value>| {
            let text = match args.as_slice() {
                [Value::String(s)] => s.as_bytes().to_vec(),
                [Value::Integer(n)] => n.to_string().into_bytes(),
                [Value::Number(n)] => fmt_g(*n, 14).into_bytes(),
                [_] => {
                    return Err(positioned(
                        lua,
                        "bad argument #1 to 'decode' (string expected)",
                    ))
                }
                _ => {
                    return Err(positioned(
                        lua,
                        "bad argument #1 to 'decode' (expected 1 argument)",
                    ))
                }
            };
            let mut p = Parser {
                s: &text,
                i: 0,
                lua,
                depth: 0,
                max_depth: cfg.lock().decode_max_depth,
            };
            let v = p.value().map_err(|e| positioned(lua, &e))?;
            p.ws();
            if p.i < p.s.len() {
                return Err(positioned(lua, &p.found("the end")));
            }
            Ok(v)
        })?,
    )?;
    t.set("null", null())?;
    settings(lua, &t, &shared)?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn encode(v: &Value, depth: usize, cfg: &Settings, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // Lua 5.1 numbers are doubles (the binding hands integral ones
        // over as integers): `%.14g` either way, so 1e15 is `1e+15`.
        Value::Integer(n) => number(*n as f64, cfg, out)?,
        Value::Number(n) => number(*n, cfg, out)?,
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth as i64 + 1 > cfg.encode_max_depth {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            table(t, depth + 1, cfg, out)?;
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

/// A number as lua-cjson writes it (`%.<precision>g`; NaN and infinities
/// by `encode_invalid_numbers`).
fn number(n: f64, cfg: &Settings, out: &mut Vec<u8>) -> Result<(), String> {
    if !n.is_finite() {
        let text: &[u8] = match cfg.invalid_numbers {
            0 => return Err("Cannot serialise number: must not be NaN or Inf".into()),
            2 => b"null",
            // As Redis's lua-cjson prints them (`%g` of the value).
            _ if n.is_nan() => b"nan",
            _ if n < 0.0 => b"-inf",
            _ => b"inf",
        };
        out.extend_from_slice(text);
        return Ok(());
    }
    out.extend_from_slice(fmt_g(n, cfg.precision as usize).as_bytes());
    Ok(())
}

fn string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The array length if every key is a positive integer (lua-cjson's
/// `lua_array_length`), `None` for an object (or a sparse array with
/// `encode_sparse_array` on).
fn array_len(t: &Table, cfg: &Settings) -> Result<Option<usize>, String> {
    // lua-cjson keeps the largest index in a C `int`: an index past its
    // range stores as INT_MIN (x86's conversion), and later, smaller keys
    // compare above it again. Such a table is therefore an object unless a
    // later key raises the maximum back.
    let (mut max, mut items) = (0i32, 0i64);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let n = match k {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => return Ok(None),
        };
        if n < 1.0 || n.fract() != 0.0 {
            return Ok(None);
        }
        if n > f64::from(max) {
            max = if n <= f64::from(i32::MAX) {
                n as i32
            } else {
                i32::MIN
            };
        }
        items += 1;
    }
    let max = i64::from(max);
    if cfg.sparse_ratio > 0 && max > items * cfg.sparse_ratio && max > cfg.sparse_safe {
        if cfg.sparse_convert {
            return Ok(None);
        }
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok((max > 0).then_some(max as usize))
}

/// Write `-0` for a table element that holds negative zero, as
/// lua-cjson's `%.14g` does. The binding hands such a number over as the
/// integer 0; reading the element again as a float keeps its sign. (A
/// top-level `cjson.encode(-0)` still gives `0`: its argument is converted
/// before this code sees it.)
fn negative_zero(
    t: &Table,
    key: impl mlua::IntoLua,
    v: &Value,
    out: &mut Vec<u8>,
) -> Result<bool, String> {
    if !matches!(v, Value::Integer(0)) {
        return Ok(false);
    }
    let f: f64 = t.raw_get(key).map_err(|e| e.to_string())?;
    if f.is_sign_negative() {
        out.extend_from_slice(b"-0");
        return Ok(true);
    }
    Ok(false)
}

fn table(t: &Table, depth: usize, cfg: &Settings, out: &mut Vec<u8>) -> Result<(), String> {
    match array_len(t, cfg)? {
        Some(len) if len > 0 => {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                if !negative_zero(t, i, &v, out)? {
                    encode(&v, depth, cfg, out)?;
                }
            }
            out.push(b']');
        }
        _ => {
            out.push(b'{');
            let mut first = true;
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &k {
                    Value::String(s) => string(&s.as_bytes(), out),
                    Value::Integer(n) => {
                        let mut text = Vec::new();
                        number(*n as f64, cfg, &mut text)?;
                        string(&text, out)
                    }
                    Value::Number(n) => {
                        let mut text = Vec::new();
                        number(*n, cfg, &mut text)?;
                        string(&text, out)
                    }
                    other => {
                        return Err(format!(
                            "Cannot serialise {}: table key must be a number or string",
                            other.type_name()
                        ))
                    }
                }
                out.push(b':');
                if !negative_zero(t, k, &v, out)? {
                    encode(&v, depth, cfg, out)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}
