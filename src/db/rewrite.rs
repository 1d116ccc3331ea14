//! An AOF base written as commands (`aof-use-rdb-preamble no`), as
//! Redis's `rewriteAppendOnlyFileRio` writes one: SET for strings, RPUSH,
//! SADD and HMSET for collections (at most 64 items per command, Redis's
//! `AOF_REWRITE_ITEMS_PER_CMD`), then PEXPIREAT for a key with a TTL.

use bytes::Bytes;
use store_api::value::set::Member;
use store_api::{Coll, Entry, Value};

use crate::protocol::encode_request;
use crate::util::numbers::fmt_g17;

/// Items per RPUSH, SADD or HMSET.
const ITEMS_PER_COMMAND: usize = 64;

fn batched(
    buf: &mut Vec<u8>,
    name: &[u8],
    key: &[u8],
    items: impl Iterator<Item = Vec<u8>>,
    per: usize,
) {
    let mut argv: Vec<Vec<u8>> = Vec::new();
    let head = |argv: &mut Vec<Vec<u8>>| {
        argv.clear();
        argv.push(name.to_vec());
        argv.push(key.to_vec());
    };
    head(&mut argv);
    for item in items {
        argv.push(item);
        if argv.len() - 2 == ITEMS_PER_COMMAND * per {
            encode_request(&argv, buf);
            head(&mut argv);
        }
    }
    if argv.len() > 2 {
        encode_request(&argv, buf);
    }
}

/// The commands that rebuild `key` as `entry` holds it.
pub fn put_commands(buf: &mut Vec<u8>, key: &[u8], entry: &Entry) {
    match &entry.value {
        Value::Str(v) => encode_request(&[b"SET".as_slice(), key, v], buf),
        Value::Coll(Coll::Raw(r)) => encode_request(&[b"SET".as_slice(), key, &r.read()], buf),
        Value::Coll(Coll::List(l)) => {
            let l = l.read();
            batched(buf, b"RPUSH", key, l.iter().map(<[u8]>::to_vec), 1);
        }
        Value::Coll(Coll::Set(s)) => {
            let s = s.read();
            let members = s.iter().map(|m| match m {
                Member::Int(n) => n.to_string().into_bytes(),
                Member::Bytes(b) => b.to_vec(),
            });
            batched(buf, b"SADD", key, members, 1);
        }
        Value::Coll(Coll::Hash(h)) => {
            let h = h.read();
            let pairs = h.iter().flat_map(|(f, v)| [f.to_vec(), v.to_vec()]);
            batched(buf, b"HMSET", key, pairs, 2);
        }
        Value::Coll(Coll::ZSet(z)) => {
            let z = z.read();
            let pairs = z
                .iter()
                .flat_map(|(m, s)| [fmt_g17(s).into_bytes(), m.to_vec()]);
            batched(buf, b"ZADD", key, pairs, 2);
        }
    }
    if let Some(at) = entry.expires_at() {
        encode_request(
            &[b"PEXPIREAT".as_slice(), key, at.to_string().as_bytes()],
            buf,
        );
    }
}

/// `SELECT db` as a command.
/// A function library as the command that loads it (Redis 7.0's
/// `rewriteFunctions`, ahead of the keys).
pub fn put_function(buf: &mut Vec<u8>, code: &Bytes) {
    encode_request(
        &[
            Bytes::from_static(b"FUNCTION"),
            Bytes::from_static(b"LOAD"),
            code.clone(),
        ],
        buf,
    );
}

pub fn put_select(buf: &mut Vec<u8>, db: usize) {
    encode_request(
        &[Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())],
        buf,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_api::value::{shared, List};

    #[test]
    fn long_lists_are_written_64_items_a_command_then_the_ttl() {
        let mut l = List::default();
        for i in 0..130 {
            l.push(store_api::value::list::End::Right, i.to_string().as_bytes());
        }
        let e = Entry::new(Value::Coll(Coll::List(shared(l))), Some(42));
        let mut buf = Vec::new();
        put_commands(&mut buf, b"k", &e);
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches("RPUSH").count(), 3);
        assert!(text.starts_with("*66\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$1\r\n0\r\n"));
        assert!(text.ends_with("*3\r\n$9\r\nPEXPIREAT\r\n$1\r\nk\r\n$2\r\n42\r\n"));
        let mut buf = Vec::new();
        put_commands(&mut buf, b"s", &Entry::string(Bytes::from_static(b"v")));
        assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$1\r\ns\r\n$1\r\nv\r\n");
    }

    /// Hashes go 64 fields (128 arguments) to a command, as Redis's
    /// `AOF_REWRITE_ITEMS_PER_CMD` counts them: items are elements, not
    /// arguments.
    #[test]
    fn long_hashes_are_written_64_fields_a_command() {
        let mut h = store_api::value::Hash::default();
        for i in 0..100 {
            let f = format!("f{i}");
            h.insert(f.as_bytes(), b"v", Default::default());
        }
        let e = Entry::new(Value::Coll(Coll::Hash(shared(h))), None);
        let mut buf = Vec::new();
        put_commands(&mut buf, b"h", &e);
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches("HMSET").count(), 2);
        assert!(
            text.starts_with("*130\r\n$5\r\nHMSET\r\n"),
            "{}",
            &text[..40]
        );
        assert!(text.contains("*74\r\n$5\r\nHMSET\r\n"), "36 fields left");
    }

    #[test]
    fn a_database_is_selected_by_its_number() {
        let mut buf = Vec::new();
        put_select(&mut buf, 12);
        assert_eq!(buf, b"*2\r\n$6\r\nSELECT\r\n$2\r\n12\r\n");
    }
}
