#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests and the benchmarks
# need, if any is missing.  Uses sudo only when not root.  Safe to run again:
# it does nothing when everything is there.
set -euo pipefail

pkgs=(
    # build
    build-essential pkg-config libevent-dev libjemalloc-dev
    # unit and integration tests, fuzzing
    libcriterion-dev libmemcached-dev libmemcached-tools memcached netcat-openbsd
    python3 python3-pymemcache clang
    # the memcached ecosystem: other clients, a proxy
    php-memcache nutcracker
    # a binary-protocol client: Java's spymemcached
    default-jre-headless libspymemcached-java
    # benchmarks: plots (memaslap, the second load generator, is in
    # libmemcached-tools above)
    gnuplot-nox
    # the WordPress drop-in and its end-to-end test
    php-cli php-memcached php-mysql phpunit mariadb-server wordpress curl
    # the page cache: nginx serving from Larder, and HTTP load generators
    nginx apache2-utils wrk
)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
