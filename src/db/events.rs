//! Keyspace events: what `notify-keyspace-events` publishes.
//!
//! Commands report their own events (`set`, `lpush`, `del`...) through
//! [`KeyEvents::emit`]; the databases report the events no command owns:
//! `new` when a key is created, `expired` when one is deleted because it
//! expired (lazily or by the sweeper), `keymiss` when a read finds no key.
//! The sink that turns events into pub/sub messages belongs to the server
//! state; this module only holds the enabled classes (one load decides
//! whether an event is wanted, so with notifications off, the default, an
//! event costs one branch) and calls the sink.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use super::journal::{self, Journal};
use super::snapshot::Changes;

/// Event classes, with Redis's `NOTIFY_*` bit values.
pub mod class {
    /// `K`: publish to `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish to `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: generic commands (DEL, EXPIRE, RENAME...).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 3;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 4;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 5;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// `x`: expired keys.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: evicted keys.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// `m`: key misses (not part of `A`).
    pub const KEY_MISS: u32 = 1 << 11;
    /// `d`: module key types.
    pub const MODULE: u32 = 1 << 13;
    /// `n`: new keys (not part of `A`).
    pub const NEW: u32 = 1 << 14;
    /// `A`: every class but `m` and `n`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// Parse a `notify-keyspace-events` value (Redis's
/// `keyspaceEventsStringToFlags`); `None` on an unknown character.
pub fn parse_classes(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => class::ALL,
            'g' => class::GENERIC,
            '$' => class::STRING,
            'l' => class::LIST,
            's' => class::SET,
            'h' => class::HASH,
            'z' => class::ZSET,
            'x' => class::EXPIRED,
            'e' => class::EVICTED,
            'K' => class::KEYSPACE,
            'E' => class::KEYEVENT,
            't' => class::STREAM,
            'm' => class::KEY_MISS,
            'd' => class::MODULE,
            'n' => class::NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// The canonical spelling of `flags` (Redis's
/// `keyspaceEventsFlagsToString`), as CONFIG GET shows it.
pub fn format_classes(flags: u32) -> String {
    let mut s = String::new();
    if flags & class::ALL == class::ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (class::GENERIC, 'g'),
            (class::STRING, '$'),
            (class::LIST, 'l'),
            (class::SET, 's'),
            (class::HASH, 'h'),
            (class::ZSET, 'z'),
            (class::EXPIRED, 'x'),
            (class::EVICTED, 'e'),
            (class::STREAM, 't'),
            (class::MODULE, 'd'),
            (class::NEW, 'n'),
        ] {
            if flags & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [
        (class::KEYSPACE, 'K'),
        (class::KEYEVENT, 'E'),
        (class::KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Receives every wanted event: (enabled classes, event name, database,
/// key).
pub type Sink = Box<dyn Fn(u32, &'static str, usize, &[u8]) + Send + Sync>;

/// Hears every change to a key (client-side caching invalidation).
pub type ModifyHook = Box<dyn Fn(&[u8]) + Send + Sync>;
/// Hears FLUSHDB and FLUSHALL.
pub type FlushHook = Box<dyn Fn() + Send + Sync>;

/// The enabled classes and the sink, shared by every keyspace of a server,
/// and the hooks client-side caching listens with.
#[derive(Default)]
pub struct KeyEvents {
    flags: AtomicU32,
    sink: OnceLock<Sink>,
    /// Some client tracks keys: call the hooks.
    tracking: AtomicBool,
    on_modify: OnceLock<ModifyHook>,
    on_server_modify: OnceLock<ModifyHook>,
    on_flush: OnceLock<FlushHook>,
    /// Every change to a key, for the save schedule and INFO.
    changes: Changes,
    /// The append-only file's journal (off unless `appendonly yes`).
    journal: Journal,
    /// How lookups update each key's access clock (maxmemory-policy).
    access_clock: super::evict::ClockPolicy,
    /// CLIENT PAUSE: a read that finds a key expired leaves it in place.
    expiry_paused: AtomicBool,
}

impl KeyEvents {
    /// Install the sink (once, at server start).
    pub fn set_sink(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    /// Enable exactly `flags` (CONFIG SET notify-keyspace-events).
    pub fn set_classes(&self, flags: u32) {
        self.flags.store(flags, Ordering::Relaxed);
    }

    /// Is an event of `class` published at all? (K or E must be on too.)
    #[inline]
    pub fn wants(&self, class: u32) -> bool {
        let f = self.flags.load(Ordering::Relaxed);
        f & class != 0 && f & (class::KEYSPACE | class::KEYEVENT) != 0
    }

    /// Report `event` of `class` on `key` in database `db`.
    #[inline]
    pub fn emit(&self, class: u32, event: &'static str, db: usize, key: &[u8]) {
        if self.wants(class) {
            self.publish(event, db, key);
        }
    }

    #[cold]
    fn publish(&self, event: &'static str, db: usize, key: &[u8]) {
        if let Some(sink) = self.sink.get() {
            sink(self.classes(), event, db, key);
        }
    }

    /// The enabled classes.
    pub fn classes(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }

    /// Install the tracking hooks (once, at server start).
    pub fn set_hooks(&self, modified: ModifyHook, by_server: ModifyHook, flushed: FlushHook) {
        let _ = self.on_modify.set(modified);
        let _ = self.on_server_modify.set(by_server);
        let _ = self.on_flush.set(flushed);
    }

    /// Call the hooks from now on (some client tracks) or not.
    pub fn set_tracking(&self, on: bool) {
        self.tracking.store(on, Ordering::Relaxed);
    }

    /// `key` changed (counted; one load when nobody tracks).
    #[inline]
    pub fn modified(&self, key: &[u8]) {
        self.changes.add(1);
        if self.journal.enabled() {
            journal::dirty();
        }
        if self.tracking.load(Ordering::Relaxed) {
            if let Some(hook) = self.on_modify.get() {
                hook(key);
            }
        }
    }

    /// `key` changed because it expired (a lazy or an active expiry): as
    /// [`modified`](Self::modified), but client-side caching hears of it
    /// as a change no client made (NOLOOP hides it from nobody, as in
    /// Redis, whose expiry signals the change with no client).
    pub fn expired(&self, key: &[u8]) {
        self.changes.add(1);
        if self.journal.enabled() {
            journal::dirty();
        }
        self.invalidate_expired(key);
    }

    /// Only the client-side caching part of [`expired`](Self::expired)
    /// (an expired key a command then writes anew: the write is counted
    /// as the command's).
    pub fn invalidate_expired(&self, key: &[u8]) {
        if self.tracking.load(Ordering::Relaxed) {
            if let Some(hook) = self.on_server_modify.get() {
                hook(key);
            }
        }
    }

    /// Changes to the data so far (`rdb_changes_since_last_save` counts
    /// from a save's start).
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// The write journal every change is recorded in.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// CLIENT PAUSE is on (or off): lazy expiry deletes nothing, as in
    /// Redis's `expireIfNeeded` (the key reads as missing all the same,
    /// and goes once the pause ends, so a paused primary's dataset and its
    /// replication stream stay still).
    pub fn set_expiry_paused(&self, paused: bool) {
        self.expiry_paused.store(paused, Ordering::Relaxed);
    }

    /// Does lazy expiry wait (CLIENT PAUSE)?
    pub fn expiry_paused(&self) -> bool {
        self.expiry_paused.load(Ordering::Relaxed)
    }

    /// How lookups update each key's access clock.
    pub fn access_clock(&self) -> &super::evict::ClockPolicy {
        &self.access_clock
    }

    /// A whole database changed at once (FLUSHDB, FLUSHALL, SWAPDB),
    /// taking `keys` keys with it: counted, and always a change the
    /// journal logs (Redis propagates them even for an empty database).
    pub fn whole_db_changed(&self, keys: u64) {
        self.changes.add(keys);
        if self.journal.enabled() {
            journal::dirty();
        }
    }

    /// A database was emptied (the hook runs even when nobody tracks now:
    /// it empties the tracking table of keys read while someone did, as
    /// Redis's `trackingInvalidateKeysOnFlush`).
    pub fn flushed(&self) {
        if let Some(hook) = self.on_flush.get() {
            hook();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_parse_and_print_like_redis() {
        assert_eq!(parse_classes("KEA"), Some(class::ALL | 3));
        assert_eq!(format_classes(parse_classes("KEA").unwrap()), "AKE");
        assert_eq!(format_classes(parse_classes("Elg$").unwrap()), "g$lE");
        assert_eq!(format_classes(parse_classes("nmKx").unwrap()), "xnKm");
        // Redis drops `n` when it prints `A`.
        assert_eq!(format_classes(parse_classes("KEAnm").unwrap()), "AKEm");
        assert_eq!(parse_classes("Kq"), None);
        assert_eq!(format_classes(0), "");
    }

    /// Client-side caching hears through the installed hooks: a client's
    /// change and a change no client made (expiry), only while some client
    /// tracks, and flushes (always: the hook decides what they mean).
    #[test]
    fn installed_hooks_hear_changes_while_tracking_is_on() {
        use std::sync::{Arc, Mutex};
        let events = KeyEvents::default();
        let heard: Arc<Mutex<Vec<String>>> = Arc::default();
        let hear = |what: &'static str| {
            let heard = heard.clone();
            move |k: &[u8]| {
                let key = String::from_utf8_lossy(k);
                heard.lock().unwrap().push(format!("{what} {key}"));
            }
        };
        let on_flush = heard.clone();
        events.set_hooks(
            Box::new(hear("client")),
            Box::new(hear("server")),
            Box::new(move || on_flush.lock().unwrap().push("flush".into())),
        );
        events.modified(b"untracked");
        events.expired(b"untracked");
        events.set_tracking(true);
        events.modified(b"a");
        events.expired(b"b");
        events.flushed();
        events.set_tracking(false);
        events.modified(b"c");
        assert_eq!(*heard.lock().unwrap(), ["client a", "server b", "flush"]);
        assert_eq!(events.changes().total(), 5, "every change counts");
    }

    #[test]
    fn the_classes_set_are_the_classes_read() {
        let events = KeyEvents::default();
        assert_eq!(events.classes(), 0, "off by default, as in Redis");
        let flags = parse_classes("KEA").unwrap();
        events.set_classes(flags);
        assert_eq!(events.classes(), flags);
    }

    #[test]
    fn every_class_letter_is_its_own_bit() {
        let mut seen = 0;
        for c in "g$lshzxeKEtmdn".chars() {
            let flags = parse_classes(&c.to_string()).unwrap();
            assert_eq!(flags.count_ones(), 1, "{c}");
            assert_eq!(seen & flags, 0, "{c} shares a bit");
            seen |= flags;
            assert_eq!(format_classes(flags), c.to_string());
        }
        // `A` is every class but K, E, m and n.
        assert_eq!(parse_classes("A"), parse_classes("g$lshzxetd"));
    }

    #[test]
    fn an_event_is_wanted_only_with_its_class_and_k_or_e() {
        let events = KeyEvents::default();
        let wants = |flags: &str, class| {
            events.set_classes(parse_classes(flags).unwrap());
            events.wants(class)
        };
        assert!(wants("Ks", class::SET));
        assert!(wants("Es", class::SET));
        assert!(!wants("Ks", class::LIST));
        assert!(!wants("s", class::SET), "neither K nor E");
        assert!(!wants("KE", class::SET));
        assert!(wants("KA", class::ZSET));
    }
}
