/*
 * slab: size classes, pages, free lists, the CLOCK sweep and page moves;
 * see slab.h.
 *
 * Locking: each class has its own lock, and no code path holds two class
 * locks at once (a page moves by being emptied and freed under the donor's
 * lock, then grown under the taker's).  The reclaim callback takes a shard
 * lock with trylock only, so the store's shard -> class lock order is never
 * inverted.  Byte totals are atomics so that any thread can reserve a page
 * against the limit without a global lock.
 */
#include "slab.h"
#include "lock.h"
#include "mfile.h"

#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* How many chunks one allocation may inspect before giving up on sparing
 * active items: a full circle would stall a writer on a huge class. */
#define SLAB_SWEEP_MAX 2048
/* With eviction off, live items the sweep meets before giving up: it is
 * only looking for expired ones (memcached looks at 5). */
#define SLAB_SWEEP_KEPT_MAX 64
/* Pages one allocation may take from other classes before giving up. */
#define SLAB_STEAL_MAX 64
/* Pages the balancer moves per call at most (2 MB of small pages). */
#define SLAB_BALANCE_MOVES 32
/* Chunks sampled to judge how idle a class's items are. */
#define SLAB_SAMPLE 64
/* A free chunk counts as this idle: memory nobody uses. */
#define SLAB_IDLE_FREE (24u * 3600)
/* Seconds added to every idle time the balancer compares, so that classes
 * whose items all die young (within the second) still compare by size. */
#define SLAB_BALANCE_SLACK 2
/* A class the balancer gave pages to is no donor for this long: its new
 * free chunks would otherwise make it look idle at the next call. */
#define SLAB_BALANCE_COOL 5
/* Exact pages (see slab.h) start above this chunk size, the classes above
 * it doubling: their spacing only groups items for the CLOCK. */
#define SLAB_EXACT_MIN (SLAB_PAGE_SIZE / 2)
/* What an exact page is charged in: the kernel's page. */
#define SLAB_EXACT_GRAIN 4096u

/* The head of an exact page, before its one chunk: where the page is in its
 * class's array (so that a freed item finds its page at once) and what it
 * costs against the limit. */
struct slab_exact {
    uint32_t index;
    uint32_t charge;
    uint64_t pad; /* the item stays 16-byte aligned */
};

struct slab_class {
    struct lock lock;
    uint8_t id;
    uint32_t size;
    uint32_t per_page;
    uint32_t page_bytes;
    uint32_t page_cost; /* what a page counts against the limit (exact: the most) */
    bool exact;         /* one item a page, the page sized to the item */
    uint32_t base;      /* bytes before the first chunk of a page */
    uint64_t bank; /* exact: limit reserved by the balancer for the next page */
    char **pages;
    uint32_t npages;
    uint32_t pages_cap;
    uint64_t held; /* atomic: bytes of the class's pages, read without the lock */
    struct item *free_list;
    uint64_t nfree; /* written under the lock; atomic so a page search can skip unlocked */
    /* next chunk the CLOCK hand looks at */
    uint32_t hand_page;
    uint32_t hand_chunk;
    uint64_t evicted, evicted_unfetched, reclaimed, expired_unfetched, outofmemory;
    uint64_t evicted_time;
    uint64_t evicted_nonzero, evicted_active, direct_reclaims;
    /* since the last balance: CLOCK evictions and their summed idle seconds,
     * and allocations refused (under -M, the only sign of pressure) */
    uint64_t win_evicted, win_idle, win_oom;
    uint32_t sample_seed;
    /* the expiry crawler's place in the class, and what it found */
    uint32_t crawl_page, crawl_chunk;
    uint64_t crawler_reclaimed, crawler_checked;
    rel_time_t empty_search; /* second of the last search for an empty page that failed */
    rel_time_t fed; /* second the balancer last gave the class pages */
} __attribute__((aligned(64)));

struct slabs {
    unsigned nclasses;
    size_t item_max, first; /* what the layout was made from */
    uint64_t limit; /* atomic, bytes */
    uint64_t total; /* atomic, bytes of pages taken */
    uint64_t moved; /* atomic */
    struct mfile *mf; /* -e: pages come from here */
    slab_move_fn on_move; /* set before any thread allocates */
    void *on_move_ctx;
    struct slab_class cls[SLAB_CLASS_MAX + 1];
};

static size_t slab_round8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Classes every 8 bytes to SLAB_FINE_MAX, then spaced evenly by a factor
 * that spends every class id left (the user's factor when it is coarser
 * than needed is not kept: finer classes waste less), up to item_max, or
 * with exact pages up to SLAB_EXACT_MIN and doubling from there. */
static unsigned slab_layout(struct slabs *sl, size_t item_max, size_t first, bool exact) {
    unsigned n = 0;
    size_t size = first;
    while (size < SLAB_FINE_MAX && size < item_max && n < SLAB_CLASS_MAX - 1) {
        sl->cls[++n].size = (uint32_t)size;
        size += 8;
    }
    size_t mid_top = exact && item_max > SLAB_EXACT_MIN ? SLAB_EXACT_MIN : item_max;
    unsigned doubling = 0;
    for (size_t d = mid_top; d < item_max; d *= 2)
        doubling++;
    /* classes left for (size, mid_top], mid_top's own included */
    unsigned left = SLAB_CLASS_MAX - n - doubling;
    double factor = size < mid_top && left > 1 ? pow((double)mid_top / size, 1.0 / (left - 1)) : 2;
    while (size < mid_top && n < SLAB_CLASS_MAX - doubling - 1) {
        sl->cls[++n].size = (uint32_t)size;
        size_t next = slab_round8((size_t)ceil((double)size * factor));
        size = next < size + 8 ? size + 8 : next;
    }
    sl->cls[++n].size = (uint32_t)slab_round8(mid_top);
    for (size_t d = mid_top * 2; doubling > 0; d *= 2, doubling--)
        sl->cls[++n].size = (uint32_t)slab_round8(d < item_max ? d : item_max);
    return n;
}

/* Sizes every class's pages: small chunks share SLAB_PAGE_SIZE pages, a
 * larger chunk has a page to itself, sized to the item when exact. */
static void slab_size_pages(struct slabs *sl, bool exact) {
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        c->id = (uint8_t)i;
        c->per_page = c->size > SLAB_PAGE_SIZE / 2 ? 1 : SLAB_PAGE_SIZE / c->size;
        c->exact = exact && c->size > SLAB_EXACT_MIN;
        c->base = c->exact ? sizeof(struct slab_exact) : 0;
        c->page_bytes = c->base + c->per_page * c->size;
        c->page_cost = sl->mf ? (uint32_t)mfile_page_cost(c->page_bytes) : c->page_bytes;
        c->sample_seed = 2654435761u * i;
    }
}

struct slabs *slab_create(size_t mem_limit, size_t item_max, double factor, size_t min_chunk) {
    size_t first = slab_round8(ITEM_HEADER + min_chunk);
    if (factor <= 1.0 || item_max < first || item_max > UINT32_MAX / 2)
        return NULL;
    struct slabs *sl = calloc(1, sizeof(*sl));
    if (sl == NULL)
        return NULL;
    slab_set_limit(sl, mem_limit);
    sl->item_max = item_max;
    sl->first = first;
    sl->nclasses = slab_layout(sl, item_max, first, true);
    for (unsigned i = 1; i <= sl->nclasses; i++)
        lock_init(&sl->cls[i].lock);
    slab_size_pages(sl, true);
    return sl;
}

void slab_destroy(struct slabs *sl) {
    if (sl == NULL)
        return;
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        for (uint32_t p = 0; p < c->npages && sl->mf == NULL; p++)
            free(c->pages[p]); /* a file's pages stay in it, for the next start */
        free(c->pages);
    }
    free(sl);
}

/* A file's pages are whole frames: no exact pages, so the classes are laid
 * out again, geometric to the largest item. */
void slab_use_file(struct slabs *sl, struct mfile *mf) {
    sl->mf = mf;
    unsigned old = sl->nclasses;
    sl->nclasses = slab_layout(sl, sl->item_max, sl->first, false);
    for (unsigned i = old + 1; i <= sl->nclasses; i++)
        lock_init(&sl->cls[i].lock);
    slab_size_pages(sl, false);
}

unsigned slab_class_for(const struct slabs *sl, size_t total) {
    unsigned lo = 1, hi = sl->nclasses;
    if (total > sl->cls[hi].size)
        return 0;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (total <= sl->cls[mid].size)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

unsigned slab_class_count(const struct slabs *sl) { return sl->nclasses; }

void slab_set_limit(struct slabs *sl, size_t mem_limit) {
    __atomic_store_n(&sl->limit, (uint64_t)mem_limit, __ATOMIC_RELAXED);
}

size_t slab_limit(const struct slabs *sl) { return __atomic_load_n(&sl->limit, __ATOMIC_RELAXED); }

size_t slab_total_malloced(const struct slabs *sl) {
    return __atomic_load_n(&sl->total, __ATOMIC_RELAXED);
}

uint64_t slab_pages_moved(const struct slabs *sl) {
    return __atomic_load_n(&sl->moved, __ATOMIC_RELAXED);
}

void slab_set_move_hook(struct slabs *sl, slab_move_fn fn, void *ctx) {
    sl->on_move = fn;
    sl->on_move_ctx = ctx;
}

/* One page went from class src to class dst (0: to or from the system). */
static void slab_moved(struct slabs *sl, unsigned src, unsigned dst) {
    __atomic_add_fetch(&sl->moved, 1, __ATOMIC_RELAXED);
    if (sl->on_move != NULL)
        sl->on_move(sl->on_move_ctx, src, dst);
}

/* --- pages and free lists ------------------------------------------------- */

static bool slab_reserve(struct slabs *sl, size_t bytes) {
    uint64_t cur = __atomic_load_n(&sl->total, __ATOMIC_RELAXED);
    do {
        if (cur + bytes > __atomic_load_n(&sl->limit, __ATOMIC_RELAXED))
            return false;
    } while (!__atomic_compare_exchange_n(&sl->total, &cur, cur + bytes, false, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return true;
}

static void slab_unreserve(struct slabs *sl, size_t bytes) {
    __atomic_sub_fetch(&sl->total, bytes, __ATOMIC_RELAXED);
}

static inline struct item *slab_chunk(const struct slab_class *c, uint32_t page, uint32_t idx) {
    return (struct item *)(c->pages[page] + c->base + (size_t)idx * c->size);
}

static inline struct slab_exact *slab_exact_of(struct item *it) {
    return (struct slab_exact *)((char *)it - sizeof(struct slab_exact));
}

/* What page p of class c counts against the limit. */
static size_t slab_page_charge(const struct slab_class *c, uint32_t p) {
    return c->exact ? ((const struct slab_exact *)c->pages[p])->charge : c->page_cost;
}

static void slab_push_free(struct slab_class *c, struct item *it) {
    item_set_state(it, ITEM_FREE);
    it->hnext = c->free_list;
    c->free_list = it;
    __atomic_store_n(&c->nfree, c->nfree + 1, __ATOMIC_RELAXED);
}

static struct item *slab_pop_free(struct slab_class *c) {
    struct item *it = c->free_list;
    if (it != NULL) {
        c->free_list = it->hnext;
        __atomic_store_n(&c->nfree, c->nfree - 1, __ATOMIC_RELAXED);
    }
    return it;
}

/* npages is read without the lock by balancer checks. */
static void slab_set_npages(struct slab_class *c, uint32_t n) {
    __atomic_store_n(&c->npages, n, __ATOMIC_RELAXED);
    if (!c->exact)
        __atomic_store_n(&c->held, (uint64_t)n * c->page_bytes, __ATOMIC_RELAXED);
}

/* Whether the balancer fed class c pages in the last SLAB_BALANCE_COOL
 * seconds (read without its lock). */
static bool slab_cooling(const struct slab_class *c, rel_time_t now) {
    rel_time_t fed = __atomic_load_n(&c->fed, __ATOMIC_RELAXED);
    return fed != 0 && now - fed < SLAB_BALANCE_COOL;
}

/* Whether class c has a page to spare (read without its lock). */
static bool slab_spare(const struct slab_class *c) {
    return __atomic_load_n(&c->npages, __ATOMIC_RELAXED) >= 2;
}

static bool slab_page_slot(struct slab_class *c) {
    if (c->npages < c->pages_cap)
        return true;
    uint32_t cap = c->pages_cap ? c->pages_cap * 2 : 16;
    char **pages = realloc(c->pages, cap * sizeof(*pages));
    if (pages == NULL)
        return false;
    c->pages = pages;
    c->pages_cap = cap;
    return true;
}

/* Limit for an exact page of class c (locked): from what the balancer
 * banked for the class first. */
static bool slab_charge(struct slabs *sl, struct slab_class *c, size_t bytes) {
    if (c->bank >= bytes) {
        c->bank -= bytes;
        return true;
    }
    if (!slab_reserve(sl, bytes - c->bank))
        return false;
    c->bank = 0;
    return true;
}

/* A page for one item of `total` bytes, charged what it holds rounded up
 * to the kernel's page: a 300 KB item costs 300 KB, not the 327 KB of its
 * class or of the allocator's size class.  malloc may hand out a block
 * larger than asked (jemalloc has four sizes a doubling) whose tail pages
 * an earlier block left resident: they are given back to the kernel, so
 * the charge is what the page takes. */
static bool slab_grow_exact(struct slabs *sl, struct slab_class *c, size_t total) {
    if (total == 0 || total > c->size)
        total = c->size;
    size_t charge = (c->base + total + SLAB_EXACT_GRAIN - 1) / SLAB_EXACT_GRAIN * SLAB_EXACT_GRAIN;
    if (!slab_charge(sl, c, charge))
        return false;
    /* aligned, so the tail is whole pages (jemalloc otherwise offsets large
     * blocks by a random number of cache lines) */
    void *mem = NULL;
    char *page = posix_memalign(&mem, SLAB_EXACT_GRAIN, charge) == 0 ? mem : NULL;
    size_t usable = page ? malloc_usable_size(page) : 0;
    if (page != NULL && usable >= charge + SLAB_EXACT_GRAIN) {
        if ((uintptr_t)page % SLAB_EXACT_GRAIN == 0)
            madvise(page + charge, (usable - charge) / SLAB_EXACT_GRAIN * SLAB_EXACT_GRAIN,
                    MADV_DONTNEED);
        else if (slab_reserve(sl, usable - charge))
            charge = usable; /* cannot give the tail back: count it */
        else {
            free(page);
            page = NULL;
        }
    }
    if (page == NULL) {
        slab_unreserve(sl, charge);
        return false;
    }
    *(struct slab_exact *)page = (struct slab_exact){.index = c->npages, .charge = (uint32_t)charge};
    c->pages[c->npages] = page;
    slab_set_npages(c, c->npages + 1);
    __atomic_add_fetch(&c->held, charge, __ATOMIC_RELAXED);
    struct item *it = slab_chunk(c, c->npages - 1, 0);
    it->clsid = c->id;
    it->bits = 0;
    it->atime = 0;
    slab_push_free(c, it);
    return true;
}

/* Takes a new page for class c (locked) if the limit allows; its chunks go
 * on the free list, in address order.  `total` sizes an exact page (0: the
 * class's largest item); other classes' pages do not depend on it. */
static bool slab_grow(struct slabs *sl, struct slab_class *c, size_t total) {
    if (!slab_page_slot(c))
        return false;
    if (c->exact)
        return slab_grow_exact(sl, c, total);
    if (!slab_reserve(sl, c->page_cost))
        return false;
    char *page = sl->mf ? mfile_page_get(sl->mf, c->page_bytes) : malloc(c->page_bytes);
    if (page == NULL) {
        slab_unreserve(sl, c->page_cost);
        return false;
    }
    c->pages[c->npages] = page;
    slab_set_npages(c, c->npages + 1);
    for (uint32_t i = c->per_page; i-- > 0;) {
        struct item *it = (struct item *)(page + (size_t)i * c->size);
        it->clsid = c->id;
        it->bits = 0;
        it->atime = 0;
        slab_push_free(c, it);
    }
    /* Only now, every chunk header valid, may a restart scan the page. */
    if (sl->mf)
        mfile_page_commit(sl->mf, page, c->id);
    return true;
}

/* Takes page p, with nothing on it any more, off class c (locked), frees it
 * and gives back its charge, which it returns. */
static size_t slab_drop_page(struct slabs *sl, struct slab_class *c, uint32_t p) {
    char *page = c->pages[p];
    size_t charge = slab_page_charge(c, p);
    uint32_t last = c->npages - 1;
    c->pages[p] = c->pages[last];
    if (c->exact) {
        ((struct slab_exact *)c->pages[p])->index = p;
        __atomic_sub_fetch(&c->held, charge, __ATOMIC_RELAXED);
    }
    slab_set_npages(c, last);
    if (c->hand_page == last || c->hand_page >= c->npages) {
        c->hand_page = p < c->npages ? p : 0;
        c->hand_chunk = 0;
    }
    if (sl->mf)
        mfile_page_put(sl->mf, page);
    else
        free(page);
    slab_unreserve(sl, charge);
    return charge;
}

/* An exact page's item is gone (freed, evicted, expired): so is the page. */
static void slab_drop_exact(struct slabs *sl, struct slab_class *c, struct item *it) {
    item_set_state(it, ITEM_FREE);
    slab_drop_page(sl, c, slab_exact_of(it)->index);
}

/* Empties page p of class c (locked): evicts its live items and takes its
 * chunks off the free list, then frees it; returns the bytes of limit given
 * back.  0, with the page kept, when a chunk is held by a writer or its
 * shard is busy. */
static size_t slab_release_page(struct slabs *sl, struct slab_class *c, uint32_t p,
                                slab_reclaim_fn reclaim, void *ctx) {
    char *page = c->pages[p];
    /* A chunk a writer is filling pins the page: find out before evicting
     * anything, or the evictions would buy nothing. */
    for (uint32_t i = 0; i < c->per_page; i++) {
        uint8_t st = item_state(slab_chunk(c, p, i));
        if (st == ITEM_ALLOCATED || (st == ITEM_LINKED && reclaim == NULL))
            return 0;
    }
    for (uint32_t i = 0; i < c->per_page; i++) {
        struct item *it = slab_chunk(c, p, i);
        uint8_t st = item_state(it);
        if (st != ITEM_LINKED)
            continue;
        bool fetched = item_bits(it) & ITEM_FETCHED;
        bool active = item_bits(it) & ITEM_ACTIVE;
        bool expires = it->exptime != CLOCK_NEVER;
        enum slab_reclaim r = reclaim(ctx, it);
        if (r == SLAB_RECLAIM_NONE || r == SLAB_RECLAIM_KEPT)
            return 0;
        c->evicted += r == SLAB_RECLAIM_EVICTED;
        c->evicted_nonzero += r == SLAB_RECLAIM_EVICTED && expires;
        c->evicted_active += r == SLAB_RECLAIM_EVICTED && active;
        c->evicted_unfetched += r == SLAB_RECLAIM_EVICTED && !fetched;
        c->reclaimed += r == SLAB_RECLAIM_EXPIRED;
        c->expired_unfetched += r == SLAB_RECLAIM_EXPIRED && !fetched;
        slab_push_free(c, it);
    }
    for (struct item **pp = &c->free_list; *pp != NULL;) {
        char *at = (char *)*pp;
        if (at >= page && at < page + c->page_bytes) {
            *pp = (*pp)->hnext;
            __atomic_store_n(&c->nfree, c->nfree - 1, __ATOMIC_RELAXED);
        } else {
            pp = &(*pp)->hnext;
        }
    }
    return slab_drop_page(sl, c, p);
}

static bool slab_page_is_free(const struct slab_class *c, uint32_t p) {
    for (uint32_t i = 0; i < c->per_page; i++)
        if (item_state(slab_chunk(c, p, i)) != ITEM_FREE)
            return false;
    return true;
}

/* Frees one page of class c (locking it) and returns the bytes of limit it
 * gave back, or 0.
 * With free_only, only a page with nothing on it (memory that costs no
 * eviction, the only kind -M may take); otherwise one of the pages from the
 * CLOCK hand on, whose items are the next to go anyway. */
static size_t slab_give_page(struct slabs *sl, struct slab_class *c, bool free_only,
                             slab_reclaim_fn reclaim, void *ctx) {
    size_t freed = 0;
    lock_take(&c->lock);
    if (free_only) {
        for (uint32_t p = 0; p < c->npages && c->nfree >= c->per_page && freed == 0; p++)
            if (slab_page_is_free(c, p))
                freed = slab_release_page(sl, c, p, NULL, NULL);
    } else {
        for (uint32_t tries = 0; tries < 4 && tries < c->npages && freed == 0; tries++) {
            uint32_t p = (c->hand_page + tries) % c->npages;
            freed = slab_release_page(sl, c, p, reclaim, ctx);
        }
    }
    lock_give(&c->lock);
    return freed;
}

/* The class holding the most page memory, other than `except`. */
static struct slab_class *slab_biggest(struct slabs *sl, const struct slab_class *except) {
    struct slab_class *best = NULL;
    uint64_t most = 0;
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        uint64_t held = __atomic_load_n(&c->held, __ATOMIC_RELAXED);
        if (c != except && held > most) {
            most = held;
            best = c;
        }
    }
    return best;
}

/* Frees a page for class `taker`: an empty page of any class first, then
 * (evicting, when reclaim allows) one of the biggest class, then of any
 * other class with pages.  Bytes freed, or 0. */
static size_t slab_free_a_page(struct slabs *sl, const struct slab_class *taker,
                               slab_reclaim_fn reclaim, void *ctx, unsigned *donor) {
    rel_time_t now = clock_now();
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        /* Without a page's worth of free chunks there is no empty page:
         * skip the class without taking its lock.  Nor are the pages the
         * balancer has just given a class taken back before it fills them. */
        if (c != taker && __atomic_load_n(&c->nfree, __ATOMIC_RELAXED) >= c->per_page &&
            (taker == NULL || !slab_cooling(c, now))) {
            size_t freed = slab_give_page(sl, c, true, NULL, NULL);
            if (freed > 0) {
                *donor = i;
                return freed;
            }
        }
    }
    if (reclaim == NULL)
        return 0;
    struct slab_class *big = slab_biggest(sl, taker);
    size_t freed = big ? slab_give_page(sl, big, false, reclaim, ctx) : 0;
    *donor = big ? big->id : 0;
    for (unsigned i = 1; i <= sl->nclasses && freed == 0; i++) {
        struct slab_class *c = &sl->cls[i];
        if (c != taker && c != big && __atomic_load_n(&c->held, __ATOMIC_RELAXED) > 0) {
            freed = slab_give_page(sl, c, false, reclaim, ctx);
            *donor = i;
        }
    }
    return freed;
}

/* --- pages found in a memory file ------------------------------------------ */

struct slab_adopt_ctx {
    struct slabs *sl;
    slab_adopt_fn fn;
    void *ctx;
    struct slab_adopt_counts *out;
};

/* Whether a chunk's header can be that of a linked item of class c: the
 * state word is written last (store.c), the rest must fit the chunk. */
static bool slab_chunk_linked(const struct slab_class *c, const struct item *it) {
    return it->state == ITEM_LINKED && it->clsid == c->id && it->nkey >= 1 &&
           it->nkey <= ITEM_KEY_MAX && item_total(it->nkey, it->nbytes) <= c->size;
}

static bool slab_adopt_page(void *arg, void *page, unsigned cls, size_t bytes) {
    struct slab_adopt_ctx *a = arg;
    struct slabs *sl = a->sl;
    if (cls < 1 || cls > sl->nclasses)
        return false;
    struct slab_class *c = &sl->cls[cls];
    if (bytes != c->page_cost || !slab_reserve(sl, c->page_cost))
        return false;
    if (c->npages == c->pages_cap) {
        uint32_t cap = c->pages_cap ? c->pages_cap * 2 : 16;
        char **pages = realloc(c->pages, cap * sizeof(*pages));
        if (pages == NULL) {
            slab_unreserve(sl, c->page_cost);
            return false;
        }
        c->pages = pages;
        c->pages_cap = cap;
    }
    c->pages[c->npages] = page;
    slab_set_npages(c, c->npages + 1);
    a->out->pages++;
    for (uint32_t i = 0; i < c->per_page; i++) {
        struct item *it = (struct item *)((char *)page + (size_t)i * c->size);
        enum slab_adopt r = SLAB_ADOPT_BAD;
        if (slab_chunk_linked(c, it))
            r = a->fn(a->ctx, it);
        else if (it->state == ITEM_FREE && it->clsid == c->id)
            r = SLAB_ADOPT_DEAD; /* not counted below */
        if (r == SLAB_ADOPT_KEEP) {
            a->out->kept++;
            continue;
        }
        a->out->dead += r == SLAB_ADOPT_DEAD && it->state == ITEM_LINKED;
        a->out->bad += r == SLAB_ADOPT_BAD;
        it->clsid = c->id;
        it->bits = 0;
        it->atime = 0;
        slab_push_free(c, it);
    }
    return true;
}

static bool slab_count_page(void *arg, void *page, unsigned cls, size_t bytes) {
    struct slab_adopt_ctx *a = arg;
    if (cls < 1 || cls > a->sl->nclasses || bytes != a->sl->cls[cls].page_cost)
        return true; /* slab_adopt refuses it */
    const struct slab_class *c = &a->sl->cls[cls];
    for (uint32_t i = 0; i < c->per_page; i++)
        a->out->kept += slab_chunk_linked(c, (const struct item *)((char *)page + (size_t)i * c->size));
    return true;
}

uint64_t slab_adopt_estimate(struct slabs *sl) {
    struct slab_adopt_counts n = {0};
    struct slab_adopt_ctx a = {sl, NULL, NULL, &n};
    if (sl->mf != NULL)
        mfile_pages(sl->mf, slab_count_page, &a);
    return n.kept;
}

void slab_adopt(struct slabs *sl, slab_adopt_fn fn, void *ctx, struct slab_adopt_counts *out) {
    struct slab_adopt_ctx a = {sl, fn, ctx, out};
    memset(out, 0, sizeof(*out));
    if (sl->mf != NULL)
        mfile_pages(sl->mf, slab_adopt_page, &a);
}

/* --- allocation ----------------------------------------------------------- */

static struct item *slab_sweep(struct slab_class *c, slab_reclaim_fn reclaim, void *ctx) {
    int kept = 0;
    for (int n = 0; n < SLAB_SWEEP_MAX; n++) {
        if (c->hand_chunk >= c->per_page) {
            c->hand_chunk = 0;
            c->hand_page = (c->hand_page + 1) % c->npages;
        }
        struct item *it = slab_chunk(c, c->hand_page, c->hand_chunk++);
        if (item_state(it) != ITEM_LINKED)
            continue;
        /* Spare an active item once, unless the sweep is running long. */
        if ((item_bits(it) & ITEM_ACTIVE) && n < SLAB_SWEEP_MAX / 2) {
            item_bits_clear(it, ITEM_ACTIVE);
            continue;
        }
        bool fetched = item_bits(it) & ITEM_FETCHED;
        bool active = item_bits(it) & ITEM_ACTIVE;
        bool expires = it->exptime != CLOCK_NEVER;
        switch (reclaim(ctx, it)) {
        case SLAB_RECLAIM_NONE:
            continue;
        case SLAB_RECLAIM_KEPT:
            if (++kept >= SLAB_SWEEP_KEPT_MAX)
                return NULL;
            continue;
        case SLAB_RECLAIM_EVICTED: {
            rel_time_t now = clock_now(), at = item_atime(it);
            uint64_t idle = at < now ? now - at : 0;
            c->evicted++;
            c->evicted_nonzero += expires;
            c->evicted_active += active;
            c->direct_reclaims++;
            c->evicted_unfetched += !fetched;
            c->evicted_time = idle;
            c->win_evicted++;
            c->win_idle += idle;
            return it;
        }
        case SLAB_RECLAIM_EXPIRED:
            c->reclaimed++;
            c->direct_reclaims++;
            c->expired_unfetched += !fetched;
            return it;
        }
    }
    return NULL;
}

static void slab_hand_out(struct slab_class *c, struct item *it) {
    it->clsid = c->id;
    it->bits = 0;
    item_set_state(it, ITEM_ALLOCATED);
}

/* A free chunk of class c (locked) for an item of `total` bytes, taking a
 * new page if the limit allows.  An exact class keeps no free chunks (an
 * item's page goes with it), but one that is too small is never handed out. */
static struct item *slab_take_free(struct slabs *sl, struct slab_class *c, size_t total) {
    struct item *it = slab_pop_free(c);
    if (it != NULL && c->exact && slab_exact_of(it)->charge - c->base < total) {
        slab_drop_exact(sl, c, it);
        it = NULL;
    }
    if (it == NULL && slab_grow(sl, c, total))
        it = slab_pop_free(c);
    return it;
}

/* Frees pages of other classes until class c can grow by one. */
static struct item *slab_alloc_stolen(struct slabs *sl, struct slab_class *c, size_t total,
                                      slab_reclaim_fn reclaim, void *ctx) {
    for (int tries = 0; tries < SLAB_STEAL_MAX; tries++) {
        unsigned donor = 0;
        if (slab_free_a_page(sl, c, reclaim, ctx, &donor) == 0)
            return NULL;
        slab_moved(sl, donor, c->id);
        lock_take(&c->lock);
        struct item *it = slab_take_free(sl, c, total);
        if (it != NULL)
            slab_hand_out(c, it);
        lock_give(&c->lock);
        if (it != NULL)
            return it;
    }
    return NULL;
}

/* Before class c (locked) evicts its own items: a whole empty page of
 * another class, if there is one (after a flush_all or a mass expiry whole
 * pages sit free in classes nobody writes to, and evicting live items next
 * to them would be a loss).  A search reads every class's free count, so
 * one that finds nothing is not repeated within the second. */
static struct item *slab_alloc_empty_page(struct slabs *sl, struct slab_class *c, size_t total) {
    rel_time_t now = clock_now();
    if (c->empty_search == now)
        return NULL;
    lock_give(&c->lock); /* never two class locks at once */
    unsigned donor = 0;
    bool freed = slab_free_a_page(sl, c, NULL, NULL, &donor) > 0;
    if (freed)
        slab_moved(sl, donor, c->id);
    lock_take(&c->lock);
    if (!freed)
        c->empty_search = now;
    return slab_take_free(sl, c, total);
}

/* An exact class (locked) evicts with its CLOCK until the new item's page
 * fits under the limit: one victim's page may be smaller than it. */
static struct item *slab_evict_for(struct slabs *sl, struct slab_class *c, size_t total,
                                   slab_reclaim_fn reclaim, void *ctx) {
    for (int k = 0; k < SLAB_STEAL_MAX && c->npages > 0; k++) {
        struct item *victim = slab_sweep(c, reclaim, ctx);
        if (victim == NULL)
            return NULL;
        slab_drop_exact(sl, c, victim);
        struct item *it = slab_take_free(sl, c, total);
        if (it != NULL)
            return it;
    }
    return NULL;
}

struct item *slab_alloc_size(struct slabs *sl, unsigned cls, size_t total, slab_reclaim_fn reclaim,
                             void *ctx) {
    struct slab_class *c = &sl->cls[cls];
    lock_take(&c->lock);
    struct item *it = slab_take_free(sl, c, total);
    if (it == NULL && reclaim != NULL && c->npages > 0) {
        it = slab_alloc_empty_page(sl, c, total);
        if (it == NULL && c->npages > 0) /* the lock was let go: pages may have left */
            it = c->exact ? slab_evict_for(sl, c, total, reclaim, ctx) : slab_sweep(c, reclaim, ctx);
    }
    if (it != NULL) {
        slab_hand_out(c, it);
        lock_give(&c->lock);
        return it;
    }
    lock_give(&c->lock);
    if ((it = slab_alloc_stolen(sl, c, total, reclaim, ctx)) != NULL)
        return it;
    lock_take(&c->lock);
    c->outofmemory++;
    c->win_oom++;
    lock_give(&c->lock);
    return NULL;
}

struct item *slab_alloc(struct slabs *sl, unsigned cls, slab_reclaim_fn reclaim, void *ctx) {
    return slab_alloc_size(sl, cls, 0, reclaim, ctx);
}

void slab_free(struct slabs *sl, struct item *it) {
    struct slab_class *c = &sl->cls[it->clsid];
    lock_take(&c->lock);
    if (c->exact)
        slab_drop_exact(sl, c, it);
    else
        slab_push_free(c, it);
    lock_give(&c->lock);
}

/* --- balancing ------------------------------------------------------------ */

/* Mean idle seconds of a sample of the class's live items (locked).  Free
 * chunks count as SLAB_IDLE_FREE when the class has two pages' worth of
 * them, memory nobody uses; fewer are the slack of a class that holds all
 * it is asked for, and counting them would make it a donor that then
 * evicts, takes the page back, and so on. */
static uint64_t slab_sample_idle(struct slab_class *c, rel_time_t now) {
    if (c->nfree >= 2ull * c->per_page)
        return SLAB_IDLE_FREE;
    if (c->npages == 0)
        return 0;
    uint64_t sum = 0, live = 0;
    for (int k = 0; k < SLAB_SAMPLE; k++) {
        c->sample_seed = c->sample_seed * 1664525u + 1013904223u;
        uint32_t r = c->sample_seed >> 4;
        const struct item *it = slab_chunk(c, r % c->npages, (r / c->npages) % c->per_page);
        rel_time_t at = item_atime(it);
        if (item_state(it) != ITEM_LINKED)
            continue;
        live++;
        sum += at < now ? now - at : 0;
    }
    return live > 0 ? sum / live : 0;
}

/* The balancer weighs a class by what its memory earns: a chunk of size S
 * whose item sits idle T seconds costs S * T byte-seconds per access it
 * serves (a cache hit is worth the same whatever the value's size).  Pages
 * go from the class whose items cost the most to the one whose evictions
 * cost the least, so small items under pressure are not evicted to keep
 * large ones that sit idle as long.  Comparing idle times alone (as before)
 * left the memory where the first writes had put it when every class
 * churned at the same age: with value sizes from 1 B to 1 MB the large
 * classes kept nearly all of it, and the hit ratio was half memcached's. */
static uint64_t slab_cost(const struct slab_class *c, uint64_t idle) {
    return (uint64_t)c->size * (idle + SLAB_BALANCE_SLACK);
}

/* The classes whose CLOCK evicted since the last call, cheapest evictions
 * first, or when none evicted (-M), the one refused most allocations; every
 * class's window starts over.  Returns how many went into `out`. */
struct slab_pressure {
    struct slab_class *c;
    uint64_t cost;
    uint64_t need; /* pages its evictions (or refusals) in the window would have filled */
};

static unsigned slab_pressed(struct slabs *sl, struct slab_pressure *out) {
    unsigned n = 0;
    struct slab_class *refused = NULL;
    uint64_t most_refused = 0;
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        lock_take(&c->lock);
        if (c->win_evicted > 0) {
            struct slab_pressure p = {c, slab_cost(c, c->win_idle / c->win_evicted),
                                      (c->win_evicted + c->per_page - 1) / c->per_page};
            unsigned at = n++;
            for (; at > 0 && out[at - 1].cost > p.cost; at--)
                out[at] = out[at - 1];
            out[at] = p;
        }
        if (c->win_oom > most_refused) {
            most_refused = c->win_oom;
            refused = c;
        }
        c->win_evicted = c->win_idle = c->win_oom = 0;
        lock_give(&c->lock);
    }
    if (n == 0 && refused != NULL)
        out[n++] = (struct slab_pressure){refused, 0,
                                          (most_refused + refused->per_page - 1) / refused->per_page};
    return n;
}

/* What each class's sampled chunks cost (0: no donor: fewer than two pages,
 * or fed pages in the last SLAB_BALANCE_COOL seconds). */
static void slab_sample_costs(struct slabs *sl, uint64_t *cost) {
    rel_time_t now = clock_now();
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        cost[i] = 0;
        if (!slab_spare(c))
            continue;
        lock_take(&c->lock);
        if (!slab_cooling(c, now) && c->npages >= 2)
            cost[i] = slab_cost(c, slab_sample_idle(c, now));
        lock_give(&c->lock);
    }
}

static struct slab_class *slab_costliest(struct slabs *sl, const uint64_t *cost,
                                         const struct slab_class *except) {
    struct slab_class *best = NULL;
    for (unsigned i = 1; i <= sl->nclasses; i++)
        if (&sl->cls[i] != except && cost[i] > 0 && (best == NULL || cost[i] > cost[best->id]))
            best = &sl->cls[i];
    return best;
}

/* Grows class c by the pages `room` bytes of limit pay for, the last one
 * paid for in part if the limit has the rest; returns the bytes left
 * unused (another class took them, or they are less than a page).  An
 * exact class, whose next page's size is not known yet, banks the room
 * instead, up to its largest page. */
static size_t slab_feed(struct slabs *sl, struct slab_class *c, size_t room) {
    lock_take(&c->lock);
    if (c->exact) {
        size_t want = c->page_cost > c->bank ? c->page_cost - c->bank : 0;
        size_t take = room < want ? room : want;
        if (take > 0 && slab_reserve(sl, take)) {
            c->bank += take;
            room -= take;
        }
    } else {
        /* part of a page paid for is enough: the rest is free room, if any */
        while (room > 0 && slab_grow(sl, c, 0))
            room = room > c->page_cost ? room - c->page_cost : 0;
    }
    __atomic_store_n(&c->fed, clock_now(), __ATOMIC_RELAXED);
    lock_give(&c->lock);
    return room;
}

/* Limit banked for exact pages goes back (a lowered limit). */
static void slab_drain_banks(struct slabs *sl) {
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        lock_take(&c->lock);
        slab_unreserve(sl, c->bank);
        c->bank = 0;
        lock_give(&c->lock);
    }
}

/* Moves pages from the costliest donors to `young` while they cost more
 * than twice its evictions, at most `budget` pages; returns how many. */
static unsigned slab_serve(struct slabs *sl, struct slab_class *young, uint64_t young_cost,
                           uint64_t *cost, uint64_t budget, slab_reclaim_fn reclaim, void *ctx) {
    unsigned moved = 0;
    /* A large donor page may pay for several of the taker's, a small one
     * for part of one: room carries the difference from move to move. */
    size_t room = 0;
    while (moved < budget) {
        struct slab_class *cold = slab_costliest(sl, cost, young);
        if (cold == NULL || cost[cold->id] <= 2 * young_cost)
            break;
        size_t freed = 0;
        if (slab_spare(cold)) {
            freed = slab_give_page(sl, cold, true, NULL, NULL);
            if (freed == 0)
                freed = slab_give_page(sl, cold, false, reclaim, ctx);
        }
        if (freed == 0) {
            cost[cold->id] = 0; /* spent, or every page pinned: the next donor */
            continue;
        }
        slab_moved(sl, cold->id, young->id);
        moved++;
        room = slab_feed(sl, young, room + freed);
        if (young->exact ? room > 0 : room >= young->page_cost)
            break; /* another class took the room, or the bank is full */
    }
    cost[young->id] = 0; /* fed: no donor in this round */
    return moved;
}

unsigned slab_balance(struct slabs *sl, slab_reclaim_fn reclaim, void *ctx) {
    unsigned moved = 0;
    /* A lowered limit (cache_memlimit): give pages back. */
    if (slab_total_malloced(sl) > slab_limit(sl))
        slab_drain_banks(sl);
    while (slab_total_malloced(sl) > slab_limit(sl) && moved < SLAB_BALANCE_MOVES) {
        unsigned donor = 0;
        if (slab_free_a_page(sl, NULL, reclaim, ctx, &donor) == 0)
            return moved;
        moved++;
    }
    struct slab_pressure young[SLAB_CLASS_MAX + 1];
    unsigned n = slab_pressed(sl, young);
    if (n == 0)
        return moved;
    uint64_t cost[SLAB_CLASS_MAX + 1];
    slab_sample_costs(sl, cost);
    /* The cheapest evictions are served first, each taker a share of the
     * moves, so that several classes under pressure converge together, and
     * no more than its evictions would have filled: a class written to
     * slowly is not given pages it will not use. */
    for (unsigned k = 0; k < n && moved < SLAB_BALANCE_MOVES; k++) {
        uint64_t budget = SLAB_BALANCE_MOVES / 4;
        if (budget > young[k].need)
            budget = young[k].need;
        if (budget > SLAB_BALANCE_MOVES - moved)
            budget = SLAB_BALANCE_MOVES - moved;
        moved += slab_serve(sl, young[k].c, young[k].cost, cost, budget, reclaim, ctx);
    }
    return moved;
}

/* --- reassign and crawl --------------------------------------------------- */

/* A free chunk of class c (locked) outside page p, off the free list. */
static struct item *slab_pop_free_outside(struct slab_class *c, uint32_t p) {
    char *page = c->pages[p];
    for (struct item **pp = &c->free_list; *pp != NULL; pp = &(*pp)->hnext) {
        char *at = (char *)*pp;
        if (at < page || at >= page + c->page_bytes) {
            struct item *it = *pp;
            *pp = it->hnext;
            __atomic_store_n(&c->nfree, c->nfree - 1, __ATOMIC_RELAXED);
            return it;
        }
    }
    return NULL;
}

/* Moves the live items of page p into free chunks of the same class
 * elsewhere, as far as they go (memcached's rescues); returns how many. */
static uint64_t slab_rescue_page(struct slab_class *c, uint32_t p, slab_relocate_fn relocate,
                                 void *ctx) {
    uint64_t rescued = 0;
    for (uint32_t i = 0; i < c->per_page && relocate != NULL; i++) {
        struct item *it = slab_chunk(c, p, i);
        if (item_state(it) != ITEM_LINKED)
            continue;
        struct item *to = slab_pop_free_outside(c, p);
        if (to == NULL)
            break;
        if (relocate(ctx, it, to)) {
            rescued++;
            slab_push_free(c, it); /* on the page that goes */
        } else {
            slab_push_free(c, to);
        }
    }
    return rescued;
}

/* Frees one page of class c (locked): an empty one if there is one, else one
 * from the CLOCK hand on, whose live items are first moved to free chunks
 * of the class, and evicted when there are none; *evicted and *rescued
 * count them. */
static bool slab_take_page(struct slabs *sl, struct slab_class *c, slab_reclaim_fn reclaim,
                           slab_relocate_fn relocate, void *ctx, uint64_t *evicted,
                           uint64_t *rescued) {
    uint64_t before = c->evicted;
    for (uint32_t p = 0; p < c->npages && c->nfree >= c->per_page; p++)
        if (slab_page_is_free(c, p) && slab_release_page(sl, c, p, NULL, NULL))
            return true;
    for (uint32_t tries = 0; tries < c->npages; tries++) {
        uint32_t p = (c->hand_page + tries) % c->npages;
        *rescued += slab_rescue_page(c, p, relocate, ctx);
        if (slab_release_page(sl, c, p, reclaim, ctx)) {
            *evicted += c->evicted - before;
            return true;
        }
    }
    *evicted += c->evicted - before;
    return false;
}

enum slab_reassign_result slab_reassign(struct slabs *sl, int src, int dst, slab_reclaim_fn reclaim,
                                        slab_relocate_fn relocate, void *ctx, uint64_t *evicted,
                                        uint64_t *rescued) {
    if (src == dst)
        return SLAB_REASSIGN_SAME;
    if (src == -1) {
        struct slab_class *big = slab_biggest(sl, dst > 0 ? &sl->cls[dst] : NULL);
        src = big ? big->id : 0;
    }
    if (src < 1 || src > (int)sl->nclasses || dst < 0 || dst > (int)sl->nclasses)
        return SLAB_REASSIGN_BADCLASS;
    struct slab_class *from = &sl->cls[src];
    lock_take(&from->lock);
    enum slab_reassign_result r = SLAB_REASSIGN_OK;
    if (from->npages < 2)
        r = SLAB_REASSIGN_NOSPARE;
    else if (!slab_take_page(sl, from, reclaim, relocate, ctx, evicted, rescued))
        r = SLAB_REASSIGN_BUSY; /* every page pinned by a writer or a busy shard */
    lock_give(&from->lock);
    if (r != SLAB_REASSIGN_OK)
        return r;
    if (dst > 0) {
        struct slab_class *to = &sl->cls[dst];
        slab_feed(sl, to, to->page_cost); /* fails only if a writer took the room first */
    }
    slab_moved(sl, (unsigned)src, (unsigned)dst);
    return SLAB_REASSIGN_OK;
}

void slab_crawl(struct slabs *sl, unsigned cls, uint32_t max_chunks, slab_reclaim_fn dead,
                void *ctx, struct slab_crawl_result *out) {
    struct slab_class *c = &sl->cls[cls];
    *out = (struct slab_crawl_result){0};
    lock_take(&c->lock);
    if (c->crawl_page >= c->npages) {
        c->crawl_page = 0;
        c->crawl_chunk = 0;
    }
    for (uint32_t n = 0; n < max_chunks && c->npages > 0; n++) {
        if (c->crawl_chunk >= c->per_page) {
            c->crawl_chunk = 0;
            if (++c->crawl_page >= c->npages) {
                c->crawl_page = 0;
                out->wrapped = true;
                break;
            }
        }
        struct item *it = slab_chunk(c, c->crawl_page, c->crawl_chunk++);
        if (item_state(it) != ITEM_LINKED)
            continue;
        out->checked++;
        bool fetched = item_bits(it) & ITEM_FETCHED;
        if (dead(ctx, it) != SLAB_RECLAIM_EXPIRED)
            continue;
        out->reclaimed++;
        c->reclaimed++;
        c->expired_unfetched += !fetched;
        if (!c->exact) {
            slab_push_free(c, it);
            continue;
        }
        /* the class's last page takes this one's place: look at it next */
        slab_drop_exact(sl, c, it);
        c->crawl_chunk = 0;
        if (c->crawl_page >= c->npages) {
            c->crawl_page = 0;
            out->wrapped = true;
            break;
        }
    }
    if (c->npages == 0)
        out->wrapped = true;
    c->crawler_checked += out->checked;
    c->crawler_reclaimed += out->reclaimed;
    lock_give(&c->lock);
}

/* --- stats and walks ------------------------------------------------------ */

void slab_class_stats(struct slabs *sl, unsigned cls, struct slab_class_stats *out) {
    struct slab_class *c = &sl->cls[cls];
    lock_take(&c->lock);
    uint64_t chunks = (uint64_t)c->npages * c->per_page;
    *out = (struct slab_class_stats){
        .chunk_size = c->size,
        .per_page = c->per_page,
        .page_bytes = c->page_bytes,
        .pages = c->npages,
        .used_chunks = chunks - c->nfree,
        .free_chunks = c->nfree,
        .evicted = c->evicted,
        .evicted_unfetched = c->evicted_unfetched,
        .reclaimed = c->reclaimed,
        .expired_unfetched = c->expired_unfetched,
        .outofmemory = c->outofmemory,
        .evicted_time = c->evicted_time,
        .evicted_nonzero = c->evicted_nonzero,
        .evicted_active = c->evicted_active,
        .direct_reclaims = c->direct_reclaims,
        .crawler_reclaimed = c->crawler_reclaimed,
        .crawler_checked = c->crawler_checked,
    };
    lock_give(&c->lock);
}

void slab_stats_reset(struct slabs *sl) {
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        lock_take(&c->lock);
        c->evicted = c->evicted_unfetched = c->reclaimed = c->expired_unfetched = 0;
        c->outofmemory = c->evicted_time = 0;
        c->evicted_nonzero = c->evicted_active = c->direct_reclaims = 0;
        lock_give(&c->lock);
    }
}

rel_time_t slab_class_oldest(struct slabs *sl, unsigned cls) {
    struct slab_class *c = &sl->cls[cls];
    rel_time_t oldest = 0;
    lock_take(&c->lock);
    for (uint32_t p = 0; p < c->npages; p++) {
        for (uint32_t i = 0; i < c->per_page; i++) {
            const struct item *it = slab_chunk(c, p, i);
            rel_time_t t = item_atime(it);
            if (item_state(it) == ITEM_LINKED && t != 0 && (oldest == 0 || t < oldest))
                oldest = t;
        }
    }
    lock_give(&c->lock);
    return oldest;
}

void slab_walk(struct slabs *sl, unsigned cls, void (*fn)(void *ctx, struct item *it), void *ctx) {
    struct slab_class *c = &sl->cls[cls];
    lock_take(&c->lock);
    for (uint32_t p = 0; p < c->npages; p++)
        for (uint32_t i = 0; i < c->per_page; i++)
            fn(ctx, slab_chunk(c, p, i));
    lock_give(&c->lock);
}
