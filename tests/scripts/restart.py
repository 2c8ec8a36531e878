#!/usr/bin/env python3
"""Warm restart and crash survival with -e (memory file).

  graceful   N items of many sizes survive SIGUSR1 and `shutdown graceful`
             byte-exact: value, flags, cas, TTL still running; expired ones gone
  settings   a restart with another -m starts cold, with a log line
  kill9      kill -9 during a heavy mixed write load (set, append, incr,
             delete from 8 clients): after the restart every item served is
             what its client last stored or the write it had in flight, none
             torn; prints the fraction that survived
  flush      a delayed flush_all still fires after a crash
  damaged    a truncated, garbage or half-garbage file starts cold or
             restores without crashing; a damaged FILE.meta refuses the start;
             a file in use by another server refuses the start

Waits are conditions with a cap (LARDER_TEST_WAIT seconds, default 60);
the only sleeps wait for wall-clock seconds a TTL needs to pass.
Usage: restart.py LARDER_BINARY
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

WAIT = float(os.environ.get("LARDER_TEST_WAIT", "60"))
BIN = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="larder-restart.")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, extra, expect_fail=False):
        self.port = free_port()
        args = [BIN, "-p", str(self.port), "-U", "0", "-l", "127.0.0.1", "-t", "4"] + extra
        if os.geteuid() == 0:
            args += ["-u", "root"]
        self.log = open(os.path.join(TMP, "log.%d" % self.port), "w+")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        if expect_fail:
            return
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.logtext())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("server did not start")

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def wait_exit(self):
        try:
            return self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self, sig=signal.SIGUSR1):
        self.proc.send_signal(sig)
        return self.wait_exit()

    def client(self):
        return Client(self.port)


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("closed")
            self.buf += d
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def exact(self, n):
        while len(self.buf) < n:
            d = self.s.recv(max(65536, n - len(self.buf)))
            if not d:
                raise ConnectionError("closed")
            self.buf += d
        b, self.buf = self.buf[:n], self.buf[n:]
        return b

    def cmd(self, line, data=None):
        msg = line.encode() + b"\r\n"
        if data is not None:
            msg += data + b"\r\n"
        self.s.sendall(msg)
        return self.line()

    def store(self, verb, key, val, flags=0, ttl=0):
        return self.cmd("%s %s %d %d %d" % (verb, key, flags, ttl, len(val)), val)

    def gets(self, key):
        """(value, flags, cas) or None"""
        self.s.sendall(b"gets " + key.encode() + b"\r\n")
        l = self.line()
        if l == b"END":
            return None
        _, k, flags, n, cas = l.split()
        v = self.exact(int(n) + 2)[:-2]
        check(self.line() == b"END", "gets ends with END")
        return v, int(flags), int(cas)

    def ttl(self, key):
        l = self.cmd("mg %s t" % key)
        m = re.match(rb"HD t(-?\d+)", l)
        return int(m.group(1)) if m else None

    def stats(self, sub=""):
        self.s.sendall(("stats %s\r\n" % sub).encode())
        out = {}
        while True:
            l = self.line()
            if l == b"END":
                return out
            p = l.decode().split(" ", 2)
            out[p[1]] = p[2] if len(p) > 2 else ""


def value_for(key, ver, size):
    head = ("%s:%d:" % (key, ver)).encode()
    body = (head * (size // len(head) + 1))[: max(0, size - 8)]
    return body + b"%08x" % (zlib.crc32(body) & 0xFFFFFFFF)


def mfile(name):
    path = os.path.join(TMP, name)
    for p in (path, path + ".meta"):
        if os.path.exists(p):
            os.unlink(p)
    return path


# --- graceful -------------------------------------------------------------------

def fill(c, n, short_ttl):
    kept, short = {}, []
    sizes = [1, 10, 100, 1000, 5000, 20000, 100000, 500000]
    for i in range(n):
        key = "g%d" % i
        size = sizes[i % len(sizes)] if i % 50 == 0 else random.randint(1, 3000)
        val = value_for(key, 1, size)
        ttl = short_ttl if i % 10 == 3 else (1000 + i if i % 2 else 0)
        check(c.store("set", key, val, flags=i * 7919 % 2**32, ttl=ttl) == b"STORED", "set " + key)
        if ttl == short_ttl:
            short.append(key)
        else:
            kept[key] = (val, i * 7919 % 2**32, ttl)
    check(c.store("set", "ctr", b"41") == b"STORED", "set ctr")
    check(c.cmd("incr ctr 1") == b"42", "incr ctr")
    kept["ctr"] = (b"42", 0, 0)
    return kept, short


def verify(c, kept, short, label):
    bad = 0
    for key, (val, flags, ttl) in kept.items():
        got = c.gets(key)
        if got is None or got[0] != val or got[1] != flags or got[2] != cas_before[key]:
            bad += 1
            continue
        t = c.ttl(key)
        if ttl == 0:
            bad += t != -1
        else:
            # still running: not longer than set, and not reset
            bad += not (0 < t <= ttl)
    check(bad == 0, "%s: %d of %d items not byte-exact (value, flags, cas, ttl)" %
          (label, bad, len(kept)))
    gone = sum(c.gets(k) is None for k in short)
    check(gone == len(short), "%s: %d of %d expired items gone" % (label, gone, len(short)))


cas_before = {}


def test_graceful():
    path = mfile("graceful")
    s = Server(["-e", path, "-m", "64", "-A"])
    c = s.client()
    check(c.stats("settings").get("memory_file") == path, "stats settings memory_file")
    short_ttl = 2
    t_set = time.time()
    kept, short = fill(c, 3000, short_ttl)
    for k in kept:
        cas_before[k] = c.gets(k)[2]
    hp = c.stats()["hash_power_level"]
    check(s.stop(signal.SIGUSR1) == 0, "SIGUSR1 stops with status 0")
    check(os.path.exists(path + ".meta"), "SIGUSR1 writes FILE.meta")
    # the short TTL must run out while the server is down
    while time.time() < t_set + short_ttl + 1.5:
        time.sleep(0.2)
    s = Server(["-e", path, "-m", "64", "-A"])
    c = s.client()
    st = c.stats()
    check(st.get("restart_mode") == "warm", "warm restart: %s" % st.get("restart_mode"))
    check(int(st["restart_items_restored"]) == len(kept),
          "restored %s of %d" % (st["restart_items_restored"], len(kept)))
    check(int(st["restart_items_expired"]) == len(short), "expired while down counted")
    check(int(st["restart_items_dropped"]) == 0, "nothing dropped after a clean stop")
    check(int(st["curr_items"]) == len(kept), "curr_items after restart")
    check(st["hash_power_level"] == hp, "hash power level kept")
    check("warm restart" in s.logtext(), "log line for the warm restart")
    check(not os.path.exists(path + ".meta"), "FILE.meta used once")
    verify(c, kept, short, "after SIGUSR1")
    # new writes after a restart get cas values never seen before
    check(c.store("set", "fresh", b"x") == b"STORED", "set after restart")
    check(c.gets("fresh")[2] > max(cas_before.values()), "cas keeps growing across a restart")
    c.cmd("delete fresh")
    # second cycle through `shutdown graceful`
    c.s.sendall(b"shutdown graceful\r\n")
    check(s.wait_exit() == 0, "shutdown graceful stops with status 0")
    s = Server(["-e", path, "-m", "64", "-A"])
    c = s.client()
    check(c.stats().get("restart_mode") == "warm", "warm after shutdown graceful")
    verify(c, kept, short, "after shutdown graceful")
    s.stop(signal.SIGTERM)
    print("graceful: %d items byte-exact across two restarts" % len(kept))

    # another -m: cold, with a log line, and serving
    s = Server(["-e", path, "-m", "32"])
    c = s.client()
    st = c.stats()
    check(st.get("restart_mode") == "cold" and int(st["curr_items"]) == 0,
          "another -m starts cold")
    check("starting with an empty cache" in s.logtext(), "log line for a cold start")
    check(c.store("set", "k", b"v") == b"STORED" and c.gets("k")[0] == b"v", "cold cache works")
    s.stop(signal.SIGTERM)
    for flag in (["-I", "2m"], ["-f", "1.5"], ["-n", "64"]):
        s = Server(["-e", path, "-m", "32"] + flag)
        check(s.client().stats().get("restart_mode") == "cold", "cold after %s" % flag[0])
        s.stop(signal.SIGTERM)


# --- kill -9 under load -------------------------------------------------------

NKEYS = 4000


class Writer(threading.Thread):
    """Owns the keys i % nthreads == idx; remembers for each the value last
    acknowledged (None: deleted or never stored) and the one in flight."""

    def __init__(self, port, idx, nthreads):
        super().__init__(daemon=True)
        self.c = Client(port)
        self.keys = ["w%d" % i for i in range(idx, NKEYS, nthreads)]
        self.acked = {}
        self.flight = None
        self.ops = 0
        self.rng = random.Random(idx)

    def op(self, key):
        r = self.rng.random()
        old = self.acked.get(key)
        ver = self.ops
        if key.endswith("7"):  # counters
            if old is None or r < 0.1:
                new = b"%d" % self.rng.randint(0, 10**6)
                self.flight = (key, new)
                ok = self.c.store("set", key, new, flags=7) == b"STORED"
            else:
                new = b"%d" % (int(old) + 3)
                self.flight = (key, new)
                rep = self.c.cmd("incr %s 3" % key)
                ok = rep == new
                check(ok or rep == b"NOT_FOUND", "incr reply %r" % rep)
                if not ok:
                    new = None
        elif r < 0.6 or old is None:
            new = value_for(key, ver, self.rng.choice([10, 200, 1500, 6000, 30000]))
            self.flight = (key, new)
            ok = self.c.store("set", key, new, flags=ver % 1000) == b"STORED"
        elif r < 0.8 and len(old) < 60000:
            add = value_for(key, ver, 50)
            new = old + add
            self.flight = (key, new)
            ok = self.c.store("append", key, add) == b"STORED"
        else:
            new = None
            self.flight = (key, None)
            ok = self.c.cmd("delete " + key) == b"DELETED"
        if ok or new is None:
            self.acked[key] = new
        self.flight = None
        self.ops += 1

    def run(self):
        try:
            while True:
                self.op(self.rng.choice(self.keys))
        except (OSError, ConnectionError, ValueError):
            pass  # the server died under us


def test_kill9():
    path = mfile("kill9")
    s = Server(["-e", path, "-m", "128"])
    writers = [Writer(s.port, i, 8) for i in range(8)]
    for w in writers:
        w.start()
    deadline = time.time() + WAIT
    while sum(w.ops for w in writers) < 40000 and time.time() < deadline:
        time.sleep(0.05)
    # Writes caught halfway for sure: values the server has started to
    # receive (`stats conns` shows them in conn_nread) when it dies.  Two
    # are new keys, two replace an acknowledged value.
    partial = {}
    for i in range(4):
        pc = Client(s.port)
        key = "p%d" % i
        if i >= 2:
            old = value_for(key, 0, 3000)
            check(pc.store("set", key, old) == b"STORED", "set " + key)
            partial[key] = old
        else:
            partial[key] = None
        half = value_for(key, 1, 30000)[:15000]
        pc.s.sendall(b"set %s 0 0 30000\r\n" % key.encode() + half)
        partial[key + "#conn"] = pc
    mon = Client(s.port)
    deadline = time.time() + WAIT
    while time.time() < deadline:
        nread = sum(v == "conn_nread" for k, v in mon.stats("conns").items() if k.endswith("state"))
        if nread >= 4:
            break
        time.sleep(0.02)
    check(nread >= 4, "four writes halfway when killed (%d)" % nread)
    total_ops = sum(w.ops for w in writers)
    s.proc.send_signal(signal.SIGKILL)
    s.wait_exit()
    for w in writers:
        w.join(WAIT)
    check(total_ops >= 40000, "load ran (%d ops)" % total_ops)
    check(not os.path.exists(path + ".meta"), "no clean-stop record after kill -9")

    t0 = time.time()
    s = Server(["-e", path, "-m", "128"])
    started = time.time() - t0
    c = s.client()
    st = c.stats()
    check(st.get("restart_mode") == "recovered", "recovered after kill -9")
    torn = stale = present = survived = flight_seen = 0
    for w in writers:
        for key in w.keys:
            want = w.acked.get(key)
            got = c.gets(key)
            inflight = w.flight[1] if w.flight and w.flight[0] == key else "none"
            if want is not None:
                present += 1
            if got is None:
                survived += want is None
                continue
            val, flags = got[0], got[1]
            if val == want:
                survived += 1
            elif val == inflight:
                flight_seen += 1
            else:
                torn += 1
                if torn < 5:
                    print("kill9: %s: got %r... want %r..." % (key, val[:40],
                                                           (want or b"(none)")[:40]))
    for i in range(4):
        key = "p%d" % i
        got = c.gets(key)
        if not check((got[0] if got else None) == partial[key],
                     "kill9: %s half-written: served %r" % (key, got and got[0][:30])):
            torn += 1
    check(torn == 0, "kill9: %d items served with a value never stored" % torn)
    frac = survived / float(len([k for w in writers for k in w.keys]))
    print("kill9: %d ops, %d keys, %d live before the kill; after restart %.2f%% byte-exact "
          "as last acknowledged, %d in-flight writes, %d bad; restored %s, dropped %s "
          "(scan %ss, start %.2fs)" % (total_ops, NKEYS, present, frac * 100, flight_seen, torn,
                                       st.get("restart_items_restored"),
                                       st.get("restart_items_dropped"),
                                       st.get("restart_scan_seconds"), started))
    check(frac >= 0.95, "kill9: most items survive (%.3f)" % frac)
    # the recovered cache takes writes and survives another crash
    check(c.store("set", "after", b"crash") == b"STORED", "writes after recovery")
    s.proc.send_signal(signal.SIGKILL)
    s.wait_exit()
    s = Server(["-e", path, "-m", "128"])
    check(s.client().gets("after")[0] == b"crash", "second recovery")
    s.stop(signal.SIGTERM)


def test_flush():
    path = mfile("flush")
    s = Server(["-e", path])
    c = s.client()
    c.store("set", "old", b"x")
    check(c.cmd("flush_all 2") == b"OK", "delayed flush_all")
    t = time.time()
    s.proc.send_signal(signal.SIGKILL)
    s.wait_exit()
    while time.time() < t + 3.5:
        time.sleep(0.2)
    s = Server(["-e", path])
    check(s.client().gets("old") is None, "delayed flush fires after a crash")
    s.stop(signal.SIGTERM)

    # An immediate flush_all is lazy without -e (items die by a threshold);
    # with -e they must be gone from the file too, or a crash brings them back.
    path = mfile("flush-now")
    s = Server(["-e", path])
    c = s.client()
    c.store("set", "gone", b"x")
    check(c.cmd("flush_all") == b"OK", "flush_all")
    c.store("set", "kept", b"y")
    s.proc.send_signal(signal.SIGKILL)
    s.wait_exit()
    s = Server(["-e", path])
    c = s.client()
    check(c.gets("gone") is None, "a flushed item does not come back after a crash")
    check(c.gets("kept") is not None and c.gets("kept")[0] == b"y", "a later store does")
    s.stop(signal.SIGTERM)


# --- damaged files ---------------------------------------------------------------

def fresh_file(name, n=500):
    path = mfile(name)
    s = Server(["-e", path])
    c = s.client()
    for i in range(n):
        c.store("set", "d%d" % i, value_for("d%d" % i, 0, 100 + i))
    s.stop(signal.SIGTERM)
    os.unlink(path + ".meta")
    return path


def start_check(path, label, want_mode=None, exact=True):
    s = Server(["-e", path])
    c = s.client()
    st = c.stats()
    if want_mode:
        check(st.get("restart_mode") == want_mode, "%s: mode %s" % (label, st.get("restart_mode")))
    bad = 0
    for i in range(500):
        got = c.gets("d%d" % i)
        bad += got is not None and got[0] != value_for("d%d" % i, 0, 100 + i)
    check(bad == 0 or not exact, "%s: %d wrong values served" % (label, bad))
    check(c.store("set", "z", b"1") == b"STORED", "%s: serves" % label)
    check(s.stop(signal.SIGTERM) == 0, "%s: clean exit" % label)
    return s


def test_damaged():
    path = fresh_file("trunc")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    s = start_check(path, "truncated", "cold")
    check("truncated" in s.logtext(), "truncated: log says so")

    path = fresh_file("garbage")
    size = os.path.getsize(path)
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    start_check(path, "garbage", "cold")

    # a valid header over scribbled frames: nothing crashes.  Bytes changed
    # inside a value are not detected (no per-item checksum: see README),
    # so only the survival of the server is checked here.
    path = fresh_file("halfgarbage")
    rng = random.Random(5)
    with open(path, "r+b") as f:
        for _ in range(2000):
            f.seek(rng.randrange(4096, os.path.getsize(path) - 64))
            f.write(bytes(rng.randrange(256) for _ in range(rng.choice([1, 8, 64]))))
    start_check(path, "scribbled", exact=False)

    # ... and with the frame table all garbage
    path = fresh_file("badtable")
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(os.urandom(2048))
    start_check(path, "bad frame table")

    path = fresh_file("meta")
    open(path + ".meta", "w").close()
    s = Server(["-e", path], expect_fail=True)
    check(s.wait_exit() not in (0, None), "an empty FILE.meta refuses the start")
    check("remove it to start" in s.logtext(), "refusal says what to do")
    os.unlink(path + ".meta")

    s1 = Server(["-e", path])
    s2 = Server(["-e", path], expect_fail=True)
    check(s2.wait_exit() not in (0, None), "a file in use refuses a second server")
    check("in use" in s2.logtext(), "refusal says the file is in use")
    s1.stop(signal.SIGTERM)
    print("damaged: truncated, garbage, scribbled, bad table, bad meta, in use: ok")


def main():
    only = sys.argv[2:]
    for name, fn in [("graceful", test_graceful), ("kill9", test_kill9), ("flush", test_flush),
                     ("damaged", test_damaged)]:
        if not only or name in only:
            fn()
    subprocess.call(["rm", "-rf", TMP])
    if failures:
        print("restart: %d failures" % len(failures))
        sys.exit(1)
    print("restart: ok")


main()
