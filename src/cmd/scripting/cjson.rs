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

use super::luaargs::arg_error;
use super::vm::positioned;
use crate::util::numbers::fmt_g;

/// One VM's cjson settings (lua-cjson's `json_config_t`).
#[derive(Clone, Copy)]
struct Settings {
    encode_max_depth: i64,
    decode_max_depth: i64,
    /// Significant digits of encoded numbers.
    precision: i64,
    keep_buffer: bool,
    /// A sparse array: encoded as an object (`true`) or refused, when its
    /// largest index is over `sparse_ratio` times its element count and
    /// over `sparse_safe`.
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    /// NaN and infinities: 0 refused, 1 as `NaN`/`Infinity`, 2 as `null`.
    invalid_numbers: i64,
    decode_invalid_numbers: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            precision: 14,
            keep_buffer: true,
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            invalid_numbers: 0,
            decode_invalid_numbers: true,
        }
    }
}

type Shared = std::sync::Arc<parking_lot::Mutex<Settings>>;

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

/// lua-cjson's `json_arg_init`: at most `n` arguments.
fn at_most(lua: &Lua, name: &str, args: &[Value], n: usize) -> mlua::Result<()> {
    if args.len() > n {
        return Err(arg_error(lua, n + 1, name, "found too many arguments"));
    }
    Ok(())
}

/// lua-cjson's `json_integer_option`: argument `i` (when given) sets
/// `setting` within `min..=max`; answers the setting.
fn integer_option(
    lua: &Lua,
    name: &str,
    args: &[Value],
    i: usize,
    setting: &mut i64,
    (min, max): (i64, i64),
) -> mlua::Result<Value> {
    let n = match args.get(i) {
        None | Some(Value::Nil) => None,
        Some(Value::Integer(n)) => Some(*n),
        Some(Value::Number(f)) => Some(*f as i64),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok())
            .map(|f| f as i64),
        Some(_) => None,
    };
    match (args.get(i), n) {
        (None | Some(Value::Nil), _) => {}
        (Some(_), Some(n)) if (min..=max).contains(&n) => *setting = n,
        (Some(_), Some(_)) => {
            return Err(arg_error(
                lua,
                i + 1,
                name,
                &format!("expected integer between {min} and {max}"),
            ))
        }
        (Some(v), None) => {
            return Err(arg_error(
                lua,
                i + 1,
                name,
                &format!("number expected, got {}", v.type_name()),
            ))
        }
    }
    Ok(Value::Integer(*setting))
}

/// lua-cjson's `json_enum_option`: a boolean, or one of `options` by name
/// (`off`, `on` when `options` is empty); answers a boolean for the first
/// two, else the name.
fn enum_option(
    lua: &Lua,
    name: &str,
    args: &[Value],
    setting: &mut i64,
    options: &[&str],
) -> mlua::Result<Value> {
    let options = if options.is_empty() {
        &["off", "on"][..]
    } else {
        options
    };
    match args.first() {
        None | Some(Value::Nil) => {}
        Some(Value::Boolean(b)) => *setting = i64::from(*b),
        Some(Value::String(s)) => match options.iter().position(|o| s.as_bytes() == o.as_bytes()) {
            Some(i) => *setting = i as i64,
            None => {
                return Err(arg_error(
                    lua,
                    1,
                    name,
                    &format!("invalid option '{}'", s.to_string_lossy()),
                ))
            }
        },
        Some(v) => {
            return Err(arg_error(
                lua,
                1,
                name,
                &format!("string expected, got {}", v.type_name()),
            ))
        }
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        n => Value::String(lua.create_string(options[n as usize])?),
    })
}

/// The settings functions, over `shared`.
fn settings(lua: &Lua, t: &Table, shared: &Shared) -> mlua::Result<()> {
    const INT_MAX: i64 = i32::MAX as i64;
    type Setter = fn(&Lua, &[Value], &mut Settings) -> mlua::Result<Variadic<Value>>;
    let rows: [(&str, usize, Setter); 7] = [
        ("encode_max_depth", 1, |lua, a, s| {
            let v = integer_option(
                lua,
                "encode_max_depth",
                a,
                0,
                &mut s.encode_max_depth,
                (1, INT_MAX),
            )?;
            Ok(Variadic::from_iter([v]))
        }),
        ("decode_max_depth", 1, |lua, a, s| {
            let v = integer_option(
                lua,
                "decode_max_depth",
                a,
                0,
                &mut s.decode_max_depth,
                (1, INT_MAX),
            )?;
            Ok(Variadic::from_iter([v]))
        }),
        ("encode_number_precision", 1, |lua, a, s| {
            let v = integer_option(
                lua,
                "encode_number_precision",
                a,
                0,
                &mut s.precision,
                (1, 14),
            )?;
            Ok(Variadic::from_iter([v]))
        }),
        ("encode_keep_buffer", 1, |lua, a, s| {
            let mut n = i64::from(s.keep_buffer);
            let v = enum_option(lua, "encode_keep_buffer", a, &mut n, &[])?;
            s.keep_buffer = n == 1;
            Ok(Variadic::from_iter([v]))
        }),
        ("encode_sparse_array", 3, |lua, a, s| {
            let mut n = i64::from(s.sparse_convert);
            let convert = enum_option(lua, "encode_sparse_array", a, &mut n, &[])?;
            s.sparse_convert = n == 1;
            let ratio = integer_option(
                lua,
                "encode_sparse_array",
                a,
                1,
                &mut s.sparse_ratio,
                (0, INT_MAX),
            )?;
            let safe = integer_option(
                lua,
                "encode_sparse_array",
                a,
                2,
                &mut s.sparse_safe,
                (0, INT_MAX),
            )?;
            Ok(Variadic::from_iter([convert, ratio, safe]))
        }),
        ("encode_invalid_numbers", 1, |lua, a, s| {
            let v = enum_option(
                lua,
                "encode_invalid_numbers",
                a,
                &mut s.invalid_numbers,
                &["off", "on", "null"],
            )?;
            Ok(Variadic::from_iter([v]))
        }),
        ("decode_invalid_numbers", 1, |lua, a, s| {
            let mut n = i64::from(s.decode_invalid_numbers);
            let v = enum_option(lua, "decode_invalid_numbers", a, &mut n, &[])?;
            s.decode_invalid_numbers = n == 1;
            Ok(Variadic::from_iter([v]))
        }),
    ];
    for (name, most, set) in rows {
        let shared = shared.clone();
        t.set(
            name,
            lua.create_function(move |lua, args: Variadic<Value>| {
                at_most(lua, name, &args, most)?;
                let mut s = *shared.lock();
                let out = set(lua, &args, &mut s)?;
                *shared.lock() = s;
                Ok(out)
            })?,
        )?;
    }
    Ok(())
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

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    lua: &'a Lua,
    depth: usize,
    max_depth: i64,
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
        if self.depth as i64 > self.max_depth {
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
