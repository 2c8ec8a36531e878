#!/usr/bin/env python3
"""Tests of the comparison and of larder-stat: what makes their figures
trustworthy.

- compare.py: a round that fails (the server is killed during it) is
  rejected and retried, never counted; a round that keeps failing makes
  its workload INVALID; the A/A noise floor and the verdicts; every plot is
  drawn (files exist, gnuplot exited 0).
- larder-load: a value left by an earlier run does not close the
  connection; when every connection is gone it stops with an error.
- larder-stat: addresses ([::1]:11211, bare HOST), history record and
  replay with -s/-e windows, the pool total and Average: rows, samples on
  absolute deadlines, plots from a record file and from a CSV.

Nothing here asserts a speed: waits have generous caps and figures are only
checked for being there and consistent.  Environment: LARDER_BIN,
LARDER_LOAD, MEMCACHED_BIN.
"""

import csv
import importlib.machinery
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import compare  # noqa: E402
import serverctl  # noqa: E402

LOAD = os.environ.get("LARDER_LOAD", os.path.join(ROOT, "build", "bench", "larder-load"))
STAT = os.path.join(ROOT, "bench", "larder-stat")
COMPARE = os.path.join(ROOT, "bench", "compare.py")
LARDER = os.environ.get("LARDER_BIN", os.path.join(ROOT, "build", "larder"))
MEMCACHED = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_stat_module():
    loader = importlib.machinery.SourceFileLoader("larder_stat", STAT)
    spec = importlib.util.spec_from_loader("larder_stat", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


larder_stat = load_stat_module()


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def result_of(stdout):
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
    return {}


# ---- compare.py: pure functions ----

class FloorTests(unittest.TestCase):
    def test_noise_floor_is_the_largest_factor_either_way(self):
        self.assertAlmostEqual(compare.noise_floor([1.05, 0.8, 1.1]), 1.25)
        self.assertAlmostEqual(compare.noise_floor([1.0]), 1.0)
        self.assertIsNone(compare.noise_floor([]))

    def test_verdict_only_outside_the_band(self):
        v = compare.verdict
        self.assertEqual(v((1.2, 1.1, 1.3), 1.25), "noise")
        self.assertEqual(v((1.32, 0.98, 1.41), 1.25), "noise", "one round inside: no win")
        self.assertEqual(v((0.81, 0.7, 0.9), 1.25), "noise")
        self.assertEqual(v((1.4, 1.3, 1.5), 1.25), "faster")
        self.assertEqual(v((0.7, 0.6, 0.75), 1.25), "slower")
        self.assertIsNone(v(None, 1.25))
        self.assertIsNone(v((1.0, 1.0, 1.0), None))

    def test_ratios_pair_the_servers_by_round(self):
        rows = [{"round": 1, "server": "larder", "x": 200.0},
                {"round": 1, "server": "memcached", "x": 100.0},
                {"round": 2, "server": "memcached", "x": 50.0},
                {"round": 2, "server": "larder", "x": 150.0},
                {"round": 3, "server": "larder", "x": 10.0}]  # no partner: left out
        self.assertEqual(compare.round_ratios(rows, "x"), [2.0, 3.0])
        self.assertEqual(compare.spread([3.0, 1.0, 2.0]), (2.0, 1.0, 3.0))
        self.assertIsNone(compare.spread([None]))

    def test_a_second_without_replies_is_a_stall(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "run.csv")
            with open(path, "w") as f:
                f.write("sec,ops_per_sec,reqs_per_sec,errors\n1,100.0,100.0,0\n2,0.0,0.0,0\n"
                        "3,0.0,0.0,0\n4,5.0,5.0,0\n")
            self.assertEqual(compare.stalled_seconds(path), [2, 3])
            self.assertEqual(compare.stalled_seconds(os.path.join(tmp, "none.csv")), [])

    def test_load_problems(self):
        ok = {"bad_values": 0, "timeouts": 0, "conn_errors": 0}
        self.assertIsNone(compare.load_problems(ok, 0))
        self.assertIn("timeouts=640", compare.load_problems(dict(ok, timeouts=640), 1))
        self.assertIn("stale_values=3", compare.load_problems(dict(ok, stale_values=3), 0))
        self.assertIsNotNone(compare.load_problems(None, 0))
        self.assertIsNotNone(compare.load_problems(ok, 1))


# ---- compare.py end to end ----

@unittest.skipUnless(os.access(LARDER, os.X_OK), "no Larder binary at %s" % LARDER)
class CompareValidityTests(unittest.TestCase):
    def run_compare(self, out, *args):
        argv = [sys.executable, COMPARE, "--larder", LARDER, "--memcached", MEMCACHED,
                "--load", LOAD, "--rounds", "1", "--duration", "1", "--keys", "5000",
                "--conns", "8", "--out", out] + list(args)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=400)
        with open(os.path.join(out, "runs.csv"), newline="") as f:
            runs = list(csv.DictReader(f))
        return proc, runs

    def test_failed_round_is_retried_not_counted(self):
        with tempfile.TemporaryDirectory() as out:
            only = "get90_p1" + (",memaslap_get90" if compare.MEMASLAP else "")
            proc, runs = self.run_compare(out, "--only", only, "--memory", "8",
                                          "--inject-fail", "larder:get90_p1:1",
                                          "--inject-fail", "memcached_b:memaslap_get90:1")
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            larder = [r for r in runs if r["workload"] == "get90_p1" and r["server"] == "larder"]
            self.assertEqual([r["status"] for r in larder], ["rejected", "accepted"], runs)
            self.assertTrue(larder[0]["problem"])
            for w in only.split(","):
                for srv in compare.SERVERS:
                    acc = [r for r in runs if r["workload"] == w and r["server"] == srv
                           and r["status"] == "accepted"]
                    self.assertEqual(len(acc), 1, (w, srv, runs))
            if compare.MEMASLAP:
                ms = [r for r in runs if r["workload"] == "memaslap_get90"
                      and r["server"] == "memcached_b"]
                self.assertEqual(ms[0]["status"], "rejected", "memaslap exits 0 on a dead server; "
                                 "the server's counters must catch it")
            summary = proc.stdout.strip().splitlines()[-1]
            self.assertTrue(summary.startswith("SUMMARY "), summary)
            self.assertIn("get90_p1=", summary)
            self.assertNotIn("INVALID", summary)
            self.assertIn("floor", summary)
            with open(os.path.join(out, "report.md")) as f:
                report = f.read()
            self.assertIn("## Rejected runs", report)
            self.assertIn("get90_p1 round 1 on larder (attempt 1)", report)
            for name in ("throughput", "ratio", "cpu", "latency", "timeseries", "memfit"):
                self.assertTrue(is_png(os.path.join(out, name + ".png")), name)
            self.assertNotIn("gnuplot", report.split("## Problems")[1], "a plot failed")

    def test_persistent_failure_makes_the_workload_invalid(self):
        with tempfile.TemporaryDirectory() as out:
            proc, runs = self.run_compare(out, "--only", "get90_p1", "--no-memfit",
                                          "--retries", "1",
                                          "--inject-fail", "memcached:get90_p1:1:5")
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            self.assertIn("get90_p1=INVALID", proc.stdout.strip().splitlines()[-1])
            mc = [r for r in runs if r["server"] == "memcached"]
            self.assertEqual([r["status"] for r in mc], ["rejected", "rejected"])
            with open(os.path.join(out, "report.md")) as f:
                report = f.read()
            self.assertIn("**INVALID**", report)
            self.assertTrue(is_png(os.path.join(out, "throughput.png")))


# ---- larder-load ----

class LoadRobustnessTests(unittest.TestCase):
    def test_value_from_an_earlier_run_keeps_the_connection(self):
        server = serverctl.Server(MEMCACHED, threads=2, memory_mb=64).start()
        try:
            base = [LOAD, "-s", server.address, "-c", "4", "-k", "2000", "--kv", "-q"]
            for extra in (["-b", "4"], ["-m", "-p", "4"], []):
                # values of 3000 B, then a run that only knows 100 B
                first = subprocess.run(base + ["-d", "0", "-P", "-V", "3000"],
                                       capture_output=True, text=True, timeout=60)
                self.assertEqual(first.returncode, 0, first.stdout + first.stderr)
                proc = subprocess.run(base + ["-d", "1", "-V", "100"] + extra,
                                      capture_output=True, text=True, timeout=60)
                r = result_of(proc.stdout)
                self.assertEqual(r.get("conn_errors"), 0, proc.stdout + proc.stderr)
                self.assertEqual(r["proto_errors"], 0, proc.stderr)
                self.assertGreater(r["stale_values"], 0, extra)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn("earlier run", proc.stderr)
            flushed = subprocess.run(base + ["-d", "0", "-S", "-V", "100", "--flush"],
                                     capture_output=True, text=True, timeout=60)
            r = result_of(flushed.stdout)
            self.assertEqual((r["stale_values"], r["scan_hits"]), (0, 0), flushed.stdout)
        finally:
            server.stop()

    def test_stops_with_an_error_when_every_connection_is_gone(self):
        server = serverctl.Server(MEMCACHED, threads=2, memory_mb=64).start()
        proc = subprocess.Popen([LOAD, "-s", server.address, "-c", "4", "-T", "2", "-k", "2000",
                                 "-d", "300", "--kv", "-q"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1)
            os.kill(server.pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=120)  # far less than the 300 s asked for
        finally:
            if proc.poll() is None:
                proc.kill()
            server.stop()
        self.assertEqual(proc.returncode, 1, out + err)
        self.assertIn("every connection is closed", err)
        self.assertEqual(result_of(out)["all_lost"], 1)


# ---- larder-stat ----

class AddressTests(unittest.TestCase):
    def test_forms(self):
        pa = larder_stat.parse_address
        self.assertEqual(pa("[::1]:11211"), ("::1", 11211))
        self.assertEqual(pa("[::1]"), ("::1", 11211))
        self.assertEqual(pa("::1"), ("::1", 11211))
        self.assertEqual(pa("cache1"), ("cache1", 11211))
        self.assertEqual(pa("10.0.0.5:11300"), ("10.0.0.5", 11300))
        self.assertEqual(pa(" localhost "), ("localhost", 11211))
        for bad in ("", "host:", "host:0", "host:70000", "host:x", "[::1", "[::1]x", ":11211",
                    "[]:1"):
            with self.assertRaises(ValueError, msg=bad):
                pa(bad)

    def test_names_and_lists(self):
        self.assertEqual(larder_stat.address_name("::1", 11211), "[::1]:11211")
        self.assertEqual(larder_stat.parse_servers(["a,b:2", "[::1]:3"]),
                         [("a", 11211), ("b", 2), ("::1", 3)])


def poll_line(t, servers, session="s1", interval=10):
    return json.dumps({"t": t, "session": session, "interval": interval, "servers": servers})


def counters(n, pid=1, uptime=None):
    """Counters that grow by n per call-step, for synthetic history."""
    return {"pid": pid, "uptime": n if uptime is None else uptime, "cmd_get": 100 * n,
            "get_hits": 90 * n, "get_misses": 10 * n, "cmd_set": 10 * n, "bytes_read": 1000 * n,
            "bytes_written": 5000 * n, "total_connections": n, "rejected_connections": 0,
            "curr_connections": 5, "total_malloced": 32 << 20, "limit_maxbytes": 64 << 20,
            "bytes": 16 << 20, "curr_items": 1000, "evictions": 2 * n, "reclaimed": n,
            "rusage_user": 0.5 * n, "rusage_system": 0.5 * n}


class HistoryTests(unittest.TestCase):
    """Record files written by hand, so that times are known exactly."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "hist.stat")
        base = time.mktime((2026, 12, 1, 9, 0, 0, 0, 0, -1))  # 09:00:00 local
        self.base = base
        lines = []
        for k in range(7):  # 09:00:00 .. 09:01:00 every 10 s
            lines.append(poll_line(base + 10 * k, {"a:1": counters(k),
                                                   "b:2": counters(k) if k != 3 else None}))
        # a second session after a gap: no rate across it; then a restart (pid change)
        lines.append(poll_line(base + 600, {"a:1": counters(1000)}, session="s2"))
        lines.append(poll_line(base + 610, {"a:1": counters(1010)}, session="s2"))
        lines.append(poll_line(base + 620, {"a:1": counters(5, pid=2, uptime=5)}, session="s2"))
        lines.append("garbage, as a crash might leave")
        with open(self.path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def tearDown(self):
        self.tmp.cleanup()

    def stat(self, *args):
        return subprocess.run([sys.executable, STAT] + list(args), capture_output=True, text=True,
                              timeout=60)

    @staticmethod
    def rows(stdout, name):
        return [l.split() for l in stdout.splitlines() if len(l.split()) > 1 and l.split()[1] == name]

    def test_replay_all(self):
        proc = self.stat("-f", self.path)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("not a sample", proc.stderr)
        a = self.rows(proc.stdout, "a:1")
        # 6 intervals in session 1, 2 in session 2 (one of them a restart), + Average
        self.assertEqual(len(a), 6 + 2 + 1, proc.stdout)
        first = a[0]
        self.assertEqual(first[0], "09:00:10")
        self.assertEqual(first[2:6], ["10", "1", "90.0", "1"])  # gets/s misses/s hit% sets/s
        self.assertIn("unreachable", " ".join(a[-2]), "a restart gives no rates")
        self.assertEqual(a[-1][0], "Average:")
        self.assertEqual(a[-1][2], "23", "mean of 6 x 10/s and 1 x 100/s (a restart has none)")
        # b is missing at 09:00:30, so two of its intervals have no rates
        b = self.rows(proc.stdout, "b:2")
        self.assertEqual(sum("unreachable" in " ".join(r) for r in b), 2)
        total = self.rows(proc.stdout, "total")
        self.assertEqual(total[0][2], "20", "the pool adds the servers up")
        self.assertEqual(total[0][11], "50.0", "mem% is total malloced over total -m")
        self.assertEqual(total[0][-1], "20.0", "CPU % adds up")

    def test_window(self):
        proc = self.stat("-f", self.path, "-s", "09:00:20", "-e", "09:00:40")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        times = [r[0] for r in self.rows(proc.stdout, "a:1")]
        self.assertEqual(times, ["09:00:20", "09:00:30", "09:00:40", "Average:"])
        day = time.strftime("%Y-%m-%d", time.localtime(self.base))
        proc = self.stat("-f", self.path, "-s", day + "T09:05")
        times = [r[0] for r in self.rows(proc.stdout, "a:1")]
        self.assertEqual(len(times), 3, proc.stdout)  # session 2 only
        proc = self.stat("-f", self.path, "-s", "23:00")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(self.stat("-f", self.path, "-s", "9h").returncode, 2)

    def test_plot_history(self):
        png = os.path.join(self.tmp.name, "hist.png")
        proc = self.stat("--plot", self.path, "-o", png)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(is_png(png))
        png2 = os.path.join(self.tmp.name, "window.png")
        proc = self.stat("--plot", self.path, "-e", "09:00:40", "-o", png2)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(is_png(png2))


class DeadlineTests(unittest.TestCase):
    def test_slow_polls_do_not_drift(self):
        """A poll that takes 40% of the interval: sleeping a whole interval
        after each would fall behind by 0.4 intervals per sample."""
        interval, n = 0.2, 10
        t0 = time.monotonic()
        ticks = []
        for k, _ in enumerate(larder_stat.deadlines(interval), 1):
            ticks.append(time.monotonic() - t0)
            time.sleep(0.4 * interval)
            if k == n:
                break
        for k, t in enumerate(ticks, 1):
            self.assertGreaterEqual(t, k * interval - 0.01)
        # with sleep(interval) the last tick would be at 10 x 0.28 = 2.8 s
        self.assertLess(ticks[-1], n * interval + 0.4 * n * interval * 0.75, ticks)


class LiveStatTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = serverctl.Server(MEMCACHED, threads=1, memory_mb=16).start()
        binary = LARDER if os.access(LARDER, os.X_OK) else MEMCACHED
        cls.b = serverctl.Server(binary, threads=1, memory_mb=16).start()

    @classmethod
    def tearDownClass(cls):
        cls.a.stop()
        cls.b.stop()

    def test_record_then_replay_and_plot(self):
        with tempfile.TemporaryDirectory() as tmp:
            rec, csv_path = os.path.join(tmp, "live.stat"), os.path.join(tmp, "live.csv")
            load = subprocess.Popen([LOAD, "-s", "%s,%s" % (self.a.address, self.b.address), "-d",
                                     "4", "-q", "-c", "2", "-k", "5000"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                host, port = self.a.address.split(":")
                live = subprocess.run([sys.executable, STAT, "-i", "0.5", "-n", "3", "--record",
                                       rec, "--csv", csv_path, host + ":" + port,
                                       self.b.address], capture_output=True, text=True,
                                      timeout=60)
            finally:
                load.wait(timeout=60)
            self.assertEqual(live.returncode, 0, live.stderr)
            with open(rec) as f:
                polls = [json.loads(l) for l in f]
            self.assertEqual(len(polls), 4, "one poll, then one per interval")
            self.assertEqual(len({p["session"] for p in polls}), 1)
            self.assertEqual(set(polls[0]["servers"]), {self.a.address, self.b.address})
            for p in polls:
                for stats in p["servers"].values():
                    self.assertIn("cmd_get", stats)
                    self.assertIn("total_malloced", stats, "memcached gives it in stats slabs")
            self.assertIn("Average:", live.stdout)
            self.assertIn("total", live.stdout)
            replay = subprocess.run([sys.executable, STAT, "-f", rec], capture_output=True,
                                    text=True, timeout=60)
            self.assertEqual(replay.returncode, 0, replay.stderr)
            strip = lambda s: [l for l in s.splitlines() if l.strip()]  # noqa: E731
            self.assertEqual(strip(replay.stdout), strip(live.stdout),
                             "a replay shows what the live view showed")
            # appending: a second recording adds a session, not a bogus interval
            subprocess.run([sys.executable, STAT, "-i", "0.5", "-n", "1", "--record", rec,
                            self.a.address], capture_output=True, text=True, timeout=60)
            with open(rec) as f:
                self.assertEqual(len(f.readlines()), 6)
            with open(csv_path, newline="") as f:
                rows = list(csv.DictReader(f))
            self.assertEqual(len(rows), 6)
            for r in rows:
                self.assertGreaterEqual(float(r["mem_pct"]), 0)
                self.assertLessEqual(float(r["mem_pct"]), 100)
                self.assertGreaterEqual(float(r["cpu_pct"]), 0)
            for src in (rec, csv_path):
                png = src + ".png"
                proc = subprocess.run([sys.executable, STAT, "--plot", src, "-o", png],
                                      capture_output=True, text=True, timeout=60)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertTrue(is_png(png))

    def test_ipv6_loopback(self):
        """memcached on [::1], addressed as [::1]:PORT; skipped without IPv6."""
        port = serverctl.free_port()
        try:
            proc = subprocess.Popen([MEMCACHED, "-p", str(port), "-U", "0", "-l", "::1", "-m", "8"] +
                                    (["-u", "root"] if os.geteuid() == 0 else []),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError as e:
            self.skipTest(str(e))
        try:
            deadline = time.monotonic() + 20
            while larder_stat.fetch_stats("::1", port, 1) is None:
                if proc.poll() is not None:
                    self.skipTest("no IPv6 loopback here")
                self.assertLess(time.monotonic(), deadline, "memcached on ::1 never answered")
                time.sleep(0.1)
            out = subprocess.run([sys.executable, STAT, "-i", "0.3", "-n", "1",
                                  "[::1]:%d" % port], capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("[::1]:%d" % port, out.stdout)
            self.assertNotIn("unreachable", out.stdout)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
