#!/usr/bin/env bash
# deb.sh DEB: checks the Debian package that `make deb` built (`make
# test-deb`).
#
#   contents   dpkg-deb -c lists exactly the files expected, with their modes;
#              the control fields (dependencies, the conffile)
#   extracted  dpkg -x into a scratch folder: the files name /usr paths only,
#              and the server runs there through the packaged larder-start
#   installed  as root: dpkg -i in a private mount namespace whose root is an
#              overlay over / (nothing reaches the real system): the
#              maintainer scripts create the user larder, the man page's
#              `larder -d -P /run/larder.pid -u larder` works as printed
#              (plus a free port), larder-start is on PATH, and purge removes
#              the conffile
#
# Prints "ok - ..." / "not ok - ..." per check and "deb: N passed, N failed".
set -uo pipefail
deb=$(readlink -f "${1:?usage: deb.sh DEB}")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        passed=$((passed + 1))
        echo "ok - $what"
    else
        failed=$((failed + 1))
        echo "not ok - $what"
        printf '%s\n' "$out" | head -30 | sed 's/^/    /'
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

expected_contents() {
    cat <<'LIST'
-rw-r--r-- ./etc/larder.conf
-rw-r--r-- ./lib/systemd/system/larder.service
-rw-r--r-- ./lib/systemd/system/larder@.service
-rwxr-xr-x ./usr/bin/larder
-rwxr-xr-x ./usr/bin/larder-start
-rwxr-xr-x ./usr/bin/larder-stat
-rw-r--r-- ./usr/share/doc/larder/LICENSE
-rw-r--r-- ./usr/share/doc/larder/changelog.gz
-rw-r--r-- ./usr/share/doc/larder/copyright
-rw-r--r-- ./usr/share/doc/larder/examples/larder.conf
-rw-r--r-- ./usr/share/larder/wordpress/README.md
-rw-r--r-- ./usr/share/larder/wordpress/object-cache.php
-rw-r--r-- ./usr/share/man/man1/larder.1.gz
LIST
}

deb_contents() {
    local got
    got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $1, $6}' | sort -k2)
    [ "$got" = "$(expected_contents)" ] || { diff <(expected_contents) <(echo "$got"); return 1; }
}

deb_control() {
    local depends conffiles
    depends=$(dpkg-deb -f "$deb" Depends)
    conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
    grep -q 'libevent' <<<"$depends" && grep -q 'libjemalloc' <<<"$depends" &&
        grep -q 'adduser' <<<"$depends" || { echo "Depends: $depends"; return 1; }
    [ "$conffiles" = /etc/larder.conf ] || { echo "conffiles: $conffiles"; return 1; }
}

x=$work/x
dpkg -x "$deb" "$x"

extracted_paths() {
    grep -qx 'ExecStart=/usr/bin/larder-start /etc/larder.conf $OPTIONS' \
        "$x/lib/systemd/system/larder.service" &&
        grep -q 'ExecStart=/usr/bin/larder-start /etc/larder-%i.conf' \
            "$x/lib/systemd/system/larder@.service" &&
        grep -q 'LARDER_BIN:-/usr/bin/larder}' "$x/usr/bin/larder-start" || return 1
    ! grep -rl /usr/local "$x" || return 1
    cmp "$x/usr/share/larder/wordpress/object-cache.php" "$root/wordpress-plugin/object-cache.php" &&
        cmp "$x/etc/larder.conf" "$root/packaging/larder.conf"
}

extracted_runs() {
    local port pid reply rc=0 user=()
    [ "$(id -u)" -eq 0 ] && user=(-u root)
    port=$(free_port)
    "$x/usr/bin/larder" -V | grep -q '^larder 1\.6\.' || { "$x/usr/bin/larder" -V; return 1; }
    LARDER_BIN=$x/usr/bin/larder "$x/usr/bin/larder-start" "$x/etc/larder.conf" -p "$port" "${user[@]}" &
    pid=$!
    for _ in $(seq 600); do nc -z 127.0.0.1 "$port" && break; sleep 0.1; done
    reply=$(printf 'set k 0 0 1\r\nv\r\nget k\r\nquit\r\n' | nc -q 2 127.0.0.1 "$port" | tr -d '\r' | tr '\n' ' ')
    [ "$reply" = "STORED VALUE k 0 1 v END " ] || { echo "reply: $reply"; rc=1; }
    kill "$pid"
    wait "$pid" || rc=1
    "$x/usr/bin/larder-stat" --help | grep -q '^usage: larder-stat' || rc=1
    zcat "$x/usr/share/man/man1/larder.1.gz" >"$work/larder.1"
    MANWIDTH=80 man -l "$work/larder.1" 2>/dev/null | grep -q '^EXAMPLES' || rc=1
    return "$rc"
}

# The part that runs inside the namespace, chrooted into the overlay.
installed_script() {
    cat <<'SCRIPT'
set -u
port=$1
say() { echo "$1 - $2"; }
if dpkg -i /tmp/larder.deb >/tmp/dpkg.log 2>&1; then say ok "dpkg -i"; else say "not ok" "dpkg -i"; cat /tmp/dpkg.log; exit 0; fi
[ "$(dpkg-query -W -f='${db:Status-Status}' larder)" = installed ] && say ok "dpkg says installed" || say "not ok" "dpkg says installed"
dpkg -V larder && say ok "dpkg -V: files as packaged" || say "not ok" "dpkg -V"
uid=$(getent passwd larder | cut -d: -f3)
if [ -n "$uid" ] && [ "$uid" -lt 1000 ] && getent group larder >/dev/null; then
    say ok "postinst created the system user and group larder (uid $uid)"
else
    say "not ok" "postinst created the system user larder: '$(getent passwd larder)'"
fi
[ "$(command -v larder-start)" = /usr/bin/larder-start ] && [ "$(command -v larder)" = /usr/bin/larder ] &&
    [ "$(LARDER_START_PRINT=1 larder-start | head -1)" = /usr/bin/larder ] &&
    say ok "larder-start is on PATH and runs /usr/bin/larder" || say "not ok" "larder-start on PATH"
# The man page's example, with a free port.
if larder -d -P /run/larder.pid -u larder -p "$port" -l 127.0.0.1; then
    pid=$(cat /run/larder.pid 2>/dev/null)
    owner=$(stat -c %U "/proc/$pid" 2>/dev/null)
    reply=$(printf 'version\r\nquit\r\n' | nc -q 2 127.0.0.1 "$port" | tr -d '\r')
    case $owner/$reply in
    larder/"VERSION 1.6."*) say ok "larder -d -P /run/larder.pid -u larder: pidfile, user larder, serving" ;;
    *) say "not ok" "larder -d -P /run/larder.pid -u larder: pid '$pid' owner '$owner' reply '$reply'" ;;
    esac
    kill "$(cat /run/larder.pid)"
    for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$pid" 2>/dev/null && say ok "kill \"\$(cat /run/larder.pid)\" stops it" ||
        { say "not ok" "kill \"\$(cat /run/larder.pid)\" stops it"; kill -9 "$pid"; }
else
    say "not ok" "larder -d -P /run/larder.pid -u larder exited non-zero"
fi
dpkg -P larder >/tmp/dpkg.log 2>&1 && [ ! -e /etc/larder.conf ] && [ ! -e /usr/bin/larder ] &&
    say ok "dpkg -P removes the files and the conffile" || { say "not ok" "dpkg -P"; cat /tmp/dpkg.log; }
SCRIPT
}

# dpkg -i for real, in a mount namespace of its own: an overlay whose lower
# layer is / and whose upper layer is a scratch folder, with /proc and /dev.
deb_installed() {
    local m=$work/ov/merged out port
    mkdir -p "$work/ov/upper" "$work/ov/work" "$m"
    port=$(free_port)
    installed_script >"$work/installed.sh"
    out=$(unshare --mount --propagation private bash -c '
        set -e
        ov=$1 deb=$2 script=$3 port=$4
        mount -t overlay overlay -o "lowerdir=/,upperdir=$ov/upper,workdir=$ov/work" "$ov/merged"
        mount -t proc proc "$ov/merged/proc"
        mount --rbind /dev "$ov/merged/dev"
        mkdir -p "$ov/merged/tmp" "$ov/merged/run"
        cp "$deb" "$ov/merged/tmp/larder.deb"
        cp "$script" "$ov/merged/tmp/installed.sh"
        chroot "$ov/merged" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh /tmp/installed.sh "$port"
    ' _ "$work/ov" "$deb" "$work/installed.sh" "$port" 2>&1)
    # each line the chroot printed is one check; anything else is detail
    local line
    while IFS= read -r line; do
        case $line in
        "ok - "*) passed=$((passed + 1)); echo "ok - installed: ${line#ok - }" ;;
        "not ok - "*) failed=$((failed + 1)); echo "not ok - installed: ${line#not ok - }" ;;
        *) echo "    $line" ;;
        esac
    done <<<"$out"
    grep -q '^ok - dpkg -i' <<<"$out" || { failed=$((failed + 1)); echo "not ok - installed: no dpkg -i ran"; }
}

check "dpkg-deb -c: the files and modes expected" deb_contents
check "control: Depends on libevent, jemalloc, adduser; /etc/larder.conf is a conffile" deb_control
check "dpkg -x: units and wrapper name /usr paths, files as in the tree" extracted_paths
check "dpkg -x: larder -V, larder-start serves, larder-stat and man run" extracted_runs
if [ "$(id -u)" -eq 0 ]; then
    deb_installed
else
    echo "deb: not root: dpkg -i into an overlay not run (not counted)"
fi
echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
