/*
 * helpers: shared setup for the unit tests of storage/ and proto/.
 *
 * The store API is built for the server (allocate, fill, link; read through a
 * callback under the shard lock), which is verbose in a test.  These wrappers
 * turn it into "set this string", "get into this buffer", so each test reads
 * as the behaviour it checks.  Everything is static inline: every test file
 * includes this header and uses a different subset.
 *
 * Time: Criterion runs each test in its own process, so clock_test_advance()
 * in one test never leaks into another.  The store's clock also follows the
 * real monotonic clock, so a test that checks an exact expiry second calls
 * t_clock_settle() first to keep a real second from ticking in the middle.
 */
#ifndef LARDER_TEST_HELPERS_H
#define LARDER_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "storage/clock.h"
#include "storage/store.h"

#define T_PAGE (1u << 20)
#define T_VALUE_MAX 8192

/* A store with the defaults (64 MB, 1 MB items, cas on, eviction on). */
static inline struct store *t_store_with(void (*tweak)(struct store_config *)) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    if (tweak != NULL)
        tweak(&cfg);
    struct store *s = store_create(&cfg);
    cr_assert_not_null(s, "store_create failed");
    return s;
}

static inline struct store *t_store(void) { return t_store_with(NULL); }

/* A store limited to `mb` megabytes of 1 MB pages. */
static inline struct store *t_store_mb(size_t mb, bool evict) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = mb * T_PAGE;
    cfg.evict = evict;
    struct store *s = store_create(&cfg);
    cr_assert_not_null(s, "store_create failed");
    return s;
}

/* Stores `val` (len bytes) under `key` with a protocol exptime (0, relative
 * seconds, unix time or negative).  Returns the status; *cas_out may be NULL. */
static inline enum store_status t_store_op(struct store *s, enum store_mode mode, const char *key,
                                           const void *val, size_t len, uint32_t flags,
                                           int64_t exptime, uint64_t cas_in, uint64_t *cas_out) {
    enum store_status st;
    struct item *it =
        store_alloc(s, key, strlen(key), flags, clock_exptime(exptime), len, &st);
    if (it == NULL)
        return st;
    memcpy(item_value(it), val, len);
    return store_link(s, it, mode, cas_in, cas_out);
}

static inline enum store_status t_set(struct store *s, const char *key, const char *val) {
    return t_store_op(s, STORE_SET, key, val, strlen(val), 0, 0, 0, NULL);
}

static inline enum store_status t_set_ttl(struct store *s, const char *key, const char *val,
                                          int64_t exptime) {
    return t_store_op(s, STORE_SET, key, val, strlen(val), 0, exptime, 0, NULL);
}

static inline enum store_status t_mode(struct store *s, enum store_mode mode, const char *key,
                                       const char *val) {
    return t_store_op(s, mode, key, val, strlen(val), 0, 0, 0, NULL);
}

/* What a fetch saw: a NUL-terminated copy of the value and the header. */
struct t_got {
    bool found;
    char val[T_VALUE_MAX + 1];
    uint32_t nbytes, flags;
    uint64_t cas;
    rel_time_t exptime;
    uint8_t bits;
    const struct store *s;
};

static inline void t_got_emit(void *ctx, const struct item *it,
                              const struct store_fetch_info *in) {
    (void)in;
    struct t_got *g = ctx;
    size_t n = it->nbytes < T_VALUE_MAX ? it->nbytes : T_VALUE_MAX;
    g->found = true;
    memcpy(g->val, item_cvalue(it), n);
    g->val[n] = '\0';
    g->nbytes = it->nbytes;
    g->flags = it->flags;
    g->cas = store_item_cas(g->s, it);
    g->exptime = it->exptime;
    g->bits = item_bits(it);
}

static inline struct t_got t_fetch(struct store *s, const char *key,
                                   const struct store_fetch_opts *opts) {
    struct t_got g = {.s = s};
    enum store_status st = store_get(s, key, strlen(key), opts, t_got_emit, &g);
    cr_assert_eq(st == STORE_OK, g.found, "store_get status and callback disagree");
    return g;
}

static inline struct t_got t_get(struct store *s, const char *key) {
    return t_fetch(s, key, NULL);
}

static inline bool t_has(struct store *s, const char *key) { return t_get(s, key).found; }

/* Asserts that key holds exactly `want`. */
#define t_assert_value(s, key, want)                                                         \
    do {                                                                                     \
        struct t_got g_ = t_get((s), (key));                                                 \
        cr_assert(g_.found, "%s: missing", (key));                                           \
        cr_assert_eq(g_.nbytes, strlen(want), "%s: %u bytes, want %zu", (key), g_.nbytes,    \
                     strlen(want));                                                          \
        cr_assert_str_eq(g_.val, (want), "%s", (key));                                       \
    } while (0)

static inline enum store_status t_del(struct store *s, const char *key) {
    return store_delete(s, key, strlen(key), 0);
}

static inline struct store_stats t_stats(struct store *s) {
    struct store_stats st;
    store_stats(s, &st);
    return st;
}

static inline enum store_status t_arith(struct store *s, const char *key, bool incr,
                                        uint64_t delta, uint64_t *value) {
    return store_arith(s, key, strlen(key), incr, delta, value, NULL);
}

/* Counts live items and their bytes as store_walk sees them. */
struct t_walk {
    uint64_t items, bytes;
};

static inline void t_walk_emit(void *ctx, const struct item *it) {
    struct t_walk *w = ctx;
    w->items++;
    w->bytes += item_total(it->nkey, it->nbytes);
}

static inline struct t_walk t_walk_all(struct store *s) {
    struct t_walk w = {0};
    store_walk(s, 0, t_walk_emit, &w);
    return w;
}

/* Waits until the store's clock has just ticked, so that the test has
 * nearly a whole second (not just what was left of the current one)
 * before it ticks again: reads of the clock in the test agree even when a
 * loaded machine holds the test up for a while. */
static inline void t_clock_settle(void) {
    struct timespec ts;
    clock_now(); /* start the clock before measuring against it */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    if (ts.tv_nsec > 50000000L) {
        struct timespec d = {0, 1000000000L - ts.tv_nsec + 20000000L};
        nanosleep(&d, NULL);
    }
}

/* A key "<prefix><n>" in a caller's buffer (size >= 32). */
static inline const char *t_key(char *buf, const char *prefix, unsigned n) {
    snprintf(buf, 32, "%s%u", prefix, n);
    return buf;
}

#endif
