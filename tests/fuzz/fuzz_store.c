/*
 * fuzz_store: libFuzzer target for the command engine and the store against
 * a model.
 *
 * The input is a client's byte stream: the first byte picks the set-up, the
 * rest is read as protocol lines and data blocks.  Each keyed command runs
 * through the real engine (server/engine.c and the text front end, the
 * code every connection runs) on a client that has no connection, against a
 * 2 MB store so that eviction runs all the time, and its reply text is
 * checked against a model of what each key should hold:
 *
 *   - a hit returns exactly the last value stored, never a stale or torn one,
 *     with the cas the last store gave it;
 *   - a miss, NOT_STORED or NOT_FOUND happens only for a key the model says
 *     is absent, or that may have gone (an eviction or reclaim happened since
 *     it was stored, it has an expiry time, a delayed flush is pending);
 *   - incr/decr give the right number on plain decimal values;
 *   - "SERVER_ERROR out of memory" only happens with -M, inside append/incr
 *     (which allocate under a shard lock and may not evict from it), or when
 *     an allocation failure was injected;
 *   - the page memory never passes the limit plus one first page per class.
 *
 * Lines are rebuilt from what proto_parse made of them (noreply dropped,
 * a cas of 1 replaced by the key's real cas, so that the fuzzer reaches
 * success); fuzz_proto and fuzz_conn fuzz the parser and the framing.
 *
 * Set-up byte: bit 0 turns eviction off (-M); the high nibble, when not
 * zero, makes every n-th allocation inside the store fail (malloc, calloc
 * and realloc are wrapped at link time: -Wl,--wrap=...), which covers slab
 * pages, the page table and hash table growth.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "server/engine.h"
#include "server/server.h"
#include "server/settings.h"
#include "storage/store.h"

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "fuzz_store: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

#define FUZZ_MEM_LIMIT (2u << 20)
/* Above the limit by at most one page per class (older slab allocator): a
 * page is at most 1 MB with the item sizes used here. */
#define FUZZ_PAGE_MAX ((size_t)1 << 20)
#define FUZZ_ITEM_MAX (16u << 10)
#define FUZZ_VALUE_MAX 20000
#define FUZZ_KEYS 64

/* --- allocation failure injection ------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

static bool inject_armed;
static unsigned inject_every;
static unsigned inject_count;
static unsigned inject_fired;

static bool inject_fail(void) {
    if (!inject_armed || inject_every == 0)
        return false;
    if (++inject_count % inject_every != 0)
        return false;
    inject_fired++;
    return true;
}

void *__wrap_malloc(size_t n) { return inject_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return inject_fail() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return inject_fail() ? NULL : __real_realloc(p, n); }

/* --- model ------------------------------------------------------------------ */

struct entry {
    char key[PROTO_KEY_MAX];
    size_t nkey;
    bool present;
    bool maybe_gone; /* evicted, expired or flushed: a miss is fine */
    char *value;
    size_t nvalue;
    uint64_t cas;
};

static struct entry model[FUZZ_KEYS];
static size_t nmodel;
static bool flush_pending;
static uint64_t gone_seen; /* evictions + reclaims when last looked */
static struct store *st;

static struct entry *model_find(const char *key, size_t nkey, bool create) {
    for (size_t i = 0; i < nmodel; i++)
        if (model[i].nkey == nkey && memcmp(model[i].key, key, nkey) == 0)
            return &model[i];
    if (!create || nmodel == FUZZ_KEYS)
        return NULL;
    struct entry *e = &model[nmodel++];
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, nkey);
    e->nkey = nkey;
    return e;
}

static void model_set(struct entry *e, const char *v, size_t n, uint64_t cas, bool expires) {
    free(e->value);
    e->value = malloc(n ? n : 1);
    CHECK(e->value != NULL);
    memcpy(e->value, v, n);
    e->nvalue = n;
    e->cas = cas;
    e->present = true;
    e->maybe_gone = expires || flush_pending;
}

static void model_drop(struct entry *e) {
    if (e == NULL)
        return;
    free(e->value);
    e->value = NULL;
    e->present = false;
    e->maybe_gone = false;
}

static void model_reset(void) {
    for (size_t i = 0; i < nmodel; i++)
        free(model[i].value);
    nmodel = 0;
    flush_pending = false;
    gone_seen = 0;
}

/* After an eviction or reclaim any key may be gone. */
static void model_note_evictions(void) {
    struct store_stats ss;
    store_stats(st, &ss);
    uint64_t gone = ss.evictions + ss.reclaimed + ss.crawler_reclaimed;
    if (gone != gone_seen)
        for (size_t i = 0; i < nmodel; i++)
            model[i].maybe_gone = true;
    gone_seen = gone;
}

/* A key may legitimately be absent from the store. */
static bool may_be_absent(const struct entry *e) { return e == NULL || !e->present || e->maybe_gone; }
static bool may_be_present(const struct entry *e) { return e != NULL && e->present; }

/* --- the engine, on a client without a connection ------------------------- */

#define FUZZ_OUT_MAX ((size_t)8 << 20) /* above ENGINE_OUT_HIGH + one value */

static struct settings fz_settings;
static struct server fz_srv;
static struct worker fz_worker;
static struct engine_client cl;
static char *reply;       /* what the last command answered */
static size_t reply_len;

/* Moves the client's output into `reply`. */
static void collect(void) {
    size_t n = engine_out_len(&cl);
    char *p = realloc(reply, reply_len + n + 1);
    CHECK(p != NULL);
    reply = p;
    memcpy(reply + reply_len, engine_out_at(&cl, 0), n);
    reply_len += n;
    reply[reply_len] = '\0';
    cl.out.start = cl.out.end = 0;
}

/* Runs one command line, and its value when it asks for one; allocation
 * failures are injected into what the engine and the store do meanwhile. */
static void run(const char *line, size_t len, const char *value, size_t nvalue) {
    char *buf = malloc(len + 2);
    CHECK(buf != NULL);
    memcpy(buf, line, len);
    memcpy(buf + len, "\r\n", 2);
    reply_len = 0;
    size_t used, off = 0;
    enum engine_result r;
    do {
        inject_armed = true;
        r = engine_run(&cl, buf + off, len + 2 - off, &used);
        inject_armed = false;
        off += used;
        collect();
    } while (r == ENGINE_PAUSED);
    CHECK(r != ENGINE_MORE && r != ENGINE_CLOSE && r != ENGINE_CLOSE_AFTER_REPLY);
    if (r == ENGINE_NEED_VALUE) {
        CHECK(cl.value->nbytes == nvalue);
        memcpy(item_value(cl.value), value, nvalue);
        memcpy(cl.value_end, "\r\n", 2);
        inject_armed = true;
        r = engine_value_done(&cl);
        inject_armed = false;
        collect();
        CHECK(r == ENGINE_DONE);
    } else if (r == ENGINE_SWALLOW) {
        CHECK(cl.swallow == nvalue + 2);
    } else {
        CHECK(r == ENGINE_DONE && off == len + 2);
    }
    free(buf);
}

static bool reply_is(const char *line) {
    size_t n = strlen(line);
    return reply_len == n + 2 && memcmp(reply, line, n) == 0 && memcmp(reply + n, "\r\n", 2) == 0;
}

/* The key's cas as a gets would show it, read without touching the item. */
struct peeked {
    bool hit;
    char *value;
    size_t n;
    uint64_t cas;
};

static void peek_emit(void *ctx, const struct item *it) {
    struct peeked *f = ctx;
    f->hit = true;
    f->n = it->nbytes;
    f->value = malloc(f->n ? f->n : 1);
    CHECK(f->value != NULL);
    memcpy(f->value, item_cvalue(it), f->n);
    f->cas = store_item_cas(st, it);
}

static struct peeked peek(const char *key, size_t nkey) {
    struct peeked f = {0};
    store_peek(st, key, nkey, peek_emit, &f);
    return f;
}

/* --- executing requests ----------------------------------------------------- */

/* Checks a get, gets, gat or gats reply key by key against the model. */
static void check_get_reply(const struct proto_request *req, bool with_cas, bool touch) {
    const char *p = req->keys, *end = req->keys + req->keys_len;
    struct proto_token key;
    bool long_key = false;
    while (proto_next_key(&p, end, &key))
        long_key = long_key || key.len > PROTO_KEY_MAX;
    if (long_key) {
        CHECK(reply_is("CLIENT_ERROR bad command line format"));
        return;
    }
    const char *r = reply, *rend = reply + reply_len;
    p = req->keys;
    while (proto_next_key(&p, end, &key)) {
        struct entry *e = model_find(key.s, key.len, false);
        size_t hdr = 6 + key.len;
        if ((size_t)(rend - r) > hdr && memcmp(r, "VALUE ", 6) == 0 &&
            memcmp(r + 6, key.s, key.len) == 0 && r[hdr] == ' ') {
            unsigned long long flags, bytes, cas = 0;
            int used = 0;
            /* no whitespace directive after the numbers: the value may start with some */
            if (with_cas)
                CHECK(sscanf(r + hdr, " %llu %llu %llu%n", &flags, &bytes, &cas, &used) == 3);
            else
                CHECK(sscanf(r + hdr, " %llu %llu%n", &flags, &bytes, &used) == 2);
            r += hdr + (size_t)used;
            CHECK(rend - r >= 2 && memcmp(r, "\r\n", 2) == 0);
            r += 2;
            CHECK(may_be_present(e));
            CHECK(bytes == e->nvalue && (size_t)(rend - r) >= bytes + 2);
            CHECK(memcmp(r, e->value, bytes) == 0 && memcmp(r + bytes, "\r\n", 2) == 0);
            if (with_cas)
                CHECK(cas == e->cas);
            r += bytes + 2;
            if (touch)
                e->maybe_gone = req->exptime != 0 || flush_pending || e->maybe_gone;
        } else {
            CHECK(may_be_absent(e));
            model_drop(e);
        }
    }
    CHECK(rend - r == 5 && memcmp(r, "END\r\n", 5) == 0);
}

static enum store_mode mode_of(enum proto_cmd cmd) {
    switch (cmd) {
    case PROTO_CMD_ADD: return STORE_ADD;
    case PROTO_CMD_REPLACE: return STORE_REPLACE;
    case PROTO_CMD_APPEND: return STORE_APPEND;
    case PROTO_CMD_PREPEND: return STORE_PREPEND;
    case PROTO_CMD_CAS: return STORE_CAS;
    default: return STORE_SET;
    }
}

static const char *cmd_name(enum proto_cmd cmd) {
    switch (cmd) {
    case PROTO_CMD_ADD: return "add";
    case PROTO_CMD_REPLACE: return "replace";
    case PROTO_CMD_APPEND: return "append";
    case PROTO_CMD_PREPEND: return "prepend";
    case PROTO_CMD_CAS: return "cas";
    case PROTO_CMD_INCR: return "incr";
    case PROTO_CMD_DECR: return "decr";
    case PROTO_CMD_DELETE: return "delete";
    case PROTO_CMD_TOUCH: return "touch";
    default: return "set";
    }
}

/* "<cmd> <key>" followed by the rest, formatted; the key may hold any byte
 * but a space. */
static size_t build(char *out, const struct proto_request *req, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static size_t build(char *out, const struct proto_request *req, const char *fmt, ...) {
    size_t n = (size_t)sprintf(out, "%s ", cmd_name(req->cmd));
    memcpy(out + n, req->key.s, req->key.len);
    n += req->key.len;
    va_list ap;
    va_start(ap, fmt);
    n += (size_t)vsprintf(out + n, fmt, ap);
    va_end(ap);
    return n;
}

static enum store_status store_reply_status(void) {
    if (reply_is("STORED"))
        return STORE_OK;
    if (reply_is("NOT_STORED"))
        return STORE_NOT_STORED;
    if (reply_is("EXISTS"))
        return STORE_EXISTS;
    if (reply_is("NOT_FOUND"))
        return STORE_NOT_FOUND;
    if (reply_is("SERVER_ERROR object too large for cache"))
        return STORE_TOO_LARGE;
    CHECK(reply_is("SERVER_ERROR out of memory storing object"));
    return STORE_NO_MEMORY;
}

static void exec_update(const struct proto_request *req, const char *value, size_t n) {
    enum store_mode mode = mode_of(req->cmd);
    struct entry *e = model_find(req->key.s, req->key.len, true);
    if (e == NULL)
        return; /* model full: leave this key alone */
    bool expires = req->exptime != 0;
    /* cas 1 stands for "the right cas" so that the fuzzer can reach success */
    uint64_t cas_in = mode == STORE_CAS ? (req->cas == 1 ? e->cas : req->cas) : 0;
    char line[PROTO_KEY_MAX + 128];
    size_t len = mode == STORE_CAS
                     ? build(line, req, " %u %lld %zu %llu", req->flags, (long long)req->exptime, n,
                             (unsigned long long)cas_in)
                     : build(line, req, " %u %lld %zu", req->flags, (long long)req->exptime, n);
    unsigned fired = inject_fired;
    uint64_t gone_before = gone_seen;
    run(line, len, value, n);
    enum store_status s = store_reply_status();
    /* An allocation may evict (even one that then fails: a page taken from
     * another class is emptied before the new one is allocated). */
    model_note_evictions();
    switch (s) {
    case STORE_OK: {
        if (mode == STORE_ADD)
            CHECK(may_be_absent(e));
        if (mode == STORE_REPLACE || mode == STORE_APPEND || mode == STORE_PREPEND ||
            mode == STORE_CAS)
            CHECK(may_be_present(e));
        if (mode == STORE_CAS)
            CHECK(cas_in == e->cas);
        struct peeked now = peek(req->key.s, req->key.len);
        if (!now.hit) { /* gone already: it expired, or the maintenance thread evicted */
            model_note_evictions();
            CHECK(expires || flush_pending || gone_seen != gone_before);
            model_drop(e);
            break;
        }
        if (mode == STORE_APPEND || mode == STORE_PREPEND) {
            char *joined = malloc(e->nvalue + n + 1);
            CHECK(joined != NULL);
            memcpy(joined + (mode == STORE_APPEND ? 0 : n), e->value, e->nvalue);
            memcpy(joined + (mode == STORE_APPEND ? e->nvalue : 0), value, n);
            bool gone = e->maybe_gone;
            CHECK(now.n == e->nvalue + n && memcmp(now.value, joined, now.n) == 0);
            model_set(e, joined, e->nvalue + n, now.cas, false);
            e->maybe_gone = e->maybe_gone || gone;
            free(joined);
        } else {
            CHECK(now.n == n && memcmp(now.value, value, n) == 0);
            model_set(e, value, n, now.cas, expires);
        }
        free(now.value);
        break;
    }
    case STORE_NOT_STORED:
        CHECK(mode != STORE_SET && mode != STORE_CAS);
        if (mode == STORE_ADD) {
            CHECK(may_be_present(e));
        } else if (mode == STORE_REPLACE) {
            CHECK(may_be_absent(e));
            model_drop(e);
        } else {
            /* append, prepend: absent, or present with no memory to join
             * (allocated under the shard lock): then the old value stays */
            struct peeked now = peek(req->key.s, req->key.len);
            if (now.hit) {
                CHECK(may_be_present(e) && now.n == e->nvalue &&
                      memcmp(now.value, e->value, now.n) == 0);
            } else {
                CHECK(may_be_absent(e));
                model_drop(e);
            }
            free(now.value);
        }
        break;
    case STORE_NOT_FOUND:
        CHECK(mode == STORE_CAS && may_be_absent(e));
        model_drop(e);
        break;
    case STORE_EXISTS:
        CHECK(mode == STORE_CAS && may_be_present(e) && cas_in != e->cas);
        break;
    case STORE_TOO_LARGE:
        CHECK(item_total(req->key.len, n) > FUZZ_ITEM_MAX);
        if (mode == STORE_SET)
            model_drop(e); /* a failed set drops the old value */
        break;
    case STORE_NO_MEMORY:
        CHECK(!store_config(st)->evict || inject_fired != fired);
        if (mode == STORE_SET)
            model_drop(e);
        break;
    default:
        CHECK(false);
    }
}

/* True for "<digits><spaces>" as an in-place decr leaves it; *v gets the number. */
static bool plain_counter(const char *p, size_t n, uint64_t *v) {
    size_t i = 0;
    *v = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (*v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
            return false;
        *v = *v * 10 + (uint64_t)(p[i] - '0');
    }
    if (i == 0)
        return false;
    for (; i < n; i++)
        if (p[i] != ' ')
            return false;
    return true;
}

static void exec_arith(const struct proto_request *req) {
    bool incr = req->cmd == PROTO_CMD_INCR;
    struct entry *e = model_find(req->key.s, req->key.len, true);
    if (e == NULL)
        return;
    uint64_t before = 0;
    bool plain = may_be_present(e) && plain_counter(e->value, e->nvalue, &before);
    char line[PROTO_KEY_MAX + 64];
    size_t len = build(line, req, " %llu", (unsigned long long)req->delta);
    run(line, len, NULL, 0);
    model_note_evictions();
    unsigned long long v;
    int used = 0;
    if (sscanf(reply, "%llu%n", &v, &used) == 1 && (size_t)used + 2 == reply_len &&
        reply[0] >= '0' && reply[0] <= '9') {
        CHECK(may_be_present(e));
        if (plain)
            CHECK(v == (incr ? before + req->delta : (req->delta > before ? 0 : before - req->delta)));
        struct peeked now = peek(req->key.s, req->key.len);
        if (!now.hit) {
            CHECK(e->maybe_gone); /* it expired in between: the clock ticked */
            model_drop(e);
            return;
        }
        uint64_t back;
        CHECK(plain_counter(now.value, now.n, &back) && back == v);
        bool gone = e->maybe_gone;
        model_set(e, now.value, now.n, now.cas, false);
        e->maybe_gone = gone;
        free(now.value);
    } else if (reply_is("NOT_FOUND")) {
        CHECK(may_be_absent(e));
        model_drop(e);
    } else if (reply_is("CLIENT_ERROR cannot increment or decrement non-numeric value")) {
        CHECK(may_be_present(e) && !plain);
    } else {
        /* a longer number needs a new item, allocated under the shard lock */
        CHECK(reply_is("SERVER_ERROR out of memory"));
        CHECK(may_be_present(e));
    }
}

static void exec_request(const char *line, size_t len, const struct proto_request *req) {
    char buf[PROTO_KEY_MAX + 64];
    switch (req->cmd) {
    case PROTO_CMD_GET:
    case PROTO_CMD_GETS:
    case PROTO_CMD_GAT:
    case PROTO_CMD_GATS:
        /* the line as it came: its key list is the interesting part */
        run(line, len, NULL, 0);
        model_note_evictions();
        check_get_reply(req, req->cmd == PROTO_CMD_GETS || req->cmd == PROTO_CMD_GATS,
                        req->cmd == PROTO_CMD_GAT || req->cmd == PROTO_CMD_GATS);
        break;
    case PROTO_CMD_DELETE: {
        struct entry *e = model_find(req->key.s, req->key.len, false);
        run(buf, build(buf, req, "%s", ""), NULL, 0);
        CHECK(reply_is("DELETED") ? may_be_present(e) : reply_is("NOT_FOUND") && may_be_absent(e));
        model_drop(e);
        break;
    }
    case PROTO_CMD_TOUCH: {
        struct entry *e = model_find(req->key.s, req->key.len, false);
        run(buf, build(buf, req, " %lld", (long long)req->exptime), NULL, 0);
        bool ok = reply_is("TOUCHED");
        CHECK(ok ? may_be_present(e) : reply_is("NOT_FOUND") && may_be_absent(e));
        if (!ok)
            model_drop(e);
        else if (req->exptime != 0)
            e->maybe_gone = true;
        break;
    }
    case PROTO_CMD_INCR:
    case PROTO_CMD_DECR:
        exec_arith(req);
        break;
    case PROTO_CMD_FLUSH_ALL:
        run(buf, (size_t)sprintf(buf, "flush_all %lld", (long long)req->exptime), NULL, 0);
        CHECK(reply_is("OK"));
        if (req->exptime > 0) {
            flush_pending = true;
            for (size_t i = 0; i < nmodel; i++)
                model[i].maybe_gone = true;
        } else {
            for (size_t i = 0; i < nmodel; i++)
                model_drop(&model[i]);
        }
        break;
    case PROTO_CMD_LRU_CRAWLER:
        run("lru_crawler crawl all", 21, NULL, 0);
        CHECK(reply_is("OK"));
        model_note_evictions();
        break;
    default:
        break; /* not a keyed command: fuzz_conn covers the rest */
    }
}

static void item_limits(void *ctx, const struct item *it) {
    (*(uint64_t *)ctx)++;
    CHECK(it->nkey >= 1 && it->nkey <= ITEM_KEY_MAX && it->nbytes <= FUZZ_ITEM_MAX);
}

/* The end of an input: everything the model is sure of must be there. */
static void check_final(void) {
    struct slabs *sl = store_slabs(st);
    CHECK(slab_total_malloced(sl) <= slab_limit(sl) + slab_class_count(sl) * FUZZ_PAGE_MAX);
    uint64_t walked = 0;
    store_walk(st, 0, item_limits, &walked);
    struct store_stats ss;
    store_stats(st, &ss);
    CHECK(walked <= ss.curr_items);
    for (size_t i = 0; i < nmodel; i++) {
        char line[PROTO_KEY_MAX + 8] = "gets ";
        memcpy(line + 5, model[i].key, model[i].nkey);
        struct proto_request req;
        proto_parse(line, 5 + model[i].nkey, &req);
        run(line, 5 + model[i].nkey, NULL, 0);
        check_get_reply(&req, true, false);
    }
}

/* A store, a server and a worker for the engine, without threads or sockets. */
static void setup(bool evict) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = FUZZ_MEM_LIMIT;
    cfg.item_size_max = FUZZ_ITEM_MAX;
    cfg.hashpower = 8;
    cfg.evict = evict;
    st = store_create(&cfg);
    CHECK(st != NULL);
    settings_defaults(&fz_settings);
    fz_settings.item_size_max = FUZZ_ITEM_MAX;
    memset(&fz_srv, 0, sizeof(fz_srv));
    fz_srv.settings = &fz_settings;
    fz_srv.store = st;
    budget_init(&fz_srv.conn_mem, settings_conn_mem_limit(&fz_settings));
    budget_init(&fz_srv.uploads, (size_t)1 << 30); /* values are handed over whole */
    memset(&fz_worker, 0, sizeof(fz_worker));
    fz_worker.srv = &fz_srv;
    engine_client_init(&cl, &fz_worker, 0, ENGINE_PROTO_TEXT, FUZZ_OUT_MAX);
    /* all the output the engine may hold, taken before failures are armed */
    cl.out.buf = malloc(FUZZ_OUT_MAX);
    CHECK(cl.out.buf != NULL);
    cl.out.size = FUZZ_OUT_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    setup(!(data[0] & 1));
    inject_every = data[0] >> 4;
    inject_count = inject_fired = 0;

    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    static char filler[FUZZ_VALUE_MAX];
    if (filler[0] == 0)
        for (size_t i = 0; i < sizeof(filler); i++)
            filler[i] = (char)('a' + i % 26);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *line = p;
        p = nl ? nl + 1 : end;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        struct proto_request req;
        proto_parse(line, len, &req);
        if (req.cmd >= PROTO_CMD_SET && req.cmd <= PROTO_CMD_CAS) {
            /* The data block: what the input holds, then filler. */
            size_t n = req.vlen > FUZZ_VALUE_MAX ? FUZZ_VALUE_MAX : (size_t)req.vlen;
            size_t have = (size_t)(end - p) < n ? (size_t)(end - p) : n;
            char *value = malloc(n ? n : 1);
            CHECK(value != NULL);
            memcpy(value, p, have);
            memcpy(value + have, filler, n - have);
            p += have;
            if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
                p += 2;
            exec_update(&req, value, n);
            free(value);
        } else {
            exec_request(line, len, &req);
        }
    }
    check_final();
    model_reset();
    engine_client_free(&cl);
    store_destroy(st);
    st = NULL;
    return 0;
}
