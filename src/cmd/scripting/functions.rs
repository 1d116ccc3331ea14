//! Redis 7 functions: FUNCTION LOAD / LIST / DELETE / FLUSH / DUMP /
//! RESTORE / STATS / KILL / HELP, FCALL and FCALL_RO.
//!
//! A library is Lua code whose first line is `#!lua name=<library>`; run
//! once at load, it registers its functions with
//! `redis.register_function`. While it loads, `redis` offers only
//! registration and logging (so `redis.call` is a nonexistent global, as in
//! Redis); the functions it registers run later with the full API, in the
//! same read-only globals as EVAL scripts, and get KEYS and ARGV as their
//! two arguments. Functions run exactly like scripts (`run`): one at a
//! time, atomically, BUSY after `busy-reply-threshold`, FUNCTION KILL.

use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Table, Value, Variadic};
use parking_lot::Mutex;

use super::errors;
use super::vm::{self, positioned};
use super::Flags;
use crate::cmd::CmdError;
use crate::protocol::Frame;
use crate::state::scripts::{Engine, Handles, Library, Registered};

/// The chunk name of library code (errors say `user_function:2:`).
pub const LIBRARY_CHUNK: &str = "@user_function";

/// Functions registered by the library being loaded (None: no library
/// loads now).
pub type Pending = Arc<Mutex<Option<Vec<Registered>>>>;

fn err(text: impl Into<String>) -> CmdError {
    CmdError::Reply(Bytes::from(text.into()))
}

/// `redis.register_function` (only while a library loads).
pub fn register_function(lua: &Lua, pending: Pending) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: Variadic<Value>| {
        let fail = |msg: &str| Err(errors::Raised::err(format!("ERR {msg}")));
        let (name, callback, flags, description) = match args.as_slice() {
            [Value::Table(t)] => {
                let mut name = None;
                let mut callback = None;
                let mut flags = Flags::default();
                let mut description = None;
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, v) = pair?;
                    let key = match &k {
                        Value::String(s) => s.to_string_lossy(),
                        _ => return fail("named argument key given to redis.register_function is not a string"),
                    };
                    match (key.as_str(), v) {
                        ("function_name", Value::String(s)) => name = Some(s.as_bytes().to_vec()),
                        ("function_name", _) => return fail("function_name argument given to redis.register_function must be a string"),
                        ("callback", Value::Function(f)) => callback = Some(f),
                        ("callback", _) => return fail("callback argument given to redis.register_function must be a function"),
                        ("description", Value::String(s)) => description = Some(Bytes::copy_from_slice(&s.as_bytes())),
                        ("description", _) => return fail("description argument given to redis.register_function must be a string"),
                        ("flags", Value::Table(f)) => {
                            for flag in f.sequence_values::<Value>() {
                                let Value::String(flag) = flag? else {
                                    return fail("unknown flag given");
                                };
                                if !flags.set(&flag.as_bytes()) {
                                    return fail("unknown flag given");
                                }
                            }
                        }
                        ("flags", _) => return fail("flags argument to redis.register_function must be a table representing function flags"),
                        _ => return fail("unknown argument given to redis.register_function"),
                    }
                }
                let Some(name) = name else {
                    return fail("redis.register_function must get a function name argument");
                };
                let Some(callback) = callback else {
                    return fail("redis.register_function must get a callback argument");
                };
                (name, callback, flags, description)
            }
            [_] => return fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
            [Value::String(name), Value::Function(f)] => {
                (name.as_bytes().to_vec(), f.clone(), Flags::default(), None)
            }
            [Value::String(_), _] => return fail("second argument to redis.register_function must be a function"),
            [_, _] => return fail("first argument to redis.register_function must be a string"),
            _ => return fail("wrong number of arguments to redis.register_function"),
        };
        if !valid_name(&name) {
            // Redis 7.0 says "Library" here too.
            return fail("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        let mut pending = pending.lock();
        let Some(pending) = pending.as_mut() else {
            // A function kept the registration API (Redis checks it in C).
            return fail("redis.register_function can only be called on FUNCTION LOAD command");
        };
        if pending.iter().any(|r| r.name == name) {
            return fail("Function already exists in the library");
        }
        let _ = lua;
        pending.push(Registered {
            name,
            func: callback,
            flags,
            description,
        });
        Ok(())
    })
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// The name a library's code declares, if its metadata is valid.
pub fn library_name(code: &[u8]) -> Option<String> {
    metadata(code).ok().map(|(name, _)| name)
}

/// The library name from `#!lua name=<name>` on the first line.
fn metadata(code: &[u8]) -> Result<(String, usize), CmdError> {
    if !code.starts_with(b"#!") {
        return Err(err("ERR Missing library metadata"));
    }
    // Redis's `functionExtractLibMetaData`: the first line split as
    // `sdssplitargs` does (blanks, quotes), the engine is the first word
    // without its `#!`.
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let parts = match crate::protocol::split_inline(&code[..end]) {
        Some(parts) if !parts.is_empty() => parts,
        _ => return Err(err("ERR Invalid library metadata")),
    };
    let engine = &parts[0][2..];
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(err(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(engine)
        )));
    }
    let mut name = None;
    for part in &parts[1..] {
        let value =
            (part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=")).then(|| &part[5..]);
        match value {
            Some(_) if name.is_some() => {
                return Err(err(
                    "ERR Invalid metadata value, name argument was given multiple times",
                ))
            }
            Some(n) => name = Some(n.to_vec()),
            None => {
                return Err(err(format!(
                    "ERR Invalid metadata value given: {}",
                    String::from_utf8_lossy(part)
                )))
            }
        }
    }
    let name = name.ok_or_else(|| err("ERR Library name was not given"))?;
    if !valid_name(&name) {
        return Err(err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    Ok((String::from_utf8_lossy(&name).into_owned(), end))
}

/// Compile and run `code`, returning the library it defines (not yet
/// installed). `replace` allows an existing library of the same name.
pub fn load(
    engine: &Engine,
    handles: &Handles,
    code: &Bytes,
    replace: bool,
) -> Result<Library, CmdError> {
    let (name, shebang_end) = metadata(code)?;
    if !replace && engine.libraries.contains_key(&name) {
        return Err(err(format!("ERR Library '{name}' already exists")));
    }
    let lua = &engine.lua;
    let chunk = lua
        .load(&code[shebang_end..])
        .set_name(LIBRARY_CHUNK)
        .set_environment(handles.library_env.clone())
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            err(format!("ERR Error compiling function: {msg}"))
        })?;
    // While the library's code runs, `redis` (the load API) is its only
    // global, as in Redis 7.0; its functions see them all.
    let env_meta = handles
        .library_env
        .metatable()
        .expect("library_env gave the environment a metatable");
    let viewing = |view: &Table| {
        env_meta
            .raw_set("__index", view)
            .map_err(|e| err(format!("ERR {e}")))
    };
    viewing(&handles.load_view)?;
    *handles.pending.lock() = Some(Vec::new());
    vm::set_load_hook(lua);
    let outcome = handles
        .xpcall
        .call::<(bool, Value)>((chunk, handles.handler.clone()));
    vm::end_load_hook(lua, handles);
    viewing(&handles.globals)?;
    let registered = handles.pending.lock().take().unwrap_or_default();
    match outcome {
        Ok((true, _)) => {}
        Ok((false, e)) => {
            return Err(err(format!(
                "ERR Error registering functions: {}",
                error_message(&e)
            )))
        }
        Err(e) => return Err(err(format!("ERR Error registering functions: {e}"))),
    }
    if registered.is_empty() {
        return Err(err("ERR No functions registered"));
    }
    for r in &registered {
        if let Some(owner) = engine.functions.get(&r.name.to_ascii_lowercase()) {
            if *owner != name {
                return Err(err(format!("ERR Function {} already exists", r.name)));
            }
        }
    }
    Ok(Library {
        name,
        // A copy, not a slice of the request's read buffer (see `Cached`).
        code: Bytes::copy_from_slice(code),
        functions: registered,
    })
}

/// An error object's message (the handler's `err` field).
fn error_message(e: &Value) -> String {
    match e {
        Value::Table(t) => t
            .raw_get::<Option<mlua::String>>("err")
            .ok()
            .flatten()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default(),
        Value::String(s) => s.to_string_lossy(),
        other => format!("{other:?}"),
    }
}

/// Install `lib`, replacing a library of the same name.
pub fn install(engine: &mut Engine, lib: Library) {
    remove(engine, &lib.name.clone());
    for f in &lib.functions {
        // The first of two names differing in case wins (Redis's dictAdd).
        engine
            .functions
            .entry(f.name.to_ascii_lowercase())
            .or_insert_with(|| lib.name.clone());
    }
    engine.libraries.insert(lib.name.clone(), lib);
}

/// Remove library `name`; false if there is none.
pub fn remove(engine: &mut Engine, name: &str) -> bool {
    let Some(lib) = engine.libraries.remove(name) else {
        return false;
    };
    for f in &lib.functions {
        engine.functions.remove(&f.name.to_ascii_lowercase());
    }
    true
}

/// FUNCTION LIST's reply.
pub fn list(engine: &Engine, pattern: Option<&[u8]>, with_code: bool) -> Frame {
    let libs = engine.libraries.values().filter(|l| {
        pattern.is_none_or(|p| crate::util::glob::glob_match(p, l.name.as_bytes(), false))
    });
    Frame::Array(
        libs.map(|l| {
            let functions = l
                .functions
                .iter()
                .map(|f| {
                    let flags = f
                        .flags
                        .names()
                        .into_iter()
                        .map(|n| Frame::Simple(n.into()))
                        .collect();
                    Frame::Map(vec![
                        (
                            Frame::Bulk("name".into()),
                            Frame::Bulk(f.name.clone().into()),
                        ),
                        (
                            Frame::Bulk("description".into()),
                            f.description.clone().map_or(Frame::Null, Frame::Bulk),
                        ),
                        (Frame::Bulk("flags".into()), Frame::Set(flags)),
                    ])
                })
                .collect();
            let mut fields = vec![
                (
                    Frame::Bulk("library_name".into()),
                    Frame::Bulk(l.name.clone().into()),
                ),
                (Frame::Bulk("engine".into()), Frame::Bulk("LUA".into())),
                (Frame::Bulk("functions".into()), Frame::Array(functions)),
            ];
            if with_code {
                fields.push((
                    Frame::Bulk("library_code".into()),
                    Frame::Bulk(l.code.clone()),
                ));
            }
            Frame::Map(fields)
        })
        .collect(),
    )
}

/// FUNCTION DUMP's payload: each library as an RDB function record,
/// then the RDB version and a CRC64, as Redis writes it.
pub fn dump(engine: &Engine) -> Bytes {
    let mut buf = Vec::new();
    for lib in engine.libraries.values() {
        buf.push(crate::db::rdb::op::FUNCTION2);
        crate::db::rdb::put_string(&mut buf, &lib.code, true);
    }
    crate::db::rdb::seal_payload(&mut buf);
    buf.into()
}

/// The library codes in a FUNCTION DUMP payload.
pub fn parse_dump(payload: &[u8]) -> Result<Vec<Bytes>, CmdError> {
    let body = crate::db::rdb::open_payload(payload, true)
        .ok_or_else(|| err("ERR DUMP payload version or checksum are wrong"))?;
    crate::db::rdb::function_records(body)
        .map(|codes| codes.into_iter().map(Bytes::from).collect())
        .ok_or_else(|| err("ERR given type is not a function"))
}

/// The libraries' code (for snapshots).
pub fn codes(engine: &Engine) -> Vec<Bytes> {
    engine.libraries.values().map(|l| l.code.clone()).collect()
}

/// Count of (libraries, functions): every library's functions, as Redis's
/// engine statistics count them (two names differing only in case are
/// two functions, though FCALL reaches the first).
pub fn counts(engine: &Engine) -> (usize, usize) {
    let functions = engine.libraries.values().map(|l| l.functions.len()).sum();
    (engine.libraries.len(), functions)
}

/// The environment libraries load and run in: reads go to the globals
/// (its `__index` is the table behind them, so Lua finds them itself, and
/// a missing one gets the globals' error), writes are refused. While a
/// library loads, `load` points `__index` at the second table returned,
/// where `redis` (the load API, `load_redis`) is the only name.
pub fn library_env(lua: &Lua, store: &Table, load_redis: Table) -> mlua::Result<(Table, Table)> {
    let load_view = lua.create_table()?;
    load_view.raw_set("redis", load_redis)?;
    let missing = lua.create_table()?;
    missing.raw_set("__index", super::sandbox::missing_global(lua)?)?;
    load_view.set_metatable(Some(missing));
    let env = lua.create_table()?;
    let meta = lua.create_table()?;
    meta.raw_set("__index", store.clone())?;
    meta.raw_set(
        "__newindex",
        lua.create_function(|lua, _: Variadic<Value>| -> mlua::Result<()> {
            Err(positioned(lua, "Attempt to modify a readonly table"))
        })?,
    )?;
    meta.raw_set("__metatable", false)?;
    env.set_metatable(Some(meta));
    Ok((env, load_view))
}

/// `redis` while a library loads: registration, logging and the version;
/// anything else is a nonexistent global, as in Redis.
pub fn load_time_redis(lua: &Lua, store: &Table, pending: Pending) -> mlua::Result<Table> {
    let full: Table = store.raw_get("redis")?;
    let t = lua.create_table()?;
    t.raw_set("register_function", register_function(lua, pending)?)?;
    for name in [
        "log",
        "LOG_DEBUG",
        "LOG_VERBOSE",
        "LOG_NOTICE",
        "LOG_WARNING",
        "REDIS_VERSION",
        "REDIS_VERSION_NUM",
    ] {
        t.raw_set(name, full.get::<Value>(name)?)?;
    }
    let meta = lua.create_table()?;
    meta.raw_set("__index", super::sandbox::missing_global(lua)?)?;
    meta.raw_set(
        "__newindex",
        lua.create_function(|lua, _: MultiValue| -> mlua::Result<()> {
            Err(positioned(lua, "Attempt to modify a readonly table"))
        })?,
    )?;
    meta.raw_set("__metatable", false)?;
    t.set_metatable(Some(meta));
    Ok(t)
}
