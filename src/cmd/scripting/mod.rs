//! Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! One Lua 5.1 VM runs every script, one at a time, as in Redis (its
//! environment and the reply conversions are in [`vm`]; how a script runs
//! atomically without stopping the server is in [`run`]). Scripts are
//! cached by SHA1. The cache is bounded as Redis 7.4 bounds it: scripts
//! that arrived by EVAL (not SCRIPT LOAD) beyond [`EVAL_CACHE_MAX`] are
//! evicted least recently used first, so clients that generate a new
//! script per call cannot grow it without end.

mod cjson;
mod convert;
mod functions;
mod run;
mod vm;

use std::sync::Arc;

use bytes::Bytes;
use store_api::Store;

use super::context::Ctx;
use super::{help_reply, parse_int, Args, CmdError, Command, Row};
use crate::protocol::Frame;
use crate::state::scripts::{Busy, Cached, Engine, KillRefused};
use crate::state::ServerState;

/// Scripts loaded by EVAL kept at most (older ones are evicted).
pub const EVAL_CACHE_MAX: usize = 500;

/// Scripting commands.
#[derive(Debug)]
pub enum Cmd {
    /// `EVAL`, `EVALSHA` and their `_RO` forms.
    Eval(Eval),
    /// `SCRIPT LOAD script`
    Load(Bytes),
    /// `SCRIPT EXISTS sha1 [sha1 ...]`
    Exists(Vec<Bytes>),
    /// `SCRIPT FLUSH [ASYNC|SYNC]`
    Flush,
    /// `SCRIPT KILL`
    Kill,
    /// `SCRIPT HELP`
    Help,
    /// `FCALL` / `FCALL_RO`
    Fcall(Eval),
    /// `FUNCTION LOAD [REPLACE] code`
    FunctionLoad(bool, Bytes),
    /// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`
    FunctionList(Option<Bytes>, bool),
    /// `FUNCTION DELETE library`
    FunctionDelete(Bytes),
    /// `FUNCTION FLUSH [ASYNC|SYNC]`
    FunctionFlush,
    /// `FUNCTION DUMP`
    FunctionDump,
    /// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`
    FunctionRestore(Bytes, Restore),
    /// `FUNCTION STATS`
    FunctionStats,
    /// `FUNCTION KILL`
    FunctionKill,
    /// `FUNCTION HELP`
    FunctionHelp,
}

/// FUNCTION RESTORE's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// Drop every library first.
    Flush,
    /// Add; a library that exists fails the whole restore.
    Append,
    /// Add, replacing libraries of the same name.
    Replace,
}

/// An EVAL-family call.
#[derive(Debug)]
pub struct Eval {
    /// The body (EVAL) or the SHA1 (EVALSHA).
    script: Bytes,
    by_sha: bool,
    read_only: bool,
    keys: Vec<Bytes>,
    args: Vec<Bytes>,
}

/// A script's flags (the `#!lua flags=` shebang; EVAL_RO adds no-writes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `no-writes`
    pub no_writes: bool,
    /// `allow-oom`
    pub allow_oom: bool,
}

fn parse_eval(mut a: Args<'_>, by_sha: bool, read_only: bool) -> Result<Command, CmdError> {
    let script = a.bytes()?;
    let numkeys = parse_int(&a.bytes()?)?;
    let (keys, args) = split_keys(numkeys, a.rest())?;
    Ok(Command::Scripting(Cmd::Eval(Eval {
        script,
        by_sha,
        read_only,
        keys,
        args,
    })))
}

/// `numkeys` keys, then the arguments, with Redis's errors for a count
/// that does not fit.
fn split_keys(numkeys: i64, mut keys: Vec<Bytes>) -> Result<(Vec<Bytes>, Vec<Bytes>), CmdError> {
    if numkeys < 0 {
        return Err(CmdError::NumKeysNegative);
    }
    if numkeys as u64 > keys.len() as u64 {
        return Err(CmdError::NumKeysTooMany);
    }
    let args = keys.split_off(numkeys as usize);
    Ok((keys, args))
}

fn parse_fcall(mut a: Args<'_>, read_only: bool) -> Result<Command, CmdError> {
    let name = a.bytes()?;
    let numkeys = parse_int(&a.bytes()?).map_err(|_| reply("ERR Bad number of keys provided"))?;
    let (keys, args) = split_keys(numkeys, a.rest())?;
    Ok(Command::Scripting(Cmd::Fcall(Eval {
        script: name,
        by_sha: false,
        read_only,
        keys,
        args,
    })))
}

fn reply(text: &'static str) -> CmdError {
    CmdError::Reply(Bytes::from_static(text.as_bytes()))
}

fn parse_function_load(a: Args<'_>) -> Result<Command, CmdError> {
    let mut args = a.rest();
    let code = args.pop().unwrap_or_default();
    let mut replace = false;
    for opt in &args {
        if super::is(opt, "REPLACE") {
            replace = true;
        } else {
            return Err(CmdError::Reply(Bytes::from(
                [&b"ERR Unknown option given: "[..], opt].concat(),
            )));
        }
    }
    Ok(Command::Scripting(Cmd::FunctionLoad(replace, code)))
}

fn parse_function_list(a: Args<'_>) -> Result<Command, CmdError> {
    let args = a.rest();
    let (mut pattern, mut with_code) = (None, false);
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if super::is(arg, "WITHCODE") && !with_code {
            with_code = true;
        } else if super::is(arg, "LIBRARYNAME") && pattern.is_none() {
            i += 1;
            let p = args
                .get(i)
                .ok_or_else(|| reply("ERR library name argument was not given"))?;
            pattern = Some(p.clone());
        } else {
            return Err(CmdError::Reply(Bytes::from(
                [&b"ERR Unknown argument "[..], arg].concat(),
            )));
        }
        i += 1;
    }
    Ok(Command::Scripting(Cmd::FunctionList(pattern, with_code)))
}

fn parse_function_flush(a: Args<'_>) -> Result<Command, CmdError> {
    let typed = a.typed_name();
    match a.rest().as_slice() {
        [] => {}
        [mode] if super::is(mode, "ASYNC") || super::is(mode, "SYNC") => {}
        [_] => return Err(CmdError::FunctionFlushOption),
        _ => {
            return Err(CmdError::SubcommandSyntax(
                typed,
                Bytes::from_static(b"function"),
            ))
        }
    }
    Ok(Command::Scripting(Cmd::FunctionFlush))
}

fn parse_function_restore(mut a: Args<'_>) -> Result<Command, CmdError> {
    let payload = a.bytes()?;
    let policy =
        match a.rest().as_slice() {
            [] => Restore::Append,
            [p] if super::is(p, "FLUSH") => Restore::Flush,
            [p] if super::is(p, "APPEND") => Restore::Append,
            [p] if super::is(p, "REPLACE") => Restore::Replace,
            [_] => return Err(reply(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
            _ => return Err(CmdError::Syntax),
        };
    Ok(Command::Scripting(Cmd::FunctionRestore(payload, policy)))
}

fn parse_script_flush(a: Args<'_>) -> Result<Command, CmdError> {
    match a.rest().as_slice() {
        [] => {}
        [mode] if super::is(mode, "ASYNC") || super::is(mode, "SYNC") => {}
        _ => {
            return Err(CmdError::Reply(Bytes::from_static(
                b"ERR SCRIPT FLUSH only support SYNC|ASYNC option",
            )))
        }
    }
    Ok(Command::Scripting(Cmd::Flush))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("eval", |a| parse_eval(a, false, false)),
    ("evalsha", |a| parse_eval(a, true, false)),
    ("eval_ro", |a| parse_eval(a, false, true)),
    ("evalsha_ro", |a| parse_eval(a, true, true)),
    ("script|load", |mut a| {
        Ok(Command::Scripting(Cmd::Load(a.bytes()?)))
    }),
    ("script|exists", |a| {
        Ok(Command::Scripting(Cmd::Exists(a.rest())))
    }),
    ("script|flush", parse_script_flush),
    ("script|kill", |_| Ok(Command::Scripting(Cmd::Kill))),
    ("script|help", |_| Ok(Command::Scripting(Cmd::Help))),
    ("fcall", |a| parse_fcall(a, false)),
    ("fcall_ro", |a| parse_fcall(a, true)),
    ("function|load", parse_function_load),
    ("function|list", parse_function_list),
    ("function|delete", |mut a| {
        Ok(Command::Scripting(Cmd::FunctionDelete(a.bytes()?)))
    }),
    ("function|flush", parse_function_flush),
    ("function|dump", |_| {
        Ok(Command::Scripting(Cmd::FunctionDump))
    }),
    ("function|restore", parse_function_restore),
    ("function|stats", |_| {
        Ok(Command::Scripting(Cmd::FunctionStats))
    }),
    ("function|kill", |_| {
        Ok(Command::Scripting(Cmd::FunctionKill))
    }),
    ("function|help", |_| {
        Ok(Command::Scripting(Cmd::FunctionHelp))
    }),
];

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

const HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

/// Run a scripting command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let threshold = ctx.config.busy_reply_threshold;
    match cmd {
        Cmd::Help => Ok(help_reply(HELP)),
        Cmd::Kill => match ctx.state.scripts.kill(false) {
            Ok(()) => Ok(Frame::ok()),
            Err(KillRefused::NotBusy) => Err(CmdError::NotBusy),
            Err(KillRefused::Unkillable) => Err(CmdError::Unkillable),
            Err(KillRefused::OtherKind(f)) => Err(CmdError::Busy(f)),
        },
        Cmd::Exists(shas) => {
            let engine = enter(ctx.state, threshold)?;
            let engine = engine.borrow();
            Ok(Frame::Array(
                shas.iter()
                    .map(|sha| {
                        Frame::Integer(i64::from(
                            lookup_key(sha).is_some_and(|k| engine.cache.contains_key(&k)),
                        ))
                    })
                    .collect(),
            ))
        }
        Cmd::Flush => {
            let guard = enter(ctx.state, threshold)?;
            let mut engine = guard.borrow_mut();
            engine.cache.clear();
            let _ = engine.lua.gc_collect();
            publish_sizes(ctx, &engine);
            Ok(Frame::ok())
        }
        Cmd::Load(body) => {
            let guard = enter(ctx.state, threshold)?;
            let mut engine = guard.borrow_mut();
            let sha = crate::util::sha1_hex(&body);
            compile(&mut engine, sha, &body, false)?;
            publish_sizes(ctx, &engine);
            Ok(Frame::Bulk(Bytes::copy_from_slice(&sha)))
        }
        Cmd::Eval(e) => eval(ctx, e, threshold),
        Cmd::Fcall(f) => fcall(ctx, f, threshold),
        Cmd::FunctionHelp => Ok(help_reply(FUNCTION_HELP)),
        Cmd::FunctionKill => match ctx.state.scripts.kill(true) {
            Ok(()) => Ok(Frame::ok()),
            Err(KillRefused::NotBusy) => Err(CmdError::NotBusy),
            Err(KillRefused::Unkillable) => Err(CmdError::Unkillable),
            Err(KillRefused::OtherKind(f)) => Err(CmdError::Busy(f)),
        },
        Cmd::FunctionStats => {
            let guard = enter(ctx.state, threshold)?;
            let engine = guard.borrow();
            let (libs, funcs) = functions::counts(&engine);
            Ok(Frame::Map(vec![
                (Frame::Bulk("running_script".into()), Frame::Null),
                (
                    Frame::Bulk("engines".into()),
                    Frame::Map(vec![(
                        Frame::Bulk("LUA".into()),
                        Frame::Map(vec![
                            (
                                Frame::Bulk("libraries_count".into()),
                                Frame::Integer(libs as i64),
                            ),
                            (
                                Frame::Bulk("functions_count".into()),
                                Frame::Integer(funcs as i64),
                            ),
                        ]),
                    )]),
                ),
            ]))
        }
        Cmd::FunctionList(pattern, with_code) => {
            let guard = enter(ctx.state, threshold)?;
            let engine = guard.borrow();
            Ok(functions::list(&engine, pattern.as_deref(), with_code))
        }
        Cmd::FunctionDelete(name) => {
            let guard = enter(ctx.state, threshold)?;
            let mut engine = guard.borrow_mut();
            let name = String::from_utf8_lossy(&name).into_owned();
            if !functions::remove(&mut engine, &name) {
                return Err(reply("ERR Library not found"));
            }
            functions_changed(ctx, &engine);
            Ok(Frame::ok())
        }
        Cmd::FunctionFlush => {
            let guard = enter(ctx.state, threshold)?;
            let mut engine = guard.borrow_mut();
            engine.libraries.clear();
            engine.functions.clear();
            functions_changed(ctx, &engine);
            Ok(Frame::ok())
        }
        Cmd::FunctionDump => {
            let guard = enter(ctx.state, threshold)?;
            let engine = guard.borrow();
            Ok(Frame::Bulk(functions::dump(&engine)))
        }
        Cmd::FunctionLoad(replace, code) => {
            let guard = enter(ctx.state, threshold)?;
            let handles = guard.borrow().handles.clone().expect("installed on entry");
            let lib = functions::load(&guard.borrow(), &handles, &code, replace)?;
            let name = lib.name.clone();
            let mut engine = guard.borrow_mut();
            functions::install(&mut engine, lib);
            functions_changed(ctx, &engine);
            Ok(Frame::Bulk(name.into()))
        }
        Cmd::FunctionRestore(payload, policy) => {
            let codes = functions::parse_dump(&payload)?;
            let guard = enter(ctx.state, threshold)?;
            let handles = guard.borrow().handles.clone().expect("installed on entry");
            // Load everything first; install only if all of it loads.
            let mut libs = Vec::new();
            {
                let engine = guard.borrow();
                for code in &codes {
                    let lib = functions::load(&engine, &handles, code, policy != Restore::Append)?;
                    libs.push(lib);
                }
            }
            let mut engine = guard.borrow_mut();
            if policy == Restore::Flush {
                engine.libraries.clear();
                engine.functions.clear();
            }
            for lib in libs {
                functions::install(&mut engine, lib);
            }
            functions_changed(ctx, &engine);
            Ok(Frame::ok())
        }
    }
}

fn fcall<S: Store>(ctx: &mut Ctx<'_, S>, f: Eval, threshold: u64) -> Result<Frame, CmdError> {
    let state = ctx.state.clone();
    let guard = enter(&state, threshold)?;
    let name = String::from_utf8_lossy(&f.script).into_owned();
    let (func, flags) = {
        let engine = guard.borrow();
        let lib = engine
            .functions
            .get(&name)
            .and_then(|l| engine.libraries.get(l))
            .ok_or_else(|| reply("ERR Function not found"))?;
        let r = lib
            .functions
            .iter()
            .find(|r| r.name == name)
            .ok_or_else(|| reply("ERR Function not found"))?;
        (
            r.func.clone(),
            Flags {
                no_writes: r.no_writes,
                allow_oom: r.allow_oom,
            },
        )
    };
    if f.read_only && !flags.no_writes {
        return Err(reply(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    let (lua, handles) = {
        let engine = guard.borrow();
        (
            engine.lua.clone(),
            engine.handles.clone().expect("installed on entry"),
        )
    };
    Ok(run::run(
        &lua,
        &handles,
        ctx,
        run::Invocation {
            func,
            name: name.as_bytes(),
            flags,
            keys: &f.keys,
            args: &f.args,
            function: true,
        },
    ))
}

/// Lock the VM (set up on first use).
fn enter<S: Store>(
    state: &Arc<ServerState<S>>,
    threshold: u64,
) -> Result<crate::state::scripts::EngineGuard<'_>, CmdError> {
    let guard = state
        .scripts
        .enter(threshold)
        .map_err(|Busy::Script(f)| CmdError::Busy(f))?;
    {
        let mut engine = guard.borrow_mut();
        if engine.handles.is_none() {
            let state = Arc::downgrade(state);
            let kill_requested = move || {
                state.upgrade().is_some_and(|s| {
                    // Under the fuzzer nobody sends SCRIPT KILL: a script
                    // stops itself after 100 ms.
                    let stuck = cfg!(fuzzing) && s.scripts.running_ms() > Some(100);
                    s.scripts.kill_requested() || stuck
                })
            };
            let handles = vm::install(&engine.lua, kill_requested).map_err(|e| {
                CmdError::Reply(Bytes::from(format!("ERR Lua environment failed: {e}")))
            })?;
            engine.handles = Some(handles);
        }
        if let Some(codes) = state.db.take_loaded_functions() {
            // Libraries an RDB file brought replace the current ones.
            engine.libraries.clear();
            engine.functions.clear();
            let handles = engine.handles.clone().expect("installed above");
            for code in codes {
                match functions::load(&engine, &handles, &code, true) {
                    Ok(lib) => functions::install(&mut engine, lib),
                    Err(e) => tracing::warn!(
                        error = %String::from_utf8_lossy(&e.text()),
                        "a function library from the RDB file failed to load"
                    ),
                }
            }
        }
    }
    Ok(guard)
}

/// A client's SHA1 argument as a cache key (lower case), if it can be one.
fn lookup_key(sha: &[u8]) -> Option<[u8; 40]> {
    let mut key: [u8; 40] = sha.try_into().ok()?;
    key.make_ascii_lowercase();
    Some(key)
}

/// Compile `body` into the cache under `sha` (if it is not there yet):
/// true when it was compiled now.
fn compile(
    engine: &mut Engine,
    sha: [u8; 40],
    body: &Bytes,
    from_eval: bool,
) -> Result<bool, CmdError> {
    let tick = engine.tick();
    if let Some(c) = engine.cache.get_mut(&sha) {
        c.used = tick;
        if !from_eval {
            c.from_eval = false;
        }
        return Ok(false);
    }
    let (flags, chunk) = shebang(body)?;
    let func = engine
        .lua
        .load(chunk)
        .set_name(vm::SCRIPT_CHUNK)
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            CmdError::Reply(Bytes::from(format!(
                "ERR Error compiling script (new function): {}",
                msg.replace(['\r', '\n'], " ")
            )))
        })?;
    if from_eval {
        evict_eval_scripts(engine);
    }

    engine.cache.insert(
        sha,
        Cached {
            body: body.clone(),
            func,
            flags: (flags.no_writes as u8) | ((flags.allow_oom as u8) << 1),
            from_eval,
            used: tick,
        },
    );
    Ok(true)
}

/// Make room for one more EVAL-loaded script.
fn evict_eval_scripts(engine: &mut Engine) {
    let from_eval = engine.cache.values().filter(|c| c.from_eval).count();
    if from_eval < EVAL_CACHE_MAX {
        return;
    }
    let oldest = engine
        .cache
        .iter()
        .filter(|(_, c)| c.from_eval)
        .min_by_key(|(_, c)| c.used)
        .map(|(k, _)| *k);
    if let Some(k) = oldest {
        engine.cache.remove(&k);
    }
}

/// Split a `#!lua flags=...` first line off `body`: the flags, and the
/// chunk to compile (the shebang line left empty, so line numbers stay).
fn shebang(body: &[u8]) -> Result<(Flags, &[u8]), CmdError> {
    let mut flags = Flags::default();
    if !body.starts_with(b"#!") {
        return Ok((flags, body));
    }
    let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
    let line = &body[..end];
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != b"#!lua" {
        return Err(CmdError::Reply(Bytes::from(
            [&b"ERR Unexpected engine in script shebang: "[..], engine].concat(),
        )));
    }
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(CmdError::Reply(Bytes::from(
                [&b"ERR Unknown lua shebang option: "[..], part].concat(),
            )));
        };
        for flag in list.split(|&b| b == b',').filter(|f| !f.is_empty()) {
            match flag {
                b"no-writes" => flags.no_writes = true,
                b"allow-oom" => flags.allow_oom = true,
                b"allow-stale" | b"no-cluster" | b"allow-cross-slot-keys" => {}
                other => {
                    return Err(CmdError::Reply(Bytes::from(
                        [&b"ERR Unexpected flag in script shebang: "[..], other].concat(),
                    )))
                }
            }
        }
    }
    Ok((flags, &body[end..]))
}

/// After a change to the libraries: the dataset's copy (for snapshots)
/// and the AOF record.
fn functions_changed<S: Store>(ctx: &Ctx<'_, S>, engine: &Engine) {
    ctx.state.db.set_function_codes(functions::codes(engine));
    crate::db::journal::dirty();
    publish_sizes(ctx, engine);
}

fn publish_sizes<S: Store>(ctx: &Ctx<'_, S>, engine: &Engine) {
    let bytes: usize = engine
        .cache
        .values()
        .map(|c| c.body.len() + std::mem::size_of::<Cached>() + 40)
        .sum();
    ctx.state
        .scripts
        .set_sizes(engine.cache.len(), bytes, engine.lua.used_memory());
    let (libs, funcs) = functions::counts(engine);
    ctx.state.scripts.set_function_counts(libs, funcs);
}

fn eval<S: Store>(ctx: &mut Ctx<'_, S>, e: Eval, threshold: u64) -> Result<Frame, CmdError> {
    let state = ctx.state.clone();
    let guard = enter(&state, threshold)?;
    let (func, sha, mut flags) = {
        let mut engine = guard.borrow_mut();
        let sha = if e.by_sha {
            lookup_key(&e.script).ok_or(CmdError::NoScript)?
        } else {
            let sha = crate::util::sha1_hex(&e.script);
            if compile(&mut engine, sha, &e.script, true)? {
                publish_sizes(ctx, &engine);
            }
            sha
        };
        let tick = engine.tick();
        let cached = engine.cache.get_mut(&sha).ok_or(CmdError::NoScript)?;
        cached.used = tick;
        let flags = Flags {
            no_writes: cached.flags & 1 != 0,
            allow_oom: cached.flags & 2 != 0,
        };
        let func = cached.func.clone();
        (func, sha, flags)
    };
    flags.no_writes |= e.read_only;
    let (lua, handles) = {
        let engine = guard.borrow();
        (
            engine.lua.clone(),
            engine.handles.clone().expect("installed on entry"),
        )
    };
    let frame = run::run(
        &lua,
        &handles,
        ctx,
        run::Invocation {
            func,
            name: &sha,
            flags,
            keys: &e.keys,
            args: &e.args,
            function: false,
        },
    );
    Ok(frame)
}
