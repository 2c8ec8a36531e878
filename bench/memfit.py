#!/usr/bin/env python3
"""memfit: how many items Larder keeps in the same memory as memcached.

Each server gets the same -m (64 MB) and 32-byte keys.  For every value
size (10 B, 100 B, 1,000 B, 10,000 B and a uniform mix of 10-2,000 B), a
fresh server is written with several times more than fits, its VmRSS is
read, and every key is read back: the items it still returns are the
figure, and a value that is not exactly the one written is a bad value,
never a hit.  Then churn: log-uniform sizes from 1 B to 1 MB, gets and sets
of random keys from 3 client threads for a fixed time; the hit ratio and
the items held at the end (curr_items) are the figures.

Every run is made on Larder, memcached and a second memcached ("memcached
B"), one after the other, each on a fresh server, in an order that rotates
from round to round.  memcached B / memcached is pure noise: it is printed
beside Larder / memcached so that a ratio is never read without its noise
floor.  A round in which any of the three runs of a row had an error (bad
value, protocol error, lost connection, a server that died) is thrown out
for that row: listed, never averaged in.

Values carry their key and a run derived from it, and sizes of the mix and
of churn are fixed per key (larder-load --key-sizes), so every get is
checked for the exact bytes written, even when sets of the same key race.

Prints one table; writes build/memfit/result.json (every run and the
summary) and build/memfit/raw/ (each larder-load output, server logs).
The last line printed is a MEMFIT key=value summary.  Exit status 1 when a
row has no valid round or any bad value was seen.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serverctl  # noqa: E402
from compare import fmt, load_problems, noise_floor, parse_result, verdict  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVERS = ("larder", "memcached", "memcached_b")

# name, larder-load -V spec, mean value size (for how many keys to write),
# whether sizes are fixed per key (needed for an exact check of a mix)
FILLS = [
    ("10", "10", 10, False),
    ("100", "100", 100, False),
    ("1000", "1000", 1000, False),
    ("10000", "10000", 10000, False),
    ("mix", "10-2000", 1005, True),
]
# 1 MB is memcached's whole item limit (-I 1m), header and key included, so
# the largest value is 1,000,000 B: a refusal would be the limit, not memory.
CHURN_SPEC = "log:1-1000000"
ROWS = [f[0] for f in FILLS] + ["churn"]
LABEL = {"10": "10 B", "100": "100 B", "1000": "1,000 B", "10000": "10,000 B",
         "mix": "mix 10-2,000 B", "churn_items": "churn items", "churn_hit": "churn hit %"}


def parse_args(argv=None):
    default_larder = os.environ.get("LARDER_BIN", os.path.join(ROOT, "build", "larder"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--larder", default=default_larder, help="Larder binary (env LARDER_BIN)")
    p.add_argument("--memcached", default="/usr/bin/memcached", help="memcached binary")
    p.add_argument("--load", default=os.path.join(ROOT, "build", "bench", "larder-load"))
    p.add_argument("--memory", type=int, default=64, help="server memory in MB (-m)")
    p.add_argument("--threads", type=int, default=2, help="server threads (-t)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--fill-factor", type=float, default=3.0,
                   help="bytes of keys and values written per fill, in multiples of -m")
    p.add_argument("--key-size", type=int, default=32)
    p.add_argument("--churn-duration", type=float, default=60.0, help="seconds of churn")
    p.add_argument("--churn-keys", type=int, default=20000)
    p.add_argument("--churn-ratio", default="9:1", help="churn get:set mix")
    p.add_argument("--churn-threads", type=int, default=3, help="client threads of churn")
    p.add_argument("--churn-conns", type=int, default=6, help="connections of churn")
    p.add_argument("--only", help="comma-separated rows (%s; default: all)" % ",".join(ROWS))
    p.add_argument("--out", default=os.path.join(ROOT, "build", "memfit"), help="result folder")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.churn_duration <= 0 or args.fill_factor <= 0 or args.memory < 1:
        p.error("--rounds, --churn-duration, --fill-factor and --memory must be positive")
    args.rows = args.only.split(",") if args.only else list(ROWS)
    unknown = set(args.rows) - set(ROWS)
    if unknown:
        p.error("unknown row(s): %s" % ", ".join(sorted(unknown)))
    return args


def log(msg):
    print(msg, flush=True)


def fill_keys(args, mean_value):
    """Keys whose keys and values together are fill_factor times -m."""
    return int(math.ceil(args.fill_factor * args.memory * 2 ** 20 / (args.key_size + mean_value)))


# ---- summary over rounds: pure functions, tested on their own ----

def min_max(values):
    vals = [v for v in values if v is not None]
    return (min(vals), max(vals)) if vals else None


def median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2


def summarise(rounds, key, memory_mb=None):
    """One table row from rounds = [{server: run}] of one row, where a run
    has the figure `key`, rss_kb, bad_values and problem.  A round with a
    problem in any server's run is thrown out of every figure but the bad
    values, which count every run made."""
    ok = [all(s in r and not r[s].get("problem") for s in SERVERS) for r in rounds]
    valid = [r for r, good in zip(rounds, ok) if good]
    row = {"rounds": len(rounds), "valid_rounds": len(valid),
           "thrown_out": [i for i, good in enumerate(ok, 1) if not good],
           "bad_values": {s: sum(r[s].get("bad_values", 0) for r in rounds if s in r)
                          for s in SERVERS}}
    for s in SERVERS:
        row[s] = median(r[s].get(key) for r in valid)
        rss = [r[s].get("rss_kb") for r in valid if r[s].get("rss_kb")]
        row["rss_mb_" + s] = max(rss) / 1024.0 if rss else None
        if memory_mb and row[s]:
            row["bytes_per_item_" + s] = memory_mb * 2 ** 20 / row[s]
    ratio = [r["larder"][key] / r["memcached"][key] for r in valid if r["memcached"].get(key)]
    aa = [r["memcached_b"][key] / r["memcached"][key] for r in valid if r["memcached"].get(key)]
    row["ratio"], row["aa"] = min_max(ratio), min_max(aa)
    row["floor"] = noise_floor(aa)
    med = median(ratio)
    v = verdict((med,) + row["ratio"], row["floor"]) if row["ratio"] else None
    row["verdict"] = {"faster": "more", "slower": "fewer"}.get(v, v) if v else "INVALID"
    return row


def fmt_range(r, spec="%.3f"):
    if r is None:
        return "-"
    return spec % r[0] if spec % r[0] == spec % r[1] else "%s-%s" % (spec % r[0], spec % r[1])


def fmt_items(v, hit=False):
    if v is None:
        return "-"
    return "%.1f%%" % (100 * v) if hit else "%d" % round(v)


COLUMNS = ["values", "Larder", "memcached", "L/M min-max", "M_B/M min-max", "verdict",
           "B/item L", "B/item M", "RSS L MB", "RSS M MB", "RSS M_B MB", "bad L/M/M_B", "rounds"]


def table_lines(rows):
    """The table as text lines; rows = [(label key, summary, is a hit ratio)]."""
    cells = [COLUMNS]
    for name, s, hit in rows:
        bad = s["bad_values"]
        cells.append([
            LABEL.get(name, name), fmt_items(s["larder"], hit), fmt_items(s["memcached"], hit),
            fmt_range(s["ratio"]), fmt_range(s["aa"]), s["verdict"],
            fmt(s.get("bytes_per_item_larder"), "%.1f"), fmt(s.get("bytes_per_item_memcached"), "%.1f"),
            fmt(s["rss_mb_larder"], "%.1f"), fmt(s["rss_mb_memcached"], "%.1f"),
            fmt(s["rss_mb_memcached_b"], "%.1f"),
            "%d/%d/%d" % (bad["larder"], bad["memcached"], bad["memcached_b"]),
            "%d/%d" % (s["valid_rounds"], s["rounds"])])
    width = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    out = []
    for n, c in enumerate(cells):
        out.append("  ".join(c[i].ljust(width[i]) if i == 0 else c[i].rjust(width[i])
                             for i in range(len(c))).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in width))
    return out


def summary_line(rows):
    parts = []
    for name, s, _ in rows:
        if s["ratio"] is None:
            parts.append("%s=INVALID" % name)
            continue
        parts.append("%s=%s[aa=%s,%s]" % (name, fmt_range(s["ratio"]), fmt_range(s["aa"]),
                                          s["verdict"]))
    bad = sum(sum(s["bad_values"].values()) for _, s, _ in rows)
    return "MEMFIT larder/memcached " + " ".join(parts) + " bad_values=%d" % bad


# ---- runs ----

class MemFit:
    def __init__(self, args):
        self.args = args
        self.raw = os.path.join(args.out, "raw")
        shutil.rmtree(self.raw, ignore_errors=True)
        os.makedirs(self.raw)
        self.binary = {"larder": args.larder, "memcached": args.memcached,
                       "memcached_b": args.memcached}
        self.runs = {name: [] for name in args.rows}  # row -> [{server: run}] per round

    def start(self, name, tag):
        server = serverctl.Server(self.binary[name], threads=self.args.threads,
                                  memory_mb=self.args.memory,
                                  log_path=os.path.join(self.raw, "%s-%s.log" % (tag, name)))
        return server.start()

    def load(self, server, tag, name, extra):
        """One larder-load call; returns (RESULT dict or None, problem or None)."""
        a = self.args
        argv = [a.load, "-s", server.address, "-K", str(a.key_size), "--kv", "-q",
                "--stall-timeout", "10"] + extra
        proc = subprocess.run(argv, capture_output=True, text=True)
        with open(os.path.join(self.raw, "%s-%s.out" % (tag, name)), "a") as f:
            f.write("$ " + " ".join(argv) + "\n" + proc.stdout + proc.stderr + "\n")
        result = parse_result(proc.stdout)
        return result, load_problems(result, proc.returncode)

    def fill(self, server, tag, name, fill):
        """Writes more than fits, reads the VmRSS, reads every key back."""
        _, spec, mean, by_key = fill
        keys = fill_keys(self.args, mean)
        common = ["-T", "2", "-c", "8", "-k", str(keys), "-V", spec, "-d", "0"]
        if by_key:
            common.append("--key-sizes")
        run = {"keys": keys, "bad_values": 0}
        result, why = self.load(server, tag, name, common + ["-P"])
        run["bad_values"] += int(result["bad_values"]) if result else 0
        if result:
            run["refused"] = int(result["sets_refused"])
        if why:
            run["problem"] = "while writing: " + why
            return run
        run["rss_kb"] = server.rss_kb()
        stats = server.stats()
        run.update(curr_items=int(stats.get("curr_items", 0)),
                   evictions=int(stats.get("evictions", 0)))
        result, why = self.load(server, tag, name, common + ["-S"])
        run["bad_values"] += int(result["bad_values"]) if result else 0
        if why:
            run["problem"] = "while reading back: " + why
            return run
        run["items"] = int(result["scan_hits"])
        return run

    def churn(self, server, tag, name, rnd):
        a = self.args
        argv = ["-T", str(a.churn_threads), "-c", str(a.churn_conns), "-k", str(a.churn_keys),
                "-V", CHURN_SPEC, "--key-sizes", "-r", a.churn_ratio, "-P",
                "-d", str(a.churn_duration), "--seed", str(rnd)]
        result, why = self.load(server, tag, name, argv)
        run = {"bad_values": int(result["bad_values"]) if result else 0}
        if result:
            run.update(hit_ratio=result["hit_ratio"], gets=int(result["gets"]),
                       sets=int(result["sets"]), refused=int(result["sets_refused"]),
                       ops_per_sec=result["ops_per_sec"])
        if why:
            run["problem"] = why
            return run
        run["rss_kb"] = server.rss_kb()
        stats = server.stats()
        run.update(items=int(stats.get("curr_items", 0)), evictions=int(stats.get("evictions", 0)))
        return run

    def measure(self, row, rnd, name):
        tag = "%s-r%d" % (row, rnd)
        t0 = time.monotonic()
        try:
            server = self.start(name, tag)
        except serverctl.ServerError as e:
            return {"problem": str(e), "bad_values": 0}
        try:
            if row == "churn":
                run = self.churn(server, tag, name, rnd)
            else:
                run = self.fill(server, tag, name, next(f for f in FILLS if f[0] == row))
            if not server.alive():
                run["problem"] = run.get("problem") or "server exited during the run"
        except OSError as e:
            run = {"problem": "server stopped answering (%s)" % e, "bad_values": 0}
        finally:
            status = server.stop()
        if status is not None:
            run["problem"] = run.get("problem") or "server exited with status %s" % status
        run["seconds"] = round(time.monotonic() - t0, 1)
        return run

    def run(self):
        for rnd in range(1, self.args.rounds + 1):
            order = SERVERS[rnd % 3:] + SERVERS[:rnd % 3]
            for row in self.args.rows:
                results = {}
                for name in order:
                    results[name] = run = self.measure(row, rnd, name)
                    figure = ("hit %.1f%%, %d items" % (100 * run["hit_ratio"], run["items"])
                              if row == "churn" and "items" in run
                              else "%d items" % run["items"] if "items" in run else "-")
                    log("  %-6s round %d %-11s %-22s RSS %6s MB  bad %d  %5.1f s%s" % (
                        row, rnd, name, figure, fmt(run.get("rss_kb") and run["rss_kb"] / 1024, "%.1f"),
                        run["bad_values"], run["seconds"],
                        "  THROWN OUT: " + run["problem"] if run.get("problem") else ""))
                self.runs[row].append(results)

    def table_rows(self):
        rows = []
        for row in self.args.rows:
            if row == "churn":
                rows.append(("churn_items", summarise(self.runs[row], "items"), False))
                rows.append(("churn_hit", summarise(self.runs[row], "hit_ratio"), True))
            else:
                rows.append((row, summarise(self.runs[row], "items", self.args.memory), False))
        return rows


def versions(args):
    out = {}
    for name, binary in (("larder", args.larder), ("memcached", args.memcached)):
        try:
            server = serverctl.Server(binary, memory_mb=args.memory).start()
            out[name] = server.version()
            server.stop()
        except (serverctl.ServerError, OSError) as e:
            out[name] = "unavailable (%s)" % e
    return out


def main(argv=None):
    args = parse_args(argv)
    for path in (args.larder, args.memcached, args.load):
        if not os.access(path, os.X_OK):
            sys.exit("memfit: %s is not an executable (build it, or set LARDER_BIN)" % path)
    t0 = time.monotonic()
    ver = versions(args)
    log("memfit: Larder %s (%s) and memcached %s (%s), -m %d, %d-byte keys, fills of %gx -m, "
        "churn %g s of %s, %d round(s)" % (ver["larder"], args.larder, ver["memcached"],
                                           args.memcached, args.memory, args.key_size,
                                           args.fill_factor, args.churn_duration, CHURN_SPEC,
                                           args.rounds))
    mf = MemFit(args)
    mf.run()
    rows = mf.table_rows()
    lines = table_lines(rows)
    log("")
    log("Items retrievable after writing %gx -m (-m %d, keys %d B); churn: %g s, %s B, "
        "%d keys, get:set %s, %d threads" % (args.fill_factor, args.memory, args.key_size,
                                              args.churn_duration, CHURN_SPEC, args.churn_keys,
                                              args.churn_ratio, args.churn_threads))
    for line in lines:
        log(line)
    log("L = Larder, M = memcached, M_B = a second memcached (its ratio to M is the noise floor); "
        "ratios min-max over valid rounds; B/item = -m / items; RSS after the fill (churn: at the end)")
    problems = []
    for name, s, _ in rows:
        for i in s["thrown_out"]:
            why = "; ".join("%s: %s" % (srv, run.get("problem", "not run"))
                            for srv, run in mf.runs[name.split("_")[0]][i - 1].items()
                            if run.get("problem"))
            problems.append("%s round %d thrown out (%s)" % (name, i, why))
        if s["ratio"] is None:
            problems.append("%s: INVALID, no valid round" % name)
    for p in dict.fromkeys(problems):
        log("PROBLEM: " + p)
    result = {"args": {k: v for k, v in vars(args).items()}, "versions": ver,
              "machine": serverctl.machine_info(), "churn_spec": CHURN_SPEC,
              "seconds": round(time.monotonic() - t0), "table": {n: s for n, s, _ in rows},
              "runs": mf.runs, "problems": problems}
    path = os.path.join(args.out, "result.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    with open(os.path.join(args.out, "table.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    log("done in %.0f s; result: %s" % (time.monotonic() - t0, path))
    line = summary_line(rows)
    log(line)
    bad = any(sum(s["bad_values"].values()) for _, s, _ in rows)
    return 1 if bad or any(s["ratio"] is None for _, s, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
