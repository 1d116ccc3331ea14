"""Shared by scripts/bench-* and scripts/report: machine facts, run metadata,
a load sampler, a progress bar and CSV helpers. Python 3 standard library only.

A run's metadata (`reports/data/<suite>.meta.json`) records what the report
pages must state: commit (and whether the tree was dirty), UTC date, CPU
model, core count, memory, kernel, the exact command and environment knobs,
the 1-minute load average before, during (mean and max, sampled every 5 s)
and after the run, and any compiler processes seen meanwhile. A run is
*preliminary* when it was asked to be short (`--quick` /
`FLASHKV_BENCH_QUICK=1`), when `FLASHKV_PRELIMINARY=1`, or when the machine
was not quiet (load >= 0.5 before the first suite started, or rustc/cc running
during it; the benchmark's own threads are not counted against it).
"""

import csv
import datetime
import signal
import socket
import json
import os
import platform
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET_LOAD = 0.5
COMPILERS = ("rustc", "cc1", "cc1plus", "ld", "ld.lld", "clippy-driver")


def backends():
    """The backend names, in order, from the one list in src/backends.rs
    (the `for_each_backend!` macro), so scripts never keep a copy."""
    import re
    with open(os.path.join(REPO, "src", "backends.rs")) as f:
        text = f.read()
    names = re.findall(r"^\s+([a-z][a-z0-9_]*) [A-Z]\w* \"[^\"]*\" \$crate::backends::\w+,$", text, re.M)
    if not names:
        raise RuntimeError("no backends found in src/backends.rs")
    return names


def command_output(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=REPO).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib():
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        return round(kb / 1024 / 1024, 1)
    except (OSError, ValueError):
        return None


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name is in parentheses and may hold spaces.
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _is_ours(pid):
    """Is `pid` this script or one of its descendants (our own cargo runs,
    which call `rustc -vV` even when nothing needs building)?"""
    ours = {os.getpid(), os.getppid()}
    for _ in range(64):
        if pid in ours:
            return True
        if pid <= 1:
            return False
        pid = _parent(pid)
    return False


def compilers_running():
    """Names of compiler processes running now that are not ours (other
    engineers' builds)."""
    seen = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name in COMPILERS and not _is_ours(int(pid)):
            seen.append(name)
    return seen


class LoadSampler(threading.Thread):
    """Samples the 1-minute load average and compiler processes every 5 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples, self.compilers = [], 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            self.samples.append(loadavg()[0])
            self.compilers = max(self.compilers, len(compilers_running()))
            self.stopped.wait(5)

    def stop(self):
        self.stopped.set()
        self.join(2)


def machine():
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "mem_gib": mem_total_gib(),
        "kernel": platform.release(),
        "rustc": command_output(["rustc", "--version"]),
    }


def start_meta(suite, argv, quick):
    """Metadata at the start of a measured run; starts the load sampler."""
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith("FLASHKV_")}
    commit = command_output(["git", "rev-parse", "HEAD"])
    # reports/ is excluded: earlier suites of the same run write their results there.
    dirty = bool(command_output(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports"]))
    sampler = LoadSampler()
    sampler.start()
    return {
        "suite": suite,
        "command": " ".join(argv),
        "env": env,
        "commit": commit,
        "dirty": dirty,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "start_epoch": time.time(),
        "machine": machine(),
        "load_before": loadavg(),
        "compilers_before": compilers_running(),
        "quick": bool(quick),
        "_sampler": sampler,
    }


def finish_meta(meta, path):
    """Close a run's metadata, decide `preliminary`, write it to `path`."""
    sampler = meta.pop("_sampler")
    sampler.stop()
    samples = sampler.samples or [loadavg()[0]]
    meta["end_epoch"] = time.time()
    meta["duration_s"] = round(meta["end_epoch"] - meta["start_epoch"], 1)
    meta["load_after"] = loadavg()
    meta["load_during_mean"] = round(sum(samples) / len(samples), 2)
    meta["load_during_max"] = round(max(samples), 2)
    meta["compilers_during_max"] = sampler.compilers
    reasons = []
    if meta["quick"]:
        reasons.append("short run (quick settings)")
    if os.environ.get("FLASHKV_PRELIMINARY") == "1":
        reasons.append("FLASHKV_PRELIMINARY=1")
    # The benchmark itself keeps both cores busy, so load during the run says
    # nothing about other work; what counts is the load before the first
    # suite started (scripts/bench-all records it) and compilers appearing.
    start_load = float(os.environ.get("FLASHKV_BENCH_START_LOAD", meta["load_before"][0]))
    meta["load_at_first_suite_start"] = start_load
    if start_load >= QUIET_LOAD:
        reasons.append(f"machine not quiet (load {start_load:.2f} before the run started)")
    if meta["compilers_before"] or sampler.compilers:
        reasons.append("compilers running during the run")
    meta["preliminary"] = bool(reasons)
    meta["preliminary_reasons"] = reasons
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    return meta


class Progress:
    """A one-line-per-step progress bar with elapsed time and ETA."""

    def __init__(self, total):
        self.total, self.done, self.t0 = max(total, 1), 0, time.time()

    def step(self, what):
        self.done += 1
        el = time.time() - self.t0
        eta = el / max(self.done - 1, 1) * (self.total - self.done + 1) if self.done > 1 else 0
        width = 24
        fill = min(width, self.done * width // self.total)
        print(f"[{'#' * fill}{'.' * (width - fill)}] {self.done:>3}/{self.total} "
              f"{int(el) // 60:>3}m{int(el) % 60:02d}s eta {int(eta) // 60}m{int(eta) % 60:02d}s  {what}",
              flush=True)

    def skip(self, n):
        self.done += n

    def note(self, text):
        print(f"    {text}", file=sys.stderr, flush=True)


def write_csv(path, rows):
    fields = list(rows[0].keys())
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_meta(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------- servers

SERVER_START_TIMEOUT = 10


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One server process we started, stopped only by its pid."""

    def __init__(self, name, argv):
        self.name = name
        self.port = free_port()
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        if "flashkv" in os.path.basename(argv[0]) and "--save" not in argv:
            # As redis-server runs here (--save ""): no snapshot at stop.
            argv += ["--save", ""]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.time() + SERVER_START_TIMEOUT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"{name} exited at start: {err.strip()[:400]}")
            try:
                if self.command([b"PING"]) == b"+PONG\r\n":
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{name} did not answer PING within {SERVER_START_TIMEOUT}s")

    def command(self, args, timeout=5):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(resp(args))
            return read_reply(s)

    def rss(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def used_memory(self):
        text = self.command([b"INFO", b"memory"]).decode(errors="replace")
        for line in text.splitlines():
            if line.startswith("used_memory:"):
                return int(line.split(":")[1])
        return None

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_reply(sock):
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
        if buf[:1] in (b"+", b"-", b":") and buf.endswith(b"\r\n"):
            return buf
        if buf[:1] == b"$":
            head, _, rest = buf.partition(b"\r\n")
            n = int(head[1:])
            if n < 0 or len(rest) >= n + 2:
                return buf


# Servers driven by redis-cli (the persistence and AOF scripts).


def fill_strings(path, keys):
    """KEYS SET commands (16-byte names, 16-byte values) as RESP in path."""
    with open(path, "wb") as out:
        for i in range(keys):
            k = b"key:%012d" % i
            out.write(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$16\r\n%s\r\n" % (k, b"v" * 16))


def spawn_logged(argv, log):
    """Start argv with its output appended to log, in its own session."""
    proc = subprocess.Popen(argv, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    return proc


def wait_ping(port, proc, timeout=120):
    """Wait until the server on port answers PING (or proc exits)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited")
        r = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on {port} did not start")


def kill(proc):
    """SIGKILL proc (by its pid) and reap it."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
