/*
 * The binary protocol: through libmemcached's binary behaviour, and raw
 * packets for the rules a library hides (quiet commands, hang-ups, -B).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct srv S;
static memcached_st *mc;

static void up(void) {
    srv_start(&S, NULL);
    mc = memcached_create(NULL);
    cr_assert(mc != NULL);
    cr_assert_eq(memcached_server_add(mc, "127.0.0.1", (in_port_t)S.port), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1),
                 MEMCACHED_SUCCESS);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
}
static void down(void) {
    memcached_free(mc);
    cr_assert_eq(srv_stop(&S), 0);
}

TestSuite(binary, .init = up, .fini = down, .timeout = 600);

static char *get(const char *key, size_t *len, uint32_t *flags, memcached_return_t *rc) {
    return memcached_get(mc, key, strlen(key), len, flags, rc);
}

static void expect_value(const char *key, const char *want, uint32_t want_flags) {
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = get(key, &len, &flags, &rc);
    cr_assert_eq(rc, MEMCACHED_SUCCESS, "%s: %s", key, memcached_strerror(mc, rc));
    cr_assert_eq(len, strlen(want));
    cr_assert_eq(memcmp(v, want, len), 0);
    cr_assert_eq(flags, want_flags);
    free(v);
}

Test(binary, libmemcached_storage_commands) {
    cr_assert_eq(memcached_set(mc, "a", 1, "hello", 5, 0, 42), MEMCACHED_SUCCESS);
    expect_value("a", "hello", 42);
    cr_assert_eq(memcached_add(mc, "a", 1, "x", 1, 0, 0), MEMCACHED_DATA_EXISTS);
    cr_assert_eq(memcached_add(mc, "b", 1, "1", 1, 0, 7), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_replace(mc, "nope", 4, "2", 1, 0, 0), MEMCACHED_NOTFOUND);
    cr_assert_eq(memcached_append(mc, "b", 1, "9", 1, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_prepend(mc, "b", 1, "0", 1, 0, 0), MEMCACHED_SUCCESS);
    expect_value("b", "019", 7);
    cr_assert_eq(memcached_append(mc, "nope", 4, "9", 1, 0, 0), MEMCACHED_NOTSTORED);
    cr_assert_eq(memcached_delete(mc, "a", 1, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_delete(mc, "a", 1, 0), MEMCACHED_NOTFOUND);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    cr_assert_null(get("a", &len, &flags, &rc));
    cr_assert_eq(rc, MEMCACHED_NOTFOUND);
}

Test(binary, libmemcached_cas) {
    cr_assert_eq(memcached_set(mc, "c", 1, "v1", 2, 0, 0), MEMCACHED_SUCCESS);
    const char *keys[] = {"c"};
    size_t lens[] = {1};
    cr_assert_eq(memcached_mget(mc, keys, lens, 1), MEMCACHED_SUCCESS);
    memcached_return_t rc;
    memcached_result_st *r = memcached_fetch_result(mc, NULL, &rc);
    cr_assert_not_null(r);
    uint64_t cas = memcached_result_cas(r);
    cr_assert_neq(cas, 0);
    memcached_result_free(r);
    cr_assert_null(memcached_fetch_result(mc, NULL, &rc)); /* the end of the mget */
    cr_assert_eq(memcached_cas(mc, "c", 1, "v2", 2, 0, 0, cas + 1), MEMCACHED_DATA_EXISTS);
    cr_assert_eq(memcached_cas(mc, "c", 1, "v2", 2, 0, 0, cas), MEMCACHED_SUCCESS);
    expect_value("c", "v2", 0);
    cr_assert_eq(memcached_cas(mc, "gone", 4, "v", 1, 0, 0, cas), MEMCACHED_NOTFOUND);
}

Test(binary, libmemcached_counters) {
    uint64_t v;
    cr_assert_eq(memcached_increment_with_initial(mc, "n", 1, 5, 100, 0, &v), MEMCACHED_SUCCESS);
    cr_assert_eq(v, 100);
    cr_assert_eq(memcached_increment_with_initial(mc, "n", 1, 5, 100, 0, &v), MEMCACHED_SUCCESS);
    cr_assert_eq(v, 105);
    cr_assert_eq(memcached_decrement(mc, "n", 1, 200, &v), MEMCACHED_SUCCESS);
    cr_assert_eq(v, 0, "decr stops at 0");
    cr_assert_eq(memcached_increment(mc, "missing", 7, 1, &v), MEMCACHED_NOTFOUND);
    cr_assert_eq(memcached_set(mc, "t", 1, "text", 4, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_neq(memcached_increment(mc, "t", 1, 1, &v), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_set(mc, "big", 3, "18446744073709551615", 20, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_increment(mc, "big", 3, 1, &v), MEMCACHED_SUCCESS);
    cr_assert_eq(v, 0, "incr wraps at 2^64");
}

Test(binary, libmemcached_multiget_touch_flush_stats) {
    char key[16];
    for (int i = 0; i < 50; i++) {
        int n = sprintf(key, "m%d", i);
        cr_assert_eq(memcached_set(mc, key, (size_t)n, key, (size_t)n, 0, (uint32_t)i),
                     MEMCACHED_SUCCESS);
    }
    const char *keys[60];
    size_t lens[60];
    char buf[60][16];
    for (int i = 0; i < 60; i++) { /* 10 of them miss */
        lens[i] = (size_t)sprintf(buf[i], "m%d", i);
        keys[i] = buf[i];
    }
    cr_assert_eq(memcached_mget(mc, keys, lens, 60), MEMCACHED_SUCCESS);
    int found = 0;
    memcached_return_t rc;
    memcached_result_st *r;
    while ((r = memcached_fetch_result(mc, NULL, &rc)) != NULL) {
        cr_assert_eq(memcached_result_length(r), memcached_result_key_length(r));
        cr_assert_eq(memcmp(memcached_result_value(r), memcached_result_key_value(r),
                            memcached_result_length(r)), 0);
        found++;
        memcached_result_free(r);
    }
    cr_assert_eq(found, 50);
    cr_assert_eq(memcached_touch(mc, "m1", 2, 1000), MEMCACHED_SUCCESS);
    cr_assert_eq(memcached_touch(mc, "zz", 2, 1000), MEMCACHED_NOTFOUND);

    memcached_stat_st *st = memcached_stat(mc, NULL, &rc);
    cr_assert_eq(rc, MEMCACHED_SUCCESS);
    cr_assert_geq(st->curr_items, 50);
    cr_assert_geq(st->cmd_set, 50);
    memcached_stat_free(mc, st);

    cr_assert_eq(memcached_flush(mc, 0), MEMCACHED_SUCCESS);
    size_t len;
    uint32_t flags;
    cr_assert_null(get("m1", &len, &flags, &rc));
    cr_assert_eq(rc, MEMCACHED_NOTFOUND);
}

Test(binary, large_value_round_trip) {
    size_t n = 900 * 1024;
    char *v = malloc(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (char)(i * 31 + 7);
    cr_assert_eq(memcached_set(mc, "large", 5, v, n, 0, 3), MEMCACHED_SUCCESS);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *got = get("large", &len, &flags, &rc);
    cr_assert_eq(rc, MEMCACHED_SUCCESS);
    cr_assert_eq(len, n);
    cr_assert_eq(memcmp(got, v, n), 0);
    free(got);
    char *huge = calloc(1, 2 << 20);
    cr_assert_neq(memcached_set(mc, "large", 5, huge, 2 << 20, 0, 0), MEMCACHED_SUCCESS);
    cr_assert_null(get("large", &len, &flags, &rc), "a failed set drops the old value");
    free(huge);
    free(v);
}

/* --- raw packets ------------------------------------------------------------- */

struct pkt {
    uint8_t magic, opcode, extlen;
    uint16_t keylen, status;
    uint32_t bodylen, opaque;
    uint64_t cas;
    char body[4096];
};

static size_t build(char *out, uint8_t op, const char *key, const char *ext, size_t extlen,
                    const char *val, size_t vlen, uint32_t opaque) {
    size_t klen = key ? strlen(key) : 0;
    uint32_t body = (uint32_t)(extlen + klen + vlen);
    memset(out, 0, 24);
    out[0] = (char)0x80;
    out[1] = (char)op;
    out[2] = (char)(klen >> 8);
    out[3] = (char)klen;
    out[4] = (char)extlen;
    uint32_t nb = htonl(body);
    memcpy(out + 8, &nb, 4);
    memcpy(out + 12, &opaque, 4);
    if (extlen)
        memcpy(out + 24, ext, extlen);
    if (klen)
        memcpy(out + 24 + extlen, key, klen);
    if (vlen)
        memcpy(out + 24 + extlen + klen, val, vlen);
    return 24 + body;
}

static void sendp(int fd, uint8_t op, const char *key, const char *ext, size_t extlen,
                  const char *val, size_t vlen, uint32_t opaque) {
    char buf[8192];
    cli_send(fd, buf, build(buf, op, key, ext, extlen, val, vlen, opaque));
}

static void recvp(int fd, struct pkt *p) {
    char *h = cli_read_n(fd, 24);
    unsigned char *u = (unsigned char *)h;
    p->magic = u[0];
    p->opcode = u[1];
    p->keylen = (uint16_t)(u[2] << 8 | u[3]);
    p->extlen = u[4];
    p->status = (uint16_t)(u[6] << 8 | u[7]);
    p->bodylen = ntohl(*(uint32_t *)(h + 8));
    memcpy(&p->opaque, h + 12, 4);
    free(h);
    cr_assert_eq(p->magic, 0x81, "a response packet");
    cr_assert_lt(p->bodylen, sizeof(p->body));
    char *b = cli_read_n(fd, p->bodylen);
    memcpy(p->body, b, p->bodylen);
    p->body[p->bodylen] = '\0';
    free(b);
}

static const char set_extras[8] = {0, 0, 0, 9, 0, 0, 0, 0}; /* flags 9, no expiry */

Test(binary, quiet_commands_answer_only_errors) {
    int fd = cli_connect(&S);
    struct pkt p;
    sendp(fd, 0x11, "q1", set_extras, 8, "v", 1, 1);   /* setq: silent */
    sendp(fd, 0x09, "nope", NULL, 0, NULL, 0, 2);      /* getq miss: silent */
    sendp(fd, 0x09, "q1", NULL, 0, NULL, 0, 3);        /* getq hit: answered */
    sendp(fd, 0x12, "q1", set_extras, 8, "w", 1, 4);   /* addq on a key: error */
    sendp(fd, 0x14, "q1", NULL, 0, NULL, 0, 5);        /* deleteq: silent */
    sendp(fd, 0x0d, "q1", NULL, 0, NULL, 0, 6);        /* getkq miss: silent */
    sendp(fd, 0x0a, NULL, NULL, 0, NULL, 0, 7);        /* noop */
    recvp(fd, &p);
    cr_assert_eq(p.opaque, 3);
    cr_assert_eq(p.status, 0);
    cr_assert_eq(p.extlen, 4);
    cr_assert_str_eq(p.body + 4, "v");
    recvp(fd, &p);
    cr_assert_eq(p.opaque, 4);
    cr_assert_eq(p.status, 0x02);
    cr_assert_str_eq(p.body, "Data exists for key.");
    recvp(fd, &p);
    cr_assert_eq(p.opaque, 7);
    cr_assert_eq(p.opcode, 0x0a);
    close(fd);
}

Test(binary, misses_say_not_found_or_name_the_key) {
    int fd = cli_connect(&S);
    struct pkt p;
    sendp(fd, 0x00, "absent", NULL, 0, NULL, 0, 1);
    recvp(fd, &p);
    cr_assert_eq(p.status, 0x01);
    cr_assert_str_eq(p.body, "Not found");
    sendp(fd, 0x0c, "absent", NULL, 0, NULL, 0, 2);
    recvp(fd, &p);
    cr_assert_eq(p.status, 0x01);
    cr_assert_eq(p.keylen, 6);
    cr_assert_str_eq(p.body, "absent");
    close(fd);
}

Test(binary, unknown_opcodes_are_answered_and_their_body_skipped) {
    int fd = cli_connect(&S);
    struct pkt p;
    const char ext[4] = {0, 0, 0, 1};
    sendp(fd, 0x1b, NULL, ext, 4, NULL, 0, 1); /* verbosity: unknown in memcached 1.6 */
    sendp(fd, 0x55, "key", NULL, 0, "body", 4, 2);
    sendp(fd, 0x21, "PLAIN", NULL, 0, "\0u\0p", 4, 3); /* SASL without -S */
    sendp(fd, 0x0b, NULL, NULL, 0, NULL, 0, 4);
    for (uint32_t i = 1; i <= 3; i++) {
        recvp(fd, &p);
        cr_assert_eq(p.opaque, i);
        cr_assert_eq(p.status, 0x81);
        cr_assert_str_eq(p.body, "Unknown command");
    }
    recvp(fd, &p);
    cr_assert_eq(p.opaque, 4);
    cr_assert_eq(p.status, 0);
    cr_assert(strncmp(p.body, "1.6.", 4) == 0);
    close(fd);
}

Test(binary, too_large_is_refused_and_the_stream_stays_in_step) {
    int fd = cli_connect(&S);
    struct pkt p;
    size_t vlen = (1 << 20) + 10;
    char *buf = malloc(vlen + 64);
    char *val = calloc(1, vlen);
    size_t n = build(buf, 0x01, "toobig", set_extras, 8, NULL, 0, 1);
    uint32_t nb = htonl((uint32_t)(8 + 6 + vlen));
    memcpy(buf + 8, &nb, 4);
    cli_send(fd, buf, n);
    cli_send(fd, val, vlen);
    sendp(fd, 0x0a, NULL, NULL, 0, NULL, 0, 2);
    recvp(fd, &p);
    cr_assert_eq(p.opaque, 1);
    cr_assert_eq(p.status, 0x03);
    cr_assert_str_eq(p.body, "Too large.");
    recvp(fd, &p);
    cr_assert_eq(p.opaque, 2);
    free(buf);
    free(val);
    close(fd);
}

Test(binary, a_value_split_across_writes_is_stored_whole) {
    int fd = cli_connect(&S);
    struct pkt p;
    char buf[4096];
    char val[3000];
    memset(val, 'z', sizeof(val));
    size_t n = build(buf, 0x01, "split", set_extras, 8, val, sizeof(val), 9);
    for (size_t off = 0; off < n; off += 7) {
        cli_send(fd, buf + off, n - off < 7 ? n - off : 7);
        if (off % 700 == 0)
            usleep(1000);
    }
    recvp(fd, &p);
    cr_assert_eq(p.status, 0);
    cr_assert_eq(p.opaque, 9);
    close(fd);
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *got = get("split", &len, &flags, &rc);
    cr_assert_eq(rc, MEMCACHED_SUCCESS);
    cr_assert_eq(len, sizeof(val));
    cr_assert_eq(flags, 9);
    cr_assert_eq(memcmp(got, val, len), 0);
    free(got);
}

Test(binary, protocol_errors_hang_up) {
    struct pkt p;
    int fd = cli_connect(&S);
    char key[300];
    memset(key, 'k', 299);
    key[299] = '\0';
    sendp(fd, 0x00, key, NULL, 0, NULL, 0, 1); /* a key over 250 bytes */
    recvp(fd, &p);
    cr_assert_eq(p.status, 0x04);
    cr_assert_str_eq(p.body, "Invalid arguments");
    cr_assert(cli_closed(fd));
    close(fd);

    fd = cli_connect(&S);
    sendp(fd, 0x01, "k", NULL, 0, "v", 1, 2); /* a set without its extras */
    recvp(fd, &p);
    cr_assert_eq(p.status, 0x04);
    cr_assert(cli_closed(fd));
    close(fd);

    fd = cli_connect(&S);
    char bad[24] = {(char)0x80, 0x00, 0x00, 0x05}; /* key longer than the body */
    cli_send(fd, bad, sizeof(bad));
    recvp(fd, &p);
    cr_assert_eq(p.status, 0x81);
    cr_assert(cli_closed(fd));
    close(fd);

    fd = cli_connect(&S);
    cli_expect(fd, "version\r\n", "VERSION 1.6.18-larder-0.1\r\n"); /* text still works */
    close(fd);
}

Test(binary, stats_groups_and_reset) {
    int fd = cli_connect(&S);
    struct pkt p;
    sendp(fd, 0x10, "settings", NULL, 0, NULL, 0, 5);
    int named = 0;
    bool saw_protocol = false;
    for (;;) {
        recvp(fd, &p);
        cr_assert_eq(p.opaque, 5);
        if (p.keylen == 0)
            break;
        named++;
        if (p.keylen == 16 && memcmp(p.body, "binding_protocol", 16) == 0) {
            saw_protocol = true;
            cr_assert_str_eq(p.body + 16, "auto-negotiate");
        }
    }
    cr_assert_gt(named, 20);
    cr_assert(saw_protocol);
    sendp(fd, 0x10, "reset", NULL, 0, NULL, 0, 6);
    recvp(fd, &p);
    cr_assert_eq(p.keylen, 0, "reset answers with the terminator alone");
    sendp(fd, 0x10, "nosuchgroup", NULL, 0, NULL, 0, 7);
    recvp(fd, &p);
    cr_assert_eq(p.status, 0x01);
    close(fd);
}

/* --- -B ----------------------------------------------------------------------- */

Test(binary_flag, binary_only_hangs_up_on_text, .timeout = 600) {
    struct srv s;
    const char *args[] = {"-B", "binary", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    cli_sends(fd, "Here's a bunch of garbage that doesn't look like the bin prot.\r\n");
    cr_assert(cli_closed(fd));
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(binary_flag, ascii_only_reads_binary_bytes_as_text, .timeout = 600) {
    struct srv s;
    const char *args[] = {"-B", "ascii", NULL};
    srv_start(&s, args);
    int fd = cli_connect(&s);
    char buf[64];
    size_t n = build(buf, 0x0b, NULL, NULL, 0, NULL, 0, 0);
    cli_send(fd, buf, n);
    cli_sends(fd, "\r\nversion\r\n");
    char *r = cli_read_until(fd, "VERSION 1.6.18-larder-0.1\r\n");
    cr_assert(strstr(r, "ERROR\r\n") == r, "the packet is an unknown text command: %s", r);
    free(r);
    close(fd);
    cr_assert_eq(srv_stop(&s), 0);
}
