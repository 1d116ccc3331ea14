//! Watching the server: MONITOR's lines, SLOWLOG, LATENCY, INFO's
//! sections and statistics, COMMAND GETKEYSANDFLAGS, and the CLIENT
//! subcommands of Redis 7.0 (PAUSE, REPLY, NO-EVICT, TRACKING and
//! friends), against a real Redis where the reply is deterministic.

use std::collections::BTreeSet;
use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

fn monitor_lines_match_redis<S: Store>() {
    differential::<S>(
        "monitor",
        "
        @2 MONITOR
        SET k \"a b\\n\"
        @2 mask recv
        GET k
        @2 mask recv
        SELECT 3
        @2 mask recv
        SET x 1
        @2 mask recv
        SELECT 0
        @2 mask recv
        MULTI
        @2 mask recv
        SET y 2
        INCR y
        EXEC
        @2 mask recv
        @2 mask recv
        @2 mask recv
        # admin commands and rejected ones are not shown; AUTH is redacted
        CONFIG GET maxclients
        NOPE
        GET
        AUTH foo
        @2 mask recv
        MIGRATE 127.0.0.1 1 nokey 9 5000 AUTH user
        @2 mask recv
        MIGRATE 127.0.0.1 1 nokey 9 5000 COPY AUTH2 user password
        @2 mask recv
        MIGRATE 127.0.0.1 1 \"\" 9 5000 KEYS AUTH x
        @2 mask recv
        ~ HELLO 2 AUTH default secret
        @2 mask recv
        CLIENT SETNAME n
        @2 mask recv
        # a MONITOR client may not touch the keyspace; RESET ends MONITOR
        @2 GET x
        @2 PING
        @2 mask recv
        # a second MONITOR answers nothing
        @2 noreply MONITOR
        @2 RESET
        @2 GET x
        @3 MULTI
        @3 MONITOR
        @3 EXEC
        @4 MULTI
        @4 SHUTDOWN
        @4 EXEC
        ",
    );
}

fn latency_and_slowlog_replies_match_redis<S: Store>() {
    differential::<S>(
        "latency and slowlog",
        "
        LATENCY HELP
        LATENCY DOCTOR
        LATENCY LATEST
        LATENCY HISTORY command
        LATENCY RESET
        LATENCY RESET command other
        LATENCY GRAPH command
        ~ LATENCY HISTOGRAM set
        CONFIG SET latency-monitor-threshold 100
        LATENCY DOCTOR
        CONFIG SET latency-monitor-threshold 0
        SLOWLOG HELP
        SLOWLOG GET -2
        SLOWLOG GET abc
        SLOWLOG GET 0
        SLOWLOG RESET
        SLOWLOG LEN
        CONFIG SET slowlog-log-slower-than 0
        sort CONFIG GET slowlog-*
        ~ SLOWLOG LEN
        CONFIG SET slowlog-log-slower-than -1
        SLOWLOG RESET
        SET k v
        SLOWLOG LEN
        sort CONFIG GET latency-tracking*
        CONFIG SET latency-tracking-info-percentiles \"50 99.9 100\"
        CONFIG GET latency-tracking-info-percentiles
        CONFIG SET latency-tracking-info-percentiles \"101\"
        ",
    );
}

/// SLOWLOG entries carry the command, trimmed as Redis trims it, the
/// client's address and name.
fn slowlog_keeps_trimmed_commands<S: Store>() {
    let server = TestServer::with_debug::<S>();
    let mut c = server.client();
    c.cmd("CONFIG SET slowlog-log-slower-than 0");
    c.cmd("CONFIG SET slowlog-max-len 3");
    c.cmd("CLIENT SETNAME slowpoke");
    c.cmd("SLOWLOG RESET");
    let long = "x".repeat(200);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    c.cmd(&format!("SET k {long}"));
    c.cmd(&format!("RPUSH l {}", many.join(" ")));
    c.cmd("AUTH secret");
    let Frame::Array(entries) = c.cmd("SLOWLOG GET") else {
        panic!()
    };
    assert_eq!(entries.len(), 3, "slowlog-max-len holds");
    let fields = |e: &Frame| match e {
        Frame::Array(f) => f.clone(),
        other => panic!("{other:?}"),
    };
    let args = |e: &Frame| match &fields(e)[3] {
        Frame::Array(a) => a.iter().map(text).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    // Newest first: AUTH (redacted), RPUSH (32 arguments), SET (trimmed).
    assert_eq!(args(&entries[0]), ["AUTH", "(redacted)"]);
    let rpush = args(&entries[1]);
    assert_eq!(rpush.len(), 32);
    assert_eq!(rpush[31], "... (11 more arguments)");
    let set = args(&entries[2]);
    assert_eq!(set[2], format!("{}... (72 more bytes)", "x".repeat(128)));
    let e = fields(&entries[0]);
    assert_eq!(text(&e[5]), "slowpoke");
    assert!(text(&e[4]).starts_with("127.0.0.1:"));
    assert_eq!(c.cmd("SLOWLOG LEN"), int(3));
    // An entry says how long the command really ran: a script that
    // counts to three million takes milliseconds even in a release build.
    c.cmd("CONFIG SET slowlog-log-slower-than 0");
    c.cmd("SLOWLOG RESET");
    let script = "local i=0 while i<3000000 do i=i+1 end return i";
    assert_eq!(c.cmd(&format!("EVAL \"{script}\" 0")), int(3_000_000));
    let Frame::Array(entries) = c.cmd("SLOWLOG GET 1") else {
        panic!()
    };
    assert_eq!(args(&entries[0])[0], "EVAL");
    let Frame::Integer(usec) = fields(&entries[0])[2] else {
        panic!()
    };
    assert!(usec >= 1_000, "logged as {usec} µs");
    // Work done after the command hands it off (DEBUG SLEEP, KEYS) counts:
    // a 200 ms sleep is slower than 100 ms, a PING is not.
    c.cmd("CONFIG SET slowlog-log-slower-than 100000");
    c.cmd("SLOWLOG RESET");
    assert_eq!(c.cmd("PING"), Frame::Simple("PONG".into()));
    assert_eq!(c.cmd("SLOWLOG LEN"), int(0));
    assert_eq!(c.cmd("DEBUG SLEEP 0.2"), ok());
    let Frame::Array(entries) = c.cmd("SLOWLOG GET") else {
        panic!()
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(args(&entries[0]), ["DEBUG", "SLEEP", "0.2"]);
    let Frame::Integer(usec) = fields(&entries[0])[2] else {
        panic!()
    };
    assert!(usec >= 200_000, "logged as {usec} µs");
    let stats = text(&c.cmd("INFO commandstats"));
    assert!(stats.contains("cmdstat_debug:calls=1,"), "{stats}");
}

/// The field names of `section` in INFO's reply.
fn info_fields(c: &mut RawClient, section: &str) -> Vec<String> {
    let reply = text(&c.cmd(&format!("INFO {section}")));
    reply
        .lines()
        .filter(|l| !l.is_empty())
        .filter(|l| {
            ![
                "cmdstat_",
                "latency_percentiles_usec_",
                "errorstat_",
                "flashkv_",
                "db",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

/// Every section Redis prints, with every field, in Redis's order.
fn info_sections_and_fields_match_redis<S: Store>() {
    let Some(redis) = RedisServer::start("info fields") else {
        return;
    };
    let ours = TestServer::start::<S>();
    let (mut a, mut b) = (ours.client(), RawClient::connect(redis.addr));
    for section in [
        "",
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "commandstats",
        "errorstats",
        "latencystats",
        "cluster",
        "keyspace",
        "default",
        "all",
        "everything",
        "server clients",
        "nonsense",
    ] {
        assert_eq!(
            info_fields(&mut a, section),
            info_fields(&mut b, section),
            "INFO {section}"
        );
    }
}

/// commandstats (calls, rejected and failed calls), errorstats and the
/// keyspace hits and misses count what Redis counts.
fn command_and_error_stats_match_redis<S: Store>() {
    differential::<S>(
        "commandstats",
        "
        CONFIG RESETSTAT
        SET a 1
        GET a
        GET nothere
        MGET a nothere nothere2
        LPUSH a x
        GET
        NOSUCH command
        MULTI
        SET b
        EXEC
        MULTI
        INCR a
        GET a
        EXEC
        HGET nohash f
        masklines INFO commandstats
        INFO errorstats
        skip CONFIG SET slowlog-log-slower-than 10000
        ",
    );
    let Some(redis) = RedisServer::start("keyspace hits") else {
        return;
    };
    let ours = TestServer::start::<S>();
    for addr in [ours.addr, redis.addr] {
        let mut c = RawClient::connect(addr);
        c.cmd("CONFIG RESETSTAT");
        for cmd in [
            "SET a 1",
            "GET a",
            "GET b",
            "MGET a b c",
            "EXISTS a b",
            "TYPE b",
            "SET c 1",
        ] {
            c.cmd(cmd);
        }
        let stats = text(&c.cmd("INFO stats"));
        let field = |name: &str| {
            stats
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(str::to_string)
        };
        assert_eq!(field("keyspace_hits").as_deref(), Some("3"), "{addr}");
        assert_eq!(field("keyspace_misses").as_deref(), Some("5"), "{addr}");
    }
}

fn client_subcommands_match_redis<S: Store>() {
    differential::<S>(
        "client subcommands",
        "
        CLIENT HELP
        CLIENT PAUSE abc
        CLIENT PAUSE -1
        CLIENT PAUSE 100 FOO
        CLIENT PAUSE 10 WRITE extra
        CLIENT UNPAUSE
        CLIENT REPLY foo
        CLIENT NO-EVICT maybe
        CLIENT NO-EVICT on
        CLIENT NO-EVICT off
        CLIENT TRACKING on REDIRECT 99999
        CLIENT TRACKING on OPTIN OPTOUT
        CLIENT TRACKING on PREFIX a
        CLIENT TRACKING on BCAST OPTIN
        CLIENT TRACKING foo
        CLIENT TRACKING on FOO
        CLIENT CACHING yes
        CLIENT CACHING maybe
        CLIENT TRACKINGINFO
        CLIENT GETREDIR
        CLIENT TRACKING on
        CLIENT TRACKINGINFO
        CLIENT GETREDIR
        CLIENT CACHING yes
        CLIENT TRACKING on OPTIN
        CLIENT TRACKING off
        CLIENT TRACKING on OPTIN
        CLIENT CACHING no
        CLIENT CACHING maybe
        CLIENT CACHING yes
        CLIENT TRACKINGINFO
        CLIENT TRACKING on BCAST PREFIX a PREFIX b
        CLIENT TRACKING off
        CLIENT TRACKING on BCAST PREFIX a PREFIX ab
        CLIENT TRACKING on BCAST PREFIX a PREFIX b NOLOOP
        CLIENT TRACKINGINFO
        CLIENT TRACKING off
        CLIENT TRACKING on BCAST
        CLIENT TRACKINGINFO
        CLIENT TRACKING off
        CLIENT TRACKING on OPTOUT
        CLIENT CACHING yes
        CLIENT CACHING no
        CLIENT TRACKINGINFO
        noreply CLIENT REPLY SKIP
        noreply PING a
        PING b
        noreply CLIENT REPLY OFF
        noreply PING c
        CLIENT REPLY ON
        PING d
        COMMAND GETKEYSANDFLAGS set a b
        COMMAND GETKEYSANDFLAGS set a b GET
        COMMAND GETKEYSANDFLAGS set a b NX get
        COMMAND GETKEYSANDFLAGS lmove a b left right
        COMMAND GETKEYSANDFLAGS sort a store b
        COMMAND GETKEYSANDFLAGS get
        COMMAND GETKEYSANDFLAGS ping x
        COMMAND GETKEYSANDFLAGS mset a 1 b 2
        ",
    );
}

/// CLIENT PAUSE WRITE holds writes back (reads go on) until UNPAUSE; the
/// held write then runs.
/// Redis's unit/pause "Test both active and passive expires are skipped
/// during client pause": keys that expire during CLIENT PAUSE read as
/// missing, but neither the sweeper nor a read deletes them
/// (`expired_keys` stays) until the pause ends.
fn expired_keys_stay_until_a_pause_ends<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    let expired = |c: &mut RawClient| info_field(c, "expired_keys");
    let before = expired(&mut c);
    c.cmd("MULTI");
    c.cmd("SET foo bar PX 10");
    c.cmd("SET bar foo PX 10");
    c.cmd("CLIENT PAUSE 50000 WRITE");
    assert!(matches!(c.cmd("EXEC"), Frame::Array(_)));
    assert!(eventually(Duration::from_secs(5), || {
        c.cmd("GET foo") == Frame::Null && c.cmd("GET bar") == Frame::Null
    }));
    // The sweeper's period is 100 ms: give it a few.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd("DBSIZE"), int(2), "deleted during the pause");
    assert_eq!(expired(&mut c), before);
    assert_eq!(c.cmd("CLIENT UNPAUSE"), ok());
    assert_eq!(c.cmd("GET foo"), Frame::Null);
    assert_eq!(c.cmd("GET bar"), Frame::Null);
    assert_eq!(expired(&mut c), before + 2);

    // A pause that runs out with no command arriving ends all the same:
    // the sweeper deletes what expired meanwhile.
    c.cmd("MULTI");
    c.cmd("SET foo bar PX 10");
    c.cmd("CLIENT PAUSE 200 WRITE");
    assert!(matches!(c.cmd("EXEC"), Frame::Array(_)));
    drop(c);
    std::thread::sleep(Duration::from_millis(1_500));
    // Read once: any command would end the run-out pause itself.
    let mut c = server.client();
    assert_eq!(info_field(&mut c, "expired_keys"), before + 3);
}

fn client_pause_holds_writes_until_unpause<S: Store>() {
    let server = TestServer::start::<S>();
    let (mut admin, mut writer, mut reader) = (server.client(), server.client(), server.client());
    let Frame::Integer(writer_id) = writer.cmd("CLIENT ID") else {
        panic!("CLIENT ID")
    };
    assert_eq!(admin.cmd("CLIENT PAUSE 20000 WRITE"), ok());
    writer.send_cmd("SET k v");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        reader.cmd("GET k"),
        Frame::Null,
        "the write ran during the pause"
    );
    assert!(
        text(&admin.cmd("INFO clients")).contains("blocked_clients:1"),
        "the held client counts as blocked"
    );
    // But it is not blocked in a command: CLIENT UNBLOCK leaves it (as
    // redis-server 7.0.15 answers).
    assert_eq!(admin.cmd(&format!("CLIENT UNBLOCK {writer_id}")), int(0));
    assert_eq!(admin.cmd("CLIENT UNPAUSE"), ok());
    assert_eq!(writer.read_reply().0, ok());
    assert_eq!(reader.cmd("GET k"), bulk("v"));
    // So are the commands Redis flags `may_replicate` (hidden from COMMAND
    // INFO): PFCOUNT, PUBLISH, EVAL; a plain read is not.
    assert_eq!(writer.cmd("PFADD h a"), int(1));
    assert_eq!(admin.cmd("CLIENT PAUSE 20000 WRITE"), ok());
    let mut held: Vec<RawClient> = Vec::new();
    for cmd in ["PFCOUNT h", "PUBLISH ch m", "EVAL \"return 1\" 0"] {
        let mut c = server.client();
        c.send_cmd(cmd);
        held.push(c);
    }
    let all_held = eventually(Duration::from_secs(5), || {
        text(&admin.cmd("INFO clients")).contains("blocked_clients:3")
    });
    assert!(all_held, "PFCOUNT, PUBLISH and EVAL are held");
    assert_eq!(reader.cmd("GET k"), bulk("v"));
    assert_eq!(admin.cmd("CLIENT UNPAUSE"), ok());
    let replies: Vec<Frame> = held.iter_mut().map(|c| c.read_reply().0).collect();
    assert_eq!(replies, [int(1), int(0), int(1)]);
    // A script or function that declares `no-writes` is a read: not held
    // (Redis's evalGetCommandFlags); one that declares nothing, or writes,
    // still is.
    let lib = "#!lua name=ro\nredis.register_function{function_name='ro', \
               callback=function() return 'ro' end, flags={'no-writes'}}\n\
               redis.register_function('rw', function() return 'rw' end)";
    assert_eq!(
        admin.cmd_args(&[b"FUNCTION", b"LOAD", lib.as_bytes()]),
        bulk("ro")
    );
    let ro_script = "#!lua flags=no-writes\nreturn 'ro'";
    let Frame::Bulk(sha) = admin.cmd_args(&[b"SCRIPT", b"LOAD", ro_script.as_bytes()]) else {
        panic!("SCRIPT LOAD")
    };
    assert_eq!(admin.cmd("CLIENT PAUSE 20000 WRITE"), ok());
    assert_eq!(
        reader.cmd_args(&[b"EVAL", ro_script.as_bytes(), b"0"]),
        bulk("ro")
    );
    assert_eq!(reader.cmd_args(&[b"EVALSHA", &sha, b"0"]), bulk("ro"));
    assert_eq!(reader.cmd("FCALL ro 0"), bulk("ro"));
    assert_eq!(reader.cmd("EVAL_RO \"return 2\" 0"), int(2));
    let mut rw = server.client();
    rw.send_cmd("FCALL rw 0");
    let held_rw = eventually(Duration::from_secs(5), || {
        text(&admin.cmd("INFO clients")).contains("blocked_clients:1")
    });
    assert!(held_rw, "a function that may write is held");
    assert_eq!(admin.cmd("CLIENT UNPAUSE"), ok());
    assert_eq!(rw.read_reply().0, bulk("rw"));
    // In a transaction too: EXEC of no-writes scripts is a read. (A write
    // is held as it is queued, as in Redis: this one is queued first.)
    let mut tx = server.client();
    tx.cmd("MULTI");
    tx.cmd_args(&[b"EVAL", ro_script.as_bytes(), b"0"]);
    tx.cmd("FCALL rw 0");
    assert_eq!(admin.cmd("CLIENT PAUSE 20000 WRITE"), ok());
    reader.cmd("MULTI");
    reader.cmd_args(&[b"EVAL", ro_script.as_bytes(), b"0"]);
    reader.cmd("FCALL ro 0");
    assert_eq!(
        reader.cmd("EXEC"),
        Frame::Array(vec![bulk("ro"), bulk("ro")])
    );
    tx.send_cmd("EXEC");
    let held_tx = eventually(Duration::from_secs(5), || {
        text(&admin.cmd("INFO clients")).contains("blocked_clients:1")
    });
    assert!(
        held_tx,
        "a transaction with a function that may write is held"
    );
    assert_eq!(admin.cmd("CLIENT UNPAUSE"), ok());
    assert_eq!(
        tx.read_reply().0,
        Frame::Array(vec![bulk("ro"), bulk("rw")])
    );
    // ALL holds reads too; the pause ends by itself.
    assert_eq!(admin.cmd("CLIENT PAUSE 300 ALL"), ok());
    let start = std::time::Instant::now();
    assert_eq!(reader.cmd("GET k"), bulk("v"));
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "the read was not held"
    );
}

/// CLIENT LIST and INFO show what each client is doing.
fn client_list_shows_flags_and_types<S: Store>() {
    let server = TestServer::start::<S>();
    let mut admin = server.client();
    // The caller's query buffer holds its own request while it runs
    // (`*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n`, 26 bytes), as Redis reports it.
    let me = text(&admin.cmd("CLIENT INFO"));
    assert!(me.contains(" qbuf=26 "), "{me}");
    let mut sub = server.client();
    sub.cmd("SUBSCRIBE c");
    let mut tracker = server.client();
    tracker.cmd("HELLO 3");
    tracker.cmd("CLIENT TRACKING on BCAST");
    tracker.cmd("CLIENT NO-EVICT on");
    let mut mon = server.client();
    mon.cmd("MONITOR");
    let mut tx = server.client();
    tx.cmd("MULTI");
    tx.cmd("SET a 1");
    let list = text(&admin.cmd("CLIENT LIST"));
    let flags: BTreeSet<String> = list
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("flags=")))
        .map(str::to_string)
        .collect();
    for want in ["N", "P", "tBe", "O", "x"] {
        assert!(
            flags.contains(want),
            "no client with flags={want} in\n{list}"
        );
    }
    assert!(list.contains(" multi=1 "), "{list}");
    assert!(list.contains(" sub=1 psub=0 ssub=0 "), "{list}");
    assert!(list.contains(" redir=0 "), "{list}");
    let pubsub = text(&admin.cmd("CLIENT LIST TYPE pubsub"));
    assert_eq!(pubsub.lines().count(), 1, "{pubsub}");
    assert_eq!(admin.cmd("CLIENT KILL TYPE pubsub"), int(1));
    assert!(eventually(Duration::from_secs(5), || {
        text(&admin.cmd("CLIENT LIST TYPE pubsub")).is_empty()
    }));
    let info = text(&admin.cmd("INFO clients"));
    assert!(info.contains("tracking_clients:1"), "{info}");
}

backends!(
    monitor_lines_match_redis,
    latency_and_slowlog_replies_match_redis,
    slowlog_keeps_trimmed_commands,
    info_sections_and_fields_match_redis,
    command_and_error_stats_match_redis,
    client_subcommands_match_redis,
    client_pause_holds_writes_until_unpause,
    expired_keys_stay_until_a_pause_ends,
    client_list_shows_flags_and_types
);
