//! SLOWLOG: the most recent commands that ran longer than
//! `slowlog-log-slower-than` microseconds, at most `slowlog-max-len` of
//! them, with Redis's trimming of long argument lists and values.

use std::collections::VecDeque;

use bytes::Bytes;
use parking_lot::Mutex;

/// Arguments kept per entry (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
const MAX_ARGC: usize = 32;
/// Bytes kept per argument (`SLOWLOG_ENTRY_MAX_STRING`).
const MAX_STRING: usize = 128;

/// One logged command.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Unique, increasing.
    pub id: u64,
    /// Unix time it ran, seconds.
    pub time: u64,
    /// How long it ran, microseconds.
    pub usec: u64,
    /// Its arguments, trimmed.
    pub argv: Vec<Bytes>,
    /// The client's address.
    pub addr: String,
    /// The client's name.
    pub name: Bytes,
}

/// The log of one server.
#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// `argv` as the slow log keeps it: copies, never slices of the request.
/// An argument is a slice of the whole request frame it came in, so
/// keeping one would keep the frame: a slow HSET of 1,000 fields kept its
/// 12 KB request in the log, and a slow SET of a 100 MB value would keep
/// 100 MB for the sake of its key.
pub fn trim_argv(argv: &[Bytes]) -> Vec<Bytes> {
    let keep = if argv.len() > MAX_ARGC {
        MAX_ARGC - 1
    } else {
        argv.len()
    };
    let mut out: Vec<Bytes> = argv[..keep]
        .iter()
        .map(|a| {
            if a.len() > MAX_STRING {
                let mut s = a[..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                Bytes::from(s)
            } else {
                Bytes::copy_from_slice(a)
            }
        })
        .collect();
    if argv.len() > MAX_ARGC {
        out.push(Bytes::from(format!(
            "... ({} more arguments)",
            argv.len() - MAX_ARGC + 1
        )));
    }
    out
}

impl SlowLog {
    /// Log a command; `max_len` is `slowlog-max-len`.
    pub fn push(&self, max_len: usize, mut entry: Entry) {
        let mut log = self.inner.lock();
        entry.id = log.next_id;
        log.next_id += 1;
        log.entries.push_front(entry);
        log.entries.truncate(max_len);
    }

    /// Drop entries beyond `max_len` (after CONFIG SET slowlog-max-len).
    pub fn trim(&self, max_len: usize) {
        self.inner.lock().entries.truncate(max_len);
    }

    /// The newest `count` entries (all with `None`).
    pub fn get(&self, count: Option<usize>) -> Vec<Entry> {
        let log = self.inner.lock();
        let n = count.unwrap_or(usize::MAX);
        log.entries.iter().take(n).cloned().collect()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().entries.len()
    }

    /// True when nothing is logged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SLOWLOG RESET (ids keep increasing, as in Redis).
    pub fn reset(&self) {
        self.inner.lock().entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_arguments_and_lists_are_trimmed_like_redis() {
        let argv: Vec<Bytes> = (0..40).map(|i| Bytes::from(format!("a{i}"))).collect();
        let t = trim_argv(&argv);
        assert_eq!(t.len(), 32);
        assert_eq!(&t[31][..], b"... (9 more arguments)");
        let long = Bytes::from(vec![b'x'; 200]);
        let t = trim_argv(&[long]);
        assert_eq!(t[0].len(), 128 + "... (72 more bytes)".len());
    }

    #[test]
    fn entries_do_not_keep_the_request_they_came_in() {
        let frame = Bytes::from(vec![b'k'; 100_000]);
        let argv = [frame.slice(0..3), frame.slice(3..500), frame.slice(500..)];
        let within = frame.as_ptr_range();
        for (arg, kept) in argv.iter().zip(trim_argv(&argv)) {
            assert!(
                !within.contains(&kept.as_ptr()),
                "an argument of {} bytes is a slice of the request",
                arg.len()
            );
        }
    }

    #[test]
    fn newest_first_bounded_and_ids_survive_reset() {
        let log = SlowLog::default();
        for i in 0..5 {
            log.push(
                3,
                Entry {
                    id: 0,
                    time: i,
                    usec: i,
                    argv: vec![],
                    addr: String::new(),
                    name: Bytes::new(),
                },
            );
        }
        let got = log.get(None);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2]);
        log.reset();
        assert!(log.is_empty());
    }
}
