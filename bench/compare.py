#!/usr/bin/env python3
"""compare: Larder against memcached, same workloads, same machine.

For each workload and round, a fresh Larder and a fresh memcached are started
in turn (A B A B ...) with the same threads and memory on a free loopback
port, and larder-load drives each for the same time.  Fresh servers keep one
run's memory state out of the next; alternating spreads the noise of a shared
machine over both.  The report gives medians over rounds and the ratio
Larder/memcached, plus a memory-fit test: how many 100-byte items stay
retrievable under -m, and the resident memory after filling 10x the limit.

Everything goes to bench/results/<timestamp>/: report.md, PNG plots drawn by
gnuplot, runs.csv with every run, and raw/ with each run's output.  The last
line printed is a SUMMARY of the ratios.  Exit status 1 if any run saw a
wrong reply, a protocol error or a crash.
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverctl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name, description, larder-load arguments.  Common settings are added by
# load_argv(); every get workload prefills so that gets hit.
WORKLOADS = [
    ("get90_p1", "90% get / 10% set, 100 B values, pipeline 1",
     ["-r", "9:1", "-V", "100", "-p", "1", "-P"]),
    ("get90_p16", "90% get / 10% set, 100 B values, pipeline 16",
     ["-r", "9:1", "-V", "100", "-p", "16", "-P"]),
    ("mget10", "multi-get of 10 keys, 100 B values, pipeline 1",
     ["-r", "1:0", "-V", "100", "-b", "10", "-P"]),
    ("set1k", "100% set, 1 KB values, pipeline 1",
     ["-r", "0:1", "-V", "1024"]),
    ("zipf", "90% get / 10% set, zipf 0.99 hot keys, 100 B, pipeline 16",
     ["-r", "9:1", "-V", "100", "-p", "16", "-D", "zipf:0.99", "-P"]),
]

MEMFIT_VALUE = 100
MEMFIT_FILL_FACTOR = 10


def parse_args():
    default_larder = os.environ.get("LARDER_BIN", os.path.join(ROOT, "build", "larder"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--larder", default=default_larder, help="Larder binary (env LARDER_BIN)")
    p.add_argument("--memcached", default="/usr/bin/memcached", help="memcached binary")
    p.add_argument("--load", default=os.path.join(ROOT, "build", "bench", "larder-load"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    p.add_argument("--threads", type=int, default=2, help="server threads (-t)")
    p.add_argument("--memory", type=int, default=64, help="server memory in MB (-m)")
    p.add_argument("--gen-threads", type=int, default=2, help="larder-load threads")
    p.add_argument("--conns", type=int, default=40, help="connections per run")
    p.add_argument("--keys", type=int, default=100000)
    p.add_argument("--meta", action="store_true", help="meta commands instead of get/set")
    p.add_argument("--only", help="comma-separated workload names (default: all)")
    p.add_argument("--no-memfit", action="store_true", help="skip the memory-fit test")
    p.add_argument("--out", help="result folder (default bench/results/<timestamp>)")
    args = p.parse_args()
    if args.rounds < 1 or args.duration <= 0:
        p.error("--rounds and --duration must be positive")
    return args


def log(msg):
    print(msg, flush=True)


def parse_result(text):
    """The RESULT key=value line of larder-load's output, as floats."""
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
    return None


class Bench:
    def __init__(self, args):
        self.args = args
        self.out = args.out or os.path.join(HERE, "results", time.strftime("%Y%m%d-%H%M%S"))
        self.raw = os.path.join(self.out, "raw")
        os.makedirs(self.raw, exist_ok=True)
        self.servers = [("larder", args.larder), ("memcached", args.memcached)]
        self.runs = []      # one dict per run
        self.memfit = {}    # server name -> dict
        self.problems = []  # human-readable lines about errors and crashes

    def start_server(self, name, binary, tag):
        server = serverctl.Server(binary, threads=self.args.threads, memory_mb=self.args.memory,
                                  log_path=os.path.join(self.raw, "%s-%s.log" % (tag, name)))
        return server.start()

    def stop_server(self, server, name, tag):
        """Stops the server; a server that was no longer running crashed."""
        status = server.stop()
        if status is not None:
            self.problems.append("%s: %s exited with status %s during the run (see raw/%s-%s.log)"
                                 % (tag, name, status, tag, name))
            return False
        return True

    def load_argv(self, server, extra, csv_path=None, duration=None):
        a = self.args
        argv = [a.load, "-s", server.address, "-T", str(a.gen_threads), "-c", str(a.conns),
                "-k", str(a.keys), "-d", str(a.duration if duration is None else duration),
                "--kv", "-q"] + extra
        if a.meta:
            argv.append("-m")
        if csv_path:
            argv += ["-o", csv_path]
        return argv

    def run_load(self, argv, tag, name):
        out_path = os.path.join(self.raw, "%s-%s.out" % (tag, name))
        proc = subprocess.run(argv, capture_output=True, text=True)
        with open(out_path, "w") as f:
            f.write("$ " + " ".join(argv) + "\n" + proc.stdout + proc.stderr)
        result = parse_result(proc.stdout)
        if result is None or proc.returncode != 0:
            errors = int(result["errors"]) if result else "?"
            self.problems.append("%s on %s: larder-load exit %d, %s errors (see raw/%s-%s.out)%s"
                                 % (tag, name, proc.returncode, errors, tag, name,
                                    ": " + proc.stderr.strip().splitlines()[0]
                                    if proc.stderr.strip() else ""))
        return result

    def one_run(self, workload, rnd, name, binary):
        wname, _, extra = workload
        tag = "%s-r%d" % (wname, rnd)
        csv_path = os.path.join(self.raw, "%s-%s.csv" % (tag, name))
        try:
            server = self.start_server(name, binary, tag)
        except serverctl.ServerError as e:
            self.problems.append("%s: %s" % (tag, e))
            return
        cpu0 = server.cpu_seconds()
        result = self.run_load(self.load_argv(server, extra, csv_path), tag, name)
        cpu = server.cpu_seconds() - cpu0 if server.alive() else float("nan")
        ok = self.stop_server(server, name, tag)
        if result:
            if result["gets"] == 0:
                result["hit_ratio"] = None  # no gets: no ratio, rather than 0
            self.runs.append({"workload": wname, "round": rnd, "server": name, "ok": ok,
                              "server_cpu_s": cpu, "csv": csv_path, **result})
            log("  %-9s round %d %-9s %10.0f ops/s  p50 %7.1f us  p99 %8.1f us  errors %d"
                % (wname, rnd, name, result["ops_per_sec"], result["p50_us"], result["p99_us"],
                   result["errors"]))

    def run_workloads(self):
        only = set(self.args.only.split(",")) if self.args.only else None
        for workload in WORKLOADS:
            if only and workload[0] not in only:
                continue
            log("%s: %s" % (workload[0], workload[1]))
            for rnd in range(1, self.args.rounds + 1):
                for name, binary in self.servers:
                    self.one_run(workload, rnd, name, binary)

    def run_memfit(self):
        """Fills 10x the memory limit with 100-byte values, then reads every
        key back: how many survive, and what it cost in resident memory."""
        keys = MEMFIT_FILL_FACTOR * self.args.memory * 1024 * 1024 // MEMFIT_VALUE
        log("memfit: %d keys of %d B (%dx -m %d)" % (keys, MEMFIT_VALUE, MEMFIT_FILL_FACTOR,
                                                     self.args.memory, ))
        for name, binary in self.servers:
            try:
                server = self.start_server(name, binary, "memfit")
            except serverctl.ServerError as e:
                self.problems.append("memfit: %s" % e)
                continue
            extra = ["-V", str(MEMFIT_VALUE), "-k", str(keys), "-P", "-S"]
            argv = self.load_argv(server, extra, duration=0)
            t0 = time.monotonic()
            result = self.run_load(argv, "memfit", name)
            secs = time.monotonic() - t0
            entry = {"keys": keys, "seconds": secs}
            if server.alive():
                stats = server.stats()
                entry.update(rss_kb=server.rss_kb(), items=int(stats.get("curr_items", 0)),
                             evictions=int(stats.get("evictions", 0)),
                             bytes=int(stats.get("bytes", 0)))
            if result:
                entry.update(retrievable=int(result["scan_hits"]), errors=int(result["errors"]),
                             refused=int(result["sets_refused"]))
            self.stop_server(server, name, "memfit")
            self.memfit[name] = entry
            log("  %-9s retrievable %s items, VmRSS %s kB, %.0f s"
                % (name, entry.get("retrievable", "?"), entry.get("rss_kb", "?"), secs))

    def versions(self):
        """Versions as the servers report them over the protocol."""
        out = {}
        for name, binary in self.servers:
            try:
                server = self.start_server(name, binary, "version")
                out[name] = server.version()
                self.stop_server(server, name, "version")
            except (serverctl.ServerError, OSError) as e:
                out[name] = "unavailable (%s)" % e
        return out


def median_of(runs, workload, server, key):
    vals = [r[key] for r in runs if r["workload"] == workload and r["server"] == server
            and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def git_describe():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"],
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
        self.workloads = [w for w in WORKLOADS if any(r["workload"] == w[0] for r in bench.runs)]
        self.table = []  # rows of medians per workload
        for wname, desc, _ in self.workloads:
            row = {"workload": wname, "desc": desc}
            for srv in ("larder", "memcached"):
                for key in ("ops_per_sec", "p50_us", "p99_us", "p999_us", "hit_ratio",
                            "server_cpu_s"):
                    row[srv + "_" + key] = median_of(bench.runs, wname, srv, key)
            row["ratio"] = ratio(row["larder_ops_per_sec"], row["memcached_ops_per_sec"])
            row["p99_ratio"] = ratio(row["larder_p99_us"], row["memcached_p99_us"])
            self.table.append(row)

    def write_runs_csv(self):
        keys = ["workload", "round", "server", "ok", "ops_per_sec", "reqs_per_sec", "hit_ratio",
                "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "errors", "server_cpu_s"]
        with open(os.path.join(self.b.out, "runs.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(keys)
            for r in self.b.runs:
                w.writerow([r[k] for k in keys])

    def gnuplot(self, name, script):
        path = os.path.join(self.b.out, name + ".gp")
        with open(path, "w") as f:
            f.write(script)
        proc = subprocess.run(["gnuplot", path], capture_output=True, text=True, cwd=self.b.out)
        if proc.returncode != 0:
            self.b.problems.append("gnuplot %s failed: %s" % (name, proc.stderr.strip()))

    def plot_throughput(self):
        with open(os.path.join(self.b.out, "throughput.dat"), "w") as f:
            f.write("workload larder memcached\n")
            for row in self.table:
                f.write("%s %s %s\n" % (row["workload"], fmt(row["larder_ops_per_sec"], "%.0f"),
                                        fmt(row["memcached_ops_per_sec"], "%.0f")))
        self.gnuplot("throughput", """set terminal pngcairo size 900,500 noenhanced
set output 'throughput.png'
set title 'Throughput, median of rounds (ops/s; a multi-get key counts as one op)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set datafile missing '-'
set key top right
plot 'throughput.dat' using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3)
""")

    def plot_latency(self):
        with open(os.path.join(self.b.out, "latency.dat"), "w") as f:
            f.write("workload larder_p50 memcached_p50 larder_p99 memcached_p99 "
                    "larder_p999 memcached_p999\n")
            for row in self.table:
                vals = [row[s + "_" + p] for p in ("p50_us", "p99_us", "p999_us")
                        for s in ("larder", "memcached")]
                f.write(row["workload"] + " " + " ".join(fmt(v, "%.1f") for v in vals) + "\n")
        self.gnuplot("latency", """set terminal pngcairo size 1000,550 noenhanced
set output 'latency.png'
set title 'Latency percentiles per request, median of rounds (microseconds, log scale)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set datafile missing '-'
set key outside right top
plot for [i=2:7] 'latency.dat' using i:xtic(1) title columnheader(i)
""")

    def plot_timeseries(self):
        """ops/s per second of each workload's last round, both servers."""
        last = self.b.args.rounds
        plots = []
        for wname, _, _ in self.workloads:
            lines = []
            for srv in ("larder", "memcached"):
                run = [r for r in self.b.runs if r["workload"] == wname and r["server"] == srv
                       and r["round"] == last]
                if run and os.path.exists(run[0]["csv"]):
                    rel = os.path.relpath(run[0]["csv"], self.b.out)
                    lines.append("'%s' using 1:2 with linespoints lw 2 title '%s'" % (rel, srv))
            if lines:
                plots.append("set title '%s (round %d)'\nplot %s" % (wname, last, ", ".join(lines)))
        rows = (len(plots) + 1) // 2
        self.gnuplot("timeseries", """set terminal pngcairo size 1100,%d noenhanced
set output 'timeseries.png'
set datafile separator ','
set key bottom right
set grid
set xlabel 'second'
set ylabel 'ops/s'
set yrange [0:*]
set multiplot layout %d,2 title 'Throughput per second'
%s
unset multiplot
""" % (300 * rows, rows, "\n".join(plots)))

    def markdown(self):
        m, a = self.machine, self.b.args
        lines = ["# Larder vs memcached", "",
                 "- Date: %s" % time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                 "- Machine: %s cores, %s, Linux %s" % (m["cores"], m["cpu"], m["kernel"]),
                 "- Larder: %s (`%s`, tree %s)" % (self.versions.get("larder"), a.larder,
                                                    git_describe()),
                 "- memcached: %s (`%s`)" % (self.versions.get("memcached"), a.memcached),
                 "- Servers: `-t %d -m %d -U 0 -l 127.0.0.1`, fresh per run, order A B A B"
                 % (a.threads, a.memory),
                 "- Load: larder-load, %d threads, %d connections, %d keys of 16 B, %s commands, "
                 "%g s per run, %d rounds; figures are medians over rounds"
                 % (a.gen_threads, a.conns, a.keys, "meta" if a.meta else "classic",
                    a.duration, a.rounds),
                 "- Caveat: load generator and servers share the same %s cores." % m["cores"],
                 "", "## Throughput (ops/s) and latency (us)", "",
                 "| workload | Larder ops/s | memcached ops/s | **ratio L/M** | L p50 | M p50 "
                 "| L p99 | M p99 | L p99.9 | M p99.9 | L hit | M hit | L cpu s | M cpu s |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in self.table:
            lines.append("| %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
                         % (r["workload"], fmt(r["larder_ops_per_sec"]),
                            fmt(r["memcached_ops_per_sec"]), fmt(r["ratio"], "%.2f"),
                            fmt(r["larder_p50_us"], "%.1f"), fmt(r["memcached_p50_us"], "%.1f"),
                            fmt(r["larder_p99_us"], "%.1f"), fmt(r["memcached_p99_us"], "%.1f"),
                            fmt(r["larder_p999_us"], "%.1f"), fmt(r["memcached_p999_us"], "%.1f"),
                            fmt(r["larder_hit_ratio"], "%.3f"), fmt(r["memcached_hit_ratio"], "%.3f"),
                            fmt(r["larder_server_cpu_s"], "%.1f"),
                            fmt(r["memcached_server_cpu_s"], "%.1f")))
        lines += ["", "Workloads:", ""] + ["- `%s`: %s" % (w[0], w[1]) for w in self.workloads]
        lines += ["", "Reading the table: an op is one key (a 10-key multi-get is 10 ops, one "
                  "request); latencies are per request, from larder-load's histogram (within "
                  "0.8%); cpu s is the server's user+system CPU during the run.  Ratios above 1 "
                  "favour Larder for ops/s, below 1 for latency.  memcached 1.6.18 sends one "
                  "sendmsg() per classic get reply even when gets are pipelined, which weighs on "
                  "it in the pipeline-16 workloads; `--meta` measures the meta commands instead."]
        if self.table:
            lines += ["", "![throughput](throughput.png)", "", "![latency](latency.png)", "",
                      "![ops per second](timeseries.png)", ""]
        lines += self.memfit_markdown()
        lines += ["## Problems", ""]
        lines += ["- " + p for p in self.b.problems] or ["None: every reply was checked and valid."]
        lines += ["", "Every run: `runs.csv`; each run's output and per-second CSV: `raw/`.", ""]
        with open(os.path.join(self.b.out, "report.md"), "w") as f:
            f.write("\n".join(lines))

    def memfit_markdown(self):
        mf = self.b.memfit
        if not mf:
            return []
        lines = ["## Memory fit (`-m %d`, %d-byte values, %dx the limit written)" %
                 (self.b.args.memory, MEMFIT_VALUE, MEMFIT_FILL_FACTOR), "",
                 "| server | keys written | sets refused (out of memory) | retrievable after "
                 "| curr_items | evictions | VmRSS after fill | fill + read time | errors |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name in ("larder", "memcached"):
            e = mf.get(name)
            if e:
                lines.append("| %s | %d | %s | %s | %s | %s | %s | %.1f s | %s |" % (
                    name, e["keys"], e.get("refused", "-"), e.get("retrievable", "-"),
                    e.get("items", "-"), e.get("evictions", "-"),
                    "%.1f MB" % (e["rss_kb"] / 1024) if "rss_kb" in e else "-",
                    e["seconds"], e.get("errors", "-")))
        items_r, rss_r = self.memfit_ratios()
        lines += ["", "Ratio Larder/memcached: retrievable items %s (higher is better), "
                  "VmRSS %s (lower is better)." % (fmt(items_r, "%.2f"), fmt(rss_r, "%.2f")), ""]
        return lines

    def memfit_ratios(self):
        L, M = self.b.memfit.get("larder", {}), self.b.memfit.get("memcached", {})
        return (ratio(L.get("retrievable"), M.get("retrievable")),
                ratio(L.get("rss_kb"), M.get("rss_kb")))

    def summary_line(self):
        parts = ["%s=%s" % (r["workload"], fmt(r["ratio"], "%.2f")) for r in self.table]
        if self.b.memfit:
            items_r, rss_r = self.memfit_ratios()
            parts += ["memfit_items=%s" % fmt(items_r, "%.2f"), "memfit_rss=%s" % fmt(rss_r, "%.2f")]
        return "SUMMARY larder/memcached %s errors=%d report=%s" % (
            " ".join(parts), len(self.b.problems), os.path.join(self.b.out, "report.md"))

    def write(self):
        self.write_runs_csv()
        if self.table:
            self.plot_throughput()
            self.plot_latency()
            self.plot_timeseries()
        self.markdown()


def main():
    args = parse_args()
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
    for p in bench.problems:
        log("PROBLEM: " + p)
    log("done in %.0f s; report: %s" % (time.monotonic() - t0, os.path.join(bench.out, "report.md")))
    log(report.summary_line())
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main())
