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
#include "hash.h"
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
    /* meta's "ms I": like STORE_CAS, but a non-zero cas below the item's
     * also stores, marked ITEM_STALE, keeping the old exptime and win token. */
    STORE_CAS_STALE,
};

struct store_config {
    size_t mem_limit;     /* -m, bytes */
    size_t item_size_max; /* -I, bytes; pages are this large when above 1 MB */
    double factor;        /* -f */
    size_t chunk_min;     /* -n */
    bool use_cas;         /* -C turns it off: cas values read as 0 */
    bool evict;           /* -M turns it off */
    unsigned hashpower;   /* log2 of initial buckets over all shards */
    bool crawler;         /* the maintenance thread reclaims expired items */
    bool balance;         /* the maintenance thread moves pages between classes */
    const char *memory_file; /* -e: item memory in this mapped file, kept across restarts */
    /* NULL: the hash seed is drawn at random.  Tests fix it to make keys
     * collide; a server never should (clients could make them collide too). */
    const struct hash_seed *hash_seed;
};

/* How a store with a memory file started (see store_open). */
enum store_restart_mode {
    STORE_RESTART_OFF,       /* no memory file */
    STORE_RESTART_COLD,      /* empty: a new file, or one written with other settings */
    STORE_RESTART_WARM,      /* after a clean stop: the clock resumes from the stop */
    STORE_RESTART_RECOVERED, /* after a crash: the index rebuilt from a scan */
};

struct store_restart {
    enum store_restart_mode mode;
    uint64_t restored; /* items linked again */
    uint64_t dropped;  /* chunks not provably whole (a write in flight), or duplicates */
    uint64_t expired;  /* items that expired or were flushed while down */
    double seconds;    /* time the scan took */
    char why[320];     /* for COLD after a reset, and for a failed open */
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
    uint64_t limit_maxbytes, total_malloced, slabs_moved;
    uint64_t evicted_active, direct_reclaims;
    bool lru_crawler_running;
    uint64_t lru_crawler_starts;
    uint64_t slab_reassign_evictions_nomem, slab_reassign_rescues;
    /* items replies are being sent from (store_pin), their bytes, the
     * most they may hold, and pins refused for it */
    uint64_t pinned_items, pinned_bytes, pin_limit, pin_refusals;
};

/* One size class's figures as memcached's `stats slabs` and `stats items`
 * print them (per class, summed over the shards). */
struct store_class_stats {
    uint64_t get_hits, cmd_set, delete_hits, incr_hits, decr_hits;
    uint64_t cas_hits, cas_badval, touch_hits;
    /* stores that replaced an expired or flushed item of this class (the
     * slab's own count covers chunks its CLOCK reused) */
    uint64_t reclaimed, expired_unfetched;
    uint64_t crawler_reclaimed, crawler_items_checked;
    uint64_t mem_requested; /* bytes of this class's linked items */
};

/* A fetch: get, gets, gat, touch (classic and binary) and mg (meta) are
 * this one operation with options.  Where a request gives both T and N, the
 * one given last sets a created item's exptime (memcached applies meta flags
 * left to right): `vivify_last` says which. */
struct store_fetch_opts {
    bool no_bump;             /* u: leave atime and the fetched bit alone */
    bool touch;               /* gat, touch, T: set a new exptime */
    rel_time_t exptime;       /* ... this one */
    bool vivify;              /* N: create an empty item on a miss */
    rel_time_t vivify_exptime;
    bool vivify_last;         /* N came after T */
    bool tokens;              /* meta: fill the info (below) and hand out recache
                                 rights (W, X, Z); classic fetches do neither */
    bool recache;             /* R: win when the item expires before recache_time */
    rel_time_t recache_time;
    bool recache_after_touch; /* T came before R: R compares with T's exptime */
    /* The counting rule: a touching fetch that misses counts as a touch
     * miss (classic gat and touch), or as a get miss when this is set (mg
     * with T), as memcached counts them. */
    bool touch_miss_is_get_miss;
};

/* What the fetch saw, for meta's reply flags. */
struct store_fetch_info {
    rel_time_t exptime_before; /* CLOCK_NEVER for a created item */
    rel_time_t atime_before;   /* h and l report the state before this access */
    bool fetched_before;
    bool created;    /* N made the item: its value is empty */
    bool token_sent; /* Z: another client already won (before this request) */
    bool stale;      /* X */
    bool won;        /* W: this client won; ITEM_TOKEN is now set */
};

/* Called under the shard lock with the item found: copy out, do not keep. */
typedef void (*store_emit_fn)(void *ctx, const struct item *it);
typedef void (*store_fetch_fn)(void *ctx, const struct item *it, const struct store_fetch_info *info);

struct store;

void store_config_defaults(struct store_config *cfg);
struct store *store_create(const struct store_config *cfg);
/* store_create, saying why it failed in `why` (size whylen).  With
 * cfg->memory_file, reuses what the file holds when it was written with the
 * same -m, -I, -f, -n; see store_restart_info. */
struct store *store_open(const struct store_config *cfg, char *why, size_t whylen);
const struct store_restart *store_restart_info(const struct store *s);
/* For a graceful stop with a memory file, once no other thread uses the
 * store: writes the clean-stop record (FILE.meta).  False on I/O error. */
bool store_save(struct store *s);
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

/* STORE_OK after emit ran (found, or created by vivify), else
 * STORE_NOT_FOUND.  opts may be NULL: a plain get.  Counts a get hit or miss,
 * or a touch hit (a created item counts as a hit) or miss, see
 * touch_miss_is_get_miss. */
enum store_status store_get(struct store *s, const char *key, size_t nkey,
                            const struct store_fetch_opts *opts, store_fetch_fn emit, void *ctx);
/* Replies sent from the item (no copy): inside a fetch callback, under its
 * shard lock, store_pin keeps `it` whole and where it is until a matching
 * store_unpin, from any thread, outside every store call.  A pinned item is
 * not evicted, moved by a page move, or changed in place; one deleted or
 * replaced meanwhile is freed by its last unpin.  False when pinned items
 * already hold their limit (a quarter of -m): the caller copies instead. */
bool store_pin(struct store *s, const struct item *it);
void store_unpin(struct store *s, const struct item *it);

/* touch: a fetch with touch and no value. */
enum store_status store_touch(struct store *s, const char *key, size_t nkey, rel_time_t exptime);
/* Classic and binary delete: cas_in 0 deletes whatever is there. */
enum store_status store_delete(struct store *s, const char *key, size_t nkey, uint64_t cas_in);

/* Drops a key without counting a delete: for a set whose allocation failed,
 * so that the old value does not outlive it (memcached does the same). */
void store_unlink(struct store *s, const char *key, size_t nkey);

/* incr (true) or decr (false) by delta; *value gets the result. */
enum store_status store_arith(struct store *s, const char *key, size_t nkey, bool incr,
                              uint64_t delta, uint64_t *value, uint64_t *cas_out);

/* Invalidates every item now (delay <= 0) or at the given protocol exptime. */
void store_flush(struct store *s, int64_t delay);

/* Moves slab pages toward the size classes under pressure (and gives back
 * pages above a lowered limit); returns pages moved.  The maintenance thread
 * calls this once a second when cfg.balance is set; tests call it directly. */
unsigned store_balance(struct store *s);

/* Unlinks every expired and flushed item, class by class; returns how
 * many.  Tests call it; the maintenance thread instead crawls a bounded
 * number of chunks per second (see store.c) while the crawler is enabled. */
uint64_t store_crawl(struct store *s);

/* lru_crawler enable/disable (returns the previous state), and its state. */
bool store_crawler_enable(struct store *s, bool on);
bool store_crawler_enabled(const struct store *s);
/* lru_crawler tocrawl (chunks per class in a requested crawl, 0 = all) and
 * sleep (microseconds between batches); a negative value leaves it as is. */
void store_crawler_tune(struct store *s, int64_t tocrawl, int64_t sleep_us);
/* lru_crawler crawl: the classes whose bit is set (bit n = class n) are
 * crawled by the maintenance thread at once; lru_crawler_running stays set
 * until it is done. */
enum store_crawl_start { STORE_CRAWL_STARTED, STORE_CRAWL_RUNNING };
enum store_crawl_start store_crawl_request(struct store *s, uint64_t classes);

/* slabs automove: 0 off, 1 and 2 on (the maintenance thread balances pages
 * once a second; Larder has one balancing rule for both levels). */
void store_set_automove(struct store *s, unsigned level);
unsigned store_automove(const struct store *s);
/* slabs reassign, see slab_reassign(): live items move to free chunks of
 * their class (slab_reassign_rescues) or are evicted when there are none
 * (slab_reassign_evictions_nomem). */
enum slab_reassign_result store_reassign(struct store *s, int src, int dst);

/* Events for watchers and logs: an eviction (the victim, read under its
 * shard lock, before it is unlinked) or a page move between classes.  The
 * hook runs on the thread that caused it, under store locks: it must only
 * copy what it needs and must not call into the store.  Set once, before
 * the workers start. */
enum store_event_kind { STORE_EVENT_EVICTION, STORE_EVENT_PAGE_MOVE };
struct store_event {
    enum store_event_kind kind;
    const struct item *item; /* eviction */
    unsigned src, dst;       /* page move: classes, 0 = the system */
};
typedef void (*store_event_fn)(void *ctx, const struct store_event *ev);
void store_set_event_hook(struct store *s, store_event_fn fn, void *ctx);

/* Cas as clients see it: 0 when cas is disabled. */
uint64_t store_item_cas(const struct store *s, const struct item *it);

void store_stats(struct store *s, struct store_stats *out);
void store_stats_reset(struct store *s);
/* Fills out[1..SLAB_CLASS_MAX] (out[0] is zeroed). */
void store_class_stats(struct store *s, struct store_class_stats out[SLAB_CLASS_MAX + 1]);
struct slabs *store_slabs(struct store *s);
/* The pending delayed flush_all's line (memcached's "oldest"), or 0. */
rel_time_t store_oldest_live(struct store *s);
void store_set_limit(struct store *s, size_t mem_limit);

/* Visits live items (under their shard lock), at most `limit` (0: all). */
void store_walk(struct store *s, unsigned limit, store_emit_fn fn, void *ctx);

/* The same walk in store_walk_parts() pieces (a slice of one shard's
 * buckets each, under its lock), so a long dump can stop between them and
 * go on later, however many items one shard holds.  Not a snapshot: an
 * item stored between parts may be missed, but one linked for the whole
 * walk is met exactly once, whatever rehashing goes on between parts. */
unsigned store_walk_parts(void);
void store_walk_part(struct store *s, unsigned part, store_emit_fn fn, void *ctx);

/* --- meta commands --------------------------------------------------------
 * The meta commands (server/meta.c) read and change item state the classic
 * ones never touch: the stale-while-revalidate bits ITEM_STALE and
 * ITEM_TOKEN, and metadata read before the access updates it.  Each call
 * does its whole read-modify-write under one shard lock; mg is store_get. */

/* md: delete, or with `invalidate` keep the item marked stale with a new cas
 * and no win token (and a new exptime when new_ttl).  With has_cas only an
 * item whose cas equals `cas` is touched (0 never matches a live item).
 * STORE_OK, STORE_NOT_FOUND or STORE_EXISTS (cas mismatch). */
struct store_mdelete_opts {
    bool has_cas;
    uint64_t cas;
    bool invalidate;
    bool new_ttl;
    rel_time_t exptime;
    /* the counting rule: meta counts a cas mismatch as a delete miss,
     * classic and binary deletes do not (memcached) */
    bool mismatch_is_miss;
};
enum store_status store_mdelete(struct store *s, const char *key, size_t nkey,
                                const struct store_mdelete_opts *o);

/* ma: incr/decr with a cas check (cas_in 0: none), creation on a miss with
 * an initial value (N, J), and a new exptime on success (T). */
struct store_marith_opts {
    bool incr;
    uint64_t delta;
    uint64_t cas_in;
    bool vivify;
    uint64_t initial;
    rel_time_t vivify_exptime;
    bool vivify_last;
    bool touch;
    rel_time_t exptime;
};
struct store_marith_result {
    uint64_t value;
    uint64_t cas;
    rel_time_t exptime_before; /* CLOCK_NEVER for a created item */
    rel_time_t exptime;        /* after the command */
    bool created;
};
/* STORE_OK (counter changed or created), STORE_NOT_FOUND, STORE_EXISTS,
 * STORE_NON_NUMERIC, STORE_NO_MEMORY (a longer value did not fit) or
 * STORE_NOT_STORED (no memory to create the item on a miss). */
enum store_status store_marith(struct store *s, const char *key, size_t nkey,
                               const struct store_marith_opts *o, struct store_marith_result *r);

/* me: reads an item without bumping it or counting a get. */
enum store_status store_peek(struct store *s, const char *key, size_t nkey, store_emit_fn emit,
                             void *ctx);

#endif
