/*
 * proto: classic text protocol parser and reply formatting; see proto.h.
 */
#include "proto.h"

#include <string.h>

#define ERR_ERROR "ERROR"
#define ERR_FORMAT "CLIENT_ERROR bad command line format"

/* The first space in [p, end), or end.  A call to memchr costs more than
 * the scan of a short token, eight bytes a step; its vector scan wins on
 * a long rest of line. */
static inline const char *proto_find_space(const char *p, const char *end) {
    if (end - p >= 24) {
        const char *e = memchr(p, ' ', (size_t)(end - p));
        return e != NULL ? e : end;
    }
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    for (; end - p >= 8; p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= ones * ' '; /* a space becomes a zero byte */
        /* the lowest byte flagged is the first zero byte (borrows only
         * reach above it) */
        uint64_t zero = (w - ones) & ~w & highs;
        if (zero != 0)
            return p + (__builtin_ctzll(zero) >> 3);
    }
#endif
    while (p < end && *p != ' ')
        p++;
    return p;
}

/* Splits on runs of spaces, as memcached's tokenizer does; at most
 * PROTO_MAX_TOKENS tokens, the last of which then holds the rest of the line. */
static unsigned proto_tokenize(const char *s, size_t len, struct proto_token *tok) {
    unsigned n = 0;
    const char *p = s, *end = s + len;
    while (p < end && n < PROTO_MAX_TOKENS) {
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        if (n == PROTO_MAX_TOKENS - 1) {
            const char *e = end;
            while (e > p && e[-1] == ' ')
                e--;
            tok[n++] = (struct proto_token){p, (size_t)(e - p)};
            break;
        }
        const char *e = proto_find_space(p, end);
        tok[n++] = (struct proto_token){p, (size_t)(e - p)};
        p = e;
    }
    return n;
}

bool proto_tok_is(const struct proto_token *t, const char *s) {
    size_t n = strlen(s);
    return t->len == n && memcmp(t->s, s, n) == 0;
}

/* White space as C's isspace() sees it in the "C" locale. */
static bool proto_isspace(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* strtoull's grammar, which memcached's safe_strto* functions accept:
 * optional leading white space, an optional sign, at least one digit, then
 * the end of the token or white space (anything after it is ignored, so
 * "5\tx" reads as 5).  False on overflow or when there is no digit. */
static bool proto_parse_magnitude(const struct proto_token *t, bool *neg, uint64_t *out) {
    size_t i = 0;
    *neg = false;
    while (i < t->len && proto_isspace(t->s[i]))
        i++;
    if (i < t->len && (t->s[i] == '+' || t->s[i] == '-')) {
        *neg = t->s[i] == '-';
        i++;
    }
    size_t first = i;
    uint64_t v = 0;
    for (; i < t->len && t->s[i] >= '0' && t->s[i] <= '9'; i++) {
        unsigned d = (unsigned)(t->s[i] - '0');
        /* 19 digits always fit: only longer numbers pay for the check */
        if (i - first >= 19 && v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (i == first || (i < t->len && !proto_isspace(t->s[i])))
        return false;
    *out = v;
    return true;
}

/* The usual number, up to nine plain digits, which needs none of
 * strtoull's grammar; false for anything else. */
static inline bool proto_parse_digits(const struct proto_token *t, uint64_t *out) {
    if (t->len == 0 || t->len > 9)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < t->len; i++) {
        unsigned d = (unsigned)(unsigned char)t->s[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool proto_parse_u64(const struct proto_token *t, uint64_t *out) {
    bool neg;
    uint64_t v;
    if (proto_parse_digits(t, out))
        return true;
    if (!proto_parse_magnitude(t, &neg, &v))
        return false;
    /* strtoull negates "-n"; memcached refuses the result only when it
     * would be negative as a signed number, so "-0" is 0 and "-5" fails. */
    if (neg)
        v = 0 - v;
    if (neg && (int64_t)v < 0)
        return false;
    *out = v;
    return true;
}

bool proto_parse_i64(const struct proto_token *t, int64_t *out) {
    bool neg;
    uint64_t v;
    if (proto_parse_digits(t, &v)) {
        *out = (int64_t)v;
        return true;
    }
    if (!proto_parse_magnitude(t, &neg, &v) || v > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool proto_parse_i32(const struct proto_token *t, int32_t *out) {
    int64_t v;
    if (!proto_parse_i64(t, &v) || v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

bool proto_parse_flags(const struct proto_token *t, uint32_t *out) {
    uint64_t v;
    if (!proto_parse_u64(t, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

bool proto_next_key(const char **p, const char *end, struct proto_token *key) {
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    if (s == end)
        return false;
    const char *e = proto_find_space(s, end);
    *key = (struct proto_token){s, (size_t)(e - s)};
    *p = e;
    return true;
}

bool proto_line_may_be_long(const char *buf, size_t len) {
    static const char *const cmds[] = {"get ", "gets ", "gat ", "gats "};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        size_t n = strlen(cmds[i]);
        if (len >= n && memcmp(buf, cmds[i], n) == 0)
            return true;
    }
    return false;
}

static void proto_fail(struct proto_request *req, const char *err) {
    req->cmd = PROTO_CMD_ERROR;
    req->error = err;
}

/* A trailing "noreply" token: memcached (set_noreply_maybe) looks at the
 * last token whatever its position, and honours it even on lines it then
 * rejects ("incr k noreply" is silent), so it is noted before validation.
 * Only lines with more than `min_tokens` tokens are looked at. */
static void proto_noreply(struct proto_request *req, unsigned min_tokens) {
    if (req->ntok > min_tokens && proto_tok_is(&req->tok[req->ntok - 1], "noreply"))
        req->noreply = true;
}

/* "<cmd> <key>*" and "<cmd> <exptime> <key>*": the key list is kept whole. */
static void proto_parse_retrieval(const char *line, size_t len, struct proto_request *req,
                                  bool touch) {
    unsigned need = touch ? 2 : 1;
    if (req->ntok < need + (touch ? 0 : 1)) {
        proto_fail(req, ERR_ERROR);
        return;
    }
    if (touch) {
        int32_t e;
        if (!proto_parse_i32(&req->tok[1], &e)) {
            proto_fail(req, "CLIENT_ERROR invalid exptime argument");
            return;
        }
        req->exptime = e;
    }
    const char *start = req->tok[need - 1].s + req->tok[need - 1].len;
    req->keys = start;
    req->keys_len = (size_t)(line + len - start);
}

static void proto_parse_storage(struct proto_request *req, bool cas) {
    unsigned base = cas ? 6 : 5;
    if (req->ntok != base && req->ntok != base + 1) {
        proto_fail(req, ERR_ERROR);
        return;
    }
    proto_noreply(req, 1);
    req->key = req->tok[1];
    int32_t exptime, vlen;
    if (req->key.len > PROTO_KEY_MAX || !proto_parse_flags(&req->tok[2], &req->flags) ||
        !proto_parse_i32(&req->tok[3], &exptime) || !proto_parse_i32(&req->tok[4], &vlen) ||
        (cas && !proto_parse_u64(&req->tok[5], &req->cas)) || vlen < 0 || vlen > INT32_MAX - 2) {
        proto_fail(req, ERR_FORMAT);
        return;
    }
    req->exptime = exptime;
    req->vlen = vlen;
}

static void proto_parse_arith(struct proto_request *req) {
    if (req->ntok != 3 && req->ntok != 4) {
        proto_fail(req, ERR_ERROR);
        return;
    }
    proto_noreply(req, 1);
    req->key = req->tok[1];
    if (req->key.len > PROTO_KEY_MAX)
        proto_fail(req, ERR_FORMAT);
    else if (!proto_parse_u64(&req->tok[2], &req->delta))
        proto_fail(req, "CLIENT_ERROR invalid numeric delta argument");
}

static void proto_parse_delete(struct proto_request *req) {
    if (req->ntok < 2 || req->ntok > 4) {
        proto_fail(req, ERR_ERROR);
        return;
    }
    proto_noreply(req, 2);
    req->key = req->tok[1];
    /* Legacy "delete <key> 0" is accepted; any other hold time is not.
     * memcached checks this before the key length. */
    bool zero = req->ntok > 2 && proto_tok_is(&req->tok[2], "0");
    bool ok = req->ntok == 2 || (req->ntok == 3 && (zero || req->noreply)) ||
              (req->ntok == 4 && zero && req->noreply);
    if (!ok)
        proto_fail(req, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
    else if (req->key.len > PROTO_KEY_MAX)
        proto_fail(req, ERR_FORMAT);
}

static void proto_parse_touch(struct proto_request *req) {
    if (req->ntok != 3 && req->ntok != 4) {
        proto_fail(req, ERR_ERROR);
        return;
    }
    proto_noreply(req, 1);
    req->key = req->tok[1];
    int32_t e;
    if (req->key.len > PROTO_KEY_MAX)
        proto_fail(req, ERR_FORMAT);
    else if (!proto_parse_i32(&req->tok[2], &e))
        proto_fail(req, "CLIENT_ERROR invalid exptime argument");
    else
        req->exptime = e;
}

static void proto_parse_flush(struct proto_request *req) {
    if (req->ntok > 3) {
        proto_fail(req, ERR_ERROR);
        return;
    }
    proto_noreply(req, 1);
    req->exptime = 0;
    if (req->ntok >= 2 && !(req->ntok == 2 && req->noreply)) {
        int32_t e;
        if (!proto_parse_i32(&req->tok[1], &e)) {
            proto_fail(req, "CLIENT_ERROR invalid exptime argument");
            return;
        }
        req->exptime = e;
    }
}

static void proto_parse_verbosity(struct proto_request *req) {
    if (req->ntok != 2 && req->ntok != 3) {
        proto_fail(req, ERR_ERROR);
        return;
    }
    proto_noreply(req, 1);
    uint64_t level = 0;
    if (!proto_parse_u64(&req->tok[1], &level))
        proto_fail(req, ERR_FORMAT);
    req->delta = level;
}

/* Names carry their length so the lookup on every request compares lengths
 * first and never runs strlen. */
struct proto_command {
    const char *name;
    size_t len;
    enum proto_cmd cmd;
};

#define PROTO_CMD(name, cmd) {name, sizeof(name) - 1, cmd}

static const struct proto_command proto_commands[] = {
    PROTO_CMD("get", PROTO_CMD_GET),         PROTO_CMD("gets", PROTO_CMD_GETS),
    PROTO_CMD("set", PROTO_CMD_SET),         PROTO_CMD("mg", PROTO_CMD_META),
    PROTO_CMD("ms", PROTO_CMD_META),         PROTO_CMD("md", PROTO_CMD_META),
    PROTO_CMD("ma", PROTO_CMD_META),         PROTO_CMD("mn", PROTO_CMD_META),
    PROTO_CMD("me", PROTO_CMD_META),         PROTO_CMD("gat", PROTO_CMD_GAT),
    PROTO_CMD("gats", PROTO_CMD_GATS),       PROTO_CMD("add", PROTO_CMD_ADD),
    PROTO_CMD("replace", PROTO_CMD_REPLACE), PROTO_CMD("append", PROTO_CMD_APPEND),
    PROTO_CMD("prepend", PROTO_CMD_PREPEND), PROTO_CMD("cas", PROTO_CMD_CAS),
    PROTO_CMD("incr", PROTO_CMD_INCR),       PROTO_CMD("decr", PROTO_CMD_DECR),
    PROTO_CMD("delete", PROTO_CMD_DELETE),   PROTO_CMD("touch", PROTO_CMD_TOUCH),
    PROTO_CMD("stats", PROTO_CMD_STATS),     PROTO_CMD("flush_all", PROTO_CMD_FLUSH_ALL),
    PROTO_CMD("version", PROTO_CMD_VERSION), PROTO_CMD("verbosity", PROTO_CMD_VERBOSITY),
    PROTO_CMD("quit", PROTO_CMD_QUIT),       PROTO_CMD("shutdown", PROTO_CMD_SHUTDOWN),
    PROTO_CMD("cache_memlimit", PROTO_CMD_CACHE_MEMLIMIT),
    PROTO_CMD("lru_crawler", PROTO_CMD_LRU_CRAWLER),
    PROTO_CMD("misbehave", PROTO_CMD_MISBEHAVE),
    PROTO_CMD("watch", PROTO_CMD_WATCH),     PROTO_CMD("slabs", PROTO_CMD_SLABS),
    PROTO_CMD("refresh_certs", PROTO_CMD_REFRESH_CERTS),
};

static enum proto_cmd proto_lookup(const struct proto_token *t) {
    for (size_t i = 0; i < sizeof(proto_commands) / sizeof(proto_commands[0]); i++) {
        const struct proto_command *c = &proto_commands[i];
        /* the first byte tells most names apart without a call */
        if (t->len == c->len && t->s[0] == c->name[0] && memcmp(t->s, c->name, c->len) == 0)
            return c->cmd;
    }
    return PROTO_CMD_ERROR;
}

static bool proto_tok_starts(const struct proto_token *t, const char *prefix) {
    size_t n = strlen(prefix);
    return t->len >= n && memcmp(t->s, prefix, n) == 0;
}

/* memcached's rule: an unknown command whose last token starts with
 * "HTTP/".  Also an HTTP method followed by a path, for HTTP/0.9-style
 * lines that carry no version.  Commands are lower case, so no real
 * command is taken for one. */
static bool proto_is_http(const struct proto_request *req) {
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD",
                                          "OPTIONS", "PATCH", "CONNECT", "TRACE"};
    if (req->ntok >= 2 && proto_tok_starts(&req->tok[req->ntok - 1], "HTTP/"))
        return true;
    if (req->ntok < 2 || req->tok[1].len == 0 || req->tok[1].s[0] != '/')
        return false;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (proto_tok_is(&req->tok[0], methods[i]))
            return true;
    return false;
}

/* "get <keys>" and "gets <keys>", most of the lines a cache reads: the key
 * list is split later by proto_next_key, so the line is not tokenized, and
 * only tok[0] is filled.  False for anything else. */
static bool proto_parse_get(const char *line, size_t len, struct proto_request *req) {
    size_t n = len > 4 && memcmp(line, "get", 3) == 0 ? 3 : 0;
    if (n == 3 && line[3] == 's')
        n = 4;
    if (n == 0 || n >= len || line[n] != ' ')
        return false;
    const char *p = line + n, *end = line + len;
    while (p < end && *p == ' ')
        p++;
    if (p == end)
        return false; /* no key: the general path answers ERROR */
    req->cmd = n == 3 ? PROTO_CMD_GET : PROTO_CMD_GETS;
    req->tok[0] = (struct proto_token){line, n};
    req->ntok = 1;
    req->keys = line + n;
    req->keys_len = len - n;
    return true;
}

void proto_parse(const char *line, size_t len, struct proto_request *req) {
    req->cmd = PROTO_CMD_ERROR;
    req->error = ERR_ERROR;
    req->noreply = false;
    if (proto_parse_get(line, len, req))
        return;
    req->ntok = proto_tokenize(line, len, req->tok);
    if (req->ntok == 0)
        return;
    req->cmd = proto_lookup(&req->tok[0]);
    if (req->cmd == PROTO_CMD_ERROR && proto_is_http(req))
        req->cmd = PROTO_CMD_HANGUP;
    switch (req->cmd) {
    case PROTO_CMD_GET:
    case PROTO_CMD_GETS:
        proto_parse_retrieval(line, len, req, false);
        break;
    case PROTO_CMD_GAT:
    case PROTO_CMD_GATS:
        proto_parse_retrieval(line, len, req, true);
        break;
    case PROTO_CMD_SET:
    case PROTO_CMD_ADD:
    case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND:
    case PROTO_CMD_PREPEND:
        proto_parse_storage(req, false);
        break;
    case PROTO_CMD_CAS:
        proto_parse_storage(req, true);
        break;
    case PROTO_CMD_INCR:
    case PROTO_CMD_DECR:
        proto_parse_arith(req);
        break;
    case PROTO_CMD_DELETE:
        proto_parse_delete(req);
        break;
    case PROTO_CMD_TOUCH:
        proto_parse_touch(req);
        break;
    case PROTO_CMD_FLUSH_ALL:
        proto_parse_flush(req);
        break;
    case PROTO_CMD_VERBOSITY:
        proto_parse_verbosity(req);
        break;
    case PROTO_CMD_REFRESH_CERTS:
        proto_noreply(req, 1);
        break;
    case PROTO_CMD_CACHE_MEMLIMIT:
        if (req->ntok != 2 && req->ntok != 3)
            proto_fail(req, ERR_ERROR);
        else
            proto_noreply(req, 1);
        break;
    default:
        /* stats, version, quit, shutdown, lru_crawler, meta: the executor
         * reads the tokens itself */
        break;
    }
}

/* Digits are written from the end once their count is known, two at a time
 * from a table: no copy of a reversed buffer, half the divisions, and flags
 * of 0 (the common case) cost one store. */
size_t proto_fmt_u64(char *buf, uint64_t v) {
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    if (v < 10) {
        buf[0] = (char)('0' + v);
        return 1;
    }
    size_t n = 2;
    for (uint64_t t = v / 100; t != 0; t /= 10)
        n++;
    char *p = buf + n;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        *--p = pairs[d + 1];
        *--p = pairs[d];
    }
    if (v >= 10) {
        *--p = pairs[v * 2 + 1];
        *--p = pairs[v * 2];
    } else {
        *--p = (char)('0' + v);
    }
    return n;
}

size_t proto_fmt_u64_line(char *buf, uint64_t v) {
    size_t n = proto_fmt_u64(buf, v);
    buf[n++] = '\r';
    buf[n++] = '\n';
    return n;
}

size_t proto_fmt_value(char *buf, const char *key, size_t nkey, uint32_t flags, uint32_t nbytes,
                       bool with_cas, uint64_t cas) {
    char *p = buf;
    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, key, nkey);
    p += nkey;
    *p++ = ' ';
    p += proto_fmt_u64(p, flags);
    *p++ = ' ';
    p += proto_fmt_u64(p, nbytes);
    if (with_cas) {
        *p++ = ' ';
        p += proto_fmt_u64(p, cas);
    }
    *p++ = '\r';
    *p++ = '\n';
    return (size_t)(p - buf);
}

size_t proto_fmt_uri(char *dst, const char *src, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            dst[o++] = (char)ch;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[ch >> 4];
            dst[o++] = hex[ch & 15];
        }
    }
    dst[o] = '\0';
    return o;
}
