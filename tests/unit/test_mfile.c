/*
 * Unit tests for storage/mfile.c (the memory file of -e) and the store's
 * restore from it.  A store destroyed without store_save() is what a crash
 * leaves (the file's pages as they were); with it, a clean stop.
 *
 * Suites: mfile (pages, frame table, FILE.meta), mfile_store (restore).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "storage/mfile.h"
#include "storage/slab.h"

static char t_path[64];

static void t_mfile_setup(void) {
    snprintf(t_path, sizeof(t_path), "/tmp/larder-mfile-test.%d", (int)getpid());
    unlink(t_path);
    char meta[80];
    snprintf(meta, sizeof(meta), "%s.meta", t_path);
    unlink(meta);
}

static void t_mfile_teardown(void) {
    char meta[80];
    snprintf(meta, sizeof(meta), "%s.meta", t_path);
    unlink(meta);
    unlink(t_path);
}

static const struct mfile_params t_params = {
    .mem_limit = 8u << 20, .item_max = 1u << 20, .chunk_min = 48, .factor = 1.25};

static struct mfile *t_open(const struct mfile_params *p, enum mfile_status *st) {
    char why[320];
    struct mfile *mf = mfile_open(t_path, p, st, why, sizeof(why));
    cr_assert_not_null(mf, "mfile_open: %s", why);
    return mf;
}

struct t_seen {
    unsigned n;
    unsigned cls[8];
    size_t bytes[8];
};

static bool t_seen_page(void *ctx, void *page, unsigned cls, size_t bytes) {
    struct t_seen *s = ctx;
    (void)page;
    if (s->n < 8) {
        s->cls[s->n] = cls;
        s->bytes[s->n] = bytes;
    }
    s->n++;
    return true;
}

TestSuite(mfile, .init = t_mfile_setup, .fini = t_mfile_teardown);

Test(mfile, committed_pages_come_back_uncommitted_ones_do_not) {
    enum mfile_status st;
    struct mfile *mf = t_open(&t_params, &st);
    cr_assert_eq(st, MFILE_NEW);
    void *small = mfile_page_get(mf, SLAB_PAGE_SIZE);
    void *big = mfile_page_get(mf, 3 * SLAB_PAGE_SIZE + 100);
    void *held = mfile_page_get(mf, SLAB_PAGE_SIZE); /* never committed: a crash in set-up */
    cr_assert(small && big && held);
    mfile_page_commit(mf, small, 3);
    mfile_page_commit(mf, big, 40);
    mfile_close(mf, false);

    mf = t_open(&t_params, &st);
    cr_assert_eq(st, MFILE_REUSED);
    struct t_seen seen = {0};
    mfile_pages(mf, t_seen_page, &seen);
    cr_assert_eq(seen.n, 2);
    cr_assert_eq(seen.cls[0], 3);
    cr_assert_eq(seen.bytes[0], SLAB_PAGE_SIZE);
    cr_assert_eq(seen.cls[1], 40);
    cr_assert_eq(seen.bytes[1], 4 * SLAB_PAGE_SIZE);
    mfile_close(mf, false);
}

Test(mfile, a_page_given_back_is_forgotten_and_reused) {
    enum mfile_status st;
    struct mfile *mf = t_open(&t_params, &st);
    void *p = mfile_page_get(mf, 2 * SLAB_PAGE_SIZE);
    mfile_page_commit(mf, p, 50);
    mfile_page_put(mf, p);
    mfile_close(mf, false);
    mf = t_open(&t_params, &st);
    struct t_seen seen = {0};
    mfile_pages(mf, t_seen_page, &seen);
    cr_assert_eq(seen.n, 0);
    mfile_close(mf, false);
}

Test(mfile, the_limit_plus_one_large_page_fits_and_no_more) {
    enum mfile_status st;
    struct mfile *mf = t_open(&t_params, &st);
    unsigned n = 0;
    while (mfile_page_get(mf, SLAB_PAGE_SIZE) != NULL)
        n++;
    cr_assert_geq(n, (8u << 20) / SLAB_PAGE_SIZE + (1u << 20) / SLAB_PAGE_SIZE);
    cr_assert_leq(n, (8u << 20) / SLAB_PAGE_SIZE + (1u << 20) / SLAB_PAGE_SIZE + 2);
    mfile_close(mf, false);
}

Test(mfile, other_settings_reset_the_file_and_say_how) {
    enum mfile_status st;
    mfile_close(t_open(&t_params, &st), false);
    struct mfile_params other = t_params;
    other.mem_limit = 16u << 20;
    char why[320];
    struct mfile *mf = mfile_open(t_path, &other, &st, why, sizeof(why));
    cr_assert_not_null(mf);
    cr_assert_eq(st, MFILE_RESET);
    cr_assert(strstr(why, "-m 8") && strstr(why, "-m 16"), "%s", why);
    mfile_close(mf, false);
}

Test(mfile, a_garbage_file_is_reset) {
    FILE *f = fopen(t_path, "w");
    for (int i = 0; i < 100000; i++)
        fputc(i * 7 & 0xff, f);
    fclose(f);
    enum mfile_status st;
    struct mfile *mf = t_open(&t_params, &st);
    cr_assert_eq(st, MFILE_RESET);
    mfile_close(mf, false);
}

Test(mfile, a_second_opener_is_refused) {
    enum mfile_status st;
    struct mfile *mf = t_open(&t_params, &st);
    char why[320];
    cr_assert_null(mfile_open(t_path, &t_params, &st, why, sizeof(why)));
    cr_assert_eq(st, MFILE_ERROR);
    cr_assert(strstr(why, "in use"), "%s", why);
    mfile_close(mf, false);
}

Test(mfile, meta_round_trip_is_read_once) {
    struct mfile_meta m = {.current_time = 1234, .stop_time = 1700000000, .hashpower = 19}, got;
    char why[320];
    cr_assert(mfile_meta_save(t_path, &t_params, &m));
    cr_assert_eq(mfile_meta_load(t_path, &t_params, &got, why, sizeof(why)), MFILE_META_OK);
    cr_assert_eq(got.current_time, 1234);
    cr_assert_eq(got.stop_time, 1700000000);
    cr_assert_eq(got.hashpower, 19);
    cr_assert_eq(mfile_meta_load(t_path, &t_params, &got, why, sizeof(why)), MFILE_META_NONE);
}

Test(mfile, meta_damaged_or_for_other_settings) {
    struct mfile_meta m = {.current_time = 5, .stop_time = 1700000000, .hashpower = 16}, got;
    char why[320], meta[80];
    snprintf(meta, sizeof(meta), "%s.meta", t_path);
    cr_assert(mfile_meta_save(t_path, &t_params, &m));
    FILE *f = fopen(meta, "r+");
    fseek(f, 30, SEEK_SET);
    fputc('9', f); /* one byte changed: the check line no longer matches */
    fclose(f);
    cr_assert_eq(mfile_meta_load(t_path, &t_params, &got, why, sizeof(why)), MFILE_META_CORRUPT);
    fclose(fopen(meta, "w"));
    cr_assert_eq(mfile_meta_load(t_path, &t_params, &got, why, sizeof(why)), MFILE_META_CORRUPT);
    cr_assert(mfile_meta_save(t_path, &t_params, &m));
    struct mfile_params other = t_params;
    other.factor = 1.5;
    cr_assert_eq(mfile_meta_load(t_path, &other, &got, why, sizeof(why)), MFILE_META_MISMATCH);
}

/* --- the store over a file ----------------------------------------------- */

TestSuite(mfile_store, .init = t_mfile_setup, .fini = t_mfile_teardown);

static struct store *t_file_store(size_t mb) {
    struct store_config cfg;
    store_config_defaults(&cfg);
    cfg.mem_limit = mb << 20;
    cfg.memory_file = t_path;
    char why[320];
    struct store *s = store_open(&cfg, why, sizeof(why));
    cr_assert_not_null(s, "store_open: %s", why);
    return s;
}

Test(mfile_store, a_crash_keeps_linked_items_and_drops_a_write_in_flight) {
    struct store *s = t_file_store(8);
    cr_assert_eq(store_restart_info(s)->mode, STORE_RESTART_COLD);
    char key[32];
    for (unsigned i = 0; i < 1000; i++)
        cr_assert_eq(t_set(s, t_key(key, "k", i), key), STORE_OK);
    cr_assert_eq(t_del(s, "k7"), STORE_OK);
    cr_assert_eq(t_set_ttl(s, "short", "x", -1), STORE_OK);
    uint64_t v;
    cr_assert_eq(t_set(s, "ctr", "99"), STORE_OK);
    cr_assert_eq(store_arith(s, "ctr", 3, true, 1, &v, NULL), STORE_OK);
    enum store_status st;
    struct item *half = store_alloc(s, "inflight", 8, 0, 0, 100, &st);
    cr_assert_not_null(half);
    memset(item_value(half), 'h', 50); /* the rest never arrived */
    uint64_t cas_k1 = 0;
    struct t_got g = t_get(s, "k1");
    cas_k1 = g.cas;
    store_destroy(s); /* no store_save: as after kill -9 */

    s = t_file_store(8);
    const struct store_restart *r = store_restart_info(s);
    cr_assert_eq(r->mode, STORE_RESTART_RECOVERED);
    cr_assert_eq(r->restored, 1000); /* 999 + ctr */
    cr_assert_eq(r->dropped, 1);     /* inflight */
    cr_assert_leq(r->expired, 1);    /* short, unless a lookup already freed it */
    cr_assert_not(t_has(s, "inflight"));
    cr_assert_not(t_has(s, "k7"));
    cr_assert_not(t_has(s, "short"));
    for (unsigned i = 0; i < 1000; i++) {
        if (i == 7)
            continue;
        g = t_get(s, t_key(key, "k", i));
        cr_assert(g.found && strcmp(g.val, key) == 0, "%s", key);
    }
    cr_assert_str_eq(t_get(s, "ctr").val, "100");
    cr_assert_eq(t_get(s, "k1").cas, cas_k1);
    cr_assert_eq(t_set(s, "new", "n"), STORE_OK);
    cr_assert_gt(t_get(s, "new").cas, cas_k1);
    store_destroy(s);
}

Test(mfile_store, a_clean_stop_restarts_warm) {
    struct store *s = t_file_store(8);
    cr_assert_eq(t_set(s, "a", "1"), STORE_OK);
    cr_assert(store_save(s));
    store_destroy(s);
    s = t_file_store(8);
    cr_assert_eq(store_restart_info(s)->mode, STORE_RESTART_WARM);
    cr_assert_str_eq(t_get(s, "a").val, "1");
    store_destroy(s);
    s = t_file_store(16);
    cr_assert_eq(store_restart_info(s)->mode, STORE_RESTART_COLD);
    cr_assert_not(t_has(s, "a"));
    store_destroy(s);
}

Test(mfile_store, pages_keep_moving_under_eviction_and_survive) {
    struct store *s = t_file_store(2);
    char key[32], val[3000];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    for (unsigned i = 0; i < 5000; i++) {
        cr_assert_eq(t_set(s, t_key(key, "e", i), i % 2 ? key : val), STORE_OK);
        if (i % 1000 == 999)
            store_balance(s);
    }
    uint64_t live = t_stats(s).curr_items;
    store_destroy(s);
    s = t_file_store(2);
    cr_assert_eq(store_restart_info(s)->restored, live);
    for (unsigned i = 0; i < 5000; i++) {
        struct t_got g = t_get(s, t_key(key, "e", i));
        if (g.found)
            cr_assert_str_eq(g.val, i % 2 ? key : val);
    }
    store_destroy(s);
}
