# packaging.sh: make install, the systemd units, the larder-start wrapper
# with the shipped and a hand-written configuration, the man page.
# Sourced by run.sh.
# shellcheck shell=bash disable=SC2154,SC2015 # here, work, root, ...: set by run.sh and lib.sh

pk_root=$work/destdir
pk_user=()
[ "$(id -u)" -eq 0 ] && pk_user=(-u root)

pk_expected_tree() {
    cat <<'TREE'
755 etc/larder.conf 644
755 usr/local/bin/larder 755
755 usr/local/bin/larder-start 755
755 usr/local/bin/larder-stat 755
755 usr/local/lib/systemd/system/larder.service 644
755 usr/local/lib/systemd/system/larder@.service 644
755 usr/local/share/doc/larder/LICENSE 644
755 usr/local/share/doc/larder/examples/larder.conf 644
755 usr/local/share/larder/wordpress/README.md 644
755 usr/local/share/larder/wordpress/object-cache.php 644
755 usr/local/share/man/man1/larder.1 644
TREE
}

pk_install() {
    local got
    $MAKE --no-print-directory -C "$root" install DESTDIR="$pk_root" >"$work/install.log" 2>&1 ||
        { cat "$work/install.log"; return 1; }
    got=$(cd "$pk_root" && find . -type f -printf '%h %P %m\n' | sort |
        while read -r dir file mode; do echo "$(stat -c %a "$dir") $file $mode"; done)
    [ "$got" = "$(pk_expected_tree)" ] || { diff <(pk_expected_tree) <(echo "$got"); return 1; }
    cmp "$pk_root/usr/local/bin/larder" "$LARDER_BIN" &&
        cmp "$root/packaging/larder.conf" "$pk_root/etc/larder.conf"
}

# PREFIX=/usr moves everything and the files name the new paths.
# shellcheck disable=SC2016 # a literal $OPTIONS
pk_install_prefix() {
    local d=$work/destdir-usr
    $MAKE --no-print-directory -C "$root" install DESTDIR="$d" PREFIX=/usr >/dev/null 2>&1 || return 1
    [ -x "$d/usr/bin/larder" ] && [ -f "$d/usr/share/man/man1/larder.1" ] &&
        grep -qx 'ExecStart=/usr/bin/larder-start /etc/larder.conf $OPTIONS' \
            "$d/usr/lib/systemd/system/larder.service" &&
        grep -q 'LARDER_BIN:-/usr/bin/larder}' "$d/usr/bin/larder-start" &&
        ! grep -rl /usr/local "$d" || { grep -r /usr/local "$d"; return 1; }
}

# The README's install table names every file make install writes, and no
# other ($PREFIX for /usr/local).
pk_readme_table() {
    local listed installed
    listed=$(sed -n 's/^| `\([^`]*\)` *|.*/\1/p' "$root/README.md" | grep -E '^(\$PREFIX|/etc)/' |
        sed 's|^\$PREFIX|usr/local|; s|^/||' | sort)
    installed=$(cd "$pk_root" && find . -type f -printf '%P\n' | sort)
    [ "$listed" = "$installed" ] || { diff <(echo "$listed") <(echo "$installed"); return 1; }
}

# larder-stat runs from where it is installed.
pk_larder_stat() { matches 'usage: larder-stat' "$pk_root/usr/local/bin/larder-stat" --help; }

pk_install_keeps_conf() {
    echo '-m 1' >"$pk_root/etc/larder.conf"
    $MAKE --no-print-directory -C "$root" install DESTDIR="$pk_root" >/dev/null 2>&1 &&
        [ "$(cat "$pk_root/etc/larder.conf")" = "-m 1" ] || return 1
    cp "$root/packaging/larder.conf" "$pk_root/etc/larder.conf"
}

# systemd-analyze checks that ExecStart exists and that the man page in
# Documentation= opens, on the real root: point both into the DESTDIR tree.
pk_verify_units() {
    local d=$work/units out
    mkdir -p "$d"
    for u in larder.service larder@.service; do
        sed "s|/usr/local/bin|$pk_root/usr/local/bin|" \
            "$pk_root/usr/local/lib/systemd/system/$u" >"$d/$u"
    done
    ln -sf larder@.service "$d/larder@cache2.service"
    out=$(cd "$d" && MANPATH=$pk_root/usr/local/share/man \
        timeout 60 systemd-analyze verify "$d/larder.service" "$d/larder@cache2.service" 2>&1) ||
        { echo "$out"; return 1; }
    [ -z "$out" ] || { echo "$out"; return 1; }
}

pk_start() { LARDER_BIN=$pk_root/usr/local/bin/larder "$pk_root/usr/local/bin/larder-start" "$@"; }

pk_shipped_args() {
    local got want
    got=$(LARDER_START_PRINT=1 pk_start "$pk_root/etc/larder.conf" | tail -n +2 | tr '\n' ' ')
    want="-m 64 -p 11211 -U 0 -l 127.0.0.1 -c 1024 -t 4 "
    [ "$got" = "$want" ] || { echo "got:  $got"; echo "want: $want"; return 1; }
}

# pk_run VAR CONF [EXTRA...]: start Larder through the installed wrapper;
# port in $VAR (taken from the CONF's "-p PORT" or EXTRA), pid in $VAR_pid.
pk_run() {
    local var=$1 port=$2 pid
    shift 2
    LARDER_BIN=$pk_root/usr/local/bin/larder "$pk_root/usr/local/bin/larder-start" "$@" \
        >>"$work/larder-$var.log" 2>&1 &
    pid=$!
    track "$pid"
    wait_port "$port" "$pid" || { tail -5 "$work/larder-$var.log"; return 1; }
    printf -v "${var}_pid" '%s' "$pid"
}

# pk_settings PORT NAME=VALUE...: each is in `stats settings`.
pk_settings() {
    local port=$1 out kv
    shift
    out=$(send "$port" 'stats settings\r\nquit\r\n')
    for kv in "$@"; do
        grep -qx "STAT ${kv%%=*} ${kv#*=}" <<<"$out" || { echo "no ${kv/=/ } in:"; echo "$out"; return 1; }
    done
}

# The wrapper execs: the process systemd would watch is Larder itself.
pk_is_larder() { [ "$(readlink "/proc/$1/exe")" = "$(readlink -f "$pk_root/usr/local/bin/larder")" ]; }

pk_shipped_conf_runs() {
    local port
    port=$(free_port)
    pk_run pk_a "$port" "$pk_root/etc/larder.conf" -p "$port" "${pk_user[@]}" || return 1
    pk_settings "$port" "tcpport=$port" maxbytes=67108864 maxconns=1024 num_threads=4 udpport=0 &&
        matches '^STORED VALUE k 0 1 v END $' send_oneline "$port" 'set k 0 0 1\r\nv\r\nget k\r\nquit\r\n' &&
        pk_is_larder "$pk_a_pid"
    local rc=$?
    stop_pid "$pk_a_pid"
    return "$rc"
}

pk_test_conf() {
    cat <<CONF
# A test configuration, written the way people write memcached.conf.
-d
logfile /var/log/larder.log
   -m 32        # thirty-two megabytes
-p $1
-c 100

-t 2
-I 2m
	-o idle_timeout=60,hashpower=18
${pk_user[*]}
CONF
}

pk_test_conf_runs() {
    local port rc
    port=$(free_port)
    pk_test_conf "$port" >"$work/test.conf"
    pk_run pk_b "$port" "$work/test.conf" || return 1
    pk_settings "$port" "tcpport=$port" maxbytes=33554432 maxconns=100 num_threads=2 \
        item_size_max=2097152 idle_timeout=60 hashpower_init=18
    rc=$?
    # -d was dropped: the wrapper's child is still the serving process.
    [ "$rc" = 0 ] && pk_is_larder "$pk_b_pid" && kill -0 "$pk_b_pid" || rc=1
    stop_pid "$pk_b_pid"
    return "$rc"
}

pk_missing_conf() {
    local out
    out=$(pk_start "$work/no-such.conf" 2>&1) && return 1
    grep -q 'cannot read' <<<"$out" || { echo "$out"; return 1; }
}

pk_man_renders() {
    local out warn
    out=$(MANWIDTH=80 man -l "$pk_root/usr/local/share/man/man1/larder.1" 2>"$work/man.err") || return 1
    warn=$(man --warnings -l "$pk_root/usr/local/share/man/man1/larder.1" 2>&1 >/dev/null)
    grep -q '^NAME' <<<"$out" && grep -q 'larder - memcached-compatible' <<<"$out" &&
        grep -q '^EXAMPLES' <<<"$out" && grep -q '^STATISTICS' <<<"$out" && [ -z "$warn" ] ||
        { echo "$warn"; head -20 <<<"$out"; return 1; }
}

# Every flag of `larder -h` is documented (roff writes "-p" as "\-p").
pk_man_all_flags() {
    local flag missing=""
    for flag in $("$LARDER_BIN" -h 2>&1 | sed -n 's/^\(-[A-Za-z]\), --\([a-z-]*\).*/\1 --\2/p'); do
        grep -qF -- "${flag//-/\\-}" "$root/packaging/larder.1" || missing="$missing $flag"
    done
    [ -z "$missing" ] || { echo "not in larder.1:$missing"; return 1; }
}

check "make install DESTDIR=... installs the expected tree" pk_install
check "make install PREFIX=/usr rewrites the paths" pk_install_prefix
check "make install keeps an existing /etc/larder.conf" pk_install_keeps_conf
check "README's install table lists every installed file" pk_readme_table
check "the installed larder-stat runs" pk_larder_stat
if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify larder.service larder@.service" pk_verify_units
else
    note "SKIP systemd-analyze verify: systemd-analyze is not installed (not counted)"
fi
check "larder-start: the shipped larder.conf gives the expected options" pk_shipped_args
check "larder-start: Larder runs with the shipped larder.conf" pk_shipped_conf_runs
check "larder-start: a hand-written conf (comments, -d, logfile, -o)" pk_test_conf_runs
check "larder-start: a missing conf file is an error" pk_missing_conf
check "man -l larder.1 renders without warnings" pk_man_renders
check "larder.1 documents every flag of larder -h" pk_man_all_flags
if command -v shellcheck >/dev/null; then
    check "shellcheck larder-start" shellcheck -s sh "$root/packaging/larder-start"
else
    note "SKIP shellcheck larder-start: shellcheck is not installed (not counted)"
fi
