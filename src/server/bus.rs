//! The cluster bus on the wire: a listener on the bus port (client port +
//! 10000 unless `cluster-port` says otherwise) for the links other nodes
//! open, one outbound link per known node, and the 100 ms cron. Messages
//! are Redis 7.0's binary `clusterMsg`; what to do with each one is decided
//! by `state::cluster::gossip` under the topology lock, and this file only
//! moves bytes, so FlashKV and redis-server nodes can share a cluster.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use store_api::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tracing::{debug, info};

use crate::cmd::{run_inline, Client, Executor};
use crate::state::cluster::gossip::{self, Link, Outcome, Timing};
use crate::state::cluster::msg::{kind, Body, Message};
use crate::state::cluster::{now_ms, BusRequest};
use crate::state::Session;

/// The outbound links, by node index, with the creation time of the node
/// they were opened for (an index can be reused after FORGET).
type Links = Arc<Mutex<HashMap<usize, (u64, UnboundedSender<Vec<u8>>)>>>;

/// Everything the bus tasks share.
struct Bus<S: Store> {
    exec: Arc<Executor<S>>,
    links: Links,
    /// Runs DEL for keys of slots this node lost (journaled, notified).
    cleaner: Mutex<Client<S>>,
}

impl<S: Store> Bus<S> {
    fn timing(&self) -> Timing {
        Timing {
            node_timeout: self.exec.state.config().cluster.node_timeout,
            now: now_ms(),
        }
    }

    /// Send `bytes` on our link to node `i`, if it is up; true if sent.
    fn send(&self, i: usize, bytes: Vec<u8>) -> bool {
        match self.links.lock().get(&i) {
            Some((_, tx)) => tx.send(bytes).is_ok(),
            None => false,
        }
    }

    /// Send `bytes` on every link; how many took it.
    fn broadcast(&self, bytes: &[u8]) -> u64 {
        let links = self.links.lock();
        links
            .values()
            .filter(|(_, tx)| tx.send(bytes.to_vec()).is_ok())
            .count() as u64
    }

    /// Count `n` messages of `bytes`' type as sent (INFO's
    /// `cluster_stats_messages_*_sent`).
    fn count_sent(&self, bytes: &[u8], n: u64) {
        let kind = usize::from(u16::from_be_bytes([bytes[12], bytes[13]]));
        if let Some(c) = self.exec.state.cluster.view().sent.get_mut(kind) {
            *c += n;
        }
    }

    /// Carry out what processing a message decided (all but the reply).
    fn follow(&self, out: Outcome) {
        for (i, m) in out.send {
            let bytes = m.encode();
            if self.send(i, bytes.clone()) {
                self.count_sent(&bytes, 1);
            }
        }
        for m in &out.broadcast {
            let bytes = m.encode();
            let n = self.broadcast(&bytes);
            self.count_sent(&bytes, n);
        }
        for i in out.drop_links {
            self.links.lock().remove(&i);
        }
        if let Some((channel, message)) = out.publish {
            self.exec.state.pubsub.publish(&channel, &message);
        }
        if !out.dirty_slots.is_empty() {
            self.delete_slots(&out.dirty_slots);
        }
        self.exec.state.cluster.save_if_dirty();
    }

    /// Redis's `delKeysInSlot` for slots another node took over.
    fn delete_slots(&self, slots: &[usize]) {
        let state = &self.exec.state;
        let table = state.db.table();
        let keys: Vec<Bytes> = slots
            .iter()
            .flat_map(|&slot| table[0].keys_in_slot(slot, usize::MAX))
            .collect();
        for chunk in keys.chunks(128) {
            let mut argv = vec![Bytes::from_static(b"DEL")];
            argv.extend(chunk.iter().cloned());
            run_inline(&self.exec, &mut self.cleaner.lock(), argv);
        }
        info!(
            keys = keys.len(),
            "deleted the keys of slots now served elsewhere"
        );
    }

    /// Process one message that arrived on `link`.
    fn receive(&self, msg: Message, link: Link, peer: &str, local: &str) -> Option<Message> {
        let state = &self.exec.state;
        let config = state.config();
        let time = self.timing();
        let mut rng = time.now ^ 0x9E37_79B9_7F4A_7C15;
        let sender = msg.header.sender.clone();
        let mut out = state.cluster.update(&config, |t| {
            let out = gossip::process(t, msg, link, peer, local, time, &mut rng);
            if link == Link::Inbound {
                if let Some(i) = t.find(&sender) {
                    let n = t.node_mut(i);
                    if n.inbound_since == 0 {
                        n.inbound_since = time.now;
                    }
                }
            }
            let persist = out.persist;
            (out, persist)
        });
        let reply = out.reply.take();
        self.follow(out);
        reply
    }
}

/// Read one message: `Ok(None)` at a clean end of stream.
async fn read_message(r: &mut OwnedReadHalf) -> std::io::Result<Option<Vec<u8>>> {
    let mut first = [0u8; 8];
    match r.read_exact(&mut first).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = Message::announced_len(&first).map_err(std::io::Error::other)?;
    // Grown as bytes arrive: an announced length costs nothing until sent.
    let mut buf = first.to_vec();
    r.take((len - 8) as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(buf))
}

fn ip_of(addr: std::io::Result<SocketAddr>) -> String {
    addr.map(|a| a.ip().to_string()).unwrap_or_default()
}

/// A link another node opened: answer its PINGs and MEETs.
async fn inbound<S: Store>(bus: Arc<Bus<S>>, stream: TcpStream) {
    let (peer, local) = (ip_of(stream.peer_addr()), ip_of(stream.local_addr()));
    let _ = stream.set_nodelay(true);
    let (mut r, mut w) = stream.into_split();
    let mut from: Option<String> = None;
    loop {
        let bytes = match read_message(&mut r).await {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(e) => {
                debug!(%peer, cause = %e, "bad cluster bus message; closing the link");
                break;
            }
        };
        let Ok(msg) = Message::decode(&bytes) else {
            // Redis ignores a message of the wrong length for its type.
            continue;
        };
        from.get_or_insert_with(|| msg.header.sender.clone());
        if let Some(reply) = bus.receive(msg, Link::Inbound, &peer, &local) {
            if w.write_all(&reply.encode()).await.is_err() {
                break;
            }
        }
    }
    // CLUSTER LINKS stops listing the link.
    if let Some(id) = from {
        let state = &bus.exec.state;
        state.cluster.update(&state.config(), |t| {
            if let Some(i) = t.find(&id) {
                t.node_mut(i).inbound_since = 0;
            }
            ((), false)
        });
    }
}

/// Our link to node `i` (at `addr`): greet it, then send what the cron and
/// the commands queue, and process its answers.
async fn outbound<S: Store>(
    bus: Arc<Bus<S>>,
    i: usize,
    ctime: u64,
    addr: String,
    mut rx: UnboundedReceiver<Vec<u8>>,
) {
    let state = bus.exec.state.clone();
    let timeout = Duration::from_millis(state.config().cluster.node_timeout.max(1000));
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(s)) => s,
        _ => {
            // Unreachable: the pending ping (set now if none) lets the cron
            // suspect it after the node timeout, as Redis does.
            let config = state.config();
            state.cluster.update(&config, |t| {
                if let Some(Some(n)) = t.nodes.get_mut(i) {
                    if n.ctime == ctime && n.ping_sent == 0 {
                        n.ping_sent = now_ms();
                    }
                }
                ((), false)
            });
            bus.links.lock().remove(&i);
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (peer, local) = (ip_of(stream.peer_addr()), ip_of(stream.local_addr()));
    let (mut r, mut w) = stream.into_split();
    let config = state.config();
    let time = bus.timing();
    let mut rng = time.now ^ (i as u64).rotate_left(17);
    let hello = state.cluster.update(&config, |t| {
        let alive = t
            .nodes
            .get(i)
            .and_then(Option::as_ref)
            .is_some_and(|n| n.ctime == ctime);
        if !alive {
            return (None, false);
        }
        let n = t.node_mut(i);
        n.linked = true;
        n.link_since = time.now;
        (Some(gossip::greeting(t, i, time, &mut rng)), false)
    });
    let Some(hello) = hello else {
        bus.links.lock().remove(&i);
        return;
    };
    if w.write_all(&hello.encode()).await.is_ok() {
        let writer = async {
            while let Some(bytes) = rx.recv().await {
                if w.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        };
        let reader = async {
            while let Ok(Some(bytes)) = read_message(&mut r).await {
                if let Ok(msg) = Message::decode(&bytes) {
                    let _ = bus.receive(msg, Link::Outbound(i), &peer, &local);
                }
            }
        };
        tokio::select! {
            _ = writer => {}
            _ = reader => {}
        }
    }
    // The link is gone: the cron opens a new one.
    let mut links = bus.links.lock();
    if links.get(&i).is_some_and(|(c, _)| *c == ctime) {
        links.remove(&i);
    }
    drop(links);
    state.cluster.update(&config, |t| {
        if let Some(Some(n)) = t.nodes.get_mut(i) {
            if n.ctime == ctime {
                n.linked = false;
                n.link_since = 0;
            }
        }
        ((), false)
    });
}

/// One cron run: expire handshakes, open missing links, ping, suspect.
fn cron<S: Store>(bus: &Arc<Bus<S>>, iteration: u64) {
    let state = &bus.exec.state;
    let config = state.config();
    let time = bus.timing();
    let mut rng = time.now.rotate_left(29) ^ iteration;
    let (tick, targets) = state.cluster.update(&config, |t| {
        let tick = gossip::cron(t, iteration, time, &mut rng);
        let targets: Vec<(usize, u64, String)> = tick
            .connect
            .iter()
            .map(|&i| {
                let n = t.node(i);
                (i, n.ctime, format!("{}:{}", n.ip, n.cport))
            })
            .collect();
        let persist = tick.persist;
        ((tick, targets), persist)
    });
    {
        // Links whose node was forgotten (or replaced at that index).
        let t = state.cluster.view();
        bus.links.lock().retain(|&i, (ctime, _)| {
            t.nodes
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|n| n.ctime == *ctime)
        });
    }
    for i in tick.drop_links {
        bus.links.lock().remove(&i);
    }
    for (i, ctime, addr) in targets {
        let mut links = bus.links.lock();
        if links.contains_key(&i) {
            continue;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        links.insert(i, (ctime, tx));
        drop(links);
        tokio::spawn(outbound(bus.clone(), i, ctime, addr, rx));
    }
    for (i, m) in tick.send {
        // Counted when built (`gossip::greeting`).
        bus.send(i, m.encode());
    }
    if iteration % 10 == 0 {
        state.cluster.prune_gates();
    }
    state.cluster.save_if_dirty();
}

/// Serve the bus on `listener` until the server stops.
pub async fn run<S: Store>(exec: Arc<Executor<S>>, listener: TcpListener) {
    let state = exec.state.clone();
    let (tx, mut requests) = mpsc::unbounded_channel::<BusRequest>();
    state.cluster.attach_bus(tx);
    let handle = state.clients.register(
        "127.0.0.1:0".parse().expect("address"),
        "127.0.0.1:0".parse().expect("address"),
        -1,
        usize::MAX,
    );
    let mut session = Session::new(handle.expect("room for the cluster's own client"));
    session.authenticated = true;
    session.must_obey = true;
    let cleaner = Mutex::new(exec.client(session));
    let bus = Arc::new(Bus {
        exec,
        links: Arc::default(),
        cleaner,
    });
    let accept = {
        let bus = bus.clone();
        async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(inbound(bus.clone(), stream));
                    }
                    Err(e) => {
                        debug!(cause = %e, "cluster bus accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    };
    let cron_loop = {
        let bus = bus.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut iteration = 0u64;
            loop {
                tick.tick().await;
                iteration += 1;
                cron(&bus, iteration);
            }
        }
    };
    let serve_requests = {
        let bus = bus.clone();
        async move {
            while let Some(request) = requests.recv().await {
                let state = &bus.exec.state;
                let t = state.cluster.view();
                let bytes = match request {
                    BusRequest::Publish(channel, message) => Message {
                        header: gossip::header(&t, kind::PUBLISH),
                        body: Body::Publish(channel.to_vec(), message.to_vec()),
                    }
                    .encode(),
                    BusRequest::PongAll => {
                        gossip::ping(&t, kind::PONG, None, &mut now_ms()).encode()
                    }
                };
                drop(t);
                let n = bus.broadcast(&bytes);
                bus.count_sent(&bytes, n);
            }
        }
    };
    tokio::join!(accept, cron_loop, serve_requests);
}
