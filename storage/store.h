/*
 * store: the cache.  Keys map to items in a hash table split into shards,
 * each with its own lock and its own incrementally rehashed table, over the
 * slab allocator.  No networking here: the server calls these functions and
 * copies what it needs out of items inside the fetch callback.
 *
 * Threading: every function may be called from any thread.  A call holds at
 * most one shard lock (plus a slab class lock inside it); callbacks run under
 * that shard lock and must not call back into the store.
 */
#ifndef LARDER_STORE_H
#define LARDER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "item.h"
#include "slab.h"

enum store_status {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_EXISTS,      /* cas mismatch */
    STORE_NOT_STORED,  /* add on a present key, replace/append on a missing one */
    STORE_NO_MEMORY,   /* limit reached and nothing could be evicted (or -M) */
    STORE_TOO_LARGE,   /* above the item size limit */
    STORE_NON_NUMERIC, /* incr/decr on a value that is not a decimal number */
};

enum store_mode {
    STORE_SET,
    STORE_ADD,
    STORE_REPLACE,
    STORE_APPEND,
    STORE_PREPEND,
    STORE_CAS, /* set only if the cas given matches (0 included) */
};

struct store_config {
    size_t mem_limit;     /* -m, bytes */
    size_t item_size_max; /* -I, bytes; pages are this large when above 1 MB */
    double factor;        /* -f */
    size_t chunk_min;     /* -n */
    bool use_cas;         /* -C turns it off: cas values read as 0 */
    bool evict;           /* -M turns it off */
    unsigned hashpower;   /* log2 of initial buckets over all shards */
    bool crawler;         /* background thread reclaiming expired items */
};

struct store_stats {
    uint64_t curr_items, total_items, bytes;
    uint64_t evictions, evicted_unfetched, reclaimed, expired_unfetched;
    uint64_t crawler_reclaimed, crawler_items_checked;
    uint64_t get_hits, get_misses, get_expired, get_flushed;
    uint64_t touch_hits, touch_misses, delete_hits, delete_misses;
    uint64_t incr_hits, incr_misses, decr_hits, decr_misses;
    uint64_t cas_hits, cas_misses, cas_badval;
    uint64_t store_too_large, store_no_memory;
    uint64_t hash_buckets, hash_bytes;
    unsigned hash_power_level;
    bool hash_is_expanding;
    uint64_t limit_maxbytes, total_malloced, slab_first_pages;
};

/* Options for a fetch: gat's touch, meta's "do not bump". */
struct store_fetch_opts {
    bool touch;
    rel_time_t exptime; /* new relative expiry when touch */
    bool no_bump;
};

/* Called under the shard lock with the item found: copy out, do not keep. */
typedef void (*store_emit_fn)(void *ctx, const struct item *it);

struct store;

void store_config_defaults(struct store_config *cfg);
struct store *store_create(const struct store_config *cfg);
void store_destroy(struct store *s);
const struct store_config *store_config(const struct store *s);

/* An unlinked item of the given sizes, key copied in, for the caller to fill
 * with item_value() and then hand to store_link() or store_release().
 * NULL with *st set to STORE_TOO_LARGE or STORE_NO_MEMORY on failure. */
struct item *store_alloc(struct store *s, const char *key, size_t nkey, uint32_t flags,
                         rel_time_t exptime, size_t nbytes, enum store_status *st);
void store_release(struct store *s, struct item *it);

/* Stores `it` according to mode; always consumes it.  cas_in is compared for
 * STORE_CAS, and for other modes when non-zero.  *cas_out (may be NULL) gets
 * the new item's cas on success. */
enum store_status store_link(struct store *s, struct item *it, enum store_mode mode,
                             uint64_t cas_in, uint64_t *cas_out);

enum store_status store_get(struct store *s, const char *key, size_t nkey,
                            const struct store_fetch_opts *opts, store_emit_fn emit, void *ctx);
enum store_status store_touch(struct store *s, const char *key, size_t nkey, rel_time_t exptime);
enum store_status store_delete(struct store *s, const char *key, size_t nkey, uint64_t cas_in);

/* Drops a key without counting a delete: for a set whose allocation failed,
 * so that the old value does not outlive it (memcached does the same). */
void store_unlink(struct store *s, const char *key, size_t nkey);

/* incr (true) or decr (false) by delta; *value gets the result. */
enum store_status store_arith(struct store *s, const char *key, size_t nkey, bool incr,
                              uint64_t delta, uint64_t *value, uint64_t *cas_out);

/* Invalidates every item now (delay <= 0) or at the given protocol exptime. */
void store_flush(struct store *s, int64_t delay);

/* Unlinks expired and flushed items; returns how many.  The crawler thread
 * calls this once a second; tests call it directly. */
uint64_t store_crawl(struct store *s);

/* Cas as clients see it: 0 when cas is disabled. */
uint64_t store_item_cas(const struct store *s, const struct item *it);

void store_stats(struct store *s, struct store_stats *out);
void store_stats_reset(struct store *s);
struct slabs *store_slabs(struct store *s);
void store_set_limit(struct store *s, size_t mem_limit);

/* Visits live items (under their shard lock), at most `limit` (0: all). */
void store_walk(struct store *s, unsigned limit, store_emit_fn fn, void *ctx);

#endif
