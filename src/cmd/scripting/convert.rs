//! Conversions between command replies and Lua values, as Redis's
//! `redisProtocolToLuaType` and `luaReplyToRedisReply` do them, and
//! `redis.call`'s arguments.

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value};

use super::errors::{error_table, IGNORE_ERROR_STATS};
use crate::protocol::Frame;

/// Tables deeper than this in a reply become an error element (Redis stops
/// at its Lua stack limit).
const MAX_DEPTH: usize = 1000;

/// A command reply as Lua sees it (Redis's `redisProtocolToLuaType`).
/// `resp` is the script's protocol: RESP3 nulls are nil, RESP2's false.
pub fn frame_to_lua(lua: &Lua, frame: Frame, resp: i64) -> mlua::Result<Value> {
    let frame = if resp == 2 { as_resp2(frame) } else { frame };
    Ok(match frame {
        Frame::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(&s)?)?;
            Value::Table(t)
        }
        Frame::Error(e) => {
            let t = error_table(lua, &[&b"-"[..], &e].concat())?;
            t.raw_set(IGNORE_ERROR_STATS, true)?;
            Value::Table(t)
        }
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(b) => Value::String(lua.create_string(&b)?),
        Frame::Inline(i) => Value::String(lua.create_string(i.as_bytes())?),
        Frame::Null | Frame::NullArray if resp == 3 => Value::Nil,
        Frame::Null | Frame::NullArray => Value::Boolean(false),
        // An attribute and the reply after it: the script sees the reply
        // (Redis's parser skips attributes).
        Frame::Seq(mut items) if matches!(items.first(), Some(Frame::Attribute(_))) => {
            match items.pop() {
                Some(reply) if items.len() == 1 => return frame_to_lua(lua, reply, resp),
                _ => Value::Nil,
            }
        }
        Frame::Array(items) | Frame::Seq(items) | Frame::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, f) in items.into_iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, f, resp)?)?;
            }
            Value::Table(t)
        }
        Frame::Pairs(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            let mut i = 1;
            for (a, b) in pairs {
                t.raw_set(i, frame_to_lua(lua, a, resp)?)?;
                t.raw_set(i + 1, frame_to_lua(lua, b, resp)?)?;
                i += 2;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let inner = lua.create_table()?;
            for (k, v) in pairs {
                inner.raw_set(frame_to_lua(lua, k, resp)?, frame_to_lua(lua, v, resp)?)?;
            }
            let t = lua.create_table()?;
            t.raw_set("map", inner)?;
            Value::Table(t)
        }
        Frame::Set(items) => {
            let inner = lua.create_table()?;
            for f in items {
                inner.raw_set(frame_to_lua(lua, f, resp)?, true)?;
            }
            let t = lua.create_table()?;
            t.raw_set("set", inner)?;
            Value::Table(t)
        }
        Frame::Double(d) => {
            let t = lua.create_table()?;
            t.raw_set("double", d)?;
            Value::Table(t)
        }
        Frame::DoubleText(text) => {
            let d = std::str::from_utf8(&text)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
            let t = lua.create_table()?;
            t.raw_set("double", d)?;
            Value::Table(t)
        }
        Frame::Boolean(b) => Value::Boolean(b),
        // An attribute alone (never sent without its reply).
        Frame::Attribute(_) => Value::Nil,
        Frame::BigNumber(n) => {
            let t = lua.create_table()?;
            t.raw_set("big_number", lua.create_string(&n)?)?;
            Value::Table(t)
        }
        Frame::Verbatim(format, text) => {
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(&text)?)?;
            inner.raw_set("format", format)?;
            let t = lua.create_table()?;
            t.raw_set("verbatim_string", inner)?;
            Value::Table(t)
        }
    })
}

/// A RESP3-only reply as a RESP2 script sees it: Redis converts the
/// reply's RESP2 encoding (a map is a flat array, a boolean an integer, a
/// double, big number or verbatim string a bulk string).
fn as_resp2(frame: Frame) -> Frame {
    match frame {
        Frame::Map(pairs) => Frame::Pairs(pairs),
        Frame::Set(items) => Frame::Array(items),
        Frame::Double(d) => Frame::Bulk(crate::util::numbers::fmt_g17(d).into()),
        Frame::DoubleText(t) | Frame::BigNumber(t) | Frame::Verbatim(_, t) => Frame::Bulk(t),
        Frame::Boolean(b) => Frame::Integer(i64::from(b)),
        other => other,
    }
}

/// A script's result as a reply (Redis's `luaReplyToRedisReply`). `resp`
/// is the script's protocol (`redis.setresp`), which decides booleans.
pub fn lua_to_frame(value: &Value, resp: i64) -> Frame {
    to_frame(value, resp, 0)
}

fn to_frame(value: &Value, resp: i64, depth: usize) -> Frame {
    if depth > MAX_DEPTH {
        return Frame::error("ERR reached lua stack limit");
    }
    match value {
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if resp == 2 => {
            if *b {
                Frame::Integer(1)
            } else {
                Frame::Null
            }
        }
        Value::Boolean(b) => Frame::Boolean(*b),
        Value::Integer(n) => Frame::Integer(*n),
        Value::Number(n) => Frame::Integer(truncate(*n)),
        Value::Table(t) => table_to_frame(t, resp, depth),
        _ => Frame::Null,
    }
}

/// C's `(long long)` of a double as x86 does it: truncation, and the
/// "integer indefinite" value for what does not fit.
fn truncate(n: f64) -> i64 {
    if n.is_nan() || !(-9.223372036854776e18..9.223372036854776e18).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn table_to_frame(t: &Table, resp: i64, depth: usize) -> Frame {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        // As Redis's addReplyErrorFormat: no CR or LF inside an error.
        let text: Vec<u8> = e.as_bytes().iter().map(no_crlf).collect();
        return Frame::Error(text.into());
    }
    if let Value::String(s) = field("ok") {
        let text: Vec<u8> = s.as_bytes().iter().map(no_crlf).collect();
        return Frame::Simple(text.into());
    }
    match field("double") {
        Value::Number(d) => return Frame::Double(d),
        Value::Integer(n) => return Frame::Double(n as f64),
        _ => {}
    }
    if let Value::String(s) = field("big_number") {
        let text: Vec<u8> = s.as_bytes().iter().map(no_crlf).collect();
        return Frame::BigNumber(text.into());
    }
    if let Value::Table(v) = field("verbatim_string") {
        if let (Ok(Value::String(format)), Ok(Value::String(s))) =
            (v.raw_get::<Value>("format"), v.raw_get::<Value>("string"))
        {
            let format = match &*format.as_bytes() {
                b"mkd" => "mkd",
                _ => "txt",
            };
            return Frame::Verbatim(format, Bytes::copy_from_slice(&s.as_bytes()));
        }
    }
    if let Value::Table(m) = field("map") {
        let pairs = m
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, v)| (to_frame(&k, resp, depth + 1), to_frame(&v, resp, depth + 1)))
            .collect();
        return Frame::Map(pairs);
    }
    if let Value::Table(s) = field("set") {
        let items = s
            .pairs::<Value, Value>()
            .filter_map(Result::ok)
            .map(|(k, _)| to_frame(&k, resp, depth + 1))
            .collect();
        return Frame::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_frame(&v, resp, depth + 1)),
        }
    }
    Frame::Array(items)
}

/// The arguments of `redis.call` as command arguments (Redis's
/// `luaArgsToRedisArgv`): strings as they are, numbers as `%.17g`.
pub fn args_to_argv(lua: &Lua, args: &MultiValue) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let _ = lua;
    let mut argv = Vec::with_capacity(args.len());
    for v in args {
        match v {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => argv.push(Bytes::from(n.to_string())),
            Value::Number(n) => argv.push(Bytes::from(crate::util::numbers::fmt_g(*n, 17))),
            _ => return Err("Lua redis lib command arguments must be strings or integers"),
        }
    }
    Ok(argv)
}

/// CR and LF as spaces (Redis keeps them out of status and error lines).
fn no_crlf(b: &u8) -> u8 {
    if *b == b'\r' || *b == b'\n' {
        b' '
    } else {
        *b
    }
}
