//! Redis's RDB format (version 10, Redis 7.0): snapshot files and DUMP
//! payloads.
//!
//! A file is `REDIS0010`, AUX fields, then per database a SELECTDB and a
//! RESIZEDB opcode followed by its keys (each optionally preceded by its
//! absolute expiry in milliseconds), an EOF opcode and a CRC64 (Jones
//! polynomial, Redis's variant) of everything before it. FlashKV writes
//! what Redis 7.0 writes: integers and LZF-compressed strings, lists as
//! quicklists of listpacks, small hashes as listpacks, integer sets as
//! intsets. It loads everything Redis 7.0 loads except sorted sets (until
//! they exist), streams and modules, which are refused with a clear error
//! rather than dropped.

pub mod lzf;
pub mod packed;
mod read;
mod write;

use std::fmt;

pub use read::{
    function_records, load, open_payload, restore_payload, used_mem, LoadSummary, Loaded, Reader,
    Shapes,
};
pub use write::{
    dump_payload, put_entry, put_len, put_string, put_value, seal_payload, set_packed_threshold,
    RdbWriter,
};

/// The RDB version written (Redis 7.0's).
pub const RDB_VERSION: u16 = 10;

/// Redis's CRC64 (RDB trailers and DUMP payloads).
pub(crate) const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// Opcodes between records.
pub mod op {
    /// Function library (Redis 7.0 GA).
    pub const FUNCTION2: u8 = 245;
    /// Function library (Redis 7.0 release candidates).
    pub const FUNCTION_PRE_GA: u8 = 246;
    /// Module auxiliary data.
    pub const MODULE_AUX: u8 = 247;
    /// LRU idle time of the next key.
    pub const IDLE: u8 = 248;
    /// LFU frequency of the next key.
    pub const FREQ: u8 = 249;
    /// A name and a value about the file.
    pub const AUX: u8 = 250;
    /// Sizes of the database that follows.
    pub const RESIZEDB: u8 = 251;
    /// Expiry of the next key, milliseconds.
    pub const EXPIRETIME_MS: u8 = 252;
    /// Expiry of the next key, seconds (old files).
    pub const EXPIRETIME: u8 = 253;
    /// The database the following keys belong to.
    pub const SELECTDB: u8 = 254;
    /// End of the file.
    pub const EOF: u8 = 255;
}

/// Value types.
pub mod ty {
    #![allow(missing_docs)]
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Why an RDB file or payload could not be loaded.
#[derive(Debug)]
pub enum RdbError {
    /// Reading the file failed.
    Io(std::io::Error),
    /// Not an RDB file.
    Signature,
    /// A version newer than this server understands.
    Version(u32),
    /// The input ends too early (or claims more than it holds).
    Short,
    /// Malformed contents.
    Corrupt(String),
    /// The trailer does not match the contents.
    Checksum {
        /// The trailer's value.
        expected: u64,
        /// What the contents hash to.
        got: u64,
    },
    /// Something FlashKV does not have yet (sorted sets, streams, modules).
    Unsupported(String),
    /// A database number the configuration does not have.
    Databases(usize),
    /// The same key twice in one database.
    Duplicate(String, usize),
    /// A function library the server already has (DEBUG RELOAD NOFLUSH
    /// without MERGE).
    LibraryExists(String),
    /// A shutdown stopped the load.
    Cancelled,
}

impl fmt::Display for RdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbError::Io(e) => write!(f, "{e}"),
            RdbError::Signature => f.write_str("Wrong signature trying to load DB from file"),
            RdbError::Version(v) => write!(f, "Can't handle RDB format version {v}"),
            RdbError::Short => {
                f.write_str("Short read or OOM loading DB. Unrecoverable error, aborting now.")
            }
            RdbError::Corrupt(what) => write!(f, "Internal error in RDB reading: bad {what}"),
            RdbError::Checksum { expected, got } => write!(
                f,
                "Wrong RDB checksum expected: ({expected:x}) got ({got:x}). Aborting now."
            ),
            RdbError::Unsupported(what) => {
                write!(f, "The RDB file holds {what}, which FlashKV does not support yet")
            }
            RdbError::Databases(n) => write!(
                f,
                "FATAL: Data file was created with a Redis server configured to handle more than {n} databases. Exiting"
            ),
            RdbError::Duplicate(key, db) => {
                write!(f, "RDB has duplicated key '{key}' in DB {db}")
            }
            RdbError::LibraryExists(name) => write!(f, "Library '{name}' already exists"),
            RdbError::Cancelled => f.write_str("Loading stopped by a shutdown"),
        }
    }
}

impl std::error::Error for RdbError {}

impl From<std::io::Error> for RdbError {
    fn from(e: std::io::Error) -> Self {
        RdbError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_api::value::{Hash, HashLimits, List, Set, ZLimits, ZSet};
    use store_api::{Entry, Value};

    #[test]
    fn a_bare_ten_byte_payload_is_bad_data_not_a_bad_checksum() {
        // verifyDumpPayload refuses only a payload under 10 bytes; RESTORE
        // then answers "Bad data format".
        let mut p = RDB_VERSION.to_le_bytes().to_vec();
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(p.len(), 10);
        assert!(matches!(
            restore_payload(&p, &Shapes::default(), true),
            Some(Err(_))
        ));
        assert!(restore_payload(&p[..9], &Shapes::default(), true).is_none());
    }

    #[test]
    fn lengths_and_strings_are_encoded_as_rdb_save_len_does() {
        let len = |n| {
            let mut b = Vec::new();
            put_len(&mut b, n);
            b
        };
        assert_eq!(len(63), [63]);
        assert_eq!(len(64), [0x40, 64]);
        assert_eq!(len(300), [0x41, 0x2c]);
        assert_eq!(len(16_384), [0x80, 0, 0, 0x40, 0]);
        // 30 bytes without repeats: LZF would not make it smaller, so raw.
        let s: Vec<u8> = (0..30u8).collect();
        let mut b = Vec::new();
        put_string(&mut b, &s, true);
        assert_eq!(b[0], 30);
        assert_eq!(&b[1..], &s[..]);
        // rdbSaveRawString compresses only strings over 20 bytes.
        let mut b = Vec::new();
        put_string(&mut b, &[b'a'; 20], true);
        assert_eq!(b, [&[20u8][..], &[b'a'; 20][..]].concat());
    }

    /// DEBUG QUICKLIST-PACKED-THRESHOLD refuses 4 GiB less 1 MiB and more,
    /// as Redis. (Only refusals: an accepted value is process-wide.)
    #[test]
    fn the_packed_threshold_stops_below_4_gib() {
        assert!(!set_packed_threshold(1 << 32));
        assert!(!set_packed_threshold((1 << 32) - (1 << 20) + 1));
    }

    fn entries() -> Vec<(Vec<u8>, Entry)> {
        let mut l = List::new(-2);
        for i in 0..2000 {
            l.push_back(format!("element-{i}").as_bytes());
        }
        let mut small = Hash::default();
        small.insert(b"f", b"1", HashLimits::default());
        let mut big = Hash::default();
        for i in 0..600 {
            big.insert(format!("f{i}").as_bytes(), b"v", HashLimits::default());
        }
        let mut ints = Set::for_member(b"1", 512);
        for m in ["1", "-5", "70000"] {
            ints.insert(m.as_bytes(), 512);
        }
        let mut words = Set::for_member(b"a", 512);
        for m in ["a", "b", "12"] {
            words.insert(m.as_bytes(), 512);
        }
        let mut podium = ZSet::default();
        let mut board = ZSet::default();
        for i in 0..300 {
            let m = format!("player-{i}");
            if i < 3 {
                podium.insert(m.as_bytes(), f64::from(i) / 2.0, ZLimits::default());
            }
            board.insert(m.as_bytes(), f64::from(i) * 1.5 - 7.0, ZLimits::default());
        }
        vec![
            (b"int".to_vec(), Entry::string(&b"-123"[..])),
            (b"big-int".to_vec(), Entry::string(&b"12345678901234"[..])),
            (b"long".to_vec(), Entry::string(b"x".repeat(1000))),
            (
                b"text".to_vec(),
                Entry::new(Value::Str("hello".into()), Some(4_000_000_000_000)),
            ),
            (b"list".to_vec(), Entry::new(Value::list(l), None)),
            (b"small".to_vec(), Entry::new(Value::hash(small), None)),
            (b"big".to_vec(), Entry::new(Value::hash(big), None)),
            (b"ints".to_vec(), Entry::new(Value::set(ints), None)),
            (b"words".to_vec(), Entry::new(Value::set(words), None)),
            (b"podium".to_vec(), Entry::new(Value::zset(podium), None)),
            (b"board".to_vec(), Entry::new(Value::zset(board), None)),
        ]
    }

    fn file(compress: bool) -> Vec<u8> {
        let mut w = RdbWriter::new(Vec::new(), true, &[("redis-ver", "7.0.15".into())]).unwrap();
        w.select_db(3, 11, 1).unwrap();
        for (k, e) in entries() {
            let mut buf = Vec::new();
            put_entry(&mut buf, &k, &e, compress);
            w.put(&buf).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn a_file_round_trips() {
        for compress in [false, true] {
            let bytes = file(compress);
            let mut got = Vec::new();
            let summary = load(&bytes, &Shapes::default(), 0, true, |l| {
                got.push((l.db, l.key.to_vec(), l.entry));
                Ok(())
            })
            .unwrap();
            assert_eq!(
                summary.aux,
                vec![("redis-ver".to_string(), "7.0.15".to_string())]
            );
            let want: Vec<_> = entries().into_iter().map(|(k, e)| (3, k, e)).collect();
            assert_eq!(got, want);
        }
        assert!(file(true).len() < file(false).len());
    }

    #[test]
    fn every_damage_is_an_error() {
        let bytes = file(true);
        let cuts = (0..bytes.len())
            .step_by(61)
            .chain(bytes.len() - 40..bytes.len());
        for cut in cuts {
            let r = load(&bytes[..cut], &Shapes::default(), 0, true, |_| Ok(()));
            assert!(r.is_err(), "a file cut at {cut} loaded");
        }
        let mut flips = 0;
        for i in (9..bytes.len() - 8).step_by(97) {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            if load(&bad, &Shapes::default(), 0, true, |_| Ok(())).is_err() {
                flips += 1;
            }
        }
        assert_eq!(
            flips,
            (9..bytes.len() - 8).step_by(97).count(),
            "the checksum catches every flip"
        );
        let mut v11 = bytes.clone();
        v11[5..9].copy_from_slice(b"0011");
        assert!(matches!(
            load(&v11, &Shapes::default(), 0, true, |_| Ok(())),
            Err(RdbError::Version(11))
        ));
    }

    #[test]
    fn huge_lengths_allocate_nothing() {
        // A list claiming 2^60 elements, a string claiming 4 GB.
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&[ty::LIST, 1, b'k', 0x81]);
        f.extend_from_slice(&(1u64 << 60).to_be_bytes());
        assert!(matches!(
            load(&f, &Shapes::default(), 0, true, |_| Ok(())),
            Err(RdbError::Short)
        ));
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&[ty::STRING, 1, b'k', 0x80, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            load(&f, &Shapes::default(), 0, true, |_| Ok(())),
            Err(RdbError::Short)
        ));
    }

    /// Payloads redis-server 7.0.15 gave for DUMP (string with LZF, small
    /// hash, list, intset).
    #[test]
    fn restores_redis_payloads() {
        let payloads: [(&[u8], &str); 4] = [
            (
                &[
                    0, 195, 10, 64, 80, 2, 97, 98, 97, 224, 66, 1, 1, 97, 98, 10, 0, 148, 157, 95,
                    14, 177, 222, 164, 69,
                ],
                "string",
            ),
            (
                &[
                    16, 12, 12, 0, 0, 0, 2, 0, 129, 97, 2, 1, 1, 255, 10, 0, 132, 166, 147, 232,
                    170, 23, 228, 219,
                ],
                "hash",
            ),
            (
                &[
                    18, 1, 2, 12, 12, 0, 0, 0, 2, 0, 129, 120, 2, 100, 1, 255, 10, 0, 185, 215, 27,
                    207, 1, 26, 40, 82,
                ],
                "list",
            ),
            (
                &[
                    11, 12, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 44, 1, 10, 0, 41, 8, 175, 81, 65, 120,
                    165, 19,
                ],
                "set",
            ),
        ];
        for (p, kind) in payloads {
            let v = restore_payload(p, &Shapes::default(), true)
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(v.type_name(), kind);
            // Ours is byte-identical, but for the LZF bytes (ours are
            // shorter here; any valid LZF loads).
            let ours = dump_payload(&v, true);
            if kind == "string" {
                let back = restore_payload(&ours, &Shapes::default(), true)
                    .unwrap()
                    .unwrap()
                    .unwrap();
                assert_eq!(back, v);
            } else {
                assert_eq!(ours, p, "{kind}");
            }
        }
        let mut bad = payloads_first();
        bad[3] ^= 1;
        assert!(restore_payload(&bad, &Shapes::default(), true).is_none());
    }

    fn payloads_first() -> Vec<u8> {
        vec![
            0, 195, 10, 64, 80, 2, 97, 98, 97, 224, 66, 1, 1, 97, 98, 10, 0, 148, 157, 95, 14, 177,
            222, 164, 69,
        ]
    }

    /// `rdbSaveRawString`'s integer encodings, byte for byte.
    #[test]
    fn small_integers_are_saved_as_redis_saves_them() {
        let put = |s: &str| {
            let mut buf = Vec::new();
            put_string(&mut buf, s.as_bytes(), true);
            buf
        };
        assert_eq!(put("5"), [0xc0, 5]);
        assert_eq!(put("-100"), [0xc0, 0x9c]);
        assert_eq!(put("300"), [0xc1, 0x2c, 0x01]);
        assert_eq!(put("70000"), [0xc2, 0x70, 0x11, 0x01, 0x00]);
        assert_eq!(put("007"), [3, b'0', b'0', b'7']);
        assert_eq!(put("hello"), [5, b'h', b'e', b'l', b'l', b'o']);
    }

    #[test]
    fn payloads_open_only_with_their_version_and_checksum() {
        let seal = |body: &[u8], version: u16| {
            let mut p = body.to_vec();
            p.extend_from_slice(&version.to_le_bytes());
            let crc = CRC64.checksum(&p);
            p.extend_from_slice(&crc.to_le_bytes());
            p
        };
        let body = [ty::STRING, 1, b'x'];
        assert_eq!(
            open_payload(&seal(&body, RDB_VERSION), true),
            Some(&body[..])
        );
        assert_eq!(open_payload(&seal(&body, RDB_VERSION + 1), true), None);
        let mut bad = seal(&body, RDB_VERSION);
        bad[1] ^= 1;
        assert_eq!(open_payload(&bad, true), None);
        assert_eq!(open_payload(&bad[..9], true), None);
        // FUNCTION DUMP bodies: function records only.
        let lib = [op::FUNCTION2, 3, b'a', b'b', b'c', op::FUNCTION2, 1, b'd'];
        assert_eq!(
            function_records(&lib),
            Some(vec![b"abc".to_vec(), b"d".to_vec()])
        );
        assert_eq!(function_records(&[ty::STRING, 1, b'x']), None);
    }

    /// A version 1 file (no checksum) with a key whose deadline is in
    /// seconds (`EXPIRETIME`, written before RDB 3).
    #[test]
    fn first_version_files_and_deadlines_in_seconds_load() {
        let mut f = b"REDIS0001".to_vec();
        f.push(op::EXPIRETIME);
        f.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        f.extend_from_slice(&[ty::STRING, 1, b'k', 1, b'v', op::EOF]);
        let mut got = Vec::new();
        let summary = load(&f, &Shapes::default(), 0, true, |l| {
            got.push((l.key.to_vec(), l.entry.expires_at()));
            Ok(())
        })
        .unwrap();
        assert_eq!(summary.version, 1);
        assert_eq!(got, vec![(b"k".to_vec(), Some(1_700_000_000_000))]);
        let mut v0 = f.clone();
        v0[5..9].copy_from_slice(b"0000");
        assert!(matches!(
            load(&v0, &Shapes::default(), 0, true, |_| Ok(())),
            Err(RdbError::Version(0))
        ));
    }

    #[test]
    fn a_load_summary_counts_what_it_met() {
        let bytes = file(false);
        let summary = load(&bytes, &Shapes::default(), 0, true, |_| Ok(())).unwrap();
        assert_eq!(summary.version, u32::from(RDB_VERSION));
        assert_eq!(summary.keys, entries().len() as u64);
        assert_eq!((summary.expired, summary.empty), (0, 0));
        // Loaded after every deadline: each key with a TTL is skipped.
        let late = load(&bytes, &Shapes::default(), u64::MAX, true, |_| Ok(())).unwrap();
        let with_ttl = entries()
            .iter()
            .filter(|(_, e)| e.expires_at().is_some())
            .count();
        assert!(with_ttl > 0);
        assert_eq!(late.expired, with_ttl as u64);
        assert_eq!(late.keys + late.expired, summary.keys);
    }

    #[test]
    fn empty_collections_are_skipped_and_counted() {
        let mut f = b"REDIS0001".to_vec();
        // An empty set (a count of 0), then a string.
        f.extend_from_slice(&[ty::SET, 1, b'e', 0, ty::STRING, 1, b'k', 1, b'v', op::EOF]);
        let mut got = Vec::new();
        let summary = load(&f, &Shapes::default(), 0, true, |l| {
            got.push(l.key.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![b"k".to_vec()]);
        assert_eq!((summary.keys, summary.empty), (1, 1));
    }

    #[test]
    fn a_list_under_8_kib_is_written_as_one_node() {
        let mut l = List::new(-2);
        for i in 0..100 {
            l.push_back(format!("element-{i:04}").as_bytes()); // 12 bytes each
        }
        let mut buf = Vec::new();
        put_value(&mut buf, &Value::list(l), false);
        assert_eq!(buf[0], ty::LIST_QUICKLIST_2);
        assert_eq!(buf[1], 1, "about 1,400 bytes of elements: one node");
    }

    #[test]
    fn a_writer_counts_the_bytes_it_wrote() {
        let mut w = RdbWriter::new(Vec::new(), true, &[]).unwrap();
        assert_eq!(w.written(), 9, "REDIS0010");
        w.select_db(0, 1, 0).unwrap();
        let before = w.written();
        w.put(b"xyz").unwrap();
        assert_eq!(w.written(), before + 3);
        let file = w.finish().unwrap();
        assert_eq!(
            file.len() as u64,
            before + 3 + 1 + 8,
            "then EOF and the checksum"
        );
    }
}
