#!/usr/bin/env python3
"""Instructions per request of a server running under callgrind; see
bench/callgrind.sh, which starts the server.

One TCP connection for the whole run, text protocol, DEPTH requests written
at once and all their replies read before the next batch.  Keys are KEYLEN
bytes, values VALLEN bytes; the key sequence comes from a seeded generator,
so two runs (or two servers) see the same requests.  For each mode the
counters are zeroed, SHORT requests are sent and dumped, LONG requests are
sent and dumped: (Ir(LONG) - Ir(SHORT)) / (LONG - SHORT) leaves out what does
not grow with the request count.

    cg_client.py PORT VGPID OUTFILE [--modes get,miss,set] [--depth D] [--keys N]
"""
import argparse
import glob
import os
import random
import socket
import subprocess
import sys
import time

KEYLEN = 32
VALLEN = 100
VALUE = b"v" * VALLEN


def key(i, miss=False):
    prefix = b"miss:" if miss else b"key:"
    return prefix + str(i).zfill(KEYLEN - len(prefix)).encode()


def request(mode, i):
    if mode == "set" or mode == "prefill":
        return b"set %s 0 0 %d noreply\r\n" % (key(i), VALLEN) + VALUE + b"\r\n" if mode == "prefill" \
            else b"set %s 0 0 %d\r\n" % (key(i), VALLEN) + VALUE + b"\r\n"
    return b"get %s\r\n" % key(i, miss=(mode == "miss"))


# Each reply ends with exactly one of these (values are all "v").
END = {"get": b"END\r\n", "miss": b"END\r\n", "set": b"STORED\r\n"}


def read_replies(sock, buf, mode, n):
    end = END[mode]
    while buf.count(end) < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            sys.exit("server closed the connection")
        buf += chunk
    if mode == "get" and buf.count(b"VALUE ") != n:
        sys.exit("get: expected %d hits, reply %r..." % (n, buf[:80]))
    if mode == "miss" and b"VALUE " in buf:
        sys.exit("miss: a key was found")
    return bytearray()


def run(sock, mode, count, depth, nkeys, rng):
    buf = bytearray()
    done = 0
    while done < count:
        n = min(depth, count - done)
        sock.sendall(b"".join(request(mode, rng.randrange(nkeys)) for _ in range(n)))
        buf = read_replies(sock, buf, mode, n)
        done += n


def prefill(sock, nkeys):
    # noreply sets in large writes, then one get to know they were all read
    for start in range(0, nkeys, 500):
        sock.sendall(b"".join(request("prefill", i) for i in range(start, min(nkeys, start + 500))))
    sock.sendall(b"get %s\r\n" % key(nkeys - 1))
    read_replies(sock, bytearray(), "get", 1)


def settle(sock):
    """Waits for the hash tables to finish growing: a rehash under way moves
    a bucket per request, which would be counted against the requests.
    Both servers report it in stats as hash_is_expanding."""
    for _ in range(1200):
        sock.sendall(b"stats\r\n")
        buf = bytearray()
        while not buf.endswith(b"END\r\n"):
            chunk = sock.recv(1 << 16)
            if not chunk:
                sys.exit("server closed the connection")
            buf += chunk
        if b"STAT hash_is_expanding 1\r\n" not in buf:
            return
        time.sleep(0.1)
    sys.exit("the hash table never stopped growing")


def callgrind(pid, flag):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def dump_ir(pid, outfile, seen):
    """Dumps the counters (which zeroes them); returns the dump's totals by event."""
    callgrind(pid, "-d")
    for _ in range(200):
        new = sorted(set(glob.glob(outfile + ".*")) - seen, key=os.path.getmtime)
        if new:
            break
        time.sleep(0.05)
    else:
        sys.exit("callgrind wrote no dump")
    seen.add(new[0])
    for _ in range(200):
        events = None
        with open(new[0]) as f:
            for line in f:
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith(("summary:", "totals:")) and events:
                    return dict(zip(events, map(int, line.split()[1:])))
        time.sleep(0.05)  # still being written
    sys.exit("no totals in " + new[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pid", type=int, help="pid of the valgrind process")
    ap.add_argument("outfile", help="the server's --callgrind-out-file")
    ap.add_argument("--modes", default="get,miss,set")
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--short", type=int, default=5000)
    ap.add_argument("--long", type=int, default=15000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    sock = socket.create_connection(("127.0.0.1", a.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    prefill(sock, a.keys)
    settle(sock)
    seen = set(glob.glob(a.outfile + ".*"))
    rng = random.Random(a.seed)
    for mode in a.modes.split(","):
        run(sock, mode, 1000, a.depth, a.keys, rng)  # warm: code paths, buffers
        callgrind(a.pid, "-z")
        run(sock, mode, a.short, a.depth, a.keys, rng)
        short = dump_ir(a.pid, a.outfile, seen)
        run(sock, mode, a.long, a.depth, a.keys, rng)
        long = dump_ir(a.pid, a.outfile, seen)
        n = a.long - a.short
        line = "%s depth=%d Ir_short=%d Ir_long=%d Ir_per_request=%.1f" % (
            mode, a.depth, short["Ir"], long["Ir"], (long["Ir"] - short["Ir"]) / n)
        # with --cache-sim=yes: simulated data-read misses, first level and last level
        for ev in ("D1mr", "DLmr"):
            if ev in long:
                line += " %s_per_request=%.3f" % (ev, (long[ev] - short[ev]) / n)
        print(line, flush=True)
    sock.close()


if __name__ == "__main__":
    main()
