//! Running one script: atomically, with `redis.call` executing commands.
//!
//! **Atomicity.** A script holds the VM (one script at a time) and, before
//! its first line, the stripes of the keys it declared, exclusively. Each
//! `redis.call` first makes sure the stripes of that command's keys are
//! held too (its key specs, as EXEC plans them; a whole database for KEYS,
//! SCAN, FLUSHDB...), waiting for them if needed, and keeps them to the end.
//! So no other client sees part of a script's effects (a reader of a held
//! stripe retries or waits), and nothing another client does to a key the
//! script has touched can show up later in the script. A script that
//! declares its keys locks only those, and the rest of the server runs on;
//! a script that touches undeclared keys is just as atomic, it merely
//! takes their stripes as it goes (see `db::locks` for why that cannot
//! deadlock). Inside EXEC every stripe is already held.
//!
//! The deliberate fault `unlocked_script` (tests) skips all of it.

use crate::db::Tick;
use std::sync::Arc;

use bytes::Bytes;
use mlua::{Lua, MultiValue, Value};
use store_api::Store;

use super::convert;
use super::errors;
use super::vm;
use super::Flags;
use crate::cmd::cluster::route::{decide, key_exists, Query};
use crate::cmd::context::Ctx;
use crate::cmd::error::ClusterError;
use crate::cmd::multi::Plan;
use crate::cmd::observe::feed_monitors;
use crate::cmd::table::{self, Spec};
use crate::cmd::{CmdError, Command, Reply};
use crate::db::{journal, Lookups, ScriptGuard, Table};
use crate::protocol::{Frame, Protocol};
use crate::state::cluster::key_slot;
use crate::state::scripts::Handles;

/// One invocation.
pub struct Invocation<'s> {
    /// The compiled script.
    pub func: mlua::Function,
    /// Its name in errors (the SHA1).
    pub name: &'s [u8],
    /// Its flags (shebang, or EVAL_RO's no-writes).
    pub flags: Flags,
    /// KEYS.
    pub keys: &'s [Bytes],
    /// ARGV.
    pub args: &'s [Bytes],
    /// A function (FCALL): KEYS and ARGV are its arguments, not globals.
    pub function: bool,
}

/// What `redis.call` needs while a script runs.
struct Runner<'c, 'a, S: Store> {
    ctx: &'c mut Ctx<'a, S>,
    /// The databases as they were when the script started: the stripes
    /// held belong to these keyspaces.
    locked: &'c Arc<Table<S>>,
    /// The databases as the script sees them (its SWAPDBs reorder them).
    table: Arc<Table<S>>,
    guard: ScriptGuard<'c>,
    flags: Flags,
    /// Memory was over `maxmemory` when the script started.
    oom: bool,
    locking: bool,
    unlocked_fault: bool,
    ready: Vec<(usize, Bytes)>,
    /// Cluster mode: every key must be served here.
    cluster: bool,
    /// The slot the script's keys are in (declared, or first touched).
    slot: Option<u16>,
    /// The keys the script declared.
    keys: &'c [Bytes],
}

/// Run `inv` for the client of `ctx` with the VM `lua` (held by the
/// caller); the reply is the script's result or error.
pub fn run<S: Store>(
    lua: &Lua,
    handles: &Handles,
    ctx: &mut Ctx<'_, S>,
    inv: Invocation<'_>,
) -> Frame {
    let state = ctx.state.clone();
    let locked = ctx.databases().clone();
    let faults = locked[0].faults();
    let locking = !ctx.in_transaction() && !faults.unlocked_script;
    let maxmemory = ctx.config.memory.maxmemory;
    let oom = maxmemory > 0 && crate::db::evict::used_memory() > maxmemory;
    let (db, proto) = (ctx.session.db, ctx.session.proto);
    let mut runner = Runner {
        table: locked.clone(),
        locked: &locked,
        guard: ScriptGuard::default(),
        flags: inv.flags,
        oom,
        locking,
        unlocked_fault: faults.unlocked_script,
        ready: Vec::new(),
        cluster: state.cluster.enabled && !ctx.session.must_obey,
        slot: inv.keys.first().map(|k| key_slot(k)),
        keys: inv.keys,
        ctx,
    };
    if locking && !inv.keys.is_empty() {
        let ks = &runner.locked[db];
        let stripes = ks.locks().stripes_of(inv.keys.iter().map(|k| &k[..]));
        runner.guard.hold(ks.locks(), &stripes);
    }
    let running = inv.function.then(|| {
        let caller = std::mem::take(&mut runner.ctx.session.script_argv);
        (Bytes::copy_from_slice(inv.name), caller)
    });
    RUNNING.with(|n| {
        let mut n = n.borrow_mut();
        n.clear();
        n.extend_from_slice(inv.name);
    });
    state.scripts.started(running);
    let result = invoke(lua, handles, &mut runner, &inv);
    vm::restore_hook(lua, handles);
    let resp = match &result {
        Ok((_, _, Some(resp))) => *resp,
        _ => 2,
    };
    // An error a command replied with (and redis.call raised, or the
    // script returned) was counted when it happened.
    let counted = match &result {
        Ok((_, Value::Table(t), _)) => t
            .raw_get::<bool>(errors::IGNORE_ERROR_STATS)
            .unwrap_or(false),
        _ => false,
    };
    let frame = match result {
        Ok((true, value, _)) => convert::lua_to_frame(&value, resp),
        Ok((false, value, _)) => error_frame(&value, inv.name),
        Err(e) => error_frame(&Value::Error(Box::new(e)), inv.name),
    };
    let Runner {
        guard, ready, ctx, ..
    } = runner;
    drop(guard);
    journal::logged_inside();
    if state.scripts.was_stopped_for_shutdown() {
        // As Redis, which exits in the middle of the script: nothing of it
        // is logged, and its client gets no reply.
        journal::discard();
        ctx.session.shutdown_requested = true;
    }
    ctx.session.error_counted = counted && matches!(frame, Frame::Error(_));
    state.scripts.finished();
    collect_garbage(lua, handles);
    state.scripts.set_vm_bytes(lua.used_memory());
    ctx.session.db = db;
    ctx.session.proto = proto;
    let limit = ctx.config.encodings.list_max_listpack_size;
    let now = ctx.now.max(ctx.state.db.now_ms());
    if ctx.in_transaction() {
        for (db, key) in ready {
            ctx.defer_ready_in(db, vec![key]);
        }
    } else {
        for (db, key) in ready {
            if let Some(ks) = ctx.databases().get(db) {
                crate::cmd::serve_ready(ks, &key, now, limit);
            }
        }
    }
    frame
}

/// Run the script (or function) through `vm::INVOKE` with this run's
/// command runner as `vm::CALLER`: (succeeded, result or error object,
/// the RESP version `redis.setresp` chose, if it did).
fn invoke<S: Store>(
    lua: &Lua,
    handles: &Handles,
    runner: &mut Runner<'_, '_, S>,
    inv: &Invocation<'_>,
) -> mlua::Result<(bool, Value, Option<i64>)> {
    // What `redis.call` and `redis.pcall` run (see `vm::install_call`).
    let mut call = |lua: &Lua, args: MultiValue, pcall: bool| -> mlua::Result<Value> {
        let _unlimited = vm::Unlimited::new(lua);
        let resp = vm::script_resp().unwrap_or(2);
        let frame = match convert::args_to_argv(lua, &args) {
            Ok(argv) => runner.call(argv, resp),
            Err(msg) => Frame::Error(Bytes::from(format!("ERR {msg}"))),
        };
        let failed = matches!(frame, Frame::Error(_));
        let reply = convert::frame_to_lua(lua, frame, resp)?;
        if failed && !pcall {
            return Err(errors::raised_reply(&reply)?);
        }
        Ok(reply)
    };
    // Fresh KEYS and ARGV tables for every call, as Redis makes them
    // (nothing a script did to them can reach the next one).
    // Built here, not in Lua: with the memory limit lifted they are made
    // directly, each table at its size (Lua's `{...}` and `unpack` made
    // three tables and grew them).
    let unlimited = vm::Unlimited::new(lua);
    let args = (
        inv.func.clone(),
        handles.handler.clone(),
        inv.function,
        array(lua, inv.keys)?,
        array(lua, inv.args)?,
    );
    drop(unlimited);
    let out = vm::CALLER.set(vm::Caller(&mut call), || {
        handles.invoke.call::<(bool, Value)>(args)
    });
    // Taken whatever the outcome, so no choice outlives its invocation.
    let resp = vm::take_script_resp();
    let (ok, value) = out?;
    Ok((ok, value, resp))
}

/// `items` as a Lua array of strings.
fn array(lua: &Lua, items: &[Bytes]) -> mlua::Result<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(&item[..])?)?;
    }
    Ok(t)
}

thread_local! {
    /// The name (SHA1, or function) of the script this thread runs, for
    /// the slow-script log line (kept in a reused buffer: no allocation
    /// per run).
    static RUNNING: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Redis's log line when a script passes `busy-reply-threshold` (its
/// `scriptInterrupt`), from the thread running it.
pub(super) fn log_slow(scripts: &crate::state::scripts::Scripts, function: bool) {
    let elapsed = scripts.running_ms().unwrap_or(0);
    let kill = if function {
        "FUNCTION KILL"
    } else {
        "SCRIPT KILL"
    };
    let name = RUNNING.with(|n| String::from_utf8_lossy(&n.borrow()).into_owned());
    tracing::warn!(
        "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {kill} command. Script name is: {name}."
    );
}

/// The reply for a script that failed with `err` (Redis's
/// `luaCallFunction`): the error text, placed at its script line.
fn error_frame(err: &Value, name: &[u8]) -> Frame {
    let Value::Table(t) = err else {
        let msg = match err {
            Value::String(s) => s.to_string_lossy(),
            Value::Error(e) => match e.as_ref() {
                mlua::Error::MemoryError(_) => "not enough memory".to_string(),
                other => other.to_string(),
            },
            _ => "execution failure".to_string(),
        };
        let msg: String = msg.chars().take(100).collect();
        let text = format!(
            "ERR Error running script {}, {} ",
            String::from_utf8_lossy(name),
            msg.replace(['\r', '\n'], " ")
        );
        return Frame::Error(text.into());
    };
    let field = |k: &str| -> Option<Vec<u8>> {
        match t.raw_get::<Value>(k).ok()? {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            Value::Integer(n) => Some(n.to_string().into_bytes()),
            Value::Number(n) => Some(vm::lua_number_text(n).into_bytes()),
            _ => None,
        }
    };
    let mut text = field("err").unwrap_or_default();
    if let (Some(source), Some(line)) = (field("source"), field("line")) {
        text.extend_from_slice(b" script: ");
        text.extend_from_slice(name);
        text.extend_from_slice(b", on ");
        text.extend_from_slice(&source);
        text.push(b':');
        text.extend_from_slice(&line);
        text.push(b'.');
    }
    for b in &mut text {
        if *b == b'\r' || *b == b'\n' {
            *b = b' ';
        }
    }
    Frame::Error(text.into())
}

impl<S: Store> Runner<'_, '_, S> {
    /// One `redis.call`: Redis's `scriptCall` checks, then the command,
    /// under the locks it needs. Errors come back as error frames.
    /// Counted as Redis counts a script's calls: each in commandstats
    /// (rejected, or run and maybe failed), each error in errorstats, and
    /// each command that ran shown to MONITOR as run by `lua`.
    fn call(&mut self, argv: Vec<Bytes>, resp: i64) -> Frame {
        let spec = match self.ctx.commands.lookup(&argv) {
            Ok(spec) => *spec,
            Err(CmdError::WrongArity(name)) => {
                let id = self.ctx.commands.id_of(name);
                let e = script_error("Wrong number of args calling Redis command from script");
                return self.rejected(id, e);
            }
            Err(_) => {
                return self.rejected(
                    None,
                    script_error("Unknown Redis command called from script"),
                )
            }
        };
        if let Err(e) = self.admit(&spec, &argv) {
            return self.rejected(Some(spec.id), e);
        }
        let start = Tick::now();
        let frame = self.execute(&spec, &argv, resp);
        if spec.flags.readonly {
            // Client-side caching remembers the script's declared keys.
            crate::cmd::observe::remember_keys(self.ctx.state, self.ctx.session, self.keys);
        }
        let failed = matches!(frame, Frame::Error(_));
        self.ctx.counts.call(spec.id, start.elapsed_nanos(), failed);
        if let Frame::Error(text) = &frame {
            self.ctx.state.stats.error(self.ctx.counts, text);
        }
        let (state, config, db) = (self.ctx.state, self.ctx.config, self.ctx.session.db);
        feed_monitors(state, config, db, &spec, &argv, "lua");
        frame
    }

    /// A call refused before it ran.
    fn rejected(&mut self, id: Option<usize>, e: Frame) -> Frame {
        if let Some(id) = id {
            self.ctx.counts.reject(id);
        }
        if let Frame::Error(text) = &e {
            self.ctx.state.stats.error(self.ctx.counts, text);
        }
        e
    }

    /// Under DEBUG SET-DISABLE-DENY-SCRIPTS, Redis lets a script call any
    /// `noscript` command; here only those its tests call and that cannot
    /// re-enter the VM or change the connection: CLIENT, and DEBUG PROTOCOL
    /// and SLEEP.
    fn deny_lifted(&self, spec: &Spec, argv: &[Bytes]) -> bool {
        if !self.ctx.state.scripts.deny_disabled() {
            return false;
        }
        let name = spec.meta.name;
        let debug_sub = |s: &[u8]| argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(s));
        name.starts_with("client|")
            || (name == "debug" && (debug_sub(b"protocol") || debug_sub(b"sleep")))
    }

    /// Redis's `scriptCall` checks, then the locks the command needs.
    fn admit(&mut self, spec: &Spec, argv: &[Bytes]) -> Result<(), Frame> {
        if spec.flags.no_script && !self.deny_lifted(spec, argv) {
            return Err(script_error(
                "This Redis command is not allowed from script",
            ));
        }
        // A read-only script refuses `may_replicate` commands too (PUBLISH,
        // PFCOUNT...: Redis's `scriptVerifyWriteCommandAllow`, which is what
        // lets such scripts run under CLIENT PAUSE WRITE).
        if spec.flags.write && self.flags.no_writes {
            return Err(script_error(
                "Write commands are not allowed from read-only scripts.",
            ));
        }
        if spec.flags.writes {
            let state = self.ctx.state;
            if state.persist.refuses_writes(self.ctx.config) {
                return Err(CmdError::Misconf.to_frame());
            }
            if let Some(e) = state.db.journal().failure() {
                return Err(CmdError::AofMisconf(e).to_frame());
            }
            if state.replicas.too_few(self.ctx.config) {
                return Err(CmdError::NoReplicas.to_frame());
            }
            if self.oom && spec.flags.deny_oom && !self.flags.allow_oom {
                return Err(CmdError::Oom.to_frame());
            }
            state.scripts.wrote();
        }
        if self.locking {
            self.lock_for(spec, argv);
        } else if self.unlocked_fault {
            // The planted fault: let other clients in between the calls.
            std::thread::yield_now();
        }
        // After the keys are held: a MIGRATE cannot take one away between
        // this look and the command.
        if self.cluster {
            if let Err(text) = self.check_cluster(spec, argv) {
                return Err(script_error(&text));
            }
        }
        Ok(())
    }

    /// Redis's `scriptVerifyClusterState`: the command's keys must be
    /// served here, and (unless the script may cross slots) be in the
    /// script's one slot.
    fn check_cluster(&mut self, spec: &Spec, argv: &[Bytes]) -> Result<(), String> {
        let state = self.ctx.state;
        let keys = spec.meta.all_keys(argv).unwrap_or_default();
        let q = Query {
            asking: self.ctx.session.asking,
            write: spec.flags.writes,
            migrate: false,
            shard_channel: matches!(spec.meta.name, "ssubscribe" | "sunsubscribe" | "spublish"),
            reads_when_down: self.ctx.config.cluster.allow_reads_when_down,
        };
        let routing = state.cluster.routing();
        let (table, now) = (&self.table, self.ctx.now);
        let slot = decide(&routing, keys.iter().map(|k| &k[..]), q, |k| {
            key_exists(&table[0], k, now)
        })
        .map_err(|e| {
            match e {
                ClusterError::Down => ClusterError::ScriptDown,
                ClusterError::DownReadOnly => ClusterError::ScriptDownReadOnly,
                _ => ClusterError::ScriptNonLocal,
            }
            .text()
        })?;
        let Some(slot) = slot else { return Ok(()) };
        if self.flags.compat || self.flags.allow_cross_slot {
            return Ok(());
        }
        match self.slot {
            None => self.slot = Some(slot),
            Some(pinned) if pinned != slot => return Err(ClusterError::ScriptCrossSlot.text()),
            Some(_) => {}
        }
        Ok(())
    }

    /// Hold the stripes `argv` will touch.
    fn lock_for(&mut self, spec: &Spec, argv: &[Bytes]) {
        let db = self.ctx.session.db;
        if !Plan::special(spec.meta.name) {
            // The common case: the command's keys, in the selected database.
            if let Some(keys) = spec.meta.all_keys(argv) {
                let ks = &self.table[db];
                if let Some(held) = self.locked.iter().find(|k| Arc::ptr_eq(k, ks)) {
                    let locks = held.locks();
                    let mut stripes: Vec<usize> = keys.iter().map(|k| locks.stripe_of(k)).collect();
                    stripes.sort_unstable();
                    stripes.dedup();
                    self.guard.hold(locks, &stripes);
                }
                return;
            }
        }
        let cmds = [(*spec, argv.to_vec())];
        let plan = Plan::of(&cmds, db, self.table.len());
        for (i, ks) in self.table.iter().enumerate() {
            let Some(stripes) = plan.stripes(i, ks) else {
                continue;
            };
            // The same keyspace in the table the locks were taken from.
            if let Some(held) = self.locked.iter().find(|k| Arc::ptr_eq(k, ks)) {
                self.guard.hold(held.locks(), &stripes);
            }
        }
    }

    fn execute(&mut self, spec: &Spec, argv: &[Bytes], resp: i64) -> Frame {
        let (mark, db) = (journal::mark(), self.ctx.session.db);
        let saved_proto = self.ctx.session.proto;
        self.ctx.session.proto = if resp == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
        let mut inner = Ctx {
            state: self.ctx.state,
            commands: self.ctx.commands,
            session: &mut *self.ctx.session,
            config: self.ctx.config,
            now: self.ctx.now,
            table: &self.table,
            in_transaction: true,
            in_script: true,
            ready: crate::cmd::context::Ready::default(),
            swapped: None,
            lookups: Lookups::default(),
            counts: self.ctx.counts,
        };
        let reply = match table::parse(spec, argv) {
            Ok(Command::Multi(_)) => Err(CmdError::NestedMulti),
            Ok(cmd) => crate::cmd::execute(cmd, &mut inner),
            Err(e) => Err(e),
        };
        self.ready.append(&mut inner.ready.take());
        let swapped = inner.swapped.take();
        let (hits, misses) = inner.lookups.take();
        drop(inner);
        self.ctx.lookups.add(hits, misses);
        if let Some((a, b)) = swapped {
            Arc::make_mut(&mut self.table).swap(a, b);
        }
        let frame = Reply::settle(reply);
        journal::command_done(mark, db, argv);
        self.ctx.session.proto = saved_proto;
        frame
    }
}

/// An error from the script layer's own checks (`ERR <msg>`).
fn script_error(msg: &str) -> Frame {
    Frame::Error(Bytes::from(format!("ERR {msg}")))
}

/// Garbage a small heap may gather between full collections.
const GC_GARBAGE: usize = 32 * 1024;
/// Heaps up to this size are collected whole when enough garbage gathered
/// (callgrind: about 270,000 instructions for the 46 KB heap of a fresh
/// VM, freeing included, and in proportion to the heap); larger ones in
/// Redis's steps, so no script pays for a whole large heap at once.
const GC_FULL_UP_TO: usize = 256 * 1024;

/// After each script: collect once its garbage (argument tables, strings)
/// has grown the heap by [`GC_GARBAGE`] or half its live size, whichever
/// is more, so `used_memory_lua` of a VM running small scripts stays near
/// its live size (Redis's suite: under 100 KB after 10,000 EVALs).
///
/// Redis does it with a 50 KB step of its incremental collector every 50
/// scripts (`LUA_GC_CYCLE_PERIOD`), whatever they left; so did FlashKV,
/// until callgrind showed the steps walking the whole heap over and over.
/// One full collection per 32 KB of garbage does the same job for about
/// 800 instructions less per EVAL (19,234 -> 18,431 at -P 16;
/// `reports/2026-12-06-request-path.md`). A heap past [`GC_FULL_UP_TO`]
/// is stepped as Redis does (a bounded pause per script) until a cycle
/// ends. Lua's own collector runs as well, when the heap reaches 4x.
fn collect_garbage(lua: &mlua::Lua, handles: &Handles) {
    use std::sync::atomic::Ordering::Relaxed;
    let used = lua.used_memory();
    let base = handles.gc_base.load(Relaxed);
    if used < base {
        // Lua's collector freed some on its own: the new low.
        handles.gc_base.store(used, Relaxed);
        return;
    }
    if used - base < GC_GARBAGE.max(base / 2) {
        return;
    }
    let finished = if used <= GC_FULL_UP_TO {
        lua.gc_collect().is_ok()
    } else {
        lua.gc_step_kbytes(50).unwrap_or(false)
    };
    if finished {
        handles.gc_base.store(lua.used_memory(), Relaxed);
    }
}
