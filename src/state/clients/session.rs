//! The per-connection [`Session`] commands read and change, and the flag
//! bits CLIENT LIST shows for it.

use std::sync::Arc;

use bytes::Bytes;

use super::ClientHandle;
use crate::protocol::Protocol;
use crate::state::pubsub::Subscriptions;
use crate::state::replicas::ReplConf;
use crate::state::tracking::Mode;

/// Per-connection state that commands read and change.
#[derive(Debug)]
pub struct Session {
    /// This client as others see it.
    pub handle: Arc<ClientHandle>,
    /// Selected database.
    pub db: usize,
    /// Reply protocol.
    pub proto: Protocol,
    /// Has given the password (or none is required).
    pub authenticated: bool,
    /// Close once the pending replies are written (QUIT, protocol error,
    /// CLIENT KILL of oneself).
    pub close_after_reply: bool,
    /// Pushes for this client are waiting in its mailbox that must go
    /// before the running command's reply (an eviction's invalidations).
    pub pushes_first: bool,
    /// SHUTDOWN was accepted: stop the server, send no reply.
    pub shutdown_requested: bool,
    /// Index of the last command run.
    pub last_cmd: usize,
    /// When the last command ran (ms since the Unix epoch, the database
    /// clock): Redis's `lastinteraction`, read by CLIENT LIST's `idle`.
    pub last_command_ms: u64,
    /// Commands queued in an open MULTI, or -1 (CLIENT LIST's `multi=`).
    pub multi: i64,
    /// Pub/sub subscriptions.
    pub subs: Subscriptions,
    /// In MONITOR mode.
    pub monitor: bool,
    /// A replica: SYNC or PSYNC turned it into one.
    pub replica: bool,
    /// Bytes in the query buffer as the running request was read: its own
    /// and any pipelined after it (Redis's `qbuf` of the calling client).
    pub qbuf: usize,
    /// What REPLCONF announced (read by SYNC).
    pub repl_conf: ReplConf,
    /// CLIENT TRACKING mode, when on.
    pub tracking: Option<Mode>,
    /// CLIENT CACHING for the next command (OPTIN yes / OPTOUT no).
    pub caching: Option<bool>,
    /// CLIENT REPLY.
    pub reply: ReplyMode,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// ASKING: the next command may use a slot this node is importing.
    pub asking: bool,
    /// READONLY (cluster): reads may be served by a replica.
    pub readonly: bool,
    /// The AOF loader (Redis's `mustObeyClient`): never redirected.
    pub must_obey: bool,
    /// Journal position of this client's last logged write: its replies
    /// wait until the append-only file holds that much.
    pub journaled: u64,
    /// The error this command replies with was counted in errorstats when
    /// it happened (a script returning what `redis.call` raised): count
    /// the command as failed, not the error again.
    pub error_counted: bool,
    /// The FCALL being run, as sent (FUNCTION STATS shows it).
    pub script_argv: Vec<Bytes>,
}

/// CLIENT REPLY's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// No reply is sent.
    Off,
    /// The next `n` replies are dropped (SKIP: this one and the next).
    Skip(u8),
}

impl Session {
    /// Should the reply to the command that just ran be dropped (CLIENT
    /// REPLY OFF or SKIP)? Counts a SKIP down.
    pub fn drop_reply(&mut self) -> bool {
        match self.reply {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::Skip(n) => {
                self.reply = if n <= 1 {
                    ReplyMode::On
                } else {
                    ReplyMode::Skip(n - 1)
                };
                true
            }
        }
    }

    /// The [`ClientFlag`] bits of this session (`broken`: its tracking
    /// redirect target is gone).
    pub fn flags(&self, broken: bool) -> u32 {
        let mut f = 0;
        for (on, flag) in [
            (self.monitor, ClientFlag::Monitor),
            (self.replica, ClientFlag::Replica),
            (self.tracking.is_some(), ClientFlag::Tracking),
            (broken, ClientFlag::BrokenRedirect),
            (
                self.tracking.as_ref().is_some_and(|m| m.bcast),
                ClientFlag::Bcast,
            ),
            (self.close_after_reply, ClientFlag::CloseAfterReply),
            (self.no_evict, ClientFlag::NoEvict),
        ] {
            if on {
                f |= flag as u32;
            }
        }
        f
    }
}

/// Client states CLIENT LIST shows as flag letters, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum ClientFlag {
    /// `O`: MONITOR.
    Monitor = 1,
    /// `t`: CLIENT TRACKING on.
    Tracking = 2,
    /// `R`: the tracking redirect target is gone.
    BrokenRedirect = 4,
    /// `B`: tracking in BCAST mode.
    Bcast = 8,
    /// `c`: closing after this reply.
    CloseAfterReply = 16,
    /// `e`: CLIENT NO-EVICT on.
    NoEvict = 32,
    /// `S`: a replica.
    Replica = 64,
}

impl Session {
    /// A fresh session for `handle`.
    pub fn new(handle: Arc<ClientHandle>) -> Session {
        Session {
            handle,
            db: 0,
            proto: Protocol::Resp2,
            authenticated: false,
            close_after_reply: false,
            pushes_first: false,
            shutdown_requested: false,
            last_cmd: 0,
            last_command_ms: 0,
            multi: -1,
            subs: Subscriptions::default(),
            monitor: false,
            replica: false,
            qbuf: 0,
            repl_conf: Default::default(),
            tracking: None,
            caching: None,
            reply: ReplyMode::On,
            no_evict: false,
            error_counted: false,
            script_argv: Vec::new(),
            asking: false,
            readonly: false,
            must_obey: false,
            journaled: 0,
        }
    }
}
