//! Cluster bus messages in Redis 7.0's binary format (`clusterMsg` in
//! `cluster.h`): a 2256-byte header in network byte order, then a body
//! that depends on the type. Pure encoding and decoding; the links live in
//! the server layer.

use super::slots::SLOTS;
use super::topology::{SlotSet, NAME_LEN};

/// `sig`: "Redis Cluster message bus".
pub const SIGNATURE: &[u8; 4] = b"RCmb";
/// Protocol version Redis 7.0 speaks.
pub const VERSION: u16 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 2256;
/// Size of one gossip entry.
pub const GOSSIP_LEN: usize = 104;
/// Longest message accepted (a PING gossiping about every node of a
/// thousand-node cluster is about 110 KB).
pub const MAX_LEN: usize = 1 << 20;
/// `NET_IP_STR_LEN`.
const IP_LEN: usize = 46;

/// Message types (`CLUSTERMSG_TYPE_*`).
pub mod kind {
    /// Ping.
    pub const PING: u16 = 0;
    /// Reply to PING and MEET.
    pub const PONG: u16 = 1;
    /// A PING that makes the receiver add the sender.
    pub const MEET: u16 = 2;
    /// A node is down.
    pub const FAIL: u16 = 3;
    /// PUBLISH across the cluster.
    pub const PUBLISH: u16 = 4;
    /// A node's slots, sent to a node with a stale view.
    pub const UPDATE: u16 = 7;
    /// How many types INFO counts.
    pub const COUNT: usize = 11;
    /// Redis's names, for CLUSTER INFO.
    pub const NAMES: [&str; COUNT] = [
        "ping",
        "pong",
        "meet",
        "fail",
        "publish",
        "auth-req",
        "auth-ack",
        "update",
        "mfstart",
        "module",
        "publishshard",
    ];
}

/// `CLUSTER_OK` / `CLUSTER_FAIL` in the header's state byte.
pub const STATE_OK: u8 = 0;

/// The fixed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Client port of the sender.
    pub port: u16,
    /// Message type.
    pub kind: u16,
    /// Gossip entries (PING, PONG, MEET).
    pub count: u16,
    /// The sender's current epoch.
    pub current_epoch: u64,
    /// The sender's config epoch.
    pub config_epoch: u64,
    /// Sender name.
    pub sender: String,
    /// Slots the sender claims.
    pub slots: SlotSet,
    /// Its master, if it is a replica (empty otherwise).
    pub slaveof: String,
    /// The address the sender announces (empty: use the socket's).
    pub ip: String,
    /// Bus port of the sender.
    pub cport: u16,
    /// Sender flags.
    pub flags: u16,
    /// The cluster's state as the sender sees it.
    pub state: u8,
}

/// One gossip entry: what the sender knows of another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    /// Its name.
    pub id: String,
    /// Seconds (Unix) of the sender's last PING to it.
    pub ping_sent: u32,
    /// Seconds (Unix) of its last PONG to the sender.
    pub pong_received: u32,
    /// Its address.
    pub ip: String,
    /// Its client port.
    pub port: u16,
    /// Its bus port.
    pub cport: u16,
    /// Its flags as the sender sees them.
    pub flags: u16,
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// PING, PONG, MEET.
    Gossip(Vec<Gossip>),
    /// FAIL: this node is down.
    Fail(String),
    /// PUBLISH: a channel and a message.
    Publish(Vec<u8>, Vec<u8>),
    /// UPDATE: this node owns these slots at this epoch.
    Update {
        /// Its config epoch.
        config_epoch: u64,
        /// Its name.
        id: String,
        /// Its slots.
        slots: SlotSet,
    },
    /// A type this node does not act on (failover votes, modules...).
    Other,
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
}

/// A name or address field: the text's bytes (Latin-1: one byte per
/// char, so whatever arrived round-trips), NUL-padded to `len`.
fn put_name(out: &mut Vec<u8>, name: &str, len: usize) {
    let start = out.len();
    out.extend(name.chars().take(len).map(|c| c as u32 as u8));
    out.resize(start + len, 0);
}

/// A NUL-padded field as text, one char per byte (see [`put_name`]).
fn get_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes[..end].iter().map(|&b| char::from(b)).collect()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Message {
    /// The bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let h = &self.header;
        let mut out = Vec::with_capacity(HEADER_LEN + 256);
        out.extend_from_slice(SIGNATURE);
        out.extend_from_slice(&[0; 4]); // totlen, below
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&h.port.to_be_bytes());
        out.extend_from_slice(&h.kind.to_be_bytes());
        let count = match &self.body {
            Body::Gossip(g) => g.len() as u16,
            _ => 0,
        };
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&h.current_epoch.to_be_bytes());
        out.extend_from_slice(&h.config_epoch.to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes()); // replication offset
        put_name(&mut out, &h.sender, NAME_LEN);
        out.extend_from_slice(&h.slots.0[..]);
        put_name(&mut out, &h.slaveof, NAME_LEN);
        put_name(&mut out, &h.ip, IP_LEN);
        out.extend_from_slice(&0u16.to_be_bytes()); // extensions
        out.extend_from_slice(&[0; 30]);
        out.extend_from_slice(&0u16.to_be_bytes()); // pport
        out.extend_from_slice(&h.cport.to_be_bytes());
        out.extend_from_slice(&h.flags.to_be_bytes());
        out.push(h.state);
        out.extend_from_slice(&[0; 3]); // mflags
        debug_assert_eq!(out.len(), HEADER_LEN);
        match &self.body {
            Body::Gossip(entries) => {
                for g in entries {
                    put_name(&mut out, &g.id, NAME_LEN);
                    out.extend_from_slice(&g.ping_sent.to_be_bytes());
                    out.extend_from_slice(&g.pong_received.to_be_bytes());
                    put_name(&mut out, &g.ip, IP_LEN);
                    out.extend_from_slice(&g.port.to_be_bytes());
                    out.extend_from_slice(&g.cport.to_be_bytes());
                    out.extend_from_slice(&g.flags.to_be_bytes());
                    out.extend_from_slice(&[0; 4]); // pport, notused1
                }
            }
            Body::Fail(id) => put_name(&mut out, id, NAME_LEN),
            Body::Publish(channel, message) => {
                out.extend_from_slice(&(channel.len() as u32).to_be_bytes());
                out.extend_from_slice(&(message.len() as u32).to_be_bytes());
                out.extend_from_slice(channel);
                out.extend_from_slice(message);
            }
            Body::Update {
                config_epoch,
                id,
                slots,
            } => {
                out.extend_from_slice(&config_epoch.to_be_bytes());
                put_name(&mut out, id, NAME_LEN);
                out.extend_from_slice(&slots.0[..]);
            }
            Body::Other => {}
        }
        let len = out.len() as u32;
        out[4..8].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// The length a message announces in its first 8 bytes, checked
    /// (Redis's `clusterReadHandler`): `Err` closes the link.
    pub fn announced_len(first8: &[u8; 8]) -> Result<usize, String> {
        if &first8[..4] != SIGNATURE {
            return Err("bad signature".into());
        }
        let len = u32::from_be_bytes(first8[4..8].try_into().expect("4 bytes")) as usize;
        if !(HEADER_LEN..=MAX_LEN).contains(&len) {
            // Redis also accepts shorter lightweight messages (7.2+);
            // 7.0 never sends them.
            return Err(format!("bad length {len}"));
        }
        Ok(len)
    }

    /// Decode a whole message (`bytes.len()` is the announced length),
    /// checking its length against its type as `clusterIsValidPacket` does.
    pub fn decode(bytes: &[u8]) -> Result<Message, String> {
        if bytes.len() < HEADER_LEN || &bytes[..4] != SIGNATURE {
            return Err("short or unsigned message".into());
        }
        if u32_at(bytes, 4) as usize != bytes.len() {
            return Err("length mismatch".into());
        }
        if u16_at(bytes, 8) != VERSION {
            return Err("unknown version".into());
        }
        let kind = u16_at(bytes, 12);
        let count = u16_at(bytes, 14);
        let mut slots = SlotSet::default();
        slots.0.copy_from_slice(&bytes[80..80 + SLOTS / 8]);
        let mut header = Header {
            port: u16_at(bytes, 10),
            kind,
            count,
            current_epoch: u64_at(bytes, 16),
            config_epoch: u64_at(bytes, 24),
            sender: get_name(&bytes[40..80]),
            slots,
            slaveof: get_name(&bytes[2128..2168]),
            ip: get_name(&bytes[2168..2214]),
            cport: u16_at(bytes, 2248),
            flags: u16_at(bytes, 2250),
            state: bytes[2252],
        };
        let extensions = u16_at(bytes, 2214);
        let body = &bytes[HEADER_LEN..];
        let body = match kind {
            kind::PING | kind::PONG | kind::MEET => {
                let gossip = usize::from(count) * GOSSIP_LEN;
                // Extensions (a hostname) follow the gossip; 7.0 only sends
                // them when a hostname is configured. Skipped.
                if body.len() < gossip || (extensions == 0 && body.len() != gossip) {
                    return Err("bad gossip length".into());
                }
                let entries = body[..gossip]
                    .chunks_exact(GOSSIP_LEN)
                    .map(|g| Gossip {
                        id: get_name(&g[..40]),
                        ping_sent: u32_at(g, 40),
                        pong_received: u32_at(g, 44),
                        ip: get_name(&g[48..94]),
                        port: u16_at(g, 94),
                        cport: u16_at(g, 96),
                        flags: u16_at(g, 98),
                    })
                    .collect();
                Body::Gossip(entries)
            }
            kind::FAIL => {
                if body.len() != NAME_LEN {
                    return Err("bad FAIL length".into());
                }
                Body::Fail(get_name(body))
            }
            kind::PUBLISH => {
                if body.len() < 8 {
                    return Err("bad PUBLISH length".into());
                }
                let (c, m) = (u32_at(body, 0) as usize, u32_at(body, 4) as usize);
                // `sizeof(clusterMsgDataPublish) - 8 + c + m`: exact.
                if c.checked_add(m).and_then(|n| n.checked_add(8)) != Some(body.len()) {
                    return Err("bad PUBLISH length".into());
                }
                Body::Publish(body[8..8 + c].to_vec(), body[8 + c..8 + c + m].to_vec())
            }
            kind::UPDATE => {
                if body.len() != 8 + NAME_LEN + SLOTS / 8 {
                    return Err("bad UPDATE length".into());
                }
                let mut slots = SlotSet::default();
                slots.0.copy_from_slice(&body[48..]);
                Body::Update {
                    config_epoch: u64_at(body, 0),
                    id: get_name(&body[8..48]),
                    slots,
                }
            }
            _ => Body::Other,
        };
        // The count is the body's: what else a message said there is moot.
        header.count = match &body {
            Body::Gossip(g) => g.len() as u16,
            _ => 0,
        };
        Ok(Message { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u16) -> Header {
        let mut slots = SlotSet::default();
        slots.set(0, true);
        slots.set(16383, true);
        Header {
            port: 7001,
            kind,
            count: 0,
            current_epoch: 7,
            config_epoch: 3,
            sender: "a".repeat(40),
            slots,
            slaveof: String::new(),
            ip: "127.0.0.1".into(),
            cport: 17001,
            flags: 1,
            state: STATE_OK,
        }
    }

    #[test]
    fn round_trips_every_body() {
        let gossip = Gossip {
            id: "b".repeat(40),
            ping_sent: 1,
            pong_received: 2,
            ip: "10.0.0.2".into(),
            port: 7002,
            cport: 17002,
            flags: 1,
        };
        for (kind, body) in [
            (kind::PING, Body::Gossip(vec![gossip.clone(), gossip])),
            (kind::MEET, Body::Gossip(vec![])),
            (kind::FAIL, Body::Fail("c".repeat(40))),
            (
                kind::PUBLISH,
                Body::Publish(b"ch".to_vec(), b"hello world".to_vec()),
            ),
            (kind::PUBLISH, Body::Publish(b"c".to_vec(), b"m".to_vec())),
            (
                kind::UPDATE,
                Body::Update {
                    config_epoch: 9,
                    id: "d".repeat(40),
                    slots: header(0).slots,
                },
            ),
        ] {
            let mut m = Message {
                header: header(kind),
                body,
            };
            if let Body::Gossip(g) = &m.body {
                m.header.count = g.len() as u16;
            }
            let bytes = m.encode();
            let mut first = [0u8; 8];
            first.copy_from_slice(&bytes[..8]);
            assert_eq!(Message::announced_len(&first), Ok(bytes.len()));
            assert_eq!(Message::decode(&bytes), Ok(m));
        }
    }

    #[test]
    fn header_layout_is_redis_s() {
        let bytes = Message {
            header: header(kind::PING),
            body: Body::Gossip(vec![]),
        }
        .encode();
        assert_eq!(bytes.len(), HEADER_LEN);
        assert_eq!(&bytes[8..10], &[0, 1], "version");
        assert_eq!(&bytes[10..12], &7001u16.to_be_bytes(), "port");
        assert_eq!(bytes[80], 1, "slot 0 is bit 0 of myslots[0]");
        assert_eq!(
            bytes[80 + 2047],
            0x80,
            "slot 16383 is bit 7 of the last byte"
        );
        assert_eq!(&bytes[2168..2177], b"127.0.0.1", "myip");
        assert_eq!(&bytes[2248..2250], &17001u16.to_be_bytes(), "cport");
    }

    #[test]
    fn refuses_damaged_messages() {
        let good = Message {
            header: header(kind::FAIL),
            body: Body::Fail("c".repeat(40)),
        }
        .encode();
        assert!(Message::decode(&good[..good.len() - 1]).is_err());
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(Message::decode(&bad).is_err());
        let mut first = [0u8; 8];
        first.copy_from_slice(&bad[..8]);
        assert!(Message::announced_len(&first).is_err());
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&(MAX_LEN as u32 + 1).to_be_bytes());
        first.copy_from_slice(&huge[..8]);
        assert!(Message::announced_len(&first).is_err());
    }
}
