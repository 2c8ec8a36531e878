/*
 * client: one pipelined connection; see client.h.
 *
 * The in-flight requests live in a ring of `ring_cap` slots; slot i's keys
 * (for a multi-get) are ring_keys[i * ring_batch ...].  A multi-get's reply
 * lists hits in request order and leaves misses out, so the parser walks the
 * slot's keys with a cursor: keys skipped over are misses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "reply.h"

enum client_op { CLIENT_OP_GET, CLIENT_OP_SET };

struct client_pending {
    uint64_t t_start; /* ns, when the batch holding it was sent */
    enum client_op op;
    uint32_t nkeys;   /* keys of a get */
    uint32_t next;    /* next key a multi-get reply may name */
    uint32_t hits;
};

struct client {
    struct client_ctx *ctx;
    unsigned server;
    int fd;
    struct event *ev_read, *ev_write;
    bool busy, dead;
    uint64_t slice_lo, slice_hi, cursor; /* prefill and scan */
    unsigned depth, batch;               /* for the current phase */
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len, in_cap;
    size_t max_data;
    size_t skip;        /* bytes of an oversized value still to discard */
    bool told_stale;    /* said once that values from another run are here */
    struct client_pending *ring;
    uint64_t *ring_keys;
    unsigned ring_cap, ring_batch, head, count;
};

/* Messages about bad replies are capped for the whole process: the counts
 * tell how many, the first few tell what. */
static atomic_uint client_messages;
#define CLIENT_MESSAGES_MAX 10

/* Bytes from the wire, shown with control characters escaped. */
static void client_escape(char *out, size_t out_size, const char *in, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < out_size; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '\r' || ch == '\n')
            o += (size_t)snprintf(out + o, out_size - o, "\\%c", ch == '\r' ? 'r' : 'n');
        else if (ch < 32 || ch > 126)
            o += (size_t)snprintf(out + o, out_size - o, "\\x%02x", ch);
        else
            out[o++] = (char)ch;
    }
    out[o] = '\0';
}

static void client_say(const struct client *c, const char *what, const char *detail,
                       size_t detail_len) {
    if (atomic_fetch_add_explicit(&client_messages, 1, memory_order_relaxed) >= CLIENT_MESSAGES_MAX)
        return;
    const struct opts_server *s = &c->ctx->opts->server[c->server];
    char shown[200];
    client_escape(shown, sizeof(shown), detail, detail ? detail_len : 0);
    fprintf(stderr, "larder-load: %s:%s: %s%s%s\n", s->host, s->port, what,
            detail_len ? ": " : "", shown);
}

static uint64_t client_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t client_share(const struct load_opts *opts, unsigned server) {
    return (opts->keys - server + opts->nservers - 1) / opts->nservers;
}

/* The global key number of index idx in a server's share. */
static uint64_t client_key_id(const struct client *c, uint64_t idx) {
    return idx * c->ctx->opts->nservers + c->server;
}

void client_ctx_init(struct client_ctx *ctx, const struct load_opts *opts,
                     const struct payload *payload, struct event_base *base, uint64_t seed) {
    memset(ctx, 0, sizeof(*ctx));
    ctx->opts = opts;
    ctx->payload = payload;
    ctx->base = base;
    dist_rng_seed(&ctx->rng, seed);
    for (unsigned s = 0; s < opts->nservers; s++) {
        uint64_t n = client_share(opts, s);
        if (n == 0)
            n = 1; /* fewer keys than servers: such a server gets key 0's slot */
        if (opts->key_dist == DIST_ZIPF)
            dist_keys_zipf(&ctx->keys[s], n, opts->zipf_s);
        else
            dist_keys_uniform(&ctx->keys[s], n);
    }
}

/* ---- connection ---- */

static int client_connect(const struct opts_server *s) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    if (getaddrinfo(s->host, s->port, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void client_finish(struct client *c) {
    if (!c->busy)
        return;
    c->busy = false;
    if (--c->ctx->busy == 0)
        event_base_loopbreak(c->ctx->base);
}

/* Closes the connection for good; what is in flight is lost. */
static void client_close(struct client *c) {
    if (c->dead)
        return;
    c->dead = true;
    if (c->ev_read)
        event_del(c->ev_read);
    if (c->ev_write)
        event_del(c->ev_write);
    close(c->fd);
    c->fd = -1;
    atomic_fetch_sub(c->ctx->live, 1);
    client_finish(c);
}

static void client_lost(struct client *c, const char *why, const char *detail, size_t len) {
    client_say(c, why, detail, len);
    c->ctx->tally->conn_errors++;
    client_close(c);
}

void client_abandon(struct client *c) {
    if (c->dead || !c->busy)
        return;
    client_say(c, "no reply: giving up on requests in flight", NULL, 0);
    c->ctx->tally->timeouts += c->count;
    client_close(c);
}

bool client_is_busy(const struct client *c) {
    return c->busy;
}

/* ---- requests ---- */

static char *client_put(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

static char *client_put_u32(char *p, uint32_t v) {
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *client_put_key(const struct client *c, char *p, uint64_t id) {
    payload_key(c->ctx->payload, id, p);
    return p + c->ctx->payload->key_size;
}

/* "set <key> 0 0 <len>" or "ms <key> <len>", then the value. */
static void client_write_set(struct client *c, uint64_t id, uint32_t len) {
    bool meta = c->ctx->opts->proto == OPTS_META;
    char *p = c->out + c->out_len;
    p = meta ? client_put(p, "ms ", 3) : client_put(p, "set ", 4);
    p = client_put_key(c, p, id);
    p = meta ? client_put(p, " ", 1) : client_put(p, " 0 0 ", 5);
    p = client_put_u32(p, len);
    p = client_put(p, "\r\n", 2);
    payload_value(c->ctx->payload, id, p, len);
    p = client_put(p + len, "\r\n", 2);
    c->out_len = (size_t)(p - c->out);
}

/* Classic: one "get k1 k2 ...".  Meta: "mg k v" alone, or for several keys
 * quiet "mg k v k q" lines closed by "mn", so misses cost no reply and the
 * hits name their key. */
static void client_write_get(struct client *c, const uint64_t *ids, unsigned n) {
    char *p = c->out + c->out_len;
    if (c->ctx->opts->proto == OPTS_CLASSIC) {
        p = client_put(p, "get", 3);
        for (unsigned i = 0; i < n; i++)
            p = client_put_key(c, client_put(p, " ", 1), ids[i]);
        p = client_put(p, "\r\n", 2);
    } else if (n == 1) {
        p = client_put_key(c, client_put(p, "mg ", 3), ids[0]);
        p = client_put(p, " v\r\n", 4);
    } else {
        for (unsigned i = 0; i < n; i++) {
            p = client_put_key(c, client_put(p, "mg ", 3), ids[i]);
            p = client_put(p, " v k q\r\n", 8);
        }
        p = client_put(p, "mn\r\n", 4);
    }
    c->out_len = (size_t)(p - c->out);
}

/* Takes a ring slot for a new request. */
static struct client_pending *client_push(struct client *c, enum client_op op, uint32_t nkeys,
                                          uint64_t now, uint64_t **keys) {
    unsigned slot = (c->head + c->count++) % c->ring_cap;
    struct client_pending *p = &c->ring[slot];
    *p = (struct client_pending){.t_start = now, .op = op, .nkeys = nkeys};
    *keys = &c->ring_keys[(size_t)slot * c->ring_batch];
    return p;
}

static void client_add_set(struct client *c, uint64_t id, uint64_t now) {
    const struct load_opts *o = c->ctx->opts;
    uint64_t *keys;
    client_push(c, CLIENT_OP_SET, 1, now, &keys);
    keys[0] = id;
    client_write_set(c, id, o->key_sizes ? dist_size_for_key(&o->value_size, id)
                                         : dist_size_next(&o->value_size, &c->ctx->rng));
}

static void client_add_get(struct client *c, uint64_t first_idx, unsigned n, bool sequential,
                           uint64_t now) {
    uint64_t *keys;
    client_push(c, CLIENT_OP_GET, n, now, &keys);
    for (unsigned i = 0; i < n; i++) {
        uint64_t idx = sequential ? first_idx + i
                                  : dist_keys_next(&c->ctx->keys[c->server], &c->ctx->rng);
        keys[i] = client_key_id(c, idx);
    }
    client_write_get(c, keys, n);
}

/* Queues the phase's next request; false when there is none to send. */
static bool client_next_request(struct client *c, uint64_t now) {
    struct client_ctx *ctx = c->ctx;
    switch (ctx->phase) {
    case CLIENT_PREFILL:
        if (c->cursor >= c->slice_hi)
            return false;
        client_add_set(c, client_key_id(c, c->cursor++), now);
        return true;
    case CLIENT_SCAN: {
        if (c->cursor >= c->slice_hi)
            return false;
        uint64_t left = c->slice_hi - c->cursor;
        unsigned n = left < c->batch ? (unsigned)left : c->batch;
        client_add_get(c, c->cursor, n, true, now);
        c->cursor += n;
        return true;
    }
    case CLIENT_RUN:
        break;
    }
    if (atomic_load_explicit(ctx->stop, memory_order_relaxed))
        return false;
    const struct load_opts *o = ctx->opts;
    if (dist_uniform(&ctx->rng, o->get_weight + o->set_weight) < o->get_weight) {
        client_add_get(c, 0, c->batch, false, now);
    } else {
        uint64_t idx = dist_keys_next(&ctx->keys[c->server], &ctx->rng);
        client_add_set(c, client_key_id(c, idx), now);
    }
    return true;
}

/* ---- replies ---- */

enum client_verdict {
    CLIENT_MORE, /* the request expects further units */
    CLIENT_DONE, /* the request is answered */
    CLIENT_LOST, /* the reply does not fit: the stream cannot be trusted */
};

static bool client_reply_is_error(const struct reply *r) {
    return r->kind == REPLY_ERROR || r->kind == REPLY_CLIENT_ERROR ||
           r->kind == REPLY_SERVER_ERROR || r->kind == REPLY_NOT_STORED;
}

/* A value of a size this run never sets that is otherwise the key's own:
 * left by an earlier run with other -V settings.  A value too large for the
 * receive buffer is judged by the bytes of it that are there (its key). */
static bool client_is_stale(const struct client *c, uint64_t id, const struct reply *r) {
    const struct client_ctx *ctx = c->ctx;
    if (dist_size_valid(&ctx->opts->value_size, r->data_len))
        return false;
    if (r->data_len <= c->max_data)
        return payload_check(ctx->payload, id, r->data, r->data_len);
    unsigned ks = ctx->payload->key_size;
    char key[PAYLOAD_KEY_MAX];
    payload_key(ctx->payload, id, key);
    return (size_t)(c->in + c->in_len - r->data) >= ks && memcmp(r->data, key, ks) == 0;
}

static void client_check_value(struct client *c, struct client_pending *p, uint64_t id,
                               const struct reply *r) {
    const struct client_ctx *ctx = c->ctx;
    if (r->kind == REPLY_VALUE && r->flags != 0) {
        c->ctx->tally->bad_values++;
        client_say(c, "value with flags we never set", r->line, r->line_len);
        return;
    }
    if (client_is_stale(c, id, r)) {
        c->ctx->tally->stale_values++;
        if (!c->told_stale && (c->told_stale = true))
            client_say(c, "value of a size this run never sets, left by an earlier run? "
                          "(counted as a miss; --flush or flush_all avoids it)",
                       r->line, r->line_len);
        return;
    }
    const struct load_opts *o = ctx->opts;
    if (r->data_len > c->max_data || !dist_size_valid(&o->value_size, r->data_len) ||
        (o->key_sizes && r->data_len != dist_size_for_key(&o->value_size, id)) ||
        !payload_check(ctx->payload, id, r->data, r->data_len)) {
        char key[PAYLOAD_KEY_MAX];
        payload_key(ctx->payload, id, key);
        c->ctx->tally->bad_values++;
        client_say(c, "wrong value", r->data, r->data_len);
        client_say(c, "  (for key)", key, ctx->payload->key_size);
        return;
    }
    p->hits++;
}

/* A VALUE (or keyed VA) of a multi-get: the key must be one still expected. */
static void client_match_value(struct client *c, struct client_pending *p, const uint64_t *keys,
                               const struct reply *r) {
    char want[PAYLOAD_KEY_MAX];
    unsigned ks = c->ctx->payload->key_size;
    for (uint32_t i = p->next; i < p->nkeys; i++) {
        payload_key(c->ctx->payload, keys[i], want);
        if (r->key_len == ks && memcmp(r->key, want, ks) == 0) {
            p->next = i + 1;
            client_check_value(c, p, keys[i], r);
            return;
        }
    }
    c->ctx->tally->bad_values++;
    client_say(c, "value for a key not asked for (or out of order)", r->line, r->line_len);
}

static enum client_verdict client_apply_get(struct client *c, struct client_pending *p,
                                            const uint64_t *keys, const struct reply *r) {
    bool meta = c->ctx->opts->proto == OPTS_META;
    if (meta && p->nkeys == 1) {
        if (r->kind == REPLY_META_VALUE)
            client_check_value(c, p, keys[0], r);
        return r->kind == REPLY_META_VALUE || r->kind == REPLY_META_MISS ? CLIENT_DONE : CLIENT_LOST;
    }
    enum reply_kind value = meta ? REPLY_META_VALUE : REPLY_VALUE;
    enum reply_kind end = meta ? REPLY_META_NOOP : REPLY_END;
    if (r->kind == value && r->key) {
        client_match_value(c, p, keys, r);
        return CLIENT_MORE;
    }
    return r->kind == end ? CLIENT_DONE : CLIENT_LOST;
}

/* A server under memory pressure may refuse a store ("SERVER_ERROR out of
 * memory storing object", or memcached's "SERVER_ERROR Out of memory during
 * read" for a large value it found no room for): that is the protocol
 * working, so it is counted apart from errors. */
static bool client_reply_is_refusal(const struct client_pending *p, const struct reply *r) {
    return p->op == CLIENT_OP_SET && r->kind == REPLY_SERVER_ERROR &&
           (memmem(r->line, r->line_len, "out of memory", 13) != NULL ||
            memmem(r->line, r->line_len, "Out of memory", 13) != NULL);
}

static enum client_verdict client_apply(struct client *c, const struct reply *r) {
    unsigned slot = c->head;
    struct client_pending *p = &c->ring[slot];
    if (client_reply_is_refusal(p, r)) {
        c->ctx->tally->sets_refused++;
        return CLIENT_DONE;
    }
    if (client_reply_is_error(r)) {
        /* An error line answers the whole request: count it and go on. */
        c->ctx->tally->server_errors++;
        client_say(c, "error reply", r->line, r->line_len);
        return CLIENT_DONE;
    }
    if (p->op == CLIENT_OP_SET) {
        enum reply_kind ok = c->ctx->opts->proto == OPTS_META ? REPLY_META_HD : REPLY_STORED;
        return r->kind == ok ? CLIENT_DONE : CLIENT_LOST;
    }
    return client_apply_get(c, p, &c->ring_keys[(size_t)slot * c->ring_batch], r);
}

static void client_complete(struct client *c, uint64_t now) {
    struct client_pending *p = &c->ring[c->head];
    struct tally *t = c->ctx->tally;
    t->reqs++;
    if (p->op == CLIENT_OP_GET) {
        t->gets += p->nkeys;
        t->hits += p->hits;
    } else {
        t->sets++;
    }
    hist_record(&t->latency, now > p->t_start ? now - p->t_start : 0);
    c->head = (c->head + 1) % c->ring_cap;
    c->count--;
    c->ctx->completions++;
}

/* Parses every complete reply in the receive buffer.  False if the
 * connection was closed. */
static bool client_consume(struct client *c) {
    uint64_t now = client_now();
    size_t off = 0;
    while (c->count > 0) {
        struct reply r;
        enum reply_status st = reply_parse(c->in + off, c->in_len - off, c->max_data, &r);
        if (st == REPLY_INCOMPLETE)
            break;
        if (st == REPLY_BAD) {
            c->ctx->tally->proto_errors++;
            client_lost(c, "unparsable reply", c->in + off, c->in_len - off);
            return false;
        }
        enum client_verdict v = client_apply(c, &r);
        if (v == CLIENT_LOST) {
            c->ctx->tally->proto_errors++;
            client_lost(c, "reply does not answer the request", r.line, r.line_len);
            return false;
        }
        if (st == REPLY_TOO_LARGE && r.size > c->in_len - off) {
            /* An oversized value is judged, then skipped as it arrives. */
            c->skip = r.size - (c->in_len - off);
            off = c->in_len;
        } else {
            off += r.size;
        }
        if (v == CLIENT_DONE)
            client_complete(c, now);
    }
    if (c->count == 0 && off < c->in_len) {
        c->ctx->tally->proto_errors++;
        client_lost(c, "bytes nobody asked for", c->in + off, c->in_len - off);
        return false;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return true;
}

/* ---- I/O ---- */

/* Sends what is queued; waits for writability if the socket is full.
 * False if the connection was closed. */
static bool client_flush(struct client *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(c->ev_write, NULL);
            return true;
        } else {
            client_lost(c, "write failed", strerror(errno), strlen(strerror(errno)));
            return false;
        }
    }
    c->out_off = c->out_len = 0;
    return true;
}

/* Tops the pipeline up, sends, and notices when the phase's work is done. */
static void client_pump(struct client *c) {
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    uint64_t now = client_now();
    while (c->count < c->depth && client_next_request(c, now))
        ;
    if (!client_flush(c))
        return;
    if (c->count == 0 && c->out_len == 0)
        client_finish(c);
}

static void client_on_read(evutil_socket_t fd, short what, void *arg) {
    struct client *c = arg;
    (void)what;
    ssize_t n = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n == 0) {
        client_lost(c, "server closed the connection", NULL, 0);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            client_lost(c, "read failed", strerror(errno), strlen(strerror(errno)));
        return;
    }
    if (c->skip > 0) {
        size_t drop = c->skip < (size_t)n ? c->skip : (size_t)n;
        memmove(c->in + c->in_len, c->in + c->in_len + drop, (size_t)n - drop);
        c->skip -= drop;
        n -= (ssize_t)drop;
    }
    c->in_len += (size_t)n;
    if (client_consume(c) && c->busy)
        client_pump(c);
}

static void client_on_write(evutil_socket_t fd, short what, void *arg) {
    struct client *c = arg;
    (void)fd;
    (void)what;
    if (client_flush(c) && c->busy && c->count == 0 && c->out_len == 0)
        client_finish(c);
}

/* ---- setup ---- */

/* Buffers big enough for the deepest pipeline of the largest requests, and
 * for a whole reply to the largest multi-get, so a unit always fits. */
static bool client_alloc(struct client *c) {
    const struct load_opts *o = c->ctx->opts;
    size_t ks = o->key_size, vmax = o->value_size.max;
    c->ring_cap = o->pipeline > CLIENT_BULK_DEPTH ? o->pipeline : CLIENT_BULK_DEPTH;
    c->ring_batch = o->batch > CLIENT_SCAN_BATCH ? o->batch : CLIENT_SCAN_BATCH;
    size_t set_req = 32 + ks + vmax;
    size_t get_req = 8 + (size_t)c->ring_batch * (ks + 12);
    c->out_cap = (size_t)c->ring_cap * (set_req > get_req ? set_req : get_req);
    size_t get_reply = 8 + (size_t)c->ring_batch * (ks + vmax + 64);
    c->in_cap = 2 * get_reply < (256u << 10) ? (256u << 10) : 2 * get_reply;
    c->max_data = vmax;
    c->out = malloc(c->out_cap);
    c->in = malloc(c->in_cap);
    c->ring = calloc(c->ring_cap, sizeof(*c->ring));
    c->ring_keys = calloc((size_t)c->ring_cap * c->ring_batch, sizeof(*c->ring_keys));
    return c->out && c->in && c->ring && c->ring_keys;
}

struct client *client_new(struct client_ctx *ctx, unsigned server, uint64_t slice_lo,
                          uint64_t slice_hi) {
    struct client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = -1;
    c->ctx = ctx;
    c->server = server;
    c->slice_lo = slice_lo;
    c->slice_hi = slice_hi;
    if (!client_alloc(c)) {
        client_free(c);
        return NULL;
    }
    c->fd = client_connect(&ctx->opts->server[server]);
    if (c->fd < 0) {
        c->dead = true;
        ctx->tally->conn_errors++;
        client_say(c, "cannot connect", strerror(errno), strlen(strerror(errno)));
        return c;
    }
    c->ev_read = event_new(ctx->base, c->fd, EV_READ | EV_PERSIST, client_on_read, c);
    c->ev_write = event_new(ctx->base, c->fd, EV_WRITE, client_on_write, c);
    if (!c->ev_read || !c->ev_write) {
        client_free(c);
        return NULL;
    }
    event_add(c->ev_read, NULL);
    atomic_fetch_add(ctx->live, 1);
    return c;
}

bool client_flush_server(const struct opts_server *s, double timeout_s) {
    int fd = client_connect(s);
    if (fd < 0) {
        fprintf(stderr, "larder-load: %s:%s: cannot connect to flush: %s\n", s->host, s->port,
                strerror(errno));
        return false;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char buf[256];
    size_t len = 0;
    bool ok = write(fd, "flush_all\r\n", 11) == 11;
    while (ok && (len < 2 || memcmp(buf + len - 2, "\r\n", 2) != 0) && len < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            ok = false;
        else
            len += (size_t)n;
    }
    close(fd);
    if (ok && len == 4 && memcmp(buf, "OK\r\n", 4) == 0)
        return true;
    char shown[200];
    client_escape(shown, sizeof(shown), buf, len);
    fprintf(stderr, "larder-load: %s:%s: flush_all failed: %s\n", s->host, s->port,
            len ? shown : "no reply");
    return false;
}

void client_start(struct client *c) {
    if (c->dead)
        return;
    enum client_phase ph = c->ctx->phase;
    c->depth = ph == CLIENT_RUN ? c->ctx->opts->pipeline : CLIENT_BULK_DEPTH;
    c->batch = ph == CLIENT_RUN ? c->ctx->opts->batch : CLIENT_SCAN_BATCH;
    c->cursor = c->slice_lo;
    c->busy = true;
    c->ctx->busy++;
    client_pump(c);
}

void client_free(struct client *c) {
    if (!c)
        return;
    if (c->ev_read)
        event_free(c->ev_read);
    if (c->ev_write)
        event_free(c->ev_write);
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    free(c->in);
    free(c->ring);
    free(c->ring_keys);
    free(c);
}
