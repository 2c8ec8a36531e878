#!/usr/bin/env bash
# Runs the shell-level checks against $LARDER_BIN and prints a closing line
# in the "N passed, N failed" form.
set -uo pipefail
cd "$(dirname "$0")"
bin=${LARDER_BIN:?LARDER_BIN must name the server binary}
passed=0 failed=0
run() {
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $*"; fi
}
run bash scripts/daemon.sh "$bin"
run bash scripts/memccapable.sh "$bin"
run /usr/bin/python3 scripts/security.py "$bin"
run python3 scripts/restart.py "$bin"
run python3 differential/diff.py "$bin" /usr/bin/memcached
run python3 differential/diff_bin.py "$bin" /usr/bin/memcached
echo "scripts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
