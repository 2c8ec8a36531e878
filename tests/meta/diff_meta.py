#!/usr/bin/env python3
"""Differential test of the meta commands: every *.txt script in this folder
is sent to Larder and to memcached (one fresh server each per script) and the
replies must match byte for byte after normalising what is inherently
different: cas numbers, remaining and idle times (t and l flags, whose clocks
tick independently; t-1 is kept), the body of me debug lines, and stats
other than the counters the meta commands move.

Script syntax, server start and exchange come from tests/differential/diff.py.

Usage: diff_meta.py LARDER_BIN [MEMCACHED_BIN]
"""
import importlib.util
import os
import re
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "diff", os.path.join(HERE, "..", "differential", "diff.py"))
diff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(diff)

# Counters compared in "stats" replies; the rest (pids, times, memory) differ.
STATS = {
    b"cmd_get", b"cmd_set", b"cmd_touch", b"cmd_meta", b"get_hits", b"get_misses",
    b"touch_hits", b"touch_misses", b"delete_hits", b"delete_misses", b"incr_hits",
    b"incr_misses", b"decr_hits", b"decr_misses", b"cas_hits", b"cas_misses",
    b"cas_badval", b"curr_items", b"total_items",
}


def keep_stat(m):
    return m.group(0) if m.group(1) in STATS else b""


def normalise(reply):
    reply = diff.normalise(reply)
    reply = re.sub(rb"^STAT (\S+) [^\r]*\r\n", keep_stat, reply, flags=re.M)
    reply = re.sub(rb"^ME (\S+) [^\r]*", rb"ME \1 <debug>", reply, flags=re.M)
    # reply lines only: a code, then flags
    def flags(m):
        line = re.sub(rb"( t)\d+", rb"\1<n>", m.group(0))
        return re.sub(rb"( l)\d+", rb"\1<n>", line)
    return re.sub(rb"^(VA \d+|HD|EN|NS|EX|NF)( [^\r]*)?$", flags, reply, flags=re.M)


def run(binary, data):
    proc, port = diff.start(binary, [])
    try:
        return normalise(diff.exchange(port, data))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=diff.WAIT_S)


def main():
    larder = sys.argv[1]
    memcached = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/memcached"
    scripts = sorted(f for f in os.listdir(HERE) if f.endswith(".txt"))
    failed = 0
    for name in scripts:
        data = diff.load_script(os.path.join(HERE, name))
        got, want = run(larder, data), run(memcached, data)
        if got == want:
            print(f"ok   {name} ({len(got)} reply bytes identical)")
            continue
        failed += 1
        print(f"FAIL {name}")
        diff.print_first_difference(got, want)
    print(f"meta differential: {len(scripts) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
