#!/usr/bin/env bash
# -d with -P: the parent returns once the server is up, the pidfile names
# the serving process, SIGTERM stops it and removes the pidfile; a daemon
# that cannot bind makes the parent exit non-zero.
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap '[ -f "$tmp/pid" ] && kill "$(cat "$tmp/pid")" 2>/dev/null; rm -rf "$tmp"' EXIT

"$bin" -d -P "$tmp/pid" -p "$port" -U 0 -l 127.0.0.1 -u root
pid=$(cat "$tmp/pid")
kill -0 "$pid"
reply=$(printf 'set d 0 0 2\r\nok\r\nget d\r\nquit\r\n' | nc -q 2 127.0.0.1 "$port" | tr -d '\r')
[ "$reply" = "$(printf 'STORED\nVALUE d 0 2\nok\nEND')" ] || { echo "daemon: bad reply: $reply"; exit 1; }

if "$bin" -d -P "$tmp/pid2" -p "$port" -U 0 -l 127.0.0.1 -u root 2>/dev/null; then
    echo "daemon: a second daemon on a taken port must fail"; exit 1
fi
[ ! -f "$tmp/pid2" ] || { echo "daemon: no pidfile for a daemon that failed"; exit 1; }

kill -TERM "$pid"
for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$pid" 2>/dev/null || { echo "daemon: still running after SIGTERM"; exit 1; }
[ ! -f "$tmp/pid" ] || { echo "daemon: pidfile left behind"; exit 1; }
echo "daemon: ok"
