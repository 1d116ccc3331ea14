//! Changes in place: the [`Slot`] a command edits a key through, and
//! `mutate`, which applies what the command decided.

use bytes::Bytes;
use store_api::{Entry, Store};

use super::super::events::class;
use super::super::locks::KeysGuard;
use super::super::watch::After;
use super::{has_ttl, Keyspace};
use crate::db::snapshot::copy_entry;

/// One key inside [`Keyspace::mutate`]: its live entry (a handle clone: a
/// collection found here is the stored one, to be locked and edited in
/// place) and what the command decided to do with the key.
pub struct Slot {
    entry: Option<Entry>,
    change: Change,
    modified: bool,
    /// The caller reports the `new` event itself (in its own order).
    quiet_new: bool,
    /// The access clock the stored entry gets (RESTORE's IDLETIME or
    /// FREQ) instead of the one an access stamps.
    clock: Option<u32>,
}

enum Change {
    Keep,
    Put(Entry),
    Remove,
}

impl Slot {
    /// The live entry (`None` when absent or expired).
    pub fn entry(&self) -> Option<&Entry> {
        match &self.change {
            Change::Put(e) => Some(e),
            Change::Remove => None,
            Change::Keep => self.entry.as_ref(),
        }
    }

    /// The collection found here was changed in place (WATCH hears it; a
    /// `put` or `remove` counts by itself).
    pub fn changed(&mut self) {
        self.modified = true;
    }

    /// Store `entry` under the key (a new collection, or a replacement).
    pub fn put(&mut self, entry: Entry) {
        self.change = Change::Put(entry);
    }

    /// [`put`](Self::put), leaving the `new` event to the caller (a list
    /// created while serving blocked clients reports it where Redis
    /// does: after the command's own events).
    pub fn put_new_later(&mut self, entry: Entry) {
        self.change = Change::Put(entry);
        self.quiet_new = true;
    }

    /// [`put`](Self::put) with this access clock (an LRU clock or an LFU
    /// counter: [`crate::db::evict::restored_clock`]).
    pub fn put_with_clock(&mut self, entry: Entry, clock: Option<u32>) {
        self.change = Change::Put(entry);
        self.clock = clock;
    }

    /// Delete the key (a collection that became empty).
    pub fn remove(&mut self) {
        self.change = if self.entry.is_some() {
            Change::Remove
        } else {
            Change::Keep
        };
    }
}

impl<S: Store> Keyspace<S> {
    /// Change `key` in place: hold its stripe exclusively, hand `f` the
    /// live entry in a [`Slot`], then apply what `f` decided. This is how
    /// collections change (`f` locks the collection it finds and edits
    /// it); `f` runs exactly once.
    pub fn mutate<R>(&self, key: &[u8], now: u64, f: impl FnOnce(&mut Slot) -> R) -> R {
        if self.faults.split_updates {
            return self.mutate_unlocked(key, now, f);
        }
        let _held = self.locks.lock_one(key);
        self.mutate_unlocked(key, now, f)
    }

    /// As [`mutate`](Self::mutate), for callers holding the key's stripe.
    pub fn mutate_locked<R>(
        &self,
        _held: &KeysGuard<'_>,
        key: &[u8],
        now: u64,
        f: impl FnOnce(&mut Slot) -> R,
    ) -> R {
        self.mutate_unlocked(key, now, f)
    }

    pub(super) fn mutate_unlocked<R>(
        &self,
        key: &[u8],
        now: u64,
        f: impl FnOnce(&mut Slot) -> R,
    ) -> R {
        self.capture
            .before_write(key, || self.map.read(key, |e| e.map(copy_entry)));
        let mut cur = self.map.read(key, |e| {
            if let Some(e) = e {
                self.events.access_clock().touch(e.access(), now);
            }
            e.cloned()
        });
        let split = self.faults.split_updates;
        if split {
            // The planted fault: change a private copy and write it back.
            cur = cur.map(|mut e| {
                e.value = e.value.deep_clone();
                e
            });
        }
        if cur.as_ref().is_some_and(|e| e.is_expired(now)) {
            // Gone before the command runs (Redis's `lookupKeyWrite`).
            self.map.remove(key);
            self.deleted(key);
            self.reaped(key);
            self.touch_expired(key);
            self.reindex(key, true, false);
            cur = None;
        }
        let had = has_ttl(cur.as_ref());
        let mut slot = Slot {
            entry: cur,
            change: Change::Keep,
            modified: false,
            quiet_new: false,
            clock: None,
        };
        let r = f(&mut slot);
        if split {
            std::thread::yield_now();
            if let (Change::Keep, Some(copy)) = (&slot.change, &slot.entry) {
                self.map.insert(Bytes::copy_from_slice(key), copy.clone());
                self.created(key);
            }
        }
        match slot.change {
            Change::Keep if slot.modified => self.touch(key, After::Exists),
            Change::Keep => {}
            Change::Put(entry) => {
                match slot.clock {
                    Some(clock) => entry.access().set(clock),
                    None => self.stamp(&entry, slot.entry.as_ref(), now),
                }
                let has = entry.expires_at().is_some();
                if self
                    .map
                    .insert(Bytes::copy_from_slice(key), entry)
                    .is_none()
                {
                    self.created(key);
                    if !slot.quiet_new {
                        self.emit(class::NEW, "new", key);
                    }
                }
                self.touch(key, After::Exists);
                self.reindex(key, had, has);
            }
            Change::Remove => {
                if self.map.remove(key).is_some() {
                    self.deleted(key);
                    self.touch(key, After::Deleted);
                }
                self.reindex(key, had, false);
            }
        }
        r
    }
}
