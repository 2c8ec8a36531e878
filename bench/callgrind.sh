#!/usr/bin/env bash
# Instructions per request (callgrind Ir) of Larder and memcached on the
# same request stream: get hit, get miss and set, 32-byte keys, 100-byte
# values, 100,000 keys stored first; see bench/README.md.
#
#   bench/callgrind.sh [DEPTH]
#
# LARDER_BIN and MEMCACHED_BIN override the binaries, SERVERS="larder" (or
# "memcached") measures one, MODES="get,miss,set" picks the request kinds,
# KEEP=1 keeps the dumps (callgrind_annotate them) and prints where.
# CACHESIM=1 adds callgrind's cache simulation (slower) and prints data-read
# misses per request too; CACHESIM_LL="--LL=SIZE,ASSOC,LINE" picks the last
# level (default: this machine's), e.g. one smaller than the data set, as a
# cache of gigabytes has it.
#
# Only instructions under each server's connection event handler count
# (--toggle-collect): Larder's conn_on_event, memcached's event_handler.  The
# Debian memcached is stripped, so its handler is found by address: the
# function that prints "Catastrophic: event fd doesn't match conn fd!".
set -euo pipefail
cd "$(dirname "$0")/.."
DEPTH=${1:-1}
MODES=${MODES:-get,miss,set}
LARDER_BIN=${LARDER_BIN:-build/larder}
MEMCACHED_BIN=${MEMCACHED_BIN:-/usr/bin/memcached}
PORT=${PORT:-$((23000 + RANDOM % 2000))}
OUT=$(mktemp -d /tmp/callgrind.XXXXXX)
[ "$(id -u)" = 0 ] && AS_ROOT="-u root" || AS_ROOT=""

memcached_handler() {
    if nm "$1" 2>/dev/null | grep -q ' t event_handler$'; then
        echo event_handler
        return
    fi
    local off
    off=$(strings -t x "$1" | awk '/Catastrophic: event fd doesn.t match conn fd/ {print $1; exit}')
    [ -n "$off" ] || { echo "cannot find memcached's event handler" >&2; exit 1; }
    # the function holding the lea of that string: the last push before it
    local fn
    fn=$(objdump -d --no-show-raw-insn "$1" |
        awk -v s="# $off " 'index($0, s) {print fn; exit} /^ *[0-9a-f]+:\tpush/ && !inpush {fn=$1; inpush=1}
                            !/push/ {inpush=0}' | tr -d ':')
    [ -n "$fn" ] || { echo "cannot find memcached's event handler" >&2; exit 1; }
    printf '0x%016x\n' "0x$fn"
}

# measure NAME TOGGLE BIN ARGS...: runs BIN under callgrind and the client against it
measure() {
    local name=$1 toggle=$2
    shift 2
    local port=$((PORT++))
    # valgrind refuses a raised file limit; memcached sets its own to -c, so both equal 1024
    ulimit -Sn 1024
    local sim=""
    [ "${CACHESIM:-0}" = 1 ] && sim="--cache-sim=yes ${CACHESIM_LL:-}"
    # names written out in every part, so each dump annotates on its own
    valgrind --tool=callgrind $sim --compress-strings=no --toggle-collect="$toggle" --callgrind-out-file="$OUT/$name.out" \
        "$@" -p "$port" -U 0 -t 1 -m 64 -c 1024 $AS_ROOT >"$OUT/$name.log" 2>&1 &
    local pid=$!
    for _ in $(seq 300); do
        (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
        sleep 0.1
    done
    python3 bench/cg_client.py "$port" "$pid" "$OUT/$name.out" --depth "$DEPTH" --modes "$MODES" |
        sed "s/^/$name /"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

for server in ${SERVERS:-larder memcached}; do
    case $server in
    larder) measure larder conn_on_event "$LARDER_BIN" ;;
    memcached) measure memcached "$(memcached_handler "$MEMCACHED_BIN")" "$MEMCACHED_BIN" ;;
    esac
done
if [ "${KEEP:-0}" = 1 ]; then echo "dumps in $OUT"; else rm -rf "$OUT"; fi
