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
#   4. coherence: the drop-in is removed, the site title changed without
#      it, the drop-in copied back: the new title shows (the guard plugin
#      the drop-in wrote marked the gap, so a new epoch starts),
#   5. the page cache (advanced-cache.php, WP_CACHE): a second anonymous
#      load is a HIT that runs no WordPress, a logged-in user is never
#      served from the cache, an edit shows on the next anonymous load, and
#      nginx (memcached_pass, wordpress-plugin/nginx/larder-page-cache.conf)
#      serves the cached page with PHP stopped,
#   6. with the cache server stopped: every page still works, and the
#      drop-in logs one line (not one per request).
# A small mu-plugin appends one JSON line per request (query count, cache
# counters) to a log the script reads.
#
#   LARDER_BIN=build/larder bash tests/e2e/wordpress.sh
#   E2E_SERVER_BIN=/usr/bin/memcached ...    run against memcached instead
#   E2E_DROPIN=/path/object-cache.php ...   test another copy of the drop-in
#   KEEP_WORK=1 ...                          keep the temporary folder
#   E2E_BENCH=1 ...                          also measure requests/s with ab (see bench_pages)
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
define( 'LARDER_STATE_DIR', '$WORK' );
// The page cache is switched on and off by a flag file.
define( 'WP_CACHE', file_exists( __DIR__ . '/page-cache-on' ) );
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

start_php() {
    php ${PHP_ARGS:-} -S "127.0.0.1:$WP_PORT" -t "$WP" >>"$WORK/php-server.log" 2>&1 &
    PHP_PID=$!
    PIDS+=($PHP_PID)
    wait_for 60 curl -s -o /dev/null --noproxy '*' --max-time 2 "$URL/wp-login.php" || fail "php -S did not start"
}
stop_php() {
    kill "$PHP_PID"
    wait "$PHP_PID" 2>/dev/null || true
}
say "serving $URL"
start_php

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

# ---- Benchmark (E2E_BENCH=1) -------------------------------------------------
# bench_pages: anonymous requests/s on the feature post, with ab (and wrk for
# nginx), four ways: no cache, object cache only, page cache through PHP,
# nginx reading Larder.  One php -S worker, with OPcache; load generator,
# servers and database all on this machine.
# Writes $WORK/bench.md (and E2E_BENCH_OUT, when set).
bench_one() {
    local label=$1 url=$2 tool=${3:-ab} h0 m0 h1 m1 rps non2xx ratio
    for _ in $(seq 20); do curl -s -o /dev/null --noproxy '*' --max-time 30 -H "$SITE_HOST" "$url"; done # warm up
    h0=$(server_stat get_hits); m0=$(server_stat get_misses)
    if [ "$tool" = ab ]; then
        ab -q -H "$SITE_HOST" -c "$BENCH_C" -t "$BENCH_SECS" -n 100000000 "$url" >"$WORK/bench.$label" 2>&1 \
            || fail "ab failed: $(tail -n 3 "$WORK/bench.$label")"
        rps=$(sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p' "$WORK/bench.$label")
        non2xx=$(sed -n 's/^Non-2xx responses: *\([0-9]*\).*/\1/p' "$WORK/bench.$label")
        cmd="ab -H 'Host: SITE' -c $BENCH_C -t $BENCH_SECS -n 100000000 URL"
    else
        wrk -H "$SITE_HOST" -t 1 -c "$BENCH_C" -d "${BENCH_SECS}s" "$url" >"$WORK/bench.$label" 2>&1 || fail "wrk failed"
        rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$WORK/bench.$label")
        non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$WORK/bench.$label")
        cmd="wrk -H 'Host: SITE' -t 1 -c $BENCH_C -d ${BENCH_SECS}s URL"
    fi
    [ -n "$rps" ] || fail "no result from $tool: $(tail -n 5 "$WORK/bench.$label")"
    [ -z "$non2xx" ] || [ "$non2xx" = 0 ] || fail "$label: $non2xx responses were not 200"
    h1=$(server_stat get_hits); m1=$(server_stat get_misses)
    ratio=$(php -r 'printf("%.1f%%", 100 * $argv[1] / max(1, $argv[1] + $argv[2]));' $((h1 - h0)) $((m1 - m0)))
    [ $((h1 - h0 + m1 - m0)) -gt 0 ] || ratio="-"
    printf '| %s | %s | %s | %s | `%s` |\n' "$label" "$rps" "$ratio" "$((h1 - h0)) / $((m1 - m0))" "$cmd" | tee -a "$WORK/bench.md"
}
bench_pages() {
    BENCH_SECS=${E2E_BENCH_SECONDS:-10}
    BENCH_C=${E2E_BENCH_CONCURRENCY:-4}
    local target="/?p=$POST"
    say "benchmark: $BENCH_SECS s per setup, $BENCH_C concurrent connections, $target"
    mv "$WP/wp-content/mu-plugins/larder-e2e.php" "$WORK/probe.php" # no probe log while measuring
    # PHP as it runs on a server: with OPcache (off by default in the CLI;
    # timestamps checked on every request, as files are swapped below).
    stop_php
    PHP_ARGS="-d opcache.enable_cli=1 -d opcache.validate_timestamps=1 -d opcache.revalidate_freq=0"
    start_php
    printf '| setup | requests/s | server hit ratio | get hits / misses | command |\n| --- | ---: | ---: | ---: | --- |\n' >"$WORK/bench.md"
    rm -f "$WP/page-cache-on" "$WP/wp-content/object-cache.php"
    bench_one "no cache (php -S)" "$URL$target"
    cp "$DROPIN" "$WP/wp-content/object-cache.php"
    bench_one "object cache (php -S)" "$URL$target"
    touch "$WP/page-cache-on"
    bench_one "page cache through PHP (php -S)" "$URL$target"
    bench_one "nginx memcached_pass" "$NGINX_URL$target"
    bench_one "nginx memcached_pass, keep-alive" "$NGINX_URL$target" wrk
    mv "$WORK/probe.php" "$WP/wp-content/mu-plugins/larder-e2e.php"
    stop_php
    PHP_ARGS=""
    start_php
    [ -z "${E2E_BENCH_OUT:-}" ] || cp "$WORK/bench.md" "$E2E_BENCH_OUT"
}

# ---- Coherence: removed, changed without it, copied back ---------------------
say "re-install: removing the drop-in, renaming the site without it, copying it back"
[ -f "$WP/wp-content/mu-plugins/larder-cache-guard.php" ] || fail "the drop-in did not write its guard plugin"
rm "$WP/wp-content/object-cache.php"
OUT=$(timeout 60 php "$FILES/wp-tool.php" "$WP" set-option blogname "Larder Pantry v3") || fail "set-option failed"
php -r 'exit(json_decode($argv[1])->dropin ? 1 : 0);' "$OUT" || fail "set-option ran with the drop-in: $OUT"
cp "$DROPIN" "$WP/wp-content/object-cache.php"
load reinstalled home "Larder Pantry v3" "!Larder Pantry v2<"
load reinstalled login "Larder Pantry v3"
say "after re-install the site shows the title set without the drop-in"
OUT=$(timeout 60 php "$FILES/wp-tool.php" "$WP" set-option blogname "Larder Pantry v2") || fail "set-option failed"
load renamed-back home "Larder Pantry v2<"

# ---- The page cache ----------------------------------------------------------
# fetch <label> <url> [curl args...]: saves body and headers, prints the status.
fetch() {
    local label=$1 url=$2; shift 2
    curl -s --noproxy '*' --max-time 30 -D "$WORK/page.$label.h" -o "$WORK/page.$label" -w '%{http_code}' "$@" "$url" || echo 000
}
# header <label> <name>: one response header of a fetch.
header() { tr -d '\r' <"$WORK/page.$1.h" | sed -n "s/^$2: //Ip" | head -n 1; }
# expect_page <label> <code> <x-cache> <pattern...>
expect_page() {
    local label=$1 code=$2 want=$3 got; shift 3
    got=$(cat "$WORK/page.$label.code")
    [ "$got" = "$code" ] || fail "page $label: HTTP $got, expected $code"
    [ "$(header "$label" X-Cache)" = "$want" ] || fail "page $label: X-Cache '$(header "$label" X-Cache)', expected '$want'"
    [ $# -eq 0 ] || expect_in "$WORK/page.$label" "page $label" "$@"
}
page() { local label=$1; fetch "$@" >"$WORK/page.$label.code"; }

say "page cache: advanced-cache.php with WP_CACHE"
cp "$REPO/wordpress-plugin/advanced-cache.php" "$WP/wp-content/advanced-cache.php"
touch "$WP/page-cache-on"
POST_URL="$URL/?p=$POST"
page pc-miss "$POST_URL"
expect_page pc-miss 200 MISS "Larder feature v2<" "The feature post body"
lines=$(wc -l <"$LOG")
page pc-hit "$POST_URL"
expect_page pc-hit 200 HIT
cmp -s "$WORK/page.pc-miss" "$WORK/page.pc-hit" || fail "the cached page differs from the one WordPress made"
[ "$(wc -l <"$LOG")" -eq "$lines" ] || fail "a page cache hit ran WordPress"
[ "$(header pc-hit Content-Type)" = "text/html; charset=UTF-8" ] || fail "cached page content type: $(header pc-hit Content-Type)"
say "second anonymous load: X-Cache: HIT, no WordPress run, same bytes"

COOKIE=$(timeout 60 php "$FILES/wp-tool.php" "$WP" login-cookie) || fail "login-cookie failed"
page pc-user "$POST_URL" -b "$COOKIE"
expect_page pc-user 200 BYPASS "wpadminbar" "Larder feature v2<"
page pc-user2 "$URL/?cat=$CAT" -b "$COOKIE"
expect_page pc-user2 200 BYPASS "wpadminbar"
page pc-anon "$URL/?cat=$CAT"
expect_page pc-anon 200 MISS "!wpadminbar"
page pc-anon2 "$POST_URL"
expect_page pc-anon2 200 HIT "!wpadminbar"
say "logged in: X-Cache: BYPASS, own page; anonymous pages never show the admin bar"

page pc-home "$URL/"
page pc-home2 "$URL/"
expect_page pc-home2 200 HIT "Larder feature v2<"
timeout 60 php "$FILES/wp-tool.php" "$WP" retitle v4 >/dev/null || fail "retitle failed"
page pc-edited "$POST_URL"
expect_page pc-edited 200 MISS "Larder feature v4<" "!Larder feature v2<"
page pc-edited-home "$URL/"
expect_page pc-edited-home 200 MISS "Larder feature v4<"
page pc-edited-cat "$URL/?cat=$CAT"
expect_page pc-edited-cat 200 MISS "Larder feature v4<"
page pc-edited-hit "$POST_URL"
expect_page pc-edited-hit 200 HIT "Larder feature v4<"
say "after an edit: the post, the home page and the category are fresh on the next anonymous load"

# ---- nginx in front, reading Larder ------------------------------------------
NGINX_PORT=$(free_port)
NGX=$WORK/nginx
NGINX_URL=http://127.0.0.1:$NGINX_PORT
# Requests to nginx carry the site's own Host (WP_HOME), as in production
# where nginx and WordPress answer for the same name: WordPress would
# otherwise redirect to its canonical host.  nginx's $host drops the port,
# so the key is the one PHP's page cache uses.
SITE_HOST="Host: 127.0.0.1:$WP_PORT"
mkdir -p "$NGX/logs"
sed -e "s/server 127.0.0.1:11211;/server 127.0.0.1:$CACHE_PORT;/" \
    -e "s/server 127.0.0.1:8080;/server 127.0.0.1:$WP_PORT;/" \
    -e "s/listen 127.0.0.1:80;/listen 127.0.0.1:$NGINX_PORT;/" \
    -e "s#root /var/www/wordpress;#root $WP;#" \
    "$REPO/wordpress-plugin/nginx/larder-page-cache.conf" >"$NGX/site.conf"
grep -q "listen 127.0.0.1:$NGINX_PORT;" "$NGX/site.conf" && grep -q "server 127.0.0.1:$CACHE_PORT;" "$NGX/site.conf" \
    || fail "could not adapt the nginx example"
nginx_user=""
if [ "$(id -u)" -eq 0 ]; then
    nginx_user="user nobody nogroup;"   # workers without privileges
    chmod 711 "$WORK"
fi
cat >"$NGX/nginx.conf" <<NGINX
$nginx_user
worker_processes 1;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    include $NGX/site.conf;
}
NGINX
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx)"
nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" || fail "nginx refuses the configuration"
say "starting nginx on $NGINX_URL (memcached_pass to 127.0.0.1:$CACHE_PORT)"
nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" &
PIDS+=($!)
NGINX_PID=$!
wait_for 60 curl -s -o /dev/null --noproxy '*' --max-time 2 "$NGINX_URL/wp-login.php" || fail "nginx did not start"

page ng-hit "$NGINX_URL/?p=$POST" -H "$SITE_HOST"
expect_page ng-hit 200 HIT "Larder feature v4<"
[ "$(header ng-hit X-Cache-Source)" = nginx ] || fail "the page did not come from nginx's memcached module"
cmp -s "$WORK/page.ng-hit" "$WORK/page.pc-edited-hit" || fail "nginx sent other bytes than PHP's page cache"
page ng-miss "$NGINX_URL/?tag=cache" -H "$SITE_HOST"
expect_page ng-miss 200 MISS
page ng-miss2 "$NGINX_URL/?tag=cache" -H "$SITE_HOST"
expect_page ng-miss2 200 HIT
[ "$(header ng-miss2 X-Cache-Source)" = nginx ] || fail "a page stored through nginx was not served by nginx"
page ng-user "$NGINX_URL/?p=$POST" -H "$SITE_HOST" -b "$COOKIE"
expect_page ng-user 200 BYPASS "wpadminbar"

say "stopping PHP: nginx alone serves the cached pages"
stop_php
page ng-nophp "$NGINX_URL/?p=$POST" -H "$SITE_HOST"
expect_page ng-nophp 200 HIT "Larder feature v4<" "The feature post body"
[ "$(header ng-nophp X-Cache-Source)" = nginx ] || fail "the page did not come from nginx"
code=$(fetch ng-nophp-user "$NGINX_URL/?p=$POST" -H "$SITE_HOST" -b "$COOKIE")
[ "$code" != 200 ] || fail "a logged-in user got a page with PHP stopped (so: from the cache)"
code=$(fetch ng-nophp-post "$NGINX_URL/?p=$POST" -H "$SITE_HOST" --data 'x=1')
[ "$code" != 200 ] || fail "a POST was answered from the cache"
say "with PHP stopped: the cached page (200, from nginx); logged in or POST: HTTP $code, never the cache"
start_php

if [ "${E2E_BENCH:-0}" = 1 ]; then
    bench_pages
fi

timeout 60 php "$FILES/wp-tool.php" "$WP" retitle v2 >/dev/null || fail "retitle failed" # As the later rounds expect.
rm -f "$WP/page-cache-on"
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true
if [ -f "$debug_log" ]; then
    ! grep -n 'advanced-cache\.php\|object-cache\.php\|PHP Fatal' "$debug_log" || fail "PHP complained during the page-cache tests"
    ! grep -n 'Larder page cache:' "$debug_log" || fail "the page cache logged an error"
fi

# ---- The companion plugin ------------------------------------------------------
say "companion plugin: activate, status, settings page, Site Health, disable, enable"
COMP=$WP/wp-content/plugins/larder-object-cache
cp -r "$REPO/wordpress-plugin/larder-object-cache" "$WP/wp-content/plugins/"
mkdir -p "$COMP/dropins" # As packaged: the drop-ins travel with the plugin.
cp "$REPO/wordpress-plugin/object-cache.php" "$REPO/wordpress-plugin/advanced-cache.php" "$COMP/dropins/"
companion() { timeout 60 php "$FILES/wp-tool.php" "$WP" companion "$@"; }
json() { php -r '$j = json_decode($argv[1], true); foreach (explode(".", $argv[2]) as $k) { $j = $j[$k] ?? null; } echo is_bool($j) ? ($j ? "true" : "false") : (is_array($j) ? json_encode($j) : $j);' "$1" "$2"; }
[ "$(json "$(companion activate)" active)" = true ] || fail "the companion plugin did not activate"
OUT=$(companion status) || fail "wp larder status failed: $OUT"
[ "$(json "$OUT" type)" = Larder ] || fail "cache type: $(json "$OUT" type)"
[ "$(json "$OUT" rows.0.status)" = connected ] || fail "status: $OUT"
[ "$(json "$OUT" rows.0.server)" = "127.0.0.1:$CACHE_PORT" ] || fail "status: $OUT"
[ "$(json "$OUT" rows.0.version)" = "$(server_stat version)" ] || fail "status: $OUT"
case "$(json "$OUT" lines.0)" in "Object cache: installed, version "*) ;; *) fail "status: $OUT" ;; esac
say "wp larder status: $(json "$OUT" lines.0 | tr -s ' '); $(json "$OUT" rows.0.server) $(json "$OUT" rows.0.status), hit ratio $(json "$OUT" 'rows.0.hit ratio'), memory $(json "$OUT" rows.0.memory)"
page admin "$URL/wp-admin/options-general.php?page=larder" -b "$COOKIE"
expect_page admin 200 "" "Larder cache" "127.0.0.1:$CACHE_PORT" "connected" "$(server_stat version)" "Flush the caches" "Disable"
HEALTH=$(companion health) || fail "Site Health failed"
[ "$(json "$HEALTH" larder_server)" = good ] && [ "$(json "$HEALTH" larder_dropin)" = good ] || fail "Site Health: $HEALTH"
# The hit ratio test warns below 80% once there are 1,000 gets; this run's
# page-cache misses count too.  Its verdict must agree with the figures.
want=$(php -r '$h = (int) $argv[1]; $m = (int) $argv[2]; echo ($h + $m >= 1000 && $h / ($h + $m) < 0.8) ? "recommended" : "good";' "$(server_stat get_hits)" "$(server_stat get_misses)")
[ "$(json "$HEALTH" larder_ratio)" = "$want" ] || fail "Site Health hit ratio: $HEALTH, expected $want"
say "settings page and Site Health: $HEALTH"
OUT=$(companion disable) || fail "wp larder disable failed: $OUT"
[ ! -e "$WP/wp-content/object-cache.php" ] || fail "disable left object-cache.php"
epoch=$(mariadb --no-defaults --socket="$WORK/mysql.sock" -uroot -N -e "SELECT option_value FROM wordpress.wp_options WHERE option_name = 'larder_cache_epoch'")
case "$epoch" in gap:*) ;; *) fail "disable did not mark the database epoch: '$epoch'" ;; esac
DROPIN_ON=0
load companion-off home "Larder Pantry v2<"
OUT=$(companion enable) || fail "wp larder enable failed: $OUT"
cmp -s "$COMP/dropins/object-cache.php" "$WP/wp-content/object-cache.php" || fail "enable did not install the bundled drop-in"
DROPIN_ON=1
load companion-on home "Larder Pantry v2<"
load companion-on-warm post "Larder feature v2<"
say "disable and enable through the plugin's logic, in this WordPress: done"
if [ -f "$debug_log" ]; then
    # (WordPress's own update checks warn here: no internet. Only Larder's files matter.)
    ! grep -n 'PHP Fatal\|PHP [A-Za-z ]*:.*\(larder-object-cache/\|advanced-cache\.php\|object-cache\.php\)' "$debug_log" || fail "PHP complained about the companion plugin"
fi

# ---- Cache server gone: the site carries on ---------------------------------
say "stopping the cache server"
kill "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null || true
start=$SECONDS
round server-down v2
[ $((SECONDS - start)) -le 10 ] || fail "pages were slow with the cache server down"
logged=$(grep -c 'Larder object cache:' "$debug_log" || true)
[ "$logged" -eq 1 ] || fail "expected one log line for ${#PAGES[@]} requests with the server down (once a minute at most), got $logged"
grep -m1 'Larder object cache:' "$debug_log" | sed 's/^/e2e: logged: /'

ratio=$(php -r 'printf("%.1f", 100 * $argv[1] / max(1, $argv[1] + $argv[2]));' "$warm_hits" "$warm_misses")
dropin_ratio=$(php -r 'printf("%.1f", 100 * $argv[1] / max(1, $argv[1] + $argv[2]));' "${HITS[cache-warm]}" "${MISSES[cache-warm]}")
say "queries on warm loads: ${QUERIES[plain-warm.total]} without the drop-in, ${QUERIES[cache-warm.total]} with it"
say "warm round: server get_hits +$warm_hits, get_misses +$warm_misses (server hit ratio $ratio%);" \
    "drop-in lookups ${HITS[cache-warm]} hits, ${MISSES[cache-warm]} misses ($dropin_ratio% incl. runtime hits)"
say "PASS against $(basename "$SERVER_BIN")"
