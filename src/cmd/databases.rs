//! Database commands: SELECT, SWAPDB, DBSIZE, FLUSHDB, FLUSHALL.
//!
//! FLUSHDB, FLUSHALL and SWAPDB swap whole keyspaces in one atomic pointer
//! store (see `db`), so they are atomic to every client without locks
//! (SWAPDB also holds both databases' stripes while WATCH hears of it).
//! Inside a transaction, which holds every stripe of the databases it
//! touches, FLUSHDB and FLUSHALL empty those databases in place.
//! The old keyspaces are freed on a blocking thread: before the reply for
//! SYNC, in the background for ASYNC.

use store_api::Store;

use super::error::ClusterError;
use super::{is, parse_int32, Args, CmdError, Command, Ctx, Reply, Row};
use crate::db::drop_in_background;
use crate::protocol::Frame;

/// Database commands.
#[derive(Debug)]
pub enum Cmd {
    /// `SELECT index`
    Select(i64),
    /// `SWAPDB index1 index2`
    SwapDb(i64, i64),
    /// `DBSIZE`
    DbSize,
    /// `FLUSHDB [ASYNC|SYNC]`
    FlushDb(Free),
    /// `FLUSHALL [ASYNC|SYNC]`
    FlushAll(Free),
}

/// Where a flushed database's memory is freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Free {
    /// Before the reply (SYNC, the default).
    Now,
    /// On a background thread (ASYNC).
    InBackground,
}

fn parse_select(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Databases(Cmd::Select(i64::from(parse_int32(
        &a.bytes()?,
    )?))))
}

/// `getIntFromObjectOrReply` with a custom message: one error for both
/// "not an integer" and "out of range".
fn int32(b: &[u8], err: CmdError) -> Result<i64, CmdError> {
    parse_int32(b).map(i64::from).map_err(|_| err)
}

fn parse_swapdb(mut a: Args<'_>) -> Result<Command, CmdError> {
    let first = int32(&a.bytes()?, CmdError::InvalidDbIndex("first"))?;
    let second = int32(&a.bytes()?, CmdError::InvalidDbIndex("second"))?;
    Ok(Command::Databases(Cmd::SwapDb(first, second)))
}

fn parse_dbsize(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Databases(Cmd::DbSize))
}

/// `[ASYNC|SYNC]`, as Redis's `getFlushCommandFlags`.
fn flush_mode(a: Args<'_>) -> Result<Free, CmdError> {
    match a.rest().as_slice() {
        [] => Ok(Free::Now),
        [m] if is(m, "ASYNC") => Ok(Free::InBackground),
        [m] if is(m, "SYNC") => Ok(Free::Now),
        _ => Err(CmdError::Syntax),
    }
}

fn parse_flushdb(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Databases(Cmd::FlushDb(flush_mode(a)?)))
}

fn parse_flushall(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Databases(Cmd::FlushAll(flush_mode(a)?)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("select", parse_select),
    ("swapdb", parse_swapdb),
    ("dbsize", parse_dbsize),
    ("flushdb", parse_flushdb),
    ("flushall", parse_flushall),
];

/// Reply OK once `garbage` is freed (SYNC) or at once (ASYNC).
fn free<T: Send + 'static>(garbage: T, how: Free) -> Reply {
    match how {
        Free::InBackground => {
            drop_in_background(garbage);
            Frame::ok().into()
        }
        Free::Now => Reply::Later(Box::new(move || {
            drop(garbage);
            Frame::ok()
        })),
    }
}

/// Execute a database command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    Ok(match cmd {
        Cmd::Select(i) => {
            if ctx.state.cluster.enabled && i != 0 {
                return Err(CmdError::Cluster(ClusterError::NotAllowed("SELECT")));
            }
            ctx.ks_at(i)?;
            ctx.session.db = i as usize;
            Frame::ok().into()
        }
        Cmd::SwapDb(_, _) if ctx.state.cluster.enabled => {
            return Err(CmdError::Cluster(ClusterError::NotAllowed("SWAPDB")));
        }
        Cmd::SwapDb(a, b) => {
            let (a, b) = (
                ctx.ks_at(a).map(|_| a as usize)?,
                ctx.ks_at(b).map(|_| b as usize)?,
            );
            if ctx.in_transaction() {
                // The transaction holds every stripe of every database.
                ctx.state.db.swap_held(a, b, ctx.now);
                ctx.swapped = Some((a, b));
            } else {
                ctx.state.db.swap(a, b, ctx.now);
            }
            // Clients blocked in either database on a key that now holds
            // what they wait for are served (Redis's
            // `scanDatabaseForReadyKeys`): now, or after EXEC.
            let table = ctx.state.db.table();
            let limit = ctx.config.encodings.list_max_listpack_size;
            for db in [a, b] {
                let Some(ks) = table.get(db) else { continue };
                let keys = ks.blocked().keys();
                if ctx.in_transaction() {
                    ctx.defer_ready_in(db, keys);
                } else {
                    let now = ctx.now.max(ctx.state.db.now_ms());
                    for key in keys {
                        super::serve_ready(ks, &key, now, limit);
                    }
                }
            }
            Frame::ok().into()
        }
        Cmd::DbSize => Frame::Integer(ctx.ks().len() as i64).into(),
        // Inside a transaction, empty in place the databases it holds:
        // installing fresh ones would show the flush to other clients
        // before the transaction ends.
        Cmd::FlushDb(_) if ctx.in_transaction() => {
            ctx.ks().keyspace().clear_in_place();
            Frame::ok().into()
        }
        Cmd::FlushAll(_) if ctx.in_transaction() => {
            ctx.databases().iter().for_each(|ks| ks.clear_in_place());
            Frame::ok().into()
        }
        Cmd::FlushDb(how) => free(ctx.state.db.flush(ctx.session.db), how),
        Cmd::FlushAll(how) => {
            let freed = ctx.state.db.flush_all();
            ctx.state
                .persist
                .reset_after_flushall(&ctx.state.db, ctx.config);
            free(freed, how)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    #[test]
    fn select_and_swapdb() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "0"]);
        assert_eq!(t.run(&["SELECT", "1"]), ok());
        assert_eq!(t.run(&["GET", "a"]), Frame::Null);
        assert_eq!(
            t.run(&["SELECT", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            t.run(&["SELECT", "-1"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            t.run(&["SELECT", "abc"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(t.run(&["SWAPDB", "0", "1"]), ok());
        assert_eq!(t.run(&["GET", "a"]), bulk("0"), "db 1 is the old db 0");
        assert_eq!(
            t.run(&["SWAPDB", "abc", "1"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(
            t.run(&["SWAPDB", "0", "abc"]),
            err("ERR invalid second DB index")
        );
        assert_eq!(
            t.run(&["SWAPDB", "0", "16"]),
            err("ERR DB index is out of range")
        );
    }

    #[test]
    fn flushdb_and_flushall() {
        let mut t = TestDb::new();
        t.run(&["SET", "a", "0"]);
        t.run(&["SELECT", "1"]);
        t.run(&["SET", "b", "1"]);
        assert_eq!(t.run(&["FLUSHDB", "ASYNC"]), ok());
        assert_eq!(t.run(&["DBSIZE"]), int(0));
        t.run(&["SELECT", "0"]);
        assert_eq!(t.run(&["DBSIZE"]), int(1));
        assert_eq!(t.run(&["FLUSHALL", "foo"]), err("ERR syntax error"));
        assert_eq!(t.run(&["FLUSHALL"]), ok());
        assert_eq!(t.run(&["DBSIZE"]), int(0));
    }
}
