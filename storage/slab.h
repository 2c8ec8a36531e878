/*
 * slab: item memory in small pages, cut into size classes, under a hard
 * limit, with pages that move to the classes that need them.
 *
 * Size classes are every 8 bytes up to SLAB_FINE_MAX, then grow by an even
 * factor that spends every class id left, up to the largest item (-I).
 * Fine classes at the small end, where most items are, keep rounding waste
 * to a few bytes; memcached's uniform 1.25 factor wastes 12% on average
 * there.  Pages are only SLAB_PAGE_SIZE (64 KB) for small chunks and are
 * not tied to a class for good, so a class costs little memory until it is
 * used.
 *
 * An item above SLAB_PAGE_SIZE / 2 has an exact page: one allocation sized
 * to it (a 4 KB multiple), charged that against the limit, freed with the
 * item.  Its class (they double in size) only groups such items for the
 * CLOCK and the balancer, so a 300 KB item costs 300 KB, not the 331 KB of
 * a 1.25-factor class, and their few classes leave the ids to the small
 * pages: 256 B-32 KB step by 1.15 with -I 1m.  With a memory file (-e)
 * pages are whole frames, so there are no exact pages and the classes are
 * geometric up to -I.  -f only has to be above 1: the spacing follows from
 * the class ids.
 *
 * The limit (-m) counts page bytes and is never exceeded.  When a class has
 * no free chunk and no page can be had:
 *   - a whole empty page of another class is taken first (after a
 *     flush_all or a mass expiry), at no eviction;
 *   - a class that has pages runs its CLOCK hand: a linked item with the
 *     ACTIVE bit set is spared once (the bit is cleared), the first one
 *     without it is offered to the caller's reclaim function, which unlinks
 *     it if it can (an exact class goes on until the new item's page fits).
 *     (A hit sets ACTIVE from an item's second fetch on, as memcached's
 *     bump does.)  A CLOCK needs no list pointers in items and no lock on a
 *     cache hit (a hit only sets a bit): that is why Larder uses it instead of
 *     memcached's linked LRUs;
 *   - a class that has none takes a page from the class with the most pages,
 *     evicting what is on it.
 * slab_balance(), called once a second by the store's maintenance thread,
 * moves pages to where evictions cost least from where items cost most,
 * an item costing its chunk size times its idle time: memory goes to the
 * items that buy the most hits per byte, and a change in value sizes does
 * not starve the new sizes (memcached's "slab calcification").
 */
#ifndef LARDER_SLAB_H
#define LARDER_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "item.h"

/* Class ids 1..63, 0 meaning "too large": tools written for memcached (its
 * MAX_NUMBER_OF_SLAB_CLASSES) ask for no class above 63. */
#define SLAB_CLASS_MAX 63
#define SLAB_PAGE_SIZE (64u * 1024)
#define SLAB_FINE_MAX 256

enum slab_reclaim {
    SLAB_RECLAIM_NONE = 0, /* could not take it: keep sweeping */
    SLAB_RECLAIM_EVICTED,  /* a live item was evicted */
    SLAB_RECLAIM_EXPIRED,  /* an expired or flushed item was reused */
    SLAB_RECLAIM_KEPT,     /* live, and eviction is off (-M): only dead items go */
};

/* Called under the class lock with a LINKED item.  To take it, the function
 * must unlink it and set its state to ITEM_ALLOCATED; it must not block. */
typedef enum slab_reclaim (*slab_reclaim_fn)(void *ctx, struct item *victim);

struct slab_class_stats {
    uint32_t chunk_size;
    uint32_t per_page;
    uint32_t page_bytes;
    uint64_t pages;
    uint64_t used_chunks;
    uint64_t free_chunks;
    uint64_t evicted;
    uint64_t evicted_unfetched;
    uint64_t reclaimed;
    uint64_t expired_unfetched;
    uint64_t outofmemory;
    uint64_t evicted_time; /* seconds since last access of the latest victim */
    uint64_t evicted_nonzero; /* victims that had an expiry time */
    uint64_t evicted_active;  /* victims with the ACTIVE bit (page moves, long sweeps) */
    uint64_t direct_reclaims; /* victims an allocating caller's CLOCK sweep took */
    uint64_t crawler_reclaimed; /* dead items the crawler freed (also in reclaimed) */
    uint64_t crawler_checked;
};

struct slabs;
struct mfile;

/* Classes for items up to item_max bytes (header included).  NULL when the
 * arguments make no class (factor <= 1, item_max below the first class). */
struct slabs *slab_create(size_t mem_limit, size_t item_max, double factor, size_t min_chunk);
void slab_destroy(struct slabs *sl);

/* Takes pages from a memory file (-e) instead of malloc; call before the
 * first allocation.  The limit then counts whole frames (see mfile.h). */
void slab_use_file(struct slabs *sl, struct mfile *mf);

/* What slab_adopt's callback decides for a chunk found linked in a file. */
enum slab_adopt {
    SLAB_ADOPT_KEEP, /* the callback linked it: it stays */
    SLAB_ADOPT_DEAD, /* expired or flushed while the server was down */
    SLAB_ADOPT_BAD,  /* not whole, or a duplicate: dropped */
};
typedef enum slab_adopt (*slab_adopt_fn)(void *ctx, struct item *it);

struct slab_adopt_counts {
    uint64_t pages, kept, dead, bad;
};

/* At start, before any other thread runs: takes the pages a reused memory
 * file records, offers fn every chunk whose header is that of a linked item
 * of the right class and size, and puts the rest on the free lists.  A
 * chunk a writer held when the process died counts as bad.  Holds no lock
 * while fn runs, so fn may free items. */
void slab_adopt(struct slabs *sl, slab_adopt_fn fn, void *ctx, struct slab_adopt_counts *out);
/* How many chunks slab_adopt would offer fn, at most: to size a hash table. */
uint64_t slab_adopt_estimate(struct slabs *sl);

/* Class id for an item of `total` bytes, or 0 if it exceeds the largest class. */
unsigned slab_class_for(const struct slabs *sl, size_t total);
unsigned slab_class_count(const struct slabs *sl);

/* A chunk of class `cls` in state ITEM_ALLOCATED, or NULL when memory is
 * exhausted (reclaim may be NULL to forbid eviction, as with -M). */
struct item *slab_alloc(struct slabs *sl, unsigned cls, slab_reclaim_fn reclaim, void *ctx);
/* The same for an item of `total` bytes (header included): a class with
 * exact pages makes the page that size, so the chunk holds `total` bytes
 * and no more; other classes' chunks hold their chunk size. */
struct item *slab_alloc_size(struct slabs *sl, unsigned cls, size_t total, slab_reclaim_fn reclaim,
                             void *ctx);

/* Returns an ALLOCATED or just-unlinked chunk to its class. */
void slab_free(struct slabs *sl, struct item *it);

/* Changes the limit at run time.  Pages above a lowered limit are given back
 * by slab_balance, evicting what is on them. */
void slab_set_limit(struct slabs *sl, size_t mem_limit);
size_t slab_limit(const struct slabs *sl);
/* Bytes of page memory taken from the system. */
size_t slab_total_malloced(const struct slabs *sl);
/* Pages moved from one class to another so far (memcached's slabs_moved). */
uint64_t slab_pages_moved(const struct slabs *sl);

/* Called after a page moved from class src to class dst; 0 stands for the
 * system (a page given back, or taken new).  Set once, before allocations;
 * it may run under a class lock and must not call back into the slabs. */
typedef void (*slab_move_fn)(void *ctx, unsigned src, unsigned dst);
void slab_set_move_hook(struct slabs *sl, slab_move_fn fn, void *ctx);

/* Called under the class lock with a LINKED item and a free chunk of its
 * class: to take it, the function copies the item into `to`, links `to` in
 * its place and sets `from` to ITEM_ALLOCATED, and returns true; it must
 * not block (a busy shard answers false). */
typedef bool (*slab_relocate_fn)(void *ctx, struct item *from, struct item *to);

/* memcached's "slabs reassign": one page of class src (-1: the class with
 * the most memory) emptied and given to class dst (0: back to the system,
 * memcached's global page pool; an exact class banks the memory for its
 * next item's page).  Live items on it move to free chunks of
 * their class elsewhere (*rescued) while there are some, and are evicted
 * otherwise (*evicted).  Runs at once, under the source's lock: a page is
 * at most 64 KB of chunks or one large item. */
enum slab_reassign_result {
    SLAB_REASSIGN_OK,
    SLAB_REASSIGN_SAME,     /* src == dst */
    SLAB_REASSIGN_BADCLASS, /* no such class */
    SLAB_REASSIGN_NOSPARE,  /* src has fewer than two pages */
    SLAB_REASSIGN_BUSY,     /* every page of src is pinned by a writer */
};
enum slab_reassign_result slab_reassign(struct slabs *sl, int src, int dst, slab_reclaim_fn reclaim,
                                        slab_relocate_fn relocate, void *ctx, uint64_t *evicted,
                                        uint64_t *rescued);

/* The expiry crawler: looks at up to max_chunks chunks of class cls from
 * where it last stopped, offering each linked one to `dead`, which unlinks
 * it (returning SLAB_RECLAIM_EXPIRED) only if it is expired or flushed.
 * `wrapped` says the walk reached the end of the class. */
struct slab_crawl_result {
    uint64_t checked, reclaimed;
    bool wrapped;
};
void slab_crawl(struct slabs *sl, unsigned cls, uint32_t max_chunks, slab_reclaim_fn dead,
                void *ctx, struct slab_crawl_result *out);

/* Moves pages toward classes under pressure and gives back pages above the
 * limit; returns how many pages moved.  Cheap when there is nothing to do. */
unsigned slab_balance(struct slabs *sl, slab_reclaim_fn reclaim, void *ctx);

/* Copies class `cls` figures (1 <= cls <= slab_class_count). */
void slab_class_stats(struct slabs *sl, unsigned cls, struct slab_class_stats *out);

/* Zeroes the event counters (stats reset); gauges stay. */
void slab_stats_reset(struct slabs *sl);

/* The oldest last-access time among the class's live items, or 0 when it
 * has none: memcached's per-class "age" is now minus this.  A CLOCK keeps no
 * LRU tail to read it from, so this walks the class's chunks under its lock
 * (about a millisecond per 500,000 items); only stats calls it. */
rel_time_t slab_class_oldest(struct slabs *sl, unsigned cls);

/* Visits every chunk of class `cls` under its lock (used by tests); fn sees
 * the chunk and its state. */
void slab_walk(struct slabs *sl, unsigned cls, void (*fn)(void *ctx, struct item *it), void *ctx);

#endif
