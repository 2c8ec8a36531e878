/*
 * fuzz_store: libFuzzer target for the store (storage/) against a model.
 *
 * The input is a client's byte stream: the first byte picks the set-up, the
 * rest is read as protocol lines (parsed by proto_parse) and data blocks,
 * executed through the storage API the way server/cmd.c does, against a
 * 2 MB store so that eviction runs all the time.  A model of what each key
 * should hold is kept beside the store, and every answer is checked:
 *
 *   - a hit returns exactly the last value stored, never a stale or torn one;
 *   - a miss, NOT_STORED or NOT_FOUND happens only for a key the model says
 *     is absent, or that may have gone (an eviction or reclaim happened since
 *     it was stored, it has an expiry time, a delayed flush is pending);
 *   - incr/decr give the right number on plain decimal values;
 *   - STORE_NO_MEMORY only happens with -M, inside append/incr (which
 *     allocate under a shard lock and may not evict from it), or when an
 *     allocation failure was injected;
 *   - the page memory never passes the limit plus one first page per class.
 *
 * Set-up byte: bit 0 turns eviction off (-M); the high nibble, when not
 * zero, makes every n-th allocation inside the store fail (malloc, calloc
 * and realloc are wrapped at link time: -Wl,--wrap=...), which covers slab
 * pages, the page table and hash table growth.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
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

/* --- reading the store ------------------------------------------------------ */

struct fetched {
    bool hit;
    char *value;
    size_t n;
    uint64_t cas;
};

static void fetch_emit(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    struct fetched *f = ctx;
    (void)in;
    f->hit = true;
    f->n = it->nbytes;
    f->value = malloc(f->n ? f->n : 1);
    CHECK(f->value != NULL);
    memcpy(f->value, item_cvalue(it), f->n);
    f->cas = it->cas;
}

static void check_get(const char *key, size_t nkey, const struct store_fetch_opts *opts,
                      bool expires) {
    struct entry *e = model_find(key, nkey, false);
    struct fetched f = {0};
    enum store_status s = store_get(st, key, nkey, opts, fetch_emit, &f);
    CHECK((s == STORE_OK) == f.hit);
    if (f.hit) {
        CHECK(may_be_present(e));
        CHECK(f.n == e->nvalue && memcmp(f.value, e->value, f.n) == 0);
        CHECK(f.cas == e->cas);
        if (opts != NULL && opts->touch)
            e->maybe_gone = expires || flush_pending || e->maybe_gone;
    } else {
        CHECK(may_be_absent(e));
        model_drop(e);
    }
    free(f.value);
}

/* --- executing requests ----------------------------------------------------- */

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

static void exec_update(const struct proto_request *req, const char *value, size_t n) {
    enum store_mode mode = mode_of(req->cmd);
    struct entry *e = model_find(req->key.s, req->key.len, true);
    if (e == NULL)
        return; /* model full: leave this key alone */
    bool expires = req->exptime != 0;
    unsigned fired = inject_fired;
    enum store_status s;
    inject_armed = true;
    struct item *it = store_alloc(st, req->key.s, req->key.len, req->flags,
                                  clock_exptime(req->exptime), n, &s);
    inject_armed = false;
    /* An allocation may evict (even one that then fails: a page taken from
     * another class is emptied before the new one is allocated). */
    model_note_evictions();
    if (it == NULL) {
        if (item_total(req->key.len, n) > FUZZ_ITEM_MAX)
            CHECK(s == STORE_TOO_LARGE);
        else
            CHECK(s == STORE_NO_MEMORY && (!store_config(st)->evict || inject_fired != fired));
        if (mode == STORE_SET) {
            store_unlink(st, req->key.s, req->key.len); /* as cmd.c does */
            model_drop(e);
        }
        return;
    }
    memcpy(item_value(it), value, n);
    /* cas 1 stands for "the right cas" so that the fuzzer can reach success */
    uint64_t cas_in = mode == STORE_CAS ? (req->cas == 1 ? e->cas : req->cas) : 0;
    uint64_t cas_out = 0;
    inject_armed = true;
    s = store_link(st, it, mode, cas_in, &cas_out);
    inject_armed = false;
    model_note_evictions();
    switch (s) {
    case STORE_OK:
        if (mode == STORE_ADD)
            CHECK(may_be_absent(e));
        if (mode == STORE_REPLACE || mode == STORE_APPEND || mode == STORE_PREPEND ||
            mode == STORE_CAS)
            CHECK(may_be_present(e));
        if (mode == STORE_CAS)
            CHECK(cas_in == e->cas);
        if (mode == STORE_APPEND || mode == STORE_PREPEND) {
            char *joined = malloc(e->nvalue + n + 1);
            CHECK(joined != NULL);
            memcpy(joined + (mode == STORE_APPEND ? 0 : n), e->value, e->nvalue);
            memcpy(joined + (mode == STORE_APPEND ? e->nvalue : 0), value, n);
            bool gone = e->maybe_gone;
            model_set(e, joined, e->nvalue + n, cas_out, false);
            e->maybe_gone = e->maybe_gone || gone;
            free(joined);
        } else {
            model_set(e, value, n, cas_out, expires);
        }
        break;
    case STORE_NOT_STORED:
        if (mode == STORE_ADD)
            CHECK(may_be_present(e));
        else
            CHECK(may_be_absent(e));
        if (mode != STORE_ADD)
            model_drop(e);
        break;
    case STORE_NOT_FOUND:
        CHECK(mode == STORE_CAS && may_be_absent(e));
        model_drop(e);
        break;
    case STORE_EXISTS:
        CHECK(mode == STORE_CAS && may_be_present(e) && cas_in != e->cas);
        break;
    case STORE_NO_MEMORY:
    case STORE_TOO_LARGE:
        /* append/prepend build the joined item under the shard lock */
        CHECK(mode == STORE_APPEND || mode == STORE_PREPEND);
        CHECK(may_be_present(e));
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
    uint64_t v = 0, before = 0;
    bool plain = may_be_present(e) && plain_counter(e->value, e->nvalue, &before);
    unsigned fired = inject_fired;
    inject_armed = true;
    enum store_status s = store_arith(st, req->key.s, req->key.len, incr, req->delta, &v, NULL);
    inject_armed = false;
    model_note_evictions();
    switch (s) {
    case STORE_OK: {
        CHECK(may_be_present(e));
        if (plain)
            CHECK(v == (incr ? before + req->delta : (req->delta > before ? 0 : before - req->delta)));
        struct fetched f = {0};
        if (store_get(st, req->key.s, req->key.len, NULL, fetch_emit, &f) != STORE_OK) {
            CHECK(e->maybe_gone); /* it expired in between: the clock ticked */
            model_drop(e);
            break;
        }
        uint64_t back;
        CHECK(plain_counter(f.value, f.n, &back) && back == v);
        bool gone = e->maybe_gone;
        model_set(e, f.value, f.n, f.cas, false);
        e->maybe_gone = gone;
        free(f.value);
        break;
    }
    case STORE_NOT_FOUND:
        CHECK(may_be_absent(e));
        model_drop(e);
        break;
    case STORE_NON_NUMERIC:
        CHECK(may_be_present(e) && !plain);
        break;
    case STORE_NO_MEMORY:
        /* a longer number needs a new item, allocated under the shard lock */
        CHECK(may_be_present(e));
        (void)fired;
        break;
    default:
        CHECK(false);
    }
}

static void exec_request(const struct proto_request *req) {
    switch (req->cmd) {
    case PROTO_CMD_GET:
    case PROTO_CMD_GETS:
    case PROTO_CMD_GAT:
    case PROTO_CMD_GATS: {
        bool touch = req->cmd == PROTO_CMD_GAT || req->cmd == PROTO_CMD_GATS;
        struct store_fetch_opts opts = {.touch = touch};
        if (touch)
            opts.exptime = clock_exptime(req->exptime);
        const char *p = req->keys, *end = req->keys + req->keys_len;
        struct proto_token key;
        while (proto_next_key(&p, end, &key))
            if (key.len <= PROTO_KEY_MAX)
                check_get(key.s, key.len, &opts, touch && req->exptime != 0);
        break;
    }
    case PROTO_CMD_DELETE: {
        struct entry *e = model_find(req->key.s, req->key.len, false);
        enum store_status s = store_delete(st, req->key.s, req->key.len, 0);
        CHECK(s == STORE_OK ? may_be_present(e) : may_be_absent(e));
        model_drop(e);
        break;
    }
    case PROTO_CMD_TOUCH: {
        struct entry *e = model_find(req->key.s, req->key.len, false);
        enum store_status s = store_touch(st, req->key.s, req->key.len, clock_exptime(req->exptime));
        CHECK(s == STORE_OK ? may_be_present(e) : may_be_absent(e));
        if (s != STORE_OK)
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
        store_flush(st, req->exptime);
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
        store_crawl(st);
        model_note_evictions();
        break;
    default:
        break;
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
    for (size_t i = 0; i < nmodel; i++)
        check_get(model[i].key, model[i].nkey, NULL, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = FUZZ_MEM_LIMIT;
    cfg.item_size_max = FUZZ_ITEM_MAX;
    cfg.hashpower = 8;
    cfg.evict = !(data[0] & 1);
    st = store_create(&cfg);
    CHECK(st != NULL);
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
            exec_request(&req);
        }
    }
    check_final();
    model_reset();
    store_destroy(st);
    st = NULL;
    return 0;
}
