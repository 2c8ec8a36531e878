# clients.sh: the client libraries applications use (text and binary), each against its own
# fresh Larder; the checks themselves live in the per-client programs.
# Sourced by run.sh.
# shellcheck shell=bash disable=SC2154,SC2015 # here, work, root, ...: set by run.sh and lib.sh

if larder_start cl_port; then
    tally pymemcache /usr/bin/python3 "$here/pymemcache_test.py" "$cl_port"
    send "$cl_port" 'flush_all\r\nquit\r\n' >/dev/null
    tally php-memcached php "$here/php_memcached.php" "$cl_port"
    send "$cl_port" 'flush_all\r\nquit\r\n' >/dev/null
    tally php-memcached-binary php "$here/php_memcached.php" "$cl_port" binary
    send "$cl_port" 'flush_all\r\nquit\r\n' >/dev/null
    # Java's spymemcached in binary mode, run as a single-file program
    tally spymemcached java -cp /usr/share/java/spymemcached.jar "$here/SpyTest.java" "$cl_port"
    send "$cl_port" 'flush_all\r\nquit\r\n' >/dev/null
    tally php-memcache php "$here/php_memcache.php" "$cl_port"
    stop_pid "$cl_port_pid"
else
    fail "clients: start larder"
fi
