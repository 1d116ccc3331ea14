//! Whole-keyspace work: SCAN, KEYS, DBSIZE, RANDOMKEY, the sweeper's
//! checks, and the snapshot's writing and loading.

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use super::super::events::class;
use super::super::snapshot::Capture;
use super::{Keyspace, Swept};

impl<S: Store> Keyspace<S> {
    /// Live keys (with their type names) from `cursor`, about `count` of
    /// them (see `Store::scan`), and the next cursor; expired keys met on
    /// the way are deleted. The batch is one snapshot: no multi-key
    /// command or transaction is seen half done. `held`: called by a
    /// transaction holding every stripe.
    pub fn scan_as(
        &self,
        held: bool,
        cursor: u64,
        count: usize,
        now: u64,
    ) -> (u64, Vec<(Bytes, &'static str)>) {
        let mut expired = Vec::new();
        let batch = || {
            expired.clear();
            let mut live = Vec::new();
            let next = self.map.scan(cursor, count, |k, e| {
                if e.is_expired(now) {
                    expired.push(k.clone());
                } else {
                    live.push((k.clone(), e.value.type_name()));
                }
            });
            (next, live)
        };
        let out = if held {
            let mut batch = batch;
            batch()
        } else {
            self.locks.read_whole(batch)
        };
        for k in expired {
            self.reap(&k, now, held);
        }
        out
    }

    /// Visit every entry, logically expired ones included (DEBUG DIGEST:
    /// Redis's digest covers them too, and deletes nothing). The stripes
    /// are held shared throughout, so no multi-key command is seen half
    /// done; single-key writes go on, so a digest taken under writes is not
    /// of one instant. `held`: called by a transaction holding every stripe.
    pub fn for_each_entry_as(&self, held: bool, mut f: impl FnMut(&[u8], &Entry)) {
        let mut all = || {
            let mut cursor = 0;
            loop {
                cursor = self.map.scan(cursor, 1024, |k, e| f(k, e));
                if cursor == 0 {
                    break;
                }
            }
        };
        if held {
            all()
        } else {
            self.locks.shared_whole(all)
        }
    }

    /// Every live key for which `keep` holds, as one snapshot (KEYS): the
    /// stripes are held shared throughout, so multi-key commands wait
    /// (single-key writes do not). Expired keys met are deleted.
    pub fn keys_as(&self, held: bool, now: u64, mut keep: impl FnMut(&[u8]) -> bool) -> Vec<Bytes> {
        const BATCH: usize = 1024;
        let mut expired = Vec::new();
        let mut all = || {
            let mut found = Vec::new();
            let mut batch = Vec::with_capacity(BATCH);
            let mut cursor = 0;
            loop {
                // Collect under the map's locks, match outside them.
                cursor = self.map.scan(cursor, BATCH, |k, e| {
                    if e.is_expired(now) {
                        expired.push(k.clone());
                    } else {
                        batch.push(k.clone());
                    }
                });
                found.extend(batch.drain(..).filter(|k| keep(k)));
                if cursor == 0 {
                    return found;
                }
            }
        };
        let found = if held {
            all()
        } else {
            self.locks.shared_whole(all)
        };
        for k in expired {
            self.reap(&k, now, held);
        }
        found
    }

    /// Number of keys (expired ones not yet deleted included), as one
    /// snapshot of multi-key commands.
    pub fn len_as(&self, held: bool) -> usize {
        if held {
            self.map.len()
        } else {
            self.locks.read_whole(|| self.map.len())
        }
    }

    /// A random live key, deleting expired keys drawn on the way (at most
    /// `tries` draws).
    pub fn random_key(&self, seed: u64, now: u64, tries: usize) -> Option<Bytes> {
        self.random_key_as(false, seed, now, tries)
    }

    /// [`random_key`](Self::random_key), by a transaction holding every
    /// stripe when `held`.
    pub fn random_key_as(
        &self,
        held: bool,
        mut seed: u64,
        now: u64,
        tries: usize,
    ) -> Option<Bytes> {
        for _ in 0..tries {
            let (k, e) = self.map.random_entry(seed)?;
            if !e.is_expired(now) {
                return Some(k);
            }
            self.reap(&k, now, held);
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
        None
    }

    /// Add a key loaded from a file (nobody else sees this keyspace yet);
    /// false when the key is already here.
    pub fn insert_loaded(&self, key: Bytes, entry: Entry) -> bool {
        if self.map.read(&key, |e| e.is_some()) {
            return false;
        }
        if entry.expires_at().is_some() {
            self.volatile.insert(&key);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        entry.access().set(self.events.access_clock().fresh(now));
        self.map.insert(key.clone(), entry);
        self.created(&key);
        true
    }

    /// The running snapshot's side of this keyspace.
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Write every key as of the running snapshot's instant, each encoded
    /// by `put` (RDB records, or the commands of an AOF base), handing
    /// them to `out` in batches; returns the number of keys written. See
    /// `db::snapshot` for why this is that instant.
    pub fn write_snapshot(
        &self,
        mut put: impl FnMut(&mut Vec<u8>, &[u8], &Entry),
        mut out: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<u64> {
        const BATCH: usize = 64 * 1024;
        let (mut cursor, mut written) = (0, 0u64);
        let mut buf = Vec::with_capacity(BATCH * 2);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        loop {
            cursor = self.map.scan(cursor, 256, |k, _| keys.push(k.to_vec()));
            for k in keys.drain(..) {
                self.capture.visit(k, |k| {
                    // A string is written while the map shows it; a
                    // collection is written from its handle, outside the
                    // map's lock.
                    let coll = self.map.read(k, |e| match e {
                        Some(
                            e @ Entry {
                                value: store_api::Value::Str(_),
                                ..
                            },
                        ) => {
                            put(&mut buf, k, e);
                            written += 1;
                            None
                        }
                        other => other.cloned(),
                    });
                    if let Some(e) = coll {
                        put(&mut buf, k, &e);
                        written += 1;
                    }
                });
                if buf.len() >= BATCH {
                    out(&buf)?;
                    buf.clear();
                }
            }
            if cursor == 0 {
                break;
            }
        }
        self.capture.drain_kept(|k, e| {
            put(&mut buf, k, e);
            written += 1;
        });
        out(&buf)?;
        Ok(written)
    }

    /// Up to `count` keys of the volatile index from `cursor`.
    pub fn sample_volatile(&self, cursor: u64, count: usize) -> (Vec<Bytes>, u64) {
        self.volatile.sample(cursor, count)
    }

    /// A key for eviction to consider and its entry: any key, or one with
    /// a TTL when `volatile`.
    pub fn sample_key(&self, volatile: bool, seed: u64) -> Option<(Bytes, Entry)> {
        if !volatile {
            return self.map.random_entry(seed);
        }
        let key = self.volatile.random(seed)?;
        let entry = self.map.get(&key)?;
        Some((key, entry))
    }

    /// Is `key` still here for eviction to take (with a TTL when
    /// `volatile`)?
    pub fn holds_evictable(&self, key: &[u8], volatile: bool) -> bool {
        self.map.read(key, |e| {
            e.is_some_and(|e| !volatile || e.expires_at().is_some())
        })
    }

    /// Delete `key` to free memory (`performEvictions`): under its stripe
    /// like any write, so a command changing it finishes first; WATCH
    /// hears it, an `evicted` event goes out and the journal logs a `DEL`
    /// in its place. False when the key was already gone.
    pub fn evict(&self, key: &[u8], now: u64) -> bool {
        let (gone, _) = self.events.journal().ordered(|| {
            let gone = self.update(key, now, |cur| match cur {
                Some(_) => (Op::Remove, true),
                None => (Op::Keep, false),
            });
            if gone {
                self.emit(class::EVICTED, "evicted", key);
                self.journal_del(key);
            }
            gone
        });
        gone
    }

    /// The sweeper's check of one sampled key.
    pub fn sweep_key(&self, key: &[u8], now: u64) -> Swept {
        let state = self.map.read(key, |e| match e {
            Some(e) if e.is_expired(now) => Swept::Expired,
            Some(e) => e
                .expires_at()
                .map_or(Swept::Stale, |at| Swept::Live(at - now)),
            None => Swept::Stale,
        });
        match state {
            Swept::Expired => {
                // Re-checked atomically: a SET that won the race keeps its key.
                // In the journal's order, so the `DEL` has its place.
                let (deleted, _) = self
                    .events
                    .journal()
                    .ordered(|| self.update(key, now, |cur| (Op::Keep, cur.is_none())));
                if deleted {
                    Swept::Expired
                } else {
                    Swept::Live(0)
                }
            }
            Swept::Stale => {
                self.locks.write_one(key, || self.unindex(key));
                Swept::Stale
            }
            live @ Swept::Live(_) => live,
        }
    }
}
