#!/usr/bin/env python3
"""Tests of bench/memfit.py: what makes its table trustworthy.

- The summary over rounds: a round in which any server's run had a
  problem is thrown out of every figure (items, ratios, spread, RSS) but
  its bad values still show; the spread is memcached B over memcached.
- End to end on small settings (-m 8, short churn): every row of the table
  is there with a valid round and figures that add up (items equal to the
  read-back hits, bytes per item equal to -m over items), result.json and
  table.txt are written.
- A server that answers with wrong values: its bad values are counted,
  never items, its rounds are thrown out, and memfit exits 1.

No assertion is about speed or about which server keeps more.
Environment: LARDER_BIN, LARDER_LOAD, MEMCACHED_BIN.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import memfit  # noqa: E402

LOAD = os.environ.get("LARDER_LOAD", os.path.join(ROOT, "build", "bench", "larder-load"))
LARDER = os.environ.get("LARDER_BIN", os.path.join(ROOT, "build", "larder"))
MEMCACHED = os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached")
MEMFIT = os.path.join(ROOT, "bench", "memfit.py")
FAKE = os.path.join(ROOT, "tests", "bench", "fake_memcached.py")
SMALL = ["--memory", "8", "--rounds", "1", "--fill-factor", "2", "--churn-duration", "2",
         "--churn-keys", "2000"]


def run(server, items, rss_kb=10240, bad=0, problem=None):
    r = {"items": items, "rss_kb": rss_kb, "bad_values": bad}
    if problem:
        r["problem"] = problem
    return r


class SummaryTests(unittest.TestCase):
    def test_a_round_with_a_problem_is_thrown_out(self):
        rounds = [
            {"larder": run("l", 120), "memcached": run("m", 100), "memcached_b": run("b", 101)},
            {"larder": run("l", 999, rss_kb=999999, bad=3, problem="bad_values=3"),
             "memcached": run("m", 100), "memcached_b": run("b", 100)},
            {"larder": run("l", 130), "memcached": run("m", 100), "memcached_b": run("b", 98)},
        ]
        s = memfit.summarise(rounds, "items", memory_mb=1)
        self.assertEqual(s["valid_rounds"], 2)
        self.assertEqual(s["thrown_out"], [2])
        self.assertEqual(s["larder"], 125)
        self.assertEqual(s["ratio"], (1.2, 1.3))
        self.assertEqual(s["aa"], (0.98, 1.01))
        self.assertAlmostEqual(s["floor"], 1 / 0.98)
        self.assertEqual(s["verdict"], "more")
        self.assertEqual(s["rss_mb_larder"], 10.0, "the thrown-out round's RSS is not used")
        self.assertEqual(s["bad_values"], {"larder": 3, "memcached": 0, "memcached_b": 0})
        self.assertAlmostEqual(s["bytes_per_item_larder"], 2 ** 20 / 125)

    def test_no_valid_round_is_invalid(self):
        rounds = [{"larder": run("l", 1, problem="x"), "memcached": run("m", 1),
                   "memcached_b": run("b", 1)}]
        s = memfit.summarise(rounds, "items")
        self.assertIsNone(s["ratio"])
        self.assertEqual(s["verdict"], "INVALID")
        lines = memfit.table_lines([("100", s, False)])
        self.assertIn("0/1", lines[2])
        self.assertIn("100=INVALID", memfit.summary_line([("100", s, False)]))

    def test_within_the_spread_is_noise(self):
        rounds = [{"larder": run("l", 103), "memcached": run("m", 100), "memcached_b": run("b", 95)},
                  {"larder": run("l", 110), "memcached": run("m", 100), "memcached_b": run("b", 100)}]
        self.assertEqual(memfit.summarise(rounds, "items")["verdict"], "noise")

    def test_fill_keys_write_several_times_the_memory(self):
        args = memfit.parse_args(["--memory", "64", "--fill-factor", "3"])
        self.assertEqual(memfit.fill_keys(args, 100), 1525202)  # 3 x 64 MiB / 132 B, rounded up
        self.assertEqual(args.rows, ["10", "100", "1000", "10000", "mix", "churn"])


def memfit_run(out, larder, *extra):
    argv = [sys.executable, MEMFIT, "--larder", larder, "--memcached", MEMCACHED, "--load", LOAD,
            "--out", out] + SMALL + list(extra)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    with open(os.path.join(out, "result.json")) as f:
        return proc, json.load(f)


class EndToEndTests(unittest.TestCase):
    def test_every_row_of_the_table(self):
        larder = LARDER if os.access(LARDER, os.X_OK) else MEMCACHED
        with tempfile.TemporaryDirectory() as out:
            proc, res = memfit_run(out, larder)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            names = ["10", "100", "1000", "10000", "mix", "churn_items", "churn_hit"]
            self.assertEqual(sorted(res["table"]), sorted(names))
            for name in names:
                s = res["table"][name]
                self.assertEqual(s["valid_rounds"], 1, name)
                self.assertEqual(s["bad_values"], {"larder": 0, "memcached": 0, "memcached_b": 0})
                for srv in memfit.SERVERS:
                    self.assertGreater(s[srv], 0, (name, srv))
                    self.assertGreater(s["rss_mb_" + srv], 0, (name, srv))
            for name, runs in res["runs"].items():
                for srv, r in runs[0].items():
                    self.assertNotIn("problem", r, (name, srv))
                    if name != "churn":
                        self.assertLess(r["items"], r["keys"], "more was written than fits")
                        self.assertEqual(res["table"][name][srv], r["items"])
                        self.assertAlmostEqual(res["table"][name]["bytes_per_item_" + srv],
                                               8 * 2 ** 20 / r["items"])
                    else:
                        self.assertLessEqual(res["table"]["churn_hit"][srv], 1.0)
            with open(os.path.join(out, "table.txt")) as f:
                table = f.read()
            for label in ("10 B", "100 B", "1,000 B", "10,000 B", "mix 10-2,000 B", "churn items",
                          "churn hit %", "M_B/M min-max", "RSS L MB", "bad L/M/M_B"):
                self.assertIn(label, table)
                self.assertIn(label, proc.stdout)
            self.assertTrue(proc.stdout.strip().splitlines()[-1].startswith("MEMFIT "))

    def test_wrong_values_are_bad_never_items(self):
        with tempfile.TemporaryDirectory() as out:
            proc, res = memfit_run(out, FAKE, "--only", "100,mix")
            self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
            for name in ("100", "mix"):
                s = res["table"][name]
                self.assertEqual(s["valid_rounds"], 0)
                self.assertEqual(s["thrown_out"], [1])
                self.assertGreater(s["bad_values"]["larder"], 0)
                self.assertEqual(s["bad_values"]["memcached"], 0)
                self.assertIsNone(s["ratio"])
                self.assertNotIn("items", res["runs"][name][0]["larder"])
            self.assertIn("100 round 1 thrown out", proc.stdout)
            self.assertIn("100=INVALID", proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
