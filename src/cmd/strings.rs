//! String commands: GET, SET (and SETNX, SETEX, PSETEX, GETSET), GETEX,
//! GETDEL, MSET, MSETNX, MGET, APPEND, STRLEN, GETRANGE, SETRANGE.
//!
//! Every read-modify-write here is one `Keyspace::update` call (one atomic
//! `Store::compute`): SET NX/XX/GET decides and writes in one step, so two
//! clients can never both win a SET NX. MSET and MSETNX lock their keys'
//! stripes so no reader sees half of them.

use crate::db::events::class;
use bytes::Bytes;
use store_api::value::{grow_for, grow_zeroed};
use store_api::{Entry, Op, Store, Str, Value};

use super::{
    as_str, bulk_or_null, edit_str, is, owned, rmw, str_of, Args, CmdError, Command, Created, Ctx,
    Row,
};
use crate::db::ttl::{self, Base, Unit};
use crate::db::{journal, Touch};
use crate::protocol::Frame;

/// String commands.
#[derive(Debug)]
pub enum Cmd {
    /// `GET key`
    Get(Bytes),
    /// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]` and
    /// its older spellings.
    Set(Set),
    /// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`
    GetEx(Bytes, Ttl),
    /// `GETDEL key`
    GetDel(Bytes),
    /// `MSET key value [key value ...]` and `MSETNX`.
    MSet(Vec<(Bytes, Bytes)>, MSetMode),
    /// `MGET key [key ...]`
    MGet(Vec<Bytes>),
    /// `APPEND key value`
    Append(Bytes, Bytes),
    /// `STRLEN key`
    Strlen(Bytes),
    /// `GETRANGE key start end`
    GetRange(Bytes, i64, i64),
    /// `SETRANGE key offset value`
    SetRange(Bytes, i64, Bytes),
}

/// MSET writes every pair; MSETNX writes them only if none exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MSetMode {
    /// MSET.
    Always,
    /// MSETNX.
    NoneExist,
}

/// A SET in any of its spellings.
#[derive(Debug)]
pub struct Set {
    key: Bytes,
    value: Bytes,
    cond: Cond,
    ttl: Ttl,
    reply: SetReply,
    /// For `invalid expire time in '<name>' command`.
    name: SetName,
}

/// Which spelling of SET it was (a byte where a `&str` took 16, so a
/// parsed command fits the size `cmd::COMMAND_SIZE` holds it to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetName {
    Set,
    SetNx,
    GetSet,
    SetEx,
    PSetEx,
}

impl SetName {
    fn as_str(self) -> &'static str {
        match self {
            SetName::Set => "set",
            SetName::SetNx => "setnx",
            SetName::GetSet => "getset",
            SetName::SetEx => "setex",
            SetName::PSetEx => "psetex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cond {
    Always,
    Nx,
    Xx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetReply {
    /// `+OK`, or null when NX/XX stopped it.
    Ok,
    /// `:1` / `:0` (SETNX).
    Int,
    /// The old value (GET option, GETSET).
    Old,
}

/// What a write does to the TTL: the expiry options of SET and GETEX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ttl {
    /// No option: SET clears the TTL, GETEX leaves it.
    Default,
    /// KEEPTTL.
    Keep,
    /// PERSIST (GETEX).
    Persist,
    /// EX/PX/EXAT/PXAT with the number as sent (Redis parses it only when
    /// it applies the option).
    Expire { raw: Bytes, unit: Unit, base: Base },
}

impl Ttl {
    /// The absolute deadline in ms, validated as Redis's
    /// `getExpireMillisecondsOrReply` does.
    fn deadline(&self, now: u64, name: &'static str) -> Result<Option<u64>, CmdError> {
        let Ttl::Expire { raw, unit, base } = self else {
            return Ok(None);
        };
        let n = super::parse_int(raw)?;
        ttl::set_deadline(n, *unit, *base, now)
            .map(Some)
            .ok_or(CmdError::InvalidExpire(name))
    }
}

/// Which options a SET-style or GETEX-style command accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Set,
    GetEx,
}

/// Redis's `parseExtendedStringArgumentsOrReply`: options in any order, each
/// expiry option excluding the others but not itself (last one wins).
fn parse_options(mut args: Args<'_>, family: Family) -> Result<(Cond, bool, Ttl), CmdError> {
    let (mut cond, mut get, mut ttl) = (Cond::Always, false, Ttl::Default);
    let mut expire_raw: Option<(Bytes, Unit, Base)> = None;
    while let Some(opt) = args.next() {
        let has_next = !args.is_empty();
        let expiry_kind = expire_raw.as_ref().map(|(_, unit, base)| (*unit, *base));
        let other_expiry = |unit: Unit, base: Base| {
            matches!(ttl, Ttl::Keep | Ttl::Persist)
                || expiry_kind.is_some_and(|k| k != (unit, base))
        };
        if family == Family::Set && is(&opt, "NX") && cond != Cond::Xx {
            cond = Cond::Nx;
        } else if family == Family::Set && is(&opt, "XX") && cond != Cond::Nx {
            cond = Cond::Xx;
        } else if family == Family::Set && is(&opt, "GET") {
            get = true;
        } else if family == Family::Set
            && is(&opt, "KEEPTTL")
            && expiry_kind.is_none()
            && ttl != Ttl::Persist
        {
            ttl = Ttl::Keep;
        } else if family == Family::GetEx
            && is(&opt, "PERSIST")
            && expiry_kind.is_none()
            && ttl != Ttl::Keep
        {
            ttl = Ttl::Persist;
        } else if let Some((unit, base)) =
            expiry_option(&opt).filter(|&(u, b)| has_next && !other_expiry(u, b))
        {
            expire_raw = Some((args.bytes()?, unit, base));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if let Some((raw, unit, base)) = expire_raw {
        ttl = Ttl::Expire { raw, unit, base };
    }
    Ok((cond, get, ttl))
}

fn expiry_option(opt: &[u8]) -> Option<(Unit, Base)> {
    [
        ("EX", Unit::Seconds, Base::Relative),
        ("PX", Unit::Millis, Base::Relative),
        ("EXAT", Unit::Seconds, Base::Absolute),
        ("PXAT", Unit::Millis, Base::Absolute),
    ]
    .into_iter()
    .find(|(name, _, _)| is(opt, name))
    .map(|(_, unit, base)| (unit, base))
}

fn key_value(args: &mut Args<'_>) -> Result<(Bytes, Bytes), CmdError> {
    Ok((args.bytes()?, args.bytes()?))
}

fn parse_get(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Strings(Cmd::Get(a.bytes()?)))
}

fn parse_set(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (key, value) = key_value(&mut a)?;
    let (cond, get, ttl) = parse_options(a, Family::Set)?;
    let reply = if get { SetReply::Old } else { SetReply::Ok };
    Ok(Command::Strings(Cmd::Set(Set {
        key,
        value,
        cond,
        ttl,
        reply,
        name: SetName::Set,
    })))
}

fn parse_setnx(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (key, value) = key_value(&mut a)?;
    Ok(Command::Strings(Cmd::Set(Set {
        key,
        value,
        cond: Cond::Nx,
        ttl: Ttl::Default,
        reply: SetReply::Int,
        name: SetName::SetNx,
    })))
}

fn parse_getset(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (key, value) = key_value(&mut a)?;
    Ok(Command::Strings(Cmd::Set(Set {
        key,
        value,
        cond: Cond::Always,
        ttl: Ttl::Default,
        reply: SetReply::Old,
        name: SetName::GetSet,
    })))
}

fn parse_setex_generic(mut a: Args<'_>, unit: Unit, name: SetName) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let raw = a.bytes()?;
    let value = a.bytes()?;
    let ttl = Ttl::Expire {
        raw,
        unit,
        base: Base::Relative,
    };
    Ok(Command::Strings(Cmd::Set(Set {
        key,
        value,
        cond: Cond::Always,
        ttl,
        reply: SetReply::Ok,
        name,
    })))
}

fn parse_setex(a: Args<'_>) -> Result<Command, CmdError> {
    parse_setex_generic(a, Unit::Seconds, SetName::SetEx)
}

fn parse_psetex(a: Args<'_>) -> Result<Command, CmdError> {
    parse_setex_generic(a, Unit::Millis, SetName::PSetEx)
}

fn parse_getex(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let (_, _, ttl) = parse_options(a, Family::GetEx)?;
    Ok(Command::Strings(Cmd::GetEx(key, ttl)))
}

fn parse_getdel(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Strings(Cmd::GetDel(a.bytes()?)))
}

fn parse_mset_generic(a: Args<'_>, mode: MSetMode) -> Result<Command, CmdError> {
    let rest = a.rest();
    if rest.len() % 2 != 0 {
        return Err(CmdError::WrongArity(match mode {
            MSetMode::Always => "mset",
            MSetMode::NoneExist => "msetnx",
        }));
    }
    let pairs = rest
        .chunks(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect();
    Ok(Command::Strings(Cmd::MSet(pairs, mode)))
}

fn parse_mset(a: Args<'_>) -> Result<Command, CmdError> {
    parse_mset_generic(a, MSetMode::Always)
}

fn parse_msetnx(a: Args<'_>) -> Result<Command, CmdError> {
    parse_mset_generic(a, MSetMode::NoneExist)
}

fn parse_mget(a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Strings(Cmd::MGet(a.rest())))
}

fn parse_append(mut a: Args<'_>) -> Result<Command, CmdError> {
    let (key, value) = key_value(&mut a)?;
    Ok(Command::Strings(Cmd::Append(key, value)))
}

fn parse_strlen(mut a: Args<'_>) -> Result<Command, CmdError> {
    Ok(Command::Strings(Cmd::Strlen(a.bytes()?)))
}

fn parse_getrange(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let (start, end) = (a.int()?, a.int()?);
    Ok(Command::Strings(Cmd::GetRange(key, start, end)))
}

fn parse_setrange(mut a: Args<'_>) -> Result<Command, CmdError> {
    let key = a.bytes()?;
    let offset = a.int()?;
    Ok(Command::Strings(Cmd::SetRange(key, offset, a.bytes()?)))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("get", parse_get),
    ("set", parse_set),
    ("setnx", parse_setnx),
    ("setex", parse_setex),
    ("psetex", parse_psetex),
    ("getset", parse_getset),
    ("getex", parse_getex),
    ("getdel", parse_getdel),
    ("mset", parse_mset),
    ("msetnx", parse_msetnx),
    ("mget", parse_mget),
    ("append", parse_append),
    ("strlen", parse_strlen),
    ("getrange", parse_getrange),
    ("substr", parse_getrange),
    ("setrange", parse_setrange),
];

/// Execute a string command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    match cmd {
        Cmd::Get(key) => {
            // Copied while the entry is read: inline when short (no
            // allocation), as Redis copies into the reply buffer.
            let v = ctx.ks().read(&key, ctx.now, |e| {
                str_of(e).map(|v| v.map(|v| Frame::bulk_copy(&v, || v.to_bytes())))
            })?;
            Ok(v.unwrap_or(Frame::Null))
        }
        Cmd::Set(set) => set_generic(ctx, set),
        Cmd::GetEx(key, ttl) => getex(ctx, key, ttl),
        Cmd::GetDel(key) => {
            let old = ctx.ks().update(&key, ctx.now, |e| match str_of(e) {
                Ok(Some(v)) => (Op::Remove, Ok(Some(v.to_bytes()))),
                other => (Op::Keep, other.map(|_| None)),
            })?;
            match old {
                Some(_) => {
                    journal::rewrite(|| vec![journal::words(&[b"DEL", &key])]);
                    ctx.notify(class::GENERIC, "del", &key)
                }
                None => ctx.key_miss(&key),
            }
            Ok(bulk_or_null(old))
        }
        Cmd::MSet(pairs, nx) => Ok(mset(ctx, pairs, nx)),
        Cmd::MGet(keys) => {
            let values =
                ctx.ks()
                    .read_many(&keys, ctx.now, Touch::Access, |e| match e.map(as_str) {
                        Some(Ok(v)) => Frame::Bulk(v.to_bytes()),
                        _ => Frame::Null,
                    });
            Ok(Frame::Array(values))
        }
        Cmd::Append(key, value) => append(ctx, key, value),
        Cmd::Strlen(key) => {
            let len = ctx.ks().read(&key, ctx.now, |e| {
                str_of(e).map(|v| v.map_or(0, |v| v.len()))
            })?;
            Ok(Frame::Integer(len as i64))
        }
        Cmd::GetRange(key, start, end) => {
            let v = ctx.ks().read(&key, ctx.now, |e| {
                str_of(e).map(|v| v.map(|v| range_of(&v, start, end)))
            })?;
            Ok(Frame::Bulk(v.unwrap_or_default()))
        }
        Cmd::SetRange(key, offset, value) => setrange(ctx, key, offset, value),
    }
}

/// What a SET did, for the reply.
struct SetOutcome {
    done: bool,
    old: Option<Bytes>,
}

fn set_generic<S: Store>(ctx: &mut Ctx<'_, S>, set: Set) -> Result<Frame, CmdError> {
    let deadline = set.ttl.deadline(ctx.now, set.name.as_str())?;
    let get = set.reply == SetReply::Old;
    let outcome = ctx.ks().update(
        &set.key,
        ctx.now,
        rmw(|cur| {
            let old = get
                .then(|| str_of(cur))
                .transpose()?
                .flatten()
                .map(|s| s.to_bytes());
            let found = cur.is_some();
            if (set.cond == Cond::Nx && found) || (set.cond == Cond::Xx && !found) {
                return Ok((Op::Keep, SetOutcome { done: false, old }));
            }
            let expires_at = match set.ttl {
                Ttl::Keep => cur.and_then(|e| e.expires_at()),
                _ => deadline,
            };
            let entry = Entry::new(Value::Str(Str::new(&set.value)), expires_at);
            Ok((Op::Put(entry), SetOutcome { done: true, old }))
        }),
    )?;
    if outcome.done {
        if let Some(at) = deadline {
            // Logged with an absolute deadline, as Redis propagates it.
            journal::rewrite(|| {
                vec![journal::words(&[
                    b"SET",
                    &set.key,
                    &set.value,
                    b"PXAT",
                    at.to_string().as_bytes(),
                ])]
            });
        } else if set.name == SetName::GetSet {
            // Redis 7.0 propagates GETSET as SET.
            journal::rewrite(|| vec![journal::words(&[b"SET", &set.key, &set.value])]);
        }
        ctx.notify(class::STRING, "set", &set.key);
        if matches!(set.ttl, Ttl::Expire { .. }) {
            ctx.notify(class::GENERIC, "expire", &set.key);
        }
    }
    Ok(match set.reply {
        SetReply::Old => bulk_or_null(outcome.old),
        SetReply::Int => Frame::Integer(i64::from(outcome.done)),
        SetReply::Ok if outcome.done => Frame::ok(),
        SetReply::Ok => Frame::Null,
    })
}

fn getex<S: Store>(ctx: &mut Ctx<'_, S>, key: Bytes, ttl: Ttl) -> Result<Frame, CmdError> {
    let now = ctx.now;
    let (v, event) = ctx.ks().update(
        &key,
        now,
        rmw(|cur| {
            let Some(e) = cur else {
                return Ok((Op::Keep, (None, None)));
            };
            let v = as_str(e)?.to_bytes();
            // Redis validates the TTL only once it knows the key is a string.
            let (expires_at, event) = match (&ttl, ttl.deadline(now, "getex")?) {
                (Ttl::Persist, _) if cur.is_some_and(|e| e.expires_at().is_some()) => {
                    (None, "persist")
                }
                (Ttl::Persist, _) => return Ok((Op::Keep, (Some(v), None))),
                (_, Some(at)) if at <= now => return Ok((Op::Remove, (Some(v), Some("del")))),
                (_, Some(at)) => (Some(at), "expire"),
                (_, None) => return Ok((Op::Keep, (Some(v), None))),
            };
            // The same value (an edited string's handle too), a new TTL.
            let entry = Entry::new(e.value.clone(), expires_at);
            Ok((Op::Put(entry), (Some(v), Some(event))))
        }),
    )?;
    match (&v, event) {
        (None, _) => ctx.key_miss(&key),
        (Some(_), Some(event)) => {
            // Logged as Redis propagates it: an absolute deadline.
            if let (Some(at), "expire") = (ttl.deadline(now, "getex")?, event) {
                journal::rewrite(|| {
                    vec![journal::words(&[
                        b"PEXPIREAT",
                        &key,
                        at.to_string().as_bytes(),
                    ])]
                });
            } else if event == "del" {
                journal::rewrite(|| vec![journal::words(&[b"DEL", &key])]);
            } else if event == "persist" {
                journal::rewrite(|| vec![journal::words(&[b"PERSIST", &key])]);
            }
            ctx.notify(class::GENERIC, event, &key)
        }
        _ => {}
    }
    Ok(bulk_or_null(v))
}

fn mset<S: Store>(ctx: &mut Ctx<'_, S>, pairs: Vec<(Bytes, Bytes)>, mode: MSetMode) -> Frame {
    let ks = ctx.ks();
    let guard = ks.lock_keys(pairs.iter().map(|(k, _)| &k[..]));
    let nx = mode == MSetMode::NoneExist;
    if nx
        && pairs
            .iter()
            .any(|(k, _)| ks.read_locked(&guard, k, ctx.now, |e| e.is_some()))
    {
        return Frame::Integer(0);
    }
    for (k, v) in &pairs {
        ks.insert_locked(&guard, owned(k), Entry::string(v), ctx.now);
        ctx.notify(class::STRING, "set", k);
    }
    if nx {
        Frame::Integer(1)
    } else {
        Frame::ok()
    }
}

/// `checkStringLength`: would a string of `size + add` bytes be too long?
fn check_len<S: Store>(ctx: &Ctx<'_, S>, size: u64, add: u64) -> Result<(), CmdError> {
    match size.checked_add(add) {
        Some(total) if total <= ctx.config.proto_max_bulk_len => Ok(()),
        _ => Err(CmdError::StringTooLong),
    }
}

fn append<S: Store>(ctx: &mut Ctx<'_, S>, key: Bytes, value: Bytes) -> Result<Frame, CmdError> {
    let max = ctx.config.proto_max_bulk_len;
    let len = edit_str(&ctx.ks(), &key, ctx.now, Created::AsSet, |buf, existed| {
        if (buf.len() + value.len()) as u64 > max {
            return Err(CmdError::StringTooLong);
        }
        grow_for(buf, buf.len() + value.len(), existed);
        buf.extend_from_slice(&value);
        Ok((buf.len() as i64, true))
    })?;
    ctx.notify(class::STRING, "append", &key);
    Ok(Frame::Integer(len))
}

fn setrange<S: Store>(
    ctx: &mut Ctx<'_, S>,
    key: Bytes,
    offset: i64,
    value: Bytes,
) -> Result<Frame, CmdError> {
    let offset = u64::try_from(offset).map_err(|_| CmdError::OffsetOutOfRange)?;
    let len_ok = check_len(ctx, offset, value.len() as u64);
    let (len, wrote) = edit_str(&ctx.ks(), &key, ctx.now, Created::Raw, |buf, existed| {
        if value.is_empty() {
            return Ok(((buf.len() as i64, false), false));
        }
        len_ok.clone()?;
        let offset = offset as usize;
        let end = offset + value.len();
        grow_zeroed(buf, end, existed);
        buf[offset..end].copy_from_slice(&value);
        Ok(((buf.len() as i64, true), true))
    })?;
    if wrote {
        ctx.notify(class::STRING, "setrange", &key);
    }
    Ok(Frame::Integer(len))
}

/// GETRANGE's index arithmetic, quirks included (`getrangeCommand`).
fn range_of(v: &[u8], mut start: i64, mut end: i64) -> Bytes {
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Bytes::new();
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        return Bytes::new();
    }
    Bytes::copy_from_slice(&v[start as usize..=end as usize])
}

#[cfg(test)]
mod tests;
