/*
 * engine: front-end choice, the client's output and its requests' asks;
 * see engine.h.
 */
#include "server/engine.h"

#include <stdlib.h>
#include <string.h>

#include "proto/binary.h"
#include "server/sasl.h"
#include "server/server.h"
#include "server/stats.h"
#include "server/worker.h"

void engine_client_init(struct engine_client *c, struct worker *w, int id, enum engine_proto proto,
                        size_t out_max) {
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->id = id;
    c->s.proto = proto;
    c->out.max = out_max;
    c->next = ENGINE_DONE;
    c->s.authed = w == NULL || (w->srv->auth == NULL && !w->srv->settings->sasl);
}

static void engine_upload_done(struct engine_client *c) {
    if (c->upload_charge != 0)
        budget_give(&c->w->srv->uploads, c->upload_charge);
    c->upload_charge = 0;
}

void engine_drop_value(struct engine_client *c) {
    if (c->value != NULL)
        store_release(c->w->srv->store, c->value);
    c->value = NULL;
    engine_upload_done(c);
}

void engine_client_free(struct engine_client *c) {
    engine_drop_value(c);
    engine_out_drop_refs(c);
    sasl_srv_free(c->s.sasl);
    c->s.sasl = NULL;
    if (c->out.buf != NULL)
        budget_give(&c->w->srv->conn_mem, engine_buf_charge(c->out.size));
    free(c->out.buf);
    c->out.buf = NULL;
}

/* engine_should_pause past ENGINE_OUT_TIGHT */
bool engine_past_tight(const struct engine_client *c) {
    return engine_out_queued(c) > ENGINE_OUT_HIGH || budget_tight(&c->w->srv->conn_mem);
}

enum engine_proto engine_pick(const char *buf) {
    return (unsigned char)buf[0] == BIN_MAGIC_REQ ? ENGINE_PROTO_BINARY : ENGINE_PROTO_TEXT;
}

enum engine_result engine_value_done(struct engine_client *c) {
    c->next = ENGINE_DONE;
    c->value_done(c);
    return c->out.failed ? ENGINE_CLOSE : c->next;
}

/* --- output ------------------------------------------------------------------ */

char *engine_reserve_slow(struct engine_client *c, size_t n) {
    struct engine_out *o = &c->out;
    if (o->failed)
        return NULL;
    if (o->start == o->end) {
        for (uint32_t i = o->head; i < o->nrefs; i++)
            o->refs[i].at = 0; /* all were at start: nothing of buf is before them */
        o->start = o->end = 0;
    }
    if (o->size - o->end >= n)
        return o->buf + o->end;
    if (o->start > 0) {
        memmove(o->buf, o->buf + o->start, o->end - o->start);
        for (uint32_t i = o->head; i < o->nrefs; i++)
            o->refs[i].at -= o->start; /* every unsent ref is at or past start */
        o->end -= o->start;
        o->start = 0;
        if (o->size - o->end >= n)
            return o->buf + o->end;
    }
    size_t need = o->end + n;
    if (need > o->max) {
        o->failed = true; /* more than any reply needs: it pauses at HIGH */
        return NULL;
    }
    size_t size = o->size ? o->size : ENGINE_OUT_INITIAL;
    while (size < need)
        size *= 2;
    /* past its first buffer, output counts against the memory budget: a
     * request that would pass it is this client's, and so is the hang-up */
    size_t more = engine_buf_charge(size) - engine_buf_charge(o->size);
    struct budget *b = &c->w->srv->conn_mem;
    if (more > 0 && !budget_take(b, more)) {
        STAT_INCR(c->w, response_obj_oom);
        o->failed = true;
        return NULL;
    }
    char *p = realloc(o->buf, size);
    if (p == NULL) {
        budget_give(b, more);
        o->failed = true; /* out of memory for output: the reply stream is broken */
        return NULL;
    }
    o->buf = p;
    o->size = size;
    return o->buf + o->end;
}

/* --- values sent from items ------------------------------------------------- */

static struct store *engine_pins(const struct engine_client *c) { return c->w->srv->store; }

/* Queues it's value as a ref; false when it must be copied instead (no room
 * for another ref, or pinned items hold their limit). */
static bool engine_ref_add(struct engine_client *c, const struct item *it) {
    struct engine_out *o = &c->out;
    if (o->head == o->nrefs)
        o->head = o->nrefs = 0;
    if (o->nrefs == ENGINE_REFS_MAX)
        return false;
    if (o->refs == NULL) {
        /* the array counts against the memory budget like any buffer */
        size_t size = ENGINE_REFS_MAX * sizeof(*o->refs);
        if (!budget_take(&c->w->srv->conn_mem, size))
            return false;
        o->refs = malloc(size);
        if (o->refs == NULL) {
            budget_give(&c->w->srv->conn_mem, size);
            return false;
        }
    }
    if (!store_pin(engine_pins(c), it))
        return false;
    o->refs[o->nrefs++] = (struct engine_ref){
        .at = o->end, .it = it, .data = item_cvalue(it), .len = it->nbytes};
    o->ref_bytes += it->nbytes;
    return true;
}

void engine_value_slow(struct engine_client *c, const struct item *it) {
    if (c->out.failed || (engine_value_by_ref(c, it) && engine_ref_add(c, it)))
        return;
    engine_out(c, item_cvalue(it), it->nbytes);
}

void engine_out_cut_refs(struct engine_client *c, size_t at) {
    struct engine_out *o = &c->out;
    while (o->nrefs > o->head && o->refs[o->nrefs - 1].at > at) {
        struct engine_ref *r = &o->refs[--o->nrefs];
        o->ref_bytes -= r->len;
        store_unpin(engine_pins(c), r->it);
    }
}

int engine_out_iov(const struct engine_client *c, struct iovec *iov, int max) {
    const struct engine_out *o = &c->out;
    size_t pos = o->start;
    int n = 0;
    uint32_t i = o->head;
    for (; i < o->nrefs && n + 2 <= max; i++) {
        const struct engine_ref *r = &o->refs[i];
        if (r->at > pos)
            iov[n++] = (struct iovec){o->buf + pos, r->at - pos};
        size_t skip = i == o->head ? o->ref_sent : 0;
        iov[n++] = (struct iovec){(char *)r->data + skip, r->len - skip};
        pos = r->at;
    }
    if (i == o->nrefs && n < max && o->end > pos) /* the tail, only after every ref */
        iov[n++] = (struct iovec){o->buf + pos, o->end - pos};
    return n;
}

void engine_out_sent(struct engine_client *c, size_t n) {
    struct engine_out *o = &c->out;
    while (n > 0) {
        size_t upto = o->head < o->nrefs ? o->refs[o->head].at : o->end;
        if (o->start < upto) {
            size_t k = upto - o->start < n ? upto - o->start : n;
            o->start += k;
            n -= k;
            continue;
        }
        struct engine_ref *r = &o->refs[o->head];
        size_t k = r->len - o->ref_sent < n ? r->len - o->ref_sent : n;
        o->ref_sent += k;
        o->ref_bytes -= k;
        n -= k;
        if (o->ref_sent == r->len) {
            store_unpin(engine_pins(c), r->it);
            o->head++;
            o->ref_sent = 0;
        }
    }
}

void engine_out_drop_refs(struct engine_client *c) {
    struct engine_out *o = &c->out;
    for (uint32_t i = o->head; i < o->nrefs; i++)
        store_unpin(engine_pins(c), o->refs[i].it);
    o->head = o->nrefs = 0;
    o->ref_sent = o->ref_bytes = 0;
    if (o->refs != NULL) {
        free(o->refs);
        o->refs = NULL;
        budget_give(&c->w->srv->conn_mem, ENGINE_REFS_MAX * sizeof(*o->refs));
    }
}

/* --- copied output ---------------------------------------------------------- */

void engine_out(struct engine_client *c, const char *s, size_t n) {
    char *p = engine_reserve(c, n);
    if (p == NULL)
        return;
    memcpy(p, s, n);
    c->out.end += n;
}

/* --- asks -------------------------------------------------------------------- */

void engine_read_value(struct engine_client *c, struct item *it, bool crlf, engine_value_fn done) {
    c->value = it;
    c->value_crlf = crlf;
    c->value_end[0] = '\r'; /* no terminator to read: as if it had come */
    c->value_end[1] = '\n';
    c->value_done = done;
    c->next = ENGINE_NEED_VALUE;
}

struct item *engine_take_value(struct engine_client *c, bool *crlf_ok) {
    struct item *it = c->value;
    c->value = NULL;
    engine_upload_done(c);
    *crlf_ok = c->value_end[0] == '\r' && c->value_end[1] == '\n';
    return it;
}

void engine_swallow(struct engine_client *c, uint64_t n) {
    if (n > 0 && c->next == ENGINE_DONE) {
        c->swallow = n;
        c->next = ENGINE_SWALLOW;
    }
}

void engine_hang_up(struct engine_client *c, bool send_pending) {
    c->next = send_pending ? ENGINE_CLOSE_AFTER_REPLY : ENGINE_CLOSE;
}

/* --- keyed requests ---------------------------------------------------------- */

/* A hit while someone watches fetches: the log wants the value's size. */
struct engine_hit_logged {
    struct engine_hit h; /* first: the formatter's ctx */
    uint32_t nbytes;
};

static void engine_hit_logged(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    struct engine_hit_logged *l = ctx;
    l->nbytes = it->nbytes;
    l->h.r->fmt->hit(&l->h, it, in);
}

/* The fetch while someone watches or traces (-vv): the slow way round. */
static enum store_status engine_fetch_logged(struct engine_client *c, const struct engine_request *r) {
    struct engine_hit_logged l = {{c, r}, 0};
    enum store_status st =
        store_get(c->w->srv->store, r->key, r->nkey, &r->fetch, engine_hit_logged, &l);
    logger_fetch(c, r->key, r->nkey, st == STORE_OK ? LOGGER_FOUND : LOGGER_NOT_FOUND, l.nbytes);
    if (st == STORE_OK)
        logger_sending_key(c, r->key, r->nkey);
    return st;
}

static void engine_fetch(struct engine_client *c, const struct engine_request *r) {
    enum store_status st;
    /* one load says whether anything is watched or traced at all */
    if (__builtin_expect(__atomic_load_n(&logger_wanted, __ATOMIC_RELAXED) != 0, 0)) {
        st = engine_fetch_logged(c, r);
    } else {
        struct engine_hit h = {c, r};
        st = store_get(c->w->srv->store, r->key, r->nkey, &r->fetch, r->fmt->hit, &h);
    }
    if (r->fetch.touch && (st == STORE_OK || !r->fetch.touch_miss_is_get_miss))
        STAT_INCR(c->w, cmd_touch);
    else
        STAT_INCR(c->w, cmd_get);
    if (r->detail)
        if (__atomic_load_n(&c->w->srv->detail_enabled, __ATOMIC_RELAXED))
            stats_detail_get(c->w->srv, r->key, r->nkey, st == STORE_OK);
    if (st != STORE_OK) {
        struct engine_outcome o = {.st = st};
        r->fmt->done(c, r, &o);
    }
}

/* A value that is not all in yet holds its item while it arrives: from the
 * uploads share of -m, so that clients that send values slowly (or never
 * finish them) cannot take the memory every other store needs.  When the
 * share is used up the request waits, its line unconsumed, until the whole
 * value is in the read buffer (which the connection memory budget bounds);
 * its item is then filled at once.  False when it waits. */
static bool engine_upload_begin(struct engine_client *c, size_t nkey, uint64_t vlen, size_t need) {
    size_t total = item_total(nkey, vlen);
    if (vlen > c->w->srv->settings->item_size_max)
        return true; /* refused as too large anyway, without waiting */
    if (budget_take(&c->w->srv->uploads, total)) {
        c->upload_charge = total;
        return true;
    }
    c->want = need;
    c->next = ENGINE_MORE;
    return false;
}

/* The value is in: link the item, or say why not. */
static void engine_store_done(struct engine_client *c) {
    struct store *s = c->w->srv->store;
    bool crlf_ok;
    struct item *it = engine_take_value(c, &crlf_ok);
    char key[ITEM_KEY_MAX];
    struct engine_request r;
    struct engine_outcome o;
    r.op = ENGINE_STORE;
    r.key = key;
    r.nkey = it->nkey;
    r.fmt = c->store_fmt;
    r.arg = NULL;
    r.detail = c->store_detail;
    r.store.mode = (enum store_mode)c->s.cmd;
    r.store.cas_in = c->s.cas_in;
    o.st = STORE_NOT_STORED;
    o.alloc_failed = o.bad_chunk = false;
    o.cas = 0;
    r.detail = r.detail && __atomic_load_n(&c->w->srv->detail_enabled, __ATOMIC_RELAXED);
    if (r.fmt->store_key || r.detail)
        memcpy(key, item_ckey(it), it->nkey); /* store_link consumes the item */
    STAT_INCR(c->w, cmd_set);
    if (!crlf_ok) {
        store_release(s, it);
        o.bad_chunk = true;
        r.fmt->done(c, &r, &o);
        return;
    }
    if (r.detail)
        stats_detail_set(c->w->srv, key, r.nkey);
    o.st = logger_store_link(c, s, it, r.store.mode, r.store.cas_in, &o.cas);
    r.fmt->done(c, &r, &o);
}

static void engine_store(struct engine_client *c, const struct engine_request *r) {
    struct store *s = c->w->srv->store;
    const struct engine_store_req *q = &r->store;
    enum store_status st;
    size_t need = q->vlen + (q->crlf ? 2 : 0);
    if (c->buffered < need && !engine_upload_begin(c, r->nkey, q->vlen, need))
        return; /* wait: the value goes into the read buffer first */
    struct item *it = store_alloc(s, r->key, r->nkey, q->flags, clock_exptime(q->exptime), q->vlen, &st);
    if (it == NULL) {
        engine_upload_done(c);
        struct engine_outcome o = {.st = st, .alloc_failed = true};
        r->fmt->done(c, r, &o);
        engine_swallow(c, q->vlen + (q->crlf ? 2 : 0));
        if (q->drop_old) /* the old value must not outlive a store that failed */
            store_unlink(s, r->key, r->nkey);
        return;
    }
    if (q->item_bits)
        item_bits_set(it, q->item_bits);
    c->s.cmd = (int)q->mode;
    c->s.cas_in = q->cas_in;
    c->store_fmt = r->fmt;
    c->store_detail = r->detail;
    engine_read_value(c, it, q->crlf, engine_store_done);
}

void engine_execute(struct engine_client *c, const struct engine_request *r) {
    if (r->op == ENGINE_FETCH) {
        engine_fetch(c, r);
        return;
    }
    if (r->op == ENGINE_STORE) {
        engine_store(c, r);
        return;
    }
    struct store *s = c->w->srv->store;
    struct engine_outcome o = {0};
    switch (r->op) {
    case ENGINE_FETCH:
    case ENGINE_STORE: break;
    case ENGINE_ARITH: o.st = store_marith(s, r->key, r->nkey, &r->arith, &o.arith); break;
    case ENGINE_DELETE:
        if (r->detail)
            if (__atomic_load_n(&c->w->srv->detail_enabled, __ATOMIC_RELAXED))
                stats_detail_delete(c->w->srv, r->key, r->nkey);
        o.st = store_mdelete(s, r->key, r->nkey, &r->del);
        break;
    }
    r->fmt->done(c, r, &o);
}
