//! Reads: one key, several, all of a command's keys, with or without the
//! stripes held; an expired entry met on the way is reaped (see `reap`).

use store_api::{Entry, Store};

use super::*;

impl<S: Store> Keyspace<S> {
    /// Does `key` exist but has expired (Redis's `keyIsExpired`)?
    pub fn is_expired_key(&self, key: &[u8], now: u64) -> bool {
        self.map.read(key, |e| e.is_some_and(|e| e.is_expired(now)))
    }

    /// Run `f` on the live entry of `key` (`None` if absent or expired).
    ///
    /// `f` may run more than once (when a multi-key command changes the key
    /// meanwhile), so it must only compute its result.
    pub fn read<R>(&self, key: &[u8], now: u64, f: impl FnMut(Option<&Entry>) -> R) -> R {
        self.read_as(key, now, Touch::Access, f)
    }

    /// [`read`](Self::read), counting an access or not.
    pub fn read_as<R>(
        &self,
        key: &[u8],
        now: u64,
        touch: Touch,
        mut f: impl FnMut(Option<&Entry>) -> R,
    ) -> R {
        let mut expired = false;
        let r = self.locks.read_one(key, || {
            self.read_unlocked(key, now, touch, &mut expired, &mut f)
        });
        if expired {
            self.reap(key, now, false);
        }
        r
    }

    /// As [`read`](Self::read), for callers that hold the key's stripe
    /// (multi-key commands); an expired entry is deleted at once.
    pub fn read_locked<R>(
        &self,
        held: &KeysGuard<'_>,
        key: &[u8],
        now: u64,
        f: impl FnMut(Option<&Entry>) -> R,
    ) -> R {
        self.read_locked_as(held, key, now, Touch::Access, f)
    }

    /// [`read_locked`](Self::read_locked), counting an access or not.
    pub fn read_locked_as<R>(
        &self,
        _held: &KeysGuard<'_>,
        key: &[u8],
        now: u64,
        touch: Touch,
        mut f: impl FnMut(Option<&Entry>) -> R,
    ) -> R {
        let mut expired = false;
        let r = self.read_unlocked(key, now, touch, &mut expired, &mut f);
        if expired {
            self.reap(key, now, true);
        }
        r
    }

    pub(super) fn read_unlocked<R>(
        &self,
        key: &[u8],
        now: u64,
        touch: Touch,
        expired: &mut bool,
        f: &mut impl FnMut(Option<&Entry>) -> R,
    ) -> R {
        self.map.read(key, |e| {
            *expired = e.is_some_and(|e| e.is_expired(now));
            let live = e.filter(|_| !*expired);
            if let (Some(e), Touch::Access) = (live, touch) {
                self.events.access_clock().touch(e.access(), now);
            }
            f(live)
        })
    }

    /// Run `f` on the entry of `key`, logically expired or not, without
    /// counting an access (DEBUG).
    pub fn read_raw<R>(&self, key: &[u8], f: impl FnOnce(Option<&Entry>) -> R) -> R {
        self.map.read(key, f)
    }

    /// Run `f` on the live entry of `key` without counting an access
    /// (Redis's `LOOKUP_NOTOUCH`: OBJECT, MEMORY USAGE).
    pub fn read_untouched<R>(
        &self,
        key: &[u8],
        now: u64,
        f: impl FnOnce(Option<&Entry>) -> R,
    ) -> R {
        self.map.read(key, |e| f(e.filter(|e| !e.is_expired(now))))
    }

    /// Read several keys as one snapshot: no multi-key command is seen half
    /// done. `f` maps each key's live entry (in order) and may run again.
    pub fn read_many<T>(
        &self,
        keys: &[Bytes],
        now: u64,
        touch: Touch,
        mut f: impl FnMut(Option<&Entry>) -> T,
    ) -> Vec<T> {
        let stripes = self.locks.stripes_of(keys.iter().map(|k| &k[..]));
        let mut expired = Vec::new();
        let out = self.locks.read_many(&stripes, || {
            expired.clear();
            keys.iter()
                .map(|k| {
                    let mut was_expired = false;
                    let r = self.read_unlocked(k, now, touch, &mut was_expired, &mut f);
                    if was_expired {
                        expired.push(k.clone());
                    }
                    r
                })
                .collect()
        });
        for k in expired {
            self.reap(&k, now, false);
        }
        out
    }

    /// Read several keys as one snapshot and compute from all of them at
    /// once: `f` sees every key's live entry, in order, and no command
    /// changes any of them while it computes (if one does, `f` runs again;
    /// after a few tries the stripes are locked shared). For SINTER and
    /// friends, which read whole collections.
    pub fn read_all<R>(
        &self,
        keys: &[Bytes],
        now: u64,
        mut f: impl FnMut(&[Option<Entry>]) -> R,
    ) -> R {
        let stripes = self.locks.stripes_of(keys.iter().map(|k| &k[..]));
        let mut expired = Vec::new();
        let mut body = || {
            expired.clear();
            let entries: Vec<Option<Entry>> = keys
                .iter()
                .map(|k| {
                    let e = self.map.get(k);
                    if e.as_ref().is_some_and(|e| e.is_expired(now)) {
                        expired.push(k.clone());
                        return None;
                    }
                    e
                })
                .collect();
            f(&entries)
        };
        let out = if self.faults.split_updates {
            // The planted fault: the keys are read one by one, no snapshot.
            body()
        } else {
            self.locks.read_many(&stripes, body)
        };
        for k in expired {
            self.reap(&k, now, false);
        }
        out
    }
}
