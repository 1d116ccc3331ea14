//! Bytes on the cluster bus port, through the message reader's framing,
//! the decoder and the rules that act on a message.
//!
//! Input layout: byte 0 picks the link (bit 0: outbound to the known node,
//! else inbound) and how many cron runs follow each message (bits 1-2);
//! the rest is a byte stream cut into messages as the bus reader cuts it
//! (signature and announced length first: a bad one ends the stream, as it
//! closes the link). Each message that decodes is processed by a node that
//! already knows one other node and has one handshake under way.
//!
//! Checked: nothing panics; a decoded message encodes to bytes that decode
//! to the same message; after every step the topology is consistent (each
//! slot's owner is a live node that claims it, each claim is recorded in
//! the slot table, open slots name live nodes, exactly one node is this
//! node).

use flashkv::state::cluster::gossip::{self, Link, Timing};
use flashkv::state::cluster::msg::Message;
use flashkv::state::cluster::{flag, Node, Topology, NONE, SLOTS};

fn node(id: char, port: u16, flags: u16) -> Node {
    Node::new(
        std::iter::repeat_n(id, 40).collect(),
        "127.0.0.1".into(),
        port,
        port + 10000,
        flags,
        1_000,
    )
}

fn consistent(t: &Topology) {
    for slot in 0..SLOTS {
        let owner = t.slots[slot];
        if owner != NONE {
            let n = t.nodes[owner as usize]
                .as_ref()
                .expect("a slot owned by a forgotten node");
            assert!(n.slots.has(slot), "slot {slot}: owner does not claim it");
        }
    }
    for (i, n) in t.live() {
        for slot in (0..SLOTS).filter(|&s| n.slots.has(s)) {
            assert_eq!(
                t.slots[slot], i as u32,
                "node {i} claims slot {slot} it does not own"
            );
        }
    }
    for &i in t.migrating.values().chain(t.importing.values()) {
        assert!(t.nodes[i].is_some(), "an open slot names a forgotten node");
    }
    assert_eq!(t.live().filter(|(_, n)| n.is(flag::MYSELF)).count(), 1);
}

/// Run every check on one fuzz input.
pub fn check(data: &[u8]) {
    let Some((&mode, mut stream)) = data.split_first() else {
        return;
    };
    let mut t = Topology::new("a".repeat(40), 7000, 17000, 1_000);
    let me = t.myself;
    for s in 0..100 {
        t.assign(s, me);
    }
    let known = t.add(node('b', 7001, flag::MASTER));
    for s in 100..200 {
        t.assign(s, known);
    }
    t.add(node('c', 7002, flag::HANDSHAKE | flag::MEET));
    t.migrating.insert(5, known);
    let link = if mode & 1 == 1 {
        Link::Outbound(known)
    } else {
        Link::Inbound
    };
    let crons = usize::from((mode >> 1) & 3);
    let mut time = Timing {
        node_timeout: 1000,
        now: 2_000,
    };
    let mut rng = u64::from(mode) + 1;
    let mut iteration = 0;
    while stream.len() >= 8 {
        let first: [u8; 8] = stream[..8].try_into().expect("8 bytes");
        let Ok(len) = Message::announced_len(&first) else {
            return;
        };
        let Some(bytes) = stream.get(..len) else {
            return;
        };
        stream = &stream[len..];
        if let Ok(msg) = Message::decode(bytes) {
            let again = Message::decode(&msg.encode()).expect("an encoded message decodes");
            assert_eq!(again, msg, "decode(encode(m)) == m");
            let link = match link {
                Link::Outbound(i) if t.nodes.get(i).is_some_and(Option::is_some) => link,
                _ => Link::Inbound,
            };
            let _ = gossip::process(&mut t, msg, link, "127.0.0.1", "127.0.0.1", time, &mut rng);
            consistent(&t);
        }
        for _ in 0..crons {
            time.now += 700;
            iteration += 1;
            let _ = gossip::cron(&mut t, iteration, time, &mut rng);
            consistent(&t);
        }
    }
}
