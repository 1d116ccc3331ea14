//! Keyspace notifications against a real Redis: every command of a script
//! runs on both servers while a subscriber listens to `__key*__:*`; after
//! each command the subscriber sends PING (a barrier: in RESP2 subscribed
//! mode it answers `pong` after every message published before it) and
//! the messages it got must be the same, in the same order.

use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

/// The messages `sub` received before the reply to its PING.
fn events(sub: &mut RawClient) -> Vec<String> {
    sub.send_cmd("PING");
    let mut out = Vec::new();
    loop {
        let (frame, _) = sub.read_reply();
        let Frame::Array(parts) = frame else {
            panic!("subscriber got {frame:?}");
        };
        let text: Vec<String> = parts.iter().map(text).collect();
        if text[0] == "pong" {
            return out;
        }
        assert_eq!(text[0], "pmessage", "{text:?}");
        out.push(format!("{} {}", text[2], text[3]));
    }
}

/// Run `script` (one command per line; `sleep <ms>` pauses) on FlashKV and
/// Redis with `notify-keyspace-events` set to `classes`, comparing replies
/// and events.
fn compare<S: Store>(test: &str, classes: &str, script: &str) {
    let Some(redis) = RedisServer::start(test) else {
        return;
    };
    let ours = TestServer::start::<S>();
    let mut sides: Vec<(RawClient, RawClient)> = [ours.addr, redis.addr]
        .into_iter()
        .map(|addr| {
            let (mut c, mut sub) = (RawClient::connect(addr), RawClient::connect(addr));
            assert_eq!(
                c.cmd(&format!("CONFIG SET notify-keyspace-events {classes}")),
                ok()
            );
            sub.cmd("PSUBSCRIBE __key*__:*");
            (c, sub)
        })
        .collect();
    for line in script.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("sleep ") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            continue;
        }
        let got: Vec<(Vec<u8>, Vec<String>)> = sides
            .iter_mut()
            .map(|(c, sub)| {
                c.send_cmd(line);
                let (_, raw) = c.read_reply();
                (raw, events(sub))
            })
            .collect();
        assert_eq!(
            got[0].0,
            got[1].0,
            "{test}: `{line}` replied differently:\n  flashkv: {}\n  redis:   {}",
            String::from_utf8_lossy(&got[0].0).escape_debug(),
            String::from_utf8_lossy(&got[1].0).escape_debug()
        );
        assert_eq!(
            got[0].1, got[1].1,
            "{test}: `{line}` events differ (left flashkv, right redis)"
        );
    }
}

const SCRIPT: &str = "
    SET s 1
    SET s 2 EX 100
    SET s 3 KEEPTTL
    SET s 4 GET
    SETNX s 5
    SETNX s2 5
    SETEX s3 100 v
    PSETEX s4 100000 v
    MSET m1 1 m2 2
    MSET m1 3 m9 4
    MSETNX m3 1 m4 2
    MSETNX m3 1 m5 2
    GETSET s 9
    GETDEL s
    GETDEL nokey
    GET nokey
    MGET m1 nokey
    GETEX s2 EX 100
    GETEX s2 PERSIST
    GETEX s2 PERSIST
    GETEX s2 PXAT 1
    GETEX nokey
    APPEND ap x
    APPEND ap y
    SETRANGE sr 2 x
    SETRANGE sr 2 \"\"
    INCR n
    DECR n
    INCRBY n 5
    DECRBY n 2
    INCRBYFLOAT f 1.5
    STRLEN nokey
    DEL m1 m2 nokey
    UNLINK m3
    EXISTS m4 nokey
    TYPE nokey
    TTL nokey
    EXPIRE nokey 10
    EXPIRE m4 100
    PEXPIRE m4 100000
    EXPIREAT m4 99999999999
    EXPIRE m4 100 NX
    EXPIRE m4 -1
    SET e 1
    PERSIST e
    EXPIRE e 100
    PERSIST e
    RENAME e e2
    RENAMENX e2 e3
    SET x 1
    RENAMENX e3 x
    RENAME e3 x
    RENAME x x
    COPY x y
    COPY x y
    COPY x y REPLACE
    COPY x y DB 2
    MOVE y 1
    MOVE y 1
    LPUSH l a b c
    RPUSH l d
    LPUSHX l e
    RPUSHX nol e
    LPOP l
    RPOP l 2
    LPOP l 0
    LINSERT l BEFORE b z
    LINSERT l BEFORE nothere z
    LSET l 0 q
    LREM l 1 q
    LREM l 1 nothere
    LTRIM l 0 0
    LPOP l
    LPOP l
    RPUSH l a b
    RPOPLPUSH l l2
    LMOVE l l2 LEFT RIGHT
    LMOVE nol l2 LEFT RIGHT
    LMPOP 1 l2 LEFT COUNT 5
    RPUSH l3 a b
    BLPOP l3 0
    BRPOP l3 0
    RPUSH l4 a
    BLMOVE l4 l5 LEFT LEFT 0
    BLMPOP 0 2 nol l5 RIGHT
    RPUSH l6 a b c
    LMOVE l6 l6 LEFT RIGHT
    LRANGE nolist 0 -1
    LLEN nolist
    LINDEX nolist 0
    HSET h a 1 b 2
    HSET h a 1
    HSETNX h a 1
    HSETNX h c 1
    HMSET h d 1
    HDEL h a nof
    HDEL h nof
    HINCRBY h b 1
    HINCRBYFLOAT h b 1.5
    HDEL h b c d
    HGET noh f
    HGETALL noh
    HLEN noh
    SADD st a
    SADD st a
    SREM st a z
    SADD st b
    SPOP st
    SADD st2 x
    SMOVE st2 st3 y
    SMOVE st2 st3 x
    SADD s1 a b
    SADD s2 b c
    SINTERSTORE d1 s1 s2
    SUNIONSTORE d1 s1 s2
    SDIFFSTORE d1 s1 s2
    SINTERSTORE d1 s1 nosuch
    SINTERSTORE d1 s1 nosuch
    SINTER s1 nosuch
    SMEMBERS nosuch
    SISMEMBER nosuch a
    SPOP s1 0
    SREM s1 b
    SPOP s1 5
    RPUSH sl 3 1 2
    SORT sl STORE sd
    SORT sl BY nosuch_* STORE sd
    SORT nosuch STORE sd
    SORT nosuch STORE sd
    OBJECT ENCODING nosuch
    DUMP nosuch
    DUMP sl
    FLUSHDB
    SET k v PX 50
    sleep 100
    GET k
    SET k2 v PX 50
    sleep 100
    SET k2 w
    SET k3 v PX 50
    sleep 100
    LPUSH k3 x
    SET k4 v PX 50
    # the sweeper deletes k4 (and reports it) without anyone asking
    sleep 400
    DBSIZE
";

fn keyspace_events_match_redis<S: Store>() {
    compare::<S>("notifications KEA", "KEA", SCRIPT);
}

fn new_and_keymiss_events_match_redis<S: Store>() {
    compare::<S>("notifications KEAnm", "KEAnm", SCRIPT);
}

fn event_classes_filter_like_redis<S: Store>() {
    for classes in ["Kl", "Eg", "K$x", "Ezh", "Es", "KEm", "g", "Kn"] {
        compare::<S>(
            &format!("notifications {classes}"),
            classes,
            "
            SET a 1
            LPUSH l x
            SADD s m
            HSET h f v
            GET missing
            DEL a l
            SET t 1 PX 10
            sleep 50
            GET t
            ",
        );
    }
}

/// The events of the sorted-set, bitmap, HyperLogLog and geo commands.
const SCRIPT_ZSETS: &str = "
    ZADD z 1 a 2 b 3 c
    ZADD z 1 a
    ZADD z XX 5 nope
    ZINCRBY z 1 a
    ZADD z INCR 1 b
    ZREM z nope
    ZREM z a
    ZREMRANGEBYRANK z 0 0
    ZADD z 1 x 2 y 3 w
    ZREMRANGEBYSCORE z 1 1
    ZREMRANGEBYLEX z - +
    ZADD z 1 a 2 b 3 c
    ZPOPMIN z
    ZPOPMAX z 5
    ZADD s1 1 a 2 b
    ZADD s2 2 b 3 c
    ZUNIONSTORE u 2 s1 s2
    ZINTERSTORE i 2 s1 s2
    ZDIFFSTORE d 2 s1 s2
    ZINTERSTORE d 2 s1 nokey
    ZRANGESTORE r s1 0 -1
    ZRANGESTORE r nokey 0 -1
    ZMPOP 2 nokey s1 MIN COUNT 5
    SETBIT bits 3 1
    SETBIT bits 3 1
    BITFIELD bits SET u8 0 7
    BITOP NOT bits2 bits
    BITOP AND bits2 nokey
    PFADD h a b
    PFADD h a
    PFMERGE h2 h
    PFCOUNT h
    GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    GEOSEARCHSTORE gs g FROMLONLAT 15 37 BYRADIUS 200 km
    GEORADIUS g 15 37 200 km STORE gr
    GEOSEARCHSTORE gs g FROMLONLAT 0 0 BYRADIUS 1 km
";

fn new_type_events_match_redis<S: Store>() {
    compare::<S>("notifications zsets KEA", "KEA", SCRIPT_ZSETS);
}

fn notify_config_matches_redis<S: Store>() {
    differential::<S>(
        "notify-keyspace-events config",
        "
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events KEA
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events Elg$xn
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events gshzxetdl$K
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events mKE
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events KEAnm
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events nm
        CONFIG GET notify-keyspace-events
        CONFIG SET notify-keyspace-events Kq
        CONFIG SET notify-keyspace-events \"\"
        CONFIG GET notify-keyspace-events
        ",
    );
}

/// A push that serves a blocked BLMOVE creating its destination: Redis
/// reports the pusher's events, then the move's (`new` for the
/// destination with its push), then the source's pop and deletion.
fn served_blmove_events_match_redis<S: Store>() {
    differential::<S>(
        "served blmove events",
        "
        @1 FLUSHALL
        @1 CONFIG SET notify-keyspace-events KEAn
        @2 PSUBSCRIBE __key*__:*
        @3 noreply BLMOVE src dst LEFT LEFT 0
        sleep 100
        @1 RPUSH src x
        @3 recv
        @2 recv 12
        @1 CONFIG SET notify-keyspace-events \"\"
        ",
    );
}

backends!(
    new_type_events_match_redis,
    served_blmove_events_match_redis,
    keyspace_events_match_redis,
    new_and_keymiss_events_match_redis,
    event_classes_filter_like_redis,
    notify_config_matches_redis
);
