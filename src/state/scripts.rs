//! What scripting shares between connections: the Lua VM with its script
//! cache, and the running script's status (for BUSY and SCRIPT KILL).
//!
//! Scripts run one at a time, as in Redis: the VM sits behind one mutex. It
//! is reentrant because EXEC takes it before locking its stripes and then
//! runs the EVALs it queued. Lock order, always: the journal's order lock,
//! then the VM, then key stripes (`db::locks`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::lock_api::ArcReentrantMutexGuard;
use parking_lot::{RawMutex, RawThreadId, ReentrantMutex, ReentrantMutexGuard};

/// The Lua VM and what it has compiled.
pub struct Engine {
    /// The interpreter (set up by the command layer on first use).
    pub lua: mlua::Lua,
    /// The environment's handles, once the command layer has installed it
    /// (shared: each invocation takes them, and cloning the `Handles`
    /// themselves would make a registry reference per Lua value).
    pub handles: Option<std::rc::Rc<Handles>>,
    /// The last EVAL body and its SHA1, so a script sent again and again
    /// is hashed once.
    pub last_eval: Option<(bytes::Bytes, [u8; 40])>,
    /// Scripts by lower-case hex SHA1: the body and its compiled function.
    /// (foldhash, randomly seeded: SipHash of the 40 bytes cost a few
    /// hundred instructions per EVAL, looked up more than once.)
    pub cache: HashMap<[u8; 40], Cached, foldhash::fast::RandomState>,
    /// Function libraries by name.
    pub libraries: std::collections::BTreeMap<String, Library>,
    /// Function name, lower-cased (names are case-insensitive) -> its
    /// library's name.
    pub functions: HashMap<String, String, foldhash::fast::RandomState>,
    clock: u64,
}

impl Engine {
    /// A fresh use stamp (for least-recently-used eviction).
    pub fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

/// What running a script needs from the environment, looked up once.
pub struct Handles {
    /// The hidden table behind the read-only globals (KEYS, ARGV go here).
    pub globals: mlua::Table,
    /// The error handler scripts run under.
    pub handler: mlua::Function,
    /// Lua's `xpcall`.
    pub xpcall: mlua::Function,
    /// Set when a kill switched the hook to every line (restore it after).
    pub killed: std::sync::Arc<AtomicBool>,
    /// Has SCRIPT KILL been asked (polled by the hook)?
    pub kill_check: KillCheck,
    /// Where libraries load and their functions run.
    pub library_env: mlua::Table,
    /// What the library being loaded registered.
    pub pending: std::sync::Arc<parking_lot::Mutex<Option<Vec<Registered>>>>,
    /// What a library's code sees while it loads: only `redis`, the
    /// registration API (`functions::library_env`).
    pub load_view: mlua::Table,
    /// Runs one script or function invocation (`vm::INVOKE`).
    pub invoke: mlua::Function,
    /// The VM's heap after its last full collection, or the lowest seen
    /// since (the scripting layer's collection policy).
    pub gc_base: std::sync::atomic::AtomicUsize,
}

/// The hook's question: has SCRIPT KILL been asked?
pub type KillCheck = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// A function library (FUNCTION LOAD).
pub struct Library {
    /// Its name (`#!lua name=...`).
    pub name: String,
    /// Its code, as loaded.
    pub code: Bytes,
    /// Its functions, in registration order.
    pub functions: Vec<Registered>,
}

/// A function a library registered.
pub struct Registered {
    /// Its name.
    pub name: String,
    /// The callback.
    pub func: mlua::Function,
    /// Its flags.
    pub flags: Flags,
    /// Its description, if given.
    pub description: Option<Bytes>,
}

/// A script's or a function's flags (`#!lua flags=...`, the `flags` of
/// `redis.register_function`; EVAL_RO adds no-writes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `no-writes`
    pub no_writes: bool,
    /// `allow-oom`
    pub allow_oom: bool,
    /// `allow-stale`
    pub allow_stale: bool,
    /// `no-cluster`
    pub no_cluster: bool,
    /// `allow-cross-slot-keys`
    pub allow_cross_slot: bool,
    /// An EVAL script without a shebang (Redis's compatibility mode: it
    /// may touch keys of several slots, as long as they are all here).
    pub compat: bool,
}

impl Flags {
    /// Set the flag `name`; false if there is no such flag.
    pub fn set(&mut self, name: &[u8]) -> bool {
        let field = match name {
            b"no-writes" => &mut self.no_writes,
            b"allow-oom" => &mut self.allow_oom,
            b"allow-stale" => &mut self.allow_stale,
            b"no-cluster" => &mut self.no_cluster,
            b"allow-cross-slot-keys" => &mut self.allow_cross_slot,
            _ => return false,
        };
        *field = true;
        true
    }

    /// The declared flags' names, in Redis's order (FUNCTION LIST).
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.no_writes, "no-writes"),
            (self.allow_oom, "allow-oom"),
            (self.allow_stale, "allow-stale"),
            (self.no_cluster, "no-cluster"),
            (self.allow_cross_slot, "allow-cross-slot-keys"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// One cached script.
pub struct Cached {
    /// The source, as loaded.
    pub body: Bytes,
    /// The compiled chunk.
    pub func: mlua::Function,
    /// Shebang flags.
    pub flags: Flags,
    /// Loaded by EVAL (evictable), not SCRIPT LOAD.
    pub from_eval: bool,
    /// Last use stamp ([`Engine::tick`]).
    pub used: u64,
}

/// The VM, locked.
pub type EngineGuard<'a> = ReentrantMutexGuard<'a, Vm>;

/// The engine as the VM's mutex holds it.
///
/// mlua is built without its `send` feature: with it, every call into
/// the VM (each table store, string, call) took mlua's own reentrant lock,
/// and every Lua value handle was an `Arc` (an EVALSHA of one command ran
/// ~100 atomic instructions for them, as many as the rest of the request;
/// `reports/2026-12-06-atomics.md`). Without it, the VM and its handles
/// are `Rc`-counted and not `Send`, and this type asserts what mlua's lock
/// did: the engine, and every Lua value it creates, is only touched by the
/// thread that holds [`Scripts`]' mutex. Lua values never leave the guard
/// (the cache, the libraries and the environment's handles live in the
/// [`Engine`]; a script's results are converted to frames before the
/// guard is released), and the mutex orders one holder's accesses before
/// the next one's, on whatever thread.
pub struct Vm(RefCell<Engine>);

// SAFETY: see the type's documentation: all access goes through the
// `ReentrantMutex` in `Scripts`, which only one thread holds at a time, and
// no value holding a reference into the VM outlives the guard.
#[allow(unsafe_code)]
unsafe impl Send for Vm {}

impl std::ops::Deref for Vm {
    type Target = RefCell<Engine>;
    fn deref(&self) -> &RefCell<Engine> {
        &self.0
    }
}

/// Scripting state.
pub struct Scripts {
    engine: Arc<ReentrantMutex<Vm>>,
    base: Instant,
    /// Milliseconds since `base` (plus one) when the running script
    /// started; 0 when none runs.
    started: AtomicU64,
    kill: AtomicBool,
    wrote: AtomicBool,
    function: AtomicBool,
    cached: AtomicU64,
    cached_bytes: AtomicU64,
    vm_bytes: AtomicU64,
    libraries: AtomicU64,
    functions: AtomicU64,
    /// SHUTDOWN NOSAVE stopped the running script: what it did must not
    /// reach the append-only file (Redis exits before propagating it).
    stopped_for_shutdown: AtomicBool,
    /// The running script was reported slow (once per run).
    reported_slow: AtomicBool,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call CLIENT and DEBUG
    /// PROTOCOL, which are `noscript` (Redis's tests use it).
    deny_disabled: AtomicBool,
    /// The running function's name and the command that called it
    /// (FUNCTION STATS' `running_script`).
    running: parking_lot::Mutex<Option<(bytes::Bytes, Vec<bytes::Bytes>)>>,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            engine: Arc::new(ReentrantMutex::new(Vm(RefCell::new(Engine {
                lua: mlua::Lua::new_with(
                    mlua::StdLib::TABLE | mlua::StdLib::STRING | mlua::StdLib::MATH,
                    mlua::LuaOptions::default(),
                )
                .expect("a Lua state with the safe standard libraries"),
                handles: None,
                last_eval: None,
                cache: HashMap::default(),
                libraries: Default::default(),
                functions: HashMap::default(),
                clock: 0,
            })))),
            base: Instant::now(),
            started: AtomicU64::new(0),
            kill: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            function: AtomicBool::new(false),
            cached: AtomicU64::new(0),
            cached_bytes: AtomicU64::new(0),
            vm_bytes: AtomicU64::new(0),
            libraries: AtomicU64::new(0),
            functions: AtomicU64::new(0),
            stopped_for_shutdown: AtomicBool::new(false),
            reported_slow: AtomicBool::new(false),
            deny_disabled: AtomicBool::new(false),
            running: parking_lot::Mutex::new(None),
        }
    }
}

/// Why the VM could not be had.
#[derive(Debug, PartialEq, Eq)]
pub enum Busy {
    /// A script has run longer than `busy-reply-threshold`: a script (or,
    /// with `true`, a function).
    Script(bool),
}

impl Scripts {
    /// Lock the VM if nobody holds it.
    pub fn try_enter(&self) -> Option<EngineGuard<'_>> {
        if STEPPED_ASIDE.get() {
            return None;
        }
        self.engine.try_lock()
    }

    /// Lock the VM, waiting for a running script unless it has become
    /// busy (then BUSY, as Redis answers everyone but SCRIPT KILL).
    pub fn enter(&self, threshold_ms: u64) -> Result<EngineGuard<'_>, Busy> {
        if STEPPED_ASIDE.get() {
            // The VM's lock is reentrant, and the script holding it is
            // this thread's, stepped aside ([`step_aside`]): it is busy.
            return Err(Busy::Script(self.function.load(Ordering::Relaxed)));
        }
        // Scripts are short as a rule: wait in place first, and hand the
        // thread's other work elsewhere only if the wait drags on.
        if let Some(g) = self.engine.try_lock_for(crate::db::LONG_WAIT) {
            self.keep_for_batch();
            return Ok(g);
        }
        crate::util::blocking_section(|| loop {
            if let Some(g) = self.engine.try_lock_for(Duration::from_millis(5)) {
                self.keep_for_batch();
                return Ok(g);
            }
            if let Some(busy) = self.busy(threshold_ms) {
                return Err(busy);
            }
        })
    }

    /// While a connection runs a batch of pipelined requests on this
    /// thread, keep the VM once it has it: the next script of the batch
    /// finds it held (a reentrant count, no contention with the other
    /// threads' scripts) until [`end_batch`].
    fn keep_for_batch(&self) {
        if !BATCHING.get() {
            return;
        }
        KEPT.with(|k| {
            let mut k = k.borrow_mut();
            if k.is_none() {
                *k = Some(self.engine.lock_arc());
            }
        });
    }

    /// Is a script running for longer than `threshold_ms` (0: never busy)?
    pub fn busy(&self, threshold_ms: u64) -> Option<Busy> {
        let started = self.started.load(Ordering::Acquire);
        if started == 0 || threshold_ms == 0 {
            return None;
        }
        let elapsed = self.now_ms().saturating_sub(started - 1);
        (elapsed >= threshold_ms).then(|| Busy::Script(self.function.load(Ordering::Relaxed)))
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// A script starts; a function (FCALL) with its name and the command
    /// that called it.
    pub fn started(&self, function: Option<(bytes::Bytes, Vec<bytes::Bytes>)>) {
        crate::util::set_worker_busy(true);
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.stopped_for_shutdown.store(false, Ordering::Relaxed);
        self.reported_slow.store(false, Ordering::Relaxed);
        self.function.store(function.is_some(), Ordering::Relaxed);
        if function.is_some() {
            *self.running.lock() = function;
        }
        self.started.store(self.now_ms() + 1, Ordering::Release);
    }

    /// The running script ended.
    pub fn finished(&self) {
        crate::util::set_worker_busy(false);
        self.started.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Relaxed);
        if self.function.load(Ordering::Relaxed) {
            *self.running.lock() = None;
        }
    }

    /// The running function, the command that called it, and how long it
    /// has run (ms), if a function runs.
    pub fn running_function(&self) -> Option<(bytes::Bytes, Vec<bytes::Bytes>, u64)> {
        let ms = self.running_ms()?;
        let running = self.running.lock();
        let (name, argv) = running.as_ref()?;
        Some((name.clone(), argv.clone(), ms))
    }

    /// SHUTDOWN NOSAVE: stop the running script whatever it wrote (the
    /// server is leaving, as Redis exits in the middle of it).
    pub fn stop_for_shutdown(&self) {
        if self.started.load(Ordering::Acquire) != 0 {
            self.stopped_for_shutdown.store(true, Ordering::Relaxed);
            self.kill.store(true, Ordering::Release);
        }
    }

    /// Was the script that just ended stopped by SHUTDOWN NOSAVE?
    pub fn was_stopped_for_shutdown(&self) -> bool {
        self.stopped_for_shutdown.load(Ordering::Relaxed)
    }

    /// True the first time it is asked during one run: the running
    /// script has just been found busy, and is to be logged as slow.
    pub fn first_time_slow(&self) -> bool {
        !self.reported_slow.swap(true, Ordering::Relaxed)
    }

    /// Milliseconds the running script has run, if one runs.
    pub fn running_ms(&self) -> Option<u64> {
        let started = self.started.load(Ordering::Acquire);
        (started != 0).then(|| self.now_ms().saturating_sub(started - 1))
    }

    /// The running script wrote (it can no longer be killed).
    pub fn wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// SCRIPT KILL / FUNCTION KILL: ask the running script to stop.
    pub fn kill(&self, function: bool) -> Result<(), KillRefused> {
        if self.started.load(Ordering::Acquire) == 0 {
            return Err(KillRefused::NotBusy);
        }
        if self.function.load(Ordering::Relaxed) != function {
            return Err(KillRefused::OtherKind(!function));
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Err(KillRefused::Unkillable);
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// DEBUG SET-DISABLE-DENY-SCRIPTS.
    pub fn set_deny_disabled(&self, on: bool) {
        self.deny_disabled.store(on, Ordering::Relaxed);
    }

    /// May scripts call the `noscript` commands DEBUG
    /// SET-DISABLE-DENY-SCRIPTS lets through?
    pub fn deny_disabled(&self) -> bool {
        self.deny_disabled.load(Ordering::Relaxed)
    }

    /// Has the running script been asked to stop?
    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }

    /// Publish the cache and VM sizes for INFO.
    pub fn set_sizes(&self, cached: usize, cached_bytes: usize, vm_bytes: usize) {
        self.cached.store(cached as u64, Ordering::Relaxed);
        self.cached_bytes
            .store(cached_bytes as u64, Ordering::Relaxed);
        self.vm_bytes.store(vm_bytes as u64, Ordering::Relaxed);
    }

    /// Publish the function counts for INFO.
    pub fn set_function_counts(&self, libraries: usize, functions: usize) {
        self.libraries.store(libraries as u64, Ordering::Relaxed);
        self.functions.store(functions as u64, Ordering::Relaxed);
    }

    /// (libraries, functions) for INFO.
    pub fn function_counts(&self) -> (u64, u64) {
        (
            self.libraries.load(Ordering::Relaxed),
            self.functions.load(Ordering::Relaxed),
        )
    }

    /// Publish the VM's size for INFO.
    pub fn set_vm_bytes(&self, vm_bytes: usize) {
        self.vm_bytes.store(vm_bytes as u64, Ordering::Relaxed);
    }

    /// (cached scripts, bytes of their sources and bookkeeping, VM bytes).
    pub fn sizes(&self) -> (u64, u64, u64) {
        (
            self.cached.load(Ordering::Relaxed),
            self.cached_bytes.load(Ordering::Relaxed),
            self.vm_bytes.load(Ordering::Relaxed),
        )
    }
}

/// Why SCRIPT KILL / FUNCTION KILL did nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum KillRefused {
    /// Nothing runs.
    NotBusy,
    /// The script has written.
    Unkillable,
    /// A function runs and SCRIPT KILL was asked (`true`), or the reverse.
    OtherKind(bool),
}

type KeptGuard = ArcReentrantMutexGuard<RawMutex, RawThreadId, Vm>;

thread_local! {
    static BATCHING: Cell<bool> = const { Cell::new(false) };
    static KEPT: RefCell<Option<KeptGuard>> = const { RefCell::new(None) };
    /// The script running on this thread has stepped aside
    /// ([`step_aside`]): this thread's other connections are being served.
    static STEPPED_ASIDE: Cell<bool> = const { Cell::new(false) };
}

/// A busy script's hook: if the script runs on a fiber, let its worker
/// thread serve the thread's other connections for a moment (they get
/// BUSY; SCRIPT KILL, FUNCTION KILL and SHUTDOWN NOSAVE work), as Redis's
/// `processEventsWhileBlocked`, then go on. The thread's per-command state
/// (the journal's open section, pending tracking invalidations, batched
/// pub/sub deliveries and a kept VM) is set aside meanwhile and put back.
pub fn step_aside() {
    if !flashkv_fiber::on_fiber() {
        return;
    }
    let section = crate::db::journal::stash_section();
    let invalidations = crate::state::tracking::stash_pending();
    // Deliveries so far go now, as Redis's output buffers are written
    // while it serves events.
    let published = crate::state::pubsub::pause_batch();
    let batching = BATCHING.replace(false);
    KEPT.with(|k| k.borrow_mut().take());
    STEPPED_ASIDE.set(true);
    flashkv_fiber::suspend();
    STEPPED_ASIDE.set(false);
    BATCHING.set(batching);
    crate::state::pubsub::resume_batch(published);
    crate::state::tracking::restore_pending(invalidations);
    crate::db::journal::restore_section(section);
}

/// A connection starts running a batch of requests on this thread.
pub fn begin_batch() {
    BATCHING.set(true);
}

/// Give back a VM kept for the batch, batching on. Before a command waits
/// for the journal's order lock: a script that holds that lock may be
/// waiting for this VM.
pub fn release_kept() {
    KEPT.with(|k| k.borrow_mut().take());
}

/// The batch ends (or is about to wait): give the VM back.
pub fn end_batch() {
    BATCHING.set(false);
    KEPT.with(|k| k.borrow_mut().take());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::journal::{self, Journal};

    /// A VM kept for a pipelined batch must not hold up a script that has
    /// the journal's order lock: the batch's next command may wait for
    /// that lock (a read reaping an expired key, eviction, BGREWRITEAOF),
    /// the script waits for the VM. The wait gives the VM back
    /// (`journal::on_wait`). Bounded: a failure after 30 s, not a hang.
    #[test]
    fn a_vm_kept_for_a_batch_is_given_back_before_waiting_for_the_order_lock() {
        journal::on_wait(release_kept);
        let path = std::env::temp_dir().join(format!("flashkv-kept-vm-{}.aof", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let j = Arc::new(Journal::default());
        j.enable(file, 0, || ());
        let scripts = Arc::new(Scripts::default());
        let (done, finished) = std::sync::mpsc::channel();
        let (kept, vm_kept) = std::sync::mpsc::channel();
        let (holding, order_held) = std::sync::mpsc::channel();
        let batch = {
            let (j, scripts, done) = (j.clone(), scripts.clone(), done.clone());
            std::thread::spawn(move || {
                begin_batch();
                drop(scripts.enter(0).unwrap());
                kept.send(()).unwrap();
                order_held.recv().unwrap();
                // The batch's next command waits for the order lock.
                j.ordered(|| ());
                end_batch();
                done.send(()).unwrap();
            })
        };
        let script = std::thread::spawn(move || {
            vm_kept.recv().unwrap();
            j.ordered(|| {
                holding.send(()).unwrap();
                drop(scripts.enter(0).unwrap());
            });
            done.send(()).unwrap();
        });
        for _ in 0..2 {
            finished
                .recv_timeout(Duration::from_secs(30))
                .expect("a kept VM and the order lock deadlocked");
        }
        batch.join().unwrap();
        script.join().unwrap();
        let _ = std::fs::remove_file(path);
    }
}
