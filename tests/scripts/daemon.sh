#!/usr/bin/env bash
# -d with -P: the parent returns once the server is up, the pidfile names
# the serving process, SIGTERM stops it and removes the pidfile; a daemon
# that cannot bind makes the parent exit non-zero.  As root, the man page's
# `-d -P /run/larder.pid -u larder` too: the pidfile in a directory only
# root may write, the server running as an unprivileged user (nobody).
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

# an existing pidfile (another daemon's) survives a start that fails
echo 12345 >"$tmp/other.pid"
"$bin" -d -P "$tmp/other.pid" -p "$port" -U 0 -l 127.0.0.1 -u nosuchuser 2>/dev/null &&
    { echo "daemon: -u nosuchuser must fail"; exit 1; }
[ "$(cat "$tmp/other.pid")" = 12345 ] || { echo "daemon: a failed start clobbered a pidfile"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
    echo "daemon: ok (not root: -u with a root-only pidfile directory not run)"
    exit 0
fi
run=$tmp/run
mkdir -m 0755 "$run"
"$bin" -d -P "$run/larder.pid" -p "$port" -U 0 -l 127.0.0.1 -u nobody ||
    { echo "daemon: -d -P $run/larder.pid -u nobody failed"; exit 1; }
[ -s "$run/larder.pid" ] || { echo "daemon: no pidfile with -u nobody"; exit 1; }
upid=$(cat "$run/larder.pid")
[ "$(stat -c %U "/proc/$upid")" = nobody ] || { echo "daemon: pid $upid is not running as nobody"; exit 1; }
reply=$(printf 'get d\r\nversion\r\nquit\r\n' | nc -q 2 127.0.0.1 "$port" | tr -d '\r')
case $reply in "END"$'\n'"VERSION "*) ;; *) echo "daemon -u nobody: bad reply: $reply"; exit 1 ;; esac
kill -TERM "$upid"
for _ in $(seq 600); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$upid" 2>/dev/null || { echo "daemon -u nobody: still running after SIGTERM"; exit 1; }
# nobody may not unlink in a root-owned directory: the file is emptied
[ ! -s "$run/larder.pid" ] || { echo "daemon -u nobody: pidfile still names $(cat "$run/larder.pid")"; exit 1; }
echo "daemon: ok"
