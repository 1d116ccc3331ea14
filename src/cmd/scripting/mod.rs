//! Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! One Lua 5.1 VM runs every script, one at a time, as in Redis (its
//! environment and the reply conversions are in [`vm`]; how a script runs
//! atomically without stopping the server is in [`run`]). Scripts are
//! cached by SHA1. The cache is bounded as Redis 7.4 bounds it: scripts
//! that arrived by EVAL (not SCRIPT LOAD) beyond [`EVAL_CACHE_MAX`] are
//! evicted least recently used first, so clients that generate a new
//! script per call cannot grow it without end.

mod bit;
mod cache;
mod cjson;
mod cmsgpack;
mod convert;
mod errors;
mod functions;
mod luaargs;
mod parse;

use cache::{compile, functions_changed, lookup_key, publish_sizes};
pub use parse::ROWS;
use parse::{reply, FUNCTION_HELP, HELP};
mod run;
mod sandbox;
mod structlib;
mod vm;

use std::sync::Arc;

use bytes::Bytes;
use store_api::Store;

use super::context::Ctx;
use super::error::ClusterError;
use super::{help_reply, CmdError};
use crate::protocol::Frame;
use crate::state::scripts::{Busy, Engine, KillRefused, Registered};
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

pub use crate::state::scripts::Flags;

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
            // Redis starts a new VM: a script's cjson settings go too. The
            // fresh library goes behind the read-only `cjson` scripts see.
            let fresh = cjson::library(&engine.lua).and_then(|lib| {
                let globals: mlua::Table = engine.lua.named_registry_value(vm::GLOBALS)?;
                let proxy: mlua::Table = globals.raw_get("cjson")?;
                match proxy.metatable() {
                    Some(meta) => meta.raw_set("__index", lib),
                    None => Err(mlua::Error::runtime(
                        "cjson is not behind its read-only view",
                    )),
                }
            });
            if let Err(e) = fresh {
                tracing::warn!(cause = %e, "SCRIPT FLUSH could not reset cjson");
            }
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
            // A busy function is shown (its VM is busy: the counts come
            // from what INFO reads); a busy EVAL script answers BUSY.
            let (running, libs, funcs) = match ctx.state.scripts.busy(threshold) {
                Some(Busy::Script(false)) => return Err(CmdError::Busy(false)),
                Some(Busy::Script(true)) => {
                    let (libs, funcs) = ctx.state.scripts.function_counts();
                    let running = ctx.state.scripts.running_function();
                    (running, libs as usize, funcs as usize)
                }
                None => {
                    let guard = enter(ctx.state, threshold)?;
                    let (libs, funcs) = functions::counts(&guard.borrow());
                    (None, libs, funcs)
                }
            };
            let running = match running {
                None => Frame::Null,
                Some((name, argv, ms)) => Frame::Map(vec![
                    (Frame::Bulk("name".into()), Frame::Bulk(name)),
                    (
                        Frame::Bulk("command".into()),
                        Frame::Array(argv.into_iter().map(Frame::Bulk).collect()),
                    ),
                    (Frame::Bulk("duration_ms".into()), Frame::Integer(ms as i64)),
                ]),
            };
            Ok(Frame::Map(vec![
                (Frame::Bulk("running_script".into()), running),
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
                    // Redis's `libraryJoin`: under APPEND a library that
                    // exists fails first (its text has no quotes).
                    if policy == Restore::Append {
                        if let Some(name) = functions::library_name(code) {
                            if engine.libraries.contains_key(&name) {
                                return Err(CmdError::Reply(Bytes::from(format!(
                                    "ERR Library {name} already exists"
                                ))));
                            }
                        }
                    }
                    let lib = functions::load(&engine, &handles, code, true)?;
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

/// A registered function by name. Names are case-insensitive, as in Redis
/// (the index holds them lower-cased; most calls need no copy).
fn find_function<'e>(engine: &'e Engine, name: &str) -> Option<&'e Registered> {
    let key: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    let lib = engine
        .functions
        .get(key.as_ref())
        .and_then(|l| engine.libraries.get(l))?;
    lib.functions
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
}

/// Does this EVAL, EVALSHA or FCALL declare `no-writes`? A script or
/// function that declares its flags replaces the command's `write` and
/// `may_replicate` with what they say (Redis's `evalGetCommandFlags` and
/// `fcallGetCommandFlags`), so CLIENT PAUSE WRITE lets a `no-writes` one
/// through. A VM busy with another script answers false: the command then
/// waits, as an undeclared one does.
pub fn declares_no_writes<S: Store>(state: &ServerState<S>, name: &str, argv: &[Bytes]) -> bool {
    declared_flags(state, name, argv).is_some_and(|f| f.no_writes)
}

/// Declared flags replace the command's (Redis's `scriptFlagsToCmdFlags`,
/// applied in its `processCommand`): without `allow-oom` or `no-writes`
/// the call is refused over `maxmemory`, and without `no-writes` when too
/// few replicas are good, before any of it runs. A script without a
/// shebang keeps the command's flags: its writes are refused one by one
/// (`run`). Checked here, where the flags are known, not on admission.
fn refused_by_flags<S: Store>(ctx: &Ctx<'_, S>, flags: Flags) -> Result<(), CmdError> {
    if flags.compat || flags.no_writes {
        return Ok(());
    }
    let maxmemory = ctx.config.memory.maxmemory;
    if !flags.allow_oom && maxmemory > 0 && crate::db::evict::used_memory() > maxmemory {
        return Err(CmdError::Oom);
    }
    if !ctx.session.must_obey && ctx.state.replicas.too_few(ctx.config) {
        return Err(CmdError::NoReplicas);
    }
    Ok(())
}

/// The flags an EVAL's shebang, an EVALSHA's cached script or an FCALL's
/// function declares (None: none declared, not known, or the VM is busy).
fn declared_flags<S: Store>(state: &ServerState<S>, name: &str, argv: &[Bytes]) -> Option<Flags> {
    let arg = argv.get(1)?;
    let declared = |f: Flags| (!f.compat).then_some(f);
    match name {
        "eval" => cache::shebang(arg).ok().and_then(|(f, _)| declared(f)),
        "evalsha" | "fcall" => {
            let guard = state.scripts.try_enter()?;
            let engine = guard.borrow();
            if name == "evalsha" {
                cache::lookup_key(arg)
                    .and_then(|k| engine.cache.get(&k))
                    .and_then(|c| declared(c.flags))
            } else {
                find_function(&engine, &String::from_utf8_lossy(arg)).map(|r| r.flags)
            }
        }
        _ => None,
    }
}

fn fcall<S: Store>(ctx: &mut Ctx<'_, S>, f: Eval, threshold: u64) -> Result<Frame, CmdError> {
    let state = ctx.state.clone();
    let guard = enter(&state, threshold)?;
    let name = String::from_utf8_lossy(&f.script).into_owned();
    let (func, flags) = {
        let engine = guard.borrow();
        let r = find_function(&engine, &name).ok_or_else(|| reply("ERR Function not found"))?;
        (r.func.clone(), r.flags)
    };
    if flags.no_cluster && ctx.state.cluster.enabled {
        return Err(CmdError::Cluster(ClusterError::ScriptNoCluster));
    }
    refused_by_flags(ctx, flags)?;
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
                    if s.scripts.kill_requested() || stuck {
                        return true;
                    }
                    // Busy: let this worker's other connections in (a
                    // SCRIPT KILL among them is seen at once).
                    if let Some(Busy::Script(function)) =
                        s.scripts.busy(s.config().busy_reply_threshold)
                    {
                        if s.scripts.first_time_slow() {
                            run::log_slow(&s.scripts, function);
                        }
                        crate::state::scripts::step_aside();
                    }
                    s.scripts.kill_requested()
                })
            };
            let handles = vm::install(&engine.lua, kill_requested).map_err(|e| {
                CmdError::Reply(Bytes::from(format!("ERR Lua environment failed: {e}")))
            })?;
            engine.handles = Some(std::rc::Rc::new(handles));
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

fn eval<S: Store>(ctx: &mut Ctx<'_, S>, e: Eval, threshold: u64) -> Result<Frame, CmdError> {
    let state = ctx.state.clone();
    let guard = enter(&state, threshold)?;
    let (func, sha, mut flags) = {
        let mut engine = guard.borrow_mut();
        let sha = if e.by_sha {
            lookup_key(&e.script).ok_or(CmdError::NoScript)?
        } else {
            let sha = match &engine.last_eval {
                Some((body, sha)) if *body == e.script => *sha,
                _ => {
                    let sha = crate::util::sha1_hex(&e.script);
                    // A copy: the argument may share a whole read buffer.
                    engine.last_eval = Some((Bytes::copy_from_slice(&e.script), sha));
                    sha
                }
            };
            if compile(&mut engine, sha, &e.script, true)? {
                publish_sizes(ctx, &engine);
            }
            sha
        };
        let tick = engine.tick();
        let cached = engine.cache.get_mut(&sha).ok_or(CmdError::NoScript)?;
        cached.used = tick;
        let flags = cached.flags;
        let func = cached.func.clone();
        (func, sha, flags)
    };
    if flags.no_cluster && !flags.compat && ctx.state.cluster.enabled {
        return Err(CmdError::Cluster(ClusterError::ScriptNoCluster));
    }
    refused_by_flags(ctx, flags)?;
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
