//! cjson's settings functions (lua-cjson's `json_config_t` and its
//! `json_integer_option` / `json_enum_option` argument rules).

use mlua::{Lua, Table, Value, Variadic};

use super::super::luaargs::arg_error;

/// One VM's cjson settings (lua-cjson's `json_config_t`).
#[derive(Clone, Copy)]
pub(super) struct Settings {
    pub(super) encode_max_depth: i64,
    pub(super) decode_max_depth: i64,
    /// Significant digits of encoded numbers.
    pub(super) precision: i64,
    pub(super) keep_buffer: bool,
    /// A sparse array: encoded as an object (`true`) or refused, when its
    /// largest index is over `sparse_ratio` times its element count and
    /// over `sparse_safe`.
    pub(super) sparse_convert: bool,
    pub(super) sparse_ratio: i64,
    pub(super) sparse_safe: i64,
    /// NaN and infinities: 0 refused, 1 as `NaN`/`Infinity`, 2 as `null`.
    pub(super) invalid_numbers: i64,
    pub(super) decode_invalid_numbers: bool,
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

pub(super) type Shared = std::sync::Arc<parking_lot::Mutex<Settings>>;

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
pub(super) fn settings(lua: &Lua, t: &Table, shared: &Shared) -> mlua::Result<()> {
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
