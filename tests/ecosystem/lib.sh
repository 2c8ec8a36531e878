# shellcheck shell=bash disable=SC2154,SC2015 # work: set by run.sh
# lib.sh: helpers shared by the ecosystem checks; sourced by run.sh.
#
# Every check goes through `check NAME CMD...` (a shell command that must
# succeed) or `tally NAME CMD...` (a program that prints one "ok - ..." or
# "not ok - ..." line per check of its own).  Both add to the counters that
# run.sh prints at the end.  Every server started goes through track(), and
# cleanup(), run.sh's EXIT trap, stops whatever is still running.  The pids
# go to a file, not a variable, because checks run in subshells.

passed=0
failed=0

# track PID: remember a process for cleanup().
track() { echo "$1" >>"$work/pids"; }

note() { echo "  $*"; }

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1${2:+: $2}"; }

# check NAME CMD...: one check; the command's output is shown only on failure.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        pass "$name"
    else
        fail "$name"
        printf '%s\n' "$out" | head -20 | sed 's/^/    /'
    fi
}

# tally NAME CMD...: run a program that reports its own checks, each on a
# line "ok - what" or "not ok - what: why"; a crash or a time-out with no
# failure reported is one failure more.
tally() {
    local name=$1 out rc line nok=0
    shift
    out=$(timeout 300 "$@" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case $line in
        "ok - "*) pass "$name: ${line#ok - }" ;;
        "not ok - "*) fail "$name: ${line#not ok - }"; nok=$((nok + 1)) ;;
        *) [ -n "$line" ] && echo "    $line" ;;
        esac
    done <<<"$out"
    if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
        fail "$name" "exited with status $rc"
    fi
}

# A TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [PID]: until PORT accepts (up to 60 s, which only a hang
# reaches), giving up early when PID (the process that should listen) has
# died.
wait_port() {
    for _ in $(seq 600); do
        nc -z 127.0.0.1 "$1" 2>/dev/null && return 0
        [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
        sleep 0.1
    done
    return 1
}

# larder_start VAR [ARGS...]: start Larder on a free loopback port, leave
# the port in $VAR and the pid in $VAR_pid.  Tries again on another port
# if someone took the port between the probe and the bind.
larder_start() {
    local var=$1 port pid
    shift
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        "$LARDER_BIN" -p "$port" -U 0 -l 127.0.0.1 -u root -t 2 "$@" >>"$work/larder-$var.log" 2>&1 &
        pid=$!
        track "$pid"
        if wait_port "$port" "$pid"; then
            printf -v "$var" '%s' "$port"
            printf -v "${var}_pid" '%s' "$pid"
            return 0
        fi
        kill "$pid" 2>/dev/null
    done
    echo "could not start larder: $(tail -3 "$work/larder-$var.log")" >&2
    return 1
}

# stop_pid PID: SIGTERM, then wait up to 60 s (only a hang), then SIGKILL.
stop_pid() {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 600); do
        kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# Stops only our own kind of process: a pid from the list may have been
# reaped and reused by now.
cleanup() {
    local p
    if [ -f "$work/pids" ]; then
        while read -r p; do
            case $(readlink "/proc/$p/exe" 2>/dev/null) in
            */larder | */nutcracker) stop_pid "$p" ;;
            esac
        done <"$work/pids"
    fi
    rm -rf "$work"
}

# send PORT TEXT: one text-protocol session, replies with the \r removed.
# nc -N half-closes after the input, so nc ends as soon as the server has
# answered and closed (-q1 would always wait a second).
send() {
    printf '%b' "$2" | timeout 10 nc -N -w 10 127.0.0.1 "$1" | tr -d '\r'
}

# stat_of PORT NAME: one value of `stats`.
stat_of() {
    send "$1" 'stats\r\nquit\r\n' | awk -v n="$2" '$1 == "STAT" && $2 == n { print $3 }'
}

# send_oneline PORT TEXT: the replies of a session on one line, for matching.
send_oneline() { send "$1" "$2" | tr '\n' ' '; }

# matches PATTERN CMD...: CMD succeeds and its output matches the ERE.
matches() {
    local pat=$1 out
    shift
    out=$("$@") || { echo "failed: $*"; return 1; }
    grep -Eq -- "$pat" <<<"$out" || { echo "no /$pat/ in:"; echo "$out"; return 1; }
}
