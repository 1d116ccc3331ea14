#!/usr/bin/env python3
"""Generate src/cmd/meta/ (one file per Redis command group, and mod.rs
joining them) from a live Redis 7.0 server.

FlashKV answers COMMAND INFO / COMMAND DOCS / COMMAND GETKEYS and checks
arity from this table, so it must say exactly what Redis says. Rather than
retyping Redis's command JSON files, this asks a real redis-server (RESP3,
so sets and maps keep their types) for the commands FlashKV implements and
writes the replies as static Rust data.

Usage: redis-server --port 16379 --save '' &
       scripts/gen_command_meta.py 16379 [OUT_DIR] && cargo fmt
"""
import os
import socket
import sys

# Top-level commands FlashKV implements, and the subcommands of containers.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COMMANDS = """set get getex getdel getset setnx setex psetex mset msetnx mget append
strlen getrange setrange incr incrby decr decrby incrbyfloat del unlink exists
touch expire pexpire expireat pexpireat ttl pttl expiretime pexpiretime persist
keys scan randomkey type rename renamenx copy move select swapdb dbsize flushdb
flushall ping echo quit reset hello auth client info command time config
function shutdown lpush rpush lpop rpop llen lrange lindex lpushx rpushx linsert
lset lrem ltrim lpos rpoplpush lmove brpoplpush blmove lmpop blmpop blpop
brpop hset hmset hsetnx hget hmget hdel hlen hstrlen hexists hkeys hvals hgetall
hincrby hincrbyfloat hrandfield hscan sadd srem smembers sismember smismember
scard spop srandmember smove sinter sunion sdiff sinterstore sunionstore
sdiffstore sintercard sscan object memory sort sort_ro multi exec discard watch unwatch subscribe unsubscribe psubscribe
punsubscribe ssubscribe sunsubscribe publish spublish pubsub monitor slowlog latency
save bgsave lastsave dump restore debug bgrewriteaof
zadd zincrby zrem zcard zcount zlexcount zscore zmscore zrank zrevrank zrange
zrangestore zrevrange zrangebyscore zrevrangebyscore zrangebylex zrevrangebylex
zremrangebyrank zremrangebyscore zremrangebylex zpopmin zpopmax bzpopmin bzpopmax
zmpop bzmpop zrandmember zunion zinter zdiff zunionstore zinterstore zdiffstore
zintercard zscan
setbit getbit bitcount bitpos bitop bitfield bitfield_ro lcs substr
pfadd pfcount pfmerge pfdebug pfselftest
geoadd geodist geohash geopos georadius georadius_ro georadiusbymember
georadiusbymember_ro geosearch geosearchstore
eval evalsha eval_ro evalsha_ro script fcall fcall_ro
cluster readonly readwrite asking migrate restore-asking
role replicaof slaveof sync psync replconf lolwut module""".split()
SUBCOMMANDS = {
    "client": ("id setname getname list info kill unblock pause unpause reply no-evict "
               "tracking trackinginfo getredir caching help").split(),
    "config": "get set resetstat rewrite help".split(),
    "command": "count info docs list getkeys getkeysandflags help".split(),
    "function": "load list delete flush dump restore stats kill help".split(),
    "script": "load exists flush kill help".split(),
    "object": "encoding refcount idletime freq help".split(),
    "memory": "usage stats doctor malloc-stats purge help".split(),
    "pubsub": "channels numsub numpat shardchannels shardnumsub help".split(),
    "slowlog": "get len reset help".split(),
    "latency": "latest history reset doctor graph histogram help".split(),
    "debug": [],
    "module": "list load loadex unload help".split(),
    "cluster": ("addslots addslotsrange bumpepoch count-failure-reports countkeysinslot "
                "delslots delslotsrange failover flushslots forget getkeysinslot help info "
                "keyslot links meet myid nodes replicas replicate reset saveconfig "
                "set-config-epoch setslot shards slaves slots").split(),
}


def enc(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Reader:
    def __init__(self, f):
        self.f = f

    def read(self):
        line = self.f.readline()
        t, body = line[:1], line[1:-2]
        if t == b"+":
            return ("S", body.decode())
        if t == b"-":
            raise RuntimeError(body.decode())
        if t == b":":
            return ("I", int(body))
        if t == b"$":
            return ("B", self.f.read(int(body) + 2)[:-2].decode())
        if t == b"_":
            return ("N", None)
        if t in (b"*", b"~"):
            items = [self.read() for _ in range(int(body))]
            return ("A" if t == b"*" else "Set", items)
        if t == b"%":
            pairs = [(self.read(), self.read()) for _ in range(int(body))]
            return ("Map", pairs)
        raise RuntimeError("unexpected reply type %r" % line)


def rust(v):
    kind, x = v
    if kind in ("S", "B"):
        return 'M::%s("%s")' % (kind, x.replace("\\", "\\\\").replace('"', '\\"'))
    if kind == "I":
        return "M::I(%d)" % x
    if kind == "N":
        return "M::Null"
    if kind in ("A", "Set"):
        return "M::%s(&[%s])" % (kind, ", ".join(rust(i) for i in x))
    return "M::Map(&[%s])" % ", ".join("(%s, %s)" % (rust(k), rust(v)) for k, v in x)


def strings(v):
    return "&[%s]" % ", ".join('"%s"' % s for _, s in v[1])


def keep_subcommands(name, info, docs):
    """Drop the subcommands FlashKV does not implement, in name order."""
    wanted = ["%s|%s" % (name, s) for s in SUBCOMMANDS.get(name, [])]
    subs = {s[1][0][1]: s for s in info[1][9][1]}
    info[1][9] = (info[1][9][0], [subs[w] for w in wanted])
    for i, (k, v) in enumerate(docs[1]):
        if k[1] == "subcommands":
            d = dict((kk[1], vv) for kk, vv in v[1])
            docs[1][i] = (k, ("Map", [(("B", w), d[w]) for w in wanted]))
    return [s for s in (subs[w] for w in wanted)], wanted


def as_dict(v):
    return dict((k[1], x) for k, x in v[1])


def key_spec(v):
    """One key spec as `KeySpec { begin, find }` (Redis 7's key specs)."""
    d = as_dict(v)
    bs, fk = as_dict(d["begin_search"]), as_dict(d["find_keys"])
    bspec, fspec = as_dict(bs["spec"]), as_dict(fk["spec"])
    if bs["type"][1] == "index":
        begin = "Begin::Index(%d)" % bspec["index"][1]
    elif bs["type"][1] == "keyword":
        begin = 'Begin::Keyword("%s", %d)' % (bspec["keyword"][1], bspec["startfrom"][1])
    else:
        begin = "Begin::Unknown"
    if fk["type"][1] == "range":
        find = "Find::Range { lastkey: %d, step: %d, limit: %d }" % (
            fspec["lastkey"][1], fspec["keystep"][1], fspec["limit"][1])
    elif fk["type"][1] == "keynum":
        find = "Find::Keynum { keynumidx: %d, firstkey: %d, step: %d }" % (
            fspec["keynumidx"][1], fspec["firstkey"][1], fspec["keystep"][1])
    else:
        find = "Find::Unknown"
    return "KeySpec { begin: %s, find: %s }" % (begin, find)


def row(info, docs, subs):
    f = info[1]
    name = f[0][1]
    sub_rows = "".join(row(s, None, []) + "," for s in subs)
    specs = ", ".join(key_spec(k) for k in f[8][1])
    return """CommandMeta {
        name: "%s", arity: %d, flags: %s, first_key: %d, last_key: %d, step: %d,
        key_specs: &[%s],
        info: %s,
        docs: %s,
        subcommands: &[%s],
    }""" % (name, f[1][1], strings(f[2]), f[3][1], f[4][1], f[5][1], specs, rust(info),
            rust(docs) if docs else "M::Null", sub_rows)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    s = socket.create_connection(("127.0.0.1", port))
    r = Reader(s.makefile("rb"))
    s.sendall(enc(["HELLO", "3"]))
    version = dict((k[1], v[1]) for k, v in r.read()[1])["version"]
    s.sendall(enc(["COMMAND", "INFO"] + COMMANDS))
    infos = r.read()[1]
    s.sendall(enc(["COMMAND", "DOCS"] + COMMANDS))
    docs = dict((k[1], v) for k, v in r.read()[1])
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "src", "cmd", "meta")
    groups = {}
    for name, info in zip(COMMANDS, infos):
        subs, _ = keep_subcommands(name, info, docs[name])
        group = dict((k[1], v) for k, v in docs[name][1]).get("group", (None, "generic"))[1]
        groups.setdefault(group.replace("-", "_"), []).append(row(info, docs[name], subs))
    head = "// @generated by scripts/gen_command_meta.py from redis-server %s. Do not edit.\n" % version
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.endswith(".rs"):
            os.remove(os.path.join(out_dir, old))
    for group, rows in groups.items():
        with open(os.path.join(out_dir, group + ".rs"), "w") as f:
            f.write(head)
            f.write("//! The `%s` commands, as Redis %s reports them.\n" % (group, version))
            f.write("#![allow(clippy::all, unused_imports)]\n\n")
            f.write("use crate::cmd::table::{Begin, CommandMeta, Find, KeySpec, M};\n\n")
            f.write("/// This group's commands, in Redis's words.\n")
            f.write("pub static COMMANDS: &[CommandMeta] = &[%s];\n" % ",\n".join(rows))
    with open(os.path.join(out_dir, "mod.rs"), "w") as f:
        f.write(head)
        f.write("//! Command metadata as Redis %s reports it (COMMAND INFO / COMMAND DOCS),\n"
                "//! one file per Redis command group.\n\n" % version)
        for group in sorted(groups):
            f.write("mod %s;\n" % group)
        f.write("\nuse std::sync::LazyLock;\n\nuse super::table::CommandMeta;\n\n")
        f.write("/// Every command FlashKV implements, in Redis's words.\n")
        f.write("pub static COMMANDS: LazyLock<Vec<CommandMeta>> = LazyLock::new(|| {\n    [\n")
        for group in groups:
            f.write("        %s::COMMANDS,\n" % group)
        f.write("    ]\n    .concat()\n});\n")

if __name__ == "__main__":
    main()
