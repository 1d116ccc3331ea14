//! The cluster configuration file (`nodes.conf`), in Redis's format: one
//! CLUSTER NODES line per node (this node's open slots in brackets), then
//! `vars currentEpoch N lastVoteEpoch M`. Saved by write-and-rename, so a
//! crash leaves the old file or the new one, never half of one.

use std::io::Write as _;
use std::path::Path;

use super::slots::SLOTS;
use super::topology::{flag, Node, Topology, NAME_LEN, NONE};

/// Why a configuration file was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfError(pub String);

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn corrupt(line: usize, why: &str) -> ConfError {
    ConfError(format!(
        "Unrecoverable error: corrupted cluster config file (line {line}: {why})."
    ))
}

/// Redis's `verifyClusterNodeId`: 40 lower-case hex digits.
pub fn valid_name(id: &str) -> bool {
    id.len() == NAME_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `ip:port[@cport][,hostname]` (no bus port: port + 10000, as Redis).
fn parse_addr(text: &str) -> Option<(String, u16, u16)> {
    let text = text.split(',').next()?;
    let (hostport, cport) = match text.split_once('@') {
        Some((hp, c)) => (hp, Some(c.parse().ok()?)),
        None => (text, None),
    };
    let (ip, port) = hostport.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    Some((
        ip.to_string(),
        port,
        cport.unwrap_or(port.wrapping_add(10_000)),
    ))
}

fn parse_flags(text: &str) -> Option<u16> {
    let mut bits = 0;
    for f in text.split(',') {
        bits |= match f {
            "myself" => flag::MYSELF,
            "master" => flag::MASTER,
            "slave" => flag::SLAVE,
            "fail?" => flag::PFAIL,
            "fail" => flag::FAIL,
            "handshake" => flag::HANDSHAKE,
            "noaddr" => flag::NOADDR,
            "nofailover" => flag::NOFAILOVER,
            "noflags" => 0,
            _ => return None,
        };
    }
    Some(bits)
}

fn parse_slot(text: &str) -> Option<usize> {
    text.parse().ok().filter(|&s: &usize| s < SLOTS)
}

/// The topology the file describes (`port`/`cport` fill this node's when
/// the file has none yet), or why it cannot be trusted.
pub fn parse(text: &str, now: u64) -> Result<Topology, ConfError> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut open: Vec<(String, usize, bool, String)> = Vec::new();
    let mut owned: Vec<(String, usize)> = Vec::new();
    let (mut current, mut vote) = (0, 0);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words[0] == "vars" {
            for pair in words[1..].chunks(2) {
                let [name, value] = pair else {
                    return Err(corrupt(n, "odd vars"));
                };
                let value: u64 = value.parse().map_err(|_| corrupt(n, "bad number"))?;
                match *name {
                    "currentEpoch" => current = value,
                    "lastVoteEpoch" => vote = value,
                    _ => {}
                }
            }
            continue;
        }
        if words.len() < 8 {
            return Err(corrupt(n, "fewer than 8 fields"));
        }
        let id = words[0];
        if !valid_name(id) {
            return Err(corrupt(n, "bad node name"));
        }
        let (ip, port, cport) = parse_addr(words[1]).ok_or_else(|| corrupt(n, "bad address"))?;
        let flags = parse_flags(words[2]).ok_or_else(|| corrupt(n, "unknown flag"))?;
        let mut node = Node::new(id.to_string(), ip, port, cport, flags, now);
        node.config_epoch = words[6].parse().map_err(|_| corrupt(n, "bad epoch"))?;
        for w in &words[8..] {
            if let Some(inner) = w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
                let (slot, importing, other) = if let Some((s, o)) = inner.split_once("->-") {
                    (s, false, o)
                } else if let Some((s, o)) = inner.split_once("-<-") {
                    (s, true, o)
                } else {
                    return Err(corrupt(n, "bad open slot"));
                };
                let slot = parse_slot(slot).ok_or_else(|| corrupt(n, "bad slot"))?;
                open.push((id.to_string(), slot, importing, other.to_string()));
                continue;
            }
            let (start, end) = match w.split_once('-') {
                Some((a, b)) => (parse_slot(a), parse_slot(b)),
                None => (parse_slot(w), parse_slot(w)),
            };
            let (Some(start), Some(end)) = (start, end) else {
                return Err(corrupt(n, "bad slot"));
            };
            for slot in start..=end {
                owned.push((id.to_string(), slot));
            }
        }
        if nodes.iter().any(|o| o.id == node.id) {
            return Err(corrupt(n, "node listed twice"));
        }
        nodes.push(node);
    }
    let Some(me) = nodes.iter().position(|n| n.is(flag::MYSELF)) else {
        return Err(ConfError(
            "Unrecoverable error: corrupted cluster config file (no node is myself).".into(),
        ));
    };
    let mine = nodes.remove(me);
    let mut t = Topology::new(mine.id.clone(), mine.port, mine.cport, now);
    *t.me_mut() = Node { ctime: now, ..mine };
    t.me_mut().slots = Default::default();
    for n in nodes {
        let mut n = n;
        n.slots = Default::default();
        n.flags &= !flag::MYSELF;
        t.add(n);
    }
    for (id, slot) in owned {
        let i = t.find(&id).expect("listed");
        if t.slots[slot] != NONE {
            return Err(ConfError(format!(
                "Unrecoverable error: corrupted cluster config file (slot {slot} owned twice)."
            )));
        }
        t.assign(slot, i);
    }
    for (id, slot, importing, other) in open {
        let Some(o) = t.find(&other) else {
            return Err(ConfError(format!(
                "Unrecoverable error: corrupted cluster config file (open slot {slot} names an unknown node)."
            )));
        };
        if t.find(&id) != Some(t.myself) {
            continue;
        }
        if importing {
            t.importing.insert(slot as u16, o);
        } else {
            t.migrating.insert(slot as u16, o);
        }
    }
    // Redis: the current epoch is at least every node's config epoch.
    let newest = t.live().map(|(_, n)| n.config_epoch).max().unwrap_or(0);
    t.current_epoch = current.max(newest);
    t.last_vote_epoch = vote;
    Ok(t)
}

/// Load `path`: `Ok(None)` when it does not exist or is empty (a new node).
pub fn load(path: &Path, now: u64) -> Result<Option<Topology>, ConfError> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.is_empty() => Ok(None),
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                ConfError("Unrecoverable error: corrupted cluster config file (not text).".into())
            })?;
            parse(&text, now).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfError(format!(
            "Could not read the cluster config file {}: {e}",
            path.display()
        ))),
    }
}

/// Write `t` to `path` (temporary file, rename), on disk before the rename
/// when `fsync`.
pub fn save(path: &Path, t: &Topology, fsync: bool) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(t.to_conf().as_bytes())?;
    if fsync {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383 [77->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [10923-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
vars currentEpoch 6 lastVoteEpoch 2
";

    #[test]
    fn loads_redis_files_and_writes_them_back() {
        let t = parse(FILE, 0).unwrap();
        assert_eq!(t.me().id, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
        assert_eq!(t.me().slots.count(), 5461);
        assert_eq!(t.current_epoch, 6);
        assert_eq!(t.importing.len(), 1);
        assert!(
            t.migrating.is_empty(),
            "only this node's open slots are kept"
        );
        let again = parse(&t.to_conf(), 0).unwrap();
        assert_eq!(again.to_conf(), t.to_conf());
        assert!(t
            .to_conf()
            .contains("0-5460 [10923-<-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]"));
    }

    #[test]
    fn refuses_damaged_files() {
        for bad in [
            "garbage\n",
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-99999\n",
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,wizard - 0 0 1 connected\n",
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 master - 0 0 1 connected\n",
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1\n",
        ] {
            assert!(parse(bad, 0).is_err(), "{bad}");
        }
        let truncated = &FILE[..FILE.len() / 2];
        assert!(
            parse(truncated, 0).is_err(),
            "a torn line or no myself line"
        );
    }
}
