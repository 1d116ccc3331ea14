//! Reading RDB: files written by Redis 1.x to 7.0 (versions 1 to 10) and
//! by FlashKV, and DUMP payloads. Every length is checked against the
//! bytes that remain before anything is allocated, so a corrupt or
//! hostile input is an error, never a panic and never a huge allocation.

use bytes::Bytes;
use store_api::value::{Hash, HashLimits, List, Set, ZLimits, ZSet};
use store_api::{Entry, Value};

use super::packed::{read_intset, read_listpack, read_ziplist, read_zipmap, Elem};
use super::{lzf, op, ty, RdbError, CRC64, RDB_VERSION};
use crate::util::numbers::strtod;

/// The shapes loaded collections take (the encoding thresholds).
#[derive(Clone, Copy, Debug)]
pub struct Shapes {
    /// `list-max-listpack-size`.
    pub list_limit: i64,
    /// `hash-max-listpack-entries` / `-value`.
    pub hash: HashLimits,
    /// `set-max-intset-entries`.
    pub max_intset: usize,
    /// `zset-max-listpack-entries` / `-value`.
    pub zset: ZLimits,
    /// A pause after each key a whole-file load stores (`key-load-delay`,
    /// see `snapshot::key_delay`); RESTORE ignores it, as Redis does.
    pub key_delay: std::time::Duration,
}

impl Default for Shapes {
    fn default() -> Self {
        Shapes {
            list_limit: store_api::value::list::DEFAULT_NODE_LIMIT,
            hash: HashLimits::default(),
            max_intset: 512,
            zset: ZLimits::default(),
            key_delay: std::time::Duration::ZERO,
        }
    }
}

/// A cursor over RDB bytes.
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, RdbError>;

fn corrupt(what: &str) -> RdbError {
    RdbError::Corrupt(what.to_string())
}

impl<'a> Reader<'a> {
    /// Read from the start of `b`.
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn left(&self) -> usize {
        self.b.len() - self.pos
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        if n > self.left() {
            return Err(RdbError::Short);
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    /// A length, or the special encoding of a string (`Err(special)`).
    fn len_or_special(&mut self) -> R<Result<u64, u8>> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Ok(u64::from(first & 0x3f)),
            1 => Ok((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?)),
            2 => match first {
                0x80 => Ok(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().unwrap_or_default(),
                ))),
                0x81 => Ok(u64::from_be_bytes(
                    self.take(8)?.try_into().unwrap_or_default(),
                )),
                _ => return Err(corrupt("unknown length encoding")),
            },
            _ => Err(first & 0x3f),
        })
    }

    /// A length.
    pub fn length(&mut self) -> R<u64> {
        self.len_or_special()?
            .map_err(|_| corrupt("a string encoding where a length belongs"))
    }

    /// A count of things each at least `min_bytes` long: never more than
    /// the input could hold, so no allocation outgrows the input.
    fn count(&mut self, min_bytes: usize) -> R<usize> {
        let n = self.length()?;
        if n > (self.left() / min_bytes.max(1)) as u64 {
            return Err(RdbError::Short);
        }
        Ok(n as usize)
    }

    /// A score in the old text form (`RDB_TYPE_ZSET`): a length byte, 253
    /// NaN, 254 +inf, 255 -inf, else that many bytes of `%.17g` text.
    fn old_double(&mut self) -> R<f64> {
        Ok(match self.byte()? {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            n => match strtod(self.take(usize::from(n))?) {
                Some((v, _)) => v,
                None => return Err(corrupt("sorted set score")),
            },
        })
    }

    /// A string in any of its encodings.
    pub fn string(&mut self) -> R<Vec<u8>> {
        match self.len_or_special()? {
            Ok(n) => {
                let n = usize::try_from(n).map_err(|_| RdbError::Short)?;
                Ok(self.take(n)?.to_vec())
            }
            Err(0) => Ok(itoa::Buffer::new()
                .format(self.byte()? as i8)
                .as_bytes()
                .to_vec()),
            Err(1) => {
                let v = i16::from_le_bytes(self.take(2)?.try_into().unwrap_or_default());
                Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
            }
            Err(2) => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap_or_default());
                Ok(itoa::Buffer::new().format(v).as_bytes().to_vec())
            }
            Err(3) => {
                let clen = self.length()?;
                let len = self.length()?;
                let clen = usize::try_from(clen).map_err(|_| RdbError::Short)?;
                let compressed = self.take(clen)?;
                // LZF expands at most about 256 times (a 3-byte reference
                // makes up to 264 bytes): a larger claim is a lie.
                if len > (clen as u64).saturating_mul(264) + 32 {
                    return Err(corrupt("LZF length"));
                }
                lzf::decompress(compressed, len as usize).ok_or_else(|| corrupt("LZF data"))
            }
            Err(_) => Err(corrupt("unknown string encoding")),
        }
    }

    /// One value of RDB type `t`; `None` for an empty collection (Redis
    /// skips those with a notice).
    pub fn value(&mut self, t: u8, shapes: &Shapes) -> R<Option<Value>> {
        let v = match t {
            ty::STRING => Value::Str(self.string()?.into()),
            ty::LIST => {
                let n = self.count(1)?;
                let mut l = List::new(shapes.list_limit);
                for _ in 0..n {
                    l.push_back(&self.string()?);
                }
                Value::list(l)
            }
            ty::LIST_ZIPLIST => list_of(
                read_ziplist(&self.string()?).ok_or_else(|| corrupt("ziplist"))?,
                shapes,
            ),
            ty::LIST_QUICKLIST | ty::LIST_QUICKLIST_2 => {
                let nodes = self.count(2)?;
                let mut l = List::new(shapes.list_limit);
                for _ in 0..nodes {
                    let container = match t {
                        ty::LIST_QUICKLIST => 2,
                        _ => self.length()?,
                    };
                    if container != 1 && container != 2 {
                        return Err(corrupt("quicklist container"));
                    }
                    let node = self.string()?;
                    // Redis refuses an empty node of either kind.
                    if node.is_empty() {
                        return Err(corrupt("empty quicklist node"));
                    }
                    let elems = match (t, container) {
                        (ty::LIST_QUICKLIST, _) => {
                            read_ziplist(&node).ok_or_else(|| corrupt("quicklist ziplist"))?
                        }
                        (_, 1) => vec![node], // PLAIN: one big element
                        _ => read_listpack(&node).ok_or_else(|| corrupt("quicklist listpack"))?,
                    };
                    for e in elems {
                        l.push_back(&e);
                    }
                }
                Value::list(l)
            }
            ty::SET => {
                let n = self.count(1)?;
                let mut s: Option<Set> = None;
                for _ in 0..n {
                    let m = self.string()?;
                    let set = s.get_or_insert_with(|| Set::for_member(&m, shapes.max_intset));
                    if !set.insert(&m, shapes.max_intset) {
                        return Err(corrupt("duplicate set member"));
                    }
                }
                match s {
                    Some(s) => Value::set(s),
                    None => return Ok(None),
                }
            }
            ty::SET_INTSET => {
                let ints = read_intset(&self.string()?).ok_or_else(|| corrupt("intset"))?;
                let mut s: Option<Set> = None;
                for v in ints {
                    let m = itoa::Buffer::new().format(v).as_bytes().to_vec();
                    let set = s.get_or_insert_with(|| Set::for_member(&m, shapes.max_intset));
                    set.insert(&m, shapes.max_intset);
                }
                match s {
                    Some(s) => Value::set(s),
                    None => return Ok(None),
                }
            }
            ty::HASH => {
                let n = self.count(2)?;
                let mut h = Hash::default();
                for _ in 0..n {
                    let f = self.string()?;
                    let v = self.string()?;
                    if !h.insert(&f, &v, shapes.hash) {
                        return Err(corrupt("duplicate hash field"));
                    }
                }
                Value::hash(h)
            }
            ty::HASH_ZIPMAP => hash_of(
                read_zipmap(&self.string()?).ok_or_else(|| corrupt("zipmap"))?,
                shapes,
            )?,
            ty::HASH_ZIPLIST => hash_of(
                read_ziplist(&self.string()?).ok_or_else(|| corrupt("ziplist"))?,
                shapes,
            )?,
            ty::HASH_LISTPACK => hash_of(
                read_listpack(&self.string()?).ok_or_else(|| corrupt("listpack"))?,
                shapes,
            )?,
            ty::ZSET | ty::ZSET_2 => {
                let n = self.count(2)?;
                let mut z = ZSet::with_hint(n, 0, shapes.zset);
                for _ in 0..n {
                    let m = self.string()?;
                    let score = if t == ty::ZSET_2 {
                        f64::from_le_bytes(self.take(8)?.try_into().unwrap_or_default())
                    } else {
                        self.old_double()?
                    };
                    if score.is_nan() {
                        return Err(corrupt("sorted set with a NaN score"));
                    }
                    if !z.insert(&m, score, shapes.zset) {
                        return Err(corrupt("duplicate sorted set member"));
                    }
                }
                Value::zset(z)
            }
            ty::ZSET_ZIPLIST => zset_of(
                read_ziplist(&self.string()?).ok_or_else(|| corrupt("ziplist"))?,
                shapes,
            )?,
            ty::ZSET_LISTPACK => zset_of(
                read_listpack(&self.string()?).ok_or_else(|| corrupt("listpack"))?,
                shapes,
            )?,
            ty::STREAM_LISTPACKS | ty::STREAM_LISTPACKS_2 | ty::STREAM_LISTPACKS_3 => {
                return Err(RdbError::Unsupported("stream values".into()))
            }
            ty::MODULE | ty::MODULE_2 => return Err(RdbError::Unsupported("module values".into())),
            other => return Err(corrupt(&format!("unknown value type {other}"))),
        };
        Ok((v.element_count() > 0).then_some(v))
    }
}

fn list_of(elems: Vec<Elem>, shapes: &Shapes) -> Value {
    let mut l = List::new(shapes.list_limit);
    for e in elems {
        l.push_back(&e);
    }
    Value::list(l)
}

fn zset_of(elems: Vec<Elem>, shapes: &Shapes) -> R<Value> {
    if elems.len() % 2 != 0 {
        return Err(corrupt("sorted set with an odd number of elements"));
    }
    let longest = elems.iter().step_by(2).map(|m| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_hint(elems.len() / 2, longest, shapes.zset);
    for pair in elems.chunks_exact(2) {
        let score = match strtod(&pair[1]) {
            Some((s, _)) if !s.is_nan() && !pair[1].is_empty() => s,
            _ => return Err(corrupt("sorted set score")),
        };
        if !z.insert(&pair[0], score, shapes.zset) {
            return Err(corrupt("duplicate sorted set member"));
        }
    }
    Ok(Value::zset(z))
}

fn hash_of(elems: Vec<Elem>, shapes: &Shapes) -> R<Value> {
    if elems.len() % 2 != 0 {
        return Err(corrupt("hash with an odd number of elements"));
    }
    let mut h = Hash::default();
    for pair in elems.chunks_exact(2) {
        if !h.insert(&pair[0], &pair[1], shapes.hash) {
            return Err(corrupt("duplicate hash field"));
        }
    }
    Ok(Value::hash(h))
}

/// What [`load`] hands its sink for every key.
pub struct Loaded {
    /// Database number.
    pub db: usize,
    /// The key.
    pub key: Bytes,
    /// Its value and expiry.
    pub entry: Entry,
    /// Bytes of the file read up to the end of this key.
    pub offset: usize,
}

/// What a load found besides keys.
#[derive(Debug, Default)]
pub struct LoadSummary {
    /// The file's RDB version.
    pub version: u32,
    /// AUX fields, in order.
    pub aux: Vec<(String, String)>,
    /// Keys handed to the sink.
    pub keys: u64,
    /// Keys skipped because they had already expired.
    pub expired: u64,
    /// Empty collections skipped.
    pub empty: u64,
    /// Function libraries skipped (FlashKV has no scripting yet).
    pub functions: u64,
    /// Their code.
    pub function_codes: Vec<Vec<u8>>,
    /// Bytes of the file the RDB took (an AOF base may go on with
    /// commands after it).
    pub consumed: usize,
}

/// The `used-mem` auxiliary field at the head of an RDB file (what its
/// writer's memory was; Redis shows it while loading), if it has one.
pub fn used_mem(file: &[u8]) -> Option<u64> {
    let mut r = Reader::new(file);
    if r.take(9).ok()?.get(..5)? != b"REDIS" {
        return None;
    }
    while r.byte().ok()? == op::AUX {
        let k = r.string().ok()?;
        let v = r.string().ok()?;
        if &k[..] == b"used-mem" {
            return std::str::from_utf8(&v).ok()?.parse().ok();
        }
    }
    None
}

/// Parse a whole RDB file, handing every live key to `sink` (keys whose
/// expiry is at or before `now` are skipped, as a Redis master does).
/// `checksum`: verify the trailer (`rdbchecksum yes`).
pub fn load(
    file: &[u8],
    shapes: &Shapes,
    now: u64,
    checksum: bool,
    mut sink: impl FnMut(Loaded) -> R<()>,
) -> R<LoadSummary> {
    let mut r = Reader::new(file);
    let magic = r.take(9).map_err(|_| RdbError::Signature)?;
    if &magic[..5] != b"REDIS" {
        return Err(RdbError::Signature);
    }
    let version: u32 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(RdbError::Signature)?;
    if version < 1 || version > u32::from(RDB_VERSION) {
        return Err(RdbError::Version(version));
    }
    let mut summary = LoadSummary {
        version,
        ..LoadSummary::default()
    };
    let (mut db, mut expires_at) = (0usize, None);
    loop {
        let t = r.byte()?;
        match t {
            op::EXPIRETIME_MS => {
                expires_at = Some(u64::from_le_bytes(
                    r.take(8)?.try_into().unwrap_or_default(),
                ));
                continue;
            }
            op::EXPIRETIME => {
                let secs = u32::from_le_bytes(r.take(4)?.try_into().unwrap_or_default());
                expires_at = Some(u64::from(secs) * 1000);
                continue;
            }
            op::FREQ => {
                r.byte()?;
                continue;
            }
            op::IDLE => {
                r.length()?;
                continue;
            }
            op::EOF => break,
            op::SELECTDB => {
                db = usize::try_from(r.length()?).map_err(|_| RdbError::Databases(usize::MAX))?;
                continue;
            }
            op::RESIZEDB => {
                r.length()?;
                r.length()?;
                continue;
            }
            op::AUX => {
                let k = r.string()?;
                let v = r.string()?;
                summary.aux.push((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ));
                continue;
            }
            op::MODULE_AUX => return Err(RdbError::Unsupported("module data".into())),
            op::FUNCTION2 => {
                summary.function_codes.push(r.string()?);
                summary.functions += 1;
                continue;
            }
            op::FUNCTION_PRE_GA => {
                return Err(RdbError::Unsupported("pre-release function data".into()))
            }
            _ => {}
        }
        let key = Bytes::from(r.string()?);
        let value = r.value(t, shapes)?;
        let at = expires_at.take();
        let Some(value) = value else {
            summary.empty += 1;
            continue;
        };
        if at.is_some_and(|at| at < now) {
            summary.expired += 1;
            continue;
        }
        summary.keys += 1;
        sink(Loaded {
            db,
            key,
            entry: Entry::new(value, at),
            offset: r.pos(),
        })?;
    }
    if version >= 5 {
        let end = r.pos();
        let stored = u64::from_le_bytes(r.take(8)?.try_into().unwrap_or_default());
        if checksum && stored != 0 {
            let computed = CRC64.checksum(&file[..end]);
            if computed != stored {
                return Err(RdbError::Checksum {
                    expected: stored,
                    got: computed,
                });
            }
        }
    }
    summary.consumed = r.pos();
    Ok(summary)
}

/// Check and decode a DUMP payload (RESTORE): `None` when its version or
/// checksum is wrong, `Some(Err)` when its value is malformed. The CRC64
/// is checked only with `verify` (off after DEBUG
/// SET-SKIP-CHECKSUM-VALIDATION 1, Redis's test knob for feeding corrupt
/// values without faking a checksum).
pub fn restore_payload(payload: &[u8], shapes: &Shapes, verify: bool) -> Option<R<Option<Value>>> {
    let body = open_payload(payload, verify)?;
    let mut r = Reader::new(body);
    Some(r.byte().and_then(|t| r.value(t, shapes)))
}

/// The body of a DUMP-style payload (without its version and CRC64), if
/// the version is one this build reads and (with `verify`) the checksum
/// holds: Redis's `verifyDumpPayload`.
pub fn open_payload(payload: &[u8], verify: bool) -> Option<&[u8]> {
    if payload.len() < 10 {
        return None;
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if version > RDB_VERSION {
        return None;
    }
    if verify && CRC64.checksum(body) != u64::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    Some(&body[..body.len() - 2])
}

/// The library codes of a FUNCTION DUMP body: function records only.
pub fn function_records(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    while r.pos() < body.len() {
        if r.byte().ok()? != op::FUNCTION2 {
            return None;
        }
        out.push(r.string().ok()?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An LZF string claiming more than 264 times its compressed bytes is
    /// refused before anything is allocated for it.
    #[test]
    fn an_lzf_length_past_264_times_the_input_is_refused() {
        // LZF, 1 compressed byte, 1,000 bytes claimed (0x43 0xe8), the byte.
        let r = Reader::new(&[0xc3, 0x01, 0x43, 0xe8, 0x00]).string();
        assert!(
            matches!(&r, Err(RdbError::Corrupt(m)) if *m == "LZF length"),
            "{r:?}"
        );
    }

    #[test]
    fn a_packed_sorted_set_refuses_nan_and_empty_scores() {
        let pair = |score: &str| vec![b"m".to_vec(), score.as_bytes().to_vec()];
        let shapes = Shapes::default();
        assert!(zset_of(pair("1.5"), &shapes).is_ok());
        assert!(zset_of(pair("-inf"), &shapes).is_ok());
        for bad in ["nan", "", "x"] {
            assert!(zset_of(pair(bad), &shapes).is_err(), "{bad:?}");
        }
        assert!(zset_of(vec![b"m".to_vec()], &shapes).is_err(), "odd");
    }

    /// A packed sorted set of 100 members loads packed (Redis's
    /// `zsetTypeCreate` sizes it by members, not by elements read).
    #[test]
    fn a_packed_sorted_set_under_the_limit_stays_packed() {
        let elems: Vec<Vec<u8>> = (0..100)
            .flat_map(|i| [format!("m{i}").into_bytes(), i.to_string().into_bytes()])
            .collect();
        match zset_of(elems, &Shapes::default()) {
            Ok(store_api::Value::Coll(store_api::Coll::ZSet(z))) => {
                let z = z.read();
                assert_eq!(z.len(), 100);
                assert_eq!(z.encoding(), "listpack");
            }
            other => panic!("{other:?}"),
        }
    }

    /// Redis writes a key's LFU counter (FREQ) or idle time (IDLE) before
    /// it under an LFU or LRU policy: both are read past, and the key and
    /// the ones after it load (mutation sample, `src/db` shard 10/16:
    /// deleting the FREQ arm survived the unit tests).
    #[test]
    fn freq_and_idle_before_a_key_are_read_past() {
        let mut file = b"REDIS0010".to_vec();
        file.extend_from_slice(&[op::FREQ, 5, ty::STRING, 1, b'k', 1, b'v']);
        file.extend_from_slice(&[op::IDLE, 10, ty::STRING, 1, b'j', 1, b'w']);
        file.push(op::EOF);
        file.extend_from_slice(&[0; 8]);
        let mut keys = Vec::new();
        load(&file, &Shapes::default(), 0, true, |l| {
            keys.push(l.key);
            Ok(())
        })
        .unwrap();
        assert_eq!(keys, [&b"k"[..], &b"j"[..]]);
    }

    /// A list as Redis 3.2 to 6.2 wrote it (RDB type 14): a quicklist of
    /// ziplists, with no container field, loads element by element
    /// (mutation sample, `src/db` shard 10/16: deleting its arm, which
    /// reads the nodes as listpacks and refuses them, survived the unit
    /// tests).
    #[test]
    fn an_old_quicklist_of_ziplists_loads() {
        // One ziplist node: header (total 17, tail 13, count 2), "a", "b", end.
        let mut node = vec![17, 0, 0, 0, 13, 0, 0, 0, 2, 0];
        node.extend_from_slice(&[0, 0x01, b'a', 3, 0x01, b'b', 0xff]);
        let mut value = vec![1, node.len() as u8];
        value.extend_from_slice(&node);
        let loaded = Reader::new(&value)
            .value(ty::LIST_QUICKLIST, &Shapes::default())
            .unwrap();
        match loaded {
            Some(store_api::Value::Coll(store_api::Coll::List(l))) => {
                let l = l.read();
                let got: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
                assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_count_cannot_exceed_what_the_bytes_left_could_hold() {
        // A count of 3, then 4 bytes: room for 2 items of 2 bytes, not 3.
        let mut r = Reader::new(&[3, 0, 0, 0, 0]);
        assert!(matches!(r.count(2), Err(RdbError::Short)));
        let mut r = Reader::new(&[2, 0, 0, 0, 0]);
        assert_eq!(r.count(2).unwrap(), 2);
        // A hash claiming 3 pairs over 4 empty strings is short, refused
        // before any pair is read.
        let v = Reader::new(&[3, 0, 0, 0, 0]).value(ty::HASH, &Shapes::default());
        assert!(matches!(v, Err(RdbError::Short)), "{v:?}");
    }
}
