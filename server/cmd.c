/*
 * cmd: classic text commands against the store; see cmd.h.
 *
 * Replies follow memcached 1.6 to the byte (proto_text.c is the reference):
 * the error strings, which errors a noreply silences (all of them), the
 * stats each command counts, and the less obvious rules: a failed set
 * unlinks the old value so that no stale data survives, a get that meets an
 * over-long key drops the values it had already queued and answers only the
 * error, and the data of a refused store is swallowed, not parsed.
 */
#include "server/cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "server/logger.h"
#include "server/meta.h"
#include "server/ops.h"
#include "server/tls.h"
#include "server/server.h"
#include "server/worker.h"
#include "server/stats.h"
#include "storage/store.h"

#define CMD_VALUE_HDR_MAX (PROTO_KEY_MAX + 64)

static struct store *cmd_store(struct engine_client *c) { return engine_worker(c)->srv->store; }

/* --- retrieval --------------------------------------------------------------- */

/* The VALUE line, data and terminator, under the shard lock: copied, or
 * for a long value the line and terminator copied around a ref. */
static void cmd_hit_value(struct engine_client *c, const struct item *it, bool with_cas) {
    bool ref = engine_value_by_ref(c, it);
    size_t copied = ref ? 0 : it->nbytes;
    char *p = engine_reserve(c, CMD_VALUE_HDR_MAX + copied + 2);
    if (p == NULL)
        return;
    size_t n = proto_fmt_value(p, item_ckey(it), it->nkey, it->flags, it->nbytes, with_cas,
                               with_cas ? store_item_cas(cmd_store(c), it) : 0);
    if (__builtin_expect(ref, 0)) {
        engine_commit(c, n);
        engine_value_slow(c, it);
        engine_out(c, "\r\n", 2);
        return;
    }
    memcpy(p + n, item_cvalue(it), it->nbytes);
    n += it->nbytes;
    p[n++] = '\r';
    p[n++] = '\n';
    engine_commit(c, n);
}

static void cmd_hit_get(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    (void)in;
    cmd_hit_value(((const struct engine_hit *)ctx)->c, it, false);
}

static void cmd_hit_gets(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    (void)in;
    cmd_hit_value(((const struct engine_hit *)ctx)->c, it, true);
}

/* A miss in a multi-get says nothing. */
static void cmd_miss_silent(struct engine_client *c, const struct engine_request *r,
                            const struct engine_outcome *o) {
    (void)c;
    (void)r;
    (void)o;
}

static const struct engine_format cmd_fmt_get = {.hit = cmd_hit_get, .done = cmd_miss_silent};
static const struct engine_format cmd_fmt_gets = {.hit = cmd_hit_gets, .done = cmd_miss_silent};

static bool cmd_keys_ok(const char *p, const char *end) {
    struct proto_token key;
    while (proto_next_key(&p, end, &key))
        if (key.len > PROTO_KEY_MAX)
            return false;
    return true;
}

/* A multi-get stops between keys once the output passes ENGINE_OUT_HIGH and
 * runs again from the next key when the client has read (its line stays in
 * the read buffer): output per connection stays bounded however many keys
 * are asked for. */
static void cmd_get(struct engine_client *c, const struct proto_request *req, bool with_cas, bool touch) {
    struct engine_session *ss = engine_session(c);
    /* fields set one by one: a designated initializer would zero the whole
     * request, the biggest part of the cost of a get */
    struct engine_request r;
    r.op = ENGINE_FETCH;
    r.fmt = with_cas ? &cmd_fmt_gets : &cmd_fmt_get;
    r.arg = NULL;
    r.detail = true;
    r.fetch = (struct store_fetch_opts){.touch = touch};
    size_t mark = engine_out_len(c);
    const char *p = req->keys + ss->resume, *end = req->keys + req->keys_len;
    struct proto_token key;

    if (touch)
        r.fetch.exptime = clock_exptime(req->exptime);
    ss->resume = 0;
    while (proto_next_key(&p, end, &key) && !engine_is_closing(c)) {
        if (key.len > PROTO_KEY_MAX) {
            engine_out_cut(c, mark);
            engine_reply(c, "CLIENT_ERROR bad command line format");
            return;
        }
        r.key = key.s;
        r.nkey = key.len;
        engine_execute(c, &r);
        if (engine_should_pause(c) && p < end) {
            /* What is queued goes out before the rest is read, so an
             * over-long key further on must be found now: memcached
             * answers such a line with the error alone. */
            if (!cmd_keys_ok(p, end)) {
                engine_out_cut(c, mark);
                engine_reply(c, "CLIENT_ERROR bad command line format");
                return;
            }
            ss->resume = (size_t)(p - req->keys);
            engine_pause(c);
            return;
        }
    }
    engine_out(c, "END\r\n", 5);
    logger_reply(c, "END", false);
}

/* --- storage ----------------------------------------------------------------- */

static enum store_mode cmd_store_mode(enum proto_cmd cmd) {
    switch (cmd) {
    case PROTO_CMD_ADD: return STORE_ADD;
    case PROTO_CMD_REPLACE: return STORE_REPLACE;
    case PROTO_CMD_APPEND: return STORE_APPEND;
    case PROTO_CMD_PREPEND: return STORE_PREPEND;
    case PROTO_CMD_CAS: return STORE_CAS;
    default: return STORE_SET;
    }
}

void cmd_reply_no_item(struct engine_client *c, enum store_status st) {
    engine_reply(c, st == STORE_TOO_LARGE ? "SERVER_ERROR object too large for cache"
                                          : "SERVER_ERROR out of memory storing object");
}

static void cmd_stored(struct engine_client *c, const struct engine_request *r,
                       const struct engine_outcome *o) {
    (void)r;
    if (o->alloc_failed) {
        cmd_reply_no_item(c, o->st);
        return;
    }
    if (o->bad_chunk) {
        engine_reply(c, "CLIENT_ERROR bad data chunk");
    } else {
        switch (o->st) {
        case STORE_OK: engine_reply(c, "STORED"); break;
        case STORE_EXISTS: engine_reply(c, "EXISTS"); break;
        case STORE_NOT_FOUND: engine_reply(c, "NOT_FOUND"); break;
        default: engine_reply(c, "NOT_STORED"); break;
        }
    }
    engine_session(c)->noreply = false; /* it lasted until the value was in */
}

static const struct engine_format cmd_fmt_store = {.done = cmd_stored};

static void cmd_update(struct engine_client *c, const struct proto_request *req) {
    struct engine_request r; /* field by field: see cmd_get */
    r.op = ENGINE_STORE;
    r.key = req->key.s;
    r.nkey = req->key.len;
    r.fmt = &cmd_fmt_store;
    r.arg = NULL;
    r.detail = true;
    r.store.mode = cmd_store_mode(req->cmd);
    r.store.cas_in = req->cmd == PROTO_CMD_CAS ? req->cas : 0;
    r.store.flags = req->flags;
    r.store.exptime = req->exptime;
    r.store.vlen = (uint64_t)req->vlen;
    r.store.crlf = true;
    r.store.drop_old = req->cmd == PROTO_CMD_SET; /* no stale value after a failed set */
    r.store.item_bits = 0;
    engine_execute(c, &r);
}

/* --- other keyed commands ---------------------------------------------------- */

static void cmd_counted(struct engine_client *c, const struct engine_request *r,
                        const struct engine_outcome *o) {
    (void)r;
    switch (o->st) {
    case STORE_OK: {
        char buf[24];
        size_t n = proto_fmt_u64(buf, o->arith.value);
        buf[n] = '\0';
        engine_reply(c, buf);
        break;
    }
    case STORE_NOT_FOUND: engine_reply(c, "NOT_FOUND"); break;
    case STORE_NON_NUMERIC:
        engine_reply(c, "CLIENT_ERROR cannot increment or decrement non-numeric value");
        break;
    default: engine_reply(c, "SERVER_ERROR out of memory"); break;
    }
}

static const struct engine_format cmd_fmt_arith = {.done = cmd_counted};

static void cmd_arith(struct engine_client *c, const struct proto_request *req) {
    struct engine_request r = {.op = ENGINE_ARITH, .key = req->key.s, .nkey = req->key.len,
                               .fmt = &cmd_fmt_arith,
                               .arith = {.incr = req->cmd == PROTO_CMD_INCR, .delta = req->delta}};
    engine_execute(c, &r);
}

static void cmd_deleted(struct engine_client *c, const struct engine_request *r,
                        const struct engine_outcome *o) {
    (void)r;
    engine_reply(c, o->st == STORE_OK ? "DELETED" : "NOT_FOUND");
}

static const struct engine_format cmd_fmt_delete = {.done = cmd_deleted};

static void cmd_delete(struct engine_client *c, const struct proto_request *req) {
    struct engine_request r = {.op = ENGINE_DELETE, .key = req->key.s, .nkey = req->key.len,
                               .fmt = &cmd_fmt_delete, .detail = true};
    engine_execute(c, &r);
}

static void cmd_touched(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    (void)it;
    (void)in;
    engine_reply(((const struct engine_hit *)ctx)->c, "TOUCHED");
}

static void cmd_not_touched(struct engine_client *c, const struct engine_request *r,
                            const struct engine_outcome *o) {
    (void)r;
    (void)o;
    engine_reply(c, "NOT_FOUND");
}

static const struct engine_format cmd_fmt_touch = {.hit = cmd_touched, .done = cmd_not_touched};

static void cmd_touch(struct engine_client *c, const struct proto_request *req) {
    struct engine_request r = {
        .op = ENGINE_FETCH, .key = req->key.s, .nkey = req->key.len, .fmt = &cmd_fmt_touch,
        .fetch = {.touch = true, .exptime = clock_exptime(req->exptime)},
    };
    engine_execute(c, &r);
}

/* --- administrative ---------------------------------------------------------- */

static void cmd_flush_all(struct engine_client *c, const struct proto_request *req) {
    STAT_INCR(engine_worker(c), cmd_flush);
    if (!engine_worker(c)->srv->settings->flush_enabled) {
        engine_reply(c, "CLIENT_ERROR flush_all not allowed");
        return;
    }
    store_flush(cmd_store(c), req->exptime);
    engine_reply(c, "OK");
}

static void cmd_verbosity(struct engine_client *c, const struct proto_request *req) {
    int level = req->delta > 2 ? 2 : (int)req->delta;
    logger_set_verbose(level);
    engine_reply(c, "OK");
}

static void cmd_shutdown(struct engine_client *c, const struct proto_request *req) {
    if (!engine_worker(c)->srv->settings->shutdown_command) {
        engine_reply(c, "ERROR: shutdown not enabled");
        return;
    }
    if (req->ntok == 1 || (req->ntok == 2 && proto_tok_is(&req->tok[1], "graceful"))) {
        server_request_shutdown(engine_worker(c)->srv);
        engine_hang_up(c, false);
        return;
    }
    engine_reply(c, "CLIENT_ERROR invalid shutdown mode");
}

static void cmd_memlimit(struct engine_client *c, const struct proto_request *req) {
    uint64_t mb;
    if (!proto_parse_u64(&req->tok[1], &mb) || mb > UINT32_MAX) {
        engine_reply(c, "ERROR");
    } else if (mb < 8) {
        engine_reply(c, "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m");
    } else if (mb > 1000000000) {
        engine_reply(c, "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes");
    } else {
        /* the store's limit is the one figure in force (stats reads it);
         * settings stay as parsed, read-only while workers run */
        store_set_limit(cmd_store(c), (size_t)mb << 20);
        engine_reply(c, "OK");
    }
}

/* memcached's replies: OK, or why the new files were refused (the
 * certificates in use stay). */
static void cmd_refresh_certs(struct engine_client *c) {
    struct server *srv = engine_worker(c)->srv;
    char err[1024];
    if (srv->tls == NULL)
        engine_reply(c, "Error TLS not enabled");
    else if (tls_server_refresh(srv->tls, err, sizeof(err)))
        engine_reply(c, "OK");
    else
        engine_reply(c, err);
}

static void cmd_execute(struct engine_client *c, struct proto_request *req) {
    engine_session(c)->noreply = req->noreply;
    switch (req->cmd) {
    case PROTO_CMD_GET: cmd_get(c, req, false, false); break;
    case PROTO_CMD_GETS: cmd_get(c, req, true, false); break;
    case PROTO_CMD_GAT: cmd_get(c, req, false, true); break;
    case PROTO_CMD_GATS: cmd_get(c, req, true, true); break;
    case PROTO_CMD_SET:
    case PROTO_CMD_ADD:
    case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND:
    case PROTO_CMD_PREPEND:
    case PROTO_CMD_CAS:
        cmd_update(c, req);
        if (engine_reading_value(c))
            return; /* noreply stays in force until the data has arrived */
        break;
    case PROTO_CMD_INCR:
    case PROTO_CMD_DECR: cmd_arith(c, req); break;
    case PROTO_CMD_DELETE: cmd_delete(c, req); break;
    case PROTO_CMD_TOUCH: cmd_touch(c, req); break;
    case PROTO_CMD_STATS: stats_command(c, req); break;
    case PROTO_CMD_FLUSH_ALL: cmd_flush_all(c, req); break;
    case PROTO_CMD_VERSION: engine_reply(c, "VERSION " LARDER_VERSION); break;
    case PROTO_CMD_VERBOSITY: cmd_verbosity(c, req); break;
    case PROTO_CMD_QUIT:
        engine_hang_up(c, true);
        break;
    case PROTO_CMD_SHUTDOWN: cmd_shutdown(c, req); break;
    case PROTO_CMD_CACHE_MEMLIMIT: cmd_memlimit(c, req); break;
    case PROTO_CMD_LRU_CRAWLER: ops_lru_crawler_command(c, req); break;
    case PROTO_CMD_REFRESH_CERTS: cmd_refresh_certs(c); break;
    case PROTO_CMD_META: meta_execute(c, req); break;
    case PROTO_CMD_WATCH: logger_watch_command(c, req); break;
    case PROTO_CMD_SLABS: ops_slabs_command(c, req); break;
    case PROTO_CMD_HANGUP:
        /* nothing more from this connection runs, and nothing is sent */
        engine_hang_up(c, false);
        break;
    case PROTO_CMD_MISBEHAVE:
    case PROTO_CMD_ERROR:
    default:
        engine_reply(c, req->cmd == PROTO_CMD_ERROR ? req->error : "ERROR");
        break;
    }
    engine_session(c)->noreply = false;
}

enum engine_result cmd_run(struct engine_client *c, const char *buf, size_t len, size_t *used) {
    const char *nl = memchr(buf, '\n', len);
    if (nl == NULL) {
        /* memcached's rule: a long line that is not a retrieval is garbage */
        if ((len > PROTO_LINE_MAX && !proto_line_may_be_long(buf, len)) || len > PROTO_GET_LINE_MAX)
            return ENGINE_CLOSE;
        return ENGINE_MORE;
    }
    size_t n = (size_t)(nl - buf);
    *used = n + 1;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    logger_command(c, buf, n);
    struct proto_request req;
    proto_parse(buf, n, &req);
    c->buffered = len - *used;
    cmd_execute(c, &req);
    if (c->next == ENGINE_MORE)
        c->want += *used; /* counted from the line's start */
    return c->next;
}
