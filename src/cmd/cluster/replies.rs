//! The longer CLUSTER replies: HELP, INFO, SLOTS, SHARDS, LINKS.

use std::fmt::Write as _;

use crate::protocol::Frame;
use crate::state::cluster::msg::kind;
use crate::state::cluster::{flag, Node, Topology, NONE, SLOTS};

/// CLUSTER HELP, as Redis 7.0.15 prints it.
pub const HELP: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
    "HELP",
    "    Prints this help.",
];

/// CLUSTER INFO, in Redis's field order.
pub fn info(t: &Topology) -> Frame {
    let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
    for &owner in t.slots.iter() {
        if owner == NONE {
            continue;
        }
        assigned += 1;
        let Some(n) = t.nodes[owner as usize].as_ref() else {
            continue;
        };
        if n.is(flag::FAIL) {
            fail += 1;
        } else if n.is(flag::PFAIL) {
            pfail += 1;
        } else {
            ok += 1;
        }
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\n\
         cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\n\
         cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        if t.ok { "ok" } else { "fail" },
        t.live().count(),
        t.shown_size,
        t.current_epoch,
        t.me().config_epoch,
    );
    for (counts, dir) in [(&t.sent, "sent"), (&t.received, "received")] {
        for (k, &n) in counts.iter().enumerate() {
            if n > 0 {
                let _ = write!(s, "cluster_stats_messages_{}_{dir}:{n}\r\n", kind::NAMES[k]);
            }
        }
        let total: u64 = counts.iter().sum();
        let _ = write!(s, "cluster_stats_messages_{dir}:{total}\r\n");
    }
    s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    Frame::Verbatim("txt", s.into())
}

/// A node as CLUSTER SLOTS lists it: ip, port, name, and a map of extra
/// addresses (empty: the preferred endpoint is the ip, no hostname).
fn slot_node(n: &Node) -> Frame {
    Frame::Array(vec![
        Frame::bulk(n.ip.clone()),
        Frame::Integer(i64::from(n.port)),
        Frame::bulk(n.id.clone()),
        Frame::Map(Vec::new()),
    ])
}

/// CLUSTER SLOTS: runs of consecutive slots with one owner.
pub fn slots(t: &Topology) -> Frame {
    let mut out = Vec::new();
    let mut start = 0;
    while start < SLOTS {
        let owner = t.slots[start];
        let mut end = start;
        while end + 1 < SLOTS && t.slots[end + 1] == owner {
            end += 1;
        }
        if let Some(n) = (owner != NONE)
            .then(|| t.nodes[owner as usize].as_ref())
            .flatten()
        {
            out.push(Frame::Array(vec![
                Frame::Integer(start as i64),
                Frame::Integer(end as i64),
                slot_node(n),
            ]));
        }
        start = end + 1;
    }
    Frame::Array(out)
}

fn text(s: &str) -> Frame {
    Frame::bulk(s.to_string())
}

/// CLUSTER SHARDS: every master, its slot ranges and itself (replicas
/// would follow it).
pub fn shards(t: &Topology) -> Frame {
    let shards = t
        .live()
        .filter(|(_, n)| n.is(flag::MASTER))
        .map(|(_, n)| {
            let ranges = n
                .slots
                .ranges()
                .into_iter()
                .flat_map(|(a, b)| [Frame::Integer(i64::from(a)), Frame::Integer(i64::from(b))])
                .collect();
            let health = if n.is(flag::FAIL) { "fail" } else { "online" };
            let mut node = vec![(text("id"), text(&n.id))];
            if n.port != 0 {
                node.push((text("port"), Frame::Integer(i64::from(n.port))));
            }
            node.extend([
                (text("ip"), text(&n.ip)),
                (text("endpoint"), text(&n.ip)),
                (text("role"), text("master")),
                (text("replication-offset"), Frame::Integer(0)),
                (text("health"), text(health)),
            ]);
            Frame::Map(vec![
                (text("slots"), Frame::Array(ranges)),
                (text("nodes"), Frame::Array(vec![Frame::Map(node)])),
            ])
        })
        .collect();
    Frame::Array(shards)
}

/// CLUSTER LINKS: our link to each node and each node's link to us.
pub fn links(t: &Topology) -> Frame {
    let link = |direction: &str, n: &Node, since: u64| {
        Frame::Map(vec![
            (text("direction"), text(direction)),
            (text("node"), text(&n.id)),
            (text("create-time"), Frame::Integer(since as i64)),
            (text("events"), text("r")),
            (text("send-buffer-allocated"), Frame::Integer(0)),
            (text("send-buffer-used"), Frame::Integer(0)),
        ])
    };
    let mut out = Vec::new();
    for (i, n) in t.live() {
        if i == t.myself {
            continue;
        }
        if n.linked {
            out.push(link("to", n, n.link_since));
        }
        if n.inbound_since != 0 {
            out.push(link("from", n, n.inbound_since));
        }
    }
    Frame::Array(out)
}
