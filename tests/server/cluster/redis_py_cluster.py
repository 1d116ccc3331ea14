"""redis-py's RedisCluster against FlashKV nodes, unchanged.

Usage: python3 redis_py_cluster.py PORT (exit 0 on success).

Two clients, alive throughout: one stores keys over every slot range and
checks pipelines across slots; then `redis-cli --cluster reshard` moves
500 slots behind their backs. Both slot maps are now stale for those
slots (checked): one client reads every key back in a pipeline, the
other one by one, each following MOVED to the new owner, and afterwards
both maps are fresh (checked). Two clients, because redis-py reloads
its whole map after a few MOVED replies: the second would not see one."""
import subprocess
import sys

import redis
from redis.cluster import RedisCluster

port = int(sys.argv[1])
rc = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
singles = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
nodes = sorted(rc.get_primaries(), key=lambda n: n.port)
assert len(nodes) == 3, nodes
N = 600

for i in range(N):
    assert rc.set(f"user:{i}", i)
pipe = rc.pipeline()
for i in range(N):
    pipe.incr(f"visits:{i}")
assert pipe.execute() == [1] * N
assert rc.mset_nonatomic({f"m:{i}": i for i in range(50)})
assert rc.mget_nonatomic([f"m:{i}" for i in range(50)]) == [str(i) for i in range(50)]
assert rc.mset({"{tag}a": "1", "{tag}b": "2"}) and rc.mget("{tag}a", "{tag}b") == ["1", "2"]
assert rc.keyslot("foo") == 12182
sizes = [rc.dbsize(target_nodes=n) for n in nodes]
assert all(s > 100 for s in sizes), sizes
with rc.lock("job", timeout=5):
    pass


def plain(node):
    return redis.Redis(host="127.0.0.1", port=node.port, decode_responses=True)


src, dst = nodes[2], nodes[0]
moved = subprocess.run(
    ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{src.port}",
     "--cluster-from", plain(src).execute_command("CLUSTER MYID"),
     "--cluster-to", plain(dst).execute_command("CLUSTER MYID"),
     "--cluster-slots", "500", "--cluster-yes"],
    capture_output=True, text=True, timeout=120)
assert moved.returncode == 0, moved.stdout + moved.stderr

# Who owns each slot now, asked of a node with a plain connection (the
# cluster client's own map is left as it was).
owner = {}
for start, end, master, *_ in plain(dst).execute_command("CLUSTER SLOTS"):
    for slot in range(start, end + 1):
        owner[slot] = master[1]


def stale(client, keys):
    return [k for k in keys
            if client.nodes_manager.get_node_from_slot(client.keyslot(k)).port
            != owner[client.keyslot(k)]]


users = [f"user:{i}" for i in range(N)]
visits = [f"visits:{i}" for i in range(N)]
before = len(stale(rc, visits)), len(stale(singles, users))
assert all(n > 0 for n in before), f"the reshard moved no key the clients knew: {before}"
pipe = rc.pipeline()
for k in visits:
    pipe.get(k)
assert pipe.execute() == ["1"] * N
for i in range(N):
    assert singles.get(f"user:{i}") == str(i), i
after = len(stale(rc, visits)), len(stale(singles, users))
assert after == (0, 0), f"slot maps still stale after MOVED: {after}"
print("ok: followed MOVED for", before, "keys")
