"""redis-py against FlashKV, unchanged: basic commands, pipelines, TTLs,
RESP3. Usage: python3 redis_py_check.py PORT (exit 0 on success)."""
import sys

import redis

port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
assert r.ping()
assert r.set("k", "v")
assert r.get("k") == "v"
assert r.get("missing") is None
assert r.incr("n") == 1 and r.incrby("n", 9) == 10
assert r.incrbyfloat("f", 10.5) == 10.5
assert r.set("t", "1", ex=100) and r.ttl("t") == 100
assert r.set("k", "w", nx=True) is None
assert r.mset({"a": "1", "b": "2"}) and r.mget("a", "b", "zz") == ["1", "2", None]
pipe = r.pipeline(transaction=False)
for i in range(500):
    pipe.set(f"key:{i}", i)
pipe.dbsize()
assert pipe.execute()[-1] == 506
assert sorted(r.scan_iter(match="key:1?", count=50)) == sorted(f"key:1{i}" for i in range(10))
try:
    r.incr("k")
    raise SystemExit("INCR on a string succeeded")
except redis.ResponseError as e:
    assert "not an integer" in str(e)
if int(redis.__version__.split(".")[0]) >= 5:
    r3 = redis.Redis(host="127.0.0.1", port=port, protocol=3, decode_responses=True)
    assert r3.get("k") == "v" and r3.get("missing") is None
    assert r3.config_get("maxclients") == {"maxclients": "10000"}
print("redis-py OK", redis.__version__)
