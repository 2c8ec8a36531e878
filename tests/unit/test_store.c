/*
 * Unit tests for storage/store.c: the operations behind every memcached
 * command, on one thread.  Expected results are memcached 1.6's, checked by
 * hand against memcached 1.6.18 where the behaviour is not obvious (incr
 * padding, cas with -C, which counter a gat moves).
 *
 * Suites: store (operations), store_arith (incr/decr), store_expiry (time),
 * store_evict (memory limit), store_stats (counters), store_hash (growth).
 * Threaded tests live in test_concurrency.c.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "storage/slab.h"

/* --- set / get / add / replace ------------------------------------------- */

Test(store, set_then_get_returns_value_and_flags) {
    struct store *s = t_store();
    cr_assert_eq(t_store_op(s, STORE_SET, "k", "hello", 5, 42, 0, 0, NULL), STORE_OK);
    struct t_got g = t_get(s, "k");
    cr_assert(g.found);
    cr_assert_str_eq(g.val, "hello");
    cr_assert_eq(g.nbytes, 5);
    cr_assert_eq(g.flags, 42);
    store_destroy(s);
}

Test(store, get_missing_key_is_not_found) {
    struct store *s = t_store();
    cr_assert_not(t_has(s, "nope"));
    store_destroy(s);
}

Test(store, binary_value_with_nul_and_crlf_kept_exactly) {
    struct store *s = t_store();
    const char v[] = {'a', '\0', '\r', '\n', 'b'};
    cr_assert_eq(t_store_op(s, STORE_SET, "bin", v, sizeof(v), 0, 0, 0, NULL), STORE_OK);
    struct t_got g = t_get(s, "bin");
    cr_assert_eq(g.nbytes, sizeof(v));
    cr_assert_arr_eq(g.val, v, sizeof(v));
    store_destroy(s);
}

Test(store, empty_value_is_stored) {
    struct store *s = t_store();
    cr_assert_eq(t_set(s, "e", ""), STORE_OK);
    struct t_got g = t_get(s, "e");
    cr_assert(g.found);
    cr_assert_eq(g.nbytes, 0);
    store_destroy(s);
}

Test(store, set_overwrites_and_keeps_one_item) {
    struct store *s = t_store();
    t_set(s, "k", "one");
    cr_assert_eq(t_store_op(s, STORE_SET, "k", "two!", 4, 7, 0, 0, NULL), STORE_OK);
    t_assert_value(s, "k", "two!");
    cr_assert_eq(t_get(s, "k").flags, 7);
    cr_assert_eq(t_stats(s).curr_items, 1);
    store_destroy(s);
}

Test(store, keys_are_binary_safe_and_length_sensitive) {
    struct store *s = t_store();
    t_set(s, "ab", "1");
    t_set(s, "abc", "2");
    t_set(s, "a\tb", "3"); /* a tab belongs to the key in memcached */
    t_assert_value(s, "ab", "1");
    t_assert_value(s, "abc", "2");
    t_assert_value(s, "a\tb", "3");
    cr_assert_not(t_has(s, "a"));
    store_destroy(s);
}

Test(store, add_only_when_missing) {
    struct store *s = t_store();
    cr_assert_eq(t_mode(s, STORE_ADD, "k", "first"), STORE_OK);
    cr_assert_eq(t_mode(s, STORE_ADD, "k", "second"), STORE_NOT_STORED);
    t_assert_value(s, "k", "first");
    store_destroy(s);
}

Test(store, replace_only_when_present) {
    struct store *s = t_store();
    cr_assert_eq(t_mode(s, STORE_REPLACE, "k", "x"), STORE_NOT_STORED);
    cr_assert_not(t_has(s, "k"));
    t_set(s, "k", "old");
    cr_assert_eq(t_mode(s, STORE_REPLACE, "k", "new"), STORE_OK);
    t_assert_value(s, "k", "new");
    store_destroy(s);
}

Test(store, append_and_prepend_join_values) {
    struct store *s = t_store();
    t_set(s, "k", "mid");
    cr_assert_eq(t_mode(s, STORE_APPEND, "k", "-end"), STORE_OK);
    cr_assert_eq(t_mode(s, STORE_PREPEND, "k", "start-"), STORE_OK);
    t_assert_value(s, "k", "start-mid-end");
    cr_assert_eq(t_stats(s).curr_items, 1);
    store_destroy(s);
}

Test(store, append_prepend_on_missing_key_not_stored) {
    struct store *s = t_store();
    cr_assert_eq(t_mode(s, STORE_APPEND, "k", "x"), STORE_NOT_STORED);
    cr_assert_eq(t_mode(s, STORE_PREPEND, "k", "x"), STORE_NOT_STORED);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

/* memcached ignores the flags and exptime given with append/prepend. */
Test(store, append_keeps_old_flags_and_exptime) {
    struct store *s = t_store();
    t_store_op(s, STORE_SET, "k", "a", 1, 11, 100, 0, NULL);
    t_store_op(s, STORE_APPEND, "k", "b", 1, 22, 0, 0, NULL);
    struct t_got g = t_get(s, "k");
    cr_assert_str_eq(g.val, "ab");
    cr_assert_eq(g.flags, 11);
    cr_assert_neq(g.exptime, CLOCK_NEVER);
    store_destroy(s);
}

Test(store, append_gives_new_cas) {
    struct store *s = t_store();
    uint64_t c1 = 0, c2 = 0;
    t_store_op(s, STORE_SET, "k", "a", 1, 0, 0, 0, &c1);
    t_store_op(s, STORE_APPEND, "k", "b", 1, 0, 0, 0, &c2);
    cr_assert_neq(c1, c2);
    cr_assert_eq(t_get(s, "k").cas, c2);
    store_destroy(s);
}

/* --- cas ------------------------------------------------------------------ */

Test(store, cas_match_stores_and_changes_cas) {
    struct store *s = t_store();
    uint64_t c1 = 0, c2 = 0;
    t_store_op(s, STORE_SET, "k", "v1", 2, 0, 0, 0, &c1);
    cr_assert_neq(c1, 0);
    cr_assert_eq(t_get(s, "k").cas, c1);
    cr_assert_eq(t_store_op(s, STORE_CAS, "k", "v2", 2, 0, 0, c1, &c2), STORE_OK);
    cr_assert_neq(c2, c1);
    t_assert_value(s, "k", "v2");
    store_destroy(s);
}

Test(store, cas_mismatch_is_exists_and_keeps_value) {
    struct store *s = t_store();
    uint64_t c1 = 0;
    t_store_op(s, STORE_SET, "k", "v1", 2, 0, 0, 0, &c1);
    cr_assert_eq(t_store_op(s, STORE_CAS, "k", "v2", 2, 0, 0, c1 + 1, NULL), STORE_EXISTS);
    t_assert_value(s, "k", "v1");
    store_destroy(s);
}

Test(store, cas_on_missing_key_is_not_found) {
    struct store *s = t_store();
    cr_assert_eq(t_store_op(s, STORE_CAS, "k", "v", 1, 0, 0, 12345, NULL), STORE_NOT_FOUND);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

/* A stale cas loses once another client has written the key. */
Test(store, cas_after_concurrent_update_conflicts) {
    struct store *s = t_store();
    uint64_t seen = 0;
    t_store_op(s, STORE_SET, "k", "v1", 2, 0, 0, 0, &seen);
    t_set(s, "k", "other");
    cr_assert_eq(t_store_op(s, STORE_CAS, "k", "mine", 4, 0, 0, seen, NULL), STORE_EXISTS);
    t_assert_value(s, "k", "other");
    store_destroy(s);
}

/* "cas k 0 0 1 0" never matches a stored item (memcached: EXISTS). */
Test(store, cas_zero_on_present_key_is_exists) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    cr_assert_eq(t_store_op(s, STORE_CAS, "k", "w", 1, 0, 0, 0, NULL), STORE_EXISTS);
    store_destroy(s);
}

/* Non-CAS modes compare a non-zero cas too (meta ms with C). */
Test(store, set_with_cas_checks_it) {
    struct store *s = t_store();
    uint64_t c = 0;
    t_store_op(s, STORE_SET, "k", "v", 1, 0, 0, 0, &c);
    cr_assert_eq(t_store_op(s, STORE_SET, "k", "w", 1, 0, 0, c + 1, NULL), STORE_EXISTS);
    cr_assert_eq(t_store_op(s, STORE_APPEND, "k", "w", 1, 0, 0, c, NULL), STORE_OK);
    t_assert_value(s, "k", "vw");
    store_destroy(s);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

Test(store, cas_values_are_unique) {
    struct store *s = t_store();
    enum { N = 5000 };
    static uint64_t cas[N];
    char key[32];
    for (unsigned i = 0; i < N; i++)
        t_store_op(s, STORE_SET, t_key(key, "k", i % 300), "v", 1, 0, 0, 0, &cas[i]);
    qsort(cas, N, sizeof(cas[0]), cmp_u64);
    cr_assert_neq(cas[0], 0);
    for (unsigned i = 1; i < N; i++)
        cr_assert_neq(cas[i], cas[i - 1], "cas %llu given twice", (unsigned long long)cas[i]);
    store_destroy(s);
}

static void no_cas(struct store_config *cfg) { cfg->use_cas = false; }

Test(store, use_cas_off_reports_zero) {
    struct store *s = t_store_with(no_cas);
    uint64_t c = 99;
    cr_assert_eq(t_store_op(s, STORE_SET, "k", "v", 1, 0, 0, 0, &c), STORE_OK);
    cr_assert_eq(c, 0);
    cr_assert_eq(t_get(s, "k").cas, 0);
    /* memcached -C: "cas k .. 0" still answers EXISTS on a present key */
    cr_assert_eq(t_store_op(s, STORE_CAS, "k", "w", 1, 0, 0, 0, NULL), STORE_EXISTS);
    store_destroy(s);
}

/* --- delete / touch / gat ------------------------------------------------- */

Test(store, delete_present_and_missing) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    cr_assert_eq(store_delete(s, "k", 1, 0), STORE_OK);
    cr_assert_not(t_has(s, "k"));
    cr_assert_eq(store_delete(s, "k", 1, 0), STORE_NOT_FOUND);
    cr_assert_eq(t_stats(s).curr_items, 0);
    store_destroy(s);
}

Test(store, delete_with_cas) {
    struct store *s = t_store();
    uint64_t c = 0;
    t_store_op(s, STORE_SET, "k", "v", 1, 0, 0, 0, &c);
    cr_assert_eq(store_delete(s, "k", 1, c + 1), STORE_EXISTS);
    cr_assert(t_has(s, "k"));
    cr_assert_eq(store_delete(s, "k", 1, c), STORE_OK);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

Test(store, touch_changes_expiry) {
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", 10);
    cr_assert_eq(store_touch(s, "k", 1, clock_exptime(1000)), STORE_OK);
    clock_test_advance(500);
    cr_assert(t_has(s, "k"), "touch did not extend the ttl");
    cr_assert_eq(store_touch(s, "k", 1, clock_exptime(5)), STORE_OK);
    clock_test_advance(5);
    cr_assert_not(t_has(s, "k"), "touch did not shorten the ttl");
    store_destroy(s);
}

Test(store, touch_missing_is_not_found) {
    struct store *s = t_store();
    cr_assert_eq(store_touch(s, "k", 1, clock_exptime(10)), STORE_NOT_FOUND);
    store_destroy(s);
}

Test(store, touch_zero_makes_item_permanent) {
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", 10);
    store_touch(s, "k", 1, clock_exptime(0));
    clock_test_advance(100000);
    cr_assert(t_has(s, "k"));
    store_destroy(s);
}

Test(store, get_and_touch_returns_value_and_sets_ttl) {
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", 10);
    struct store_fetch_opts gat = {.touch = true, .exptime = clock_exptime(100)};
    struct t_got g = t_fetch(s, "k", &gat);
    cr_assert(g.found);
    cr_assert_str_eq(g.val, "v");
    clock_test_advance(50);
    cr_assert(t_has(s, "k"));
    clock_test_advance(50);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

Test(store, get_and_touch_missing_is_not_found) {
    struct store *s = t_store();
    struct store_fetch_opts gat = {.touch = true, .exptime = clock_exptime(100)};
    cr_assert_not(t_fetch(s, "k", &gat).found);
    store_destroy(s);
}

/* A get marks the item fetched, the second active (memcached's two hits);
 * meta's no-bump read does neither. */
Test(store, get_sets_fetched_unless_no_bump) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    struct store_fetch_opts peek = {.no_bump = true};
    cr_assert_eq(t_fetch(s, "k", &peek).bits & (ITEM_FETCHED | ITEM_ACTIVE), 0);
    t_get(s, "k");
    cr_assert_eq(t_fetch(s, "k", &peek).bits & (ITEM_FETCHED | ITEM_ACTIVE), ITEM_FETCHED);
    t_get(s, "k");
    cr_assert_eq(t_fetch(s, "k", &peek).bits & (ITEM_FETCHED | ITEM_ACTIVE),
                 ITEM_FETCHED | ITEM_ACTIVE);
    store_destroy(s);
}

/* --- flush_all ------------------------------------------------------------ */

Test(store, flush_now_drops_everything) {
    struct store *s = t_store();
    char key[32];
    for (unsigned i = 0; i < 500; i++)
        t_set(s, t_key(key, "k", i), "v");
    store_flush(s, 0);
    cr_assert_not(t_has(s, "k7"));
    cr_assert_not(t_has(s, "k499"));
    cr_assert_eq(t_stats(s).get_flushed, 2, "a get of a flushed item counts as memcached's");
    /* the flushed items are dead at once and freed by the crawler's pass */
    cr_assert_eq(store_crawl(s), 498);
    cr_assert_eq(t_stats(s).curr_items, 0);
    cr_assert_eq(t_stats(s).bytes, 0);
    cr_assert_eq(t_set(s, "k7", "again"), STORE_OK, "store unusable after flush");
    t_assert_value(s, "k7", "again");
    store_destroy(s);
}

/* memcached counts a store that meets an expired or flushed item of its key
 * as reclaimed, in the dead item's class (its t/issue_183.t). */
Test(store, store_over_flushed_or_expired_item_counts_reclaimed) {
    t_clock_settle();
    struct store *s = t_store();
    t_set(s, "k", "v");
    t_set_ttl(s, "e", "v", 2);
    store_flush(s, 0);
    t_set(s, "k", "w");
    cr_assert_eq(t_stats(s).reclaimed, 1);
    clock_test_advance(3);
    t_set_ttl(s, "e", "v", 0);
    cr_assert_eq(t_stats(s).reclaimed, 2);
    cr_assert_eq(t_stats(s).expired_unfetched, 2, "neither dead item had been read");
    t_assert_value(s, "k", "w");
    store_destroy(s);
}

static struct store_class_stats t_class(struct store *s, const char *key) {
    struct store_class_stats all[SLAB_CLASS_MAX + 1];
    unsigned cls = 0;
    store_class_stats(s, all);
    for (unsigned i = 1; i <= SLAB_CLASS_MAX; i++)
        if (all[i].mem_requested > 0)
            cls = i;
    cr_assert_neq(cls, 0, "no class holds %s", key);
    return all[cls];
}

/* memcached's per-class counters (stats slabs) and mem_requested (stats
 * items) move with each command on an item of that class. */
Test(store_stats, per_class_counters_move) {
    struct store *s = t_store();
    uint64_t cas = 0;
    t_set(s, "n", "5");
    struct store_class_stats k = t_class(s, "n");
    cr_assert_eq(k.cmd_set, 1);
    cr_assert_eq(k.mem_requested, item_total(1, 1));
    cr_assert(t_has(s, "n"));
    uint64_t v;
    cr_assert_eq(store_arith(s, "n", 1, true, 2, &v, &cas), STORE_OK);
    cr_assert_eq(store_arith(s, "n", 1, false, 1, &v, &cas), STORE_OK);
    cr_assert_eq(store_touch(s, "n", 1, CLOCK_NEVER), STORE_OK);
    enum store_status st;
    struct item *it = store_alloc(s, "n", 1, 0, CLOCK_NEVER, 1, &st);
    memcpy(item_value(it), "9", 1);
    cr_assert_eq(store_link(s, it, STORE_CAS, cas + 1000, NULL), STORE_EXISTS);
    it = store_alloc(s, "n", 1, 0, CLOCK_NEVER, 1, &st);
    memcpy(item_value(it), "9", 1);
    cr_assert_eq(store_link(s, it, STORE_CAS, cas, NULL), STORE_OK);
    k = t_class(s, "n");
    cr_assert_eq(k.get_hits, 1);
    cr_assert_eq(k.incr_hits, 1);
    cr_assert_eq(k.decr_hits, 1);
    cr_assert_eq(k.touch_hits, 1);
    cr_assert_eq(k.cas_badval, 1);
    cr_assert_eq(k.cas_hits, 1);
    cr_assert_eq(k.cmd_set, 3);
    cr_assert_eq(store_delete(s, "n", 1, 0), STORE_OK);
    struct store_class_stats all[SLAB_CLASS_MAX + 1];
    store_class_stats(s, all);
    uint64_t deletes = 0, requested = 0;
    for (unsigned i = 1; i <= SLAB_CLASS_MAX; i++) {
        deletes += all[i].delete_hits;
        requested += all[i].mem_requested;
    }
    cr_assert_eq(deletes, 1);
    cr_assert_eq(requested, 0, "mem_requested must fall back when the item goes");
    store_destroy(s);
}

Test(store, flush_negative_delay_is_immediate) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    store_flush(s, -1);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

/* memcached sets oldest_live = realtime(delay) - 1: items written up to that
 * second die once the clock reaches it; items written later survive. */
Test(store, flush_with_delay) {
    t_clock_settle();
    struct store *s = t_store();
    t_set(s, "old", "v");
    store_flush(s, 10);
    clock_test_advance(8);
    t_set(s, "mid", "v");
    cr_assert(t_has(s, "old"), "flushed before its time");
    clock_test_advance(1);
    cr_assert_not(t_has(s, "old"));
    cr_assert_not(t_has(s, "mid"), "an item written before the flush time survived");
    clock_test_advance(1);
    t_set(s, "new", "v");
    clock_test_advance(100);
    cr_assert(t_has(s, "new"), "an item written after the flush time died");
    store_destroy(s);
}

static void t_no_cas(struct store_config *cfg) { cfg->use_cas = false; }

/* With cas an immediate flush is exact; without it (-C), as in memcached,
 * whatever is stored in the same second as the flush dies with it. */
Test(store, flush_without_cas_takes_the_same_second) {
    t_clock_settle();
    struct store *exact = t_store(), *coarse = t_store_with(t_no_cas);
    store_flush(exact, 0);
    store_flush(coarse, 0);
    t_set(exact, "k", "v");
    t_set(coarse, "k", "v");
    cr_assert(t_has(exact, "k"));
    cr_assert_not(t_has(coarse, "k"), "stored in the flush's second: lost, as in memcached");
    clock_test_advance(1);
    t_set(coarse, "k2", "v");
    cr_assert(t_has(coarse, "k2"), "stored a second later: kept");
    store_destroy(exact);
    store_destroy(coarse);
}

Test(store, immediate_flush_cancels_pending_delayed_flush) {
    struct store *s = t_store();
    store_flush(s, 100);
    store_flush(s, 0);
    clock_test_advance(1);
    t_set(s, "k", "v");
    clock_test_advance(200);
    cr_assert(t_has(s, "k"));
    store_destroy(s);
}

/* --- sizes ----------------------------------------------------------------- */

Test(store, key_of_250_bytes_ok_251_refused) {
    struct store *s = t_store();
    char key[252];
    memset(key, 'k', sizeof(key));
    key[250] = '\0';
    cr_assert_eq(t_set(s, key, "v"), STORE_OK);
    t_assert_value(s, key, "v");
    key[250] = 'k';
    key[251] = '\0';
    cr_assert_eq(t_set(s, key, "v"), STORE_TOO_LARGE);
    store_destroy(s);
}

Test(store, empty_key_refused) {
    struct store *s = t_store();
    cr_assert_eq(t_set(s, "", "v"), STORE_TOO_LARGE);
    store_destroy(s);
}

/* The largest item is one whole page (item_size_max), header and key included. */
Test(store, item_size_limit) {
    struct store *s = t_store();
    size_t max = store_config(s)->item_size_max - ITEM_HEADER - 1;
    enum store_status st;
    struct item *it = store_alloc(s, "k", 1, 0, 0, max, &st);
    cr_assert_not_null(it);
    cr_assert_eq(store_link(s, it, STORE_SET, 0, NULL), STORE_OK);
    cr_assert_eq(t_get(s, "k").nbytes, max);
    cr_assert_null(store_alloc(s, "k2", 2, 0, 0, max, &st));
    cr_assert_eq(st, STORE_TOO_LARGE);
    cr_assert_eq(t_stats(s).store_too_large, 1);
    store_destroy(s);
}

static void two_mb_items(struct store_config *cfg) { cfg->item_size_max = 2u << 20; }

Test(store, item_size_max_above_page_grows_pages) {
    struct store *s = t_store_with(two_mb_items);
    struct slab_class_stats cs;
    unsigned cls = slab_class_for(store_slabs(s), (1u << 20) + 200);
    cr_assert_neq(cls, 0);
    slab_class_stats(store_slabs(s), cls, &cs);
    cr_assert_geq(cs.page_bytes, (1u << 20) + 200, "a page holds at least one such item");
    enum store_status st;
    struct item *it = store_alloc(s, "big", 3, 0, 0, (1u << 20) + 100, &st);
    cr_assert_not_null(it, "a 1 MB+ item should fit with -I 2m");
    store_release(s, it);
    store_destroy(s);
}

/* An alloc'd item that is never linked goes back to its class. */
Test(store, release_returns_chunk) {
    struct store *s = t_store();
    enum store_status st;
    struct item *it = store_alloc(s, "k", 1, 0, 0, 10, &st);
    struct slab_class_stats cs;
    slab_class_stats(store_slabs(s), it->clsid, &cs);
    cr_assert_eq(cs.used_chunks, 1);
    unsigned cls = it->clsid;
    store_release(s, it);
    slab_class_stats(store_slabs(s), cls, &cs);
    cr_assert_eq(cs.used_chunks, 0);
    store_destroy(s);
}

/* --- walk ------------------------------------------------------------------ */

Test(store, walk_visits_live_items_with_limit) {
    struct store *s = t_store();
    char key[32];
    for (unsigned i = 0; i < 100; i++)
        t_set(s, t_key(key, "k", i), "v");
    t_set_ttl(s, "dying", "v", 5);
    clock_test_advance(5);
    cr_assert_eq(t_walk_all(s).items, 100, "walk must skip expired items");
    struct t_walk w = {0};
    store_walk(s, 10, t_walk_emit, &w);
    cr_assert_eq(w.items, 10);
    store_destroy(s);
}

Test(store, create_rejects_bad_config) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = 0;
    cr_assert_null(store_create(&cfg));
    store_config_defaults(&cfg);
    cfg.item_size_max = 512;
    cr_assert_null(store_create(&cfg));
    store_config_defaults(&cfg);
    cfg.factor = 1.0;
    cr_assert_null(store_create(&cfg));
}

/* --- incr / decr (suite store_arith) --------------------------------------- */

/* Stores `start`, applies one incr/decr and checks status, result and the
 * value a get returns afterwards (memcached pads a shorter result with
 * spaces in place: "100" decr 95 reads back as "5  "). */
static void check_arith(const char *start, bool incr, uint64_t delta, enum store_status want_st,
                        uint64_t want, const char *want_value) {
    struct store *s = t_store();
    t_set(s, "n", start);
    uint64_t v = 0;
    enum store_status st = t_arith(s, "n", incr, delta, &v);
    cr_assert_eq(st, want_st, "%s %s %llu: status %d", start, incr ? "incr" : "decr",
                 (unsigned long long)delta, st);
    if (st == STORE_OK)
        cr_assert_eq(v, want, "%s: result %llu, want %llu", start, (unsigned long long)v,
                     (unsigned long long)want);
    t_assert_value(s, "n", want_value);
    store_destroy(s);
}

Test(store_arith, incr_and_decr_basic) {
    check_arith("10", true, 5, STORE_OK, 15, "15");
    check_arith("10", false, 3, STORE_OK, 7, "7 ");
}

Test(store_arith, decr_shorter_result_is_space_padded) {
    check_arith("100", false, 95, STORE_OK, 5, "5  ");
}

Test(store_arith, incr_longer_result_grows_item) {
    check_arith("99", true, 1, STORE_OK, 100, "100");
}

Test(store_arith, incr_wraps_at_2_pow_64) {
    check_arith("18446744073709551615", true, 2, STORE_OK, 1, "1                   ");
}

Test(store_arith, incr_max_delta) {
    check_arith("0", true, UINT64_MAX, STORE_OK, UINT64_MAX, "18446744073709551615");
}

Test(store_arith, decr_floors_at_zero) {
    check_arith("5", false, 6, STORE_OK, 0, "0");
    check_arith("5", false, UINT64_MAX, STORE_OK, 0, "0");
}

Test(store_arith, non_numeric_values_refused) {
    const char *bad[] = {"abc", "", " ", "-5", "-0001", "12ab", "+", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_arith(bad[i], true, 1, STORE_NON_NUMERIC, 0, bad[i]);
}

/* memcached runs strtoull on the value: leading white space and a '+' are
 * skipped and the digits may be followed by white space and anything. */
Test(store_arith, strtoull_forms_accepted_like_memcached) {
    check_arith("12 ab", true, 1, STORE_OK, 13, "13   ");
    check_arith("\t123", true, 1, STORE_OK, 124, "124 ");
    check_arith("+5", true, 1, STORE_OK, 6, "6 ");
    check_arith("12\t", true, 1, STORE_OK, 13, "13 ");
    check_arith("007", true, 1, STORE_OK, 8, "8  ");
    check_arith("-0", true, 1, STORE_OK, 1, "1 ");
}

Test(store_arith, missing_key_not_found) {
    struct store *s = t_store();
    uint64_t v;
    cr_assert_eq(t_arith(s, "n", true, 1, &v), STORE_NOT_FOUND);
    cr_assert_eq(t_arith(s, "n", false, 1, &v), STORE_NOT_FOUND);
    cr_assert_not(t_has(s, "n"));
    store_destroy(s);
}

Test(store_arith, changes_cas_and_keeps_flags) {
    struct store *s = t_store();
    uint64_t c1 = 0, c2 = 0, v;
    t_store_op(s, STORE_SET, "n", "9", 1, 77, 0, 0, &c1);
    cr_assert_eq(store_arith(s, "n", 1, true, 1, &v, &c2), STORE_OK);
    cr_assert_neq(c2, c1);
    struct t_got g = t_get(s, "n");
    cr_assert_eq(g.cas, c2);
    cr_assert_eq(g.flags, 77, "flags lost when the item grew");
    store_destroy(s);
}

/* A grown counter is a new item: it must keep the old expiry. */
Test(store_arith, grown_item_keeps_exptime) {
    struct store *s = t_store();
    t_set_ttl(s, "n", "9", 100);
    uint64_t v;
    t_arith(s, "n", true, 1, &v);
    clock_test_advance(99);
    t_assert_value(s, "n", "10");
    clock_test_advance(1);
    cr_assert_not(t_has(s, "n"));
    store_destroy(s);
}

Test(store_arith, repeated_incr_counts) {
    struct store *s = t_store();
    t_set(s, "n", "0");
    uint64_t v = 0;
    for (unsigned i = 0; i < 1000; i++)
        t_arith(s, "n", true, 3, &v);
    cr_assert_eq(v, 3000);
    t_assert_value(s, "n", "3000");
    for (unsigned i = 0; i < 999; i++)
        t_arith(s, "n", false, 3, &v);
    t_assert_value(s, "n", "3   ");
    cr_assert_eq(t_stats(s).curr_items, 1);
    store_destroy(s);
}

/* --- expiry (suite store_expiry) ------------------------------------------- */

Test(store_expiry, zero_never_expires) {
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", 0);
    clock_test_advance(10u * 365 * 86400);
    cr_assert(t_has(s, "k"));
    store_destroy(s);
}

/* Expired exactly when the clock reaches the expiry second, as in memcached
 * (exptime <= current_time). */
Test(store_expiry, relative_ttl_boundary) {
    t_clock_settle();
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", 100);
    clock_test_advance(99);
    cr_assert(t_has(s, "k"), "expired one second early");
    clock_test_advance(1);
    cr_assert_not(t_has(s, "k"), "alive at its expiry second");
    store_destroy(s);
}

Test(store_expiry, thirty_days_is_still_relative) {
    t_clock_settle();
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", CLOCK_MAX_DELTA);
    clock_test_advance(CLOCK_MAX_DELTA - 1);
    cr_assert(t_has(s, "k"));
    clock_test_advance(1);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

/* 2592001 is read as a unix time in January 1970: long past. */
Test(store_expiry, above_thirty_days_is_absolute_past) {
    struct store *s = t_store();
    cr_assert_eq(t_set_ttl(s, "k", "v", CLOCK_MAX_DELTA + 1), STORE_OK);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

Test(store_expiry, absolute_future_time) {
    t_clock_settle();
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", (int64_t)clock_unix_now() + 100);
    clock_test_advance(99);
    cr_assert(t_has(s, "k"));
    clock_test_advance(1);
    cr_assert_not(t_has(s, "k"));
    store_destroy(s);
}

Test(store_expiry, absolute_past_time_expires_at_once) {
    struct store *s = t_store();
    clock_test_advance(1000); /* a past time after process start, too */
    t_set_ttl(s, "a", "v", (int64_t)clock_unix_now() - 100);
    t_set_ttl(s, "b", "v", (int64_t)clock_unix_now() - 1000000);
    cr_assert_not(t_has(s, "a"));
    cr_assert_not(t_has(s, "b"));
    store_destroy(s);
}

Test(store_expiry, negative_expires_at_once) {
    struct store *s = t_store();
    cr_assert_eq(t_set_ttl(s, "k", "v", -1), STORE_OK, "memcached answers STORED");
    cr_assert_not(t_has(s, "k"));
    t_set(s, "k2", "v");
    store_touch(s, "k2", 2, clock_exptime(-1));
    cr_assert_not(t_has(s, "k2"), "touch with a negative exptime must expire");
    store_destroy(s);
}

/* A wall-clock step (NTP, date -s) must not move relative expiries. */
static void check_wall_step(int64_t step) {
    t_clock_settle();
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", 100);
    clock_test_wall_step(step);
    cr_assert(t_has(s, "k"), "wall step %+lld expired an item", (long long)step);
    clock_test_advance(99);
    cr_assert(t_has(s, "k"));
    clock_test_advance(1);
    cr_assert_not(t_has(s, "k"), "wall step %+lld prolonged an item", (long long)step);
    store_destroy(s);
}

Test(store_expiry, wall_step_forward_changes_nothing) { check_wall_step(86400); }
Test(store_expiry, wall_step_backward_changes_nothing) { check_wall_step(-86400); }

Test(store_expiry, expired_item_leaves_counts_on_lookup) {
    struct store *s = t_store();
    t_set_ttl(s, "k", "v", 10);
    t_set(s, "keep", "v");
    clock_test_advance(10);
    cr_assert_eq(t_stats(s).curr_items, 2, "nothing reclaims before a lookup or crawl");
    cr_assert_not(t_has(s, "k"));
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.curr_items, 1);
    cr_assert_eq(st.get_expired, 1);
    cr_assert_eq(st.bytes, item_total(4, 1));
    store_destroy(s);
}

Test(store_expiry, expired_key_can_be_added_again) {
    struct store *s = t_store();
    t_set_ttl(s, "k", "old", 10);
    clock_test_advance(10);
    cr_assert_eq(t_mode(s, STORE_ADD, "k", "new"), STORE_OK);
    cr_assert_eq(t_mode(s, STORE_REPLACE, "gone", "x"), STORE_NOT_STORED);
    t_assert_value(s, "k", "new");
    uint64_t v;
    t_set_ttl(s, "n", "1", 10);
    clock_test_advance(10);
    cr_assert_eq(t_arith(s, "n", true, 1, &v), STORE_NOT_FOUND);
    store_destroy(s);
}

Test(store_expiry, crawl_reclaims_expired_items) {
    struct store *s = t_store();
    char key[32];
    for (unsigned i = 0; i < 300; i++)
        t_set_ttl(s, t_key(key, "k", i), "v", i % 3 == 0 ? 0 : 10);
    clock_test_advance(10);
    cr_assert_eq(store_crawl(s), 200);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.curr_items, 100);
    cr_assert_eq(st.crawler_reclaimed, 200);
    cr_assert_geq(st.crawler_items_checked, 300);
    cr_assert_eq(t_walk_all(s).items, 100);
    cr_assert_eq(store_crawl(s), 0, "a second crawl found more");
    store_destroy(s);
}

Test(store_expiry, crawl_reclaims_flushed_items) {
    struct store *s = t_store();
    char key[32];
    for (unsigned i = 0; i < 50; i++)
        t_set(s, t_key(key, "k", i), "v");
    store_flush(s, 5);
    cr_assert_eq(store_crawl(s), 0, "crawl ran a delayed flush early");
    clock_test_advance(5);
    cr_assert_eq(store_crawl(s), 50);
    cr_assert_eq(t_stats(s).curr_items, 0);
    store_destroy(s);
}

/* --- eviction under the memory limit (suite store_evict) ------------------- */

/* Fixed-width keys and one value size keep every item in one slab class, and
 * a fresh page is carved in order, so item i sits in chunk i: the CLOCK hand
 * then meets items in the order they were stored. */
#define EV_VLEN 1100 /* 1224-byte chunks, 856 per page */

static const char *ev_key(char *buf, unsigned i) {
    snprintf(buf, 32, "e%06u", i);
    return buf;
}

static enum store_status ev_set(struct store *s, unsigned i, int64_t ttl) {
    char key[32], val[EV_VLEN];
    memset(val, 'a' + i % 26, sizeof(val));
    return t_store_op(s, STORE_SET, ev_key(key, i), val, sizeof(val), 0, ttl, 0, NULL);
}

static bool ev_has(struct store *s, unsigned i) {
    char key[32];
    return t_has(s, ev_key(key, i));
}

/* Chunks per page in the class the eviction items use. */
/* Items of the eviction tests' size that fit in one MB of limit (the tests
 * size their stores in MB; pages are SLAB_PAGE_SIZE). */
static unsigned ev_per_page(struct store *s) {
    struct slab_class_stats cs;
    unsigned cls = slab_class_for(store_slabs(s), item_total(7, EV_VLEN));
    slab_class_stats(store_slabs(s), cls, &cs);
    return cs.per_page * (T_PAGE / cs.page_bytes);
}

static void ev_fill(struct store *s, unsigned from, unsigned to, int64_t ttl) {
    for (unsigned i = from; i < to; i++)
        cr_assert_eq(ev_set(s, i, ttl), STORE_OK, "set %u failed", i);
}

Test(store_evict, never_exceeds_limit) {
    struct store *s = t_store_mb(2, true);
    ev_fill(s, 0, 10000, 0);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.limit_maxbytes, 2 * T_PAGE);
    cr_assert_leq(st.total_malloced, st.limit_maxbytes);
    cr_assert_gt(st.total_malloced, st.limit_maxbytes - SLAB_PAGE_SIZE,
                 "one class should use the whole limit");
    cr_assert_leq(st.curr_items, 2 * ev_per_page(s));
    cr_assert_eq(st.evictions, 10000 - st.curr_items);
    cr_assert_eq(st.evictions, st.evicted_unfetched, "nothing was read");
    cr_assert(ev_has(s, 9999), "the newest item was evicted");
    cr_assert_not(ev_has(s, 0), "the oldest item survived");
    store_destroy(s);
}

/* A class without pages takes one from another class: the limit holds
 * however many classes are in use. */
Test(store_evict, new_classes_take_pages_and_limit_holds) {
    struct store *s = t_store_mb(4, true);
    static const size_t sizes[] = {100, 300, 700, 1500, 3000, 6000, 12000, 24000};
    static char val[24000];
    char key[32];
    for (unsigned i = 0; i < 4000; i++) {
        snprintf(key, sizeof(key), "m%05u", i); /* one width: one class per size */
        t_store_op(s, STORE_SET, key, val, sizes[i % 8], 0, 0, 0, NULL);
    }
    struct store_stats st = t_stats(s);
    cr_assert_leq(st.total_malloced, st.limit_maxbytes);
    cr_assert_gt(st.evictions, 0);
    for (unsigned i = 0; i < 8; i++) {
        struct slab_class_stats cs;
        slab_class_stats(store_slabs(s), slab_class_for(store_slabs(s), item_total(6, sizes[i])), &cs);
        cr_assert_gt(cs.pages, 0, "size %zu has no page", sizes[i]);
    }
    snprintf(key, sizeof(key), "m%05u", 3999);
    cr_assert(t_has(s, key), "the newest item of the last class is there");
    store_destroy(s);
}

/* Baseline for the next test: without reads the hand evicts oldest first. */
Test(store_evict, unread_items_evicted_in_store_order) {
    struct store *s = t_store_mb(1, true);
    unsigned n = ev_per_page(s);
    ev_fill(s, 0, n, 0);
    cr_assert_eq(t_stats(s).evictions, 0, "page should hold %u items", n);
    ev_fill(s, n, n + n / 2, 0);
    cr_assert_not(ev_has(s, 0));
    cr_assert_not(ev_has(s, n / 2 - 1));
    cr_assert(ev_has(s, n / 2));
    store_destroy(s);
}

/* Items read twice, the second time since the hand last passed (ACTIVE),
 * are spared. */
Test(store_evict, recently_read_items_survive) {
    struct store *s = t_store_mb(1, true);
    unsigned n = ev_per_page(s), hot = n / 4;
    cr_assert_lt(hot, 1024, "the sweep only spares within its first 1024 chunks");
    ev_fill(s, 0, n, 0);
    for (int twice = 0; twice < 2; twice++)
        for (unsigned i = 0; i < hot; i++)
            ev_has(s, i);
    ev_fill(s, n, n + n / 2, 0);
    for (unsigned i = 0; i < hot; i++)
        cr_assert(ev_has(s, i), "hot item %u evicted", i);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.evictions, n / 2);
    cr_assert_eq(st.evicted_unfetched, n / 2, "a fetched item was evicted");
    store_destroy(s);
}

/* A key read once after its store is not spared: it goes first, as in
 * memcached (lru.t), though it counts as fetched. */
Test(store_evict, items_read_once_are_not_spared) {
    struct store *s = t_store_mb(1, true);
    unsigned n = ev_per_page(s);
    ev_fill(s, 0, n, 0);
    for (unsigned i = 0; i < n / 4; i++)
        ev_has(s, i);
    ev_fill(s, n, n + n / 4, 0);
    for (unsigned i = 0; i < n / 4; i++)
        cr_assert_not(ev_has(s, i), "item %u, read once, was spared", i);
    cr_assert(ev_has(s, n / 4), "an item after those was evicted instead");
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.evictions, n / 4);
    cr_assert_eq(st.evicted_unfetched, 0, "the items read once count as fetched");
    store_destroy(s);
}

/* Once the hand has cleared ACTIVE, a read item goes like any other, and
 * counts as evicted but not as evicted_unfetched. */
Test(store_evict, fetched_items_evicted_on_second_pass) {
    struct store *s = t_store_mb(1, true);
    unsigned n = ev_per_page(s);
    cr_assert_lt(n, 1024, "the sweep must be able to spare a whole page");
    ev_fill(s, 0, n, 0);
    for (unsigned i = 0; i < n; i++)
        ev_has(s, i);
    ev_fill(s, n, 2 * n, 0);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.evictions, n);
    cr_assert_eq(st.evicted_unfetched, 0);
    cr_assert_eq(st.curr_items, n);
    store_destroy(s);
}

/* Expired items are reused before anything is evicted. */
Test(store_evict, expired_items_reclaimed_not_evicted) {
    struct store *s = t_store_mb(1, true);
    unsigned n = ev_per_page(s);
    ev_fill(s, 0, n, 10);
    for (unsigned i = 0; i < n / 2; i++)
        ev_has(s, i);
    clock_test_advance(10);
    ev_fill(s, n, 2 * n, 0);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.evictions, 0);
    cr_assert_eq(st.reclaimed, n);
    cr_assert_eq(st.expired_unfetched, n - n / 2);
    cr_assert_eq(st.curr_items, n);
    store_destroy(s);
}

/* -M: a full store refuses new items and keeps every old one. */
Test(store_evict, no_evict_returns_no_memory) {
    struct store *s = t_store_mb(1, false);
    unsigned stored = 0;
    enum store_status st = STORE_OK;
    while (st == STORE_OK && stored < 100000)
        if ((st = ev_set(s, stored, 0)) == STORE_OK)
            stored++;
    cr_assert_eq(st, STORE_NO_MEMORY);
    cr_assert_eq(stored, ev_per_page(s));
    for (unsigned i = 0; i < stored; i++)
        cr_assert(ev_has(s, i), "item %u lost under -M", i);
    struct store_stats ss = t_stats(s);
    cr_assert_eq(ss.evictions, 0);
    cr_assert_eq(ss.store_no_memory, 1);
    store_destroy(s);
}

/* -M still reuses the memory of expired items (memcached does too). */
Test(store_evict, no_evict_still_reclaims_expired) {
    struct store *s = t_store_mb(1, false);
    unsigned n = ev_per_page(s);
    ev_fill(s, 0, n, 10);
    cr_assert_eq(ev_set(s, n, 0), STORE_NO_MEMORY);
    clock_test_advance(10);
    ev_fill(s, n, 2 * n, 0);
    cr_assert_eq(t_stats(s).reclaimed, n);
    store_destroy(s);
}

/* An append that needs a bigger chunk under -M fails and keeps the old value. */
Test(store_evict, no_evict_append_failure_keeps_old_value) {
    struct store *s = t_store_mb(1, false);
    unsigned n = ev_per_page(s);
    ev_fill(s, 0, n, 0);
    /* Fill the class the joined value needs (same key width, twice the
     * value): it gets its one first page past the limit, then no more. */
    static char big[EV_VLEN * 2];
    memset(big, 'b', sizeof(big));
    char key[32];
    enum store_status st = STORE_OK;
    for (unsigned i = 0; st == STORE_OK && i < 10000; i++) {
        snprintf(key, sizeof(key), "b%06u", i);
        st = t_store_op(s, STORE_SET, key, big, sizeof(big), 0, 0, 0, NULL);
    }
    cr_assert_eq(st, STORE_NO_MEMORY);
    char add[EV_VLEN];
    memset(add, 'z', sizeof(add));
    cr_assert_eq(t_store_op(s, STORE_APPEND, ev_key(key, 0), add, sizeof(add), 0, 0, 0, NULL),
                 STORE_NO_MEMORY);
    cr_assert_eq(t_get(s, key).nbytes, EV_VLEN);
    store_destroy(s);
}

Test(store_evict, set_limit_changes_maxbytes) {
    struct store *s = t_store_mb(8, true);
    store_set_limit(s, 2 * T_PAGE);
    ev_fill(s, 0, 5000, 0);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.limit_maxbytes, 2 * T_PAGE);
    cr_assert_leq(st.total_malloced, 2 * T_PAGE);
    cr_assert_gt(st.total_malloced, 2 * T_PAGE - SLAB_PAGE_SIZE);
    store_destroy(s);
}

/* --- counters (suite store_stats) ------------------------------------------ */

Test(store_stats, get_hits_and_misses) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    t_has(s, "k");
    t_has(s, "k");
    t_has(s, "nope");
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.get_hits, 2);
    cr_assert_eq(st.get_misses, 1);
    store_destroy(s);
}

/* memcached counts a gat as a touch only (checked on 1.6.18: get_hits stays 0). */
Test(store_stats, get_and_touch_counts_as_touch) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    struct store_fetch_opts gat = {.touch = true, .exptime = clock_exptime(10)};
    t_fetch(s, "k", &gat);
    t_fetch(s, "nope", &gat);
    store_touch(s, "k", 1, clock_exptime(10));
    store_touch(s, "nope", 4, clock_exptime(10));
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.touch_hits, 2);
    cr_assert_eq(st.touch_misses, 2);
    cr_assert_eq(st.get_hits, 0);
    cr_assert_eq(st.get_misses, 0);
    store_destroy(s);
}

Test(store_stats, delete_counters) {
    struct store *s = t_store();
    uint64_t c;
    t_store_op(s, STORE_SET, "k", "v", 1, 0, 0, 0, &c);
    store_delete(s, "k", 1, c + 1); /* EXISTS: neither hit nor miss */
    store_delete(s, "k", 1, 0);
    store_delete(s, "k", 1, 0);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.delete_hits, 1);
    cr_assert_eq(st.delete_misses, 1);
    store_destroy(s);
}

Test(store_stats, incr_decr_counters) {
    struct store *s = t_store();
    uint64_t v;
    t_set(s, "n", "1");
    t_set(s, "text", "abc");
    t_arith(s, "n", true, 1, &v);
    t_arith(s, "n", true, 1, &v);
    t_arith(s, "n", false, 1, &v);
    t_arith(s, "none", true, 1, &v);
    t_arith(s, "none", false, 1, &v);
    t_arith(s, "none", false, 1, &v);
    t_arith(s, "text", true, 1, &v); /* non-numeric: neither hit nor miss */
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.incr_hits, 2);
    cr_assert_eq(st.decr_hits, 1);
    cr_assert_eq(st.incr_misses, 1);
    cr_assert_eq(st.decr_misses, 2);
    store_destroy(s);
}

Test(store_stats, cas_counters) {
    struct store *s = t_store();
    uint64_t c;
    t_store_op(s, STORE_SET, "k", "v", 1, 0, 0, 0, &c);
    t_store_op(s, STORE_CAS, "k", "w", 1, 0, 0, c, &c);
    t_store_op(s, STORE_CAS, "k", "w", 1, 0, 0, c + 1, NULL);
    t_store_op(s, STORE_CAS, "k", "w", 1, 0, 0, c + 2, NULL);
    t_store_op(s, STORE_CAS, "none", "w", 1, 0, 0, 5, NULL);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.cas_hits, 1);
    cr_assert_eq(st.cas_badval, 2);
    cr_assert_eq(st.cas_misses, 1);
    store_destroy(s);
}

/* memcached's total_items counts every link: set, cas, append result, and an
 * incr whose result needed a bigger item (1.6.18: set "99" + incr = 2). */
Test(store_stats, total_items_counts_every_link) {
    struct store *s = t_store();
    uint64_t v;
    t_set(s, "n", "99");
    t_arith(s, "n", true, 1, &v); /* grows: a new item */
    t_arith(s, "n", true, 1, &v); /* in place: no new item */
    t_set(s, "a", "x");
    t_mode(s, STORE_APPEND, "a", "y");
    t_mode(s, STORE_APPEND, "missing", "y");
    t_mode(s, STORE_ADD, "a", "z");
    cr_assert_eq(t_stats(s).total_items, 4);
    cr_assert_eq(t_stats(s).curr_items, 2);
    store_destroy(s);
}

/* bytes is the sum of item sizes (header + key + value), as store_walk sees. */
Test(store_stats, curr_items_and_bytes_follow_changes) {
    struct store *s = t_store();
    char key[32];
    for (unsigned i = 0; i < 200; i++)
        t_set(s, t_key(key, "k", i), i % 2 ? "odd" : "even!");
    for (unsigned i = 0; i < 200; i += 4)
        t_del(s, t_key(key, "k", i));
    t_mode(s, STORE_APPEND, "k1", "more");
    uint64_t v;
    t_set(s, "n", "9");
    t_arith(s, "n", true, 1, &v);
    struct store_stats st = t_stats(s);
    struct t_walk w = t_walk_all(s);
    cr_assert_eq(st.curr_items, 151);
    cr_assert_eq(st.curr_items, w.items);
    cr_assert_eq(st.bytes, w.bytes);
    store_destroy(s);
}

Test(store_stats, reset_clears_counters_not_contents) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    t_has(s, "k");
    t_has(s, "nope");
    store_delete(s, "nope", 4, 0);
    store_stats_reset(s);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.get_hits, 0);
    cr_assert_eq(st.get_misses, 0);
    cr_assert_eq(st.delete_misses, 0);
    cr_assert_eq(st.total_items, 0);
    cr_assert_eq(st.curr_items, 1);
    cr_assert_eq(st.bytes, item_total(1, 1));
    cr_assert(t_has(s, "k"));
    store_destroy(s);
}

Test(store_stats, flushed_get_counts_get_flushed) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    store_flush(s, 2);
    clock_test_advance(2);
    cr_assert_not(t_has(s, "k"));
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.get_flushed, 1);
    cr_assert_eq(st.get_misses, 1);
    store_destroy(s);
}

Test(store_stats, failures_counted) {
    struct store *s = t_store_mb(1, false);
    char key[300];
    memset(key, 'k', 251);
    key[251] = '\0';
    t_set(s, key, "v");
    unsigned i = 0;
    while (ev_set(s, i, 0) == STORE_OK)
        i++;
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.store_too_large, 1);
    cr_assert_eq(st.store_no_memory, 1);
    store_destroy(s);
}

/* --- hash table growth (suite store_hash) ---------------------------------- */

static void small_hash(struct store_config *cfg) { cfg->hashpower = 12; }

static void hash_check_all(struct store *s, unsigned n) {
    char key[32];
    for (unsigned i = 0; i < n; i++) {
        struct t_got g = t_get(s, t_key(key, "h", i));
        cr_assert(g.found, "key %u of %u lost", i, n);
        cr_assert_str_eq(g.val, key);
    }
}

/* Grows a 4096-bucket table to hold 60000 keys, checking every key while
 * shards are mid-rehash, then finishes the rehash with crawls. */
Test(store_hash, keys_found_during_and_after_growth) {
    struct store *s = t_store_with(small_hash);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.hash_power_level, 12);
    cr_assert_eq(st.hash_buckets, 4096);
    bool saw_expanding = false;
    char key[32];
    for (unsigned i = 0; i < 60000; i++) {
        t_set(s, t_key(key, "h", i), key);
        if (i % 5000 == 4999) {
            saw_expanding |= t_stats(s).hash_is_expanding;
            hash_check_all(s, i + 1);
        }
    }
    cr_assert(saw_expanding, "no shard was mid-rehash at any check");
    for (unsigned i = 0; i < 10000 && t_stats(s).hash_is_expanding; i++)
        store_crawl(s);
    st = t_stats(s);
    cr_assert_not(st.hash_is_expanding, "crawls never finished the rehash");
    cr_assert_geq(st.hash_power_level, 15, "60000 keys at <= 1.5 per bucket");
    cr_assert_eq(st.hash_bytes, st.hash_buckets * sizeof(void *));
    cr_assert_eq(st.curr_items, 60000);
    cr_assert_eq(t_walk_all(s).items, 60000, "an item is in two tables, or none");
    hash_check_all(s, 60000);
    store_destroy(s);
}

/* Deletes and overwrites during a rehash find the item in whichever table
 * holds it. */
Test(store_hash, delete_and_overwrite_during_growth) {
    struct store *s = t_store_with(small_hash);
    char key[32];
    for (unsigned i = 0; i < 8000; i++)
        t_set(s, t_key(key, "h", i), "v1");
    cr_assert(t_stats(s).hash_is_expanding);
    for (unsigned i = 0; i < 8000; i += 2)
        cr_assert_eq(t_del(s, t_key(key, "h", i)), STORE_OK);
    for (unsigned i = 1; i < 8000; i += 2)
        t_set(s, t_key(key, "h", i), "v2");
    cr_assert_eq(t_stats(s).curr_items, 4000);
    cr_assert_eq(t_walk_all(s).items, 4000);
    for (unsigned i = 0; i < 8000; i++) {
        struct t_got g = t_get(s, t_key(key, "h", i));
        cr_assert_eq(g.found, i % 2 == 1, "key %u", i);
        if (g.found)
            cr_assert_str_eq(g.val, "v2");
    }
    store_destroy(s);
}

/* One delete path, two counting rules: a cas mismatch is a delete miss for
 * meta's md, not for the classic or binary delete (as memcached counts). */
Test(store, delete_counts_a_cas_mismatch_as_meta_or_classic) {
    struct store *s = t_store();
    t_set(s, "k", "v");
    cr_assert_eq(store_delete(s, "k", 1, 999999), STORE_EXISTS);
    cr_assert_eq(t_stats(s).delete_misses, 0);
    struct store_mdelete_opts md = {.has_cas = true, .cas = 999999, .mismatch_is_miss = true};
    cr_assert_eq(store_mdelete(s, "k", 1, &md), STORE_EXISTS);
    cr_assert_eq(t_stats(s).delete_misses, 1);
    cr_assert_eq(store_delete(s, "k", 1, 0), STORE_OK);
    cr_assert_eq(store_delete(s, "k", 1, 0), STORE_NOT_FOUND);
    cr_assert_eq(t_stats(s).delete_hits, 1);
    cr_assert_eq(t_stats(s).delete_misses, 2);
    store_destroy(s);
}

struct t_part_count {
    unsigned in_part;
    unsigned total;
    unsigned char *seen;
};

static void t_count_part(void *ctx, const struct item *it) {
    struct t_part_count *p = ctx;
    unsigned i = (unsigned)strtoul(item_ckey(it) + 1, NULL, 10);
    cr_assert_lt(i, 50000);
    cr_assert_eq(p->seen[i], 0, "key %u walked twice", i);
    p->seen[i] = 1;
    p->in_part++;
    p->total++;
}

/* A dump pauses between parts: a part must be a small slice of a shard,
 * so that no shard, however full, makes one part's output huge. */
Test(store, walk_parts_are_slices_of_shards) {
    struct store *s = t_store();
    char key[16];
    for (unsigned i = 0; i < 50000; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        cr_assert_eq(t_set(s, key, "v"), STORE_OK);
    }
    struct t_part_count p = {.seen = calloc(50000, 1)};
    unsigned biggest = 0;
    for (unsigned part = 0; part < store_walk_parts(); part++) {
        p.in_part = 0;
        store_walk_part(s, part, t_count_part, &p);
        if (p.in_part > biggest)
            biggest = p.in_part;
    }
    cr_assert_eq(p.total, 50000, "walked %u of 50000", p.total);
    /* 256 shards hold about 195 keys each; a part is a sixty-fourth of one */
    cr_assert_lt(biggest, 50, "a part of %u items", biggest);
    free(p.seen);
    store_destroy(s);
}

static void t_small_hash(struct store_config *cfg) { cfg->hashpower = 12; }

/* Tables grow while a dump is between parts (a slow reader, a busy server):
 * items that move to the larger table must not be walked twice or skipped.
 * The tables start at 16 buckets a shard, below the 64 slices, and grow
 * past them during the walk. */
Test(store, walk_parts_while_tables_grow) {
    struct store *s = t_store_with(t_small_hash);
    char key[16];
    for (unsigned i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        cr_assert_eq(t_set(s, key, "v"), STORE_OK);
    }
    struct t_part_count p = {.seen = calloc(50000, 1)};
    unsigned next = 5000;
    for (unsigned part = 0; part < store_walk_parts(); part++) {
        store_walk_part(s, part, t_count_part, &p);
        /* more keys between parts: shards grow and move items mid-walk */
        for (unsigned j = 0; j < 2 && next < 50000; j++, next++) {
            snprintf(key, sizeof(key), "k%u", next);
            cr_assert_eq(t_set(s, key, "v"), STORE_OK);
        }
    }
    cr_assert_gt(t_stats(s).hash_power_level, 12, "the tables did not grow");
    for (unsigned i = 0; i < 5000; i++)
        cr_assert_eq(p.seen[i], 1, "key k%u was not walked", i);
    free(p.seen);
    store_destroy(s);
}

/* --- operators' controls: events, reassign, requested crawls --------------- */

struct seen_events {
    unsigned evictions, moves;
};

static void count_event(void *ctx, const struct store_event *ev) {
    struct seen_events *e = ctx;
    if (ev->kind == STORE_EVENT_EVICTION) {
        cr_assert_eq(item_state(ev->item), ITEM_LINKED, "the victim is still linked");
        __atomic_add_fetch(&e->evictions, 1, __ATOMIC_RELAXED);
    } else {
        __atomic_add_fetch(&e->moves, 1, __ATOMIC_RELAXED);
    }
}

Test(store_ops, events_for_evictions_and_page_moves) {
    struct store *s = t_store_mb(2, true);
    struct seen_events e = {0};
    store_set_event_hook(s, count_event, &e);
    ev_fill(s, 0, 10000, 0);
    struct store_stats st = t_stats(s);
    cr_assert_gt(st.evictions, 0);
    cr_assert_eq(__atomic_load_n(&e.evictions, __ATOMIC_RELAXED), st.evictions);
    /* a reassign to the system is a move, and its victims are evictions */
    cr_assert_eq(store_reassign(s, -1, 0), SLAB_REASSIGN_OK); /* -1: the biggest class */
    cr_assert_geq(__atomic_load_n(&e.moves, __ATOMIC_RELAXED), 1);
    st = t_stats(s);
    cr_assert_gt(st.slab_reassign_evictions_nomem, 0);
    cr_assert_eq(__atomic_load_n(&e.evictions, __ATOMIC_RELAXED), st.evictions);
    store_destroy(s);
}

Test(store_ops, requested_crawl_runs_on_the_maintenance_thread) {
    struct store *s = t_store();
    char key[32];
    for (unsigned i = 0; i < 100; i++)
        t_set_ttl(s, t_key(key, "k", i), "v", i < 60 ? 5 : 0);
    clock_test_advance(5);
    cr_assert_not(store_crawler_enabled(s), "off by default in the store");
    cr_assert_eq(store_crawl_request(s, ~(uint64_t)0), STORE_CRAWL_STARTED);
    struct store_stats st = t_stats(s);
    cr_assert_eq(st.lru_crawler_starts, 1);
    for (int i = 0; i < 600 && t_stats(s).lru_crawler_running; i++)
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    st = t_stats(s);
    cr_assert_not(st.lru_crawler_running);
    cr_assert_eq(st.crawler_reclaimed, 60);
    cr_assert_eq(st.reclaimed, 60);
    cr_assert_eq(st.curr_items, 40);
    cr_assert_not(store_crawler_enable(s, true));
    cr_assert(store_crawler_enabled(s));
    store_set_automove(s, 2);
    cr_assert_eq(store_automove(s), 2);
    store_destroy(s);
}

/* --- replies sent from items (store_pin) ------------------------------------ */

struct t_pin {
    struct store *s;
    const struct item *it;
    bool pinned;
};

static void t_pin_emit(void *ctx, const struct item *it, const struct store_fetch_info *in) {
    (void)in;
    struct t_pin *p = ctx;
    p->it = it;
    p->pinned = store_pin(p->s, it);
}

/* A fetch that pins what it finds, as a reply sent from the item does. */
static const struct item *t_pin_get(struct store *s, const char *key) {
    struct t_pin p = {.s = s};
    cr_assert_eq(store_get(s, key, strlen(key), NULL, t_pin_emit, &p), STORE_OK, "%s: missing", key);
    cr_assert(p.pinned, "%s: not pinned", key);
    return p.it;
}

static void t_set_big(struct store *s, const char *key, size_t n, char fill) {
    char *v = malloc(n);
    memset(v, fill, n);
    cr_assert_eq(t_store_op(s, STORE_SET, key, v, n, 0, 0, 0, NULL), STORE_OK);
    free(v);
}

static bool t_all_bytes(const struct item *it, char fill) {
    for (uint32_t i = 0; i < it->nbytes; i++)
        if (item_cvalue(it)[i] != fill)
            return false;
    return true;
}

/* A pinned item that is deleted, replaced, or whose memory evictions want,
 * stays whole where it is until its last unpin, which frees it. */
Test(store, pinned_items_stay_whole_until_unpinned) {
    struct store *s = t_store_mb(4, true);
    t_set_big(s, "big", 300000, 'a');
    const struct item *it = t_pin_get(s, "big");
    cr_assert_eq(t_stats(s).pinned_items, 1);
    /* a pinned linked item is not evicted: 8 MB of other values into 4 MB */
    for (int i = 0; i < 80; i++) {
        char key[16];
        snprintf(key, sizeof(key), "fill%d", i);
        t_set_big(s, key, 100000, 'f');
    }
    cr_assert(t_has(s, "big"), "a pinned item was evicted");
    cr_assert(t_all_bytes(it, 'a'));
    /* replaced, then squeezed again: the old bytes stay as they were */
    t_set_big(s, "big", 300000, 'b');
    for (int i = 0; i < 80; i++) {
        char key[16];
        snprintf(key, sizeof(key), "more%d", i);
        t_set_big(s, key, 100000, 'm');
    }
    cr_assert(t_all_bytes(it, 'a'), "an orphaned pinned item was reused");
    struct slab_class_stats before, after;
    slab_class_stats(store_slabs(s), it->clsid, &before);
    unsigned cls = it->clsid;
    store_unpin(s, it);
    slab_class_stats(store_slabs(s), cls, &after);
    cr_assert_eq(after.used_chunks + 1, before.used_chunks, "the last unpin did not free it");
    cr_assert_eq(t_stats(s).pinned_items, 0);
    cr_assert_eq(t_stats(s).pinned_bytes, 0);
    store_destroy(s);
}

/* Two replies from one item: the first unpin leaves it pinned. */
Test(store, pins_count_and_respect_their_limit) {
    struct store *s = t_store_mb(8, true); /* pins: a quarter of -m, 2 MB */
    t_set_big(s, "a", 900000, 'a');
    t_set_big(s, "b", 900000, 'b');
    t_set_big(s, "c", 900000, 'c');
    const struct item *a1 = t_pin_get(s, "a"), *a2 = t_pin_get(s, "a");
    cr_assert_eq(a1, a2);
    cr_assert_eq(t_stats(s).pinned_items, 1);
    cr_assert_eq(t_del(s, "a"), STORE_OK);
    store_unpin(s, a1);
    cr_assert(t_all_bytes(a2, 'a'), "freed while a second reply still reads it");
    const struct item *b = t_pin_get(s, "b");
    struct t_pin p = {.s = s};
    cr_assert_eq(store_get(s, "c", 1, NULL, t_pin_emit, &p), STORE_OK);
    cr_assert_not(p.pinned, "pinned past the limit of %llu bytes",
                  (unsigned long long)t_stats(s).pin_limit);
    cr_assert_eq(t_stats(s).pin_refusals, 1);
    store_unpin(s, a2);
    store_unpin(s, b);
    cr_assert_eq(t_stats(s).pinned_bytes, 0);
    store_destroy(s);
}

/* incr on a pinned number writes a new item: the reply reads the old digits. */
Test(store, incr_does_not_rewrite_a_pinned_value) {
    struct store *s = t_store();
    cr_assert_eq(t_set(s, "n", "100"), STORE_OK);
    const struct item *it = t_pin_get(s, "n");
    uint64_t v;
    cr_assert_eq(t_arith(s, "n", true, 5, &v), STORE_OK);
    cr_assert_eq(v, 105);
    cr_assert_eq(memcmp(item_cvalue(it), "100", 3), 0, "the pinned digits changed");
    t_assert_value(s, "n", "105");
    store_unpin(s, it);
    store_destroy(s);
}

/* --- tagged hash chains ---------------------------------------------------- */

/* A chain link carries hash bits 40..55 of the item it points at, and a
 * lookup reads an item's key only when they match.  With the seed fixed the
 * test hashes keys itself and pairs keys that share the shard (bits 56..63),
 * the tag and the low 8 bits, so the pair shares a bucket in every table
 * these tests grow to (at most 256 buckets a shard): the pair's lookups must
 * be decided by the key compare behind a matching tag. */
static const struct hash_seed t_fixed_seed = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};

static void t_fixed_hash(struct store_config *cfg) {
    cfg->hashpower = 12; /* 16 buckets a shard: the tables grow during the test */
    cfg->hash_seed = &t_fixed_seed;
}

#define T_CANDIDATES (1u << 19) /* 32 pairs expected among them on 32 bits */
#define T_PAIRS_MAX 64

static uint64_t t_chain_sig(uint64_t h) { return (h >> 40) << 8 | (h & 0xff); }

static uint64_t t_key_hash(const char *key) { return hash_key(&t_fixed_seed, key, strlen(key)); }

static int t_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Candidate numbers n whose keys "t<n>" collide in shard, tag and low bits,
 * two by two; returns how many pairs. */
static unsigned t_colliding_pairs(unsigned pairs[][2], unsigned max) {
    uint64_t *v = malloc(T_CANDIDATES * sizeof(*v));
    cr_assert_not_null(v);
    char key[32];
    for (unsigned i = 0; i < T_CANDIDATES; i++)
        v[i] = t_chain_sig(t_key_hash(t_key(key, "t", i))) << 32 | i;
    qsort(v, T_CANDIDATES, sizeof(*v), t_cmp_u64);
    unsigned n = 0;
    for (unsigned i = 1; i < T_CANDIDATES && n < max; i++)
        if (v[i] >> 32 == v[i - 1] >> 32) {
            pairs[n][0] = (uint32_t)v[i - 1];
            pairs[n][1] = (uint32_t)v[i];
            n++;
            i++; /* a third key of the same signature starts no pair */
        }
    free(v);
    return n;
}

/* The value each key of these tests holds: its key, then a round mark. */
static const char *t_val(char *buf, const char *key, char round) {
    snprintf(buf, 48, "%s=%c", key, round);
    return buf;
}

struct t_chain_case {
    unsigned pairs[T_PAIRS_MAX][2];
    unsigned npairs;
    char round[T_PAIRS_MAX][2]; /* value mark per member, 0 = absent */
};

static void t_chain_check(struct store *s, const struct t_chain_case *c) {
    char key[32], val[48];
    for (unsigned k = 0; k < c->npairs; k++)
        for (unsigned m = 0; m < 2; m++) {
            t_key(key, "t", c->pairs[k][m]);
            struct t_got g = t_get(s, key);
            cr_assert_eq(g.found, c->round[k][m] != 0, "pair %u member %u (%s)", k, m, key);
            if (g.found)
                cr_assert_str_eq(g.val, t_val(val, key, c->round[k][m]), "%s", key);
        }
}

static void t_chain_set(struct store *s, struct t_chain_case *c, unsigned k, unsigned m, char round) {
    char key[32], val[48];
    t_key(key, "t", c->pairs[k][m]);
    cr_assert_eq(t_set(s, key, t_val(val, key, round)), STORE_OK);
    c->round[k][m] = round;
}

static void t_chain_del(struct store *s, struct t_chain_case *c, unsigned k, unsigned m) {
    char key[32];
    cr_assert_eq(t_del(s, t_key(key, "t", c->pairs[k][m])), STORE_OK);
    c->round[k][m] = 0;
}

static void t_count_item(void *ctx, const struct item *it) {
    (void)it;
    (*(uint64_t *)ctx)++;
}

/* Fillers make the chains long and the tables grow (16 buckets a shard to
 * 256) while colliding pairs go in; one member of every other pair stays
 * out, so its lookups meet an item of the same tag and another key.  Then
 * deletes and overwrites in the middle of chains, mid-rehash and after. */
Test(store_hash, tag_and_bucket_collisions_are_told_apart_by_key) {
    static struct t_chain_case c;
    c.npairs = t_colliding_pairs(c.pairs, T_PAIRS_MAX);
    cr_assert_geq(c.npairs, 8, "only %u colliding pairs", c.npairs);
    char key[32], key2[32], val[48];
    for (unsigned k = 0; k < c.npairs; k++) {
        uint64_t a = t_key_hash(t_key(key, "t", c.pairs[k][0]));
        uint64_t b = t_key_hash(t_key(key2, "t", c.pairs[k][1]));
        cr_assert_eq(a >> 40, b >> 40, "shard and tag");
        cr_assert_eq(a & 0xff, b & 0xff, "bucket");
        cr_assert_neq(a, b);
    }
    struct store *s = t_store_with(t_fixed_hash);
    const unsigned fillers = 40000;
    bool saw_expanding = false;
    for (unsigned i = 0, k = 0; i < fillers; i++) {
        t_key(key, "f", i);
        t_set(s, key, t_val(val, key, 'a'));
        if (k < c.npairs && i % (fillers / c.npairs) == 0) {
            t_chain_set(s, &c, k, 0, 'a');
            if (k % 2 == 0)
                t_chain_set(s, &c, k, 1, 'a');
            saw_expanding |= t_stats(s).hash_is_expanding;
            k++;
        }
    }
    cr_assert(saw_expanding, "no pair went in while a shard was mid-rehash");
    t_chain_check(s, &c);

    /* member 0 went in first, so member 1 is before it in the chain */
    for (unsigned k = 0; k < c.npairs; k += 2)
        t_chain_del(s, &c, k, 0);
    for (unsigned i = 0; i < fillers; i += 3)
        cr_assert_eq(t_del(s, t_key(key, "f", i)), STORE_OK);
    t_chain_check(s, &c);
    for (unsigned k = 0; k < c.npairs; k++) {
        t_chain_set(s, &c, k, k % 2 == 0 ? 0 : 1, 'b'); /* odd pairs: now both in */
        t_chain_set(s, &c, k, k % 2 == 0 ? 1 : 0, 'c'); /* an overwrite behind the head */
    }
    t_chain_check(s, &c);
    for (unsigned k = 1; k < c.npairs; k += 2)
        t_chain_del(s, &c, k, 1); /* the head of its pair */
    t_chain_check(s, &c);

    for (unsigned i = 0; i < 10000 && t_stats(s).hash_is_expanding; i++)
        store_crawl(s);
    cr_assert_not(t_stats(s).hash_is_expanding, "crawls never finished the rehash");
    t_chain_check(s, &c);
    for (unsigned i = 0; i < fillers; i++) {
        struct t_got g = t_get(s, t_key(key, "f", i));
        cr_assert_eq(g.found, i % 3 != 0, "%s", key);
        if (g.found)
            cr_assert_str_eq(g.val, t_val(val, key, 'a'));
    }
    uint64_t in = 0;
    for (unsigned k = 0; k < c.npairs; k++)
        in += (c.round[k][0] != 0) + (c.round[k][1] != 0);
    uint64_t want = fillers - (fillers + 2) / 3 + in;
    cr_assert_eq(t_stats(s).curr_items, want);
    cr_assert_eq(t_walk_all(s).items, want, "an item is in two chains, or none");
    uint64_t parts = 0;
    for (unsigned part = 0; part < store_walk_parts(); part++)
        store_walk_part(s, part, t_count_item, &parts);
    cr_assert_eq(parts, want);
    store_destroy(s);
}

static void t_fixed_hash_small(struct store_config *cfg) {
    t_fixed_hash(cfg);
    cfg->mem_limit = 4 * T_PAGE;
}

/* Eviction finds its victim's link by address and tag: with colliding
 * pairs in the chains, every item left must still be found, under its own
 * key, with its own value. */
Test(store_hash, eviction_among_colliding_keys_keeps_chains_whole) {
    static struct t_chain_case c;
    c.npairs = t_colliding_pairs(c.pairs, T_PAIRS_MAX);
    cr_assert_geq(c.npairs, 8);
    struct store *s = t_store_with(t_fixed_hash_small);
    char key[32], val[600];
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (unsigned round = 0; round < 3; round++)
        for (unsigned i = 0; i < 20000; i++) {
            if (i % 400 == 0 && i / 400 < c.npairs)
                for (unsigned m = 0; m < 2; m++) {
                    t_key(key, "t", c.pairs[i / 400][m]);
                    memcpy(val, key, strlen(key));
                    t_set(s, key, val);
                }
            t_key(key, "f", i);
            memcpy(val, key, strlen(key));
            t_set(s, key, val);
            memset(val, 'x', 16);
        }
    cr_assert_gt(t_stats(s).evictions, 0, "the test needs evictions");
    uint64_t found = 0;
    for (unsigned k = 0; k < c.npairs; k++)
        for (unsigned m = 0; m < 2; m++) {
            struct t_got g = t_get(s, t_key(key, "t", c.pairs[k][m]));
            if (g.found) {
                cr_assert_eq(strncmp(g.val, key, strlen(key)), 0, "%s holds %.16s", key, g.val);
                cr_assert_eq(g.val[strlen(key)], 'x');
                found++;
            }
        }
    for (unsigned i = 0; i < 20000; i++) {
        struct t_got g = t_get(s, t_key(key, "f", i));
        if (g.found) {
            cr_assert_eq(strncmp(g.val, key, strlen(key)), 0, "%s holds %.16s", key, g.val);
            found++;
        }
    }
    cr_assert_gt(found, 0);
    cr_assert_eq(t_walk_all(s).items, t_stats(s).curr_items);
    cr_assert_eq(found, t_stats(s).curr_items, "a linked item no lookup finds");
    store_destroy(s);
}

/* A page move rescues live items into free chunks elsewhere: the link that
 * pointed at the old chunk points at the new one, tag kept, so each moved
 * item is found under its key, tag twins beside it or not. */
Test(store_hash, rescued_items_keep_their_links) {
    static struct t_chain_case c;
    c.npairs = t_colliding_pairs(c.pairs, T_PAIRS_MAX);
    cr_assert_geq(c.npairs, 8);
    struct store *s = t_store_with(t_fixed_hash);
    char key[32], val[48];
    const unsigned fillers = 100000;
    for (unsigned i = 0; i < fillers; i++) {
        t_key(key, "f", 100000 + i); /* one key length, one class */
        t_set(s, key, t_val(val, key, 'a'));
        if (i % (fillers / c.npairs) == 0 && i / (fillers / c.npairs) < c.npairs) {
            t_chain_set(s, &c, i / (fillers / c.npairs), 0, 'a');
            t_chain_set(s, &c, i / (fillers / c.npairs), 1, 'a');
        }
    }
    for (unsigned i = 0; i < fillers; i += 2)
        cr_assert_eq(t_del(s, t_key(key, "f", 100000 + i)), STORE_OK);
    cr_assert_eq(store_reassign(s, -1, 0), SLAB_REASSIGN_OK); /* -1: the biggest class */
    struct store_stats st = t_stats(s);
    cr_assert_gt(st.slab_reassign_rescues, 0, "nothing was moved");
    /* a page move evicts what it cannot rescue: every item left is found */
    uint64_t found = 0;
    for (unsigned k = 0; k < c.npairs; k++)
        for (unsigned m = 0; m < 2; m++) {
            t_key(key, "t", c.pairs[k][m]);
            struct t_got g = t_get(s, key);
            if (g.found) {
                cr_assert_str_eq(g.val, t_val(val, key, 'a'));
                found++;
            }
        }
    for (unsigned i = 1; i < fillers; i += 2) {
        t_key(key, "f", 100000 + i);
        struct t_got g = t_get(s, key);
        if (g.found) {
            cr_assert_str_eq(g.val, t_val(val, key, 'a'));
            found++;
        }
    }
    cr_assert_eq(found, st.curr_items, "a linked item no lookup finds");
    cr_assert_eq(t_walk_all(s).items, st.curr_items);
    store_destroy(s);
}
