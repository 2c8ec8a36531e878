/*
 * Threaded tests of storage/store.c.  Every test here is in suite
 * `concurrency`, which `make SAN=thread unit` runs under ThreadSanitizer.
 *
 * Worker threads never call Criterion asserts (an assert outside the test's
 * main thread is not safe): they count what they saw, and the main thread
 * checks the counts and the store's invariants once every worker has joined.
 * Operation counts are bounded so a TSan run stays within seconds on 2 cores.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "storage/slab.h"

#define BUF_MAX 65536

/* --- worker plumbing ------------------------------------------------------- */

static uint64_t rng_next(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* A copy of one fetched item, taken under the shard lock. */
struct copy {
    bool found;
    char val[BUF_MAX + 1];
    uint32_t nbytes;
    uint64_t cas;
};

static void copy_emit(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    (void)in;
    struct copy *c = ctx;
    size_t n = it->nbytes < BUF_MAX ? it->nbytes : BUF_MAX;
    memcpy(c->val, item_cvalue(it), n);
    c->val[n] = '\0';
    c->nbytes = it->nbytes;
    c->cas = it->cas;
    c->found = true;
}

static bool fetch(struct store *s, const char *key, struct copy *c) {
    c->found = false;
    return store_get(s, key, strlen(key), NULL, copy_emit, c) == STORE_OK;
}

static void run_threads(unsigned n, void *(*fn)(void *), void *args, size_t arg_size) {
    pthread_t th[16];
    cr_assert_leq(n, 16);
    for (unsigned i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, fn, (char *)args + i * arg_size), 0);
    for (unsigned i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

/* --- hash growth with concurrent readers ---------------------------------- */

#define GROW_STABLE 2000
#define GROW_NEW 40000

struct grow_ctx {
    struct store *s;
    int done; /* atomic: the writer finished */
    uint64_t reads, bad;
};

static void *grow_reader(void *arg) {
    struct grow_ctx *g = arg;
    struct copy *c = malloc(sizeof(*c));
    char key[32];
    for (unsigned i = 0; !__atomic_load_n(&g->done, __ATOMIC_ACQUIRE) || i < GROW_STABLE; i++) {
        t_key(key, "stable", i % GROW_STABLE);
        bool ok = fetch(g->s, key, c) && strcmp(c->val, key) == 0;
        __atomic_add_fetch(ok ? &g->reads : &g->bad, 1, __ATOMIC_RELAXED);
    }
    free(c);
    return NULL;
}

static void *grow_writer(void *arg) {
    struct grow_ctx *g = arg;
    char key[32];
    for (unsigned i = 0; i < GROW_NEW; i++)
        if (t_set(g->s, t_key(key, "grow", i), key) != STORE_OK)
            __atomic_add_fetch(&g->bad, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&g->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void tiny_hash(struct store_config *cfg) { cfg->hashpower = 8; }

Test(concurrency, readers_see_every_key_while_table_grows) {
    struct grow_ctx g = {.s = t_store_with(tiny_hash)};
    char key[32];
    for (unsigned i = 0; i < GROW_STABLE; i++)
        t_set(g.s, t_key(key, "stable", i), key);
    unsigned power0 = t_stats(g.s).hash_power_level;

    pthread_t readers[2], writer;
    for (int i = 0; i < 2; i++)
        pthread_create(&readers[i], NULL, grow_reader, &g);
    pthread_create(&writer, NULL, grow_writer, &g);
    pthread_join(writer, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(readers[i], NULL);

    cr_assert_eq(g.bad, 0, "%llu reads missed or saw a wrong value",
                 (unsigned long long)g.bad);
    cr_assert_geq(g.reads, 2 * GROW_STABLE);
    struct store_stats st = t_stats(g.s);
    cr_assert_gt(st.hash_power_level, power0, "the table never grew");
    cr_assert_eq(st.curr_items, GROW_STABLE + GROW_NEW);
    cr_assert_eq(t_walk_all(g.s).items, GROW_STABLE + GROW_NEW);
    for (unsigned i = 0; i < GROW_NEW; i++)
        t_assert_value(g.s, t_key(key, "grow", i), key);
    store_destroy(g.s);
}

/* --- mixed stress ------------------------------------------------------------ */

#define ST_THREADS 4
#define ST_OPS 50000
#define ST_STR_KEYS 48
#define ST_CTR_KEYS 16
#define ST_RESET_LEN 1500 /* a thread that sees a longer value overwrites it */

/* String values are runs of segments "<key>#<thread>.<seq>;": whatever
 * interleaving of set/append/prepend/cas happened, a value is well formed
 * and names its own key, or some write was torn or misplaced. */
static bool value_ok(const char *key, const char *v, size_t n) {
    size_t klen = strlen(key), i = 0;
    if (n == 0)
        return false;
    while (i < n) {
        if (n - i < klen + 4 || memcmp(v + i, key, klen) != 0 || v[i + klen] != '#')
            return false;
        i += klen + 1;
        size_t d = i;
        while (i < n && v[i] >= '0' && v[i] <= '9')
            i++;
        if (i == d || i >= n || v[i++] != '.')
            return false;
        d = i;
        while (i < n && v[i] >= '0' && v[i] <= '9')
            i++;
        if (i == d || i >= n || v[i++] != ';')
            return false;
    }
    return true;
}

/* A counter as stored: digits, then the padding a shrinking decr leaves. */
static bool counter_value(const char *v, size_t n, uint64_t *out) {
    size_t i = 0;
    uint64_t x = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++)
        x = x * 10 + (uint64_t)(v[i] - '0');
    if (i == 0)
        return false;
    for (; i < n; i++)
        if (v[i] != ' ')
            return false;
    *out = x;
    return true;
}

struct stress {
    struct store *s;
    unsigned id;
    uint64_t rng;
    uint64_t gets, hits, bad;
    uint64_t incr_ok, incr_missing;
    uint64_t ctr_net[ST_CTR_KEYS];
    char bad_what[160];
    struct copy c;
};

static void stress_fail(struct stress *w, const char *what, const char *key) {
    if (w->bad++ == 0)
        snprintf(w->bad_what, sizeof(w->bad_what), "thread %u: %s on %s: '%.80s'", w->id, what,
                 key, w->c.val);
}

static size_t segment(struct stress *w, const char *key, unsigned seq, char *buf) {
    return (size_t)snprintf(buf, 64, "%s#%u.%u;", key, w->id, seq);
}

/* A get that checks the value, and starts it over when appends made it long. */
static void stress_get(struct stress *w, const char *key, const char *seg, size_t n) {
    w->gets++;
    if (!fetch(w->s, key, &w->c))
        return;
    w->hits++;
    if (!value_ok(key, w->c.val, w->c.nbytes))
        stress_fail(w, "malformed value", key);
    else if (w->c.nbytes > ST_RESET_LEN)
        t_store_op(w->s, STORE_SET, key, seg, n, 0, 0, 0, NULL);
}

/* gets, then cas a new value; EXISTS or NOT_FOUND are fine outcomes. */
static void stress_cas(struct stress *w, const char *key, const char *seg, size_t n) {
    w->gets++;
    if (!fetch(w->s, key, &w->c))
        return;
    w->hits++;
    enum store_status st = t_store_op(w->s, STORE_CAS, key, seg, n, 0, 0, w->c.cas, NULL);
    if (st != STORE_OK && st != STORE_EXISTS && st != STORE_NOT_FOUND)
        stress_fail(w, "cas status", key);
}

static void stress_str_op(struct stress *w, unsigned seq) {
    char key[32], seg[64];
    t_key(key, "s", (unsigned)(rng_next(&w->rng) % ST_STR_KEYS));
    size_t n = segment(w, key, seq, seg);
    uint64_t v;
    switch (rng_next(&w->rng) % 10) {
    case 0:
    case 1: t_store_op(w->s, STORE_SET, key, seg, n, 0, 0, 0, NULL); break;
    case 2: t_store_op(w->s, STORE_ADD, key, seg, n, 0, 0, 0, NULL); break;
    case 3: t_store_op(w->s, STORE_APPEND, key, seg, n, 0, 0, 0, NULL); break;
    case 4: t_store_op(w->s, STORE_PREPEND, key, seg, n, 0, 0, 0, NULL); break;
    case 5: store_delete(w->s, key, strlen(key), 0); break;
    case 6: stress_cas(w, key, seg, n); break;
    case 7:
        /* a string key never turns numeric */
        switch (t_arith(w->s, key, true, 1, &v)) {
        case STORE_NON_NUMERIC: break;
        case STORE_NOT_FOUND: w->incr_missing++; break;
        default: stress_fail(w, "incr on a string", key);
        }
        break;
    default: stress_get(w, key, seg, n); break;
    }
}

/* Counters only ever go up net: a decr always follows this thread's own incr
 * of the same size, so the value never floors at 0 and the final value is
 * the sum of every thread's net deltas. */
static void stress_ctr_op(struct stress *w) {
    char key[32];
    unsigned k = (unsigned)(rng_next(&w->rng) % ST_CTR_KEYS);
    t_key(key, "c", k);
    uint64_t d = 1 + rng_next(&w->rng) % 9, v;
    if (t_arith(w->s, key, true, d, &v) != STORE_OK)
        stress_fail(w, "incr failed", key);
    w->incr_ok++;
    w->ctr_net[k] += d;
    if (rng_next(&w->rng) % 3 == 0) {
        if (t_arith(w->s, key, false, d, &v) != STORE_OK)
            stress_fail(w, "decr failed", key);
        w->ctr_net[k] -= d;
    }
    if (rng_next(&w->rng) % 4 == 0) {
        w->gets++;
        if (fetch(w->s, key, &w->c)) {
            w->hits++;
            if (!counter_value(w->c.val, w->c.nbytes, &v))
                stress_fail(w, "counter not numeric", key);
        }
    }
}

static void *stress_main(void *arg) {
    struct stress *w = arg;
    for (unsigned i = 0; i < ST_OPS; i++) {
        if (rng_next(&w->rng) % 4 == 0)
            stress_ctr_op(w);
        else
            stress_str_op(w, i);
    }
    return NULL;
}

/* Walk callback: every live item is a well-formed string or a counter. */
struct audit {
    uint64_t items, bytes, bad;
    uint64_t ctr[ST_CTR_KEYS];
};

static void audit_item(void *ctx, const struct item *it) {
    struct audit *a = ctx;
    char key[ITEM_KEY_MAX + 1];
    memcpy(key, item_ckey(it), it->nkey);
    key[it->nkey] = '\0';
    a->items++;
    a->bytes += item_total(it->nkey, it->nbytes);
    uint64_t v;
    unsigned k;
    if (key[0] == 'c' && sscanf(key, "c%u", &k) == 1 && k < ST_CTR_KEYS &&
        counter_value(item_cvalue(it), it->nbytes, &v))
        a->ctr[k] = v;
    else if (key[0] != 's' || !value_ok(key, item_cvalue(it), it->nbytes))
        a->bad++;
}

Test(concurrency, mixed_operations_keep_invariants, .timeout = 600) {
    struct store *s = t_store();
    char key[32];
    for (unsigned k = 0; k < ST_CTR_KEYS; k++)
        t_set(s, t_key(key, "c", k), "0");
    store_stats_reset(s);

    static struct stress w[ST_THREADS];
    for (unsigned i = 0; i < ST_THREADS; i++)
        w[i] = (struct stress){.s = s, .id = i, .rng = 0x9e3779b97f4a7c15ULL * (i + 1)};
    run_threads(ST_THREADS, stress_main, w, sizeof(w[0]));

    uint64_t gets = 0, hits = 0, incr_ok = 0, incr_missing = 0, net[ST_CTR_KEYS] = {0};
    for (unsigned i = 0; i < ST_THREADS; i++) {
        cr_assert_eq(w[i].bad, 0, "%llu errors, first: %s", (unsigned long long)w[i].bad,
                     w[i].bad_what);
        gets += w[i].gets;
        hits += w[i].hits;
        incr_ok += w[i].incr_ok;
        incr_missing += w[i].incr_missing;
        for (unsigned k = 0; k < ST_CTR_KEYS; k++)
            net[k] += w[i].ctr_net[k];
    }

    struct audit a = {0};
    store_walk(s, 0, audit_item, &a);
    struct store_stats st = t_stats(s);
    cr_assert_eq(a.bad, 0, "%llu live items are malformed", (unsigned long long)a.bad);
    cr_assert_eq(st.curr_items, a.items);
    cr_assert_eq(st.bytes, a.bytes);
    for (unsigned k = 0; k < ST_CTR_KEYS; k++)
        cr_assert_eq(a.ctr[k], net[k], "counter c%u is %llu, net of incr/decr is %llu", k,
                     (unsigned long long)a.ctr[k], (unsigned long long)net[k]);
    cr_assert_eq(st.get_hits, hits);
    cr_assert_eq(st.get_hits + st.get_misses, gets);
    cr_assert_eq(st.incr_hits, incr_ok);
    cr_assert_eq(st.incr_misses, incr_missing);
    cr_assert_eq(st.evictions, 0);
    store_destroy(s);
}

/* --- eviction under contention -------------------------------------------- */

#define EV_THREADS 3
#define EV_OPS 15000
#define EV_KEYSPACE 5000

/* A value of `n` bytes derived from its key, so any reader can verify it. */
static void fill_for_key(char *v, size_t n, const char *key, size_t klen) {
    for (size_t i = 0; i < n; i++)
        v[i] = key[i % klen];
}

static bool matches_key(const char *v, size_t n, const char *key, size_t klen) {
    for (size_t i = 0; i < n; i++)
        if (v[i] != key[i % klen])
            return false;
    return true;
}

struct evw {
    struct store *s;
    uint64_t rng, bad, stored;
    struct copy c;
    char v[4096];
};

static void *evict_main(void *arg) {
    struct evw *w = arg;
    char key[32];
    for (unsigned i = 0; i < EV_OPS; i++) {
        t_key(key, "ev", (unsigned)(rng_next(&w->rng) % EV_KEYSPACE));
        size_t klen = strlen(key);
        unsigned op = (unsigned)(rng_next(&w->rng) % 10);
        if (op < 5) {
            size_t n = 100 + rng_next(&w->rng) % 3000;
            fill_for_key(w->v, n, key, klen);
            enum store_status st = t_store_op(w->s, STORE_SET, key, w->v, n, 0, 0, 0, NULL);
            w->stored += st == STORE_OK;
            /* NO_MEMORY is allowed: every candidate's shard may be busy */
            w->bad += st != STORE_OK && st != STORE_NO_MEMORY;
        } else if (op < 9) {
            if (fetch(w->s, key, &w->c) && !matches_key(w->c.val, w->c.nbytes, key, klen))
                w->bad++;
        } else {
            store_delete(w->s, key, klen, 0);
        }
    }
    return NULL;
}

static void audit_ev(void *ctx, const struct item *it) {
    struct audit *a = ctx;
    a->items++;
    a->bytes += item_total(it->nkey, it->nbytes);
    if (!matches_key(item_cvalue(it), it->nbytes, item_ckey(it), it->nkey))
        a->bad++;
}

Test(concurrency, eviction_under_contention_respects_limit, .timeout = 600) {
    struct store *s = t_store_mb(2, true);
    static struct evw w[EV_THREADS];
    for (unsigned i = 0; i < EV_THREADS; i++)
        w[i] = (struct evw){.s = s, .rng = 0xdeadbeefULL * (i + 7)};
    run_threads(EV_THREADS, evict_main, w, sizeof(w[0]));

    uint64_t stored = 0;
    for (unsigned i = 0; i < EV_THREADS; i++) {
        cr_assert_eq(w[i].bad, 0, "thread %u saw a wrong value or status", i);
        stored += w[i].stored;
    }
    struct audit a = {0};
    store_walk(s, 0, audit_ev, &a);
    struct store_stats st = t_stats(s);
    cr_assert_eq(a.bad, 0);
    cr_assert_eq(st.curr_items, a.items);
    cr_assert_eq(st.bytes, a.bytes);
    cr_assert_gt(st.evictions, 0, "the test did not reach the limit");
    cr_assert_gt(stored, EV_THREADS * EV_OPS / 4, "most sets failed");
    cr_assert_leq(st.total_malloced, st.limit_maxbytes);
    store_destroy(s);
}

/* --- cas under contention --------------------------------------------------- */

#define CAS_THREADS 4
#define CAS_INCREMENTS 500

struct casw {
    struct store *s;
    uint64_t retries, bad;
    struct copy c;
};

/* Read-modify-write through gets/cas: no update may be lost. */
static void *cas_main(void *arg) {
    struct casw *w = arg;
    for (unsigned done = 0; done < CAS_INCREMENTS;) {
        if (!fetch(w->s, "ctr", &w->c)) {
            w->bad++;
            return NULL;
        }
        char next[32];
        int n = snprintf(next, sizeof(next), "%llu", strtoull(w->c.val, NULL, 10) + 1);
        enum store_status st =
            t_store_op(w->s, STORE_CAS, "ctr", next, (size_t)n, 0, 0, w->c.cas, NULL);
        if (st == STORE_OK)
            done++;
        else if (st == STORE_EXISTS)
            w->retries++;
        else
            w->bad++;
    }
    return NULL;
}

Test(concurrency, cas_loses_no_update) {
    struct store *s = t_store();
    t_set(s, "ctr", "0");
    store_stats_reset(s);
    static struct casw w[CAS_THREADS];
    uint64_t retries = 0;
    for (unsigned i = 0; i < CAS_THREADS; i++)
        w[i] = (struct casw){.s = s};
    run_threads(CAS_THREADS, cas_main, w, sizeof(w[0]));
    for (unsigned i = 0; i < CAS_THREADS; i++) {
        cr_assert_eq(w[i].bad, 0);
        retries += w[i].retries;
    }
    char want[16];
    snprintf(want, sizeof(want), "%d", CAS_THREADS * CAS_INCREMENTS);
    t_assert_value(s, "ctr", want);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.cas_hits, CAS_THREADS * CAS_INCREMENTS);
    cr_assert_eq(st.cas_badval, retries);
    store_destroy(s);
}

/* --- flush while writing ------------------------------------------------------ */

struct flushw {
    struct store *s;
    unsigned id;
};

static void *flush_writer(void *arg) {
    struct flushw *w = arg;
    char key[32];
    for (unsigned i = 0; i < 20000; i++)
        t_set(w->s, t_key(key, w->id ? "b" : "a", i % 3000), "v");
    return NULL;
}

Test(concurrency, flush_during_writes_keeps_counts_consistent) {
    struct store *s = t_store();
    pthread_t th[2];
    struct flushw w[2] = {{s, 0}, {s, 1}};
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, flush_writer, &w[i]);
    for (int i = 0; i < 20; i++) {
        store_flush(s, 0);
        store_crawl(s);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    struct t_walk tw = t_walk_all(s);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.curr_items, tw.items);
    cr_assert_eq(st.bytes, tw.bytes);
    store_flush(s, 0);
    store_crawl(s); /* frees what the flush killed */
    cr_assert_eq(t_stats(s).curr_items, 0);
    cr_assert_eq(t_stats(s).bytes, 0);
    store_destroy(s);
}

/* --- the background crawler ------------------------------------------------- */

static void with_crawler(struct store_config *cfg) { cfg->crawler = true; }

Test(concurrency, crawler_thread_reclaims_expired_items) {
    struct store *s = t_store_with(with_crawler);
    char key[32];
    for (unsigned i = 0; i < 300; i++)
        t_set_ttl(s, t_key(key, "k", i), "v", i < 200 ? 5 : 0);
    clock_test_advance(5);
    /* it runs once a second; wait for it, up to 60 s (only a hang) */
    for (int i = 0; i < 600 && t_stats(s).crawler_reclaimed < 200; i++)
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.crawler_reclaimed, 200);
    cr_assert_eq(st.curr_items, 100);
    store_destroy(s); /* must stop and join the crawler */
}
