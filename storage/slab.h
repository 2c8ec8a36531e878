/*
 * slab: item memory in pages, cut into size classes, with a hard limit.
 *
 * Memory is taken from the system one page at a time (1 MB, or the item size
 * limit if larger) and a page belongs to one class for good.  Class chunk
 * sizes grow by a factor (-f) from a minimum (-n), rounded to 8 bytes.
 *
 * When a class has no free chunk and no page can be had under the limit, the
 * class's CLOCK hand sweeps its chunks: a linked item with the ACTIVE bit set
 * is spared once (the bit is cleared), the first one without it is offered to
 * the caller's reclaim function, which unlinks it if it can.  A CLOCK needs
 * no list pointers in items and no lock on a cache hit (a hit only sets a bit),
 * which is why Larder uses it instead of memcached's linked LRUs.
 *
 * Like memcached, a class that has no page at all may take its first one even
 * when the limit is reached, so that a new item size never fails outright;
 * the overshoot is at most one page per class (stats: slab_first_pages).
 */
#ifndef LARDER_SLAB_H
#define LARDER_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "item.h"

#define SLAB_CLASS_MAX 63 /* class ids 1..63; 0 means "too large" */

enum slab_reclaim {
    SLAB_RECLAIM_NONE = 0, /* could not take it: keep sweeping */
    SLAB_RECLAIM_EVICTED,  /* a live item was evicted */
    SLAB_RECLAIM_EXPIRED,  /* an expired or flushed item was reused */
};

/* Called under the class lock with a LINKED item.  To take it, the function
 * must unlink it and set its state to ITEM_ALLOCATED; it must not block. */
typedef enum slab_reclaim (*slab_reclaim_fn)(void *ctx, struct item *victim);

struct slab_class_stats {
    uint32_t chunk_size;
    uint32_t per_page;
    uint64_t pages;
    uint64_t used_chunks;
    uint64_t free_chunks;
    uint64_t evicted;
    uint64_t evicted_unfetched;
    uint64_t reclaimed;
    uint64_t expired_unfetched;
    uint64_t outofmemory;
    uint64_t evicted_time; /* seconds since last access of the latest victim */
};

struct slabs;

/* Returns NULL when the arguments make no class (page smaller than min chunk). */
struct slabs *slab_create(size_t mem_limit, size_t page_size, double factor, size_t min_chunk);
void slab_destroy(struct slabs *sl);

/* Class id for an item of `total` bytes, or 0 if it exceeds the largest class. */
unsigned slab_class_for(const struct slabs *sl, size_t total);
unsigned slab_class_count(const struct slabs *sl);
size_t slab_page_size(const struct slabs *sl);

/* A chunk of class `cls` in state ITEM_ALLOCATED, or NULL when memory is
 * exhausted (reclaim may be NULL to forbid eviction, as with -M). */
struct item *slab_alloc(struct slabs *sl, unsigned cls, slab_reclaim_fn reclaim, void *ctx);

/* Returns an ALLOCATED or just-unlinked chunk to its class. */
void slab_free(struct slabs *sl, struct item *it);

/* Changes the limit at run time; pages already taken are kept. */
void slab_set_limit(struct slabs *sl, size_t mem_limit);
size_t slab_limit(const struct slabs *sl);
/* Bytes of page memory taken from the system. */
size_t slab_total_malloced(const struct slabs *sl);
uint64_t slab_first_pages(const struct slabs *sl);

/* Copies class `cls` figures (1 <= cls <= slab_class_count). */
void slab_class_stats(struct slabs *sl, unsigned cls, struct slab_class_stats *out);

/* The oldest last-access time among the class's live items, or 0 when it
 * has none: memcached's per-class "age" is now minus this.  A CLOCK keeps no
 * LRU tail to read it from, so this walks the class's chunks under its lock
 * (about a millisecond per 500,000 items); only stats calls it. */
rel_time_t slab_class_oldest(struct slabs *sl, unsigned cls);

/* Visits every chunk of class `cls` under its lock (used by the crawler-free
 * cachedump and by tests); fn sees the chunk and its state. */
void slab_walk(struct slabs *sl, unsigned cls, void (*fn)(void *ctx, struct item *it), void *ctx);

#endif
