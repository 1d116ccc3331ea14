//! `clusterCron`'s rules: expire handshakes, open links, ping the nodes
//! not heard from lately, suspect the silent ones.

use super::{next, ping, Timing};
use crate::state::cluster::msg::{kind, Message};
use crate::state::cluster::topology::{flag, Topology};

/// What the 100 ms cron found to do.
#[derive(Debug, Default)]
pub struct Tick {
    /// Open links to these nodes (by index); the first message is a MEET
    /// when the node's MEET flag is set, else a PING.
    pub connect: Vec<usize>,
    /// PINGs (or MEETs) to send on existing links.
    pub send: Vec<(usize, Message)>,
    /// Close these links (stalled).
    pub drop_links: Vec<usize>,
    /// Something changed that the file must keep.
    pub persist: bool,
}

/// The first message on a new link to node `i`: MEET (and the flag is
/// cleared) or PING; either marks a ping as pending.
pub fn greeting(t: &mut Topology, i: usize, time: Timing, rng: &mut u64) -> Message {
    let meet = t.node(i).is(flag::MEET);
    let k = if meet { kind::MEET } else { kind::PING };
    let msg = ping(t, k, Some(i), rng);
    let n = t.node_mut(i);
    n.flags &= !flag::MEET;
    // Only a PING leaves one pending, and an older pending one stands.
    if !meet && n.ping_sent == 0 {
        n.ping_sent = time.now;
    }
    t.sent[usize::from(k)] += 1;
    msg
}

/// One run of `clusterCron` (`iteration` counts runs: every tenth pings
/// the node we heard from least recently among five random ones).
pub fn cron(t: &mut Topology, iteration: u64, time: Timing, rng: &mut u64) -> Tick {
    let mut tick = Tick::default();
    let now = time.now;
    let expired: Vec<usize> = t
        .live()
        .filter(|(_, n)| {
            n.is(flag::HANDSHAKE) && now.saturating_sub(n.ctime) > time.handshake_timeout()
        })
        .map(|(i, _)| i)
        .collect();
    for i in expired {
        t.remove(i);
    }
    t.forgotten.retain(|_, until| *until > now);
    let others: Vec<usize> = t
        .live()
        .filter(|(i, n)| *i != t.myself && !n.is(flag::NOADDR))
        .map(|(i, _)| i)
        .collect();
    for &i in &others {
        if !t.node(i).linked {
            tick.connect.push(i);
        }
    }
    if iteration % 10 == 0 {
        let ready: Vec<usize> = others
            .iter()
            .copied()
            .filter(|&i| {
                let n = t.node(i);
                n.linked && n.ping_sent == 0 && !n.is(flag::HANDSHAKE)
            })
            .collect();
        let oldest = (0..5)
            .filter(|_| !ready.is_empty())
            .map(|_| ready[(next(rng) % ready.len() as u64) as usize])
            .min_by_key(|&i| t.node(i).pong_received);
        if let Some(i) = oldest {
            let msg = greeting(t, i, time, rng);
            tick.send.push((i, msg));
        }
    }
    for &i in &others {
        let n = t.node(i);
        if n.is(flag::HANDSHAKE) || !n.linked {
            if n.ping_sent != 0 && !n.is(flag::HANDSHAKE) {
                mark_pfail_if_late(t, i, time);
            }
            continue;
        }
        let half = time.node_timeout / 2;
        if n.ping_sent != 0
            && now.saturating_sub(n.ping_sent) > half
            && now.saturating_sub(n.data_received) > half
        {
            // A link that stalled: reconnect (the pending ping stays).
            tick.drop_links.push(i);
        }
        let n = t.node(i);
        if n.ping_sent == 0 && now.saturating_sub(n.pong_received) > half {
            let msg = greeting(t, i, time, rng);
            tick.send.push((i, msg));
            continue;
        }
        mark_pfail_if_late(t, i, time);
    }
    tick
}

fn mark_pfail_if_late(t: &mut Topology, i: usize, time: Timing) {
    let n = t.node_mut(i);
    if n.ping_sent == 0 || n.is(flag::PFAIL | flag::FAIL) {
        return;
    }
    let delay = time
        .now
        .saturating_sub(n.ping_sent)
        .min(time.now.saturating_sub(n.data_received));
    if delay > time.node_timeout {
        n.flags |= flag::PFAIL;
    }
}
