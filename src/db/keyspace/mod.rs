//! One numbered database: the key map, its volatile-key index and its key
//! locks, with Redis's expiry rules applied on every access.
//!
//! The map is a `Store` and knows nothing about time. Here every read treats
//! an entry past its deadline as absent and deletes it (Redis's lazy expiry,
//! `expireIfNeeded`), and every update closure sees an expired entry as
//! absent.
//!
//! `volatile` indexes the keys that carry a TTL (Redis's `expires` dict), so
//! the sweeper samples only those and INFO can count them. It is a hint that
//! is kept honest by one rule: a writer that gives a key a TTL adds it to the
//! index *after* the map write, and whoever takes the last TTL away removes
//! it from the index and then re-checks the map, re-adding it if a TTL came
//! back meanwhile. So a key with a TTL is never left out of the index; an
//! index entry without a TTL behind it (rare, after racing writers) is
//! dropped by the sweeper when it samples it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use super::blocking::Blocked;
use super::events::{class, KeyEvents};
use super::journal;
use super::locks::{KeyLocks, KeysGuard};
use super::slotkeys::SlotKeys;
use super::snapshot::{copy_entry, Capture};
use super::volatile::VolatileIndex;

mod read;
mod slot;
mod whole;
use super::watch::{After, Now, Replaced, Watches};
use super::Faults;
pub use slot::Slot;

/// How long a reader that missed a key waits for the writers of the key's
/// stripe before it reports the miss anyway.
const MISS_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Does a read count as an access of its key (the LRU/LFU clock that
/// eviction and OBJECT IDLETIME/FREQ read)?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// It does (Redis's `lookupKeyRead`).
    Access,
    /// It does not (`LOOKUP_NOTOUCH`: TYPE, EXISTS, TTL and friends).
    NoTouch,
}

/// What the sweeper found for one sampled key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swept {
    /// Past its deadline: deleted.
    Expired,
    /// Has a TTL this many milliseconds in the future.
    Live(u64),
    /// Absent or without TTL: dropped from the index.
    Stale,
}

/// A numbered database.
pub struct Keyspace<S> {
    map: S,
    faults: Faults,
    volatile: VolatileIndex,
    locks: KeyLocks,
    blocked: Blocked,
    watches: Watches,
    /// Keys deleted because they expired; written only on such a deletion.
    expired: AtomicU64,
    /// Running estimate of the TTL of volatile keys (INFO's `avg_ttl`),
    /// maintained by the sweeper as Redis does.
    avg_ttl: AtomicU64,
    /// Where `new`, `expired` and `keymiss` events go.
    events: Arc<KeyEvents>,
    /// This keyspace's database number (changes with SWAPDB).
    index: AtomicUsize,
    /// A running snapshot's copies of keys changed since it started.
    capture: Capture,
    /// The keys of each hash slot, in cluster mode (see `slotkeys`).
    slots: Option<Box<SlotKeys>>,
}

impl<S: Store> Default for Keyspace<S> {
    fn default() -> Self {
        Keyspace::new(Faults::default(), Arc::default(), 0)
    }
}

impl<S: Store> Keyspace<S> {
    /// An empty database number `index` with planted `faults` (none
    /// outside tests), reporting events to `events`.
    pub fn new(faults: Faults, events: Arc<KeyEvents>, index: usize) -> Self {
        Keyspace {
            events,
            index: AtomicUsize::new(index),
            faults,
            map: S::default(),
            volatile: VolatileIndex::default(),
            locks: KeyLocks::default(),
            blocked: Blocked::default(),
            watches: Watches::default(),
            expired: AtomicU64::new(0),
            avg_ttl: AtomicU64::new(0),
            capture: Capture::new(faults.snapshot_no_capture),
            slots: None,
        }
    }

    /// This database keeps the keys of each hash slot (cluster mode).
    pub fn with_slot_index(mut self) -> Self {
        self.slots = Some(Box::default());
        self
    }
}

fn has_ttl(e: Option<&Entry>) -> bool {
    e.is_some_and(|e| e.expires_at().is_some())
}

impl<S: Store> Keyspace<S> {
    /// Number of keys, including expired ones not yet deleted (as DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Run the backend's housekeeping ([`Store::maintain`]).
    pub fn maintain(&self) {
        self.map.maintain();
    }

    /// Number of keys with a TTL (approximate while writers run).
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Does any key have a TTL? (Cheaper than `volatile_len() > 0`.)
    pub fn has_volatile_keys(&self) -> bool {
        !self.volatile.is_empty()
    }

    /// The sweeper's estimate of the average TTL of volatile keys, in ms.
    pub fn avg_ttl(&self) -> u64 {
        self.avg_ttl.load(Ordering::Relaxed)
    }

    /// Fold the mean TTL of one sample into the estimate (Redis's
    /// `activeExpireCycle` weights a new sample 1/50).
    pub fn note_ttl_sample(&self, mean_ms: u64) {
        let old = self.avg_ttl.load(Ordering::Relaxed);
        let next = if old == 0 {
            mean_ms
        } else {
            (old / 50) * 49 + mean_ms / 50
        };
        self.avg_ttl.store(next, Ordering::Relaxed);
    }

    /// Keys deleted because they expired.
    pub fn expired_count(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// This keyspace's database number.
    pub fn index(&self) -> usize {
        self.index.load(Ordering::Relaxed)
    }

    /// It became database `index` (SWAPDB).
    pub(super) fn set_index(&self, index: usize) {
        self.index.store(index, Ordering::Relaxed);
    }

    /// Report `event` of `class` on `key` of this database.
    pub fn emit(&self, class: u32, event: &'static str, key: &[u8]) {
        self.events.emit(class, event, self.index(), key);
    }

    /// A read found no `key` (Redis's `keymiss` event).
    pub fn key_miss(&self, key: &[u8]) {
        self.emit(class::KEY_MISS, "keymiss", key);
    }

    /// [`key_miss`](Self::key_miss) for a reader that holds no stripe.
    /// A writer that removed the key (the sweeper reaping it) reports its
    /// `expired` only after the removal, so a lock-free read can miss the
    /// key before that event is out. Redis reports `expired` first; the
    /// reader waits for the single-key writers of the key's stripe to
    /// leave (a bounded wait, so it can never deadlock), and only when
    /// anyone listens for `keymiss`.
    pub fn key_miss_unlocked(&self, key: &[u8]) {
        if !self.events.wants(class::KEY_MISS) {
            return;
        }
        let start = std::time::Instant::now();
        while self.locks.try_lock_one(key).is_none() && start.elapsed() < MISS_WAIT {
            std::thread::yield_now();
        }
        self.key_miss(key);
    }

    /// The faults planted in this database (tests only).
    pub fn faults(&self) -> Faults {
        self.faults
    }

    /// The key locks, for multi-key commands.
    pub fn locks(&self) -> &KeyLocks {
        &self.locks
    }

    /// The clients blocked on keys of this database.
    pub fn blocked(&self) -> &Blocked {
        &self.blocked
    }

    /// The keys clients WATCH in this database.
    pub fn watches(&self) -> &Watches {
        &self.watches
    }

    /// `key` changed (written, deleted, expired): what WATCH (and, later,
    /// client-side caching) hear about. Called with the key's stripe held.
    fn touch(&self, key: &[u8], after: After) {
        self.watches.touch(key, after);
        self.events.modified(key);
    }

    /// [`touch`](Self::touch) for a key deleted because it expired.
    fn touch_expired(&self, key: &[u8]) {
        self.watches.touch(key, After::Deleted);
        self.events.expired(key);
    }

    /// Empty this database in place, under every stripe held by a
    /// transaction (FLUSHDB inside EXEC, which must not swap in a database
    /// the transaction does not hold). Watchers of existing keys hear it.
    pub fn clear_in_place(&self) {
        if self.capture.is_active() {
            // A snapshot still needs what it has not visited yet.
            let mut cursor = 0;
            loop {
                let mut batch = Vec::new();
                cursor = self
                    .map
                    .scan(cursor, 256, |k, e| batch.push((k.to_vec(), copy_entry(e))));
                for (k, e) in batch {
                    self.capture.before_write(&k, || Some(e));
                }
                if cursor == 0 {
                    break;
                }
            }
        }
        self.events.whole_db_changed(self.map.len() as u64);
        self.events.flushed();
        self.replaced_by(None, 0);
        self.map.clear();
        self.volatile.clear();
        if let Some(slots) = &self.slots {
            slots.clear();
        }
    }

    /// This database's contents are being replaced by `with`'s (SWAPDB),
    /// or by nothing (FLUSHDB, FLUSHALL): its watchers hear about every
    /// key that changes (Redis's `touchAllWatchedKeysInDb`).
    pub fn replaced_by(&self, with: Option<&Keyspace<S>>, now: u64) {
        self.watches.touch_all(|k| Replaced {
            existed: self.map.read(k, |e| e.is_some()),
            now: with.map_or(Now::Absent, |w| {
                w.map.read(k, |e| match e {
                    None => Now::Absent,
                    Some(e) if e.is_expired(now) => Now::Expired,
                    Some(_) => Now::Live,
                })
            }),
        });
    }

    /// The access clock a write gives the entry it stores, given the live
    /// entry it replaces (`createObject`; an LFU counter survives an
    /// overwrite, as in `dbSetValue`).
    fn stamp(&self, new: &Entry, old: Option<&Entry>, now: u64) {
        let clock = self.events.access_clock();
        let v = match old {
            Some(old) => clock.accessed(old.access().get(), now),
            None => clock.fresh(now),
        };
        new.access().set(v);
    }

    /// Lock the stripes of `keys` exclusively (a multi-key write).
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeysGuard<'_> {
        if self.faults.split_updates {
            // The planted fault: multi-key commands lock nothing.
            return KeysGuard::Held;
        }
        let mut keys = keys.into_iter();
        let first = keys.next();
        match (first, keys.next()) {
            // One key (most collection writes): no list of stripes to build.
            (Some(k), None) => KeysGuard::Own(self.locks.lock_one(k)),
            (first, second) => {
                let all = first.into_iter().chain(second).chain(keys);
                KeysGuard::Own(self.locks.lock(&self.locks.stripes_of(all)))
            }
        }
    }

    /// Atomically read and change `key`. `f` sees the live entry (`None`
    /// when absent or expired) and may run more than once. Returning
    /// `Op::Keep` for an expired entry deletes it.
    pub fn update<R>(&self, key: &[u8], now: u64, f: impl FnMut(Option<&Entry>) -> (Op, R)) -> R {
        self.locks
            .write_one(key, || self.update_unlocked(key, now, f))
    }

    /// As [`update`](Self::update), for callers holding the key's stripe.
    pub fn update_locked<R>(
        &self,
        _held: &KeysGuard<'_>,
        key: &[u8],
        now: u64,
        f: impl FnMut(Option<&Entry>) -> (Op, R),
    ) -> R {
        self.update_unlocked(key, now, f)
    }

    pub(super) fn update_unlocked<R>(
        &self,
        key: &[u8],
        now: u64,
        mut f: impl FnMut(Option<&Entry>) -> (Op, R),
    ) -> R {
        if self.faults.split_updates {
            return self.update_split(key, now, f);
        }
        self.capture
            .before_write(key, || self.map.read(key, |e| e.map(copy_entry)));
        let (mut had, mut has, mut reaped, mut after) = (false, false, false, None);
        let mut created = false;
        let r = self.map.compute(key, |cur| {
            let expired = cur.is_some_and(|e| e.is_expired(now));
            let live = cur.filter(|_| !expired);
            let (op, r) = f(live);
            match (&op, live) {
                (Op::Put(e), old) => self.stamp(e, old, now),
                (Op::Keep, Some(e)) => self.events.access_clock().touch(e.access(), now),
                _ => {}
            }
            // An expired entry is gone whatever the closure decided (Redis
            // deletes it in `lookupKeyWrite` before the command runs).
            reaped = expired;
            let op = match op {
                Op::Keep if expired => Op::Remove,
                op => op,
            };
            after = match op {
                Op::Keep => None,
                Op::Put(_) => Some(After::Exists),
                Op::Remove => cur.is_some().then_some(After::Deleted),
            };
            created = matches!(op, Op::Put(_)) && (cur.is_none() || expired);
            had = has_ttl(cur);
            has = match &op {
                Op::Put(e) => e.expires_at().is_some(),
                Op::Remove => false,
                Op::Keep => had,
            };
            (op, r)
        });
        if reaped {
            self.reaped(key);
        }
        if created {
            self.created(key);
            self.emit(class::NEW, "new", key);
        }
        if after == Some(After::Deleted) {
            self.deleted(key);
        }
        match after {
            // Gone only because it expired: the server's change.
            Some(After::Deleted) if reaped => self.touch_expired(key),
            Some(after) => {
                if reaped {
                    self.events.invalidate_expired(key);
                }
                self.touch(key, after);
            }
            None => {}
        }
        self.reindex(key, had, has);
        r
    }

    /// The planted fault: read, decide, yield, write (check-then-act).
    fn update_split<R>(
        &self,
        key: &[u8],
        now: u64,
        mut f: impl FnMut(Option<&Entry>) -> (Op, R),
    ) -> R {
        self.capture
            .before_write(key, || self.map.read(key, |e| e.map(copy_entry)));
        let cur = self.map.get(key).filter(|e| !e.is_expired(now));
        let (op, r) = f(cur.as_ref());
        std::thread::yield_now();
        let had = has_ttl(cur.as_ref());
        match op {
            Op::Keep => {}
            Op::Put(_) => self.touch(key, After::Exists),
            Op::Remove => self.touch(key, After::Deleted),
        }
        match op {
            Op::Keep => {}
            Op::Put(e) => {
                let has = e.expires_at().is_some();
                self.map.insert(Bytes::copy_from_slice(key), e);
                self.created(key);
                self.reindex(key, had, has);
            }
            Op::Remove => {
                self.map.remove(key);
                self.deleted(key);
                self.reindex(key, had, false);
            }
        }
        r
    }

    /// Store `entry` under `key` (caller holds the stripe), returning the
    /// live entry it replaced.
    pub fn insert_locked(
        &self,
        _held: &KeysGuard<'_>,
        key: Bytes,
        entry: Entry,
        now: u64,
    ) -> Option<Entry> {
        let has = entry.expires_at().is_some();
        self.capture
            .before_write(&key, || self.map.read(&key, |e| e.map(copy_entry)));
        self.stamp(&entry, None, now);
        let old = self.map.insert(key.clone(), entry);
        if old.is_none() {
            self.created(&key);
        }
        let had = has_ttl(old.as_ref());
        let old = old.filter(|e| !e.is_expired(now));
        if old.is_none() {
            self.emit(class::NEW, "new", &key);
        }
        self.touch(&key, After::Exists);
        self.reindex(&key, had, has);
        old
    }

    /// `key` was deleted because it expired: counted, announced, and
    /// journaled as the `DEL` Redis propagates.
    fn reaped(&self, key: &[u8]) {
        self.expired.fetch_add(1, Ordering::Relaxed);
        self.emit(class::EXPIRED, "expired", key);
        self.journal_del(key);
    }

    /// Log the `DEL` Redis propagates for a key the server deleted by
    /// itself (expired or evicted).
    fn journal_del(&self, key: &[u8]) {
        journal::record(
            self.index(),
            vec![Bytes::from_static(b"DEL"), Bytes::copy_from_slice(key)],
        );
    }

    /// `key` was created: the slot index learns it (after the map write).
    fn created(&self, key: &[u8]) {
        if let Some(slots) = &self.slots {
            slots.insert(key);
        }
    }

    /// `key` was deleted: the slot index forgets it unless the map (read
    /// after the removal) has it again.
    fn deleted(&self, key: &[u8]) {
        if let Some(slots) = &self.slots {
            // Unit tests widen the window the re-check closes (a writer
            // re-creating the key between the map's removal and this one).
            #[cfg(test)]
            std::thread::yield_now();
            slots.remove(key, || self.map.read(key, |e| e.is_some()));
        }
    }

    /// Up to `limit` keys of hash `slot` (expired ones not yet deleted
    /// included, as Redis's `slots_to_keys`). Only a database that keeps
    /// the slot index (database 0 in cluster mode, the only place these
    /// are asked) has any.
    pub fn keys_in_slot(&self, slot: usize, limit: usize) -> Vec<Bytes> {
        self.slots.as_ref().map_or_else(Vec::new, |slots| {
            slots.keys(slot, limit, |k| self.map.read(k, |e| e.is_some()))
        })
    }

    /// The number of keys in hash `slot` (see
    /// [`keys_in_slot`](Self::keys_in_slot)).
    pub fn count_in_slot(&self, slot: usize) -> usize {
        self.slots.as_ref().map_or(0, |slots| {
            slots.count(slot, |k| self.map.read(k, |e| e.is_some()))
        })
    }

    fn reindex(&self, key: &[u8], had: bool, has: bool) {
        if has && !had {
            self.volatile.insert(key);
        } else if had && !has {
            self.unindex(key);
        }
    }

    /// Drop `key` from the index unless the map (re-checked after the
    /// removal) still gives it a TTL.
    fn unindex(&self, key: &[u8]) {
        if self.volatile.remove(key) && self.map.read(key, has_ttl) {
            self.volatile.insert(key);
        }
    }

    /// Delete `key` if it has expired. With the journal on, only inside
    /// an ordered section, where the deletion gets its place in the log
    /// (see `journal`): a reader holding no lock opens one for it (Redis
    /// propagates the DEL of a key a read found expired); one holding
    /// stripes (which come after the order lock) leaves the key to the
    /// sweeper (it is invisible either way).
    fn reap(&self, key: &[u8], now: u64, held: bool) {
        if self.events.expiry_paused() {
            // CLIENT PAUSE: it stays (invisible) until the pause ends.
            return;
        }
        let journal = self.events.journal();
        if journal.enabled() && !journal::in_section() {
            if !held {
                journal.ordered(|| self.update(key, now, |_| (Op::Keep, ())));
            }
            return;
        }
        if held {
            self.update_unlocked(key, now, |_| (Op::Keep, ()));
        } else {
            self.update(key, now, |_| (Op::Keep, ()));
        }
    }
}

#[cfg(test)]
mod tests;
