//! WATCH: which clients watch which keys of one database, exactly per key.
//!
//! Like Redis's `watched_keys` dict: each watched key maps to the clients
//! watching it, and every change to a key ([`Watches::touch`], called by
//! the keyspace on every write, expiry and deletion while the key's stripe
//! is still held) raises their flags. A client's EXEC then takes its locks
//! and reads its flag: a write that finished before the locks were taken
//! has raised it; any later write is ordered after the transaction. A
//! write to another key, even in the same lock stripe, raises nothing.
//!
//! Redis 7.0's expiry rules are kept per watch: a key already expired
//! (though not yet deleted) when it was watched is remembered as such; its
//! deletion is then no change, and EXEC aborts when a watched key that was
//! live at WATCH has expired by EXEC time ([`Watches::expired_since`]).
//!
//! The map is split into shards by key hash, so writers to different keys
//! rarely meet on one mutex; when nobody watches anything in a database, a
//! write pays one atomic load.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::Mutex;

/// A client's "a watched key changed" flag, shared by all its watches.
#[derive(Debug, Default)]
pub struct WatchFlag {
    dirty: AtomicBool,
}

impl WatchFlag {
    /// Has a watched key changed since the watches were set?
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Mark dirty (a watched key changed, or its database was flushed).
    pub fn raise(&self) {
        self.dirty.store(true, Ordering::Release);
    }
}

/// One client's watch on one key.
struct Watcher {
    flag: Weak<WatchFlag>,
    /// The key existed but had expired when watched (Redis's
    /// `watchedKey.expired`).
    expired: bool,
}

impl Watcher {
    fn is(&self, flag: &Arc<WatchFlag>) -> bool {
        std::ptr::eq(self.flag.as_ptr(), Arc::as_ptr(flag))
    }

    fn raise(&self) {
        if let Some(f) = self.flag.upgrade() {
            f.raise();
        }
    }
}

type Shard = HashMap<Bytes, Vec<Watcher>, foldhash::fast::FixedState>;

const SHARDS: usize = 16;

/// The watches of one database.
#[derive(Default)]
pub struct Watches {
    shards: [Mutex<Shard>; SHARDS],
    /// Keys with at least one watcher (the fast "nobody watches" check).
    count: AtomicUsize,
}

/// How a key changed, for [`Watches::touch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// The key exists after the change.
    Exists,
    /// The key was deleted (or expired and was removed).
    Deleted,
}

impl Watches {
    fn shard(&self, key: &[u8]) -> &Mutex<Shard> {
        let h = foldhash::fast::FixedState::default().hash_one(key);
        &self.shards[(h as usize) % SHARDS]
    }

    /// `flag` watches `key`; `expired` says the key exists but has expired.
    pub fn add(&self, key: &[u8], flag: &Arc<WatchFlag>, expired: bool) {
        let mut shard = self.shard(key).lock();
        let list = shard.entry(Bytes::copy_from_slice(key)).or_insert_with(|| {
            self.count.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        });
        list.retain(|w| w.flag.strong_count() > 0);
        if !list.iter().any(|w| w.is(flag)) {
            list.push(Watcher {
                flag: Arc::downgrade(flag),
                expired,
            });
        }
    }

    /// `flag` stops watching `key`.
    pub fn remove(&self, key: &[u8], flag: &Arc<WatchFlag>) {
        let mut shard = self.shard(key).lock();
        if let Some(list) = shard.get_mut(key) {
            list.retain(|w| w.flag.strong_count() > 0 && !w.is(flag));
            if list.is_empty() {
                shard.remove(key);
                self.count.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Did `key`, live when `flag` watched it, expire since? (Redis's
    /// `isWatchedKeyExpired`; `is_expired` is asked only when needed.)
    pub fn expired_since(
        &self,
        key: &[u8],
        flag: &Arc<WatchFlag>,
        is_expired: impl FnOnce() -> bool,
    ) -> bool {
        let was_expired = self
            .shard(key)
            .lock()
            .get(key)
            .and_then(|list| list.iter().find(|w| w.is(flag)))
            .is_some_and(|w| w.expired);
        !was_expired && is_expired()
    }

    /// `key` changed: raise the flag of everyone watching it. Deleting a
    /// key that had already expired when watched is no change.
    pub fn touch(&self, key: &[u8], after: After) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(list) = self.shard(key).lock().get_mut(key) {
            for w in list {
                if w.expired && after == After::Deleted {
                    w.expired = false;
                } else {
                    w.raise();
                }
            }
        }
    }

    /// This database was emptied or replaced (FLUSHDB, FLUSHALL, SWAPDB;
    /// Redis's `touchAllWatchedKeysInDb`). `state(key)` says whether the
    /// key existed before and what the database now holds under it.
    pub fn touch_all(&self, mut state: impl FnMut(&[u8]) -> Replaced) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        for shard in &self.shards {
            for (key, list) in shard.lock().iter_mut() {
                let s = state(key);
                for w in list.iter_mut() {
                    match s {
                        Replaced {
                            existed: false,
                            now: Now::Absent,
                        } => {}
                        Replaced {
                            now: Now::Absent, ..
                        } if w.expired => w.expired = false,
                        Replaced {
                            now: Now::Expired, ..
                        } if w.expired => {}
                        Replaced {
                            existed: false,
                            now: Now::Expired,
                        } => w.expired = true,
                        _ => w.raise(),
                    }
                }
            }
        }
    }

    /// Exchange the watches of two databases (SWAPDB: watches belong to
    /// the database number, as in Redis).
    pub fn swap(&self, other: &Watches) {
        if std::ptr::eq(self, other) {
            return;
        }
        for (a, b) in self.shards.iter().zip(&other.shards) {
            std::mem::swap(&mut *a.lock(), &mut *b.lock());
        }
        let n = self
            .count
            .swap(other.count.load(Ordering::Relaxed), Ordering::Relaxed);
        other.count.store(n, Ordering::Relaxed);
    }

    /// Watched keys.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// True when no key is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What happened to one watched key when its database was replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    /// The key existed (expired or not) in the old database.
    pub existed: bool,
    /// What the database holds under the key now.
    pub now: Now,
}

/// A key in the database that replaced a flushed or swapped one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Now {
    /// No such key.
    Absent,
    /// The key exists but has expired.
    Expired,
    /// The key is live.
    Live,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> Arc<WatchFlag> {
        Arc::new(WatchFlag::default())
    }

    #[test]
    fn touches_raise_exactly_the_watchers_of_the_key() {
        let w = Watches::default();
        let (a, b) = (flag(), flag());
        w.add(b"k", &a, false);
        w.add(b"other", &b, false);
        w.touch(b"k", After::Exists);
        assert!(a.is_dirty() && !b.is_dirty());
        w.remove(b"other", &b);
        w.touch(b"other", After::Exists);
        assert!(!b.is_dirty());
        assert_eq!(w.len(), 1);
        let c = flag();
        w.add(b"k", &c, false);
        w.touch_all(|_| Replaced {
            existed: false,
            now: Now::Absent,
        });
        assert!(!c.is_dirty(), "a flush of a database without the key");
        w.touch_all(|_| Replaced {
            existed: true,
            now: Now::Absent,
        });
        assert!(c.is_dirty());
        drop(c);
        w.remove(b"k", &a);
        assert!(w.is_empty());
    }

    #[test]
    fn watchers_of_closed_clients_are_dropped_when_the_key_is_watched_again() {
        let w = Watches::default();
        let watchers = |w: &Watches| w.shard(b"k").lock().get(&b"k"[..]).map_or(0, Vec::len);
        for _ in 0..100 {
            // A client that watched `k` and went away without UNWATCH.
            w.add(b"k", &flag(), false);
        }
        let live = flag();
        w.add(b"k", &live, false);
        assert_eq!(watchers(&w), 1, "only the live watcher is kept");
    }

    #[test]
    fn deleting_a_key_that_had_expired_when_watched_is_no_change() {
        let w = Watches::default();
        let a = flag();
        w.add(b"k", &a, true);
        assert!(!w.expired_since(b"k", &a, || true));
        w.touch(b"k", After::Deleted);
        assert!(!a.is_dirty());
        // Deleted keys are no longer "expired": a new expiry counts.
        assert!(w.expired_since(b"k", &a, || true));
        w.touch(b"k", After::Exists);
        assert!(a.is_dirty());
    }

    #[test]
    fn swap_moves_watches_with_the_database_number() {
        let (x, y) = (Watches::default(), Watches::default());
        let a = flag();
        x.add(b"k", &a, false);
        x.swap(&y);
        assert!(x.is_empty() && y.len() == 1);
        x.touch(b"k", After::Exists);
        assert!(!a.is_dirty());
        y.touch(b"k", After::Exists);
        assert!(a.is_dirty());
    }

    #[test]
    fn a_second_watcher_of_a_key_does_not_drop_the_first() {
        let w = Watches::default();
        let (a, b) = (flag(), flag());
        w.add(b"k", &a, false);
        w.add(b"k", &b, false);
        w.touch(b"k", After::Exists);
        assert!(a.is_dirty(), "the first client's WATCH was lost");
        assert!(b.is_dirty());
    }

    #[test]
    fn is_empty_only_while_no_key_is_watched() {
        let w = Watches::default();
        assert!(w.is_empty());
        let a = flag();
        w.add(b"k", &a, false);
        assert!(!w.is_empty());
        w.remove(b"k", &a);
        assert!(w.is_empty());
    }
}
