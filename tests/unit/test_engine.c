/*
 * The command engine on its own: a client with no connection, no socket
 * and no event loop, fed bytes the way conn.c feeds them, as the fuzzers
 * do.  What the engine answers and asks for is the whole contract between
 * the front ends and the connections.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/binary.h"
#include "server/engine.h"
#include "server/server.h"
#include "server/settings.h"
#include "storage/store.h"

static struct settings t_settings;
static struct server t_srv;
static struct worker t_worker;
static struct engine_client cl;
static char out[4 << 20];
static size_t out_len;

static void setup(void) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = 64u << 20;
    settings_defaults(&t_settings);
    memset(&t_srv, 0, sizeof(t_srv));
    t_srv.settings = &t_settings;
    t_srv.store = store_create(&cfg);
    budget_init(&t_srv.conn_mem, settings_conn_mem_limit(&t_settings));
    budget_init(&t_srv.uploads, settings_upload_limit(&t_settings));
    cr_assert_not_null(t_srv.store);
    memset(&t_worker, 0, sizeof(t_worker));
    t_worker.srv = &t_srv;
    engine_client_init(&cl, &t_worker, 7, ENGINE_PROTO_AUTO, ENGINE_OUT_MAX + (1u << 20));
    out_len = 0;
}

static void teardown(void) {
    engine_client_free(&cl);
    store_destroy(t_srv.store);
}

static void collect(void) {
    size_t n = engine_out_len(&cl);
    if (n == 0)
        return;
    cr_assert_leq(out_len + n, sizeof(out));
    memcpy(out + out_len, engine_out_at(&cl, 0), n);
    out_len += n;
    cl.out.start = cl.out.end = 0;
}

/* Feeds all of in[0, len) as a connection would; returns the last result
 * (ENGINE_MORE when the input ran out mid-request). */
static enum engine_result feed(const char *in, size_t len) {
    size_t off = 0;
    enum engine_result r = ENGINE_MORE;
    while (off < len) {
        size_t used;
        r = engine_run(&cl, in + off, len - off, &used);
        off += used;
        collect();
        if (r == ENGINE_MORE || r == ENGINE_CLOSE || r == ENGINE_CLOSE_AFTER_REPLY)
            break;
        if (r == ENGINE_SWALLOW) {
            cr_assert_geq(len - off, cl.swallow);
            off += cl.swallow;
        } else if (r == ENGINE_NEED_VALUE) {
            size_t n = cl.value->nbytes, end = cl.value_crlf ? 2 : 0;
            cr_assert_geq(len - off, n + end);
            memcpy(item_value(cl.value), in + off, n);
            memcpy(cl.value_end, cl.value_crlf ? in + off + n : "\r\n", 2);
            off += n + end;
            r = engine_value_done(&cl);
            collect();
        }
    }
    return r;
}

static enum engine_result feed_str(const char *in) { return feed(in, strlen(in)); }

static void expect_out(const char *want) {
    cr_assert_eq(out_len, strlen(want), "got %zu bytes: %.*s", out_len, (int)out_len, out);
    cr_assert(memcmp(out, want, out_len) == 0, "got: %.*s", (int)out_len, out);
    out_len = 0;
}

TestSuite(engine, .init = setup, .fini = teardown);

Test(engine, text_store_then_fetch) {
    cr_assert_eq(feed_str("set k 5 0 3\r\nabc\r\nget k nope\r\n"), ENGINE_DONE);
    expect_out("STORED\r\nVALUE k 5 3\r\nabc\r\nEND\r\n");
    cr_assert_eq(cl.s.proto, ENGINE_PROTO_TEXT);
}

Test(engine, half_a_line_asks_for_more) {
    size_t used = 99;
    cr_assert_eq(engine_run(&cl, "get k", 5, &used), ENGINE_MORE);
    cr_assert_eq(used, 0);
    cr_assert_eq(engine_out_len(&cl), 0);
}

Test(engine, store_asks_for_its_value) {
    size_t used;
    const char *line = "set k 0 0 4\r\n";
    cr_assert_eq(engine_run(&cl, line, strlen(line), &used), ENGINE_NEED_VALUE);
    cr_assert_eq(used, strlen(line));
    cr_assert_eq(cl.value->nbytes, 4);
    cr_assert(cl.value_crlf);
    memcpy(item_value(cl.value), "wxyz", 4);
    memcpy(cl.value_end, "\r\n", 2);
    cr_assert_eq(engine_value_done(&cl), ENGINE_DONE);
    collect();
    expect_out("STORED\r\n");
}

Test(engine, bad_chunk_is_refused_and_not_stored) {
    cr_assert_eq(feed_str("set k 0 0 2\r\nabXYget k\r\n"), ENGINE_DONE);
    expect_out("CLIENT_ERROR bad data chunk\r\nEND\r\n");
}

Test(engine, refused_store_swallows_its_value) {
    char line[64];
    size_t big = (2u << 20); /* above -I's default of 1 MB */
    snprintf(line, sizeof(line), "set k 0 0 %zu\r\n", big);
    size_t used;
    cr_assert_eq(engine_run(&cl, line, strlen(line), &used), ENGINE_SWALLOW);
    cr_assert_eq(cl.swallow, big + 2);
    collect();
    expect_out("SERVER_ERROR object too large for cache\r\n");
}

Test(engine, meta_and_classic_share_the_store) {
    cr_assert_eq(feed_str("ms k 2 T0 F9\r\nhi\r\nmg k v f\r\nget k\r\n"), ENGINE_DONE);
    expect_out("HD\r\nVA 2 f9\r\nhi\r\nVALUE k 9 2\r\nhi\r\nEND\r\n");
}

Test(engine, counting_rules_are_the_protocols) {
    struct store_stats ss;
    feed_str("gat 0 missing\r\n");
    store_stats(t_srv.store, &ss);
    cr_assert_eq(ss.touch_misses, 1);
    cr_assert_eq(ss.get_misses, 0);
    feed_str("mg missing T0\r\n");
    store_stats(t_srv.store, &ss);
    cr_assert_eq(ss.touch_misses, 1);
    cr_assert_eq(ss.get_misses, 1);
    cr_assert_eq(t_worker.stats.cmd_touch, 1);
    cr_assert_eq(t_worker.stats.cmd_get, 1);
    expect_out("END\r\nEN\r\n");
}

Test(engine, binary_get_miss_echoes_opaque) {
    unsigned char req[24 + 1] = {0};
    req[0] = BIN_MAGIC_REQ;
    req[1] = BIN_GET;
    req[3] = 1; /* key length */
    req[11] = 1; /* body length */
    memcpy(req + 12, "\xde\xad\xbe\xef", 4);
    req[24] = 'k';
    cr_assert_eq(feed((const char *)req, sizeof(req)), ENGINE_DONE);
    cr_assert_eq(cl.s.proto, ENGINE_PROTO_BINARY);
    cr_assert_geq(out_len, 24);
    cr_assert_eq((unsigned char)out[0], 0x81);
    cr_assert_eq((unsigned char)out[7], BIN_KEY_ENOENT);
    cr_assert(memcmp(out + 12, "\xde\xad\xbe\xef", 4) == 0);
}

Test(engine, long_multiget_pauses_and_resumes) {
    static char value[600000];
    static char set[sizeof(value) + 64];
    memset(value, 'v', sizeof(value));
    int n = snprintf(set, 64, "set big 0 0 %zu\r\n", sizeof(value));
    memcpy(set + n, value, sizeof(value));
    memcpy(set + n + sizeof(value), "\r\n", 2);
    feed(set, (size_t)n + sizeof(value) + 2);
    expect_out("STORED\r\n");
    const char *get = "get big big big\r\n";
    size_t used, runs = 0;
    enum engine_result r;
    do {
        r = engine_run(&cl, get, strlen(get), &used);
        cr_assert_leq(engine_out_len(&cl), ENGINE_OUT_HIGH + sizeof(value) + 512);
        collect();
        runs++;
        if (r == ENGINE_PAUSED)
            cr_assert_eq(used, 0); /* the line stays, to be run again */
    } while (r == ENGINE_PAUSED && runs < 10);
    cr_assert_eq(r, ENGINE_DONE);
    cr_assert_gt(runs, 1);
    cr_assert_eq(used, strlen(get));
    size_t one = strlen("VALUE big 0 600000\r\n") + sizeof(value) + 2;
    cr_assert_eq(out_len, 3 * one + 5);
    cr_assert(memcmp(out + out_len - 5, "END\r\n", 5) == 0);
}

Test(engine, http_request_line_closes_without_a_byte) {
    cr_assert_eq(feed_str("POST / HTTP/1.1\r\nflush_all\r\n"), ENGINE_CLOSE);
    cr_assert_eq(out_len, 0);
}

Test(engine, quit_sends_what_is_queued_then_closes) {
    cr_assert_eq(feed_str("version\r\nquit\r\nget k\r\n"), ENGINE_CLOSE_AFTER_REPLY);
    cr_assert(out_len > 8 && memcmp(out, "VERSION ", 8) == 0);
}

Test(engine, store_waits_for_its_value_when_uploads_are_full) {
    /* the uploads share is taken: a store whose value is not all in waits
     * in the read buffer instead of taking item memory */
    t_srv.uploads.used = t_srv.uploads.limit;
    const char *line = "set k 0 0 5\r\nab";
    size_t used = 9;
    cr_assert_eq(engine_run(&cl, line, strlen(line), &used), ENGINE_MORE);
    cr_assert_eq(used, 0);
    cr_assert_eq(cl.want, strlen("set k 0 0 5\r\n") + 5 + 2);
    cr_assert_eq(budget_refusals(&t_srv.uploads), 1);
    /* once the whole value is there, it is stored at once */
    cr_assert_eq(feed_str("set k 0 0 5\r\nabcde\r\nget k\r\n"), ENGINE_DONE);
    expect_out("STORED\r\nVALUE k 0 5\r\nabcde\r\nEND\r\n");
    t_srv.uploads.used = 0;
}

Test(engine, a_value_in_flight_holds_upload_memory_until_done) {
    size_t used;
    const char *line = "set k 0 0 100\r\n";
    cr_assert_eq(engine_run(&cl, line, strlen(line), &used), ENGINE_NEED_VALUE);
    cr_assert_geq(budget_used(&t_srv.uploads), 100);
    memset(item_value(cl.value), 'x', 100);
    memcpy(cl.value_end, "\r\n", 2);
    cr_assert_eq(engine_value_done(&cl), ENGINE_DONE);
    cr_assert_eq(budget_used(&t_srv.uploads), 0);
}

Test(engine, output_growth_counts_against_the_budget) {
    static char set[300000 + 64];
    int n = snprintf(set, 64, "set big 0 0 300000\r\n");
    memset(set + n, 'v', 300000);
    memcpy(set + n + 300000, "\r\n", 2);
    feed(set, (size_t)n + 300002);
    out_len = 0;
    size_t before = budget_used(&t_srv.conn_mem), used;
    cr_assert_eq(engine_run(&cl, "get big\r\n", 9, &used), ENGINE_DONE);
    cr_assert_geq(budget_used(&t_srv.conn_mem), before + 300000 - ENGINE_OUT_INITIAL);
    /* a budget that is used up refuses the growth: this client is hung up on */
    engine_client_free(&cl);
    engine_client_init(&cl, &t_worker, 7, ENGINE_PROTO_TEXT, ENGINE_OUT_MAX);
    size_t limit = t_srv.conn_mem.limit;
    t_srv.conn_mem.used = limit;
    cr_assert_eq(engine_run(&cl, "get big\r\n", 9, &used), ENGINE_CLOSE);
    cr_assert_eq(t_worker.stats.response_obj_oom, 1, "memcached's name for a refused reply");
    t_srv.conn_mem.used = 0;
}
