/*
 * reply: in-place parser for memcached text replies; see reply.h.
 *
 * Lines must end in "\r\n", as memcached and Larder always send them; a bare
 * "\n" is reported as REPLY_BAD so that a server that drops the "\r" is
 * caught rather than tolerated.
 */
#include "reply.h"

#include <stdbool.h>
#include <string.h>

/* Cursor over the tokens of one line. */
struct reply_tokens {
    const char *p, *end;
};

static bool reply_next_token(struct reply_tokens *t, const char **tok, size_t *len) {
    while (t->p < t->end && *t->p == ' ')
        t->p++;
    if (t->p == t->end)
        return false;
    *tok = t->p;
    while (t->p < t->end && *t->p != ' ')
        t->p++;
    *len = (size_t)(t->p - *tok);
    return true;
}

static bool reply_token_u64(struct reply_tokens *t, uint64_t *out) {
    const char *tok;
    size_t len;
    if (!reply_next_token(t, &tok, &len) || len > 19)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(tok[i] - '0');
    }
    *out = v;
    return true;
}

static bool reply_is(const char *line, size_t len, const char *word) {
    size_t n = strlen(word);
    return len == n && memcmp(line, word, n) == 0;
}

static bool reply_starts(const char *line, size_t len, const char *word) {
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0 && (len == n || line[n] == ' ');
}

/* Adds the data block after the header line, if it is all there. */
static enum reply_status reply_take_data(const char *buf, size_t len, size_t header,
                                         uint64_t dlen, size_t max_data, struct reply *out) {
    size_t need = header + (size_t)dlen + 2;
    out->data = buf + header;
    out->data_len = (size_t)dlen;
    out->size = need;
    if (dlen > max_data)
        return REPLY_TOO_LARGE; /* described, so that the caller can skip it */
    if (len < need)
        return REPLY_INCOMPLETE;
    if (buf[need - 2] != '\r' || buf[need - 1] != '\n')
        return REPLY_BAD;
    return REPLY_OK;
}

/* "VALUE <key> <flags> <bytes> [<cas>]" */
static enum reply_status reply_value(const char *buf, size_t len, size_t header, size_t max_data,
                                     struct reply *out) {
    struct reply_tokens t = {out->line + 5, out->line + out->line_len};
    uint64_t flags, dlen, cas;
    if (!reply_next_token(&t, &out->key, &out->key_len) || !reply_token_u64(&t, &flags) ||
        flags > UINT32_MAX || !reply_token_u64(&t, &dlen))
        return REPLY_BAD;
    /* then an optional cas (gets), then nothing */
    const char *tok;
    size_t tok_len;
    struct reply_tokens peek = t;
    if (reply_next_token(&peek, &tok, &tok_len) &&
        (!reply_token_u64(&t, &cas) || reply_next_token(&t, &tok, &tok_len)))
        return REPLY_BAD;
    out->kind = REPLY_VALUE;
    out->flags = (uint32_t)flags;
    return reply_take_data(buf, len, header, dlen, max_data, out);
}

/* "VA <bytes> <flags>*": the only flag read back is k (the key). */
static enum reply_status reply_meta_value(const char *buf, size_t len, size_t header,
                                          size_t max_data, struct reply *out) {
    struct reply_tokens t = {out->line + 2, out->line + out->line_len};
    uint64_t dlen;
    if (!reply_token_u64(&t, &dlen))
        return REPLY_BAD;
    const char *tok;
    size_t tok_len;
    while (reply_next_token(&t, &tok, &tok_len)) {
        if (tok[0] == 'k') {
            out->key = tok + 1;
            out->key_len = tok_len - 1;
        }
    }
    out->kind = REPLY_META_VALUE;
    return reply_take_data(buf, len, header, dlen, max_data, out);
}

/* Lines with no data block.  Meta status lines may carry flags after the
 * code (e.g. "HD k<key>"), so they are matched by their first token. */
static enum reply_status reply_status_line(const char *l, size_t n, struct reply *out) {
    static const struct {
        const char *word;
        bool whole; /* must be the whole line */
        enum reply_kind kind;
    } table[] = {
        {"END", true, REPLY_END},
        {"STORED", true, REPLY_STORED},
        {"NOT_STORED", true, REPLY_NOT_STORED},
        {"EXISTS", true, REPLY_NOT_STORED},
        {"NOT_FOUND", true, REPLY_NOT_STORED},
        {"HD", false, REPLY_META_HD},
        {"EN", false, REPLY_META_MISS},
        {"MN", true, REPLY_META_NOOP},
        {"NS", false, REPLY_META_OTHER},
        {"EX", false, REPLY_META_OTHER},
        {"NF", false, REPLY_META_OTHER},
        {"ERROR", true, REPLY_ERROR},
        {"CLIENT_ERROR", false, REPLY_CLIENT_ERROR},
        {"SERVER_ERROR", false, REPLY_SERVER_ERROR},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        bool hit = table[i].whole ? reply_is(l, n, table[i].word) : reply_starts(l, n, table[i].word);
        if (hit) {
            out->kind = table[i].kind;
            return REPLY_OK;
        }
    }
    return REPLY_BAD;
}

enum reply_status reply_parse(const char *buf, size_t len, size_t max_data, struct reply *out) {
    size_t scan = len < REPLY_LINE_MAX ? len : REPLY_LINE_MAX;
    const char *nl = memchr(buf, '\n', scan);
    if (!nl)
        return len >= REPLY_LINE_MAX ? REPLY_BAD : REPLY_INCOMPLETE;
    if (nl == buf || nl[-1] != '\r')
        return REPLY_BAD;
    memset(out, 0, sizeof(*out));
    out->line = buf;
    out->line_len = (size_t)(nl - 1 - buf);
    size_t header = (size_t)(nl + 1 - buf);
    out->size = header;
    if (reply_starts(out->line, out->line_len, "VALUE"))
        return reply_value(buf, len, header, max_data, out);
    if (reply_starts(out->line, out->line_len, "VA"))
        return reply_meta_value(buf, len, header, max_data, out);
    return reply_status_line(out->line, out->line_len, out);
}
