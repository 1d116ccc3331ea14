//! Model check of the collection commands: random command sequences run
//! through the real dispatcher (in-process, every backend) and through a
//! naive model written here from Redis's documentation (a `VecDeque` per
//! list, a `BTreeMap` per hash, a `BTreeSet` per set); every reply and the
//! final contents must agree. The model shares no code with the server.
//!
//! Cases per run: [`CASES`], or `FLASHKV_PROPTEST_CASES`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use flashkv::cmd::{run_inline, Client, Executor};
use flashkv::state::{ServerState, Session};
use flashkv::{Clock, Config, Db, Frame, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};

use crate::backends;

const CASES: u32 = 256;
const KEYS: u8 = 2;

#[derive(Clone, Debug)]
enum Op {
    Push(u8, bool, Vec<u8>),
    Pop(u8, bool, Option<u8>),
    LRange(u8, i8, i8),
    LIndex(u8, i8),
    LSet(u8, i8, u8),
    LRem(u8, i8, u8),
    LTrim(u8, i8, i8),
    LInsert(u8, bool, u8, u8),
    HSet(u8, u8, u8),
    HDel(u8, u8),
    HGet(u8, u8),
    HIncrBy(u8, u8, i8),
    SAdd(u8, u8),
    SRem(u8, u8),
    SIsMember(u8, u8),
    Card(u8),
    Del(u8),
    Type(u8),
}

/// Few values, so pivots, duplicates and members collide often; half are
/// integers, so sets may be intsets and HINCRBY may apply.
fn val(v: u8) -> String {
    ["a", "b", "c", "1", "2", "-3"][usize::from(v % 6)].to_string()
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly the family's own keys, sometimes another family's.
    let k = prop_oneof![4 => 0..KEYS, 1 => KEYS..KEYS * 3];
    let v = any::<u8>();
    prop_oneof![
        6 => (k.clone(), any::<bool>(), prop::collection::vec(v, 1..6)).prop_map(|(k, l, e)| Op::Push(k, l, e)),
        2 => (k.clone(), any::<bool>(), prop::option::of(0u8..4)).prop_map(|(k, l, c)| Op::Pop(k, l, c)),
        3 => (k.clone(), -5i8..5, -5i8..5).prop_map(|(k, a, b)| Op::LRange(k, a, b)),
        2 => (k.clone(), -5i8..5).prop_map(|(k, i)| Op::LIndex(k, i)),
        1 => (k.clone(), -5i8..5, v).prop_map(|(k, i, e)| Op::LSet(k, i, e)),
        2 => (k.clone(), -2i8..3, v).prop_map(|(k, c, e)| Op::LRem(k, c, e)),
        1 => (k.clone(), -5i8..5, -5i8..5).prop_map(|(k, a, b)| Op::LTrim(k, a, b)),
        2 => (k.clone(), any::<bool>(), v, v).prop_map(|(k, b, p, e)| Op::LInsert(k, b, p, e)),
        3 => (k.clone(), v, v).prop_map(|(k, f, e)| Op::HSet(k, f % 8, e)),
        1 => (k.clone(), v).prop_map(|(k, f)| Op::HDel(k, f % 8)),
        2 => (k.clone(), v).prop_map(|(k, f)| Op::HGet(k, f % 8)),
        2 => (k.clone(), v, any::<i8>()).prop_map(|(k, f, n)| Op::HIncrBy(k, f % 8, n)),
        3 => (k.clone(), v).prop_map(|(k, m)| Op::SAdd(k, m)),
        1 => (k.clone(), v).prop_map(|(k, m)| Op::SRem(k, m)),
        2 => (k.clone(), v).prop_map(|(k, m)| Op::SIsMember(k, m)),
        1 => k.clone().prop_map(Op::Card),
        1 => k.clone().prop_map(Op::Del),
        1 => k.prop_map(Op::Type),
    ]
}

#[derive(Clone, Debug)]
enum Val {
    List(VecDeque<String>),
    Hash(BTreeMap<String, String>),
    Set(BTreeSet<String>),
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulk(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn err(s: &str) -> Frame {
    Frame::error(s)
}

/// Redis's index normalisation (`listTypeGetRange`, LTRIM).
fn span(len: usize, a: i64, b: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let (mut a, mut b) = (
        if a < 0 { a + len } else { a },
        if b < 0 { b + len } else { b },
    );
    a = a.max(0);
    if a > b || a >= len {
        return None;
    }
    b = b.min(len - 1);
    Some((a as usize, b as usize))
}

fn index(len: usize, i: i64) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// The model: what Redis replies, and its new state.
#[derive(Default)]
struct Model {
    keys: HashMap<String, Val>,
}

impl Model {
    fn list(&mut self, k: &str, create: bool) -> Result<Option<&mut VecDeque<String>>, Frame> {
        if create && !self.keys.contains_key(k) {
            self.keys.insert(k.into(), Val::List(VecDeque::new()));
        }
        match self.keys.get_mut(k) {
            None => Ok(None),
            Some(Val::List(l)) => Ok(Some(l)),
            Some(_) => Err(err(WRONGTYPE)),
        }
    }

    fn hash(
        &mut self,
        k: &str,
        create: bool,
    ) -> Result<Option<&mut BTreeMap<String, String>>, Frame> {
        if create && !self.keys.contains_key(k) {
            self.keys.insert(k.into(), Val::Hash(BTreeMap::new()));
        }
        match self.keys.get_mut(k) {
            None => Ok(None),
            Some(Val::Hash(h)) => Ok(Some(h)),
            Some(_) => Err(err(WRONGTYPE)),
        }
    }

    fn set(&mut self, k: &str, create: bool) -> Result<Option<&mut BTreeSet<String>>, Frame> {
        if create && !self.keys.contains_key(k) {
            self.keys.insert(k.into(), Val::Set(BTreeSet::new()));
        }
        match self.keys.get_mut(k) {
            None => Ok(None),
            Some(Val::Set(s)) => Ok(Some(s)),
            Some(_) => Err(err(WRONGTYPE)),
        }
    }

    /// Delete a collection left empty (Redis never keeps one).
    fn tidy(&mut self, k: &str) {
        let empty = match self.keys.get(k) {
            Some(Val::List(l)) => l.is_empty(),
            Some(Val::Hash(h)) => h.is_empty(),
            Some(Val::Set(s)) => s.is_empty(),
            None => false,
        };
        if empty {
            self.keys.remove(k);
        }
    }

    fn apply(&mut self, op: &Op) -> Frame {
        let k = |i: &u8| name(op, *i);
        let r = match op {
            Op::Push(key, left, items) => self.list(&k(key), true).map(|l| {
                let l = l.expect("created");
                for e in items {
                    if *left {
                        l.push_front(val(*e));
                    } else {
                        l.push_back(val(*e));
                    }
                }
                Frame::Integer(l.len() as i64)
            }),
            Op::Pop(key, left, count) => self.list(&k(key), false).map(|l| match (l, count) {
                (None, None) => Frame::Null,
                (None, Some(_)) => Frame::NullArray,
                (Some(l), None) => {
                    let e = if *left { l.pop_front() } else { l.pop_back() };
                    e.map_or(Frame::Null, |e| bulk(&e))
                }
                (Some(l), Some(n)) => Frame::Array(
                    (0..*n)
                        .filter_map(|_| if *left { l.pop_front() } else { l.pop_back() })
                        .map(|e| bulk(&e))
                        .collect(),
                ),
            }),
            Op::LRange(key, a, b) => self.list(&k(key), false).map(|l| {
                let l = l.map(|l| l.clone()).unwrap_or_default();
                Frame::Array(match span(l.len(), *a as i64, *b as i64) {
                    Some((a, b)) => l.range(a..=b).map(|e| bulk(e)).collect(),
                    None => vec![],
                })
            }),
            Op::LIndex(key, i) => self.list(&k(key), false).map(|l| {
                l.and_then(|l| index(l.len(), *i as i64).map(|i| bulk(&l[i])))
                    .unwrap_or(Frame::Null)
            }),
            Op::LSet(key, i, e) => match self.list(&k(key), false) {
                Err(e) => Err(e),
                Ok(None) => Ok(err("ERR no such key")),
                Ok(Some(l)) => Ok(match index(l.len(), *i as i64) {
                    Some(i) => {
                        l[i] = val(*e);
                        Frame::ok()
                    }
                    None => err("ERR index out of range"),
                }),
            },
            Op::LRem(key, c, e) => self.list(&k(key), false).map(|l| {
                let Some(l) = l else { return Frame::Integer(0) };
                let target = val(*e);
                let mut hits: Vec<usize> = l
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| **x == target)
                    .map(|(i, _)| i)
                    .collect();
                if *c < 0 {
                    hits.reverse();
                }
                if *c != 0 {
                    hits.truncate(c.unsigned_abs() as usize);
                }
                hits.sort_unstable();
                for &i in hits.iter().rev() {
                    l.remove(i);
                }
                Frame::Integer(hits.len() as i64)
            }),
            Op::LTrim(key, a, b) => self.list(&k(key), false).map(|l| {
                if let Some(l) = l {
                    match span(l.len(), *a as i64, *b as i64) {
                        Some((a, b)) => {
                            l.truncate(b + 1);
                            l.drain(..a);
                        }
                        None => l.clear(),
                    }
                }
                Frame::ok()
            }),
            Op::LInsert(key, before, p, e) => self.list(&k(key), false).map(|l| {
                let Some(l) = l else { return Frame::Integer(0) };
                match l.iter().position(|x| *x == val(*p)) {
                    None => Frame::Integer(-1),
                    Some(i) => {
                        l.insert(if *before { i } else { i + 1 }, val(*e));
                        Frame::Integer(l.len() as i64)
                    }
                }
            }),
            Op::HSet(key, f, v) => self.hash(&k(key), true).map(|h| {
                Frame::Integer(i64::from(
                    h.expect("created")
                        .insert(format!("f{f}"), val(*v))
                        .is_none(),
                ))
            }),
            Op::HDel(key, f) => self.hash(&k(key), false).map(|h| {
                Frame::Integer(i64::from(
                    h.is_some_and(|h| h.remove(&format!("f{f}")).is_some()),
                ))
            }),
            Op::HGet(key, f) => self.hash(&k(key), false).map(|h| {
                h.and_then(|h| h.get(&format!("f{f}")).map(|v| bulk(v)))
                    .unwrap_or(Frame::Null)
            }),
            Op::HIncrBy(key, f, n) => self.hash(&k(key), true).map(|h| {
                let h = h.expect("created");
                let field = format!("f{f}");
                let old = h.get(&field).cloned();
                match old.as_deref().map(str::parse::<i64>) {
                    Some(Err(_)) => err("ERR hash value is not an integer"),
                    Some(Ok(_))
                        if old.as_deref().is_some_and(|s| {
                            s.starts_with('+') || (s.len() > 1 && s.starts_with('0'))
                        }) =>
                    {
                        err("ERR hash value is not an integer")
                    }
                    o => {
                        let v = o.map_or(0, |r| r.unwrap()) + i64::from(*n);
                        h.insert(field, v.to_string());
                        Frame::Integer(v)
                    }
                }
            }),
            Op::SAdd(key, m) => self
                .set(&k(key), true)
                .map(|s| Frame::Integer(i64::from(s.expect("created").insert(val(*m))))),
            Op::SRem(key, m) => self
                .set(&k(key), false)
                .map(|s| Frame::Integer(i64::from(s.is_some_and(|s| s.remove(&val(*m)))))),
            Op::SIsMember(key, m) => self
                .set(&k(key), false)
                .map(|s| Frame::Integer(i64::from(s.is_some_and(|s| s.contains(&val(*m)))))),
            Op::Card(key) => Ok(Frame::Integer(match self.keys.get(&k(key)) {
                Some(Val::List(l)) => l.len() as i64,
                Some(Val::Hash(h)) => h.len() as i64,
                Some(Val::Set(s)) => s.len() as i64,
                None => 0,
            })),
            Op::Del(key) => Ok(Frame::Integer(i64::from(
                self.keys.remove(&k(key)).is_some(),
            ))),
            Op::Type(key) => Ok(Frame::simple(match self.keys.get(&k(key)) {
                Some(Val::List(_)) => "list",
                Some(Val::Hash(_)) => "hash",
                Some(Val::Set(_)) => "set",
                None => "none",
            })),
        };
        let key = match op {
            Op::Push(x, ..)
            | Op::Pop(x, ..)
            | Op::LRange(x, ..)
            | Op::LIndex(x, ..)
            | Op::LSet(x, ..)
            | Op::LRem(x, ..)
            | Op::LTrim(x, ..)
            | Op::LInsert(x, ..)
            | Op::HSet(x, ..)
            | Op::HDel(x, ..)
            | Op::HGet(x, ..)
            | Op::HIncrBy(x, ..)
            | Op::SAdd(x, ..)
            | Op::SRem(x, ..)
            | Op::SIsMember(x, ..)
            | Op::Card(x)
            | Op::Del(x)
            | Op::Type(x) => k(x),
        };
        self.tidy(&key);
        r.unwrap_or_else(|e| e)
    }
}

/// Keys by family, so list commands mostly meet lists (and so on); the
/// generic commands (and every fifth key choice) cross families, which
/// exercises WRONGTYPE.
fn name(op: &Op, i: u8) -> String {
    let family = match op {
        Op::Push(..)
        | Op::Pop(..)
        | Op::LRange(..)
        | Op::LIndex(..)
        | Op::LSet(..)
        | Op::LRem(..)
        | Op::LTrim(..)
        | Op::LInsert(..) => 'l',
        Op::HSet(..) | Op::HDel(..) | Op::HGet(..) | Op::HIncrBy(..) => 'h',
        Op::SAdd(..) | Op::SRem(..) | Op::SIsMember(..) => 's',
        Op::Card(..) | Op::Del(..) | Op::Type(..) => ['l', 'h', 's'][usize::from(i) % 3],
    };
    if i >= KEYS {
        // A key of another family.
        let other = ['l', 'h', 's'][usize::from(i) % 3];
        return format!("{other}{}", i % KEYS);
    }
    format!("{family}{i}")
}

/// The command FlashKV runs for `op`.
fn argv(op: &Op) -> Vec<String> {
    let k = |i: &u8| name(op, *i);
    let mut v: Vec<String> = match op {
        Op::Push(key, left, items) => {
            let mut v = vec![if *left { "LPUSH" } else { "RPUSH" }.into(), k(key)];
            v.extend(items.iter().map(|e| val(*e)));
            v
        }
        Op::Pop(key, left, count) => {
            let mut v = vec![if *left { "LPOP" } else { "RPOP" }.into(), k(key)];
            v.extend(count.map(|c| c.to_string()));
            v
        }
        Op::LRange(key, a, b) => vec!["LRANGE".into(), k(key), a.to_string(), b.to_string()],
        Op::LIndex(key, i) => vec!["LINDEX".into(), k(key), i.to_string()],
        Op::LSet(key, i, e) => vec!["LSET".into(), k(key), i.to_string(), val(*e)],
        Op::LRem(key, c, e) => vec!["LREM".into(), k(key), c.to_string(), val(*e)],
        Op::LTrim(key, a, b) => vec!["LTRIM".into(), k(key), a.to_string(), b.to_string()],
        Op::LInsert(key, b, p, e) => {
            vec![
                "LINSERT".into(),
                k(key),
                if *b { "BEFORE" } else { "AFTER" }.into(),
                val(*p),
                val(*e),
            ]
        }
        Op::HSet(key, f, v) => vec!["HSET".into(), k(key), format!("f{f}"), val(*v)],
        Op::HDel(key, f) => vec!["HDEL".into(), k(key), format!("f{f}")],
        Op::HGet(key, f) => vec!["HGET".into(), k(key), format!("f{f}")],
        Op::HIncrBy(key, f, n) => vec!["HINCRBY".into(), k(key), format!("f{f}"), n.to_string()],
        Op::SAdd(key, m) => vec!["SADD".into(), k(key), val(*m)],
        Op::SRem(key, m) => vec!["SREM".into(), k(key), val(*m)],
        Op::SIsMember(key, m) => vec!["SISMEMBER".into(), k(key), val(*m)],
        Op::Card(key) => vec!["TYPE".into(), k(key)],
        Op::Del(key) => vec!["DEL".into(), k(key)],
        Op::Type(key) => vec!["TYPE".into(), k(key)],
    };
    if let Op::Card(_) = op {
        v.clear();
    }
    v
}

pub fn server<S: Store>() -> (Executor<S>, Client<S>) {
    server_on::<S>(Clock::manual(1_700_000_000_000))
}

/// An in-process server whose time is `clock`, and an authenticated client.
pub fn server_on<S: Store>(clock: Clock) -> (Executor<S>, Client<S>) {
    let config = Config::default();
    let db = Db::new(config.databases, clock, config.expiry);
    let state = Arc::new(ServerState::new(config, db, 6379));
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let handle = state.clients.register(addr, addr, -1, usize::MAX).unwrap();
    let mut session = Session::new(handle);
    session.authenticated = true;
    let exec = Executor::with_all_commands(state);
    let client = exec.client(session);
    (exec, client)
}

pub fn run<S: Store>(exec: &Executor<S>, client: &mut Client<S>, args: &[String]) -> Frame {
    let argv = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    run_inline(exec, client, argv)
}

/// Cardinality as FlashKV reports it, whatever the type (for Op::Card).
fn card<S: Store>(exec: &Executor<S>, client: &mut Client<S>, key: &str) -> Frame {
    let t = run(exec, client, &["TYPE".into(), key.into()]);
    let cmd = match t {
        Frame::Simple(t) if &t[..] == b"list" => "LLEN",
        Frame::Simple(t) if &t[..] == b"hash" => "HLEN",
        Frame::Simple(t) if &t[..] == b"set" => "SCARD",
        _ => return Frame::Integer(0),
    };
    run(exec, client, &[cmd.into(), key.into()])
}

/// A proptest runner for `cases` cases (`FLASHKV_PROPTEST_CASES`
/// overrides), without failure files.
pub fn runner(cases: u32) -> TestRunner {
    let cases = std::env::var("FLASHKV_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    TestRunner::new(PtConfig {
        cases,
        failure_persistence: None,
        ..PtConfig::default()
    })
}

fn collections_follow_the_model<S: Store>() {
    runner(CASES)
        .run(&prop::collection::vec(op(), 1..60), |ops| {
            let (exec, mut client) = server::<S>();
            let mut model = Model::default();
            for op in &ops {
                let want = model.apply(op);
                let got = match op {
                    Op::Card(key) => card(&exec, &mut client, &name(op, *key)),
                    _ => run(&exec, &mut client, &argv(op)),
                };
                prop_assert_eq!(&got, &want, "after {:?}", op);
            }
            Ok(())
        })
        .unwrap();
}

backends!(collections_follow_the_model);
