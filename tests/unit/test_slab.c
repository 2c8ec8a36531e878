/*
 * Unit tests for storage/slab.c on its own: class layout, the byte limit,
 * pages moving between classes, and the CLOCK sweep, driven through a fake
 * reclaim function instead of the store.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/clock.h"
#include "storage/item.h"
#include "storage/slab.h"

#define MB (1u << 20)

static struct slabs *new_slabs(size_t limit_mb) {
    struct slabs *sl = slab_create(limit_mb * MB, MB, 1.25, 48);
    cr_assert_not_null(sl);
    return sl;
}

static struct slab_class_stats class_stats(struct slabs *sl, unsigned cls) {
    struct slab_class_stats cs;
    slab_class_stats(sl, cls, &cs);
    return cs;
}

/* Slabs whose limit is exactly one page of the class for `size`. */
static struct slabs *one_page_slabs(size_t size, unsigned *cls) {
    struct slabs *sl = new_slabs(1);
    *cls = slab_class_for(sl, size);
    slab_set_limit(sl, class_stats(sl, *cls).page_bytes);
    return sl;
}

/* Allocates a chunk and marks it linked, as the store would. */
static struct item *alloc_linked(struct slabs *sl, unsigned cls) {
    struct item *it = slab_alloc(sl, cls, NULL, NULL);
    cr_assert_not_null(it);
    item_set_state(it, ITEM_LINKED);
    item_set_atime(it, clock_now());
    return it;
}

/* A reclaim function that takes whatever it is offered, or refuses all. */
struct victims {
    bool refuse;
    enum slab_reclaim as;
    unsigned offered;
    struct item *last;
};

static enum slab_reclaim take_victim(void *ctx, struct item *it) {
    struct victims *v = ctx;
    cr_assert_eq(item_state(it), ITEM_LINKED, "offered a chunk that is not linked");
    v->offered++;
    if (v->refuse)
        return SLAB_RECLAIM_NONE;
    if (v->as == SLAB_RECLAIM_KEPT)
        return SLAB_RECLAIM_KEPT;
    item_set_state(it, ITEM_ALLOCATED);
    v->last = it;
    return v->as;
}

/* --- layout ---------------------------------------------------------------- */

/* Every class id is spent: 8-byte steps, then steps finer than the factor
 * up to the exact pages, whose classes double. */
Test(slab, classes_every_8_bytes_then_finer_than_the_factor) {
    struct slabs *sl = new_slabs(64);
    unsigned n = slab_class_count(sl);
    cr_assert_eq(n, SLAB_CLASS_MAX);
    cr_assert_eq(class_stats(sl, 1).chunk_size, (ITEM_HEADER + 48 + 7) & ~7u);
    for (unsigned c = 2; c <= n; c++) {
        uint32_t prev = class_stats(sl, c - 1).chunk_size, cur = class_stats(sl, c).chunk_size;
        cr_assert_eq(cur % 8, 0, "class %u: %u", c, cur);
        cr_assert_gt(cur, prev, "class %u", c);
        if (prev < SLAB_FINE_MAX)
            cr_assert_eq(cur, prev + 8, "class %u: small classes step by 8 bytes", c);
        else if (cur <= SLAB_PAGE_SIZE / 2)
            cr_assert_leq(cur, prev * 1.16 + 8, "class %u: %u after %u", c, cur, prev);
        else
            cr_assert_leq(cur, prev * 2, "class %u: exact classes double", c);
    }
    cr_assert_eq(class_stats(sl, n).chunk_size, MB, "the last class holds the largest item");
    slab_destroy(sl);
}

Test(slab, pages_are_small_or_one_chunk) {
    struct slabs *sl = new_slabs(64);
    for (unsigned c = 1; c <= slab_class_count(sl); c++) {
        struct slab_class_stats cs = class_stats(sl, c);
        if (cs.chunk_size > SLAB_PAGE_SIZE / 2) {
            cr_assert_eq(cs.per_page, 1, "class %u", c);
            /* the largest page: an exact page is sized to its item */
            cr_assert_geq(cs.page_bytes, cs.chunk_size, "class %u", c);
            cr_assert_leq(cs.page_bytes, cs.chunk_size + 64, "class %u", c);
        } else {
            cr_assert_eq(cs.per_page, SLAB_PAGE_SIZE / cs.chunk_size, "class %u", c);
            cr_assert_lt(SLAB_PAGE_SIZE - cs.page_bytes, cs.chunk_size, "class %u wastes a chunk", c);
            cr_assert_eq(cs.page_bytes, cs.per_page * cs.chunk_size);
        }
    }
    slab_destroy(sl);
}

Test(slab, class_for_size_boundaries) {
    struct slabs *sl = new_slabs(64);
    uint32_t size2 = class_stats(sl, 2).chunk_size;
    cr_assert_eq(slab_class_for(sl, 1), 1);
    cr_assert_eq(slab_class_for(sl, size2), 2);
    cr_assert_eq(slab_class_for(sl, size2 + 1), 3);
    cr_assert_eq(class_stats(sl, slab_class_for(sl, 152)).chunk_size, 152, "exact fit");
    cr_assert_eq(slab_class_for(sl, MB), slab_class_count(sl));
    cr_assert_eq(slab_class_for(sl, MB + 1), 0, "bigger than the largest item has no class");
    slab_destroy(sl);
}

Test(slab, create_rejects_bad_arguments) {
    cr_assert_null(slab_create(MB, MB, 1.0, 48));
    cr_assert_null(slab_create(MB, MB, 0.5, 48));
    cr_assert_null(slab_create(MB, 64, 1.25, 48));
}

Test(slab, large_items_and_factor) {
    struct slabs *sl = slab_create(64u * MB, 4 * MB, 2.0, 48);
    cr_assert_not_null(sl);
    unsigned n = slab_class_count(sl);
    cr_assert_eq(class_stats(sl, n).chunk_size, 4 * MB);
    cr_assert_geq(class_stats(sl, n).page_bytes, 4 * MB);
    unsigned cls = slab_class_for(sl, 3 * MB);
    cr_assert_geq(class_stats(sl, cls).chunk_size, 3 * MB);
    struct item *it = slab_alloc_size(sl, cls, 3 * MB, NULL, NULL);
    cr_assert_not_null(it);
    cr_assert_leq(slab_total_malloced(sl), 3 * MB + 8192, "a 3 MB item costs %zu",
                  slab_total_malloced(sl));
    slab_free(sl, it);
    slab_destroy(sl);
}

/* -I 1024m: exact classes double up to it, and what is left for the small
 * pages still steps by less than -f. */
Test(slab, huge_item_limit_fits_the_class_ids) {
    struct slabs *sl = slab_create(2048u * MB, 1024u * MB, 1.25, 48);
    cr_assert_not_null(sl);
    unsigned n = slab_class_count(sl);
    cr_assert_leq(n, SLAB_CLASS_MAX);
    cr_assert_eq(class_stats(sl, n).chunk_size, 1024u * MB);
    cr_assert_eq(class_stats(sl, n - 1).chunk_size, 512u * MB);
    for (unsigned c = 2; c <= n && class_stats(sl, c).chunk_size <= SLAB_PAGE_SIZE / 2; c++)
        cr_assert_leq(class_stats(sl, c).chunk_size, class_stats(sl, c - 1).chunk_size * 1.25 + 8,
                      "class %u", c);
    slab_destroy(sl);
}

/* --- allocation ------------------------------------------------------------ */

Test(slab, alloc_gives_distinct_chunks_of_the_class) {
    struct slabs *sl = new_slabs(8);
    struct item *a = slab_alloc(sl, 3, NULL, NULL), *b = slab_alloc(sl, 3, NULL, NULL);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_eq(item_state(a), ITEM_ALLOCATED);
    cr_assert_eq(a->clsid, 3);
    cr_assert_eq((size_t)((char *)b - (char *)a), class_stats(sl, 3).chunk_size,
                 "a fresh page is handed out in order");
    struct slab_class_stats cs = class_stats(sl, 3);
    cr_assert_eq(cs.pages, 1);
    cr_assert_eq(cs.used_chunks, 2);
    cr_assert_eq(cs.free_chunks, cs.per_page - 2);
    slab_destroy(sl);
}

Test(slab, free_then_alloc_reuses_chunk) {
    struct slabs *sl = new_slabs(8);
    struct item *a = slab_alloc(sl, 5, NULL, NULL);
    slab_free(sl, a);
    cr_assert_eq(item_state(a), ITEM_FREE);
    cr_assert_eq(class_stats(sl, 5).used_chunks, 0);
    cr_assert_eq(slab_alloc(sl, 5, NULL, NULL), a);
    cr_assert_eq(class_stats(sl, 5).pages, 1);
    slab_destroy(sl);
}

/* Allocates every chunk the limit allows for the class; returns how many. */
static unsigned alloc_all(struct slabs *sl, unsigned cls) {
    unsigned n = 0;
    while (slab_alloc(sl, cls, NULL, NULL) != NULL)
        n++;
    return n;
}

Test(slab, limit_caps_pages) {
    struct slabs *sl = new_slabs(2);
    unsigned cls = slab_class_for(sl, 1000);
    unsigned got = alloc_all(sl, cls);
    struct slab_class_stats cs = class_stats(sl, cls);
    cr_assert_eq(cs.pages, 2 * MB / cs.page_bytes);
    cr_assert_eq(got, cs.pages * cs.per_page);
    cr_assert_eq(slab_total_malloced(sl), cs.pages * cs.page_bytes);
    cr_assert_leq(slab_total_malloced(sl), 2 * MB);
    cr_assert_eq(slab_limit(sl), 2 * MB);
    cr_assert_eq(cs.outofmemory, 1);
    slab_destroy(sl);
}

/* Fills class cls to the limit with linked items; returns how many. */
static unsigned fill_class_linked(struct slabs *sl, unsigned cls) {
    unsigned n = 0;
    struct item *it;
    while ((it = slab_alloc(sl, cls, NULL, NULL)) != NULL) {
        item_set_state(it, ITEM_LINKED);
        item_set_atime(it, clock_now());
        n++;
    }
    return n;
}

/* memcached gives a class its first page past the limit; Larder takes it
 * from the class with the most pages instead, so the limit holds. */
Test(slab, class_without_pages_takes_one_from_another) {
    struct slabs *sl = new_slabs(1);
    unsigned a = slab_class_for(sl, 100), b = slab_class_for(sl, 5000);
    fill_class_linked(sl, a);
    uint64_t a_pages = class_stats(sl, a).pages;
    cr_assert_null(slab_alloc(sl, b, NULL, NULL), "no eviction allowed: no page to take");
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    struct item *it = slab_alloc(sl, b, take_victim, &v);
    cr_assert_not_null(it);
    cr_assert_eq(it->clsid, b);
    cr_assert_geq(class_stats(sl, a).pages, a_pages - 1);
    cr_assert_lt(class_stats(sl, a).pages, a_pages);
    cr_assert_eq(class_stats(sl, a).evicted, v.offered, "every item on the page was evicted");
    cr_assert_eq(class_stats(sl, b).pages, 1);
    cr_assert_geq(slab_pages_moved(sl), 1);
    cr_assert_leq(slab_total_malloced(sl), MB);
    slab_destroy(sl);
}

/* Under -M (no reclaim) a class may still take a page that another class
 * has emptied: refusing the store while whole pages sit free would be wrong. */
Test(slab, empty_pages_of_other_classes_are_taken_without_eviction) {
    struct slabs *sl = new_slabs(1);
    unsigned a = slab_class_for(sl, 1000), b = slab_class_for(sl, 5000);
    struct item *its[2048];
    unsigned n = 0;
    while (n < 2048 && (its[n] = slab_alloc(sl, a, NULL, NULL)) != NULL)
        n++;
    cr_assert_null(slab_alloc(sl, b, NULL, NULL), "memory is full of class a");
    for (unsigned i = 0; i < n; i++)
        slab_free(sl, its[i]); /* class a is all free chunks now */
    struct item *it = slab_alloc(sl, b, NULL, NULL);
    cr_assert_not_null(it, "an empty page of class a was not taken");
    cr_assert_eq(it->clsid, b);
    cr_assert_eq(class_stats(sl, a).evicted, 0);
    cr_assert_leq(slab_total_malloced(sl), MB);
    slab_destroy(sl);
}

/* A page pinned by a chunk being written is left whole: nothing on it is
 * evicted for a release that cannot happen. */
Test(slab, pinned_page_loses_no_items) {
    unsigned a;
    struct slabs *sl = one_page_slabs(1000, &a);
    struct item *first = slab_alloc(sl, a, NULL, NULL); /* a writer holds it */
    cr_assert_not_null(first);
    unsigned linked = fill_class_linked(sl, a);
    cr_assert_gt(linked, 0);
    unsigned b = slab_class_for(sl, 5000);
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    cr_assert_null(slab_alloc(sl, b, take_victim, &v));
    cr_assert_eq(v.offered, 0, "items were offered for eviction from a pinned page");
    cr_assert_eq(class_stats(sl, a).used_chunks, linked + 1);
    slab_destroy(sl);
}

Test(slab, page_with_a_writer_is_not_taken) {
    unsigned a;
    struct slabs *sl = one_page_slabs(100, &a);
    unsigned n = fill_class_linked(sl, a);
    cr_assert_gt(n, 0);
    struct item *held = slab_alloc(sl, a, NULL, NULL);
    cr_assert_null(held, "the page is full");
    /* make one chunk in-flight: a writer owns it */
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    held = slab_alloc(sl, a, take_victim, &v);
    cr_assert_not_null(held);
    unsigned b = slab_class_for(sl, 5000);
    struct victims none = {.as = SLAB_RECLAIM_EVICTED};
    cr_assert_null(slab_alloc(sl, b, take_victim, &none));
    cr_assert_eq(class_stats(sl, a).pages, 1, "a page with an allocated chunk stays");
    slab_destroy(sl);
}

Test(slab, lowered_limit_is_given_back_by_balance) {
    struct slabs *sl = new_slabs(4);
    unsigned cls = slab_class_for(sl, 1000);
    fill_class_linked(sl, cls);
    cr_assert_gt(slab_total_malloced(sl), 3 * MB);
    slab_set_limit(sl, MB);
    cr_assert_eq(slab_limit(sl), MB);
    cr_assert_null(slab_alloc(sl, cls, NULL, NULL), "no growth past the new limit");
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    for (int i = 0; i < 4 && slab_total_malloced(sl) > MB; i++)
        slab_balance(sl, take_victim, &v);
    cr_assert_leq(slab_total_malloced(sl), MB);
    cr_assert_gt(class_stats(sl, cls).evicted, 0);
    slab_destroy(sl);
}

/* The balancer moves pages from a class whose items sit idle to one whose
 * CLOCK evicts items just written. */
Test(slab, balance_moves_pages_to_the_class_under_pressure) {
    clock_test_advance(1000);
    struct slabs *sl = new_slabs(1);
    unsigned cold = slab_class_for(sl, 100), hot = slab_class_for(sl, 2000);
    rel_time_t now = clock_now();
    struct item *it;
    while ((it = slab_alloc(sl, cold, NULL, NULL)) != NULL) {
        item_set_state(it, ITEM_LINKED);
        item_set_atime(it, now - 500);
    }
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    for (int i = 0; i < 200; i++) { /* the hot class churns through its pages */
        it = slab_alloc(sl, hot, take_victim, &v);
        cr_assert_not_null(it);
        item_set_state(it, ITEM_LINKED);
        item_set_atime(it, now);
    }
    uint64_t hot_pages = class_stats(sl, hot).pages;
    cr_assert_gt(class_stats(sl, hot).evicted, 0, "the hot class did not evict");
    unsigned moved = slab_balance(sl, take_victim, &v);
    cr_assert_gt(moved, 0);
    cr_assert_gt(class_stats(sl, hot).pages, hot_pages);
    cr_assert_leq(slab_total_malloced(sl), MB);
    /* and not back: the cold class is not under pressure */
    cr_assert_eq(slab_balance(sl, take_victim, &v), 0);
    slab_destroy(sl);
}

/* --- the CLOCK sweep ------------------------------------------------------- */

/* One page of class cls, every chunk linked; returns the chunk count. */
static unsigned fill_linked(struct slabs *sl, unsigned cls, struct item **first) {
    unsigned n = class_stats(sl, cls).per_page;
    for (unsigned i = 0; i < n; i++) {
        struct item *it = alloc_linked(sl, cls);
        if (i == 0)
            *first = it;
    }
    return n;
}

Test(slab, sweep_offers_oldest_chunk_first) {
    unsigned cls;
    struct slabs *sl = one_page_slabs(2000, &cls);
    struct item *first;
    fill_linked(sl, cls, &first);
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    struct item *it = slab_alloc(sl, cls, take_victim, &v);
    cr_assert_eq(it, first);
    cr_assert_eq(item_state(it), ITEM_ALLOCATED);
    struct slab_class_stats cs = class_stats(sl, cls);
    cr_assert_eq(cs.evicted, 1);
    cr_assert_eq(cs.evicted_unfetched, 1);
    cr_assert_eq(cs.reclaimed, 0);
    slab_destroy(sl);
}

Test(slab, sweep_spares_active_once_and_clears_bit) {
    unsigned cls;
    struct slabs *sl = one_page_slabs(2000, &cls);
    struct item *first;
    fill_linked(sl, cls, &first);
    item_bits_set(first, ITEM_ACTIVE | ITEM_FETCHED);
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    struct item *it = slab_alloc(sl, cls, take_victim, &v);
    cr_assert_neq(it, first, "an active item was taken on the first pass");
    cr_assert_eq(item_bits(first) & ITEM_ACTIVE, 0, "the sweep did not clear ACTIVE");
    cr_assert_eq(item_bits(first) & ITEM_FETCHED, ITEM_FETCHED);
    slab_destroy(sl);
}

Test(slab, fetched_victim_not_counted_unfetched) {
    unsigned cls;
    struct slabs *sl = one_page_slabs(2000, &cls);
    struct item *first;
    fill_linked(sl, cls, &first);
    item_bits_set(first, ITEM_FETCHED);
    struct victims v = {.as = SLAB_RECLAIM_EXPIRED};
    cr_assert_eq(slab_alloc(sl, cls, take_victim, &v), first);
    struct slab_class_stats cs = class_stats(sl, cls);
    cr_assert_eq(cs.reclaimed, 1);
    cr_assert_eq(cs.expired_unfetched, 0);
    cr_assert_eq(cs.evicted, 0);
    slab_destroy(sl);
}

Test(slab, sweep_skips_free_and_allocated_chunks) {
    unsigned cls;
    struct slabs *sl = one_page_slabs(2000, &cls);
    struct item *first;
    fill_linked(sl, cls, &first);
    item_set_state(first, ITEM_ALLOCATED); /* a writer holds it */
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    struct item *it = slab_alloc(sl, cls, take_victim, &v);
    cr_assert_not_null(it);
    cr_assert_neq(it, first);
    cr_assert_eq(v.offered, 1, "the allocated chunk was offered");
    slab_destroy(sl);
}

/* A reclaim function that can never take anything: the sweep gives up after
 * a bounded number of chunks instead of spinning. */
Test(slab, sweep_gives_up_when_nothing_can_be_taken) {
    struct slabs *sl = new_slabs(1);
    unsigned cls = slab_class_for(sl, 50);
    unsigned n = fill_class_linked(sl, cls);
    cr_assert_gt(n, 2048);
    struct victims v = {.refuse = true};
    cr_assert_null(slab_alloc(sl, cls, take_victim, &v));
    cr_assert_gt(v.offered, 0);
    cr_assert_leq(v.offered, 2048);
    cr_assert_eq(class_stats(sl, cls).outofmemory, 2, "the fill's last try and this one");
    slab_destroy(sl);
}

/* With eviction off (-M) the sweep only looks for dead items, and gives up
 * after a few live ones instead of trying 2048 chunks per refused store. */
Test(slab, sweep_without_eviction_gives_up_early) {
    struct slabs *sl = new_slabs(1);
    unsigned cls = slab_class_for(sl, 50);
    fill_class_linked(sl, cls);
    struct victims v = {.as = SLAB_RECLAIM_KEPT};
    cr_assert_null(slab_alloc(sl, cls, take_victim, &v));
    cr_assert_leq(v.offered, 64 + 64 * 4, "offered %u live items", v.offered);
    cr_assert_eq(class_stats(sl, cls).evicted, 0);
    slab_destroy(sl);
}

static void count_chunk(void *ctx, struct item *it) {
    unsigned *n = ctx;
    n[0]++;
    n[1] += item_state(it) != ITEM_FREE;
}

/* Pages are carved whole when taken: the walk sees every chunk, free ones
 * included, and the sweep may read any of them. */
Test(slab, walk_sees_every_chunk_of_the_pages) {
    struct slabs *sl = new_slabs(4);
    unsigned cls = slab_class_for(sl, 300);
    for (int i = 0; i < 10; i++)
        slab_alloc(sl, cls, NULL, NULL);
    unsigned seen[2] = {0, 0};
    slab_walk(sl, cls, count_chunk, seen);
    cr_assert_eq(seen[0], class_stats(sl, cls).per_page);
    cr_assert_eq(seen[1], 10);
    slab_destroy(sl);
}

/* --- reassign and crawl ----------------------------------------------------- */

struct moves {
    unsigned n, src, dst;
};

static void record_move(void *ctx, unsigned src, unsigned dst) {
    struct moves *m = ctx;
    m->n++;
    m->src = src;
    m->dst = dst;
}

Test(slab, reassign_moves_one_page_evicting_what_is_on_it) {
    struct slabs *sl = new_slabs(1);
    struct moves m = {0};
    slab_set_move_hook(sl, record_move, &m);
    unsigned a = slab_class_for(sl, 1000), b = slab_class_for(sl, 5000);
    fill_class_linked(sl, a);
    uint64_t a_pages = class_stats(sl, a).pages;
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    uint64_t evicted = 0, rescued = 0;
    cr_assert_eq(slab_reassign(sl, (int)a, (int)b, take_victim, NULL, &v, &evicted, &rescued), SLAB_REASSIGN_OK);
    cr_assert_eq(class_stats(sl, a).pages, a_pages - 1);
    cr_assert_eq(class_stats(sl, b).pages, 1);
    cr_assert_eq(evicted, class_stats(sl, a).per_page, "a full page was evicted");
    cr_assert_eq(evicted, v.offered);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(m.src, a);
    cr_assert_eq(m.dst, b);
    cr_assert_eq(slab_pages_moved(sl), 1);
    cr_assert_leq(slab_total_malloced(sl), MB);
    /* to the system (0): the memory is given back */
    size_t before = slab_total_malloced(sl);
    cr_assert_eq(slab_reassign(sl, -1, 0, take_victim, NULL, &v, &evicted, &rescued), SLAB_REASSIGN_OK);
    cr_assert_eq(slab_total_malloced(sl), before - class_stats(sl, a).page_bytes);
    cr_assert_eq(m.dst, 0);
    slab_destroy(sl);
}

Test(slab, reassign_refusals) {
    struct slabs *sl = new_slabs(1);
    unsigned a = slab_class_for(sl, 1000), b = slab_class_for(sl, 5000);
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    uint64_t evicted = 0, rescued = 0;
    cr_assert_eq(slab_reassign(sl, (int)a, (int)a, take_victim, NULL, &v, &evicted, &rescued), SLAB_REASSIGN_SAME);
    cr_assert_eq(slab_reassign(sl, 0, (int)a, take_victim, NULL, &v, &evicted, &rescued), SLAB_REASSIGN_BADCLASS);
    cr_assert_eq(slab_reassign(sl, (int)a, 99, take_victim, NULL, &v, &evicted, &rescued), SLAB_REASSIGN_BADCLASS);
    cr_assert_eq(slab_reassign(sl, (int)a, (int)b, take_victim, NULL, &v, &evicted, &rescued), SLAB_REASSIGN_NOSPARE);
    fill_class_linked(sl, a);
    v.refuse = true; /* every victim's shard is busy: nothing can go */
    cr_assert_eq(slab_reassign(sl, (int)a, (int)b, take_victim, NULL, &v, &evicted, &rescued), SLAB_REASSIGN_BUSY);
    cr_assert_eq(evicted, 0);
    slab_destroy(sl);
}

static enum slab_reclaim dead_if_odd(void *ctx, struct item *it) {
    unsigned *calls = ctx;
    (*calls)++;
    if (it->flags % 2 == 0)
        return SLAB_RECLAIM_NONE;
    item_set_state(it, ITEM_ALLOCATED);
    return SLAB_RECLAIM_EXPIRED;
}

/* The crawler works in bounded steps and frees only what `dead` takes. */
Test(slab, crawl_is_bounded_and_frees_only_dead_items) {
    struct slabs *sl = new_slabs(1);
    unsigned a = slab_class_for(sl, 1000);
    struct item *it;
    unsigned n = 0;
    while (n < 300 && (it = slab_alloc(sl, a, NULL, NULL)) != NULL) {
        it->flags = n++;
        item_set_state(it, ITEM_LINKED);
    }
    unsigned calls = 0;
    struct slab_crawl_result r;
    slab_crawl(sl, a, 10, dead_if_odd, &calls, &r);
    cr_assert_leq(r.checked, 10);
    cr_assert_eq(calls, r.checked);
    cr_assert_not(r.wrapped);
    uint64_t reclaimed = r.reclaimed;
    do {
        slab_crawl(sl, a, 1000, dead_if_odd, &calls, &r);
        reclaimed += r.reclaimed;
    } while (!r.wrapped);
    cr_assert_eq(reclaimed, 150);
    struct slab_class_stats cs = class_stats(sl, a);
    cr_assert_eq(cs.crawler_reclaimed, 150);
    cr_assert_eq(cs.reclaimed, 150, "a crawler reclaim is a reclaim too");
    cr_assert_eq(cs.used_chunks, 150);
    slab_destroy(sl);
}

/* --- exact pages ------------------------------------------------------------ */

/* Allocates an item of `total` bytes in its class and links it. */
static struct item *alloc_sized(struct slabs *sl, size_t total, slab_reclaim_fn reclaim,
                                void *ctx) {
    struct item *it = slab_alloc_size(sl, slab_class_for(sl, total), total, reclaim, ctx);
    if (it != NULL) {
        it->nbytes = (uint32_t)(total - ITEM_HEADER - 1);
        it->nkey = 1;
        item_set_state(it, ITEM_LINKED);
        item_set_atime(it, clock_now());
    }
    return it;
}

/* The 1.25-factor class of a 300 KB item was 331 KB, jemalloc's 320 KB. */
Test(slab, large_item_costs_within_a_few_percent_of_its_size) {
    struct slabs *sl = new_slabs(64);
    const size_t sizes[] = {32 * 1024 + 1, 40000, 65 * 1024, 100000, 300 * 1024, 700000, MB};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct item *it = alloc_sized(sl, sizes[k], NULL, NULL);
        cr_assert_not_null(it);
        size_t cost = slab_total_malloced(sl);
        cr_assert_geq(cost, sizes[k]);
        cr_assert_leq(cost, sizes[k] + 4096 + 16, "%zu bytes cost %zu", sizes[k], cost);
        memset(item_key(it), 'v', sizes[k] - ITEM_HEADER); /* every byte is the chunk's */
        slab_free(sl, it);
        cr_assert_eq(slab_total_malloced(sl), 0, "the page goes with its item");
        cr_assert_eq(class_stats(sl, slab_class_for(sl, sizes[k])).pages, 0);
    }
    slab_destroy(sl);
}

/* An exact class under its limit evicts as many of its items as a bigger
 * one needs, and never passes the limit. */
Test(slab, exact_class_evicts_until_the_item_fits) {
    struct slabs *sl = slab_create(MB, MB, 1.25, 48);
    cr_assert_not_null(sl);
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    unsigned small = 0;
    while (alloc_sized(sl, 70000, NULL, NULL) != NULL)
        small++;
    cr_assert_geq(small, 13);
    struct item *big = alloc_sized(sl, 120000, take_victim, &v);
    cr_assert_not_null(big, "no room made for a bigger item of the class");
    cr_assert_geq(v.offered, 1);
    cr_assert_leq(slab_total_malloced(sl), MB);
    /* random sizes across the exact classes, evicting */
    uint32_t seed = 7;
    for (int i = 0; i < 500; i++) {
        seed = seed * 1664525u + 1013904223u;
        size_t total = 33 * 1024 + (seed >> 8) % (MB - 33 * 1024);
        cr_assert_not_null(alloc_sized(sl, total, take_victim, &v), "%zu bytes", total);
        cr_assert_leq(slab_total_malloced(sl), MB, "past the limit after %d", i);
    }
    slab_destroy(sl);
}

static enum slab_reclaim dead_all(void *ctx, struct item *it) {
    (void)ctx;
    item_set_state(it, ITEM_ALLOCATED);
    return SLAB_RECLAIM_EXPIRED;
}

/* The crawler freeing an exact item frees its page, and still visits every
 * page once (the last page takes the freed one's place). */
Test(slab, crawl_gives_back_exact_pages) {
    struct slabs *sl = new_slabs(16);
    unsigned cls = slab_class_for(sl, 200000);
    for (int i = 0; i < 10; i++)
        cr_assert_not_null(alloc_sized(sl, 150000 + 1000 * i, NULL, NULL));
    cr_assert_eq(class_stats(sl, cls).pages, 10);
    struct slab_crawl_result r;
    uint64_t reclaimed = 0;
    do {
        slab_crawl(sl, cls, 3, dead_all, NULL, &r);
        reclaimed += r.reclaimed;
    } while (!r.wrapped);
    cr_assert_eq(reclaimed, 10);
    cr_assert_eq(class_stats(sl, cls).pages, 0);
    cr_assert_eq(slab_total_malloced(sl), 0);
    slab_destroy(sl);
}

/* --- balancing by cost ------------------------------------------------------ */

/* Allocates `n` items of `size` in its class, evicting, all accessed now. */
static void write_items(struct slabs *sl, size_t size, unsigned n, struct victims *v) {
    for (unsigned i = 0; i < n; i++)
        cr_assert_not_null(alloc_sized(sl, size, take_victim, v));
}

static uint64_t class_bytes(struct slabs *sl, size_t size) {
    struct slab_class_stats cs = class_stats(sl, slab_class_for(sl, size));
    return cs.pages * cs.page_bytes;
}

/* Items of one size, left alone for an hour, then of others written at a
 * high rate: the old class's pages end up with the new classes (none left
 * stranded), however the sizes compare. */
static void check_new_mix_takes_the_memory(const size_t *old, const size_t *young, unsigned nyoung) {
    struct slabs *sl = new_slabs(4);
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    while (alloc_sized(sl, old[0], NULL, NULL) != NULL)
        ;
    cr_assert_gt(class_bytes(sl, old[0]), 3 * MB);
    clock_test_advance(3600);
    for (int round = 0; round < 60; round++) {
        clock_test_advance(1);
        for (unsigned k = 0; k < nyoung; k++)
            write_items(sl, young[k], (unsigned)(256 * 1024 / young[k]) + 1, &v);
        slab_balance(sl, take_victim, &v);
        cr_assert_leq(slab_total_malloced(sl), 4 * MB);
    }
    cr_assert_leq(class_bytes(sl, old[0]), 4 * MB / 8, "the old class kept %lu bytes",
                  (unsigned long)class_bytes(sl, old[0]));
    uint64_t young_bytes = 0;
    for (unsigned k = 0; k < nyoung; k++) {
        cr_assert_geq(class_bytes(sl, young[k]), SLAB_PAGE_SIZE / 2, "new class %u starved", k);
        young_bytes += class_bytes(sl, young[k]);
    }
    cr_assert_geq(young_bytes, 3 * MB, "the new classes hold %lu bytes", (unsigned long)young_bytes);
    slab_destroy(sl);
}

Test(slab, new_mix_takes_the_memory_of_an_old_small_one) {
    const size_t old[] = {100}, young[] = {2000, 9000};
    check_new_mix_takes_the_memory(old, young, 2);
}

Test(slab, new_mix_takes_the_memory_of_an_old_large_one) {
    const size_t old[] = {9000}, young[] = {120, 1500};
    check_new_mix_takes_the_memory(old, young, 2);
}

/* Two classes evicting items of the same age: memory goes to the one with
 * the small items, which buys more hits per byte. */
Test(slab, balance_prefers_small_items_of_the_same_age) {
    struct slabs *sl = new_slabs(4);
    struct victims v = {.as = SLAB_RECLAIM_EVICTED};
    write_items(sl, 5000, 4 * MB / 5000, &v); /* memory full of large items */
    uint64_t small_before = 0;
    for (int round = 0; round < 20; round++) {
        clock_test_advance(1);
        write_items(sl, 5000, 100, &v);
        write_items(sl, 200, 2000, &v);
        if (round == 0)
            small_before = class_bytes(sl, 200);
        slab_balance(sl, take_victim, &v);
    }
    cr_assert_gt(class_bytes(sl, 200), small_before + MB, "small: %lu bytes",
                 (unsigned long)class_bytes(sl, 200));
    cr_assert_leq(slab_total_malloced(sl), 4 * MB);
    slab_destroy(sl);
}
