#!/usr/bin/env python3
"""Integration tests for the benchmark tools against real servers.

larder-load runs for a few seconds against memcached and, when LARDER_BIN
exists, against Larder, each on a free loopback port; every run must report
no error, and the server's own counters (cmd_get, cmd_set, get_hits) must
move by exactly what the generator counted.  larder-stat is run for two
intervals against a loaded server and its table, CSV and plot are checked.
The generator's error detection itself is checked against a fake server
that answers with wrong values.

No assertion is about speed: figures belong in `make bench`'s report.
Servers are stopped on exit, on signals, and if this process is killed
(see bench/serverctl.py).  Environment: LARDER_BIN, LARDER_LOAD, MEMCACHED_BIN.
"""

import csv
import os
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import serverctl  # noqa: E402

LOAD = os.environ.get("LARDER_LOAD", os.path.join(ROOT, "build", "bench", "larder-load"))
STAT = os.path.join(ROOT, "bench", "larder-stat")
LARDER = os.environ.get("LARDER_BIN", os.path.join(ROOT, "build", "larder"))
MEMCACHED = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
COUNTERS = ("cmd_get", "cmd_set", "get_hits")


def run_load(server, *args, timeout=300):
    """Runs larder-load against server; returns (exit status, RESULT dict, output)."""
    argv = [LOAD, "-s", server.address, "--kv", "-q", "-T", "2", "-c", "8"] + list(args)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    result = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
    return proc.returncode, result, proc.stdout + proc.stderr


def counters(server):
    stats = server.stats()
    return {k: int(stats[k]) for k in COUNTERS}


class ServerTests:
    """Tests every server must pass; subclasses say which binary."""

    BINARY = None
    MEMORY_MB = 64

    @classmethod
    def setUpClass(cls):
        cls.server = serverctl.Server(cls.BINARY, threads=2, memory_mb=cls.MEMORY_MB).start()

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        if status is not None:
            raise AssertionError("%s had exited (status %s) before the end" % (cls.BINARY, status))

    def setUp(self):
        # Each test sets its own value sizes: values left by another test
        # would rightly be reported as wrong.
        self.assertEqual(self.server.command("flush_all").strip(), "OK")

    def load_and_compare(self, *args):
        """Runs the generator; checks it saw no error and that the server's
        counters moved exactly as much as the generator counted."""
        before = counters(self.server)
        status, result, output = run_load(self.server, *args)
        after = counters(self.server)
        self.assertTrue(result, "no RESULT line:\n" + output)
        self.assertEqual(result["errors"], 0, output)
        self.assertEqual(status, 0, output)
        self.assertTrue(self.server.alive(), "server died during the load")
        self.assertEqual(after["cmd_get"] - before["cmd_get"], result["all_gets"], output)
        self.assertEqual(after["cmd_set"] - before["cmd_set"], result["all_sets"], output)
        self.assertEqual(after["get_hits"] - before["get_hits"], result["all_hits"], output)
        return result

    def test_classic_mixed_pipelined(self):
        r = self.load_and_compare("-d", "3", "-P", "-k", "20000", "-V", "50-500", "-p", "4")
        self.assertGreater(r["gets"], 0)
        self.assertGreater(r["sets"], 0)
        self.assertEqual(r["hit_ratio"], 1.0, "every key was prefilled and fits in memory")

    def test_classic_multiget_zipf_with_misses(self):
        # No prefill: early gets miss until sets have written the keys.
        r = self.load_and_compare("-d", "2", "-k", "50000", "-b", "10", "-p", "2", "-r", "1:1",
                                  "-D", "zipf:0.9", "-V", "100:3,2000:1")
        self.assertGreater(r["hits"], 0)
        self.assertLess(r["hits"], r["gets"])

    def test_classic_scan_after_prefill(self):
        r = self.load_and_compare("-d", "0", "-P", "-S", "-k", "30000", "-V", "200")
        self.assertEqual(r["prefill_sets"], 30000)
        self.assertEqual(r["scan_gets"], 30000)
        self.assertEqual(r["scan_hits"], 30000)

    def test_meta_commands(self):
        r = self.load_and_compare("-d", "2", "-P", "-k", "20000", "-m", "-p", "8")
        self.assertEqual(r["hit_ratio"], 1.0)

    def test_meta_multiget(self):
        r = self.load_and_compare("-d", "2", "-k", "20000", "-m", "-b", "8", "-r", "1:1")
        self.assertGreater(r["hits"], 0)

    def test_log_uniform_sizes_fixed_per_key(self):
        # Sets of the same key race from 8 connections; with sizes fixed per
        # key every get is checked for the exact length written.  A server of
        # its own: memcached's flush_all leaves the pages of these large
        # classes assigned, which would starve the next test's small values.
        server = serverctl.Server(self.BINARY, threads=2, memory_mb=self.MEMORY_MB).start()
        try:
            status, r, output = run_load(server, "-d", "2", "-P", "-S", "-k", "5000", "-r", "1:1",
                                         "-V", "log:1-100000", "--key-sizes")
            self.assertEqual(r.get("errors"), 0, output)
            self.assertEqual(status, 0, output)
            self.assertGreater(r["hits"], 0)
            self.assertGreater(r["scan_hits"], 0)
        finally:
            self.assertIsNone(server.stop(), "server exited during the test")

    def test_larder_stat_two_intervals(self):
        with tempfile.TemporaryDirectory() as tmp:
            csv_path = os.path.join(tmp, "stat.csv")
            load = subprocess.Popen([LOAD, "-s", self.server.address, "-d", "4", "-q", "-c", "4",
                                     "-k", "10000"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                stat = subprocess.run([sys.executable, STAT, self.server.address, "-i", "1",
                                       "-n", "2", "--csv", csv_path],
                                      capture_output=True, text=True, timeout=300)
            finally:
                load.wait(timeout=300)
            self.assertEqual(stat.returncode, 0, stat.stderr)
            lines = stat.stdout.splitlines()
            self.assertIn("gets/s", lines[0])
            rows = [l for l in lines[1:] if self.server.address in l]
            self.assertEqual(len(rows), 3, stat.stdout)
            self.assertTrue(rows[-1].startswith("Average:"), stat.stdout)
            with open(csv_path, newline="") as f:
                data = list(csv.DictReader(f))
            self.assertEqual(len(data), 2)
            for row in data:
                self.assertEqual(row["server"], self.server.address)
                self.assertGreater(float(row["gets_per_s"]), 0, "load was running")
                self.assertGreaterEqual(float(row["hit_pct"]), 0)
                self.assertLessEqual(float(row["hit_pct"]), 100)
                self.assertEqual(int(row["limit_maxbytes"]), self.MEMORY_MB * 1024 * 1024)
                self.assertGreater(int(row["connections"]), 0)
                self.assertGreaterEqual(int(row["items"]), 0)
            png = os.path.join(tmp, "stat.png")
            plot = subprocess.run([sys.executable, STAT, "--plot", csv_path, "-o", png],
                                  capture_output=True, text=True, timeout=300)
            self.assertEqual(plot.returncode, 0, plot.stderr)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


class MemcachedTests(ServerTests, unittest.TestCase):
    BINARY = MEMCACHED


@unittest.skipUnless(os.access(LARDER, os.X_OK), "no Larder binary at %s" % LARDER)
class LarderTests(ServerTests, unittest.TestCase):
    BINARY = LARDER


class EvictionTests:
    """Filling 4x a small memory limit: values that come back must still be
    right, and misses are misses, not errors."""

    BINARY = None

    def test_fill_past_the_limit(self):
        server = serverctl.Server(self.BINARY, threads=2, memory_mb=8).start()
        try:
            before = counters(server)
            status, r, output = run_load(server, "-d", "0", "-P", "-S", "-k", "300000",
                                         "-V", "100")
            after = counters(server)
            self.assertEqual(r.get("errors"), 0, output)
            self.assertEqual(status, 0, output)
            self.assertGreater(r["scan_hits"], 0)
            self.assertLess(r["scan_hits"], 300000, "300000 x 100 B cannot fit in 8 MB")
            self.assertEqual(after["get_hits"] - before["get_hits"], r["all_hits"])
            self.assertGreater(int(server.stats().get("evictions", 0)), 0)
        finally:
            self.assertIsNone(server.stop(), "server exited during the test")


class MemcachedEvictionTests(EvictionTests, unittest.TestCase):
    BINARY = MEMCACHED


@unittest.skipUnless(os.access(LARDER, os.X_OK), "no Larder binary at %s" % LARDER)
class LarderEvictionTests(EvictionTests, unittest.TestCase):
    BINARY = LARDER


class FakeServer:
    """Answers every get with a value that is not the key's, and every set
    with STORED: a generator that trusts replies would see nothing wrong."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((serverctl.LOOPBACK, 0))
        self.sock.listen(64)
        self.address = "%s:%d" % self.sock.getsockname()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        buf = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                buf = self.answer(conn, buf)

    @staticmethod
    def answer(conn, buf):
        while b"\r\n" in buf:
            line, rest = buf.split(b"\r\n", 1)
            words = line.split()
            if words and words[0] == b"set":
                size = int(words[4])
                if len(rest) < size + 2:
                    return buf
                rest = rest[size + 2:]
                conn.sendall(b"STORED\r\n")
            elif words and words[0] == b"get":
                out = b"".join(b"VALUE %s 0 100\r\n%s\r\n" % (k, b"x" * 100) for k in words[1:])
                conn.sendall(out + b"END\r\n")
            buf = rest
        return buf

    def close(self):
        self.sock.close()


class TruncatingServer(FakeServer):
    """Keeps what is set, but returns values longer than 50 bytes one byte
    short: still the key's own bytes, and of a size -V 50-500 allows."""

    def __init__(self):
        self.values = {}
        super().__init__()

    def answer(self, conn, buf):
        while b"\r\n" in buf:
            line, rest = buf.split(b"\r\n", 1)
            words = line.split()
            if words and words[0] == b"set":
                size = int(words[4])
                if len(rest) < size + 2:
                    return buf
                value, rest = rest[:size], rest[size + 2:]
                self.values[words[1]] = value[:-1] if size > 50 else value
                conn.sendall(b"STORED\r\n")
            elif words and words[0] == b"get":
                out = b"".join(b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(self.values[k]), self.values[k])
                               for k in words[1:] if k in self.values)
                conn.sendall(out + b"END\r\n")
            buf = rest
        return buf


class RefusingServer(FakeServer):
    """Refuses every set the way memcached refuses a large value it has no
    room for."""

    @staticmethod
    def answer(conn, buf):
        while b"\r\n" in buf:
            line, rest = buf.split(b"\r\n", 1)
            words = line.split()
            if words and words[0] == b"set":
                size = int(words[4])
                if len(rest) < size + 2:
                    return buf
                rest = rest[size + 2:]
                conn.sendall(b"SERVER_ERROR Out of memory during read\r\n")
            elif words and words[0] == b"get":
                conn.sendall(b"END\r\n")
            buf = rest
        return buf


def fields_of(stdout):
    result = [l for l in stdout.splitlines() if l.startswith("RESULT")][0]
    return dict(kv.split("=") for kv in result.split()[1:])


class GeneratorChecksTests(unittest.TestCase):
    def test_a_value_cut_short_is_wrong_when_sizes_are_fixed_per_key(self):
        fake = TruncatingServer()
        try:
            argv = [LOAD, "-s", fake.address, "-d", "0", "-c", "2", "--kv", "-q", "-k", "1000",
                    "-V", "50-500", "-P", "-S"]
            loose = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            exact = subprocess.run(argv + ["--key-sizes"], capture_output=True, text=True,
                                   timeout=300)
        finally:
            fake.close()
        # Without --key-sizes a shorter value of a valid size passes: the
        # reason the mixed-size fills of memfit fix sizes per key.
        self.assertEqual(loose.returncode, 0, loose.stdout + loose.stderr)
        self.assertEqual(fields_of(loose.stdout)["bad_values"], "0")
        self.assertEqual(exact.returncode, 1, exact.stdout)
        self.assertIn("wrong value", exact.stderr)
        fields = fields_of(exact.stdout)
        self.assertGreater(int(fields["bad_values"]), 900, "nearly every size is above 50")
        self.assertEqual(int(fields["scan_hits"]) + int(fields["bad_values"]), 1000,
                         "a wrong value is not a hit")

    def test_out_of_memory_during_read_is_a_refusal(self):
        fake = RefusingServer()
        try:
            proc = subprocess.run([LOAD, "-s", fake.address, "-d", "0", "-c", "2", "--kv", "-q",
                                   "-k", "100", "-P", "-S"], capture_output=True, text=True,
                                  timeout=300)
        finally:
            fake.close()
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        fields = fields_of(proc.stdout)
        self.assertEqual(fields["sets_refused"], "100")
        self.assertEqual(fields["errors"], "0")
        self.assertEqual(fields["scan_hits"], "0")

    def test_wrong_values_are_counted(self):
        fake = FakeServer()
        try:
            proc = subprocess.run([LOAD, "-s", fake.address, "-d", "1", "-c", "2", "--kv", "-q",
                                   "-k", "1000"], capture_output=True, text=True, timeout=300)
        finally:
            fake.close()
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn("wrong value", proc.stderr)
        result = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][0]
        fields = dict(kv.split("=") for kv in result.split()[1:])
        self.assertGreater(int(fields["bad_values"]), 0)
        self.assertEqual(fields["hits"], "0", "a wrong value is not a hit")

    def test_no_server_is_an_error(self):
        port = serverctl.free_port()  # nothing listens there
        proc = subprocess.run([LOAD, "-s", "127.0.0.1:%d" % port, "-d", "1", "-c", "2", "--kv"],
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("conn_errors=2", proc.stdout)

    def test_bad_usage(self):
        for args in (["-k", "0"], ["-V", "10-5"], ["-V", "log:5-5"], ["-D", "zipf:-1"], ["-r", "x"],
                     ["-K", "3", "-k", "1000"], ["extra"]):
            proc = subprocess.run([LOAD] + args, capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 2, args)


if __name__ == "__main__":
    if not os.access(LARDER, os.X_OK):
        print("NOTE: %s not found: Larder tests skipped, memcached only" % LARDER)
    unittest.main(verbosity=2)
