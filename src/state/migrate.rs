//! The connections MIGRATE keeps to its targets (Redis's
//! `migrate_cached_sockets`): one per `host:port`, reused by the next
//! MIGRATE there (which skips SELECT when the target's database is the
//! one it selected last), closed after 10 s unused, at most 64 of them.
//!
//! A MIGRATE takes its target's connection out of the cache while it uses
//! it and puts it back when the exchange went well, so two MIGRATEs to
//! one target at once each have a connection of their own (the second
//! one opens another; only one goes back).

use std::collections::HashMap;
use std::io::BufReader;
use std::net::TcpStream;

use parking_lot::Mutex;

/// Redis's MIGRATE_SOCKET_CACHE_ITEMS.
const MAX_SOCKETS: usize = 64;
/// Redis's MIGRATE_SOCKET_CACHE_TTL: closed when unused for longer, s.
const IDLE_SECS: u64 = 10;

/// One kept connection.
#[derive(Debug)]
pub struct Target {
    /// The connection, with whatever it has read ahead.
    pub conn: BufReader<TcpStream>,
    /// The database it last selected (-1: unknown, SELECT next time).
    pub last_db: i64,
    last_use: u64,
}

impl Target {
    /// A new connection (nothing selected yet).
    pub fn new(stream: TcpStream) -> Self {
        Target {
            conn: BufReader::new(stream),
            last_db: -1,
            last_use: 0,
        }
    }
}

/// The cache.
#[derive(Debug, Default)]
pub struct MigrateSockets {
    kept: Mutex<HashMap<String, Target>>,
}

impl MigrateSockets {
    /// The kept connection to `name` (`host:port`), taken out for use.
    pub fn take(&self, name: &str) -> Option<Target> {
        self.kept.lock().remove(name)
    }

    /// Keep `target` for `name`, used at `now` (unix seconds). When 64 are
    /// kept already one goes (Redis drops one at random); when another
    /// MIGRATE put one back for `name` meanwhile, that one stays.
    pub fn put(&self, name: String, mut target: Target, now: u64) {
        target.last_use = now;
        let mut kept = self.kept.lock();
        if kept.contains_key(&name) {
            return;
        }
        if kept.len() >= MAX_SOCKETS {
            let victim = kept.keys().next().cloned();
            if let Some(victim) = victim {
                kept.remove(&victim);
            }
        }
        kept.insert(name, target);
    }

    /// Close what was not used for more than 10 s (the cron).
    pub fn close_idle(&self, now: u64) {
        self.kept
            .lock()
            .retain(|_, t| now.saturating_sub(t.last_use) <= IDLE_SECS);
    }

    /// How many are kept (INFO's `migrate_cached_sockets`).
    pub fn len(&self) -> usize {
        self.kept.lock().len()
    }

    /// None kept?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn target(listener: &TcpListener) -> Target {
        Target::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap())
    }

    #[test]
    fn kept_until_idle_for_more_than_ten_seconds() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let cache = MigrateSockets::default();
        cache.put("a:1".into(), target(&l), 100);
        cache.close_idle(110);
        assert_eq!(cache.len(), 1, "10 s unused: kept");
        cache.close_idle(111);
        assert!(cache.is_empty(), "11 s unused: closed");
    }

    #[test]
    fn taken_while_in_use_and_never_more_than_64() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let cache = MigrateSockets::default();
        let mut t = target(&l);
        t.last_db = 3;
        cache.put("a:1".into(), t, 0);
        let t = cache.take("a:1").expect("kept");
        assert_eq!(t.last_db, 3);
        assert!(cache.take("a:1").is_none(), "in use: not handed out twice");
        cache.put("a:1".into(), t, 0);
        let mut other = target(&l);
        other.last_db = 7;
        cache.put("a:1".into(), other, 0);
        assert_eq!(
            cache.take("a:1").unwrap().last_db,
            3,
            "the first one back stays"
        );
        for i in 0..70 {
            cache.put(format!("h:{i}"), target(&l), 0);
        }
        assert_eq!(cache.len(), 64);
    }
}
