//! The Lua environment a script sees, as Redis 7.0 sets it up, and the
//! conversions between Lua values and replies.
//!
//! The environment: Lua 5.1's base, table, string and math libraries (no
//! os, io, package, dofile, loadfile or print), the `redis` API, and the
//! `bit`, `cjson`, `cmsgpack` and `struct` libraries. The globals are
//! read-only as in Redis 7.0: every global lives in a hidden table behind the thread's (empty) globals table, whose
//! metatable answers a missing name with Redis's "nonexistent global
//! variable" error and refuses any assignment ("Attempt to modify a
//! readonly table"), and so do the library tables. `rawset` refuses the
//! protected tables too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, Variadic, VmState};

use super::errors::{error_handler, error_table, killed_error, raise, raised_text, Raised};
use crate::state::scripts::{Handles, KillCheck};
use scoped_tls_hkt::{scoped_thread_local, ReborrowMut};

pub use super::luaargs::positioned;

/// The chunk name of EVAL scripts (errors say `user_script:1:`).
pub const SCRIPT_CHUNK: &str = "@user_script";
/// The chunk name of FlashKV's own Lua code, skipped when an error is
/// placed.
pub(super) const PRELUDE_CHUNK: &str = "@flashkv_api";

/// Registry names.
pub(super) const GLOBALS: &str = "flashkv.globals";
const HANDLER: &str = "flashkv.handler";

/// The VM's memory limit: a script that allocates without bound fails
/// with Lua's "not enough memory" instead of taking the server's memory.
#[cfg(not(fuzzing))]
pub const MEMORY_LIMIT: usize = 1 << 30;
/// Under the fuzzer (whose RSS limit is 2 GB under ASan), much less.
#[cfg(fuzzing)]
pub const MEMORY_LIMIT: usize = 32 << 20;

/// The memory limit lifted while Rust code (not the script) builds Lua
/// values: the arguments of an invocation, the reply of a `redis.call`.
///
/// With a limit set, mlua runs every value it creates under a protected
/// call (a C closure allocated and collected each time: about 1,800
/// instructions for one small string), since an allocation may fail
/// there. Without one, an allocation cannot fail (mlua's allocator aborts
/// on a real out-of-memory, as Redis does), so the values are made
/// directly. The limit is there for what a script allocates itself, and
/// holds again as soon as the script's code runs: what is built here is
/// bounded by the command's own reply (Redis sets no limit at all).
pub struct Unlimited<'l> {
    lua: &'l Lua,
    limit: usize,
}

impl<'l> Unlimited<'l> {
    /// Lift the limit until the guard drops.
    pub fn new(lua: &'l Lua) -> Self {
        let limit = lua.set_memory_limit(0).unwrap_or(0);
        Unlimited { lua, limit }
    }
}

impl Drop for Unlimited<'_> {
    fn drop(&mut self) {
        let _ = self.lua.set_memory_limit(self.limit);
    }
}

/// What Redis's API looks like from Lua, on top of the Rust functions.
const PRELUDE: &str = r#"
local raw_pcall, error_text, type = ...
-- Redis 7's pcall hands back the message of a {err=...} error.
local function fix(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == 'table' then
    local m = e.err
    if type(m) == 'string' or type(m) == 'number' then return false, m end
  elseif type(e) == 'userdata' then
    local m = error_text(e)
    if m then return false, m end
  end
  return false, e
end
pcall = function(...) return fix(raw_pcall(...)) end
"#;

/// One invocation's last steps, taken inside the VM: each table store done
/// from Rust would be a protected call through the binding, allocating a
/// C closure (Lua 5.1 has no light C functions).
///
/// `invoke(f, handler, is_function, keys, argv)`: `f` runs under
/// `handler` (a script with `keys` and `argv` as the globals KEYS and ARGV, a function
/// as `f(keys, argv)`). Returns what `xpcall` returns.
///
/// `xpcall` is called in tail position and on the line of its `return`,
/// so no Lua line runs after the script: once SCRIPT KILL switched the
/// hook to raise on every line, a line here would raise outside `xpcall`
/// and the killed script's error would lose its form.
const INVOKE: &str = r#"
local xpcall, G = ...
return function(f, handler, is_function, keys, argv)
  if is_function then
    return xpcall(function() return f(keys, argv) end, handler)
  end
  -- G has no __newindex: these are plain stores.
  G.KEYS = keys
  G.ARGV = argv
  return xpcall(f, handler)
end
"#;

/// Set up `lua` as Redis 7.0 does (once per VM); `kill_requested` is
/// polled every [`HOOK_EVERY`] instructions (SCRIPT KILL).
pub fn install(
    lua: &Lua,
    kill_requested: impl Fn() -> bool + Send + Sync + 'static,
) -> mlua::Result<Handles> {
    lua.set_memory_limit(MEMORY_LIMIT)?;
    // Every call leaves a little garbage (argument tables, strings): a
    // full cycle when the heap has grown 4x rather than 2x halves the
    // collector's share of a short script's cost.
    lua.gc_set_pause(400);
    let g = lua.globals();
    for name in ["dofile", "loadfile", "print", "newproxy"] {
        g.raw_set(name, Value::Nil)?;
    }
    let redis = lua.create_table()?;
    install_redis_api(lua, &redis)?;
    install_call(lua, &redis)?;
    g.raw_set("redis", redis.clone())?;
    g.raw_set("bit", super::bit::library(lua)?)?;
    g.raw_set("cjson", super::cjson::library(lua)?)?;
    g.raw_set("cmsgpack", super::cmsgpack::library(lua)?)?;
    g.raw_set("struct", super::structlib::library(lua)?)?;
    let raw_pcall: Function = g.raw_get("pcall")?;
    let type_of: Function = g.raw_get("type")?;
    let caught = lua.create_function(|lua, e: Value| match e {
        Value::Error(e) => Ok(Some(lua.create_string(raised_text(&e))?)),
        _ => Ok(None),
    })?;
    lua.load(PRELUDE)
        .set_name(PRELUDE_CHUNK)
        .call::<()>((raw_pcall, caught, type_of))?;
    let handler = lua.create_function(error_handler)?;
    lua.set_named_registry_value(HANDLER, &handler)?;
    super::sandbox::protect_globals(lua)?;
    let globals: Table = lua.named_registry_value(GLOBALS)?;
    let killed = Arc::new(AtomicBool::new(false));
    let kill_check: KillCheck = Arc::new(kill_requested);
    set_kill_hook(lua, kill_check.clone(), killed.clone());
    let pending: super::functions::Pending = Arc::default();
    let load_redis = super::functions::load_time_redis(lua, &globals, pending.clone())?;
    let (library_env, load_view) = super::functions::library_env(lua, &globals, load_redis)?;
    let invoke: Function = lua
        .load(INVOKE)
        .set_name(PRELUDE_CHUNK)
        .call((globals.raw_get::<Function>("xpcall")?, globals.clone()))?;
    // What setting up left behind goes now, so the collection policy
    // (`run::collect_garbage`) starts from the live heap.
    lua.gc_collect()?;
    Ok(Handles {
        gc_base: std::sync::atomic::AtomicUsize::new(lua.used_memory()),
        library_env,
        pending,
        load_view,
        invoke,
        xpcall: globals.raw_get("xpcall")?,
        globals,
        handler,
        killed,
        kill_check,
    })
}

/// Instructions between checks for SCRIPT KILL.
pub const HOOK_EVERY: u32 = 100_000;

/// The hook that stops a script SCRIPT KILL asked to stop. Once it fires
/// it raises on every line, so a pcall cannot keep the script alive;
/// [`restore_hook`] puts the counting hook back after the script.
fn set_kill_hook(lua: &Lua, check: KillCheck, killed: Arc<AtomicBool>) {
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |lua, _| {
            if !check() {
                return Ok(VmState::Continue);
            }
            tracing::warn!("Lua script killed by user with SCRIPT KILL.");
            killed.store(true, Ordering::Relaxed);
            lua.set_hook(HookTriggers::EVERY_LINE, |_, _| Err(killed_error()));
            Err(killed_error())
        },
    );
}

/// How long a library's code may run while FUNCTION LOAD registers it
/// (Redis's `LOAD_TIMEOUT_MS`).
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// While a library loads: past [`LOAD_TIMEOUT`] it fails with Redis's
/// error, and so does every line after (pcall cannot keep it going).
pub fn set_load_hook(lua: &Lua) {
    let start = std::time::Instant::now();
    let timeout = || Raised::err("ERR FUNCTION LOAD timeout".into());
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |lua, _| {
            if start.elapsed() < LOAD_TIMEOUT {
                return Ok(VmState::Continue);
            }
            lua.set_hook(HookTriggers::EVERY_LINE, move |_, _| Err(timeout()));
            Err(timeout())
        },
    );
}

/// After a library loaded: the counting hook scripts run under.
pub fn end_load_hook(lua: &Lua, handles: &Handles) {
    set_kill_hook(lua, handles.kill_check.clone(), handles.killed.clone());
}

/// After a script that was killed: the counting hook again.
pub fn restore_hook(lua: &Lua, handles: &Handles) {
    if handles.killed.swap(false, Ordering::Relaxed) {
        set_kill_hook(lua, handles.kill_check.clone(), handles.killed.clone());
    }
}

thread_local! {
    /// The RESP version the running invocation's `redis.setresp` chose.
    static RESP: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// The RESP version the running invocation chose with `redis.setresp`,
/// if it did.
pub fn script_resp() -> Option<i64> {
    RESP.get()
}

/// [`script_resp`], forgotten: each invocation takes it when it ends, so
/// the next starts without.
pub fn take_script_resp() -> Option<i64> {
    RESP.take()
}

/// The running invocation's command runner: `(lua, arguments, pcall)`
/// runs one command for `redis.call` (or, with `pcall`, `redis.pcall`,
/// which returns an error reply instead of raising it). Set by
/// `run::invoke` for the length of one invocation, so the permanent
/// functions reach it without a function made per invocation (mlua's
/// scope costs a userdata, a closure and a destructor per EVAL).
pub struct Caller<'a>(pub &'a mut (dyn FnMut(&Lua, MultiValue, bool) -> mlua::Result<Value> + 'a));

impl<'a, 'b: 'a> ReborrowMut<'a> for Caller<'b> {
    type Result = Caller<'a>;
    fn reborrow_mut(&'a mut self) -> Caller<'a> {
        Caller(&mut *self.0)
    }
}

scoped_thread_local!(
    /// The running invocation's [`Caller`] on this thread. While a call
    /// runs it appears unset, so a command cannot reach it twice.
    pub static mut CALLER: for<'a> Caller<'a>
);

/// `redis.call` and `redis.pcall` are Rust (C) functions, as in Redis, so
/// a `return redis.call(...)` is no tail call and errors are placed at the
/// script's line. Both are made once per VM and run the command through
/// the invocation's [`CALLER`]: one call from the script into Rust per
/// command. Outside an invocation both answer with Redis's error for a
/// call outside a script.
fn install_call(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    for pcall in [false, true] {
        let f = lua.create_function(move |lua, args: MultiValue| {
            if !CALLER.is_set() {
                return Err(Raised::err(
                    "ERR redis.call/pcall can only be called inside a script invocation".into(),
                ));
            }
            CALLER.with(|call| (call.0)(lua, args, pcall))
        })?;
        redis.raw_set(if pcall { "pcall" } else { "call" }, f)?;
    }
    Ok(())
}

fn install_redis_api(lua: &Lua, redis: &Table) -> mlua::Result<()> {
    redis.set(
        "sha1hex",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(raise(lua, "wrong number of arguments"));
            }
            let bytes = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(n) => n.to_string().into_bytes(),
                Value::Number(n) => lua_number_text(*n).into_bytes(),
                _ => Vec::new(),
            };
            Ok(crate::util::sha1_hex(&bytes).to_vec()).and_then(|hex| lua.create_string(hex))
        })?,
    )?;
    redis.set(
        "error_reply",
        lua.create_function(|lua, args: Variadic<Value>| match args.as_slice() {
            [Value::String(s)] => {
                let text = s.as_bytes();
                let text = if text.first() == Some(&b'-') {
                    text.to_vec()
                } else {
                    [&b"-"[..], &text].concat()
                };
                error_table(lua, &text)
            }
            _ => error_table(lua, b"wrong number or type of arguments"),
        })?,
    )?;
    redis.set(
        "status_reply",
        lua.create_function(|lua, args: Variadic<Value>| match args.as_slice() {
            [Value::String(s)] => {
                let t = lua.create_table()?;
                t.raw_set("ok", s.clone())?;
                Ok(t)
            }
            _ => error_table(lua, b"wrong number or type of arguments"),
        })?,
    )?;
    redis.set(
        "log",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() < 2 {
                return Err(raise(lua, "redis.log() requires two arguments or more."));
            }
            let level = match lua.coerce_number(args[0].clone())? {
                Some(n) => n as i64,
                None => return Err(raise(lua, "First argument must be a number (log level).")),
            };
            if !(0..=3).contains(&level) {
                return Err(raise(lua, "Invalid debug level."));
            }
            let mut text = Vec::new();
            for (i, v) in args[1..].iter().enumerate() {
                if let Some(s) = lua.coerce_string(v.clone())? {
                    if i > 0 {
                        text.push(b' ');
                    }
                    text.extend_from_slice(&s.as_bytes());
                }
            }
            let text = String::from_utf8_lossy(&text);
            match level {
                0 => tracing::debug!(target: "script", "{text}"),
                1 => tracing::info!(target: "script", "{text}"),
                2 => tracing::info!(target: "script", "{text}"),
                _ => tracing::warn!(target: "script", "{text}"),
            }
            Ok(())
        })?,
    )?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.set(name, level)?;
    }
    redis.set("REDIS_VERSION", crate::REDIS_VERSION)?;
    redis.set("REDIS_VERSION_NUM", redis_version_num())?;
    redis.set(
        "set_repl",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(raise(lua, "redis.set_repl() requires two arguments."));
            }
            let flags = lua.coerce_number(args[0].clone())?.unwrap_or(0.0) as i64;
            if flags & !3 != 0 {
                return Err(raise(
                    lua,
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            Ok(())
        })?,
    )?;
    for (name, flags) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.set(name, flags)?;
    }
    redis.set(
        "replicate_commands",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    redis.set(
        "breakpoint",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    redis.set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.set(
        "setresp",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.len() != 1 {
                return Err(raise(lua, "redis.setresp() requires one argument."));
            }
            let resp = lua.coerce_number(args[0].clone())?.unwrap_or(0.0) as i64;
            if resp != 2 && resp != 3 {
                return Err(raise(lua, "RESP version must be 2 or 3."));
            }
            RESP.set(Some(resp));
            Ok(())
        })?,
    )?;
    Ok(())
}

/// Redis's version as a number (7.0.15 -> 0x07000f).
fn redis_version_num() -> i64 {
    let mut parts = crate::REDIS_VERSION
        .split('.')
        .map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (a << 16) | (b << 8) | c
}

/// Lua 5.1's `%.14g` number text (tostring of a number).
pub fn lua_number_text(n: f64) -> String {
    crate::util::numbers::fmt_g(n, 14)
}
