/*
 * Meta commands (mg ms md ma mn me) over raw sockets: every flag and mode,
 * the stale-while-revalidate flow, errors, quiet pipelines and the stats
 * they move.  The replies expected are memcached 1.6.18's, byte for byte
 * (tests/meta/ checks the same against the real thing); where a reply holds
 * a cas or a time, the value is read back and checked for what it means.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct srv S;
static int fd;
/* When the test began: a remaining time read later may be lower by the
 * whole seconds the test has taken (a loaded machine stalls). */
static double test_start;

static void up(void) {
    srv_start(&S, NULL);
    fd = cli_connect(&S);
    test_start = harness_now();
}

static int64_t seconds_taken(void) { return (int64_t)(harness_now() - test_start); }
static void down(void) {
    close(fd);
    cr_assert(srv_alive(&S));
    cr_assert_eq(srv_stop(&S), 0);
}

/* The timeout only stops a hang. */
TestSuite(meta, .init = up, .fini = down, .timeout = 300);

/* Sends one request and returns its one-line reply (caller frees). */
static char *line(const char *req) {
    cli_sends(fd, req);
    return cli_read_until(fd, "\r\n");
}

/* The number after " <flag>" in a reply line; aborts when absent. */
static int64_t flag_num(const char *reply, char flag) {
    char pat[3] = {' ', flag, '\0'};
    const char *p = strstr(reply, pat);
    cr_assert(p != NULL, "no %c flag in %s", flag, reply);
    return strtoll(p + 2, NULL, 10);
}

static uint64_t cas_of(const char *key) {
    char req[300];
    snprintf(req, sizeof(req), "mg %s c\r\n", key);
    char *r = line(req);
    uint64_t cas = (uint64_t)flag_num(r, 'c');
    free(r);
    return cas;
}

/* The t flag of the reply is in lo..hi, lo lowered by the seconds the test
 * has run so far. */
static void expect_ttl(const char *req, int64_t lo, int64_t hi) {
    char *r = line(req);
    int64_t t = flag_num(r, 't');
    lo -= seconds_taken();
    cr_assert(t >= lo && t <= hi, "%s: t=%" PRId64 ", want %" PRId64 "..%" PRId64, req, t, lo, hi);
    free(r);
}

/* Nothing was sent back before the MN of a trailing mn. */
static void expect_silence(void) { cli_expect(fd, "mn\r\n", "MN\r\n"); }

/* --- mg ---------------------------------------------------------------------- */

Test(meta, mg_miss_answers_EN_with_opaque_and_key) {
    cli_expect(fd, "mg nope\r\n", "EN\r\n");
    cli_expect(fd, "mg nope v s t\r\n", "EN\r\n");
    cli_expect(fd, "mg nope k O42\r\n", "EN knope O42\r\n");
    cli_expect(fd, "mg nope O42 k\r\n", "EN O42 knope\r\n");
    cli_sends(fd, "mg nope q v\r\nmg nope q k O1\r\n");
    expect_silence();
}

Test(meta, mg_returns_flags_in_request_order) {
    cli_expect(fd, "ms a 5 F7\r\nhello\r\n", "HD\r\n");
    cli_expect(fd, "mg a\r\n", "HD\r\n");
    cli_expect(fd, "mg a v\r\n", "VA 5\r\nhello\r\n");
    cli_expect(fd, "mg a s v f k\r\n", "VA 5 s5 f7 ka\r\nhello\r\n");
    cli_expect(fd, "mg a k f s\r\n", "HD ka f7 s5\r\n");
    cli_expect(fd, "mg a Oxyz t v\r\n", "VA 5 Oxyz t-1\r\nhello\r\n");
    cli_expect(fd, "mg a P/route Lfoo s\r\n", "HD s5\r\n"); /* proxy hints ignored */
    /* q hides misses only */
    cli_expect(fd, "mg a q s\r\n", "HD s5\r\n");
}

Test(meta, mg_c_is_the_cas_gets_shows) {
    cli_expect(fd, "set k 0 0 1\r\nx\r\n", "STORED\r\n");
    uint64_t cas = cas_of("k");
    char want[64];
    snprintf(want, sizeof(want), "VALUE k 0 1 %" PRIu64 "\r\nx\r\nEND\r\n", cas);
    cli_expect(fd, "gets k\r\n", want);
}

Test(meta, mg_t_and_T) {
    cli_expect(fd, "ms k 1 T100\r\nx\r\n", "HD\r\n");
    expect_ttl("mg k t\r\n", 99, 100);
    /* t reports what it sees at its place in the line */
    expect_ttl("mg k t T20\r\n", 99, 100);
    expect_ttl("mg k t\r\n", 19, 20);
    expect_ttl("mg k T300 t\r\n", 299, 300);
    cli_expect(fd, "mg k T0 t\r\n", "HD t-1\r\n");
    cli_expect(fd, "mg k t\r\n", "HD t-1\r\n");
    /* a past exptime expires the item */
    cli_expect(fd, "mg k T-1\r\n", "HD\r\n");
    cli_expect(fd, "mg k\r\n", "EN\r\n");
}

Test(meta, mg_h_l_report_before_and_u_leaves_alone) {
    cli_expect(fd, "ms k 1\r\nx\r\n", "HD\r\n");
    cli_expect(fd, "mg k h u\r\n", "HD h0\r\n");
    cli_expect(fd, "mg k h u\r\n", "HD h0\r\n");
    cli_expect(fd, "mg k h\r\n", "HD h0\r\n");
    cli_expect(fd, "mg k h\r\n", "HD h1\r\n");
    cli_expect(fd, "mg k l h\r\n", "HD l0 h1\r\n");
}

Test(meta, mg_b_decodes_the_key_and_k_encodes_it_back) {
    cli_expect(fd, "ms Zm9v 3 b\r\nbar\r\n", "HD\r\n");
    cli_expect(fd, "get foo\r\n", "VALUE foo 0 3\r\nbar\r\nEND\r\n");
    cli_expect(fd, "mg Zm9v b v k\r\n", "VA 3 kZm9v b\r\nbar\r\n");
    /* the item remembers its key was binary */
    cli_expect(fd, "mg foo k\r\n", "HD kZm9v b\r\n");
    cli_expect(fd, "mg Zm9vYmFy b k\r\n", "EN kZm9vYmFy b\r\n");
    /* a key with a space in it, only reachable through b */
    cli_expect(fd, "ms IGE= 1 b\r\nz\r\n", "HD\r\n");
    cli_expect(fd, "mg IGE= b v\r\n", "VA 1\r\nz\r\n");
    cli_expect(fd, "mg Zm9v= b\r\n", "CLIENT_ERROR error decoding key\r\n");
    cli_expect(fd, "mg !!! b\r\n", "CLIENT_ERROR error decoding key\r\n");
}

Test(meta, mg_binary_and_empty_values) {
    char req[64], want[64];
    memcpy(req, "ms bin 6\r\na\0b\r\nc\r\n", 18);
    cli_send(fd, req, 18);
    char *r = cli_read_n(fd, 4);
    cr_assert_str_eq(r, "HD\r\n");
    free(r);
    cli_sends(fd, "mg bin v\r\n");
    r = cli_read_n(fd, 15);
    memcpy(want, "VA 6\r\na\0b\r\nc\r\n", 15);
    cr_assert_eq(memcmp(r, want, 15), 0);
    free(r);
    cli_expect(fd, "ms e 0\r\n\r\n", "HD\r\n");
    cli_expect(fd, "mg e v s\r\n", "VA 0 s0\r\n\r\n");
}

Test(meta, mg_large_value_sent_in_pieces) {
    size_t n = 500 * 1024;
    char *v = malloc(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)('a' + i % 26);
    char hdr[64];
    cli_send(fd, hdr, (size_t)sprintf(hdr, "ms big %zu T0\r\n", n));
    for (size_t off = 0; off < n; off += 65536) {
        cli_send(fd, v + off, n - off < 65536 ? n - off : 65536);
        usleep(1000);
    }
    cli_expect(fd, "\r\n", "HD\r\n");
    cli_sends(fd, "mg big s v\r\n");
    size_t h = (size_t)sprintf(hdr, "VA %zu s%zu\r\n", n, n);
    char *got = cli_read_n(fd, h + n + 2);
    cr_assert_eq(memcmp(got, hdr, h), 0);
    cr_assert_eq(memcmp(got + h, v, n), 0);
    cr_assert_eq(memcmp(got + h + n, "\r\n", 2), 0);
    free(got);
    free(v);
}

/* --- stale-while-revalidate -------------------------------------------------- */

Test(meta, mg_N_vivifies_and_one_client_wins) {
    cli_expect(fd, "mg w N30 v s f\r\n", "VA 0 s0 f0 W\r\n\r\n");
    cli_expect(fd, "mg w N30 v\r\n", "VA 0 Z\r\n\r\n");
    cli_expect(fd, "mg w\r\n", "HD Z\r\n");
    expect_ttl("mg w t\r\n", 29, 30);
    /* the winner stores the real value: the token goes with the old item */
    cli_expect(fd, "ms w 3\r\nnew\r\n", "HD\r\n");
    cli_expect(fd, "mg w v N30 t\r\n", "VA 3 t-1\r\nnew\r\n");
    /* t before N sees the created item's "never", then N applies */
    cli_expect(fd, "mg w2 t N30\r\n", "HD t-1 W\r\n");
    expect_ttl("mg w2 t\r\n", 29, 30);
    /* q does not hide a created item: it is a hit */
    cli_expect(fd, "mg w3 N0 q k\r\n", "HD kw3 W\r\n");
}

Test(meta, mg_R_wins_a_recache_before_expiry) {
    /* 100 s to live: far from R50 however slow the machine, under R200 */
    cli_expect(fd, "ms r 3 T100\r\nabc\r\n", "HD\r\n");
    cli_expect(fd, "mg r v R50\r\n", "VA 3\r\nabc\r\n");
    cli_expect(fd, "mg r v R200\r\n", "VA 3 W\r\nabc\r\n");
    cli_expect(fd, "mg r v R200\r\n", "VA 3 Z\r\nabc\r\n");
    cli_expect(fd, "ms n 3\r\nabc\r\n", "HD\r\n");
    cli_expect(fd, "mg n R30\r\n", "HD\r\n"); /* never expires: nothing to recache */
    /* R compares with the exptime a T before it set */
    cli_expect(fd, "ms r2 1 T100\r\nx\r\n", "HD\r\n");
    cli_expect(fd, "mg r2 T10 R30\r\n", "HD W\r\n");
    cli_expect(fd, "ms r3 1 T100\r\nx\r\n", "HD\r\n");
    cli_expect(fd, "mg r3 R30 T10\r\n", "HD\r\n");
}

Test(meta, md_I_marks_stale_and_ms_I_keeps_older_writers_stale) {
    cli_expect(fd, "ms s 3 T100\r\nold\r\n", "HD\r\n");
    uint64_t before = cas_of("s");
    cli_expect(fd, "md s I T30\r\n", "HD\r\n");
    uint64_t after = cas_of("s");
    cr_assert_neq(before, after, "invalidation bumps the cas");
    expect_ttl("mg s t\r\n", 29, 30);
    cli_expect(fd, "mg s v\r\n", "VA 3 Z X\r\nold\r\n"); /* t above already won */
    cli_expect(fd, "md s I\r\n", "HD\r\n");
    cli_expect(fd, "mg s v\r\n", "VA 3 X W\r\nold\r\n");
    cli_expect(fd, "mg s v\r\n", "VA 3 Z X\r\nold\r\n");
    /* an older cas with I stores, still stale, token and ttl kept */
    char req[128];
    snprintf(req, sizeof(req), "ms s 3 C%" PRIu64 " I\r\nmid\r\n", before);
    cli_expect(fd, req, "HD\r\n");
    cli_expect(fd, "mg s v\r\n", "VA 3 Z X\r\nmid\r\n");
    expect_ttl("mg s t\r\n", 28, 30);
    /* a newer cas is refused, the current one stores a fresh value */
    snprintf(req, sizeof(req), "ms s 3 C%" PRIu64 " I\r\nnew\r\n", cas_of("s") + 1000000);
    cli_expect(fd, req, "EX\r\n");
    snprintf(req, sizeof(req), "ms s 3 C%" PRIu64 " I\r\nnew\r\n", cas_of("s"));
    cli_expect(fd, req, "HD\r\n");
    cli_expect(fd, "mg s v t\r\n", "VA 3 t-1\r\nnew\r\n");
}

/* --- ms ---------------------------------------------------------------------- */

Test(meta, ms_modes) {
    cli_expect(fd, "ms k 1 ME\r\na\r\n", "HD\r\n");
    cli_expect(fd, "ms k 1 ME k\r\nb\r\n", "NS kk\r\n");
    cli_expect(fd, "ms k 1 MA\r\nz\r\n", "HD\r\n");
    cli_expect(fd, "ms k 1 MP\r\ny\r\n", "HD\r\n");
    cli_expect(fd, "mg k v\r\n", "VA 3\r\nyaz\r\n");
    cli_expect(fd, "ms k 1 MR\r\nr\r\n", "HD\r\n");
    cli_expect(fd, "ms k 1 MS\r\ns\r\n", "HD\r\n");
    cli_expect(fd, "mg k v\r\n", "VA 1\r\ns\r\n");
    cli_expect(fd, "ms none 1 MR\r\nx\r\n", "NS\r\n");
    cli_expect(fd, "ms none 1 MA\r\nx\r\n", "NS\r\n");
    cli_expect(fd, "ms none 1 MP C5\r\nx\r\n", "NS\r\n");
    cli_expect(fd, "ms k 1 MX\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n");
    cli_expect(fd, "ms k 1 MEE\r\nx\r\n", "CLIENT_ERROR incorrect length for M token\r\n");
}

Test(meta, ms_flags_ttl_and_returned_tokens) {
    cli_expect(fd, "ms k 2 F123 T0 k O9\r\nhi\r\n", "HD kk O9\r\n");
    cli_expect(fd, "mg k f v t\r\n", "VA 2 f123 t-1\r\nhi\r\n");
    cli_expect(fd, "ms k 2 F4294967296\r\nhi\r\n", "HD\r\n");
    cli_expect(fd, "mg k f\r\n", "HD f0\r\n");
    cli_expect(fd, "ms k 2 T50\r\nhi\r\n", "HD\r\n");
    expect_ttl("mg k t\r\n", 49, 50);
    char *r = line("ms k 2 c\r\nhi\r\n");
    uint64_t cas = (uint64_t)flag_num(r, 'c');
    free(r);
    cr_assert_eq(cas, cas_of("k"), "ms c returns the new cas");
    /* s and N are accepted and ignored by ms in 1.6.18 */
    cli_expect(fd, "ms k 2 s N5\r\nhi\r\n", "HD\r\n");
}

Test(meta, ms_C_compares_cas) {
    cli_expect(fd, "ms k 1\r\na\r\n", "HD\r\n");
    uint64_t cas = cas_of("k");
    char req[128], want[128];
    snprintf(req, sizeof(req), "ms k 1 C%" PRIu64 " c k\r\nb\r\n", cas + 1);
    cli_expect(fd, req, "EX c0 kk\r\n");
    cli_expect(fd, "ms k 1 C0\r\nb\r\n", "EX\r\n");
    cli_expect(fd, "ms k 1 C0 MA\r\nb\r\n", "HD\r\n"); /* C0: append checks nothing */
    cli_expect(fd, "ms none 1 C5\r\nb\r\n", "NF\r\n");
    cli_expect(fd, "ms none 1 C5 MR\r\nb\r\n", "NF\r\n");
    cli_expect(fd, "ms none 1 C5 ME\r\nb\r\n", "HD\r\n"); /* add ignores the cas */
    cas = cas_of("k");
    snprintf(req, sizeof(req), "ms k 1 C%" PRIu64 " MA\r\nc\r\n", cas + 1);
    cli_expect(fd, req, "EX\r\n");
    snprintf(req, sizeof(req), "ms k 1 C%" PRIu64 " MA\r\nc\r\n", cas);
    cli_expect(fd, req, "HD\r\n");
    cli_expect(fd, "mg k v\r\n", "VA 3\r\nabc\r\n");
    cas = cas_of("k");
    snprintf(req, sizeof(req), "ms k 1 C%" PRIu64 " MR q\r\nd\r\n", cas);
    cli_sends(fd, req);
    expect_silence();
    snprintf(want, sizeof(want), "VA 1 c%" PRIu64 "\r\nd\r\n", cas_of("k"));
    cli_expect(fd, "mg k v c\r\n", want);
}

Test(meta, ms_data_and_line_errors) {
    cli_expect(fd, "ms k 2\r\nabcd\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    cli_expect(fd, "mg k\r\n", "EN\r\n");
    /* flag errors swallow the data block */
    cli_expect(fd, "ms k 3 Tx\r\nabc\r\n", "CLIENT_ERROR bad token in command line format\r\n");
    cli_expect(fd, "ms k 3 Fx\r\nabc\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "ms k 3 T1 T2\r\nabc\r\n", "CLIENT_ERROR duplicate flag\r\n");
    cli_expect(fd, "ms k 3 noreply\r\nabc\r\n", "CLIENT_ERROR invalid flag\r\n");
    cli_expect(fd, "ms k 3 O123456789012345678901234567890123\r\nabc\r\n",
               "CLIENT_ERROR opaque token too long\r\n");
    /* line errors do not: the data line is read as a command */
    cli_expect(fd, "ms k\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "ms k x\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "ms k -1\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "ms\r\n", "ERROR\r\n");
    char key[252], big[400];
    memset(key, 'k', 251);
    key[251] = '\0';
    sprintf(big, "ms %s 1\r\nmn\r\n", key);
    cli_expect(fd, big, "CLIENT_ERROR bad command line format\r\nMN\r\n");
}

Test(meta, ms_too_large_is_refused_and_drops_the_old_value) {
    cli_expect(fd, "ms k 1\r\nx\r\n", "HD\r\n");
    size_t n = 2 << 20;
    char *req = malloc(n + 64);
    int h = sprintf(req, "ms k %zu MA\r\n", n);
    memset(req + h, 'v', n);
    memcpy(req + h + n, "\r\n", 2);
    cli_send(fd, req, (size_t)h + n + 2);
    free(req);
    char *r = cli_read_until(fd, "\r\n");
    cr_assert_str_eq(r, "SERVER_ERROR object too large for cache\r\n");
    free(r);
    cli_expect(fd, "mg k\r\n", "EN\r\n");
}

/* --- md ---------------------------------------------------------------------- */

Test(meta, md_deletes_with_cas_and_quiet) {
    cli_expect(fd, "ms k 1\r\nx\r\n", "HD\r\n");
    cli_expect(fd, "md k k O1\r\n", "HD kk O1\r\n");
    cli_expect(fd, "md k k O1\r\n", "NF kk O1\r\n");
    cli_expect(fd, "md k q\r\n", "NF\r\n"); /* q hides HD only */
    cli_expect(fd, "ms k 1\r\nx\r\n", "HD\r\n");
    cli_expect(fd, "md k C0\r\n", "EX\r\n");
    char req[64];
    snprintf(req, sizeof(req), "md k C%" PRIu64 " q\r\n", cas_of("k") + 7);
    cli_expect(fd, req, "EX\r\n");
    snprintf(req, sizeof(req), "md k C%" PRIu64 " q\r\n", cas_of("k"));
    cli_sends(fd, req);
    expect_silence();
    cli_expect(fd, "mg k\r\n", "EN\r\n");
    cli_expect(fd, "ms Zm9v 1\r\nx\r\n", "HD\r\n");
    cli_expect(fd, "md Zm9v b k\r\n", "NF kZm9v b\r\n");
    /* T without I does nothing */
    cli_expect(fd, "md Zm9v T30\r\n", "HD\r\n");
    cli_expect(fd, "md k Z\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
    cli_expect(fd, "md k q q\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
    cli_expect(fd, "md\r\n", "ERROR\r\n");
}

/* --- ma ---------------------------------------------------------------------- */

Test(meta, ma_modes_and_deltas) {
    cli_expect(fd, "ma n\r\n", "NF\r\n");
    cli_expect(fd, "ms n 2\r\n10\r\n", "HD\r\n");
    cli_expect(fd, "ma n\r\n", "HD\r\n");
    cli_expect(fd, "ma n v\r\n", "VA 2\r\n12\r\n");
    cli_expect(fd, "ma n D10 v\r\n", "VA 2\r\n22\r\n");
    cli_expect(fd, "ma n MD v\r\n", "VA 2\r\n21\r\n");
    cli_expect(fd, "ma n M- D1 v\r\n", "VA 2\r\n20\r\n");
    cli_expect(fd, "ma n M+ v\r\n", "VA 2\r\n21\r\n");
    cli_expect(fd, "ma n MI v\r\n", "VA 2\r\n22\r\n");
    cli_expect(fd, "ma n MD D100 v\r\n", "VA 1\r\n0\r\n");
    cli_expect(fd, "mg n v\r\n", "VA 2\r\n0 \r\n"); /* decr pads in place */
    cli_expect(fd, "ms n 20\r\n18446744073709551615\r\n", "HD\r\n");
    cli_expect(fd, "ma n v\r\n", "VA 1\r\n0\r\n"); /* incr wraps */
    cli_expect(fd, "ma n Mx\r\n", "CLIENT_ERROR invalid mode for ma M token\r\n");
    cli_expect(fd, "ma n Dx\r\n", "CLIENT_ERROR invalid or duplicate flag\r\n");
    cli_expect(fd, "ms s 3\r\nabc\r\n", "HD\r\n");
    cli_expect(fd, "ma s\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    cli_expect(fd, "ms e 0\r\n\r\n", "HD\r\n");
    cli_expect(fd, "ma e C1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    cli_expect(fd, "ma\r\n", "ERROR\r\n");
}

Test(meta, ma_vivify_cas_ttl_and_quiet) {
    cli_expect(fd, "ma v N0 J41 v t\r\n", "VA 2 t-1\r\n41\r\n");
    cli_expect(fd, "ma v v\r\n", "VA 2\r\n42\r\n");
    expect_ttl("ma w N50 J1 t\r\n", 49, 50);
    /* q hides a change, not a creation */
    cli_expect(fd, "ma q N0 q\r\n", "HD\r\n");
    cli_sends(fd, "ma q q\r\nma q q v\r\n");
    expect_silence();
    cli_expect(fd, "mg q v\r\n", "VA 1\r\n2\r\n");
    cli_expect(fd, "ma none q k O3\r\n", "NF knone O3\r\n");
    char *r = line("ma v c\r\n");
    uint64_t cas = (uint64_t)flag_num(r, 'c');
    free(r);
    cr_assert_eq(cas, cas_of("v"));
    char req[64];
    snprintf(req, sizeof(req), "ma v C%" PRIu64 " k v\r\n", cas + 1);
    cli_expect(fd, req, "EX kv\r\n");
    snprintf(req, sizeof(req), "ma v C%" PRIu64 " v\r\n", cas);
    cli_expect(fd, req, "VA 2\r\n44\r\n");
    /* T on success, also when the value grows into a new item (memcached
     * 1.6.18 loses the new ttl in that case; Larder keeps it) */
    cli_expect(fd, "ms g 2\r\n99\r\n", "HD\r\n");
    expect_ttl("ma g t T100\r\n", -1, -1);
    expect_ttl("mg g t\r\n", 99, 100);
    cli_expect(fd, "ma g O123456789012345678901234567890123\r\n",
               "CLIENT_ERROR opaque token too long\r\n");
    cli_expect(fd, "mg g v\r\n", "VA 3\r\n101\r\n"); /* memcached's order: changed first */
}

/* --- me, mn, errors ------------------------------------------------------------- */

Test(meta, me_debug_line) {
    cli_expect(fd, "me nope\r\n", "EN\r\n");
    cli_expect(fd, "me\r\n", "CLIENT_ERROR bad command line format\r\n");
    cli_expect(fd, "ms k 5\r\nhello\r\n", "HD\r\n");
    char *r = line("me k\r\n");
    unsigned la, cls;
    unsigned long long cas;
    char fetch[8];
    size_t size;
    int exp;
    cr_assert_eq(sscanf(r, "ME k exp=%d la=%u cas=%llu fetch=%3s cls=%u size=%zu\r\n", &exp, &la,
                        &cas, fetch, &cls, &size), 6, "%s", r);
    cr_assert_eq(exp, -1);
    cr_assert_str_eq(fetch, "no");
    cr_assert_eq(cas, cas_of("k"));
    cr_assert(cls >= 1 && size > 5);
    free(r);
    r = line("me k\r\n");
    cr_assert(strstr(r, "fetch=yes") != NULL, "%s", r);
    free(r);
    cli_expect(fd, "ms t 1 T100\r\nx\r\n", "HD\r\n");
    r = line("me t\r\n");
    const char *e = strstr(r, " exp=");
    cr_assert(e != NULL, "%s", r);
    int64_t exp_shown = strtoll(e + 5, NULL, 10);
    cr_assert(exp_shown >= -100 && exp_shown <= -99 + seconds_taken(), "%s", r);
    free(r);
    cli_expect(fd, "ms Zm9v 1 b\r\nx\r\n", "HD\r\n");
    r = line("me Zm9v b\r\n");
    cr_assert(strncmp(r, "ME Zm9v exp=-1 ", 15) == 0, "%s", r);
    free(r);
    cli_expect(fd, "me !!! b\r\n", "CLIENT_ERROR bad command line format\r\n");
}

Test(meta, mn_and_flag_errors) {
    cli_expect(fd, "mn\r\n", "MN\r\n");
    cli_expect(fd, "mn with tokens\r\n", "MN\r\n");
    cli_expect(fd, "mg\r\n", "ERROR\r\n");
    cli_expect(fd, "mx k\r\n", "ERROR\r\n");
    cli_expect(fd, "mg k z\r\n", "CLIENT_ERROR invalid flag\r\n");
    cli_expect(fd, "mg k v v\r\n", "CLIENT_ERROR duplicate flag\r\n");
    cli_expect(fd, "mg k Nx\r\n", "CLIENT_ERROR bad token in command line format\r\n");
    cli_expect(fd, "mg k Nx z\r\n", "CLIENT_ERROR invalid flag\r\n");
    cli_expect(fd, "mg k Jx\r\n", "CLIENT_ERROR invalid numeric initial value\r\n");
    cli_expect(fd, "mg k Dx\r\n", "CLIENT_ERROR invalid numeric delta value\r\n");
    cli_expect(fd, "mg k Cx\r\n", "CLIENT_ERROR bad token in command line format\r\n");
    cli_expect(fd, "mg k noreply\r\n", "CLIENT_ERROR invalid flag\r\n");
    cli_expect(fd, "mg k O123456789012345678901234567890123\r\n",
               "CLIENT_ERROR opaque token too long\r\n");
    cli_expect(fd, "mg k a b c d e f g h i j k l m n o p q r\r\n",
               "CLIENT_ERROR options flags are too long\r\n");
    cli_expect(fd, "md k a b c d e f g h i j k l m n o p q r\r\n",
               "CLIENT_ERROR options flags too long\r\n");
    char key[252], big[300];
    memset(key, 'k', 251);
    key[251] = '\0';
    sprintf(big, "mg %s v\r\n", key);
    cli_expect(fd, big, "CLIENT_ERROR bad command line format\r\n");
    key[250] = '\0';
    sprintf(big, "mg %s\r\n", key);
    cli_expect(fd, big, "EN\r\n");
}

/* --- pipelines and stats ---------------------------------------------------------- */

Test(meta, long_quiet_pipeline_answers_only_hits_and_MN) {
    size_t cap = 4 << 20, len = 0;
    char *req = malloc(cap);
    for (int i = 0; i < 20000; i++)
        len += (size_t)sprintf(req + len, "ms k%d 1 q\r\n%d\r\n", i, i % 10);
    for (int i = 0; i < 20000; i++)
        len += (size_t)sprintf(req + len, "mg k%d q v k\r\nmg miss%d q v\r\nmd miss%d q\r\n", i,
                               i, i);
    len += (size_t)sprintf(req + len, "mn\r\n");
    cli_send(fd, req, len);
    char *got = cli_read_until(fd, "MN\r\n");
    size_t off = 0;
    for (int i = 0; i < 20000; i++) {
        char want[64];
        int n = sprintf(want, "VA 1 kk%d\r\n%d\r\nNF\r\n", i, i % 10);
        cr_assert_eq(strncmp(got + off, want, (size_t)n), 0, "reply %d", i);
        off += (size_t)n;
    }
    cr_assert_str_eq(got + off, "MN\r\n");
    free(got);
    free(req);
}

Test(meta, stats_count_as_memcached) {
    cli_sends(fd, "ms a 1\r\nx\r\nmg a v\r\nmg b v\r\nmg a T30\r\nmg b T30\r\nmg c N30\r\n"
                  "md a C77777777777\r\nmd a\r\nmd a\r\nma n\r\nma n N0\r\nma n\r\nma n MD\r\n"
                  "me a\r\nme c\r\nmn\r\n");
    free(cli_read_until(fd, "MN\r\n"));
    cr_assert_eq(srv_stat(&S, "cmd_get"), 4);
    cr_assert_eq(srv_stat(&S, "cmd_touch"), 1);
    cr_assert_eq(srv_stat(&S, "cmd_set"), 1);
    cr_assert_eq(srv_stat(&S, "get_hits"), 2);
    cr_assert_eq(srv_stat(&S, "get_misses"), 2);
    cr_assert_eq(srv_stat(&S, "touch_hits"), 1);
    cr_assert_eq(srv_stat(&S, "delete_hits"), 1);
    cr_assert_eq(srv_stat(&S, "delete_misses"), 2);
    cr_assert_eq(srv_stat(&S, "incr_hits"), 1);
    cr_assert_eq(srv_stat(&S, "incr_misses"), 1);
    cr_assert_eq(srv_stat(&S, "decr_hits"), 1);
    /* memcached 1.6.18 counts only me as cmd_meta */
    cr_assert_eq(srv_stat(&S, "cmd_meta"), 2);
}

Test(meta, meta_and_classic_mix_on_one_connection) {
    cli_expect(fd, "set k 3 0 2\r\nab\r\n", "STORED\r\n");
    cli_expect(fd, "mg k f v\r\n", "VA 2 f3\r\nab\r\n");
    cli_expect(fd, "ms k 2 F4\r\ncd\r\n", "HD\r\n");
    cli_expect(fd, "get k\r\n", "VALUE k 4 2\r\ncd\r\nEND\r\n");
    cli_expect(fd, "incr k 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    cli_expect(fd, "md k q\r\nget k\r\n", "END\r\n");
}
