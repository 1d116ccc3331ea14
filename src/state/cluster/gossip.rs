//! The bus protocol's rules, as Redis 7.0's `clusterProcessPacket` and
//! `clusterCron` apply them: the MEET handshake, renaming a node once its
//! first PONG tells its real name, gossip that introduces nodes to each
//! other, slot claims settled by config epoch, failure detection (PFAIL by
//! timeout, FAIL by a majority of masters' reports) and UPDATE for stale
//! claimants. Pure functions over a [`Topology`]: the caller (the bus in
//! the server layer) does the I/O the returned [`Outcome`] asks for.

use super::msg::{kind, Body, Gossip, Header, Message, STATE_OK};
use super::slots::SLOTS;
use super::topology::{flag, Node, SlotSet, Topology, NONE};

/// Which link a message arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// A connection the peer opened (we answer PINGs and MEETs on it).
    Inbound,
    /// Our connection to the node at this index.
    Outbound(usize),
}

/// Timing the rules need.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// `cluster-node-timeout`, ms.
    pub node_timeout: u64,
    /// Now, ms since the Unix epoch.
    pub now: u64,
}

impl Timing {
    fn handshake_timeout(&self) -> u64 {
        self.node_timeout.max(1000)
    }
}

/// What the bus must do after a message or a cron tick.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Send back on the link the message came from.
    pub reply: Option<Message>,
    /// Send to these nodes (by index) on our links to them.
    pub send: Vec<(usize, Message)>,
    /// Send to every node we have a link to.
    pub broadcast: Vec<Message>,
    /// Deliver locally: a PUBLISH from another node.
    pub publish: Option<(Vec<u8>, Vec<u8>)>,
    /// Slots this node lost while holding keys in them: delete those keys.
    pub dirty_slots: Vec<usize>,
    /// Close the link the message came from.
    pub close: bool,
    /// Close our links to these nodes (they will be reopened).
    pub drop_links: Vec<usize>,
    /// The configuration file must be saved.
    pub persist: bool,
}

/// The header every message of this node starts with
/// (`clusterBuildMessageHdr`).
pub fn header(t: &Topology, kind: u16) -> Header {
    let me = t.me();
    Header {
        port: me.port,
        kind,
        count: 0,
        current_epoch: t.current_epoch,
        config_epoch: me.config_epoch,
        sender: me.id.clone(),
        slots: me.slots.clone(),
        slaveof: String::new(),
        ip: me.ip.clone(),
        cport: me.cport,
        flags: me.flags,
        state: if t.ok { STATE_OK } else { 1 },
    }
}

fn gossip_of(n: &Node) -> Gossip {
    Gossip {
        id: n.id.clone(),
        ping_sent: (n.ping_sent / 1000) as u32,
        pong_received: (n.pong_received / 1000) as u32,
        ip: n.ip.clone(),
        port: n.port,
        cport: n.cport,
        flags: n.flags,
    }
}

/// A PING, PONG or MEET (`clusterSendPing`): gossip about a tenth of the
/// known nodes (at least three), never the receiver or nodes in handshake
/// or without an address, plus every node we suspect.
pub fn ping(t: &Topology, kind: u16, to: Option<usize>, rng: &mut u64) -> Message {
    let candidates: Vec<usize> = t
        .live()
        .filter(|(i, n)| {
            *i != t.myself && Some(*i) != to && !n.is(flag::HANDSHAKE | flag::NOADDR | flag::PFAIL)
        })
        .map(|(i, _)| i)
        .collect();
    let known = t.live().count();
    let wanted = (known / 10).max(3).min(candidates.len());
    let mut chosen: Vec<usize> = Vec::new();
    let mut pool = candidates;
    while chosen.len() < wanted && !pool.is_empty() {
        let pick = (next(rng) % pool.len() as u64) as usize;
        chosen.push(pool.swap_remove(pick));
    }
    chosen.extend(
        t.live()
            .filter(|(i, n)| n.is(flag::PFAIL) && Some(*i) != to)
            .map(|(i, _)| i),
    );
    let entries: Vec<Gossip> = chosen.iter().map(|&i| gossip_of(t.node(i))).collect();
    let mut h = header(t, kind);
    h.count = entries.len() as u16;
    Message {
        header: h,
        body: Body::Gossip(entries),
    }
}

/// xorshift64*: the bus's choices need no quality beyond "not always the
/// same node".
pub fn next(state: &mut u64) -> u64 {
    let mut x = *state | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Start a handshake with `ip:port@cport` (`clusterStartHandshake`): a
/// node with a random name that we will MEET. False when one is already
/// in progress for that address.
pub fn start_handshake(t: &mut Topology, ip: &str, port: u16, cport: u16, now: u64) -> bool {
    let busy = t
        .live()
        .any(|(_, n)| n.is(flag::HANDSHAKE) && n.ip == ip && n.port == port && n.cport == cport);
    if busy {
        return false;
    }
    t.add(Node::new(
        crate::state::random_name(),
        ip.to_string(),
        port,
        cport,
        flag::HANDSHAKE | flag::MEET,
        now,
    ));
    true
}

/// Take the slots `claimed` for `sender` where its `epoch` wins
/// (`clusterUpdateSlotsConfigWith`); slots being imported stay as they
/// are. Returns the slots this node lost that may hold keys.
fn update_slots(t: &mut Topology, sender: usize, epoch: u64, claimed: &SlotSet) -> Vec<usize> {
    let mut lost = Vec::new();
    if sender == t.myself {
        return lost;
    }
    for slot in 0..SLOTS {
        if !claimed.has(slot) {
            continue;
        }
        let owner = t.slots[slot];
        if owner == sender as u32 || t.importing.contains_key(&(slot as u16)) {
            continue;
        }
        let wins = owner == NONE
            || t.nodes[owner as usize]
                .as_ref()
                .is_none_or(|o| o.config_epoch < epoch);
        if wins {
            if owner == t.myself as u32 {
                lost.push(slot);
                t.migrating.remove(&(slot as u16));
            }
            t.assign(slot, sender);
        }
    }
    lost
}

/// Our config epoch equals a master's and its name sorts after ours
/// (`clusterHandleConfigEpochCollision`): take a new epoch.
fn settle_epoch_collision(t: &mut Topology, sender: usize) -> bool {
    let (s, me) = (t.node(sender), t.me());
    if s.config_epoch != me.config_epoch
        || !s.is(flag::MASTER)
        || !me.is(flag::MASTER)
        || s.id.as_bytes() <= me.id.as_bytes()
    {
        return false;
    }
    t.current_epoch += 1;
    let epoch = t.current_epoch;
    t.me_mut().config_epoch = epoch;
    true
}

/// Count `reporter`'s view of `node` and mark it FAIL when a majority of
/// the masters serving slots agree (`markNodeAsFailingIfNeeded`).
fn maybe_fail(t: &mut Topology, node: usize, time: Timing, out: &mut Outcome) {
    let quorum = t.size() / 2 + 1;
    let now = time.now;
    let n = t.node_mut(node);
    n.fail_reports
        .retain(|_, &mut at| Node::report_valid(at, now, time.node_timeout));
    if !n.is(flag::PFAIL) || n.is(flag::FAIL) {
        return;
    }
    let me_master = t.me().is(flag::MASTER);
    let n = t.node_mut(node);
    let votes = n.fail_reports.len() + usize::from(me_master);
    if votes < quorum {
        return;
    }
    n.flags = (n.flags & !flag::PFAIL) | flag::FAIL;
    n.fail_time = now;
    let id = n.id.clone();
    let mut h = header(t, kind::FAIL);
    h.count = 0;
    out.broadcast.push(Message {
        header: h,
        body: Body::Fail(id),
    });
    out.persist = true;
}

/// A node we had marked FAIL answers again (`clearNodeFailureIfNeeded`):
/// one without slots at once, a master with slots after twice the node
/// timeout (nobody took its slots).
fn maybe_clear_fail(t: &mut Topology, node: usize, time: Timing) -> bool {
    let n = t.node_mut(node);
    if !n.is(flag::FAIL) {
        return false;
    }
    let serving = n.is(flag::MASTER) && n.slots.count() > 0;
    if !serving || time.now.saturating_sub(n.fail_time) > time.node_timeout * 2 {
        n.flags &= !flag::FAIL;
        return true;
    }
    false
}

fn gossip_section(
    t: &mut Topology,
    sender: Option<usize>,
    entries: &[Gossip],
    time: Timing,
    out: &mut Outcome,
) {
    let reporter = sender
        .filter(|&s| t.node(s).is(flag::MASTER))
        .map(|s| t.node(s).id.clone());
    for g in entries {
        match t.find(&g.id) {
            Some(i) => {
                if let (Some(by), false) = (&reporter, i == t.myself) {
                    if g.flags & (flag::FAIL | flag::PFAIL) != 0 {
                        t.node_mut(i).fail_reports.insert(by.clone(), time.now);
                        maybe_fail(t, i, time, out);
                    } else {
                        t.node_mut(i).fail_reports.remove(by);
                    }
                }
                let n = t.node_mut(i);
                let pong = u64::from(g.pong_received) * 1000;
                if g.flags & (flag::FAIL | flag::PFAIL) == 0
                    && n.ping_sent == 0
                    && n.fail_reports.is_empty()
                    && pong > n.pong_received
                    && pong <= time.now + 500
                {
                    n.pong_received = pong;
                }
                // An unreachable node seen at a new address by someone who
                // can reach it: follow it there.
                if n.is(flag::FAIL | flag::PFAIL)
                    && g.flags & (flag::NOADDR | flag::FAIL | flag::PFAIL) == 0
                    && (n.ip != g.ip || n.port != g.port || n.cport != g.cport)
                {
                    n.ip = g.ip.clone();
                    n.port = g.port;
                    n.cport = g.cport;
                    n.flags &= !flag::NOADDR;
                    out.drop_links.push(i);
                }
            }
            None => {
                // Gossip from a known node introduces the others by their
                // real names (7.0 never starts a handshake from gossip).
                let forgotten = t
                    .forgotten
                    .get(&g.id)
                    .is_some_and(|&until| until > time.now);
                if sender.is_some()
                    && g.flags & flag::NOADDR == 0
                    && !forgotten
                    && super::conf::valid_name(&g.id)
                {
                    let flags = g.flags & !(flag::MYSELF | flag::HANDSHAKE | flag::MEET);
                    t.add(Node::new(
                        g.id.clone(),
                        g.ip.clone(),
                        g.port,
                        g.cport,
                        flags,
                        time.now,
                    ));
                    out.persist = true;
                }
            }
        }
    }
}

/// Act on one message (`clusterProcessPacket`). `peer_ip` is the address
/// the message came from; `local_ip` the address it reached us on (how a
/// node learns its own address when it is met).
pub fn process(
    t: &mut Topology,
    msg: Message,
    link: Link,
    peer_ip: &str,
    local_ip: &str,
    time: Timing,
    rng: &mut u64,
) -> Outcome {
    let mut out = Outcome::default();
    let h = &msg.header;
    let k = h.kind;
    if let Some(slot) = t.received.get_mut(usize::from(k)) {
        *slot += 1;
    }
    let sender = t
        .find(&h.sender)
        .filter(|&i| !t.node(i).is(flag::HANDSHAKE));
    if let Some(s) = sender {
        t.node_mut(s).data_received = time.now;
        if h.current_epoch > t.current_epoch {
            t.current_epoch = h.current_epoch;
            out.persist = true;
        }
        let n = t.node_mut(s);
        if h.config_epoch > n.config_epoch {
            n.config_epoch = h.config_epoch;
            out.persist = true;
        }
    }
    let node_of_link = match link {
        Link::Outbound(i) => t.nodes.get(i).and_then(Option::as_ref).map(|_| i),
        Link::Inbound => None,
    };

    if k == kind::PING || k == kind::MEET {
        // Learn our own address from the connection the MEET arrived on.
        if (k == kind::MEET || t.me().ip.is_empty())
            && !local_ip.is_empty()
            && t.me().ip != local_ip
        {
            t.me_mut().ip = local_ip.to_string();
            out.persist = true;
        }
        if sender.is_none() && k == kind::MEET {
            let ip = if h.ip.is_empty() { peer_ip } else { &h.ip };
            t.add(Node::new(
                crate::state::random_name(),
                ip.to_string(),
                h.port,
                h.cport,
                flag::HANDSHAKE,
                time.now,
            ));
            // A MEET is trusted: its gossip introduces the others.
            if let Body::Gossip(entries) = &msg.body {
                gossip_section(t, None, entries, time, &mut out);
            }
            out.persist = true;
        }
        let pong = ping(t, kind::PONG, sender, rng);
        t.sent[usize::from(kind::PONG)] += 1;
        out.reply = Some(pong);
    }

    if k == kind::PING || k == kind::PONG || k == kind::MEET {
        if let Some(i) = node_of_link {
            if t.node(i).is(flag::HANDSHAKE) {
                if let Some(known) = sender {
                    // Met someone we already know by name: it may have a
                    // new address; the handshake entry goes.
                    let n = t.node_mut(known);
                    let ip = if h.ip.is_empty() { peer_ip } else { &h.ip };
                    if n.ip != ip || n.port != h.port || n.cport != h.cport {
                        n.ip = ip.to_string();
                        n.port = h.port;
                        n.cport = h.cport;
                        out.drop_links.push(known);
                        out.persist = true;
                    }
                    t.remove(i);
                    out.close = true;
                    return out;
                }
                // The handshake is done: the node has its real name.
                let n = t.node_mut(i);
                n.id = h.sender.clone();
                n.flags &= !(flag::HANDSHAKE | flag::MEET);
                n.flags |= h.flags & (flag::MASTER | flag::SLAVE);
                if n.flags & (flag::MASTER | flag::SLAVE) == 0 {
                    n.flags |= flag::MASTER;
                }
                out.persist = true;
            } else if t.node(i).id != h.sender {
                // The address now answers with another name.
                t.node_mut(i).flags |= flag::NOADDR;
                t.node_mut(i).ip.clear();
                out.close = true;
                out.persist = true;
                return out;
            }
        }
        if let (Some(i), true) = (node_of_link, k == kind::PONG) {
            let n = t.node_mut(i);
            n.pong_received = time.now;
            n.ping_sent = 0;
            if n.is(flag::PFAIL) {
                n.flags &= !flag::PFAIL;
            } else if maybe_clear_fail(t, i, time) {
                out.persist = true;
            }
        }
        // Refresh the sender's address from a PING (it may have moved).
        if let (Some(s), true) = (sender, k == kind::PING) {
            let ip = if h.ip.is_empty() { peer_ip } else { &h.ip };
            let n = t.node_mut(s);
            if !ip.is_empty() && (n.ip != ip || n.port != h.port || n.cport != h.cport) {
                n.ip = ip.to_string();
                n.port = h.port;
                n.cport = h.cport;
                n.flags &= !flag::NOADDR;
                out.drop_links.push(s);
                out.persist = true;
            }
        }
        if let Some(s) = sender {
            if h.flags & flag::MASTER != 0 && !t.node(s).is(flag::MASTER) {
                let n = t.node_mut(s);
                n.flags = (n.flags & !flag::SLAVE) | flag::MASTER;
                out.persist = true;
            }
            let dirty = t.node(s).slots != h.slots;
            if dirty && t.node(s).is(flag::MASTER) {
                let lost = update_slots(t, s, h.config_epoch, &h.slots);
                out.dirty_slots.extend(lost);
                out.persist = true;
            }
            if dirty {
                // The sender claims slots someone newer owns: tell it.
                let newer = (0..SLOTS).filter(|&j| h.slots.has(j)).find_map(|j| {
                    let o = t.slots[j];
                    (o != NONE && o != s as u32)
                        .then_some(o as usize)
                        .filter(|&o| t.node(o).config_epoch > h.config_epoch)
                });
                if let Some(o) = newer {
                    let n = t.node(o);
                    let body = Body::Update {
                        config_epoch: n.config_epoch,
                        id: n.id.clone(),
                        slots: n.slots.clone(),
                    };
                    out.send.push((
                        s,
                        Message {
                            header: header(t, kind::UPDATE),
                            body,
                        },
                    ));
                }
            }
            if settle_epoch_collision(t, s) {
                out.persist = true;
            }
            if let Body::Gossip(entries) = &msg.body {
                gossip_section(t, Some(s), entries, time, &mut out);
            }
        }
    } else if k == kind::FAIL {
        if let (Some(_), Body::Fail(id)) = (sender, &msg.body) {
            if let Some(i) = t.find(id) {
                let n = t.node_mut(i);
                if !n.is(flag::FAIL | flag::MYSELF) {
                    n.flags = (n.flags & !flag::PFAIL) | flag::FAIL;
                    n.fail_time = time.now;
                    out.persist = true;
                }
            }
        }
    } else if k == kind::UPDATE {
        if let (
            Some(_),
            Body::Update {
                config_epoch,
                id,
                slots,
            },
        ) = (sender, &msg.body)
        {
            if let Some(i) = t.find(id) {
                if t.node(i).config_epoch < *config_epoch {
                    t.node_mut(i).config_epoch = *config_epoch;
                    let lost = update_slots(t, i, *config_epoch, slots);
                    out.dirty_slots.extend(lost);
                    out.persist = true;
                }
            }
        }
    } else if k == kind::PUBLISH {
        if let (Some(_), Body::Publish(c, m)) = (sender, msg.body) {
            out.publish = Some((c, m));
        }
    }
    out
}

mod cron;

pub use cron::{cron, greeting, Tick};

#[cfg(test)]
mod tests;
