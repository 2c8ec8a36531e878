/*
 * Every classic command through a raw socket, with memcached 1.6's replies.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct srv S;
static int fd;

static void up(void) {
    srv_start(&S, NULL);
    fd = cli_connect(&S);
}
static void down(void) {
    close(fd);
    cr_assert_eq(srv_stop(&S), 0, "server must exit 0 on SIGTERM");
}

/* The timeout only stops a hang; the waits inside poll for conditions. */
TestSuite(classic, .init = up, .fini = down, .timeout = 300);

Test(classic, set_get_roundtrip) {
    cli_expect(fd, "set k 5 0 3\r\nabc\r\n", "STORED\r\n");
    cli_expect(fd, "get k\r\n", "VALUE k 5 3\r\nabc\r\nEND\r\n");
    cli_expect(fd, "get nokey\r\n", "END\r\n");
}

Test(classic, flags_are_32_bit) {
    cli_expect(fd, "set k 4294967295 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "get k\r\n", "VALUE k 4294967295 1\r\nx\r\nEND\r\n");
}

Test(classic, binary_value_with_crlf_inside) {
    static const char req[] = "set b 0 0 6\r\na\r\n\0\r\n\r\n";
    cli_send(fd, req, sizeof(req) - 1);
    char *r = cli_read_n(fd, 8);
    cr_assert_str_eq(r, "STORED\r\n");
    free(r);
    cli_sends(fd, "get b\r\n");
    char *g = cli_read_n(fd, 26);
    cr_assert_eq(memcmp(g, "VALUE b 0 6\r\na\r\n\0\r\n\r\nEND\r\n", 26), 0);
    free(g);
}

Test(classic, empty_value) {
    cli_expect(fd, "set e 0 0 0\r\n\r\n", "STORED\r\n");
    cli_expect(fd, "get e\r\n", "VALUE e 0 0\r\n\r\nEND\r\n");
}

Test(classic, multi_get_in_order_skipping_misses) {
    cli_expect(fd, "set a 0 0 1\r\n1\r\n", "STORED\r\n");
    cli_expect(fd, "set c 0 0 1\r\n3\r\n", "STORED\r\n");
    cli_expect(fd, "get a b c a\r\n",
               "VALUE a 0 1\r\n1\r\nVALUE c 0 1\r\n3\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
}

Test(classic, gets_cas_changes_on_every_store) {
    cli_expect(fd, "set k 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_sends(fd, "gets k\r\n");
    char *a = cli_read_until(fd, "END\r\n");
    cli_expect(fd, "set k 0 0 1\r\ny\r\n", "STORED\r\n");
    cli_sends(fd, "gets k\r\n");
    char *b = cli_read_until(fd, "END\r\n");
    unsigned long long ca = 0, cb = 0;
    cr_assert_eq(sscanf(a, "VALUE k 0 1 %llu", &ca), 1);
    cr_assert_eq(sscanf(b, "VALUE k 0 1 %llu", &cb), 1);
    cr_assert_neq(ca, cb);
    cr_assert_neq(ca, 0);
    free(a);
    free(b);
}

Test(classic, add_replace) {
    cli_expect(fd, "replace k 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    cli_expect(fd, "add k 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "add k 0 0 1\r\ny\r\n", "NOT_STORED\r\n");
    cli_expect(fd, "replace k 0 0 1\r\nz\r\n", "STORED\r\n");
    cli_expect(fd, "get k\r\n", "VALUE k 0 1\r\nz\r\nEND\r\n");
}

Test(classic, append_prepend_keep_flags) {
    cli_expect(fd, "append k 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    cli_expect(fd, "prepend k 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    cli_expect(fd, "set k 7 0 2\r\nbc\r\n", "STORED\r\n");
    cli_expect(fd, "append k 9 0 2\r\nde\r\n", "STORED\r\n");
    cli_expect(fd, "prepend k 9 0 1\r\na\r\n", "STORED\r\n");
    cli_expect(fd, "get k\r\n", "VALUE k 7 5\r\nabcde\r\nEND\r\n");
}

Test(classic, cas_match_mismatch_missing) {
    cli_expect(fd, "cas k 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n");
    cli_expect(fd, "set k 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_sends(fd, "gets k\r\n");
    char *g = cli_read_until(fd, "END\r\n");
    unsigned long long cas;
    cr_assert_eq(sscanf(g, "VALUE k 0 1 %llu", &cas), 1);
    free(g);
    char req[128];
    snprintf(req, sizeof(req), "cas k 0 0 1 %llu\r\ny\r\n", cas + 1);
    cli_expect(fd, req, "EXISTS\r\n");
    snprintf(req, sizeof(req), "cas k 0 0 1 %llu\r\ny\r\n", cas);
    cli_expect(fd, req, "STORED\r\n");
    cli_expect(fd, req, "EXISTS\r\n"); /* the cas moved on */
    cli_expect(fd, "get k\r\n", "VALUE k 0 1\r\ny\r\nEND\r\n");
    cr_assert_eq(srv_stat(&S, "cas_hits"), 1);
    cr_assert_eq(srv_stat(&S, "cas_badval"), 2);
    cr_assert_eq(srv_stat(&S, "cas_misses"), 1);
}

Test(classic, incr_decr) {
    cli_expect(fd, "incr n 1\r\n", "NOT_FOUND\r\n");
    cli_expect(fd, "set n 0 0 2\r\n10\r\n", "STORED\r\n");
    cli_expect(fd, "incr n 5\r\n", "15\r\n");
    cli_expect(fd, "decr n 100\r\n", "0\r\n");
    cli_expect(fd, "set n 0 0 20\r\n18446744073709551615\r\n", "STORED\r\n");
    cli_expect(fd, "incr n 2\r\n", "1\r\n"); /* wraps at 2^64 */
    cli_expect(fd, "set n 0 0 2\r\n99\r\n", "STORED\r\n");
    cli_expect(fd, "incr n 1\r\n", "100\r\n"); /* grows */
    cli_expect(fd, "get n\r\n", "VALUE n 0 3\r\n100\r\nEND\r\n");
    cli_expect(fd, "set s 0 0 3\r\nabc\r\n", "STORED\r\n");
    cli_expect(fd, "incr s 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    cli_expect(fd, "incr n -1\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
    cli_expect(fd, "incr n abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
}

Test(classic, decr_shrinks_with_memcached_padding) {
    /* memcached rewrites a shorter result in place, padded with spaces */
    cli_expect(fd, "set n 0 0 3\r\n100\r\n", "STORED\r\n");
    cli_expect(fd, "decr n 95\r\n", "5\r\n");
    cli_expect(fd, "get n\r\n", "VALUE n 0 3\r\n5  \r\nEND\r\n");
    cli_expect(fd, "incr n 1\r\n", "6\r\n");
}

Test(classic, delete_forms) {
    cli_expect(fd, "set k 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "delete k\r\n", "DELETED\r\n");
    cli_expect(fd, "delete k\r\n", "NOT_FOUND\r\n");
    cli_expect(fd, "set k 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "delete k 0\r\n", "DELETED\r\n");
    cli_expect(fd, "delete k 5\r\n",
               "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n");
    cli_expect(fd, "delete k 0 noreply\r\nget k\r\n", "END\r\n");
}

Test(classic, touch_and_gat) {
    cli_expect(fd, "touch k 10\r\n", "NOT_FOUND\r\n");
    cli_expect(fd, "set k 0 100 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "touch k 0\r\n", "TOUCHED\r\n");
    cli_expect(fd, "gat 100 k\r\n", "VALUE k 0 1\r\nx\r\nEND\r\n");
    cli_sends(fd, "gats 100 k\r\n");
    char *g = cli_read_until(fd, "END\r\n");
    cr_assert(strncmp(g, "VALUE k 0 1 ", 12) == 0, "%s", g);
    free(g);
    cli_expect(fd, "gat abc k\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
    cli_expect(fd, "touch k abc\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
    cr_assert_eq(srv_stat(&S, "touch_hits"), 3);
    cr_assert_eq(srv_stat(&S, "touch_misses"), 1);
    cr_assert_eq(srv_stat(&S, "cmd_touch"), 4);
    cr_assert_eq(srv_stat(&S, "get_hits"), 0, "gat counts as touch, not get");
}

/* Expiry tests wait for the clock instead of sleeping a fixed time: an item
 * that must still be there is checked only while its life certainly lasts
 * (a check that came too late, on a stalled machine, is done again with a
 * longer life), and one that must be gone is polled for until it is. */

/* Polls `get key` until the item is gone; fails only at the hang cap. */
static void wait_gone(const char *key) {
    char req[64];
    snprintf(req, sizeof(req), "get %s\r\n", key);
    double deadline = harness_now() + harness_wait_s();
    for (;;) {
        cli_sends(fd, req);
        char *r = cli_read_until(fd, "END\r\n");
        bool gone = strcmp(r, "END\r\n") == 0;
        free(r);
        if (gone)
            return;
        cr_assert(harness_now() < deadline, "%s did not expire", key);
        usleep(100000);
    }
}

/* Sleeps until `secs` seconds have passed since t0. */
static void sleep_until(double t0, double secs) {
    double left;
    while ((left = t0 + secs - harness_now()) > 0)
        usleep((useconds_t)(left * 1e6) + 1000);
}

Test(classic, expiry_relative_absolute_negative) {
    cli_expect(fd, "set a 0 1 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "set past 0 1000000000 1\r\nx\r\n", "STORED\r\n"); /* 2001: past */
    cli_expect(fd, "set neg 0 -1 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "set keep 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "get past neg\r\n", "END\r\n");
    wait_gone("a");
    cli_expect(fd, "get a keep\r\n", "VALUE keep 0 1\r\nx\r\nEND\r\n");
    cr_assert_geq(srv_stat(&S, "get_expired"), 1);
}

Test(classic, touch_extends_life) {
    /* The touch must reach the item while it lives: ttl - 1 s of margin
     * for the server's one-second clock. */
    double stored_at = 0;
    int ttl;
    for (ttl = 2;; ttl *= 2) {
        char req[64];
        cr_assert_leq(ttl, 64, "no set + touch within %d s: the machine stalls", ttl);
        double t0 = harness_now();
        snprintf(req, sizeof(req), "set a 0 %d 1\r\nx\r\n", ttl);
        cli_expect(fd, req, "STORED\r\n");
        stored_at = harness_now();
        cli_sends(fd, "touch a 100\r\n");
        char *r = cli_read_until(fd, "\r\n");
        bool in_time = harness_now() - t0 < ttl - 1;
        if (in_time)
            cr_assert_str_eq(r, "TOUCHED\r\n");
        free(r);
        if (in_time)
            break;
    }
    /* past the first life (and the clock's rounding): still there */
    sleep_until(stored_at, ttl + 1.5);
    cli_expect(fd, "get a\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
}

Test(classic, flush_all_now_and_delayed) {
    cli_expect(fd, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "flush_all\r\n", "OK\r\n");
    cli_expect(fd, "get a\r\n", "END\r\n");
    /* a delayed flush leaves items alone until its time: checked while the
     * delay certainly lasts, else again with a longer one */
    int flushes = 1;
    for (int delay = 2;; delay *= 2) {
        char req[64];
        cr_assert_leq(delay, 64, "no flush_all + get within %d s: the machine stalls", delay);
        cli_expect(fd, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
        double t0 = harness_now();
        snprintf(req, sizeof(req), "flush_all %d\r\n", delay);
        cli_expect(fd, req, "OK\r\n");
        flushes++;
        cli_sends(fd, "get a\r\n");
        char *r = cli_read_until(fd, "END\r\n");
        bool in_time = harness_now() - t0 < delay - 1;
        if (in_time)
            cr_assert_str_eq(r, "VALUE a 0 1\r\nx\r\nEND\r\n");
        free(r);
        if (in_time)
            break;
    }
    wait_gone("a");
    cli_expect(fd, "flush_all noreply\r\nversion\r\n", "VERSION ");
    cr_assert_eq(srv_stat(&S, "cmd_flush"), (uint64_t)flushes + 1);
}

Test(classic, version_verbosity_quit) {
    cli_sends(fd, "version\r\n");
    char *v = cli_read_until(fd, "\r\n");
    cr_assert(strncmp(v, "VERSION 1.6.", 12) == 0, "clients check for 1.6: %s", v);
    free(v);
    cli_expect(fd, "verbosity 1\r\n", "OK\r\n");
    cli_expect(fd, "verbosity 0 noreply\r\nverbosity\r\n", "ERROR\r\n");
    cli_sends(fd, "quit\r\n");
    cr_assert(cli_closed(fd));
}

Test(classic, noreply_everywhere) {
    cli_sends(fd, "set k 0 0 1 noreply\r\nx\r\n"
                  "add k 0 0 1 noreply\r\ny\r\n"
                  "replace k 0 0 1 noreply\r\nz\r\n"
                  "append k 0 0 1 noreply\r\n1\r\n"
                  "prepend k 0 0 1 noreply\r\n0\r\n"
                  "set n 0 0 1 noreply\r\n5\r\n"
                  "incr n 2 noreply\r\n"
                  "decr n 1 noreply\r\n"
                  "touch k 100 noreply\r\n"
                  "delete nothing noreply\r\n"
                  "get k n\r\n");
    char *r = cli_read_until(fd, "END\r\n");
    cr_assert_str_eq(r, "VALUE k 0 3\r\n0z1\r\nVALUE n 0 1\r\n6\r\nEND\r\n");
    free(r);
}

Test(classic, cache_memlimit) {
    cli_expect(fd, "cache_memlimit 100\r\n", "OK\r\n");
    cli_expect(fd, "cache_memlimit 2\r\n", "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
    cli_expect(fd, "cache_memlimit abc\r\n", "ERROR\r\n");
    cr_assert_eq(srv_stat(&S, "limit_maxbytes"), 100u << 20);
}

Test(classic, shutdown_needs_A) {
    cli_expect(fd, "shutdown\r\n", "ERROR: shutdown not enabled\r\n");
}

Test(classic, stats_counters_move) {
    cli_expect(fd, "set a 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "get a b\r\n", "VALUE a 0 1\r\nx\r\nEND\r\n");
    cli_expect(fd, "delete b\r\n", "NOT_FOUND\r\n");
    cr_assert_eq(srv_stat(&S, "cmd_set"), 1);
    cr_assert_eq(srv_stat(&S, "cmd_get"), 2);
    cr_assert_eq(srv_stat(&S, "get_hits"), 1);
    cr_assert_eq(srv_stat(&S, "get_misses"), 1);
    cr_assert_eq(srv_stat(&S, "delete_misses"), 1);
    cr_assert_eq(srv_stat(&S, "curr_items"), 1);
    cr_assert_eq(srv_stat(&S, "total_items"), 1);
    cr_assert_gt(srv_stat(&S, "bytes"), 0);
    cr_assert_eq(srv_stat(&S, "threads"), 4);
    cr_assert_eq(srv_stat(&S, "limit_maxbytes"), 64u << 20);
    cli_expect(fd, "stats reset\r\n", "RESET\r\n");
    cr_assert_eq(srv_stat(&S, "cmd_get"), 0);
    cr_assert_eq(srv_stat(&S, "curr_items"), 1, "reset keeps the items");
}

static char *stats_of(const char *cmd) {
    cli_sends(fd, cmd);
    return cli_read_until(fd, "END\r\n");
}

Test(classic, stats_subcommands) {
    cli_expect(fd, "set a:1 0 0 1\r\nx\r\n", "STORED\r\n");
    char *s = stats_of("stats settings\r\n");
    cr_assert(strstr(s, "STAT maxbytes 67108864\r\n") && strstr(s, "STAT item_size_max 1048576\r\n"));
    free(s);
    s = stats_of("stats slabs\r\n");
    cr_assert(strstr(s, ":chunk_size ") && strstr(s, "STAT active_slabs 1\r\n"), "%s", s);
    free(s);
    s = stats_of("stats items\r\n");
    cr_assert(strstr(s, ":number 1\r\n"), "%s", s);
    free(s);
    s = stats_of("stats conns\r\n");
    cr_assert(strstr(s, ":addr tcp:127.0.0.1:") && strstr(s, "conn_listening"), "%s", s);
    free(s);
    s = stats_of("stats sizes\r\n");
    cr_assert_str_eq(s, "STAT sizes_status disabled\r\nEND\r\n");
    free(s);
    cli_expect(fd, "stats nonsense\r\n", "ERROR\r\n");
}

Test(classic, stats_detail) {
    cli_expect(fd, "stats detail on\r\n", "OK\r\n");
    cli_expect(fd, "set user:1 0 0 1\r\nx\r\n", "STORED\r\n");
    cli_expect(fd, "get user:1 user:2\r\n", "VALUE user:1 0 1\r\nx\r\nEND\r\n");
    cli_expect(fd, "delete user:2\r\n", "NOT_FOUND\r\n");
    cli_expect(fd, "stats detail dump\r\n", "PREFIX user get 2 hit 1 set 1 del 1\r\nEND\r\n");
    cli_expect(fd, "stats detail off\r\n", "OK\r\n");
    cli_expect(fd, "stats detail\r\n", "CLIENT_ERROR usage: stats detail on|off|dump\r\n");
}

Test(classic, cachedump_and_metadump) {
    cli_expect(fd, "set some%key 0 0 3\r\nabc\r\n", "STORED\r\n");
    char *s = stats_of("stats slabs\r\n");
    unsigned cls = 0;
    cr_assert_eq(sscanf(s, "STAT %u:chunk_size", &cls), 1);
    free(s);
    char req[64];
    snprintf(req, sizeof(req), "stats cachedump %u 10\r\n", cls);
    cli_expect(fd, req, "ITEM some%key [3 b; 0 s]\r\nEND\r\n");
    s = stats_of("lru_crawler metadump all\r\n");
    cr_assert(strncmp(s, "key=some%25key exp=-1 la=", 25) == 0, "%s", s);
    cr_assert(strstr(s, " fetch=no cls=") != NULL, "%s", s);
    free(s);
}

Test(classic, stats_items_age_of_oldest_item) {
    cli_expect(fd, "set old 0 0 1\r\nx\r\n", "STORED\r\n");
    sleep(3);
    cli_expect(fd, "set new 0 0 1\r\ny\r\n", "STORED\r\n");
    char *s = stats_of("stats items\r\n");
    unsigned age = 0;
    char *p = strstr(s, ":age ");
    cr_assert(p != NULL, "%s", s);
    cr_assert_eq(sscanf(p, ":age %u", &age), 1);
    cr_assert_geq(age, 2, "age follows the oldest item, not the newest: %s", s);
    cr_assert(strstr(s, ":evicted_time 0\r\n") != NULL, "%s", s);
    free(s);
}
