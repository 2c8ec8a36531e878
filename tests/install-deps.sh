#!/usr/bin/env bash
# Installs the Debian packages that the build, the tests and the benchmarks
# need, if any is missing.  Uses sudo only when not root.  Safe to run again:
# it does nothing when everything is there.
set -euo pipefail

pkgs=(
    # build
    build-essential pkg-config libevent-dev libjemalloc-dev
    # security (issue 14): TLS, SASL, crypt(3) hashes; the CLI makes test
    # certificates, sasl2-bin has saslpasswd2, Perl SSL for memcached's t/ssl_*
    libssl-dev openssl libsasl2-dev libsasl2-modules libsasl2-modules-db libcrypt-dev
    sasl2-bin libio-socket-ssl-perl
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
    # the Debian package (make deb, make test-deb)
    dpkg-dev debhelper fakeroot
    # CPU load beside the tests, to check that they hold on a busy machine
    stress-ng
)

# One dpkg-query for the whole list: a package it does not know, or one
# not fully installed, is missing.
declare -A installed=()
while read -r name status; do
    [ "$status" = installed ] && installed[$name]=1
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null)
missing=()
for p in "${pkgs[@]}"; do
    [ -n "${installed[$p]:-}" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
