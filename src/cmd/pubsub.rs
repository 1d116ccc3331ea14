//! Pub/sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE,
//! SSUBSCRIBE, SUNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB.
//!
//! Subscriptions live in the client's session and in the server's
//! [`PubSub`](crate::state::PubSub) registry; delivery is the registry's
//! (see `state::pubsub`). Each (un)subscription is confirmed by its own
//! reply, a push in RESP3. In RESP2 a subscribed client may only run
//! (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET; the executor
//! enforces that before a command is even parsed.

use bytes::Bytes;
use store_api::Store;

use super::Args;
use super::{help_reply, CmdError, Command, Ctx, Row};
use crate::protocol::Frame;
use crate::state::cluster::BusRequest;
use crate::state::pubsub::Kind;

/// Pub/sub commands.
#[derive(Debug)]
pub enum Cmd {
    /// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE.
    Subscribe(Kind, Vec<Bytes>),
    /// UNSUBSCRIBE, PUNSUBSCRIBE, SUNSUBSCRIBE (no names: all of them).
    Unsubscribe(Kind, Vec<Bytes>),
    /// PUBLISH (plain) or SPUBLISH (shard).
    Publish(Kind, Bytes, Bytes),
    /// `PUBSUB CHANNELS|SHARDCHANNELS [pattern]`
    Channels(Kind, Option<Bytes>),
    /// `PUBSUB NUMSUB|SHARDNUMSUB [channel ...]`
    NumSub(Kind, Vec<Bytes>),
    /// `PUBSUB NUMPAT`
    NumPat,
    /// `PUBSUB HELP`
    Help,
}

fn cmd(c: Cmd) -> Result<Command, CmdError> {
    Ok(Command::PubSub(c))
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("subscribe", |a| {
        cmd(Cmd::Subscribe(Kind::Channel, a.rest()))
    }),
    ("psubscribe", |a| {
        cmd(Cmd::Subscribe(Kind::Pattern, a.rest()))
    }),
    ("ssubscribe", |a| cmd(Cmd::Subscribe(Kind::Shard, a.rest()))),
    ("unsubscribe", |a| {
        cmd(Cmd::Unsubscribe(Kind::Channel, a.rest()))
    }),
    ("punsubscribe", |a| {
        cmd(Cmd::Unsubscribe(Kind::Pattern, a.rest()))
    }),
    ("sunsubscribe", |a| {
        cmd(Cmd::Unsubscribe(Kind::Shard, a.rest()))
    }),
    ("publish", |a| publish(Kind::Channel, a)),
    ("spublish", |a| publish(Kind::Shard, a)),
    ("pubsub|channels", |a| {
        cmd(Cmd::Channels(Kind::Channel, a.rest().pop()))
    }),
    ("pubsub|shardchannels", |a| {
        cmd(Cmd::Channels(Kind::Shard, a.rest().pop()))
    }),
    ("pubsub|numsub", |a| {
        cmd(Cmd::NumSub(Kind::Channel, a.rest()))
    }),
    ("pubsub|shardnumsub", |a| {
        cmd(Cmd::NumSub(Kind::Shard, a.rest()))
    }),
    ("pubsub|numpat", |_| cmd(Cmd::NumPat)),
    ("pubsub|help", |_| cmd(Cmd::Help)),
];

fn publish(kind: Kind, mut a: Args<'_>) -> Result<Command, CmdError> {
    cmd(Cmd::Publish(kind, a.bytes()?, a.bytes()?))
}

/// The confirmation of one (un)subscription: `[kind, name, count]`.
fn confirm(what: &'static str, name: Option<Bytes>, count: usize) -> Frame {
    Frame::Push(vec![
        Frame::Bulk(Bytes::from_static(what.as_bytes())),
        name.map_or(Frame::Null, Frame::Bulk),
        Frame::Integer(count as i64),
    ])
}

fn words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

/// Execute a pub/sub command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Frame, CmdError> {
    let pubsub = &ctx.state.pubsub;
    let session = &mut *ctx.session;
    let count = |subs: &crate::state::pubsub::Subscriptions, kind: Kind| match kind {
        Kind::Shard => subs.shard.len(),
        _ => subs.count(),
    };
    Ok(match cmd {
        Cmd::Subscribe(kind, names) => {
            let handle = session.handle.clone();
            let (word, _) = words(kind);
            Frame::Seq(
                names
                    .into_iter()
                    .map(|name| {
                        pubsub.subscribe(&mut session.subs, &handle, kind, &name);
                        confirm(word, Some(name), count(&session.subs, kind))
                    })
                    .collect(),
            )
        }
        Cmd::Unsubscribe(kind, names) => {
            let handle = session.handle.clone();
            let (_, word) = words(kind);
            let names = if names.is_empty() {
                kind.set(&mut session.subs).iter().cloned().collect()
            } else {
                names
            };
            if names.is_empty() {
                return Ok(confirm(word, None, count(&session.subs, kind)));
            }
            Frame::Seq(
                names
                    .into_iter()
                    .map(|name| {
                        pubsub.unsubscribe(&mut session.subs, &handle, kind, &name);
                        confirm(word, Some(name), count(&session.subs, kind))
                    })
                    .collect(),
            )
        }
        Cmd::Publish(Kind::Shard, channel, message) => {
            Frame::Integer(pubsub.spublish(&channel, &message) as i64)
        }
        Cmd::Publish(_, channel, message) => {
            let n = pubsub.publish(&channel, &message);
            // In a cluster every node's subscribers hear it (the reply
            // counts the local ones, as Redis's does).
            if ctx.state.cluster.enabled {
                ctx.state
                    .cluster
                    .to_bus(BusRequest::Publish(channel, message));
            }
            Frame::Integer(n as i64)
        }
        Cmd::Channels(kind, pattern) => Frame::Array(
            pubsub
                .channels(kind, pattern.as_deref())
                .into_iter()
                .map(Frame::Bulk)
                .collect(),
        ),
        Cmd::NumSub(kind, channels) => Frame::Array(
            channels
                .into_iter()
                .flat_map(|c| {
                    let n = pubsub.subscribers(kind, &c) as i64;
                    [Frame::Bulk(c), Frame::Integer(n)]
                })
                .collect(),
        ),
        Cmd::NumPat => Frame::Integer(pubsub.pattern_count() as i64),
        Cmd::Help => help_reply(HELP),
    })
}

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];
