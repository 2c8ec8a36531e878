/*
 * ops: slabs and lru_crawler commands; see ops.h.
 *
 * memcached runs a reassign in its rebalancer thread and answers OK before
 * the page has moved; Larder moves the page before answering (it is at most
 * 64 KB of small chunks or one large item), so OK means done and BUSY only
 * means every page of the source was pinned by a writer at that moment.
 */
#include "server/ops.h"

#include <stdlib.h>

#include "server/server.h"
#include "server/stats.h"
#include "server/worker.h"
#include "storage/slab.h"
#include "storage/store.h"

/* memcached's MAX_NUMBER_OF_SLAB_CLASSES: ids a crawl may name */
#define OPS_CLASS_IDS 64

static struct store *ops_store(struct engine_client *c) { return engine_worker(c)->srv->store; }

static void ops_reassign(struct engine_client *c, const struct proto_request *req) {
    int32_t src, dst;
    if (!engine_worker(c)->srv->settings->slab_reassign) {
        engine_reply(c, "CLIENT_ERROR slab reassignment disabled");
        return;
    }
    if (!proto_parse_i32(&req->tok[2], &src) || !proto_parse_i32(&req->tok[3], &dst)) {
        engine_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    switch (store_reassign(ops_store(c), src, dst)) {
    case SLAB_REASSIGN_OK: engine_reply(c, "OK"); break;
    case SLAB_REASSIGN_BUSY: engine_reply(c, "BUSY currently processing reassign request"); break;
    case SLAB_REASSIGN_BADCLASS: engine_reply(c, "BADCLASS invalid src or dst class id"); break;
    case SLAB_REASSIGN_NOSPARE: engine_reply(c, "NOSPARE source class has no spare pages"); break;
    case SLAB_REASSIGN_SAME: engine_reply(c, "SAME src and dst class are identical"); break;
    }
}

static void ops_automove(struct engine_client *c, const struct proto_request *req) {
    if (proto_tok_is(&req->tok[req->ntok - 1], "noreply"))
        engine_session(c)->noreply = true;
    if (proto_tok_is(&req->tok[2], "ratio")) {
        /* memcached's ratio tunes its automove=1 rule, which Larder has not:
         * accepted, as memcached does, and without effect */
        char *end;
        if (req->ntok < 4 || req->tok[3].len == 0 ||
            (strtod(req->tok[3].s, &end), end != req->tok[3].s + req->tok[3].len)) {
            engine_reply(c, "ERROR");
            return;
        }
        engine_reply(c, "OK");
        return;
    }
    uint64_t level;
    if (!proto_parse_u64(&req->tok[2], &level) || level > UINT32_MAX) {
        engine_reply(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (level > 2) {
        engine_reply(c, "ERROR");
        return;
    }
    store_set_automove(ops_store(c), (unsigned)level);
    engine_reply(c, "OK");
}

void ops_slabs_command(struct engine_client *c, const struct proto_request *req) {
    if (req->ntok == 4 && proto_tok_is(&req->tok[1], "reassign"))
        ops_reassign(c, req);
    else if (req->ntok >= 3 && proto_tok_is(&req->tok[1], "automove"))
        ops_automove(c, req);
    else
        engine_reply(c, "ERROR");
}

/* "all", "hash" or a comma list of class ids into a bit mask; false on a
 * bad id (BADCLASS). */
static bool ops_crawl_classes(const struct proto_token *t, unsigned nclasses, uint64_t *mask) {
    *mask = 0;
    if (proto_tok_is(t, "all") || proto_tok_is(t, "hash")) {
        for (unsigned i = 1; i <= nclasses; i++)
            *mask |= (uint64_t)1 << i;
        return true;
    }
    const char *p = t->s, *end = t->s + t->len;
    while (p <= end) {
        const char *comma = p;
        while (comma < end && *comma != ',')
            comma++;
        struct proto_token id = {p, (size_t)(comma - p)};
        uint64_t v;
        if (!proto_parse_u64(&id, &v) || v < 1 || v >= OPS_CLASS_IDS)
            return false;
        if (v <= nclasses)
            *mask |= (uint64_t)1 << v;
        p = comma + 1;
    }
    return true;
}

static void ops_crawl(struct engine_client *c, const struct proto_token *which) {
    struct store *s = ops_store(c);
    uint64_t mask;
    if (!store_crawler_enabled(s)) {
        engine_reply(c, "CLIENT_ERROR lru crawler disabled");
    } else if (!ops_crawl_classes(which, slab_class_count(store_slabs(s)), &mask)) {
        engine_reply(c, "BADCLASS invalid class id");
    } else if (store_crawl_request(s, mask) == STORE_CRAWL_RUNNING) {
        engine_reply(c, "BUSY currently processing crawler request");
    } else {
        engine_reply(c, "OK");
    }
}

static void ops_crawler_tune(struct engine_client *c, const struct proto_request *req, bool sleep) {
    uint64_t v;
    if (!proto_parse_u64(&req->tok[2], &v) || v > UINT32_MAX) {
        engine_reply(c, "CLIENT_ERROR bad command line format");
    } else if (sleep && v > 1000000) {
        engine_reply(c, "CLIENT_ERROR sleep must be one second or less");
    } else {
        store_crawler_tune(ops_store(c), sleep ? -1 : (int64_t)v, sleep ? (int64_t)v : -1);
        engine_reply(c, "OK");
    }
}

void ops_lru_crawler_command(struct engine_client *c, const struct proto_request *req) {
    struct store *s = ops_store(c);
    const struct proto_token *verb = req->ntok > 1 ? &req->tok[1] : NULL;
    if (req->ntok == 3 && proto_tok_is(verb, "crawl")) {
        ops_crawl(c, &req->tok[2]);
    } else if (req->ntok == 3 && proto_tok_is(verb, "metadump")) {
        if (!store_crawler_enabled(s))
            engine_reply(c, "CLIENT_ERROR lru crawler disabled");
        else if (!engine_worker(c)->srv->settings->dump_enabled)
            engine_reply(c, "ERROR metadump not allowed");
        else if (engine_out_len(c) > 0 && engine_session(c)->resume == 0)
            engine_reply(c, "ERROR cannot pipeline other commands before metadump");
        else if (proto_tok_is(&req->tok[2], "hash"))
            /* memcached walks its hash table for "hash": the same items */
            stats_metadump(c, &(struct proto_token){"all", 3});
        else
            stats_metadump(c, &req->tok[2]);
    } else if (req->ntok == 3 && proto_tok_is(verb, "tocrawl")) {
        ops_crawler_tune(c, req, false);
    } else if (req->ntok == 3 && proto_tok_is(verb, "sleep")) {
        ops_crawler_tune(c, req, true);
    } else if (req->ntok == 2 && proto_tok_is(verb, "enable")) {
        /* memcached: enabling a running crawler fails to start its thread */
        engine_reply(c, store_crawler_enable(s, true) ? "ERROR failed to start lru crawler thread"
                                                    : "OK");
    } else if (req->ntok == 2 && proto_tok_is(verb, "disable")) {
        store_crawler_enable(s, false);
        engine_reply(c, "OK");
    } else {
        engine_reply(c, "ERROR");
    }
}
