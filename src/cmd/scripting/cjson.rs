//! The `cjson` library scripts see, as Redis bundles it (lua-cjson 2.1.0
//! with its defaults): `cjson.encode`, `cjson.decode`, `cjson.null`, and
//! the settings functions (which keep lua-cjson's defaults).
//!
//! Encoding: numbers as `%.14g` (NaN and infinities refused), strings with
//! `"`, `\`, `/`, control characters and DEL escaped, a table whose keys
//! are all positive integers as an array (missing elements `null`; an
//! excessively sparse one refused), any other table as an object (string
//! or number keys), an empty table as `{}`, nesting deeper than 1000
//! refused. Decoding: standard JSON, `null` as `cjson.null`, `\u` escapes
//! (surrogate pairs too) as UTF-8, lua-cjson's error texts.

use mlua::{LightUserData, Lua, Table, Value, Variadic};

use super::vm::positioned;
use crate::util::numbers::fmt_g;

/// lua-cjson's default depth limits.
const MAX_DEPTH: usize = 1000;
/// lua-cjson's sparse-array rule: refused when the largest index is over
/// this ratio of the element count and over `SPARSE_SAFE`.
const SPARSE_RATIO: usize = 2;
const SPARSE_SAFE: usize = 10;

/// `cjson.null`: a light userdata holding NULL, as lua-cjson's.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// The `cjson` table.
pub fn library(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(positioned(
                    lua,
                    "bad argument #1 to 'encode' (expected 1 argument)",
                ));
            }
            let mut out = Vec::new();
            encode(&args[0], 0, &mut out).map_err(|e| positioned(lua, &e))?;
            lua.create_string(&out)
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, args: Variadic<Value>| {
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
    // Settings: lua-cjson returns the current values; these keep the
    // defaults Redis runs with.
    let settings: [(&str, Vec<Value>); 6] = [
        ("encode_keep_buffer", vec![Value::Boolean(true)]),
        ("encode_max_depth", vec![Value::Integer(MAX_DEPTH as i64)]),
        ("decode_max_depth", vec![Value::Integer(MAX_DEPTH as i64)]),
        ("encode_number_precision", vec![Value::Integer(14)]),
        (
            "encode_sparse_array",
            vec![
                Value::Boolean(false),
                Value::Integer(SPARSE_RATIO as i64),
                Value::Integer(SPARSE_SAFE as i64),
            ],
        ),
        ("encode_invalid_numbers", vec![Value::Boolean(false)]),
    ];
    for (name, values) in settings {
        t.set(
            name,
            lua.create_function(move |_, _: Variadic<Value>| {
                Ok(Variadic::from_iter(values.clone()))
            })?,
        )?;
    }
    t.set(
        "decode_invalid_numbers",
        lua.create_function(|_, _: Variadic<Value>| Ok(true))?,
    )?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Inf".into());
            }
            out.extend_from_slice(fmt_g(*n, 14).as_bytes());
        }
        Value::String(s) => string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth + 1 > MAX_DEPTH {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            table(t, depth + 1, out)?;
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
/// `lua_array_length`), `None` for an object.
fn array_len(t: &Table) -> Result<Option<usize>, String> {
    let (mut max, mut items) = (0usize, 0usize);
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
        max = max.max(n as usize);
        items += 1;
    }
    if max > SPARSE_SAFE && max > items * SPARSE_RATIO {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
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

fn table(t: &Table, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match array_len(t)? {
        Some(len) if len > 0 => {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                if !negative_zero(t, i, &v, out)? {
                    encode(&v, depth, out)?;
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
                    Value::Integer(n) => string(n.to_string().as_bytes(), out),
                    Value::Number(n) => string(fmt_g(*n, 14).as_bytes(), out),
                    other => {
                        return Err(format!(
                            "Cannot serialise {}: table key must be a number or string",
                            other.type_name()
                        ))
                    }
                }
                out.push(b':');
                if !negative_zero(t, k, &v, out)? {
                    encode(&v, depth, out)?;
                }
            }
            out.push(b'}');
        }
    }
    Ok(())
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    lua: &'a Lua,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// lua-cjson's "Expected X but found Y at character N" for the token
    /// at the cursor.
    fn found(&self, expected: &str) -> String {
        let found = match self.s.get(self.i) {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b'"') => "T_STRING",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            Some(b':') => "T_COLON",
            Some(b',') => "T_COMMA",
            Some(b't' | b'f') if self.word(b"true") || self.word(b"false") => "T_BOOLEAN",
            Some(b'n') if self.word(b"null") => "T_NULL",
            Some(_) => "invalid token",
        };
        format!(
            "Expected {expected} but found {found} at character {}",
            self.i + 1
        )
    }

    fn word(&self, w: &[u8]) -> bool {
        self.s[self.i..].starts_with(w)
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.found("value"));
        };
        let lua_err = |e: mlua::Error| e.to_string();
        match c {
            b'{' => {
                self.nest()?;
                self.i += 1;
                let t = self.lua.create_table().map_err(lua_err)?;
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.found("object key string"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err(self.found("colon"));
                    }
                    self.i += 1;
                    let v = self.value()?;
                    let k = self.lua.create_string(&k).map_err(lua_err)?;
                    t.raw_set(k, v).map_err(lua_err)?;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(self.found("comma or object end")),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(t))
            }
            b'[' => {
                self.nest()?;
                self.i += 1;
                let t = self.lua.create_table().map_err(lua_err)?;
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Table(t));
                }
                let mut n = 1;
                loop {
                    let v = self.value()?;
                    t.raw_set(n, v).map_err(lua_err)?;
                    n += 1;
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            break;
                        }
                        _ => return Err(self.found("comma or array end")),
                    }
                }
                self.depth -= 1;
                Ok(Value::Table(t))
            }
            b'"' => {
                let s = self.string()?;
                self.lua
                    .create_string(&s)
                    .map(Value::String)
                    .map_err(lua_err)
            }
            b't' if self.word(b"true") => {
                self.i += 4;
                Ok(Value::Boolean(true))
            }
            b'f' if self.word(b"false") => {
                self.i += 5;
                Ok(Value::Boolean(false))
            }
            b'n' if self.word(b"null") => {
                self.i += 4;
                Ok(null())
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(self.found("value")),
        }
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth,
                self.i + 1
            ));
        }
        Ok(())
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => {
                self.i = start;
                Err(format!(
                    "Expected value but found invalid number at character {}",
                    start + 1
                ))
            }
        }
    }

    /// A string token (the cursor on its opening quote), unescaped.
    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let at = self.i;
            let invalid =
                |what: &str| format!("Expected value but found {what} at character {}", at + 1);
            let Some(&c) = self.s.get(self.i) else {
                return Err(invalid("unexpected end of string"));
            };
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(invalid("unexpected end of string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self
                                .hex4()
                                .ok_or_else(|| invalid("invalid unicode escape code"))?;
                            if (0xd800..0xdc00).contains(&cp) {
                                // A surrogate pair: \uD8xx\uDCxx.
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(invalid("invalid unicode escape code"));
                                }
                                self.i += 2;
                                let low = self
                                    .hex4()
                                    .ok_or_else(|| invalid("invalid unicode escape code"))?;
                                if !(0xdc00..0xe000).contains(&low) {
                                    return Err(invalid("invalid unicode escape code"));
                                }
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                            } else if (0xdc00..0xe000).contains(&cp) {
                                return Err(invalid("invalid unicode escape code"));
                            }
                            let ch = char::from_u32(cp)
                                .ok_or_else(|| invalid("invalid unicode escape code"))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(invalid("invalid escape code")),
                    }
                }
                _ => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.s.get(self.i..self.i + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        let v = u32::from_str_radix(text, 16).ok()?;
        self.i += 4;
        Some(v)
    }
}
