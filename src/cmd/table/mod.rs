//! The command table: name lookup, arity check, and the metadata COMMAND
//! reports.
//!
//! A command has two halves. Its metadata (arity, flags, key positions, ACL
//! categories, docs) is generated from a real Redis into `meta/` (one file
//! per Redis command group), so COMMAND INFO and the arity errors match
//! Redis's. Its implementation is a
//! [`Row`] exported by its family file: the name and a parse function that
//! turns the arguments into a typed [`Command`]. [`CommandTable::new`] joins
//! the two (every implemented command must have metadata and vice versa;
//! a unit test checks it) and applies `rename-command`.
//!
//! Lookup is case-insensitive and allocation-free: the name is lower-cased
//! into a stack buffer before the hash lookup. Container commands (CLIENT,
//! CONFIG, COMMAND, FUNCTION) resolve their subcommand the way Redis's
//! `lookupCommand` does.

use std::collections::HashMap;

use bytes::Bytes;

mod keys;
mod names;
use names::NameMap;

use super::{Args, CmdError, Command};
use crate::protocol::Frame;

/// Static reply data, as generated from Redis (a `Frame` without heap).
#[derive(Debug, Clone, Copy)]
pub enum M {
    /// Simple string.
    S(&'static str),
    /// Bulk string.
    B(&'static str),
    /// Integer.
    I(i64),
    /// Null.
    Null,
    /// Array.
    A(&'static [M]),
    /// RESP3 set (an array in RESP2).
    Set(&'static [M]),
    /// RESP3 map (a flat array in RESP2).
    Map(&'static [(M, M)]),
}

impl M {
    /// The reply frame for this data.
    pub fn to_frame(&self) -> Frame {
        match self {
            M::S(s) => Frame::simple(s),
            M::B(s) => Frame::Bulk(Bytes::from_static(s.as_bytes())),
            M::I(n) => Frame::Integer(*n),
            M::Null => Frame::Null,
            M::A(v) => Frame::Array(v.iter().map(M::to_frame).collect()),
            M::Set(v) => Frame::Set(v.iter().map(M::to_frame).collect()),
            M::Map(v) => Frame::Map(
                v.iter()
                    .map(|(k, v)| (k.to_frame(), v.to_frame()))
                    .collect(),
            ),
        }
    }
}

/// Where a key spec starts looking (Redis 7's `begin_search`).
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the
    /// end, backwards).
    Keyword(&'static str, i32),
    /// Not described (the command computes its keys itself).
    Unknown,
}

/// How a key spec finds the keys after its start (`find_keys`).
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// Up to `lastkey` (relative to the start; negative counts from the
    /// end), every `step` arguments; `limit` divides the rest.
    Range {
        /// Last key, relative.
        lastkey: i32,
        /// Distance between keys.
        step: i32,
        /// Divisor of the remaining arguments when `lastkey` is -1.
        limit: i32,
    },
    /// A count of keys at `keynumidx`, keys from `firstkey` after it.
    Keynum {
        /// Index of the count, relative to the start.
        keynumidx: i32,
        /// First key, relative to the start.
        firstkey: i32,
        /// Distance between keys.
        step: i32,
    },
    /// Not described.
    Unknown,
}

/// One of a command's key specifications.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// Where to start.
    pub begin: Begin,
    /// Which arguments are keys.
    pub find: Find,
}

/// What Redis says about one command.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    /// Full lower-case name (`get`, `client|setname`).
    pub name: &'static str,
    /// Arity counting the command name: `n` exactly, `-n` at least `n`.
    pub arity: i32,
    /// Redis's command flags (`write`, `readonly`, `fast`, `no_auth`...).
    pub flags: &'static [&'static str],
    /// Legacy key positions for COMMAND GETKEYS.
    pub first_key: i32,
    /// Last key position (negative counts from the end).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// The key specifications (COMMAND INFO's eighth field).
    pub key_specs: &'static [KeySpec],
    /// The whole COMMAND INFO entry.
    pub info: M,
    /// The whole COMMAND DOCS entry (`Null` for subcommands).
    pub docs: M,
    /// Subcommands of a container command.
    pub subcommands: &'static [CommandMeta],
}

impl CommandMeta {
    /// Does Redis give this command `flag`?
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// Does `argc` (name included) satisfy the arity?
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = i64::try_from(argc).unwrap_or(i64::MAX);
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

/// A command's parse function.
pub type ParseFn = for<'a> fn(Args<'a>) -> Result<Command, CmdError>;

/// The implementation half of a command, exported by its family file.
pub type Row = (&'static str, ParseFn);

/// How a command behaves inside MULTI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InMulti {
    /// Queued for EXEC (nearly every command).
    Queued,
    /// Runs at once: EXEC, DISCARD, MULTI, WATCH, QUIT (Redis's
    /// `processCommand` list).
    Immediate,
    /// Runs at once and ends the transaction (RESET).
    Reset,
}

/// A resolved command: metadata plus parser.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// What Redis says about it.
    pub meta: &'static CommandMeta,
    /// How its arguments are parsed.
    pub parse: ParseFn,
    /// Allowed before authentication.
    pub no_auth: bool,
    /// Index of the full name in [`CommandTable::name_of`].
    pub id: usize,
    /// Words of the name (2 for a subcommand such as CLIENT KILL).
    pub name_words: usize,
    /// Queued inside MULTI or not.
    pub in_multi: InMulti,
    /// Allowed in RESP2's subscribed mode ((P|S)SUBSCRIBE,
    /// (P|S)UNSUBSCRIBE, PING, QUIT, RESET).
    pub when_subscribed: bool,
    /// Redis's flags that decide how the executor treats the command.
    pub flags: Flags,
}

/// The command flags the executor acts on, read once from the metadata.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    /// `admin`: hidden from MONITOR.
    pub admin: bool,
    /// Not shown to MONITOR when it ends (scripts show themselves before
    /// they run, then each command they call).
    pub skip_monitor: bool,
    /// `no_multi`: refused inside MULTI.
    pub no_multi: bool,
    /// `readonly`: the keys it reads are tracked for client-side caching.
    pub readonly: bool,
    /// `write` or `may_replicate`: held back by CLIENT PAUSE WRITE.
    pub write: bool,
    /// `fast`: its latency is a `fast-command` event.
    pub fast: bool,
    /// `skip_slowlog`: never in the slow log (EXEC).
    pub skip_slowlog: bool,
    /// `denyoom`: refused over `maxmemory` when nothing can be evicted.
    pub deny_oom: bool,
    /// `noscript`: refused inside scripts.
    pub no_script: bool,
    /// `allow_busy`: runs while a script is busy.
    pub allow_busy: bool,
    /// `loading`: runs while the dataset loads at start.
    pub loading: bool,
    /// `write` (alone, without `may_replicate`).
    pub writes: bool,
    /// The commands the executor treats apart, named once here rather than
    /// compared by name on every request.
    pub kind: Kind,
}

/// The commands the executor checks for by name (see [`Flags::kind`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    /// Any other.
    #[default]
    Plain,
    /// EXEC.
    Exec,
    /// EVAL, EVALSHA, FCALL.
    Script,
    /// EVAL_RO, EVALSHA_RO, FCALL_RO.
    ScriptRo,
    /// PING (refused under MISCONF as a write is).
    Ping,
    /// CLIENT CACHING.
    ClientCaching,
    /// DEBUG (`enable-debug-command`).
    Debug,
    /// MODULE LOAD, LOADEX, UNLOAD (`enable-module-command`).
    ModuleLoad,
}

impl Kind {
    fn of(name: &str) -> Kind {
        match name {
            "exec" => Kind::Exec,
            "eval" | "evalsha" | "fcall" => Kind::Script,
            "eval_ro" | "evalsha_ro" | "fcall_ro" => Kind::ScriptRo,
            "ping" => Kind::Ping,
            "client|caching" => Kind::ClientCaching,
            "debug" => Kind::Debug,
            "module|load" | "module|loadex" | "module|unload" => Kind::ModuleLoad,
            _ => Kind::Plain,
        }
    }
}

/// Commands Redis flags `may_replicate`, a flag COMMAND INFO hides on
/// purpose (so the metadata generated from it lacks it): CLIENT PAUSE
/// WRITE holds them back too.
const MAY_REPLICATE: [&str; 6] = ["pfcount", "publish", "spublish", "eval", "evalsha", "fcall"];

impl Flags {
    fn of(meta: &CommandMeta) -> Flags {
        Flags {
            admin: meta.has_flag("admin"),
            skip_monitor: meta.has_flag("skip_monitor"),
            no_multi: meta.has_flag("no_multi"),
            readonly: meta.has_flag("readonly"),
            write: meta.has_flag("write")
                || meta.has_flag("may_replicate")
                || MAY_REPLICATE.contains(&meta.name),
            fast: meta.has_flag("fast"),
            skip_slowlog: meta.has_flag("skip_slowlog"),
            deny_oom: meta.has_flag("denyoom"),
            no_script: meta.has_flag("noscript"),
            allow_busy: meta.has_flag("allow_busy"),
            loading: meta.has_flag("loading"),
            writes: meta.has_flag("write"),
            kind: Kind::of(meta.name),
        }
    }

    /// Does it read or write the keyspace (refused to MONITOR clients)?
    pub fn keyspace(&self) -> bool {
        self.readonly || self.write
    }
}

/// The map the table is built in (renames remove and insert); lookups go
/// through a [`NameMap`] made from it.
type Names<V> = HashMap<Box<[u8]>, V, foldhash::fast::FixedState>;

#[derive(Debug)]
enum Node {
    Leaf(Spec),
    /// A container, its subcommands, and its own implementation for when
    /// it is called alone (only COMMAND has one).
    Container(&'static CommandMeta, NameMap<Spec>, Option<Spec>),
}

/// Every command the server answers to, by (possibly renamed) name.
#[derive(Debug)]
pub struct CommandTable {
    by_name: NameMap<Node>,
    /// Full names by [`Spec::id`]; index 0 is "NULL" (no command yet), as
    /// CLIENT LIST prints it.
    names: Vec<&'static str>,
}

fn spec(
    meta: &'static CommandMeta,
    rows: &HashMap<&'static str, ParseFn>,
    names: &mut Vec<&'static str>,
) -> Option<Spec> {
    let parse = *rows.get(meta.name)?;
    names.push(meta.name);
    Some(Spec {
        meta,
        parse,
        no_auth: meta.has_flag("no_auth"),
        id: names.len() - 1,
        name_words: if meta.name.contains('|') { 2 } else { 1 },
        in_multi: match meta.name {
            "exec" | "discard" | "multi" | "watch" | "quit" => InMulti::Immediate,
            "reset" => InMulti::Reset,
            _ => InMulti::Queued,
        },
        when_subscribed: matches!(
            meta.name,
            "subscribe"
                | "psubscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "punsubscribe"
                | "sunsubscribe"
                | "ping"
                | "quit"
                | "reset"
        ),
        flags: Flags::of(meta),
    })
}

impl CommandTable {
    /// Join `meta` with the implementation `rows`, then apply `renames`
    /// (`(old, new)`; an empty `new` disables the command).
    pub fn new(
        meta: &'static [CommandMeta],
        rows: &[Row],
        renames: &[(String, String)],
    ) -> CommandTable {
        let rows: HashMap<&'static str, ParseFn> = rows.iter().copied().collect();
        let mut by_name: Names<Node> = Names::default();
        let mut names = vec!["NULL"];
        for m in meta {
            let node = if m.subcommands.is_empty() {
                match spec(m, &rows, &mut names) {
                    Some(s) => Node::Leaf(s),
                    None => continue,
                }
            } else {
                let subs: Vec<(Box<[u8]>, Spec)> = m
                    .subcommands
                    .iter()
                    .filter_map(|sub| {
                        let short = sub.name.split_once('|').map_or(sub.name, |(_, s)| s);
                        Some((short.as_bytes().into(), spec(sub, &rows, &mut names)?))
                    })
                    .collect();
                let subs = NameMap::new(subs);
                Node::Container(m, subs, spec(m, &rows, &mut names))
            };
            by_name.insert(m.name.as_bytes().into(), node);
        }
        for (old, new) in renames {
            if let Some(node) = by_name.remove(old.to_ascii_lowercase().as_bytes()) {
                if !new.is_empty() {
                    by_name.insert(new.to_ascii_lowercase().into_bytes().into(), node);
                }
            }
        }
        CommandTable {
            by_name: NameMap::new(by_name),
            names,
        }
    }

    /// The full name of command `id` ("NULL" for 0).
    pub fn name_of(&self, id: usize) -> &'static str {
        self.names.get(id).copied().unwrap_or("NULL")
    }

    fn node(&self, name: &[u8]) -> Option<&Node> {
        self.by_name.get(name)
    }

    /// Resolve `argv` to a command, checking existence and arity as Redis's
    /// `processCommand` does (in that order).
    pub fn lookup(&self, argv: &[Bytes]) -> Result<&Spec, CmdError> {
        let unknown = || CmdError::UnknownCommand(argv[0].clone(), argv[1..].to_vec());
        let spec = match self.node(&argv[0]).ok_or_else(unknown)? {
            Node::Leaf(spec) => spec,
            Node::Container(meta, subs, own) => {
                if argv.len() == 1 {
                    return own
                        .as_ref()
                        .filter(|s| s.meta.arity_ok(1))
                        .ok_or(CmdError::WrongArity(meta.name));
                }
                let sub = &argv[1];
                let found = subs.get(sub);
                found.ok_or_else(|| CmdError::UnknownSubcommand(sub.clone(), argv[0].clone()))?
            }
        };
        if !spec.meta.arity_ok(argv.len()) {
            return Err(CmdError::WrongArity(spec.meta.name));
        }
        Ok(spec)
    }

    /// Every implemented command (subcommands included) with its id.
    pub fn ids(&self) -> impl Iterator<Item = (&'static str, usize)> + '_ {
        self.names.iter().enumerate().skip(1).map(|(i, n)| (*n, i))
    }

    /// The id of the command with full name `name` (`client|list`).
    pub fn id_of(&self, name: &str) -> Option<usize> {
        self.names
            .iter()
            .skip(1)
            .position(|n| *n == name)
            .map(|i| i + 1)
    }

    /// The metadata of a command by (renamed) name, or of a subcommand by
    /// `container|sub` (COMMAND INFO and DOCS, as Redis's
    /// `lookupCommandBySds`).
    pub fn meta(&self, name: &[u8]) -> Option<&'static CommandMeta> {
        if let Some(bar) = name.iter().position(|&b| b == b'|') {
            let (container, sub) = (&name[..bar], &name[bar + 1..]);
            return self.meta(container)?.subcommands.iter().find(|m| {
                m.name
                    .split_once('|')
                    .is_some_and(|(_, s)| s.as_bytes().eq_ignore_ascii_case(sub))
            });
        }
        match self.node(name)? {
            Node::Leaf(s) => Some(s.meta),
            Node::Container(m, _, _) => Some(m),
        }
    }

    /// Every top-level command with the name it answers to.
    pub fn all(&self) -> impl Iterator<Item = (Vec<u8>, &'static CommandMeta)> + '_ {
        self.by_name.iter().map(|(name, node)| {
            let meta = match node {
                Node::Leaf(s) => s.meta,
                Node::Container(m, _, _) => m,
            };
            (name, meta)
        })
    }
}

/// Parse `argv` (name first) with `spec`.
pub fn parse(spec: &Spec, argv: &[Bytes]) -> Result<Command, CmdError> {
    (spec.parse)(Args::after_name(argv, spec.name_words))
}

#[cfg(test)]
mod tests {
    use super::super::{meta::COMMANDS, ROWS};
    use super::*;

    fn argv(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn every_command_has_metadata_and_an_implementation() {
        let table = CommandTable::new(&COMMANDS, &ROWS, &[]);
        // COMMAND alone is the one container with its own implementation.
        let mut implemented = 1;
        for m in COMMANDS.iter() {
            for leaf in std::iter::once(m)
                .filter(|m| m.subcommands.is_empty())
                .chain(m.subcommands)
            {
                assert!(
                    ROWS.iter().any(|(n, _)| *n == leaf.name),
                    "{} has metadata but no implementation",
                    leaf.name
                );
                implemented += 1;
            }
        }
        assert_eq!(implemented, ROWS.len(), "a row has no metadata");
        assert!(table.meta(b"GeT").is_some());
        assert_eq!(
            table.meta(b"CONFIG|get").map(|m| m.name),
            Some("config|get")
        );
        assert!(table.meta(b"config|nosuch").is_none());
        assert!(table.meta(b"get|x").is_none());
    }

    #[test]
    fn lookup_checks_existence_then_arity_like_redis() {
        let t = CommandTable::new(&COMMANDS, &ROWS, &[]);
        assert!(matches!(
            t.lookup(&argv(&["nope", "a"])),
            Err(CmdError::UnknownCommand(..))
        ));
        assert_eq!(
            t.lookup(&argv(&["GET"])).unwrap_err(),
            CmdError::WrongArity("get")
        );
        assert_eq!(
            t.lookup(&argv(&["client"])).unwrap_err(),
            CmdError::WrongArity("client")
        );
        assert!(matches!(
            t.lookup(&argv(&["client", "nope"])),
            Err(CmdError::UnknownSubcommand(..))
        ));
        assert_eq!(
            t.lookup(&argv(&["CLIENT", "id", "x"])).unwrap_err(),
            CmdError::WrongArity("client|id")
        );
        assert_eq!(
            t.lookup(&argv(&["Client", "ID"])).unwrap().meta.name,
            "client|id"
        );
    }

    #[test]
    fn renamed_commands_answer_only_to_their_new_name() {
        let t = CommandTable::new(
            &COMMANDS,
            &ROWS,
            &[
                ("flushall".into(), "wipe".into()),
                ("keys".into(), String::new()),
            ],
        );
        assert!(t.lookup(&argv(&["flushall"])).is_err());
        assert!(t.lookup(&argv(&["keys", "*"])).is_err());
        assert_eq!(t.lookup(&argv(&["WIPE"])).unwrap().meta.name, "flushall");
    }
}
