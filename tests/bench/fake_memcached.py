#!/usr/bin/env python3
"""A stand-in for a broken server, for tests of bench/memfit.py: it takes
memcached's command line (-p PORT -l ADDR, the rest ignored), answers
version, stats, flush_all and set as memcached would, but every get
returns a value of the length that was set and bytes that were not: a
benchmark that trusts replies would count them as hits."""

import socket
import sys
import threading


def port_and_address(argv):
    port, addr = 11211, "127.0.0.1"
    for i, a in enumerate(argv[:-1]):
        if a == "-p":
            port = int(argv[i + 1])
        elif a == "-l":
            addr = argv[i + 1]
    return addr, port


class Fake:
    def __init__(self):
        self.sizes = {}
        self.lock = threading.Lock()

    def reply(self, words, value):
        cmd = words[0] if words else b""
        if cmd == b"set":
            with self.lock:
                self.sizes[words[1]] = len(value)
            return b"STORED\r\n"
        if cmd == b"get":
            with self.lock:
                hits = [(k, self.sizes[k]) for k in words[1:] if k in self.sizes]
            return b"".join(b"VALUE %s 0 %d\r\n%s\r\n" % (k, n, b"x" * n) for k, n in hits) + b"END\r\n"
        if cmd == b"version":
            return b"VERSION 0.0-fake\r\n"
        if cmd == b"stats":
            with self.lock:
                n = len(self.sizes)
            return b"STAT curr_items %d\r\nSTAT evictions 0\r\nEND\r\n" % n
        if cmd == b"flush_all":
            with self.lock:
                self.sizes.clear()
            return b"OK\r\n"
        return b"ERROR\r\n"

    def serve(self, conn):
        buf = b""
        with conn:
            while True:
                while b"\r\n" in buf:
                    line, rest = buf.split(b"\r\n", 1)
                    words = line.split()
                    value = b""
                    if words and words[0] == b"set":
                        size = int(words[4])
                        if len(rest) < size + 2:
                            break
                        value, rest = rest[:size], rest[size + 2:]
                    conn.sendall(self.reply(words, value))
                    buf = rest
                try:
                    chunk = conn.recv(1 << 20)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk


def main():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(port_and_address(sys.argv[1:]))
    sock.listen(64)
    fake = Fake()
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=fake.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
