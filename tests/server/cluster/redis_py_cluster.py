"""redis-py's RedisCluster against FlashKV nodes, unchanged.

Usage: python3 redis_py_cluster.py write|read PORT (exit 0 on success).
`write` stores keys over every slot range and checks pipelines across
slots; `read` (run after a reshard) reads them all back through the
client's slot map, which must follow MOVED to the new owners."""
import sys

from redis.cluster import RedisCluster

phase, port = sys.argv[1], int(sys.argv[2])
rc = RedisCluster(host="127.0.0.1", port=port, decode_responses=True)
nodes = rc.get_primaries()
assert len(nodes) == 3, nodes
N = 600

if phase == "write":
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
elif phase == "read":
    for i in range(N):
        assert rc.get(f"user:{i}") == str(i), i
    pipe = rc.pipeline()
    for i in range(N):
        pipe.get(f"visits:{i}")
    assert pipe.execute() == ["1"] * N
else:
    raise SystemExit(f"unknown phase {phase}")
print("ok", phase)
