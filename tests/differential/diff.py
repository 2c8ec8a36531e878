#!/usr/bin/env python3
"""Differential test: the same command scripts sent to Larder and to memcached
must get the same bytes back.

Each *.txt script in this folder is sent as-is (lines end in \\r\\n after
loading; a line "<<BINARY n>>" stands for n bytes of generated data) on one
connection to each server.  Replies are read until the server goes quiet.
What is inherently different is normalised first: cas unique numbers, and
the version string.

Usage: diff.py LARDER_BIN [MEMCACHED_BIN]
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary, extra):
    port = free_port()
    args = [binary, "-p", str(port), "-U", "0", "-l", "127.0.0.1", "-t", "2"] + extra
    if os.geteuid() == 0:
        args += ["-u", "root"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{binary} did not start")


def load_script(path):
    out = bytearray()
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            line = raw.rstrip(b"\r")
            if line.startswith(b"#") or (not line and not raw):
                continue
            m = re.fullmatch(rb"<<BINARY (\d+)>>", line)
            if m:
                n = int(m.group(1))
                out += bytes((i * 31 + 7) % 256 for i in range(n)) + b"\r\n"
            elif line == b"<<NOCRLF>>":
                continue
            else:
                out += line + b"\r\n"
    return bytes(out)


def exchange(port, data):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.settimeout(0.5)
    got = bytearray()
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    s.close()
    return bytes(got)


def normalise(reply):
    reply = re.sub(rb"(VALUE \S+ \d+ \d+) \d+\r\n", rb"\1 <cas>\r\n", reply)
    reply = re.sub(rb"VERSION [^\r]*", b"VERSION <v>", reply)
    reply = re.sub(rb"( c)\d+", rb"\1<cas>", reply)
    return reply


def print_first_difference(larder, memcached):
    """Prints the first reply line where the two servers differ."""
    a, b = larder.split(b"\r\n"), memcached.split(b"\r\n")
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else b"<none>"
        y = b[i] if i < len(b) else b"<none>"
        if x != y:
            print(f"  line {i}: larder {x[:120]!r}  memcached {y[:120]!r}")
            return


def main():
    larder = sys.argv[1]
    memcached = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/memcached"
    scripts = sorted(f for f in os.listdir(HERE) if f.endswith(".txt"))
    failed = 0
    for name in scripts:
        data = load_script(os.path.join(HERE, name))
        replies = []
        for binary in (larder, memcached):
            proc, port = start(binary, [])
            try:
                replies.append(normalise(exchange(port, data)))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=10)
        if replies[0] == replies[1]:
            print(f"ok   {name} ({len(replies[0])} reply bytes identical)")
        else:
            failed += 1
            print(f"FAIL {name}")
            print_first_difference(replies[0], replies[1])
    print(f"differential: {len(scripts) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
