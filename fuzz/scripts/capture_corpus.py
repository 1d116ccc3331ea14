#!/usr/bin/env python3
"""Record real client traffic as the fuzz targets' seed corpus.

A tiny recording TCP proxy sits between real clients and a real
redis-server on loopback. Each client connection's bytes are saved, one
file per connection and direction, as seeds:

  fuzz/corpus/resp_decode/<name>.req   00 00 + what the client sent
  fuzz/corpus/resp_decode/<name>.rep   00 00 + what the server answered
  fuzz/corpus/command/<name>           "RESP" + what the client sent
  fuzz/corpus/store_ops/<name>         "RESP" + what the client sent

(`00 00` is resp_decode's header: default limits, no cut points; "RESP"
tells command and store_ops the rest is traffic.) The clients: redis-cli
(one command per connection, and --pipe), redis-benchmark
(-t set,get,incr,mset,lpush,rpush,lpop,rpop,sadd,hset,spop,lrange_100 -n 50), and every differential script in
tests/server/*.rs, sent line by line as a client would.

Usage, from the repository root: python3 fuzz/scripts/capture_corpus.py
Needs redis-server, redis-cli and redis-benchmark on PATH.
"""
import hashlib
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
MAX_SEED = 64 * 1024


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proxy:
    """Forward 127.0.0.1:listen -> 127.0.0.1:upstream, recording bytes."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.label = "start"
        self.sessions = []  # (label, c2s bytearray, s2c bytearray)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            c2s, s2c = bytearray(), bytearray()
            with self.lock:
                self.sessions.append((self.label, c2s, s2c))
            threading.Thread(target=pump, args=(client, server, c2s), daemon=True).start()
            threading.Thread(target=pump, args=(server, client, s2c), daemon=True).start()


def pump(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if len(record) < MAX_SEED:
                record.extend(data[: MAX_SEED - len(record)])
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def differential_scripts():
    """Every differential(...) script in tests/server/*.rs, as lines."""
    scripts = []
    tests = os.path.join(ROOT, "tests", "server")
    for name in sorted(os.listdir(tests)):
        if not name.endswith(".rs"):
            continue
        src = open(os.path.join(tests, name), encoding="utf-8").read()
        # Raw strings with any number of #s (scripts that hold `"#` use r##).
        for m in re.finditer(r'differential(?:_between|_resp2_and_3)?(?:::<S>)?\(\s*"([^"]*)",\s*(r(#+)"(.*?)"\3|"(.*?)")', src, re.S):
            body = m.group(4) if m.group(4) is not None else m.group(5)
            lines = []
            for line in body.splitlines():
                line = line.strip()
                if not line or line.startswith("#") or "SHUTDOWN" in line.upper():
                    continue
                # Several connections' lines become one client's traffic.
                line = re.sub(r"^@\d+ ", "", line)
                for prefix in ("~ ", "sort ", "skip ", "scanall ", "mask ", "masklines ", "noreply "):
                    if line.startswith(prefix):
                        line = line[len(prefix):]
                if line == "recv" or line.startswith("recv ") or line.startswith("sleep ") or line.upper() == "MONITOR":
                    continue
                lines.append(line)
            if lines:
                scripts.append((f"{name[:-3]}-{m.group(1)}", lines))
    return scripts


def resp(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def run_script(port, lines):
    """Send each line as one request and read its reply, like a client."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(2)
    for line in lines:
        try:
            args = shlex.split(line, posix=True)
        except ValueError:
            continue
        if not args:
            continue
        s.sendall(resp(args))
        try:
            s.recv(1 << 20)
        except OSError:
            break
        if args[0].upper() == "QUIT":
            break
    s.close()


def main():
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", redis_port)).close()
                break
            except OSError:
                time.sleep(0.05)
        proxy = Proxy(redis_port)
        port = str(proxy.port)
        cli = ["redis-cli", "-p", port]
        for i, cmd in enumerate([
            ["PING"], ["SET", "greeting", "hello world"], ["GET", "greeting"], ["INCRBYFLOAT", "f", "10.5"],
            ["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "nokey"], ["EXPIRE", "a", "100"], ["TTL", "a"],
            ["-3", "HELLO", "3"], ["--scan", "--pattern", "*"], ["INFO", "keyspace"], ["CLIENT", "LIST"],
            ["COMMAND", "INFO", "get"], ["CONFIG", "GET", "maxclients"], ["DEL", "a", "b", "greeting"],
        ]):
            proxy.label = f"redis-cli-{i:02}"
            subprocess.run(cli + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        proxy.label = "redis-cli-pipe"
        pipe_in = b"".join(resp(["SET", f"key:{i}", f"value{i}"]) for i in range(100))
        subprocess.run(cli + ["--pipe"], input=pipe_in, stdout=subprocess.DEVNULL, timeout=10)
        proxy.label = "redis-benchmark"
        subprocess.run(
            ["redis-benchmark", "-p", port, "-t", "set,get,incr,mset,lpush,rpush,lpop,rpop,sadd,hset,spop,lrange_100", "-n", "50", "-c", "2", "-q"],
            stdout=subprocess.DEVNULL, timeout=60,
        )
        proxy.label = "redis-benchmark-pipelined"
        subprocess.run(
            ["redis-benchmark", "-p", port, "-t", "set,get,incr,mset,lpush,rpush,lpop,rpop,sadd,hset,spop,lrange_100", "-n", "50", "-c", "1", "-P", "16", "-q"],
            stdout=subprocess.DEVNULL, timeout=60,
        )
        for label, lines in differential_scripts():
            proxy.label = label
            run_script(proxy.port, lines)
        time.sleep(0.5)
        write_seeds(proxy.sessions)
    finally:
        redis.terminate()
        redis.wait()


def write_seeds(sessions):
    written = set()
    for target in ("resp_decode", "command", "store_ops"):
        os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    for label, c2s, s2c in sessions:
        if not c2s:
            continue
        seeds = [
            ("resp_decode", "req", b"\x00\x00" + bytes(c2s)),
            ("resp_decode", "rep", b"\x00\x00" + bytes(s2c)),
            ("command", "", b"RESP" + bytes(c2s)),
            ("store_ops", "", b"RESP" + bytes(c2s)),
        ]
        for target, kind, data in seeds:
            digest = hashlib.sha1(data).hexdigest()[:12]
            if (target, digest) in written or len(data) <= 4:
                continue
            written.add((target, digest))
            name = f"{label}-{digest}" + (f".{kind}" if kind else "")
            with open(os.path.join(CORPUS, target, name), "wb") as f:
                f.write(data)
    for target in ("resp_decode", "command", "store_ops"):
        n = len(os.listdir(os.path.join(CORPUS, target)))
        print(f"{target}: {n} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
