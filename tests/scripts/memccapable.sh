#!/usr/bin/env bash
# libmemcached's protocol conformance tool, every ascii and binary check, against Larder.
set -euo pipefail
bin=$1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" -p "$port" -U 0 -l 127.0.0.1 -u root &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 600); do nc -z 127.0.0.1 "$port" && break; sleep 0.1; done
out=$(timeout 600 memccapable -h 127.0.0.1 -p "$port" 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -q "All tests passed" || { echo "$out"; exit 1; }
# every binary check must have run and passed, not only the ascii ones
nbin=$(echo "$out" | grep -c '^binary .*\[pass\]')
[ "$nbin" -ge 27 ] || { echo "$out"; echo "only $nbin binary checks passed"; exit 1; }
echo "memccapable: $(echo "$out" | grep -c '^ascii .*\[pass\]') ascii and $nbin binary tests passed"
