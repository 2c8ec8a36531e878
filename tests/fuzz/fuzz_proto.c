/*
 * fuzz_proto: libFuzzer target for the text protocol parser (proto/).
 *
 * The input is one command line as the connection code hands it over (no
 * "\r\n").  Beyond "no crash, no sanitizer report", it checks what the rest
 * of the server relies on: every token lies inside the line, is non-empty
 * and holds no space (the last one may, when the line had more tokens than
 * PROTO_MAX_TOKENS); a storage command has a key of 1..250 bytes and a data
 * length the connection can add 2 to without overflow; a retrieval's key
 * list lies inside the line and proto_next_key walks it forward to the end;
 * an error names a reply line.  The number parsers are checked against
 * strtoull/strtoll on plain "[+-]digits" tokens, and proto_fmt_value
 * against its own documented format.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "fuzz_proto: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                \
        }                                                                           \
    } while (0)

static bool inside(const char *p, size_t n, const char *line, size_t len) {
    return p >= line && p + n <= line + len;
}

static void check_tokens(const char *line, size_t len, const struct proto_request *req) {
    CHECK(req->ntok <= PROTO_MAX_TOKENS);
    for (unsigned i = 0; i < req->ntok; i++) {
        const struct proto_token *t = &req->tok[i];
        CHECK(t->len > 0 && inside(t->s, t->len, line, len));
        CHECK(t->s[0] != ' ' && t->s[t->len - 1] != ' ');
        if (i + 1 < PROTO_MAX_TOKENS)
            CHECK(memchr(t->s, ' ', t->len) == NULL);
        if (i > 0)
            CHECK(t->s > req->tok[i - 1].s + req->tok[i - 1].len);
    }
}

static void check_keys(const char *line, size_t len, const struct proto_request *req) {
    CHECK(inside(req->keys, req->keys_len, line, len));
    const char *p = req->keys, *end = req->keys + req->keys_len;
    struct proto_token key;
    size_t n = 0;
    while (proto_next_key(&p, end, &key)) {
        CHECK(key.len > 0 && inside(key.s, key.len, line, len));
        CHECK(memchr(key.s, ' ', key.len) == NULL);
        CHECK(p == key.s + key.len && p <= end);
        CHECK(++n <= len);
    }
}

static void check_request(const char *line, size_t len, const struct proto_request *req) {
    check_tokens(line, len, req);
    switch (req->cmd) {
    case PROTO_CMD_ERROR:
        CHECK(req->error != NULL);
        CHECK(strncmp(req->error, "ERROR", 5) == 0 || strncmp(req->error, "CLIENT_ERROR ", 13) == 0);
        break;
    case PROTO_CMD_GET:
    case PROTO_CMD_GETS:
    case PROTO_CMD_GAT:
    case PROTO_CMD_GATS:
        check_keys(line, len, req);
        break;
    case PROTO_CMD_SET:
    case PROTO_CMD_ADD:
    case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND:
    case PROTO_CMD_PREPEND:
    case PROTO_CMD_CAS:
        CHECK(req->key.len >= 1 && req->key.len <= PROTO_KEY_MAX);
        CHECK(inside(req->key.s, req->key.len, line, len));
        CHECK(req->vlen >= 0 && req->vlen <= INT32_MAX - 2);
        break;
    case PROTO_CMD_INCR:
    case PROTO_CMD_DECR:
    case PROTO_CMD_DELETE:
    case PROTO_CMD_TOUCH:
        CHECK(req->key.len >= 1 && req->key.len <= PROTO_KEY_MAX);
        CHECK(inside(req->key.s, req->key.len, line, len));
        break;
    default:
        CHECK(req->ntok >= 1);
        break;
    }
}

/* "[+-]?[0-9]+" only: there strtoull/strtoll are the reference. */
static bool plain_number(const char *s, size_t n) {
    size_t i = n > 0 && (s[0] == '+' || s[0] == '-');
    if (i == n)
        return false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static void check_numbers(const char *data, size_t size) {
    struct proto_token t = {data, size};
    uint64_t u;
    int64_t i;
    int32_t i32;
    uint32_t fl;
    bool ok_u = proto_parse_u64(&t, &u);
    bool ok_i = proto_parse_i64(&t, &i);
    bool ok_32 = proto_parse_i32(&t, &i32);
    bool ok_fl = proto_parse_flags(&t, &fl);
    CHECK(!ok_32 || (ok_i && i == i32));
    CHECK(ok_fl == ok_u && (!ok_fl || fl == (uint32_t)u));
    if (size > 40 || !plain_number(data, size))
        return;
    char buf[48];
    memcpy(buf, data, size);
    buf[size] = '\0';
    errno = 0;
    unsigned long long ru = strtoull(buf, NULL, 10);
    bool ref_u = errno == 0 && !(buf[0] == '-' && (long long)ru < 0);
    CHECK(ok_u == ref_u && (!ok_u || u == ru));
    errno = 0;
    long long ri = strtoll(buf, NULL, 10);
    bool ref_i = errno == 0;
    CHECK(ok_i == ref_i && (!ok_i || i == ri));
}

static void check_format(const char *data, size_t size) {
    char buf[400];
    size_t nkey = size > PROTO_KEY_MAX ? PROTO_KEY_MAX : size;
    uint64_t cas = 0;
    memcpy(&cas, data, size < 8 ? size : 8);
    size_t n = proto_fmt_value(buf, data, nkey, (uint32_t)cas, (uint32_t)(cas >> 32), true, cas);
    CHECK(n <= 320 && n >= 6 + nkey + 2);
    CHECK(memcmp(buf, "VALUE ", 6) == 0 && memcmp(buf + 6, data, nkey) == 0);
    CHECK(buf[n - 2] == '\r' && buf[n - 1] == '\n');
    n = proto_fmt_u64_line(buf, cas);
    buf[n] = '\0';
    CHECK(n <= 22 && strtoull(buf, NULL, 10) == cas);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* A private copy so that reading one byte past the line is caught. */
    char *line = malloc(size ? size : 1);
    if (line == NULL)
        return 0;
    memcpy(line, data, size);
    struct proto_request req;
    proto_parse(line, size, &req);
    check_request(line, size, &req);
    (void)proto_line_may_be_long(line, size);
    check_numbers(line, size);
    check_format(line, size);
    free(line);
    return 0;
}
