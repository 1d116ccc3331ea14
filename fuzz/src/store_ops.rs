//! Operation sequences on a backend, against a sequential `HashMap` model.
//!
//! The idea is the conformance crate's proptest model (`model.rs`), driven
//! by the fuzzer instead: arbitrary keys (binary, empty, or one of a few
//! small ones so operations collide), Redis-shaped `compute` decisions
//! made by the conformance model's own `decide` (one description of Redis's
//! compute semantics for both), applied to both sides, bulk
//! inserts that force resizes, and a SCAN that advances one step at a time
//! between other operations. Every answer must equal the model's; a scan
//! step may only visit live entries as the model has them; and when a scan
//! comes back to cursor 0 it must have visited every key that was present,
//! unchanged in membership, for the whole iteration (Redis's SCAN
//! guarantee).

use std::collections::{BTreeMap, HashMap, HashSet};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use flashkv::{Entry, Op as StoreOp, Store, Value};
use store_conformance::model::{decide, keeps, ComputeOp, Outcome, RetainRule};

/// Most operations per input.
const MAX_OPS: usize = 256;
/// Most keys all `Grow` operations of one input insert together: enough
/// for several resizes of every backend's smallest table, small enough
/// that one input cannot cost 256 x 1020 inserts on each backend.
const MAX_GROWN: usize = 2048;

/// A key: one of eight small ones (collisions) or arbitrary bytes.
#[derive(Arbitrary, Debug, Clone)]
enum Key {
    Small(u8),
    Any(Vec<u8>),
}

impl Key {
    fn bytes(&self) -> Bytes {
        match self {
            Key::Small(n) => Bytes::from(format!("k{}", n % 8)),
            Key::Any(b) => Bytes::copy_from_slice(&b[..b.len().min(40)]),
        }
    }
}

/// A compute closure shaped like a Redis command: the conformance model's
/// [`ComputeOp`], in a form `arbitrary` can build (small deadlines).
#[derive(Arbitrary, Debug, Clone)]
enum Decision {
    SetNx(Vec<u8>),
    SetXx(Vec<u8>),
    Incr(i64),
    Append(Vec<u8>),
    GetDel,
    Persist,
    ExpireAt(u16),
    Peek,
}

/// A retain predicate: the conformance model's [`RetainRule`] (variant
/// order kept, so committed corpora decode as before).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Rule {
    EvenKeys,
    NotExpiredAt(u16),
    ShorterThan(u8),
    Nothing,
}

/// One operation.
#[derive(Arbitrary, Debug)]
enum Operation {
    Get(Key),
    Read(Key),
    Insert(Key, Vec<u8>, Option<u16>),
    Remove(Key),
    Compute(Key, Decision),
    Clear,
    Retain(Rule),
    Len,
    Random(u64),
    /// One step of the scan in progress (a new one starts at cursor 0).
    ScanStep(u8),
    /// Insert `g:0 .. 4n` to force resizes (skipped once an input's grows
    /// pass [`MAX_GROWN`] keys).
    Grow(u8),
}

fn string(bytes: &[u8], expires_at: Option<u64>) -> Entry {
    Entry::new(Value::Str(bytes.into()), expires_at)
}

impl Decision {
    /// The conformance model's decision this one stands for.
    fn op(&self) -> ComputeOp {
        match self {
            Decision::SetNx(v) => ComputeOp::SetNx(v.clone()),
            Decision::SetXx(v) => ComputeOp::SetXx(v.clone()),
            Decision::Incr(by) => ComputeOp::Incr(*by),
            Decision::Append(v) => ComputeOp::Append(v.clone()),
            Decision::GetDel => ComputeOp::GetDel,
            Decision::Persist => ComputeOp::Persist,
            Decision::ExpireAt(at) => ComputeOp::ExpireAt(u64::from(*at)),
            Decision::Peek => ComputeOp::Peek,
        }
    }
}

impl Rule {
    /// The conformance model's retain rule this one stands for.
    fn rule(self) -> RetainRule {
        match self {
            Rule::EvenKeys => RetainRule::EvenKeys,
            Rule::NotExpiredAt(now) => RetainRule::NotExpiredAt(u64::from(now)),
            Rule::ShorterThan(n) => RetainRule::ShorterThan(usize::from(n)),
            Rule::Nothing => RetainRule::Nothing,
        }
    }
}

fn grow_key(i: usize) -> Bytes {
    Bytes::from(format!("g:{i}"))
}

/// A scan in progress: its cursor, the keys present since it started
/// (minus any removed since), and the keys it has visited.
#[derive(Default)]
struct ScanState {
    active: bool,
    cursor: u64,
    stable: HashSet<Bytes>,
    seen: HashSet<Bytes>,
}

/// The model and the scan tracker.
#[derive(Default)]
struct Model {
    map: HashMap<Bytes, Entry>,
    scan: ScanState,
}

impl Model {
    fn removed(&mut self, key: &[u8]) {
        self.scan.stable.remove(key);
    }

    fn apply(&mut self, op: &Operation) -> Outcome {
        match op {
            Operation::Get(k) | Operation::Read(k) => {
                Outcome::Entry(self.map.get(&k.bytes()).cloned())
            }
            Operation::Insert(k, v, at) => {
                Outcome::Entry(self.map.insert(k.bytes(), string(v, at.map(u64::from))))
            }
            Operation::Remove(k) => {
                let key = k.bytes();
                self.removed(&key);
                Outcome::Entry(self.map.remove(&key))
            }
            Operation::Compute(k, d) => {
                let key = k.bytes();
                let (op, answer) = decide(&d.op(), self.map.get(&key));
                match op {
                    StoreOp::Keep => {}
                    StoreOp::Put(e) => {
                        self.map.insert(key, e);
                    }
                    StoreOp::Remove => {
                        self.removed(&key);
                        self.map.remove(&key);
                    }
                }
                answer
            }
            Operation::Clear => {
                self.map.clear();
                self.scan.stable.clear();
                Outcome::Unit
            }
            Operation::Retain(rule) => {
                let gone: Vec<Bytes> = self
                    .map
                    .iter()
                    .filter(|(k, e)| !keeps(&rule.rule(), k, e))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in gone {
                    self.removed(&k);
                    self.map.remove(&k);
                }
                Outcome::Unit
            }
            Operation::Len => Outcome::Len(self.map.len()),
            Operation::Random(_) | Operation::ScanStep(_) => Outcome::Unit,
            Operation::Grow(n) => {
                for i in 0..usize::from(*n) * 4 {
                    self.map
                        .insert(grow_key(i), string(i.to_string().as_bytes(), None));
                }
                Outcome::Unit
            }
        }
    }
}

fn apply_to_store<S: Store>(s: &S, op: &Operation) -> Outcome {
    match op {
        Operation::Get(k) => Outcome::Entry(s.get(&k.bytes())),
        Operation::Read(k) => Outcome::Entry(s.read(&k.bytes(), |e| e.cloned())),
        Operation::Insert(k, v, at) => {
            Outcome::Entry(s.insert(k.bytes(), string(v, at.map(u64::from))))
        }
        Operation::Remove(k) => Outcome::Entry(s.remove(&k.bytes())),
        Operation::Compute(k, d) => {
            let d = d.op();
            s.compute(&k.bytes(), |cur| decide(&d, cur))
        }
        Operation::Clear => {
            s.clear();
            Outcome::Unit
        }
        Operation::Retain(rule) => {
            let rule = rule.rule();
            s.retain(|k, e| keeps(&rule, k, e));
            Outcome::Unit
        }
        Operation::Len => Outcome::Len(s.len()),
        Operation::Random(_) | Operation::ScanStep(_) => Outcome::Unit,
        Operation::Grow(n) => {
            for i in 0..usize::from(*n) * 4 {
                s.insert(grow_key(i), string(i.to_string().as_bytes(), None));
            }
            Outcome::Unit
        }
    }
}

/// Special checks for operations whose answer is not a plain value.
fn observe<S: Store>(s: &S, m: &mut Model, op: &Operation, i: usize) {
    match op {
        Operation::Random(seed) => match s.random_entry(*seed) {
            None => assert!(
                m.map.is_empty(),
                "op {i}: random_entry None on a non-empty store"
            ),
            Some((k, e)) => assert_eq!(m.map.get(&k), Some(&e), "op {i}: random_entry"),
        },
        Operation::Len => assert_eq!(s.is_empty(), m.map.is_empty(), "op {i}: is_empty"),
        Operation::ScanStep(count) => scan_step(s, m, usize::from(*count % 32) + 1, i),
        _ => {}
    }
}

fn scan_step<S: Store>(s: &S, m: &mut Model, count: usize, i: usize) {
    if !m.scan.active {
        m.scan = ScanState {
            active: true,
            cursor: 0,
            stable: m.map.keys().cloned().collect(),
            seen: HashSet::new(),
        };
    }
    let map = &m.map;
    let seen = &mut m.scan.seen;
    let next = s.scan(m.scan.cursor, count, |k, e| {
        assert_eq!(map.get(k), Some(e), "op {i}: scan visited {k:?}");
        seen.insert(k.clone());
    });
    m.scan.cursor = next;
    if next == 0 {
        let missed: Vec<&Bytes> = m.scan.stable.difference(&m.scan.seen).collect();
        assert!(missed.is_empty(), "op {i}: a full scan missed {missed:?}");
        m.scan.active = false;
    }
}

/// Client traffic as store operations: each string command becomes the
/// store call the server would make for it (roughly; the point is to seed
/// the fuzzer with realistic keys, values and mixes).
fn ops_from_traffic(traffic: &[u8]) -> Vec<Operation> {
    let mut ops = Vec::new();
    for argv in super::command::requests(traffic) {
        let name = argv[0].to_ascii_uppercase();
        let arg = |i: usize| argv.get(i).map(|b| b.to_vec()).unwrap_or_default();
        let key = |i: usize| Key::Any(arg(i));
        let num = |i: usize| {
            std::str::from_utf8(&arg(i))
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
        };
        match name.as_slice() {
            b"GET" | b"STRLEN" | b"TYPE" | b"EXISTS" | b"TTL" | b"MGET" => {
                ops.extend((1..argv.len()).map(|i| Operation::Get(key(i))));
            }
            b"SET" | b"GETSET" => ops.push(Operation::Insert(key(1), arg(2), None)),
            b"SETEX" | b"PSETEX" => {
                ops.push(Operation::Insert(key(1), arg(3), num(2).map(|n| n as u16)))
            }
            b"MSET" => ops.extend(
                (1..argv.len())
                    .step_by(2)
                    .map(|i| Operation::Insert(key(i), arg(i + 1), None)),
            ),
            b"SETNX" => ops.push(Operation::Compute(key(1), Decision::SetNx(arg(2)))),
            b"DEL" | b"UNLINK" => ops.extend((1..argv.len()).map(|i| Operation::Remove(key(i)))),
            b"INCR" => ops.push(Operation::Compute(key(1), Decision::Incr(1))),
            b"DECR" => ops.push(Operation::Compute(key(1), Decision::Incr(-1))),
            b"INCRBY" => ops.push(Operation::Compute(
                key(1),
                Decision::Incr(num(2).unwrap_or(0)),
            )),
            b"APPEND" => ops.push(Operation::Compute(key(1), Decision::Append(arg(2)))),
            b"GETDEL" => ops.push(Operation::Compute(key(1), Decision::GetDel)),
            b"PERSIST" => ops.push(Operation::Compute(key(1), Decision::Persist)),
            b"EXPIRE" | b"PEXPIRE" | b"EXPIREAT" | b"PEXPIREAT" => {
                ops.push(Operation::Compute(
                    key(1),
                    Decision::ExpireAt(num(2).unwrap_or(0) as u16),
                ));
            }
            b"FLUSHALL" | b"FLUSHDB" => ops.push(Operation::Clear),
            b"DBSIZE" => ops.push(Operation::Len),
            b"SCAN" | b"KEYS" => ops.push(Operation::ScanStep(num(1).unwrap_or(0) as u8)),
            b"RANDOMKEY" => ops.push(Operation::Random(ops.len() as u64)),
            _ => {}
        }
    }
    ops
}

/// Run one fuzz input against backend `S`: `arbitrary` operations, or
/// traffic after the [`super::command::TRAFFIC`] prefix.
pub fn check<S: Store>(data: &[u8]) {
    let ops = match data.strip_prefix(super::command::TRAFFIC) {
        Some(traffic) => ops_from_traffic(traffic),
        None => match Vec::<Operation>::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(ops) => ops,
            Err(_) => return,
        },
    };
    let mut grown = 0;
    let ops = ops.iter().take(MAX_OPS).filter(|op| match op {
        Operation::Grow(n) => {
            grown += usize::from(*n) * 4;
            grown <= MAX_GROWN
        }
        _ => true,
    });
    let s = S::default();
    let mut m = Model::default();
    for (i, op) in ops.enumerate() {
        observe(&s, &mut m, op, i);
        let got = apply_to_store(&s, op);
        let want = m.apply(op);
        assert_eq!(got, want, "{}: op {i}: {op:?}", S::NAME);
    }
    let mut contents = BTreeMap::new();
    let mut cursor = 0;
    loop {
        cursor = s.scan(cursor, 16, |k, e| {
            contents.insert(k.clone(), e.clone());
        });
        if cursor == 0 {
            break;
        }
    }
    let expected: BTreeMap<Bytes, Entry> = m.map.into_iter().collect();
    assert_eq!(contents, expected, "{}: final contents", S::NAME);
    assert_eq!(s.len(), expected.len(), "{}: final len", S::NAME);
}
