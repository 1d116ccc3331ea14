//! Replicas: the master side of Redis's replication.
//!
//! A client that sends SYNC (or PSYNC, answered `+FULLRESYNC <replid>
//! <offset>`) gets a full sync: an RDB image of every database at one
//! instant, then every change after that instant as the commands that
//! replay it, the write journal's records (the ones the append-only file
//! holds: `SET k v PXAT t` for `SET k v EX 10`, `DEL` for an expired key,
//! MULTI/EXEC around a transaction or a script). That is what
//! `redis-cli --rdb`, `redis-cli --replica`, a Redis replica and Redis's
//! test suite (which reads the stream to check what a command propagates)
//! expect of a master. FlashKV is only ever a master: there is no backlog,
//! so every PSYNC is a full resynchronisation.
//!
//! **The instant.** The journal attaches the replica's feed with its
//! order lock held and no write running ([`Journal::attach`]), and the
//! snapshot starts right there (the copy-on-write snapshot BGSAVE uses):
//! every change is either in the image or in the stream, never both,
//! never neither. While the image is written (on a thread of its own, so
//! no connection waits) the stream is held in the replica's buffer; then
//! the image is queued, then the buffer, then the stream flows straight
//! into the client's mailbox. The buffer and the mailbox are bounded by
//! `client-output-buffer-limit replica` (a replica that falls behind is
//! dropped, as in Redis); the image itself is queued in chunks as the
//! connection sends them, so it never counts against that limit.
//!
//! [`Journal::attach`]: crate::db::Journal::attach

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use store_api::Store;

use super::clients::ClientHandle;
use super::pubsub::Outbound;
use crate::config::Config;
use crate::db::Db;
use crate::util::unix_secs;

/// Where a replica is in its synchronisation (INFO's `state=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// Waiting for a snapshot to start (another one is running).
    WaitBgsave = 0,
    /// The image is being written and sent.
    SendBulk = 1,
    /// Streaming.
    Online = 2,
}

impl Stage {
    /// Redis's name for the stage.
    pub fn name(self) -> &'static str {
        match self {
            Stage::WaitBgsave => "wait_bgsave",
            Stage::SendBulk => "send_bulk",
            Stage::Online => "online",
        }
    }
}

/// What a replica said about itself with REPLCONF before SYNC.
#[derive(Debug, Clone, Default)]
pub struct ReplConf {
    /// `listening-port`.
    pub port: i64,
    /// `ip-address`.
    pub ip: Option<String>,
    /// `capa eof`: takes an image of unannounced length, ended by a mark.
    pub eof: bool,
    /// `rdb-only 1`: the image only, no stream after it.
    pub rdb_only: bool,
    /// `rdb-filter-only`: the image holds no keys (`functions` keeps the
    /// function libraries, which are otherwise left out too).
    pub filter: Option<bool>,
}

/// One attached replica.
pub struct Replica {
    /// Its client id.
    pub id: u64,
    client: Arc<ClientHandle>,
    /// Its stream's path.
    feed: Mutex<Feed>,
    /// `client-output-buffer-limit replica`'s hard limit, as it attached.
    hard: u64,
    /// The address it announced (or connected from).
    pub ip: String,
    /// The port it announced (0: none).
    pub port: i64,
    stage: AtomicU8,
    /// The largest offset it acknowledged (REPLCONF ACK).
    ack: AtomicU64,
    /// When it last acknowledged (Unix seconds).
    ack_at: AtomicU64,
    /// Its image (ended by a mark) is queued; its first ACK starts the
    /// stream.
    sent: AtomicBool,
}

impl Replica {
    /// Its stage now.
    pub fn stage(&self) -> Stage {
        match self.stage.load(Ordering::Acquire) {
            0 => Stage::WaitBgsave,
            1 => Stage::SendBulk,
            _ => Stage::Online,
        }
    }

    /// Its acknowledged offset.
    pub fn ack(&self) -> u64 {
        self.ack.load(Ordering::Acquire)
    }

    /// Seconds since it last acknowledged.
    pub fn lag(&self) -> u64 {
        unix_secs().saturating_sub(self.ack_at.load(Ordering::Relaxed))
    }

    /// The journal's sink for this replica: the stream is held while the
    /// image is prepared, then goes straight to the client.
    fn sink(self: &Arc<Self>) -> crate::db::journal::FeedSink {
        let me = self.clone();
        Box::new(move |bytes: &[u8]| {
            let (c, hard) = (&me.client, me.hard);
            let mut f = me.feed.lock();
            if c.is_killed() {
                *f = Feed::Gone;
            }
            match &mut *f {
                Feed::Buffer(b) if hard > 0 && (b.len() + bytes.len()) as u64 > hard => {
                    tracing::warn!(
                        client = c.id,
                        "client scheduled to be closed ASAP for overcoming of output buffer limits"
                    );
                    c.kill();
                    *f = Feed::Gone;
                    false
                }
                Feed::Buffer(b) => {
                    b.extend_from_slice(bytes);
                    true
                }
                Feed::Online => send(c, Bytes::copy_from_slice(bytes), hard),
                Feed::Gone => false,
            }
        })
    }

    /// The image is sent (and, after an image ended by a mark, the
    /// replica acknowledged it: it cannot tell the stream from the image
    /// before): what was held goes out, and the stream flows.
    fn go_online(&self) {
        let mut f = self.feed.lock();
        if let Feed::Buffer(b) = std::mem::replace(&mut *f, Feed::Online) {
            if !b.is_empty() && !send(&self.client, b.into(), self.hard) {
                *f = Feed::Gone;
            }
        }
        self.stage.store(Stage::Online as u8, Ordering::Release);
    }
}

/// The image goes to the mailbox in pieces of this size...
const CHUNK: usize = 64 * 1024;
/// ...while less than this waits there unsent.
const QUEUED: usize = 1 << 20;

/// The attached replicas.
#[derive(Default)]
pub struct Replicas {
    list: Mutex<Vec<Arc<Replica>>>,
    /// When the last keep-alive PING went out.
    last_ping: Mutex<Option<Instant>>,
}

/// The replication stream's path to one replica: held in `Buffer` while
/// the image is prepared, then straight to the client.
enum Feed {
    Buffer(Vec<u8>),
    Online,
    Gone,
}

impl Replicas {
    /// Replicas online that acknowledged within `max_lag` seconds (Redis's
    /// good replicas).
    pub fn good(&self, max_lag: u64) -> usize {
        self.list()
            .iter()
            .filter(|r| r.stage() == Stage::Online && r.lag() <= max_lag)
            .count()
    }

    /// Do `min-replicas-to-write` and `min-replicas-max-lag` refuse writes
    /// now (Redis's `checkGoodReplicasStatus`)?
    pub fn too_few(&self, config: &Config) -> bool {
        let (want, lag) = (config.min_replicas_to_write, config.min_replicas_max_lag);
        want > 0 && lag > 0 && (self.good(lag) as u64) < want
    }

    /// Every attached replica.
    pub fn list(&self) -> Vec<Arc<Replica>> {
        self.list.lock().clone()
    }

    /// Is client `id` a replica?
    pub fn get(&self, id: u64) -> Option<Arc<Replica>> {
        self.list.lock().iter().find(|r| r.id == id).cloned()
    }

    /// REPLCONF ACK `offset` from client `id` (the first one after an
    /// image ended by a mark starts its stream).
    pub fn ack(&self, id: u64, offset: u64) {
        if let Some(r) = self.get(id) {
            r.ack.fetch_max(offset, Ordering::AcqRel);
            r.ack_at.store(unix_secs(), Ordering::Relaxed);
            if r.stage() == Stage::SendBulk && r.sent.load(Ordering::Acquire) {
                r.go_online();
            }
        }
    }

    /// Client `id` left: stop feeding it.
    pub fn remove<S: Store>(&self, db: &Db<S>, id: u64) {
        let mut list = self.list.lock();
        if let Some(i) = list.iter().position(|r| r.id == id) {
            list.remove(i);
            drop(list);
            db.journal().detach(id);
            tracing::info!(client = id, "Connection with replica lost.");
        }
    }

    /// The cron's part: the keep-alive PING every
    /// `repl-ping-replica-period` seconds while replicas are attached.
    pub fn cron<S: Store>(&self, db: &Db<S>, config: &Config) {
        let journal = db.journal();
        let mut last = self.last_ping.lock();
        if journal.replicas() == 0 {
            *last = None;
            return;
        }
        let period = config
            .inert
            .get("repl-ping-replica-period")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(10);
        let at = *last.get_or_insert_with(Instant::now);
        if at.elapsed() >= Duration::from_secs(period) {
            *last = Some(Instant::now());
            journal.feed_now(&[b"PING"]);
        }
    }

    /// SYNC or PSYNC (`psync`) from `client`, which announced `conf`: start
    /// its full synchronisation (see the module documentation). Replies
    /// go through its mailbox, in order: `+FULLRESYNC` for PSYNC, the
    /// image, the stream.
    pub fn sync<S: Store>(
        self: &Arc<Self>,
        db: &Db<S>,
        config: Arc<Config>,
        client: Arc<ClientHandle>,
        conf: ReplConf,
        psync: bool,
        replid: String,
    ) {
        let replica = Arc::new(Replica {
            id: client.id,
            client: client.clone(),
            feed: Mutex::new(Feed::Buffer(Vec::new())),
            hard: config.output_limits.replica.hard,
            sent: AtomicBool::new(false),
            ip: conf
                .ip
                .clone()
                .unwrap_or_else(|| client.addr.ip().to_string()),
            port: conf.port,
            stage: AtomicU8::new(Stage::WaitBgsave as u8),
            ack: AtomicU64::new(0),
            ack_at: AtomicU64::new(unix_secs()),
        });
        self.list.lock().push(replica.clone());
        tracing::info!(client = client.id, "Replica asks for synchronization");
        let (me, db) = (self.clone(), db.clone());
        let spawned = std::thread::Builder::new()
            .name("flashkv-repl-sync".into())
            .spawn(move || {
                full_sync(&db, &config, &client, &conf, &replica, psync, &replid);
                if client.is_killed() {
                    me.remove(&db, client.id);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(cause = %e, "could not start a full synchronisation");
        }
    }
}

/// Queue raw bytes (not a push) for `client`; false when it is gone.
fn send(client: &ClientHandle, bytes: Bytes, hard: u64) -> bool {
    client.deliver(
        Outbound {
            bytes,
            push: false,
            resp3: None,
        },
        hard,
    )
}

/// The full synchronisation of one replica, on its own thread.
fn full_sync<S: Store>(
    db: &Db<S>,
    config: &Config,
    client: &Arc<ClientHandle>,
    conf: &ReplConf,
    replica: &Arc<Replica>,
    psync: bool,
    replid: &str,
) {
    let mut last_newline = Instant::now();
    let snap = loop {
        if client.is_killed() {
            return;
        }
        let sink = replica.sink();
        let journal = db.journal();
        // The planted fault: the snapshot's instant comes before the
        // stream's, with writes in between.
        let mut early = None;
        if db.faults().replica_gap {
            early = Some(db.begin_snapshot());
            std::thread::sleep(Duration::from_millis(2));
        }
        let attached = journal.attach(client.id, sink, || {
            let snap = match early {
                Some(snap) => snap?,
                None => db.begin_snapshot()?,
            };
            if psync {
                let line = format!("+FULLRESYNC {replid} {}\r\n", journal.repl_offset());
                send(client, line.into(), 0);
            }
            Some(snap)
        });
        if let Some(snap) = attached {
            break snap;
        }
        // Another snapshot runs: wait for it, with a newline every second
        // (Redis's keep-alive for a replica waiting for its image).
        if last_newline.elapsed() >= Duration::from_secs(1) {
            last_newline = Instant::now();
            if !send(client, Bytes::from_static(b"\n"), 0) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    replica
        .stage
        .store(Stage::SendBulk as u8, Ordering::Release);
    let snap = snap.with_key_delay(config.rdb_key_save_delay);
    let aux = super::persist::aux();
    let (compress, checksum) = (config.rdbcompression, config.rdbchecksum);
    let image = match conf.filter {
        None => snap.to_rdb(compress, checksum, &aux),
        Some(functions) => snap.to_rdb_without_keys(compress, checksum, &aux, functions),
    };
    drop(snap);
    let image = match image {
        Ok(i) => Bytes::from(i),
        Err(e) => {
            tracing::warn!(cause = %e, "could not write the image for a replica");
            client.kill();
            return;
        }
    };
    let diskless = conf.eof
        && config
            .inert
            .get("repl-diskless-sync")
            .is_none_or(|v| v == "yes");
    let mark: Option<String> = diskless.then(|| {
        let hex = b"0123456789abcdef";
        (0..40)
            .map(|_| char::from(hex[crate::util::rand::below(16)]))
            .collect()
    });
    let head = match &mark {
        Some(m) => format!("$EOF:{m}\r\n"),
        None => format!("${}\r\n", image.len()),
    };
    if !send(client, head.into(), 0) {
        return;
    }
    let mut at = 0;
    while at < image.len() {
        if client.is_killed() {
            return;
        }
        if client.mailbox().len() > QUEUED {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let end = (at + CHUNK).min(image.len());
        if !send(client, image.slice(at..end), 0) {
            return;
        }
        at = end;
    }
    if let Some(m) = mark {
        if !conf.rdb_only {
            // Redis's `repl_start_cmd_stream_on_ack`: the replica cannot
            // tell the stream from the image until it found the mark, so
            // the stream starts at its first ACK.
            replica.sent.store(true, Ordering::Release);
        }
        send(client, m.into(), 0);
    }
    tracing::info!(
        client = client.id,
        bytes = image.len(),
        "Synchronization with replica succeeded"
    );
    if conf.rdb_only {
        *replica.feed.lock() = Feed::Gone;
        db.journal().detach(client.id);
        replica.stage.store(Stage::Online as u8, Ordering::Release);
    } else if !diskless {
        replica.go_online();
    }
}
