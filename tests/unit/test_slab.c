/*
 * Unit tests for storage/slab.c on its own: class layout, the page limit
 * (with its one-first-page-per-class overshoot) and the CLOCK sweep, driven
 * through a fake reclaim function instead of the store.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "storage/item.h"
#include "storage/slab.h"

#define PAGE (1u << 20)

static struct slabs *new_slabs(size_t limit_pages) {
    struct slabs *sl = slab_create(limit_pages * PAGE, PAGE, 1.25, 48);
    cr_assert_not_null(sl);
    return sl;
}

static struct slab_class_stats class_stats(struct slabs *sl, unsigned cls) {
    struct slab_class_stats cs;
    slab_class_stats(sl, cls, &cs);
    return cs;
}

/* Allocates a chunk and marks it linked, as the store would. */
static struct item *alloc_linked(struct slabs *sl, unsigned cls) {
    struct item *it = slab_alloc(sl, cls, NULL, NULL);
    cr_assert_not_null(it);
    item_set_state(it, ITEM_LINKED);
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
    item_set_state(it, ITEM_ALLOCATED);
    v->last = it;
    return v->as;
}

/* --- layout ---------------------------------------------------------------- */

Test(slab, classes_grow_by_factor_in_8_byte_steps) {
    struct slabs *sl = new_slabs(64);
    unsigned n = slab_class_count(sl);
    cr_assert_gt(n, 10);
    cr_assert_leq(n, SLAB_CLASS_MAX);
    struct slab_class_stats first = class_stats(sl, 1);
    cr_assert_eq(first.chunk_size, (ITEM_HEADER + 48 + 7) & ~7u);
    for (unsigned c = 2; c < n; c++) {
        uint32_t prev = class_stats(sl, c - 1).chunk_size, cur = class_stats(sl, c).chunk_size;
        cr_assert_eq(cur % 8, 0, "class %u: %u", c, cur);
        cr_assert_gt(cur, prev);
        cr_assert_leq(cur, prev * 1.25 + 8, "class %u grows by more than the factor", c);
        cr_assert_leq(cur, PAGE / 2);
    }
    struct slab_class_stats last = class_stats(sl, n);
    cr_assert_eq(last.chunk_size, PAGE, "the last class holds one whole-page item");
    cr_assert_eq(last.per_page, 1);
    slab_destroy(sl);
}

Test(slab, per_page_fills_the_page) {
    struct slabs *sl = new_slabs(64);
    for (unsigned c = 1; c <= slab_class_count(sl); c++) {
        struct slab_class_stats cs = class_stats(sl, c);
        cr_assert_eq(cs.per_page, PAGE / cs.chunk_size, "class %u", c);
    }
    slab_destroy(sl);
}

Test(slab, class_for_size_boundaries) {
    struct slabs *sl = new_slabs(64);
    uint32_t size2 = class_stats(sl, 2).chunk_size;
    cr_assert_eq(slab_class_for(sl, 1), 1);
    cr_assert_eq(slab_class_for(sl, size2), 2);
    cr_assert_eq(slab_class_for(sl, size2 + 1), 3);
    cr_assert_eq(slab_class_for(sl, PAGE), slab_class_count(sl));
    cr_assert_eq(slab_class_for(sl, PAGE + 1), 0, "bigger than a page has no class");
    slab_destroy(sl);
}

Test(slab, create_rejects_bad_arguments) {
    cr_assert_null(slab_create(PAGE, PAGE, 1.0, 48));
    cr_assert_null(slab_create(PAGE, PAGE, 0.5, 48));
    cr_assert_null(slab_create(PAGE, 64, 1.25, 48));
}

Test(slab, large_pages_and_factor) {
    struct slabs *sl = slab_create(64u * PAGE, 4 * PAGE, 2.0, 48);
    cr_assert_not_null(sl);
    cr_assert_eq(slab_page_size(sl), 4 * PAGE);
    unsigned n = slab_class_count(sl);
    cr_assert_eq(class_stats(sl, n).chunk_size, 4 * PAGE);
    cr_assert_eq(slab_class_for(sl, 3 * PAGE), n);
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
                 "a fresh page is carved in order");
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

/* Allocates every chunk of the class's pages; returns how many. */
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
    cr_assert_eq(got, 2 * cs.per_page);
    cr_assert_eq(cs.pages, 2);
    cr_assert_eq(slab_total_malloced(sl), 2 * PAGE);
    cr_assert_eq(slab_limit(sl), 2 * PAGE);
    cr_assert_eq(slab_first_pages(sl), 0);
    cr_assert_eq(cs.outofmemory, 1);
    slab_destroy(sl);
}

/* memcached's rule: a class without pages gets one even past the limit. */
Test(slab, first_page_of_a_class_allowed_past_limit) {
    struct slabs *sl = new_slabs(1);
    unsigned a = slab_class_for(sl, 100), b = slab_class_for(sl, 5000);
    alloc_all(sl, a);
    unsigned got = alloc_all(sl, b);
    cr_assert_eq(got, class_stats(sl, b).per_page, "class b got more than its first page");
    cr_assert_eq(slab_first_pages(sl), 1);
    cr_assert_eq(slab_total_malloced(sl), 2 * PAGE);
    slab_destroy(sl);
}

Test(slab, lowering_limit_keeps_pages_but_stops_growth) {
    struct slabs *sl = new_slabs(4);
    unsigned cls = slab_class_for(sl, 100000);
    for (int i = 0; i < 2 * (int)class_stats(sl, cls).per_page; i++)
        slab_alloc(sl, cls, NULL, NULL);
    cr_assert_eq(slab_total_malloced(sl), 2 * PAGE);
    slab_set_limit(sl, PAGE);
    cr_assert_eq(slab_limit(sl), PAGE);
    cr_assert_eq(slab_total_malloced(sl), 2 * PAGE);
    cr_assert_eq(alloc_all(sl, cls), 0);
    cr_assert_eq(slab_total_malloced(sl), 2 * PAGE);
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
    struct slabs *sl = new_slabs(1);
    unsigned cls = slab_class_for(sl, 2000);
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
    struct slabs *sl = new_slabs(1);
    unsigned cls = slab_class_for(sl, 2000);
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
    struct slabs *sl = new_slabs(1);
    unsigned cls = slab_class_for(sl, 2000);
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
    struct slabs *sl = new_slabs(1);
    unsigned cls = slab_class_for(sl, 2000);
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
    struct item *first;
    unsigned n = fill_linked(sl, cls, &first);
    cr_assert_gt(n, 2048);
    struct victims v = {.refuse = true};
    cr_assert_null(slab_alloc(sl, cls, take_victim, &v));
    cr_assert_gt(v.offered, 0);
    cr_assert_leq(v.offered, 2048);
    cr_assert_eq(class_stats(sl, cls).outofmemory, 1);
    slab_destroy(sl);
}

/* Chunks of the newest page not carved yet are not items: slab_walk (like
 * the sweep) must not read them. */
static void count_chunk(void *ctx, struct item *it) {
    (void)it;
    (*(unsigned *)ctx)++;
}

Test(slab, walk_sees_only_carved_chunks) {
    struct slabs *sl = new_slabs(4);
    unsigned cls = slab_class_for(sl, 300);
    for (int i = 0; i < 10; i++)
        slab_alloc(sl, cls, NULL, NULL);
    unsigned seen = 0;
    slab_walk(sl, cls, count_chunk, &seen);
    cr_assert_eq(seen, 10);
    slab_destroy(sl);
}
