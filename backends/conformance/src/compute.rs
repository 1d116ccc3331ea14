//! `compute`: Keep / Put / Remove on absent and present keys, and the result
//! handed back to the caller.

use std::cell::Cell;

use bytes::Bytes;
use store_api::{Entry, Op, Store};

use crate::support::{as_int, key, string, string_expiring};

/// Keep on an absent key stores nothing.
pub fn compute_keep_on_absent_key_leaves_it_absent<S: Store>() {
    let s = S::default();
    let saw = s.compute(b"k", |e| (Op::Keep, e.is_none()));
    assert!(saw, "closure must see None for an absent key");
    assert_eq!(s.get(b"k"), None);
    assert_eq!(s.len(), 0);
}

/// Put on an absent key inserts the entry.
pub fn compute_put_on_absent_key_inserts<S: Store>() {
    let s = S::default();
    s.compute(b"k", |_| (Op::Put(string("v")), ()));
    assert_eq!(s.get(b"k"), Some(string("v")));
    assert_eq!(s.len(), 1);
}

/// Remove on an absent key changes nothing.
pub fn compute_remove_on_absent_key_is_a_no_op<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"other"), string("v"));
    s.compute(b"k", |_| (Op::Remove, ()));
    assert_eq!(s.get(b"k"), None);
    assert_eq!(s.len(), 1);
}

/// Keep on a present key leaves it as it was.
pub fn compute_keep_on_present_key_leaves_the_entry<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string_expiring("v", 7));
    s.compute(b"k", |_| (Op::Keep, ()));
    assert_eq!(s.get(b"k"), Some(string_expiring("v", 7)));
    assert_eq!(s.len(), 1);
}

/// Put on a present key replaces the entry.
pub fn compute_put_on_present_key_replaces_the_entry<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("old"));
    s.compute(b"k", |_| (Op::Put(string("new")), ()));
    assert_eq!(s.get(b"k"), Some(string("new")));
    assert_eq!(s.len(), 1);
}

/// Remove on a present key deletes it.
pub fn compute_remove_on_present_key_deletes_it<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("v"));
    s.insert(Bytes::from_static(b"other"), string("w"));
    s.compute(b"k", |_| (Op::Remove, ()));
    assert_eq!(s.get(b"k"), None);
    assert_eq!(s.len(), 1);
    // And the key can come back.
    s.compute(b"k", |_| (Op::Put(string("again")), ()));
    assert_eq!(s.get(b"k"), Some(string("again")));
}

/// The closure sees exactly the stored entry, deadline included.
pub fn compute_sees_the_current_entry<S: Store>() {
    let s = S::default();
    let stored = string_expiring("payload", 12_345);
    s.insert(Bytes::from_static(b"k"), stored.clone());
    let seen = s.compute(b"k", |e| (Op::Keep, e.cloned()));
    assert_eq!(seen, Some(stored));
}

/// Whatever the closure returns as its result comes back, for every op.
pub fn compute_passes_the_closure_result_through<S: Store>() {
    let s = S::default();
    let r: Vec<String> = s.compute(b"k", |_| (Op::Put(string("1")), vec!["put".into()]));
    assert_eq!(r, ["put"]);
    let r: Result<u8, String> = s.compute(b"k", |_| (Op::Keep, Err("kept".into())));
    assert_eq!(r, Err("kept".to_string()));
    let r: Option<Entry> = s.compute(b"k", |e| (Op::Remove, e.cloned()));
    assert_eq!(r, Some(string("1")));
    let r: &str = s.compute(b"k", |_| (Op::Remove, "absent"));
    assert_eq!(r, "absent");
}

/// GETSET: put a new entry and hand the old one back in one step.
pub fn compute_can_swap_and_return_the_old_entry<S: Store>() {
    let s = S::default();
    let old = s.compute(b"k", |e| (Op::Put(string("1")), e.cloned()));
    assert_eq!(old, None);
    let old = s.compute(b"k", |e| (Op::Put(string("2")), e.cloned()));
    assert_eq!(old, Some(string("1")));
    assert_eq!(s.get(b"k"), Some(string("2")));
}

/// compute on one key leaves every other key alone.
pub fn compute_touches_no_other_key<S: Store>() {
    let s = S::default();
    for i in 0..100 {
        s.insert(key("k", i), string(format!("{i}")));
    }
    s.compute(&key("k", 50), |_| (Op::Remove, ()));
    s.compute(&key("k", 51), |_| (Op::Put(string("x")), ()));
    s.compute(&key("new", 0), |_| (Op::Put(string("n")), ()));
    assert_eq!(s.len(), 100);
    for i in (0..100).filter(|i| *i != 50 && *i != 51) {
        assert_eq!(s.get(&key("k", i)), Some(string(format!("{i}"))));
    }
}

/// After a remove, compute sees the key as absent.
pub fn compute_after_remove_sees_an_absent_key<S: Store>() {
    let s = S::default();
    s.insert(Bytes::from_static(b"k"), string("v"));
    s.remove(b"k");
    assert!(s.compute(b"k", |e| (Op::Keep, e.is_none())));
}

/// With no other thread interfering, the closure runs exactly once, for
/// every combination of present/absent and Keep/Put/Remove.
pub fn compute_without_contention_calls_the_closure_once<S: Store>() {
    let s = S::default();
    let ops = [Op::Keep, Op::Put(string("v")), Op::Remove];
    for present in [false, true] {
        for op in &ops {
            s.clear();
            if present {
                s.insert(Bytes::from_static(b"k"), string("old"));
            }
            let calls = Cell::new(0);
            s.compute(b"k", |_| {
                calls.set(calls.get() + 1);
                (op.clone(), ())
            });
            assert_eq!(calls.get(), 1, "present={present} op={op:?}");
        }
    }
}

/// INCR done as compute: 200 increments leave "200".
pub fn sequential_increments_accumulate<S: Store>() {
    let s = S::default();
    for expected in 1..=200i64 {
        let n = s.compute(b"counter", |e| {
            let n = as_int(e).expect("integer") + 1;
            (Op::Put(string(n.to_string())), n)
        });
        assert_eq!(n, expected);
    }
    assert_eq!(s.get(b"counter"), Some(string("200")));
}

/// The store owns its copy of a key inserted through compute: the caller's
/// buffer may be reused afterwards.
pub fn compute_put_copies_the_key<S: Store>() {
    let s = S::default();
    let mut buf = b"key-one".to_vec();
    s.compute(&buf, |_| (Op::Put(string("1")), ()));
    buf.copy_from_slice(b"key-two");
    s.compute(&buf, |_| (Op::Put(string("2")), ()));
    assert_eq!(s.get(b"key-one"), Some(string("1")));
    assert_eq!(s.get(b"key-two"), Some(string("2")));
    let keys: Vec<Bytes> = crate::support::scan_all(&s, 10)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(keys.contains(&Bytes::from_static(b"key-one")), "{keys:?}");
}
