//! Parsing the scripting commands, their table rows and HELP texts.

use bytes::Bytes;

use super::{Cmd, Eval, Restore};
use crate::cmd::{parse_int, Args, CmdError, Command, Row};

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

pub(super) fn reply(text: &'static str) -> CmdError {
    CmdError::Reply(Bytes::from_static(text.as_bytes()))
}

fn parse_function_load(a: Args<'_>) -> Result<Command, CmdError> {
    let mut args = a.rest();
    let code = args.pop().unwrap_or_default();
    let mut replace = false;
    for opt in &args {
        if crate::cmd::is(opt, "REPLACE") {
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
        if crate::cmd::is(arg, "WITHCODE") && !with_code {
            with_code = true;
        } else if crate::cmd::is(arg, "LIBRARYNAME") && pattern.is_none() {
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
        [mode] if crate::cmd::is(mode, "ASYNC") || crate::cmd::is(mode, "SYNC") => {}
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
    // Redis counts the arguments first: more than a payload and a policy
    // is the subcommand syntax error.
    if a.remaining() > 2 {
        return Err(CmdError::SubcommandSyntax(
            a.typed_name(),
            Bytes::from_static(b"function"),
        ));
    }
    let payload = a.bytes()?;
    let policy =
        match a.rest().as_slice() {
            [] => Restore::Append,
            [p] if crate::cmd::is(p, "FLUSH") => Restore::Flush,
            [p] if crate::cmd::is(p, "APPEND") => Restore::Append,
            [p] if crate::cmd::is(p, "REPLACE") => Restore::Replace,
            _ => return Err(reply(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    Ok(Command::Scripting(Cmd::FunctionRestore(payload, policy)))
}

fn parse_script_flush(a: Args<'_>) -> Result<Command, CmdError> {
    match a.rest().as_slice() {
        [] => {}
        [mode] if crate::cmd::is(mode, "ASYNC") || crate::cmd::is(mode, "SYNC") => {}
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

pub(super) const FUNCTION_HELP: &[&str] = &[
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

pub(super) const HELP: &[&str] = &[
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
