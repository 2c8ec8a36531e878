#!/usr/bin/env python3
"""The long versions of issue 12's attacks, against any memcached-compatible
server binary: RSS before and after (from /proc), whether a fresh client is
still served, and whether keys stored before survive.  Prints one line per
case; run it for Larder and for memcached to compare (make budget-long).

    budget_long.py BINARY [case ...]      cases: uploads gets lines dumps

Waits are for conditions (the server's counters settling), capped.
"""
import os
import resource
import socket
import subprocess
import sys
import time

BIN = sys.argv[1]
CASES = sys.argv[2:] or ["uploads", "gets", "lines", "dumps", "detail"]
CAP = float(os.environ.get("LARDER_TEST_WAIT", "60"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, args):
        self.port = free_port()
        cmd = [BIN, "-p", str(self.port), "-U", "0", "-l", "127.0.0.1", "-c", "4096"] + args
        if os.getuid() == 0:
            cmd += ["-u", "root"]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        deadline = time.time() + CAP
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def stats(self):
        c = socket.create_connection(("127.0.0.1", self.port), timeout=CAP)
        c.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            buf += c.recv(65536)
        c.close()
        out = {}
        for line in buf.decode().split("\r\n"):
            parts = line.split(" ")
            if len(parts) == 3:
                out[parts[1]] = parts[2]
        return out

    def settle(self, name):
        """Waits until a counter stops moving for a second."""
        last, since, deadline = None, time.time(), time.time() + CAP
        while time.time() < deadline:
            v = self.stats().get(name)
            if v != last:
                last, since = v, time.time()
            elif time.time() - since >= 1.0:
                return
            time.sleep(0.1)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def connect(srv, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", srv.port))
    s.setblocking(False)
    return s


def send_some(s, data):
    try:
        return s.send(data)
    except OSError:
        return 0


def request(srv, data, until=b"\r\n"):
    c = socket.create_connection(("127.0.0.1", srv.port), timeout=CAP)
    c.sendall(data)
    buf = b""
    while not buf.endswith(until):
        chunk = c.recv(1 << 20)
        if not chunk:
            break
        buf += chunk
    c.close()
    return buf


def served(srv):
    try:
        return request(srv, b"set probe 0 0 2\r\nok\r\nget probe\r\n", b"END\r\n") == \
            b"STORED\r\nVALUE probe 0 2\r\nok\r\nEND\r\n"
    except OSError:
        return False


def case_uploads():
    """64 clients start 1,048,000-byte values and send 1 KB of each."""
    srv = Server(["-m", "64", "-t", "4"])
    for i in range(200):
        request(srv, b"set old:%d 0 0 1000\r\n%s\r\n" % (i, b"o" * 1000))
    rss0 = srv.rss_kb()
    slow = []
    for i in range(64):
        s = connect(srv)
        send_some(s, b"set t%d 0 0 1048000\r\n" % i + b"u" * 1024)
        slow.append(s)
    time.sleep(0.5)
    srv.settle("bytes_read")
    stored = sum(request(srv, b"set new:%d 0 0 10\r\n0123456789\r\n" % i) == b"STORED\r\n"
                 for i in range(200))
    kept = sum(request(srv, b"get old:%d\r\n" % i, b"END\r\n").startswith(b"VALUE")
               for i in range(200))
    rss1 = srv.rss_kb()
    print("uploads: 64 unfinished 1 MB values, -m 64: new 10-byte stores %d/200 STORED, "
          "old keys kept %d/200, RSS %d -> %d kB, served %s" % (stored, kept, rss0, rss1, served(srv)))
    for s in slow:
        s.close()
    srv.stop()


def case_gets(n=1000):
    """n clients with a 4 KB receive buffer pipeline gets of a 1 MB value, never read."""
    srv = Server(["-m", "64", "-t", "4"])
    request(srv, b"set big 0 0 1000000\r\n" + b"b" * 1000000 + b"\r\n")
    rss0 = srv.rss_kb()
    req = b"get big big big big\r\n" * 50
    socks = []
    for _ in range(n):
        s = connect(srv, 4096)
        send_some(s, req)
        socks.append(s)
    srv.settle("bytes_written")
    rss1 = srv.rss_kb()
    print("gets: %d clients pipelining 'get big big big big' (1 MB value), never reading: "
          "RSS %d -> %d kB, served %s" % (n, rss0, rss1, served(srv)))
    for s in socks:
        s.close()
    srv.stop()


def case_lines(n=1000):
    """n clients send 'get ' and 1 MB of key bytes with no newline."""
    srv = Server(["-m", "64", "-t", "4"])
    rss0 = srv.rss_kb()
    line = b"get " + b"k" * (1 << 20)
    socks = [[connect(srv), 0] for _ in range(n)]
    deadline = time.time() + CAP
    while time.time() < deadline and any(o < len(line) for _, o in socks):
        for entry in socks:
            if entry[1] < len(line):
                sent = send_some(entry[0], line[entry[1]:entry[1] + 65536])
                entry[1] = entry[1] + sent if sent > 0 else len(line)
    srv.settle("bytes_read")
    rss1 = srv.rss_kb()
    print("lines: %d clients sending 1 MB lines without a newline: RSS %d -> %d kB, served %s"
          % (n, rss0, rss1, served(srv)))
    for s, _ in socks:
        s.close()
    srv.stop()


def case_dumps():
    """50 clients ask for lru_crawler metadump all over 40k keys and never read."""
    srv = Server(["-m", "64", "-t", "4"])
    batch = b"".join(b"set dump:%0100d 0 0 1 noreply\r\nx\r\n" % i for i in range(40000))
    request(srv, batch + b"mn\r\n", b"MN\r\n")
    rss0 = srv.rss_kb()
    socks = []
    for _ in range(50):
        s = connect(srv, 4096)
        send_some(s, b"lru_crawler metadump all\r\n")
        socks.append(s)
    srv.settle("bytes_written")
    rss1 = srv.rss_kb()
    print("dumps: 50 clients dumping 40k keys, never reading: RSS %d -> %d kB, served %s"
          % (rss0, rss1, served(srv)))
    for s in socks:
        s.close()
    srv.stop()


def case_detail():
    """200 clients pipeline 'stats detail dump' over 4,000 prefixes and never read."""
    srv = Server(["-m", "64", "-t", "4"])
    request(srv, b"stats detail on\r\n")
    batch = b"".join(b"set p%d:k 0 0 1 noreply\r\nx\r\n" % i for i in range(4000))
    request(srv, batch + b"version\r\n")
    rss0 = srv.rss_kb()
    socks = []
    for _ in range(200):
        s = connect(srv, 4096)
        send_some(s, b"stats detail dump\r\n" * 20)
        socks.append(s)
    srv.settle("bytes_written")
    rss1 = srv.rss_kb()
    print("detail: 200 clients pipelining 'stats detail dump' (4,000 prefixes), never reading: "
          "RSS %d -> %d kB, served %s" % (rss0, rss1, served(srv)))
    for s in socks:
        s.close()
    srv.stop()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    print("server: %s" % BIN)
    for name in CASES:
        {"uploads": case_uploads, "gets": case_gets, "lines": case_lines,
         "dumps": case_dumps, "detail": case_detail}[name]()


main()
