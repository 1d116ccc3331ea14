//! Errors in scripts, as Redis raises and reports them: the reply text a
//! Rust function raises ([`Raised`]), the error table a command's error
//! reply becomes in Lua ([`error_table`]), and the handler that places any
//! error at the script line that raised it ([`error_handler`]).

use mlua::{Lua, Table, Value};

use super::vm::PRELUDE_CHUNK;

/// The error a killed script stops with.
pub fn killed_error() -> mlua::Error {
    Raised::err("ERR Script killed by user with SCRIPT KILL...".into())
}

/// The error `redis.call` raises for an error `reply` (its `err` text).
pub fn raised_reply(reply: &Value) -> mlua::Result<mlua::Error> {
    let text = match reply {
        Value::Table(t) => t
            .raw_get::<Option<mlua::String>>("err")?
            .map(|s| s.to_string_lossy())
            .unwrap_or_default(),
        _ => String::new(),
    };
    Ok(Raised::counted(text))
}

/// An error raised from a Rust function, as Redis's `luaPushError` +
/// `lua_error` raise it: the reply text `ERR <msg>`, kept as it is.
pub(super) fn raise(_: &Lua, msg: &str) -> mlua::Error {
    Raised::err(format!("ERR {msg}"))
}

/// An error whose text is already a reply (`CODE message`): the handler
/// uses it as it is, where a plain runtime error gets `ERR ` in front.
/// The flag: the error was counted in errorstats when a command replied
/// with it (`redis.call` raising it), so the script's reply must not count
/// it again.
#[derive(Debug)]
pub struct Raised(pub String, pub bool);

impl Raised {
    /// As an mlua error.
    pub fn err(text: String) -> mlua::Error {
        mlua::Error::external(Raised(text, false))
    }

    /// A command's error reply that `redis.call` raises.
    pub fn counted(text: String) -> mlua::Error {
        mlua::Error::external(Raised(text, true))
    }
}

/// Was `e` raised by `redis.call` from a command's error reply?
fn counted(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            counted(cause)
        }
        mlua::Error::ExternalError(ext) => ext.downcast_ref::<Raised>().is_some_and(|r| r.1),
        _ => false,
    }
}

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// Redis's `luaPushErrorBuff`: `-CODE msg` keeps its code, `msg` gets ERR;
/// trailing CR/LF trimmed.
pub fn error_table(lua: &Lua, text: &[u8]) -> mlua::Result<Table> {
    let mut out = Vec::with_capacity(text.len() + 4);
    if let Some(rest) = text.strip_prefix(b"-") {
        match rest.iter().position(|&b| b == b' ') {
            Some(i) => {
                out.extend_from_slice(&rest[..i]);
                out.push(b' ');
                out.extend_from_slice(trim_crlf(&rest[i + 1..]));
            }
            None => {
                out.extend_from_slice(b"ERR ");
                out.extend_from_slice(trim_crlf(rest));
            }
        }
    } else {
        out.extend_from_slice(b"ERR ");
        out.extend_from_slice(trim_crlf(text));
    }
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(&out)?)?;
    Ok(t)
}

/// The field Redis sets on the error tables of command replies: counted
/// in errorstats already.
pub const IGNORE_ERROR_STATS: &str = "ignore_error_stats_update";

fn trim_crlf(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b"\r\n".contains(b))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b"\r\n".contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// The error handler scripts run under (Redis's `__redis__err__handler`):
/// turn any error into a table `{err=..., source=..., line=...}` placed at
/// the script line that raised it.
pub(super) fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Value> {
    let table = match err {
        Value::Table(t) => t,
        Value::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(error_text(&e))?)?;
            if counted(&e) {
                t.raw_set(IGNORE_ERROR_STATS, true)?;
            }
            t
        }
        other => {
            let text = match lua.coerce_string(other.clone())? {
                Some(s) => s.as_bytes().to_vec(),
                None => other.to_string().unwrap_or_default().into_bytes(),
            };
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string([&b"ERR "[..], &text].concat())?)?;
            t
        }
    };
    // The first frame that is the user's code (not a C function and not
    // FlashKV's wrappers): where Redis's handler looks (level 2, or 3
    // when 2 is a C function).
    let mut level = 1;
    while let Some(frame) = lua.inspect_stack(level) {
        let source = frame.source();
        if source.what != "C" && source.source.as_deref() != Some(PRELUDE_CHUNK) {
            if let Some(src) = source.source {
                table.raw_set("source", src.to_string())?;
            }
            table.raw_set("line", frame.curr_line())?;
            break;
        }
        level += 1;
    }
    Ok(Value::Table(table))
}

/// What Lua's `pcall` hands a script for an error raised from Rust: the
/// reply text of a raised reply, the message of a runtime error.
pub(super) fn raised_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::MemoryError(_) => "not enough memory".into(),
        mlua::Error::RuntimeError(s) => s.clone(),
        mlua::Error::CallbackError { cause, .. } => raised_text(cause),
        mlua::Error::WithContext { cause, .. } => raised_text(cause),
        mlua::Error::ExternalError(ext) => match ext.downcast_ref::<Raised>() {
            Some(r) => r.0.clone(),
            None => ext.to_string(),
        },
        other => other.to_string(),
    }
}

/// The text of an error that reached the handler as a Rust error.
fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::MemoryError(_) => "ERR not enough memory".into(),
        mlua::Error::RuntimeError(s) => format!("ERR {s}"),
        mlua::Error::ExternalError(ext) => match ext.downcast_ref::<Raised>() {
            Some(r) => r.0.clone(),
            None => format!("ERR {ext}"),
        },
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::WithContext { cause, .. } => error_text(cause),
        other => format!("ERR {other}"),
    }
}
