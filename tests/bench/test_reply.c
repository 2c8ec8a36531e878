/*
 * Unit tests for bench/reply (reply parser) and bench/payload (values that
 * carry their key).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "bench/payload.h"
#include "bench/reply.h"

static enum reply_status parse(const char *s, struct reply *r) {
    return reply_parse(s, strlen(s), 1000, r);
}

Test(reply, classic_value_and_end) {
    struct reply r;
    const char *s = "VALUE k01 5 3\r\nabc\r\nEND\r\n";
    cr_assert_eq(parse(s, &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_VALUE);
    cr_assert_eq(r.key_len, 3);
    cr_assert(memcmp(r.key, "k01", 3) == 0);
    cr_assert_eq(r.flags, 5);
    cr_assert_eq(r.data_len, 3);
    cr_assert(memcmp(r.data, "abc", 3) == 0);
    cr_assert_eq(r.size, strlen("VALUE k01 5 3\r\nabc\r\n"));
    cr_assert_eq(parse(s + r.size, &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_END);
    cr_assert_eq(r.size, 5);
}

Test(reply, value_with_cas) {
    struct reply r;
    cr_assert_eq(parse("VALUE k 0 1 99\r\nx\r\n", &r), REPLY_OK);
    cr_assert_eq(parse("VALUE k 0 1 99 extra\r\nx\r\n", &r), REPLY_BAD);
    cr_assert_eq(parse("VALUE k 0 1 x9\r\nx\r\n", &r), REPLY_BAD);
}

Test(reply, every_split_point_is_incomplete) {
    const char *s = "VALUE k01 0 10\r\n0123456789\r\n";
    struct reply r;
    for (size_t n = 0; n < strlen(s); n++)
        cr_assert_eq(reply_parse(s, n, 1000, &r), REPLY_INCOMPLETE, "at %zu", n);
    cr_assert_eq(reply_parse(s, strlen(s), 1000, &r), REPLY_OK);
}

Test(reply, data_block_must_end_in_crlf) {
    struct reply r;
    cr_assert_eq(parse("VALUE k 0 3\r\nabcd\r\n", &r), REPLY_BAD);
    cr_assert_eq(parse("VA 3\r\nab\r\n\r\n", &r), REPLY_BAD);
}

Test(reply, too_large_is_refused_before_the_data) {
    struct reply r;
    cr_assert_eq(parse("VALUE k 0 5000\r\n", &r), REPLY_TOO_LARGE);
    cr_assert_eq(parse("VA 5000\r\n", &r), REPLY_TOO_LARGE);
}

/* A too-large unit is still described, so that a client can skip it and
 * keep the connection. */
Test(reply, too_large_says_how_much_to_skip) {
    struct reply r;
    const char *hdr = "VALUE k1 0 5000\r\n";
    cr_assert_eq(parse(hdr, &r), REPLY_TOO_LARGE);
    cr_assert_eq(r.kind, REPLY_VALUE);
    cr_assert_eq(r.key_len, 2);
    cr_assert_eq(r.data_len, 5000);
    cr_assert_eq(r.size, strlen(hdr) + 5000 + 2);
    cr_assert_eq(parse("VA 5000 kk1\r\n", &r), REPLY_TOO_LARGE);
    cr_assert_eq(r.kind, REPLY_META_VALUE);
    cr_assert_eq(r.data_len, 5000);
}

Test(reply, meta) {
    struct reply r;
    cr_assert_eq(parse("VA 2 kmykey t-1\r\nhi\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_META_VALUE);
    cr_assert_eq(r.key_len, 5);
    cr_assert(memcmp(r.key, "mykey", 5) == 0);
    cr_assert(memcmp(r.data, "hi", 2) == 0);
    cr_assert_eq(parse("VA 2\r\nhi\r\n", &r), REPLY_OK);
    cr_assert_null(r.key);
    cr_assert_eq(parse("EN\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_META_MISS);
    cr_assert_eq(parse("HD\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_META_HD);
    cr_assert_eq(parse("HD kfoo\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_META_HD);
    cr_assert_eq(parse("MN\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_META_NOOP);
    cr_assert_eq(parse("NS\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_META_OTHER);
}

Test(reply, status_and_error_lines) {
    struct reply r;
    cr_assert_eq(parse("STORED\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_STORED);
    cr_assert_eq(parse("NOT_STORED\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_NOT_STORED);
    cr_assert_eq(parse("ERROR\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_ERROR);
    cr_assert_eq(parse("SERVER_ERROR out of memory storing object\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_SERVER_ERROR);
    cr_assert_eq(r.line_len, strlen("SERVER_ERROR out of memory storing object"));
    cr_assert_eq(parse("CLIENT_ERROR bad data chunk\r\n", &r), REPLY_OK);
    cr_assert_eq(r.kind, REPLY_CLIENT_ERROR);
}

Test(reply, garbage) {
    struct reply r;
    cr_assert_eq(parse("STORED\n", &r), REPLY_BAD, "bare newline");
    cr_assert_eq(parse("STOREDX\r\n", &r), REPLY_BAD);
    cr_assert_eq(parse("ENDING\r\n", &r), REPLY_BAD);
    cr_assert_eq(parse("\r\n", &r), REPLY_BAD);
    cr_assert_eq(parse("VALUE\r\n", &r), REPLY_BAD);
    cr_assert_eq(parse("VALUE k\r\n", &r), REPLY_BAD);
    char longline[REPLY_LINE_MAX + 10];
    memset(longline, 'x', sizeof(longline));
    cr_assert_eq(reply_parse(longline, sizeof(longline), 1000, &r), REPLY_BAD, "endless line");
}

Test(payload, keys_have_fixed_width) {
    struct payload p;
    char k[32];
    cr_assert_eq(payload_init(&p, 8, 1000, 100), PAYLOAD_OK);
    payload_key(&p, 42, k);
    cr_assert(memcmp(k, "k0000042", 8) == 0);
    payload_free(&p);
    cr_assert_eq(payload_init(&p, 4, 1001, 100), PAYLOAD_BAD_ARG, "1000 needs 4 digits + k");
    cr_assert_eq(payload_init(&p, 5, 1001, 100), PAYLOAD_OK);
    payload_free(&p);
}

Test(payload, values_check_against_their_key_only) {
    struct payload p;
    char v[300];
    cr_assert_eq(payload_init(&p, 16, 100000, 300), PAYLOAD_OK);
    size_t lens[] = {1, 5, 16, 17, 100, 300};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i];
        for (uint64_t id = 0; id < 200; id++) {
            payload_value(&p, id, v, len);
            cr_assert(payload_check(&p, id, v, len), "id %lu len %zu", id, len);
            if (len > 16)
                cr_assert(!payload_check(&p, id + 1, v, len), "other key accepted");
            v[len - 1] ^= 1;
            cr_assert(!payload_check(&p, id, v, len), "flipped byte accepted");
        }
    }
    payload_value(&p, 7, v, 100);
    cr_assert(!payload_check(&p, 7, v + 1, 99), "shifted value accepted");
    payload_free(&p);
}
