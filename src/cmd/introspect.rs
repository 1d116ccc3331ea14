//! COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, HELP):
//! what clients learn about the commands FlashKV implements, in Redis's own
//! words (the metadata is generated from Redis, see `meta/`).

use bytes::Bytes;
use store_api::Store;

use super::table::{CommandMeta, M};
use super::{is, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::util::glob::glob_match;

/// COMMAND subcommands.
#[derive(Debug)]
pub enum Cmd {
    /// `COMMAND` and `COMMAND INFO [name ...]` (empty: every command).
    Info(Vec<Bytes>),
    /// `COMMAND COUNT`
    Count,
    /// `COMMAND DOCS [name ...]`
    Docs(Vec<Bytes>),
    /// `COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]`
    List(Filter),
    /// `COMMAND GETKEYS command [arg ...]`
    GetKeys(Vec<Bytes>),
    /// `COMMAND GETKEYSANDFLAGS command [arg ...]`
    GetKeysAndFlags(Vec<Bytes>),
    /// `COMMAND HELP`
    Help,
}

/// COMMAND LIST's filter.
#[derive(Debug)]
pub enum Filter {
    /// No filter.
    None,
    /// Commands of a module (FlashKV has none).
    Module,
    /// Commands in an ACL category.
    AclCat(Bytes),
    /// Commands whose name matches a glob.
    Pattern(Bytes),
}

fn parse_command_info(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Introspect(Cmd::Info(a.rest())))
}

fn parse_command_count(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Introspect(Cmd::Count))
}

fn parse_command_docs(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Introspect(Cmd::Docs(a.rest())))
}

fn parse_command_list(a: Args<'_>) -> Result<Command, CmdError> {
    let filter = match a.rest().as_slice() {
        [] => Filter::None,
        [f, kind, value] if is(f, "FILTERBY") => match () {
            _ if is(kind, "MODULE") => Filter::Module,
            _ if is(kind, "ACLCAT") => Filter::AclCat(value.clone()),
            _ if is(kind, "PATTERN") => Filter::Pattern(value.clone()),
            _ => return Err(CmdError::Syntax),
        },
        _ => return Err(CmdError::Syntax),
    };
    Ok(Command::Introspect(Cmd::List(filter)))
}

fn parse_command_getkeys(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Introspect(Cmd::GetKeys(a.rest())))
}

fn parse_command_help(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Introspect(Cmd::Help))
}

/// `COMMAND` alone is `COMMAND INFO` for everything. Redis models it as
/// the container's own implementation; here it is the `command` row.
fn parse_command(a: Args<'_>) -> Result<Command, CmdError> {
    parse_command_info(a)
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("command", parse_command),
    ("command|info", parse_command_info),
    ("command|count", parse_command_count),
    ("command|docs", parse_command_docs),
    ("command|list", parse_command_list),
    ("command|getkeys", parse_command_getkeys),
    ("command|getkeysandflags", |a| {
        Ok(Command::Introspect(Cmd::GetKeysAndFlags(a.rest())))
    }),
    ("command|help", parse_command_help),
];

/// ACL categories from a COMMAND INFO entry (its seventh field).
fn acl_categories(meta: &CommandMeta) -> Vec<&'static str> {
    match &meta.info {
        M::A(fields) => match fields.get(6) {
            Some(M::Set(cats)) => cats
                .iter()
                .filter_map(|c| if let M::S(s) = c { Some(*s) } else { None })
                .collect(),
            _ => vec![],
        },
        _ => vec![],
    }
}

/// Execute a COMMAND subcommand.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let table = ctx.commands;
    Ok(match cmd {
        Cmd::Info(names) if names.is_empty() => {
            Frame::Array(table.all().map(|(_, m)| m.info.to_frame()).collect())
        }
        Cmd::Info(names) => Frame::Array(
            names
                .iter()
                .map(|n| table.meta(n).map_or(Frame::Null, |m| m.info.to_frame()))
                .collect(),
        ),
        Cmd::Count => Frame::Integer(table.all().count() as i64),
        Cmd::Docs(names) => {
            let docs = |name: &[u8], m: &CommandMeta| {
                (Frame::Bulk(Bytes::copy_from_slice(name)), m.docs.to_frame())
            };
            if names.is_empty() {
                Frame::Map(table.all().map(|(n, m)| docs(&n, m)).collect())
            } else {
                Frame::Map(
                    names
                        .iter()
                        .filter_map(|n| Some(docs(n, table.meta(n)?)))
                        .collect(),
                )
            }
        }
        Cmd::List(filter) => {
            let mut out = Vec::new();
            for (name, meta) in table.all() {
                let cats = acl_categories(meta);
                for m in std::iter::once(meta).chain(meta.subcommands) {
                    let full: Vec<u8> = if std::ptr::eq(m, meta) {
                        name.to_vec()
                    } else {
                        m.name.as_bytes().to_vec()
                    };
                    let keep = match &filter {
                        Filter::None => true,
                        Filter::Module => false,
                        Filter::AclCat(c) => {
                            let own = if std::ptr::eq(m, meta) {
                                cats.clone()
                            } else {
                                acl_categories(m)
                            };
                            own.iter()
                                .any(|cat| cat.as_bytes()[1..].eq_ignore_ascii_case(c))
                        }
                        Filter::Pattern(p) => glob_match(p, &full, true),
                    };
                    if keep {
                        out.push(Frame::Bulk(full.into()));
                    }
                }
            }
            Frame::Array(out)
        }
        Cmd::GetKeys(argv) => get_keys(ctx, argv, false)?,
        Cmd::GetKeysAndFlags(argv) => get_keys(ctx, argv, true)?,
        Cmd::Help => super::help_reply(COMMAND_HELP),
    })
}

fn get_keys<S: Store>(ctx: &Ctx<'_, S>, argv: Vec<Bytes>, flags: bool) -> Result<Frame, CmdError> {
    let spec = match ctx.commands.lookup(&argv) {
        Ok(spec) => spec,
        Err(CmdError::WrongArity(_)) => return Err(CmdError::GetKeysInvalidArity),
        Err(_) => return Err(CmdError::GetKeysInvalidCommand),
    };
    let m = spec.meta;
    if m.key_specs.is_empty() && !m.has_flag("movablekeys") {
        return Err(CmdError::GetKeysNoKeys);
    }
    if flags {
        let keys = m
            .keys_and_flags(&argv)
            .ok_or(CmdError::GetKeysInvalidArgs)?;
        return Ok(Frame::Array(
            keys.into_iter()
                .map(|(k, f)| {
                    let f = f.into_iter().map(Frame::simple).collect();
                    Frame::Array(vec![Frame::Bulk(k.clone()), Frame::Set(f)])
                })
                .collect(),
        ));
    }
    let keys = m.all_keys(&argv).ok_or(CmdError::GetKeysInvalidArgs)?;
    Ok(Frame::Array(
        keys.into_iter().cloned().map(Frame::Bulk).collect(),
    ))
}

/// Lines of the HELP reply.
const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    #[test]
    fn getkeys_uses_key_positions() {
        let mut t = TestDb::new();
        assert_eq!(
            t.run(&["COMMAND", "GETKEYS", "SET", "k", "v"]),
            arr(vec![bulk("k")])
        );
        assert_eq!(
            t.run(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
            arr(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            t.run(&["COMMAND", "GETKEYS", "COPY", "a", "b"]),
            arr(vec![bulk("a"), bulk("b")])
        );
        assert_eq!(
            t.run(&["COMMAND", "GETKEYS", "nosuch", "a"]),
            err("ERR Invalid command specified")
        );
        assert_eq!(
            t.run(&["COMMAND", "GETKEYS", "get", "a", "b"]),
            err("ERR Invalid number of arguments specified for command")
        );
        assert_eq!(
            t.run(&["COMMAND", "GETKEYS", "ping", "x"]),
            err("ERR The command has no key arguments")
        );
        assert_eq!(
            t.run(&["COMMAND", "GETKEYS", "get"]),
            err("ERR wrong number of arguments for 'command|getkeys' command")
        );
    }

    #[test]
    fn info_and_count() {
        let mut t = TestDb::new();
        let Frame::Array(v) = t.run(&["COMMAND", "INFO", "nosuch", "get"]) else {
            panic!()
        };
        assert_eq!(v[0], Frame::Null);
        let Frame::Array(get) = &v[1] else { panic!() };
        assert_eq!(&get[..2], &[bulk("get"), int(2)]);
        let Frame::Integer(n) = t.run(&["COMMAND", "COUNT"]) else {
            panic!()
        };
        let Frame::Array(all) = t.run(&["COMMAND"]) else {
            panic!()
        };
        assert_eq!(all.len() as i64, n);
        let Frame::Array(list) = t.run(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "client*"])
        else {
            panic!()
        };
        assert!(list.contains(&bulk("client|setname")));
    }
}
