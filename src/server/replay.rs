//! Loading the append-only file at start: the base (RDB, or commands),
//! then every incremental file's commands, run as a client would send
//! them (Redis's `loadAppendOnlyFiles`).
//!
//! Time stands still while replaying (`Db::set_replaying`): nothing
//! expires before the `DEL` the file logged for it. A file that ends in
//! the middle of a command (a crash during a write) is cut back to its
//! last whole command when it is the last file and `aof-load-truncated`
//! is on, as Redis does; a MULTI without its EXEC at the end is dropped
//! the same way. Anything else wrong is an error that stops the server.

use std::path::Path;

use bytes::Bytes;
use store_api::Store;

use crate::cmd::{run_inline, Executor};
use crate::db::snapshot::Existing;
use crate::state::aof::Files;
use crate::state::Session;

/// One step through a file of commands.
#[derive(Debug, PartialEq)]
enum Step {
    /// A command and the offset after it.
    Command(Vec<Bytes>, usize),
    /// The file ends cleanly here.
    End,
    /// The file ends inside a command.
    Torn,
    /// Not the AOF format.
    Bad,
}

fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let n = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..n], pos + n + 2))
}

fn number(text: &[u8]) -> Option<i64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// The command at `pos` (Redis's AOF grammar: `*argc` then `$len` bulk
/// strings; `#` lines are annotations).
fn next(buf: &[u8], mut pos: usize) -> Step {
    loop {
        if pos >= buf.len() {
            return Step::End;
        }
        let Some((head, after)) = line(buf, pos) else {
            return Step::Torn;
        };
        if head.first() == Some(&b'#') {
            pos = after;
            continue;
        }
        if head.first() != Some(&b'*') {
            return Step::Bad;
        }
        let Some(argc) = number(&head[1..]).filter(|&n| n >= 1) else {
            return Step::Bad;
        };
        pos = after;
        let mut argv = Vec::with_capacity(argc.min(1024) as usize);
        for _ in 0..argc {
            let Some((head, after)) = line(buf, pos) else {
                return Step::Torn;
            };
            if head.first() != Some(&b'$') {
                return Step::Bad;
            }
            let Some(len) = number(&head[1..]).and_then(|n| usize::try_from(n).ok()) else {
                return Step::Bad;
            };
            let Some(end) = after.checked_add(len) else {
                return Step::Bad;
            };
            if end + 2 > buf.len() {
                return Step::Torn;
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Step::Bad;
            }
            argv.push(Bytes::copy_from_slice(&buf[after..end]));
            pos = end + 2;
        }
        return Step::Command(argv, pos);
    }
}

/// How a file of commands ended.
#[derive(Debug, PartialEq)]
pub enum Ended {
    /// Every byte was a whole command.
    Whole,
    /// Torn after this many good bytes (an open MULTI counts as torn).
    Torn(usize),
}

/// Run the commands of `buf` from `start` through `run`; errors name the
/// problem as Redis's log does.
pub fn replay(
    buf: &[u8],
    start: usize,
    mut run: impl FnMut(Vec<Bytes>, usize) -> Result<(), String>,
) -> Result<Ended, String> {
    let mut pos = start;
    // Where the open MULTI began (its commands are queued, not applied).
    let mut multi_at: Option<usize> = None;
    loop {
        match next(buf, pos) {
            Step::Command(argv, after) => {
                let name = argv[0].to_ascii_lowercase();
                if name == b"multi" {
                    multi_at = Some(pos);
                } else if name == b"exec" {
                    multi_at = None;
                }
                run(argv, after)?;
                pos = after;
            }
            Step::End => return Ok(multi_at.map_or(Ended::Whole, Ended::Torn)),
            Step::Torn => return Ok(Ended::Torn(multi_at.unwrap_or(pos))),
            Step::Bad => return Err("Bad file format reading the append only file".into()),
        }
    }
}

/// DEBUG LOADAOF: write out what the journal holds, then replace every
/// database with what the append-only file replays to. It runs in one
/// ordered section (no other write interleaves) whose records are dropped:
/// the file already holds them (Redis clears `dirty` for the same reason).
pub fn reload<S: Store>(exec: &Executor<S>) -> Result<(), String> {
    let state = &exec.state;
    let config = state.config();
    let journal = state.db.journal();
    journal
        .flush(journal.appended(), true)
        .map_err(|e| format!("Error writing the append only file: {e}"))?;
    let files = state.aof.files_at_start(&config)?;
    if matches!(files, Files::Fresh) {
        return Err("There is no append only file to load".into());
    }
    // The keyspace fills command by command: other clients get
    // `-LOADING` meanwhile (as in Redis) instead of a partial dataset.
    let loading = state.db.loading();
    loading.start(files.total_bytes().unwrap_or(0));
    let (result, _) = journal.ordered(|| {
        let old = state.db.flush_all();
        crate::db::drop_in_background(old);
        let r = load_files(exec, files);
        crate::db::journal::discard();
        r
    });
    loading.finish();
    result?;
    tracing::warn!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

/// Load what `files` lists into the server behind `exec` (at start: the
/// statistics start after it).
pub fn load<S: Store>(exec: &Executor<S>, files: Files) -> Result<(), String> {
    load_files(exec, files)?;
    // Loading is not serving: INFO's statistics start after it (Redis's
    // loader does not go through `call()`).
    exec.state.stats.reset();
    Ok(())
}

fn load_files<S: Store>(exec: &Executor<S>, files: Files) -> Result<(), String> {
    let Files::Load { base, incrs } = files else {
        return Ok(());
    };
    let state = &exec.state;
    let config = state.config();
    let addr = "127.0.0.1:0".parse().map_err(|_| "address")?;
    let handle = state
        .clients
        .register(addr, addr, -1, usize::MAX)
        .ok_or("no room for the loading client")?;
    let id = handle.id;
    let mut session = Session::new(handle);
    session.authenticated = true;
    session.must_obey = true;
    let mut client = exec.client(session);
    let start = std::time::Instant::now();
    state.db.set_replaying(true);
    let mut commands = 0u64;
    let loading = state.db.loading();
    // `key-load-delay` slows every command, as in Redis.
    let delay = crate::db::snapshot::key_delay(config.key_load_delay);
    let mut run = |argv: Vec<Bytes>, after: usize| {
        if loading.cancelled() {
            return Err("Loading stopped by a shutdown".to_string());
        }
        if exec.commands.lookup(&argv).is_err() {
            return Err(format!(
                "Unknown command '{}' reading the append only file",
                String::from_utf8_lossy(&argv[0])
            ));
        }
        commands += 1;
        run_inline(exec, &mut client, argv);
        loading.progress(after);
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        Ok(())
    };
    let paths: Vec<(&Path, bool)> = base
        .iter()
        .map(|p| (p.as_path(), true))
        .chain(incrs.iter().map(|p| (p.as_path(), false)))
        .collect();
    let mut result = Ok(());
    for (i, (path, is_base)) in paths.iter().enumerate() {
        let last = i + 1 == paths.len();
        result = load_file(
            exec,
            path,
            *is_base,
            last,
            config.aof.load_truncated,
            &mut run,
        );
        if result.is_err() {
            break;
        }
    }
    state.db.set_replaying(false);
    state.clients.unregister(id);
    result?;
    tracing::info!(
        commands,
        "DB loaded from append only file: {:.3} seconds",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn load_file<S: Store>(
    exec: &Executor<S>,
    path: &Path,
    is_base: bool,
    last: bool,
    load_truncated: bool,
    run: &mut impl FnMut(Vec<Bytes>, usize) -> Result<(), String>,
) -> Result<(), String> {
    let shown = path.display();
    let buf = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_base => {
            // Redis's words, with the file's name as the manifest gives it.
            let name = path
                .file_name()
                .map_or(shown.to_string(), |n| n.to_string_lossy().into());
            return Err(format!(
                "The append log file {name} doesn't exist: No such file or directory"
            ));
        }
        Err(e) => {
            return Err(format!(
                "Fatal error: can't open the append log file {shown} for reading: {e}"
            ))
        }
    };
    let mut start = 0;
    if buf.starts_with(b"REDIS") {
        // An RDB base (or an old AOF with an RDB preamble).
        let config = exec.state.config();
        let summary = exec
            .state
            .persist
            .load_bytes(&exec.state.db, &config, &buf, Existing::Flush)
            .map_err(|e| format!("Bad file format reading the append only file {shown}: {e}"))?;
        start = summary.consumed;
    }
    let ended = replay(&buf, start, run);
    exec.state.db.loading().next_file(buf.len());
    match ended.map_err(|e| format!("{e} {shown}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"))? {
        Ended::Whole => Ok(()),
        Ended::Torn(good) if last && load_truncated => {
            tracing::warn!("!!! Warning: short read while loading the AOF file {shown}!!!");
            tracing::warn!("!!! Truncating the AOF {shown} at offset {good} !!!");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| format!("Error truncating the AOF file {shown}: {e}"))?;
            f.set_len(good as u64)
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("Error truncating the AOF file {shown}: {e}"))?;
            tracing::warn!("AOF {shown} loaded anyway because aof-load-truncated is enabled");
            Ok(())
        }
        Ended::Torn(_) if last => Err(format!(
            "Unexpected end of file reading the append only file {shown}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
        )),
        Ended::Torn(_) => Err(format!(
            "Unexpected end of file reading the append only file {shown} (not the last file)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(buf: &[u8]) -> (Result<Ended, String>, Vec<Vec<String>>) {
        let mut seen = Vec::new();
        let r = replay(buf, 0, |argv, _| {
            seen.push(
                argv.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect(),
            );
            Ok(())
        });
        (r, seen)
    }

    #[test]
    fn commands_annotations_and_torn_tails() {
        let good = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n#TS:1700000000\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n";
        let (r, seen) = collect(good);
        assert_eq!(r, Ok(Ended::Whole));
        assert_eq!(seen, vec![vec!["SELECT", "0"], vec!["set", "a", "1"]]);
        for cut in 1..good.len() {
            let (r, _) = collect(&good[..cut]);
            // The first command is 23 bytes, the annotation 16 more (a
            // torn command after it is cut back with its annotation).
            let want = match cut {
                23 | 39 => Ended::Whole,
                ..23 => Ended::Torn(0),
                _ => Ended::Torn(23),
            };
            assert_eq!(r, Ok(want), "cut at {cut}");
        }
        let multi = b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nx\r\n";
        assert_eq!(collect(multi).0, Ok(Ended::Torn(0)));
        for bad in [
            &b"SET a 1\r\n"[..],
            b"*0\r\n",
            b"*1\r\n:3\r\n",
            b"*1\r\n$3\r\nabcd\r\n",
            b"*1\r\n$-1\r\n",
        ] {
            assert!(collect(bad).0.is_err(), "{bad:?}");
        }
    }
}
