//! The cluster as this node sees it: the nodes it knows, who owns each
//! slot, the slots being moved, and the epochs. One `Topology` lives behind
//! the cluster's mutex; the request path reads a [`Routing`] snapshot
//! published after every change.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::slots::SLOTS;

/// Node flags, Redis's `CLUSTER_NODE_*` bits (they travel in bus messages).
pub mod flag {
    /// A master.
    pub const MASTER: u16 = 1;
    /// A replica.
    pub const SLAVE: u16 = 2;
    /// Suspected down by this node.
    pub const PFAIL: u16 = 4;
    /// Agreed down by a majority of masters.
    pub const FAIL: u16 = 8;
    /// This node.
    pub const MYSELF: u16 = 16;
    /// Met, but the first PONG (with its real name) has not arrived.
    pub const HANDSHAKE: u16 = 32;
    /// No address known.
    pub const NOADDR: u16 = 64;
    /// Send a MEET rather than a PING on the next connection.
    pub const MEET: u16 = 128;
    /// Never fail over (replicas only).
    pub const NOFAILOVER: u16 = 512;
}

/// No owner (in [`Topology::slots`]).
pub const NONE: u32 = u32::MAX;

/// Length of a node name (40 hex digits).
pub const NAME_LEN: usize = 40;

/// A set of slots, Redis's bitmap layout (slot `s` is bit `s % 8` of
/// byte `s / 8`), as it travels in the bus header.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotSet(pub Box<[u8; SLOTS / 8]>);

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet(Box::new([0; SLOTS / 8]))
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotSet({} slots)", self.count())
    }
}

impl SlotSet {
    /// Is `slot` in the set?
    pub fn has(&self, slot: usize) -> bool {
        self.0[slot / 8] & (1 << (slot % 8)) != 0
    }
    /// Add or remove `slot`.
    pub fn set(&mut self, slot: usize, on: bool) {
        if on {
            self.0[slot / 8] |= 1 << (slot % 8);
        } else {
            self.0[slot / 8] &= !(1 << (slot % 8));
        }
    }
    /// How many slots.
    pub fn count(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }
    /// The slots as inclusive ranges, ascending.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for slot in (0..SLOTS).filter(|&s| self.has(s)) {
            let s = slot as u16;
            match out.last_mut() {
                Some((_, end)) if *end + 1 == s => *end = s,
                _ => out.push((s, s)),
            }
        }
        out
    }
}

/// One node of the cluster.
#[derive(Debug, Clone)]
pub struct Node {
    /// 40 hex digits.
    pub id: String,
    /// Address clients use (empty: not known yet).
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Bus port.
    pub cport: u16,
    /// [`flag`] bits.
    pub flags: u16,
    /// The epoch of this node's slot claims.
    pub config_epoch: u64,
    /// When our unanswered PING went out (ms; 0: none pending).
    pub ping_sent: u64,
    /// When its last PONG arrived (ms).
    pub pong_received: u64,
    /// When anything last arrived from it (ms).
    pub data_received: u64,
    /// When it was marked FAIL (ms).
    pub fail_time: u64,
    /// When this entry was created (ms): handshakes time out from here.
    pub ctime: u64,
    /// The slots it claims.
    pub slots: SlotSet,
    /// Masters that told us it seems down: reporter name -> when (ms).
    pub fail_reports: HashMap<String, u64>,
    /// Our outbound link to it is up.
    pub linked: bool,
    /// When that link was opened (ms; CLUSTER LINKS).
    pub link_since: u64,
    /// When its link to us was opened (ms; 0: none).
    pub inbound_since: u64,
}

impl Node {
    /// Is a failure report made at `at` still valid at `now`? For twice
    /// the node timeout (Redis's `clusterNodeCleanupFailureReports`);
    /// only valid ones count towards FAIL and in CLUSTER
    /// COUNT-FAILURE-REPORTS.
    pub fn report_valid(at: u64, now: u64, node_timeout: u64) -> bool {
        now.saturating_sub(at) <= node_timeout * 2
    }

    /// A node called `id` at `ip:port@cport` with `flags`, created `now`.
    pub fn new(id: String, ip: String, port: u16, cport: u16, flags: u16, now: u64) -> Node {
        Node {
            id,
            ip,
            port,
            cport,
            flags,
            config_epoch: 0,
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            ctime: now,
            slots: SlotSet::default(),
            fail_reports: HashMap::new(),
            linked: false,
            link_since: 0,
            inbound_since: 0,
        }
    }

    /// Has it any of these flags?
    pub fn is(&self, flags: u16) -> bool {
        self.flags & flags != 0
    }

    /// `ip:port`, as MOVED and ASK print it.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Redis's `representClusterNodeFlags`.
    fn flags_text(&self) -> String {
        const NAMES: [(u16, &str); 8] = [
            (flag::MYSELF, "myself"),
            (flag::MASTER, "master"),
            (flag::SLAVE, "slave"),
            (flag::PFAIL, "fail?"),
            (flag::FAIL, "fail"),
            (flag::HANDSHAKE, "handshake"),
            (flag::NOADDR, "noaddr"),
            (flag::NOFAILOVER, "nofailover"),
        ];
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(bit, _)| self.is(*bit))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "noflags".into()
        } else {
            names.join(",")
        }
    }
}

/// What the request path needs: who serves each slot, and where.
#[derive(Debug, Clone)]
pub struct Routing {
    /// Owner of each slot: an index into `addrs`, or [`NONE`].
    pub owners: Box<[u32; SLOTS]>,
    /// `ip:port` of every node index.
    pub addrs: Vec<String>,
    /// This node's index.
    pub myself: u32,
    /// Slots this node is moving away: slot -> destination index.
    pub migrating: HashMap<u16, u32>,
    /// Slots this node is receiving: slot -> source index.
    pub importing: HashMap<u16, u32>,
    /// `cluster_state:ok`.
    pub ok: bool,
}

/// The whole view.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Nodes by index; `None` for forgotten ones (indices stay stable).
    pub nodes: Vec<Option<Node>>,
    /// This node's index.
    pub myself: usize,
    /// Owner index of every slot, or [`NONE`].
    pub slots: Box<[u32; SLOTS]>,
    /// Open slots moving away: slot -> destination.
    pub migrating: BTreeMap<u16, usize>,
    /// Open slots arriving: slot -> source.
    pub importing: BTreeMap<u16, usize>,
    /// The cluster's current epoch.
    pub current_epoch: u64,
    /// The last epoch this node voted in (kept for the file).
    pub last_vote_epoch: u64,
    /// `cluster_state:ok`.
    pub ok: bool,
    /// `cluster_size` as INFO shows it: Redis starts it at 1 and first
    /// computes it when the state is first updated (after its 2 s delay).
    pub shown_size: usize,
    /// Names FORGET keeps out of gossip until the time (ms).
    pub forgotten: HashMap<String, u64>,
    /// Bus messages sent and received, by Redis's type number.
    pub sent: [u64; 11],
    /// See `sent`.
    pub received: [u64; 11],
}

impl Topology {
    /// A cluster of one: this node, `id`, a master without slots.
    pub fn new(id: String, port: u16, cport: u16, now: u64) -> Topology {
        let me = Node::new(
            id,
            String::new(),
            port,
            cport,
            flag::MYSELF | flag::MASTER,
            now,
        );
        Topology {
            nodes: vec![Some(me)],
            myself: 0,
            slots: Box::new([NONE; SLOTS]),
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            current_epoch: 0,
            last_vote_epoch: 0,
            ok: false,
            shown_size: 1,
            forgotten: HashMap::new(),
            sent: [0; 11],
            received: [0; 11],
        }
    }

    /// This node.
    pub fn me(&self) -> &Node {
        self.node(self.myself)
    }

    /// This node, to change.
    pub fn me_mut(&mut self) -> &mut Node {
        let i = self.myself;
        self.node_mut(i)
    }

    /// The node at `index` (which must be live).
    pub fn node(&self, index: usize) -> &Node {
        self.nodes[index].as_ref().expect("live node index")
    }

    /// The node at `index`, to change.
    pub fn node_mut(&mut self, index: usize) -> &mut Node {
        self.nodes[index].as_mut().expect("live node index")
    }

    /// Live nodes with their indices.
    pub fn live(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// The index of the node called `id`.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.live().find(|(_, n)| n.id == id).map(|(i, _)| i)
    }

    /// Add `node`; its index.
    pub fn add(&mut self, node: Node) -> usize {
        match self.nodes.iter().position(Option::is_none) {
            Some(i) => {
                self.nodes[i] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        }
    }

    /// Forget the node at `index`: its slots become unowned, its open slots
    /// close, its failure reports go.
    pub fn remove(&mut self, index: usize) {
        for slot in 0..SLOTS {
            if self.slots[slot] == index as u32 {
                self.slots[slot] = NONE;
            }
        }
        self.migrating.retain(|_, to| *to != index);
        self.importing.retain(|_, from| *from != index);
        if let Some(gone) = self.nodes[index].take() {
            for n in self.nodes.iter_mut().flatten() {
                n.fail_reports.remove(&gone.id);
            }
        }
    }

    /// Give `slot` to the node at `index`.
    pub fn assign(&mut self, slot: usize, index: usize) {
        let old = self.slots[slot];
        if old != NONE {
            if let Some(n) = self.nodes[old as usize].as_mut() {
                n.slots.set(slot, false);
            }
        }
        self.slots[slot] = index as u32;
        self.node_mut(index).slots.set(slot, true);
    }

    /// `slot` has no owner any more.
    pub fn unassign(&mut self, slot: usize) {
        let old = self.slots[slot];
        if old != NONE {
            if let Some(n) = self.nodes[old as usize].as_mut() {
                n.slots.set(slot, false);
            }
        }
        self.slots[slot] = NONE;
    }

    /// Masters that serve at least one slot (Redis's `cluster_size`).
    pub fn size(&self) -> usize {
        self.live()
            .filter(|(_, n)| n.is(flag::MASTER) && n.slots.count() > 0)
            .count()
    }

    /// The snapshot the request path reads.
    pub fn routing(&self) -> Routing {
        Routing {
            owners: self.slots.clone(),
            addrs: self
                .nodes
                .iter()
                .map(|n| n.as_ref().map(Node::addr).unwrap_or_default())
                .collect(),
            myself: self.myself as u32,
            migrating: self
                .migrating
                .iter()
                .map(|(&s, &i)| (s, i as u32))
                .collect(),
            importing: self
                .importing
                .iter()
                .map(|(&s, &i)| (s, i as u32))
                .collect(),
            ok: self.ok,
        }
    }

    /// Redis's `clusterUpdateState` without its delays: ok when every slot
    /// has an owner not marked FAIL (if full coverage is required) and this
    /// master reaches a majority of the masters that serve slots. Also
    /// says whether it does not (a minority, which delays a later ok).
    pub fn compute_state(&self, full_coverage: bool) -> (bool, bool) {
        let covered = !full_coverage
            || self.slots.iter().all(|&owner| {
                owner != NONE
                    && self.nodes[owner as usize]
                        .as_ref()
                        .is_some_and(|n| !n.is(flag::FAIL))
            });
        let size = self.size();
        let reachable = self
            .live()
            .filter(|(_, n)| n.is(flag::MASTER) && n.slots.count() > 0)
            .filter(|(_, n)| !n.is(flag::FAIL | flag::PFAIL))
            .count();
        let minority = reachable <= size / 2;
        (covered && !minority, minority)
    }

    /// One line of CLUSTER NODES (Redis's `clusterGenNodeDescription`);
    /// the file's lines also list this node's open slots.
    pub fn describe(&self, index: usize) -> String {
        let n = self.node(index);
        let mut line = format!(
            "{} {}:{}@{} {} - {} {} {} {}",
            n.id,
            n.ip,
            n.port,
            n.cport,
            n.flags_text(),
            n.ping_sent,
            n.pong_received,
            n.config_epoch,
            if n.linked || n.is(flag::MYSELF) {
                "connected"
            } else {
                "disconnected"
            }
        );
        for (start, end) in n.slots.ranges() {
            if start == end {
                let _ = write!(line, " {start}");
            } else {
                let _ = write!(line, " {start}-{end}");
            }
        }
        if index == self.myself {
            for (slot, &to) in &self.migrating {
                let _ = write!(line, " [{slot}->-{}]", self.node(to).id);
            }
            for (slot, &from) in &self.importing {
                let _ = write!(line, " [{slot}-<-{}]", self.node(from).id);
            }
        }
        line
    }

    /// CLUSTER NODES: one line per node, each ending in a newline.
    pub fn describe_all(&self, handshakes: bool) -> String {
        let mut out = String::new();
        for (i, n) in self.live() {
            if !handshakes && n.is(flag::HANDSHAKE) {
                continue;
            }
            out.push_str(&self.describe(i));
            out.push('\n');
        }
        out
    }

    /// The `cluster-config-file` text: every node but those in handshake,
    /// then the epochs.
    pub fn to_conf(&self) -> String {
        let mut out = self.describe_all(false);
        let _ = writeln!(
            out,
            "vars currentEpoch {} lastVoteEpoch {}",
            self.current_epoch, self.last_vote_epoch
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> String {
        std::iter::repeat_n(c, NAME_LEN).collect()
    }

    #[test]
    fn failure_reports_stay_valid_for_twice_the_node_timeout() {
        let valid = |at, now| Node::report_valid(at, now, 1_000);
        assert!(valid(1_000, 3_000), "at exactly twice the timeout");
        assert!(!valid(1_000, 3_001));
        assert!(valid(3_000, 3_001));
        // A clock that went back does not expire anything.
        assert!(valid(3_000, 0));
    }

    #[test]
    fn ranges_and_lines_as_redis() {
        let mut t = Topology::new(id('a'), 7001, 17001, 0);
        for s in [0, 1, 2, 5, 100, 101] {
            t.assign(s, 0);
        }
        assert_eq!(t.me().slots.ranges(), vec![(0, 2), (5, 5), (100, 101)]);
        let other = t.add(Node::new(
            id('b'),
            "127.0.0.1".into(),
            7002,
            17002,
            flag::MASTER,
            0,
        ));
        t.migrating.insert(5, other);
        assert_eq!(
            t.describe(0),
            format!(
                "{} :7001@17001 myself,master - 0 0 0 connected 0-2 5 100-101 [5->-{}]",
                id('a'),
                id('b')
            )
        );
        assert_eq!(
            t.describe(other),
            format!(
                "{} 127.0.0.1:7002@17002 master - 0 0 0 disconnected",
                id('b')
            )
        );
    }

    #[test]
    fn state_needs_every_slot_and_a_majority() {
        let mut t = Topology::new(id('a'), 7001, 17001, 0);
        assert_eq!(t.compute_state(true), (false, true), "no slot: a minority");
        assert_eq!(t.compute_state(false), (false, true));
        t.assign(0, 0);
        assert_eq!(t.compute_state(true), (false, false), "not covered");
        assert_eq!(t.compute_state(false), (true, false));
        for s in 0..SLOTS {
            t.assign(s, 0);
        }
        assert_eq!(t.compute_state(true), (true, false));
        let b = t.add(Node::new(id('b'), "h".into(), 1, 2, flag::MASTER, 0));
        let c = t.add(Node::new(id('c'), "h".into(), 3, 4, flag::MASTER, 0));
        t.assign(1, b);
        t.assign(2, c);
        t.node_mut(b).flags |= flag::PFAIL;
        assert!(t.compute_state(true).0, "two of three masters reachable");
        t.node_mut(c).flags |= flag::FAIL;
        assert_eq!(
            t.compute_state(true),
            (false, true),
            "a failed owner and no majority"
        );
        assert_eq!(t.compute_state(false), (false, true), "no majority");
        t.remove(c);
        assert_eq!(t.slots[2], NONE);
    }
}
