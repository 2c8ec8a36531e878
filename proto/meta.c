/*
 * meta: meta command flag parsing and memcached's base64; see meta.h.
 *
 * The checks run in memcached's order, which decides which error a line
 * with several faults gets: the key length, the token count, the data
 * length (ms), then the flags left to right.  In that flag pass a repeated
 * or unknown flag stops at once, while a bad number is noted and the pass
 * goes on, so a later bad number's message is the one answered.  md and ma
 * answer any flag error with one generic message.
 */
#include "proto/meta.h"

#include <string.h>

#define ERR_ERROR "ERROR"
#define ERR_FORMAT "CLIENT_ERROR bad command line format"
#define ERR_TOKEN "CLIENT_ERROR bad token in command line format"

/* The token after a flag's character. */
static struct proto_token meta_arg(const struct proto_token *t) {
    return (struct proto_token){t->s + 1, t->len - 1};
}

struct meta_pass {
    const char *err; /* message of the last recoverable error */
    bool failed;
};

static void meta_note(struct meta_pass *p, bool ok, const char *err) {
    if (ok)
        return;
    p->failed = true;
    if (err != NULL)
        p->err = err;
}

static void meta_decode_key(struct meta_request *m, struct meta_pass *p) {
    m->nkey = meta_base64_decode(m->key, m->nkey, m->keybuf, m->nkey);
    m->key = m->keybuf;
    m->key_binary = true;
    meta_note(p, m->nkey != 0, "CLIENT_ERROR error decoding key");
}

/* One flag; false when it is unknown (the pass stops there). */
static bool meta_flag(struct meta_request *m, const struct proto_token *t, struct meta_pass *p) {
    struct proto_token a = meta_arg(t);
    switch (t->s[0]) {
    case 'b': meta_decode_key(m, p); break;
    case 'N': meta_note(p, proto_parse_i32(&a, &m->vivify_exptime), ERR_TOKEN); break;
    case 'T': meta_note(p, proto_parse_i32(&a, &m->exptime), ERR_TOKEN); break;
    case 'R': meta_note(p, proto_parse_i32(&a, &m->recache_time), ERR_TOKEN); break;
    case 'F': meta_note(p, proto_parse_flags(&a, &m->client_flags), NULL); break;
    case 'C':
        m->has_cas = proto_parse_u64(&a, &m->cas);
        meta_note(p, m->has_cas, ERR_TOKEN);
        break;
    case 'M':
        meta_note(p, t->len == 2, "CLIENT_ERROR incorrect length for M token");
        if (t->len == 2)
            m->mode = t->s[1];
        break;
    case 'J': meta_note(p, proto_parse_u64(&a, &m->initial), "CLIENT_ERROR invalid numeric initial value"); break;
    case 'D': meta_note(p, proto_parse_u64(&a, &m->delta), "CLIENT_ERROR invalid numeric delta value"); break;
    case 'O':
        m->opaque = t;
        m->opaque_too_long = t->len > META_OPAQUE_MAX;
        break;
    case 'q': m->quiet = true; break;
    case 'v': m->value = true; break;
    case 'u': m->no_bump = true; break;
    case 'I': m->invalidate = true; break;
    case 'P': case 'L': /* proxy hints, ignored */
    case 'k': case 's': case 't': case 'c': case 'f': case 'h': case 'l':
        break;
    default:
        return false;
    }
    return true;
}

/* The flag pass (memcached's _meta_flag_preparse): NULL when every flag is
 * good, else the error line. */
static const char *meta_flags(struct meta_request *m, const struct proto_request *req,
                              unsigned start) {
    struct meta_pass p = {ERR_FORMAT, false};
    m->flags = &req->tok[start];
    m->nflags = req->ntok - start;
    for (unsigned i = 0; i < m->nflags; i++) {
        const struct proto_token *t = &m->flags[i];
        unsigned char c = (unsigned char)t->s[0];
        if (c >= 127 || m->pos[c] != 0)
            return "CLIENT_ERROR duplicate flag";
        m->pos[c] = (uint8_t)(i + 1);
        if (!meta_flag(m, t, &p))
            return "CLIENT_ERROR invalid flag";
    }
    return p.failed ? p.err : NULL;
}

static enum meta_status meta_fail(struct meta_request *m, const char *err) {
    m->error = err;
    return META_ERROR;
}

/* me <key> [b]: its own small syntax, not the flag pass. */
static enum meta_status meta_parse_debug(const struct proto_request *req, struct meta_request *m) {
    if (req->ntok < 2 || req->tok[1].len > PROTO_KEY_MAX)
        return meta_fail(m, ERR_FORMAT);
    if (req->ntok >= 3 && proto_tok_is(&req->tok[2], "b")) {
        m->nkey = meta_base64_decode(m->key, m->nkey, m->keybuf, m->nkey);
        m->key = m->keybuf;
        m->key_binary = true;
        if (m->nkey == 0)
            return meta_fail(m, ERR_FORMAT);
    }
    return META_OK;
}

static enum meta_status meta_parse_set(const struct proto_request *req, struct meta_request *m) {
    int32_t vlen;
    if (req->ntok == 2)
        return meta_fail(m, ERR_FORMAT);
    if (req->ntok >= META_MAX_TOKENS)
        return meta_fail(m, "CLIENT_ERROR options flags too long");
    if (!proto_parse_i32(&req->tok[2], &vlen) || vlen < 0 || vlen > INT32_MAX - 2)
        return meta_fail(m, ERR_FORMAT);
    m->vlen = vlen;
    m->error = meta_flags(m, req, 3);
    /* After a good flag pass: an unknown mode wins over a long opaque. */
    if (m->error == NULL && m->mode != 0 && strchr("EAPRS", m->mode) == NULL)
        m->error = "CLIENT_ERROR invalid mode for ms M token";
    else if (m->error == NULL && m->opaque_too_long)
        m->error = "CLIENT_ERROR opaque token too long";
    return m->error ? META_ERROR_SWALLOW : META_OK;
}

static enum meta_status meta_parse_keyed(const struct proto_request *req, struct meta_request *m) {
    if (req->ntok >= META_MAX_TOKENS)
        return meta_fail(m, m->cmd == META_GET ? "CLIENT_ERROR options flags are too long"
                                               : "CLIENT_ERROR options flags too long");
    const char *err = meta_flags(m, req, 2);
    if (err != NULL)
        return meta_fail(m, m->cmd == META_GET ? err : "CLIENT_ERROR invalid or duplicate flag");
    if (m->cmd == META_DELETE && m->opaque_too_long)
        return meta_fail(m, "CLIENT_ERROR opaque token too long");
    if (m->cmd == META_ARITH && m->mode != 0 && strchr("I+D-", m->mode) == NULL)
        return meta_fail(m, "CLIENT_ERROR invalid mode for ma M token");
    return META_OK;
}

enum meta_status meta_parse(const struct proto_request *req, struct meta_request *m) {
    memset(m, 0, offsetof(struct meta_request, keybuf));
    m->delta = 1;
    switch (req->tok[0].s[1]) {
    case 'g': m->cmd = META_GET; break;
    case 's': m->cmd = META_SET; break;
    case 'd': m->cmd = META_DELETE; break;
    case 'a': m->cmd = META_ARITH; break;
    case 'n': m->cmd = META_NOOP; return META_OK;
    default: m->cmd = META_DEBUG; break;
    }
    if (req->ntok >= 2) {
        m->key = req->tok[1].s;
        m->nkey = req->tok[1].len;
    }
    if (m->cmd == META_DEBUG)
        return meta_parse_debug(req, m);
    if (req->ntok < 2)
        return meta_fail(m, ERR_ERROR);
    if (m->nkey > PROTO_KEY_MAX)
        return meta_fail(m, ERR_FORMAT);
    return m->cmd == META_SET ? meta_parse_set(req, m) : meta_parse_keyed(req, m);
}

/* --- base64 ---------------------------------------------------------------- */

static const char meta_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of an alphabet character ('=' counts as 0), or -1. */
static int meta_b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return c == '=' ? 0 : -1;
}

/* memcached's rules, which are loose: characters outside the alphabet are
 * skipped, the rest must come in whole quads, and decoding stops after the
 * first quad holding padding (one or two '=' anywhere in it). */
size_t meta_base64_decode(const char *src, size_t len, char *out, size_t out_len) {
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += meta_b64_value((unsigned char)src[i]) >= 0;
    if (count == 0 || count % 4 != 0 || count / 4 * 3 > out_len)
        return 0;
    unsigned char q[4];
    size_t n = 0, o = 0;
    int pad = 0;
    for (size_t i = 0; i < len; i++) {
        int v = meta_b64_value((unsigned char)src[i]);
        if (v < 0)
            continue;
        pad += src[i] == '=';
        q[n++] = (unsigned char)v;
        if (n < 4)
            continue;
        out[o++] = (char)(q[0] << 2 | q[1] >> 4);
        out[o++] = (char)(q[1] << 4 | q[2] >> 2);
        out[o++] = (char)(q[2] << 6 | q[3]);
        n = 0;
        if (pad > 2)
            return 0;
        if (pad > 0) {
            o -= (size_t)pad;
            break;
        }
    }
    return o;
}

size_t meta_base64_encode(const char *src, size_t len, char *out, size_t out_len) {
    if (out_len < 4 * (len + 2) / 3 + 1)
        return 0;
    const unsigned char *in = (const unsigned char *)src;
    size_t o = 0, i = 0;
    for (; len - i >= 3; i += 3) {
        out[o++] = meta_b64[in[i] >> 2];
        out[o++] = meta_b64[(in[i] & 3) << 4 | in[i + 1] >> 4];
        out[o++] = meta_b64[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
        out[o++] = meta_b64[in[i + 2] & 63];
    }
    if (i < len) {
        bool two = len - i == 2;
        out[o++] = meta_b64[in[i] >> 2];
        out[o++] = meta_b64[(in[i] & 3) << 4 | (two ? in[i + 1] >> 4 : 0)];
        out[o++] = two ? meta_b64[(in[i + 1] & 15) << 2] : '=';
        out[o++] = '=';
    }
    return o;
}
