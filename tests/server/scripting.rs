//! EVAL, EVALSHA, SCRIPT: Redis's replies byte for byte (conversions,
//! error texts, the sandbox, the bit library; the other libraries are in
//! `lualibs.rs`), atomicity under concurrent
//! clients on every backend (with `Faults::unlocked_script`, scripts that
//! lock nothing, as the variant the check must catch). Busy scripts are in
//! `busy.rs`; the bounds on the script cache, the VM's heap and runaway
//! scripts in `script_limits.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};

use flashkv::db::Faults;
use flashkv::{Clock, Frame, Store};

use crate::backends;
use crate::common::*;
use crate::differential::{differential, differential_resp2_and_3, same_on_both};
use crate::transactions::int_of;

backends!(
    scripts_match_redis,
    script_errors_and_sandbox_match_redis,
    script_calls_are_counted_and_monitored_as_in_redis,
    functions_match_redis,
    function_restore_collisions_match_redis,
    debug_lets_scripts_call_denied_commands_as_redis,
    script_flags_decide_oom_as_redis,
    function_dump_moves_between_servers,
    scripts_are_atomic_to_every_reader,
    pipelined_scripts_and_writes_replay_from_the_aof,
);

fn scripts_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "scripting",
        r##"
        FLUSHALL
        SCRIPT FLUSH
        # Lua -> reply: integers truncate, tables stop at the first nil
        EVAL "return {1,2,3.7,'a',nil,4}" 0
        EVAL "return 3.99" 0
        EVAL "return -3.99" 0
        EVAL "return true" 0
        EVAL "return false" 0
        EVAL "return nil" 0
        EVAL "return {1,{2,{3}},{}}" 0
        EVAL "return {err='boom'}" 0
        EVAL "return {ok='fine'}" 0
        EVAL "return redis.status_reply('x')" 0
        EVAL "return redis.error_reply('MY err')" 0
        EVAL "return redis.error_reply('boom')" 0
        EVAL "return {double=3.5}" 0
        EVAL "return {big_number='123456789012345678901234567890'}" 0
        EVAL "return {map={a=1}}" 0
        EVAL "return {set={a=true}}" 0
        EVAL "return {verbatim_string={format='txt', string='hi'}}" 0
        EVAL "return loadstring" 0
        # reply -> Lua, RESP2 and RESP3 (redis.setresp)
        EVAL "return redis.call('set', KEYS[1], ARGV[1])" 1 k v
        EVAL "return redis.call('get', KEYS[1])" 1 k
        EVAL "return redis.call('get', 'missing')" 0
        EVAL "return type(redis.call('get', 'missing'))" 0
        EVAL "return redis.call('incr', KEYS[1])" 1 n
        EVAL "return redis.call('ping')" 0
        EVAL "return redis.pcall('incr', KEYS[1])" 1 k
        EVAL "local t = redis.pcall('incr', KEYS[1]); return t.err" 1 k
        EVAL "redis.call('hset', 'h', 'f', 'v'); redis.setresp(3); return redis.call('hgetall', 'h')" 0
        EVAL "redis.setresp(3); return redis.call('get', 'missing')" 0
        EVAL "redis.setresp(3); return {true, false}" 0
        # the next script starts at RESP2 again (nil would mean RESP3 leaked)
        EVAL "return type(redis.call('get', 'missing'))" 0
        EVAL "return redis.call('set', 'f', 1.5)" 0
        GET f
        EVAL "return redis.call('set', 'f', 1e20)" 0
        GET f
        EVAL "return redis.call('blpop', 'nolist', 0)" 0
        EVAL "redis.call('select', 3); return redis.call('set', 'sel', '1')" 0
        GET sel
        SELECT 3
        GET sel
        SELECT 0
        # library functions
        EVAL "return redis.sha1hex('')" 0
        EVAL "return redis.sha1hex('abc')" 0
        EVAL "return redis.REDIS_VERSION" 0
        EVAL "return redis.REDIS_VERSION_NUM" 0
        EVAL "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0)}" 0
        EVAL "return {bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(1, 33), bit.ror(1, 1)}" 0
        EVAL "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(305419896, 2), bit.tobit(4294967297), bit.bswap(305419896)}" 0
        EVAL "return tostring(0.1)" 0
        EVAL "return string.rep('ab', 3)" 0
        EVAL "return getmetatable('').__index == string" 0
        EVAL "return {unpack({1,2,3})}" 0
        # the cache
        SCRIPT LOAD "return 'loaded'"
        EVALSHA 83e4b4abcd4f7da0de9efee53e6fd25ee5d4d848 0
        EVALSHA 83E4B4ABCD4F7DA0DE9EFEE53E6FD25EE5D4D848 0
        SCRIPT EXISTS 83e4b4abcd4f7da0de9efee53e6fd25ee5d4d848 ffffffffffffffffffffffffffffffffffffffff x
        EVAL_RO "return redis.call('get', KEYS[1])" 1 k
        EVALSHA_RO 83e4b4abcd4f7da0de9efee53e6fd25ee5d4d848 0
        SCRIPT FLUSH ASYNC
        SCRIPT EXISTS 83e4b4abcd4f7da0de9efee53e6fd25ee5d4d848
        SCRIPT FLUSH SYNC
        SCRIPT FLUSH BOTH
        SCRIPT KILL
        SCRIPT HELP
        SCRIPT NOPE
        MULTI
        EVAL "return redis.call('incr', KEYS[1])" 1 n
        EVAL "return redis.call('incr', 'undeclared')" 0
        EXEC
        "##,
    );
}

fn script_errors_and_sandbox_match_redis<S: Store>() {
    differential::<S>(
        "scripting-errors",
        r##"
        FLUSHALL
        EVAL "return x" 0
        EVAL "x = 1" 0
        EVAL "rawset(_G, 'y', 1)" 0
        EVAL "string.x = 1" 0
        EVAL "redis.call = nil" 0
        EVAL "os.exit()" 0
        EVAL "return print" 0
        EVAL "return type(newproxy)" 0
        # Metatables of protected tables, and binary chunks, as Redis
        EVAL "setmetatable(_G, {})" 0
        EVAL "local g = getmetatable(_G) g.__index = {}" 0
        EVAL "setmetatable(redis, {})" 0
        EVAL "return type(getmetatable(cjson))" 0
        EVAL "return loadstring(string.dump(function() return 1 end))()" 0
        EVAL "return loadstring('return 7')()" 0
        EVAL "local s = string.dump(function() return 1 end) local done = false return load(function() if done then return nil end done = true return s end)" 0
        EVAL "local t = setmetatable({}, {__index = function() return 3 end}) return t.x" 0
        # SCRIPT FLUSH resets cjson behind its read-only view
        EVAL "cjson.encode_keep_buffer(false) return 1" 0
        SCRIPT FLUSH
        EVAL "cjson.encode = function() return 1 end" 0
        EVAL "return type(cjson.encode)" 0
        EVAL "return cjson.encode({1, 2})" 0
        EVAL "return {type(debug), type(module), type(require), type(loadfile), type(dofile)}" 0
        EVAL "error('x')" 0
        EVAL "error({err='CUSTOM thing'})" 0
        EVAL "local function f(n) return 1 + f(n + 1) end return f(1)" 0
        EVAL "return redis.call('nosuch')" 0
        EVAL "return redis.pcall('nosuch')" 0
        EVAL "return redis.call('set', 'a')" 0
        EVAL "return redis.call('eval', 'return 1', 0)" 0
        EVAL "return redis.call()" 0
        EVAL "return redis.pcall()" 0
        EVAL "return redis.call('get', {})" 0
        EVAL "return redis.sha1hex()" 0
        EVAL "return redis.log(1)" 0
        EVAL "redis.setresp(4)" 0
        EVAL "local ok, e = pcall(function() redis.call('nosuch') end) return e" 0
        EVAL "local ok, e = pcall(redis.call, 'nosuch') return {ok, e}" 0
        EVAL "redis.call('set', 'z', 'x') return redis.call('incr', 'z')" 0
        EVAL "return pcall(error, 'x')" 0
        EVAL_RO "return redis.call('set', 'a', 'b')" 0
        EVAL_RO "return redis.call('publish', 'ch', 'msg')" 0
        EVAL "#!lua flags=no-writes\nreturn redis.call('pfcount', 'h')" 0
        EVAL "return redis.call('publish', 'ch', 'msg')" 0
        EVAL "#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')" 0
        EVAL "#!lua flags=no-writes,bad\nreturn 1" 0
        EVAL "#!luax\nreturn 1" 0
        EVAL "#!lua" 0
        EVAL "#!lua return 1" 0
        EVAL "#!lua\x00\nreturn 1" 0
        EVAL "#!lua\r\nreturn 1" 0
        EVAL "#!lua\t\"flags=no-writes\"\nreturn redis.call('set', 'a', 'b')" 0
        EVAL "#!lua 'open\nreturn 1" 0
        EVAL "#!\tlua\nreturn 1" 0
        EVAL "#!lua name=x\nreturn 1" 0
        EVAL "#!lua\nreturn redis.call('get', KEYS[1])" 0
        EVAL "#!lua\nreturn redis.call('set', 'a', 'b')" 0
        EVAL "syntax error here" 0
        SCRIPT LOAD "retur 1"
        EVALSHA abc 0
        EVALSHA ffffffffffffffffffffffffffffffffffffffff 0
        EVAL "return 1" 2 a
        EVAL "return 1" -1
        EVAL "return 1" x
        EVAL "return 1"
        SCRIPT EXISTS
        "##,
    );
}

/// The commands a script calls count in commandstats (rejected, run,
/// failed) and their errors in errorstats once, where they happen: a
/// script that returns or raises a command's error (its table carries
/// `ignore_error_stats_update`) fails without counting it again, an error
/// the script makes itself counts. MONITOR shows a script before it runs,
/// then each command it ran, by `lua`.
fn script_calls_are_counted_and_monitored_as_in_redis<S: Store>() {
    differential::<S>(
        "scripting-stats",
        r##"
        CONFIG RESETSTAT
        SET s v
        EVAL "redis.call('set', 'a', '1') redis.call('get', 'a') return redis.pcall('incr', 's')" 0
        EVAL "return redis.call('incr', 's')" 0
        EVAL "return redis.call('nosuch')" 0
        EVAL "return redis.call('get')" 0
        EVAL "redis.pcall('incr', 's') return 1" 0
        EVAL "local e = redis.pcall('nosuch') local n = 0 for k in pairs(e) do n = n + 1 end return {tostring(e.ignore_error_stats_update), n}" 0
        EVAL "return tostring(redis.error_reply('x').ignore_error_stats_update)" 0
        EVAL "return redis.error_reply('MY err')" 0
        EVAL "return {err = 'OTHER x'}" 0
        EVAL "error('boom')" 0
        EVAL_RO "return redis.call('set', 'x', '1')" 0
        EVAL "return redis.call('config', 'get', 'maxmemory')" 0
        MULTI
        EVAL "return redis.call('incr', 's')" 0
        EVAL "return redis.call('incr', 'n')" 0
        EXEC
        masklines INFO commandstats
        INFO errorstats
        @2 MONITOR
        EVAL "redis.call('set', 'a', '2') return redis.pcall('incr', 's')" 0
        @2 mask recv 3
        EVALSHA 0123456789012345678901234567890123456789 0
        @2 mask recv
        EVAL "return 1" -1
        @2 mask recv
        EVAL "return redis.call('config', 'get', 'maxmemory')" 0
        @2 mask recv
        MULTI
        EVAL "return redis.call('incr', 'n')" 0
        GET n
        EXEC
        @2 mask recv 5
        FUNCTION LOAD "#!lua name=l1\nredis.register_function('f', function(k, a) return redis.call('incr', k[1]) end)"
        FCALL f 1 n
        FCALL nosuch 0
        @2 mask recv 4
        "##,
    );
}

fn functions_match_redis<S: Store>() {
    differential_resp2_and_3::<S>(
        "scripting-functions",
        r##"
        FUNCTION FLUSH
        FUNCTION LOAD "return 1"
        FUNCTION LOAD "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return redis.call('incr', keys[1]) end)"
        FUNCTION LOAD "#!lua name=mylib\nreturn 1"
        FUNCTION LOAD "#!lua name=other\nreturn 1"
        FUNCTION LOAD "#!lua name=bad-name\nredis.register_function('x', function() end)"
        FUNCTION LOAD "#!lua name=lib2\nredis.register_function('bad name', function() end)"
        FUNCTION LOAD "#!lua name=lib2\nredis.register_function('f1', function() end)"
        FUNCTION LOAD "#!lua name=lib2\nredis.call('ping')"
        FUNCTION LOAD "#!lua name=lib2\nx = 1"
        FUNCTION LOAD "#!lua name=lib2\nsyntax error"
        FUNCTION LOAD "#!lua\nreturn 1"
        FUNCTION LOAD "#!lua name=lib3 flags=x\nreturn 1"
        FUNCTION LOAD "#!lua name=lib3\nredis.register_function{function_name='g', callback=function() return 1 end, flags={'bad'}}"
        FUNCTION LOAD "#!lua name=xx\nlocal function a() end\nredis.register_function('a1', a)\nredis.register_function('a1', a)"
        FUNCTION LOAD "#!lua name=xx\nredis.register_function{function_name='a2'}"
        FUNCTION LOAD "#!lua name=xx\nredis.register_function('a2')"
        FUNCTION LOAD "#!lua name=xx\nredis.register_function{function_name='a2', callback=function() end, bad=1}"
        FCALL f1 1 k
        FCALL f1 1 k
        FCALL_RO f1 1 k
        FCALL nosuch 0
        FCALL f1 x
        FCALL f1 0
        FCALL f1 -1
        FCALL f1 3 a
        FCALL F1 1 k
        FUNCTION LOAD "#!lua name=caps\nredis.register_function('F1', function() return 2 end)"
        FUNCTION LOAD "#!lua name=ro\nredis.register_function{function_name='r1', callback=function(k, a) return {k[1], a[1]} end, flags={'no-writes'}, description='desc'}"
        FCALL_RO r1 1 key arg
        FCALL r1 0 arg
        FUNCTION LIST LIBRARYNAME ro
        FUNCTION LIST WITHCODE LIBRARYNAME my*
        FUNCTION LIST WITHCODE WITHCODE
        FUNCTION LIST LIBRARYNAME
        FUNCTION LIST foo
        FUNCTION STATS
        # two libraries: Redis dumps them in its dict's order
        ~ FUNCTION DUMP
        FUNCTION DELETE nolib
        FUNCTION DELETE ro
        FUNCTION DUMP
        FUNCTION RESTORE abc
        FUNCTION RESTORE abc BAD
        FUNCTION RESTORE abc arg2 arg3
        function restore abc FLUSH extra
        FUNCTION KILL
        FUNCTION LOAD REPLACE "#!lua name=mylib\nredis.register_function('f3', function() return 3 end)"
        FCALL f1 1 k
        FCALL f3 0
        FUNCTION LOAD BAD "#!lua name=z\nreturn 1"
        MULTI
        FCALL f3 0
        EXEC
        FUNCTION FLUSH
        FUNCTION LIST
        # Loading runs at most 500 ms, with `redis` as its only global
        FUNCTION LOAD "#!lua name=slow\nwhile true do end"
        FUNCTION LOAD "#!lua name=slow\nlocal s = string"
        FUNCTION LOAD "#!lua name=slow\npcall(error)"
        FUNCTION LOAD "#!lua name=quick\nlocal i = 0 while i < 300000 do i = i + 1 end redis.register_function('q', function() return i end)"
        FCALL q 0
        # Missing globals: at load time, and from a function (a number's
        # name as Lua prints it)
        FUNCTION LOAD "#!lua name=g\nlocal x = nosuch"
        FUNCTION LOAD "#!lua name=g\nredis.register_function('gf', function() return _G[2.5] end)"
        FCALL gf 0
        EVAL "return _G[1]" 0
        # The first line as sdssplitargs splits it: an empty engine, a
        # quoted name, a name given twice, unbalanced quotes
        FUNCTION LOAD "#! name=test\nreturn 1"
        FUNCTION LOAD REPLACE "#!lua name=\"quoted\"\nredis.register_function('qf', function() return 1 end)"
        FUNCTION LOAD "#!lua name=foo name=bar\nreturn 1"
        FUNCTION LOAD "#!lua NAME=upper\nredis.register_function('uf', function() return 1 end)"
        FUNCTION LOAD "#!lua name=\"open\nreturn 1"
        # A function that kept the registration API cannot use it later
        FUNCTION LOAD "#!lua name=keeper\nlocal lib = redis\nredis.register_function('late', function() lib.register_function('x', function() end) end)"
        FCALL late 0
        "##,
    );
}

/// Under `maxmemory`, a script's declared flags decide (Redis's
/// `scriptFlagsToCmdFlags`): without `allow-oom` or `no-writes` it is
/// refused before it runs; without a shebang only its writes are refused.
fn script_flags_decide_oom_as_redis<S: Store>() {
    differential::<S>(
        "scripting-oom",
        r##"
        SET x 123
        FUNCTION LOAD "#!lua name=oomlib\nredis.register_function('plain', function() return 1 end)\nredis.register_function{function_name='ro', callback=function() return 2 end, flags={'no-writes'}}\nredis.register_function{function_name='oomok', callback=function(k) return redis.call('set', k[1], 3) end, flags={'allow-oom'}}"
        CONFIG SET maxmemory 1
        EVAL "redis.call('set','x',1) return 1" 1 x
        EVAL "return redis.call('get','x')" 1 x
        EVAL "#!lua flags=\nreturn 1" 0
        EVAL "#!lua flags=allow-oom\nredis.call('set','x',1) return 1" 1 x
        EVAL "#!lua flags=no-writes\nreturn redis.call('get','x')" 1 x
        EVAL_RO "#!lua flags=\nreturn 1" 0
        FCALL plain 0
        FCALL ro 0
        FCALL_RO ro 0
        FCALL oomok 1 x
        CONFIG SET maxmemory 0
        FUNCTION FLUSH
        "##,
    );
}

/// DEBUG SET-DISABLE-DENY-SCRIPTS lets a script call CLIENT and DEBUG
/// PROTOCOL (Redis's suite converts every RESP3 type that way); off, they
/// are refused again.
fn debug_lets_scripts_call_denied_commands_as_redis<S: Store>() {
    let Some(redis) = RedisServer::start_with("scripting-deny", &["--enable-debug-command", "yes"])
    else {
        return;
    };
    let ours = TestServer::with_debug::<S>();
    crate::differential::differential_between(
        "scripting-deny",
        r##"
        EVAL "return redis.call('client', 'getname')" 0
        DEBUG SET-DISABLE-DENY-SCRIPTS 1
        EVAL "return redis.call('client', 'getname')" 0
        EVAL "return redis.call('debug', 'protocol', 'map')" 0
        EVAL "redis.setresp(3) return redis.call('debug', 'protocol', 'double')" 0
        EVAL "redis.setresp(3) return redis.call('debug', 'protocol', 'bignum')" 0
        EVAL "redis.setresp(3) return redis.call('debug', 'protocol', 'attrib')" 0
        EVAL "return redis.call('debug', 'protocol', 'attrib')" 0
        EVAL "redis.call('set', 'key', 'value', 'PX', 1) redis.call('debug', 'sleep', 0.01) return redis.call('exists', 'key')" 0
        EXISTS key
        DEBUG SET-DISABLE-DENY-SCRIPTS 0
        EVAL "return redis.call('debug', 'protocol', 'map')" 0
        "##,
        ours.addr,
        redis.addr,
    );
}

/// FUNCTION RESTORE of a dump whose library exists: APPEND names the
/// library (without quotes, Redis's `libraryJoin`), REPLACE the function
/// another library owns; nothing changes either way.
fn function_restore_collisions_match_redis<S: Store>() {
    same_on_both::<S>("function restore collisions", |addr| {
        let mut c = RawClient::connect(addr);
        let mut out = Vec::new();
        let lib = |name: &str, fs: &[&str]| {
            let body: String = fs
                .iter()
                .map(|f| {
                    format!("redis.register_function('{f}', function() return '{name}.{f}' end)\n")
                })
                .collect();
            format!("#!lua name={name}\n{body}")
        };
        c.cmd("FUNCTION FLUSH");
        c.cmd_args(&[
            b"FUNCTION",
            b"LOAD",
            lib("lib1", &["f1", "f2", "f3"]).as_bytes(),
        ]);
        let Frame::Bulk(dump) = c.cmd("FUNCTION DUMP") else {
            panic!("no dump");
        };
        c.cmd("FUNCTION FLUSH");
        c.cmd_args(&[b"FUNCTION", b"LOAD", lib("lib1", &["f6"]).as_bytes()]);
        c.cmd_args(&[b"FUNCTION", b"LOAD", lib("lib2", &["f4", "f3"]).as_bytes()]);
        for policy in [&b"APPEND"[..], b"REPLACE"] {
            out.push(format!(
                "{:?}",
                c.cmd_args(&[b"FUNCTION", b"RESTORE", &dump, policy])
            ));
            for f in ["f3", "f4", "f6"] {
                out.push(format!("{:?}", c.cmd(&format!("FCALL {f} 0"))));
            }
        }
        out
    });
}

/// FUNCTION DUMP from Redis restores here and back, byte for byte.
fn function_dump_moves_between_servers<S: Store>() {
    let Some(redis) = RedisServer::start("scripting-dump") else {
        return;
    };
    let ours = TestServer::start::<S>();
    let (mut r, mut o) = (RawClient::connect(redis.addr), ours.client());
    let lib = "#!lua name=moved\nredis.register_function('m1', function(k, a) return 'moved' end)";
    assert!(matches!(
        r.cmd_args(&[&b"FUNCTION"[..], b"LOAD", lib.as_bytes()]),
        Frame::Bulk(_)
    ));
    let Frame::Bulk(payload) = r.cmd("FUNCTION DUMP") else {
        panic!("dump")
    };
    assert_eq!(o.cmd_args(&[&b"FUNCTION"[..], b"RESTORE", &payload]), ok());
    assert_eq!(o.cmd("FCALL m1 0"), Frame::Bulk("moved".into()));
    assert_eq!(
        o.cmd("FUNCTION DUMP"),
        Frame::Bulk(payload.clone()),
        "same bytes as Redis's dump"
    );
    assert_eq!(
        o.cmd_args(&[&b"FUNCTION"[..], b"RESTORE", &payload]),
        Frame::error("ERR Library moved already exists")
    );
    assert_eq!(
        o.cmd_args(&[&b"FUNCTION"[..], b"RESTORE", &payload, b"REPLACE"]),
        ok()
    );
    let mut bad = payload.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        o.cmd_args(&[&b"FUNCTION"[..], b"RESTORE", &bad]),
        Frame::error("ERR DUMP payload version or checksum are wrong")
    );
}

/// Transfers between two counters by script (declared keys, undeclared
/// keys, and both at once) while readers sum them with MGET and with a
/// reading script: every sum must be 0, and the totals exact.
fn transfers(s: &TestServer) -> Verdict {
    const ROUNDS: usize = 300;
    const MOVE: &str = "local v = tonumber(ARGV[1]) \
        redis.call('decrby', KEYS[1], v) redis.call('incrby', KEYS[2], v) \
        redis.call('decrby', 'ua', v) redis.call('incrby', 'ub', v)";
    const READ: &str = "return {redis.call('get', 'ua'), redis.call('get', 'ub')}";
    let lib = format!(
        "#!lua name=moves\nredis.register_function('move', function(KEYS, ARGV) {MOVE} end)"
    );
    let loaded = s
        .client()
        .cmd_args(&[b"FUNCTION", b"LOAD", b"REPLACE", lib.as_bytes()]);
    assert!(matches!(loaded, Frame::Bulk(_)), "{loaded:?}");
    let torn = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    all_at_once(s, &|c, t| {
        if t < CLIENTS / 2 {
            for i in 0..ROUNDS {
                let n = (i % 7 + 1).to_string();
                // Scripts and functions alike.
                let r = if i % 2 == 0 {
                    c.cmd_args(&[b"EVAL", MOVE.as_bytes(), b"2", b"a", b"b", n.as_bytes()])
                } else {
                    c.cmd_args(&[b"FCALL", b"move", b"2", b"a", b"b", n.as_bytes()])
                };
                assert!(matches!(r, Frame::Null), "transfer: {r:?}");
            }
            done.fetch_add(1, Ordering::Release);
            return;
        }
        while done.load(Ordering::Acquire) < CLIENTS / 2 {
            let pair = |f: Frame| match f {
                Frame::Array(v) => int_of(&v[0]) + int_of(&v[1]),
                other => panic!("{other:?}"),
            };
            let sums = [
                pair(c.cmd("MGET a b")),
                pair(c.cmd("MGET ua ub")),
                pair(c.cmd_args(&[b"EVAL", READ.as_bytes(), b"0"])),
            ];
            if sums.iter().any(|&s| s != 0) {
                torn.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let n = torn.into_inner();
    if n > 0 {
        return Err(format!("{n} reads saw half a script"));
    }
    let want = (CLIENTS / 2 * (0..ROUNDS).map(|i| i % 7 + 1).sum::<usize>()) as i64;
    let mut c = s.client();
    for key in ["b", "ub"] {
        let got = int_of(&c.cmd(&format!("GET {key}")));
        if got != want {
            return Err(format!("{key} = {got}, want {want}"));
        }
    }
    Ok(())
}

fn scripts_are_atomic_to_every_reader<S: Store>() {
    let fault = Faults {
        unlocked_script: true,
        ..Faults::default()
    };
    proves::<S>("transfers by script", transfers, fault);
}

/// With the AOF on, clients pipelining scripts and plain writes: a
/// script holds the journal's order lock and then wants the VM, which a
/// connection keeps between the scripts of its batch, so a batch's write
/// must give the VM back before it waits for that lock (or both wait
/// forever). Every effect is logged: the restart brings back the counts.
fn pipelined_scripts_and_writes_replay_from_the_aof<S: Store>() {
    const CLIENTS: usize = 4;
    const BATCHES: usize = 40;
    const DEPTH: usize = 16;
    let dir = fresh_dir("script-aof-pipelined");
    let config = crate::aof::aof_config(&dir, flashkv::config::Fsync::EverySec);
    let server = TestServer::with_config::<S>(config.clone(), Clock::System);
    std::thread::scope(|s| {
        for c in 0..CLIENTS {
            let mut client = server.client();
            s.spawn(move || {
                let batch: String = (0..DEPTH)
                    .map(|i| {
                        format!(
                            "EVAL \"return redis.call('incr', KEYS[1])\" 1 n\r\nSET last:{c} {i}\r\n"
                        )
                    })
                    .collect();
                for _ in 0..BATCHES {
                    client.send(batch.as_bytes());
                    for _ in 0..2 * DEPTH {
                        assert!(!matches!(client.read_reply().0, Frame::Error(_)));
                    }
                }
            });
        }
    });
    let total = (CLIENTS * BATCHES * DEPTH) as i64;
    assert_eq!(
        server.client().cmd("GET n"),
        Frame::Bulk(total.to_string().into())
    );
    server.stop().expect("stopped");
    let again = TestServer::with_config::<S>(config, Clock::System);
    let mut c = again.client();
    assert_eq!(c.cmd("GET n"), Frame::Bulk(total.to_string().into()));
    assert_eq!(
        c.cmd("GET last:0"),
        Frame::Bulk((DEPTH - 1).to_string().into())
    );
}
