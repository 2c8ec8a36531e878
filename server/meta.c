/*
 * meta: meta commands against the store; see meta.h.
 *
 * A reply is a two-letter code followed by the flags the request asked to
 * have returned, in the order the request gave them, so every command walks
 * its flag tokens once while writing the line.  Flags that change the item
 * on the way (T, N) are applied by the store in one locked step; the walk
 * replays their order only to report the ttl a "t" placed before them would
 * have seen, as memcached's single left-to-right pass does.
 *
 * Quiet mode (q) drops the nominal reply only: EN for mg, HD for ms, md and
 * ma.  Errors are always sent.  An ms stashes what its reply needs in the
 * session (meta_ret, meta_flags) while its data block is read.
 */
#include "server/meta.h"

#include <stdio.h>
#include <string.h>

#include "proto/meta.h"
#include "server/cmd.h"
#include "server/logger.h"
#include "server/server.h"
#include "server/worker.h"
#include "server/stats.h"
#include "storage/store.h"


/* Longest reply line: code, size, 19 flags with numbers, a base64 key. */
#define META_LINE_MAX 2048

enum meta_conn_bits {
    META_CONN_QUIET = 2,      /* q */
    META_CONN_KEY_BINARY = 4, /* b: the key is shown base64-encoded */
};

static struct store *meta_store(struct engine_client *c) { return engine_worker(c)->srv->store; }

/* --- reply pieces ---------------------------------------------------------- */

static char *meta_put_u64(char *p, char flag, uint64_t v) {
    *p++ = ' ';
    *p++ = flag;
    return p + proto_fmt_u64(p, v);
}

/* " t<seconds left>", or " t-1" for an item that never expires; computed
 * in 32 bits as memcached does, so an already passed time wraps. */
static char *meta_put_ttl(char *p, rel_time_t exptime, rel_time_t now) {
    if (exptime == CLOCK_NEVER) {
        memcpy(p, " t-1", 4);
        return p + 4;
    }
    return meta_put_u64(p, 't', (uint32_t)(exptime - now));
}

static char *meta_put_key(char *p, const char *key, size_t nkey, bool binary) {
    *p++ = ' ';
    *p++ = 'k';
    if (!binary) {
        memcpy(p, key, nkey);
        return p + nkey;
    }
    p += meta_base64_encode(key, nkey, p, META_LINE_MAX / 2);
    memcpy(p, " b", 2);
    return p + 2;
}

static char *meta_put_opaque(char *p, const struct proto_token *t) {
    *p++ = ' ';
    memcpy(p, t->s, t->len);
    return p + t->len;
}

static char *meta_put_char(char *p, char flag) {
    *p++ = ' ';
    *p++ = flag;
    return p;
}

static char *meta_put_crlf(char *p) {
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* Sends a finished line unless quiet mode drops it. */
static void meta_send(struct engine_client *c, const char *line, size_t n, bool drop) {
    if (!drop)
        engine_out(c, line, n);
}

/* "<code>" with the O and k flags only: misses and failures. */
static void meta_send_status(struct engine_client *c, const struct meta_request *m, const char *code,
                             bool drop) {
    char line[META_LINE_MAX];
    char *p = line;
    memcpy(p, code, 2);
    p += 2;
    for (unsigned i = 0; i < m->nflags; i++) {
        if (m->flags[i].s[0] == 'O')
            p = meta_put_opaque(p, &m->flags[i]);
        else if (m->flags[i].s[0] == 'k')
            p = meta_put_key(p, m->key, m->nkey, m->key_binary);
    }
    p = meta_put_crlf(p);
    meta_send(c, line, (size_t)(p - line), drop);
}

/* --- mg ---------------------------------------------------------------------- */

struct meta_get_ctx {
    struct engine_client *c;
    const struct meta_request *m;
    const struct store_fetch_opts *o;
    rel_time_t now;
};

/* The flags of a hit, left to right. */
static char *meta_get_flags(char *p, const struct meta_get_ctx *g, const struct item *it,
                            const struct store_fetch_info *in) {
    const struct meta_request *m = g->m;
    rel_time_t exp = in->exptime_before;
    for (unsigned i = 0; i < m->nflags; i++) {
        const struct proto_token *t = &m->flags[i];
        switch (t->s[0]) {
        case 'T': exp = g->o->exptime; break;
        case 'N': exp = in->created ? g->o->vivify_exptime : exp; break;
        case 's': p = meta_put_u64(p, 's', it->nbytes); break;
        case 't': p = meta_put_ttl(p, exp, g->now); break;
        case 'c': p = meta_put_u64(p, 'c', store_item_cas(meta_store(g->c), it)); break;
        case 'f': p = meta_put_u64(p, 'f', it->flags); break;
        case 'l': p = meta_put_u64(p, 'l', (uint32_t)(g->now - in->atime_before)); break;
        case 'h': p = meta_put_u64(p, 'h', in->fetched_before); break;
        case 'O': p = meta_put_opaque(p, t); break;
        case 'k':
            p = meta_put_key(p, item_ckey(it), it->nkey, item_bits(it) & ITEM_KEY_BINARY);
            break;
        default: break;
        }
    }
    /* Z before X before W, memcached's order */
    if (in->token_sent)
        p = meta_put_char(p, 'Z');
    if (in->stale)
        p = meta_put_char(p, 'X');
    if (in->won)
        p = meta_put_char(p, 'W');
    return p;
}

/* The reply line and value of a hit, copied under the shard lock. */
static void meta_hit(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    struct engine_client *c = ((const struct engine_hit *)ctx)->c;
    const struct meta_get_ctx *g = ((const struct engine_hit *)ctx)->r->arg;
    if (g->m->opaque_too_long)
        return; /* the caller answers the error */
    bool ref = g->m->value && engine_value_by_ref(c, it);
    char *line = engine_reserve(c, META_LINE_MAX + (ref ? 0 : it->nbytes) + 2);
    if (line == NULL)
        return;
    char *p = line;
    if (g->m->value) {
        memcpy(p, "VA ", 3);
        p += 3;
        p += proto_fmt_u64(p, it->nbytes);
    } else {
        memcpy(p, "HD", 2);
        p += 2;
    }
    p = meta_put_crlf(meta_get_flags(p, g, it, in));
    if (__builtin_expect(ref, 0)) {
        engine_commit(c, (size_t)(p - line));
        engine_value_slow(c, it);
        engine_out(c, "\r\n", 2);
        return;
    }
    if (g->m->value) {
        memcpy(p, item_cvalue(it), it->nbytes);
        p = meta_put_crlf(p + it->nbytes);
    }
    engine_commit(c, (size_t)(p - line));
}

static void meta_missed(struct engine_client *c, const struct engine_request *r,
                        const struct engine_outcome *o) {
    (void)o;
    const struct meta_get_ctx *g = r->arg;
    if (!g->m->opaque_too_long)
        meta_send_status(c, g->m, "EN", g->m->quiet);
}

static const struct engine_format meta_fmt_get = {.hit = meta_hit, .done = meta_missed};

static void meta_get(struct engine_client *c, const struct meta_request *m) {
    struct meta_get_ctx g = {c, m, NULL, clock_now()};
    struct engine_request r = {
        .op = ENGINE_FETCH, .key = m->key, .nkey = m->nkey, .fmt = &meta_fmt_get, .arg = &g,
        .fetch = {
            .no_bump = m->no_bump,
            .touch = meta_has(m, 'T'),
            .exptime = clock_exptime(m->exptime),
            .vivify = meta_has(m, 'N'),
            .vivify_exptime = clock_exptime(m->vivify_exptime),
            .vivify_last = meta_after(m, 'N', 'T'),
            .tokens = true,
            .recache = meta_has(m, 'R'),
            .recache_time = clock_exptime(m->recache_time),
            .recache_after_touch = meta_after(m, 'R', 'T'),
            .touch_miss_is_get_miss = true, /* memcached counts a missed mg T as a get */
        },
    };
    g.o = &r.fetch;
    engine_execute(c, &r);
    if (m->opaque_too_long)
        engine_reply(c, "CLIENT_ERROR opaque token too long");
}

/* --- ms ---------------------------------------------------------------------- */

/* The store mode for an ms: a cas turns set and replace into a cas store
 * (add ignores it; append and prepend check it themselves), and I lets an
 * older cas store a stale value. */
static enum store_mode meta_set_mode(const struct meta_request *m, uint64_t *cas_in) {
    *cas_in = m->has_cas ? m->cas : 0;
    switch (m->mode) {
    case 'E':
        *cas_in = 0;
        return STORE_ADD;
    case 'A': return STORE_APPEND;
    case 'P': return STORE_PREPEND;
    case 'R':
        if (!m->has_cas)
            return STORE_REPLACE;
        break;
    default:
        if (!m->has_cas)
            return STORE_SET;
        break;
    }
    return m->invalidate ? STORE_CAS_STALE : STORE_CAS;
}

/* Remembers the reply flags (O, k, c in request order) for after the data
 * block: 'O' <len> <bytes>, 'k', 'c'. */
static void meta_set_stash(struct engine_session *c, const struct meta_request *m) {
    size_t n = 0;
    for (unsigned i = 0; i < m->nflags; i++) {
        const struct proto_token *t = &m->flags[i];
        if (t->s[0] == 'O') {
            c->meta_ret[n++] = 'O';
            c->meta_ret[n++] = (char)t->len;
            memcpy(c->meta_ret + n, t->s, t->len);
            n += t->len;
        } else if (t->s[0] == 'k' || t->s[0] == 'c') {
            c->meta_ret[n++] = t->s[0];
        }
    }
    c->meta_ret_len = n;
}

static const char *meta_set_code(enum store_status st) {
    switch (st) {
    case STORE_OK: return "HD";
    case STORE_EXISTS: return "EX";
    case STORE_NOT_FOUND: return "NF";
    default: return "NS"; /* includes an append that found no memory */
    }
}

/* The ms reply, from what was stashed in the session before the value. */
static void meta_stored(struct engine_client *c, const struct engine_request *r,
                        const struct engine_outcome *o) {
    struct engine_session *ss = engine_session(c);
    uint32_t bits = ss->meta_flags;
    ss->meta_flags = 0;
    if (o->alloc_failed) {
        cmd_reply_no_item(c, o->st);
        return;
    }
    if (o->bad_chunk) {
        engine_reply(c, "CLIENT_ERROR bad data chunk");
        return;
    }
    char line[META_LINE_MAX];
    char *p = line;
    memcpy(p, meta_set_code(o->st), 2);
    p += 2;
    for (size_t i = 0; i < ss->meta_ret_len; i++) {
        char f = ss->meta_ret[i];
        if (f == 'O') {
            struct proto_token t = {ss->meta_ret + i + 2, (unsigned char)ss->meta_ret[i + 1]};
            p = meta_put_opaque(p, &t);
            i += 1 + t.len;
        } else if (f == 'k') {
            p = meta_put_key(p, r->key, r->nkey, bits & META_CONN_KEY_BINARY);
        } else {
            p = meta_put_u64(p, 'c', o->st == STORE_OK ? o->cas : 0);
        }
    }
    p = meta_put_crlf(p);
    meta_send(c, line, (size_t)(p - line), o->st == STORE_OK && (bits & META_CONN_QUIET));
}

static const struct engine_format meta_fmt_set = {.done = meta_stored, .store_key = true};

static void meta_set(struct engine_client *c, const struct meta_request *m) {
    struct engine_session *ss = engine_session(c);
    struct engine_request r = {
        .op = ENGINE_STORE, .key = m->key, .nkey = m->nkey, .fmt = &meta_fmt_set,
        .store = {
            .flags = m->client_flags,
            .exptime = m->exptime,
            .vlen = (uint64_t)m->vlen,
            .crlf = true,
            .drop_old = true, /* memcached drops the old value whatever the mode */
            .item_bits = m->key_binary ? ITEM_KEY_BINARY : 0,
        },
    };
    r.store.mode = meta_set_mode(m, &r.store.cas_in);
    meta_set_stash(ss, m);
    ss->meta_flags = (m->quiet ? META_CONN_QUIET : 0) |
                     (m->key_binary ? META_CONN_KEY_BINARY : 0);
    engine_execute(c, &r);
}

/* --- md, ma ------------------------------------------------------------------ */

static void meta_deleted(struct engine_client *c, const struct engine_request *r,
                         const struct engine_outcome *o) {
    const struct meta_request *m = r->arg;
    switch (o->st) {
    case STORE_OK: meta_send_status(c, m, "HD", m->quiet); break;
    case STORE_EXISTS: meta_send_status(c, m, "EX", false); break;
    default: meta_send_status(c, m, "NF", false); break;
    }
}

static const struct engine_format meta_fmt_delete = {.done = meta_deleted};

static void meta_delete(struct engine_client *c, const struct meta_request *m) {
    struct engine_request r = {
        .op = ENGINE_DELETE, .key = m->key, .nkey = m->nkey, .fmt = &meta_fmt_delete,
        .arg = (void *)m,
        .del = {
            .has_cas = m->has_cas,
            .cas = m->cas,
            .invalidate = m->invalidate,
            .new_ttl = meta_has(m, 'T'),
            .exptime = clock_exptime(m->exptime),
            .mismatch_is_miss = true, /* memcached's md counts a cas mismatch as a miss */
        },
    };
    engine_execute(c, &r);
}

/* The flags of a successful ma, left to right. */
static char *meta_arith_flags(char *p, const struct meta_request *m,
                              const struct store_marith_opts *o,
                              const struct store_marith_result *r) {
    rel_time_t exp = r->exptime_before, now = clock_now();
    for (unsigned i = 0; i < m->nflags; i++) {
        const struct proto_token *t = &m->flags[i];
        switch (t->s[0]) {
        case 'T': exp = o->exptime; break;
        case 'N': exp = r->created ? o->vivify_exptime : exp; break;
        case 'c': p = meta_put_u64(p, 'c', r->cas); break;
        case 't': p = meta_put_ttl(p, exp, now); break;
        case 'O': p = meta_put_opaque(p, t); break;
        case 'k': p = meta_put_key(p, m->key, m->nkey, m->key_binary); break;
        default: break;
        }
    }
    return p;
}

static void meta_arith_reply(struct engine_client *c, const struct meta_request *m,
                             const struct store_marith_opts *o,
                             const struct store_marith_result *r) {
    char digits[24];
    size_t n = proto_fmt_u64(digits, r->value);
    char line[META_LINE_MAX];
    char *p = line;
    if (m->value) {
        memcpy(p, "VA ", 3);
        p += 3;
        p += proto_fmt_u64(p, n);
    } else {
        memcpy(p, "HD", 2);
        p += 2;
    }
    p = meta_put_crlf(meta_arith_flags(p, m, o, r));
    if (m->value) {
        memcpy(p, digits, n);
        p = meta_put_crlf(p + n);
    }
    /* q hides a change to an existing counter, not a creation (memcached) */
    meta_send(c, line, (size_t)(p - line), m->quiet && !r->created);
}

static void meta_counted(struct engine_client *c, const struct engine_request *r,
                         const struct engine_outcome *o) {
    const struct meta_request *m = r->arg;
    /* memcached checks the opaque while writing, after the change is made */
    if (m->opaque_too_long &&
        (o->st == STORE_OK || o->st == STORE_NOT_FOUND || o->st == STORE_EXISTS)) {
        engine_reply(c, "CLIENT_ERROR opaque token too long");
        return;
    }
    switch (o->st) {
    case STORE_OK: meta_arith_reply(c, m, &r->arith, &o->arith); break;
    case STORE_NOT_FOUND: meta_send_status(c, m, "NF", false); break;
    case STORE_EXISTS: meta_send_status(c, m, "EX", false); break;
    case STORE_NON_NUMERIC:
        engine_reply(c, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        break;
    case STORE_NOT_STORED: engine_reply(c, "SERVER_ERROR Out of memory allocating new item"); break;
    default: engine_reply(c, "SERVER_ERROR out of memory"); break;
    }
}

static const struct engine_format meta_fmt_arith = {.done = meta_counted};

static void meta_arith(struct engine_client *c, const struct meta_request *m) {
    struct engine_request r = {
        .op = ENGINE_ARITH, .key = m->key, .nkey = m->nkey, .fmt = &meta_fmt_arith,
        .arg = (void *)m,
        .arith = {
            .incr = m->mode != 'D' && m->mode != '-',
            .delta = m->delta,
            .cas_in = m->has_cas ? m->cas : 0,
            .vivify = meta_has(m, 'N'),
            .initial = m->initial,
            .vivify_exptime = clock_exptime(m->vivify_exptime),
            .vivify_last = meta_after(m, 'N', 'T'),
            .touch = meta_has(m, 'T'),
            .exptime = clock_exptime(m->exptime),
        },
    };
    engine_execute(c, &r);
}

/* --- me ---------------------------------------------------------------------- */

/* store_emit_fn: memcached's debug line.  exp is now minus the expiry time,
 * so negative for a live item, as memcached prints it. */
static void meta_emit_debug(void *arg, const struct item *it) {
    struct engine_client *c = arg;
    rel_time_t now = clock_now();
    char line[META_LINE_MAX];
    char *p = line;
    memcpy(p, "ME ", 3);
    p += 3;
    if (item_bits(it) & ITEM_KEY_BINARY) {
        p += meta_base64_encode(item_ckey(it), it->nkey, p, META_LINE_MAX / 2);
    } else {
        memcpy(p, item_ckey(it), it->nkey);
        p += it->nkey;
    }
    int exp = it->exptime == CLOCK_NEVER ? -1 : (int)(now - it->exptime);
    p += snprintf(p, 160, " exp=%d la=%u cas=%llu fetch=%s cls=%u size=%zu\r\n", exp,
                  (unsigned)(now - item_atime(it)),
                  (unsigned long long)store_item_cas(meta_store(c), it),
                  (item_bits(it) & ITEM_FETCHED) ? "yes" : "no", (unsigned)it->clsid,
                  item_total(it->nkey, it->nbytes));
    engine_out(c, line, (size_t)(p - line));
}

static void meta_debug(struct engine_client *c, const struct meta_request *m) {
    if (store_peek(meta_store(c), m->key, m->nkey, meta_emit_debug, c) != STORE_OK)
        engine_out(c, "EN\r\n", 4);
    STAT_INCR(engine_worker(c), cmd_meta); /* memcached 1.6.18 counts only me here */
}

/* --- dispatch ---------------------------------------------------------------- */

void meta_execute(struct engine_client *c, struct proto_request *req) {
    struct meta_request m;
    engine_session(c)->noreply = false; /* meta has q instead, and errors always show */
    switch (meta_parse(req, &m)) {
    case META_ERROR_SWALLOW:
        engine_swallow(c, (uint64_t)m.vlen + 2);
        engine_reply(c, m.error);
        return;
    case META_ERROR:
        engine_reply(c, m.error);
        return;
    default:
        break;
    }
    switch (m.cmd) {
    case META_GET: meta_get(c, &m); break;
    case META_SET: meta_set(c, &m); break;
    case META_DELETE: meta_delete(c, &m); break;
    case META_ARITH: meta_arith(c, &m); break;
    case META_DEBUG: meta_debug(c, &m); break;
    default: engine_out(c, "MN\r\n", 4); break;
    }
}
