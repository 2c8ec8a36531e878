# tools.sh: the command-line tools operators point at a memcached:
# libmemcached's memcp/memcat/memstat/memflush (Debian names them memccp,
# memccat, ...), hand-typed nc sessions, memcached-tool, and the key
# listings (stats cachedump, lru_crawler metadump).  Sourced by run.sh.
# shellcheck shell=bash disable=SC2154,SC2015 # here, work, root, ...: set by run.sh and lib.sh

# libmemcached-tools installs the tools as memc* on Debian, mem* upstream.
libmc_tool() {
    if command -v "mem$1" >/dev/null; then echo "mem$1"; else echo "memc$1"; fi
}
memcp=$(libmc_tool cp)
memcat=$(libmc_tool cat)
memstat=$(libmc_tool stat)
memflush=$(libmc_tool flush)
memdump=$(libmc_tool dump)
mctool=$(dpkg -L memcached 2>/dev/null | grep '/memcached-tool$' | head -1)
mctool=${mctool:-/usr/share/memcached/scripts/memcached-tool}

# --- libmemcached tools -------------------------------------------------------

tools_libmemcached() {
    local s="127.0.0.1:$tl_port" d="$work/files"
    mkdir -p "$d"
    printf 'plain text\n' >"$d/text.txt"
    head -c 300000 /dev/urandom >"$d/random.bin"
    : >"$d/empty"

    check "$memcp copies files" timeout 10 "$memcp" --servers="$s" "$d/text.txt" "$d/random.bin" "$d/empty"
    check "$memcat returns each file's bytes" tools_memcat_same "$s" "$d"
    check "$memcat fails on a missing key" tools_fails timeout 10 "$memcat" --servers="$s" no-such-key
    check "$memcp --flags --expire" timeout 10 "$memcp" --servers="$s" --flags=77 --expire=600 "$d/text.txt"
    check "flags and expiry from $memcp reach the server" tools_flags_exp
    check "$memstat shows curr_items and the version" tools_memstat "$s"
    check "$memstat --server-version" matches "^$s 1\\.6\\." tools_stderr "$memstat" --servers="$s" --server-version
    check "$memstat items, slabs" tools_memstat_groups "$s"
    check "$memstat --analyze" matches 'Average Item Size' timeout 10 "$memstat" --servers="$s" --analyze
    check "$memdump lists the keys" tools_memdump "$s"
    check "$memflush" timeout 10 "$memflush" --servers="$s"
    check "nothing left after $memflush" tools_flushed "$s"
}

tools_fails() { ! "$@"; }
tools_stderr() { timeout 10 "$@" 2>&1; }
# memcached-tool passes the server's \r through, for memcached as for Larder.
tools_mct() { timeout 20 "$mctool" "$@" | tr -d '\r'; }


tools_memcat_same() {
    local f
    for f in text.txt random.bin empty; do
        timeout 10 "$memcat" --servers="$1" "$f" >"$work/got" || { echo "$memcat $f failed"; return 1; }
        # memcat ends each value with a newline, as against memcached.
        cmp <(cat "$2/$f"; echo) "$work/got" || return 1
    done
}

tools_flags_exp() {
    local meta
    matches '^VALUE text.txt 77 11$' send "$tl_port" 'get text.txt\r\nquit\r\n' || return 1
    meta=$(send "$tl_port" 'lru_crawler metadump all\r\nquit\r\n' | grep '^key=text.txt ')
    local exp=${meta#*exp=}
    exp=${exp%% *}
    # --expire=600 is relative: the item must expire in about ten minutes.
    [ "$exp" -gt $(($(date +%s) + 500)) ] && [ "$exp" -le $(($(date +%s) + 610)) ] ||
        { echo "metadump: $meta"; return 1; }
}

tools_memstat() {
    local out
    out=$(timeout 10 "$memstat" --servers="$1") || return 1
    grep -q "Server: 127.0.0.1 ($tl_port)" <<<"$out" &&
        grep -Eq '^\s+curr_items: 3$' <<<"$out" &&
        grep -Eq '^\s+version: 1\.6\.' <<<"$out" || { echo "$out"; return 1; }
}

tools_memstat_groups() {
    matches 'items:[0-9]+:number: ' timeout 10 "$memstat" --servers="$1" items &&
        matches 'total_malloced: [0-9]+' timeout 10 "$memstat" --servers="$1" slabs
}

tools_memdump() {
    local out
    out=$(timeout 10 "$memdump" --servers="$1" | sort) || return 1
    [ "$out" = "$(printf 'empty\nrandom.bin\ntext.txt')" ] || { echo "$memdump: $out"; return 1; }
}

# As in memcached, flushed items stay in curr_items until something meets
# them (here memcat) or the crawler frees them, within its pass: wait for
# that, up to the harness's cap (only a hang reaches it).
tools_flushed() {
    local deadline=$((SECONDS + ${LARDER_TEST_WAIT:-60}))
    ! timeout 10 "$memcat" --servers="$1" text.txt >/dev/null 2>&1 || { echo "text.txt survived"; return 1; }
    until [ "$(stat_of "$tl_port" curr_items)" = 0 ]; do
        [ $SECONDS -lt $deadline ] || { echo "curr_items $(stat_of "$tl_port" curr_items)"; return 1; }
        sleep 0.1
    done
}

# --- nc, as people type it ---------------------------------------------------

tools_nc() {
    local p=$tl_port
    check "nc: set/get" matches '^STORED VALUE greeting 0 5 hello END $' \
        send_oneline "$p" 'set greeting 0 0 5\r\nhello\r\nget greeting\r\n'
    check "nc: echo get (LF line ending)" matches '^VALUE greeting 0 5 hello END $' \
        send_oneline "$p" 'get greeting\n'
    send "$p" 'set n 0 0 1\r\n1\r\nset x 0 0 1\r\nx\r\nquit\r\n' >/dev/null
    check "nc: echo stats shows total_items and curr_items" tools_nc_stats "$p"
    check "nc: echo version" matches '^VERSION 1\.6\.' tools_echo "$p" version
    check "nc: stats settings" matches "^STAT tcpport $p\$" tools_echo "$p" 'stats settings'
    check "nc: incr, delete" matches '^2 DELETED NOT_FOUND $' \
        send_oneline "$p" 'incr n 1\r\ndelete n\r\ndelete n\r\n'
    check "nc: echo flush_all" matches '^OK$' tools_echo "$p" flush_all
}

tools_echo() { echo "$2" | timeout 10 nc -q1 127.0.0.1 "$1" | tr -d '\r'; }

tools_nc_stats() {
    local out
    out=$(echo stats | timeout 10 nc -q1 127.0.0.1 "$1" | tr -d '\r')
    grep -q '^STAT curr_items 3$' <<<"$out" && grep -q '^STAT total_items [0-9]' <<<"$out" &&
        [ "$(tail -1 <<<"$out")" = END ] || { echo "$out" | grep items; return 1; }
}

# --- memcached-tool and key listings -----------------------------------------

# 40 small items (one slab class) and 4 of 3000 bytes (another), no expiry,
# plus one with a TTL and one whose key needs URI-encoding in metadump.
tools_fill() {
    local i big
    big=$(head -c 3000 /dev/zero | tr '\0' b)
    {
        for i in $(seq 1 40); do printf 'set small:%d 5 0 10\r\n0123456789\r\n' "$i"; done
        for i in 1 2 3 4; do printf 'set big:%d 9 0 3000\r\n%s\r\n' "$i" "$big"; done
        printf 'set ttl 0 900 1\r\nt\r\nset pct%%key 0 0 1\r\np\r\nquit\r\n'
    } | timeout 10 nc -N -w 10 127.0.0.1 "$1" | grep -cx $'STORED\r'
}

tools_keys_expected() {
    { seq 1 40 | sed 's/^/small:/'; printf 'big:%d\n' 1 2 3 4; echo ttl; echo 'pct%key'; } | sort
}

tools_mctool() {
    local p=$tl_port out
    send "$p" 'flush_all\r\nquit\r\n' >/dev/null
    check "46 items stored for the listings" matches '^46$' tools_fill "$p"
    sleep 2 # so that the oldest item has an age to show

    check "memcached-tool HOST:PORT shows the slab classes" tools_mctool_display "$p"
    check "memcached-tool display: Max_age of items stored 2 s ago" tools_mctool_age "$p"
    check "memcached-tool stats" tools_mctool_stats "$p"
    check "memcached-tool settings" tools_mctool_settings "$p"
    check "memcached-tool dump lists every item" tools_mctool_dump "$p"
    check "memcached-tool dump restores into another server" tools_mctool_restore
    check "stats cachedump lists the stored keys" tools_cachedump "$p"
    check "stats cachedump CLS 2 stops at 2" tools_cachedump_limit "$p"
    check "lru_crawler metadump all lists the stored keys" tools_metadump "$p"
    check "metadump: exp=-1 without TTL, a time with one" tools_metadump_exp "$p"
}

tools_items_classes() {
    send "$1" 'stats items\r\nquit\r\n' | sed -n 's/^STAT items:\([0-9]*\):number [1-9].*/\1/p'
}

tools_mctool_display() {
    local out rows
    out=$(tools_mct "127.0.0.1:$1") || return 1
    rows=$(awk '$1 ~ /^[0-9]+$/ && $5 > 0 { print $5 }' <<<"$out" | sort -n | tr '\n' ' ')
    head -1 <<<"$out" | grep -q 'Item_Size  *Max_age  *Pages  *Count' && [ "$rows" = "4 42 " ] ||
        { echo "counts: $rows"; echo "$out"; return 1; }
}

tools_mctool_age() {
    local out
    out=$(tools_mct "127.0.0.1:$1" display) || return 1
    awk '$1 ~ /^[0-9]+$/ && $5 == 42 { sub(/s$/, "", $3); ok = ($3 >= 1) } END { exit !ok }' <<<"$out" ||
        { echo "$out"; echo "(memcached-tool reads items:N:age from stats items)";
          send "$1" 'stats items\r\nquit\r\n' | head -8; return 1; }
}

tools_mctool_stats() {
    local out
    out=$(tools_mct "127.0.0.1:$1" stats) || return 1
    grep -Eq '^ +curr_items +46$' <<<"$out" && grep -Eq '^ +version +1\.6\.' <<<"$out" &&
        grep -q "^#127.0.0.1:$1 " <<<"$out" || { echo "$out"; return 1; }
}

tools_mctool_settings() {
    local out
    out=$(tools_mct "127.0.0.1:$1" settings) || return 1
    grep -Eq '^ +maxbytes +67108864$' <<<"$out" && grep -Eq "^ +tcpport +$1\$" <<<"$out" ||
        { echo "$out"; return 1; }
}

tools_mctool_dump() {
    local got
    timeout 20 "$mctool" "127.0.0.1:$1" dump >"$work/dump" 2>/dev/null || return 1
    got=$(sed -n 's/^add \([^ ]*\) .*/\1/p' "$work/dump" | sort)
    [ "$got" = "$(tools_keys_expected)" ] || { diff <(tools_keys_expected) <(echo "$got"); return 1; }
    grep -q $'^add small:1 5 0 10\r$' "$work/dump" && grep -q $'^add big:1 9 0 3000\r$' "$work/dump" ||
        { grep -E 'small:1 |big:1 ' "$work/dump"; return 1; }
}

tools_mctool_restore() {
    local port2 pid2 got rc=0
    larder_start port2 || return 1
    pid2=$port2_pid
    got=$(timeout 10 nc -N -w 10 127.0.0.1 "$port2" <"$work/dump" | grep -cx $'STORED\r')
    [ "$got" = 46 ] && [ "$(stat_of "$port2" curr_items)" = 46 ] &&
        matches '^VALUE big:3 9 3000$' send "$port2" 'get big:3\r\nquit\r\n' || rc=1
    [ "$rc" = 0 ] || echo "restored $got of 46"
    stop_pid "$pid2"
    return "$rc"
}

tools_cachedump() {
    local cls got
    got=$(for cls in $(tools_items_classes "$1"); do
        send "$1" "stats cachedump $cls 0\\r\\nquit\\r\\n" | sed -n 's/^ITEM \([^ ]*\) \[.*/\1/p'
    done | sort)
    [ "$got" = "$(tools_keys_expected)" ] || { diff <(tools_keys_expected) <(echo "$got"); return 1; }
}

tools_cachedump_limit() {
    local cls out
    cls=$(tools_items_classes "$1" | head -1)
    out=$(send "$1" "stats cachedump $cls 2\\r\\nquit\\r\\n")
    [ "$(grep -c '^ITEM ' <<<"$out")" = 2 ] && [ "$(tail -1 <<<"$out")" = END ] || { echo "$out"; return 1; }
}

# metadump URI-encodes keys (":" is %3A), as memcached does.
tools_uri_decode() { /usr/bin/python3 -c 'import sys, urllib.parse as u; sys.stdout.write(u.unquote(sys.stdin.read()))'; }

tools_metadump() {
    local got
    got=$(send "$1" 'lru_crawler metadump all\r\nquit\r\n' | sed -n 's/^key=\([^ ]*\) exp=.*/\1/p' |
        tools_uri_decode | sort)
    [ "$got" = "$(tools_keys_expected)" ] || { diff <(tools_keys_expected) <(echo "$got"); return 1; }
}

tools_metadump_exp() {
    local out now
    out=$(send "$1" 'lru_crawler metadump all\r\nquit\r\n')
    now=$(date +%s)
    grep -Eq '^key=small%3A1 exp=-1 la=[0-9]+ cas=[0-9]+ fetch=(yes|no) cls=[0-9]+ size=[0-9]+$' <<<"$out" &&
        grep -q '^key=pct%25key exp=-1 ' <<<"$out" &&
        awk -v now="$now" '/^key=ttl / { split($2, e, "="); ok = e[2] > now + 800 && e[2] <= now + 900 }
            END { exit !ok }' <<<"$out" || { echo "$out" | grep -E 'small%3A1 |ttl|pct'; return 1; }
}

if larder_start tl_port; then
    tools_libmemcached
    tools_nc
    tools_mctool
    stop_pid "$tl_port_pid"
else
    fail "tools: start larder"
fi
