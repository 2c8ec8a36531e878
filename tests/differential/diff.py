#!/usr/bin/env python3
"""Differential test: the same command scripts sent to Larder and to memcached
must get the same bytes back.

Each *.txt script in this folder is sent as-is (lines end in \\r\\n after
loading; a line "<<BINARY n>>" stands for n bytes of generated data) on one
connection to each server.  Replies are read until the server closes (a
script that ends with quit) or has answered a sentinel request appended to
the script, never until a pause, which a loaded machine makes anyway.
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
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
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


# Appended to a script that does not end with quit: the reply to it marks
# the end of the replies, so reading waits for that instead of for a pause
# (a loaded machine pauses).  Stripped before comparing.
SENTINEL = b"ms diff:end 2 T0\r\nok\r\nmg diff:end k v\r\n"
SENTINEL_REPLY = b"HD\r\nVA 2 kdiff:end\r\nok\r\n"
# Only a hang waits this long.
WAIT_S = 60


def exchange(port, data):
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    ends_with_quit = data.rstrip().endswith(b"quit")
    s.sendall(data if ends_with_quit else data + SENTINEL)
    got = bytearray()
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if not ends_with_quit and got.endswith(SENTINEL_REPLY):
            del got[-len(SENTINEL_REPLY):]
            break
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
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
                proc.wait(timeout=WAIT_S)
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
