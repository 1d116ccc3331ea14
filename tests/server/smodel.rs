//! Model check of the string and TTL commands: random sequences of SET
//! (NX, XX, GET, PX, KEEPTTL), INCRBY, APPEND, GET, GETDEL, GETSET,
//! STRLEN, SETRANGE, GETRANGE, PEXPIRE, PERSIST, PTTL, DEL and EXISTS,
//! with the clock moved between them, run through the real dispatcher (a
//! manual clock, every backend) and through a naive model written here
//! from Redis 7.0's documented behaviour. Every reply must agree.
//!
//! The model shares no code with the server: it parses integers, pads
//! SETRANGE, clamps GETRANGE and decides expiry itself (a key is gone once
//! the clock is past its deadline, as Redis's `keyIsExpired`).
//!
//! Cases per run: [`CASES`], or `FLASHKV_PROPTEST_CASES`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use flashkv::{Clock, Frame, Store};
use proptest::prelude::*;

use crate::backends;
use crate::model::{run, runner, server_on};

const CASES: u32 = 512;
const KEYS: u8 = 3;
const START_MS: u64 = 1_700_000_000_000;

/// Values that collide and parse in every way INCRBY cares about: integers,
/// a leading zero and a sign Redis refuses, text, the empty string, and
/// the largest integer (so an increment can overflow).
const VALUES: [&str; 9] = [
    "a",
    "bc",
    "0",
    "7",
    "-3",
    "007",
    "+1",
    "",
    "9223372036854775807",
];

#[derive(Clone, Debug)]
enum Ttl {
    None,
    Px(u16),
    Keep,
}

#[derive(Clone, Debug)]
enum Cond {
    Always,
    Nx,
    Xx,
}

#[derive(Clone, Debug)]
enum Op {
    Set(u8, u8, Cond, Ttl, bool),
    IncrBy(u8, i64),
    Append(u8, u8),
    Get(u8),
    GetDel(u8),
    GetSet(u8, u8),
    StrLen(u8),
    SetRange(u8, u8, u8),
    GetRange(u8, i8, i8),
    PExpire(u8, i16),
    Persist(u8),
    PTtl(u8),
    Del(u8),
    Exists(u8),
    /// Move the clock forward this many milliseconds.
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let k = || 0..KEYS;
    let v = || 0..VALUES.len() as u8;
    let cond = prop_oneof![2 => Just(Cond::Always), 1 => Just(Cond::Nx), 1 => Just(Cond::Xx)];
    let ttl = prop_oneof![
        2 => Just(Ttl::None),
        2 => (1u16..2_000).prop_map(Ttl::Px),
        1 => Just(Ttl::Keep),
    ];
    prop_oneof![
        6 => (k(), v(), cond, ttl, any::<bool>()).prop_map(|(k, v, c, t, g)| Op::Set(k, v, c, t, g)),
        3 => (k(), prop_oneof![4 => -3i64..=3, 1 => Just(i64::MAX), 1 => Just(i64::MIN)])
            .prop_map(|(k, n)| Op::IncrBy(k, n)),
        2 => (k(), v()).prop_map(|(k, v)| Op::Append(k, v)),
        3 => k().prop_map(Op::Get),
        1 => k().prop_map(Op::GetDel),
        1 => (k(), v()).prop_map(|(k, v)| Op::GetSet(k, v)),
        1 => k().prop_map(Op::StrLen),
        2 => (k(), 0u8..6, v()).prop_map(|(k, o, v)| Op::SetRange(k, o, v)),
        2 => (k(), -6i8..6, -6i8..6).prop_map(|(k, a, b)| Op::GetRange(k, a, b)),
        3 => (k(), -50i16..2_000).prop_map(|(k, ms)| Op::PExpire(k, ms)),
        1 => k().prop_map(Op::Persist),
        3 => k().prop_map(Op::PTtl),
        1 => k().prop_map(Op::Del),
        1 => k().prop_map(Op::Exists),
        4 => prop_oneof![Just(0u16), 1u16..1_500].prop_map(Op::Advance),
    ]
}

fn key(k: u8) -> String {
    format!("s{k}")
}

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

/// A string and its deadline (absolute milliseconds), if any.
#[derive(Clone, Debug)]
struct Str {
    bytes: Vec<u8>,
    deadline: Option<u64>,
}

struct Model {
    now: u64,
    keys: HashMap<u8, Str>,
}

/// Redis's `string2ll`: an optional `-`, then digits with no leading zero
/// (a lone `0` aside), no `+`, no spaces, within `i64`.
fn parse_int(b: &[u8]) -> Option<i64> {
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let well_formed = !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
        && b != b"-0";
    if !well_formed {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

impl Model {
    /// The live entry of `k`; an expired one is dropped first.
    fn live(&mut self, k: u8) -> Option<&mut Str> {
        if self
            .keys
            .get(&k)
            .is_some_and(|s| s.deadline.is_some_and(|d| self.now > d))
        {
            self.keys.remove(&k);
        }
        self.keys.get_mut(&k)
    }

    fn apply(&mut self, op: &Op) -> Frame {
        let now = self.now;
        match op {
            Op::Set(k, v, cond, ttl, get) => {
                let old = self.live(*k).cloned();
                let go = match cond {
                    Cond::Always => true,
                    Cond::Nx => old.is_none(),
                    Cond::Xx => old.is_some(),
                };
                if go {
                    let deadline = match ttl {
                        Ttl::None => None,
                        Ttl::Px(ms) => Some(now + u64::from(*ms)),
                        Ttl::Keep => old.as_ref().and_then(|s| s.deadline),
                    };
                    let bytes = VALUES[usize::from(*v)].as_bytes().to_vec();
                    self.keys.insert(*k, Str { bytes, deadline });
                }
                match (get, old) {
                    (true, Some(s)) => bulk(&s.bytes),
                    (true, None) => Frame::Null,
                    (false, _) if go => Frame::ok(),
                    (false, _) => Frame::Null,
                }
            }
            Op::IncrBy(k, by) => {
                let cur = self.live(*k).map(|s| s.bytes.clone());
                let n = match &cur {
                    None => 0,
                    Some(b) => match parse_int(b) {
                        Some(n) => n,
                        None => return Frame::error("ERR value is not an integer or out of range"),
                    },
                };
                let Some(n) = n.checked_add(*by) else {
                    return Frame::error("ERR increment or decrement would overflow");
                };
                let deadline = self.live(*k).and_then(|s| s.deadline);
                let bytes = n.to_string().into_bytes();
                self.keys.insert(*k, Str { bytes, deadline });
                Frame::Integer(n)
            }
            Op::Append(k, v) => {
                let add = VALUES[usize::from(*v)].as_bytes();
                let s = match self.live(*k) {
                    Some(s) => s,
                    None => self.keys.entry(*k).or_insert(Str {
                        bytes: vec![],
                        deadline: None,
                    }),
                };
                s.bytes.extend_from_slice(add);
                Frame::Integer(s.bytes.len() as i64)
            }
            Op::Get(k) => self.live(*k).map_or(Frame::Null, |s| bulk(&s.bytes)),
            Op::GetDel(k) => {
                let old = self.live(*k).cloned();
                self.keys.remove(k);
                old.map_or(Frame::Null, |s| bulk(&s.bytes))
            }
            Op::GetSet(k, v) => {
                let old = self.live(*k).cloned();
                let bytes = VALUES[usize::from(*v)].as_bytes().to_vec();
                self.keys.insert(
                    *k,
                    Str {
                        bytes,
                        deadline: None,
                    },
                );
                old.map_or(Frame::Null, |s| bulk(&s.bytes))
            }
            Op::StrLen(k) => Frame::Integer(self.live(*k).map_or(0, |s| s.bytes.len() as i64)),
            Op::SetRange(k, offset, v) => {
                let patch = VALUES[usize::from(*v)].as_bytes();
                let offset = usize::from(*offset);
                if patch.is_empty() {
                    // Nothing written, nothing created: the current length.
                    return Frame::Integer(self.live(*k).map_or(0, |s| s.bytes.len() as i64));
                }
                let s = match self.live(*k) {
                    Some(s) => s,
                    None => self.keys.entry(*k).or_insert(Str {
                        bytes: vec![],
                        deadline: None,
                    }),
                };
                if s.bytes.len() < offset + patch.len() {
                    s.bytes.resize(offset + patch.len(), 0);
                }
                s.bytes[offset..offset + patch.len()].copy_from_slice(patch);
                Frame::Integer(s.bytes.len() as i64)
            }
            Op::GetRange(k, a, b) => {
                let bytes = self.live(*k).map(|s| s.bytes.clone()).unwrap_or_default();
                let len = bytes.len() as i64;
                let (mut a, mut b) = (i64::from(*a), i64::from(*b));
                if a < 0 && b < 0 && a > b {
                    // Checked before the indexes are resolved (Redis 7.0:
                    // `GETRANGE k -1 -2` of "a" is empty, not "a").
                    return bulk(b"");
                }
                if a < 0 {
                    a += len;
                }
                if b < 0 {
                    b += len;
                }
                a = a.max(0);
                b = b.max(0);
                if b >= len {
                    b = len - 1;
                }
                if len == 0 || a > b {
                    bulk(b"")
                } else {
                    bulk(&bytes[a as usize..=b as usize])
                }
            }
            Op::PExpire(k, ms) => match self.live(*k) {
                None => Frame::Integer(0),
                Some(_) if *ms <= 0 => {
                    // A deadline already past deletes the key at once.
                    self.keys.remove(k);
                    Frame::Integer(1)
                }
                Some(s) => {
                    s.deadline = Some(now + *ms as u64);
                    Frame::Integer(1)
                }
            },
            Op::Persist(k) => match self.live(*k) {
                Some(s) if s.deadline.is_some() => {
                    s.deadline = None;
                    Frame::Integer(1)
                }
                _ => Frame::Integer(0),
            },
            Op::PTtl(k) => Frame::Integer(match self.live(*k) {
                None => -2,
                Some(Str { deadline: None, .. }) => -1,
                Some(Str {
                    deadline: Some(d), ..
                }) => (*d - now) as i64,
            }),
            Op::Del(k) => {
                let was = self.live(*k).is_some();
                self.keys.remove(k);
                Frame::Integer(i64::from(was))
            }
            Op::Exists(k) => Frame::Integer(i64::from(self.live(*k).is_some())),
            Op::Advance(ms) => {
                self.now += u64::from(*ms);
                Frame::Null
            }
        }
    }
}

/// The command FlashKV runs for `op` (`None`: only the clock moves).
fn argv(op: &Op) -> Option<Vec<String>> {
    let val = |v: &u8| VALUES[usize::from(*v)].to_string();
    Some(match op {
        Op::Set(k, v, cond, ttl, get) => {
            let mut a = vec!["SET".into(), key(*k), val(v)];
            match cond {
                Cond::Always => {}
                Cond::Nx => a.push("NX".into()),
                Cond::Xx => a.push("XX".into()),
            }
            match ttl {
                Ttl::None => {}
                Ttl::Px(ms) => a.extend(["PX".into(), ms.to_string()]),
                Ttl::Keep => a.push("KEEPTTL".into()),
            }
            if *get {
                a.push("GET".into());
            }
            a
        }
        Op::IncrBy(k, n) => vec!["INCRBY".into(), key(*k), n.to_string()],
        Op::Append(k, v) => vec!["APPEND".into(), key(*k), val(v)],
        Op::Get(k) => vec!["GET".into(), key(*k)],
        Op::GetDel(k) => vec!["GETDEL".into(), key(*k)],
        Op::GetSet(k, v) => vec!["GETSET".into(), key(*k), val(v)],
        Op::StrLen(k) => vec!["STRLEN".into(), key(*k)],
        Op::SetRange(k, o, v) => vec!["SETRANGE".into(), key(*k), o.to_string(), val(v)],
        Op::GetRange(k, a, b) => vec!["GETRANGE".into(), key(*k), a.to_string(), b.to_string()],
        Op::PExpire(k, ms) => vec!["PEXPIRE".into(), key(*k), ms.to_string()],
        Op::Persist(k) => vec!["PERSIST".into(), key(*k)],
        Op::PTtl(k) => vec!["PTTL".into(), key(*k)],
        Op::Del(k) => vec!["DEL".into(), key(*k)],
        Op::Exists(k) => vec!["EXISTS".into(), key(*k)],
        Op::Advance(_) => return None,
    })
}

fn strings_and_ttls_follow_the_model<S: Store>() {
    runner(CASES)
        .run(&prop::collection::vec(op(), 1..80), |ops| {
            let time = Arc::new(AtomicU64::new(START_MS));
            let (exec, mut client) = server_on::<S>(Clock::Manual(time.clone()));
            let mut model = Model {
                now: START_MS,
                keys: HashMap::new(),
            };
            for op in &ops {
                let want = model.apply(op);
                match argv(op) {
                    Some(args) => {
                        let got = run(&exec, &mut client, &args);
                        prop_assert_eq!(&got, &want, "after {:?}", op);
                    }
                    None => time.store(model.now, Ordering::SeqCst),
                }
            }
            Ok(())
        })
        .unwrap();
}

backends!(strings_and_ttls_follow_the_model);

#[test]
fn the_model_parses_integers_as_redis_does() {
    for (text, n) in [("0", Some(0)), ("-3", Some(-3)), ("12", Some(12))] {
        assert_eq!(parse_int(text.as_bytes()), n, "{text}");
    }
    for text in [
        "007",
        "+1",
        "",
        "-",
        "-0",
        " 1",
        "1 ",
        "9223372036854775808",
    ] {
        assert_eq!(parse_int(text.as_bytes()), None, "{text}");
    }
}
