//! Expiry is data: `expires_at` is stored, replaced and cleared exactly as
//! written, and the store never acts on it (it has no clock).

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use crate::support::{key, scan_all, string, string_expiring};

/// `insert` keeps the deadline it was given.
pub fn insert_stores_the_deadline<S: Store>() {
    let s = S::default();
    s.insert(
        Bytes::from_static(b"k"),
        string_expiring("v", 1_700_000_000_000),
    );
    assert_eq!(s.get(b"k").unwrap().expires_at(), Some(1_700_000_000_000));
    assert_eq!(
        s.read(b"k", |e| e.unwrap().expires_at()),
        Some(1_700_000_000_000)
    );
}

/// A plain SET over a key with a TTL leaves no deadline behind.
pub fn insert_without_deadline_clears_the_old_one<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string_expiring("v", 10));
    let old = s.insert(Bytes::from_static(b"k"), string("w"));
    assert_eq!(old.unwrap().expires_at(), Some(10));
    assert_eq!(s.get(b"k").unwrap().expires_at(), None);
}

/// EXPIRE done as compute sets a deadline on the current value.
pub fn compute_put_can_set_a_deadline<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("v"));
    s.compute(b"k", |e| {
        let mut e = e.cloned().unwrap();
        e.set_expires_at(Some(99));
        (Op::Put(e), ())
    });
    assert_eq!(s.get(b"k"), Some(string_expiring("v", 99)));
}

/// PERSIST done as compute clears the deadline.
pub fn compute_put_can_clear_a_deadline<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string_expiring("v", 99));
    let had = s.compute(b"k", |e| {
        let mut e = e.cloned().unwrap();
        let had = e.expires_at().is_some();
        e.set_expires_at(None);
        (Op::Put(e), had)
    });
    assert!(had);
    assert_eq!(s.get(b"k"), Some(string("v")));
}

/// Keep leaves the deadline untouched.
pub fn compute_keep_preserves_the_deadline<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string_expiring("v", 5));
    s.compute(b"k", |_| (Op::Keep, ()));
    assert_eq!(s.get(b"k").unwrap().expires_at(), Some(5));
}

/// An entry whose deadline is long past is still there: get, read, len,
/// scan, random_entry and compute all see it until the caller removes it.
pub fn store_never_expires_entries_by_itself<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"old"), string_expiring("v", 1));
    assert!(s.get(b"old").unwrap().is_expired(2));
    assert_eq!(s.len(), 1);
    assert!(s.read(b"old", |e| e.is_some()));
    assert_eq!(scan_all(&s, 10).len(), 1);
    assert_eq!(
        s.random_entry(3).map(|(k, _)| k),
        Some(Bytes::from_static(b"old"))
    );
    assert!(s.compute(b"old", |e| (Op::Keep, e.is_some())));
}

/// 0 and `u64::MAX` are stored exactly (no sentinel values).
pub fn extreme_deadlines_round_trip<S: Store>() {
    let s = S::default();
    for (i, at) in [0, 1, u64::MAX - 1, u64::MAX].into_iter().enumerate() {
        s.insert(key("k", i), string_expiring("v", at));
    }
    for (i, at) in [0, 1, u64::MAX - 1, u64::MAX].into_iter().enumerate() {
        assert_eq!(s.get(&key("k", i)).unwrap().expires_at(), Some(at));
    }
    let mut seen: Vec<Option<u64>> = scan_all(&s, 10)
        .into_iter()
        .map(|(_, e)| e.expires_at())
        .collect();
    seen.sort();
    assert_eq!(seen, [Some(0), Some(1), Some(u64::MAX - 1), Some(u64::MAX)]);
}

/// The active-expiry sweep as retain: drop what is expired at `now`, keep the rest.
pub fn retain_can_drop_expired_entries<S: Store>() {
    let s = S::default();
    let now = 1_000;
    for i in 0..100u64 {
        let e = match i % 3 {
            0 => string("persistent"),
            1 => string_expiring("past", now - 1 - i),
            _ => string_expiring("future", now + i),
        };
        s.insert(key("k", i as usize), e);
    }
    s.insert(
        Bytes::from_static(b"edge"),
        string_expiring("at-deadline", now),
    );
    s.retain(|_, e| !e.is_expired(now));
    for i in 0..100u64 {
        assert_eq!(
            s.get(&key("k", i as usize)).is_some(),
            i % 3 != 1,
            "key {i}"
        );
    }
    assert!(
        s.get(b"edge").is_some(),
        "a key is expired only after its deadline"
    );
    assert_eq!(s.len(), 68);
}

/// `Entry::is_expired` as the store hands entries back: strictly after.
pub fn is_expired_is_strictly_after_the_deadline<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string_expiring("v", 100));
    let e: Entry = s.get(b"k").unwrap();
    assert!(!e.is_expired(99));
    assert!(!e.is_expired(100));
    assert!(e.is_expired(101));
    s.insert(Bytes::from_static(b"p"), string("v"));
    assert!(!s.get(b"p").unwrap().is_expired(u64::MAX));
}
