#!/usr/bin/env python3
"""compare: Larder against memcached, same workloads, same machine.

For each workload and round, three fresh servers are started in turn on free
loopback ports with the same threads and memory: Larder, memcached, and a
second memcached ("memcached B").  The two memcacheds run the same binary
with the same settings, so their ratio is pure noise: it is the A/A noise
floor of this run, and a Larder/memcached ratio counts as a win or a loss
only when it lies outside it.  The order of the three rotates from round to
round so that no server always runs first.

A run is valid only when the load generator saw no error of any kind (wrong
value, protocol error, error reply, lost connection, timeout, value left by
another run), in its loading phase as in its measured phase, no whole second
of the measured phase went by without a reply (a stall), and the server is
still alive at the end.  An invalid run is retried (--retries times); if
it still fails, the workload is reported INVALID and no ratio is given.
Figures are the median and the min-max over rounds; nothing invalid is ever
averaged in.

Beside ops/s, the server's CPU time during the measured phase (utime + stime
from /proc/PID/stat) divided by the requests it answered: the cost per
request, which a shared machine's noise spoils much less than throughput.

One workload is also driven by memaslap (libmemcached-tools), a load
generator we did not write, so that the figures do not rest on our own
client alone.

Everything goes to bench/results/<timestamp>/: report.md, PNG plots drawn by
gnuplot, runs.csv with every attempt (rejected ones too), and raw/ with each
run's output.  The last line printed is a SUMMARY.  Exit status 1 if a
workload is INVALID or a plot failed.
"""

import argparse
import csv
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverctl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SERVERS = ("larder", "memcached", "memcached_b")
LABEL = {"larder": "Larder", "memcached": "memcached", "memcached_b": "memcached B (A/A)"}
# One colour per server in every plot.
COLOUR = {"larder": "#d95f02", "memcached": "#1b62a8", "memcached_b": "#7fb2e5"}

# name, description, tool, larder-load arguments (value settings first, then
# the mix), whether to load every key before the measured phase.
WORKLOADS = [
    ("get90_p1", "90% get / 10% set, 100 B values, pipeline 1", "larder-load",
     ["-V", "100", "-r", "9:1", "-p", "1"], True),
    ("get90_p16", "90% get / 10% set, 100 B, pipeline 16, classic get/set", "larder-load",
     ["-V", "100", "-r", "9:1", "-p", "16"], True),
    ("get90_p16_meta", "same, pipeline 16, meta mg/ms", "larder-load",
     ["-V", "100", "-r", "9:1", "-p", "16", "-m"], True),
    ("mget10", "multi-get of 10 keys, 100 B values, pipeline 1", "larder-load",
     ["-V", "100", "-r", "1:0", "-b", "10"], True),
    ("set1k", "100% set, 1 KB values, pipeline 1", "larder-load",
     ["-V", "1024", "-r", "0:1"], False),
    ("zipf", "90/10, zipf 0.99 hot keys, 100 B, pipeline 16, classic", "larder-load",
     ["-V", "100", "-r", "9:1", "-p", "16", "-D", "zipf:0.99"], True),
    ("zipf_meta", "same, pipeline 16, meta mg/ms", "larder-load",
     ["-V", "100", "-r", "9:1", "-p", "16", "-D", "zipf:0.99", "-m"], True),
    ("memaslap_get90", "memaslap: 90% get / 10% set, 100 B, 1 in flight per connection",
     "memaslap", [], False),
]

MEMFIT_VALUE = 100
MEMFIT_FILL_FACTOR = 10
MEMASLAP = shutil.which("memcaslap") or shutil.which("memaslap")


def parse_args(argv=None):
    default_larder = os.environ.get("LARDER_BIN", os.path.join(ROOT, "build", "larder"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--larder", default=default_larder, help="Larder binary (env LARDER_BIN)")
    p.add_argument("--memcached", default="/usr/bin/memcached", help="memcached binary")
    p.add_argument("--load", default=os.path.join(ROOT, "build", "bench", "larder-load"))
    p.add_argument("--memaslap", default=MEMASLAP, help="memaslap binary (libmemcached-tools)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    p.add_argument("--retries", type=int, default=2,
                   help="times an invalid run is tried again before its workload is INVALID")
    p.add_argument("--threads", type=int, default=2, help="server threads (-t)")
    p.add_argument("--memory", type=int, default=64, help="server memory in MB (-m)")
    p.add_argument("--gen-threads", type=int, default=2, help="load generator threads")
    p.add_argument("--conns", type=int, default=40, help="connections per run")
    p.add_argument("--keys", type=int, default=100000)
    p.add_argument("--stall-timeout", type=float, default=10.0,
                   help="larder-load gives up on a silent server after this (s)")
    p.add_argument("--only", help="comma-separated workload names (default: all)")
    p.add_argument("--no-memfit", action="store_true", help="skip the memory-fit test")
    p.add_argument("--out", help="result folder (default bench/results/<timestamp>)")
    p.add_argument("--inject-fail", action="append", default=[], metavar="SERVER:WORKLOAD:ROUND[:N]",
                   help="for tests: kill SERVER during its measured phase in ROUND of WORKLOAD, "
                        "in the first N attempts (1)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.retries < 0:
        p.error("--rounds and --duration must be positive, --retries not negative")
    names = {w[0] for w in WORKLOADS}
    if args.only:
        unknown = set(args.only.split(",")) - names
        if unknown:
            p.error("unknown workload(s): %s" % ", ".join(sorted(unknown)))
    args.injections = {}
    for spec in args.inject_fail:
        parts = spec.split(":")
        if len(parts) not in (3, 4) or parts[0] not in SERVERS or parts[1] not in names \
                or not all(x.isdigit() for x in parts[2:]):
            p.error("--inject-fail wants SERVER:WORKLOAD:ROUND[:N], got %r" % spec)
        args.injections[(parts[0], parts[1], int(parts[2]))] = int(parts[3]) if len(parts) == 4 else 1
    return args


def log(msg):
    print(msg, flush=True)


def parse_result(text):
    """The RESULT key=value line of larder-load's output, as floats."""
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
    return None


def parse_memaslap(text):
    """memaslap's totals: cmd_get, cmd_set, verify_failed, ops, tps."""
    out = {}
    for key in ("cmd_get", "cmd_set", "get_misses", "verify_failed"):
        m = re.search(r"^%s: (\d+)" % key, text, re.M)
        if m:
            out[key] = int(m.group(1))
    m = re.search(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)", text)
    if m:
        out.update(duration_s=float(m.group(1)), ops=int(m.group(2)), tps=int(m.group(3)))
    return out


def load_problems(result, returncode):
    """Why a larder-load run is not valid, or None when it is."""
    if result is None:
        return "no RESULT line (exit %d)" % returncode
    bad = ["%s=%d" % (k, result[k]) for k in ("bad_values", "proto_errors", "server_errors",
                                                "conn_errors", "timeouts", "stale_values",
                                                "all_lost") if result.get(k, 0)]
    if bad:
        return ", ".join(bad)
    if returncode != 0:
        return "larder-load exit %d" % returncode
    return None


def stalled_seconds(csv_path):
    """Seconds of a larder-load per-second CSV in which not one reply came
    back: every connection waited a whole second or more, a timeout in all
    but name (larder-load's own stall timeout is far longer)."""
    try:
        with open(csv_path, newline="") as f:
            return [int(r["sec"]) for r in csv.DictReader(f) if float(r["reqs_per_sec"]) == 0]
    except (OSError, KeyError, ValueError):
        return []


# ---- statistics over rounds; pure functions, tested on their own ----

def spread(values):
    """(median, min, max) of the values, or None when there are none."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def noise_floor(aa_ratios):
    """The A/A noise floor: the largest factor by which two runs of the same
    server differed, f >= 1; ratios within [1/f, f] are noise."""
    vals = [r for r in aa_ratios if r]
    if not vals:
        return None
    return max(max(r, 1.0 / r) for r in vals)


def verdict(ratio_spread, floor):
    """'faster', 'slower' or 'noise' from a ratio's (median, min, max) over
    rounds: a win or a loss only when every round's ratio lies outside the
    A/A band [1/floor, floor], on the same side."""
    if ratio_spread is None or floor is None:
        return None
    _, lo, hi = ratio_spread
    if lo > floor:
        return "faster"
    if hi < 1.0 / floor:
        return "slower"
    return "noise"


def round_ratios(rows, key, num="larder", den="memcached"):
    """Per-round ratios num/den of one key, pairing the servers' runs of the
    same round."""
    by = {}
    for r in rows:
        by.setdefault(r["round"], {})[r["server"]] = r.get(key)
    out = []
    for rnd in sorted(by):
        a, b = by[rnd].get(num), by[rnd].get(den)
        if a is not None and b:
            out.append(a / b)
    return out


class Bench:
    def __init__(self, args):
        self.args = args
        self.out = args.out or os.path.join(HERE, "results", time.strftime("%Y%m%d-%H%M%S"))
        self.raw = os.path.join(self.out, "raw")
        os.makedirs(self.raw, exist_ok=True)
        self.binary = {"larder": args.larder, "memcached": args.memcached,
                       "memcached_b": args.memcached}
        self.attempts = []   # every attempt, accepted or not
        self.invalid = {}    # workload -> why
        self.memfit = {}     # server name -> dict
        self.problems = []   # human-readable lines
        self.injected = {}   # (server, workload, round) -> attempts failed so far

    def start_server(self, name, tag):
        server = serverctl.Server(self.binary[name], threads=self.args.threads,
                                  memory_mb=self.args.memory,
                                  log_path=os.path.join(self.raw, "%s-%s.log" % (tag, name)))
        return server.start()

    def run_tool(self, argv, out_path):
        proc = subprocess.run(argv, capture_output=True, text=True)
        with open(out_path, "a") as f:
            f.write("$ " + " ".join(argv) + "\n" + proc.stdout + proc.stderr + "\n")
        return proc

    def load_argv(self, server, extra, duration, csv_path=None):
        a = self.args
        argv = [a.load, "-s", server.address, "-T", str(a.gen_threads), "-c", str(a.conns),
                "-k", str(a.keys), "-d", str(duration), "--kv", "-q",
                "--stall-timeout", str(a.stall_timeout)] + extra
        if csv_path:
            argv += ["-o", csv_path]
        return argv

    def injection_due(self, name, wname, rnd):
        key = (name, wname, rnd)
        want = self.args.injections.get(key, 0)
        if self.injected.get(key, 0) >= want:
            return False
        self.injected[key] = self.injected.get(key, 0) + 1
        return True

    @staticmethod
    def kill_later(server, delay):
        def kill():
            time.sleep(delay)
            try:
                os.kill(server.pid, signal.SIGKILL)
            except OSError:
                pass
        t = threading.Thread(target=kill, daemon=True)
        t.start()
        return t

    def measure(self, workload, rnd, name, tag):
        """One attempt: fresh server, loading phase, measured phase.
        Returns the attempt's record; 'problem' is None when it is valid."""
        wname, _, tool, extra, prefill = workload
        out_path = os.path.join(self.raw, "%s-%s.out" % (tag, name))
        csv_path = os.path.join(self.raw, "%s-%s.csv" % (tag, name))
        rec = {"workload": wname, "round": rnd, "server": name, "tag": tag, "problem": None,
               "csv": csv_path if tool == "larder-load" else None}
        try:
            server = self.start_server(name, tag)
        except serverctl.ServerError as e:
            rec["problem"] = str(e)
            return rec
        try:
            if prefill:
                proc = self.run_tool(self.load_argv(server, extra + ["-P"], 0), out_path)
                why = load_problems(parse_result(proc.stdout), proc.returncode)
                if why:
                    rec["problem"] = "while loading the data: " + why
                    return rec
            if self.injection_due(name, wname, rnd):
                self.kill_later(server, min(1.0, self.args.duration / 2))
                rec["injected"] = True
            cpu0, stats0 = server.cpu_seconds(), server.stats()
            if tool == "memaslap":
                self.memaslap_run(server, rec, out_path, stats0)
            else:
                proc = self.run_tool(self.load_argv(server, extra, self.args.duration, csv_path),
                                     out_path)
                result = parse_result(proc.stdout)
                rec["problem"] = load_problems(result, proc.returncode)
                stalls = stalled_seconds(csv_path)
                if stalls and not rec["problem"]:
                    rec["problem"] = "stalled: no reply at all in second(s) %s of the run" % (
                        ",".join(map(str, stalls)))
                if result:
                    rec.update(ops_per_sec=result["ops_per_sec"],
                               reqs=result["reqs_per_sec"] * result["duration_s"], p50_us=result["p50_us"],
                               p99_us=result["p99_us"], p999_us=result["p999_us"],
                               hit_ratio=result["hit_ratio"] if result["gets"] else None,
                               errors=result["errors"])
            if not server.alive():
                rec["problem"] = rec["problem"] or "server exited during the run"
            else:
                cpu = server.cpu_seconds() - cpu0
                rec["server_cpu_s"] = cpu
                if rec.get("reqs"):
                    rec["cpu_us_per_req"] = cpu * 1e6 / rec["reqs"]
        except (OSError, serverctl.ServerError) as e:
            rec["problem"] = rec["problem"] or "server stopped answering (%s)" % e
        finally:
            status = server.stop()
            if status is not None and not rec.get("injected"):
                rec["problem"] = rec["problem"] or "server exited with status %s" % status
        if rec.get("injected") and not rec["problem"]:
            rec["problem"] = "injected failure was not detected"  # never accept it
        return rec

    def memaslap_run(self, server, rec, out_path, stats0):
        """memaslap for the measured phase.  It exits 0 even when its server
        dies, so the server's own counters must confirm the work."""
        a = self.args
        argv = [a.memaslap, "-s", server.address, "-T", str(a.gen_threads), "-c", str(a.conns),
                "-t", "%ds" % max(1, round(a.duration)), "-X", "100", "-v", "0.05"]
        proc = self.run_tool(argv, out_path)
        m = parse_memaslap(proc.stdout + proc.stderr)
        if "tps" not in m or proc.returncode != 0:
            rec["problem"] = "memaslap exit %d, no totals" % proc.returncode
            return
        rec.update(ops_per_sec=float(m["tps"]), reqs=float(m["ops"]),
                   errors=m.get("verify_failed", 0))
        if m.get("verify_failed"):
            rec["problem"] = "memaslap verify_failed=%d" % m["verify_failed"]
            return
        try:
            stats1 = server.stats()
        except OSError as e:
            rec["problem"] = "server gone after memaslap (%s)" % e
            return
        moved = sum(int(stats1[k]) - int(stats0[k]) for k in ("cmd_get", "cmd_set"))
        if m["ops"] == 0 or abs(moved - m["ops"]) > 0.01 * m["ops"] + 1000:
            rec["problem"] = "server counted %d commands, memaslap %d" % (moved, m["ops"])

    def one_round(self, workload, rnd):
        order = SERVERS[rnd % len(SERVERS):] + SERVERS[:rnd % len(SERVERS)]
        for name in order:
            for attempt in range(self.args.retries + 1):
                tag = "%s-r%d%s" % (workload[0], rnd, "" if attempt == 0 else "-retry%d" % attempt)
                rec = self.measure(workload, rnd, name, tag)
                rec["attempt"] = attempt
                rec["status"] = "accepted" if rec["problem"] is None else "rejected"
                self.attempts.append(rec)
                if rec["problem"] is None:
                    log("  %-14s round %d %-11s %10.0f ops/s  p99 %8s us  cpu %6s us/req"
                        % (workload[0], rnd, name, rec["ops_per_sec"],
                           fmt(rec.get("p99_us"), "%.0f"), fmt(rec.get("cpu_us_per_req"), "%.2f")))
                    break
                log("  %-14s round %d %-11s REJECTED (%s)%s" % (
                    workload[0], rnd, name, rec["problem"],
                    ", retrying" if attempt < self.args.retries else ""))
            else:
                return "%s round %d on %s: %s" % (workload[0], rnd, name, rec["problem"])
        return None

    def run_workloads(self):
        only = set(self.args.only.split(",")) if self.args.only else None
        for workload in WORKLOADS:
            if only and workload[0] not in only:
                continue
            if workload[2] == "memaslap" and not self.args.memaslap:
                self.problems.append("memaslap not found (apt install libmemcached-tools): "
                                     "%s skipped" % workload[0])
                continue
            log("%s: %s" % (workload[0], workload[1]))
            for rnd in range(1, self.args.rounds + 1):
                why = self.one_round(workload, rnd)
                if why:
                    self.invalid[workload[0]] = why
                    log("  %s: INVALID (%s)" % (workload[0], why))
                    break

    def run_memfit(self):
        """Writes 10x the memory limit of 100-byte values, then reads every
        key back: how many survive, and the resident memory it cost."""
        keys = MEMFIT_FILL_FACTOR * self.args.memory * 1024 * 1024 // MEMFIT_VALUE
        log("memfit: %d keys of %d B (%dx -m %d)" % (keys, MEMFIT_VALUE, MEMFIT_FILL_FACTOR,
                                                     self.args.memory))
        for name in ("larder", "memcached"):
            try:
                server = self.start_server(name, "memfit")
            except serverctl.ServerError as e:
                self.problems.append("memfit: %s" % e)
                continue
            argv = self.load_argv(server, ["-V", str(MEMFIT_VALUE), "-k", str(keys), "-P", "-S"], 0)
            t0 = time.monotonic()
            proc = self.run_tool(argv, os.path.join(self.raw, "memfit-%s.out" % name))
            result = parse_result(proc.stdout)
            entry = {"keys": keys, "seconds": time.monotonic() - t0,
                     "problem": load_problems(result, proc.returncode)}
            if server.alive():
                stats = server.stats()
                entry.update(rss_kb=server.rss_kb(), items=int(stats.get("curr_items", 0)),
                             evictions=int(stats.get("evictions", 0)))
            else:
                entry["problem"] = entry["problem"] or "server exited"
            if result:
                entry.update(retrievable=int(result["scan_hits"]), refused=int(result["sets_refused"]))
            server.stop()
            if entry["problem"]:
                self.problems.append("memfit on %s INVALID: %s" % (name, entry["problem"]))
            self.memfit[name] = entry
            log("  %-9s retrievable %s items, VmRSS %s kB, %.0f s%s"
                % (name, entry.get("retrievable", "?"), entry.get("rss_kb", "?"),
                   entry["seconds"], " INVALID" if entry["problem"] else ""))

    def versions(self):
        out = {}
        for name in ("larder", "memcached"):
            try:
                server = self.start_server(name, "version")
                out[name] = server.version()
                server.stop()
            except (serverctl.ServerError, OSError) as e:
                out[name] = "unavailable (%s)" % e
        return out


def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def fmt_spread(s, spec="%.0f"):
    if s is None:
        return "-"
    return "%s (%s–%s)" % (spec % s[0], spec % s[1], spec % s[2])


def git_describe():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


class Report:
    """Tables, plots and the summary line from a finished Bench."""

    def __init__(self, bench, machine, versions):
        self.b = bench
        self.machine = machine
        self.versions = versions
        ran = {r["workload"] for r in bench.attempts}
        self.workloads = [w for w in WORKLOADS if w[0] in ran]
        self.table = [self.summarise(w) for w in self.workloads]
        self.plotted = self.table  # the rows the plot being drawn shows

    def summarise(self, workload):
        wname = workload[0]
        rows = [r for r in self.b.attempts if r["workload"] == wname and r["status"] == "accepted"]
        row = {"workload": wname, "desc": workload[1], "tool": workload[2],
               "invalid": self.b.invalid.get(wname)}
        for srv in SERVERS:
            mine = [r for r in rows if r["server"] == srv]
            for key in ("ops_per_sec", "p50_us", "p99_us", "p999_us", "cpu_us_per_req"):
                row[srv, key] = None if row["invalid"] else spread(r.get(key) for r in mine)
        if not row["invalid"]:
            row["ratio"] = spread(round_ratios(rows, "ops_per_sec"))
            row["aa"] = spread(round_ratios(rows, "ops_per_sec", "memcached", "memcached_b"))
            row["floor"] = noise_floor(round_ratios(rows, "ops_per_sec", "memcached", "memcached_b"))
            row["cpu_ratio"] = spread(round_ratios(rows, "cpu_us_per_req"))
            row["cpu_floor"] = noise_floor(round_ratios(rows, "cpu_us_per_req", "memcached",
                                                        "memcached_b"))
            row["verdict"] = verdict(row["ratio"], row["floor"])
            # For CPU lower is better: Larder "cheaper" when its ratio is below the band.
            cv = verdict(row["cpu_ratio"], row["cpu_floor"])
            row["cpu_verdict"] = {"faster": "costlier", "slower": "cheaper"}.get(cv, cv)
        else:
            row.update(ratio=None, aa=None, floor=None, cpu_ratio=None, cpu_floor=None,
                       verdict="INVALID", cpu_verdict="INVALID")
        return row

    def run_floor(self):
        floors = [r["floor"] for r in self.table if r["floor"]]
        return max(floors) if floors else None

    # ---- files ----

    def write_runs_csv(self):
        keys = ["workload", "round", "server", "attempt", "status", "problem", "ops_per_sec",
                "reqs", "p50_us", "p99_us", "p999_us", "hit_ratio", "server_cpu_s",
                "cpu_us_per_req", "tag"]
        with open(os.path.join(self.b.out, "runs.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(keys)
            for r in self.b.attempts:
                w.writerow(["" if r.get(k) is None else r.get(k) for k in keys])

    def gnuplot(self, name, script):
        path = os.path.join(self.b.out, name + ".gp")
        with open(path, "w") as f:
            f.write("set datafile missing '-'\n" + script)
        proc = subprocess.run(["gnuplot", path], capture_output=True, text=True, cwd=self.b.out)
        if proc.returncode != 0 or not os.path.exists(os.path.join(self.b.out, name + ".png")):
            self.b.problems.append("gnuplot %s failed: %s" % (name, proc.stderr.strip()))
            return False
        return True

    def write_dat(self, name, header, rows):
        with open(os.path.join(self.b.out, name), "w") as f:
            f.write(header + "\n")
            for row in rows:
                f.write(" ".join("-" if v is None else (("%.6g" % v) if isinstance(v, float) else str(v))
                                 for v in row) + "\n")

    def per_server_dat(self, name, key, what="figures"):
        """One line per workload: median, min, max for each server; returns
        the lowest value, for the axis."""
        rows = []
        for i, r in enumerate(self.plotted):
            vals = [i, r["workload"]]
            for srv in SERVERS:
                s = r[srv, key]
                vals += list(s) if s else [None, None, None]
            if r["invalid"]:
                note = "INVALID"
            elif all(v is None for v in vals[2:]):
                note = "no %s from %s" % (what, r["tool"])
            else:
                note = ""
            vals.append('"%s"' % note)
            rows.append(vals)
        self.write_dat(name, "# idx workload " + " ".join(
            "%s_med %s_min %s_max" % (s, s, s) for s in SERVERS) + " note", rows)
        lows = [v for row in rows for v in row[2:-1] if isinstance(v, float) and v > 0]
        return min(lows) if lows else 1.0

    @staticmethod
    def log_floor(v):
        """The power of ten at or below v/2: a log axis's lower end."""
        return 10 ** math.floor(math.log10(v / 2))

    @staticmethod
    def bars(dat, offset_cols=3):
        """plot clauses: clustered bars with min-max error bars, a colour per
        server, INVALID written where a workload has no figures."""
        width = 0.26
        parts = []
        for k, srv in enumerate(SERVERS):
            col = 3 + k * offset_cols
            x = "($1+%.2f)" % ((k - 1) * width)
            parts.append("'%s' using %s:%d:(%.2f) with boxes fs solid 0.85 lc rgb '%s' title '%s'"
                         % (dat, x, col, width * 0.95, COLOUR[srv], LABEL[srv]))
            parts.append("'%s' using %s:%d:(0):(column(%d)-column(%d)) with vectors heads "
                         "size screen 0.004,90 lc rgb '#222222' lw 1.2 notitle"
                         % (dat, x, col + 1, col + 2, col + 1))
        parts.append("'%s' using 1:(ylab):(stringcolumn(12)) with labels tc rgb 'red' "
                     "font ',12' notitle" % dat)
        return ", ".join(parts)

    def xtics(self):
        return "set xtics (%s) rotate by -25 left noenhanced\nset xrange [-0.6:%f]\n" % (
            ", ".join("'%s' %d" % (r["workload"], i) for i, r in enumerate(self.plotted)),
            len(self.plotted) - 0.4)

    def plot_throughput(self):
        low = self.log_floor(self.per_server_dat("throughput.dat", "ops_per_sec"))
        self.gnuplot("throughput", """set terminal pngcairo size 1100,560 noenhanced font ',10'
set output 'throughput.png'
set title 'Throughput: median of %d rounds, bars show min–max (a 10-key multi-get counts as 10 ops)'
set ylabel 'operations per second (log scale)'
set logscale y
set format y '%%.0s%%c'
set yrange [%g:*]
ylab = %g
set grid ytics
set key outside bottom center horizontal
%s
plot %s
""" % (self.b.args.rounds, low, low * 2, self.xtics(), self.bars("throughput.dat")))

    def plot_latency(self):
        self.plotted = [r for r in self.table if r["tool"] == "larder-load"]
        if not self.plotted:
            return
        low = self.log_floor(min(self.per_server_dat("p50.dat", "p50_us", "latency"),
                                 self.per_server_dat("p99.dat", "p99_us", "latency")))
        self.gnuplot("latency", """set terminal pngcairo size 1100,800 noenhanced font ',10'
set output 'latency.png'
set logscale y
set format y '%%g'
set grid ytics
set lmargin 10
set rmargin 3
set yrange [%g:*]
ylab = %g
%s
set multiplot layout 2,1 title 'Latency per request as larder-load measures it (memaslap gives none): median of rounds, bars show min–max'
set title 'p50 (median request)'
set ylabel 'microseconds (log scale)'
unset xlabel
unset key
plot %s
set title 'p99'
set key outside bottom center horizontal
plot %s
unset multiplot
""" % (low, low * 2, self.xtics(), self.bars("p50.dat"), self.bars("p99.dat")))
        self.plotted = self.table

    def plot_cpu(self):
        self.per_server_dat("cpu.dat", "cpu_us_per_req", "CPU figures")
        self.gnuplot("cpu", """set terminal pngcairo size 1100,560 noenhanced font ',10'
set output 'cpu.png'
set title 'Server CPU time per request (user + system, from /proc/PID/stat): median of rounds, bars show min–max; lower is cheaper'
set ylabel 'CPU microseconds per request'
set yrange [0:*]
ylab = 0.5
set grid ytics
set key outside bottom center horizontal
%s
plot %s
""" % (self.xtics(), self.bars("cpu.dat")))

    def plot_ratio(self):
        rows = []
        for i, r in enumerate(self.plotted):
            rat, fl = r["ratio"], r["floor"]
            rows.append([i, r["workload"]] + (list(rat) if rat else [None] * 3) +
                        ([1 / fl, fl] if fl else [None, None]) +
                        ["INVALID" if r["invalid"] else ("%.2f" % rat[0] if rat else "-")])
        self.write_dat("ratio.dat", "# idx workload ratio_med ratio_min ratio_max band_lo band_hi label",
                       rows)
        lows = [v for row in rows for v in (row[3], row[5]) if v]
        bottom = min([0.5] + lows) * 0.9
        self.gnuplot("ratio", """set terminal pngcairo size 1100,560 noenhanced font ',10'
set output 'ratio.png'
set title 'Larder ops/s ÷ memcached ops/s per round: median, bars show min–max; grey: A/A noise band (memcached ÷ memcached B, same run)'
set ylabel 'ratio Larder / memcached (log scale; above 1: Larder faster)'
set logscale y
set yrange [%g:*]
set format y '%%g'
set ytics (0.1, 0.2, 0.3, 0.4, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 6, 8, 10)
set grid ytics
set key outside bottom center horizontal
%s
plot 'ratio.dat' using 1:(1):($1-0.38):($1+0.38):6:7 with boxxyerror fs solid 0.35 noborder lc rgb '#999999' title 'A/A noise band', \\
     1 with lines dt 2 lc rgb 'black' title 'equal', \\
     'ratio.dat' using 1:3:4:5 with yerrorbars pt 7 ps 1.4 lw 1.5 lc rgb '%s' title 'Larder / memcached', \\
     'ratio.dat' using ($1+0.12):(column(3) > 0 ? column(3) : 1.15):8 with labels left offset 0.5,0 notitle
""" % (bottom, self.xtics(), COLOUR["larder"]))

    def plot_memfit(self):
        mf = self.b.memfit
        rows = []
        for i, name in enumerate(("larder", "memcached")):
            e = mf.get(name, {})
            ok = not e.get("problem")
            rows.append([i, name, e.get("retrievable") if ok else None,
                         e["rss_kb"] / 1024 if ok and "rss_kb" in e else None])
        self.write_dat("memfit.dat", "# idx server retrievable_items rss_mb", rows)
        self.gnuplot("memfit", """set terminal pngcairo size 1000,450 noenhanced font ',10'
set output 'memfit.png'
set multiplot layout 1,2 title 'Memory fit: -m %d, %d x the limit written as %d-byte values, then every key read back'
set style fill solid 0.85
set boxwidth 0.6
set xrange [-0.6:1.6]
set xtics ('Larder' 0, 'memcached' 1)
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set title 'items still retrievable (higher is better)'
set ylabel 'items'
set format y '%%.0s%%c'
plot 'memfit.dat' using 1:3:(column(1) == 0 ? 0xd95f02 : 0x1b62a8) with boxes lc rgb variable notitle, \\
     '' using 1:3:(sprintf('%%d', column(3))) with labels offset 0,0.8 notitle
set title 'resident memory after the fill (lower is better)'
set ylabel 'VmRSS, MB'
set format y '%%g'
plot 'memfit.dat' using 1:4:(column(1) == 0 ? 0xd95f02 : 0x1b62a8) with boxes lc rgb variable notitle, \\
     '' using 1:4:(sprintf('%%.1f MB', column(4))) with labels offset 0,0.8 notitle
unset multiplot
""" % (self.b.args.memory, MEMFIT_FILL_FACTOR, MEMFIT_VALUE))

    def plot_timeseries(self):
        """ops/s in each second of every accepted round, a panel per
        workload; rejected attempts are listed in the report, not drawn."""
        panels = []
        for wname, _, tool, _, _ in self.workloads:
            if tool != "larder-load":
                continue
            lines = []
            for srv in SERVERS:
                runs = [r for r in self.b.attempts if r["workload"] == wname and r["server"] == srv
                        and r["status"] == "accepted" and r.get("csv") and os.path.exists(r["csv"])]
                for k, run in enumerate(sorted(runs, key=lambda r: r["round"])):
                    rel = os.path.relpath(run["csv"], self.b.out)
                    lines.append("'%s' using 1:($2/1000) with linespoints pt 7 ps 0.5 lw 1.5 "
                                 "lc rgb '%s' %s" % (rel, COLOUR[srv],
                                                    "title '%s'" % LABEL[srv] if k == 0 else "notitle"))
            if lines:
                panels.append("set title '%s%s'\nplot %s" % (
                    wname, " (INVALID: accepted rounds only)" if wname in self.b.invalid else "",
                    ", ".join(lines)))
        if panels:
            panels[-1] = "set xlabel 'second of the measured phase'\n" + panels[-1]
        if not panels:
            return
        self.gnuplot("timeseries", """set terminal pngcairo size 1100,%d noenhanced font ',10'
set output 'timeseries.png'
set datafile separator ','
set key outside right top vertical
set grid
set ylabel 'thousand ops/s'
set yrange [0:*]
set xrange [0.5:%f]
set xtics 1
set lmargin at screen 0.08
set rmargin at screen 0.78
set multiplot layout %d,1 title 'Throughput in each second of every accepted round (larder-load workloads): one line per round, one colour per server'
%s
unset multiplot
""" % (230 * len(panels) + 40, self.b.args.duration + 0.5, len(panels), "\n".join(panels)))

    # ---- text ----

    def markdown(self):
        m, a = self.machine, self.b.args
        floor = self.run_floor()
        lines = ["# Larder vs memcached", "",
                 "- Date: %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                 "- Machine: %s cores, %s, Linux %s" % (m["cores"], m["cpu"], m["kernel"]),
                 "- Larder: %s (`%s`, tree %s)" % (self.versions.get("larder"), a.larder,
                                                    git_describe()),
                 "- memcached: %s (`%s`), run twice per round: `memcached` and `memcached B`"
                 % (self.versions.get("memcached"), a.memcached),
                 "- Servers: `-t %d -m %d -U 0 -l 127.0.0.1`, fresh per run, order rotating per round"
                 % (a.threads, a.memory),
                 "- Load: larder-load (and memaslap for `memaslap_get90`), %d threads, %d "
                 "connections, %d keys, %g s measured per run after loading the data, %d rounds"
                 % (a.gen_threads, a.conns, a.keys, a.duration, a.rounds),
                 "- Valid runs only: any error or timeout, in loading or measuring, or a second "
                 "of the measured phase without a single reply (a stall), rejects the run; it "
                 "is retried up to %d times, then the workload is INVALID." % a.retries,
                 "- Caveat: load generator and servers share the same %s cores." % m["cores"],
                 "", "## Throughput", "",
                 "Median over rounds, (min–max) in brackets.  Ratio: Larder/memcached paired "
                 "by round.  A/A floor: the largest factor between memcached and memcached B "
                 "in any round of the workload.  A verdict other than noise needs every "
                 "round's ratio outside ±floor, on the same side.",
                 "",
                 "| workload | Larder ops/s | memcached ops/s | ratio L/M | A/A floor | verdict |",
                 "|---|---:|---:|---:|---:|---|"]
        for r in self.table:
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                r["workload"], fmt_spread(r["larder", "ops_per_sec"]),
                fmt_spread(r["memcached", "ops_per_sec"]), fmt_spread(r["ratio"], "%.2f"),
                "±%.0f%%" % ((r["floor"] - 1) * 100) if r["floor"] else "-",
                self.verdict_text(r)))
        lines += ["", "## Cost per request and latency", "",
                  "Server CPU µs per request: user+system CPU of the server process during the "
                  "measured phase ÷ requests answered (a multi-get is one request).  "
                  "Latency: per request, from larder-load's histogram.", "",
                  "| workload | Larder CPU µs/req | memcached CPU µs/req | ratio L/M (A/A floor) "
                  "| L p50 µs | M p50 µs | L p99 µs | M p99 µs |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.table:
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["workload"], fmt_spread(r["larder", "cpu_us_per_req"], "%.2f"),
                fmt_spread(r["memcached", "cpu_us_per_req"], "%.2f"),
                "%s (±%.0f%%) %s" % (fmt(r["cpu_ratio"][0], "%.2f"), (r["cpu_floor"] - 1) * 100,
                                     r["cpu_verdict"]) if r["cpu_ratio"] and r["cpu_floor"]
                else (r["cpu_verdict"] or "-"),
                fmt(r["larder", "p50_us"] and r["larder", "p50_us"][0], "%.0f"),
                fmt(r["memcached", "p50_us"] and r["memcached", "p50_us"][0], "%.0f"),
                fmt(r["larder", "p99_us"] and r["larder", "p99_us"][0], "%.0f"),
                fmt(r["memcached", "p99_us"] and r["memcached", "p99_us"][0], "%.0f")))
        lines += ["", "Workloads:", ""] + ["- `%s` (%s): %s" % (w[0], w[2], w[1])
                                           for w in self.workloads]
        lines += ["", "Run-wide A/A noise floor (largest of the workloads'): %s." %
                  ("±%.0f%%" % ((floor - 1) * 100) if floor else "-"), "",
                  "memcached 1.6.18 sends one sendmsg() per classic get reply even when gets "
                  "are pipelined, which is most of its gap in the classic pipeline-16 "
                  "workloads; the `_meta` rows run the same load with mg/ms, where its "
                  "replies are batched.", ""]
        for name, title in (("throughput", "throughput"), ("ratio", "ratio and noise band"),
                            ("cpu", "CPU per request"), ("latency", "latency"),
                            ("timeseries", "every round, second by second"),
                            ("memfit", "memory fit")):
            if os.path.exists(os.path.join(self.b.out, name + ".png")):
                lines += ["![%s](%s.png)" % (title, name), ""]
        lines += self.memfit_markdown()
        rejected = [r for r in self.b.attempts if r["status"] == "rejected"]
        lines += ["## Rejected runs", ""]
        lines += ["- %s round %d on %s (attempt %d): %s (raw/%s-%s.out)"
                  % (r["workload"], r["round"], r["server"], r["attempt"] + 1, r["problem"],
                     r["tag"], r["server"]) for r in rejected] or ["None."]
        lines += ["", "## Problems", ""]
        probs = ["%s: INVALID: %s" % (w, why) for w, why in self.b.invalid.items()] + self.b.problems
        lines += ["- " + p for p in probs] or ["None: every run was valid."]
        lines += ["", "Every attempt: `runs.csv`; each run's output and per-second CSV: `raw/`.", ""]
        with open(os.path.join(self.b.out, "report.md"), "w") as f:
            f.write("\n".join(lines))

    @staticmethod
    def verdict_text(r):
        v = r["verdict"]
        if v == "INVALID":
            return "**INVALID**: " + r["invalid"]
        return {"faster": "Larder faster", "slower": "memcached faster",
                "noise": "within noise"}.get(v, "-")

    def memfit_markdown(self):
        mf = self.b.memfit
        if not mf:
            return []
        lines = ["## Memory fit (`-m %d`, %d-byte values, %dx the limit written)" %
                 (self.b.args.memory, MEMFIT_VALUE, MEMFIT_FILL_FACTOR), "",
                 "| server | keys written | sets refused | retrievable after | curr_items "
                 "| evictions | VmRSS after fill | time | valid |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        for name in ("larder", "memcached"):
            e = mf.get(name)
            if e:
                lines.append("| %s | %d | %s | %s | %s | %s | %s | %.1f s | %s |" % (
                    name, e["keys"], e.get("refused", "-"), e.get("retrievable", "-"),
                    e.get("items", "-"), e.get("evictions", "-"),
                    "%.1f MB" % (e["rss_kb"] / 1024) if "rss_kb" in e else "-",
                    e["seconds"], "INVALID: " + e["problem"] if e["problem"] else "yes"))
        items_r, rss_r = self.memfit_ratios()
        lines += ["", "Ratio Larder/memcached: retrievable items %s (higher is better), "
                  "VmRSS %s (lower is better)." % (fmt(items_r, "%.2f"), fmt(rss_r, "%.2f")), ""]
        return lines

    def memfit_ratios(self):
        L, M = self.b.memfit.get("larder", {}), self.b.memfit.get("memcached", {})
        if L.get("problem") or M.get("problem"):
            return None, None
        r = lambda a, b: a / b if a is not None and b else None  # noqa: E731
        return r(L.get("retrievable"), M.get("retrievable")), r(L.get("rss_kb"), M.get("rss_kb"))

    def summary_line(self):
        parts = []
        for r in self.table:
            if r["invalid"]:
                parts.append("%s=INVALID" % r["workload"])
            elif r["ratio"]:
                parts.append("%s=%.2f[%.2f-%.2f,floor±%.0f%%,%s]" % (
                    r["workload"], r["ratio"][0], r["ratio"][1], r["ratio"][2],
                    ((r["floor"] or 1) - 1) * 100, r["verdict"]))
        if self.b.memfit:
            items_r, rss_r = self.memfit_ratios()
            parts += ["memfit_items=%s" % fmt(items_r, "%.2f"), "memfit_rss=%s" % fmt(rss_r, "%.2f")]
        return "SUMMARY larder/memcached %s invalid=%d rejected_runs=%d report=%s" % (
            " ".join(parts), len(self.b.invalid),
            sum(1 for r in self.b.attempts if r["status"] == "rejected"),
            os.path.join(self.b.out, "report.md"))

    def write(self):
        self.write_runs_csv()
        if self.table:
            self.plot_throughput()
            self.plot_ratio()
            self.plot_cpu()
            self.plot_latency()
            self.plot_timeseries()
        if self.b.memfit:
            self.plot_memfit()
        self.markdown()


def main(argv=None):
    args = parse_args(argv)
    for path in (args.larder, args.memcached, args.load):
        if not os.access(path, os.X_OK):
            sys.exit("compare: %s is not an executable (build it, or set LARDER_BIN)" % path)
    bench = Bench(args)
    machine = serverctl.machine_info()
    versions = bench.versions()
    log("machine: %d cores, %s, Linux %s" % (machine["cores"], machine["cpu"], machine["kernel"]))
    log("larder: %s (%s)" % (versions["larder"], args.larder))
    log("memcached: %s (%s)" % (versions["memcached"], args.memcached))
    log("results: %s" % bench.out)
    t0 = time.monotonic()
    bench.run_workloads()
    if not args.no_memfit:
        bench.run_memfit()
    report = Report(bench, machine, versions)
    report.write()
    for w, why in bench.invalid.items():
        log("INVALID: %s: %s" % (w, why))
    for p in bench.problems:
        log("PROBLEM: " + p)
    log("done in %.0f s; report: %s" % (time.monotonic() - t0, os.path.join(bench.out, "report.md")))
    log(report.summary_line())
    return 1 if bench.invalid or bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
