# scaleout.sh: three Larder instances as one cache, the two usual ways:
# addressed directly by libmemcached's ketama (the client picks the server),
# and behind twemproxy (nutcracker, ketama, auto_eject_hosts).  Then one
# instance stops: only its share of the keys may be lost, and both paths
# keep serving the rest.  Sourced by run.sh.
# shellcheck shell=bash disable=SC2154,SC2015 # here, work, root, ...: set by run.sh and lib.sh

so_n=3000    # keys per run
so_min=600   # a "reasonable share": at least 20% of the keys per instance

# so_ketama OP N [PREFIX] against the three instances; output per server:
# "127.0.0.1:port owned got".
so_ketama() { timeout 60 "$KETAMA_BIN" "$so_servers" "$@"; }

so_direct_spread() {
    local out name owned got port items
    out=$(so_ketama set "$so_n") || return 1
    while read -r name owned got; do
        port=${name##*:}
        items=$(stat_of "$port" curr_items)
        echo "$name owned $owned stored $got curr_items $items"
        [ "$owned" -ge "$so_min" ] && [ "$got" = "$owned" ] && [ "$items" = "$owned" ] || return 1
    done <<<"$out"
}

so_direct_get_all() {
    local out
    out=$(so_ketama get "$so_n") || return 1
    echo "$out"
    [ "$(awk '{ n += $3 } END { print n }' <<<"$out")" = "$so_n" ]
}

so_proxy_conf() {
    cat >"$work/nutcracker.yml" <<YML
larder:
  listen: 127.0.0.1:$so_proxy
  hash: fnv1a_64
  distribution: ketama
  timeout: 1000
  preconnect: false
  auto_eject_hosts: true
  server_retry_timeout: 60000
  server_failure_limit: 1
  servers:
   - 127.0.0.1:$so_a:1 a
   - 127.0.0.1:$so_b:1 b
   - 127.0.0.1:$so_c:1 c
YML
}

so_proxy_start() {
    local stats
    for _ in 1 2 3; do
        so_proxy=$(free_port)
        stats=$(free_port)
        so_proxy_conf
        nutcracker -t -c "$work/nutcracker.yml" >/dev/null 2>&1 ||
            { nutcracker -t -c "$work/nutcracker.yml"; return 1; }
        nutcracker -c "$work/nutcracker.yml" -a 127.0.0.1 -s "$stats" -o "$work/nutcracker.log" \
            -p "$work/nutcracker.pid" &
        so_proxy_pid=$!
        track "$so_proxy_pid"
        wait_port "$so_proxy" "$so_proxy_pid" && return 0
    done
    tail -5 "$work/nutcracker.log"
    return 1
}

# Keys set through the proxy: each instance gets a reasonable share and
# together they hold all of them.  (check runs this in a subshell: the
# shares are measured again, outside, by so_proxy_shares.)
so_proxy_spread() {
    local out owned got
    out=$(timeout 60 "$KETAMA_BIN" "127.0.0.1:$so_proxy" set "$so_n" px:) || return 1
    read -r _ owned got <<<"$out"
    so_proxy_shares
    echo "stored $got of $owned; shares $so_share_a $so_share_b $so_share_c"
    [ "$got" = "$so_n" ] && [ $((so_share_a + so_share_b + so_share_c)) = "$so_n" ] &&
        [ "$so_share_a" -ge "$so_min" ] && [ "$so_share_b" -ge "$so_min" ] && [ "$so_share_c" -ge "$so_min" ]
}

# Each instance's share of the proxy's keys: its items beyond the ketama run's.
so_proxy_shares() {
    so_share_a=$(($(stat_of "$so_a" curr_items) - so_owned_a))
    so_share_b=$(($(stat_of "$so_b" curr_items) - so_owned_b))
    so_share_c=$(($(stat_of "$so_c" curr_items) - so_owned_c))
}

so_proxy_get_all() {
    local out
    out=$(timeout 60 "$KETAMA_BIN" "127.0.0.1:$so_proxy" get "$so_n" px:) || return 1
    echo "$out"
    [ "$(awk '{ print $3 }' <<<"$out")" = "$so_n" ]
}

# After b stopped, ketama only moves b's keys: exactly a's and c's shares
# are still found, directly and through the proxy.
so_direct_after_stop() {
    local out name owned got
    out=$(so_ketama get "$so_n") || return 1
    echo "$out"
    while read -r name owned got; do
        if [ "${name##*:}" = "$so_b" ]; then
            [ "$got" = 0 ] || return 1
        else
            [ "$got" = "$owned" ] || return 1
        fi
    done <<<"$out"
}

so_proxy_after_stop() {
    local out found
    out=$(timeout 60 "$KETAMA_BIN" "127.0.0.1:$so_proxy" get "$so_n" px:) || return 1
    found=$(awk '{ print $3 }' <<<"$out")
    echo "found $found, expected $((so_share_a + so_share_c))"
    [ "$found" = $((so_share_a + so_share_c)) ]
}

# With b ejected the proxy spreads new keys over a and c and serves them.
so_proxy_new_keys() {
    local set get
    set=$(timeout 60 "$KETAMA_BIN" "127.0.0.1:$so_proxy" set 500 new:) || return 1
    get=$(timeout 60 "$KETAMA_BIN" "127.0.0.1:$so_proxy" get 500 new:) || return 1
    echo "set: $set; get: $get"
    [ "$(awk '{ print $3 }' <<<"$set")" = 500 ] && [ "$(awk '{ print $3 }' <<<"$get")" = 500 ]
}

so_proxy_nc() {
    local out
    out=$(send "$so_proxy" 'set via:nc 3 0 2\r\nhi\r\nget via:nc px:1 nope\r\nquit\r\n' | tr '\n' ' ')
    echo "$out"
    grep -q '^STORED VALUE via:nc 3 2 hi ' <<<"$out"
}

if larder_start so_a && larder_start so_b && larder_start so_c; then
    so_servers="127.0.0.1:$so_a,127.0.0.1:$so_b,127.0.0.1:$so_c"
    check "ketama (libmemcached): $so_n keys spread over 3 instances" so_direct_spread
    check "ketama (libmemcached): all keys found" so_direct_get_all
    if so_proxy_start; then
        pass "twemproxy starts (nutcracker -t accepts the config)"
        so_owned_a=$(stat_of "$so_a" curr_items) so_owned_b=$(stat_of "$so_b" curr_items)
        so_owned_c=$(stat_of "$so_c" curr_items)
        check "twemproxy: $so_n keys spread over 3 instances" so_proxy_spread
        so_proxy_shares
        check "twemproxy: all keys found" so_proxy_get_all
        check "twemproxy: a plain nc session through the proxy" so_proxy_nc
    else
        fail "twemproxy starts"
    fi
    stop_pid "$so_b_pid"
    check "ketama (libmemcached): an instance stopped, only its keys lost" so_direct_after_stop
    if [ -n "${so_proxy_pid:-}" ]; then
        check "twemproxy: an instance stopped, only its keys lost" so_proxy_after_stop
        check "twemproxy: new keys stored and found after the ejection" so_proxy_new_keys
        stop_pid "$so_proxy_pid"
    fi
    stop_pid "$so_a_pid"
    stop_pid "$so_c_pid"
else
    fail "scaleout: start three larders"
fi
