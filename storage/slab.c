/*
 * slab: size classes, pages, free lists and the CLOCK sweep; see slab.h.
 */
#include "slab.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* How many chunks one allocation may inspect before giving up on sparing
 * active items: a full circle would stall a writer on a huge class. */
#define SLAB_SWEEP_MAX 2048

struct slab_class {
    pthread_mutex_t lock;
    uint32_t size;
    uint32_t per_page;
    char **pages;
    uint32_t npages;
    uint32_t pages_cap;
    struct item *free_list;
    uint64_t nfree;
    /* next chunk the CLOCK hand looks at */
    uint32_t hand_page;
    uint32_t hand_chunk;
    /* carving of the newest page is lazy: chunks are handed out in order */
    uint32_t carve_next;
    uint64_t evicted, evicted_unfetched, reclaimed, expired_unfetched, outofmemory;
    uint64_t evicted_time;
} __attribute__((aligned(64)));

struct slabs {
    size_t page_size;
    unsigned nclasses;
    uint64_t max_pages;   /* atomic */
    uint64_t total_pages; /* atomic */
    uint64_t first_pages; /* atomic: pages taken past the limit */
    struct slab_class cls[SLAB_CLASS_MAX + 1];
};

struct slabs *slab_create(size_t mem_limit, size_t page_size, double factor, size_t min_chunk) {
    if (factor <= 1.0 || page_size < ITEM_HEADER + min_chunk)
        return NULL;
    struct slabs *sl = calloc(1, sizeof(*sl));
    if (sl == NULL)
        return NULL;
    sl->page_size = page_size;
    slab_set_limit(sl, mem_limit);

    double size = (double)(ITEM_HEADER + min_chunk);
    unsigned n = 0;
    while (n < SLAB_CLASS_MAX - 1) {
        size_t s = ((size_t)size + 7) & ~(size_t)7;
        if (s > page_size / 2)
            break;
        if (n == 0 || s > sl->cls[n].size) {
            n++;
            sl->cls[n].size = (uint32_t)s;
        }
        size *= factor;
    }
    /* The last class holds one item of up to a whole page. */
    n++;
    sl->cls[n].size = (uint32_t)page_size;
    sl->nclasses = n;
    for (unsigned i = 1; i <= n; i++) {
        pthread_mutex_init(&sl->cls[i].lock, NULL);
        sl->cls[i].per_page = (uint32_t)(page_size / sl->cls[i].size);
    }
    return sl;
}

void slab_destroy(struct slabs *sl) {
    if (sl == NULL)
        return;
    for (unsigned i = 1; i <= sl->nclasses; i++) {
        struct slab_class *c = &sl->cls[i];
        for (uint32_t p = 0; p < c->npages; p++)
            free(c->pages[p]);
        free(c->pages);
        pthread_mutex_destroy(&c->lock);
    }
    free(sl);
}

unsigned slab_class_for(const struct slabs *sl, size_t total) {
    /* Classes are few (about 40); a linear scan beats a binary search here. */
    for (unsigned i = 1; i <= sl->nclasses; i++)
        if (total <= sl->cls[i].size)
            return i;
    return 0;
}

unsigned slab_class_count(const struct slabs *sl) { return sl->nclasses; }
size_t slab_page_size(const struct slabs *sl) { return sl->page_size; }

void slab_set_limit(struct slabs *sl, size_t mem_limit) {
    uint64_t pages = mem_limit / sl->page_size;
    __atomic_store_n(&sl->max_pages, pages, __ATOMIC_RELAXED);
}

size_t slab_limit(const struct slabs *sl) {
    return __atomic_load_n(&sl->max_pages, __ATOMIC_RELAXED) * sl->page_size;
}

size_t slab_total_malloced(const struct slabs *sl) {
    return __atomic_load_n(&sl->total_pages, __ATOMIC_RELAXED) * sl->page_size;
}

uint64_t slab_first_pages(const struct slabs *sl) {
    return __atomic_load_n(&sl->first_pages, __ATOMIC_RELAXED);
}

/* Reserves one page against the limit; a class's first page is always granted. */
static bool slab_reserve_page(struct slabs *sl, const struct slab_class *c) {
    uint64_t max = __atomic_load_n(&sl->max_pages, __ATOMIC_RELAXED);
    uint64_t cur = __atomic_load_n(&sl->total_pages, __ATOMIC_RELAXED);
    do {
        if (cur >= max && c->npages > 0)
            return false;
    } while (!__atomic_compare_exchange_n(&sl->total_pages, &cur, cur + 1, false,
                                          __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    if (cur >= max)
        __atomic_add_fetch(&sl->first_pages, 1, __ATOMIC_RELAXED);
    return true;
}

static bool slab_grow(struct slabs *sl, struct slab_class *c) {
    if (c->npages == c->pages_cap) {
        uint32_t cap = c->pages_cap ? c->pages_cap * 2 : 16;
        char **pages = realloc(c->pages, cap * sizeof(*pages));
        if (pages == NULL)
            return false;
        c->pages = pages;
        c->pages_cap = cap;
    }
    if (!slab_reserve_page(sl, c))
        return false;
    char *page = malloc(sl->page_size);
    if (page == NULL) {
        __atomic_sub_fetch(&sl->total_pages, 1, __ATOMIC_RELAXED);
        return false;
    }
    c->pages[c->npages++] = page;
    c->carve_next = 0;
    return true;
}

static inline struct item *slab_chunk(const struct slab_class *c, uint32_t page, uint32_t idx) {
    return (struct item *)(c->pages[page] + (size_t)idx * c->size);
}

/* Chunks of the newest page not yet handed out are not items at all; the
 * sweep must not read them. */
static inline uint32_t slab_chunks_in(const struct slab_class *c, uint32_t page) {
    return page + 1 == c->npages ? c->carve_next : c->per_page;
}

static struct item *slab_sweep(struct slab_class *c, slab_reclaim_fn reclaim, void *ctx) {
    if (c->npages == 0)
        return NULL;
    for (int n = 0; n < SLAB_SWEEP_MAX; n++) {
        if (c->hand_chunk >= slab_chunks_in(c, c->hand_page)) {
            c->hand_chunk = 0;
            c->hand_page = (c->hand_page + 1) % c->npages;
            continue;
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
        switch (reclaim(ctx, it)) {
        case SLAB_RECLAIM_NONE:
            continue;
        case SLAB_RECLAIM_EVICTED:
            c->evicted++;
            c->evicted_unfetched += !fetched;
            c->evicted_time = clock_now() - item_atime(it);
            return it;
        case SLAB_RECLAIM_EXPIRED:
            c->reclaimed++;
            c->expired_unfetched += !fetched;
            return it;
        }
    }
    return NULL;
}

struct item *slab_alloc(struct slabs *sl, unsigned cls, slab_reclaim_fn reclaim, void *ctx) {
    struct slab_class *c = &sl->cls[cls];
    struct item *it = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->free_list != NULL) {
        it = c->free_list;
        c->free_list = it->hnext;
        c->nfree--;
    } else if ((c->npages > 0 && c->carve_next < c->per_page) || slab_grow(sl, c)) {
        it = slab_chunk(c, c->npages - 1, c->carve_next++);
    } else if (reclaim != NULL) {
        it = slab_sweep(c, reclaim, ctx);
    }
    if (it == NULL) {
        c->outofmemory++;
    } else {
        it->clsid = (uint8_t)cls;
        it->bits = 0;
        item_set_state(it, ITEM_ALLOCATED);
    }
    pthread_mutex_unlock(&c->lock);
    return it;
}

void slab_free(struct slabs *sl, struct item *it) {
    struct slab_class *c = &sl->cls[it->clsid];
    pthread_mutex_lock(&c->lock);
    item_set_state(it, ITEM_FREE);
    it->hnext = c->free_list;
    c->free_list = it;
    c->nfree++;
    pthread_mutex_unlock(&c->lock);
}

void slab_class_stats(struct slabs *sl, unsigned cls, struct slab_class_stats *out) {
    struct slab_class *c = &sl->cls[cls];
    pthread_mutex_lock(&c->lock);
    uint64_t carved = c->npages ? (uint64_t)(c->npages - 1) * c->per_page + c->carve_next : 0;
    *out = (struct slab_class_stats){
        .chunk_size = c->size,
        .per_page = c->per_page,
        .pages = c->npages,
        .used_chunks = carved - c->nfree,
        .free_chunks = c->nfree + (uint64_t)c->npages * c->per_page - carved,
        .evicted = c->evicted,
        .evicted_unfetched = c->evicted_unfetched,
        .reclaimed = c->reclaimed,
        .expired_unfetched = c->expired_unfetched,
        .outofmemory = c->outofmemory,
        .evicted_time = c->evicted_time,
    };
    pthread_mutex_unlock(&c->lock);
}

rel_time_t slab_class_oldest(struct slabs *sl, unsigned cls) {
    struct slab_class *c = &sl->cls[cls];
    rel_time_t oldest = 0;
    pthread_mutex_lock(&c->lock);
    for (uint32_t p = 0; p < c->npages; p++) {
        for (uint32_t i = 0; i < slab_chunks_in(c, p); i++) {
            const struct item *it = slab_chunk(c, p, i);
            rel_time_t t = item_atime(it);
            if (item_state(it) == ITEM_LINKED && t != 0 && (oldest == 0 || t < oldest))
                oldest = t;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return oldest;
}

void slab_walk(struct slabs *sl, unsigned cls, void (*fn)(void *ctx, struct item *it), void *ctx) {
    struct slab_class *c = &sl->cls[cls];
    pthread_mutex_lock(&c->lock);
    for (uint32_t p = 0; p < c->npages; p++)
        for (uint32_t i = 0; i < slab_chunks_in(c, p); i++)
            fn(ctx, slab_chunk(c, p, i));
    pthread_mutex_unlock(&c->lock);
}
