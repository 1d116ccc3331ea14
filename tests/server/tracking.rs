//! Client-side caching (CLIENT TRACKING): invalidations in the default
//! and BCAST modes, redirected or pushed, for scripts, and for keys the
//! server expires, against redis-server.

use std::time::Duration;

use flashkv::protocol::Frame;
use flashkv::Store;

use crate::backends;
use crate::common::*;

fn client_side_caching_matches_redis<S: Store>() {
    differential::<S>(
        "tracking",
        "
        # default mode, RESP3 pushes
        @1 skip HELLO 3
        @1 CLIENT TRACKING on
        @1 GET k
        @1 MGET k k2
        @3 SET k 1
        @1 recv
        @3 SET k 2
        @1 GET k
        @1 SET k 3
        @1 recv
        @1 GET k2
        @3 FLUSHALL
        @1 recv
        # Scripts: a read inside one tracks the script's declared keys; a
        # script that reads nothing tracks none; EVAL_RO itself tracks none.
        @3 MSET t1 1 t2 1
        @1 EVAL \"redis.call('set', 't3', 'bar')\" 2 t1 t2
        @3 MSET t2 2 t1 2
        @1 EVAL \"redis.call('get', 't3')\" 2 t1 t2
        @3 MSET t2 3 t1 3
        @1 recv
        @1 recv
        @1 EVAL_RO \"redis.call('ping')\" 2 t1 t2
        @3 MSET t2 4 t1 4
        @1 EVAL_RO \"redis.call('get', 't1')\" 2 t1 t2
        @3 MSET t2 5 t1 5
        @1 recv
        @1 recv
        @1 PING
        ",
    );
    same_on_both::<S>("tracking redirect", tracking_redirect);
    differential::<S>(
        "tracking modes",
        "
        # BCAST: every key under the prefixes, batched per command
        @1 skip HELLO 3
        @1 CLIENT TRACKING on BCAST PREFIX user:
        @3 SET user:1 x
        @3 SET other 1
        @1 recv
        @3 MSET user:2 a user:3 b
        @1 recv
        # Several prefixes: a message per prefix, keys sorted and once.
        @1 CLIENT TRACKING off
        @1 CLIENT TRACKING on BCAST PREFIX b: PREFIX a:
        @3 MULTI
        @3 INCR b:2
        @3 INCR a:2
        @3 INCR b:1
        @3 INCR c:1
        @3 INCR a:2
        @3 EXEC
        @1 recv
        @1 recv
        @1 CLIENT TRACKING off
        # NOLOOP: not about one's own writes
        @2 skip HELLO 3
        @2 CLIENT TRACKING on NOLOOP
        @2 GET nk
        @2 SET nk 1
        @2 GET nk
        @3 SET nk 2
        @2 recv
        # OPTIN and OPTOUT
        @4 skip HELLO 3
        @4 CLIENT TRACKING on OPTIN
        @4 GET o1
        @4 CLIENT CACHING yes
        @4 GET o2
        @4 GET o3
        @3 MSET o1 1 o2 2 o3 3
        @4 recv
        @4 CLIENT TRACKING off
        @4 CLIENT TRACKING on OPTOUT
        @4 GET p1
        @4 CLIENT CACHING no
        @4 GET p2
        @4 GET p3
        @3 MSET p1 1 p2 2 p3 3
        @4 recv
        @4 recv
        @3 mask INFO clients
        ",
    );
}

/// Invalidations redirected to a RESP2 subscriber of
/// `__redis__:invalidate` and to a RESP3 client, and the push a tracking
/// client gets when its redirect target leaves.
fn tracking_redirect(addr: std::net::SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    let mut log = |c: &mut RawClient, cmd: &str| {
        if !cmd.is_empty() {
            c.send_cmd(cmd);
        }
        let (_, raw) = c.read_reply();
        out.push(format!("{cmd} -> {}", shown(&raw)));
    };
    let id = |c: &mut RawClient| match c.cmd("CLIENT ID") {
        Frame::Integer(n) => n,
        other => panic!("{other:?}"),
    };
    let (mut target, mut tracker, mut writer) = (
        RawClient::connect(addr),
        RawClient::connect(addr),
        RawClient::connect(addr),
    );
    let target_id = id(&mut target);
    log(&mut target, "SUBSCRIBE __redis__:invalidate");
    tracker.cmd(&format!("CLIENT TRACKING on REDIRECT {target_id}"));
    log(&mut tracker, "GET rk");
    log(&mut writer, "SET rk 1");
    log(&mut target, "");
    log(&mut tracker, "GET rk");
    log(&mut writer, "FLUSHDB");
    log(&mut target, "");
    assert_eq!(tracker.cmd("CLIENT GETREDIR"), int(target_id));
    // A RESP3 target gets plain pushes.
    let mut target3 = RawClient::connect(addr);
    target3.cmd("HELLO 3");
    let t3 = id(&mut target3);
    let mut tracker3 = RawClient::connect(addr);
    tracker3.cmd("HELLO 3");
    tracker3.cmd(&format!("CLIENT TRACKING on REDIRECT {t3}"));
    log(&mut tracker3, "GET k3");
    log(&mut writer, "SET k3 1");
    log(&mut target3, "");
    // The target leaves: the next invalidation tells the tracker.
    log(&mut tracker3, "GET k4");
    drop(target3);
    std::thread::sleep(Duration::from_millis(100));
    log(&mut writer, "SET k4 1");
    let (_, raw) = tracker3.read_reply();
    out.push(shown(&raw).replace(&t3.to_string(), "<id>"));
    tracker3.send_cmd("CLIENT TRACKINGINFO");
    let (_, raw) = tracker3.read_reply();
    out.push(shown(&raw).replace(&t3.to_string(), "<id>"));
    out
}

/// What a BCAST NOLOOP client's redirect hears when keys expire: an
/// active expiry, one after a transaction, and a lazy one the client's
/// own read found (the server, not the client, deleted them: NOLOOP hides
/// none).
fn expiry_invalidations(addr: std::net::SocketAddr) -> Vec<Frame> {
    let mut redirect = RawClient::connect(addr);
    let Frame::Integer(id) = redirect.cmd("CLIENT ID") else {
        panic!("CLIENT ID")
    };
    redirect.cmd("SUBSCRIBE __redis__:invalidate");
    let mut c = RawClient::connect(addr);
    assert_eq!(
        c.cmd(&format!("CLIENT TRACKING on BCAST REDIRECT {id} NOLOOP")),
        ok()
    );
    c.cmd("SET mykey myval px 1");
    c.cmd("SET mykeyother myval");
    let active = redirect.read_reply().0;
    // Time stands still inside a transaction: the key expires after it.
    for line in [
        "MULTI",
        "SET late v px 1",
        "SET lateother v",
        "DEBUG SLEEP 0.1",
        "GET late",
    ] {
        c.cmd(line);
    }
    c.cmd("EXEC");
    let after_exec = redirect.read_reply().0;
    c.cmd("DEBUG SET-ACTIVE-EXPIRE 0");
    c.cmd("SET lazy v px 1");
    std::thread::sleep(Duration::from_millis(20));
    c.cmd("GET lazy");
    let lazy = redirect.read_reply().0;
    c.cmd("DEBUG SET-ACTIVE-EXPIRE 1");
    vec![active, after_exec, lazy]
}

fn expired_keys_invalidate_noloop_clients_as_in_redis<S: Store>() {
    let Some(redis) =
        RedisServer::start_with("expiry_invalidations", &["--enable-debug-command", "yes"])
    else {
        return;
    };
    let server = TestServer::with_debug::<S>();
    assert_eq!(
        expiry_invalidations(server.addr),
        expiry_invalidations(redis.addr)
    );
}

/// Lowering `tracking-table-max-keys` evicts tracked keys (and
/// invalidates them) without waiting for another tracked read, as Redis's
/// cron does (its suite: "Tracking gets notification on tracking table key
/// eviction").
fn a_lowered_tracking_table_limit_evicts_at_once<S: Store>() {
    let server = TestServer::start::<S>();
    let (mut a, mut admin) = (server.client(), server.client());
    a.cmd("HELLO 3");
    assert_eq!(a.cmd("CLIENT TRACKING on"), ok());
    assert_eq!(a.cmd("MSET key1 1 key2 2"), ok());
    a.cmd("MGET key1 key2");
    assert_eq!(admin.cmd("CONFIG SET tracking-table-max-keys 1"), ok());
    let Frame::Push(parts) = a.read_reply().0 else {
        panic!("no invalidation");
    };
    assert_eq!(parts[0], bulk("invalidate"));
    assert!(
        parts[1] == Frame::Array(vec![bulk("key1")])
            || parts[1] == Frame::Array(vec![bulk("key2")]),
        "{parts:?}"
    );
}

/// A tracking client that disconnects stops counting (INFO
/// `tracking_clients`) and stops being sent invalidations; FLUSHALL
/// empties the table even when nobody tracks.
fn a_tracking_client_that_leaves_is_forgotten<S: Store>() {
    let server = TestServer::start::<S>();
    let mut c = server.client();
    {
        let mut a = server.client();
        a.cmd("HELLO 3");
        assert_eq!(a.cmd("CLIENT TRACKING on BCAST"), ok());
        assert_eq!(info_field(&mut c, "tracking_clients"), 1);
        assert_eq!(info_field(&mut c, "tracking_total_prefixes"), 1);
    }
    assert!(eventually(Duration::from_secs(5), || {
        info_field(&mut c, "tracking_clients") == 0
    }));
    assert_eq!(info_field(&mut c, "tracking_total_prefixes"), 0);
    // The keys read while someone tracked go with a FLUSHALL even when
    // nobody tracks any more (stale keys would invalidate a later client).
    assert_eq!(c.cmd("CLIENT TRACKING on"), ok());
    c.cmd("MGET k1 k2");
    assert_eq!(c.cmd("CLIENT TRACKING off"), ok());
    assert_eq!(info_field(&mut c, "tracking_total_keys"), 2);
    assert_eq!(c.cmd("FLUSHALL"), ok());
    assert_eq!(info_field(&mut c, "tracking_total_keys"), 0);
    assert_eq!(info_field(&mut c, "tracking_total_items"), 0);
}

/// With the cron paused (DEBUG PAUSE-CRON), a lowered limit still takes
/// effect at the next command, whose own invalidation goes before its
/// reply, inside MULTI too (Redis's suite, "Regression test for #11715").
fn a_lowered_limit_applies_at_the_next_command_before_its_reply<S: Store>() {
    let server = TestServer::with_debug::<S>();
    let (mut a, mut admin) = (server.client(), server.client());
    assert_eq!(admin.cmd("CONFIG SET tracking-table-max-keys 2"), ok());
    assert_eq!(admin.cmd("DEBUG PAUSE-CRON 1"), ok());
    a.cmd("HELLO 3");
    assert_eq!(a.cmd("CLIENT TRACKING on"), ok());
    a.cmd("MGET 1{tag} 2{tag}");
    assert_eq!(a.cmd("MULTI"), ok());
    assert_eq!(admin.cmd("CONFIG SET tracking-table-max-keys 1"), ok());
    std::thread::sleep(Duration::from_millis(300));
    let Frame::Push(parts) = a.cmd("PING") else {
        panic!("no invalidation before the reply");
    };
    assert_eq!(parts[0], bulk("invalidate"));
    assert_eq!(a.read_reply().0, Frame::Simple("QUEUED".into()));
    assert_eq!(
        a.cmd("EXEC"),
        Frame::Array(vec![Frame::Simple("PONG".into())])
    );
    assert_eq!(admin.cmd("DEBUG PAUSE-CRON 0"), ok());
}

backends!(
    a_lowered_limit_applies_at_the_next_command_before_its_reply,
    a_tracking_client_that_leaves_is_forgotten,
    client_side_caching_matches_redis,
    expired_keys_invalidate_noloop_clients_as_in_redis,
    a_lowered_tracking_table_limit_evicts_at_once,
);
