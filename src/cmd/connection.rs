//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, and CLIENT
//! (ID, SETNAME, GETNAME, LIST, INFO, KILL, HELP).

use std::fmt::Write as _;

use bytes::Bytes;
use store_api::Store;

use super::{is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::protocol::{Frame, Protocol};
use crate::state::ClientHandle;
use crate::REDIS_VERSION;

/// Connection commands.
#[derive(Debug)]
pub enum Cmd {
    /// `PING [message]`
    Ping(Option<Bytes>),
    /// `ECHO message`
    Echo(Bytes),
    /// `QUIT`
    Quit,
    /// `RESET`
    Reset,
    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
    Hello(Hello),
    /// `AUTH [username] password`
    Auth(Option<Bytes>, Bytes),
    /// `CLIENT ...`
    Client(Client),
}

/// HELLO's arguments.
#[derive(Debug, Default)]
pub struct Hello {
    version: Option<i64>,
    auth: Option<(Bytes, Bytes)>,
    name: Option<Bytes>,
}

/// CLIENT subcommands.
#[derive(Debug)]
pub enum Client {
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
    /// `CLIENT HELP`
    Help,
}

/// The two spellings of CLIENT KILL, which reply differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillForm {
    /// `CLIENT KILL ip:port`: `+OK`, or an error when nobody matched.
    Legacy,
    /// `CLIENT KILL <filter> <value> ...`: the number killed.
    Filters,
}

/// Which clients CLIENT LIST shows.
#[derive(Debug)]
pub enum ListFilter {
    /// Everyone.
    All,
    /// Clients of one type; true when it is `normal`, the only kind
    /// FlashKV has (so the others list nobody).
    Type(bool),
    /// These ids.
    Ids(Vec<u64>),
}

/// Which clients CLIENT KILL closes.
#[derive(Debug, Default)]
pub struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    id: Option<u64>,
    /// `Some(false)`: a client type that never matches.
    normal: Option<bool>,
    skipme: bool,
}

fn parse_ping(a: Args) -> Result<Command, CmdError> {
    let mut rest = a.rest();
    if rest.len() > 1 {
        return Err(CmdError::WrongArity("ping"));
    }
    Ok(Command::Connection(Cmd::Ping(rest.pop())))
}

fn parse_echo(mut a: Args) -> Result<Command, CmdError> {
    Ok(Command::Connection(Cmd::Echo(a.bytes()?)))
}

fn parse_quit(_: Args) -> Result<Command, CmdError> {
    Ok(Command::Connection(Cmd::Quit))
}

fn parse_reset(_: Args) -> Result<Command, CmdError> {
    Ok(Command::Connection(Cmd::Reset))
}

fn parse_hello(mut a: Args) -> Result<Command, CmdError> {
    let mut hello = Hello::default();
    if let Some(v) = a.next() {
        let v = parse_int(&v).map_err(|_| CmdError::HelloVersionNotInteger)?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::NoProto);
        }
        hello.version = Some(v);
    }
    while let Some(opt) = a.next() {
        if is(&opt, "AUTH") && a.remaining() >= 2 {
            hello.auth = Some((a.bytes()?, a.bytes()?));
        } else if is(&opt, "SETNAME") && !a.is_empty() {
            hello.name = Some(a.bytes()?);
        } else {
            return Err(CmdError::HelloSyntax(opt));
        }
    }
    Ok(Command::Connection(Cmd::Hello(hello)))
}

fn parse_auth(a: Args) -> Result<Command, CmdError> {
    let mut rest = a.rest();
    match rest.len() {
        1 => Ok(Command::Connection(Cmd::Auth(None, rest.remove(0)))),
        2 => {
            let pass = rest.pop().expect("two arguments");
            Ok(Command::Connection(Cmd::Auth(rest.pop(), pass)))
        }
        _ => Err(CmdError::Syntax),
    }
}

fn client(c: Client) -> Result<Command, CmdError> {
    Ok(Command::Connection(Cmd::Client(c)))
}

fn parse_client_id(_: Args) -> Result<Command, CmdError> {
    client(Client::Id)
}

fn parse_client_setname(mut a: Args) -> Result<Command, CmdError> {
    client(Client::SetName(a.bytes()?))
}

fn parse_client_unblock(mut a: Args) -> Result<Command, CmdError> {
    let id = a.int()?;
    let error = match a.next() {
        None => false,
        Some(m) if is(&m, "TIMEOUT") => false,
        Some(m) if is(&m, "ERROR") => true,
        Some(_) => return Err(CmdError::UnblockReason),
    };
    client(Client::Unblock(id, error))
}

fn parse_client_getname(_: Args) -> Result<Command, CmdError> {
    client(Client::GetName)
}

fn parse_client_info(_: Args) -> Result<Command, CmdError> {
    client(Client::Info)
}

fn parse_client_help(_: Args) -> Result<Command, CmdError> {
    client(Client::Help)
}

/// Redis's `getClientTypeByName`: is it the normal type (the only one
/// FlashKV has)? `Err` for an unknown name.
fn client_type(name: &Bytes) -> Result<bool, CmdError> {
    if is(name, "normal") {
        Ok(true)
    } else if ["slave", "replica", "pubsub", "master"]
        .iter()
        .any(|t| is(name, t))
    {
        Ok(false)
    } else {
        Err(CmdError::UnknownClientType(name.clone()))
    }
}

fn parse_client_list(a: Args) -> Result<Command, CmdError> {
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
    client(Client::List(filter))
}

fn parse_client_kill(a: Args) -> Result<Command, CmdError> {
    let rest = a.rest();
    if let [addr] = rest.as_slice() {
        let filter = KillFilter {
            addr: Some(addr.clone()),
            ..KillFilter::default()
        };
        return client(Client::Kill(filter, KillForm::Legacy));
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
            f.normal = Some(client_type(value)?);
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
    client(Client::Kill(f, KillForm::Filters))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("ping", parse_ping),
    ("echo", parse_echo),
    ("quit", parse_quit),
    ("reset", parse_reset),
    ("hello", parse_hello),
    ("auth", parse_auth),
    ("client|id", parse_client_id),
    ("client|setname", parse_client_setname),
    ("client|getname", parse_client_getname),
    ("client|list", parse_client_list),
    ("client|info", parse_client_info),
    ("client|kill", parse_client_kill),
    ("client|unblock", parse_client_unblock),
    ("client|help", parse_client_help),
];

/// Execute a connection command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    match cmd {
        // RESP2's subscribed mode answers PING with a message-like array.
        Cmd::Ping(msg) if ctx.session.proto == Protocol::Resp2 && ctx.session.subs.any() => {
            Ok(Frame::Array(vec![
                Frame::Bulk(Bytes::from_static(b"pong")),
                Frame::Bulk(msg.unwrap_or_default()),
            ]))
        }
        Cmd::Ping(None) => Ok(Frame::simple("PONG")),
        Cmd::Ping(Some(msg)) | Cmd::Echo(msg) => Ok(Frame::Bulk(msg)),
        Cmd::Quit => {
            ctx.session.close_after_reply = true;
            Ok(Frame::ok())
        }
        Cmd::Reset => {
            let s = &mut *ctx.session;
            s.db = 0;
            s.proto = Protocol::Resp2;
            s.handle.set_name(None);
            s.authenticated = ctx.config.requirepass.is_empty();
            Ok(Frame::simple("RESET"))
        }
        Cmd::Hello(h) => hello(ctx, h),
        Cmd::Auth(user, pass) => {
            if user.is_none() && ctx.config.requirepass.is_empty() {
                return Err(CmdError::AuthNotConfigured);
            }
            authenticate(ctx, user.as_deref(), &pass)?;
            Ok(Frame::ok())
        }
        Cmd::Client(c) => client_cmd(ctx, c),
    }
}

/// Check a user name and password against `requirepass` (the default user
/// is the only user; with no password set it accepts any password).
fn authenticate<S: Store>(
    ctx: &mut Ctx<'_, S>,
    user: Option<&[u8]>,
    pass: &[u8],
) -> Result<(), CmdError> {
    let required = ctx.config.requirepass.clone();
    let user_ok = user.is_none_or(|u| u == b"default");
    if user_ok && (required.is_empty() || constant_time_eq(required.as_bytes(), pass)) {
        ctx.session.authenticated = true;
        Ok(())
    } else {
        Err(CmdError::WrongPass)
    }
}

/// Compare without an early exit, so timing does not reveal a prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn hello<S: Store>(ctx: &mut Ctx<'_, S>, h: Hello) -> Result<Frame, CmdError> {
    if let Some((user, pass)) = &h.auth {
        authenticate(ctx, Some(user), pass)?;
    }
    if ctx.state.auth_required(ctx.session, ctx.config) {
        return Err(CmdError::HelloNoAuth);
    }
    if let Some(name) = h.name {
        set_name(ctx.session.handle.as_ref(), name)?;
    }
    match h.version {
        Some(3) => ctx.session.proto = Protocol::Resp3,
        Some(_) => ctx.session.proto = Protocol::Resp2,
        None => {}
    }
    let pair = |k: &'static str, v: Frame| (Frame::bulk(k), v);
    Ok(Frame::Map(vec![
        pair("server", Frame::bulk("redis")),
        pair("version", Frame::bulk(REDIS_VERSION)),
        pair("proto", Frame::Integer(ctx.session.proto.version())),
        pair("id", Frame::Integer(ctx.session.handle.id as i64)),
        pair("mode", Frame::bulk("standalone")),
        pair("role", Frame::bulk("master")),
        pair("modules", Frame::Array(vec![])),
    ]))
}

/// Redis's `clientSetNameOrReply`: empty clears; only `!`..`~` allowed.
fn set_name(handle: &ClientHandle, name: Bytes) -> Result<(), CmdError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CmdError::BadClientName);
    }
    handle.set_name(Some(name).filter(|n| !n.is_empty()));
    Ok(())
}

fn client_cmd<S: Store>(ctx: &mut Ctx<'_, S>, c: Client) -> Result<Frame, CmdError> {
    let me = ctx.session.handle.clone();
    Ok(match c {
        Client::Id => Frame::Integer(me.id as i64),
        Client::SetName(name) => {
            set_name(&me, name)?;
            Frame::ok()
        }
        Client::GetName => me.name().map_or(Frame::Null, Frame::Bulk),
        Client::Info => {
            let mut line = info_line(ctx, &me);
            line.push('\n');
            Frame::Verbatim("txt", line.into())
        }
        Client::List(filter) => {
            let clients = ctx.state.clients.snapshot();
            let shown: Vec<&std::sync::Arc<ClientHandle>> = match &filter {
                ListFilter::All | ListFilter::Type(true) => clients.iter().collect(),
                ListFilter::Type(false) => vec![],
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
        Client::Kill(f, form) => {
            let killed = kill(ctx, &f);
            match (form, killed) {
                (KillForm::Legacy, 0) => return Err(CmdError::NoSuchClient),
                (KillForm::Legacy, _) => Frame::ok(),
                (KillForm::Filters, n) => Frame::Integer(n),
            }
        }
        Client::Unblock(id, error) => {
            let found = u64::try_from(id)
                .ok()
                .and_then(|id| ctx.state.clients.get(id));
            Frame::Integer(i64::from(found.is_some_and(|c| c.unblock(error))))
        }
        Client::Help => super::help_reply(CLIENT_HELP),
    })
}

fn kill<S: Store>(ctx: &mut Ctx<'_, S>, f: &KillFilter) -> i64 {
    let me = ctx.session.handle.id;
    let mut killed = 0;
    for c in ctx.state.clients.snapshot() {
        let matches = f
            .addr
            .as_ref()
            .is_none_or(|a| a[..] == *c.addr.to_string().as_bytes())
            && f.laddr
                .as_ref()
                .is_none_or(|a| a[..] == *c.laddr.to_string().as_bytes())
            && f.id.is_none_or(|id| id == c.id)
            && f.normal.unwrap_or(true)
            && !(f.skipme && c.id == me);
        if matches {
            if c.id == me {
                ctx.session.close_after_reply = true;
            } else {
                c.kill();
            }
            killed += 1;
        }
    }
    killed
}

/// CLIENT LIST's `flags=`: Redis's letters, or N for none.
fn flags(subscribed: bool, multi: i64, c: &ClientHandle) -> String {
    let s: String = [(subscribed, 'P'), (multi >= 0, 'x'), (c.is_blocked(), 'b')]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, f)| *f)
        .collect();
    if s.is_empty() {
        "N".to_string()
    } else {
        s
    }
}

/// One CLIENT LIST line, in Redis 7.0's field order.
fn info_line<S: Store>(ctx: &Ctx<'_, S>, c: &ClientHandle) -> String {
    let me = c.id == ctx.session.handle.id;
    let (db, resp, cmd, multi, subs) = if me {
        let s = &ctx.session.subs;
        (
            ctx.session.db,
            ctx.session.proto.version() as u8,
            ctx.session.last_cmd,
            ctx.session.multi,
            [s.channels.len(), s.patterns.len(), s.shard.len()],
        )
    } else {
        (c.db(), c.resp(), c.last_cmd(), c.multi(), c.subscriptions())
    };
    let idle = if me { 0 } else { c.idle_secs(ctx.now) };
    let name = c
        .name()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .unwrap_or_default();
    let (qbuf, omem) = (c.qbuf(), c.omem());
    let mut s = String::new();
    let _ = write!(
        s,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
         qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r \
         cmd={} user=default redir=-1 resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        name,
        c.age_secs(),
        idle,
        flags(subs.iter().any(|&n| n > 0), multi, c),
        db,
        subs[0],
        subs[1],
        subs[2],
        multi,
        qbuf,
        qbuf,
        omem,
        qbuf + omem,
        ctx.commands.name_of(cmd),
        resp
    );
    s
}

/// Lines of the HELP reply.
const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
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
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::protocol::Frame;

    #[test]
    fn ping_echo_quit() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["PING"]), Frame::simple("PONG"));
        assert_eq!(t.run(&["PING", "hi"]), bulk("hi"));
        assert_eq!(
            t.run(&["PING", "a", "b"]),
            err("ERR wrong number of arguments for 'ping' command")
        );
        assert_eq!(t.run(&["ECHO", "x"]), bulk("x"));
        assert_eq!(t.run(&["QUIT"]), ok());
        assert!(t.client.session.close_after_reply);
    }

    #[test]
    fn hello_switches_protocol() {
        let mut t = TestDb::new();
        let Frame::Map(m) = t.run(&["HELLO", "3"]) else {
            panic!()
        };
        assert_eq!(m[2], (bulk("proto"), int(3)));
        assert_eq!(t.client.session.proto, crate::protocol::Protocol::Resp3);
        assert_eq!(
            t.run(&["HELLO", "4"]),
            err("NOPROTO unsupported protocol version")
        );
        assert_eq!(
            t.run(&["HELLO", "x"]),
            err("ERR Protocol version is not an integer or out of range")
        );
        assert_eq!(
            t.run(&["HELLO", "2", "foo"]),
            err("ERR Syntax error in HELLO option 'foo'")
        );
        t.run(&["HELLO", "2", "SETNAME", "me"]);
        assert_eq!(t.run(&["CLIENT", "GETNAME"]), bulk("me"));
    }

    #[test]
    fn auth_without_a_password_configured() {
        let mut t = TestDb::new();
        assert_eq!(
            t.run(&["AUTH", "x"]),
            err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
        );
        assert_eq!(t.run(&["AUTH", "default", "anything"]), ok());
        assert_eq!(
            t.run(&["AUTH", "bob", "x"]),
            err("WRONGPASS invalid username-password pair or user is disabled.")
        );
    }

    #[test]
    fn requirepass_gates_commands() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["CONFIG", "SET", "requirepass", "s3cret"]), ok());
        t.client.session.authenticated = false;
        assert_eq!(t.run(&["GET", "k"]), err("NOAUTH Authentication required."));
        assert_eq!(
            t.run(&["NOSUCH"]),
            err("ERR unknown command 'NOSUCH', with args beginning with: ")
        );
        assert_eq!(
            t.run(&["AUTH", "wrong"]),
            err("WRONGPASS invalid username-password pair or user is disabled.")
        );
        assert_eq!(t.run(&["AUTH", "s3cret"]), ok());
        assert_eq!(t.run(&["GET", "k"]), Frame::Null);
    }

    #[test]
    fn client_names_and_ids() {
        let mut t = TestDb::new();
        assert_eq!(t.run(&["CLIENT", "GETNAME"]), Frame::Null);
        assert_eq!(
            t.run(&["CLIENT", "SETNAME", "a b"]),
            err("ERR Client names cannot contain spaces, newlines or special characters.")
        );
        assert_eq!(t.run(&["CLIENT", "SETNAME", "ab"]), ok());
        assert_eq!(t.run(&["CLIENT", "GETNAME"]), bulk("ab"));
        assert_eq!(t.run(&["CLIENT", "SETNAME", ""]), ok());
        assert_eq!(t.run(&["CLIENT", "GETNAME"]), Frame::Null);
        assert_eq!(
            t.run(&["CLIENT", "ID"]),
            int(t.client.session.handle.id as i64)
        );
        let Frame::Verbatim(_, line) = t.run(&["CLIENT", "INFO"]) else {
            panic!()
        };
        let line = String::from_utf8(line.to_vec()).unwrap();
        assert!(
            line.starts_with(&format!("id={} addr=", t.client.session.handle.id)),
            "{line}"
        );
        assert!(line.contains(" cmd=client|info "), "{line}");
        assert_eq!(
            t.run(&["CLIENT", "LIST", "TYPE", "foo"]),
            err("ERR Unknown client type 'foo'")
        );
        assert_eq!(
            t.run(&["CLIENT", "KILL", "1.2.3.4:5"]),
            err("ERR No such client")
        );
        assert_eq!(
            t.run(&["CLIENT", "KILL", "ID", "0"]),
            err("ERR client-id should be greater than 0")
        );
        assert_eq!(t.run(&["CLIENT", "KILL", "ID", "99999"]), int(0));
    }
}
