//! The bus rules on a simulated network: nodes exchange encoded messages
//! (every one goes through `encode`/`decode`), links connect at once, and a
//! stopped node neither receives nor answers.

use std::collections::VecDeque;

use super::*;

const TIMEOUT: u64 = 2000;

fn port(k: usize) -> u16 {
    7000 + k as u16
}

struct Sim {
    nodes: Vec<Topology>,
    down: Vec<bool>,
    now: u64,
    rng: u64,
    iteration: u64,
    /// (sender process, sender's node entry, message) not yet delivered.
    queue: VecDeque<(usize, usize, Message)>,
}

impl Sim {
    fn new(n: usize) -> Sim {
        let nodes = (0..n)
            .map(|k| {
                let id = format!("{:040x}", k + 1);
                let mut t = Topology::new(id, port(k), port(k) + 10000, 0);
                t.me_mut().ip = "127.0.0.1".into();
                t
            })
            .collect();
        Sim {
            nodes,
            down: vec![false; n],
            now: 1_000_000,
            rng: 42,
            iteration: 0,
            queue: VecDeque::new(),
        }
    }

    fn time(&self) -> Timing {
        Timing {
            node_timeout: TIMEOUT,
            now: self.now,
        }
    }

    /// The process behind entry `i` of process `from`'s table.
    fn target(&self, from: usize, i: usize) -> Option<usize> {
        let n = self.nodes[from].nodes.get(i)?.as_ref()?;
        (0..self.nodes.len()).find(|&k| port(k) == n.port)
    }

    fn wire(msg: &Message) -> Message {
        Message::decode(&msg.encode()).expect("a valid message")
    }

    fn follow(&mut self, at: usize, out: Outcome) {
        for (i, m) in out.send {
            self.queue.push_back((at, i, m));
        }
        for m in out.broadcast {
            let linked: Vec<usize> = self.nodes[at]
                .live()
                .filter(|(i, n)| *i != self.nodes[at].myself && n.linked)
                .map(|(i, _)| i)
                .collect();
            for i in linked {
                self.queue.push_back((at, i, m.clone()));
            }
        }
        for i in out.drop_links {
            if let Some(Some(n)) = self.nodes[at].nodes.get_mut(i) {
                n.linked = false;
            }
        }
    }

    /// Deliver everything queued, replies included.
    fn drain(&mut self) {
        while let Some((from, i, msg)) = self.queue.pop_front() {
            let Some(to) = self.target(from, i) else {
                continue;
            };
            if self.down[to] || self.down[from] {
                continue;
            }
            let time = self.time();
            let mut out = process(
                &mut self.nodes[to],
                Self::wire(&msg),
                Link::Inbound,
                "127.0.0.1",
                "127.0.0.1",
                time,
                &mut self.rng,
            );
            let reply = out.reply.take();
            self.follow(to, out);
            let alive = self.nodes[from].nodes.get(i).is_some_and(Option::is_some);
            if let (Some(reply), true) = (reply, alive) {
                let out = process(
                    &mut self.nodes[from],
                    Self::wire(&reply),
                    Link::Outbound(i),
                    "127.0.0.1",
                    "127.0.0.1",
                    time,
                    &mut self.rng,
                );
                self.follow(from, out);
            }
        }
    }

    /// One 100 ms cron run on every live process.
    fn tick(&mut self) {
        self.now += 100;
        self.iteration += 1;
        for k in 0..self.nodes.len() {
            if self.down[k] {
                continue;
            }
            let time = self.time();
            let t = &mut self.nodes[k];
            let tick = cron(t, self.iteration, time, &mut self.rng);
            for i in tick.drop_links {
                t.node_mut(i).linked = false;
            }
            for i in tick.connect {
                if t.nodes[i].is_none() {
                    continue;
                }
                t.node_mut(i).linked = true;
                let hello = greeting(t, i, time, &mut self.rng);
                self.queue.push_back((k, i, hello));
            }
            for (i, m) in tick.send {
                self.queue.push_back((k, i, m));
            }
            let full = t.compute_state(true).0;
            t.ok = full;
            self.drain();
        }
    }

    fn run(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// Every live process knows every other by its real name.
    fn converged(&self) -> bool {
        let names: Vec<&str> = self.nodes.iter().map(|t| t.me().id.as_str()).collect();
        self.nodes.iter().enumerate().all(|(k, t)| {
            self.down[k]
                || (t.live().count() == names.len()
                    && names
                        .iter()
                        .all(|id| t.find(id).is_some_and(|i| !t.node(i).is(flag::HANDSHAKE))))
        })
    }
}

fn meet_all(sim: &mut Sim) {
    // CLUSTER MEET from the first node to the others.
    for k in 1..sim.nodes.len() {
        let now = sim.now;
        start_handshake(
            &mut sim.nodes[0],
            "127.0.0.1",
            port(k),
            port(k) + 10000,
            now,
        );
    }
}

#[test]
fn meeting_one_node_introduces_everyone() {
    let mut sim = Sim::new(4);
    // A chain: 0 meets 1, 1 meets 2, 2 meets 3; gossip does the rest.
    for k in 0..3 {
        let now = sim.now;
        start_handshake(
            &mut sim.nodes[k],
            "127.0.0.1",
            port(k + 1),
            port(k + 1) + 10000,
            now,
        );
    }
    sim.run(60);
    assert!(sim.converged(), "{}", sim.nodes[3].describe_all(true));
    for t in &sim.nodes {
        assert!(t.live().all(|(_, n)| n.is(flag::MASTER)));
    }
}

#[test]
fn slot_claims_spread_and_settle_by_epoch() {
    let mut sim = Sim::new(3);
    let per = SLOTS / 3;
    for (k, t) in sim.nodes.iter_mut().enumerate() {
        let end = if k == 2 { SLOTS } else { (k + 1) * per };
        for s in k * per..end {
            t.assign(s, t.myself);
        }
        t.me_mut().config_epoch = k as u64 + 1;
        t.current_epoch = k as u64 + 1;
    }
    meet_all(&mut sim);
    sim.run(60);
    assert!(sim.converged());
    for t in &sim.nodes {
        assert!(t.compute_state(true).0, "full coverage everywhere");
        assert_eq!(t.size(), 3);
        assert_eq!(t.current_epoch, 3);
    }
    // Node 2 takes slot 0 with a newer epoch (what SETSLOT NODE does on
    // the importing node); everyone, node 0 included, follows.
    let t = &mut sim.nodes[2];
    t.current_epoch += 1;
    let epoch = t.current_epoch;
    t.me_mut().config_epoch = epoch;
    let me = t.myself;
    t.assign(0, me);
    sim.run(40);
    for t in &sim.nodes {
        let owner = t.slots[0] as usize;
        assert_eq!(t.node(owner).port, port(2), "{}", t.describe_all(true));
        assert_eq!(
            t.nodes
                .iter()
                .flatten()
                .map(|n| n.slots.count())
                .sum::<usize>(),
            SLOTS
        );
    }
}

#[test]
fn a_stopped_master_is_failed_by_the_majority() {
    let mut sim = Sim::new(3);
    for (k, t) in sim.nodes.iter_mut().enumerate() {
        let me = t.myself;
        for s in (k..SLOTS).step_by(3) {
            t.assign(s, me);
        }
        t.me_mut().config_epoch = k as u64 + 1;
    }
    meet_all(&mut sim);
    sim.run(60);
    assert!(sim.converged());
    sim.down[2] = true;
    let gone = sim.nodes[2].me().id.clone();
    // Past the node timeout: suspected, then failed by two of three masters.
    sim.run((TIMEOUT / 100) as usize * 3);
    for k in 0..2 {
        let t = &sim.nodes[k];
        let i = t.find(&gone).unwrap();
        assert!(t.node(i).is(flag::FAIL), "{}", t.describe_all(true));
        assert!(!t.compute_state(true).0, "its slots are down");
    }
    // It comes back: the failure is cleared after twice the timeout.
    sim.down[2] = false;
    sim.run((TIMEOUT / 100) as usize * 4);
    for t in &sim.nodes {
        assert!(
            t.live().all(|(_, n)| !n.is(flag::FAIL | flag::PFAIL)),
            "{}",
            t.describe_all(true)
        );
        assert!(t.compute_state(true).0);
    }
}

#[test]
fn equal_epochs_are_told_apart() {
    let mut sim = Sim::new(3);
    for t in sim.nodes.iter_mut() {
        t.me_mut().config_epoch = 0;
    }
    meet_all(&mut sim);
    sim.run(80);
    let mut epochs: Vec<u64> = sim.nodes.iter().map(|t| t.me().config_epoch).collect();
    epochs.sort_unstable();
    epochs.dedup();
    assert_eq!(epochs.len(), 3, "collisions resolved: {epochs:?}");
}
