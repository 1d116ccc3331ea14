//! Point operations: get, read, insert, remove, len, is_empty.

use std::cell::Cell;

use bytes::Bytes;
use store_api::Store;

use crate::support::{key, payload, string};

/// A new store holds nothing.
pub fn default_store_is_empty<S: Store>() {
    let s = S::default();
    assert_eq!(s.len(), 0);
    assert!(s.is_empty());
    assert_eq!(crate::support::scan_all(&s, 10).len(), 0);
}

/// `get` of a key never written is `None`.
pub fn get_on_absent_key_returns_none<S: Store>() {
    let s = S::default();
    assert_eq!(s.get(b"missing"), None);
    s.insert(Bytes::from_static(b"other"), string("v"));
    assert_eq!(s.get(b"missing"), None);
}

/// `read` of an absent key hands `None` to the closure.
pub fn read_on_absent_key_sees_none<S: Store>() {
    let s = S::default();
    assert!(s.read(b"missing", |e| e.is_none()));
}

/// What `insert` stored, `get` returns.
pub fn insert_then_get_returns_the_entry<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("v"));
    assert_eq!(s.get(b"k"), Some(string("v")));
}

/// `read` hands the closure the stored entry and returns its result.
pub fn read_sees_the_stored_entry<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("hello"));
    let len = s.read(b"k", |e| e.map(|e| payload(e).len()));
    assert_eq!(len, Some(5));
    assert_eq!(s.read(b"k", |e| e.cloned()), Some(string("hello")));
}

/// `read` runs its closure exactly once, for present and absent keys.
pub fn read_calls_its_closure_exactly_once<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("v"));
    for k in [&b"k"[..], b"absent"] {
        let calls = Cell::new(0);
        s.read(k, |_| calls.set(calls.get() + 1));
        assert_eq!(calls.get(), 1, "read({k:?}) must call its closure once");
    }
}

/// `insert` of a new key returns `None`.
pub fn insert_on_absent_key_returns_none<S: Store>() {
    let s = S::default();
    assert_eq!(s.insert(Bytes::from_static(b"k"), string("v")), None);
}

/// `insert` over a key returns what it replaced.
pub fn insert_on_present_key_returns_the_previous_entry<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("one"));
    assert_eq!(
        s.insert(Bytes::from_static(b"k"), string("two")),
        Some(string("one"))
    );
    assert_eq!(s.get(b"k"), Some(string("two")));
    assert_eq!(s.len(), 1);
}

/// A returned entry is a snapshot: later writes do not change it.
pub fn get_returns_a_copy_unaffected_by_later_writes<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("before"));
    let got = s.get(b"k").unwrap();
    s.insert(Bytes::from_static(b"k"), string("after"));
    s.remove(b"k");
    assert_eq!(got, string("before"));
}

/// `remove` returns the entry and the key is gone afterwards.
pub fn remove_returns_the_entry_and_deletes_the_key<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("v"));
    s.insert(Bytes::from_static(b"other"), string("w"));
    assert_eq!(s.remove(b"k"), Some(string("v")));
    assert_eq!(s.get(b"k"), None);
    assert_eq!(s.len(), 1);
    assert_eq!(s.get(b"other"), Some(string("w")));
}

/// `remove` of an absent key returns `None` and changes nothing.
pub fn remove_on_absent_key_returns_none<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("v"));
    assert_eq!(s.remove(b"absent"), None);
    assert_eq!(s.remove(b"k"), Some(string("v")));
    assert_eq!(s.remove(b"k"), None);
    assert_eq!(s.len(), 0);
}

/// `len` counts keys, not writes.
pub fn len_counts_distinct_keys<S: Store>() {
    let s = S::default();
    for round in 0..3 {
        for i in 0..10 {
            s.insert(key("k", i), string(format!("{round}")));
        }
    }
    assert_eq!(s.len(), 10);
    s.remove(&key("k", 3));
    s.remove(&key("k", 3));
    assert_eq!(s.len(), 9);
}

/// `is_empty` agrees with `len` through inserts and removes.
pub fn is_empty_follows_len<S: Store>() {
    let s = S::default();
    assert!(s.is_empty());
    s.insert(Bytes::from_static(b"k"), string("v"));
    assert!(!s.is_empty());
    s.remove(b"k");
    assert!(s.is_empty());
}

/// Keys are arbitrary bytes: empty, NUL, 0xFF, non-UTF-8, long.
pub fn keys_are_binary_safe<S: Store>() {
    let s = S::default();
    let keys: Vec<Bytes> = vec![
        Bytes::new(),
        Bytes::from_static(b"\0"),
        Bytes::from_static(b"\0\0"),
        Bytes::from_static(b"\xff\xfe"),
        Bytes::from_static(b"caf\xc3\xa9"),
        Bytes::from(vec![b'x'; 64 * 1024]),
    ];
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.insert(k.clone(), string(format!("{i}"))), None);
    }
    assert_eq!(s.len(), keys.len());
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.get(k), Some(string(format!("{i}"))), "key {i}");
    }
    s.insert(Bytes::new(), string(""));
    assert_eq!(s.get(b""), Some(string("")));
}

/// Keys that are prefixes of each other do not collide.
pub fn keys_that_share_a_prefix_are_distinct<S: Store>() {
    let s = S::default();
    let keys: [&[u8]; 5] = [b"a", b"ab", b"a\0", b"abc", b"b"];
    for k in keys {
        s.insert(Bytes::copy_from_slice(k), string(Bytes::copy_from_slice(k)));
    }
    for k in keys {
        assert_eq!(s.get(k), Some(string(Bytes::copy_from_slice(k))));
    }
    s.remove(b"ab");
    assert_eq!(s.get(b"abc"), Some(string("abc")));
    assert_eq!(s.get(b"a"), Some(string("a")));
    assert_eq!(s.len(), 4);
}

/// Thousands of keys survive the table growing, and half of them the table
/// shrinking again.
pub fn many_keys_survive_growth_and_shrinking<S: Store>() {
    const N: usize = 10_000;
    let s = S::default();
    for i in 0..N {
        s.insert(key("k", i), string(format!("{i}")));
    }
    assert_eq!(s.len(), N);
    for i in (0..N).step_by(2) {
        assert_eq!(s.remove(&key("k", i)), Some(string(format!("{i}"))));
    }
    assert_eq!(s.len(), N / 2);
    for i in 0..N {
        let expected = (i % 2 == 1).then(|| string(format!("{i}")));
        assert_eq!(s.get(&key("k", i)), expected, "key {i}");
    }
}

/// `NAME` is usable in test names and reports.
pub fn name_is_a_short_lowercase_word<S: Store>() {
    assert!(!S::NAME.is_empty() && S::NAME.len() <= 16, "{:?}", S::NAME);
    assert!(
        S::NAME
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "{:?}",
        S::NAME
    );
}
