#!/usr/bin/env bash
# End-to-end test of the WordPress object-cache drop-in
# (wordpress-plugin/object-cache.php) in a real WordPress on a real MariaDB.
#
# Everything is private and on loopback: MariaDB on its own data directory
# and socket (no TCP), the cache server and `php -S` on free 127.0.0.1
# ports, WordPress copied from /usr/share/wordpress into a temporary folder
# with its own wp-config.php.  The site is installed and filled from PHP;
# then the home page, a post, a category, the REST API and the login page
# are loaded:
#   1. without the drop-in, twice (the query counts of the second round are
#      the baseline),
#   2. with the drop-in, cold then warm: the warm round must hit the cache
#      (the server's get_hits grows) and make fewer database queries,
#   3. after editing a post, an option and a category from PHP: the next
#      loads must show the edits (no stale cache),
#   4. with the cache server stopped: every page still works, and the
#      drop-in logs one line per request.
# A small mu-plugin appends one JSON line per request (query count, cache
# counters) to a log the script reads.
#
#   LARDER_BIN=build/larder bash tests/e2e/wordpress.sh
#   E2E_SERVER_BIN=/usr/bin/memcached ...    run against memcached instead
#   E2E_DROPIN=/path/object-cache.php ...   test another copy of the drop-in
#   KEEP_WORK=1 ...                          keep the temporary folder
#
# Exits non-zero on any failure; kills everything it started.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SERVER_BIN=${E2E_SERVER_BIN:-${LARDER_BIN:-$REPO/build/larder}}
WP_SRC=${WP_SRC:-/usr/share/wordpress}
DROPIN=${E2E_DROPIN:-$REPO/wordpress-plugin/object-cache.php}
FILES=$HERE/wordpress

WORK=$(mktemp -d "${TMPDIR:-/tmp}/larder-wp-e2e.XXXXXX")
WP=$WORK/wordpress
LOG=$WORK/requests.jsonl
PIDS=()

say()  { printf 'e2e: [%3ds] %s\n' "$SECONDS" "$*"; }
fail() { printf '%s\n' "e2e: FAIL: $*" >&2; exit 1; }

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Bounded wait: a process that ignores TERM gets KILL after 60 s.
        for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        for f in "$WORK"/*.log "$WP"/wp-content/debug.log; do
            [ -s "$f" ] && { echo "---- $f (tail)"; tail -n 20 "$f"; } >&2
        done
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "e2e: kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); $n = stream_socket_get_name($s, false); echo substr(strrchr($n, ":"), 1);'
}

# wait_for <seconds> <command...>: retries the command until it succeeds.
wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# server_stat <name>: one value of the cache server's "stats".
server_stat() {
    php -r '
        $s = stream_socket_client("tcp://127.0.0.1:" . $argv[1], $e, $m, 2) or exit(1);
        stream_set_timeout($s, 2);
        fwrite($s, "stats\r\n");
        $r = "";
        while (!preg_match("/END\r\n$/", $r) && ($c = fread($s, 8192)) !== false && $c !== "") $r .= $c;
        preg_match("/^STAT " . preg_quote($argv[2]) . " (\S+)/m", $r, $x) or exit(1);
        echo $x[1];' "$CACHE_PORT" "$1"
}

[ -x "$SERVER_BIN" ] || fail "cache server binary not found: $SERVER_BIN (build it with make, or set LARDER_BIN)"
[ -f "$WP_SRC/wp-settings.php" ] || fail "WordPress not found in $WP_SRC (apt-get install wordpress)"
php -r 'exit(class_exists("Memcached") ? 0 : 1);' || fail "the PHP memcached extension is not loaded"

# ---- MariaDB, private ----------------------------------------------------
say "starting MariaDB in $WORK/db"
mariadb-install-db --no-defaults --datadir="$WORK/db" --auth-root-authentication-method=normal \
    --skip-test-db --user=root >"$WORK/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed"
mariadbd --no-defaults --datadir="$WORK/db" --socket="$WORK/mysql.sock" --skip-networking --user=root \
    --pid-file="$WORK/mariadb.pid" --log-error="$WORK/mariadb.log" --innodb-buffer-pool-size=32M \
    --skip-log-bin >/dev/null 2>&1 &
PIDS+=($!)
wait_for 120 mariadb-admin --no-defaults --socket="$WORK/mysql.sock" -uroot ping || fail "MariaDB did not start"
mariadb --no-defaults --socket="$WORK/mysql.sock" -uroot -e 'CREATE DATABASE wordpress' || fail "create database"

# ---- The cache server ----------------------------------------------------
CACHE_PORT=$(free_port)
say "starting $(basename "$SERVER_BIN") on 127.0.0.1:$CACHE_PORT"
user_flag=()
[ "$(id -u)" -eq 0 ] && user_flag=(-u root)
"$SERVER_BIN" -p "$CACHE_PORT" -U 0 -l 127.0.0.1 -m 64 -t 2 -c 1024 "${user_flag[@]}" >"$WORK/cache-server.log" 2>&1 &
PIDS+=($!)
wait_for 60 server_stat pid || fail "cache server did not start"

# ---- WordPress, copied ---------------------------------------------------
say "copying WordPress from $WP_SRC"
mkdir -p "$WP"
# -h follows Debian's symlinks (getid3, javascript libraries) so the copy stands alone.
tar -C "$WP_SRC" -ch --exclude=./wp-config.php --exclude=./.htaccess . | tar -C "$WP" -x
mkdir -p "$WP/wp-content/themes" "$WP/wp-content/mu-plugins" "$WP/wp-content/uploads"
cp -r "$FILES/theme/larder-test" "$WP/wp-content/themes/"
cp "$FILES/mu-plugins/larder-e2e.php" "$WP/wp-content/mu-plugins/"

WP_PORT=$(free_port)
URL=http://127.0.0.1:$WP_PORT
export WP_E2E_URL=$URL
cat >"$WP/wp-config.php" <<EOF
<?php
// Written by tests/e2e/wordpress.sh: a private site on loopback.
define( 'DB_NAME', 'wordpress' );
define( 'DB_USER', 'root' );
define( 'DB_PASSWORD', '' );
define( 'DB_HOST', 'localhost:$WORK/mysql.sock' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
define( 'AUTH_KEY', 'e2e-auth' );
define( 'SECURE_AUTH_KEY', 'e2e-secure-auth' );
define( 'LOGGED_IN_KEY', 'e2e-logged-in' );
define( 'NONCE_KEY', 'e2e-nonce' );
define( 'AUTH_SALT', 'e2e-auth-salt' );
define( 'SECURE_AUTH_SALT', 'e2e-secure-auth-salt' );
define( 'LOGGED_IN_SALT', 'e2e-logged-in-salt' );
define( 'NONCE_SALT', 'e2e-nonce-salt' );
define( 'WP_HOME', '$URL' );
define( 'WP_SITEURL', '$URL' );
// No network beyond loopback: no update checks, no cron HTTP calls.
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_AUTO_UPDATE_CORE', false );
// The drop-in's settings (used once object-cache.php is copied in).
define( 'LARDER_SERVERS', '127.0.0.1:$CACHE_PORT' );
define( 'WP_CACHE_KEY_SALT', 'e2e:' );
define( 'LARDER_E2E_LOG', '$LOG' );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_LOG', '$WP/wp-content/debug.log' );
define( 'WP_DEBUG_DISPLAY', false );
\$table_prefix = 'wp_';
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
EOF

say "installing WordPress"
IDS=$(timeout 60 php "$FILES/wp-tool.php" "$WP" install) || fail "install failed"
POST=$(php -r 'echo json_decode($argv[1])->post;' "$IDS")
CAT=$(php -r 'echo json_decode($argv[1])->category;' "$IDS")
say "post $POST, category $CAT"

say "serving $URL"
php -S "127.0.0.1:$WP_PORT" -t "$WP" >"$WORK/php-server.log" 2>&1 &
PIDS+=($!)
wait_for 60 curl -s -o /dev/null --noproxy '*' --max-time 2 "$URL/wp-login.php" || fail "php -S did not start"

# ---- Loading pages -------------------------------------------------------
PAGES=(home post category rest login)
declare -A PATHS=(
    [home]="/"
    [post]="/?p=$POST"
    [category]="/?cat=$CAT"
    [rest]="/?rest_route=/wp/v2/posts"
    [login]="/wp-login.php"
)
declare -A QUERIES=()      # QUERIES[round.page] = database queries
declare -A HITS=() MISSES=() # per round, from the drop-in's own counters

# expect_in <file> <label> <pattern...>: each pattern must be in the file;
# a pattern starting with '!' must not be.
expect_in() {
    local file=$1 label=$2; shift 2
    for p in "$@"; do
        if [ "${p:0:1}" = '!' ]; then
            ! grep -qF -- "${p:1}" "$file" || fail "$label: unexpected '${p:1}'"
        else
            grep -qF -- "$p" "$file" || fail "$label: missing '$p'"
        fi
    done
}

# load <round> <page> <pattern...>: GET the page, expect 200 and the
# patterns, and record the request's line of the probe log.
load() {
    local round=$1 page=$2; shift 2
    local body=$WORK/body.$round.$page before after code line
    before=$(wc -l <"$LOG" 2>/dev/null || echo 0)
    code=$(curl -s --noproxy '*' --max-time 30 -o "$body" -w '%{http_code}' "$URL${PATHS[$page]}") || fail "$round/$page: curl failed"
    [ "$code" = 200 ] || fail "$round/$page: HTTP $code for ${PATHS[$page]}"
    expect_in "$body" "$round/$page" "$@"
    after=$(wc -l <"$LOG")
    [ "$after" -eq $((before + 1)) ] || fail "$round/$page: the probe logged $((after - before)) lines"
    line=$(tail -n 1 "$LOG")
    read -r q h m d <<<"$(php -r '$l = json_decode($argv[1], true); echo $l["queries"], " ", $l["hits"], " ", $l["misses"], " ", $l["dropin"] ? 1 : 0;' "$line")"
    QUERIES[$round.$page]=$q
    HITS[$round]=$(( ${HITS[$round]:-0} + h ))
    MISSES[$round]=$(( ${MISSES[$round]:-0} + m ))
    [ "$d" = "${DROPIN_ON:-0}" ] || fail "$round/$page: drop-in loaded=$d, expected ${DROPIN_ON:-0}"
}

# round <name> <suffix>: loads every page; <suffix> is what edits appended to names.
round() {
    local r=$1 s=${2:-}
    local name="Larder Pantry${s:+ $s}" feature="Larder feature${s:+ $s}" cat="Larder News${s:+ $s}"
    load "$r" home     "$name" "$feature" "Pantry note 1" "$cat"
    load "$r" post     "$feature" "The feature post body" "First comment"
    load "$r" category "Category: $cat" "$feature" "Pantry note 5" "!Pantry note 2"
    load "$r" rest     "\"rendered\":\"$feature\"" "Pantry note 3"
    load "$r" login    'id="user_login"' "$name"
    local total=0
    for p in "${PAGES[@]}"; do total=$((total + ${QUERIES[$r.$p]})); done
    QUERIES[$r.total]=$total
    say "$(printf '%-12s queries: %s' "$r" "$(for p in "${PAGES[@]}" total; do printf '%s=%s ' "$p" "${QUERIES[$r.$p]}"; done)")"
}

DROPIN_ON=0
round plain-cold
round plain-warm

say "enabling the drop-in"
cp "$DROPIN" "$WP/wp-content/object-cache.php"
DROPIN_ON=1
round cache-cold
hits0=$(server_stat get_hits); misses0=$(server_stat get_misses)
round cache-warm
hits1=$(server_stat get_hits); misses1=$(server_stat get_misses)

warm_hits=$((hits1 - hits0)); warm_misses=$((misses1 - misses0))
[ "$warm_hits" -gt 0 ] || fail "warm round: the server's get_hits did not grow ($hits0 -> $hits1)"
for p in "${PAGES[@]}"; do
    [ "${QUERIES[cache-warm.$p]}" -le "${QUERIES[plain-warm.$p]}" ] \
        || fail "$p: ${QUERIES[cache-warm.$p]} queries with the drop-in, ${QUERIES[plain-warm.$p]} without"
done
[ "${QUERIES[cache-warm.total]}" -lt "${QUERIES[plain-warm.total]}" ] || fail "the drop-in saved no query"
for p in home post category rest; do
    [ "${QUERIES[cache-warm.$p]}" -lt "${QUERIES[plain-warm.$p]}" ] || fail "$p: the drop-in saved no query"
done

# ---- Edits must show at once ---------------------------------------------
say "editing a post, an option and a category from PHP"
EDIT=$(timeout 60 php "$FILES/wp-tool.php" "$WP" edit v2) || fail "edit failed"
php -r '$e = json_decode($argv[1], true); exit($e["dropin"] && $e["external"] ? 0 : 1);' "$EDIT" \
    || fail "the edit script did not run with the drop-in: $EDIT"
round after-edit v2
expect_in "$WORK/body.after-edit.home" after-edit/home "Fresh post v2" "!Pantry note 6" "!Larder feature<"
expect_in "$WORK/body.after-edit.rest" after-edit/rest "Fresh post v2" "!Pantry note 6"
round after-edit-warm v2
hits2=$(server_stat get_hits)
[ "$hits2" -gt "$hits1" ] || fail "no cache hits after the edit"

# ---- Nothing went wrong quietly ------------------------------------------
debug_log=$WP/wp-content/debug.log
if [ -f "$debug_log" ]; then
    ! grep -n 'Larder object cache:' "$debug_log" || fail "the drop-in logged an error"
    ! grep -n 'object-cache\.php' "$debug_log" || fail "PHP complained about object-cache.php"
    ! grep -n 'PHP Fatal' "$debug_log" || fail "fatal PHP error"
fi
kill -0 "${PIDS[1]}" 2>/dev/null || fail "the cache server died"

# ---- Cache server gone: the site carries on ---------------------------------
say "stopping the cache server"
kill "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null || true
start=$SECONDS
round server-down v2
[ $((SECONDS - start)) -le 10 ] || fail "pages were slow with the cache server down"
logged=$(grep -c 'Larder object cache:' "$debug_log" || true)
[ "$logged" -eq ${#PAGES[@]} ] || fail "expected one log line per request with the server down, got $logged"
grep -m1 'Larder object cache:' "$debug_log" | sed 's/^/e2e: logged: /'

ratio=$(php -r 'printf("%.1f", 100 * $argv[1] / max(1, $argv[1] + $argv[2]));' "$warm_hits" "$warm_misses")
dropin_ratio=$(php -r 'printf("%.1f", 100 * $argv[1] / max(1, $argv[1] + $argv[2]));' "${HITS[cache-warm]}" "${MISSES[cache-warm]}")
say "queries on warm loads: ${QUERIES[plain-warm.total]} without the drop-in, ${QUERIES[cache-warm.total]} with it"
say "warm round: server get_hits +$warm_hits, get_misses +$warm_misses (server hit ratio $ratio%);" \
    "drop-in lookups ${HITS[cache-warm]} hits, ${MISSES[cache-warm]} misses ($dropin_ratio% incl. runtime hits)"
say "PASS against $(basename "$SERVER_BIN")"
