//! CLUSTER and its subcommands, READONLY, READWRITE and ASKING (Redis
//! 7.0's `clusterCommand`), and the redirection check every keyed command
//! passes in cluster mode (`route`). The topology and the bus's rules are
//! in `state::cluster`.

mod replies;
pub(super) mod route;

use bytes::Bytes;
use store_api::Store;

use super::error::ClusterError;
use super::{is, parse_int, Args, CmdError, Command, Ctx, Reply, Row};
use crate::protocol::Frame;
use crate::state::cluster::{flag, gossip, key_slot, BusRequest, Node, Topology, NONE, SLOTS};

/// A cluster command.
#[derive(Debug)]
pub enum Cmd {
    /// `CLUSTER <subcommand> args...`: validated when it runs, since in
    /// non-cluster mode every subcommand answers the same error first.
    Cluster(&'static str, Bytes, Vec<Bytes>),
    /// `READONLY`
    ReadOnly,
    /// `READWRITE`
    ReadWrite,
    /// `ASKING`
    Asking,
}

macro_rules! sub {
    ($name:literal) => {
        |a: Args<'_>| -> Result<Command, CmdError> {
            Ok(Command::Cluster(Cmd::Cluster(
                $name,
                a.typed_name(),
                a.rest(),
            )))
        }
    };
}

/// Table rows.
pub const ROWS: &[Row] = &[
    ("cluster|addslots", sub!("addslots")),
    ("cluster|addslotsrange", sub!("addslotsrange")),
    ("cluster|bumpepoch", sub!("bumpepoch")),
    (
        "cluster|count-failure-reports",
        sub!("count-failure-reports"),
    ),
    ("cluster|countkeysinslot", sub!("countkeysinslot")),
    ("cluster|delslots", sub!("delslots")),
    ("cluster|delslotsrange", sub!("delslotsrange")),
    ("cluster|failover", sub!("failover")),
    ("cluster|flushslots", sub!("flushslots")),
    ("cluster|forget", sub!("forget")),
    ("cluster|getkeysinslot", sub!("getkeysinslot")),
    ("cluster|help", sub!("help")),
    ("cluster|info", sub!("info")),
    ("cluster|keyslot", sub!("keyslot")),
    ("cluster|links", sub!("links")),
    ("cluster|meet", sub!("meet")),
    ("cluster|myid", sub!("myid")),
    ("cluster|nodes", sub!("nodes")),
    ("cluster|replicas", sub!("replicas")),
    ("cluster|replicate", sub!("replicate")),
    ("cluster|reset", sub!("reset")),
    ("cluster|saveconfig", sub!("saveconfig")),
    ("cluster|set-config-epoch", sub!("set-config-epoch")),
    ("cluster|setslot", sub!("setslot")),
    ("cluster|shards", sub!("shards")),
    ("cluster|slaves", sub!("slaves")),
    ("cluster|slots", sub!("slots")),
    ("readonly", |_| Ok(Command::Cluster(Cmd::ReadOnly))),
    ("readwrite", |_| Ok(Command::Cluster(Cmd::ReadWrite))),
    ("asking", |_| Ok(Command::Cluster(Cmd::Asking))),
];

/// `getSlotOrReply`: an integer in 0..16383.
fn slot_arg(b: &[u8]) -> Result<usize, CmdError> {
    parse_int(b)
        .ok()
        .and_then(|s| usize::try_from(s).ok())
        .filter(|&s| s < SLOTS)
        .ok_or(CmdError::Cluster(ClusterError::OutOfRangeSlot))
}

/// The keys of database 0 in `slot`, at most `limit`.
fn keys_in_slot<S: Store>(ctx: &Ctx<'_, S>, slot: usize, limit: usize) -> Vec<Bytes> {
    ctx.table[0].keys_in_slot(slot, limit)
}

/// Execute a cluster command.
pub fn execute<S: Store>(cmd: Cmd, ctx: &mut Ctx<'_, S>) -> Result<Reply, CmdError> {
    if !ctx.state.cluster.enabled {
        return Err(CmdError::Cluster(ClusterError::Disabled));
    }
    match cmd {
        Cmd::ReadOnly => {
            ctx.session.readonly = true;
            Ok(Frame::ok().into())
        }
        Cmd::ReadWrite => {
            ctx.session.readonly = false;
            Ok(Frame::ok().into())
        }
        Cmd::Asking => {
            ctx.session.asking = true;
            Ok(Frame::ok().into())
        }
        Cmd::Cluster(sub, typed, args) => {
            let reply = cluster(ctx, sub, typed, &args)?;
            // Redis saves the file before the reply leaves.
            ctx.state.cluster.save_if_dirty();
            Ok(reply.into())
        }
    }
}

fn cluster<S: Store>(
    ctx: &mut Ctx<'_, S>,
    sub: &'static str,
    typed: Bytes,
    a: &[Bytes],
) -> Result<Frame, CmdError> {
    let cluster = &ctx.state.cluster;
    let config = ctx.config.clone();
    let wrong_args = || CmdError::SubcommandSyntax(typed.clone(), Bytes::from_static(b"CLUSTER"));
    let now = crate::state::cluster::now_ms();
    match sub {
        "help" => Ok(super::help_reply(replies::HELP)),
        "info" => Ok(replies::info(&cluster.view())),
        "myid" => Ok(Frame::bulk(cluster.view().me().id.clone())),
        "nodes" => Ok(Frame::Verbatim(
            "txt",
            cluster.view().describe_all(true).into(),
        )),
        "slots" => Ok(replies::slots(&cluster.view())),
        "shards" => Ok(replies::shards(&cluster.view())),
        "links" => Ok(replies::links(&cluster.view())),
        "keyslot" => Ok(Frame::Integer(i64::from(key_slot(&a[0])))),
        "countkeysinslot" => {
            let slot = parse_int(&a[0])?;
            let slot = usize::try_from(slot)
                .ok()
                .filter(|&s| s < SLOTS)
                .ok_or(CmdError::Cluster(ClusterError::InvalidSlot))?;
            let count = ctx.table[0].count_in_slot(slot);
            Ok(Frame::Integer(count as i64))
        }
        "getkeysinslot" => {
            let (slot, count) = (parse_int(&a[0])?, parse_int(&a[1])?);
            let slot = usize::try_from(slot).ok().filter(|&s| s < SLOTS);
            let (Some(slot), Ok(count)) = (slot, usize::try_from(count)) else {
                return Err(CmdError::Cluster(ClusterError::InvalidSlotOrCount));
            };
            let keys = keys_in_slot(ctx, slot, count);
            Ok(Frame::Array(keys.into_iter().map(Frame::Bulk).collect()))
        }
        "addslots" | "delslots" | "addslotsrange" | "delslotsrange" => {
            let del = sub.starts_with("del");
            let slots = if sub.ends_with("range") {
                if a.len() % 2 == 1 {
                    return Err(CmdError::WrongArity(if del {
                        "cluster|delslotsrange"
                    } else {
                        "cluster|addslotsrange"
                    }));
                }
                let mut slots = Vec::new();
                for pair in a.chunks(2) {
                    let (start, end) = (slot_arg(&pair[0])?, slot_arg(&pair[1])?);
                    if start > end {
                        return Err(CmdError::Cluster(ClusterError::RangeOrder(
                            start as u16,
                            end as u16,
                        )));
                    }
                    slots.extend(start..=end);
                }
                slots
            } else {
                a.iter()
                    .map(|s| slot_arg(s))
                    .collect::<Result<Vec<_>, _>>()?
            };
            cluster.update(&config, |t| (change_slots(t, &slots, del), true))?;
            Ok(Frame::ok())
        }
        "flushslots" => {
            if !ctx.access(&ctx.table[0]).is_empty() {
                return Err(CmdError::Cluster(ClusterError::FlushSlotsNotEmpty));
            }
            cluster.update(&config, |t| {
                for slot in 0..SLOTS {
                    if t.slots[slot] == t.myself as u32 {
                        t.unassign(slot);
                    }
                }
                ((), true)
            });
            Ok(Frame::ok())
        }
        "setslot" => setslot(ctx, a),
        "meet" => {
            if a.len() > 3 {
                return Err(wrong_args());
            }
            let port_of = |b: &Bytes| parse_int(b).ok();
            let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
            let port = port_of(&a[1])
                .ok_or_else(|| CmdError::Cluster(ClusterError::BadPort(text(&a[1]))))?;
            let cport = match a.get(2) {
                Some(c) => port_of(c)
                    .ok_or_else(|| CmdError::Cluster(ClusterError::BadBusPort(text(c))))?,
                None => port + 10_000,
            };
            let ip = std::str::from_utf8(&a[0])
                .ok()
                .and_then(|s| s.parse::<std::net::IpAddr>().ok());
            let valid = |p: i64| (1..=65535).contains(&p);
            let (Some(ip), true, true) = (ip, valid(port), valid(cport)) else {
                return Err(CmdError::Cluster(ClusterError::BadAddress(
                    text(&a[0]),
                    text(&a[1]),
                )));
            };
            cluster.update(&config, |t| {
                gossip::start_handshake(t, &ip.to_string(), port as u16, cport as u16, now);
                ((), false)
            });
            Ok(Frame::ok())
        }
        "forget" => {
            let id = String::from_utf8_lossy(&a[0]).into_owned();
            cluster
                .update(&config, |t| {
                    let result = match t.find(&id) {
                        None => Err(ClusterError::UnknownNode(id.clone())),
                        Some(i) if i == t.myself => Err(ClusterError::ForgetMyself),
                        Some(i) => {
                            // Kept out of gossip for a minute (Redis's blacklist).
                            t.forgotten.insert(id.clone(), now + 60_000);
                            t.remove(i);
                            Ok(())
                        }
                    };
                    let ok = result.is_ok();
                    (result, ok)
                })
                .map_err(CmdError::Cluster)?;
            Ok(Frame::ok())
        }
        "count-failure-reports" => {
            let id = String::from_utf8_lossy(&a[0]).into_owned();
            let timeout = config.cluster.node_timeout;
            let t = cluster.view();
            let i = t
                .find(&id)
                .ok_or(CmdError::Cluster(ClusterError::UnknownNode(id)))?;
            let valid = t
                .node(i)
                .fail_reports
                .values()
                .filter(|&&at| Node::report_valid(at, now, timeout))
                .count();
            Ok(Frame::Integer(valid as i64))
        }
        "replicas" | "slaves" => {
            let id = String::from_utf8_lossy(&a[0]).into_owned();
            let t = cluster.view();
            let i = t
                .find(&id)
                .ok_or(CmdError::Cluster(ClusterError::UnknownNode(id)))?;
            if !t.node(i).is(flag::MASTER) {
                return Err(CmdError::Cluster(ClusterError::NotAMaster));
            }
            Ok(Frame::Array(Vec::new()))
        }
        "replicate" => {
            let id = String::from_utf8_lossy(&a[0]).into_owned();
            let t = cluster.view();
            match t.find(&id) {
                None => Err(CmdError::Cluster(ClusterError::UnknownNode(id))),
                Some(i) if i == t.myself => Err(CmdError::Cluster(ClusterError::ReplicateMyself)),
                Some(_) => Err(CmdError::Cluster(ClusterError::NoReplication)),
            }
        }
        "failover" => {
            match a {
                [] => {}
                [opt] if is(opt, "FORCE") || is(opt, "TAKEOVER") => {}
                [_] => return Err(CmdError::Syntax),
                _ => return Err(wrong_args()),
            }
            Err(CmdError::Cluster(ClusterError::FailoverOnMaster))
        }
        "reset" => {
            let hard = match a {
                [] => false,
                [opt] if is(opt, "HARD") => true,
                [opt] if is(opt, "SOFT") => false,
                [_] => return Err(CmdError::Syntax),
                _ => return Err(wrong_args()),
            };
            if !ctx.access(&ctx.table[0]).is_empty() {
                return Err(CmdError::Cluster(ClusterError::ResetWithKeys));
            }
            cluster.update(&config, |t| {
                reset(t, hard, now);
                ((), true)
            });
            Ok(Frame::ok())
        }
        "saveconfig" => match cluster.save_now() {
            Ok(()) => Ok(Frame::ok()),
            Err(e) => Err(CmdError::Cluster(ClusterError::SaveConfig(e.to_string()))),
        },
        "set-config-epoch" => {
            let epoch = parse_int(&a[0])?;
            cluster
                .update(&config, |t| {
                    let result = if epoch < 0 {
                        Err(ClusterError::InvalidEpoch(epoch))
                    } else if t.live().count() > 1 {
                        Err(ClusterError::EpochKnowsOthers)
                    } else if t.me().config_epoch != 0 {
                        Err(ClusterError::EpochNonZero)
                    } else {
                        t.me_mut().config_epoch = epoch as u64;
                        t.current_epoch = t.current_epoch.max(epoch as u64);
                        Ok(())
                    };
                    let ok = result.is_ok();
                    (result, ok)
                })
                .map_err(CmdError::Cluster)?;
            Ok(Frame::ok())
        }
        "bumpepoch" => {
            let (bumped, epoch) = cluster.update(&config, |t| {
                let bumped = bump_epoch(t);
                ((bumped, t.me().config_epoch), bumped)
            });
            let word = if bumped { "BUMPED" } else { "STILL" };
            Ok(Frame::Simple(format!("{word} {epoch}").into()))
        }
        _ => Err(wrong_args()),
    }
}

/// ADDSLOTS/DELSLOTS (and the range forms): every slot is checked before
/// any changes, in Redis's order (busy or unassigned, then repeated).
fn change_slots(t: &mut Topology, slots: &[usize], del: bool) -> Result<(), CmdError> {
    let mut seen = vec![false; SLOTS];
    for &slot in slots {
        let owned = t.slots[slot] != NONE;
        if del && !owned {
            return Err(CmdError::Cluster(ClusterError::SlotUnassigned(slot as u16)));
        }
        if !del && owned {
            return Err(CmdError::Cluster(ClusterError::SlotBusy(slot as u16)));
        }
        if std::mem::replace(&mut seen[slot], true) {
            return Err(CmdError::Cluster(ClusterError::SlotRepeated(slot as u16)));
        }
    }
    for &slot in slots {
        t.importing.remove(&(slot as u16));
        if del {
            t.unassign(slot);
        } else {
            let me = t.myself;
            t.assign(slot, me);
        }
    }
    Ok(())
}

/// `clusterBumpConfigEpochWithoutConsensus`: take a new epoch unless ours
/// is already the greatest. True when bumped.
pub fn bump_epoch(t: &mut Topology) -> bool {
    let greatest = t
        .live()
        .map(|(_, n)| n.config_epoch)
        .max()
        .unwrap_or(0)
        .max(t.current_epoch);
    if t.me().config_epoch == 0 || t.me().config_epoch != greatest {
        t.current_epoch += 1;
        let epoch = t.current_epoch;
        t.me_mut().config_epoch = epoch;
        return true;
    }
    false
}

/// CLUSTER RESET: forget every other node and every slot; HARD also takes
/// a new name and zeroes the epochs.
fn reset(t: &mut Topology, hard: bool, now: u64) {
    t.migrating.clear();
    t.importing.clear();
    for slot in 0..SLOTS {
        t.unassign(slot);
    }
    let others: Vec<usize> = t
        .live()
        .map(|(i, _)| i)
        .filter(|&i| i != t.myself)
        .collect();
    for i in others {
        t.remove(i);
    }
    if hard {
        t.current_epoch = 0;
        t.last_vote_epoch = 0;
        let me = t.me_mut();
        me.config_epoch = 0;
        me.id = crate::state::random_name();
        me.ctime = now;
    }
}

/// CLUSTER SETSLOT slot IMPORTING|MIGRATING|STABLE|NODE.
fn setslot<S: Store>(ctx: &mut Ctx<'_, S>, a: &[Bytes]) -> Result<Frame, CmdError> {
    let slot = slot_arg(&a[0])?;
    let action = &a[1];
    let id = a.get(2).map(|b| String::from_utf8_lossy(b).into_owned());
    let keys = keys_in_slot(ctx, slot, 1).len();
    let config = ctx.config.clone();
    let s = slot as u16;
    let result = ctx.state.cluster.update(&config, |t| {
        let me = t.myself;
        let target = |t: &Topology, unknown: fn(String) -> ClusterError| {
            let id = id.clone().unwrap_or_default();
            let i = t.find(&id).ok_or_else(|| unknown(id))?;
            if !t.node(i).is(flag::MASTER) {
                return Err(ClusterError::TargetNotMaster);
            }
            Ok(i)
        };
        let result = match (a.len(), action) {
            (3, act) if is(act, "MIGRATING") => {
                if t.slots[slot] != me as u32 {
                    Err(ClusterError::NotOwner(s))
                } else {
                    target(t, ClusterError::DontKnowNode).map(|n| {
                        t.migrating.insert(s, n);
                    })
                }
            }
            (3, act) if is(act, "IMPORTING") => {
                if t.slots[slot] == me as u32 {
                    Err(ClusterError::AlreadyOwner(s))
                } else {
                    target(t, ClusterError::DontKnowNode).map(|n| {
                        t.importing.insert(s, n);
                    })
                }
            }
            (2, act) if is(act, "STABLE") => {
                t.importing.remove(&s);
                t.migrating.remove(&s);
                Ok(())
            }
            (3, act) if is(act, "NODE") => target(t, ClusterError::UnknownNode).and_then(|n| {
                if t.slots[slot] == me as u32 && n != me && keys > 0 {
                    return Err(ClusterError::HoldsKeys(s));
                }
                if keys == 0 {
                    t.migrating.remove(&s);
                }
                t.assign(slot, n);
                if n == me && t.importing.remove(&s).is_some() {
                    // A slot moved by hand: a new epoch makes the new owner
                    // win everywhere; the bus tells everyone at once.
                    bump_epoch(t);
                    ctx.state.cluster.to_bus(BusRequest::PongAll);
                }
                Ok(())
            }),
            _ => Err(ClusterError::SetSlotSyntax),
        };
        let ok = result.is_ok();
        (result, ok)
    });
    result.map_err(CmdError::Cluster)?;
    Ok(Frame::ok())
}
