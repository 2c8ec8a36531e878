#!/usr/bin/env bash
# run.sh: Larder as a drop-in for memcached's ecosystem (`make
# test-ecosystem`).  Every part runs against Larder instances started on
# free loopback ports:
#
#   clients.sh    pymemcache, PHP Memcached, PHP Memcache
#   tools.sh      libmemcached's memcp/memcat/memstat/memflush, nc
#                 sessions, memcached-tool, cachedump/metadump listings
#   scaleout.sh   three instances behind twemproxy, and addressed directly
#                 with libmemcached's ketama
#   packaging.sh  make install, the systemd units, larder-start, the man page
#
# Prints "ok - ..." / "not ok - ..." per check and a last line
# "ecosystem: N passed, N failed"; exits non-zero if anything failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034 # root: used by packaging.sh
root=$(cd "$here/../.." && pwd)
LARDER_BIN=${LARDER_BIN:?LARDER_BIN must name the server binary}
KETAMA_BIN=${KETAMA_BIN:?KETAMA_BIN must name the ketama helper}
MAKE=${MAKE:-make}
work=$(mktemp -d)
started=$SECONDS

# shellcheck source=lib.sh
source "$here/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

for part in clients tools scaleout packaging; do
    echo "# $part"
    # shellcheck source=/dev/null
    source "$here/$part.sh"
done

echo "ecosystem: $passed passed, $failed failed ($((SECONDS - started)) s)"
[ "$failed" -eq 0 ]
