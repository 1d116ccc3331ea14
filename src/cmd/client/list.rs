//! CLIENT LIST / CLIENT INFO lines (Redis 7.0's fields and flag letters)
//! and which clients CLIENT KILL's filters match.

use std::fmt::Write as _;

use store_api::Store;

use super::{KillFilter, Type};
use crate::cmd::Ctx;
use crate::state::{ClientFlag, ClientHandle};

/// A client's type as CLIENT LIST and KILL see it.
pub(super) fn type_of<S: Store>(ctx: &Ctx<'_, S>, c: &ClientHandle) -> Type {
    let subscribed = if c.id == ctx.session.handle.id {
        ctx.session.subs.any()
    } else {
        c.subscriptions().iter().any(|&n| n > 0)
    };
    let replica = if c.id == ctx.session.handle.id {
        ctx.session.replica
    } else {
        c.flags() & ClientFlag::Replica as u32 != 0
    };
    if replica {
        Type::Replication
    } else if subscribed {
        Type::PubSub
    } else {
        Type::Normal
    }
}

pub(super) fn kill<S: Store>(ctx: &mut Ctx<'_, S>, f: &KillFilter) -> i64 {
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
            && f.kind.is_none_or(|t| t == type_of(ctx, &c))
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

/// CLIENT LIST's `flags=`: Redis's letters in its order, or N for none.
fn flags(f: u32, subscribed: bool, multi: i64, blocked: bool) -> String {
    let s: String = [
        (f & ClientFlag::Replica as u32 != 0, 'S'),
        (f & ClientFlag::Monitor as u32 != 0, 'O'),
        (subscribed, 'P'),
        (multi >= 0, 'x'),
        (blocked, 'b'),
        (f & ClientFlag::Tracking as u32 != 0, 't'),
        (f & ClientFlag::BrokenRedirect as u32 != 0, 'R'),
        (f & ClientFlag::Bcast as u32 != 0, 'B'),
        (f & ClientFlag::CloseAfterReply as u32 != 0, 'c'),
        (f & ClientFlag::NoEvict as u32 != 0, 'e'),
    ]
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
pub(super) fn info_line<S: Store>(ctx: &Ctx<'_, S>, c: &ClientHandle) -> String {
    let me = c.id == ctx.session.handle.id;
    let s = &ctx.session;
    let (db, resp, cmd, multi, subs, f, redir) = if me {
        let broken = s.tracking.is_some() && ctx.state.tracking.is_broken(c.id);
        (
            s.db,
            s.proto.version() as u8,
            s.last_cmd,
            s.multi,
            [
                s.subs.channels.len(),
                s.subs.patterns.len(),
                s.subs.shard.len(),
            ],
            s.flags(broken),
            s.tracking.as_ref().map_or(-1, |m| m.redirect as i64),
        )
    } else {
        (
            c.db(),
            c.resp(),
            c.last_cmd(),
            c.multi(),
            c.subscriptions(),
            c.flags(),
            c.redirect(),
        )
    };
    let idle = if me { 0 } else { c.idle_secs(ctx.now) };
    let name = c
        .name()
        .map(|n| String::from_utf8_lossy(&n).into_owned())
        .unwrap_or_default();
    // The caller's query buffer still holds the running request, as
    // Redis's does while the command runs (qbuf=26 for CLIENT LIST).
    let qbuf = if me { s.qbuf } else { c.qbuf() };
    let omem = c.omem_reported();
    let subscribed = subs.iter().any(|&n| n > 0);
    let mut line = String::new();
    let _ = write!(
        line,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
         qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r \
         cmd={} user=default redir={} resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        name,
        c.age_secs(),
        idle,
        flags(f, subscribed, multi, c.is_blocked()),
        db,
        subs[0],
        subs[1],
        subs[2],
        multi,
        qbuf,
        c.query_buffer().saturating_sub(qbuf),
        c.argv_mem(),
        c.multi_mem(),
        qbuf,
        omem,
        c.tot_mem().max(qbuf + omem),
        ctx.commands.name_of(cmd),
        redir,
        resp
    );
    line
}
