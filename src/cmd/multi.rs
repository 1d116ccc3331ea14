//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! MULTI starts queueing: every command but EXEC, DISCARD, MULTI, WATCH,
//! QUIT and RESET is checked as Redis's `processCommand` checks it
//! (existence, arity, authentication) and queued unparsed with `+QUEUED`;
//! a rejected one dooms the transaction, and EXEC then answers EXECABORT.
//! EXEC:
//!
//! 1. finds every key the queued commands touch, database by database
//!    (following their SELECTs), from the key specs Redis publishes
//!    ([`Plan`]); a command that touches a whole database (KEYS, SCAN,
//!    DBSIZE, RANDOMKEY, FLUSHDB, SORT with BY or GET) needs that
//!    database's every stripe, SWAPDB and FLUSHALL every database's;
//! 2. locks those stripes exclusively in the global order, so no other
//!    command runs on them meanwhile and no lock-free reader sees a
//!    partial state (its seqlock check fails and it retries);
//! 3. checks WATCH ([`Watching`]): the client's flag, raised by any change
//!    to a watched key, and Redis 7.0's rule for watched keys that have
//!    expired since;
//! 4. runs the commands in order under those locks (`Ctx::in_transaction`:
//!    the keyspace methods take no locks of their own and blocking
//!    commands do not block), collecting every reply. An error in one
//!    command does not stop the others and nothing is rolled back.
//!
//! There is no global transaction lock: a transaction whose keys are known
//! runs in parallel with every command that does not touch its stripes.

use crate::db::Tick;
use std::sync::Arc;

use bytes::Bytes;
use store_api::Store;

use super::context::Ctx;
use super::table::{self, Spec};
use super::{parse_int32, Args, Client, CmdError, Command, Executor, Reply, Row};
use crate::db::journal;
use crate::db::watch::WatchFlag;
use crate::db::{KeyLocks, Keyspace, Lookups, Table, STRIPES};
use crate::protocol::Frame;

/// Transaction commands.
#[derive(Debug)]
pub enum Cmd {
    /// `MULTI`
    Multi,
    /// `EXEC`
    Exec,
    /// `DISCARD`
    Discard,
    /// `WATCH key [key ...]`
    Watch(Vec<Bytes>),
    /// `UNWATCH`
    Unwatch,
}

fn parse_multi(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Multi(Cmd::Multi))
}

fn parse_exec(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Multi(Cmd::Exec))
}

fn parse_discard(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Multi(Cmd::Discard))
}

fn parse_watch(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Multi(Cmd::Watch(a.rest())))
}

fn parse_unwatch(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Multi(Cmd::Unwatch))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("multi", parse_multi),
    ("exec", parse_exec),
    ("discard", parse_discard),
    ("watch", parse_watch),
    ("unwatch", parse_unwatch),
];

/// One client's transaction state.
#[derive(Default)]
pub struct TxState {
    /// The open transaction, between MULTI and EXEC or DISCARD.
    queue: Option<Queue>,
    watching: Watching,
}

/// The commands queued since MULTI.
#[derive(Default)]
struct Queue {
    commands: Vec<(Spec, Vec<Bytes>)>,
    /// What the queued commands hold (see [`TxState::memory`]).
    bytes: usize,
    /// A command was rejected while queueing: EXEC must abort.
    doomed: bool,
}

/// A client's watched keys: (database, key), and the one flag every
/// change to any of them raises.
#[derive(Default)]
struct Watching {
    flag: Arc<WatchFlag>,
    keys: Vec<(usize, Bytes)>,
}

impl TxState {
    /// Is a transaction open (MULTI seen, no EXEC or DISCARD yet)?
    pub fn in_multi(&self) -> bool {
        self.queue.is_some()
    }

    /// Queue a command (the caller checked it is queueable).
    pub fn queue(&mut self, spec: Spec, argv: Vec<Bytes>) -> Frame {
        if let Some(q) = &mut self.queue {
            q.bytes += std::mem::size_of::<(Spec, Vec<Bytes>)>()
                + argv
                    .iter()
                    .map(|a| a.len() + std::mem::size_of::<Bytes>())
                    .sum::<usize>();
            q.commands.push((spec, argv));
        }
        Frame::simple("QUEUED")
    }

    /// Bytes the client holds for its transaction (CLIENT LIST's
    /// `multi-mem`, counted by client eviction): the queued commands'
    /// arguments, and each watched key's entries (here and in the
    /// database's watch table; the key's bytes are shared with the table,
    /// and left out as Redis leaves them out).
    pub fn memory(&self) -> usize {
        /// A watch table entry: the key's handle and this client's flag.
        const TABLE_ENTRY: usize = std::mem::size_of::<(Bytes, Arc<WatchFlag>)>();
        let queued = self.queue.as_ref().map_or(0, |q| q.bytes);
        let watched =
            self.watching.keys.len() * (std::mem::size_of::<(usize, Bytes)>() + TABLE_ENTRY);
        queued + watched
    }

    /// A command was rejected: if a transaction is open, EXEC will abort
    /// (Redis's `flagTransaction`).
    pub fn doom(&mut self) {
        if let Some(q) = &mut self.queue {
            q.doomed = true;
        }
    }

    /// Does the open transaction hold a write (CLIENT PAUSE WRITE holds
    /// its EXEC back)?
    pub fn writes(&self) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|q| q.commands.iter().any(|(s, _)| s.flags.write))
    }

    /// Does the open transaction queue a deny-oom command (so EXEC is
    /// one too)?
    pub fn denies_oom(&self) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|q| q.commands.iter().any(|(s, _)| s.flags.deny_oom))
    }

    /// Does the open transaction queue a command refused while loading
    /// (so EXEC is refused too)?
    pub fn denies_loading(&self) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|q| q.commands.iter().any(|(s, _)| !s.flags.loading))
    }

    /// The commands queued so far (none outside a transaction).
    pub fn commands(&self) -> &[(Spec, Vec<Bytes>)] {
        self.queue.as_ref().map_or(&[], |q| &q.commands)
    }

    /// Number of commands queued (CLIENT LIST's `multi=`; -1 outside a
    /// transaction).
    pub fn queued(&self) -> i64 {
        self.queue.as_ref().map_or(-1, |q| q.commands.len() as i64)
    }

    /// Forget the transaction and every watch (RESET, disconnection).
    pub fn clear<S: Store>(&mut self, table: &Table<S>) {
        self.queue = None;
        self.unwatch(table);
    }

    /// Stop watching everything.
    fn unwatch<S: Store>(&mut self, table: &Table<S>) {
        let w = &mut self.watching;
        if w.keys.is_empty() {
            return;
        }
        for (db, key) in w.keys.drain(..) {
            if let Some(ks) = table.get(db) {
                ks.watches().remove(&key, &w.flag);
            }
        }
        // A registration left behind on a flushed database can never
        // raise the next watches' flag.
        w.flag = Arc::new(WatchFlag::default());
    }

    /// WATCH `keys` of database `db`.
    fn watch<S: Store>(
        &mut self,
        exec: &Executor<S>,
        table: &Table<S>,
        db: usize,
        keys: Vec<Bytes>,
        now: u64,
    ) {
        let ks = &table[db];
        let w = &mut self.watching;
        for key in keys {
            if w.keys.iter().any(|(d, k)| *d == db && *k == key) {
                continue;
            }
            ks.watches()
                .add(&key, &w.flag, ks.is_expired_key(&key, now));
            w.keys.push((db, key));
        }
        // A FLUSHDB or SWAPDB that replaced the database while we
        // registered may have moved the watches before ours arrived:
        // count it as a change (Redis would, for any key that existed).
        if !Arc::ptr_eq(&exec.state.db.table()[db], ks) {
            w.flag.raise();
        }
    }

    /// Has a watched key changed, or expired since it was watched?
    fn watch_failed<S: Store>(&self, table: &Table<S>, now: u64) -> bool {
        let w = &self.watching;
        w.flag.is_dirty()
            || w.keys.iter().any(|(db, key)| {
                let ks = &table[*db];
                ks.watches()
                    .expired_since(key, &w.flag, || ks.is_expired_key(key, now))
            })
    }
}

/// Run a transaction command for `client`.
pub fn execute<S: Store>(
    cmd: Cmd,
    exec: &Executor<S>,
    client: &mut Client<S>,
) -> Result<Reply, CmdError> {
    let reply = run_command(cmd, exec, client);
    client.session.multi = client.tx.queued();
    reply
}

fn run_command<S: Store>(
    cmd: Cmd,
    exec: &Executor<S>,
    client: &mut Client<S>,
) -> Result<Reply, CmdError> {
    let tx = &mut client.tx;
    match cmd {
        Cmd::Multi => {
            if tx.queue.is_some() {
                return Err(CmdError::NestedMulti);
            }
            tx.queue = Some(Queue::default());
        }
        Cmd::Discard => {
            if tx.queue.take().is_none() {
                return Err(CmdError::DiscardWithoutMulti);
            }
            tx.unwatch(&exec.state.db.table());
        }
        Cmd::Watch(keys) => {
            if tx.queue.is_some() {
                return Err(CmdError::WatchInMulti);
            }
            let table = client.tables.get(&exec.state.db).clone();
            let now = exec.state.db.now_ms();
            client.tx.watch(exec, &table, client.session.db, keys, now);
        }
        Cmd::Unwatch => tx.unwatch(&exec.state.db.table()),
        Cmd::Exec => return run(exec, client).map(Reply::Now),
    }
    Ok(Frame::ok().into())
}

/// EXEC.
fn run<S: Store>(exec: &Executor<S>, client: &mut Client<S>) -> Result<Frame, CmdError> {
    let queue = client.tx.queue.take().ok_or(CmdError::ExecWithoutMulti)?;
    let locked = client.tables.get(&exec.state.db).clone();
    if queue.doomed {
        client.tx.unwatch(&locked);
        return Err(CmdError::ExecAbort);
    }
    let now = exec.state.db.now_ms();
    let plan = Plan::of(&queue.commands, client.session.db, locked.len());
    // Scripts inside: the VM first, then the stripes (the lock order).
    let scripts = queue.commands.iter().any(|(spec, _)| {
        matches!(
            spec.meta.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        )
    });
    let threshold = client.config.get(&exec.state).busy_reply_threshold;
    let _vm = match scripts {
        true => Some(
            exec.state
                .scripts
                .enter(threshold)
                .map_err(|crate::state::scripts::Busy::Script(f)| CmdError::Busy(f))?,
        ),
        false => None,
    };
    let faults = locked[0].faults();
    let mut failed = false;
    if faults.watch_before_lock {
        // The planted fault: check, then lock.
        failed = client.tx.watch_failed(&locked, now);
        std::thread::yield_now();
    }
    let held = if faults.unlocked_exec {
        Plan::default().lock(&locked)
    } else {
        plan.lock(&locked)
    };
    if !faults.watch_before_lock {
        failed = client.tx.watch_failed(&locked, now);
    }
    client.tx.unwatch(&locked);
    // The databases as the transaction sees them (its SWAPDBs reorder it).
    let mut table = locked.clone();
    if failed {
        return Ok(Frame::NullArray);
    }
    let config = client.config.get(&exec.state).clone();
    let mut replies = Vec::with_capacity(queue.commands.len());
    let mut ready = Vec::new();
    // CLIENT LIST inside EXEC shows the transaction (flags=x, multi=n,
    // cmd=exec), as in Redis.
    client.session.multi = queue.commands.len() as i64;
    for (spec, argv) in &queue.commands {
        if faults.unlocked_exec {
            // Let other clients in between the commands, as preemption
            // would.
            std::thread::yield_now();
        }
        if spec.flags.skip_monitor {
            exec.script_starts(client, spec, argv);
        }
        let start = Tick::now();
        let (mark, db) = (journal::mark(), client.session.db);
        let mut ctx = Ctx {
            state: &exec.state,
            commands: &exec.commands,
            session: &mut client.session,
            config: &config,
            now,
            table: &table,
            in_transaction: true,
            in_script: false,
            ready: super::context::Ready::default(),
            swapped: None,
            lookups: Lookups::default(),
            counts: &client.counts,
        };
        let reply = match table::parse(spec, argv) {
            // EXEC, MULTI and WATCH never reach the queue.
            Ok(Command::Multi(_)) => Err(CmdError::NestedMulti),
            Ok(cmd) => super::execute(cmd, &mut ctx),
            Err(e) => Err(e),
        };
        ready.append(&mut ctx.ready.take());
        let swapped = ctx.swapped.take();
        let (hits, misses) = ctx.lookups.take();
        drop(ctx);
        if let Some((a, b)) = swapped {
            Arc::make_mut(&mut table).swap(a, b);
        }
        client.counts.lookups(hits, misses);
        let frame = Reply::settle(reply);
        journal::command_done(mark, db, argv);
        let failed = client.counts_failure(Some(&frame));
        let nanos = start.elapsed_nanos();
        exec.track_reads(&client.session, spec, argv);
        exec.account(
            &client.counts,
            &client.session,
            &config,
            spec,
            argv,
            nanos,
            failed,
        );
        replies.push(frame);
    }
    drop(held);
    let limit = config.encodings.list_max_listpack_size;
    let now = now.max(exec.state.db.now_ms());
    for (db, key) in ready {
        if let Some(ks) = table.get(db) {
            super::serve_ready(ks, &key, now, limit);
        }
    }
    Ok(Frame::Array(replies))
}

/// What a transaction must lock: per database, some keys or everything.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan<'a> {
    /// Keys per database index.
    keys: Vec<Vec<&'a [u8]>>,
    /// Databases needed whole.
    whole: Vec<bool>,
}

impl<'a> Plan<'a> {
    /// The plan for `commands` queued in database `db` of `dbs`.
    pub fn of(commands: &'a [(Spec, Vec<Bytes>)], mut db: usize, dbs: usize) -> Plan<'a> {
        let mut plan = Plan {
            keys: vec![Vec::new(); dbs],
            whole: vec![false; dbs],
        };
        let index = |arg: &Bytes| {
            parse_int32(arg)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n < dbs)
        };
        for (spec, argv) in commands {
            let meta = spec.meta;
            match meta.name {
                "select" => db = index(&argv[1]).unwrap_or(db),
                // A script may touch any key of any database: it runs with
                // every stripe held.
                "swapdb" | "flushall" | "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall"
                | "fcall_ro" => plan.whole.fill(true),
                "flushdb" | "keys" | "scan" | "randomkey" | "dbsize" => plan.whole[db] = true,
                "sort" | "sort_ro"
                    if argv[2..]
                        .iter()
                        .any(|a| super::is(a, "BY") || super::is(a, "GET")) =>
                {
                    plan.whole[db] = true
                }
                // The key in the target database.
                "move" => {
                    plan.keys[db].push(&argv[1]);
                    if let Some(to) = index(&argv[2]) {
                        plan.keys[to].push(&argv[1]);
                    }
                }
                name => {
                    match meta.all_keys(argv) {
                        Some(keys) => plan.keys[db].extend(keys.into_iter().map(|k| &k[..])),
                        // Arguments that do not fit the specs: the command
                        // fails, but lock its database to be safe.
                        None => plan.whole[db] = true,
                    }
                    if name == "copy" {
                        // COPY ... DB n: the destination in database n.
                        let db_opt = argv.iter().skip(3).position(|a| super::is(a, "DB"));
                        if let Some(to) = db_opt.and_then(|i| argv.get(i + 4)).and_then(index) {
                            plan.keys[to].push(&argv[2]);
                        }
                    }
                }
            }
        }
        plan
    }

    /// Lock the plan's stripes of `table` exclusively, in the global order.
    fn lock<'t, S: Store>(&self, table: &'t Table<S>) -> crate::db::ExclusiveGuard<'t> {
        let parts: Vec<(&KeyLocks, Vec<usize>)> = table
            .iter()
            .enumerate()
            .filter_map(|(i, ks)| {
                let stripes = self.stripes(i, ks)?;
                Some((ks.locks(), stripes))
            })
            .collect();
        KeyLocks::lock_plan(parts)
    }

    /// Does [`Plan::of`] treat `name` other than by its key specs (other
    /// databases, whole databases)?
    pub(super) fn special(name: &str) -> bool {
        matches!(
            name,
            "select"
                | "swapdb"
                | "flushall"
                | "eval"
                | "evalsha"
                | "eval_ro"
                | "evalsha_ro"
                | "fcall"
                | "fcall_ro"
                | "flushdb"
                | "keys"
                | "scan"
                | "randomkey"
                | "dbsize"
                | "sort"
                | "sort_ro"
                | "move"
                | "copy"
        )
    }

    /// The stripes of database `db` (whose keyspace is `ks`) the plan
    /// needs, if any.
    pub(super) fn stripes<S: Store>(&self, db: usize, ks: &Keyspace<S>) -> Option<Vec<usize>> {
        if self.whole.get(db) == Some(&true) {
            return Some((0..STRIPES).collect());
        }
        let keys = self.keys.get(db)?;
        (!keys.is_empty()).then(|| ks.locks().stripes_of(keys.iter().copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::cmd::meta::COMMANDS;
    use crate::cmd::{CommandTable, ROWS};

    fn plan_of(cmds: &[&[&str]]) -> (Vec<Vec<String>>, Vec<bool>) {
        let t = CommandTable::new(&COMMANDS, &ROWS, &[]);
        let queued: Vec<(Spec, Vec<Bytes>)> = cmds
            .iter()
            .map(|c| {
                let argv: Vec<Bytes> = c
                    .iter()
                    .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                    .collect();
                (*t.lookup(&argv).unwrap(), argv)
            })
            .collect();
        let p = Plan::of(&queued, 0, 4);
        let keys = p
            .keys
            .iter()
            .map(|ks| {
                ks.iter()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect()
            })
            .collect();
        (keys, p.whole)
    }

    #[test]
    fn plan_follows_select_and_names_every_key() {
        let (keys, whole) = plan_of(&[
            &["SET", "a", "1"],
            &["SELECT", "2"],
            &["MSET", "b", "1", "c", "2"],
            &["MOVE", "d", "3"],
            &["COPY", "e", "f", "DB", "1"],
            &["SORT", "l", "STORE", "g"],
            &["PING"],
        ]);
        assert_eq!(keys[0], ["a"]);
        assert_eq!(keys[1], ["f"]);
        assert_eq!(keys[2], ["b", "c", "d", "e", "f", "l", "g"]);
        assert_eq!(keys[3], ["d"]);
        assert_eq!(whole, [false; 4]);
    }

    #[test]
    fn whole_database_commands_take_the_database_or_all() {
        let (_, whole) = plan_of(&[&["SELECT", "1"], &["KEYS", "*"]]);
        assert_eq!(whole, [false, true, false, false]);
        let (_, whole) = plan_of(&[&["SORT", "l", "BY", "w_*"]]);
        assert_eq!(whole, [true, false, false, false]);
        let (_, whole) = plan_of(&[&["SWAPDB", "0", "1"]]);
        assert_eq!(whole, [true; 4]);
    }

    #[test]
    fn queue_then_exec_runs_everything_without_rollback() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["MULTI"]), ok());
        assert_eq!(t.run(&["SET", "a", "1"]), Frame::simple("QUEUED"));
        assert_eq!(t.run(&["LPUSH", "a", "x"]), Frame::simple("QUEUED"));
        assert_eq!(t.run(&["INCR", "a"]), Frame::simple("QUEUED"));
        assert_eq!(
            t.run(&["EXEC"]),
            arr(vec![
                ok(),
                err("WRONGTYPE Operation against a key holding the wrong kind of value"),
                int(2)
            ])
        );
        assert_eq!(t.run(&["EXEC"]), err("ERR EXEC without MULTI"));
    }

    #[test]
    fn queueing_errors_abort_exec_but_nested_multi_does_not() {
        let mut t = TestDb::new();
        t.run(&["MULTI"]);
        assert_eq!(t.run(&["MULTI"]), err("ERR MULTI calls can not be nested"));
        assert_eq!(
            t.run(&["WATCH", "k"]),
            err("ERR WATCH inside MULTI is not allowed")
        );
        t.run(&["SET", "a", "1"]);
        assert_eq!(t.run(&["EXEC"]), arr(vec![ok()]));
        t.run(&["MULTI"]);
        assert_eq!(
            t.run(&["SET", "b"]),
            err("ERR wrong number of arguments for 'set' command")
        );
        t.run(&["SET", "b", "2"]);
        assert_eq!(
            t.run(&["EXEC"]),
            err("EXECABORT Transaction discarded because of previous errors.")
        );
        assert_eq!(t.run(&["GET", "b"]), Frame::Null);
    }

    #[test]
    fn watch_aborts_on_a_change_and_only_then() {
        let mut t = TestDb::new();
        t.run(&["SET", "w", "1"]);
        t.run(&["WATCH", "w"]);
        t.run(&["SET", "w", "2"]);
        t.run(&["MULTI"]);
        t.run(&["GET", "w"]);
        assert_eq!(t.run(&["EXEC"]), Frame::NullArray);
        // EXEC unwatched: the next transaction runs.
        t.run(&["SET", "w", "3"]);
        t.run(&["MULTI"]);
        t.run(&["GET", "w"]);
        assert_eq!(t.run(&["EXEC"]), arr(vec![bulk("3")]));
        // A no-op write (PERSIST of a persistent key) changes nothing.
        t.run(&["WATCH", "w"]);
        t.run(&["PERSIST", "w"]);
        t.run(&["DEL", "nothing"]);
        t.run(&["MULTI"]);
        t.run(&["PING"]);
        assert_eq!(t.run(&["EXEC"]), arr(vec![Frame::simple("PONG")]));
    }

    #[test]
    fn watched_key_that_expires_aborts_unless_already_expired() {
        let mut t = TestDb::new();
        t.run(&["SET", "w", "1", "PX", "100"]);
        t.run(&["WATCH", "w"]);
        t.advance(200);
        t.run(&["MULTI"]);
        t.run(&["PING"]);
        assert_eq!(t.run(&["EXEC"]), Frame::NullArray);
        t.run(&["SET", "w", "1", "PX", "10"]);
        t.advance(20);
        t.run(&["WATCH", "w"]);
        t.run(&["GET", "w"]); // deletes the expired key: no logical change
        t.run(&["MULTI"]);
        t.run(&["PING"]);
        assert_eq!(t.run(&["EXEC"]), arr(vec![Frame::simple("PONG")]));
    }

    #[test]
    fn flushdb_and_swapdb_inside_exec() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "1"]);
        t.run(&["MULTI"]);
        t.run(&["SWAPDB", "0", "1"]);
        t.run(&["GET", "a"]);
        t.run(&["SELECT", "1"]);
        t.run(&["GET", "a"]);
        t.run(&["FLUSHDB"]);
        t.run(&["DBSIZE"]);
        assert_eq!(
            t.run(&["EXEC"]),
            arr(vec![ok(), Frame::Null, ok(), bulk("1"), ok(), int(0)])
        );
        assert_eq!(t.run(&["DBSIZE"]), int(0));
        t.run(&["SELECT", "0"]);
        t.run(&["SET", "k", "v"]);
        t.run(&["MULTI"]);
        t.run(&["FLUSHALL"]);
        t.run(&["KEYS", "*"]);
        assert_eq!(t.run(&["EXEC"]), arr(vec![ok(), arr(vec![])]));
        assert_eq!(t.run(&["GET", "k"]), Frame::Null);
    }
}
