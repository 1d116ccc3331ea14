//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH (CLIENT, also
//! in Redis's connection group, has a file of its own).

use bytes::Bytes;
use store_api::Store;

use super::{is, parse_int, Args, CmdError, Command, Ctx, Row};
use crate::protocol::{Frame, Protocol};
use crate::state::ReplyMode;
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
}

/// HELLO's arguments.
#[derive(Debug, Default)]
pub struct Hello {
    version: Option<i64>,
    auth: Option<(Bytes, Bytes)>,
    name: Option<Bytes>,
}

fn parse_ping(a: Args<'_>) -> Result<Command, CmdError> {
    let mut rest = a.rest();
    if rest.len() > 1 {
        return Err(CmdError::WrongArity("ping"));
    }
    Ok(Command::Connection(Cmd::Ping(rest.pop())))
}

fn parse_echo(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Connection(Cmd::Echo(a.bytes()?)))
}

fn parse_quit(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Connection(Cmd::Quit))
}

fn parse_reset(_: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Connection(Cmd::Reset))
}

fn parse_hello(mut a: Args<'_>) -> Result<Command, CmdError> {
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

fn parse_auth(a: Args<'_>) -> Result<Command, CmdError> {
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

/// Table rows.
pub const ROWS: &[Row] = &[
    ("ping", parse_ping),
    ("echo", parse_echo),
    ("quit", parse_quit),
    ("reset", parse_reset),
    ("hello", parse_hello),
    ("auth", parse_auth),
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
        // MULTI, WATCH, subscriptions and MONITOR are ended by the
        // executor (`Executor::dispatch`), which owns them.
        Cmd::Reset => {
            let s = &mut *ctx.session;
            s.db = 0;
            s.proto = Protocol::Resp2;
            s.handle.set_name(None);
            s.authenticated = ctx.config.requirepass.is_empty();
            s.reply = ReplyMode::On;
            s.no_evict = false;
            s.asking = false;
            s.readonly = false;
            s.caching = None;
            if s.tracking.take().is_some() {
                ctx.state.tracking_off(s.handle.id);
            }
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
        super::client::set_name(ctx.session.handle.as_ref(), name)?;
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
