//! CLIENT and its subcommands (part of Redis's connection group, in a file
//! of its own for its size): names and ids, LIST / INFO in Redis 7.0's
//! field order, KILL, UNBLOCK, PAUSE / UNPAUSE, REPLY, NO-EVICT, and the
//! client-side caching controls TRACKING, TRACKINGINFO, GETREDIR and
//! CACHING (see `state::tracking`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use store_api::Store;

use super::{help_reply, is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::state::tracking::Mode;
use crate::state::{ClientHandle, PauseMode, ReplyMode};

mod list;

use list::{info_line, kill, type_of};

/// CLIENT subcommands.
#[derive(Debug)]
pub enum Cmd {
    /// `CLIENT ID`
    Id,
    /// `CLIENT SETNAME name`
    SetName(Bytes),
    /// `CLIENT GETNAME`
    GetName,
    /// `CLIENT LIST [TYPE type | ID id ...]`
    List(ListFilter),
    /// `CLIENT INFO`
    Info,
    /// `CLIENT KILL addr` (old form, answers OK) or with filters (count).
    Kill(KillFilter, KillForm),
    /// `CLIENT UNBLOCK client-id [TIMEOUT|ERROR]`: true for ERROR.
    Unblock(i64, bool),
    /// `CLIENT PAUSE timeout [WRITE|ALL]`
    Pause(u64, PauseMode),
    /// `CLIENT UNPAUSE`
    Unpause,
    /// `CLIENT REPLY ON|OFF|SKIP`
    Reply(ReplyMode),
    /// `CLIENT NO-EVICT ON|OFF`
    NoEvict(bool),
    /// `CLIENT TRACKING ON|OFF [options]`
    Tracking(Option<Tracking>),
    /// `CLIENT TRACKINGINFO`
    TrackingInfo,
    /// `CLIENT GETREDIR`
    GetRedir,
    /// `CLIENT CACHING YES|NO` (`None`: neither word).
    Caching(Option<bool>),
    /// `CLIENT HELP`
    Help,
}

/// CLIENT TRACKING ON's options, as typed.
#[derive(Debug, Default)]
pub struct Tracking {
    redirect: Option<i64>,
    bcast: bool,
    prefixes: Vec<Bytes>,
    optin: bool,
    optout: bool,
    noloop: bool,
}

/// The two spellings of CLIENT KILL, which reply differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillForm {
    /// `CLIENT KILL ip:port`: `+OK`, or an error when nobody matched.
    Legacy,
    /// `CLIENT KILL <filter> <value> ...`: the number killed.
    Filters,
}

/// A client type, as CLIENT LIST and KILL filter them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Ordinary clients (MONITOR clients included, as in Redis).
    Normal,
    /// Subscribed to a channel or pattern.
    PubSub,
    /// Replicas (and masters: FlashKV has none).
    Replication,
}

/// Which clients CLIENT LIST shows.
#[derive(Debug)]
pub enum ListFilter {
    /// Everyone.
    All,
    /// Clients of one type.
    Type(Type),
    /// These ids.
    Ids(Vec<u64>),
}

/// Which clients CLIENT KILL closes.
#[derive(Debug, Default)]
pub struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    id: Option<u64>,
    kind: Option<Type>,
    skipme: bool,
}

fn client(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::Client(c))
}

fn on_off(a: &[u8]) -> Result<bool, CmdError> {
    match () {
        _ if is(a, "ON") => Ok(true),
        _ if is(a, "OFF") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// CLIENT PAUSE and UNBLOCK take one or two arguments; more is Redis's
/// subcommand syntax error.
fn at_most_two(a: &Args<'_>) -> Result<(), CmdError> {
    if a.remaining() > 2 {
        return Err(CmdError::SubcommandSyntax(
            a.typed_name(),
            Bytes::from_static(b"client"),
        ));
    }
    Ok(())
}

fn parse_unblock(mut a: Args<'_>) -> Result<Command, CmdError> {
    at_most_two(&a)?;
    let id = a.int()?;
    let error = match a.next() {
        None => false,
        Some(m) if is(&m, "TIMEOUT") => false,
        Some(m) if is(&m, "ERROR") => true,
        Some(_) => return Err(CmdError::UnblockReason),
    };
    client(Cmd::Unblock(id, error))
}

/// Redis's `getClientTypeByName`.
fn client_type(name: &Bytes) -> Result<Type, CmdError> {
    if is(name, "normal") {
        Ok(Type::Normal)
    } else if is(name, "pubsub") {
        Ok(Type::PubSub)
    } else if ["slave", "replica", "master"].iter().any(|t| is(name, t)) {
        Ok(Type::Replication)
    } else {
        Err(CmdError::UnknownClientType(name.clone()))
    }
}

fn parse_list(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    let filter = match rest.as_slice() {
        [] => ListFilter::All,
        [t, name] if is(t, "TYPE") => ListFilter::Type(client_type(name)?),
        [t, ids @ ..] if is(t, "ID") && !ids.is_empty() => ListFilter::Ids(
            ids.iter()
                .map(|id| {
                    parse_int(id)
                        .map(|n| n as u64)
                        .map_err(|_| CmdError::InvalidClientId)
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(CmdError::Syntax),
    };
    client(Cmd::List(filter))
}

fn parse_kill(a: Args<'_>) -> Result<Command, CmdError> {
    let rest = a.rest();
    if let [addr] = rest.as_slice() {
        let filter = KillFilter {
            addr: Some(addr.clone()),
            ..KillFilter::default()
        };
        return client(Cmd::Kill(filter, KillForm::Legacy));
    }
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    for pair in rest.chunks(2) {
        let [opt, value] = pair else {
            return Err(CmdError::Syntax);
        };
        if is(opt, "ID") {
            let id = parse_int(value)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or(CmdError::ClientIdNotPositive)?;
            f.id = Some(id as u64);
        } else if is(opt, "TYPE") {
            f.kind = Some(client_type(value)?);
        } else if is(opt, "ADDR") {
            f.addr = Some(value.clone());
        } else if is(opt, "LADDR") {
            f.laddr = Some(value.clone());
        } else if is(opt, "USER") {
            if &value[..] != b"default" {
                return Err(CmdError::NoSuchUser(value.clone()));
            }
        } else if is(opt, "SKIPME") {
            f.skipme = match () {
                _ if is(value, "yes") => true,
                _ if is(value, "no") => false,
                _ => return Err(CmdError::Syntax),
            };
        } else {
            return Err(CmdError::Syntax);
        }
    }
    client(Cmd::Kill(f, KillForm::Filters))
}

fn parse_pause(mut a: Args<'_>) -> Result<Command, CmdError> {
    at_most_two(&a)?;
    let ms = parse_int(&a.bytes()?).map_err(|_| CmdError::TimeoutNotInteger)?;
    let ms = u64::try_from(ms).map_err(|_| CmdError::TimeoutNegative)?;
    let mode = match a.next() {
        None => PauseMode::All,
        Some(m) if is(&m, "ALL") => PauseMode::All,
        Some(m) if is(&m, "WRITE") => PauseMode::Write,
        Some(_) => return Err(CmdError::PauseMode),
    };
    a.finish()?;
    client(Cmd::Pause(ms, mode))
}

fn parse_reply(mut a: Args<'_>) -> Result<Command, CmdError> {
    let m = a.bytes()?;
    client(Cmd::Reply(match () {
        _ if is(&m, "ON") => ReplyMode::On,
        _ if is(&m, "OFF") => ReplyMode::Off,
        _ if is(&m, "SKIP") => ReplyMode::Skip(2),
        _ => return Err(CmdError::Syntax),
    }))
}

/// `CLIENT TRACKING ON|OFF` and its options (`clientCommand`'s loop).
fn parse_tracking(mut a: Args<'_>) -> Result<Command, CmdError> {
    let on = on_off(&a.bytes()?)?;
    let mut t = Tracking::default();
    while let Some(opt) = a.next() {
        if is(&opt, "REDIRECT") && !a.is_empty() {
            let id = parse_int(&a.bytes()?)?;
            t.redirect = Some(id);
        } else if is(&opt, "BCAST") {
            t.bcast = true;
        } else if is(&opt, "OPTIN") {
            t.optin = true;
        } else if is(&opt, "OPTOUT") {
            t.optout = true;
        } else if is(&opt, "NOLOOP") {
            t.noloop = true;
        } else if is(&opt, "PREFIX") && !a.is_empty() {
            t.prefixes.push(a.bytes()?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    client(Cmd::Tracking(on.then_some(t)))
}

fn parse_caching(mut a: Args<'_>) -> Result<Command, CmdError> {
    let v = a.bytes()?;
    client(Cmd::Caching(match () {
        _ if is(&v, "YES") => Some(true),
        _ if is(&v, "NO") => Some(false),
        _ => None,
    }))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("client|id", |_| client(Cmd::Id)),
    ("client|setname", |mut a| client(Cmd::SetName(a.bytes()?))),
    ("client|getname", |_| client(Cmd::GetName)),
    ("client|list", parse_list),
    ("client|info", |_| client(Cmd::Info)),
    ("client|kill", parse_kill),
    ("client|unblock", parse_unblock),
    ("client|pause", parse_pause),
    ("client|unpause", |_| client(Cmd::Unpause)),
    ("client|reply", parse_reply),
    ("client|no-evict", |mut a| {
        client(Cmd::NoEvict(on_off(&a.bytes()?)?))
    }),
    ("client|tracking", parse_tracking),
    ("client|trackinginfo", |_| client(Cmd::TrackingInfo)),
    ("client|getredir", |_| client(Cmd::GetRedir)),
    ("client|caching", parse_caching),
    ("client|help", |_| client(Cmd::Help)),
];

/// Redis's `clientSetNameOrReply`: empty clears; only `!`..`~` allowed.
pub fn set_name(handle: &ClientHandle, name: Bytes) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::BadClientName);
    }
    handle.set_name(Some(name).filter(|n| !n.is_empty()));
    Ok(())
}

/// Execute a CLIENT subcommand.
pub fn execute<S: Store>(ctx: &mut Ctx<'_, S>, c: Cmd) -> Result<Frame, CmdError> {
    let me = ctx.session.handle.clone();
    Ok(match c {
        Cmd::Id => Frame::Integer(me.id as i64),
        Cmd::SetName(name) => {
            set_name(&me, name)?;
            Frame::ok()
        }
        Cmd::GetName => me.name().map_or(Frame::Null, Frame::Bulk),
        Cmd::Info => {
            let mut line = info_line(ctx, &me);
            line.push('\n');
            Frame::Verbatim("txt", line.into())
        }
        Cmd::List(filter) => {
            let clients = ctx.state.clients.snapshot();
            let shown: Vec<&Arc<ClientHandle>> = match &filter {
                ListFilter::All => clients.iter().collect(),
                ListFilter::Type(t) => clients.iter().filter(|c| type_of(ctx, c) == *t).collect(),
                ListFilter::Ids(ids) => ids
                    .iter()
                    .filter_map(|id| clients.iter().find(|c| c.id == *id))
                    .collect(),
            };
            let mut out = String::new();
            for c in shown {
                out.push_str(&info_line(ctx, c));
                out.push('\n');
            }
            Frame::Verbatim("txt", out.into())
        }
        Cmd::Kill(f, form) => {
            let killed = kill(ctx, &f);
            match (form, killed) {
                (KillForm::Legacy, 0) => return Err(CmdError::NoSuchClient),
                (KillForm::Legacy, _) => Frame::ok(),
                (KillForm::Filters, n) => Frame::Integer(n),
            }
        }
        Cmd::Unblock(id, error) => {
            let found = u64::try_from(id)
                .ok()
                .and_then(|id| ctx.state.clients.get(id));
            Frame::Integer(i64::from(found.is_some_and(|c| c.unblock(error))))
        }
        Cmd::Pause(ms, mode) => {
            ctx.state.pause(mode, Duration::from_millis(ms));
            Frame::ok()
        }
        Cmd::Unpause => {
            ctx.state.unpause();
            Frame::ok()
        }
        Cmd::Reply(mode) => {
            ctx.session.reply = mode;
            Frame::ok()
        }
        Cmd::NoEvict(on) => {
            ctx.session.no_evict = on;
            Frame::ok()
        }
        Cmd::Tracking(None) => {
            if ctx.session.tracking.take().is_some() {
                ctx.state.tracking_off(me.id);
            }
            ctx.session.caching = None;
            Frame::ok()
        }
        Cmd::Tracking(Some(t)) => {
            tracking_on(ctx, &me, t)?;
            Frame::ok()
        }
        Cmd::TrackingInfo => tracking_info(ctx),
        Cmd::GetRedir => Frame::Integer(match &ctx.session.tracking {
            None => -1,
            Some(m) => m.redirect as i64,
        }),
        Cmd::Caching(yes) => {
            let Some(mode) = ctx.session.tracking.as_ref() else {
                return Err(CmdError::CachingWithoutOptMode);
            };
            match yes.ok_or(CmdError::Syntax)? {
                true if mode.optin => ctx.session.caching = Some(true),
                false if mode.optout => ctx.session.caching = Some(false),
                true => return Err(CmdError::CachingYesNeedsOptin),
                false => return Err(CmdError::CachingNoNeedsOptout),
            }
            Frame::ok()
        }
        Cmd::Help => help_reply(HELP),
    })
}

/// CLIENT TRACKING ON, with Redis's checks in its order.
fn tracking_on<S: Store>(
    ctx: &mut Ctx<'_, S>,
    me: &Arc<ClientHandle>,
    t: Tracking,
) -> Result<(), CmdError> {
    let redirect = match t.redirect {
        Some(id) => {
            let found = u64::try_from(id)
                .ok()
                .and_then(|id| ctx.state.clients.get(id));
            match found {
                Some(c) => c.id,
                None => return Err(CmdError::NoRedirectClient),
            }
        }
        None => 0,
    };
    if let Some(old) = &ctx.session.tracking {
        if old.bcast != t.bcast {
            return Err(CmdError::TrackingBcastSwitch);
        }
    }
    if t.optin && t.optout {
        return Err(CmdError::TrackingOptinOptout);
    }
    if t.bcast && (t.optin || t.optout) {
        return Err(CmdError::TrackingBcastOpt);
    }
    if !t.bcast && !t.prefixes.is_empty() {
        return Err(CmdError::PrefixWithoutBcast);
    }
    let mut prefixes: Vec<Bytes> = ctx
        .session
        .tracking
        .as_ref()
        .map(|m| m.prefixes.clone())
        .unwrap_or_default();
    for (i, p) in t.prefixes.iter().enumerate() {
        let others = prefixes.iter().chain(&t.prefixes[i + 1..]);
        for q in others {
            if p != q && (p.starts_with(q) || q.starts_with(p)) {
                return Err(CmdError::OverlappingPrefix(p.clone(), q.clone()));
            }
        }
        if !prefixes.contains(p) {
            prefixes.push(p.clone());
        }
    }
    let mode = Mode {
        redirect,
        bcast: t.bcast,
        prefixes,
        optin: t.optin,
        optout: t.optout,
        noloop: t.noloop,
    };
    ctx.state.tracking_on(me, mode.clone());
    ctx.session.tracking = Some(mode);
    ctx.session.caching = None;
    Ok(())
}

fn tracking_info<S: Store>(ctx: &Ctx<'_, S>) -> Frame {
    let bulk = |s: &'static str| Frame::Bulk(Bytes::from_static(s.as_bytes()));
    let (flags, redirect, prefixes) = match &ctx.session.tracking {
        None => (vec![bulk("off")], -1, vec![]),
        Some(m) => {
            let mut f = vec![bulk("on")];
            let broken = ctx.state.tracking.is_broken(ctx.session.handle.id);
            for (on, name) in [
                (m.bcast, "bcast"),
                (m.optin, "optin"),
                (m.optout, "optout"),
                (ctx.session.caching == Some(true), "caching-yes"),
                (ctx.session.caching == Some(false), "caching-no"),
                (m.noloop, "noloop"),
                (broken, "broken_redirect"),
            ] {
                if on {
                    f.push(bulk(name));
                }
            }
            // BCAST without PREFIX tracks the empty prefix, and says so.
            let prefixes = if m.bcast && m.prefixes.is_empty() {
                vec![Frame::Bulk(Bytes::new())]
            } else {
                m.prefixes.iter().cloned().map(Frame::Bulk).collect()
            };
            (f, m.redirect as i64, prefixes)
        }
    };
    Frame::Map(vec![
        (bulk("flags"), Frame::Set(flags)),
        (bulk("redirect"), Frame::Integer(redirect)),
        (bulk("prefixes"), Frame::Array(prefixes)),
    ])
}

/// Lines of the HELP reply.
const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::on_off;
    use crate::cmd::CmdError;

    #[test]
    fn on_and_off_are_the_only_switches() {
        assert_eq!(on_off(b"on"), Ok(true));
        assert_eq!(on_off(b"OFF"), Ok(false));
        assert_eq!(on_off(b"yes"), Err(CmdError::Syntax));
    }
}
