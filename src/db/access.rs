//! [`Access`]: how a command reaches its keyspace.
//!
//! Outside a transaction every method takes the key locks it needs (shared
//! for a single-key write through `Store::compute`, exclusive for a change
//! in place or a multi-key command, a seqlock for reads). Inside a
//! transaction (EXEC, later scripts) the transaction has already locked,
//! exclusively and in the global order, every stripe its commands touch;
//! then the same methods take no lock at all. Commands are written once
//! against `Access` and are atomic in both settings.

use std::cell::Cell;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use super::keyspace::{Keyspace, Slot, Touch};
use super::locks::KeysGuard;

/// A keyspace as one command sees it.
pub struct Access<'a, S> {
    ks: &'a Keyspace<S>,
    held: bool,
    lookups: Option<&'a Lookups>,
}

/// Reads that found their key and reads that did not, counted by one
/// command (INFO's `keyspace_hits` and `keyspace_misses`).
#[derive(Debug, Default)]
pub struct Lookups {
    hits: Cell<u64>,
    misses: Cell<u64>,
}

impl Lookups {
    fn count(&self, found: bool) {
        let c = if found { &self.hits } else { &self.misses };
        c.set(c.get() + 1);
    }

    /// Count `hits` and `misses` more (a script's commands).
    pub fn add(&self, hits: u64, misses: u64) {
        self.hits.set(self.hits.get() + hits);
        self.misses.set(self.misses.get() + misses);
    }

    /// (hits, misses) so far, resetting both.
    pub fn take(&self) -> (u64, u64) {
        (self.hits.take(), self.misses.take())
    }
}

impl<S> Clone for Access<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Access<'_, S> {}

/// Whole-keyspace operations (DBSIZE, SCAN, RANDOMKEY...) are the
/// keyspace's own; the key-level methods of `Access` shadow its namesakes.
impl<S> std::ops::Deref for Access<'_, S> {
    type Target = Keyspace<S>;
    fn deref(&self) -> &Keyspace<S> {
        self.ks
    }
}

impl<'a, S: Store> Access<'a, S> {
    /// Access that takes its own locks.
    pub fn new(ks: &'a Keyspace<S>) -> Self {
        Access {
            ks,
            held: false,
            lookups: None,
        }
    }

    /// Access inside a transaction that holds every stripe it touches.
    pub fn held(ks: &'a Keyspace<S>) -> Self {
        Access {
            ks,
            held: true,
            lookups: None,
        }
    }

    /// This access, counting its reads' hits and misses into `lookups`.
    pub fn counting(self, lookups: &'a Lookups) -> Self {
        Access {
            lookups: Some(lookups),
            ..self
        }
    }

    fn looked_up(&self, key: &[u8], found: bool) {
        if let Some(l) = self.lookups {
            l.count(found);
        }
        if !found {
            self.missed(key);
        }
    }

    /// Report that a read found no `key` (the `keymiss` event). Outside a
    /// transaction or script it first lets a writer that just removed the
    /// key report its own event (Redis's order: `expired`, then `keymiss`);
    /// inside one, the key's stripe is held and no such writer can be in
    /// flight.
    pub fn missed(&self, key: &[u8]) {
        match self.held {
            true => self.ks.key_miss(key),
            false => self.ks.key_miss_unlocked(key),
        }
    }

    /// The keyspace itself (sizes, iteration, the sweeper's hooks).
    pub fn keyspace(&self) -> &'a Keyspace<S> {
        self.ks
    }

    /// Is this access inside a transaction?
    pub fn in_transaction(&self) -> bool {
        self.held
    }

    fn check_held(&self, key: &[u8]) {
        debug_assert!(
            !self.held
                || self.ks.faults().unlocked_exec
                || self.ks.faults().unlocked_script
                || self.ks.locks().is_exclusive(key),
            "a transaction touched a key whose stripe it does not hold"
        );
    }

    /// Run `f` on the live entry of `key` (see [`Keyspace::read`]).
    /// A miss is a `keymiss` event, as Redis's `lookupKeyRead` reports.
    pub fn read<R>(&self, key: &[u8], now: u64, f: impl FnMut(Option<&Entry>) -> R) -> R {
        self.read_as(key, now, Touch::Access, f)
    }

    /// [`read`](Self::read) without counting an access of the key (Redis's
    /// `LOOKUP_NOTOUCH` reads: TYPE, TTL and friends), which still count
    /// as hits or misses.
    pub fn read_notouch<R>(&self, key: &[u8], now: u64, f: impl FnMut(Option<&Entry>) -> R) -> R {
        self.read_as(key, now, Touch::NoTouch, f)
    }

    fn read_as<R>(
        &self,
        key: &[u8],
        now: u64,
        touch: Touch,
        mut f: impl FnMut(Option<&Entry>) -> R,
    ) -> R {
        let mut missed = false;
        let mut f = |e: Option<&Entry>| {
            missed = e.is_none();
            f(e)
        };
        let r = if self.held {
            self.check_held(key);
            self.ks.read_locked_as(&KeysGuard::Held, key, now, touch, f)
        } else {
            self.ks.read_as(key, now, touch, &mut f)
        };
        self.looked_up(key, !missed);
        r
    }

    /// [`read`](Self::read) without the `keymiss` event (Redis's
    /// `LOOKUP_NONOTIFY`: OBJECT, and reads that are part of a write).
    pub fn peek<R>(&self, key: &[u8], now: u64, mut f: impl FnMut(Option<&Entry>) -> R) -> R {
        if self.held {
            self.check_held(key);
            return self.ks.read_locked(&KeysGuard::Held, key, now, f);
        }
        self.ks.read(key, now, &mut f)
    }

    /// [`peek`](Self::peek) without counting an access (`LOOKUP_NOTOUCH`).
    pub fn peek_untouched<R>(
        &self,
        key: &[u8],
        now: u64,
        f: impl FnOnce(Option<&Entry>) -> R,
    ) -> R {
        if self.held {
            self.check_held(key);
        }
        self.ks.read_untouched(key, now, f)
    }

    /// Read several keys as one snapshot (see [`Keyspace::read_many`]),
    /// counting an access of each or not.
    pub fn read_many<T>(
        &self,
        keys: &[Bytes],
        now: u64,
        touch: Touch,
        mut f: impl FnMut(Option<&Entry>) -> T,
    ) -> Vec<T> {
        let mut missed = vec![false; keys.len()];
        let mut i = 0;
        let mut f = |e: Option<&Entry>| {
            missed[i % keys.len()] = e.is_none();
            i += 1;
            f(e)
        };
        let out = if self.held {
            keys.iter()
                .map(|k| {
                    self.ks
                        .read_locked_as(&KeysGuard::Held, k, now, touch, &mut f)
                })
                .collect()
        } else {
            self.ks.read_many(keys, now, touch, &mut f)
        };
        for (k, m) in keys.iter().zip(&missed) {
            self.looked_up(k, !m);
        }
        out
    }

    /// Compute from several keys at once (see [`Keyspace::read_all`]).
    pub fn read_all<R>(
        &self,
        keys: &[Bytes],
        now: u64,
        mut f: impl FnMut(&[Option<Entry>]) -> R,
    ) -> R {
        let mut missed = Vec::new();
        let mut f = |entries: &[Option<Entry>]| {
            missed = entries.iter().map(Option::is_none).collect();
            f(entries)
        };
        let r = if self.held {
            let entries: Vec<Option<Entry>> = keys
                .iter()
                .map(|k| self.read_locked(&KeysGuard::Held, k, now, |e| e.cloned()))
                .collect();
            f(&entries)
        } else {
            self.ks.read_all(keys, now, &mut f)
        };
        for (k, m) in keys.iter().zip(&missed) {
            self.looked_up(k, !m);
        }
        r
    }

    /// Atomically read and change `key` (see [`Keyspace::update`]).
    pub fn update<R>(&self, key: &[u8], now: u64, f: impl FnMut(Option<&Entry>) -> (Op, R)) -> R {
        if self.held {
            self.check_held(key);
            return self.ks.update_locked(&KeysGuard::Held, key, now, f);
        }
        self.ks.update(key, now, f)
    }

    /// Change `key` in place (see [`Keyspace::mutate`]).
    pub fn mutate<R>(&self, key: &[u8], now: u64, f: impl FnOnce(&mut Slot) -> R) -> R {
        if self.held {
            self.check_held(key);
            return self.ks.mutate_locked(&KeysGuard::Held, key, now, f);
        }
        self.ks.mutate(key, now, f)
    }

    /// Lock the stripes of `keys` exclusively for a multi-key command (a
    /// no-op inside a transaction).
    pub fn lock_keys<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> KeysGuard<'a> {
        if self.held {
            return KeysGuard::Held;
        }
        self.ks.lock_keys(keys)
    }

    /// Lock every stripe of the keyspace exclusively (a no-op inside a
    /// transaction, which then holds them all).
    pub fn lock_all(&self) -> KeysGuard<'a> {
        if self.held {
            return KeysGuard::Held;
        }
        KeysGuard::Own(self.ks.locks().lock_all())
    }

    /// Live keys and their types from `cursor` (see
    /// [`Keyspace::scan_as`]).
    pub fn scan(&self, cursor: u64, count: usize, now: u64) -> (u64, Vec<(Bytes, &'static str)>) {
        self.ks.scan_as(self.held, cursor, count, now)
    }

    /// Every live key `keep` accepts (see [`Keyspace::keys_as`]).
    pub fn keys(&self, now: u64, keep: impl FnMut(&[u8]) -> bool) -> Vec<Bytes> {
        self.ks.keys_as(self.held, now, keep)
    }

    /// Run `f` on the entry of `key`, logically expired or not, without
    /// counting an access (DEBUG DIGEST-VALUE and OBJECT).
    pub fn peek_raw<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        self.ks.read_raw(key, f)
    }

    /// Every entry, expired ones included (see
    /// [`Keyspace::for_each_entry_as`]).
    pub fn for_each_entry(&self, f: impl FnMut(&[u8], &Entry)) {
        self.ks.for_each_entry_as(self.held, f)
    }

    /// Number of keys (see [`Keyspace::len_as`]).
    pub fn len(&self) -> usize {
        self.ks.len_as(self.held)
    }

    /// True when the keyspace holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A random live key (see [`Keyspace::random_key`]).
    pub fn random_key(&self, seed: u64, now: u64, tries: usize) -> Option<Bytes> {
        self.ks.random_key_as(self.held, seed, now, tries)
    }

    /// [`Keyspace::read_locked`].
    pub fn read_locked<R>(
        &self,
        held: &KeysGuard<'_>,
        key: &[u8],
        now: u64,
        f: impl FnMut(Option<&Entry>) -> R,
    ) -> R {
        self.ks.read_locked(held, key, now, f)
    }

    /// [`Keyspace::update_locked`].
    pub fn update_locked<R>(
        &self,
        held: &KeysGuard<'_>,
        key: &[u8],
        now: u64,
        f: impl FnMut(Option<&Entry>) -> (Op, R),
    ) -> R {
        self.ks.update_locked(held, key, now, f)
    }

    /// [`Keyspace::mutate_locked`].
    pub fn mutate_locked<R>(
        &self,
        held: &KeysGuard<'_>,
        key: &[u8],
        now: u64,
        f: impl FnOnce(&mut Slot) -> R,
    ) -> R {
        self.ks.mutate_locked(held, key, now, f)
    }

    /// [`Keyspace::insert_locked`].
    pub fn insert_locked(
        &self,
        held: &KeysGuard<'_>,
        key: Bytes,
        entry: Entry,
        now: u64,
    ) -> Option<Entry> {
        self.ks.insert_locked(held, key, entry, now)
    }
}

#[cfg(test)]
mod tests {
    use super::{Access, Lookups};
    use crate::db::keyspace::{Keyspace, Touch};
    use bytes::Bytes;
    use store_api::{Entry, Op};

    #[test]
    fn a_multi_key_read_counts_each_key_as_hit_or_miss() {
        let ks = Keyspace::<crate::backends::RwLockStore>::default();
        ks.update(b"b", 0, |_| (Op::Put(Entry::string("v")), ()));
        let lookups = Lookups::default();
        let keys: Vec<Bytes> = ["a", "b", "c", "b"].map(Bytes::from).into();
        let found = Access::new(&ks)
            .counting(&lookups)
            .read_many(&keys, 0, Touch::Access, |e| e.is_some());
        assert_eq!(found, [false, true, false, true]);
        assert_eq!(lookups.take(), (2, 2), "hits and misses, key by key");
    }

    #[test]
    fn an_access_is_empty_exactly_when_its_keyspace_is() {
        let ks = Keyspace::<crate::backends::RwLockStore>::default();
        assert!(Access::new(&ks).is_empty());
        ks.update(b"k", 0, |_| (Op::Put(Entry::string("v")), ()));
        assert!(!Access::new(&ks).is_empty());
        assert_eq!(Access::new(&ks).len(), 1);
    }

    #[test]
    fn lookups_add_up_and_reset() {
        let l = Lookups::default();
        l.count(true);
        l.add(3, 4);
        l.count(false);
        assert_eq!(l.take(), (4, 5));
        assert_eq!(l.take(), (0, 0));
    }
}
